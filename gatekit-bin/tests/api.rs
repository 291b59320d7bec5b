//! The gateway API over HTTP and the `gatekit approvals` / `gatekit sessions` commands
//! against it: an API on 127.0.0.1:0 with the in-memory store and HS256 tokens.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gatekit_bin::api::{ApiServer, ApiState};
use gatekit_bin::audit_log::{AuditLog, AuditLogConfig};
use gatekit_bin::config::Config;
use gatekit_bin::engine::Engine;
use gatekit_bin::gate::{Rules, Shared};
use gatekit_bin::jwks::JwksSource;
use gatekit_bin::live::LiveSessions;
use gatekit_bin::metrics::Metrics;
use gatekit_bin::notify::Notifier;
use gatekit_bin::reviews::Reviews;
use gatekit_bin::state::{LiveSession, MemoryStore, StateStore};
use gatekit_bin::swap::Swap;
use gatekit_core::approval::{Approval, NewApproval, Status};
use gatekit_core::identity::{Hs256Secret, KeySet, MintClaims, mint_hs256};
use gatekit_core::policy::{Decision, Verdict};
use gatekit_core::{Class, Classification, Identity, Protocol};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use tokio::sync::watch;

const SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
const ISSUER: &str = "https://idp.test/";
const AUDIENCE: &str = "gatekit";

/// A running API and what it serves from.
struct Api {
    addr: SocketAddr,
    store: Arc<MemoryStore>,
    audit: AuditLog,
    ready: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
    served: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
}

impl Api {
    async fn start() -> Api {
        Api::start_with(None).await
    }

    async fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            r#"
[identity]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
hs256_secret_env = "GK_TEST_SECRET"

[audit]
dir = "audit"

[api]
listen = "127.0.0.1:0"
admin_groups = ["security"]
"#
        );
        let config = Config::parse(&text, &dir.path().join("gatekit.toml"), dir.path()).unwrap();
        let keys = JwksSource::fixed(KeySet::empty())
            .with_hs256_secret(Hs256Secret::new(SECRET.as_bytes().to_vec()).unwrap());
        let audit = AuditLog::open(AuditLogConfig::new(dir.path().join("audit"))).unwrap();
        let store = Arc::new(MemoryStore::new());
        let metrics = Arc::new(Metrics::new());
        let shared = Arc::new(Shared {
            rules: Swap::new(Rules {
                engine: Engine::from_config(&config).unwrap(),
                masks: Default::default(),
                generation: 0,
            }),
            verifier: Swap::new(gatekit_bin::identity::verifier(&config).unwrap()),
            keys,
            audit: audit.clone(),
            reviews: Reviews::new(store.clone(), audit.clone(), SignedDuration::from_mins(15)),
            live: LiveSessions::new(store.clone(), "replica-test".into()),
            metrics: Arc::clone(&metrics),
            notifier: Notifier::disabled(),
        });
        let ready = Arc::new(AtomicBool::new(true));
        let state = Arc::new(ApiState {
            shared,
            store: store.clone(),
            metrics,
            notifier: Notifier::disabled(),
            admin_groups: config.api.as_ref().unwrap().admin_groups.clone(),
            listeners_ready: Arc::clone(&ready),
        });
        let server = ApiServer::bind("127.0.0.1:0".parse().unwrap(), tls, state)
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, mut stop_rx) = watch::channel(false);
        let served = tokio::spawn(server.run(async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        }));
        Api {
            addr,
            store,
            audit,
            ready,
            stop,
            served,
            dir,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Holds a DDL statement of `requester` for review by `dba`s.
    async fn hold(&self, id: &str, requester: &str, command: &str) -> Approval {
        let mut decision = Decision::without_rule(Verdict::Review, "schema changes need a DBA");
        decision.rule = Some("ddl-needs-review".into());
        decision.approvers = vec!["dba".to_owned()].into();
        decision.min_approvals = 1;
        let a = Approval::new(NewApproval {
            id,
            requester: &Identity::new(requester, ["dev"]),
            target: "shop",
            protocol: Protocol::Postgres,
            command,
            classification: &Classification::of([Class::Ddl]),
            decision: &decision,
            review_timeout: SignedDuration::from_mins(15),
            now: Timestamp::now(),
        })
        .unwrap();
        self.store.create_approval(&a).await.unwrap();
        a
    }

    async fn stop(self) -> PathBuf {
        let _ = self.stop.send(true);
        self.served.await.unwrap();
        self.audit.close().await.unwrap();
        let dir = self.dir.keep();
        dir.join("audit")
    }
}

fn token(sub: &str, groups: &[&str]) -> String {
    let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
    let mut claims = MintClaims::new(ISSUER, AUDIENCE, sub);
    claims.groups = &groups;
    mint_hs256(
        &claims,
        &Hs256Secret::new(SECRET.as_bytes().to_vec()).unwrap(),
        Timestamp::now(),
        SignedDuration::from_hours(1),
    )
    .unwrap()
}

fn id(n: u8) -> String {
    format!("{n:02x}").repeat(16)
}

async fn call(
    api: &Api,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), format!("{}{path}", api.url()));
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value, headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_metrics_and_ui_need_no_token() {
    let api = Api::start().await;
    let (s, v, _) = call(&api, "GET", "/healthz", None, None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
    let (s, v, _) = call(&api, "GET", "/readyz", None, None).await;
    assert_eq!((s, v["store"].as_str()), (200, Some("memory")));
    api.ready.store(false, Ordering::Release);
    let (s, v, _) = call(&api, "GET", "/readyz", None, None).await;
    assert_eq!((s, v["status"].as_str()), (503, Some("not_ready")));
    let (s, v, h) = call(&api, "GET", "/metrics", None, None).await;
    assert_eq!(s, 200);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    assert!(
        v.as_str()
            .unwrap()
            .contains("# TYPE gatekit_decisions_total counter")
    );
    let (s, v, h) = call(&api, "GET", "/ui", None, None).await;
    assert_eq!(s, 200);
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let page = v.as_str().unwrap();
    assert!(page.contains(r#"<script src="/ui/app.js" defer></script>"#));
    assert!(!page.contains("<script>"), "no inline script");
    let (s, _, h) = call(&api, "GET", "/ui/app.js", None, None).await;
    assert_eq!(s, 200);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_required_and_verified() {
    let api = Api::start().await;
    let (s, v, _) = call(&api, "GET", "/v1/approvals", None, None).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("no_token")));
    let (s, v, _) = call(&api, "GET", "/v1/approvals", Some("not.a.jwt"), None).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("bad_token")));
    assert!(
        v["error"].as_str().unwrap().starts_with("invalid token"),
        "{v}"
    );
    // A token signed with another key.
    let signed = token("bob", &["dba"]);
    // Change one character inside the signature (the last one may carry only padding bits).
    let at = signed.len() - 5;
    let swap = if &signed[at..at + 1] == "A" { "B" } else { "A" };
    let forged = format!("{}{swap}{}", &signed[..at], &signed[at + 1..]);
    let (s, _, _) = call(&api, "GET", "/v1/sessions", Some(&forged), None).await;
    assert_eq!(s, 401);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_are_listed_shown_and_decided_by_the_rules() {
    let api = Api::start().await;
    let bob = token("bob", &["dba"]);
    let a1 = api
        .hold(&id(1), "alice", "ALTER TABLE customers ADD note text")
        .await;
    let a2 = api
        .hold(&id(2), "alice", "DROP INDEX customers_email")
        .await;

    let (s, v, _) = call(
        &api,
        "GET",
        "/v1/approvals?status=pending",
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = v["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [a1.id.as_str(), a2.id.as_str()],
        "pending: oldest first"
    );
    let (s, v, _) = call(
        &api,
        "GET",
        &format!("/v1/approvals/{}", a1.id),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(
        (s, v["command"].as_str()),
        (200, Some("ALTER TABLE customers ADD note text"))
    );
    assert_eq!(v["rule"], "ddl-needs-review");

    // Unknown id, bad id, bad query, wrong method.
    let (s, v, _) = call(
        &api,
        "GET",
        &format!("/v1/approvals/{}", id(9)),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (404, Some("not_found")));
    let (s, v, _) = call(&api, "GET", "/v1/approvals/a%20b", Some(&bob), None).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("bad_id")));
    let (s, v, _) = call(&api, "GET", "/v1/approvals?status=open", Some(&bob), None).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("bad_query")));
    let (s, _, _) = call(
        &api,
        "DELETE",
        &format!("/v1/approvals/{}", a1.id),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(s, 405);

    let approve = format!("/v1/approvals/{}/approve", a1.id);
    // The requester cannot approve their own command; nor can someone outside `dba`.
    let (s, v, _) = call(
        &api,
        "POST",
        &approve,
        Some(&token("alice", &["dev", "dba"])),
        None,
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")), "{v}");
    let (s, v, _) = call(
        &api,
        "POST",
        &approve,
        Some(&token("carol", &["dev"])),
        None,
    )
    .await;
    assert_eq!(s, 403);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("none of the approvers groups"),
        "{v}"
    );
    // Bad bodies.
    let (s, v, _) = call(&api, "POST", &approve, Some(&bob), Some("{not json")).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("bad_body")));
    let (s, _, _) = call(&api, "POST", &approve, Some(&bob), Some(r#"{"why": "x"}"#)).await;
    assert_eq!(s, 400);
    let huge = format!(r#"{{"reason": "{}"}}"#, "x".repeat(70 * 1024));
    let (s, v, _) = call(&api, "POST", &approve, Some(&bob), Some(&huge)).await;
    assert_eq!((s, v["code"].as_str()), (413, Some("body_too_large")));
    // Still pending after all that.
    assert_eq!(
        api.store.get_approval(&a1.id).await.unwrap().status,
        Status::Pending
    );

    let (s, v, _) = call(
        &api,
        "POST",
        &approve,
        Some(&bob),
        Some(r#"{"reason": "ticket 12"}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("approved")), "{v}");
    assert_eq!(
        api.store.get_approval(&a1.id).await.unwrap().status,
        Status::Approved
    );
    // A second decision conflicts.
    let (s, v, _) = call(&api, "POST", &approve, Some(&token("dave", &["dba"])), None).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("conflict")), "{v}");
    let deny = format!("/v1/approvals/{}/deny", a2.id);
    let (s, v, _) = call(
        &api,
        "POST",
        &deny,
        Some(&bob),
        Some(r#"{"reason": "not during the sale"}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("denied")));
    let (_, v, _) = call(&api, "POST", &deny, Some(&bob), None).await;
    assert_eq!(v["code"], "conflict");

    let (_, v, _) = call(
        &api,
        "GET",
        "/v1/approvals?status=decided",
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(v["approvals"].as_array().unwrap().len(), 2);
    let (_, v, _) = call(
        &api,
        "GET",
        "/v1/approvals?status=pending",
        Some(&bob),
        None,
    )
    .await;
    assert!(v["approvals"].as_array().unwrap().is_empty());
    let (_, metrics, _) = call(&api, "GET", "/metrics", None, None).await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("gatekit_approval_wait_seconds_count 2\n")
    );

    // Both decisions are in the audit trail, with decider and reason.
    let audit = api.stop().await;
    let trail = std::fs::read_to_string(audit.join("audit.jsonl")).unwrap();
    let approvals: Vec<Value> = trail
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["event"] == "approval")
        .collect();
    assert_eq!(approvals.len(), 2, "{trail}");
    assert_eq!(approvals[0]["state"], "approved");
    assert_eq!(approvals[0]["decider"], "bob");
    assert_eq!(approvals[0]["reason"], "ticket 12");
    assert_eq!(approvals[1]["state"], "denied");
    assert_eq!(approvals[1]["requester"], "alice");
}

fn live(id: &str, user: &str) -> LiveSession {
    let now = Timestamp::now();
    LiveSession {
        id: id.into(),
        replica: "replica-a".into(),
        target: "shop".into(),
        protocol: Protocol::Postgres,
        identity: Identity::new(user, ["dev"]),
        peer: "127.0.0.1:50000".into(),
        started_at: now,
        last_seen: now,
        kill_requested_at: None,
        kill_requested_by: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_and_only_admins_terminate_them() {
    let api = Api::start().await;
    api.store
        .register_session(&live("s1", "alice"))
        .await
        .unwrap();
    api.store
        .register_session(&live("s2", "erin"))
        .await
        .unwrap();
    let bob = token("bob", &["dba"]);
    let (s, v, _) = call(&api, "GET", "/v1/sessions", Some(&bob), None).await;
    assert_eq!(s, 200);
    assert_eq!(v["sessions"].as_array().unwrap().len(), 2);
    let (_, v, _) = call(&api, "GET", "/v1/sessions?limit=1", Some(&bob), None).await;
    assert_eq!(v["sessions"].as_array().unwrap().len(), 1);

    let (s, v, _) = call(&api, "POST", "/v1/sessions/s1/terminate", Some(&bob), None).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")));
    assert!(
        api.store.list_sessions().await.unwrap()[0]
            .kill_requested_at
            .is_none()
    );
    let sec = token("sam", &["security"]);
    let (s, v, _) = call(
        &api,
        "POST",
        "/v1/sessions/nope/terminate",
        Some(&sec),
        None,
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (404, Some("not_found")));
    let (s, v, _) = call(&api, "POST", "/v1/sessions/s1/terminate", Some(&sec), None).await;
    assert_eq!((s, v["id"].as_str()), (202, Some("s1")), "{v}");
    let s1 = api
        .store
        .list_sessions()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.id == "s1")
        .unwrap();
    assert_eq!(s1.kill_requested_by.as_deref(), Some("sam"));
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_do_not_hurt_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let api = Api::start().await;
    let raw = |bytes: Vec<u8>| async move {
        let mut s = tokio::net::TcpStream::connect(api.addr).await.unwrap();
        let _ = s.write_all(&bytes).await;
        let mut out = Vec::new();
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    };
    // Garbage, an oversized head, a path that is all dots and escapes.
    let got = raw(b"\x00\x01\x02 garbage\r\n\r\n".to_vec()).await;
    assert!(got.is_empty() || got.starts_with("HTTP/1.1 400"), "{got}");
    let mut big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 64 * 1024));
    big.extend(b"\r\n\r\n");
    let got = raw(big).await;
    assert!(got.is_empty() || got.starts_with("HTTP/1.1 431"), "{got}");
    let got = raw(
        b"GET /v1/../../etc/passwd?%%%&&== HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            .to_vec(),
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 404"), "{got}");
    let (s, _, _) = call(&api, "GET", "/healthz", None, None).await;
    assert_eq!(s, 200);
    api.stop().await;
}

// --- the CLI ---------------------------------------------------------------------------

fn gatekit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatekit"));
    c.env_remove("GATEKIT_TOKEN")
        .env_remove("GATEKIT_API")
        .env_remove("GATEKIT_LOG")
        .env("NO_COLOR", "1");
    c
}

async fn run(mut c: Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn cli(api: &str, token: Option<&str>, args: &[&str]) -> Command {
    let mut c = gatekit();
    c.args(args).args(["--api", api]);
    if let Some(t) = token {
        c.args(["--token", t]);
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_cli_lists_shows_approves_and_denies() {
    let api = Api::start().await;
    let url = api.url();
    let bob = token("bob", &["dba"]);
    let a1 = api
        .hold(&id(1), "alice", "ALTER TABLE customers ADD note text")
        .await;
    let a2 = api
        .hold(&id(2), "alice", "DROP TABLE\x1b[31m audit_old")
        .await;

    let (code, out, err) = run(cli(&url, Some(&bob), &["approvals", "list"])).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ID")
            && lines[0].contains("REQUESTER")
            && lines[0].ends_with("COMMAND"),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&a1.id)
            && lines[1].contains("alice")
            && lines[1].contains("ddl-needs-review"),
        "{out}"
    );
    assert!(
        lines[2].contains("DROP TABLE?[31m audit_old"),
        "control characters are not printed: {out}"
    );

    // --json, with the token from GATEKIT_TOKEN.
    let mut c = cli(&url, None, &["approvals", "list", "--json"]);
    c.env("GATEKIT_TOKEN", &bob);
    let (code, out, _) = run(c).await;
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["approvals"].as_array().unwrap().len(), 2);

    let (code, out, _) = run(cli(&url, Some(&bob), &["approvals", "show", &a1.id])).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("requester: alice") && out.contains("  ALTER TABLE customers ADD note text"),
        "{out}"
    );

    // The requester may not approve: exit 1 with the server's message.
    let (code, _, err) = run(cli(
        &url,
        Some(&token("alice", &["dba"])),
        &["approvals", "approve", &a1.id],
    ))
    .await;
    assert_eq!(code, 1);
    assert!(
        err.contains("403 Forbidden") && err.contains("cannot decide"),
        "{err}"
    );

    let (code, out, err) = run(cli(
        &url,
        Some(&bob),
        &["approvals", "approve", &a1.id, "--reason", "ok"],
    ))
    .await;
    assert_eq!(
        (code, out.trim()),
        (0, format!("approval {}: approved", a1.id).as_str()),
        "{err}"
    );
    let (code, _, err) = run(cli(&url, Some(&bob), &["approvals", "approve", &a1.id])).await;
    assert_eq!(code, 1);
    assert!(err.contains("409 Conflict"), "{err}");
    let (code, out, _) = run(cli(
        &url,
        Some(&bob),
        &["approvals", "deny", &a2.id, "--reason", "no", "--json"],
    ))
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["status"],
        "denied"
    );
    assert_eq!(
        api.store
            .get_approval(&a2.id)
            .await
            .unwrap()
            .reason
            .as_deref(),
        Some("no")
    );

    let (code, _, err) = run(cli(&url, Some(&bob), &["approvals", "show", &id(7)])).await;
    assert_eq!(code, 1);
    assert!(err.contains("404 Not Found: approval"), "{err}");
    let (code, _, err) = run(cli(&url, Some("garbage"), &["approvals", "list"])).await;
    assert_eq!(code, 1);
    assert!(err.contains("401 Unauthorized: invalid token"), "{err}");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_cli_usage_errors_exit_2_and_unreachable_exits_1() {
    let (code, _, err) = run(cli("http://127.0.0.1:9", None, &["approvals", "list"])).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("no token: pass --token JWT or set GATEKIT_TOKEN"),
        "{err}"
    );
    let (code, _, err) = run({
        let mut c = gatekit();
        c.args(["sessions", "list", "--token", "x"]);
        c
    })
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("--api URL is required"), "{err}");
    let (code, _, _) = run(cli("http://x", Some("t"), &["approvals", "frobnicate"])).await;
    assert_eq!(code, 2);
    let (code, _, err) = run(cli("ftp://x", Some("t"), &["approvals", "list"])).await;
    assert_eq!(code, 2);
    assert!(err.contains("is not an http:// or https:// URL"), "{err}");
    // Nothing listens on port 9 (discard) here.
    let (code, _, err) = run(cli("http://127.0.0.1:9", Some("t"), &["approvals", "list"])).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot reach the gateway API at http://127.0.0.1:9"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_cli_lists_and_kills() {
    let api = Api::start().await;
    let url = api.url();
    api.store
        .register_session(&live("s1", "alice"))
        .await
        .unwrap();
    let sec = token("sam", &["security"]);
    let (code, out, err) = run(cli(&url, Some(&sec), &["sessions", "list"])).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("s1") && l.contains("alice") && l.contains("replica-a")),
        "{out}"
    );
    let (code, _, err) = run(cli(
        &url,
        Some(&token("bob", &["dba"])),
        &["sessions", "kill", "s1"],
    ))
    .await;
    assert_eq!(code, 1);
    assert!(
        err.contains("403 Forbidden") && err.contains("admin groups"),
        "{err}"
    );
    let (code, out, _) = run(cli(&url, Some(&sec), &["sessions", "kill", "s1"])).await;
    assert_eq!(
        (code, out.trim()),
        (0, "session s1 of alice on shop: termination requested")
    );
    let (_, out, _) = run(cli(&url, Some(&sec), &["sessions", "list", "--json"])).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sessions"][0]["kill_requested_by"], "sam");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_api_with_a_ca_file() {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let (tls, _) = gatekit_bin::api::tls_config(
        ck.cert.pem().as_bytes(),
        ck.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let api = Api::start_with(Some(tls)).await;
    let url = format!("https://{}", api.addr);
    let ca = api.dir.path().join("api.pem");
    std::fs::write(&ca, ck.cert.pem()).unwrap();
    let bob = token("bob", &["dba"]);
    api.hold(&id(3), "alice", "DROP TABLE t").await;
    let (code, _, err) = run(cli(&url, Some(&bob), &["approvals", "list"])).await;
    assert_eq!(code, 1, "an unknown CA is refused");
    assert!(err.contains("cannot reach"), "{err}");
    let mut c = cli(&url, Some(&bob), &["approvals", "list", "--json"]);
    c.args(["--ca-file", ca.to_str().unwrap()]);
    let (code, out, err) = run(c).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["approvals"][0]["id"],
        id(3)
    );
    let missing: &Path = Path::new("/nonexistent/ca.pem");
    let mut c = cli(&url, Some(&bob), &["approvals", "list"]);
    c.args(["--ca-file", missing.to_str().unwrap()]);
    let (code, _, err) = run(c).await;
    assert_eq!(code, 2);
    assert!(err.contains("--ca-file /nonexistent/ca.pem"), "{err}");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_api_only_when_configured_and_stops_on_sigterm() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let write_config = |api: &str| {
        let path = dir.path().join("gatekit.toml");
        std::fs::write(
            &path,
            format!(
                r#"
[identity]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
hs256_secret_env = "GK_TEST_SECRET"

[audit]
dir = "audit"

[state]
url = "sqlite:state.db"
{api}
"#
            ),
        )
        .unwrap();
        path
    };
    let serve = |config: &Path| {
        gatekit()
            .env("GK_TEST_SECRET", SECRET)
            .args(["--log-format", "json", "serve", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let stop = |child: std::process::Child| {
        assert!(
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let config = write_config(&format!("[api]\nlisten = \"127.0.0.1:{port}\"\n"));
    let child = serve(&config);
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "API never became ready"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let bob = token("bob", &["dba"]);
    let (code, out, err) = run(cli(&url, Some(&bob), &["approvals", "list", "--json"])).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["approvals"],
        json_empty()
    );
    let (ok, log) = tokio::task::spawn_blocking(move || stop(child))
        .await
        .unwrap();
    assert!(ok, "{log}");
    assert!(
        log.contains("API listening") && log.contains("audit trail closed"),
        "{log}"
    );
    assert!(dir.path().join("state.db").exists());

    // Without [api]: no API listener.
    let config = write_config("");
    let child = serve(&config);
    let trail = dir.path().join("audit/audit.jsonl");
    while std::fs::read_to_string(&trail).map_or(0, |t| t.matches("config_reload").count()) < 2 {
        assert!(std::time::Instant::now() < deadline + std::time::Duration::from_secs(20));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(client.get(format!("{url}/healthz")).send().await.is_err());
    let (ok, log) = tokio::task::spawn_blocking(move || stop(child))
        .await
        .unwrap();
    assert!(ok && !log.contains("API listening"), "{log}");
}

fn json_empty() -> Value {
    Value::Array(Vec::new())
}

/// The approvers' page in headless Chromium (run by `scripts/ui-test`, which installs
/// Chromium and playwright-core): the pending approvals appear, a click approves one, a
/// reason and a click deny the other, and the store shows both decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: run scripts/ui-test"]
async fn approvers_page_in_chromium() {
    let api = Api::start().await;
    let a1 = api
        .hold(&id(1), "alice", "ALTER TABLE customers ADD note text")
        .await;
    let a2 = api
        .hold(&id(2), "alice", "DROP INDEX customers_email")
        .await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/ui/approvers-page.cjs"
    );
    let mut node = Command::new("node");
    node.env(
        "GATEKIT_UI_EXPECT",
        r#"["ALTER TABLE customers ADD note text","alice","ddl","ddl-needs-review"]"#,
    )
    .arg(script)
    .arg(api.url())
    .arg(token("bob", &["dba"]))
    .arg(&a1.id)
    .arg(&a2.id);
    let (code, out, err) = run(node).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("approvers page: ok"), "{out}");
    let a1 = api.store.get_approval(&a1.id).await.unwrap();
    assert_eq!(a1.status, Status::Approved);
    assert_eq!(a1.votes[0].decider, "bob");
    let a2 = api.store.get_approval(&a2.id).await.unwrap();
    assert_eq!(a2.status, Status::Denied);
    assert_eq!(a2.reason.as_deref(), Some("not during the sale"));
    api.stop().await;
}

// --- end to end: a real PostgreSQL behind `gatekit serve`, decided through the API -----------

#[path = "../../gatekit-pg/tests/support/cluster.rs"]
#[allow(dead_code)]
mod cluster;

/// `gatekit serve` in front of a throwaway PostgreSQL, with `[api]` and a review rule.
struct Gateway {
    _pg: cluster::Cluster,
    _dir: tempfile::TempDir,
    child: std::process::Child,
    pg_port: u16,
    api: String,
    store: PathBuf,
}

impl Gateway {
    fn start() -> Gateway {
        let pg = cluster::Cluster::start();
        let dir = tempfile::tempdir().unwrap();
        let (pg_port, api_port) = (cluster::free_port(), cluster::free_port());
        let config = dir.path().join("gatekit.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[identity]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
hs256_secret_env = "GK_TEST_SECRET"

[audit]
dir = "audit"

[state]
url = "sqlite:state.db"

[api]
listen = "127.0.0.1:{api_port}"
admin_groups = ["security"]

[policy]
default = "allow"

[[target]]
name = "shop"
protocol = "postgres"
listen = "127.0.0.1:{pg_port}"
upstream = "{upstream}"
database = "shop"
user = "{user}"
password_env = "GK_TEST_DB_PASSWORD"
upstream_tls = "require"
allow_groups = ["dev"]

[[rule]]
name = "ddl-needs-review"
groups = ["dev"]
classes = ["ddl"]
action = "review"
approvers = ["dba"]
"#,
                upstream = pg.addr(),
                user = cluster::SCRAM_USER,
            ),
        )
        .unwrap();
        let mut child = gatekit()
            .env("GK_TEST_SECRET", SECRET)
            .env("GK_TEST_DB_PASSWORD", cluster::SCRAM_PASSWORD)
            .args(["--log-format", "json", "serve", "--config"])
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let api = format!("http://127.0.0.1:{api_port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", pg_port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", api_port)).is_err()
        {
            assert!(
                child.try_wait().unwrap().is_none(),
                "gatekit serve exited early"
            );
            assert!(
                std::time::Instant::now() < deadline,
                "gatekit serve never listened"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Gateway {
            _pg: pg,
            child,
            pg_port,
            api,
            store: dir.path().join("state.db"),
            _dir: dir,
        }
    }

    /// Runs `sql` as alice (group dev) on a thread; returns its exit code, stdout, stderr.
    fn psql(&self, sql: &'static str) -> std::thread::JoinHandle<(i32, String, String)> {
        let mut c = Command::new(cluster::bin().join("psql"));
        c.env("PGPASSWORD", token("alice", &["dev"]))
            .env("PGCONNECT_TIMEOUT", "10")
            .arg(format!(
                "host=127.0.0.1 port={} user=alice dbname=shop sslmode=require",
                self.pg_port
            ))
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-Atc", sql]);
        std::thread::spawn(move || run_sync(&mut c))
    }

    /// `gatekit approvals|sessions ... --api` against this gateway, as `sub`.
    fn cli(&self, sub: &str, groups: &[&str], args: &[&str]) -> (i32, String, String) {
        run_sync(&mut cli(&self.api, Some(&token(sub, groups)), args))
    }

    /// The id of the first pending approval, waiting for one.
    fn next_pending(&self) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (code, out, err) = self.cli("bob", &["dba"], &["approvals", "list", "--json"]);
            assert_eq!(code, 0, "{err}");
            let v: Value = serde_json::from_str(&out).unwrap();
            if let Some(id) = v["approvals"][0]["id"].as_str() {
                return id.to_owned();
            }
            assert!(std::time::Instant::now() < deadline, "nothing was held");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn approval(&self, id: &str) -> Approval {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = gatekit_bin::state::SqliteStore::open(&self.store)
                .await
                .unwrap();
            store.get_approval(id).await.unwrap()
        })
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn run_sync(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[test]
fn cli_decisions_release_waiting_psql_statements_and_kill_ends_sessions() {
    let gw = Gateway::start();
    // Denied through the CLI: the waiting statement fails with the reason.
    let alter = gw.psql("ALTER TABLE customers ADD COLUMN note text");
    let id = gw.next_pending();
    let (code, _, err) = gw.cli("alice", &["dev", "dba"], &["approvals", "approve", &id]);
    assert_eq!(code, 1, "the requester cannot approve");
    assert!(err.contains("403 Forbidden"), "{err}");
    let (code, out, err) = gw.cli(
        "bob",
        &["dba"],
        &["approvals", "deny", &id, "--reason", "freeze"],
    );
    assert_eq!(
        (code, out.trim()),
        (0, format!("approval {id}: denied").as_str()),
        "{err}"
    );
    let (code, _, err) = alter.join().unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("denied by bob: freeze"), "{err}");

    // Approved through the CLI: the waiting statement runs.
    let create =
        gw.psql("CREATE TEMP TABLE scratch AS SELECT 42 AS answer; SELECT answer FROM scratch");
    let id = gw.next_pending();
    let decided = std::time::Instant::now();
    let (code, _, err) = gw.cli("bob", &["dba"], &["approvals", "approve", &id]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = create.join().unwrap();
    eprintln!(
        "approve (CLI) to statement completion: {:?}",
        decided.elapsed()
    );
    assert_eq!((code, out.lines().last()), (0, Some("42")), "{err}");
    assert!(gw.approval(&id).consumed_at.is_some());

    // A kill through the CLI ends a live session (once the ended ones are gone).
    let sessions = || {
        let (_, out, _) = gw.cli("sam", &["security"], &["sessions", "list", "--json"]);
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sessions()["sessions"]
        .as_array()
        .is_some_and(|s| !s.is_empty())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "ended sessions stay listed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let sleeper = gw.psql("SELECT pg_sleep(30)");
    let session = loop {
        if let Some(id) = sessions()["sessions"][0]["id"].as_str() {
            break id.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no live session listed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let (code, _, _) = gw.cli("bob", &["dba"], &["sessions", "kill", &session]);
    assert_eq!(code, 1, "only admins kill");
    let killed = std::time::Instant::now();
    let (code, _, err) = gw.cli("sam", &["security"], &["sessions", "kill", &session]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = sleeper.join().unwrap();
    eprintln!("kill (CLI) to disconnect: {:?}", killed.elapsed());
    assert_ne!(code, 0);
    assert!(err.contains("terminated by sam"), "{err}");
    assert!(killed.elapsed() < std::time::Duration::from_secs(3));
}

/// The approvers' page releases a waiting psql statement (run by `scripts/ui-test`).
#[test]
#[ignore = "needs Chromium and playwright-core: run scripts/ui-test"]
fn approvers_page_releases_a_waiting_psql_statement() {
    let gw = Gateway::start();
    let create =
        gw.psql("CREATE TEMP TABLE scratch AS SELECT 42 AS answer; SELECT answer FROM scratch");
    let id = gw.next_pending();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/ui/approvers-page.cjs"
    );
    let (code, out, err) = run_sync(
        Command::new("node")
            .env(
                "GATEKIT_UI_EXPECT",
                r#"["CREATE TEMP TABLE scratch","alice","ddl","ddl-needs-review"]"#,
            )
            .arg(script)
            .arg(&gw.api)
            .arg(token("bob", &["dba"]))
            .arg(&id),
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = create.join().unwrap();
    assert_eq!((code, out.lines().last()), (0, Some("42")), "{err}");
    assert_eq!(gw.approval(&id).status, Status::Approved);
}
