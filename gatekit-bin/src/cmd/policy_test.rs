//! `gatekit policy test`: runs a file of expected decisions against the policy, so security
//! teams test policies in CI like code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use gatekit_core::policy::Verdict;
use gatekit_core::{Identity, Protocol};
use serde::Deserialize;

use crate::config::Config;
use crate::engine::Engine;

/// Arguments of `gatekit policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// What to do with the policy.
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// Subcommands of `gatekit policy`.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Runs a cases file against the policy; exit 1 on any mismatch.
    #[command(after_help = "\
A cases file holds [[case]] tables:

  [[case]]
  name = \"developers may not wipe a table\"
  user = \"alice\"
  groups = [\"dev\"]
  protocol = \"postgres\"
  target = \"shop\"                 # optional when the protocol has one target
  command = \"DELETE FROM customers\"
  expect = \"deny\"                 # allow | deny | review
  rule = \"no-bulk-writes\"         # optional: the rule that must decide
  at = \"2026-03-02T09:00:00Z\"     # optional: the time, for rules with `hours`

Example:
  gatekit policy test --config gatekit.toml policy-cases.toml")]
    Test {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The cases file.
        cases: PathBuf,
    },
}

/// A cases file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesFile {
    /// The cases, in order.
    #[serde(rename = "case")]
    pub cases: Vec<Case>,
}

/// One expectation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case is about.
    pub name: String,
    /// The identity's subject.
    pub user: String,
    /// The identity's groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The protocol.
    pub protocol: Protocol,
    /// The target (default: the only one of the protocol).
    pub target: Option<String>,
    /// The command text.
    pub command: String,
    /// The expected verdict.
    pub expect: Verdict,
    /// The rule expected to decide; `"none"` for the default.
    pub rule: Option<String>,
    /// When the command runs.
    pub at: Option<jiff::Timestamp>,
}

/// Runs `gatekit policy …`.
pub fn run(args: &PolicyArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        PolicyCommand::Test { config, cases } => test(config, cases),
    }
}

fn test(config_path: &Path, cases_path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    let engine = Engine::from_config(&config)?;
    let text = std::fs::read_to_string(cases_path)
        .with_context(|| format!("cannot read {}", cases_path.display()))?;
    let file: CasesFile = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", cases_path.display(), e.to_string().trim_end()))?;
    let now = jiff::Timestamp::now();
    let (mut passed, mut failed) = (0usize, 0usize);
    for case in &file.cases {
        match check_case(&engine, case, now) {
            Ok(()) => {
                passed += 1;
                println!("ok    {}", case.name);
            }
            Err(why) => {
                failed += 1;
                println!("FAIL  {}", case.name);
                println!("      {} on {}: {}", case.user, case.protocol, case.command);
                for line in why.lines() {
                    println!("      {line}");
                }
            }
        }
    }
    println!();
    println!("policy: {passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Decides one case; `Err` says what was expected and what was decided.
fn check_case(engine: &Engine, case: &Case, now: jiff::Timestamp) -> Result<(), String> {
    let target = engine.resolve_target(case.protocol, case.target.as_deref())?;
    let identity = Identity::new(case.user.clone(), case.groups.clone());
    let eval = engine.evaluate(
        &identity,
        case.protocol,
        target,
        &case.command,
        case.at.unwrap_or(now),
    );
    let d = &eval.decision;
    let decided_rule = d.rule.as_deref().unwrap_or("none");
    let verdict_ok = d.verdict == case.expect;
    let rule_ok = case.rule.as_deref().is_none_or(|r| r == decided_rule);
    if verdict_ok && rule_ok {
        return Ok(());
    }
    let expected = match &case.rule {
        Some(r) => format!("{} by rule {r}", case.expect),
        None => case.expect.to_string(),
    };
    Err(format!(
        "expected: {expected}\ndecided:  {} by rule {decided_rule} ({})\nclasses:  {}",
        d.verdict,
        d.reason,
        eval.classification.classes.names().join(", ")
    ))
}
