//! `gatekit serve`: resolves everything the config names, opens the audit trail and runs
//! every listener until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use gatekit_core::Protocol;
use gatekit_core::audit::{AuditEvent, ChainKey, ConfigReloadEvent};
use sha2::Digest;

use crate::audit_log::{AuditLog, AuditLogConfig};
use crate::config::Config;
use crate::engine::Engine;

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
const LISTENERS: &[Protocol] = &[];

/// Runs `gatekit serve`.
pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let resources = config.resolve_for_serve()?;
    let engine = Engine::from_config(&config)?;
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
        tracing::info!(
            config = %args.config.display(),
            rules = engine.policy().rule_count(),
            targets = engine.policy().targets().len(),
            audit = %config.audit_dir().display(),
            "gatekit serving"
        );
        tracing::info!(revocations = !verifier.revocations().is_empty(), "token verifier ready");
        shutdown_signal().await;
        tracing::info!("shutting down");
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
