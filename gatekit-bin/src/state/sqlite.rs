//! The SQLite store (`sqlite:PATH`): WAL mode, a busy timeout, schema migrations; every
//! call runs on tokio's blocking pool. Several stores (replicas on one machine) may share
//! the file: changes made through another store are seen by polling.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatekit_core::approval::{Approval, Choice, Status};
use gatekit_core::audit::ChainHead;
use gatekit_core::{ClassSet, Identity};
use jiff::Timestamp;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use tokio::sync::watch;

use super::op::{self, Op};
use super::schema::{self, ApprovalRow, MAX_GRANT_CANDIDATES, MIGRATIONS, micros};
use super::{
    ApprovalFilter, LiveSession, MAX_LIST, POLL_INTERVAL, StateError, StateStore, StoreFuture,
    check_session,
};

/// How long a writer waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A SQLite state store.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// A second connection, for the live-session rows only ([`SqliteStore::run_live`]).
    live: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// Ticks on changes made through this store, waking its waiters at once.
    changes: watch::Sender<u64>,
}

/// A rusqlite error while doing `op`.
fn q(op: &'static str) -> impl FnOnce(rusqlite::Error) -> StateError {
    move |e| StateError::query(op, e)
}

const APPROVAL_ORDER_DECIDED: &str =
    "ORDER BY COALESCE(decided_at, created_at) DESC, created_at DESC, id DESC";

impl SqliteStore {
    /// Opens (creating if needed, with its directory) the database at `path` and brings
    /// its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore, StateError> {
        let owned = path.to_owned();
        let (conn, live) = tokio::task::spawn_blocking(move || {
            let conn = open_blocking(&owned)?;
            let live = open_connection(&owned, "NORMAL")?;
            Ok::<_, StateError>((conn, live))
        })
        .await
        .map_err(|e| StateError::query("open", e))??;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            live: Arc::new(Mutex::new(live)),
            path: path.to_owned(),
            changes: watch::Sender::new(0),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the main connection on the blocking pool.
    async fn run<T, F>(&self, op: &'static str, f: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StateError> + Send + 'static,
    {
        on_blocking_pool(&self.conn, op, f).await
    }

    /// Runs `f` like [`SqliteStore::run`], on the connection for the live-session rows,
    /// whose commits do not wait for the disk (`synchronous = NORMAL`). They describe
    /// sessions of running processes, so a crash that loses the last of them loses nothing
    /// that still exists, and stale rows are reaped. The database stays consistent either
    /// way (WAL), and the next commit on the main connection (`FULL`) makes them durable
    /// too.
    async fn run_live<T, F>(&self, op: &'static str, f: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StateError> + Send + 'static,
    {
        on_blocking_pool(&self.live, op, f).await
    }

    /// The `synchronous` levels (2 is `FULL`, 1 `NORMAL`) of the main connection and
    /// of the live-session one.
    #[cfg(test)]
    pub(crate) async fn synchronous(&self) -> (i64, i64) {
        let level = |c: &mut Connection| {
            c.query_row("PRAGMA synchronous", [], |r| r.get(0))
                .map_err(q("synchronous"))
        };
        let main = self.run("synchronous", level).await.unwrap_or(-1);
        let live = self.run_live("synchronous", level).await.unwrap_or(-1);
        (main, live)
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    async fn load(&self, id: &str) -> Result<Approval, StateError> {
        let id = id.to_owned();
        self.run("get approval", move |c| {
            let body: Option<String> = c
                .query_row("SELECT body FROM approvals WHERE id = ?1", [&id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(q("get approval"))?;
            match body {
                Some(b) => schema::approval(&id, &b),
                None => Err(StateError::ApprovalNotFound { id }),
            }
        })
        .await
    }

    async fn write(&self, next: Approval, seen: u64) -> Result<bool, StateError> {
        let row = ApprovalRow::of(&next)?;
        let changed = self
            .run("update approval", move |c| {
                c.execute(
                    "UPDATE approvals SET status = ?1, decided_at = ?2, grant_until = ?3, \
                     version = ?4, body = ?5 WHERE id = ?6 AND version = ?7",
                    params![
                        row.status,
                        row.decided_at,
                        row.grant_until,
                        row.version,
                        row.body,
                        next.id,
                        schema::version(seen)
                    ],
                )
                .map_err(q("update approval"))
            })
            .await?;
        Ok(changed == 1)
    }

    async fn update(&self, id: &str, op: Op<'_>) -> Result<Approval, StateError> {
        let a = op::update_cas(id, op, || self.load(id), |n, v| self.write(n, v)).await?;
        self.changed();
        Ok(a)
    }

    async fn select_approvals(
        &self,
        op: &'static str,
        sql: String,
        args: Vec<rusqlite::types::Value>,
    ) -> Result<Vec<Approval>, StateError> {
        self.run(op, move |c| {
            let mut stmt = c.prepare_cached(&sql).map_err(q(op))?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(q(op))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, body) = row.map_err(q(op))?;
                out.push(schema::approval(&id, &body)?);
            }
            Ok(out)
        })
        .await
    }

    async fn select_sessions(
        &self,
        op: &'static str,
        filter: &'static str,
        args: Vec<rusqlite::types::Value>,
    ) -> Result<Vec<LiveSession>, StateError> {
        self.run(op, move |c| {
            let sql = format!(
                "SELECT id, body, last_seen, kill_requested_at, kill_requested_by \
                 FROM live_sessions {filter} ORDER BY started_at, id LIMIT {MAX_LIST}"
            );
            let mut stmt = c.prepare_cached(&sql).map_err(q(op))?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                })
                .map_err(q(op))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, body, seen, kill_at, kill_by) = row.map_err(q(op))?;
                out.push(schema::session(&id, &body, seen, kill_at, kill_by)?);
            }
            Ok(out)
        })
        .await
    }
}

/// Runs `f` on `conn`, locked, on the blocking pool.
async fn on_blocking_pool<T, F>(
    conn: &Arc<Mutex<Connection>>,
    op: &'static str,
    f: F,
) -> Result<T, StateError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, StateError> + Send + 'static,
{
    let conn = Arc::clone(conn);
    tokio::task::spawn_blocking(move || {
        let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut conn)
    })
    .await
    .map_err(|e| StateError::query(op, e))?
}

/// Opens the file (creating its directory), sets WAL mode, `synchronous = FULL` and the
/// busy timeout, and migrates.
fn open_blocking(path: &Path) -> Result<Connection, StateError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StateError::Unreachable {
            location: path.display().to_string(),
            message: format!("cannot create {}: {e}", dir.display()),
        })?;
    }
    let mut conn = open_connection(path, "FULL")?;
    migrate(&mut conn, &path.display().to_string())?;
    Ok(conn)
}

/// Opens one connection to the file in WAL mode with the busy timeout and `synchronous`
/// at `level`.
fn open_connection(path: &Path, level: &str) -> Result<Connection, StateError> {
    let unreachable = |message: String| StateError::Unreachable {
        location: path.display().to_string(),
        message,
    };
    let conn = Connection::open(path).map_err(|e| unreachable(e.to_string()))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| unreachable(e.to_string()))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| unreachable(e.to_string()))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(unreachable(format!(
            "cannot use WAL mode (journal_mode is {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", level)
        .map_err(|e| unreachable(e.to_string()))?;
    Ok(conn)
}

/// Applies the migrations the database lacks, in one transaction.
fn migrate(conn: &mut Connection, location: &str) -> Result<(), StateError> {
    let fail = |version: u32| {
        move |e: rusqlite::Error| StateError::Migration {
            location: location.to_owned(),
            version,
            message: e.to_string(),
        }
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail(0))?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS gatekit_schema (version INTEGER NOT NULL)")
        .map_err(fail(0))?;
    let current: Option<i64> = tx
        .query_row("SELECT max(version) FROM gatekit_schema", [], |r| r.get(0))
        .map_err(fail(0))?;
    let current = u32::try_from(current.unwrap_or(0)).unwrap_or(u32::MAX);
    if current > schema::latest() {
        return Err(StateError::SchemaTooNew {
            location: location.to_owned(),
            found: current,
            known: schema::latest(),
        });
    }
    for (version, sql) in (1..).zip(MIGRATIONS).skip(current as usize) {
        tx.execute_batch(sql).map_err(fail(version))?;
        tx.execute(
            "INSERT INTO gatekit_schema (version) VALUES (?1)",
            [version],
        )
        .map_err(fail(version))?;
    }
    tx.commit().map_err(fail(schema::latest()))
}

impl StateStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn create_approval<'a>(&'a self, approval: &'a Approval) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let row = ApprovalRow::of(approval)?;
            let id = approval.id.clone();
            let requester = approval.requester.subject.clone();
            let target = approval.target.clone();
            self.run("create approval", move |c| {
                let r = c.execute(
                    "INSERT INTO approvals (id, status, requester, target, created_at, \
                     decided_at, expires_at, grant_until, version, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        id,
                        row.status,
                        requester,
                        target,
                        row.created_at,
                        row.decided_at,
                        row.expires_at,
                        row.grant_until,
                        row.version,
                        row.body
                    ],
                );
                match r {
                    Ok(_) => Ok(()),
                    Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                        Err(StateError::DuplicateApproval { id })
                    }
                    Err(e) => Err(StateError::query("create approval", e)),
                }
            })
            .await?;
            self.changed();
            Ok(())
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
            let limit = op::cap(limit);
            let (cond, order, args) = match filter {
                ApprovalFilter::Status(s) if s.is_pending() => (
                    "WHERE status = ?1",
                    "ORDER BY created_at, id",
                    vec![s.name().to_owned().into()],
                ),
                ApprovalFilter::Status(s) => (
                    "WHERE status = ?1",
                    APPROVAL_ORDER_DECIDED,
                    vec![s.name().to_owned().into()],
                ),
                ApprovalFilter::Decided => {
                    ("WHERE status <> 'pending'", APPROVAL_ORDER_DECIDED, vec![])
                }
                ApprovalFilter::Any => ("", "ORDER BY created_at DESC, id DESC", vec![]),
            };
            let sql = format!("SELECT id, body FROM approvals {cond} {order} LIMIT {limit}");
            self.select_approvals("list approvals", sql, args).await
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
                "SELECT id, body FROM approvals WHERE status = 'pending' AND expires_at <= ?1 \
                 ORDER BY expires_at LIMIT {MAX_LIST}"
            );
            let due = self
                .select_approvals("expire approvals", sql, vec![micros(now).into()])
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
                "SELECT id, body FROM approvals WHERE requester = ?1 AND target = ?2 \
                 AND grant_until > ?3 AND status = '{}' \
                 ORDER BY grant_until DESC LIMIT {MAX_GRANT_CANDIDATES}",
                Status::Approved.name()
            );
            let args = vec![
                requester.subject.clone().into(),
                target.to_owned().into(),
                micros(now).into(),
            ];
            let found = self.select_approvals("find grant", sql, args).await?;
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
            op::wait_until(Some(rx), POLL_INTERVAL, timeout, || async move {
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
            let s = session.clone();
            self.run_live("register session", move |c| {
                c.prepare_cached(
                    "INSERT INTO live_sessions (id, replica, started_at, last_seen, \
                     kill_requested_at, kill_requested_by, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                     ON CONFLICT (id) DO UPDATE SET replica = excluded.replica, \
                     started_at = excluded.started_at, last_seen = excluded.last_seen, \
                     kill_requested_at = excluded.kill_requested_at, \
                     kill_requested_by = excluded.kill_requested_by, body = excluded.body",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        s.id,
                        s.replica,
                        micros(s.started_at),
                        micros(s.last_seen),
                        s.kill_requested_at.map(micros),
                        s.kill_requested_by,
                        body
                    ])
                })
                .map_err(q("register session"))
            })
            .await?;
            self.changed();
            Ok(())
        })
    }

    fn heartbeat_session<'a>(&'a self, id: &'a str, now: Timestamp) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let id = id.to_owned();
            self.run_live("heartbeat session", move |c| {
                let n = c
                    .prepare_cached("UPDATE live_sessions SET last_seen = ?1 WHERE id = ?2")
                    .and_then(|mut stmt| stmt.execute(params![micros(now), id]))
                    .map_err(q("heartbeat session"))?;
                if n == 0 {
                    return Err(StateError::SessionNotFound { id });
                }
                Ok(())
            })
            .await
        })
    }

    fn unregister_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let id = id.to_owned();
            self.run_live("unregister session", move |c| {
                c.prepare_cached("DELETE FROM live_sessions WHERE id = ?1")
                    .and_then(|mut stmt| stmt.execute([id]))
                    .map_err(q("unregister session"))
            })
            .await?;
            self.changed();
            Ok(())
        })
    }

    fn reap_sessions(&self, before: Timestamp) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let n = self
                .run_live("reap sessions", move |c| {
                    c.prepare_cached("DELETE FROM live_sessions WHERE last_seen < ?1")
                        .and_then(|mut stmt| stmt.execute([micros(before)]))
                        .map_err(q("reap sessions"))
                })
                .await?;
            Ok(n as u64)
        })
    }

    fn list_sessions(&self) -> StoreFuture<'_, Vec<LiveSession>> {
        Box::pin(self.select_sessions("list sessions", "", vec![]))
    }

    fn request_kill<'a>(
        &'a self,
        id: &'a str,
        by: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, LiveSession> {
        Box::pin(async move {
            let owned = id.to_owned();
            let by: String = by.chars().take(super::MAX_SESSION_FIELD).collect();
            // Read first: the holding replica may end and remove the session as soon as it
            // sees the request.
            let mut session = self
                .select_sessions("request kill", "WHERE id = ?1", vec![id.to_owned().into()])
                .await?
                .pop()
                .ok_or_else(|| StateError::SessionNotFound { id: id.to_owned() })?;
            let recorded_by = by.clone();
            let n = self
                .run("request kill", move |c| {
                    c.execute(
                        "UPDATE live_sessions SET kill_requested_at = \
                         COALESCE(kill_requested_at, ?1), kill_requested_by = \
                         COALESCE(kill_requested_by, ?2) WHERE id = ?3",
                        params![micros(now), by, owned],
                    )
                    .map_err(q("request kill"))
                })
                .await?;
            if n == 0 {
                return Err(StateError::SessionNotFound { id: id.to_owned() });
            }
            self.changed();
            session.kill_requested_at.get_or_insert(now);
            session.kill_requested_by.get_or_insert(recorded_by);
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
            op::wait_until(Some(rx), POLL_INTERVAL, timeout, || async move {
                let kills = self
                    .select_sessions(
                        "wait for kills",
                        "WHERE replica = ?1 AND kill_requested_at IS NOT NULL",
                        vec![replica.to_owned().into()],
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
            let seq = schema::version(head.seq);
            let hash = head.hash_hex();
            self.run("store audit head", move |c| {
                // Stored after every fsync of the trail: prepared once per connection.
                c.prepare_cached(
                    "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2) \
                     ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                )
                .and_then(|mut stmt| stmt.execute(params![seq, hash]))
                .map_err(q("store audit head"))
                .map(drop)
            })
            .await
        })
    }

    fn get_audit_head(&self) -> StoreFuture<'_, Option<ChainHead>> {
        Box::pin(async move {
            self.run("load audit head", |c| {
                let row: Option<(i64, String)> = c
                    .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()
                    .map_err(q("load audit head"))?;
                row.map(|(seq, hash)| schema::head(seq, &hash)).transpose()
            })
            .await
        })
    }
}
