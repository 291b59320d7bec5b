//! The two message shapes: Slack-compatible text and plain JSON.

use std::fmt::Write as _;

use super::Notice;

/// Command text shown in a Slack message, at most (longer is cut, marked with `…`).
const SLACK_COMMAND_CHARS: usize = 1500;

/// The notice as a JSON webhook body: the notice's fields with an `event` tag.
pub fn json_body(notice: &Notice) -> serde_json::Value {
    serde_json::to_value(notice)
        .unwrap_or_else(|_| serde_json::json!({ "event": notice.event_name() }))
}

/// The `text` of a Slack message for `notice`. `api` is the gateway API's URL, quoted in the
/// approve/deny commands.
pub fn slack_text(notice: &Notice, api: Option<&str>) -> String {
    let mut t = String::new();
    let api = api.unwrap_or("URL");
    match notice {
        Notice::ApprovalPending(a) | Notice::ApprovalDecided(a) => {
            let pending = matches!(notice, Notice::ApprovalPending(_));
            if pending {
                let _ = writeln!(t, ":hourglass: *Approval needed* `{}`", field(&a.id));
            } else {
                let _ = write!(t, "*Approval {}* `{}`", field(&a.status), field(&a.id));
                if let Some(d) = &a.decider {
                    let _ = write!(t, " by *{}*", field(d));
                }
                if let Some(r) = &a.reason {
                    let _ = write!(t, ": {}", field(r));
                }
                t.push('\n');
            }
            let _ = write!(
                t,
                "*{}* on *{}* ({})",
                field(&a.requester),
                field(&a.target),
                field(&a.protocol)
            );
            if let Some(rule) = &a.rule {
                let _ = write!(t, ", rule `{}`", field(rule));
            }
            let _ = write!(t, "\n```{}```\n", esc(&code(&a.command)));
            let _ = write!(t, "classes: {}", field(&a.classes.join(", ")));
            if !a.approvers.is_empty() {
                let _ = write!(t, " · approvers: {}", field(&a.approvers.join(", ")));
            }
            if let Some(e) = &a.expires_at {
                let _ = write!(t, " · expires {}", field(e));
            }
            if pending {
                let _ = write!(
                    t,
                    "\nApprove: `gatekit approvals approve {id} --api {api}`\nDeny: `gatekit approvals deny {id} --api {api} --reason \"...\"`",
                    id = field(&a.id),
                    api = field(api),
                );
            }
        }
        Notice::Anomaly(a) => {
            let _ = write!(
                t,
                ":warning: *Anomaly* `{}`: {}",
                field(&a.kind),
                field(&a.detail)
            );
            if let Some(u) = &a.user {
                let _ = write!(t, "\nuser: *{}*", field(u));
            }
            if let Some(target) = &a.target {
                let _ = write!(t, " · target: *{}*", field(target));
            }
            if let Some(s) = &a.session {
                let _ = write!(t, " · session `{}`", field(s));
            }
        }
        Notice::SessionKilled(s) => {
            let _ = write!(
                t,
                ":no_entry: *Session terminated* `{}` of *{}* on *{}* by *{}*",
                field(&s.session),
                field(&s.user),
                field(&s.target),
                field(&s.by)
            );
        }
    }
    t
}

/// Slack's three control characters, escaped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A field outside the code block: escaped, and with backticks swapped for a look-alike
/// (U+02CB) so a user name or reason cannot open or close code spans and blocks.
fn field(s: &str) -> String {
    esc(s).replace('`', "\u{2cb}")
}

/// Command text for a code block: cut to [`SLACK_COMMAND_CHARS`], and with backtick runs
/// broken so the text cannot close the block.
fn code(command: &str) -> String {
    let mut out: String = command.chars().take(SLACK_COMMAND_CHARS).collect();
    if command.chars().nth(SLACK_COMMAND_CHARS).is_some() {
        out.push('…');
    }
    let mut broken = String::with_capacity(out.len());
    let mut last = '\0';
    for c in out.chars() {
        if c == '`' && last == '`' {
            broken.push('\u{200b}');
        }
        broken.push(c);
        last = c;
    }
    broken
}
