//! `gatekit audit`: verify, tail and search the audit trail under `[audit] dir`.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use gatekit_core::audit::{AuditRecord, ChainHead, ChainKey, MAX_LINE_BYTES, Verdict};

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
/// `stored_head` is the head the gateway last checkpointed in the state store, if it could
/// be read: `verify` checks the trail against the newer of it and `audit.head`, so a trail
/// rewritten together with its `audit.head` is still caught.
pub fn run(
    args: &AuditArgs,
    dir: &Path,
    key: Option<&[u8]>,
    stored_head: Option<ChainHead>,
) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match run_to(
        args,
        dir,
        key,
        stored_head,
        jiff::Timestamp::now(),
        &mut out,
    ) {
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
    stored_head: Option<ChainHead>,
    now: jiff::Timestamp,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let key = key
        .map(ChainKey::new)
        .transpose()
        .context("the audit chain key ([audit] key_env)")?;
    match &args.command {
        AuditCommand::Verify(a) => verify(a, dir, key, stored_head, out),
        AuditCommand::Tail(a) => tail(a, dir, out),
        AuditCommand::Search(a) => search(a, dir, now, out),
    }
}

fn verify(
    args: &VerifyArgs,
    dir: &Path,
    key: Option<ChainKey>,
    stored_head: Option<ChainHead>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let store = FileHeadStore::new(dir);
    let (checkpoint, from_state) = if args.no_checkpoint {
        (None, false)
    } else {
        match (store.load()?, stored_head) {
            (Some(file), Some(state)) if state.seq > file.seq => (Some(state), true),
            (None, Some(state)) => (Some(state), true),
            (file, _) => (file, false),
        }
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
            "checkpoint_from_state_store": from_state,
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
            Some(cp) if from_state => {
                writeln!(out, "; checkpoint seq {} (state store) matches", cp.seq)?
            }
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
    // Sessions whose records match the user and target filters, for their results.
    let by_session = args.user.is_some() || args.target.is_some();
    let mut sessions: HashSet<String> = HashSet::new();
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
            let wanted = if rec.kind == "command_result" {
                // A result names only its session: it goes with the session's records
                // that match, and with allowed commands.
                since.is_none_or(|t| rec.ts >= t)
                    && (!by_session || rec.session().is_some_and(|s| sessions.contains(s)))
                    && args.verdict.is_none_or(|v| v != Verdict::Deny)
            } else {
                let who = args.user.as_deref().is_none_or(|u| rec.concerns_user(u))
                    && args
                        .target
                        .as_deref()
                        .is_none_or(|t| rec.target() == Some(t));
                if who
                    && by_session
                    && let Some(s) = rec.session()
                    && !sessions.contains(s)
                {
                    sessions.insert(s.to_owned());
                }
                who && since.is_none_or(|t| rec.ts >= t)
                    && args.verdict.is_none_or(|v| rec.verdict() == Some(v))
            };
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

const WIDTHS: [usize; 6] = [8, 19, 14, 16, 14, 7];

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

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};
    use gatekit_core::audit::{AuditEvent, ChainEncoder, ChainHead};

    use super::*;
    use crate::audit_log::rotated_name;

    const EVENTS: &str = include_str!("../../../gatekit-core/tests/data/audit/events.jsonl");
    const KEY: &[u8] = b"cli-test-chain-key-0123456789";

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        audit: AuditArgs,
    }

    fn t0() -> jiff::Timestamp {
        "2024-06-01T12:00:00Z".parse().unwrap()
    }

    /// Writes the sample events as a trail, one minute apart from `t0`: the first `split`
    /// records in a rotated file, the rest in `audit.jsonl`; checkpoints the head.
    fn fixture(dir: &Path, key: Option<&[u8]>, split: usize) -> ChainHead {
        let mut enc = ChainEncoder::new(key.map(|k| ChainKey::new(k).unwrap()));
        let mut rotated = Vec::new();
        let mut current = Vec::new();
        for (i, line) in EVENTS.lines().enumerate() {
            let event: AuditEvent = serde_json::from_str(line).unwrap();
            let ts = t0() + jiff::SignedDuration::from_mins(i as i64);
            let out = if i < split {
                &mut rotated
            } else {
                &mut current
            };
            enc.encode_into(ts, &event, out);
        }
        if split > 0 {
            fs::write(dir.join(rotated_name(1)), rotated).unwrap();
        }
        fs::write(dir.join(TRAIL_FILE), current).unwrap();
        FileHeadStore::new(dir).store(&enc.head()).unwrap();
        enc.head()
    }

    fn run_args(
        args: &[&str],
        dir: &Path,
        key: Option<&[u8]>,
        now: jiff::Timestamp,
    ) -> (ExitCode, String) {
        let cli = Cli::try_parse_from(std::iter::once("audit").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        let code = run_to(&cli.audit, dir, key, None, now, &mut out).unwrap();
        (code, String::from_utf8(out).unwrap())
    }

    fn lines_of(path: &Path) -> Vec<String> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn verify_reports_ok_and_names_the_first_bad_seq_and_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fixture(dir, Some(KEY), 8);
        let (code, out) = run_args(&["verify"], dir, Some(KEY), t0());
        assert_eq!(code, ExitCode::SUCCESS, "{out}");
        assert!(
            out.starts_with("ok: 14 records in 2 files; head seq 14"),
            "{out}"
        );
        assert!(out.contains("checkpoint seq 14 matches"), "{out}");

        // Without the key the chain does not hold.
        let (code, out) = run_args(&["verify"], dir, None, t0());
        assert_eq!(code, ExitCode::from(1));
        assert!(out.starts_with("BROKEN at seq 2: "), "{out}");
        assert!(out.contains(&rotated_name(1)), "{out}");

        // Edit seq 3 (line 3 of the rotated file): seq 4 no longer chains to it.
        let rotated = dir.join(rotated_name(1));
        let mut lines = lines_of(&rotated);
        lines[2] = lines[2].replacen("id = 42", "id = 43", 1);
        fs::write(&rotated, lines.join("\n") + "\n").unwrap();
        let (code, out) = run_args(&["verify"], dir, Some(KEY), t0());
        assert_eq!(code, ExitCode::from(1));
        let want = format!("BROKEN at seq 4: {} line 4:", rotated.display());
        assert!(out.starts_with(&want), "{out}");
        let (code, out) = run_args(&["verify", "--json"], dir, Some(KEY), t0());
        assert_eq!(code, ExitCode::from(1));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["broken"]["seq"], 4);
        assert_eq!(v["broken"]["line"], 4);
    }

    #[test]
    fn verify_needs_the_checkpoint_to_catch_a_cut_tail() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fixture(dir, None, 0);
        let trail = dir.join(TRAIL_FILE);
        let lines = lines_of(&trail);
        fs::write(&trail, lines[..12].join("\n") + "\n").unwrap();
        let (code, out) = run_args(&["verify"], dir, None, t0());
        assert_eq!(code, ExitCode::from(1));
        assert!(out.starts_with("BROKEN at seq 13: "), "{out}");
        assert!(out.contains("truncated"), "{out}");
        // The chain alone cannot tell.
        let (code, out) = run_args(&["verify", "--no-checkpoint"], dir, None, t0());
        assert_eq!(code, ExitCode::SUCCESS, "{out}");
        assert!(out.contains("no checkpoint checked"), "{out}");
        // And a missing head is a failure unless asked for.
        fs::remove_file(dir.join(crate::audit_log::HEAD_FILE)).unwrap();
        let (code, out) = run_args(&["verify"], dir, None, t0());
        assert_eq!(code, ExitCode::from(1));
        assert!(out.contains("audit.head is missing"), "{out}");
    }

    #[test]
    fn verify_of_an_empty_directory_is_ok_and_of_a_missing_one_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let (code, out) = run_args(&["verify"], tmp.path(), None, t0());
        assert_eq!(code, ExitCode::SUCCESS, "{out}");
        let cli = Cli::try_parse_from(["audit", "verify"]).unwrap();
        let err = run_to(
            &cli.audit,
            &tmp.path().join("nope"),
            None,
            None,
            t0(),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let err = run_to(
            &cli.audit,
            tmp.path(),
            Some(b"short"),
            None,
            t0(),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("at least 16"), "{err:#}");
    }

    #[test]
    fn tail_shows_the_newest_records_across_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fixture(dir, None, 12);
        let (code, out) = run_args(&["tail", "-n", "4", "--json"], dir, None, t0());
        assert_eq!(code, ExitCode::SUCCESS);
        let seqs: Vec<u64> = out
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(seqs, [11, 12, 13, 14]);
        let (_, out) = run_args(&["tail", "-n", "2"], dir, None, t0());
        let rows: Vec<&str> = out.lines().collect();
        assert_eq!(rows.len(), 3);
        assert!(rows[0].starts_with("SEQ"), "{out}");
        assert!(rows[1].starts_with("13 "), "{out}");
        assert!(rows[1].contains("2024-06-01 12:12:00"), "{out}");
        assert!(
            rows[1].contains("ci-bot") && rows[1].contains("deny"),
            "{out}"
        );
        assert!(rows[2].contains("refused: line 12"), "{out}");
    }

    #[test]
    fn search_filters_by_user_target_verdict_and_time() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fixture(dir, None, 5);
        let seqs = |args: &[&str], now| -> Vec<u64> {
            let mut all = vec!["search", "--json"];
            all.extend_from_slice(args);
            let (code, out) = run_args(&all, dir, None, now);
            assert_eq!(code, ExitCode::SUCCESS);
            out.lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                        .as_u64()
                        .unwrap()
                })
                .collect()
        };
        assert_eq!(seqs(&["--user", "alice"], t0()), [2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            seqs(&["--user", "alice@example.com", "--verdict", "deny"], t0()),
            [4]
        );
        assert_eq!(seqs(&["--target", "bastion"], t0()), [9, 10, 11, 12]);
        assert_eq!(seqs(&["--verdict", "deny"], t0()), [4, 13]);
        assert_eq!(
            seqs(&["--since", "2024-06-01T12:11:00Z"], t0()),
            [12, 13, 14]
        );
        // Ten minutes before 12:13: records from 12:03 on.
        let now = t0() + jiff::SignedDuration::from_mins(13);
        assert_eq!(
            seqs(&["--since", "10m", "--target", "shop"], now),
            [4, 5, 6, 8]
        );
        assert!(seqs(&["--user", "nobody"], t0()).is_empty());

        let (_, out) = run_args(&["search", "--verdict", "review"], dir, None, t0());
        let rows: Vec<&str> = out.lines().collect();
        assert_eq!(rows.len(), 2, "{out}");
        assert!(
            rows[1].contains("ALTER ROLE app PASSWORD '[redacted]'"),
            "{out}"
        );
    }

    #[test]
    fn results_print_readably_and_follow_their_sessions_through_filters() {
        const RESULTS: &str = include_str!("../../../gatekit-core/tests/data/audit/results.jsonl");
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut enc = ChainEncoder::new(None);
        let mut trail = Vec::new();
        // alice's session starts, then its numbered commands and their results.
        let lines = EVENTS.lines().take(2).chain(RESULTS.lines());
        for (i, line) in lines.enumerate() {
            let event: AuditEvent = serde_json::from_str(line).unwrap();
            let ts = t0() + jiff::SignedDuration::from_mins(i as i64);
            enc.encode_into(ts, &event, &mut trail);
        }
        fs::write(dir.join(TRAIL_FILE), trail).unwrap();
        FileHeadStore::new(dir).store(&enc.head()).unwrap();

        let (code, out) = run_args(&["verify"], dir, None, t0());
        assert_eq!(code, ExitCode::SUCCESS, "{out}");
        let (_, out) = run_args(&["tail", "-n", "4"], dir, None, t0());
        let rows: Vec<&str> = out.lines().collect();
        assert!(rows[1].contains("#3 SELECT id FROM orders"), "{out}");
        assert!(rows[2].contains("command_result "), "{out}");
        assert!(rows[2].ends_with("#3 -> 3 rows 412 µs"), "{out}");
        assert!(
            rows[4].contains("#4 -> error 23505: duplicate key"),
            "{out}"
        );

        let seqs = |args: &[&str]| -> Vec<u64> {
            let mut all = vec!["search", "--json"];
            all.extend_from_slice(args);
            let (_, out) = run_args(&all, dir, None, t0());
            out.lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                        .as_u64()
                        .unwrap()
                })
                .collect()
        };
        assert_eq!(seqs(&["--user", "alice"]), [2, 3, 4, 5, 6]);
        assert_eq!(seqs(&["--target", "shop"]), [2, 3, 4, 5, 6]);
        assert_eq!(seqs(&["--user", "bob"]), Vec::<u64>::new());
        assert_eq!(seqs(&["--verdict", "allow"]), [3, 4, 5, 6]);
        assert_eq!(seqs(&["--verdict", "deny"]), Vec::<u64>::new());
        assert_eq!(seqs(&[]), [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn since_takes_times_and_ages() {
        let now = t0();
        assert_eq!(
            parse_since("2024-05-01T00:00:00Z", now)
                .unwrap()
                .to_string(),
            "2024-05-01T00:00:00Z"
        );
        assert_eq!(
            parse_since("1h", now).unwrap().to_string(),
            "2024-06-01T11:00:00Z"
        );
        assert_eq!(
            parse_since("2d", now).unwrap().to_string(),
            "2024-05-30T12:00:00Z"
        );
        assert_eq!(
            parse_since("1w 30m", now).unwrap().to_string(),
            "2024-05-25T11:30:00Z"
        );
        let err = parse_since("yesterday-ish", now).unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }

    #[test]
    fn table_cells_escape_control_characters_and_cut_long_text() {
        assert_eq!(clean("\u{1b}[31mred", 40), "\\u{1b}[31mred");
        assert_eq!(clean("a\nb", 40), "a\\nb");
        assert_eq!(clean("abcdefgh", 5), "abcd…");
        assert_eq!(clean("abcde", 5), "abcde");
    }

    #[test]
    fn every_subcommand_parses_and_shows_an_example() {
        let cli = Cli::try_parse_from([
            "audit",
            "search",
            "--user",
            "u",
            "--target",
            "t",
            "--verdict",
            "deny",
            "--since",
            "1h",
            "--json",
        ])
        .unwrap();
        let AuditCommand::Search(s) = cli.audit.command else {
            panic!("not search")
        };
        assert_eq!(s.verdict, Some(Verdict::Deny));
        assert!(Cli::try_parse_from(["audit", "search", "--verdict", "maybe"]).is_err());
        let cli = Cli::try_parse_from(["audit", "tail", "-n", "5", "--follow"]).unwrap();
        let AuditCommand::Tail(t) = cli.audit.command else {
            panic!("not tail")
        };
        assert_eq!((t.lines, t.follow, t.json), (5, true, false));
        let mut cmd = Cli::command();
        assert!(cmd.render_long_help().to_string().contains("Examples:"));
        for sub in ["verify", "tail", "search"] {
            let help = cmd
                .find_subcommand_mut(sub)
                .unwrap()
                .render_long_help()
                .to_string();
            assert!(help.contains("gatekit audit"), "{sub}: {help}");
        }
    }
}
