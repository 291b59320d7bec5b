//! `gatekit sessions`: live sessions across the gateway's replicas, through its API.

use std::process::ExitCode;

use crate::api::cli::{ApiArgs, field, print_table, segment};

/// Arguments of `gatekit sessions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The token comes from --token or GATEKIT_TOKEN; `kill` needs a group in `[api] admin_groups`.
Exit 0 ok, 1 API or HTTP error, 2 usage.

Examples:
  gatekit sessions list --api http://127.0.0.1:8080
  gatekit sessions kill 9a1b... --api http://127.0.0.1:8080")]
pub struct SessionsArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: SessionsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SessionsCommand {
    /// List live sessions on every replica.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// End a session at once, on whichever replica holds it.
    Kill {
        /// The session id.
        id: String,
    },
}

/// Runs `gatekit sessions`.
pub fn run(args: &SessionsArgs) -> anyhow::Result<ExitCode> {
    let json = args.api.json;
    args.api.run(|client| async move {
        match &args.command {
            SessionsCommand::List { limit } => {
                let v = client.get(&format!("/v1/sessions?limit={limit}")).await?;
                if json {
                    args.api.print_json(&v);
                } else {
                    let empty = Vec::new();
                    let rows: Vec<Vec<String>> = v["sessions"]
                        .as_array()
                        .unwrap_or(&empty)
                        .iter()
                        .map(|s| {
                            vec![
                                field(s, &["id"]),
                                field(s, &["identity", "subject"]),
                                field(s, &["target"]),
                                field(s, &["protocol"]),
                                field(s, &["peer"]),
                                field(s, &["replica"]),
                                field(s, &["started_at"]),
                                if s["kill_requested_at"].is_null() {
                                    String::new()
                                } else {
                                    format!("killing (by {})", field(s, &["kill_requested_by"]))
                                },
                            ]
                        })
                        .collect();
                    print_table(
                        &[
                            "ID", "USER", "TARGET", "PROTOCOL", "PEER", "REPLICA", "STARTED", "",
                        ],
                        &rows,
                    );
                }
            }
            SessionsCommand::Kill { id } => {
                let v = client
                    .post(
                        &format!("/v1/sessions/{}/terminate", segment(id)),
                        &serde_json::json!({}),
                    )
                    .await?;
                if json {
                    args.api.print_json(&v);
                } else {
                    println!(
                        "session {} of {} on {}: termination requested",
                        field(&v, &["id"]),
                        field(&v, &["identity", "subject"]),
                        field(&v, &["target"])
                    );
                }
            }
        }
        Ok(())
    })
}
