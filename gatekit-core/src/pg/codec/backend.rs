//! Typed views of backend (server → client) messages after the startup packet.

use super::Limits;
use super::reader::Reader;
use super::startup::MAX_CANCEL_KEY;
use crate::pg::error::{PgError, Side, Tag};

/// The cap for a backend message type, or `None` when the type is unknown.
pub(super) fn cap(tag: u8, limits: &Limits) -> Option<usize> {
    Some(match tag {
        b'D' | b'V' => limits.row,
        b'd' => limits.copy_data,
        b'R' => limits.auth,
        b'K' | b'S' | b'Z' | b'E' | b'N' | b'v' | b'T' | b'C' | b't' | b'G' | b'H' | b'W'
        | b'A' => limits.control,
        b'I' | b'1' | b'2' | b'3' | b'n' | b's' | b'c' => 4,
        _ => return None,
    })
}

/// An authentication request from the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthRequest<'a> {
    /// Authentication succeeded.
    Ok,
    /// Send the password in clear.
    Cleartext,
    /// Send the MD5 hash of password, user and this salt.
    Md5 {
        /// The salt.
        salt: [u8; 4],
    },
    /// Start SASL with one of these mechanisms (NUL-separated list, as sent).
    Sasl(&'a [u8]),
    /// A SASL server-first or later challenge.
    SaslContinue(&'a [u8]),
    /// The SASL server-final message.
    SaslFinal(&'a [u8]),
    /// A method gatekit does not answer (Kerberos, GSS, SSPI), by code.
    Other(u32),
}

impl<'a> AuthRequest<'a> {
    /// The SASL mechanisms offered, when this is [`AuthRequest::Sasl`].
    pub fn mechanisms(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let list: &'a [u8] = match self {
            AuthRequest::Sasl(l) => l,
            _ => &[],
        };
        list.split(|&b| b == 0).filter(|m| !m.is_empty())
    }
}

/// A backend message, borrowing from its [`Frame`](super::Frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendMessage<'a> {
    /// `R`.
    Authentication(AuthRequest<'a>),
    /// `K`: the backend's process id and cancel secret.
    BackendKeyData {
        /// Process id.
        pid: u32,
        /// Secret key, 4 to 256 bytes.
        secret: &'a [u8],
    },
    /// `S`: a run-time parameter's current value.
    ParameterStatus {
        /// Parameter name.
        name: &'a [u8],
        /// Its value.
        value: &'a [u8],
    },
    /// `Z`: ready for a new query, with the transaction status (`I`, `T`, `E`).
    ReadyForQuery {
        /// Transaction status.
        status: u8,
    },
    /// `E`.
    ErrorResponse(ErrorFields<'a>),
    /// `N`.
    NoticeResponse(ErrorFields<'a>),
    /// `v`: the newest minor version the server speaks and the options it did not recognise.
    NegotiateProtocolVersion {
        /// Newest supported minor version.
        minor: u32,
        /// Number of unrecognised options.
        unrecognized: u32,
    },
    /// `T`.
    RowDescription(RowDescription<'a>),
    /// `D`.
    DataRow(DataRow<'a>),
    /// `C`: command tag such as `SELECT 3`.
    CommandComplete {
        /// The tag.
        tag: &'a [u8],
    },
    /// `I`.
    EmptyQueryResponse,
    /// `1`.
    ParseComplete,
    /// `2`.
    BindComplete,
    /// `3`.
    CloseComplete,
    /// `n`.
    NoData,
    /// `s`.
    PortalSuspended,
    /// `t`: parameter type OIDs of a statement.
    ParameterDescription {
        /// Number of parameters.
        count: u16,
    },
    /// `G`, `H`, `W`: the server enters COPY IN, OUT or BOTH.
    CopyResponse {
        /// `G` (in), `H` (out) or `W` (both).
        kind: u8,
        /// Overall format, 0 text or 1 binary.
        binary: bool,
        /// Number of columns.
        columns: u16,
    },
    /// `d`.
    CopyData(&'a [u8]),
    /// `c`.
    CopyDone,
    /// `A`: LISTEN/NOTIFY notification.
    Notification {
        /// Sending backend's process id.
        pid: u32,
        /// Channel.
        channel: &'a [u8],
        /// Payload.
        payload: &'a [u8],
    },
    /// `V`: result of a fast-path function call (`None` = NULL).
    FunctionCallResponse(Option<&'a [u8]>),
}

/// The fields of an ErrorResponse or NoticeResponse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorFields<'a> {
    raw: &'a [u8],
}

impl<'a> ErrorFields<'a> {
    /// Every field as (code, value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &'a [u8])> + 'a {
        let mut r = Reader::new(self.raw);
        std::iter::from_fn(move || {
            let code = r.u8()?;
            if code == 0 {
                return None;
            }
            Some((code, r.cstr()?))
        })
    }

    /// The value of one field (`b'C'` SQLSTATE, `b'M'` message, `b'S'` severity, …).
    pub fn get(&self, code: u8) -> Option<&'a [u8]> {
        self.iter().find(|(c, _)| *c == code).map(|(_, v)| v)
    }
}

/// A RowDescription: one [`FieldDescription`] per result column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowDescription<'a> {
    count: u16,
    raw: &'a [u8],
}

/// One column of a RowDescription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDescription<'a> {
    /// Column name (or alias).
    pub name: &'a [u8],
    /// OID of the table the column comes from, 0 if none.
    pub table_oid: u32,
    /// Attribute number in that table, 0 if none.
    pub column: i16,
    /// Data type OID.
    pub type_oid: u32,
    /// Type size (negative = variable).
    pub type_size: i16,
    /// Type modifier.
    pub type_modifier: i32,
    /// Format: 0 text, 1 binary.
    pub format: u16,
}

impl<'a> RowDescription<'a> {
    /// Number of columns.
    pub fn len(&self) -> u16 {
        self.count
    }

    /// Whether there are no columns.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The columns' bytes as sent, after the count: two descriptions with the same count
    /// and bytes describe the same columns.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The columns in order.
    pub fn fields(&self) -> impl Iterator<Item = FieldDescription<'a>> + 'a {
        let mut r = Reader::new(self.raw);
        (0..self.count).map_while(move |_| field(&mut r))
    }
}

fn field<'a>(r: &mut Reader<'a>) -> Option<FieldDescription<'a>> {
    Some(FieldDescription {
        name: r.cstr()?,
        table_oid: r.u32()?,
        column: r.u16()? as i16,
        type_oid: r.u32()?,
        type_size: r.u16()? as i16,
        type_modifier: r.i32()?,
        format: r.u16()?,
    })
}

/// A DataRow: one value per column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataRow<'a> {
    count: u16,
    raw: &'a [u8],
}

impl<'a> DataRow<'a> {
    /// Number of columns.
    pub fn len(&self) -> u16 {
        self.count
    }

    /// Whether there are no columns.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The values in order (`None` = NULL).
    pub fn values(&self) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
        let mut r = Reader::new(self.raw);
        (0..self.count).map_while(move |_| {
            let len = r.i32()?;
            if len < 0 {
                Some(None)
            } else {
                r.take(len as usize).map(Some)
            }
        })
    }
}

impl<'a> BackendMessage<'a> {
    /// Parses a body of the given type.
    pub fn parse(tag: u8, body: &'a [u8]) -> Result<Self, PgError> {
        let err = |what| PgError::Malformed {
            side: Side::Upstream,
            tag: Tag(tag),
            what,
        };
        let mut r = Reader::new(body);
        let msg = match tag {
            b'R' => {
                let code = r.u32().ok_or_else(|| err("authentication code missing"))?;
                let req = match code {
                    0 => AuthRequest::Ok,
                    3 => AuthRequest::Cleartext,
                    5 => {
                        let s = r.take(4).ok_or_else(|| err("MD5 salt missing"))?;
                        let mut salt = [0; 4];
                        salt.copy_from_slice(s);
                        AuthRequest::Md5 { salt }
                    }
                    10 => {
                        let rest = r.rest();
                        if rest.last() != Some(&0) {
                            return Err(err("SASL mechanism list unterminated"));
                        }
                        r = Reader::new(&[]);
                        AuthRequest::Sasl(rest)
                    }
                    11 | 12 => {
                        let data = r.rest();
                        r = Reader::new(&[]);
                        if code == 11 {
                            AuthRequest::SaslContinue(data)
                        } else {
                            AuthRequest::SaslFinal(data)
                        }
                    }
                    other => {
                        r = Reader::new(&[]);
                        AuthRequest::Other(other)
                    }
                };
                BackendMessage::Authentication(req)
            }
            b'K' => {
                let pid = r.u32().ok_or_else(|| err("process id missing"))?;
                let secret = r.rest();
                if secret.len() < 4 || secret.len() > MAX_CANCEL_KEY {
                    return Err(err("cancel key must be 4 to 256 bytes"));
                }
                r = Reader::new(&[]);
                BackendMessage::BackendKeyData { pid, secret }
            }
            b'S' => BackendMessage::ParameterStatus {
                name: r.cstr().ok_or_else(|| err("name unterminated"))?,
                value: r.cstr().ok_or_else(|| err("value unterminated"))?,
            },
            b'Z' => BackendMessage::ReadyForQuery {
                status: r.u8().ok_or_else(|| err("status missing"))?,
            },
            b'E' | b'N' => {
                let raw = r.rest();
                if raw.last() != Some(&0) {
                    return Err(err("field list unterminated"));
                }
                // Walk once so later iteration cannot stop early on a malformed field.
                let mut w = Reader::new(raw);
                loop {
                    match w.u8() {
                        Some(0) => break,
                        Some(_) => {
                            w.cstr().ok_or_else(|| err("field value unterminated"))?;
                        }
                        None => return Err(err("field list unterminated")),
                    }
                }
                if !w.is_empty() {
                    return Err(err("bytes after the field list"));
                }
                r = Reader::new(&[]);
                let fields = ErrorFields { raw };
                if tag == b'E' {
                    BackendMessage::ErrorResponse(fields)
                } else {
                    BackendMessage::NoticeResponse(fields)
                }
            }
            b'v' => {
                let minor = r.u32().ok_or_else(|| err("version missing"))?;
                let unrecognized = r.u32().ok_or_else(|| err("option count missing"))?;
                for _ in 0..unrecognized {
                    r.cstr().ok_or_else(|| err("option name unterminated"))?;
                }
                BackendMessage::NegotiateProtocolVersion {
                    minor,
                    unrecognized,
                }
            }
            b'T' => {
                let count = r.u16().ok_or_else(|| err("column count missing"))?;
                let raw = r.rest();
                for _ in 0..count {
                    field(&mut r).ok_or_else(|| err("column description truncated"))?;
                }
                BackendMessage::RowDescription(RowDescription { count, raw })
            }
            b'D' => {
                let count = r.u16().ok_or_else(|| err("column count missing"))?;
                let raw = r.rest();
                for _ in 0..count {
                    let len = r.i32().ok_or_else(|| err("value length missing"))?;
                    if len < -1 {
                        return Err(err("negative value length"));
                    }
                    if len > 0 {
                        r.take(len as usize)
                            .ok_or_else(|| err("value runs past the message"))?;
                    }
                }
                BackendMessage::DataRow(DataRow { count, raw })
            }
            b'C' => BackendMessage::CommandComplete {
                tag: r.cstr().ok_or_else(|| err("command tag unterminated"))?,
            },
            b'I' => BackendMessage::EmptyQueryResponse,
            b'1' => BackendMessage::ParseComplete,
            b'2' => BackendMessage::BindComplete,
            b'3' => BackendMessage::CloseComplete,
            b'n' => BackendMessage::NoData,
            b's' => BackendMessage::PortalSuspended,
            b'c' => BackendMessage::CopyDone,
            b't' => {
                let count = r.u16().ok_or_else(|| err("parameter count missing"))?;
                r.take(usize::from(count) * 4)
                    .ok_or_else(|| err("parameter types truncated"))?;
                BackendMessage::ParameterDescription { count }
            }
            b'G' | b'H' | b'W' => {
                let format = r.u8().ok_or_else(|| err("format missing"))?;
                let columns = r.u16().ok_or_else(|| err("column count missing"))?;
                r.take(usize::from(columns) * 2)
                    .ok_or_else(|| err("column formats truncated"))?;
                BackendMessage::CopyResponse {
                    kind: tag,
                    binary: format == 1,
                    columns,
                }
            }
            b'd' => {
                let data = r.rest();
                r = Reader::new(&[]);
                BackendMessage::CopyData(data)
            }
            b'A' => BackendMessage::Notification {
                pid: r.u32().ok_or_else(|| err("process id missing"))?,
                channel: r.cstr().ok_or_else(|| err("channel unterminated"))?,
                payload: r.cstr().ok_or_else(|| err("payload unterminated"))?,
            },
            b'V' => {
                let len = r.i32().ok_or_else(|| err("result length missing"))?;
                let value = if len < 0 {
                    None
                } else {
                    Some(
                        r.take(len as usize)
                            .ok_or_else(|| err("result runs past the message"))?,
                    )
                };
                BackendMessage::FunctionCallResponse(value)
            }
            _ => {
                return Err(PgError::UnknownMessage {
                    side: Side::Upstream,
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
