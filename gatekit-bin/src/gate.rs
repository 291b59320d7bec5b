//! The binary's side of the adapters' contract: token verification, admission, decisions
//! and audit records, from the config's verifier, policy engine and audit trail.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use gatekit_core::audit::{
    AuditEvent, CommandEvent, CommandResultEvent, SessionEndEvent, SessionStartEvent,
};
use gatekit_core::identity::Verifier;
use gatekit_core::mask::Masker;
use gatekit_core::policy::{Request, Verdict};
use gatekit_core::sql::{ClassifierCache, SqlContext, redact_secrets};
use gatekit_core::{Identity, Protocol};
use gatekit_pg::{Gate, LoginAttempt, LoginRefusal, SessionEnd, SessionInfo, StatementRequest};
use jiff::Timestamp;

use crate::audit_log::AuditLog;
use crate::engine::Engine;
use crate::jwks::JwksSource;
use crate::live::LiveSessions;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::recordings::Recordings;
use crate::reviews::{Held, Outcome, Reviews};
use crate::swap::Swap;

/// What a `SIGHUP` replaces: the policy, the classifiers and the masking profiles.
pub struct Rules {
    /// The compiled policy and classifiers.
    pub engine: Engine,
    /// Every `[[mask]]` profile, compiled, by name.
    pub masks: HashMap<String, Arc<Masker>>,
    /// Counts reloads, so sessions drop classifications cached under older rules.
    pub generation: u64,
}

/// Verifier, keys, policy and trail, shared by every listener of one `serve`.
pub struct Shared {
    /// Policy, classifiers and masking profiles; replaced whole on `SIGHUP`.
    pub rules: Swap<Rules>,
    /// Token checks (issuer, audience, revocations); replaced when the revoked-tokens file
    /// changes.
    pub verifier: Swap<Verifier>,
    /// The keys tokens are verified with.
    pub keys: JwksSource,
    /// The audit trail.
    pub audit: AuditLog,
    /// The review queue.
    pub reviews: Reviews,
    /// This replica's live sessions.
    pub live: LiveSessions,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Webhook notifications.
    pub notifier: Notifier,
}

/// One target's gate.
pub struct TargetGate {
    shared: Arc<Shared>,
    target: Arc<str>,
    protocol: Protocol,
    sessions: Mutex<foldhash::HashMap<String, Arc<Counters>>>,
    recordings: Option<Arc<Recordings>>,
}

/// Per-session state: the identity shared by its records, its counts, and what SQL
/// classification needs to remember.
struct Counters {
    /// The session id, shared by the session's records.
    id: Arc<str>,
    identity: Arc<Identity>,
    commands: AtomicU64,
    denied: AtomicU64,
    sql: Mutex<SqlState>,
    /// The session's held statement: the approval it waits for, and the `search_path` it
    /// sets if it runs.
    held: Mutex<Option<HeldStatement>>,
}

/// A statement waiting for review.
#[derive(Clone)]
struct HeldStatement {
    approval: gatekit_core::approval::Approval,
    search_path: Option<Vec<String>>,
}

/// The session's tracked `search_path` (so objects are qualified as the server resolves
/// them) and its classification cache (prepared statements repeat).
struct SqlState {
    search_path: Vec<String>,
    cache: ClassifierCache,
    /// The [`Rules::generation`] the cache was filled under.
    generation: u64,
}

/// Statements cached per session, and the longest statement cached.
const CACHE_ENTRIES: usize = 256;
const CACHE_STATEMENT_BYTES: usize = 16 * 1024;

impl TargetGate {
    /// A gate for `target` speaking `protocol`.
    pub fn new(shared: Arc<Shared>, target: &str, protocol: Protocol) -> Self {
        TargetGate {
            shared,
            target: target.into(),
            protocol,
            sessions: Mutex::new(foldhash::HashMap::default()),
            recordings: None,
        }
    }

    /// Records this target's sessions into `recordings`.
    pub fn with_recordings(mut self, recordings: Arc<Recordings>) -> Self {
        self.recordings = Some(recordings);
        self
    }

    fn counters(&self, session: &SessionInfo) -> Arc<Counters> {
        let mut map = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = map.get(&session.id) {
            return Arc::clone(c);
        }
        let c = Arc::new(Counters {
            id: session.id.as_str().into(),
            identity: Arc::new(session.identity.clone()),
            commands: AtomicU64::new(0),
            denied: AtomicU64::new(0),
            sql: Mutex::new(SqlState {
                search_path: Vec::new(),
                cache: ClassifierCache::new(CACHE_ENTRIES, CACHE_STATEMENT_BYTES),
                generation: 0,
            }),
            held: Mutex::new(None),
        });
        map.insert(session.id.clone(), Arc::clone(&c));
        c
    }
}

impl Gate for TargetGate {
    fn recording(&self, _session: &SessionInfo) -> Option<gatekit_core::record::RecordLimits> {
        self.recordings.as_ref().map(|r| r.limits())
    }

    fn record(&self, session: &SessionInfo, lines: bytes::Bytes) {
        if let Some(r) = &self.recordings {
            r.write(&session.id, lines);
        }
    }

    fn command_done(&self, session: &SessionInfo, outcome: gatekit_pg::Outcome) {
        let id = Arc::clone(&self.counters(session).id);
        let event = AuditEvent::CommandResult(CommandResultEvent {
            session: id,
            number: outcome.command,
            rows: outcome.rows,
            bytes: outcome.bytes,
            duration_us: outcome.duration_us(),
            error: outcome.error,
        });
        // After the fact: the command already ran, so nothing waits for the disk here.
        if let Err(e) = self.shared.audit.append_detached(event) {
            tracing::error!(error = %e, session = %session.id, "cannot record a command result");
        }
    }

    fn maskers(&self, session: &SessionInfo) -> Vec<Arc<Masker>> {
        let rules = self.shared.rules.load();
        let maskers: Vec<Arc<Masker>> = rules
            .engine
            .policy()
            .mask_profiles(&session.identity, &self.target)
            .filter_map(|name| rules.masks.get(name).cloned())
            .collect();
        tracing::debug!(session = %session.id, profiles = ?maskers.iter().map(|m| m.profile()).collect::<Vec<_>>(), "masking");
        maskers
    }

    async fn authenticate(&self, attempt: LoginAttempt<'_>) -> Result<Identity, LoginRefusal> {
        let now = Timestamp::now();
        let identity = match self
            .shared
            .keys
            .verify(&self.shared.verifier.load(), attempt.token, now)
            .await
        {
            Ok(identity) => identity,
            Err(e) => {
                tracing::info!(target_name = %self.target, peer = %attempt.peer, error = %e, "login refused");
                return Err(LoginRefusal::InvalidToken(e.to_string()));
            }
        };
        let admission = self
            .shared
            .rules
            .load()
            .engine
            .policy()
            .admit(&identity, attempt.target);
        if admission.verdict == Verdict::Deny {
            tracing::info!(target_name = %self.target, user = %identity.subject, reason = %admission.reason, "session refused");
            return Err(LoginRefusal::NotAdmitted(admission.reason.to_string()));
        }
        Ok(identity)
    }

    async fn decide(
        &self,
        session: &SessionInfo,
        statement: &StatementRequest,
    ) -> gatekit_pg::Decision {
        let started = std::time::Instant::now();
        let now = Timestamp::now();
        let rules = self.shared.rules.load();
        let engine = &rules.engine;
        let state = self.counters(session);
        let analysis = {
            let mut sql = state.sql.lock().unwrap_or_else(PoisonError::into_inner);
            if sql.generation != rules.generation {
                // Classifications cached under older rules (`sql_admin_functions`) go.
                sql.cache = ClassifierCache::new(CACHE_ENTRIES, CACHE_STATEMENT_BYTES);
                sql.generation = rules.generation;
            }
            let SqlState {
                search_path, cache, ..
            } = &mut *sql;
            cache.get_or_classify(engine.sql(), &statement.sql, &SqlContext { search_path })
        };
        let classification = analysis.classification();
        let text = match std::str::from_utf8(&statement.sql) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(&statement.sql),
        };
        let decision = engine.policy().decide(&Request {
            identity: &session.identity,
            target: &self.target,
            protocol: self.protocol,
            command: &classification,
            text: &text,
            now,
        });
        // A statement that needs review waits for a person, unless a window approval of
        // this requester already covers it. Failing to hold it refuses it. One the session
        // refuses whatever the policy says (a COPY it cannot mask) is recorded as denied.
        let mut held = None;
        let refused = statement
            .refusal
            .as_deref()
            .filter(|_| decision.verdict != Verdict::Deny);
        let (verdict, reason): (Verdict, Arc<str>) = match (refused, decision.verdict) {
            (Some(refusal), _) => (Verdict::Deny, Arc::from(refusal)),
            (None, Verdict::Review) => match self
                .shared
                .reviews
                .hold(
                    &session.id,
                    &session.identity,
                    &self.target,
                    self.protocol,
                    &text,
                    &classification,
                    &decision,
                )
                .await
            {
                Ok(Held::Granted { approval }) => (
                    Verdict::Allow,
                    Arc::from(format!(
                        "{} (covered by approval {approval})",
                        decision.reason
                    )),
                ),
                Ok(Held::Pending(approval)) => {
                    let reason = format!(
                        "{} (awaiting approval {} from {})",
                        decision.reason,
                        approval.id,
                        decision.approvers.join(", ")
                    );
                    held = Some(approval);
                    (Verdict::Review, Arc::from(reason))
                }
                Err(e) => {
                    tracing::error!(error = %e, session = %session.id, "cannot hold a statement for review");
                    (
                        Verdict::Deny,
                        Arc::from(format!(
                            "{} (it could not be held for review: {e})",
                            decision.reason
                        )),
                    )
                }
            },
            (None, v) => (v, Arc::clone(&decision.reason)),
        };
        // A statement the session refuses was not decided by the policy's rule.
        let rule = if refused.is_some() {
            None
        } else {
            decision.rule.clone()
        };
        let counters = state;
        counters.commands.fetch_add(1, Ordering::Relaxed);
        let record = AuditEvent::Command(CommandEvent {
            session: Arc::clone(&counters.id),
            identity: Arc::clone(&counters.identity),
            target: Arc::clone(&self.target),
            protocol: self.protocol,
            number: statement.id,
            command: redact_secrets(&text).into_owned(),
            classes: classification.classes,
            objects: classification.objects,
            verdict,
            rule: rule.clone(),
            reason: Some(Arc::clone(&reason)),
            rows: None,
            bytes: None,
            duration_us: Some(started.elapsed().as_micros() as u64),
            error: None,
        });
        // The record is chained into the trail before the statement goes on (with
        // `sync = "always"`: on disk; with `interval`: written within 10 ms); a trail that
        // cannot be written refuses every statement.
        if let Err(e) = self.shared.audit.append(record).await {
            tracing::error!(error = %e, "audit trail unwritable: refusing statements");
            counters.denied.fetch_add(1, Ordering::Relaxed);
            return gatekit_pg::Decision::Deny {
                rule: None,
                reason: "the audit trail cannot be written".into(),
            };
        }
        self.shared.metrics.decision(verdict, rule.as_deref());
        self.shared.metrics.decision_latency(started.elapsed());
        if let Some(approval) = held {
            let hold = gatekit_pg::Decision::Hold {
                approval: approval.id.clone(),
                notice: format!(
                    "awaiting approval {} from {} (rule `{}`): {}",
                    approval.id,
                    approval.approvers.join(", "),
                    approval.rule.as_deref().unwrap_or("-"),
                    approval.rule_reason,
                ),
            };
            // Once approved it runs, and what it sets (`SET search_path` in a held batch)
            // must be tracked like any allowed statement's.
            *counters.held.lock().unwrap_or_else(PoisonError::into_inner) = Some(HeldStatement {
                approval: *approval,
                search_path: analysis.search_path.as_ref().map(|c| c.schemas.clone()),
            });
            return hold;
        }
        match verdict {
            Verdict::Allow => {
                // Later statements are qualified through the search_path this one sets.
                // (`SET LOCAL` is tracked as if it outlived the transaction: objects may then
                // be qualified under the newer path, never left unqualified.)
                if let Some(change) = &analysis.search_path {
                    counters
                        .sql
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .search_path = change.schemas.clone();
                }
                gatekit_pg::Decision::Allow
            }
            _ => {
                counters.denied.fetch_add(1, Ordering::Relaxed);
                gatekit_pg::Decision::Deny {
                    rule: rule.as_deref().map(str::to_owned),
                    reason: reason.to_string(),
                }
            }
        }
    }

    async fn await_review(
        &self,
        session: &SessionInfo,
        _statement: &StatementRequest,
        approval: &str,
    ) -> gatekit_pg::Decision {
        let counters = self.counters(session);
        let held = counters
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(HeldStatement {
            approval: held,
            search_path,
        }) = held.filter(|h| h.approval.id == approval)
        else {
            return gatekit_pg::Decision::Deny {
                rule: None,
                reason: format!("approval {approval} is not held by this session"),
            };
        };
        let outcome = self.shared.reviews.wait(&held, &session.id).await;
        *counters.held.lock().unwrap_or_else(PoisonError::into_inner) = None;
        let timeout = self.shared.reviews.timeout();
        match outcome.refusal(approval, timeout) {
            None => {
                if let Outcome::Approved { by } = &outcome {
                    tracing::info!(session = %session.id, approval = %approval, by = ?by, "held statement approved");
                }
                if let Some(schemas) = search_path {
                    counters
                        .sql
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .search_path = schemas;
                }
                gatekit_pg::Decision::Allow
            }
            Some(reason) => {
                counters.denied.fetch_add(1, Ordering::Relaxed);
                gatekit_pg::Decision::Deny {
                    rule: held.rule.clone(),
                    reason,
                }
            }
        }
    }

    async fn review_abandoned(&self, session: &SessionInfo, approval: &str) {
        let counters = self.counters(session);
        let held = counters
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(held) = held.filter(|h| h.approval.id == approval) {
            self.shared
                .reviews
                .abandon(&held.approval, &session.id)
                .await;
        }
    }

    async fn terminated(&self, session: &SessionInfo) -> String {
        self.shared.live.ended(&session.id).await
    }

    async fn session_started(&self, session: &SessionInfo) {
        let counters = self.counters(session);
        self.shared
            .metrics
            .session_started(self.protocol, &self.target);
        self.shared
            .live
            .register(
                &session.id,
                Arc::clone(&counters.identity),
                &self.target,
                self.protocol,
                &session.peer.to_string(),
                session.started_at,
            )
            .await;
        let event = AuditEvent::SessionStart(SessionStartEvent {
            session: session.id.as_str().into(),
            identity: Arc::clone(&counters.identity),
            target: Arc::clone(&self.target),
            protocol: self.protocol,
            client: Some(session.peer.to_string()),
        });
        if let Err(e) = self.shared.audit.append(event).await {
            tracing::error!(error = %e, session = %session.id, "cannot record session start");
        }
    }

    async fn session_ended(&self, session: &SessionInfo, end: &SessionEnd) {
        if let Some(r) = &self.recordings {
            r.close(&session.id).await;
        }
        let counters = self.counters(session);
        self.shared.live.unregister(&session.id).await;
        self.shared
            .metrics
            .session_ended(self.protocol, &self.target);
        if end.error.as_ref().is_some_and(is_upstream_failure) {
            self.shared.metrics.upstream_error(&self.target);
        }
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&session.id);
        let duration = end.ended_at.duration_since(session.started_at);
        let event = AuditEvent::SessionEnd(SessionEndEvent {
            session: session.id.as_str().into(),
            identity: Arc::clone(&counters.identity),
            target: Arc::clone(&self.target),
            protocol: self.protocol,
            client: Some(session.peer.to_string()),
            duration_ms: duration.as_millis().max(0) as u64,
            commands: counters.commands.load(Ordering::Relaxed),
            denied: counters.denied.load(Ordering::Relaxed),
            reason: end.error.as_ref().map(|e| e.to_string()),
        });
        if let Err(e) = self.shared.audit.append(event).await {
            tracing::error!(error = %e, session = %session.id, "cannot record session end");
        }
    }
}

/// Whether a session ended because of its upstream (for the `upstream_errors` metric).
fn is_upstream_failure(e: &gatekit_core::pg::PgError) -> bool {
    use gatekit_core::pg::{PgError, Side};
    matches!(
        e,
        PgError::UpstreamConnect { .. }
            | PgError::UpstreamLogin { .. }
            | PgError::UpstreamDataAfterSsl
            | PgError::UpstreamTlsRefused
            | PgError::UpstreamAuthUnsupported { .. }
            | PgError::UpstreamPasswordMissing
            | PgError::UpstreamScram { .. }
            | PgError::UnexpectedEof {
                side: Side::Upstream
            }
    )
}
