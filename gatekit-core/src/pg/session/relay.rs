//! The relay: messages both ways, and the statements the caller decides on.

use std::sync::Arc;

use bytes::Bytes;
use jiff::Timestamp;

use super::copy::CopySpec;
use super::{Event, Session, State};
use crate::pg::codec::encode::{ErrorBuilder, MessageWriter, Severity};
use crate::pg::codec::{BackendMessage, Frame, FrontendMessage};
use crate::pg::error::{PgError, Side};

/// The statement text sent to the server in place of a denied statement.
const STAND_IN: &[u8] = b"gatekit_denied";

/// What kind of message carried a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatementKind {
    /// A simple-protocol `Query` (possibly several statements).
    Simple,
    /// An extended-protocol `Parse` of the named statement (empty = unnamed).
    Parse {
        /// Statement name.
        name: Bytes,
    },
    /// A fast-path `FunctionCall` of the function with this OID (no text).
    FunctionCall {
        /// Function OID.
        function: u32,
    },
}

/// A statement the caller must decide on before it reaches the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementRequest {
    /// Identifies the answer ([`Session::handle_decision`](super::Session::handle_decision)).
    /// It is also the command's number in the session (from 1), which its
    /// [`Outcome::command`](super::Outcome::command) repeats.
    pub id: u64,
    /// Which message carried it.
    pub kind: StatementKind,
    /// The statement text, exactly as sent (in the client's encoding).
    pub sql: Bytes,
    /// Why the session refuses this statement whatever the decision, if it does: a COPY
    /// whose data it cannot read under the session's column rules (an unsupported
    /// `ENCODING`, a multi-byte delimiter…). Record it as denied with this reason.
    pub refusal: Option<String>,
}

/// The caller's decision on a statement.
///
/// # Statements
///
/// Every `Query`, `Parse` and `FunctionCall` from the client becomes an
/// [`Event::Statement`](super::Event::Statement) and is held, with everything the client sends after it, until the
/// caller answers with [`Session::handle_decision`](super::Session::handle_decision). Backend traffic keeps flowing
/// meanwhile. An allowed statement is forwarded as the original bytes.
///
/// # Denials, and why the server sees them
///
/// A denied statement does not reach the server, but the server is made to fail in its
/// place: the gateway sends a `Query` (for a denied `Query` or `FunctionCall`) or a `Parse`
/// under the same statement name (for a denied `Parse`) whose text is the bare word
/// `gatekit_denied`. PostgreSQL answers with a syntax error before touching anything, and
/// the gateway replaces that error with its own `ERROR 42501` naming the rule and the
/// reason. So a denial behaves exactly like a statement that failed on the server:
///
/// - the ErrorResponse arrives in order, after the answers to earlier pipelined messages;
/// - an explicit transaction goes to the failed state on both sides, and an implicit one
///   (an extended-protocol batch without BEGIN) is rolled back on both sides — the
///   client's and the server's view of the transaction never differ;
/// - in the extended protocol the gateway discards the client's messages up to the next
///   `Sync` (forwarding the `Sync`), as the server itself would after an error; a denied
///   named statement is never created, so a later `Bind`/`Execute` cannot run it.
///
/// If an earlier message of the same batch already failed on the server, the server skips
/// the stand-in and the client sees that earlier error only, as it would without the
/// gateway.
///
/// # Holds
///
/// [`Decision::Hold`] is not an answer but a postponement: the client is sent a
/// `NoticeResponse` at once (asynchronous notices are allowed at any point of the
/// protocol, and every client library passes them on), and the statement stays held
/// until a later [`Session::handle_decision`](super::Session::handle_decision) with the
/// same id brings [`Decision::Allow`] or [`Decision::Deny`]. Nothing of the statement
/// reached the server, so an open transaction simply stays open. Meanwhile the session
/// keeps relaying the server's asynchronous messages and buffers what the client pipelines
/// behind the statement, up to [`Limits::pipeline`](crate::pg::Limits) bytes (beyond
/// that the session ends with `PipelineTooLong`); after the final decision the buffered
/// messages are processed in order. A client that hangs up while held ends the session
/// as usual; the driver then withdraws the request it made for the approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Forward it.
    Allow,
    /// Keep it waiting for a person's approval; tell the client `notice`.
    Hold {
        /// The approval the statement waits for (for the driver and diagnostics).
        approval: String,
        /// The notice shown to the client, e.g. `awaiting approval … from dba`.
        notice: String,
    },
    /// Refuse it: the client gets `ERROR 42501` with the rule and the reason.
    Deny {
        /// The rule that denied it, if one did.
        rule: Option<String>,
        /// Why, shown to the client.
        reason: String,
    },
}

pub(super) struct Held {
    id: u64,
    frame: Frame,
    /// The approval it waits for, once the caller answered [`Decision::Hold`].
    approval: Option<String>,
    /// Its COPY statements under column rules, or why it is refused whatever the decision.
    copies: Result<Option<Vec<Arc<CopySpec>>>, String>,
}

fn deny_message(rule: Option<&str>, reason: &str) -> String {
    match rule {
        Some(rule) => format!("gatekit denied this statement (rule `{rule}`): {reason}"),
        None => format!("gatekit denied this statement: {reason}"),
    }
}

impl Session {
    /// The approval the held statement waits for, if one is waiting on a person.
    pub fn awaiting_approval(&self) -> Option<&str> {
        self.held.as_ref().and_then(|h| h.approval.as_deref())
    }

    /// Ends the session from outside the protocol (an operator's kill, a revoked token,
    /// a shutdown): the client gets `FATAL 57P01` with `reason`, the server a Terminate.
    /// Always returns the resulting [`PgError::Terminated`].
    pub fn handle_terminate(&mut self, now: Timestamp, reason: &str) -> PgError {
        self.record_clock(now);
        if let Some(e) = &self.error {
            return e.clone();
        }
        if self.state == State::Closed {
            return PgError::Terminated {
                reason: reason.to_owned(),
            };
        }
        self.fail(PgError::Terminated {
            reason: reason.to_owned(),
        })
    }

    /// The answer to [`Event::Statement`](super::Event::Statement) with the same id.
    pub fn handle_decision(
        &mut self,
        now: Timestamp,
        id: u64,
        decision: Decision,
    ) -> Result<(), PgError> {
        self.check()?;
        let held = match self.held.take() {
            Some(h) if h.id == id && self.state == State::Ready => h,
            other => {
                self.held = other;
                let e = PgError::BadInput {
                    input: "handle_decision",
                    state: self.state.name(),
                };
                return Err(self.fail(e));
            }
        };
        // A COPY the gateway could not read the data of under column rules is refused.
        let mut copies = None;
        let decision = match decision {
            Decision::Allow => match &held.copies {
                Ok(specs) => {
                    copies = specs.clone();
                    Decision::Allow
                }
                Err(reason) => Decision::Deny {
                    rule: None,
                    reason: reason.clone(),
                },
            },
            other => other,
        };
        match decision {
            Decision::Hold { approval, notice } => {
                ErrorBuilder::new(Severity::Notice, "00000", &notice).encode(&mut self.to_client);
                self.held = Some(Held {
                    approval: Some(approval),
                    ..held
                });
                return Ok(());
            }
            Decision::Allow => {
                self.record_clock(now);
                self.record_decision(&held.frame, true);
                self.outcome.decided(held.id, true);
                self.to_upstream.extend_from_slice(held.frame.raw());
                if let Some(specs) = copies {
                    let r = self.attach_copies(specs);
                    self.settle(r)?;
                }
            }
            Decision::Deny { rule, reason } => {
                self.record_clock(now);
                self.record_decision(&held.frame, false);
                self.outcome.decided(held.id, false);
                self.denials
                    .push_back(deny_message(rule.as_deref(), &reason));
                match held.frame.frontend()? {
                    FrontendMessage::Parse { statement, .. } => {
                        MessageWriter::new(&mut self.to_upstream, b'P')
                            .cstr(statement)
                            .cstr(STAND_IN)
                            .u16(0)
                            .finish();
                        self.discard_until_sync = true;
                    }
                    _ => {
                        MessageWriter::new(&mut self.to_upstream, b'Q')
                            .cstr(STAND_IN)
                            .finish();
                    }
                }
            }
        }
        let r = self.relay_client(now);
        self.settle(r)
    }

    pub(super) fn relay_client(&mut self, _now: Timestamp) -> Result<(), PgError> {
        while self.held.is_none() {
            let Some(frame) = Frame::decode_frontend(&mut self.client_in, &self.config.limits)?
            else {
                return Ok(());
            };
            let tag = frame.tag();
            if tag == b'X' {
                self.to_upstream.extend_from_slice(frame.raw());
                self.close();
                return Ok(());
            }
            if self.discard_until_sync {
                if tag == b'S' {
                    self.discard_until_sync = false;
                    self.to_upstream.extend_from_slice(frame.raw());
                }
                continue;
            }
            match tag {
                b'p' => return Err(self.unexpected(Side::Client, b'p')),
                b'Q' | b'P' | b'F' => {
                    let (kind, sql) = match frame.frontend()? {
                        FrontendMessage::Query { sql } => {
                            (StatementKind::Simple, frame.raw().slice_ref(sql))
                        }
                        FrontendMessage::Parse { statement, sql, .. } => (
                            StatementKind::Parse {
                                name: frame.raw().slice_ref(statement),
                            },
                            frame.raw().slice_ref(sql),
                        ),
                        FrontendMessage::FunctionCall { function } => {
                            (StatementKind::FunctionCall { function }, Bytes::new())
                        }
                        _ => return Err(self.unexpected(Side::Client, tag)),
                    };
                    let id = self.next_statement;
                    self.next_statement += 1;
                    let copies = self.copy_specs_for(&frame);
                    self.events.push_back(Event::Statement(StatementRequest {
                        id,
                        kind,
                        sql,
                        refusal: copies.as_ref().err().cloned(),
                    }));
                    self.held = Some(Held {
                        id,
                        frame,
                        approval: None,
                        copies,
                    });
                }
                _ => self.to_upstream.extend_from_slice(frame.raw()),
            }
        }
        // Held: what the client pipelines behind the statement waits, within a bound.
        if self.client_in.len() > self.config.limits.pipeline {
            return Err(PgError::PipelineTooLong {
                max: self.config.limits.pipeline,
            });
        }
        Ok(())
    }

    pub(super) fn relay_upstream(&mut self, now: Timestamp) -> Result<(), PgError> {
        if self.masked_relay() {
            return self.relay_masked(now);
        }
        while let Some(frame) = Frame::decode_backend(&mut self.upstream_in, &self.config.limits)? {
            match frame.tag() {
                b'R' | b'K' | b'v' => return Err(self.unexpected(Side::Upstream, frame.tag())),
                b'S' => {
                    super::mask::check_parameter(&frame)?;
                    self.to_client.extend_from_slice(frame.raw());
                }
                b'Z' => {
                    if let Some(&status) = frame.body().first() {
                        self.transaction_status = status;
                    }
                    // Denials the server skipped (an earlier error in the batch) are void.
                    self.denials.clear();
                    self.to_client.extend_from_slice(frame.raw());
                }
                b'E' if !self.denials.is_empty() && is_stand_in_error(&frame) => {
                    let message = self.denials.pop_front().unwrap_or_default();
                    ErrorBuilder::new(Severity::Error, "42501", &message)
                        .encode(&mut self.to_client);
                }
                _ => self.to_client.extend_from_slice(frame.raw()),
            }
        }
        Ok(())
    }
}

/// Whether a server error is the syntax error the stand-in statement provokes.
pub(super) fn is_stand_in_error(frame: &Frame) -> bool {
    let Ok(BackendMessage::ErrorResponse(f)) = frame.backend() else {
        return false;
    };
    f.get(b'C') == Some(b"42601")
        && f.get(b'M')
            .is_some_and(|m| m.windows(STAND_IN.len()).any(|w| w == STAND_IN))
}
