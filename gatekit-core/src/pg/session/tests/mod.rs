//! The session driven between a scripted client and a simulated PostgreSQL server.

mod copy;
mod harness;
mod holds;
mod masking;
mod outcomes;
mod recording;
mod server;
mod statements;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use self::harness::{Pair, backend_frames};
use self::server::{FakeServer, UpstreamAuth};
use super::*;
use crate::pg::codec::{BackendMessage, Limits, encode};

fn config(auth: &UpstreamAuth) -> SessionConfig {
    let mut c = SessionConfig::new("shop", "app");
    c.upstream_database = Some("shop".into());
    c.upstream_tls = UpstreamTls::Disable;
    if let UpstreamAuth::Cleartext(p) | UpstreamAuth::Md5(p) | UpstreamAuth::Scram(p) = auth {
        c.upstream_password = Some(Password::new(p.clone()));
    }
    c
}

fn pair(auth: UpstreamAuth) -> Pair {
    let c = config(&auth);
    Pair::new(c, auth)
}

#[test]
fn login_with_each_upstream_method_relays_and_remaps_the_key() {
    for auth in [
        UpstreamAuth::Trust,
        UpstreamAuth::Cleartext("s3cret".into()),
        UpstreamAuth::Md5("s3cret".into()),
        UpstreamAuth::Scram("s3cret".into()),
    ] {
        let name = format!("{auth:?}");
        let mut p = pair(auth);
        p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
        p.send_token("good");
        assert!(p.session.is_ready(), "{name}: {:?}", p.session.error());
        let msgs = p.client_messages();
        let tags: Vec<u8> = msgs.iter().map(|(t, _)| *t).collect();
        assert_eq!(tags, b"RRSSKZ", "{name}");
        // The client never sees the held credential, and gets the gateway's key.
        let all: Vec<u8> = msgs.iter().flat_map(|(_, b)| b.clone()).collect();
        assert!(!all.windows(6).any(|w| w == b"s3cret"), "{name}");
        let (_, k) = &msgs[4];
        assert_eq!(k.len(), 8, "{name}: 3.0 keys are 4 bytes");
        let established = p.established.clone().unwrap();
        assert_eq!(established.1.clone().unwrap().pid, server::SERVER_PID);
        assert_ne!(established.0.pid, server::SERVER_PID);
        assert_eq!(&k[..4], &established.0.pid.to_be_bytes());
        // The server saw the held account and the identity settings.
        let startup = p.server.startup.clone().unwrap();
        assert_eq!(startup.get("user"), Some("app"));
        assert_eq!(startup.get("database"), Some("shop"));
        assert_eq!(
            startup.get("options"),
            Some("-c gatekit.user=alice -c gatekit.groups=dev")
        );
        // Relay: a query and its answer pass byte for byte.
        let q = {
            let mut b = BytesMut::new();
            encode::query(&mut b, "SELECT 1");
            b
        };
        p.client_send(&q);
        assert_eq!(p.server.received_after_login, q.to_vec(), "{name}");
        let answers = p.client_messages();
        let tags: Vec<u8> = answers.iter().map(|(t, _)| *t).collect();
        assert_eq!(tags, b"TDCZ", "{name}");
    }
}

#[test]
fn protocol_3_2_gets_a_long_cancel_key_and_3_5_is_negotiated_down() {
    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_2, &[("user", "alice")]);
    p.send_token("good");
    let msgs = p.client_messages();
    let k = msgs.iter().find(|(t, _)| *t == b'K').unwrap();
    assert_eq!(k.1.len(), 4 + 32);
    assert_eq!(p.established.clone().unwrap().0.secret.len(), 32);

    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(
        ProtocolVersion { major: 3, minor: 5 },
        &[("user", "alice"), ("_pq_.compression", "on")],
    );
    let msgs = p.client_messages();
    assert_eq!(msgs[0].0, b'v');
    let BackendMessage::NegotiateProtocolVersion {
        minor,
        unrecognized,
    } = BackendMessage::parse(b'v', &msgs[0].1).unwrap()
    else {
        panic!()
    };
    assert_eq!((minor, unrecognized), (2, 1));
    assert_eq!(msgs[1].0, b'R');
    assert_eq!(p.session.protocol_version(), Some(ProtocolVersion::V3_2));
}

#[test]
fn bad_token_gets_28p01_without_the_token() {
    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("eyJ.forged.token");
    let err = p.last_error_fields();
    assert_eq!(err.0, "28P01");
    assert!(!err.1.contains("forged"), "{}", err.1);
    assert!(p.closed);
    assert!(
        p.server.startup.is_none(),
        "no upstream connection for a bad token"
    );
    // Sticky: the same error again.
    assert_eq!(
        p.session.handle_client_data(p.now, b"Q"),
        Err(PgError::InvalidToken {
            reason: "token signature does not verify".into()
        })
    );
}

#[test]
fn user_must_match_subject_or_email() {
    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "mallory")]);
    p.send_token("good");
    assert_eq!(p.last_error_fields().0, "28000");
    assert!(matches!(
        p.session.error(),
        Some(PgError::UserMismatch { .. })
    ));

    let mut c = config(&UpstreamAuth::Trust);
    c.user_check = UserCheck::Ignore;
    let mut p = Pair::new(c, UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "mallory")]);
    p.send_token("good");
    assert!(p.session.is_ready());
}

#[test]
fn roles_map_groups_and_refuse_the_unmapped() {
    let mut c = config(&UpstreamAuth::Trust);
    c.roles = vec![("dev".into(), "shop_readonly".into())];
    let mut p = Pair::new(c.clone(), UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    assert!(p.session.is_ready());
    assert_eq!(
        p.server.startup.clone().unwrap().get("options"),
        Some("-c role=shop_readonly -c gatekit.user=alice -c gatekit.groups=dev")
    );

    c.roles = vec![("dba".into(), "shop_admin".into())];
    let mut p = Pair::new(c, UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    assert_eq!(p.session.error(), Some(&PgError::NoRole));
}

#[test]
fn plaintext_token_is_refused_unless_loopback_and_allowed() {
    let mut p = pair(UpstreamAuth::Trust);
    p.client_plain_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    assert_eq!(p.session.error(), Some(&PgError::PlaintextRefused));
    let msgs = p.client_messages();
    assert_eq!(msgs.len(), 1, "no password request");
    assert_eq!(p.last_error_fields().0, "28000");

    let mut c = config(&UpstreamAuth::Trust);
    c.allow_plaintext_auth = true;
    let mut p = Pair::new(c.clone(), UpstreamAuth::Trust);
    p.client_plain_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    assert_eq!(p.session.error(), Some(&PgError::PlaintextRefused));

    c.loopback_listener = true;
    let mut p = Pair::new(c, UpstreamAuth::Trust);
    p.client_plain_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    assert!(p.session.is_ready());
}

#[test]
fn startup_parameters_are_filtered() {
    for (params, want) in [
        (
            vec![("user", "alice"), ("replication", "database")],
            PgError::ReplicationRefused,
        ),
        (
            vec![("user", "alice"), ("options", "-c role=postgres")],
            PgError::OptionRefused {
                option: "-c role".into(),
            },
        ),
        (
            vec![("user", "alice"), ("gatekit.user", "bob")],
            PgError::ParameterRefused {
                name: "gatekit.user".into(),
            },
        ),
    ] {
        let mut p = pair(UpstreamAuth::Trust);
        p.client_tls_startup(ProtocolVersion::V3_0, &params);
        assert_eq!(p.session.error(), Some(&want));
        assert_eq!(p.last_error_fields().0, "42501");
    }
    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(
        ProtocolVersion::V3_0,
        &[
            ("user", "alice"),
            ("application_name", "psql"),
            ("options", "-c search_path=app"),
        ],
    );
    p.send_token("good");
    let startup = p.server.startup.clone().unwrap();
    assert_eq!(startup.get("application_name"), Some("psql"));
    assert_eq!(
        startup.get("options"),
        Some("-c search_path=app -c gatekit.user=alice -c gatekit.groups=dev")
    );
}

#[test]
fn upstream_scram_with_wrong_password_fails_closed() {
    let mut c = config(&UpstreamAuth::Scram("right".into()));
    c.upstream_password = Some(Password::new("wrong"));
    let mut p = Pair::new(c, UpstreamAuth::Scram("right".into()));
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    let (code, message) = p.last_error_fields();
    assert_eq!(code, "28P01");
    assert!(
        !message.contains("app"),
        "upstream account not named: {message}"
    );
    assert!(matches!(
        p.session.error(),
        Some(PgError::UpstreamLogin { .. })
    ));
}

/// A server that does not play SCRAM to its end is refused: one that says the login
/// succeeded without proving it knows the password (an impostor), and one that asks for
/// the password in clear once SCRAM began (a downgrade).
#[test]
fn upstream_that_breaks_off_scram_is_refused() {
    /// How the server misbehaves, the error's words, and what the server gets once it
    /// said AuthenticationOk (only the goodbye).
    type Case = (fn(&mut FakeServer), &'static str, &'static [u8]);
    let cases: [Case; 2] = [
        (|s| s.impostor = true, "without proving", b"X\0\0\0\x04"),
        (|s| s.downgrade = true, "middle of SCRAM", b""),
    ];
    for (misbehave, detail, after_ok) in cases {
        let c = config(&UpstreamAuth::Scram("right".into()));
        let mut p = Pair::new(c, UpstreamAuth::Scram("right".into()));
        misbehave(&mut p.server);
        p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
        p.send_token("good");
        assert!(
            matches!(
                p.session.error(),
                Some(PgError::UpstreamScram { detail: d }) if d.contains(detail)
            ),
            "{detail}: {:?}",
            p.session.error()
        );
        assert_eq!(p.last_error_fields().0, "08006");
        assert_eq!(p.server.received_after_login, after_ok, "{detail}");
    }
}

#[test]
fn upstream_asks_for_a_password_the_gateway_lacks() {
    let mut c = config(&UpstreamAuth::Md5("x".into()));
    c.upstream_password = None;
    let mut p = Pair::new(c, UpstreamAuth::Md5("x".into()));
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    assert_eq!(p.session.error(), Some(&PgError::UpstreamPasswordMissing));
}

#[test]
fn upstream_tls_modes() {
    // prefer: the server says N, the login goes on in plaintext.
    let mut c = config(&UpstreamAuth::Trust);
    c.upstream_tls = UpstreamTls::Prefer;
    let mut p = Pair::new(c.clone(), UpstreamAuth::Trust);
    p.server.ssl_answer = b'N';
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    assert!(p.session.is_ready());
    assert!(!p.upstream_tls);

    // require: N is fatal.
    c.upstream_tls = UpstreamTls::Require;
    let mut p = Pair::new(c.clone(), UpstreamAuth::Trust);
    p.server.ssl_answer = b'N';
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    assert_eq!(p.session.error(), Some(&PgError::UpstreamTlsRefused));

    // verify-full: S leads to the driver's handshake, then the login.
    c.upstream_tls = UpstreamTls::VerifyFull;
    let mut p = Pair::new(c, UpstreamAuth::Trust);
    p.server.ssl_answer = b'S';
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    assert!(p.session.is_ready());
    assert!(p.upstream_tls);
}

#[test]
fn gssenc_then_ssl_and_data_after_sslrequest() {
    let mut p = pair(UpstreamAuth::Trust);
    let mut b = BytesMut::new();
    encode::MessageWriter::untagged(&mut b)
        .u32(crate::pg::codec::GSSENC_REQUEST_CODE)
        .finish();
    p.client_send(&b);
    assert_eq!(p.client_rx, b"N");
    p.client_rx.clear();

    // SSLRequest with a query smuggled behind it in the same segment.
    let mut b = BytesMut::new();
    encode::ssl_request(&mut b);
    encode::query(&mut b, "SELECT 1");
    p.auto_tls = false;
    p.client_send(&b);
    assert_eq!(p.session.error(), Some(&PgError::DataAfterSslRequest));
    assert_eq!(
        p.client_rx, b"S",
        "no ErrorResponse inside a promised TLS stream"
    );
}

#[test]
fn cancel_requests_become_events() {
    for secret in [&[1u8, 2, 3, 4][..], &[7u8; 32][..]] {
        let mut p = pair(UpstreamAuth::Trust);
        let mut b = BytesMut::new();
        encode::cancel_request(
            &mut b,
            &CancelKey {
                pid: 77,
                secret: Bytes::copy_from_slice(secret),
            },
        );
        p.client_send(&b);
        assert_eq!(
            p.cancels,
            [CancelKey {
                pid: 77,
                secret: Bytes::copy_from_slice(secret)
            }]
        );
        assert!(p.closed);
        assert!(p.client_rx.is_empty());
    }
}

#[test]
fn bad_input_ends_the_connection_with_an_error_response() {
    let garbage: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[0x16, 0x03, 0x01, 0x02, 0x00],
        &[0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0x00],
        &[0x80, 0x00, 0x00, 0x00],
    ];
    for g in garbage {
        let mut p = pair(UpstreamAuth::Trust);
        p.client_send(g);
        assert!(p.session.error().is_some(), "{g:?}");
        assert_eq!(p.last_error_fields().0.len(), 5, "{g:?}");
        assert!(p.closed);
    }
}

#[test]
fn bad_messages_in_the_relay_are_fatal_and_terminate_upstream() {
    let cases: &[(&[u8], &str)] = &[
        (&[b'Q', 0x80, 0, 0, 0], "TooLong"),
        (&[b'~', 0, 0, 0, 4], "UnknownMessage"),
        (&[b'p', 0, 0, 0, 5, 0], "Unexpected"),
        (&[b'S', 0, 0, 0, 1], "BadLength"),
    ];
    for (bytes, kind) in cases {
        let mut p = pair(UpstreamAuth::Trust);
        p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
        p.send_token("good");
        p.client_messages();
        p.client_send(bytes);
        let e = format!("{:?}", p.session.error().unwrap());
        assert!(e.starts_with(kind), "{e}");
        assert_eq!(p.last_error_fields().0, "08P01");
        assert!(p.server.terminated, "{kind}: upstream got Terminate");
        assert!(p.closed);
    }
}

#[test]
fn truncated_message_then_eof() {
    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    p.client_send(&[b'Q', 0, 0, 0, 20, b'S', b'E']);
    assert!(p.session.error().is_none(), "waits for the rest");
    assert!(p.server.received_after_login.is_empty());
    let now = p.now;
    assert_eq!(
        p.session.handle_client_eof(now),
        Err(PgError::UnexpectedEof { side: Side::Client })
    );
    p.drain();
    assert!(p.server.terminated);
    assert!(p.closed);
}

#[test]
fn client_terminate_and_upstream_eof() {
    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    p.client_send(&[b'X', 0, 0, 0, 4]);
    assert!(p.closed && p.session.error().is_none());
    assert!(p.server.terminated);

    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    p.client_messages();
    let now = p.now;
    let _ = p.session.handle_upstream_eof(now);
    p.drain();
    assert_eq!(p.last_error_fields().0, "08006");
}

#[test]
fn stalled_startup_times_out_and_expired_tokens_end_sessions() {
    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    let deadline = p.session.poll_timeout().unwrap();
    assert_eq!(deadline, p.now + SignedDuration::from_secs(30));
    p.session.handle_timeout(p.now).unwrap();
    let _ = p.session.handle_timeout(deadline);
    p.drain();
    assert_eq!(p.session.error(), Some(&PgError::StartupTimeout));
    assert!(p.closed);

    let mut p = pair(UpstreamAuth::Trust);
    p.expires_in = Some(SignedDuration::from_secs(600));
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    assert!(p.session.is_ready());
    let exp = p.session.poll_timeout().unwrap();
    assert_eq!(exp, p.now + SignedDuration::from_secs(600));
    let _ = p.session.handle_timeout(exp);
    p.drain();
    assert_eq!(p.session.error(), Some(&PgError::TokenExpired));
    assert!(p.server.terminated);
}

#[test]
fn psql_hanging_up_at_the_password_prompt_is_not_an_error() {
    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    let now = p.now;
    assert_eq!(p.session.handle_client_eof(now), Ok(()));
    p.drain();
    assert!(p.closed);
    assert!(p.session.error().is_none());
}

#[test]
fn early_pipelined_query_is_relayed_once_ready() {
    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.hold_login = true;
    p.send_token("good");
    let mut q = BytesMut::new();
    encode::query(&mut q, "SELECT 1");
    p.client_send(&q);
    p.release_login();
    assert!(p.session.is_ready());
    assert_eq!(p.server.received_after_login, q.to_vec());
}

#[test]
fn driver_inputs_out_of_order_are_refused() {
    let mut p = pair(UpstreamAuth::Trust);
    let now = p.now;
    assert!(matches!(
        p.session.handle_upstream_connected(now),
        Err(PgError::BadInput { .. })
    ));
}

fn arb_session() -> Session {
    let mut c = config(&UpstreamAuth::Trust);
    c.allow_plaintext_auth = true;
    c.loopback_listener = true;
    c.limits = Limits {
        statement: 4096,
        ..Limits::default()
    };
    Session::new(Arc::new(c), Timestamp::UNIX_EPOCH, [3; Session::RANDOM_LEN])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary client bytes, in arbitrary chunks, never panic, and what the session
    /// queues stays bounded by what came in.
    #[test]
    fn arbitrary_client_bytes(chunks in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..64), 0..8)
    ) {
        let mut s = arb_session();
        let mut sent = 0usize;
        let mut out = 0usize;
        for c in &chunks {
            sent += c.len();
            let _ = s.handle_client_data(Timestamp::UNIX_EPOCH, c);
            while let Some(o) = s.poll_output() {
                match o {
                    Output::ToClient(b) | Output::ToUpstream(b) => out += b.len(),
                    Output::Event(_) => {}
                }
            }
        }
        prop_assert!(out <= sent + 1024);
    }

    /// The same after a valid login: arbitrary bytes from either side in the relay.
    #[test]
    fn arbitrary_relay_bytes(
        client in proptest::collection::vec(any::<u8>(), 0..256),
        server in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut p = pair(UpstreamAuth::Trust);
        p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
        p.send_token("good");
        prop_assert!(p.session.is_ready());
        let now = p.now;
        let _ = p.session.handle_client_data(now, &client);
        let _ = p.session.handle_upstream_data(now, &server);
        p.drain();
        if p.session.error().is_some() {
            prop_assert!(p.closed);
        }
    }
}

#[test]
fn fixture_stream_relays_byte_exact() {
    // Every backend fixture that may appear in the relay, streamed in one go, reaches the
    // client unchanged.
    let text = include_str!("../../../../tests/data/pg/messages.txt");
    let mut stream = Vec::new();
    for l in text.lines().filter(|l| l.starts_with("B ")) {
        let mut parts = l.split_whitespace();
        let name = parts.nth(1).unwrap();
        if name.starts_with("auth") || name.starts_with("backend_key") || name == "negotiate" {
            continue;
        }
        stream.extend(hex::decode(parts.next().unwrap()).unwrap());
    }
    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    p.client_rx.clear();
    let now = p.now;
    p.session.handle_upstream_data(now, &stream).unwrap();
    p.drain();
    assert_eq!(p.client_rx, stream);
    let frames = backend_frames(&p.client_rx);
    assert!(frames.len() > 20);
}
