//! `gatekit`: the reference binary of the gatekit access gateway.
//!
//! Arguments are parsed here; every subcommand lives in `gatekit_bin::cmd`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gatekit_bin::cmd;
use gatekit_bin::logging::{self, LogFormat};

/// gatekit: an access gateway that authenticates, judges, masks and records every command sent
/// to PostgreSQL, SSH and Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "gatekit", version, propagate_version = true)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every listener in the config until SIGINT or SIGTERM.
    Serve(cmd::serve::ServeArgs),
    /// Run a throwaway PostgreSQL with sample personal data behind a gateway, to try gatekit.
    Demo(cmd::demo::DemoArgs),
    /// Dry-run the policy on one command and print the decision.
    Check(cmd::check::CheckArgs),
    /// Run a file of expected decisions against the policy.
    Policy(cmd::policy_test::PolicyArgs),
    /// Mask stdin to stdout with the config's masking rules.
    Mask(cmd::mask::MaskArgs),
    /// Mint a development token signed with the config's HS256 secret.
    Token(cmd::token::TokenArgs),
    /// Verify, tail and search the audit trail.
    Audit(AuditCli),
    /// Print a recorded session as a transcript, at its recorded pace.
    Replay(cmd::replay::ReplayArgs),
    /// List, show, approve and deny held commands through a gateway's API.
    Approvals(cmd::approvals::ApprovalsArgs),
    /// List and kill live sessions through a gateway's API.
    Sessions(cmd::sessions::SessionsArgs),
}

/// `gatekit audit`, with the config that names the trail.
#[derive(Debug, clap::Args)]
struct AuditCli {
    /// The configuration file (its `[audit] dir` and `key_env` are used).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    args: cmd::audit::AuditArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let result = match &cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Check(args) => cmd::check::run(args),
        Command::Policy(args) => cmd::policy_test::run(args),
        Command::Token(args) => cmd::token::run(args),
        Command::Mask(args) => gatekit_bin::config::Config::load(&args.config)
            .map_err(anyhow::Error::from)
            .and_then(|config| cmd::mask::run(args, &config)),
        Command::Audit(a) => run_audit(a),
        Command::Replay(args) => cmd::replay::run(args),
        Command::Approvals(args) => cmd::approvals::run(args),
        Command::Sessions(args) => cmd::sessions::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gatekit: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_audit(a: &AuditCli) -> anyhow::Result<ExitCode> {
    let Some(path) = &a.config else {
        anyhow::bail!("--config FILE is required (its [audit] dir names the trail)");
    };
    let config = gatekit_bin::config::Config::load(path)?;
    let key = config.audit_key()?;
    let stored_head = match &a.args.command {
        cmd::audit::AuditCommand::Verify(v) if !v.no_checkpoint => stored_audit_head(&config),
        _ => None,
    };
    cmd::audit::run(
        &a.args,
        &config.audit_dir(),
        key.as_ref().map(|k| k.expose()),
        stored_head,
    )
}

/// The audit head the gateway checkpointed in the state store, when the store can be
/// reached within a few seconds; a store that cannot is reported and skipped (the
/// `audit.head` checkpoint still applies).
fn stored_audit_head(
    config: &gatekit_bin::config::Config,
) -> Option<gatekit_core::audit::ChainHead> {
    let read = async {
        let location = config.state_location()?;
        if let gatekit_bin::state::Location::Sqlite(path) = &location
            && !path.exists()
        {
            return Ok(None);
        }
        let store = gatekit_bin::state::open(&location).await?;
        anyhow::Ok(store.get_audit_head().await?)
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let limit = std::time::Duration::from_secs(5);
    match rt.block_on(async { tokio::time::timeout(limit, read).await }) {
        Ok(Ok(head)) => head,
        Ok(Err(e)) => {
            eprintln!("gatekit: note: the state store's audit checkpoint was not checked: {e:#}");
            None
        }
        Err(_) => {
            eprintln!(
                "gatekit: note: the state store did not answer in 5 s; its audit checkpoint was not checked"
            );
            None
        }
    }
}
