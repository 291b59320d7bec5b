//! `gatekit check`: dry-runs the policy on one command and prints the decision.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use gatekit_core::policy::Verdict;
use gatekit_core::{Identity, Protocol};

use crate::config::Config;
use crate::engine::Engine;

/// Arguments of `gatekit check`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status: 0 allow, 3 deny, 4 review, 2 usage or config error.

Examples:
  gatekit check --config gatekit.toml --protocol postgres --user alice --group dev 'DELETE FROM customers'
  gatekit check --config gatekit.toml --protocol postgres --token \"$JWT\" --json 'DROP TABLE orders'")]
pub struct CheckArgs {
    /// The configuration file.
    #[arg(long, short)]
    pub config: PathBuf,
    /// The protocol the command arrives on.
    #[arg(long, value_parser = parse_protocol)]
    pub protocol: Protocol,
    /// The target (default: the only target of the protocol).
    #[arg(long)]
    pub target: Option<String>,
    /// Decide as the holder of this token (verified like a client's).
    #[arg(long, conflicts_with_all = ["user", "group"], required_unless_present = "user")]
    pub token: Option<String>,
    /// Decide as this user, without a token.
    #[arg(long)]
    pub user: Option<String>,
    /// A group of `--user` (repeatable).
    #[arg(long, requires = "user")]
    pub group: Vec<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// The command (SQL statement, shell command line, Kubernetes request).
    pub command: String,
}

/// Parses a protocol name for clap.
pub fn parse_protocol(s: &str) -> Result<Protocol, String> {
    s.parse()
        .map_err(|e: gatekit_core::class::UnknownProtocol| e.to_string())
}

/// The exit status for a verdict.
pub fn exit_code(verdict: Verdict) -> ExitCode {
    match verdict {
        Verdict::Allow => ExitCode::SUCCESS,
        Verdict::Deny => ExitCode::from(3),
        Verdict::Review => ExitCode::from(4),
    }
}

/// Runs `gatekit check`.
pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let engine = Engine::from_config(&config)?;
    let now = jiff::Timestamp::now();
    let identity = match (&args.token, &args.user) {
        (Some(token), _) => {
            crate::identity::verify_token_once(&config, token, now).context("--token")?
        }
        (None, Some(user)) => Identity::new(user.clone(), args.group.clone()),
        (None, None) => anyhow::bail!("give --token or --user"),
    };
    let target = engine
        .resolve_target(args.protocol, args.target.as_deref())
        .map_err(anyhow::Error::msg)?;
    let eval = engine.evaluate(&identity, args.protocol, target, &args.command, now);
    let d = &eval.decision;
    if args.json {
        let out = serde_json::json!({
            "verdict": d.verdict,
            "rule": d.rule.as_deref(),
            "reason": &*d.reason,
            "classes": eval.classification.classes,
            "objects": eval.classification.objects,
            "approvers": &*d.approvers,
            "approval": d.approval,
            "target": target,
            "protocol": args.protocol,
            "user": identity.subject,
            "groups": identity.groups,
        });
        println!("{out}");
    } else {
        println!("verdict:  {}", d.verdict);
        println!(
            "rule:     {}",
            d.rule.as_deref().unwrap_or("(none: default)")
        );
        println!("reason:   {}", d.reason);
        println!(
            "classes:  {}",
            eval.classification.classes.names().join(", ")
        );
        if !eval.classification.objects.is_empty() {
            println!("objects:  {}", eval.classification.objects.join(", "));
        }
        if d.verdict == Verdict::Review {
            println!(
                "approvers: {} ({}, {} needed)",
                d.approvers.join(", "),
                d.approval,
                d.min_approvals
            );
        }
        println!("target:   {target} ({})", args.protocol);
    }
    Ok(exit_code(d.verdict))
}
