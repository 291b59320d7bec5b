//! The tamper-evident audit trail: hash-chained JSON lines, encoded and verified.
