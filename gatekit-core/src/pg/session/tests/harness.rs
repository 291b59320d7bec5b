//! `Pair`: one session between a scripted client and the simulated server, in simulated
//! time, with a test gate that accepts the token `good`.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::BytesMut;
use jiff::{SignedDuration, Timestamp};

use super::server::{FakeServer, UpstreamAuth};
use crate::Identity;
use crate::pg::codec::{BackendMessage, CancelKey, Frame, Limits, ProtocolVersion, encode};
use crate::pg::session::{
    ColumnKey, CopyField, CopyRequest, Decision, Event, LoginRefusal, LoginRequest, Masking,
    Output, QualifiedColumn, Session, SessionConfig, StatementRequest,
};

pub(crate) struct Pair {
    pub session: Session,
    pub server: FakeServer,
    pub now: Timestamp,
    /// Everything the client has received.
    pub client_rx: Vec<u8>,
    read: usize,
    pub closed: bool,
    pub cancels: Vec<CancelKey>,
    pub established: Option<(CancelKey, Option<CancelKey>)>,
    pub upstream_tls: bool,
    /// Answer StartClientTls with a finished handshake.
    pub auto_tls: bool,
    /// Keep the login request unanswered until `release_login`.
    pub hold_login: bool,
    held: Option<LoginRequest>,
    /// Token lifetime given to identities.
    pub expires_in: Option<SignedDuration>,
    /// Statements decided so far.
    pub statements: Vec<StatementRequest>,
    /// Statements whose text contains this are denied.
    pub deny_containing: Option<&'static str>,
    /// Keep statement requests unanswered until `release_statement`.
    pub hold_statements: bool,
    held_statements: Vec<StatementRequest>,
    /// Handed to the session when it is established.
    pub masking: Option<Arc<Masking>>,
    /// The simulated catalog for column lookups.
    pub catalog: HashMap<ColumnKey, QualifiedColumn>,
    /// Answer lookups with a failure.
    pub catalog_fails: bool,
    /// Keep column lookups unanswered until `release_columns`.
    pub hold_columns: bool,
    /// Every lookup asked for.
    pub lookups: Vec<Vec<ColumnKey>>,
    /// The simulated catalog's answer to COPY lookups (`None`: a failure).
    pub copy_fields: Option<Vec<CopyField>>,
    /// Every COPY lookup asked for.
    pub copy_lookups: Vec<CopyRequest>,
    /// Record the session with these caps from when it is established.
    pub record: Option<crate::record::RecordLimits>,
    /// The recording's lines so far.
    pub recorded: Vec<u8>,
}

pub(crate) fn backend_frames(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(f) = Frame::decode_backend(&mut buf, &Limits::default()).unwrap() {
        out.push((f.tag(), f.body().to_vec()));
    }
    out
}

impl Pair {
    pub(crate) fn new(config: SessionConfig, auth: UpstreamAuth) -> Self {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        Pair {
            session: Session::new(Arc::new(config), now, [7; Session::RANDOM_LEN]),
            server: FakeServer::new(auth),
            now,
            client_rx: Vec::new(),
            read: 0,
            closed: false,
            cancels: Vec::new(),
            established: None,
            upstream_tls: false,
            auto_tls: true,
            hold_login: false,
            held: None,
            expires_in: None,
            statements: Vec::new(),
            deny_containing: None,
            hold_statements: false,
            held_statements: Vec::new(),
            masking: None,
            catalog: HashMap::new(),
            catalog_fails: false,
            hold_columns: false,
            lookups: Vec::new(),
            copy_fields: None,
            copy_lookups: Vec::new(),
            record: None,
            recorded: Vec::new(),
        }
    }

    fn gate(&self, req: &LoginRequest) -> Result<Identity, LoginRefusal> {
        if req.token == "good" {
            let mut id = Identity::new("alice", ["dev"]);
            id.expires_at = self.expires_in.map(|d| self.now + d);
            Ok(id)
        } else {
            Err(LoginRefusal::InvalidToken(
                "token signature does not verify".into(),
            ))
        }
    }

    pub(crate) fn client_send(&mut self, data: &[u8]) {
        let now = self.now;
        let _ = self.session.handle_client_data(now, data);
        self.drain();
    }

    /// Drains the session's outputs, playing the driver, until nothing moves.
    pub(crate) fn drain(&mut self) {
        let now = self.now;
        loop {
            let mut moved = false;
            while let Some(o) = self.session.poll_output() {
                moved = true;
                match o {
                    Output::ToClient(b) => self.client_rx.extend_from_slice(&b),
                    Output::ToUpstream(b) => {
                        let reply = self.server.receive(&b);
                        if !reply.is_empty() {
                            let _ = self.session.handle_upstream_data(now, &reply);
                        }
                    }
                    Output::Event(e) => match e {
                        Event::StartClientTls => {
                            if self.auto_tls {
                                let _ = self.session.handle_client_tls(now);
                            }
                        }
                        Event::Cancel(k) => self.cancels.push(k),
                        Event::Authenticate(req) => {
                            if self.hold_login {
                                self.held = Some(req);
                            } else {
                                let answer = self.gate(&req);
                                let _ = self.session.handle_login(now, answer);
                            }
                        }
                        Event::ConnectUpstream => {
                            let _ = self.session.handle_upstream_connected(now);
                        }
                        Event::StartUpstreamTls => {
                            self.upstream_tls = true;
                            let _ = self.session.handle_upstream_tls(now);
                        }
                        Event::Established { issued, upstream } => {
                            self.established = Some((issued, upstream));
                            if let Some(limits) = self.record {
                                let start = crate::record::StartRecord {
                                    at: now,
                                    session: "s1".into(),
                                    target: "shop".into(),
                                    protocol: "postgres".into(),
                                    user: "alice".into(),
                                    groups: vec!["dev".into()],
                                    database: None,
                                    client: None,
                                };
                                let recorder = crate::record::SqlRecorder::new(start, limits);
                                self.session.start_recording(now, recorder);
                            }
                            let _ = self.session.handle_masking(now, self.masking.clone());
                        }
                        Event::ResolveColumns(keys) => {
                            self.lookups.push(keys);
                            if !self.hold_columns {
                                let answer = self.lookup();
                                let _ = self.session.handle_columns(now, answer);
                            }
                        }
                        Event::ResolveCopy(req) => {
                            self.copy_lookups.push(req);
                            let answer = self
                                .copy_fields
                                .clone()
                                .ok_or_else(|| "relation does not exist".to_owned());
                            let _ = self.session.handle_copy_columns(now, answer);
                        }
                        Event::Statement(req) => {
                            self.statements.push(req.clone());
                            if self.hold_statements {
                                self.held_statements.push(req);
                            } else {
                                let d = self.decide(&req);
                                let _ = self.session.handle_decision(now, req.id, d);
                            }
                        }
                        Event::Close => self.closed = true,
                    },
                }
            }
            if let Some(lines) = self.session.poll_recording() {
                self.recorded.extend_from_slice(&lines);
            }
            if !moved {
                break;
            }
        }
    }

    fn decide(&self, req: &StatementRequest) -> Decision {
        match self.deny_containing {
            Some(word)
                if word.is_empty() || req.sql.windows(word.len()).any(|w| w == word.as_bytes()) =>
            {
                Decision::Deny {
                    rule: Some("no-bulk-writes".into()),
                    reason: "bulk writes are not allowed".into(),
                }
            }
            _ => Decision::Allow,
        }
    }

    fn lookup(&self) -> Result<Vec<(ColumnKey, QualifiedColumn)>, String> {
        if self.catalog_fails {
            return Err("catalog connection refused".into());
        }
        let keys = self.lookups.last().cloned().unwrap_or_default();
        Ok(keys
            .iter()
            .filter_map(|k| self.catalog.get(k).map(|q| (*k, q.clone())))
            .collect())
    }

    /// Answers the last held column lookup.
    pub(crate) fn release_columns(&mut self) {
        let answer = self.lookup();
        let now = self.now;
        let _ = self.session.handle_columns(now, answer);
        self.drain();
    }

    /// Bytes from the server, as if it sent them now.
    pub(crate) fn upstream_send(&mut self, data: &[u8]) {
        let now = self.now;
        let _ = self.session.handle_upstream_data(now, data);
        self.drain();
    }

    /// Answers the oldest held statement.
    pub(crate) fn release_statement(&mut self) {
        let req = self.held_statements.remove(0);
        let d = self.decide(&req);
        let now = self.now;
        let _ = self.session.handle_decision(now, req.id, d);
        self.drain();
    }

    pub(crate) fn release_login(&mut self) {
        let req = self.held.take().unwrap();
        let answer = self.gate(&req);
        let now = self.now;
        let _ = self.session.handle_login(now, answer);
        self.drain();
    }

    fn startup_bytes(version: ProtocolVersion, params: &[(&str, &str)]) -> BytesMut {
        let mut b = BytesMut::new();
        encode::startup_message(&mut b, version, params.iter().copied());
        b
    }

    /// SSLRequest, the `S`, the handshake, then the StartupMessage.
    pub(crate) fn client_tls_startup(&mut self, version: ProtocolVersion, params: &[(&str, &str)]) {
        let mut b = BytesMut::new();
        encode::ssl_request(&mut b);
        self.client_send(&b);
        assert_eq!(self.client_rx, b"S");
        self.client_rx.clear();
        self.client_send(&Self::startup_bytes(version, params));
    }

    /// A StartupMessage without TLS.
    pub(crate) fn client_plain_startup(
        &mut self,
        version: ProtocolVersion,
        params: &[(&str, &str)],
    ) {
        self.client_send(&Self::startup_bytes(version, params));
    }

    pub(crate) fn send_token(&mut self, token: &str) {
        let mut b = BytesMut::new();
        encode::password(&mut b, token.as_bytes());
        self.client_send(&b);
    }

    /// The messages the client received since the last call.
    pub(crate) fn client_messages(&mut self) -> Vec<(u8, Vec<u8>)> {
        let frames = backend_frames(&self.client_rx[self.read..]);
        self.read = self.client_rx.len();
        frames
    }

    /// SQLSTATE and message of the last ErrorResponse the client received.
    pub(crate) fn last_error_fields(&self) -> (String, String) {
        let frames = backend_frames(&self.client_rx);
        let (_, body) = frames
            .iter()
            .rev()
            .find(|(t, _)| *t == b'E')
            .expect("an ErrorResponse");
        let BackendMessage::ErrorResponse(f) = BackendMessage::parse(b'E', body).unwrap() else {
            unreachable!()
        };
        let s = |c| String::from_utf8(f.get(c).unwrap_or_default().to_vec()).unwrap();
        (s(b'C'), s(b'M'))
    }
}
