//! `gatekit replay`: prints a recorded session as a transcript, at its recorded pace.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use gatekit_core::record::{
    CommandKind, CommandRecord, MAX_LINE_BYTES, RecordEvent, RecordedVerdict, ResultRecord,
    parse_line,
};
use jiff::Timestamp;

use crate::config::Config;
use crate::recordings::session_file;

/// Options of `gatekit replay`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  gatekit replay 3f9c0a7e5b1d4c2a9e8f7a6b5c4d3e2f --config gatekit.toml
  gatekit replay 3f9c0a7e5b1d4c2a9e8f7a6b5c4d3e2f --config gatekit.toml --speed 4
  gatekit replay 3f9c0a7e5b1d4c2a9e8f7a6b5c4d3e2f --config gatekit.toml --json | jq .sql")]
pub struct ReplayArgs {
    /// The session id (as in the audit trail and `gatekit sessions list`).
    pub session: String,
    /// The configuration file (its `[audit] dir` holds `sessions/<id>.jsonl`).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Playback speed: 2 plays twice as fast, 0 prints everything at once.
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub speed: f64,
    /// Print everything at once (the same as `--speed 0`).
    #[arg(long)]
    pub no_wait: bool,
    /// Print the recorded events as stored, one JSON object per line, at once.
    #[arg(long)]
    pub json: bool,
}

/// Runs `gatekit replay`. Exit 0 when the recording was printed, 1 when there is none or
/// it cannot be read, 2 on a usage or config error.
pub fn run(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    if !(args.speed.is_finite() && args.speed >= 0.0) {
        anyhow::bail!("--speed must be a number of 0 or more (0: no waiting)");
    }
    let config = Config::load(&args.config)?;
    let path = session_file(&config.audit_dir(), &args.session)?;
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            eprintln!(
                "gatekit: no recording of session `{}` (looked for {})",
                args.session,
                path.display()
            );
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let speed = if args.no_wait || args.json {
        0.0
    } else {
        args.speed
    };
    let mut reader = BufReader::new(file);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut player = Player {
        speed,
        last: None,
        target: String::new(),
    };
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        number += 1;
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text.is_empty() {
            continue;
        }
        let event = match parse_line(text) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("gatekit: {}:{number}: {e}", path.display());
                return Ok(ExitCode::from(1));
            }
        };
        if args.json {
            out.write_all(text)?;
            out.write_all(b"\n")?;
        } else {
            player.play(&mut out, &event)?;
        }
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints events as a psql-like transcript, waiting between them.
struct Player {
    speed: f64,
    last: Option<Timestamp>,
    target: String,
}

impl Player {
    /// Waits for the recorded time between the previous event and one at `at`.
    fn wait(&mut self, at: Timestamp) {
        if let Some(last) = self.last
            && self.speed > 0.0
        {
            let gap = at.duration_since(last).as_secs_f64() / self.speed;
            if gap > 0.0 {
                std::thread::sleep(Duration::from_secs_f64(gap.min(86_400.0)));
            }
        }
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }

    fn play(&mut self, out: &mut impl Write, event: &RecordEvent) -> io::Result<()> {
        match event {
            RecordEvent::Start(s) => {
                self.wait(s.at);
                self.target = s.database.clone().unwrap_or_else(|| s.target.clone());
                writeln!(
                    out,
                    "-- session {} of {} ({}) on target {}{}, started {}",
                    s.session,
                    s.user,
                    s.groups.join(", "),
                    s.target,
                    s.client
                        .as_deref()
                        .map(|c| format!(" from {c}"))
                        .unwrap_or_default(),
                    s.at
                )
            }
            RecordEvent::Command(c) => {
                self.wait(c.at);
                write_command(out, &self.target, c)
            }
            RecordEvent::Message(m) => {
                self.wait(m.at);
                writeln!(out, "{}:  {}", m.severity, m.message)
            }
            RecordEvent::Dropped { count } => writeln!(
                out,
                "-- {count} recorded event(s) were lost here (the recorder fell behind)"
            ),
            RecordEvent::End(e) => {
                self.wait(e.at);
                match &e.error {
                    Some(err) => writeln!(out, "-- session ended {}: {err}", e.at),
                    None => writeln!(out, "-- session ended {}", e.at),
                }
            }
            _ => Ok(()),
        }
    }
}

fn write_command(out: &mut impl Write, target: &str, c: &CommandRecord) -> io::Result<()> {
    writeln!(out)?;
    match c.kind {
        CommandKind::Execute => writeln!(out, "-- prepared statement, executed")?,
        CommandKind::Prepare => writeln!(out, "-- prepared statement")?,
        CommandKind::FunctionCall => writeln!(out, "-- fast-path function call")?,
        _ => {}
    }
    let sql = c.sql.trim_end();
    let end = if sql.ends_with(';') { "" } else { ";" };
    writeln!(out, "{target}=> {sql}{end}")?;
    if c.verdict == RecordedVerdict::Deny {
        writeln!(out, "-- denied by gatekit")?;
    }
    for n in &c.notices {
        writeln!(out, "NOTICE:  {n}")?;
    }
    for r in &c.results {
        write_result(out, r)?;
    }
    if c.results_omitted > 0 {
        writeln!(
            out,
            "-- {} more result(s) not recorded (cap)",
            c.results_omitted
        )?;
    }
    if c.notices_omitted > 0 {
        writeln!(
            out,
            "-- {} more notice(s) not recorded (cap)",
            c.notices_omitted
        )?;
    }
    if let Some(e) = &c.error {
        writeln!(out, "{}:  {} (SQLSTATE {})", e.severity, e.message, e.code)?;
    }
    writeln!(out, "Time: {:.3} ms", c.duration_us as f64 / 1000.0)
}

/// A result as psql's aligned format: a header, a rule, the rows, and the count.
fn write_result(out: &mut impl Write, r: &ResultRecord) -> io::Result<()> {
    if r.columns.is_empty() {
        if let Some(tag) = &r.tag
            && !tag.is_empty()
        {
            writeln!(out, "{tag}")?;
        }
        return Ok(());
    }
    let cell = |v: &Option<String>| v.as_deref().unwrap_or("").replace('\n', "\\n");
    let mut widths: Vec<usize> = r.columns.iter().map(|c| c.chars().count()).collect();
    for row in &r.rows {
        for (w, v) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell(v).chars().count());
        }
    }
    let header: Vec<String> = r
        .columns
        .iter()
        .zip(&widths)
        .map(|(c, &w)| {
            let pad = w - c.chars().count();
            let left = pad / 2;
            format!(" {}{}{} ", " ".repeat(left), c, " ".repeat(pad - left))
        })
        .collect();
    writeln!(out, "{}", header.join("|").trim_end())?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    writeln!(out, "{}", rule.join("+"))?;
    for row in &r.rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(v, &w)| {
                let v = cell(v);
                let pad = w.saturating_sub(v.chars().count());
                format!(" {v}{} ", " ".repeat(pad))
            })
            .collect();
        writeln!(out, "{}", cells.join("|").trim_end())?;
    }
    let count = r.row_count;
    let rows = if count == 1 { "row" } else { "rows" };
    if r.truncated || (r.rows.len() as u64) < count {
        writeln!(
            out,
            "({count} {rows}; {} recorded, {} bytes sent)",
            r.rows.len(),
            r.bytes
        )
    } else {
        writeln!(out, "({count} {rows})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_prints_like_psql_aligned_output() {
        let r = ResultRecord {
            columns: vec!["id".into(), "email".into()],
            rows: vec![
                vec![Some("1".into()), Some("[REDACTED:email]".into())],
                vec![Some("22".into()), None],
            ],
            row_count: 2,
            bytes: 19,
            truncated: false,
            tag: Some("SELECT 2".into()),
        };
        let mut out = Vec::new();
        write_result(&mut out, &r).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            " id |      email\n\
             ----+------------------\n \
             1  | [REDACTED:email]\n \
             22 |\n\
             (2 rows)\n"
        );
    }

    #[test]
    fn a_capped_result_says_how_much_was_kept() {
        let r = ResultRecord {
            columns: vec!["n".into()],
            rows: vec![vec![Some("1".into())]],
            row_count: 5000,
            bytes: 18894,
            truncated: true,
            tag: Some("COPY 5000".into()),
        };
        let mut out = Vec::new();
        write_result(&mut out, &r).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with("(5000 rows; 1 recorded, 18894 bytes sent)\n"),
            "{text}"
        );
    }
}
