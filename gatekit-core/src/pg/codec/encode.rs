//! Encoders for the messages the gateway writes itself (everything it forwards goes out as
//! the original [`Frame`](super::Frame) bytes).
//!
//! Each function appends one message to a `BytesMut` and back-fills its length.

use bytes::{BufMut, BytesMut};

use super::startup::{CANCEL_REQUEST_CODE, CancelKey, ProtocolVersion, SSL_REQUEST_CODE};

/// Appends one message, back-filling the length field when finished.
#[derive(Debug)]
pub struct MessageWriter<'a> {
    buf: &'a mut BytesMut,
    len_at: usize,
}

impl<'a> MessageWriter<'a> {
    /// Starts a message with a type byte.
    pub fn new(buf: &'a mut BytesMut, tag: u8) -> Self {
        buf.put_u8(tag);
        Self::untagged(buf)
    }

    /// Starts an untyped startup-phase packet (length first).
    pub fn untagged(buf: &'a mut BytesMut) -> Self {
        let len_at = buf.len();
        buf.put_u32(0);
        MessageWriter { buf, len_at }
    }

    /// Appends a byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.put_u8(v);
        self
    }

    /// Appends a big-endian `u16`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.put_u16(v);
        self
    }

    /// Appends a big-endian `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.put_u32(v);
        self
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.put_slice(v);
        self
    }

    /// Appends bytes and a terminating NUL. The caller guarantees `v` holds no NUL.
    pub fn cstr(&mut self, v: &[u8]) -> &mut Self {
        self.buf.put_slice(v);
        self.buf.put_u8(0);
        self
    }

    /// Back-fills the length field.
    pub fn finish(&mut self) {
        let len = self.buf.len() - self.len_at;
        let len = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
        if let Some(dst) = self.buf.get_mut(self.len_at..self.len_at + 4) {
            dst.copy_from_slice(&len);
        }
    }
}

/// Severity of a gateway-made `ErrorResponse` / `NoticeResponse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Ends the session.
    Fatal,
    /// Fails the current statement.
    Error,
    /// Informational notice.
    Notice,
}

impl Severity {
    fn name(self) -> &'static [u8] {
        match self {
            Severity::Fatal => b"FATAL",
            Severity::Error => b"ERROR",
            Severity::Notice => b"NOTICE",
        }
    }
}

/// Builds an `ErrorResponse` or `NoticeResponse` written by the gateway.
#[derive(Clone, Debug)]
pub struct ErrorBuilder<'a> {
    /// Severity.
    pub severity: Severity,
    /// SQLSTATE, five characters.
    pub code: &'a str,
    /// Primary message.
    pub message: &'a str,
    /// Optional detail.
    pub detail: Option<&'a str>,
    /// Optional hint.
    pub hint: Option<&'a str>,
}

impl<'a> ErrorBuilder<'a> {
    /// An error or notice with a code and message.
    pub fn new(severity: Severity, code: &'a str, message: &'a str) -> Self {
        ErrorBuilder {
            severity,
            code,
            message,
            detail: None,
            hint: None,
        }
    }

    /// Adds a detail line.
    pub fn detail(mut self, detail: &'a str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// Adds a hint line.
    pub fn hint(mut self, hint: &'a str) -> Self {
        self.hint = Some(hint);
        self
    }

    /// Appends the message (`N` for notices, `E` otherwise). NUL bytes in the texts are
    /// dropped so the fields stay well-formed.
    pub fn encode(&self, buf: &mut BytesMut) {
        let tag = if self.severity == Severity::Notice {
            b'N'
        } else {
            b'E'
        };
        let mut w = MessageWriter::new(buf, tag);
        let sev = self.severity.name();
        w.u8(b'S').cstr(sev).u8(b'V').cstr(sev);
        field(&mut w, b'C', self.code);
        field(&mut w, b'M', self.message);
        if let Some(d) = self.detail {
            field(&mut w, b'D', d);
        }
        if let Some(h) = self.hint {
            field(&mut w, b'H', h);
        }
        w.u8(0);
        w.finish();
    }
}

fn field(w: &mut MessageWriter<'_>, code: u8, text: &str) {
    w.u8(code);
    for part in text.as_bytes().split(|&b| b == 0) {
        w.bytes(part);
    }
    w.u8(0);
}

/// `AuthenticationOk`.
pub fn authentication_ok(buf: &mut BytesMut) {
    MessageWriter::new(buf, b'R').u32(0).finish();
}

/// `AuthenticationCleartextPassword`.
pub fn authentication_cleartext(buf: &mut BytesMut) {
    MessageWriter::new(buf, b'R').u32(3).finish();
}

/// `BackendKeyData` with the process id and a key of 4 (protocol 3.0) to 256 bytes.
pub fn backend_key_data(buf: &mut BytesMut, key: &CancelKey) {
    MessageWriter::new(buf, b'K')
        .u32(key.pid)
        .bytes(&key.secret)
        .finish();
}

/// `NegotiateProtocolVersion`: the newest minor version supported and the protocol options
/// (`_pq_.…`) not recognised.
pub fn negotiate_protocol_version(buf: &mut BytesMut, minor: u16, unsupported: &[&str]) {
    let mut w = MessageWriter::new(buf, b'v');
    w.u32(u32::from(minor))
        .u32(u32::try_from(unsupported.len()).unwrap_or(u32::MAX));
    for o in unsupported {
        w.cstr(o.as_bytes());
    }
    w.finish();
}

/// `StartupMessage` with the given parameters (names and values must hold no NUL).
pub fn startup_message<'p>(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    params: impl IntoIterator<Item = (&'p str, &'p str)>,
) {
    let mut w = MessageWriter::untagged(buf);
    w.u32(version.code());
    for (k, v) in params {
        w.cstr(k.as_bytes()).cstr(v.as_bytes());
    }
    w.u8(0).finish();
}

/// `SSLRequest`.
pub fn ssl_request(buf: &mut BytesMut) {
    MessageWriter::untagged(buf).u32(SSL_REQUEST_CODE).finish();
}

/// `CancelRequest` for a backend's key (4 bytes in protocol 3.0, longer in 3.2).
pub fn cancel_request(buf: &mut BytesMut, key: &CancelKey) {
    MessageWriter::untagged(buf)
        .u32(CANCEL_REQUEST_CODE)
        .u32(key.pid)
        .bytes(&key.secret)
        .finish();
}

/// `PasswordMessage` (also used for the MD5 hash).
pub fn password(buf: &mut BytesMut, password: &[u8]) {
    MessageWriter::new(buf, b'p').cstr(password).finish();
}

/// `SASLInitialResponse`.
pub fn sasl_initial_response(buf: &mut BytesMut, mechanism: &str, data: &[u8]) {
    MessageWriter::new(buf, b'p')
        .cstr(mechanism.as_bytes())
        .u32(u32::try_from(data.len()).unwrap_or(u32::MAX))
        .bytes(data)
        .finish();
}

/// `SASLResponse`.
pub fn sasl_response(buf: &mut BytesMut, data: &[u8]) {
    MessageWriter::new(buf, b'p').bytes(data).finish();
}

/// `Terminate`.
pub fn terminate(buf: &mut BytesMut) {
    MessageWriter::new(buf, b'X').finish();
}

/// `Query` with the given text (must hold no NUL).
pub fn query(buf: &mut BytesMut, sql: &str) {
    MessageWriter::new(buf, b'Q').cstr(sql.as_bytes()).finish();
}

/// `ReadyForQuery` with a transaction status (`I`, `T` or `E`).
pub fn ready_for_query(buf: &mut BytesMut, status: u8) {
    MessageWriter::new(buf, b'Z').u8(status).finish();
}
