//! Reading a trail back: verifying every file in order, and following the newest one.

use std::fs::{self, File};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use gatekit_core::audit::{ChainHead, ChainKey, ChainVerifier, MAX_LINE_BYTES, VerifyError};

use super::AuditError;
use super::files::{LineEnd, read_line, trail_files};

/// Where a trail breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailBreak {
    /// The file holding the first bad record (for a checkpoint failure, the last file).
    pub file: PathBuf,
    /// The line in that file (from 1); 0 when the break is found at the trail's end
    /// (truncated tail, checkpoint mismatch).
    pub line: u64,
    /// What is wrong; [`VerifyError::seq`] is the first bad seq.
    pub error: VerifyError,
}

/// The outcome of verifying a whole trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The files read, in chain order.
    pub files: Vec<PathBuf>,
    /// The last verified record.
    pub head: ChainHead,
    /// The checkpoint checked against, if any.
    pub checkpoint: Option<ChainHead>,
    /// The first break, if any.
    pub broken: Option<TrailBreak>,
}

/// Verifies every trail file in `dir` in chain order, from seq 1, and against `checkpoint`.
/// I/O errors are errors; a broken chain is reported in [`VerifyReport::broken`].
pub fn verify_trail(
    dir: &Path,
    key: Option<ChainKey>,
    checkpoint: Option<ChainHead>,
) -> Result<VerifyReport, AuditError> {
    let files = trail_files(dir)?;
    let mut v = ChainVerifier::new(key);
    if let Some(cp) = checkpoint {
        v = v.with_checkpoint(cp);
    }
    let mut buf = Vec::new();
    let report = |v: &ChainVerifier, broken| VerifyReport {
        files: files.clone(),
        head: v.head(),
        checkpoint,
        broken,
    };
    for path in &files {
        let f = File::open(path).map_err(AuditError::io("open", path))?;
        let mut r = BufReader::with_capacity(256 * 1024, f);
        let mut line = 0u64;
        while let Some((_, how)) =
            read_line(&mut r, &mut buf, MAX_LINE_BYTES).map_err(AuditError::io("read", path))?
        {
            line += 1;
            let result = match how {
                LineEnd::Newline | LineEnd::Eof => v.push_line(&buf),
                LineEnd::TooLong { len } => Err(VerifyError::LineTooLong {
                    seq: v.next_seq(),
                    len,
                    max: MAX_LINE_BYTES - 1,
                }),
            };
            if let Err(error) = result {
                let broken = TrailBreak {
                    file: path.clone(),
                    line,
                    error,
                };
                return Ok(report(&v, Some(broken)));
            }
        }
    }
    let broken = v.finish().err().map(|error| TrailBreak {
        file: files
            .last()
            .cloned()
            .unwrap_or_else(|| dir.join(super::TRAIL_FILE)),
        line: 0,
        error,
    });
    Ok(report(&v, broken))
}

/// Follows a growing trail file across rotations: each [`Follower::poll`] returns the whole
/// lines appended since the last one.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    file: Option<(File, (u64, u64))>,
    offset: u64,
    partial: Vec<u8>,
    /// Inside a line longer than a record can be: it is dropped.
    skipping: bool,
}

/// At most this much is read per poll, so one poll stays bounded.
const POLL_BYTES: u64 = 8 << 20;

impl Follower {
    /// Follows `path` from byte `offset` (e.g. the end returned by [`super::last_lines`]).
    pub fn new(path: impl Into<PathBuf>, offset: u64) -> Follower {
        Follower {
            path: path.into(),
            file: None,
            offset,
            partial: Vec::new(),
            skipping: false,
        }
    }

    /// The whole lines appended since the last poll (each without its newline). When the
    /// file was rotated, the old file is read to its end first, then the new one from its
    /// start.
    pub fn poll(&mut self) -> Result<Vec<Vec<u8>>, AuditError> {
        let mut lines = Vec::new();
        if self.file.is_none() {
            match File::open(&self.path) {
                Ok(f) => {
                    let m = f.metadata().map_err(AuditError::io("stat", &self.path))?;
                    self.file = Some((f, (m.dev(), m.ino())));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(lines),
                Err(e) => return Err(AuditError::io("open", &self.path)(e)),
            }
        }
        self.read_new(&mut lines)?;
        let now = match fs::metadata(&self.path) {
            Ok(m) => Some((m.dev(), m.ino())),
            Err(_) => None,
        };
        if self.file.as_ref().map(|(_, id)| *id) != now {
            // Rotated: whatever the writer put in the old file before renaming it is there now.
            self.read_new(&mut lines)?;
            self.file = None;
            self.offset = 0;
            self.partial.clear();
            self.skipping = false;
        }
        Ok(lines)
    }

    fn read_new(&mut self, lines: &mut Vec<Vec<u8>>) -> Result<(), AuditError> {
        let Some((f, _)) = self.file.as_mut() else {
            return Ok(());
        };
        let len = f
            .metadata()
            .map_err(AuditError::io("stat", &self.path))?
            .len();
        if len < self.offset {
            // Cut back underneath us: start over at its end.
            self.offset = len;
            self.partial.clear();
            self.skipping = false;
            return Ok(());
        }
        f.seek(SeekFrom::Start(self.offset))
            .map_err(AuditError::io("seek", &self.path))?;
        let mut data = Vec::new();
        let n = f
            .take((len - self.offset).min(POLL_BYTES))
            .read_to_end(&mut data)
            .map_err(AuditError::io("read", &self.path))?;
        self.offset += n as u64;
        for piece in data.split_inclusive(|b| *b == b'\n') {
            match piece.strip_suffix(b"\n") {
                Some(rest) => {
                    let mut line = std::mem::take(&mut self.partial);
                    line.extend_from_slice(rest);
                    if !std::mem::take(&mut self.skipping) && line.len() < MAX_LINE_BYTES {
                        lines.push(line);
                    }
                }
                None if self.partial.len() + piece.len() < MAX_LINE_BYTES => {
                    self.partial.extend_from_slice(piece);
                }
                None => {
                    self.partial.clear();
                    self.skipping = true;
                }
            }
        }
        Ok(())
    }
}
