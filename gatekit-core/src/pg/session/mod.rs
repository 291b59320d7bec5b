//! The sans-IO gateway session between one client and one upstream server.

mod columns;
mod config;
mod copy;
mod copy_data;
mod mask;
mod outcome;
mod record;
mod relay;
mod shapes;
pub(crate) mod startup;
mod upstream;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use jiff::Timestamp;

use crate::Identity;
use crate::pg::codec::encode::{self, ErrorBuilder, Severity};
use crate::pg::codec::{CancelKey, Frame, FrontendMessage, ProtocolVersion, StartupPacket};
use crate::pg::error::{PgError, Side, Tag};
use crate::pg::scram::ScramClient;

pub use columns::{ColumnCache, ColumnKey, QualifiedColumn};
pub use config::{DEFAULT_ALLOWED_SETTINGS, Password, SessionConfig, UpstreamTls, UserCheck};
pub use copy::{CopyField, CopyRequest, CopySource};
pub use mask::Masking;
pub use outcome::Outcome;
pub use relay::{Decision, StatementKind, StatementRequest};

/// Something the session hands the driver.
#[derive(Debug)]
pub enum Output {
    /// Bytes to write to the client, in order.
    ToClient(Bytes),
    /// Bytes to write to the upstream, in order.
    ToUpstream(Bytes),
    /// Something the driver must act on.
    Event(Event),
}

/// What the driver must do, in the order given.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Do the TLS handshake with the client (after writing the pending bytes), then call
    /// [`Session::handle_client_tls`].
    StartClientTls,
    /// The connection is a CancelRequest for the backend the client knows by this key.
    /// Forward it to the upstream backend registered for the key, if any; the client
    /// connection is closed.
    Cancel(CancelKey),
    /// Verify the token and admit its holder to this target, then call
    /// [`Session::handle_login`].
    Authenticate(LoginRequest),
    /// Open a TCP connection to the upstream, then call
    /// [`Session::handle_upstream_connected`] or
    /// [`Session::handle_upstream_connect_failed`].
    ConnectUpstream,
    /// Do the TLS handshake with the upstream (verifying it when `upstream_tls` is
    /// `verify-full`), then call [`Session::handle_upstream_tls`].
    StartUpstreamTls,
    /// The session is ready: the client was given `issued`, standing for the upstream's
    /// `upstream` key (`None` when the server sent none). Answer with
    /// [`Session::handle_masking`]: until then the server's bytes wait in the session.
    Established {
        /// The key the client was given.
        issued: CancelKey,
        /// The upstream backend's own key.
        upstream: Option<CancelKey>,
    },
    /// Decide on a statement, then call [`Session::handle_decision`]. Until then the
    /// statement, and everything the client sends after it, waits.
    Statement(StatementRequest),
    /// Look up the `schema.table.column` names of these columns in the upstream's
    /// catalog, then call [`Session::handle_columns`]. Until then the session reads no more
    /// of the server's bytes (keep them, within a bound); the client's traffic flows on.
    ResolveColumns(Vec<ColumnKey>),
    /// Name the fields of the COPY OUT the server started, then call
    /// [`Session::handle_copy_columns`]. Until then the session reads no more of the
    /// server's bytes (keep them, within a bound).
    ResolveCopy(CopyRequest),
    /// Write what is pending, then close both connections.
    Close,
}

/// The driver's request to verify a token.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// The JWT the client sent as its password. Never log it.
    pub token: String,
    /// The startup `user`.
    pub user: String,
    /// The startup `database`, if given.
    pub database: Option<String>,
    /// The startup `application_name`, if given.
    pub application_name: Option<String>,
    /// Whether the token came over TLS.
    pub tls: bool,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("token", &"..")
            .field("user", &self.user)
            .field("database", &self.database)
            .field("application_name", &self.application_name)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Why the driver refused a login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginRefusal {
    /// The token is not valid; the text says why (never the token itself).
    InvalidToken(String),
    /// The token is valid but its holder may not use this target.
    NotAdmitted(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for a startup-phase packet.
    Startup,
    /// `S` sent; waiting for the driver's TLS handshake.
    AwaitClientTls,
    /// Cleartext password requested.
    AwaitPassword,
    /// Waiting for [`Session::handle_login`].
    Authenticating,
    /// Waiting for the upstream TCP connection.
    Connecting,
    /// SSLRequest sent upstream; waiting for the one-byte answer.
    UpstreamSsl,
    /// Waiting for the driver's upstream TLS handshake.
    AwaitUpstreamTls,
    /// Upstream StartupMessage sent; answering its authentication requests.
    UpstreamAuth,
    /// Upstream authenticated; passing ParameterStatus on until ReadyForQuery.
    UpstreamStartup,
    /// Relaying.
    Ready,
    /// Ended normally.
    Closed,
    /// Ended by an error.
    Failed,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Startup => "starting up",
            State::AwaitClientTls => "waiting for the client's TLS handshake",
            State::AwaitPassword => "waiting for the token",
            State::Authenticating => "verifying the token",
            State::Connecting => "connecting upstream",
            State::UpstreamSsl => "negotiating TLS upstream",
            State::AwaitUpstreamTls => "waiting for the upstream TLS handshake",
            State::UpstreamAuth => "logging in upstream",
            State::UpstreamStartup => "starting the upstream session",
            State::Ready => "relaying",
            State::Closed => "closed",
            State::Failed => "failed",
        }
    }
}

/// The gateway between one client connection and one upstream connection.
///
/// # Driving a session
///
/// The driver owns two sockets and one timer; the session owns every protocol decision.
/// After **every** `handle_*` call the driver drains [`Session::poll_output`] until it
/// returns `None` and re-arms its timer from [`Session::poll_timeout`]. Outputs come in
/// this order: bytes for the client, bytes for the upstream, then events one at a time,
/// so an event that changes the transport ([`Event::StartClientTls`]) follows the bytes
/// it depends on (the `S` answer) and [`Event::Close`] follows the last bytes.
///
/// ```text
/// client ──bytes──▶ handle_client_data ─┐        ┌─▶ Output::ToUpstream ──▶ upstream
/// upstream ─bytes─▶ handle_upstream_data ┼─ Session ┼─▶ Output::ToClient ──▶ client
/// driver answers ─▶ handle_login / handle_upstream_* ┘ └─▶ Output::Event ──▶ driver
/// ```
///
/// # Conversation
///
/// 1. The client's startup: SSLRequest is answered `S` ([`Event::StartClientTls`]: the
///    driver writes the `S`, does the TLS handshake and calls
///    [`Session::handle_client_tls`]) or `N`; GSSENCRequest is answered `N`; CancelRequest
///    becomes [`Event::Cancel`] and ends the connection. A StartupMessage of protocol 3.0
///    or 3.2 has its parameters checked: `replication` is refused; `role`,
///    `session_authorization` and `gatekit.*` are never accepted; every other run-time
///    setting, sent as a parameter or as a `-c name=value` switch in `options`, must be in
///    [`SessionConfig::allowed_settings`]. Other minor versions and `_pq_.` options are
///    negotiated down with NegotiateProtocolVersion.
/// 2. The token: the client is asked for a cleartext password, which carries its JWT —
///    only over TLS, unless the listener is loopback and `allow_plaintext_auth` is set.
///    [`Event::Authenticate`] asks the driver to verify it and admit the identity; the
///    answer comes back through [`Session::handle_login`].
/// 3. The upstream: [`Event::ConnectUpstream`]; the session negotiates TLS per
///    `upstream_tls` ([`Event::StartUpstreamTls`]) and logs in with the held credential
///    (SCRAM-SHA-256, MD5, cleartext or none). Only then does the client get
///    AuthenticationOk, followed by the server's ParameterStatus messages, a
///    BackendKeyData carrying a key the gateway made up, and ReadyForQuery.
///    [`Event::Established`] tells the driver both keys so that a later CancelRequest
///    reaches the right backend.
/// 4. The relay: messages go both ways whole, one at a time, each checked against its
///    type's size cap and forwarded as the original bytes. Each statement waits for the
///    caller's [`Decision`] ([`Event::Statement`]); see [`Decision`] for how a denial
///    keeps client and server in step.
///
/// # Identity inside the database
///
/// The upstream StartupMessage carries the held account, the target database, the
/// client's allowed settings, and in `options` the switches `-c role=…` (the role
/// `roles` maps the identity's groups to: `SET ROLE` at session start),
/// `-c gatekit.user=<subject>` and `-c gatekit.groups=<g1,g2>`, which row-level security
/// policies, triggers and logs can read with `current_setting('gatekit.user')`. Settings
/// given at startup are the session's defaults, so `RESET ROLE`, `RESET ALL` and
/// `DISCARD ALL` return to them, and the client sees no statement or reply for them. A
/// client can still try `SET ROLE` or `SET gatekit.user` by hand: those statements are
/// decided on like any other (the SQL classifier makes them `dcl`/`admin`).
///
/// Any error is fatal and sticky: the client gets an ErrorResponse where the protocol
/// allows, the upstream a Terminate, the driver [`Event::Close`], and every later call
/// returns the same error.
pub struct Session {
    config: Arc<SessionConfig>,
    state: State,
    error: Option<PgError>,
    client_in: BytesMut,
    upstream_in: BytesMut,
    to_client: BytesMut,
    to_upstream: BytesMut,
    events: VecDeque<Event>,
    client_tls: bool,
    client: Option<startup::ClientStartup>,
    identity: Option<Identity>,
    upstream_startup: Bytes,
    scram: Option<ScramClient>,
    scram_nonce: [u8; 18],
    issued_pid: u32,
    issued_secret: [u8; 32],
    upstream_key: Option<CancelKey>,
    startup_deadline: Option<Timestamp>,
    expires_at: Option<Timestamp>,
    transaction_status: u8,
    held: Option<relay::Held>,
    next_statement: u64,
    discard_until_sync: bool,
    denials: VecDeque<String>,
    mask: mask::MaskMode,
    database: Option<String>,
    record: Option<Box<record::Recording>>,
    outcome: outcome::Tracker,
    /// The last output handed to the driver, not yet recorded or tracked: that is done on
    /// the session's next call, once the driver has sent it, so the recording and result
    /// tracking are not on the path of the bytes (see [`Session::poll_output`]).
    unaccounted: Option<Sent>,
    /// A statement mentioned `search_path` (COPY names may resolve elsewhere).
    search_path_changed: bool,
    /// The words of the last statement scanned for COPY and schema moves.
    words: crate::last_text::LastText<(bool, bool)>,
}

/// Output handed to the driver and not yet recorded or tracked, with whether the session
/// was ready when it went.
enum Sent {
    ToClient(Bytes, bool),
    ToUpstream(Bytes, bool),
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("target", &self.config.target)
            .field("state", &self.state)
            .field("error", &self.error)
            .field("identity", &self.identity.as_ref().map(|i| &i.subject))
            .finish_non_exhaustive()
    }
}

impl Session {
    /// How many random bytes [`Session::new`] takes.
    pub const RANDOM_LEN: usize = 54;

    /// A session for a client that has just connected at `now`.
    ///
    /// `random` must come from a cryptographically secure source: its first 4 bytes make
    /// the process id and the next 32 the secret of the cancel key the client is given; the
    /// last 18 make the nonce of the upstream SCRAM login.
    pub fn new(config: Arc<SessionConfig>, now: Timestamp, random: [u8; Self::RANDOM_LEN]) -> Self {
        let mut pid = [0u8; 4];
        let mut secret = [0u8; 32];
        let mut scram_nonce = [0u8; 18];
        let (head, nonce) = random.split_at(36);
        let (p, rest) = head.split_at(4);
        pid.copy_from_slice(p);
        secret.copy_from_slice(rest);
        scram_nonce.copy_from_slice(nonce);
        let pid = (u32::from_be_bytes(pid) & 0x7fff_ffff).max(1);
        let startup_deadline = now.checked_add(config.startup_timeout).ok();
        Session {
            config,
            state: State::Startup,
            error: None,
            client_in: BytesMut::new(),
            upstream_in: BytesMut::new(),
            to_client: BytesMut::new(),
            to_upstream: BytesMut::new(),
            events: VecDeque::new(),
            client_tls: false,
            client: None,
            identity: None,
            upstream_startup: Bytes::new(),
            scram: None,
            scram_nonce,
            issued_pid: pid,
            issued_secret: secret,
            upstream_key: None,
            startup_deadline,
            expires_at: None,
            transaction_status: b'I',
            held: None,
            next_statement: 1,
            discard_until_sync: false,
            denials: VecDeque::new(),
            mask: mask::MaskMode::default(),
            database: None,
            record: None,
            outcome: outcome::Tracker::new(now),
            unaccounted: None,
            search_path_changed: false,
            words: crate::last_text::LastText::default(),
        }
    }

    /// The verified identity, once the login was accepted.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The upstream database the session logs in to (`None`: the server's default, the
    /// account's name), once the login was accepted.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The upstream's last transaction status (`I` idle, `T` in a transaction, `E` failed).
    pub fn transaction_status(&self) -> u8 {
        self.transaction_status
    }

    /// The protocol version spoken with the client, once its StartupMessage arrived.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.client.as_ref().map(|c| c.version)
    }

    /// Whether the session is relaying.
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// Whether the session has ended, normally or by an error.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed | State::Failed)
    }

    /// The error that ended the session, if one did.
    pub fn error(&self) -> Option<&PgError> {
        self.error.as_ref()
    }

    /// The next output, in the documented order; `None` when nothing is pending.
    ///
    /// What it hands out is recorded and paired with its command on the session's next call
    /// (this one again, or any `handle_*`), so a driver that sends the bytes before calling
    /// again keeps that work off their path; drain this until `None` before reading
    /// [`Session::poll_outcome`] or [`Session::poll_recording`].
    pub fn poll_output(&mut self) -> Option<Output> {
        self.account_sent();
        let ready = self.state == State::Ready;
        if !self.to_client.is_empty() {
            let bytes = self.to_client.split().freeze();
            self.unaccounted = Some(Sent::ToClient(bytes.clone(), ready));
            return Some(Output::ToClient(bytes));
        }
        if !self.to_upstream.is_empty() {
            self.track_before_send();
            let bytes = self.to_upstream.split().freeze();
            self.unaccounted = Some(Sent::ToUpstream(bytes.clone(), ready));
            return Some(Output::ToUpstream(bytes));
        }
        self.events.pop_front().map(Output::Event)
    }

    /// Records and tracks the output handed out last, if that is not done yet.
    pub(super) fn account_sent(&mut self) {
        match self.unaccounted.take() {
            Some(Sent::ToClient(bytes, ready)) => {
                self.record_to_client(&bytes);
                if ready {
                    self.outcome.sent_to_client(&bytes);
                }
            }
            Some(Sent::ToUpstream(bytes, ready)) => {
                self.record_to_server(&bytes);
                if ready {
                    self.outcome.sent_to_server(&bytes);
                }
            }
            None => {}
        }
    }

    /// When [`Session::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.is_closed() {
            return None;
        }
        let startup = if self.state == State::Ready {
            None
        } else {
            self.startup_deadline
        };
        match (startup, self.expires_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The clock reached a deadline from [`Session::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Timestamp) -> Result<(), PgError> {
        self.check()?;
        if self.state != State::Ready && self.startup_deadline.is_some_and(|d| now >= d) {
            return Err(self.fail(PgError::StartupTimeout));
        }
        if self.expires_at.is_some_and(|e| now >= e) {
            return Err(self.fail(PgError::TokenExpired));
        }
        Ok(())
    }

    /// Bytes arrived from the client (decrypted, when TLS is on).
    pub fn handle_client_data(&mut self, now: Timestamp, data: &[u8]) -> Result<(), PgError> {
        self.check()?;
        if self.state == State::Closed {
            return Ok(());
        }
        self.record_clock(now);
        self.client_in.extend_from_slice(data);
        let r = self.process_client(now);
        self.settle(r)
    }

    /// Bytes arrived from the upstream (decrypted, when TLS is on).
    pub fn handle_upstream_data(&mut self, now: Timestamp, data: &[u8]) -> Result<(), PgError> {
        self.check()?;
        if self.state == State::Closed {
            return Ok(());
        }
        self.record_clock(now);
        self.upstream_in.extend_from_slice(data);
        let r = self.process_upstream(now);
        self.settle(r)
    }

    /// The client closed its side.
    pub fn handle_client_eof(&mut self, _now: Timestamp) -> Result<(), PgError> {
        self.check()?;
        match self.state {
            State::Closed => Ok(()),
            State::Ready if self.client_in.is_empty() => {
                encode::terminate(&mut self.to_upstream);
                self.close();
                Ok(())
            }
            State::Startup | State::AwaitPassword if self.client_in.is_empty() => {
                // psql hangs up when asked for a password it does not have, then prompts.
                self.close();
                Ok(())
            }
            _ => Err(self.fail(PgError::UnexpectedEof { side: Side::Client })),
        }
    }

    /// The upstream closed its side.
    pub fn handle_upstream_eof(&mut self, _now: Timestamp) -> Result<(), PgError> {
        self.check()?;
        if self.state == State::Closed {
            return Ok(());
        }
        Err(self.fail(PgError::UnexpectedEof {
            side: Side::Upstream,
        }))
    }

    /// The TLS handshake with the client finished (after [`Event::StartClientTls`]).
    pub fn handle_client_tls(&mut self, now: Timestamp) -> Result<(), PgError> {
        self.check()?;
        self.expect(State::AwaitClientTls, "handle_client_tls")?;
        self.client_tls = true;
        self.state = State::Startup;
        let r = self.process_client(now);
        self.settle(r)
    }

    /// The answer to [`Event::Authenticate`]: the verified, admitted identity, or why not.
    pub fn handle_login(
        &mut self,
        now: Timestamp,
        result: Result<Identity, LoginRefusal>,
    ) -> Result<(), PgError> {
        self.check()?;
        self.expect(State::Authenticating, "handle_login")?;
        let r = self.on_login(now, result);
        self.settle(r)
    }

    /// The TCP connection to the upstream is open (after [`Event::ConnectUpstream`]).
    pub fn handle_upstream_connected(&mut self, _now: Timestamp) -> Result<(), PgError> {
        self.check()?;
        self.expect(State::Connecting, "handle_upstream_connected")?;
        if self.config.upstream_tls == UpstreamTls::Disable {
            self.send_upstream_startup();
        } else {
            encode::ssl_request(&mut self.to_upstream);
            self.state = State::UpstreamSsl;
        }
        Ok(())
    }

    /// The upstream could not be reached; `detail` is shown to the client.
    pub fn handle_upstream_connect_failed(
        &mut self,
        _now: Timestamp,
        detail: impl Into<String>,
    ) -> Result<(), PgError> {
        self.check()?;
        let detail = detail.into();
        Err(self.fail(PgError::UpstreamConnect { detail }))
    }

    /// The TLS handshake with the upstream finished (after [`Event::StartUpstreamTls`]).
    pub fn handle_upstream_tls(&mut self, _now: Timestamp) -> Result<(), PgError> {
        self.check()?;
        self.expect(State::AwaitUpstreamTls, "handle_upstream_tls")?;
        self.send_upstream_startup();
        Ok(())
    }

    fn check(&self) -> Result<(), PgError> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn expect(&mut self, state: State, input: &'static str) -> Result<(), PgError> {
        if self.state == state {
            Ok(())
        } else {
            let e = PgError::BadInput {
                input,
                state: self.state.name(),
            };
            Err(self.fail(e))
        }
    }

    fn settle(&mut self, r: Result<(), PgError>) -> Result<(), PgError> {
        r.map_err(|e| self.fail(e))
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.events.push_back(Event::Close);
    }

    /// Ends the session: an ErrorResponse for the client where it can read one, a
    /// Terminate for a logged-in upstream, and [`Event::Close`].
    fn fail(&mut self, err: PgError) -> PgError {
        let client_reads = !matches!(
            self.state,
            State::AwaitClientTls | State::Closed | State::Failed
        ) && err != PgError::UnexpectedEof { side: Side::Client };
        if client_reads {
            let text = err.client_message();
            ErrorBuilder::new(Severity::Fatal, err.sqlstate(), &text).encode(&mut self.to_client);
        }
        let upstream_open = matches!(
            self.state,
            State::UpstreamAuth | State::UpstreamStartup | State::Ready
        ) && err
            != PgError::UnexpectedEof {
                side: Side::Upstream,
            };
        if upstream_open {
            encode::terminate(&mut self.to_upstream);
        }
        if !matches!(self.state, State::Closed | State::Failed) {
            self.events.push_back(Event::Close);
        }
        self.state = State::Failed;
        self.client_in.clear();
        self.upstream_in.clear();
        self.error = Some(err.clone());
        err
    }

    fn process_client(&mut self, now: Timestamp) -> Result<(), PgError> {
        loop {
            match self.state {
                State::Startup => {
                    let Some(packet) =
                        StartupPacket::decode(&mut self.client_in, &self.config.limits)?
                    else {
                        return Ok(());
                    };
                    self.on_startup_packet(packet)?;
                }
                State::AwaitClientTls => {
                    if !self.client_in.is_empty() {
                        return Err(PgError::DataAfterSslRequest);
                    }
                    return Ok(());
                }
                State::AwaitPassword => {
                    let Some(frame) =
                        Frame::decode_frontend(&mut self.client_in, &self.config.limits)?
                    else {
                        return Ok(());
                    };
                    match frame.frontend()? {
                        FrontendMessage::AuthResponse(data) => self.on_token(data)?,
                        FrontendMessage::Terminate => {
                            self.close();
                            return Ok(());
                        }
                        _ => return Err(self.unexpected(Side::Client, frame.tag())),
                    }
                }
                State::Ready => return self.relay_client(now),
                State::Closed | State::Failed => return Ok(()),
                _ => {
                    // The client is ahead of the login; keep a little, refuse a flood.
                    if self.client_in.len() > self.config.limits.control {
                        let tag = self.client_in.first().copied().unwrap_or(0);
                        return Err(self.unexpected(Side::Client, tag));
                    }
                    return Ok(());
                }
            }
        }
    }

    fn unexpected(&self, side: Side, tag: u8) -> PgError {
        PgError::Unexpected {
            side,
            tag: Tag(tag),
            state: self.state.name(),
        }
    }

    fn on_startup_packet(&mut self, packet: StartupPacket) -> Result<(), PgError> {
        match packet {
            StartupPacket::SslRequest => {
                if self.client_tls {
                    return Err(self.unexpected(Side::Client, 0));
                }
                if self.config.client_tls {
                    self.to_client.extend_from_slice(b"S");
                    self.events.push_back(Event::StartClientTls);
                    self.state = State::AwaitClientTls;
                } else {
                    self.to_client.extend_from_slice(b"N");
                }
            }
            StartupPacket::GssEncRequest => self.to_client.extend_from_slice(b"N"),
            StartupPacket::Cancel(key) => {
                self.events.push_back(Event::Cancel(key));
                self.close();
            }
            StartupPacket::Startup { version, params } => {
                let client = startup::filter(version, &params, &self.config)?;
                if client.negotiate {
                    let unsupported: Vec<&str> =
                        client.unsupported.iter().map(String::as_str).collect();
                    encode::negotiate_protocol_version(
                        &mut self.to_client,
                        client.version.minor,
                        &unsupported,
                    );
                }
                self.client = Some(client);
                if !self.client_tls && !self.config.plaintext_ok() {
                    return Err(PgError::PlaintextRefused);
                }
                encode::authentication_cleartext(&mut self.to_client);
                self.state = State::AwaitPassword;
            }
        }
        Ok(())
    }

    fn on_token(&mut self, data: &[u8]) -> Result<(), PgError> {
        let malformed = |what| PgError::Malformed {
            side: Side::Client,
            tag: Tag(b'p'),
            what,
        };
        let token = match data.split_last() {
            Some((0, t)) if !t.contains(&0) => t,
            _ => return Err(malformed("password is not one NUL-terminated string")),
        };
        let token = std::str::from_utf8(token).map_err(|_| malformed("token is not UTF-8"))?;
        if token.is_empty() {
            return Err(PgError::InvalidToken {
                reason: "no token given (send the JWT as the password)".into(),
            });
        }
        let Some(client) = &self.client else {
            return Err(self.unexpected(Side::Client, b'p'));
        };
        let settings = |name: &str| {
            client
                .settings
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        self.events.push_back(Event::Authenticate(LoginRequest {
            token: token.to_owned(),
            user: client.user.clone(),
            database: client.database.clone(),
            application_name: settings("application_name"),
            tls: self.client_tls,
        }));
        self.state = State::Authenticating;
        Ok(())
    }

    fn on_login(
        &mut self,
        now: Timestamp,
        result: Result<Identity, LoginRefusal>,
    ) -> Result<(), PgError> {
        let identity = result.map_err(|r| match r {
            LoginRefusal::InvalidToken(reason) => PgError::InvalidToken { reason },
            LoginRefusal::NotAdmitted(reason) => PgError::NotAdmitted { reason },
        })?;
        let Some(client) = &self.client else {
            return Err(self.unexpected(Side::Client, b'p'));
        };
        if self.config.user_check == UserCheck::SubjectOrEmail
            && !startup::user_matches(&client.user, &identity)
        {
            return Err(PgError::UserMismatch {
                user: client.user.clone(),
            });
        }
        if identity.expires_at.is_some_and(|e| e <= now) {
            return Err(PgError::TokenExpired);
        }
        let role = startup::pick_role(&identity, &self.config)?;
        let params = startup::upstream_params(client, &self.config, &identity, role)?;
        let mut packet = BytesMut::new();
        encode::startup_message(
            &mut packet,
            ProtocolVersion::V3_0,
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        self.upstream_startup = packet.freeze();
        self.database = params
            .iter()
            .find(|(k, _)| k == "database")
            .map(|(_, v)| v.clone());
        self.expires_at = identity.expires_at;
        self.identity = Some(identity);
        self.events.push_back(Event::ConnectUpstream);
        self.state = State::Connecting;
        Ok(())
    }

    fn send_upstream_startup(&mut self) {
        self.to_upstream.extend_from_slice(&self.upstream_startup);
        self.state = State::UpstreamAuth;
    }

    /// The key the client is given: 4 secret bytes in protocol 3.0, 32 in 3.2.
    fn issued_key(&self) -> CancelKey {
        let len = match self.protocol_version() {
            Some(v) if v >= ProtocolVersion::V3_2 => 32,
            _ => 4,
        };
        CancelKey {
            pid: self.issued_pid,
            secret: Bytes::copy_from_slice(self.issued_secret.get(..len).unwrap_or_default()),
        }
    }
}
