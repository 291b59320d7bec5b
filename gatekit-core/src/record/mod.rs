//! Session recordings: the replayable transcript of a session, as JSON lines
//! (`sessions/<id>.jsonl` under the audit directory).
//!
//! A recording starts with a [`StartRecord`] line, has one [`CommandRecord`] per command
//! with the response the client saw (masked values, never the raw ones), capped per
//! command by [`RecordLimits`], and ends with an [`EndRecord`] line. [`SqlRecorder`]
//! makes the lines of a PostgreSQL session from its traffic; nothing here touches a file
//! or the clock. [`parse_line`] reads a line back.

mod command;
mod error;
mod event;
mod sql;

#[cfg(test)]
mod tests;

pub use command::RecordLimits;
pub use error::RecordError;
pub use event::{
    CommandKind, CommandRecord, EndRecord, ErrorRecord, MessageRecord, RecordEvent,
    RecordedVerdict, ResultRecord, StartRecord, value_text,
};
pub use sql::SqlRecorder;

/// Lines longer than this are refused by [`parse_line`].
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// Reads one line of a recording (without or with its newline).
pub fn parse_line(line: &[u8]) -> Result<RecordEvent, RecordError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(RecordError::LineTooLong {
            len: line.len(),
            max: MAX_LINE_BYTES,
        });
    }
    serde_json::from_slice(line).map_err(|e| RecordError::BadLine {
        detail: e.to_string(),
    })
}
