//! `gatekit serve`: resolves everything the config names, opens the audit trail and runs
//! every listener until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use gatekit_core::Protocol;
use gatekit_core::audit::{AuditEvent, ChainKey, ConfigReloadEvent};
use sha2::Digest;

use std::sync::Arc;

use gatekit_core::pg::{Password, SessionConfig, UpstreamTls};
use gatekit_pg::{PgGateway, PgGatewayConfig};

use crate::audit_log::{AuditLog, AuditLogConfig};
use crate::config::resolve::TargetResources;
use crate::config::{Config, TargetConfig};
use crate::engine::Engine;
use crate::gate::{Shared, TargetGate};

/// Arguments of `gatekit serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Every credential and file the config names is resolved at start; any failure stops the start,
naming the key. SIGINT or SIGTERM drains sessions and closes the audit trail.

Example:
  SHOP_DB_PASSWORD=... gatekit serve --config /etc/gatekit/gatekit.toml")]
pub struct ServeArgs {
    /// The configuration file.
    #[arg(long, short)]
    pub config: PathBuf,
}

/// Protocols whose listener is part of this build.
const LISTENERS: &[Protocol] = &[Protocol::Postgres];

/// Runs `gatekit serve`.
pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let resources = config.resolve_for_serve()?;
    let engine = Engine::from_config(&config)?;
    let masks = crate::config::masks::compile_masks(&config)?;
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
    let verifier = crate::identity::verifier(&config)?;
    let pg_configs = config
        .targets
        .iter()
        .map(|t| t.get_ref())
        .zip(&resources.targets)
        .filter(|(t, _)| t.protocol == Protocol::Postgres)
        .map(|(t, r)| pg_gateway_config(&config, t, r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config_digest = hex::encode(sha2::Sha256::digest(
        std::fs::read(&args.config).context("re-reading the config")?,
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let keys = crate::identity::key_source(&config).await?;
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
                path: Some(args.config.display().to_string()),
                sha256: Some(config_digest),
                error: None,
            }))
            .await
            .context("audit trail")?;
        let shared = Arc::new(Shared { engine, verifier, keys, audit: audit.clone(), masks });
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut listeners = tokio::task::JoinSet::new();
        for pg in pg_configs {
            let name = pg.session.target.clone();
            let gate = TargetGate::new(Arc::clone(&shared), &name, Protocol::Postgres);
            let gateway = PgGateway::bind(pg, gate).await.with_context(|| format!("target \"{name}\""))?;
            let mut stop = stop_rx.clone();
            listeners.spawn(gateway.run(async move {
                let _ = stop.wait_for(|s| *s).await;
            }));
        }
        tracing::info!(
            config = %args.config.display(),
            rules = shared.engine.policy().rule_count(),
            targets = shared.engine.policy().targets().len(),
            audit = %config.audit_dir().display(),
            "gatekit serving"
        );
        shutdown_signal().await;
        tracing::info!("shutting down: draining sessions");
        let _ = stop_tx.send(true);
        while listeners.join_next().await.is_some() {}
        drop(shared);
        let head = audit.close().await.context("closing the audit trail")?;
        tracing::info!(seq = head.seq, "audit trail closed");
        Ok(ExitCode::SUCCESS)
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the gateway");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
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
