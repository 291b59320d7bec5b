//! Typed views of frontend (client → server) messages after the startup phase.

use super::Limits;
use super::reader::Reader;
use crate::pg::error::{PgError, Side, Tag};

/// The cap for a frontend message type, or `None` when the type is unknown.
pub(super) fn cap(tag: u8, limits: &Limits) -> Option<usize> {
    Some(match tag {
        b'Q' | b'P' => limits.statement,
        b'B' | b'F' => limits.bind,
        b'd' => limits.copy_data,
        b'p' => limits.auth,
        b'D' | b'E' | b'C' | b'f' => limits.control,
        b'S' | b'H' | b'X' | b'c' => 4,
        _ => return None,
    })
}

/// What a Describe or Close refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A prepared statement (`S`).
    Statement,
    /// A portal (`P`).
    Portal,
}

/// A frontend message, borrowing from its [`Frame`](super::Frame). Statement text and names
/// are the exact bytes sent (PostgreSQL does not require them to be UTF-8 in every encoding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrontendMessage<'a> {
    /// Simple query: one or more statements.
    Query {
        /// The statement text.
        sql: &'a [u8],
    },
    /// Extended protocol: prepare a statement.
    Parse {
        /// Statement name (empty = the unnamed statement).
        statement: &'a [u8],
        /// The statement text.
        sql: &'a [u8],
        /// Number of parameter type OIDs given.
        param_types: u16,
    },
    /// Extended protocol: bind parameters to a statement, making a portal.
    Bind(Bind<'a>),
    /// Extended protocol: describe a statement or portal.
    Describe {
        /// Statement or portal.
        target: Target,
        /// Its name.
        name: &'a [u8],
    },
    /// Extended protocol: run a portal.
    Execute {
        /// Portal name.
        portal: &'a [u8],
        /// Row limit, 0 = none.
        max_rows: u32,
    },
    /// Extended protocol: close a statement or portal.
    Close {
        /// Statement or portal.
        target: Target,
        /// Its name.
        name: &'a [u8],
    },
    /// End of an extended-protocol batch.
    Sync,
    /// Asks the server to send what it has.
    Flush,
    /// COPY data.
    CopyData(&'a [u8]),
    /// End of COPY FROM STDIN data.
    CopyDone,
    /// Aborts COPY FROM STDIN.
    CopyFail {
        /// The reason given.
        message: &'a [u8],
    },
    /// Fast-path function call.
    FunctionCall {
        /// The function's OID.
        function: u32,
    },
    /// Ends the session.
    Terminate,
    /// A password, GSS or SASL response (`p`); its meaning depends on what was asked.
    AuthResponse(&'a [u8]),
}

/// A Bind message: names, parameter formats and values, result formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bind<'a> {
    /// Destination portal (empty = unnamed).
    pub portal: &'a [u8],
    /// Source statement (empty = unnamed).
    pub statement: &'a [u8],
    param_formats: &'a [u8],
    param_count: u16,
    params: &'a [u8],
    result_formats: &'a [u8],
}

impl<'a> Bind<'a> {
    /// Number of parameter values.
    pub fn param_count(&self) -> u16 {
        self.param_count
    }

    /// The parameter values in order (`None` = SQL NULL).
    pub fn params(&self) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
        let mut r = Reader::new(self.params);
        (0..self.param_count).map_while(move |_| {
            let len = r.i32()?;
            if len < 0 {
                Some(None)
            } else {
                r.take(len as usize).map(Some)
            }
        })
    }

    /// Whether parameter `i` is sent in binary format.
    pub fn param_is_binary(&self, i: usize) -> bool {
        format_at(self.param_formats, i)
    }

    /// Whether result column `i` is requested in binary format.
    pub fn result_is_binary(&self, i: usize) -> bool {
        format_at(self.result_formats, i)
    }

    /// The result format codes as sent: none (all text), one for every column, or one per
    /// column, each a big-endian `u16`.
    pub fn result_formats(&self) -> &'a [u8] {
        self.result_formats
    }
}

/// Format codes: none = all text, one = for all, else one per column.
fn format_at(codes: &[u8], i: usize) -> bool {
    let n = codes.len() / 2;
    let at = if n == 1 { 0 } else { i };
    if n == 0 {
        return false;
    }
    match codes.get(at * 2..at * 2 + 2) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]) == 1,
        _ => false,
    }
}

fn formats<'a>(
    r: &mut Reader<'a>,
    err: &impl Fn(&'static str) -> PgError,
) -> Result<&'a [u8], PgError> {
    let n = r.u16().ok_or_else(|| err("format count missing"))?;
    let codes = r
        .take(usize::from(n) * 2)
        .ok_or_else(|| err("format codes truncated"))?;
    if codes.chunks_exact(2).any(|c| c != [0, 0] && c != [0, 1]) {
        return Err(err("format code is neither 0 (text) nor 1 (binary)"));
    }
    Ok(codes)
}

/// Walks `n` length-prefixed values, returning the region they span.
fn values<'a>(
    r: &mut Reader<'a>,
    n: u16,
    err: &impl Fn(&'static str) -> PgError,
) -> Result<&'a [u8], PgError> {
    let start = r.rest();
    for _ in 0..n {
        let len = r.i32().ok_or_else(|| err("value length missing"))?;
        if len < -1 {
            return Err(err("negative value length"));
        }
        if len > 0 {
            r.take(len as usize)
                .ok_or_else(|| err("value runs past the message"))?;
        }
    }
    let used = start.len() - r.rest().len();
    Ok(start.get(..used).unwrap_or_default())
}

fn target(b: u8, err: &impl Fn(&'static str) -> PgError) -> Result<Target, PgError> {
    match b {
        b'S' => Ok(Target::Statement),
        b'P' => Ok(Target::Portal),
        _ => Err(err("target is neither 'S' nor 'P'")),
    }
}

impl<'a> FrontendMessage<'a> {
    /// Parses a body of the given type.
    pub fn parse(tag: u8, body: &'a [u8]) -> Result<Self, PgError> {
        let err = |what| PgError::Malformed {
            side: Side::Client,
            tag: Tag(tag),
            what,
        };
        let mut r = Reader::new(body);
        let msg = match tag {
            b'Q' => FrontendMessage::Query {
                sql: r
                    .cstr()
                    .ok_or_else(|| err("query text is not NUL-terminated"))?,
            },
            b'P' => {
                let statement = r.cstr().ok_or_else(|| err("statement name unterminated"))?;
                let sql = r.cstr().ok_or_else(|| err("query text unterminated"))?;
                let param_types = r.u16().ok_or_else(|| err("parameter count missing"))?;
                r.take(usize::from(param_types) * 4)
                    .ok_or_else(|| err("parameter types truncated"))?;
                FrontendMessage::Parse {
                    statement,
                    sql,
                    param_types,
                }
            }
            b'B' => {
                let portal = r.cstr().ok_or_else(|| err("portal name unterminated"))?;
                let statement = r.cstr().ok_or_else(|| err("statement name unterminated"))?;
                let param_formats = formats(&mut r, &err)?;
                let param_count = r.u16().ok_or_else(|| err("parameter count missing"))?;
                let nf = param_formats.len() / 2;
                if nf > 1 && nf != usize::from(param_count) {
                    return Err(err("parameter format count does not match parameter count"));
                }
                let params = values(&mut r, param_count, &err)?;
                let result_formats = formats(&mut r, &err)?;
                FrontendMessage::Bind(Bind {
                    portal,
                    statement,
                    param_formats,
                    param_count,
                    params,
                    result_formats,
                })
            }
            b'D' | b'C' => {
                let t = target(r.u8().ok_or_else(|| err("target missing"))?, &err)?;
                let name = r.cstr().ok_or_else(|| err("name unterminated"))?;
                if tag == b'D' {
                    FrontendMessage::Describe { target: t, name }
                } else {
                    FrontendMessage::Close { target: t, name }
                }
            }
            b'E' => FrontendMessage::Execute {
                portal: r.cstr().ok_or_else(|| err("portal name unterminated"))?,
                max_rows: r.u32().ok_or_else(|| err("row limit missing"))?,
            },
            b'S' => FrontendMessage::Sync,
            b'H' => FrontendMessage::Flush,
            b'X' => FrontendMessage::Terminate,
            b'c' => FrontendMessage::CopyDone,
            b'd' => {
                let data = r.rest();
                r = Reader::new(&[]);
                FrontendMessage::CopyData(data)
            }
            b'f' => FrontendMessage::CopyFail {
                message: r.cstr().ok_or_else(|| err("message unterminated"))?,
            },
            b'F' => {
                let function = r.u32().ok_or_else(|| err("function OID missing"))?;
                formats(&mut r, &err)?;
                let n = r.u16().ok_or_else(|| err("argument count missing"))?;
                values(&mut r, n, &err)?;
                let result = r.u16().ok_or_else(|| err("result format missing"))?;
                if result > 1 {
                    return Err(err("result format is neither 0 nor 1"));
                }
                FrontendMessage::FunctionCall { function }
            }
            b'p' => {
                let data = r.rest();
                r = Reader::new(&[]);
                FrontendMessage::AuthResponse(data)
            }
            _ => {
                return Err(PgError::UnknownMessage {
                    side: Side::Client,
                    tag: Tag(tag),
                });
            }
        };
        if !r.is_empty() {
            return Err(err("bytes after the end of the message"));
        }
        Ok(msg)
    }
}
