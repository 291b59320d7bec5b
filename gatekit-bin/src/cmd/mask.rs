//! `gatekit mask`: masks stdin to stdout, line by line, with one of the config's `[[mask]]`
//! profiles.

use std::io::{self, BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use gatekit_core::mask::{CellOutcome, ColumnRef, Masker, StreamMasker, ValueKind};

use crate::config::{Config, MaskConfig};

/// The longest line `--column` and `--json` take as one value; longer lines are cut into
/// pieces of this size.
const LINE_MAX: u64 = 1 << 20;

/// Arguments of `gatekit mask`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Reads stdin and writes it to stdout with the profile's detectors applied (a value split over
lines, such as a PEM key, is still found). Files and variables the profile needs are resolved:
`hash_key_env` for strategy = \"hash\", `terms_file` of the detectors it names.

Examples:
  kubectl logs deploy/api | gatekit mask --config gatekit.toml
  psql -At -c 'select ssn from people' | gatekit mask --config gatekit.toml --column ssn
  gatekit mask --config gatekit.toml --profile pii --json < dump.csv")]
pub struct MaskArgs {
    /// The configuration file.
    #[arg(long, short)]
    pub config: PathBuf,
    /// The `[[mask]]` profile to apply (default: the first one).
    #[arg(long)]
    pub profile: Option<String>,
    /// Treat every line as a value of this result column, so column rules apply too.
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,
    /// Print what was found (detector, byte offsets within the line) as JSON lines instead of
    /// the masked text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `gatekit mask` on stdin and stdout.
pub fn run(args: &MaskArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let masker = Arc::new(masker(config, args.profile.as_deref())?);
    mask(&masker, args, io::stdin().lock(), io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

/// Compiles a profile of `config` (the first one without a name), resolving its hash key and
/// the terms files of the detectors it uses.
pub fn masker(config: &Config, profile: Option<&str>) -> anyhow::Result<Masker> {
    let profiles: Vec<&MaskConfig> = config.masks.iter().map(|m| m.get_ref()).collect();
    let chosen = match profile {
        Some(name) => profiles.iter().find(|m| m.name.get_ref() == name),
        None => profiles.first(),
    };
    let Some(mask) = chosen else {
        let names: Vec<&str> = profiles.iter().map(|m| m.name.get_ref().as_str()).collect();
        anyhow::bail!(match profile {
            Some(name) => format!("no [[mask]] profile named `{name}` (the config has: {names:?})"),
            None => "the config has no [[mask]] profile".to_owned(),
        });
    };
    Ok(crate::config::masks::compile_mask(config, mask)?)
}

/// Masks `input` into `output`: as a stream, or line by line for `--column` and `--json`.
fn mask(
    masker: &Arc<Masker>,
    args: &MaskArgs,
    mut input: impl BufRead,
    mut output: impl Write,
) -> anyhow::Result<()> {
    if args.column.is_none() && !args.json {
        let mut stream = StreamMasker::new(Arc::clone(masker));
        let mut out = Vec::new();
        loop {
            let chunk = input.fill_buf().context("reading stdin")?;
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len();
            stream.push(chunk, &mut out);
            input.consume(n);
            output.write_all(&out)?;
            output.flush()?;
            out.clear();
        }
        stream.finish(&mut out);
        output.write_all(&out)?;
        return Ok(output.flush()?);
    }
    let column = args
        .column
        .as_deref()
        .map(|name| masker.column(&ColumnRef::named(name), ValueKind::Text));
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        input
            .by_ref()
            .take(LINE_MAX)
            .read_until(b'\n', &mut line)
            .context("reading stdin")?;
        if line.is_empty() {
            break;
        }
        let body_len = line.strip_suffix(b"\n").map_or(line.len(), <[u8]>::len);
        let (body, end) = line.split_at(body_len);
        if args.json {
            for f in findings(masker, column.as_ref(), body) {
                let record = serde_json::json!({
                    "line": number,
                    "detector": f.0,
                    "start": f.1,
                    "end": f.2,
                });
                writeln!(output, "{record}")?;
            }
        } else if let Some(column) = &column {
            match masker.mask_cell(column, body) {
                CellOutcome::Masked(masked) => output.write_all(&masked)?,
                _ => output.write_all(body)?,
            }
            output.write_all(end)?;
        }
        output.flush()?;
    }
    Ok(())
}

/// What `--json` reports for one line: `(detector, start, end)`.
fn findings<'m>(
    masker: &'m Masker,
    column: Option<&gatekit_core::mask::Column>,
    value: &[u8],
) -> Vec<(&'m str, usize, usize)> {
    if column.is_some_and(|c| c.masked_whole()) {
        return vec![("column", 0, value.len())];
    }
    masker
        .find(value)
        .into_iter()
        .map(|f| (f.detector, f.start, f.end))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const EXAMPLE: &str = include_str!("../../examples/gatekit.toml");

    fn config(text: &str, dir: &Path) -> Config {
        Config::parse(text, &dir.join("gatekit.toml"), dir).unwrap_or_else(|e| panic!("{e}"))
    }

    fn args(column: Option<&str>, json: bool) -> MaskArgs {
        MaskArgs {
            config: PathBuf::from("gatekit.toml"),
            profile: None,
            column: column.map(str::to_owned),
            json,
        }
    }

    fn run_on(config: &Config, args: &MaskArgs, input: &str) -> String {
        let masker =
            Arc::new(masker(config, args.profile.as_deref()).unwrap_or_else(|e| panic!("{e:#}")));
        let mut out = Vec::new();
        mask(&masker, args, input.as_bytes(), &mut out).unwrap_or_else(|e| panic!("{e:#}"));
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn masks_text_with_the_first_profile() {
        let c = config(EXAMPLE, Path::new("/nonexistent"));
        let out = run_on(
            &c,
            &args(None, false),
            "paid 4111 1111 1111 1111 by EMP-004211\nmail jane@example.com\nnothing here\n",
        );
        assert_eq!(
            out,
            "paid [REDACTED:credit_card] by [REDACTED:employee_id]\nmail [REDACTED:email]\nnothing here\n"
        );
    }

    #[test]
    fn column_rules_apply_to_every_line() {
        let c = config(EXAMPLE, Path::new("/nonexistent"));
        let out = run_on(&c, &args(Some("ssn"), false), "anything\n234-56-7890\n");
        assert_eq!(out, "[REDACTED:column]\n[REDACTED:column]\n");
        let out = run_on(
            &c,
            &args(Some("note"), false),
            "anything\nmail bob@example.com",
        );
        assert_eq!(out, "anything\nmail [REDACTED:email]");
    }

    #[test]
    fn json_reports_detectors_and_offsets() {
        let c = config(EXAMPLE, Path::new("/nonexistent"));
        let out = run_on(
            &c,
            &args(None, true),
            "ok\nmail bob@example.com, SSN 234-56-7890\n",
        );
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_default())
            .collect();
        assert_eq!(
            lines,
            [
                serde_json::json!({"line": 2, "detector": "email", "start": 5, "end": 20}),
                serde_json::json!({"line": 2, "detector": "us_ssn", "start": 26, "end": 37}),
            ]
        );
    }

    #[test]
    fn profiles_and_terms_files_are_resolved() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let text = EXAMPLE.replace(
            "detectors = [\"credit_card\", \"email\", \"us_ssn\", \"iban\", \"phone\", \"employee_id\"]",
            "detectors = [\"email\", \"codenames\"]",
        );
        assert_ne!(text, EXAMPLE, "the example's detector list changed");
        let c = config(&text, dir.path());
        let err = masker(&c, None)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(err.contains("codenames.txt"), "{err}");
        std::fs::write(
            dir.path().join("codenames.txt"),
            "# codenames\nBlue Heron\nfalcon\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let out = run_on(&c, &args(None, false), "project FALCON and blue heron\n");
        assert_eq!(
            out,
            "project [REDACTED:codenames] and [REDACTED:codenames]\n"
        );
        let mut named = args(None, false);
        named.profile = Some("nope".into());
        let err = masker(&c, named.profile.as_deref())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("no [[mask]] profile named `nope`") && err.contains("pii"),
            "{err}"
        );
    }
}
