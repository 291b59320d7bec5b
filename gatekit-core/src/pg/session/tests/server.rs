//! A simulated PostgreSQL server: the startup, each authentication method (with a real
//! SCRAM-SHA-256 server side), and canned answers to queries.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::BytesMut;
use hmac::{Hmac, KeyInit, Mac};
use postgres_protocol::authentication::md5_hash;
use sha2::{Digest, Sha256};

use crate::pg::codec::encode::{self, ErrorBuilder, MessageWriter, Severity};
use crate::pg::codec::{Frame, FrontendMessage, Limits, StartupPacket, StartupParams};

/// The backend process id the simulated server announces.
pub(crate) const SERVER_PID: u32 = 4242;

/// How the simulated server authenticates the gateway.
#[derive(Clone, Debug)]
pub(crate) enum UpstreamAuth {
    Trust,
    Cleartext(String),
    Md5(String),
    Scram(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Startup,
    Password,
    ScramFirst,
    ScramFinal {
        auth_message_head: String,
        nonce: String,
    },
    Ready,
    Refused,
}

pub(crate) struct FakeServer {
    auth: UpstreamAuth,
    state: State,
    buf: BytesMut,
    /// Answer to SSLRequest.
    pub ssl_answer: u8,
    /// The StartupMessage parameters the gateway sent.
    pub startup: Option<StartupParams>,
    /// Every byte received once logged in.
    pub received_after_login: Vec<u8>,
    /// Whether a Terminate arrived.
    pub terminated: bool,
    /// Record but do not answer after login (the test plays the server's answers).
    pub mute: bool,
    /// Transaction status reported in ReadyForQuery.
    pub tx: u8,
    /// Play a server that does not know the password: answer the SCRAM client-final
    /// message with AuthenticationOk at once, without checking the proof or signing.
    pub impostor: bool,
    /// Answer the SCRAM client-first message by asking for the password in clear.
    pub downgrade: bool,
    skip_till_sync: bool,
}

const SALT: [u8; 4] = [0x2a, 0x3d, 0x8f, 0xe0];
const SCRAM_SALT: &[u8] = b"gatekit-test-salt";
const ITERATIONS: u32 = 4096;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().into()
}

fn salted_password(password: &str) -> [u8; 32] {
    let mut salt = SCRAM_SALT.to_vec();
    salt.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password.as_bytes(), &salt);
    let mut out = u;
    for _ in 1..ITERATIONS {
        u = hmac(password.as_bytes(), &u);
        for (o, b) in out.iter_mut().zip(u) {
            *o ^= b;
        }
    }
    out
}

fn auth(buf: &mut BytesMut, code: u32, data: &[u8]) {
    MessageWriter::new(buf, b'R').u32(code).bytes(data).finish();
}

impl FakeServer {
    pub(crate) fn new(auth: UpstreamAuth) -> Self {
        FakeServer {
            auth,
            state: State::Startup,
            buf: BytesMut::new(),
            ssl_answer: b'S',
            startup: None,
            received_after_login: Vec::new(),
            terminated: false,
            mute: false,
            tx: b'I',
            impostor: false,
            downgrade: false,
            skip_till_sync: false,
        }
    }

    fn login_ok(&mut self, out: &mut BytesMut) {
        auth(out, 0, &[]);
        for (k, v) in [("server_version", "15.8"), ("client_encoding", "UTF8")] {
            MessageWriter::new(out, b'S')
                .cstr(k.as_bytes())
                .cstr(v.as_bytes())
                .finish();
        }
        MessageWriter::new(out, b'K')
            .u32(SERVER_PID)
            .bytes(&[1, 2, 3, 4])
            .finish();
        encode::ready_for_query(out, b'I');
        self.state = State::Ready;
    }

    fn refuse(&mut self, out: &mut BytesMut) {
        ErrorBuilder::new(
            Severity::Fatal,
            "28P01",
            "password authentication failed for user \"app\"",
        )
        .encode(out);
        self.state = State::Refused;
    }

    fn password(&self) -> &str {
        match &self.auth {
            UpstreamAuth::Trust => "",
            UpstreamAuth::Cleartext(p) | UpstreamAuth::Md5(p) | UpstreamAuth::Scram(p) => p,
        }
    }

    fn error(&mut self, out: &mut BytesMut, code: &str, message: &str) {
        ErrorBuilder::new(Severity::Error, code, message).encode(out);
        if self.tx == b'T' {
            self.tx = b'E';
        }
    }

    /// PostgreSQL's answers once logged in, including the skip-till-Sync after an error in
    /// the extended protocol and the failed-transaction state.
    fn ready(&mut self, msg: FrontendMessage<'_>, out: &mut BytesMut) {
        if self.skip_till_sync && !matches!(msg, FrontendMessage::Sync | FrontendMessage::Terminate)
        {
            return;
        }
        match msg {
            FrontendMessage::Query { sql } => {
                if sql == b"gatekit_denied" {
                    self.error(out, "42601", "syntax error at or near \"gatekit_denied\"");
                } else if sql == b"BEGIN" {
                    self.tx = b'T';
                    MessageWriter::new(out, b'C').cstr(b"BEGIN").finish();
                } else if sql == b"ROLLBACK" {
                    self.tx = b'I';
                    MessageWriter::new(out, b'C').cstr(b"ROLLBACK").finish();
                } else if self.tx == b'E' {
                    self.error(out, "25P02", "current transaction is aborted");
                } else {
                    MessageWriter::new(out, b'T')
                        .u16(1)
                        .cstr(b"one")
                        .u32(0)
                        .u16(0)
                        .u32(23)
                        .u16(4)
                        .u32(u32::MAX)
                        .u16(0)
                        .finish();
                    MessageWriter::new(out, b'D')
                        .u16(1)
                        .u32(1)
                        .bytes(b"1")
                        .finish();
                    MessageWriter::new(out, b'C').cstr(b"SELECT 1").finish();
                }
                encode::ready_for_query(out, self.tx);
            }
            FrontendMessage::Parse { sql, .. } => {
                if sql == b"gatekit_denied" {
                    self.error(out, "42601", "syntax error at or near \"gatekit_denied\"");
                    self.skip_till_sync = true;
                } else {
                    MessageWriter::new(out, b'1').finish();
                }
            }
            FrontendMessage::Bind(_) => MessageWriter::new(out, b'2').finish(),
            FrontendMessage::Describe { .. } => MessageWriter::new(out, b'n').finish(),
            FrontendMessage::Execute { .. } => {
                MessageWriter::new(out, b'C').cstr(b"SELECT 1").finish();
            }
            FrontendMessage::Sync => {
                self.skip_till_sync = false;
                encode::ready_for_query(out, self.tx);
            }
            FrontendMessage::Terminate => self.terminated = true,
            _ => {}
        }
    }

    /// Takes bytes from the gateway and returns the server's answer.
    pub(crate) fn receive(&mut self, data: &[u8]) -> Vec<u8> {
        let limits = Limits::default();
        self.buf.extend_from_slice(data);
        let mut out = BytesMut::new();
        loop {
            if self.state == State::Startup {
                let Some(p) = StartupPacket::decode(&mut self.buf, &limits).unwrap() else {
                    break;
                };
                match p {
                    StartupPacket::SslRequest => out.extend_from_slice(&[self.ssl_answer]),
                    StartupPacket::Startup { params, .. } => {
                        self.startup = Some(params);
                        match self.auth.clone() {
                            UpstreamAuth::Trust => self.login_ok(&mut out),
                            UpstreamAuth::Cleartext(_) => {
                                auth(&mut out, 3, &[]);
                                self.state = State::Password;
                            }
                            UpstreamAuth::Md5(_) => {
                                auth(&mut out, 5, &SALT);
                                self.state = State::Password;
                            }
                            UpstreamAuth::Scram(_) => {
                                auth(&mut out, 10, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0");
                                self.state = State::ScramFirst;
                            }
                        }
                    }
                    other => panic!("server got {other:?}"),
                }
                continue;
            }
            let Some(frame) = Frame::decode_frontend(&mut self.buf, &limits).unwrap() else {
                break;
            };
            let msg = frame.frontend().unwrap();
            match (self.state.clone(), msg) {
                (State::Password, FrontendMessage::AuthResponse(p)) => {
                    let want = match &self.auth {
                        UpstreamAuth::Md5(pw) => md5_hash(b"app", pw.as_bytes(), SALT),
                        _ => self.password().to_owned(),
                    };
                    if p.strip_suffix(b"\0") == Some(want.as_bytes()) {
                        self.login_ok(&mut out);
                    } else {
                        self.refuse(&mut out);
                    }
                }
                (State::ScramFirst, FrontendMessage::AuthResponse(_)) if self.downgrade => {
                    auth(&mut out, 3, &[]);
                    self.state = State::Password;
                }
                (State::ScramFirst, FrontendMessage::AuthResponse(p)) => {
                    let mech_end = p.iter().position(|&b| b == 0).unwrap();
                    assert_eq!(&p[..mech_end], b"SCRAM-SHA-256");
                    let first = std::str::from_utf8(&p[mech_end + 5..]).unwrap();
                    let bare = first.strip_prefix("n,,").expect("no channel binding");
                    let cnonce = bare.split(',').find_map(|f| f.strip_prefix("r=")).unwrap();
                    let nonce = format!("{cnonce}serverpart");
                    let server_first =
                        format!("r={nonce},s={},i={ITERATIONS}", B64.encode(SCRAM_SALT));
                    auth(&mut out, 11, server_first.as_bytes());
                    self.state = State::ScramFinal {
                        auth_message_head: format!("{bare},{server_first}"),
                        nonce,
                    };
                }
                (
                    State::ScramFinal {
                        auth_message_head,
                        nonce,
                    },
                    FrontendMessage::AuthResponse(p),
                ) => {
                    if self.impostor {
                        self.login_ok(&mut out);
                        continue;
                    }
                    let fin = std::str::from_utf8(p).unwrap();
                    let (without_proof, proof) = fin.rsplit_once(",p=").unwrap();
                    assert_eq!(without_proof, format!("c=biws,r={nonce}"));
                    let auth_message = format!("{auth_message_head},{without_proof}");
                    let salted = salted_password(self.password());
                    let client_key = hmac(&salted, b"Client Key");
                    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
                    let signature = hmac(&stored_key, auth_message.as_bytes());
                    let proof = B64.decode(proof).unwrap();
                    let recovered: Vec<u8> =
                        proof.iter().zip(signature).map(|(a, b)| a ^ b).collect();
                    let ok = proof.len() == 32
                        && Sha256::digest(&recovered).as_slice() == stored_key.as_slice();
                    if ok {
                        let server_key = hmac(&salted, b"Server Key");
                        let server_sig = hmac(&server_key, auth_message.as_bytes());
                        auth(
                            &mut out,
                            12,
                            format!("v={}", B64.encode(server_sig)).as_bytes(),
                        );
                        self.login_ok(&mut out);
                    } else {
                        self.refuse(&mut out);
                    }
                }
                (State::Ready, msg) => {
                    self.received_after_login.extend_from_slice(frame.raw());
                    if !self.mute {
                        self.ready(msg, &mut out);
                    }
                }
                (_, FrontendMessage::Terminate) => self.terminated = true,
                (state, msg) => panic!("server in {state:?} got {msg:?}"),
            }
        }
        out.to_vec()
    }
}
