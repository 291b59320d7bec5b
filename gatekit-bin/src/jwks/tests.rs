//! The JWKS source against a local rustls HTTPS server on 127.0.0.1 and against files.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use gatekit_core::identity::VerifierConfig;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio_rustls::rustls;

use super::*;

const JWKS: &str = include_str!("../../../gatekit-core/tests/data/identity/jwks.json");
const JWKS_ROTATED: &str =
    include_str!("../../../gatekit-core/tests/data/identity/jwks-rotated.json");
const RSA_1: &str = include_str!("../../../gatekit-core/tests/data/identity/rsa-1.pem");
const RSA_2: &str = include_str!("../../../gatekit-core/tests/data/identity/rsa-2.pem");
const ISSUER: &str = "https://idp.example.com/";
const AUDIENCE: &str = "gatekit";

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + second).expect("test time in range")
}

fn verifier() -> Verifier {
    Verifier::new(VerifierConfig::new(ISSUER, AUDIENCE), KeySet::empty()).expect("valid config")
}

/// An RS256 token signed with `pem`, naming `kid`, valid for an hour from [`at`]`(0)`.
fn token(pem: &str, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "groups": ["dev"],
        "iat": at(0).as_second(), "exp": at(3600).as_second(),
    });
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("test key loads");
    jsonwebtoken::encode(&header, &claims, &key).expect("test token signs")
}

/// What the test server answers.
#[derive(Clone)]
enum Reply {
    Json(String),
    Status(u16),
}

/// A one-route HTTPS server on 127.0.0.1 with a certificate from a throwaway CA.
struct Server {
    url: String,
    ca_pem: String,
    hits: Arc<AtomicUsize>,
    reply: Arc<Mutex<Reply>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(reply: Reply) -> Server {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA cert");
        let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .expect("leaf params")
            .signed_by(&leaf_key, &ca)
            .expect("leaf cert");

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .expect("server cert");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("bound").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let reply = Arc::new(Mutex::new(reply));
        let task = tokio::spawn(serve(listener, acceptor, hits.clone(), reply.clone()));
        Server {
            url: format!("https://127.0.0.1:{port}/jwks.json"),
            ca_pem: ca.pem(),
            hits,
            reply,
            task,
        }
    }

    fn options(&self) -> JwksOptions {
        JwksOptions {
            extra_roots_pem: self.ca_pem.clone().into_bytes(),
            ..JwksOptions::default()
        }
    }

    fn set(&self, reply: Reply) {
        *self.reply.lock().expect("reply lock") = reply;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    hits: Arc<AtomicUsize>,
    reply: Arc<Mutex<Reply>>,
) {
    while let Ok((tcp, _)) = listener.accept().await {
        let acceptor = acceptor.clone();
        let hits = hits.clone();
        let reply = reply.clone();
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            hits.fetch_add(1, Ordering::SeqCst);
            let reply = reply.lock().expect("reply lock").clone();
            let (status, body) = match reply {
                Reply::Json(body) => (200, body),
                Reply::Status(code) => (code, String::new()),
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = tls.write_all(head.as_bytes()).await;
            let _ = tls.write_all(body.as_bytes()).await;
            let _ = tls.shutdown().await;
        });
    }
}

#[tokio::test]
async fn https_source_refetches_on_unknown_kid_and_rate_limits() {
    let server = Server::start(Reply::Json(JWKS.to_owned())).await;
    let source = JwksSource::load_with(&server.url, Path::new("."), &server.options())
        .await
        .expect("initial fetch");
    assert_eq!(server.hits(), 1);
    let verifier = verifier();

    // Known kid: no fetch.
    let known = token(RSA_1, "rsa-1");
    assert!(source.verify(&verifier, &known, at(0)).await.is_ok());
    assert_eq!(server.hits(), 1);

    // The issuer rotates to rsa-2: the unknown kid triggers one refetch, then verifies.
    server.set(Reply::Json(JWKS_ROTATED.to_owned()));
    let rotated = token(RSA_2, "rsa-2");
    let identity = source
        .verify(&verifier, &rotated, at(0))
        .await
        .expect("refetched key");
    assert_eq!(identity.subject, "alice");
    assert_eq!(server.hits(), 2);
    // rsa-1 left the set with the rotation.
    assert!(matches!(
        source.verify(&verifier, &known, at(1)).await,
        Err(IdentityError::UnknownKid { .. })
    ));

    // Within the interval, unknown kids do not fetch again.
    for (i, kid) in ["x1", "x2", "x3"].iter().enumerate() {
        let err = source
            .verify(&verifier, &token(RSA_2, kid), at(5 + i as i64))
            .await;
        assert!(
            matches!(err, Err(IdentityError::UnknownKid { .. })),
            "{err:?}"
        );
    }
    assert_eq!(server.hits(), 2);

    // After the interval, the next unknown kid fetches again (once).
    server.set(Reply::Json(JWKS.to_owned()));
    assert!(source.verify(&verifier, &known, at(31)).await.is_ok());
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn failed_refreshes_keep_the_last_good_keys() {
    let server = Server::start(Reply::Json(JWKS.to_owned())).await;
    let source = JwksSource::load_with(&server.url, Path::new("."), &server.options())
        .await
        .expect("initial fetch");
    let verifier = verifier();
    let known = token(RSA_1, "rsa-1");
    let unknown = token(RSA_2, "rsa-2");

    let failures = [
        Reply::Status(500),
        Reply::Status(404),
        Reply::Json("not json".to_owned()),
        Reply::Json(r#"{"keys": []}"#.to_owned()),
        Reply::Json(JWKS.replace("\"sig\"", "\"enc\"")),
    ];
    for (i, failure) in failures.into_iter().enumerate() {
        server.set(failure);
        let now = at(100 * (i as i64 + 1));
        let before = server.hits();
        let err = source.verify(&verifier, &unknown, now).await;
        assert!(
            matches!(err, Err(IdentityError::UnknownKid { .. })),
            "{i}: {err:?}"
        );
        assert_eq!(server.hits(), before + 1, "{i}: a refresh was attempted");
        assert!(
            source.refresh().await.is_err(),
            "{i}: explicit refresh reports the failure"
        );
        assert!(
            source.verify(&verifier, &known, now).await.is_ok(),
            "{i}: last good keys kept"
        );
    }
}

#[tokio::test]
async fn https_source_refuses_what_it_cannot_trust_or_reach() {
    let server = Server::start(Reply::Json(JWKS.to_owned())).await;
    // Without the test CA the server's certificate is not trusted (a machine with no system
    // roots at all fails earlier, building the client).
    let err = JwksSource::load(&server.url, Path::new("."))
        .await
        .expect_err("untrusted");
    assert!(
        matches!(err, JwksError::Fetch { .. } | JwksError::Client { .. }),
        "{err}"
    );
    assert_eq!(server.hits(), 0, "no request got past the TLS handshake");

    // A first fetch that fails leaves no source at all.
    server.set(Reply::Status(503));
    let err = JwksSource::load_with(&server.url, Path::new("."), &server.options())
        .await
        .expect_err("503");
    assert!(err.to_string().contains("503"), "{err}");

    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!(
        "https://127.0.0.1:{}/jwks.json",
        closed.local_addr().expect("bound").port()
    );
    drop(closed);
    let err = JwksSource::load_with(&url, Path::new("."), &server.options())
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, JwksError::Fetch { .. }), "{err}");

    let err = JwksSource::load_with(
        &server.url,
        Path::new("."),
        &JwksOptions {
            extra_roots_pem: b"not a certificate".to_vec(),
            ..JwksOptions::default()
        },
    )
    .await
    .expect_err("bad roots");
    assert!(matches!(err, JwksError::RootCertificates { .. }), "{err}");
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let big = format!(
        "{{\"keys\": [], \"pad\": \"{}\"}}",
        "x".repeat(MAX_JWKS_BYTES)
    );
    let server = Server::start(Reply::Json(big)).await;
    let err = JwksSource::load_with(&server.url, Path::new("."), &server.options())
        .await
        .expect_err("too large");
    assert!(matches!(err, JwksError::TooLarge { .. }), "{err}");
}

#[tokio::test]
async fn file_source_rereads_on_unknown_kid_with_the_same_rate_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, JWKS).expect("write jwks");
    let source = JwksSource::load("file:jwks.json", dir.path())
        .await
        .expect("file loads");
    assert_eq!(source.origin(), format!("file:{}", path.display()));
    let verifier = verifier();
    let rotated = token(RSA_2, "rsa-2");

    // Unknown kid: re-read, still unknown; the file changes right after.
    assert!(source.verify(&verifier, &rotated, at(0)).await.is_err());
    std::fs::write(&path, JWKS_ROTATED).expect("rotate jwks");
    // Within the interval the file is not re-read.
    assert!(source.verify(&verifier, &rotated, at(10)).await.is_err());
    // After it, it is.
    assert!(source.verify(&verifier, &rotated, at(31)).await.is_ok());

    // A broken file keeps the last good keys.
    std::fs::write(&path, "{").expect("break jwks");
    assert!(source.refresh().await.is_err());
    assert!(source.verify(&verifier, &rotated, at(100)).await.is_ok());

    std::fs::remove_file(&path).expect("remove jwks");
    assert!(matches!(
        source.refresh().await,
        Err(JwksError::Read { .. })
    ));
    assert!(matches!(
        JwksSource::load("file:jwks.json", dir.path()).await,
        Err(JwksError::Read { .. })
    ));
}

#[tokio::test]
async fn hs256_secret_survives_refreshes_and_fixed_sources_never_fetch() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("jwks.json"), JWKS).expect("write jwks");
    let secret = Hs256Secret::new(b"bin test secret that is long enough".to_vec()).expect("long");
    let source = JwksSource::load("file:jwks.json", dir.path())
        .await
        .expect("file loads")
        .with_hs256_secret(secret.clone());
    let groups = ["dev".to_owned()];
    let claims = gatekit_core::identity::MintClaims {
        groups: &groups,
        ..gatekit_core::identity::MintClaims::new(ISSUER, AUDIENCE, "bob")
    };
    let minted =
        gatekit_core::identity::mint_hs256(&claims, &secret, at(0), SignedDuration::from_hours(1))
            .expect("mints");
    let verifier = verifier();
    assert!(source.verify(&verifier, &minted, at(0)).await.is_ok());
    source.refresh().await.expect("refresh");
    assert!(source.verify(&verifier, &minted, at(1)).await.is_ok());
    assert!(format!("{source:?}").contains("redacted"));

    let fixed = JwksSource::fixed(KeySet::from_hs256_secret(&secret));
    assert!(fixed.verify(&verifier, &minted, at(0)).await.is_ok());
    let err = fixed.verify(&verifier, &token(RSA_1, "rsa-1"), at(0)).await;
    assert!(
        matches!(err, Err(IdentityError::AlgorithmConfusion { .. })),
        "{err:?}"
    );
}

#[test]
fn specs_other_than_file_and_https_are_refused() {
    for spec in [
        "http://idp.example.com/jwks.json",
        "jwks.json",
        "file:",
        "https://user:pw@idp.example.com/jwks.json",
        "https://",
    ] {
        let err = parse_spec(spec, Path::new("."), &JwksOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{spec} accepted"));
        assert!(matches!(err, JwksError::BadSpec { .. }), "{spec}: {err}");
    }
    match parse_spec(
        "file:/etc/gatekit/jwks.json",
        Path::new("/srv"),
        &JwksOptions::default(),
    ) {
        Ok(Origin::File(path)) => assert_eq!(path, Path::new("/etc/gatekit/jwks.json")),
        _ => panic!("absolute file spec"),
    }
}

#[test]
fn revoked_files_are_read_and_bad_lines_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("revoked.txt");
    std::fs::write(&path, "# revoked\njti:tok-1\nsub:mallory\n").expect("write");
    let list = read_revoked_file(&path).expect("reads");
    assert!(list.check("mallory", None).is_some());
    assert!(list.check("alice", Some("tok-1")).is_some());
    assert!(list.check("alice", Some("tok-2")).is_none());

    std::fs::write(&path, "jti:ok\nnot ok\n").expect("write");
    let err = read_revoked_file(&path).expect_err("bad line");
    assert!(err.to_string().contains("line 2"), "{err}");
    let err = read_revoked_file(&dir.path().join("missing.txt")).expect_err("missing");
    assert!(matches!(err, JwksError::Read { .. }), "{err}");
}
