//! The one error type of the PostgreSQL module.

use std::fmt;

/// Which end of a proxied connection a message came from or goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The client (psql, a driver, an application).
    Client,
    /// The upstream PostgreSQL server.
    Upstream,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Upstream => "upstream",
        })
    }
}

/// A message type byte, shown as a character when printable (`'Q'`) and in hex otherwise.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag(pub u8);

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "'{}'", self.0 as char)
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Everything that can go wrong decoding PostgreSQL messages or running a gateway session.
///
/// A session that returns an error keeps returning it (the error is sticky); the
/// connection is over. Where the protocol allows, the session has already queued an
/// `ErrorResponse` for the client explaining the cause.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// A length field below the 4 bytes it covers itself.
    #[error("{side} sent message {tag} with an invalid length {len}")]
    BadLength {
        /// Who sent it.
        side: Side,
        /// The message type.
        tag: Tag,
        /// The length field as sent.
        len: u32,
    },
    /// A message longer than the cap for its type (see [`crate::pg::Limits`]).
    #[error("{side} sent message {tag} of {len} bytes; the limit for this type is {max}")]
    TooLong {
        /// Who sent it.
        side: Side,
        /// The message type.
        tag: Tag,
        /// The length field as sent.
        len: u32,
        /// The cap in force.
        max: usize,
    },
    /// A startup-phase packet shorter than 8 or longer than the startup cap.
    #[error("startup packet of {len} bytes is outside the allowed 8..={max}")]
    BadStartupLength {
        /// The length field as sent.
        len: u32,
        /// The cap in force.
        max: usize,
    },
    /// A message type that the protocol does not define for this side and phase.
    #[error("{side} sent unknown message type {tag}")]
    UnknownMessage {
        /// Who sent it.
        side: Side,
        /// The message type.
        tag: Tag,
    },
    /// A message whose body does not match its type's layout.
    #[error("{side} sent a malformed {tag} message: {what}")]
    Malformed {
        /// Who sent it.
        side: Side,
        /// The message type.
        tag: Tag,
        /// What was wrong.
        what: &'static str,
    },
    /// A well-formed message that is not allowed at this point of the conversation.
    #[error("{side} sent message {tag} while the session was {state}")]
    Unexpected {
        /// Who sent it.
        side: Side,
        /// The message type.
        tag: Tag,
        /// What the session was doing.
        state: &'static str,
    },
    /// A startup packet with a protocol code gatekit does not speak.
    #[error("unsupported frontend protocol {major}.{minor}: gatekit speaks 3.0 and 3.2")]
    UnsupportedProtocol {
        /// Requested major version.
        major: u16,
        /// Requested minor version.
        minor: u16,
    },
    /// The client sent bytes after SSLRequest before the TLS handshake (a known injection
    /// vector: such bytes would be read as if they had come over TLS).
    #[error("client sent unencrypted data after SSLRequest")]
    DataAfterSslRequest,
    /// The client tried to authenticate without TLS where plaintext is not allowed.
    #[error(
        "the token must be sent over TLS (sslmode=require); plaintext is allowed only on a loopback listener with allow_plaintext_auth = true"
    )]
    PlaintextRefused,
    /// The startup packet carries no `user`.
    #[error("startup packet carries no user name")]
    MissingUser,
    /// A startup parameter outside the allow-list.
    #[error("startup parameter `{name}` is not allowed through this gateway")]
    ParameterRefused {
        /// The parameter name.
        name: String,
    },
    /// A command-line switch in the startup `options` outside the allow-list.
    #[error("startup option `{option}` is not allowed through this gateway")]
    OptionRefused {
        /// The offending switch as sent.
        option: String,
    },
    /// A replication connection was requested.
    #[error("replication connections are not allowed through this gateway")]
    ReplicationRefused,
    /// The token is not valid (bad signature, expired, wrong issuer or audience, revoked).
    #[error("invalid token: {reason}")]
    InvalidToken {
        /// Why, as shown to the client (never the token itself).
        reason: String,
    },
    /// The token is valid but its holder is not admitted to this target.
    #[error("not admitted: {reason}")]
    NotAdmitted {
        /// Why, as shown to the client.
        reason: String,
    },
    /// The startup `user` is neither the token's subject nor its e-mail.
    #[error("startup user `{user}` does not match the token's subject or e-mail")]
    UserMismatch {
        /// The startup user as sent.
        user: String,
    },
    /// `roles` is configured but none of the identity's groups has a role.
    #[error("none of your groups maps to an upstream role (target `roles`)")]
    NoRole,
    /// A value cannot travel in a startup packet (it holds a NUL byte).
    #[error("{what} holds a NUL byte and cannot be sent to the upstream")]
    NulInValue {
        /// Which value.
        what: &'static str,
    },
    /// The driver could not reach the upstream server.
    #[error("could not connect to the upstream server: {detail}")]
    UpstreamConnect {
        /// What the driver saw (address, OS error, TLS failure).
        detail: String,
    },
    /// The upstream sent bytes after its answer to SSLRequest, before the TLS handshake.
    #[error("upstream sent unencrypted data after accepting SSLRequest")]
    UpstreamDataAfterSsl,
    /// The upstream refused TLS while `upstream_tls` requires it.
    #[error("upstream refused TLS but upstream_tls requires it")]
    UpstreamTlsRefused,
    /// The upstream asked for an authentication method gatekit cannot answer.
    #[error("upstream asks for authentication method {code}, which gatekit does not support")]
    UpstreamAuthUnsupported {
        /// The `AuthenticationRequest` code.
        code: u32,
    },
    /// The upstream asked for a password and the target has none configured.
    #[error(
        "upstream asks for a password but the target has none (set password_env or password_file)"
    )]
    UpstreamPasswordMissing,
    /// The SCRAM exchange with the upstream failed (for instance a wrong server signature).
    #[error("SCRAM-SHA-256 exchange with the upstream failed: {detail}")]
    UpstreamScram {
        /// What went wrong.
        detail: String,
    },
    /// The upstream answered the login with an error.
    #[error("upstream refused the login: {code} {message}")]
    UpstreamLogin {
        /// SQLSTATE.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The client did not finish the startup in time.
    #[error("startup did not complete in time")]
    StartupTimeout,
    /// The identity's token expired during the session.
    #[error("the session's token expired")]
    TokenExpired,
    /// One side closed its connection in the middle of a message or of the startup.
    #[error("{side} closed the connection unexpectedly")]
    UnexpectedEof {
        /// Who closed.
        side: Side,
    },
    /// The client pipelined more than the bound behind a statement awaiting a decision.
    #[error("client sent more than {max} bytes while a statement awaited a decision")]
    PipelineTooLong {
        /// The bound (`Limits::pipeline`).
        max: usize,
    },
    /// The gateway ended the session from outside the protocol: an operator's kill, a
    /// revoked token, a shutdown.
    #[error("terminating connection: {reason}")]
    Terminated {
        /// Why, shown to the client.
        reason: String,
    },
    /// More was waiting for masking than the bound allows: pipelined requests awaiting
    /// their answers, or server bytes held while column names were looked up.
    #[error("more than {max} requests or bytes waited for masking")]
    MaskingBacklog {
        /// The bound.
        max: usize,
    },
    /// The server reported a setting the gateway reads traffic by changing (it pins
    /// `client_encoding=UTF8` and `standard_conforming_strings=on` at connect).
    #[error(
        "the server reports {setting}={value}; gatekit needs client_encoding=UTF8 and standard_conforming_strings=on to read the session, so it ends here"
    )]
    EncodingChanged {
        /// The setting.
        setting: String,
        /// Its new value.
        value: String,
    },
    /// A session input arrived that the session was not waiting for (a driver bug).
    #[error("session input `{input}` is not expected while the session is {state}")]
    BadInput {
        /// The input.
        input: &'static str,
        /// What the session was doing.
        state: &'static str,
    },
}

impl PgError {
    /// The SQLSTATE reported to the client for this error.
    pub fn sqlstate(&self) -> &str {
        match self {
            PgError::BadLength { .. }
            | PgError::TooLong { .. }
            | PgError::BadStartupLength { .. }
            | PgError::UnknownMessage { .. }
            | PgError::Malformed { .. }
            | PgError::Unexpected { .. }
            | PgError::DataAfterSslRequest => "08P01",
            PgError::UnsupportedProtocol { .. } => "0A000",
            PgError::PlaintextRefused
            | PgError::MissingUser
            | PgError::NotAdmitted { .. }
            | PgError::UserMismatch { .. }
            | PgError::NoRole
            | PgError::TokenExpired => "28000",
            PgError::InvalidToken { .. } => "28P01",
            PgError::ParameterRefused { .. }
            | PgError::OptionRefused { .. }
            | PgError::ReplicationRefused => "42501",
            PgError::NulInValue { .. } => "22021",
            PgError::UpstreamLogin { code, .. } => code,
            PgError::UpstreamConnect { .. }
            | PgError::UpstreamDataAfterSsl
            | PgError::UpstreamTlsRefused
            | PgError::UpstreamAuthUnsupported { .. }
            | PgError::UpstreamPasswordMissing
            | PgError::UpstreamScram { .. }
            | PgError::StartupTimeout
            | PgError::UnexpectedEof { .. } => "08006",
            PgError::PipelineTooLong { .. } | PgError::MaskingBacklog { .. } => "54000",
            PgError::Terminated { .. } => "57P01",
            PgError::EncodingChanged { .. } => "0A000",
            PgError::BadInput { .. } => "XX000",
        }
    }

    /// The message shown to the client. Upstream login failures of class 28 (wrong
    /// password, no such role) are not detailed there: they concern the gateway's account,
    /// which is the operator's business, and are in the error itself for the log.
    pub fn client_message(&self) -> String {
        match self {
            PgError::UpstreamLogin { code, .. } if code.starts_with("28") => {
                "gatekit could not log in to the upstream database; the gateway log has the cause"
                    .to_owned()
            }
            PgError::UpstreamPasswordMissing
            | PgError::UpstreamAuthUnsupported { .. }
            | PgError::UpstreamScram { .. } => {
                "gatekit could not log in to the upstream database; the gateway log has the cause"
                    .to_owned()
            }
            other => other.to_string(),
        }
    }
}
