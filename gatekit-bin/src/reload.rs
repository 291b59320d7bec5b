//! Changing a running gateway: `SIGHUP` reloads the config file, and a change of the
//! revoked-tokens file revokes at once, both without dropping sessions.
//!
//! A reload builds everything from the new file first — validation, credentials, policy,
//! classifiers, masking profiles, the verifier, the listener configs — and only then swaps
//! it in; a failure up to there leaves the running config untouched, and every failure is
//! logged and recorded in the audit trail. Listeners whose `[[target]]` changed are restarted (the old listener
//! stops accepting; its sessions finish under the settings they started with), new targets
//! start, removed ones stop, unchanged ones are not touched. Sessions in progress are
//! judged under the new rules from their next statement; `[[notify]]` webhooks are replaced.
//! `[audit]`, `[state]`, `[api]` and the JWKS source are read at start only: a change to
//! them is reported as needing a restart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gatekit_core::Protocol;
use gatekit_core::audit::{AuditEvent, ConfigReloadEvent};
use gatekit_pg::{PgGateway, PgGatewayConfig, Workers};
use sha2::Digest;

use crate::config::Config;
use crate::engine::Engine;
use crate::gate::{Rules, Shared, TargetGate};
use crate::jwks::read_revoked_file;
use crate::recordings::Recordings;

/// How long a restarted listener waits for its address to be free.
const REBIND_FOR: Duration = Duration::from_secs(5);

/// One running listener.
struct Running {
    fingerprint: String,
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// The PostgreSQL listeners of one `serve`, by target name.
pub struct PgListeners {
    shared: Arc<Shared>,
    recordings: Option<Arc<Recordings>>,
    /// Where connections run; `None`: as tasks of the runtime that runs the listener.
    workers: Option<Workers>,
    running: HashMap<String, Running>,
}

/// A listener to run: the target's name, what identifies its settings, and its config.
pub struct PgTarget {
    /// The target's name.
    pub name: String,
    /// Changes whenever anything the listener was built from changes.
    pub fingerprint: String,
    /// The listener's config.
    pub config: PgGatewayConfig,
}

impl PgListeners {
    /// No listeners yet.
    pub fn new(shared: Arc<Shared>) -> Self {
        PgListeners {
            shared,
            recordings: None,
            workers: None,
            running: HashMap::new(),
        }
    }

    /// Connections of every listener started from now on run on `workers`.
    pub fn with_workers(mut self, workers: Option<Workers>) -> Self {
        self.workers = workers;
        self
    }

    /// Sessions of every listener started from now on are recorded into `recordings`.
    pub fn with_recordings(mut self, recordings: Arc<Recordings>) -> Self {
        self.recordings = Some(recordings);
        self
    }

    /// The bound addresses, by target name.
    pub fn addrs(&self) -> Vec<(String, SocketAddr)> {
        let mut v: Vec<_> = self
            .running
            .iter()
            .map(|(n, r)| (n.clone(), r.addr))
            .collect();
        v.sort();
        v
    }

    /// Makes the running listeners match `targets`: stops removed and changed ones, starts
    /// changed and new ones, leaves the rest. Fails (after stopping nothing it did not
    /// replace) when a new listener cannot bind.
    pub async fn apply(&mut self, targets: Vec<PgTarget>) -> anyhow::Result<()> {
        let wanted: std::collections::HashSet<&str> =
            targets.iter().map(|t| t.name.as_str()).collect();
        let removed: Vec<String> = self
            .running
            .keys()
            .filter(|n| !wanted.contains(n.as_str()))
            .cloned()
            .collect();
        for name in removed {
            if let Some(r) = self.running.remove(&name) {
                tracing::info!(target_name = %name, "target removed: listener stopped");
                stop(r).await;
            }
        }
        for t in targets {
            if self
                .running
                .get(&t.name)
                .is_some_and(|r| r.fingerprint == t.fingerprint)
            {
                continue;
            }
            let restarting = match self.running.remove(&t.name) {
                Some(old) => {
                    stop(old).await;
                    true
                }
                None => false,
            };
            let name = t.name.clone();
            let running = self
                .start(t)
                .await
                .with_context(|| format!("target \"{name}\""))?;
            tracing::info!(target_name = %name, listen = %running.addr, restarted = restarting, "postgres listener started");
            self.running.insert(name, running);
        }
        Ok(())
    }

    async fn start(&self, t: PgTarget) -> anyhow::Result<Running> {
        let deadline = tokio::time::Instant::now() + REBIND_FOR;
        let gateway = loop {
            let mut gate = TargetGate::new(Arc::clone(&self.shared), &t.name, Protocol::Postgres);
            if let Some(r) = &self.recordings {
                gate = gate.with_recordings(Arc::clone(r));
            }
            match PgGateway::bind(t.config.clone(), gate).await {
                Ok(g) => match &self.workers {
                    Some(w) => break g.with_workers(w.clone()),
                    None => break g,
                },
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "address busy; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let addr = gateway.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(gateway.run(async move {
            let _ = stopped.await;
        }));
        Ok(Running {
            fingerprint: t.fingerprint,
            addr,
            stop,
            task,
        })
    }

    /// Stops every listener (sessions in progress are not cut).
    pub async fn stop_all(&mut self) {
        for (_, r) in self.running.drain() {
            stop(r).await;
        }
    }
}

async fn stop(r: Running) {
    let _ = r.stop.send(());
    let _ = r.task.await;
}

/// What identifies a target's settings: its table in the file and its resolved credential.
pub fn fingerprint(file: &toml::Table, name: &str, credential: Option<&[u8]>) -> String {
    let table = file
        .get("target")
        .and_then(|t| t.as_array())
        .and_then(|ts| {
            ts.iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(name))
        })
        .map(|t| t.to_string())
        .unwrap_or_default();
    let mut h = sha2::Sha256::new();
    h.update(table.as_bytes());
    h.update([0]);
    if let Some(c) = credential {
        h.update(c);
    }
    hex::encode(h.finalize())
}

/// The tables read at start only, as text, to tell which changed.
fn start_only(file: &toml::Table) -> Vec<(&'static str, String)> {
    ["audit", "state", "api"]
        .into_iter()
        .map(|k| (k, file.get(k).map(|v| v.to_string()).unwrap_or_default()))
        .chain(std::iter::once((
            "identity.jwks",
            file.get("identity")
                .and_then(|i| i.get("jwks"))
                .map(|v| v.to_string())
                .unwrap_or_default(),
        )))
        .collect()
}

/// Reads `path` as a TOML table (for fingerprints).
pub fn read_table(path: &Path) -> anyhow::Result<(toml::Table, String)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    let table: toml::Table = text.parse().context("parsing the config")?;
    Ok((table, digest))
}

/// The running config's start-only tables, for [`reload`] to compare against.
pub struct Baseline(Vec<(&'static str, String)>);

impl Baseline {
    /// The baseline of a config file's table.
    pub fn of(file: &toml::Table) -> Self {
        Baseline(start_only(file))
    }
}

/// Reloads the config at `path` into a running gateway (see the module docs). Returns the
/// new file's SHA-256. An error while loading, resolving or compiling leaves everything as it
/// was; a listener that cannot bind its new address is reported after the rules were swapped
/// (the other listeners keep running).
pub async fn reload(
    shared: &Shared,
    listeners: &mut PgListeners,
    baseline: &Baseline,
    path: &Path,
    pg_config: impl Fn(
        &Config,
        &crate::config::TargetConfig,
        &crate::config::resolve::TargetResources,
    ) -> anyhow::Result<PgGatewayConfig>,
) -> anyhow::Result<String> {
    let config = Config::load(path)?;
    let resources = config.resolve_for_serve()?;
    let (table, digest) = read_table(path)?;
    let unserved: Vec<String> = config
        .targets
        .iter()
        .map(|t| t.get_ref())
        .filter(|t| t.protocol != Protocol::Postgres)
        .map(|t| format!("`{}` ({})", t.name.get_ref(), t.protocol))
        .collect();
    if !unserved.is_empty() {
        anyhow::bail!(
            "this build of gatekit has no listener for target(s) {}",
            unserved.join(", ")
        );
    }
    let engine = Engine::from_config(&config)?;
    let masks = crate::config::masks::compile_masks(&config)?;
    let verifier = crate::identity::verifier(&config)?;
    let webhooks = crate::notify::webhooks(&config, &resources.notify_urls)?;
    let mut targets = Vec::new();
    for (t, r) in config
        .targets
        .iter()
        .map(|t| t.get_ref())
        .zip(&resources.targets)
    {
        let name = t.name.get_ref().clone();
        let credential = r.credential.as_ref().map(|c| c.expose());
        targets.push(PgTarget {
            fingerprint: fingerprint(&table, &name, credential),
            config: pg_config(&config, t, r)?,
            name,
        });
    }
    for ((key, old), (_, new)) in baseline.0.iter().zip(start_only(&table)) {
        if *old != new {
            tracing::warn!(
                table = key,
                "changed; it is read at start only: restart gatekit to apply"
            );
        }
    }
    let generation = shared.rules.load().generation + 1;
    shared.rules.store(Arc::new(Rules {
        engine,
        masks,
        generation,
    }));
    shared.verifier.store(Arc::new(verifier));
    shared.notifier.replace_webhooks(webhooks)?;
    revoke_live(shared);
    listeners.apply(targets).await?;
    Ok(digest)
}

/// Re-reads the revoked-tokens file into the verifier and ends the live sessions it now
/// revokes. On a read error the old list stays.
pub fn reload_revocations(shared: &Shared, path: &Path) -> anyhow::Result<usize> {
    let revoked = read_revoked_file(path).context("identity.revoked_file")?;
    let mut verifier = (*shared.verifier.load()).clone();
    verifier.set_revocations(revoked);
    shared.verifier.store(Arc::new(verifier));
    Ok(revoke_live(shared))
}

/// Ends every live session whose token the current verifier revokes.
fn revoke_live(shared: &Shared) -> usize {
    let verifier = shared.verifier.load();
    let revocations = verifier.revocations();
    shared.live.end_revoked(|id| {
        revocations
            .check(&id.subject, id.token_id.as_deref())
            .is_some()
    })
}

/// Records a reload (or its failure) in the audit trail.
pub async fn record(shared: &Shared, path: &Path, result: &anyhow::Result<String>) {
    let event = AuditEvent::ConfigReload(ConfigReloadEvent {
        path: Some(path.display().to_string()),
        sha256: result.as_ref().ok().cloned(),
        error: result.as_ref().err().map(|e| format!("{e:#}")),
    });
    if let Err(e) = shared.audit.append(event).await {
        tracing::error!(error = %e, "cannot record the reload in the audit trail");
    }
}
