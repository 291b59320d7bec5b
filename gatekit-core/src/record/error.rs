//! Errors reading a recording.

/// Why a recording's line could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// The line is longer than any recorder writes.
    #[error("recording line of {len} bytes exceeds the {max}-byte limit")]
    LineTooLong {
        /// The line's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The line is not a recording event.
    #[error("not a recording event: {detail}")]
    BadLine {
        /// What the JSON reader said.
        detail: String,
    },
}
