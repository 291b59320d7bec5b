//! Shared pieces of the integration tests: the cluster, a test `Gate`, and gateways.

pub mod cluster;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use gatekit_core::Identity;
use gatekit_core::mask::Masker;
use gatekit_core::pg::{LoginRefusal, Password, SessionConfig, UpstreamTls};
use gatekit_pg::{
    Decision, Gate, LoginAttempt, PgGateway, PgGatewayConfig, SessionEnd, SessionInfo,
    StatementRequest, Workers,
};

pub const ALICE_TOKEN: &str = "eyJhbGciOiJub25lIn0.alice.test";
pub const BOB_TOKEN: &str = "eyJhbGciOiJub25lIn0.bob.test";
/// A member of `dev` and `dba` (exempt from masking).
pub const CAROL_TOKEN: &str = "eyJhbGciOiJub25lIn0.carol.test";

/// A gate with a fixed token map, admitting members of `dev`, recording session events.
/// Statements containing `needs_review` are held until the test calls `review`; sessions
/// end when the test calls `kill`.
#[derive(Default)]
pub struct TestGate {
    pub statements: Mutex<Vec<String>>,
    pub started: Mutex<Vec<SessionInfo>>,
    pub ended: Mutex<Vec<(SessionInfo, SessionEnd)>>,
    /// Approvals handed out, in order.
    pub held: Mutex<Vec<String>>,
    /// Approvals withdrawn because their session ended.
    pub abandoned: Mutex<Vec<String>>,
    verdicts: Mutex<HashMap<String, Decision>>,
    kills: Mutex<HashMap<String, String>>,
    changed: tokio::sync::Notify,
    /// The profile for sessions outside `dba`.
    pub mask: Option<Arc<Masker>>,
}

impl TestGate {
    /// Decides a held statement.
    pub fn review(&self, approval: &str, decision: Decision) {
        self.verdicts
            .lock()
            .unwrap()
            .insert(approval.to_owned(), decision);
        self.changed.notify_waiters();
    }

    /// Ends a session from outside.
    pub fn kill(&self, session: &str, reason: &str) {
        self.kills
            .lock()
            .unwrap()
            .insert(session.to_owned(), reason.to_owned());
        self.changed.notify_waiters();
    }

    /// Waits up to 10 s for the `n`th held approval.
    pub async fn nth_held(&self, n: usize) -> String {
        for _ in 0..500 {
            if let Some(a) = self.held.lock().unwrap().get(n) {
                return a.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no held statement #{n}");
    }
}

impl Gate for TestGate {
    async fn authenticate(&self, a: LoginAttempt<'_>) -> Result<Identity, LoginRefusal> {
        let ids: HashMap<&str, Identity> = [
            (ALICE_TOKEN, {
                let mut i = Identity::new("alice", ["dev"]);
                i.email = Some("alice@example.com".into());
                i
            }),
            (BOB_TOKEN, Identity::new("bob", ["ops"])),
            (CAROL_TOKEN, Identity::new("carol", ["dev", "dba"])),
        ]
        .into_iter()
        .collect();
        let id = ids
            .get(a.token)
            .cloned()
            .ok_or_else(|| LoginRefusal::InvalidToken("token signature does not verify".into()))?;
        if !id.in_group("dev") {
            return Err(LoginRefusal::NotAdmitted(format!(
                "{} is not in the target's allow_groups",
                id.subject
            )));
        }
        Ok(id)
    }

    /// Denies deleting from `customers`, as a bulk-write rule would.
    async fn decide(&self, _: &SessionInfo, s: &StatementRequest) -> Decision {
        let sql = String::from_utf8_lossy(&s.sql).into_owned();
        self.statements.lock().unwrap().push(sql.clone());
        if sql.contains("needs_review") {
            let mut held = self.held.lock().unwrap();
            let approval = format!("ap{}", held.len());
            held.push(approval.clone());
            Decision::Hold {
                notice: format!("awaiting approval {approval} from dba"),
                approval,
            }
        } else if sql.contains("DELETE FROM customers") {
            Decision::Deny {
                rule: Some("no-bulk-writes".into()),
                reason: "bulk writes are not allowed for developers".into(),
            }
        } else {
            Decision::Allow
        }
    }

    async fn await_review(
        &self,
        _: &SessionInfo,
        _: &StatementRequest,
        approval: &str,
    ) -> Decision {
        loop {
            let changed = self.changed.notified();
            if let Some(d) = self.verdicts.lock().unwrap().remove(approval) {
                return d;
            }
            changed.await;
        }
    }

    async fn review_abandoned(&self, _: &SessionInfo, approval: &str) {
        self.abandoned.lock().unwrap().push(approval.to_owned());
    }

    async fn terminated(&self, s: &SessionInfo) -> String {
        loop {
            let changed = self.changed.notified();
            if let Some(reason) = self.kills.lock().unwrap().remove(&s.id) {
                return reason;
            }
            changed.await;
        }
    }

    fn maskers(&self, s: &SessionInfo) -> Vec<Arc<Masker>> {
        match &self.mask {
            Some(m) if !s.identity.in_group("dba") => vec![Arc::clone(m)],
            _ => Vec::new(),
        }
    }

    async fn session_started(&self, s: &SessionInfo) {
        self.started.lock().unwrap().push(s.clone());
    }

    async fn session_ended(&self, s: &SessionInfo, e: &SessionEnd) {
        self.ended.lock().unwrap().push((s.clone(), e.clone()));
    }
}

/// How a test gateway reaches the cluster.
#[derive(Clone, Copy, Debug)]
pub enum Account {
    Scram,
    Md5,
    Trust,
}

pub struct Gw {
    pub port: u16,
    pub gate: Arc<TestGate>,
    /// The held password (its SCRAM key cache is the one the gateway's logins use).
    pub password: Option<Password>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub struct GwOptions {
    pub account: Account,
    pub client_tls: bool,
    pub plaintext: bool,
    pub upstream_tls: UpstreamTls,
    pub ca: Option<String>,
    pub startup_timeout: Duration,
    pub roles: bool,
    /// Client-facing certificate and key (PEM) instead of a self-signed one.
    pub client_pem: Option<(String, String)>,
    /// The masking profile of non-`dba` sessions.
    pub mask: Option<Arc<Masker>>,
    /// Connection workers to run the connections on, instead of the test's runtime.
    pub workers: Option<Workers>,
    /// The held password instead of the account's right one.
    pub password: Option<&'static str>,
}

impl Default for GwOptions {
    fn default() -> Self {
        GwOptions {
            account: Account::Scram,
            client_tls: true,
            plaintext: false,
            upstream_tls: UpstreamTls::Disable,
            ca: None,
            startup_timeout: Duration::from_secs(10),
            roles: true,
            client_pem: None,
            mask: None,
            workers: None,
            password: None,
        }
    }
}

/// Starts a gateway on a free loopback port in front of `upstream`.
pub async fn gateway(upstream: &str, o: GwOptions) -> Gw {
    let (user, password) = match o.account {
        Account::Scram => (cluster::SCRAM_USER, Some(cluster::SCRAM_PASSWORD)),
        Account::Md5 => (cluster::MD5_USER, Some(cluster::MD5_PASSWORD)),
        Account::Trust => (cluster::TRUST_USER, None),
    };
    let mut s = SessionConfig::new("shop", user);
    s.upstream_database = Some("shop".into());
    s.upstream_password = o.password.or(password).map(Password::new);
    let held = s.upstream_password.clone();
    s.upstream_tls = o.upstream_tls;
    s.allow_plaintext_auth = o.plaintext;
    s.startup_timeout = jiff::SignedDuration::try_from(o.startup_timeout).unwrap();
    if o.roles {
        s.roles = vec![("dev".into(), "shop_readonly".into())];
    }
    let mut c = PgGatewayConfig::new(s, "127.0.0.1:0", upstream);
    if let Some((cert, key)) = &o.client_pem {
        let (tls, _) =
            gatekit_pg::tls::server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        c.client_tls = Some(tls);
    } else if o.client_tls {
        let (tls, _) = gatekit_pg::tls::self_signed_server_config(&["localhost".into()]).unwrap();
        c.client_tls = Some(tls);
    }
    c.upstream_ca_pem = o.ca.map(String::into_bytes);
    let gate = Arc::new(TestGate {
        mask: o.mask,
        ..TestGate::default()
    });
    let mut gw = PgGateway::bind(c, Arc::clone(&gate)).await.unwrap();
    if let Some(w) = o.workers {
        gw = gw.with_workers(w);
    }
    let port = gw.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gw.run(async {
        let _ = rx.await;
    }));
    Gw {
        port,
        gate,
        password: held,
        _stop: tx,
    }
}

/// Runs psql against the gateway; returns (success, stdout, stderr).
pub async fn psql(
    port: u16,
    sslmode: &str,
    token: &str,
    user: &str,
    args: &[&str],
) -> (bool, String, String) {
    psql_with(&format!("sslmode={sslmode}"), port, token, user, args, "").await
}

/// Runs psql with extra connection keywords and standard input.
pub async fn psql_with(
    extra: &str,
    port: u16,
    token: &str,
    user: &str,
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    use tokio::io::AsyncWriteExt;
    let conn = format!("host=127.0.0.1 port={port} dbname=shop user={user} {extra}");
    let mut child = tokio::process::Command::new("psql")
        .arg(conn)
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .env("PGPASSWORD", token)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
