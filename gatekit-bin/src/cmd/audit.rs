//! `gatekit audit`: verify, tail and search the audit trail under `[audit] dir`.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use gatekit_core::audit::{AuditRecord, ChainKey, MAX_LINE_BYTES, Verdict};

use crate::audit_log::{
    FileHeadStore, Follower, HeadStore, LineEnd, TRAIL_FILE, last_lines, read_line, trail_files,
    verify_trail,
};

/// `gatekit audit`: the hash-chained audit trail.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  gatekit audit verify --config gatekit.toml
  gatekit audit tail -n 50 --follow --config gatekit.toml
  gatekit audit search --user alice --verdict deny --since 24h --config gatekit.toml")]
pub struct AuditArgs {
    /// What to do with the trail.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// The `gatekit audit` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of every trail file, in order, and the checkpoint in audit.head.
    /// Exit 0 when intact, 1 on any break (naming the first bad seq and its file).
    #[command(after_help = "\
Example:
  gatekit audit verify --config gatekit.toml
  ok: 1042 records in 2 files; head seq 1042 (3f1c…); checkpoint seq 1042 matches")]
    Verify(VerifyArgs),
    /// Show the newest records, and with --follow, records as they are written.
    #[command(after_help = "\
Example:
  gatekit audit tail -n 50 --follow --config gatekit.toml")]
    Tail(TailArgs),
    /// List the records that match every filter given.
    #[command(after_help = "\
Examples:
  gatekit audit search --user alice --since 1h --config gatekit.toml
  gatekit audit search --target shop --verdict deny --since 2024-06-01T00:00:00Z --json --config gatekit.toml")]
    Search(SearchArgs),
}

/// Options of `gatekit audit verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Check the chain alone, without audit.head (e.g. a copied trail); a cut-off tail then
    /// goes unnoticed.
    #[arg(long)]
    pub no_checkpoint: bool,
}

/// Options of `gatekit audit tail`.
#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    /// How many of the newest records to show.
    #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 20)]
    pub lines: usize,
    /// Keep printing records as they are written (until interrupted).
    #[arg(short, long)]
    pub follow: bool,
    /// Print records as stored, one JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// Options of `gatekit audit search`.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Records about this user (token subject or e-mail).
    #[arg(long, value_name = "U")]
    pub user: Option<String>,
    /// Records about this target.
    #[arg(long, value_name = "T")]
    pub target: Option<String>,
    /// Commands with this verdict: allow, deny or review.
    #[arg(long, value_name = "V")]
    pub verdict: Option<Verdict>,
    /// Records written at or after TIME: RFC 3339 (2024-06-01T12:00:00Z) or an age (30m, 1h, 2d).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Print records as stored, one JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `gatekit audit` on the trail in `dir` (`[audit] dir`), with the chain key from
/// `[audit] key_env` if one is configured. Prints to stdout.
pub fn run(args: &AuditArgs, dir: &Path, key: Option<&[u8]>) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match run_to(args, dir, key, jiff::Timestamp::now(), &mut out) {
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        other => other,
    }
}

/// [`run`] with the current time and the output given (for tests and embedding).
pub fn run_to(
    args: &AuditArgs,
    dir: &Path,
    key: Option<&[u8]>,
    now: jiff::Timestamp,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let key = key
        .map(ChainKey::new)
        .transpose()
        .context("the audit chain key ([audit] key_env)")?;
    match &args.command {
        AuditCommand::Verify(a) => verify(a, dir, key, out),
        AuditCommand::Tail(a) => tail(a, dir, out),
        AuditCommand::Search(a) => search(a, dir, now, out),
    }
}

fn verify(
    args: &VerifyArgs,
    dir: &Path,
    key: Option<ChainKey>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let store = FileHeadStore::new(dir);
    let checkpoint = if args.no_checkpoint {
        None
    } else {
        store.load()?
    };
    let report = verify_trail(dir, key, checkpoint)?;
    let missing_head = !args.no_checkpoint && checkpoint.is_none() && report.head.seq > 0;
    let ok = report.broken.is_none() && !missing_head;
    if args.json {
        let broken = report.broken.as_ref().map(|b| {
            serde_json::json!({
                "file": b.file.display().to_string(),
                "line": b.line,
                "seq": b.error.seq(),
                "error": b.error.to_string(),
            })
        });
        let value = serde_json::json!({
            "ok": ok,
            "records": report.head.seq,
            "files": report.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "head": report.head,
            "checkpoint": report.checkpoint,
            "checkpoint_missing": missing_head,
            "broken": broken,
        });
        writeln!(out, "{value}")?;
    } else if let Some(b) = &report.broken {
        let seq = b.error.seq().map(|s| s.to_string()).unwrap_or_default();
        let at = match b.line {
            0 => String::new(),
            n => format!(" line {n}"),
        };
        writeln!(
            out,
            "BROKEN at seq {seq}: {}{at}: {}",
            b.file.display(),
            b.error
        )?;
    } else if missing_head {
        writeln!(
            out,
            "BROKEN: {} is missing, so a cut-off tail cannot be ruled out (the chain itself holds {} records; --no-checkpoint checks the chain alone)",
            store.path().display(),
            report.head.seq
        )?;
    } else {
        let files = report.files.len();
        let head = &report.head;
        let hash = head.hash_hex();
        write!(
            out,
            "ok: {} records in {files} file{}; head seq {} ({}…)",
            head.seq,
            if files == 1 { "" } else { "s" },
            head.seq,
            &hash[..12]
        )?;
        match report.checkpoint {
            Some(cp) => writeln!(out, "; checkpoint seq {} matches", cp.seq)?,
            None => writeln!(out, "; no checkpoint checked")?,
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn tail(args: &TailArgs, dir: &Path, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let files = trail_files(dir)?;
    let current = dir.join(TRAIL_FILE);
    let mut groups = Vec::new();
    let mut need = args.lines;
    let mut follow_from = 0;
    for path in files.iter().rev() {
        let (lines, end) = last_lines(path, need, MAX_LINE_BYTES)?;
        if *path == current {
            follow_from = end;
        }
        need -= lines.len().min(need);
        groups.push(lines);
        if need == 0 {
            break;
        }
    }
    if !args.json {
        writeln!(out, "{}", header())?;
    }
    for line in groups.iter().rev().flatten() {
        print_line(line, args.json, out)?;
    }
    out.flush()?;
    if args.follow {
        let mut follower = Follower::new(current, follow_from);
        loop {
            for line in follower.poll()? {
                print_line(&line, args.json, out)?;
            }
            out.flush()?;
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn search(
    args: &SearchArgs,
    dir: &Path,
    now: jiff::Timestamp,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, now))
        .transpose()?;
    let current = dir.join(TRAIL_FILE);
    if !args.json {
        writeln!(out, "{}", header())?;
    }
    let mut buf = Vec::new();
    for path in trail_files(dir)? {
        if let Some(since) = since
            && path != current
            && modified_before(&path, since)
        {
            continue;
        }
        let f = fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
        let mut r = io::BufReader::with_capacity(256 * 1024, f);
        let mut line_no = 0u64;
        while let Some((_, how)) = read_line(&mut r, &mut buf, MAX_LINE_BYTES)
            .with_context(|| format!("read {}", path.display()))?
        {
            line_no += 1;
            if how != LineEnd::Newline {
                continue;
            }
            let rec = match AuditRecord::parse(&buf) {
                Ok(rec) => rec,
                Err(e) => {
                    eprintln!("{} line {line_no}: skipped: {e}", path.display());
                    continue;
                }
            };
            let wanted = since.is_none_or(|t| rec.ts >= t)
                && args.user.as_deref().is_none_or(|u| rec.concerns_user(u))
                && args
                    .target
                    .as_deref()
                    .is_none_or(|t| rec.target() == Some(t))
                && args.verdict.is_none_or(|v| rec.verdict() == Some(v));
            if wanted {
                if args.json {
                    out.write_all(&buf)?;
                    out.write_all(b"\n")?;
                } else {
                    writeln!(out, "{}", row(&rec))?;
                }
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Whether every record in a closed file is older than `since` (its last write is).
fn modified_before(path: &Path, since: jiff::Timestamp) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .is_some_and(|t| t < since)
}

/// `--since`: an RFC 3339 time, or an age before `now` (`30m`, `1h`, `2d`, `1w`).
fn parse_since(s: &str, now: jiff::Timestamp) -> anyhow::Result<jiff::Timestamp> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let age: jiff::Span = s.parse().with_context(|| {
        format!("--since `{s}`: neither an RFC 3339 time nor an age like 30m, 1h, 2d")
    })?;
    let then = now
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .checked_sub(age.abs())
        .with_context(|| format!("--since `{s}`: too far back"))?;
    Ok(then.timestamp())
}

const WIDTHS: [usize; 6] = [8, 19, 13, 16, 14, 7];

fn header() -> String {
    columns(
        ["SEQ", "TIME (UTC)", "EVENT", "USER", "TARGET", "VERDICT"],
        "DETAIL",
    )
}

fn row(rec: &AuditRecord) -> String {
    let seq = rec.seq.to_string();
    let time = rec.ts.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let verdict = rec.verdict().map(|v| v.name()).unwrap_or("");
    let mut detail = rec.summary();
    if rec.truncated {
        detail.push_str(" [truncated]");
    }
    columns(
        [
            &seq,
            &time,
            &rec.kind,
            rec.user().unwrap_or(""),
            rec.target().unwrap_or(""),
            verdict,
        ],
        &detail,
    )
}

fn columns(cells: [&str; 6], detail: &str) -> String {
    let mut s = String::with_capacity(128);
    for (cell, width) in cells.into_iter().zip(WIDTHS) {
        let cell = clean(cell, width);
        s.push_str(&cell);
        for _ in cell.chars().count()..width + 1 {
            s.push(' ');
        }
    }
    s.push_str(&clean(detail, 200));
    s.truncate(s.trim_end().len());
    s
}

/// Cuts `text` to `width` characters (ending in `…` when cut) and escapes control
/// characters, so recorded text cannot drive the terminal.
fn clean(text: &str, width: usize) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| {
            let esc = c.is_control().then(|| c.escape_default());
            esc.into_iter()
                .flatten()
                .chain((!c.is_control()).then_some(c))
        })
        .collect();
    if escaped.chars().count() <= width {
        return escaped;
    }
    let mut cut: String = escaped.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn print_line(line: &[u8], json: bool, out: &mut dyn Write) -> io::Result<()> {
    if json {
        out.write_all(line)?;
        return out.write_all(b"\n");
    }
    match AuditRecord::parse(line) {
        Ok(rec) => writeln!(out, "{}", row(&rec)),
        Err(e) => writeln!(
            out,
            "{}",
            columns(["?", "", "", "", "", ""], &e.to_string())
        ),
    }
}
