//! Opening a trail: where the chain stands, checked against the checkpoint.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;

use gatekit_core::audit::{
    AuditRecord, ChainHead, ChainKey, ChainVerifier, MAX_LINE_BYTES, VerifyError, line_hash,
};

use super::files::{LineEnd, TRAIL_FILE, last_lines, read_line, rotated_files};
use super::{AuditError, HeadStore};

/// An opened trail, ready to append to.
pub(super) struct Resumed {
    pub file: File,
    /// Bytes of whole records in `audit.jsonl`.
    pub len: u64,
    /// The seq of `audit.jsonl`'s first record (the next seq when it is empty).
    pub first_seq: u64,
    /// The last record.
    pub head: ChainHead,
    /// The checkpoint as stored (after a fresh start: genesis).
    pub checkpoint: ChainHead,
}

/// Opens (creating) the trail in `dir`, verifies `audit.jsonl` from the chain's state at the
/// end of the newest rotated file, cuts a torn last line, and checks the checkpoint.
pub(super) fn resume(
    dir: &Path,
    key: Option<&ChainKey>,
    store: &mut dyn HeadStore,
) -> Result<Resumed, AuditError> {
    fs::create_dir_all(dir).map_err(AuditError::io("create directory", dir))?;
    let checkpoint = store.load()?;
    let anchor = match rotated_files(dir)?.last() {
        Some((_, path)) => last_head(path, key)?,
        None => ChainHead::GENESIS,
    };
    let path = dir.join(TRAIL_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)
        .map_err(AuditError::io("open", &path))?;
    let meta = file.metadata().map_err(AuditError::io("stat", &path))?;
    if !meta.is_file() {
        return Err(AuditError::NotAFile { path });
    }

    let mut verifier = ChainVerifier::resume(anchor, key.cloned());
    if let Some(cp) = checkpoint {
        verifier = verifier.with_checkpoint(cp);
    }
    let mut len = 0u64;
    let mut line_no = 0u64;
    let mut torn = false;
    {
        let mut r = BufReader::with_capacity(256 * 1024, &file);
        let mut buf = Vec::new();
        while let Some((n, how)) =
            read_line(&mut r, &mut buf, MAX_LINE_BYTES).map_err(AuditError::io("read", &path))?
        {
            line_no += 1;
            let broken = |source| match source {
                VerifyError::CheckpointMismatch { .. } => AuditError::Checkpoint {
                    head: store.describe(),
                    source,
                },
                source => AuditError::Broken {
                    path: path.clone(),
                    line: line_no,
                    source,
                },
            };
            match how {
                LineEnd::Newline => verifier.push_line(&buf).map_err(broken)?,
                LineEnd::TooLong { len } => {
                    return Err(broken(VerifyError::LineTooLong {
                        seq: verifier.next_seq(),
                        len,
                        max: MAX_LINE_BYTES - 1,
                    }));
                }
                LineEnd::Eof => {
                    torn = true;
                    break;
                }
            }
            len += n;
        }
    }
    if torn {
        tracing::warn!(
            path = %path.display(),
            offset = len,
            "cutting a torn last line (a write interrupted by a crash)"
        );
        file.set_len(len)
            .map_err(AuditError::io("truncate", &path))?;
        file.sync_data().map_err(AuditError::io("fsync", &path))?;
    }
    file.seek(SeekFrom::End(0))
        .map_err(AuditError::io("seek", &path))?;

    let head = verifier.finish().map_err(|source| AuditError::Checkpoint {
        head: store.describe(),
        source,
    })?;
    let checkpoint = match checkpoint {
        Some(cp) => cp,
        None if head.seq > 0 => {
            return Err(AuditError::CheckpointMissing {
                head: store.describe(),
                last_seq: head.seq,
            });
        }
        None => {
            store.store(&ChainHead::GENESIS)?;
            ChainHead::GENESIS
        }
    };
    Ok(Resumed {
        file,
        len,
        first_seq: anchor.seq + 1,
        head,
        checkpoint,
    })
}

/// The chain's state after the last record of a (rotated) file.
fn last_head(path: &Path, key: Option<&ChainKey>) -> Result<ChainHead, AuditError> {
    let (lines, _) = last_lines(path, 1, MAX_LINE_BYTES)?;
    let broken = |source| AuditError::Broken {
        path: path.to_owned(),
        line: 0,
        source,
    };
    let Some(line) = lines.last() else {
        return Err(broken(VerifyError::BadRecord {
            seq: 0,
            detail: "a rotated trail file holds no whole record".into(),
        }));
    };
    let record = AuditRecord::parse(line).map_err(broken)?;
    Ok(ChainHead {
        seq: record.seq,
        hash: line_hash(key, line),
    })
}
