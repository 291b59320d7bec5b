use ::hmac::{KeyInit, Mac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;

type HmacSha256 = ::hmac::Hmac<Sha256>;

fn mac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().into()
}

/// A server side built on postgres-protocol's verifier (`SCRAM-SHA-256$i:salt$stored:server`,
/// its own SASLprep and key derivation) and RustCrypto's HMAC: nothing shared with the client.
struct Server {
    salt: String,
    iterations: u32,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Server {
    fn new(password: &str) -> Server {
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        let rest = verifier.strip_prefix("SCRAM-SHA-256$").unwrap();
        let (params, keys) = rest.split_once('$').unwrap();
        let (iterations, salt) = params.split_once(':').unwrap();
        let (stored, server) = keys.split_once(':').unwrap();
        Server {
            salt: salt.to_owned(),
            iterations: iterations.parse().unwrap(),
            stored_key: STANDARD.decode(stored).unwrap(),
            server_key: STANDARD.decode(server).unwrap(),
        }
    }

    /// A server for an ASCII `password` with the given salt, its keys derived here with
    /// RustCrypto's HMAC.
    fn with_salt(password: &str, salt: &str, iterations: u32) -> Server {
        let raw_salt = STANDARD.decode(salt).unwrap();
        let mut block = raw_salt.clone();
        block.extend_from_slice(&[0, 0, 0, 1]);
        let mut u = mac(password.as_bytes(), &block);
        let mut salted = u;
        for _ in 1..iterations {
            u = mac(password.as_bytes(), &u);
            salted.iter_mut().zip(u).for_each(|(s, x)| *s ^= x);
        }
        Server {
            salt: salt.to_owned(),
            iterations,
            stored_key: Sha256::digest(mac(&salted, b"Client Key")).to_vec(),
            server_key: mac(&salted, b"Server Key").to_vec(),
        }
    }

    /// Runs one login of `client` knowing `password`: `Ok` when both sides accepted.
    fn login(&self, password: &str, cache: &KeyCache, random: [u8; 18]) -> Result<(), String> {
        let mut client = ScramClient::new(&random);
        let first = std::str::from_utf8(client.first_message())
            .unwrap()
            .to_owned();
        let bare = first.strip_prefix("n,,").unwrap();
        let cnonce = bare.strip_prefix("n=,r=").unwrap();
        let server_first = format!("r={cnonce}srv,s={},i={}", self.salt, self.iterations);
        let fin = client
            .server_first(server_first.as_bytes(), password.as_bytes(), cache)
            .map_err(|e| e.to_string())?;
        let fin = std::str::from_utf8(fin).unwrap().to_owned();
        let (without_proof, proof) = fin.rsplit_once(",p=").unwrap();
        assert_eq!(without_proof, format!("c=biws,r={cnonce}srv"));
        let auth = format!("{bare},{server_first},{without_proof}");
        let signature = mac(&self.stored_key, auth.as_bytes());
        let client_key: Vec<u8> = STANDARD
            .decode(proof)
            .unwrap()
            .iter()
            .zip(signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if Sha256::digest(&client_key).as_slice() != self.stored_key.as_slice() {
            return Err("server: wrong proof".into());
        }
        let v = STANDARD.encode(mac(&self.server_key, auth.as_bytes()));
        client
            .server_final(format!("v={v}").as_bytes())
            .map_err(|e| e.to_string())
    }
}

#[test]
fn rfc7677_example() {
    let mut client = ScramClient::with_nonce("user", "rOprNGfwEbeRWgbNEkqO".into());
    assert_eq!(client.first_message(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let cache = KeyCache::default();
    let fin = client
        .server_first(
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
              s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            b"pencil",
            &cache,
        )
        .unwrap();
    assert_eq!(
        fin,
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
          p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    client
        .server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        .unwrap();
}

#[test]
fn a_wrong_server_signature_is_refused() {
    let mut client = ScramClient::with_nonce("user", "rOprNGfwEbeRWgbNEkqO".into());
    let cache = KeyCache::default();
    client
        .server_first(
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
              s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            b"pencil",
            &cache,
        )
        .unwrap();
    assert_eq!(
        client.server_final(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
        Err(ScramError::BadServerSignature)
    );
    // The exchange is over: a second try is out of order, not a second chance.
    assert_eq!(
        client.server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
        Err(ScramError::OutOfOrder)
    );
}

#[test]
fn keys_are_derived_once_per_salt_and_iteration_count() {
    let server = Server::new("hunter2");
    let cache = KeyCache::default();
    server.login("hunter2", &cache, [1; 18]).unwrap();
    server.login("hunter2", &cache, [2; 18]).unwrap();
    server.login("hunter2", &cache, [3; 18]).unwrap();
    assert_eq!(cache.derivations(), 1);

    // The password changed on the server: a new salt, derived again, then cached again.
    let changed = Server::new("hunter2");
    assert_ne!(changed.salt, server.salt);
    changed.login("hunter2", &cache, [4; 18]).unwrap();
    changed.login("hunter2", &cache, [5; 18]).unwrap();
    assert_eq!(cache.derivations(), 2);
}

#[test]
fn a_cache_shared_between_passwords_never_gives_the_wrong_keys() {
    let first = Server::new("one");
    let cache = KeyCache::default();
    first.login("one", &cache, [1; 18]).unwrap();
    // The same salt and iteration count, another password: derived, not taken.
    let second = Server::with_salt("two", &first.salt, first.iterations);
    second.login("two", &cache, [2; 18]).unwrap();
    first.login("one", &cache, [3; 18]).unwrap();
    assert_eq!(cache.derivations(), 3);
}

#[test]
fn a_wrong_password_is_refused_by_the_server() {
    let server = Server::new("right");
    let cache = KeyCache::default();
    assert_eq!(
        server.login("wrong", &cache, [9; 18]),
        Err("server: wrong proof".into())
    );
}

#[test]
fn the_server_error_is_reported() {
    let mut client = ScramClient::new(&[0; 18]);
    let nonce = STANDARD.encode([0u8; 18]);
    let cache = KeyCache::default();
    client
        .server_first(
            format!("r={nonce}x,s=c2FsdA==,i=1").as_bytes(),
            b"pw",
            &cache,
        )
        .unwrap();
    assert_eq!(
        client.server_final(b"e=invalid-proof\n\x1b[2Jforged log line,x=1"),
        Err(ScramError::Server {
            reason: "invalid-proof[2Jforged log line".into()
        })
    );
}

#[test]
fn malformed_server_first_messages_are_refused() {
    let nonce = STANDARD.encode([0u8; 18]);
    let cases: Vec<(String, ScramError)> = vec![
        (
            format!("r={nonce}x,s=c2FsdA==,i={}", MAX_ITERATIONS + 1),
            ScramError::TooManyIterations {
                iterations: u64::from(MAX_ITERATIONS) + 1,
            },
        ),
        (
            format!("r={nonce}x,s=c2FsdA==,i=99999999999"),
            ScramError::Malformed {
                message: "first",
                what: "the iteration count is not a number",
            },
        ),
        (
            format!("r={nonce}x,s=c2FsdA==,i=4294967296"),
            ScramError::TooManyIterations {
                iterations: 4_294_967_296,
            },
        ),
        (
            format!("r={nonce}x,s=c2FsdA==,i=0"),
            ScramError::Malformed {
                message: "first",
                what: "the iteration count is zero",
            },
        ),
        (
            format!("r={nonce}x,s=c2FsdA==,i=+1"),
            ScramError::Malformed {
                message: "first",
                what: "the iteration count is not a number",
            },
        ),
        (
            format!("r={nonce}x,s=c2FsdA==,i=4096,x=ext"),
            ScramError::Malformed {
                message: "first",
                what: "it has attributes after the iteration count",
            },
        ),
        (
            format!("m=ext,r={nonce}x,s=c2FsdA==,i=4096"),
            ScramError::Malformed {
                message: "first",
                what: "it does not start with the nonce (r=)",
            },
        ),
        (
            format!("r={nonce}x,s=not base64,i=4096"),
            ScramError::Malformed {
                message: "first",
                what: "the salt is not base64",
            },
        ),
        (
            format!("r={nonce}x,s=,i=4096"),
            ScramError::Malformed {
                message: "first",
                what: "the salt is empty",
            },
        ),
        (
            format!(
                "r={nonce}x,s={},i=4096",
                STANDARD.encode([1u8; MAX_SALT_LEN + 1])
            ),
            ScramError::Malformed {
                message: "first",
                what: "the salt is too long",
            },
        ),
        (
            format!(
                "r={nonce}x,s={},i=4096",
                STANDARD.encode([1u8; MAX_SALT_LEN + 3])
            ),
            ScramError::Malformed {
                message: "first",
                what: "the salt is too long",
            },
        ),
        (
            format!("r={nonce}x\u{7f},s=c2FsdA==,i=4096"),
            ScramError::Malformed {
                message: "first",
                what: "the nonce is empty or not printable",
            },
        ),
        (
            format!("r={nonce},s=c2FsdA==,i=4096"),
            ScramError::NonceMismatch,
        ),
        (
            "r=BAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,s=c2FsdA==,i=4096".to_owned(),
            ScramError::NonceMismatch,
        ),
        (
            format!("r={nonce}x,i=4096,s=c2FsdA=="),
            ScramError::Malformed {
                message: "first",
                what: "the salt (s=) does not follow the nonce",
            },
        ),
        (
            format!("r={nonce}x,s=c2FsdA=="),
            ScramError::Malformed {
                message: "first",
                what: "the iteration count (i=) does not follow the salt",
            },
        ),
    ];
    let cache = KeyCache::default();
    for (message, expected) in cases {
        let mut client = ScramClient::new(&[0; 18]);
        assert_eq!(
            client
                .server_first(message.as_bytes(), b"pw", &cache)
                .map(<[u8]>::to_vec),
            Err(expected),
            "{message}"
        );
        // A failed exchange does not go on.
        assert_eq!(
            client.server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(ScramError::OutOfOrder)
        );
    }
    assert_eq!(
        cache.derivations(),
        0,
        "no keys are derived for a refused message"
    );
    let mut client = ScramClient::new(&[0; 18]);
    assert_eq!(
        client
            .server_first(&[0xff, b'r'], b"pw", &cache)
            .map(<[u8]>::to_vec),
        Err(ScramError::NotUtf8)
    );
}

#[test]
fn malformed_server_final_messages_are_refused() {
    let nonce = STANDARD.encode([0u8; 18]);
    let cache = KeyCache::default();
    for (message, what) in [
        (&b"x=1"[..], "it has neither v= nor e="),
        (b"v=short", "the signature is not 32 bytes of base64"),
        (
            b"v=!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            "the signature is not base64",
        ),
    ] {
        let mut client = ScramClient::new(&[0; 18]);
        client
            .server_first(
                format!("r={nonce}x,s=c2FsdA==,i=1").as_bytes(),
                b"pw",
                &cache,
            )
            .unwrap();
        assert_eq!(
            client.server_final(message),
            Err(ScramError::Malformed {
                message: "final",
                what
            })
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Any password, including ones SASLprep maps or refuses, logs in against
    /// postgres-protocol's verifier of it; and only with it.
    #[test]
    fn logs_in_against_an_independent_verifier(password in "\\PC{0,24}", random in any::<[u8; 18]>()) {
        let server = Server::new(&password);
        let cache = KeyCache::default();
        prop_assert_eq!(server.login(&password, &cache, random), Ok(()));
        prop_assert_eq!(server.login(&password, &cache, random), Ok(()));
        prop_assert_eq!(cache.derivations(), 1);
        let other = format!("{password}x");
        prop_assert!(server.login(&other, &KeyCache::default(), random).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever a server sends, the client answers with a message or an error.
    #[test]
    fn hostile_server_messages_never_panic(
        first in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            "r=AAAAAAAAAAAAAAAAAAAAAAAA[!-~]{0,8},s=[A-Za-z0-9+/=]{0,12},i=[0-9]{0,3}"
                .prop_map(String::into_bytes),
        ],
        last in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let cache = KeyCache::default();
        let mut client = ScramClient::new(&[0; 18]);
        let answered = client.server_first(&first, b"pw", &cache).is_ok();
        let finished = client.server_final(&last);
        if !answered {
            prop_assert_eq!(finished, Err(ScramError::OutOfOrder));
        }
    }
}
