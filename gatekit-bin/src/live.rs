//! This replica's live sessions: registered in the state store so that every replica can
//! list them, and ended at once when an operator kills one (through any replica) or when
//! its token is revoked.
//!
//! [`LiveSessions::run`] is the replica's one background loop: it waits on the store for
//! kill requests aimed at this replica, heartbeats the sessions it holds, reaps sessions of
//! replicas that stopped heartbeating, and expires pending approvals nobody waits for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gatekit_core::{Identity, Protocol};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

use crate::reviews::Reviews;
use crate::state::{LiveSession, StateStore};

/// How long one wait for kill requests lasts before the loop's other chores run.
const KILL_WAIT: Duration = Duration::from_millis(500);
/// How often the sessions this replica holds are heartbeated.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// Sessions whose replica has not heartbeated for this long are removed.
const REAP_AFTER: SignedDuration = SignedDuration::from_secs(60);

/// A session this replica holds.
struct Local {
    identity: Arc<Identity>,
    end: watch::Sender<Option<String>>,
}

/// The live sessions of one replica.
pub struct LiveSessions {
    store: Arc<dyn StateStore>,
    replica: String,
    local: Mutex<HashMap<String, Local>>,
}

impl LiveSessions {
    /// The registry of replica `replica` (unique per running process).
    pub fn new(store: Arc<dyn StateStore>, replica: String) -> Self {
        LiveSessions {
            store,
            replica,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// This replica's id.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Registers a session that just started. A store failure is logged: the session
    /// still runs, but other replicas will not list it.
    pub async fn register(
        &self,
        id: &str,
        identity: Arc<Identity>,
        target: &str,
        protocol: Protocol,
        peer: &str,
        started_at: Timestamp,
    ) {
        let (end, _) = watch::channel(None);
        self.lock().insert(
            id.to_owned(),
            Local {
                identity: Arc::clone(&identity),
                end,
            },
        );
        let session = LiveSession {
            id: id.to_owned(),
            replica: self.replica.clone(),
            target: target.to_owned(),
            protocol,
            identity: (*identity).clone(),
            peer: peer.to_owned(),
            started_at,
            last_seen: Timestamp::now(),
            kill_requested_at: None,
            kill_requested_by: None,
        };
        if let Err(e) = self.store.register_session(&session).await {
            tracing::error!(session = %id, error = %e, "cannot register the session in the state store");
        }
    }

    /// Removes a session that ended.
    pub async fn unregister(&self, id: &str) {
        self.lock().remove(id);
        if let Err(e) = self.store.unregister_session(id).await {
            tracing::warn!(session = %id, error = %e, "cannot unregister the session from the state store");
        }
    }

    /// Resolves with the reason when the session must end; never, if it was not
    /// registered.
    pub async fn ended(&self, id: &str) -> String {
        let rx = self.lock().get(id).map(|l| l.end.subscribe());
        let Some(mut rx) = rx else {
            return std::future::pending().await;
        };
        let reason = match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone(),
            Err(_) => None,
        };
        match reason {
            Some(reason) => reason,
            None => std::future::pending().await,
        }
    }

    /// Ends a session this replica holds; `false` if it holds no such session.
    pub fn end(&self, id: &str, reason: &str) -> bool {
        match self.lock().get(id) {
            Some(l) => {
                l.end.send_replace(Some(reason.to_owned()));
                true
            }
            None => false,
        }
    }

    /// Ends every session whose identity `revoked` says is revoked; returns how many.
    pub fn end_revoked(&self, revoked: impl Fn(&Identity) -> bool) -> usize {
        let map = self.lock();
        let mut n = 0;
        for l in map.values().filter(|l| revoked(&l.identity)) {
            l.end
                .send_replace(Some("the session's token was revoked".to_owned()));
            n += 1;
        }
        n
    }

    /// Ids of the sessions this replica holds.
    pub fn local_ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Local>> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The replica's background loop, until `shutdown` turns true.
    pub async fn run(&self, reviews: Option<&Reviews>, mut shutdown: watch::Receiver<bool>) {
        let mut last_heartbeat = tokio::time::Instant::now();
        while !*shutdown.borrow() {
            let kills = tokio::select! {
                k = self.store.wait_kills(&self.replica, KILL_WAIT) => k,
                _ = shutdown.changed() => break,
            };
            match kills {
                Ok(kills) => {
                    for s in kills {
                        let by = s.kill_requested_by.as_deref().unwrap_or("an operator");
                        if self.end(&s.id, &format!("terminated by {by}")) {
                            tracing::info!(session = %s.id, by = %by, "session killed");
                        } else {
                            // Not ours any more (it ended): drop the stale row.
                            let _ = self.store.unregister_session(&s.id).await;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read kill requests from the state store");
                    tokio::select! {
                        () = tokio::time::sleep(KILL_WAIT) => {}
                        _ = shutdown.changed() => break,
                    }
                }
            }
            if last_heartbeat.elapsed() >= HEARTBEAT {
                last_heartbeat = tokio::time::Instant::now();
                self.chores(reviews).await;
            }
        }
    }

    /// Heartbeats, reaping and expiry.
    async fn chores(&self, reviews: Option<&Reviews>) {
        let now = Timestamp::now();
        for id in self.local_ids() {
            if let Err(e) = self.store.heartbeat_session(&id, now).await {
                tracing::warn!(session = %id, error = %e, "cannot heartbeat the session");
            }
        }
        if let Ok(before) = now.checked_sub(REAP_AFTER)
            && let Err(e) = self.store.reap_sessions(before).await
        {
            tracing::warn!(error = %e, "cannot reap stale sessions");
        }
        if let Some(reviews) = reviews
            && let Err(e) = reviews.expire_due().await
        {
            tracing::warn!(error = %e, "cannot expire due approvals");
        }
    }
}
