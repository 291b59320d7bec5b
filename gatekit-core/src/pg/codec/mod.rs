//! Frontend and backend message codecs.
//!
//! Decoders take `&mut BytesMut` and return `Ok(None)` until a whole message is buffered.
//! Every length is checked against a per-type cap in [`Limits`] as soon as the 5-byte header
//! is in, so a 2 GiB length field is an error at once, not an allocation. A decoded
//! message keeps its original frame ([`Frame::raw`]): what the gateway does not change is
//! forwarded byte for byte, and typed views ([`FrontendMessage`], [`BackendMessage`]) borrow
//! from that frame without copying.

mod backend;
pub mod encode;
mod frontend;
mod reader;
mod startup;

#[cfg(test)]
mod tests;

use bytes::{Bytes, BytesMut};

use super::error::{PgError, Side, Tag};

pub use backend::{
    AuthRequest, BackendMessage, DataRow, ErrorFields, FieldDescription, RowDescription,
};
pub use encode::{ErrorBuilder, MessageWriter, Severity};
pub use frontend::{Bind, FrontendMessage, Target};
pub use startup::{
    CANCEL_REQUEST_CODE, CancelKey, GSSENC_REQUEST_CODE, MAX_CANCEL_KEY, ProtocolVersion,
    SSL_REQUEST_CODE, StartupPacket, StartupParams,
};

/// The longest prepared-statement or portal name PostgreSQL tells apart (`NAMEDATALEN`
/// − 1 bytes): the server keys both by their first 63 bytes.
pub const MAX_NAME_BYTES: usize = 63;

/// The name the server knows a prepared statement or portal by: its first
/// [`MAX_NAME_BYTES`] bytes. Two names that share them are one object to the server, so
/// anything the gateway remembers per name must be keyed by this, or a client could make
/// the gateway and the server disagree about which statement a portal runs.
///
/// ```
/// use gatekit_core::pg::codec::server_name;
/// let long = [b'a'; 70];
/// assert_eq!(server_name(&long).len(), 63);
/// assert_eq!(server_name(b"s1"), b"s1");
/// ```
pub fn server_name(name: &[u8]) -> &[u8] {
    name.get(..MAX_NAME_BYTES).unwrap_or(name)
}

/// The whole typed messages (`tag`, body) at the start of `bytes`, already framed by the
/// session (what it sent either side); a cut-off tail or a length below 4 ends the walk.
pub(crate) fn messages(mut bytes: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let &[tag, a, b, c, d] = bytes.get(..5)? else {
            return None;
        };
        let len = u32::from_be_bytes([a, b, c, d]) as usize;
        let body = bytes.get(5..len.checked_add(1)?)?;
        bytes = bytes.get(1 + len..).unwrap_or_default();
        Some((tag, body))
    })
}

/// Per-message-type size caps, in bytes, counting the length field but not the type byte.
///
/// The defaults bound a connection's buffers while letting ordinary traffic through:
/// a message past its cap ends the connection with an error naming the type and the cap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Untyped startup-phase packets (StartupMessage, SSLRequest, CancelRequest).
    pub startup: usize,
    /// Authentication responses (`p`: the token, SASL messages).
    pub auth: usize,
    /// Statement text: Query, Parse.
    pub statement: usize,
    /// Bind, FunctionCall (parameter values).
    pub bind: usize,
    /// CopyData in either direction.
    pub copy_data: usize,
    /// Row data from the server: DataRow, FunctionCallResponse.
    pub row: usize,
    /// Everything else (Describe, Execute, Close, ErrorResponse, RowDescription, …).
    pub control: usize,
    /// Client bytes buffered behind a statement that awaits a decision (pipelining).
    pub pipeline: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            startup: 10 * 1024,
            auth: 32 * 1024,
            statement: 16 << 20,
            bind: 64 << 20,
            copy_data: 64 << 20,
            row: 64 << 20,
            control: 1 << 20,
            pipeline: 1 << 20,
        }
    }
}

/// One whole message: the type byte, the length and the body, exactly as received.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    raw: Bytes,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("tag", &Tag(self.tag()))
            .field("len", &self.body().len())
            .finish()
    }
}

impl Frame {
    /// The message type byte.
    pub fn tag(&self) -> u8 {
        self.raw.first().copied().unwrap_or(0)
    }

    /// The body after the length field.
    pub fn body(&self) -> &[u8] {
        self.raw.get(5..).unwrap_or_default()
    }

    /// The whole frame as received: forward this to send the message on unchanged.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// Consumes the frame, returning its bytes.
    pub fn into_raw(self) -> Bytes {
        self.raw
    }

    /// Decodes one frontend (client → server) message after the startup phase.
    pub fn decode_frontend(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, PgError> {
        decode_frame(buf, Side::Client, |tag| frontend::cap(tag, limits))
    }

    /// Decodes one backend (server → client) message after the startup phase.
    pub fn decode_backend(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, PgError> {
        decode_frame(buf, Side::Upstream, |tag| backend::cap(tag, limits))
    }

    /// Parses the frame as a frontend message, borrowing from it.
    pub fn frontend(&self) -> Result<FrontendMessage<'_>, PgError> {
        FrontendMessage::parse(self.tag(), self.body())
    }

    /// Parses the frame as a backend message, borrowing from it.
    pub fn backend(&self) -> Result<BackendMessage<'_>, PgError> {
        BackendMessage::parse(self.tag(), self.body())
    }
}

/// Cuts one frame off `buf` once it is whole, checking the length against `cap(tag)`
/// (`None` = unknown type) before waiting for or allocating anything.
fn decode_frame(
    buf: &mut BytesMut,
    side: Side,
    cap: impl Fn(u8) -> Option<usize>,
) -> Result<Option<Frame>, PgError> {
    let Some(&[tag, a, b, c, d]) = buf.get(..5) else {
        // Even one byte is enough to reject an unknown type early.
        if let Some(&tag) = buf.first()
            && cap(tag).is_none()
        {
            return Err(PgError::UnknownMessage {
                side,
                tag: Tag(tag),
            });
        }
        return Ok(None);
    };
    let len = u32::from_be_bytes([a, b, c, d]);
    let max = cap(tag).ok_or(PgError::UnknownMessage {
        side,
        tag: Tag(tag),
    })?;
    if len < 4 {
        return Err(PgError::BadLength {
            side,
            tag: Tag(tag),
            len,
        });
    }
    let len_usize = len as usize;
    if len_usize > max {
        return Err(PgError::TooLong {
            side,
            tag: Tag(tag),
            len,
            max,
        });
    }
    let total = 1 + len_usize;
    if buf.len() < total {
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    Ok(Some(Frame {
        raw: buf.split_to(total).freeze(),
    }))
}
