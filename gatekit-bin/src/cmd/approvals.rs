//! `gatekit approvals`: the approval queue, through a gateway's API.

use std::process::ExitCode;

use crate::api::cli::{ApiArgs, cut, field, print_table, printable, segment};

/// Arguments of `gatekit approvals`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The token comes from --token or GATEKIT_TOKEN. Exit 0 ok, 1 API or HTTP error, 2 usage.

Examples:
  gatekit approvals list --api http://127.0.0.1:8080
  gatekit approvals approve 0f3c...e1 --api http://127.0.0.1:8080 --reason 'ticket OPS-12'
  gatekit approvals deny 0f3c...e1 --api https://gw:8080 --ca-file api.pem --reason 'not now'")]
pub struct ApprovalsArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: ApprovalsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ApprovalsCommand {
    /// List approvals (pending by default).
    List {
        /// pending, approved, denied, expired, cancelled, decided or all.
        #[arg(long, default_value = "pending")]
        status: String,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one approval.
    Show {
        /// The approval id.
        id: String,
    },
    /// Approve a held command.
    Approve {
        /// The approval id.
        id: String,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deny a held command.
    Deny {
        /// The approval id.
        id: String,
        /// Why (shown to the requester and recorded).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Runs `gatekit approvals`.
pub fn run(args: &ApprovalsArgs) -> anyhow::Result<ExitCode> {
    let json = args.api.json;
    args.api.run(|client| async move {
        match &args.command {
            ApprovalsCommand::List { status, limit } => {
                let query = if status == "all" {
                    format!("?limit={limit}")
                } else {
                    format!("?status={}&limit={limit}", segment(status))
                };
                let v = client.get(&format!("/v1/approvals{query}")).await?;
                if json {
                    args.api.print_json(&v);
                } else {
                    let empty = Vec::new();
                    let list = v["approvals"].as_array().unwrap_or(&empty);
                    let rows: Vec<Vec<String>> = list.iter().map(row).collect();
                    print_table(
                        &[
                            "ID",
                            "STATUS",
                            "REQUESTER",
                            "TARGET",
                            "RULE",
                            "CREATED",
                            "EXPIRES",
                            "COMMAND",
                        ],
                        &rows,
                    );
                }
            }
            ApprovalsCommand::Show { id } => {
                let v = client
                    .get(&format!("/v1/approvals/{}", segment(id)))
                    .await?;
                if json {
                    args.api.print_json(&v);
                } else {
                    show(&v);
                }
            }
            ApprovalsCommand::Approve { id, reason } | ApprovalsCommand::Deny { id, reason } => {
                let verb = if matches!(args.command, ApprovalsCommand::Approve { .. }) {
                    "approve"
                } else {
                    "deny"
                };
                let body = match reason {
                    Some(r) => serde_json::json!({ "reason": r }),
                    None => serde_json::json!({}),
                };
                let v = client
                    .post(&format!("/v1/approvals/{}/{verb}", segment(id)), &body)
                    .await?;
                if json {
                    args.api.print_json(&v);
                } else {
                    let needed = v["min_approvals"].as_u64().unwrap_or(1);
                    let votes = v["votes"].as_array().map_or(0, Vec::len);
                    println!(
                        "approval {}: {}{}",
                        field(&v, &["id"]),
                        field(&v, &["status"]),
                        if v["status"] == "pending" {
                            format!(" ({votes} of {needed} approvals)")
                        } else {
                            String::new()
                        }
                    );
                }
            }
        }
        Ok(())
    })
}

fn row(a: &serde_json::Value) -> Vec<String> {
    vec![
        field(a, &["id"]),
        field(a, &["status"]),
        field(a, &["requester", "subject"]),
        field(a, &["target"]),
        field(a, &["rule"]),
        field(a, &["created_at"]),
        field(a, &["expires_at"]),
        cut(&field(a, &["command"]), 60),
    ]
}

fn show(a: &serde_json::Value) {
    for (label, path) in [
        ("id", &["id"][..]),
        ("status", &["status"]),
        ("requester", &["requester", "subject"]),
        ("target", &["target"]),
        ("protocol", &["protocol"]),
        ("classes", &["classes"]),
        ("objects", &["objects"]),
        ("rule", &["rule"]),
        ("why", &["rule_reason"]),
        ("approvers", &["approvers"]),
        ("needs", &["min_approvals"]),
        ("scope", &["scope"]),
        ("created", &["created_at"]),
        ("expires", &["expires_at"]),
        ("decided", &["decided_at"]),
        ("reason", &["reason"]),
    ] {
        println!("{:<10} {}", format!("{label}:"), field(a, path));
    }
    if let Some(votes) = a["votes"].as_array() {
        for v in votes {
            println!(
                "{:<10} {} {} at {}{}",
                "vote:",
                field(v, &["decider"]),
                field(v, &["choice"]),
                field(v, &["at"]),
                v["reason"]
                    .as_str()
                    .map(|r| format!(" ({})", printable(r)))
                    .unwrap_or_default()
            );
        }
    }
    println!("command:");
    for line in a["command"].as_str().unwrap_or("").lines() {
        println!("  {}", printable(line));
    }
}
