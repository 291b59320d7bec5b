//! The PostgreSQL store (`postgres://…`): replicas on several machines share one database.
//! Every change is a single compare-and-set statement that also sends `NOTIFY
//! gatekit_state`; a dedicated connection (reconnecting with backoff) `LISTEN`s and wakes
//! waiters, which also poll twice a second so that a lost listener only slows them.
//!
//! The connection is plaintext: use it on loopback or a trusted network
//! (`sslmode=require` is refused with a clear error).

use std::future::poll_fn;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use gatekit_core::approval::{Approval, Choice, Status};
use gatekit_core::audit::ChainHead;
use gatekit_core::{ClassSet, Identity};
use jiff::Timestamp;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Row};

use super::op::{self, Op};
use super::schema::{self, ApprovalRow, MAX_GRANT_CANDIDATES, MIGRATIONS, micros};
use super::{
    ApprovalFilter, LiveSession, MAX_LIST, StateError, StateStore, StoreFuture, check_session,
};
use crate::config::Secret;

/// The channel every change is announced on.
const CHANNEL: &str = "gatekit_state";

/// How often waiters re-read even without a notification.
const PG_POLL: Duration = Duration::from_millis(500);

/// Key of the advisory lock that serializes migrations across replicas.
const MIGRATION_LOCK: i64 = 0x6761_7465_6b69_7431;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Parameters of a query.
type Params<'p> = [&'p (dyn ToSql + Sync)];

/// Removes the password from a `postgres://user:password@host/db` URL, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.chars().take(256).collect();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}{path}")
        .chars()
        .take(256)
        .collect()
}

/// Parses a `postgres://` URL into a client config.
pub(crate) fn parse_url(url: &str) -> Result<Config, StateError> {
    let bad = |reason: String| StateError::BadUrl {
        url: redact(url),
        reason,
    };
    let config = Config::from_str(url).map_err(|e| bad(e.to_string()))?;
    if config.get_hosts().is_empty() {
        return Err(bad("no host".to_owned()));
    }
    if config.get_dbname().is_none() {
        return Err(bad(
            "no database name (postgres://user@host/DATABASE)".to_owned()
        ));
    }
    if config.get_ssl_mode() == SslMode::Require {
        return Err(bad(
            "TLS to the state database is not supported; use it on loopback or a trusted network with sslmode=disable or prefer".to_owned(),
        ));
    }
    Ok(config)
}

/// `host:port/database`, for messages.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "?".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres {host}:{port}/{}",
        config.get_dbname().unwrap_or("?")
    )
}

/// A PostgreSQL error as text: the server's code and message when it sent one.
fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

fn q(op: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StateError {
    move |e| StateError::query(op, pg_message(&e))
}

/// Connects one client and drives its connection on a task.
async fn connect(config: &Config, location: &str) -> Result<Client, StateError> {
    let unreachable = |message: String| StateError::Unreachable {
        location: location.to_owned(),
        message,
    };
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls))
        .await
        .map_err(|_| unreachable(format!("no connection within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| unreachable(pg_message(&e)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "state store connection closed");
        }
    });
    Ok(client)
}

/// A PostgreSQL state store.
#[derive(Debug)]
pub struct PostgresStore {
    config: Config,
    location: String,
    client: Mutex<Arc<Client>>,
    /// Ticks on every `NOTIFY` from any replica.
    changes: watch::Sender<u64>,
    listener: JoinHandle<()>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (with `password`, which overrides one in the URL),
    /// brings its schema up to date and starts listening for changes.
    pub async fn connect(
        url: &str,
        password: Option<&Secret>,
    ) -> Result<PostgresStore, StateError> {
        let mut config = parse_url(url)?;
        if let Some(p) = password {
            config.password(p.expose());
        }
        config.connect_timeout(CONNECT_TIMEOUT);
        let location = describe(&config);
        let mut client = connect(&config, &location).await?;
        migrate(&mut client, &location).await?;
        let changes = watch::Sender::new(0);
        let listener = tokio::spawn(listen(config.clone(), location.clone(), changes.clone()));
        Ok(PostgresStore {
            config,
            location,
            client: Mutex::new(Arc::new(client)),
            changes,
            listener,
        })
    }

    /// The client, reconnected when its connection was lost.
    async fn client(&self) -> Result<Arc<Client>, StateError> {
        let mut guard = self.client.lock().await;
        if guard.is_closed() {
            *guard = Arc::new(connect(&self.config, &self.location).await?);
        }
        Ok(guard.clone())
    }

    async fn query(
        &self,
        op: &'static str,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, StateError> {
        self.client().await?.query(sql, params).await.map_err(q(op))
    }

    async fn load(&self, id: &str) -> Result<Approval, StateError> {
        let rows = self
            .query(
                "get approval",
                "SELECT body FROM approvals WHERE id = $1",
                &[&id],
            )
            .await?;
        match rows.first() {
            Some(r) => schema::approval(id, &r.try_get::<_, String>(0).map_err(q("get approval"))?),
            None => Err(StateError::ApprovalNotFound { id: id.to_owned() }),
        }
    }

    async fn write(&self, next: Approval, seen: u64) -> Result<bool, StateError> {
        let row = ApprovalRow::of(&next)?;
        let rows = self
            .query(
                "update approval",
                "WITH u AS (UPDATE approvals SET status = $1, decided_at = $2, grant_until = $3, \
                 version = $4, body = $5 WHERE id = $6 AND version = $7 RETURNING id) \
                 SELECT pg_notify($8, id) FROM u",
                &[
                    &row.status,
                    &row.decided_at,
                    &row.grant_until,
                    &row.version,
                    &row.body,
                    &next.id,
                    &schema::version(seen),
                    &CHANNEL,
                ],
            )
            .await?;
        Ok(rows.len() == 1)
    }

    async fn update(&self, id: &str, op: Op<'_>) -> Result<Approval, StateError> {
        op::update_cas(id, op, || self.load(id), |n, v| self.write(n, v)).await
    }

    async fn approvals(
        &self,
        op: &'static str,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Vec<Approval>, StateError> {
        let rows = self.query(op, sql, params).await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0).map_err(q(op))?;
                let body: String = r.try_get(1).map_err(q(op))?;
                schema::approval(&id, &body)
            })
            .collect()
    }

    async fn sessions(
        &self,
        op: &'static str,
        filter: &str,
        params: &Params<'_>,
    ) -> Result<Vec<LiveSession>, StateError> {
        let sql = format!(
            "SELECT id, body, last_seen, kill_requested_at, kill_requested_by \
             FROM live_sessions {filter} ORDER BY started_at, id LIMIT {MAX_LIST}"
        );
        let rows = self.query(op, &sql, params).await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0).map_err(q(op))?;
                schema::session(
                    &id,
                    &r.try_get::<_, String>(1).map_err(q(op))?,
                    r.try_get(2).map_err(q(op))?,
                    r.try_get(3).map_err(q(op))?,
                    r.try_get(4).map_err(q(op))?,
                )
            })
            .collect()
    }

    async fn notify(&self, op: &'static str) -> Result<(), StateError> {
        self.query(op, "SELECT pg_notify($1, '')", &[&CHANNEL])
            .await
            .map(drop)
    }
}

/// Applies the migrations the database lacks, in one transaction, under an advisory lock
/// so that replicas starting together migrate once.
async fn migrate(client: &mut Client, location: &str) -> Result<(), StateError> {
    let fail = |version: u32| {
        move |e: tokio_postgres::Error| StateError::Migration {
            location: location.to_owned(),
            version,
            message: pg_message(&e),
        }
    };
    let tx = client.transaction().await.map_err(fail(0))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(fail(0))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS gatekit_schema (version INTEGER NOT NULL)")
        .await
        .map_err(fail(0))?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(max(version), 0)::BIGINT FROM gatekit_schema",
            &[],
        )
        .await
        .and_then(|r| r.try_get(0))
        .map_err(fail(0))?;
    let current = u32::try_from(current).unwrap_or(u32::MAX);
    if current > schema::latest() {
        return Err(StateError::SchemaTooNew {
            location: location.to_owned(),
            found: current,
            known: schema::latest(),
        });
    }
    for (version, sql) in (1u32..).zip(MIGRATIONS).skip(current as usize) {
        tx.batch_execute(sql).await.map_err(fail(version))?;
        tx.execute(
            "INSERT INTO gatekit_schema (version) VALUES ($1)",
            &[&i32::try_from(version).unwrap_or(i32::MAX)],
        )
        .await
        .map_err(fail(version))?;
    }
    tx.commit().await.map_err(fail(schema::latest()))
}

/// Keeps a connection listening on [`CHANNEL`], ticking `changes` on every notification
/// and after every (re)connect; reconnects with backoff.
async fn listen(config: Config, location: String, changes: watch::Sender<u64>) {
    let tick = |c: &watch::Sender<u64>| c.send_modify(|n| *n = n.wrapping_add(1));
    let mut backoff = Duration::from_millis(100);
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let tx = changes.clone();
                let driver = tokio::spawn(async move {
                    while let Some(msg) = poll_fn(|cx| connection.poll_message(cx)).await {
                        match msg {
                            Ok(AsyncMessage::Notification(_)) => tick(&tx),
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "state store listener connection lost");
                                break;
                            }
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        // Changes made while no one listened are picked up now.
                        tick(&changes);
                        let _ = driver.await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %pg_message(&e), %location, "cannot LISTEN on the state store");
                        driver.abort();
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %pg_message(&e), %location, "state store listener cannot connect");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

impl StateStore for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn create_approval<'a>(&'a self, approval: &'a Approval) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let row = ApprovalRow::of(approval)?;
            let r = self
                .client()
                .await?
                .query(
                    "WITH i AS (INSERT INTO approvals (id, status, requester, target, created_at, \
                     decided_at, expires_at, grant_until, version, body) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id) \
                     SELECT pg_notify($11, id) FROM i",
                    &[
                        &approval.id,
                        &row.status,
                        &approval.requester.subject,
                        &approval.target,
                        &row.created_at,
                        &row.decided_at,
                        &row.expires_at,
                        &row.grant_until,
                        &row.version,
                        &row.body,
                        &CHANNEL,
                    ],
                )
                .await;
            match r {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    Err(StateError::DuplicateApproval {
                        id: approval.id.clone(),
                    })
                }
                Err(e) => Err(StateError::query("create approval", pg_message(&e))),
            }
        })
    }

    fn get_approval<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Approval> {
        Box::pin(self.load(id))
    }

    fn list_approvals(
        &self,
        filter: ApprovalFilter,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Approval>> {
        Box::pin(async move {
            let limit = op::cap(limit) as i64;
            let decided =
                "ORDER BY COALESCE(decided_at, created_at) DESC, created_at DESC, id DESC";
            match filter {
                ApprovalFilter::Status(s) => {
                    let order = if s.is_pending() {
                        "ORDER BY created_at, id"
                    } else {
                        decided
                    };
                    let sql = format!(
                        "SELECT id, body FROM approvals WHERE status = $1 {order} LIMIT $2"
                    );
                    self.approvals("list approvals", &sql, &[&s.name(), &limit])
                        .await
                }
                ApprovalFilter::Decided => {
                    let sql = format!(
                        "SELECT id, body FROM approvals WHERE status <> 'pending' {decided} LIMIT $1"
                    );
                    self.approvals("list approvals", &sql, &[&limit]).await
                }
                ApprovalFilter::Any => {
                    self.approvals(
                        "list approvals",
                        "SELECT id, body FROM approvals ORDER BY created_at DESC, id DESC LIMIT $1",
                        &[&limit],
                    )
                    .await
                }
            }
        })
    }

    fn decide<'a>(
        &'a self,
        id: &'a str,
        decider: &'a Identity,
        choice: Choice,
        reason: Option<&'a str>,
        now: Timestamp,
    ) -> StoreFuture<'a, Approval> {
        let op = Op::Decide {
            decider,
            choice,
            reason,
            now,
        };
        Box::pin(self.update(id, op))
    }

    fn cancel<'a>(
        &'a self,
        id: &'a str,
        reason: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, Approval> {
        Box::pin(self.update(id, Op::Cancel { reason, now }))
    }

    fn expire_due(&self, now: Timestamp) -> StoreFuture<'_, Vec<Approval>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT id, body FROM approvals WHERE status = 'pending' AND expires_at <= $1 \
                 ORDER BY expires_at LIMIT {MAX_LIST}"
            );
            let due = self
                .approvals("expire approvals", &sql, &[&micros(now)])
                .await?;
            op::expire_each(due, |id| async move {
                self.update(&id, Op::Expire { now }).await
            })
            .await
        })
    }

    fn consume<'a>(
        &'a self,
        id: &'a str,
        command: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, Approval> {
        Box::pin(self.update(id, Op::Consume { command, now }))
    }

    fn find_grant<'a>(
        &'a self,
        requester: &'a Identity,
        target: &'a str,
        classes: ClassSet,
        now: Timestamp,
    ) -> StoreFuture<'a, Option<Approval>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT id, body FROM approvals WHERE requester = $1 AND target = $2 \
                 AND grant_until > $3 AND status = '{}' \
                 ORDER BY grant_until DESC LIMIT {MAX_GRANT_CANDIDATES}",
                Status::Approved.name()
            );
            let found = self
                .approvals(
                    "find grant",
                    &sql,
                    &[&requester.subject, &target, &micros(now)],
                )
                .await?;
            Ok(found
                .into_iter()
                .find(|a| a.covers(requester, target, classes, now)))
        })
    }

    fn wait_change<'a>(
        &'a self,
        id: &'a str,
        seen_version: u64,
        timeout: Duration,
    ) -> StoreFuture<'a, Approval> {
        Box::pin(async move {
            let rx = self.changes.subscribe();
            op::wait_until(Some(rx), PG_POLL, timeout, || async move {
                let a = self.load(id).await?;
                let done = a.version != seen_version;
                Ok((a, done))
            })
            .await
        })
    }

    fn register_session<'a>(&'a self, session: &'a LiveSession) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            check_session(session)?;
            let body = schema::session_body(session)?;
            self.query(
                "register session",
                "INSERT INTO live_sessions (id, replica, started_at, last_seen, \
                 kill_requested_at, kill_requested_by, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (id) DO UPDATE SET replica = excluded.replica, \
                 started_at = excluded.started_at, last_seen = excluded.last_seen, \
                 kill_requested_at = excluded.kill_requested_at, \
                 kill_requested_by = excluded.kill_requested_by, body = excluded.body",
                &[
                    &session.id,
                    &session.replica,
                    &micros(session.started_at),
                    &micros(session.last_seen),
                    &session.kill_requested_at.map(micros),
                    &session.kill_requested_by,
                    &body,
                ],
            )
            .await?;
            self.notify("register session").await
        })
    }

    fn heartbeat_session<'a>(&'a self, id: &'a str, now: Timestamp) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let n = self
                .client()
                .await?
                .execute(
                    "UPDATE live_sessions SET last_seen = $1 WHERE id = $2",
                    &[&micros(now), &id],
                )
                .await
                .map_err(q("heartbeat session"))?;
            if n == 0 {
                return Err(StateError::SessionNotFound { id: id.to_owned() });
            }
            Ok(())
        })
    }

    fn unregister_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.query(
                "unregister session",
                "DELETE FROM live_sessions WHERE id = $1",
                &[&id],
            )
            .await
            .map(drop)
        })
    }

    fn reap_sessions(&self, before: Timestamp) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            self.client()
                .await?
                .execute(
                    "DELETE FROM live_sessions WHERE last_seen < $1",
                    &[&micros(before)],
                )
                .await
                .map_err(q("reap sessions"))
        })
    }

    fn list_sessions(&self) -> StoreFuture<'_, Vec<LiveSession>> {
        Box::pin(self.sessions("list sessions", "", &[]))
    }

    fn request_kill<'a>(
        &'a self,
        id: &'a str,
        by: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, LiveSession> {
        Box::pin(async move {
            let by: String = by.chars().take(super::MAX_SESSION_FIELD).collect();
            // Read first: the holding replica may end and remove the session as soon as the
            // notification below reaches it.
            let mut session = self
                .sessions("request kill", "WHERE id = $1", &[&id])
                .await?
                .pop()
                .ok_or_else(|| StateError::SessionNotFound { id: id.to_owned() })?;
            let rows = self
                .query(
                    "request kill",
                    "WITH u AS (UPDATE live_sessions SET \
                     kill_requested_at = COALESCE(kill_requested_at, $1), \
                     kill_requested_by = COALESCE(kill_requested_by, $2) \
                     WHERE id = $3 RETURNING id) SELECT pg_notify($4, id) FROM u",
                    &[&micros(now), &by, &id, &CHANNEL],
                )
                .await?;
            if rows.is_empty() {
                return Err(StateError::SessionNotFound { id: id.to_owned() });
            }
            session.kill_requested_at.get_or_insert(now);
            session.kill_requested_by.get_or_insert(by);
            Ok(session)
        })
    }

    fn wait_kills<'a>(
        &'a self,
        replica: &'a str,
        timeout: Duration,
    ) -> StoreFuture<'a, Vec<LiveSession>> {
        Box::pin(async move {
            let rx = self.changes.subscribe();
            op::wait_until(Some(rx), PG_POLL, timeout, || async move {
                let kills = self
                    .sessions(
                        "wait for kills",
                        "WHERE replica = $1 AND kill_requested_at IS NOT NULL",
                        &[&replica],
                    )
                    .await?;
                let done = !kills.is_empty();
                Ok((kills, done))
            })
            .await
        })
    }

    fn put_audit_head<'a>(&'a self, head: &'a ChainHead) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.query(
                "store audit head",
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                &[&schema::version(head.seq), &head.hash_hex()],
            )
            .await
            .map(drop)
        })
    }

    fn get_audit_head(&self) -> StoreFuture<'_, Option<ChainHead>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "load audit head",
                    "SELECT seq, hash FROM audit_head WHERE id = 1",
                    &[],
                )
                .await?;
            rows.first()
                .map(|r| {
                    let seq: i64 = r.try_get(0).map_err(q("load audit head"))?;
                    let hash: String = r.try_get(1).map_err(q("load audit head"))?;
                    schema::head(seq, &hash)
                })
                .transpose()
        })
    }
}
