//! The trail's files: names, order, and reading lines with a size cap.

use std::fs;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::AuditError;

/// The file being appended to.
pub const TRAIL_FILE: &str = "audit.jsonl";
/// The checkpoint file beside it.
pub const HEAD_FILE: &str = "audit.head";

/// The name a full `audit.jsonl` is renamed to: its first record's seq, zero-padded to 20
/// digits so that names sort in chain order (`audit-00000000000000000001.jsonl`).
pub fn rotated_name(first_seq: u64) -> String {
    format!("audit-{first_seq:020}.jsonl")
}

/// The first seq encoded in a rotated file's name.
fn rotated_seq(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The rotated files in `dir`, by first seq.
pub fn rotated_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, AuditError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(AuditError::io("list", dir))? {
        let entry = entry.map_err(AuditError::io("list", dir))?;
        if let Some(seq) = entry.file_name().to_str().and_then(rotated_seq) {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Every trail file in `dir` in chain order: the rotated files, then `audit.jsonl` if it exists.
pub fn trail_files(dir: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let mut files: Vec<PathBuf> = rotated_files(dir)?.into_iter().map(|(_, p)| p).collect();
    let current = dir.join(TRAIL_FILE);
    match fs::symlink_metadata(&current) {
        Ok(_) => files.push(current),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(AuditError::io("open", current)(e)),
    }
    Ok(files)
}

/// How a line read with [`read_line`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnd {
    /// With a newline (not kept in the buffer).
    Newline,
    /// At the end of the input without a newline: a torn or still-growing last line.
    Eof,
    /// Longer than the cap: the buffer holds its first `max` bytes, the rest was skipped up to
    /// and including its newline. `len` is the line's full length.
    TooLong {
        /// The line's length without its newline.
        len: usize,
    },
}

/// Reads one line into `buf` (cleared first, newline not kept), storing at most `max` bytes.
/// Returns the line's length on input (newline included) and how it ended, or `None` at the
/// end of the input.
pub fn read_line(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<(u64, LineEnd)>> {
    buf.clear();
    let mut len = 0usize;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(match len {
                0 => None,
                _ if len > max => Some((len as u64, LineEnd::TooLong { len })),
                _ => Some((len as u64, LineEnd::Eof)),
            });
        }
        let (part, found) = match memchr(chunk) {
            Some(i) => (&chunk[..i], true),
            None => (chunk, false),
        };
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&part[..part.len().min(room)]);
        len += part.len();
        let used = part.len() + usize::from(found);
        r.consume(used);
        if found {
            let end = if len > max {
                LineEnd::TooLong { len }
            } else {
                LineEnd::Newline
            };
            return Ok(Some((len as u64 + 1, end)));
        }
    }
}

fn memchr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == b'\n')
}

/// The last `n` whole lines of a file (newline-terminated; a torn last line is left out),
/// oldest first, each without its newline, plus the offset just after the last whole line.
/// Reads backwards, at most about `(n + 1) * max` bytes; lines longer than `max` are left out.
pub fn last_lines(path: &Path, n: usize, max: usize) -> Result<(Vec<Vec<u8>>, u64), AuditError> {
    const CHUNK: u64 = 64 * 1024;
    let mut f = fs::File::open(path).map_err(AuditError::io("open", path))?;
    let size = f.metadata().map_err(AuditError::io("stat", path))?.len();
    let budget = (n as u64).saturating_add(1).saturating_mul(max as u64);
    let mut chunk = vec![0u8; CHUNK as usize];
    let mut pos = size;
    let mut end: Option<u64> = None;
    let mut start = 0u64;
    let mut mid_line = false;
    let mut found = 0usize;
    'scan: while pos > 0 {
        if size - pos > budget {
            start = pos;
            mid_line = true;
            break;
        }
        let from = pos.saturating_sub(CHUNK);
        let got = &mut chunk[..(pos - from) as usize];
        f.seek(SeekFrom::Start(from))
            .map_err(AuditError::io("seek", path))?;
        f.read_exact(got).map_err(AuditError::io("read", path))?;
        for (i, b) in got.iter().enumerate().rev() {
            if *b != b'\n' {
                continue;
            }
            let after = from + i as u64 + 1;
            if end.is_none() {
                end = Some(after);
            } else {
                found += 1;
                if found == n {
                    start = after;
                    break 'scan;
                }
            }
        }
        pos = from;
    }
    let Some(end) = end else {
        return Ok((Vec::new(), 0));
    };
    if n == 0 || start >= end {
        return Ok((Vec::new(), end));
    }
    f.seek(SeekFrom::Start(start))
        .map_err(AuditError::io("seek", path))?;
    let mut r = io::BufReader::new(f.take(end - start));
    let mut lines = Vec::new();
    let mut buf = Vec::new();
    while let Some((_, how)) =
        read_line(&mut r, &mut buf, max).map_err(AuditError::io("read", path))?
    {
        if std::mem::take(&mut mid_line) {
            continue;
        }
        if how == LineEnd::Newline {
            lines.push(std::mem::take(&mut buf));
        }
    }
    let skip = lines.len().saturating_sub(n);
    lines.drain(..skip);
    Ok((lines, end))
}
