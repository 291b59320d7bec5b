//! What `gatekit approvals` and `gatekit sessions` share: the API flags, running one call,
//! exit codes and tables.

use std::path::PathBuf;
use std::process::ExitCode;

use super::client::{ApiClient, ClientError};

/// Flags every API subcommand takes.
#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// The gateway API, e.g. `http://127.0.0.1:8080`.
    #[arg(long, global = true, env = "GATEKIT_API")]
    pub api: Option<String>,
    /// The caller's JWT.
    #[arg(long, global = true, env = "GATEKIT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate(s), PEM, that the API's certificate must chain to (e.g. its own
    /// self-signed certificate).
    #[arg(long, global = true)]
    pub ca_file: Option<PathBuf>,
    /// Print JSON for scripts instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

impl ApiArgs {
    /// Runs `call` with a client of the API. API and HTTP failures are printed and give
    /// exit code 1; usage problems (no `--api`, no token, a bad CA file) are returned as
    /// errors (exit code 2).
    pub fn run<F, Fut>(&self, call: F) -> anyhow::Result<ExitCode>
    where
        F: FnOnce(ApiClient) -> Fut,
        Fut: std::future::Future<Output = Result<(), ClientError>>,
    {
        let Some(api) = &self.api else {
            anyhow::bail!("--api URL is required (or set GATEKIT_API)");
        };
        if self.token.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return Err(ClientError::NoToken.into());
        }
        let client = ApiClient::new(api, self.token.clone(), self.ca_file.as_deref())?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        match rt.block_on(call(client)) {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(
                e @ (ClientError::BadUrl(_) | ClientError::CaFile { .. } | ClientError::NoToken),
            ) => Err(e.into()),
            Err(e) => {
                eprintln!("gatekit: error: {e}");
                Ok(ExitCode::from(1))
            }
        }
    }

    /// Prints `value` as pretty JSON.
    pub fn print_json(&self, value: &serde_json::Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        );
    }
}

/// A path segment, percent-encoded (ids are plain, but the CLI takes any text).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A JSON field as display text: strings as they are, null as `-`, others as JSON.
pub fn field(v: &serde_json::Value, path: &[&str]) -> String {
    let mut cur = v;
    for k in path {
        match cur.get(k) {
            Some(next) => cur = next,
            None => return "-".into(),
        }
    }
    let text = match cur {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    printable(&text)
}

/// Text safe for a terminal: control characters (escape sequences, newlines) become `?`.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `s` cut to `max` characters, marked with `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Prints rows under a header, columns padded to their widest cell.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, (c, w)) in cells.zip(&widths).enumerate() {
            if i + 1 == widths.len() {
                out.push_str(c);
            } else {
                out.push_str(c);
                out.extend(std::iter::repeat_n(' ', w - c.chars().count() + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}
