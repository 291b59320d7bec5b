//! `gatekit serve`: resolves everything the config names, opens the audit trail and runs
//! every listener until SIGINT or SIGTERM.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use gatekit_core::Protocol;
use gatekit_core::audit::{AuditEvent, ChainKey, ConfigReloadEvent};

use std::sync::Arc;

use gatekit_core::pg::{Password, SessionConfig, UpstreamTls};
use gatekit_pg::{PgGatewayConfig, Workers};

use crate::audit_log::{AuditLog, AuditLogConfig};
use crate::config::resolve::{ServeResources, TargetResources};
use crate::config::{Config, TargetConfig};
use crate::engine::Engine;
use crate::gate::{Rules, Shared};
use crate::jwks::JwksSource;
use crate::live::LiveSessions;
use crate::reload::{self, PgListeners, PgTarget};
use crate::reviews::Reviews;
use crate::swap::{FileWatch, Swap};

/// Arguments of `gatekit serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Every credential and file the config names is resolved at start; any failure stops the start,
naming the key. SIGINT or SIGTERM drains sessions and closes the audit trail.

Connections run on `--threads` threads (default: one per CPU). Each connection stays on the
thread that took it until it ends, as with pgbouncer's so_reuseport processes: no work
stealing and no wake-ups between threads. Listeners, the API and background work share one
more thread. `--threads 1` suits a small machine the gateway shares with the database or
the clients.

Example:
  SHOP_DB_PASSWORD=... gatekit serve --config /etc/gatekit/gatekit.toml
  gatekit serve --config gatekit.toml --threads 1")]
pub struct ServeArgs {
    /// The configuration file.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Threads that serve connections, each keeping its own (default: one per CPU).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

/// Protocols whose listener is part of this build.
const LISTENERS: &[Protocol] = &[Protocol::Postgres];

/// Runs `gatekit serve`.
pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let resources = config.resolve_for_serve()?;
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        usize::from,
    );
    let workers = Workers::start(threads).context("starting the connection threads")?;
    // Listeners, the API and the background work share this thread; connections run on
    // the workers.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let shutdown = shutdown_signal();
        let keys = crate::identity::key_source(&config).await?;
        serve(
            &config,
            &args.config,
            &resources,
            keys,
            Some(workers.clone()),
            |_| {},
            shutdown,
        )
        .await?;
        Ok(ExitCode::SUCCESS)
    });
    drop(rt);
    workers.shutdown();
    result
}

/// Runs every listener of a loaded config (read from `path`) with its resolved resources
/// and token keys until `shutdown` completes, then drains sessions and closes the audit
/// trail. Connections run on `workers`, or as tasks of the calling runtime without. `ready`
/// gets the bound listener addresses once every listener is bound.
pub async fn serve(
    config: &Config,
    path: &Path,
    resources: &ServeResources,
    keys: JwksSource,
    workers: Option<Workers>,
    ready: impl FnOnce(&[SocketAddr]),
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let engine = Engine::from_config(config)?;
    let masks = crate::config::masks::compile_masks(config)?;
    let unserved: Vec<String> = config
        .targets
        .iter()
        .map(|t| t.get_ref())
        .filter(|t| !LISTENERS.contains(&t.protocol))
        .map(|t| format!("`{}` ({})", t.name.get_ref(), t.protocol))
        .collect();
    if !unserved.is_empty() {
        anyhow::bail!(
            "this build of gatekit has no listener for target(s) {}; remove them from the config or use a build that serves them",
            unserved.join(", ")
        );
    }
    let verifier = crate::identity::verifier(config)?;
    let (table, config_digest) = reload::read_table(path)?;
    let mut targets = Vec::new();
    for (t, r) in config
        .targets
        .iter()
        .map(|t| t.get_ref())
        .zip(&resources.targets)
        .filter(|(t, _)| t.protocol == Protocol::Postgres)
    {
        let name = t.name.get_ref().clone();
        targets.push(PgTarget {
            fingerprint: reload::fingerprint(
                &table,
                &name,
                r.credential.as_ref().map(|c| c.expose()),
            ),
            config: pg_gateway_config(config, t, r)?,
            name,
        });
    }
    tracing::info!(origin = %keys.origin(), keys = keys.keys().usable_keys(), "identity keys loaded");
    let mut audit_config = AuditLogConfig::new(config.audit_dir());
    audit_config.sync = config.audit.sync;
    audit_config.key = match &resources.audit_key {
        Some(k) => Some(ChainKey::new(k.expose()).context("audit.key_env")?),
        None => None,
    };
    let audit = AuditLog::open(audit_config).context("[audit]")?;
    audit
        .append(AuditEvent::ConfigReload(ConfigReloadEvent {
            path: Some(path.display().to_string()),
            sha256: Some(config_digest),
            error: None,
        }))
        .await
        .context("audit trail")?;
    let recordings = Arc::new(
        crate::recordings::Recordings::open(
            &config.audit_dir(),
            gatekit_core::record::RecordLimits {
                rows: config.audit.record_rows,
                bytes: config.audit.record_bytes,
            },
        )
        .context("[audit] dir: session recordings")?,
    );
    let location = config.state_location()?;
    let store = crate::state::open(&location).await.context("[state]")?;
    tracing::info!(backend = store.backend(), "state store open");
    let review_timeout =
        gatekit_core::policy::parse_duration(config.policy.review_timeout.get_ref())
            .context("policy.review_timeout")?;
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let (notifier, notify_task) = crate::notify::Notifier::start_replaceable(
        crate::notify::webhooks(config, &resources.notify_urls)?,
        crate::notify::NotifyOptions {
            api_url: config.api.as_ref().map(crate::api::public_url),
            ..Default::default()
        },
    )?;
    let reviews = Reviews::new(Arc::clone(&store), audit.clone(), review_timeout)
        .with_notifier(notifier.clone());
    let replica = crate::reviews::random_id().context("replica id")?;
    let live = LiveSessions::new(Arc::clone(&store), replica);
    let shared = Arc::new(Shared {
        rules: Swap::new(Rules {
            engine,
            masks,
            generation: 0,
        }),
        verifier: Swap::new(verifier),
        keys,
        audit: audit.clone(),
        reviews,
        live,
        metrics: Arc::clone(&metrics),
        notifier: notifier.clone(),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let background = {
        let (shared, stop) = (Arc::clone(&shared), stop_rx.clone());
        tokio::spawn(async move { shared.live.run(Some(&shared.reviews), stop).await })
    };
    let listeners_ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let api_task = match &config.api {
        Some(api) => {
            let state = Arc::new(crate::api::ApiState {
                shared: Arc::clone(&shared),
                store: Arc::clone(&store),
                metrics: Arc::clone(&metrics),
                notifier: notifier.clone(),
                admin_groups: api.admin_groups.clone(),
                listeners_ready: Arc::clone(&listeners_ready),
            });
            crate::api::spawn_from_config(config, state, stop_rx.clone()).await?
        }
        None => None,
    };
    let mut listeners = PgListeners::new(Arc::clone(&shared))
        .with_recordings(Arc::clone(&recordings))
        .with_workers(workers);
    listeners.apply(targets).await?;
    listeners_ready.store(true, std::sync::atomic::Ordering::Release);
    {
        let rules = shared.rules.load();
        tracing::info!(
            config = %path.display(),
            rules = rules.engine.policy().rule_count(),
            targets = rules.engine.policy().targets().len(),
            audit = %config.audit_dir().display(),
            "gatekit serving"
        );
    }
    let bound: Vec<SocketAddr> = listeners.addrs().into_iter().map(|(_, a)| a).collect();
    ready(&bound);

    // Until shutdown: SIGHUP reloads the config, a change of the revoked-tokens file
    // revokes at once.
    let baseline = reload::Baseline::of(&table);
    let mut hangup = hangup_signal();
    let mut revoked = config
        .identity
        .revoked_file
        .as_ref()
        .map(|f| FileWatch::new(&config.path(f)));
    let mut checkpoint = tokio::time::interval(AUDIT_CHECKPOINT);
    checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = checkpoint.tick() => {
                // The trail's head goes into the state store too, so a trail rewritten
                // together with its audit.head is caught by `audit verify`.
                match audit.flush().await {
                    Ok(head) => {
                        if let Err(e) = store.put_audit_head(&head).await {
                            tracing::warn!(error = %e, "cannot checkpoint the audit head in the state store");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot flush the audit trail"),
                }
            }
            () = recv_opt(&mut hangup) => {
                tracing::info!(config = %path.display(), "SIGHUP: reloading the config");
                let result = reload::reload(&shared, &mut listeners, &baseline, path, pg_gateway_config).await;
                match &result {
                    Ok(_) => tracing::info!("config reloaded"),
                    Err(e) => tracing::error!(error = format!("{e:#}"), "config refused; the running config stays"),
                }
                reload::record(&shared, path, &result).await;
                if result.is_ok() {
                    // The revoked-tokens file may have moved.
                    revoked = Config::load(path)
                        .ok()
                        .and_then(|c| c.identity.revoked_file.as_ref().map(|f| FileWatch::new(&c.path(f))));
                }
            }
            () = next_change(&mut revoked) => {
                let Some(watch) = &revoked else { continue };
                match reload::reload_revocations(&shared, watch.path()) {
                    Ok(ended) => tracing::info!(file = %watch.path().display(), sessions_ended = ended, "revoked tokens re-read"),
                    Err(e) => tracing::error!(error = format!("{e:#}"), "revoked-tokens file unreadable; the previous list stays"),
                }
            }
        }
    }
    tracing::info!("shutting down: draining sessions");
    let _ = stop_tx.send(true);
    listeners.stop_all().await;
    let _ = background.await;
    if let Some((_, task)) = api_task {
        let _ = task.await;
    }
    drop(notifier);
    drop(listeners);
    drop(shared);
    // Pending notices get a moment to go out (the task ends once every handle is gone).
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), notify_task).await;
    recordings.flush().await;
    let head = audit.close().await.context("closing the audit trail")?;
    if let Err(e) = store.put_audit_head(&head).await {
        tracing::warn!(error = %e, "cannot checkpoint the audit head in the state store");
    }
    tracing::info!(seq = head.seq, "audit trail closed");
    Ok(())
}

/// How often the audit trail's head is checkpointed in the state store.
const AUDIT_CHECKPOINT: std::time::Duration = std::time::Duration::from_secs(5);

/// SIGHUP, where there is one.
#[cfg(unix)]
fn hangup_signal() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reloads need a restart");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup_signal() -> Option<()> {
    None
}

#[cfg(unix)]
async fn recv_opt(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            if s.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn recv_opt(_: &mut Option<()>) {
    std::future::pending().await
}

/// Resolves when the watched file changes; never without one.
async fn next_change(w: &mut Option<FileWatch>) {
    match w {
        Some(w) => w.next_change(std::time::Duration::from_secs(1)).await,
        None => std::future::pending().await,
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called (inside
/// a runtime), not when the future is first polled, so a signal that arrives while the
/// gateway is still starting is not lost to the default action.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                (int, term) => {
                    if let Err(e) = int.as_ref().and(term.as_ref()) {
                        tracing::warn!(error = %e, "cannot listen for SIGINT/SIGTERM; falling back to Ctrl-C");
                    }
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The PostgreSQL listener of one target, from its config and resolved credential.
fn pg_gateway_config(
    config: &Config,
    t: &TargetConfig,
    res: &TargetResources,
) -> anyhow::Result<PgGatewayConfig> {
    let name = t.name.get_ref();
    let key = |k: &str| format!("target \"{name}\".{k}");
    let listen: std::net::SocketAddr = t.listen.get_ref().parse().with_context(|| key("listen"))?;
    let mut session = SessionConfig::new(name.clone(), t.user.clone().unwrap_or_default());
    session.upstream_database = t.database.clone();
    session.upstream_password = match &res.credential {
        Some(secret) => Some(Password::new(secret.expose_str().with_context(|| {
            format!("{}: the password is not UTF-8", key("password_env"))
        })?)),
        None => None,
    };
    session.upstream_tls = match t.upstream_tls.unwrap_or_default() {
        crate::config::UpstreamTls::Disable => UpstreamTls::Disable,
        crate::config::UpstreamTls::Prefer => UpstreamTls::Prefer,
        crate::config::UpstreamTls::Require => UpstreamTls::Require,
        crate::config::UpstreamTls::VerifyFull => UpstreamTls::VerifyFull,
    };
    session.allow_plaintext_auth = t.allow_plaintext_auth.unwrap_or(false);
    session.loopback_listener = listen.ip().is_loopback();
    session.roles = t.roles.clone().map(|r| r.0).unwrap_or_default();
    let client_tls = match (&t.tls_cert_file, &t.tls_key_file) {
        (Some(cert), Some(key_file)) => {
            let cert_pem =
                std::fs::read(config.path(cert)).with_context(|| key("tls_cert_file"))?;
            let key_pem =
                std::fs::read(config.path(key_file)).with_context(|| key("tls_key_file"))?;
            let (tls, fingerprint) = gatekit_pg::tls::server_config_from_pem(&cert_pem, &key_pem)
                .with_context(|| key("tls_cert_file"))?;
            tracing::info!(target_name = %name, %fingerprint, "client TLS certificate loaded (SHA-256)");
            tls
        }
        _ => {
            let names = vec!["localhost".to_owned(), listen.ip().to_string()];
            gatekit_pg::tls::self_signed_server_config(&names)
                .with_context(|| key("tls_cert_file"))?
                .0
        }
    };
    let mut pg = PgGatewayConfig::new(
        session,
        t.listen.get_ref().clone(),
        t.upstream.get_ref().clone(),
    );
    pg.client_tls = Some(client_tls);
    pg.upstream_ca_pem = match &t.upstream_ca_file {
        Some(f) => Some(std::fs::read(config.path(f)).with_context(|| key("upstream_ca_file"))?),
        None => None,
    };
    Ok(pg)
}
