//! Untyped startup-phase packets: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest.

use bytes::{Buf, Bytes, BytesMut};

use super::Limits;
use super::reader::Reader;
use crate::pg::error::{PgError, Side, Tag};

/// The request code of `SSLRequest`.
pub const SSL_REQUEST_CODE: u32 = 80_877_103;
/// The request code of `GSSENCRequest`.
pub const GSSENC_REQUEST_CODE: u32 = 80_877_104;
/// The request code of `CancelRequest`.
pub const CANCEL_REQUEST_CODE: u32 = 80_877_102;
/// The longest cancel key protocol 3.2 allows.
pub const MAX_CANCEL_KEY: usize = 256;

/// A frontend/backend protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion {
    /// Major version (3).
    pub major: u16,
    /// Minor version (0 or 2).
    pub minor: u16,
}

impl ProtocolVersion {
    /// Protocol 3.0, spoken by every PostgreSQL since 7.4.
    pub const V3_0: ProtocolVersion = ProtocolVersion { major: 3, minor: 0 };
    /// Protocol 3.2 (PostgreSQL 18): variable-length cancel keys.
    pub const V3_2: ProtocolVersion = ProtocolVersion { major: 3, minor: 2 };

    /// The 32-bit code sent in a StartupMessage.
    pub const fn code(self) -> u32 {
        ((self.major as u32) << 16) | self.minor as u32
    }

    /// The version of a StartupMessage code.
    pub const fn from_code(code: u32) -> Self {
        ProtocolVersion {
            major: (code >> 16) as u16,
            minor: (code & 0xffff) as u16,
        }
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The key that identifies a backend to cancel: its process id and secret (4 bytes in
/// protocol 3.0, up to 256 in 3.2).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CancelKey {
    /// Process id as announced in BackendKeyData.
    pub pid: u32,
    /// The secret key bytes.
    pub secret: Bytes,
}

impl std::fmt::Debug for CancelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelKey")
            .field("pid", &self.pid)
            .field("secret_len", &self.secret.len())
            .finish()
    }
}

/// The parameters of a StartupMessage, in the order sent. Names and values are UTF-8 and
/// names are unique (a duplicate is refused rather than guessing which one the server uses).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartupParams {
    pairs: Vec<(String, String)>,
}

impl StartupParams {
    /// Parameters from name/value pairs.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        StartupParams { pairs }
    }

    /// The value of a parameter, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter, in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no parameter was sent.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// A packet of the startup phase, which carries no type byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartupPacket {
    /// `StartupMessage`: the protocol version and the connection parameters.
    Startup {
        /// Requested protocol version (major 3; the session negotiates the minor).
        version: ProtocolVersion,
        /// Connection parameters.
        params: StartupParams,
    },
    /// `SSLRequest`.
    SslRequest,
    /// `GSSENCRequest`.
    GssEncRequest,
    /// `CancelRequest` for a backend.
    Cancel(CancelKey),
}

const STARTUP: Tag = Tag(0);

fn malformed(what: &'static str) -> PgError {
    PgError::Malformed {
        side: Side::Client,
        tag: STARTUP,
        what,
    }
}

impl StartupPacket {
    /// Decodes one startup-phase packet; `Ok(None)` until it is whole.
    pub fn decode(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Self>, PgError> {
        let Some(&[a, b, c, d]) = buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([a, b, c, d]);
        let max = limits.startup;
        if len < 8 || len as usize > max {
            return Err(PgError::BadStartupLength { len, max });
        }
        let len = len as usize;
        if buf.len() < len {
            buf.reserve(len - buf.len());
            return Ok(None);
        }
        let mut packet = buf.split_to(len).freeze();
        packet.advance(4);
        Self::parse(packet).map(Some)
    }

    fn parse(mut body: Bytes) -> Result<Self, PgError> {
        let code = body.get_u32();
        match code {
            SSL_REQUEST_CODE | GSSENC_REQUEST_CODE => {
                if !body.is_empty() {
                    return Err(malformed("SSLRequest/GSSENCRequest carries extra bytes"));
                }
                Ok(if code == SSL_REQUEST_CODE {
                    StartupPacket::SslRequest
                } else {
                    StartupPacket::GssEncRequest
                })
            }
            CANCEL_REQUEST_CODE => {
                if body.len() < 8 || body.len() > 4 + MAX_CANCEL_KEY {
                    return Err(malformed("CancelRequest key must be 4 to 256 bytes"));
                }
                let pid = body.get_u32();
                Ok(StartupPacket::Cancel(CancelKey { pid, secret: body }))
            }
            _ => {
                let version = ProtocolVersion::from_code(code);
                if version.major != 3 {
                    return Err(PgError::UnsupportedProtocol {
                        major: version.major,
                        minor: version.minor,
                    });
                }
                let params = parse_params(&body)?;
                Ok(StartupPacket::Startup { version, params })
            }
        }
    }
}

fn parse_params(body: &[u8]) -> Result<StartupParams, PgError> {
    let mut r = Reader::new(body);
    let mut pairs: Vec<(String, String)> = Vec::new();
    loop {
        let name = r
            .cstr()
            .ok_or_else(|| malformed("parameter list is not NUL-terminated"))?;
        if name.is_empty() {
            break;
        }
        let value = r
            .cstr()
            .ok_or_else(|| malformed("parameter has no value"))?;
        let name =
            std::str::from_utf8(name).map_err(|_| malformed("parameter name is not UTF-8"))?;
        let value =
            std::str::from_utf8(value).map_err(|_| malformed("parameter value is not UTF-8"))?;
        if pairs.iter().any(|(k, _)| k == name) {
            return Err(malformed("a parameter is sent twice"));
        }
        pairs.push((name.to_owned(), value.to_owned()));
    }
    if !r.is_empty() {
        return Err(malformed("bytes after the parameter list"));
    }
    Ok(StartupParams { pairs })
}
