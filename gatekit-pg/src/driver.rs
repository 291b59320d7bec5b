//! One driver per connection: moves bytes between the sockets and the core session,
//! carries out its events, and arms its one timer. No protocol logic lives here.
//!
//! The loop writes everything the session queued before it reads again, so a peer that
//! stops reading stops the other direction too (back-pressure), and at most one read
//! buffer per side plus one batch of output is held per connection.
//!
//! Events are answered inline, in order: while a column lookup
//! ([`Event::ResolveColumns`]) is in flight neither socket is read, so the server's bytes
//! wait in the kernel and in the session's bounded buffer. Lookups that the target's
//! column cache can answer never become events: the session reads the cache itself.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use gatekit_core::pg::codec::CancelKey;
use gatekit_core::pg::{Decision, Event, Masking, Output, Session, StatementRequest};
use gatekit_core::record::{SqlRecorder, StartRecord};
use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::conn::Conn;
use crate::gate::{Gate, LoginAttempt, SessionEnd, SessionInfo};
use crate::gateway::Inner;

/// Read buffer per direction.
const READ_BUF: usize = 16 * 1024;

fn now() -> Timestamp {
    Timestamp::now()
}

/// The tokio instant for a core deadline.
fn instant(deadline: Timestamp) -> tokio::time::Instant {
    let left = deadline.duration_since(now());
    let left = std::time::Duration::try_from(left).unwrap_or_default();
    tokio::time::Instant::now() + left
}

async fn read_opt(conn: &mut Option<Conn>, buf: &mut [u8]) -> std::io::Result<usize> {
    match conn {
        Some(c) => c.read(buf).await,
        None => std::future::pending().await,
    }
}

/// A future the connection's loop polls alongside its sockets.
type Waiting<T> = Pin<Box<dyn Future<Output = T> + Send>>;

async fn wait_opt<T>(fut: &mut Option<Waiting<T>>) -> T {
    match fut {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

async fn wait_review(review: &mut Option<Review>) -> Decision {
    match review {
        Some(r) => r.decision.as_mut().await,
        None => std::future::pending().await,
    }
}

/// A statement held for a person's review.
struct Review {
    statement: u64,
    approval: String,
    decision: Waiting<Decision>,
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

struct Driver<G> {
    inner: Arc<Inner<G>>,
    session: Session,
    client: Conn,
    upstream: Option<Conn>,
    peer: SocketAddr,
    id: String,
    issued: Option<CancelKey>,
    info: Option<SessionInfo>,
    review: Option<Review>,
    terminated: Option<Waiting<String>>,
}

/// Runs one client connection to its end.
pub(crate) async fn drive<G: Gate>(inner: Arc<Inner<G>>, tcp: TcpStream, peer: SocketAddr) {
    let _ = tcp.set_nodelay(true);
    let mut random = [0u8; Session::RANDOM_LEN + 16];
    if inner.provider.secure_random.fill(&mut random).is_err() {
        tracing::error!("no randomness for a cancel key; connection refused");
        return;
    }
    let (session_seed, id) = random.split_at(Session::RANDOM_LEN);
    let mut seed = [0u8; Session::RANDOM_LEN];
    seed.copy_from_slice(session_seed);
    let session = Session::new(Arc::clone(&inner.config), now(), seed);
    let mut d = Driver {
        inner,
        session,
        client: Conn::Plain(tcp),
        upstream: None,
        peer,
        id: hex::encode(id),
        issued: None,
        info: None,
        review: None,
        terminated: None,
    };
    d.run().await;
    d.finish().await;
}

impl<G: Gate> Driver<G> {
    async fn run(&mut self) {
        let mut cbuf = vec![0u8; READ_BUF];
        // Allocated once the upstream exists: a client stuck in the startup costs less.
        let mut ubuf = Vec::new();
        // One timer for the connection, moved only when the session's deadline changes:
        // arming a fresh one per message costs a timer-wheel insert and removal each time.
        let timer = tokio::time::sleep_until(tokio::time::Instant::now());
        tokio::pin!(timer);
        let mut armed: Option<Timestamp> = None;
        loop {
            if self.flush_outputs().await == Flow::Stop {
                return;
            }
            self.drain_recording();
            self.drain_outcomes();
            if self.upstream.is_some() && ubuf.is_empty() {
                ubuf.resize(READ_BUF, 0);
            }
            let deadline = self.session.poll_timeout();
            if deadline != armed {
                if let Some(d) = deadline {
                    timer.as_mut().reset(instant(d));
                }
                armed = deadline;
            }
            tokio::select! {
                decision = wait_review(&mut self.review) => {
                    self.on_review(decision);
                }
                reason = wait_opt(&mut self.terminated) => {
                    self.terminated = None;
                    tracing::info!(session = %self.id, peer = %self.peer, reason = %reason, "terminating session");
                    let _ = self.session.handle_terminate(now(), &reason);
                }
                r = self.client.read(&mut cbuf) => {
                    let _ = match r {
                        Ok(0) | Err(_) => self.session.handle_client_eof(now()),
                        Ok(n) => self.session.handle_client_data(now(), cbuf.get(..n).unwrap_or_default()),
                    };
                }
                r = read_opt(&mut self.upstream, &mut ubuf) => {
                    let _ = match r {
                        Ok(0) | Err(_) => self.session.handle_upstream_eof(now()),
                        Ok(n) => self.session.handle_upstream_data(now(), ubuf.get(..n).unwrap_or_default()),
                    };
                }
                () = &mut timer, if armed.is_some() => {
                    // Re-armed from the session's next deadline, even when it is the same one.
                    armed = None;
                    let _ = self.session.handle_timeout(now());
                }
            }
        }
    }

    /// Writes and acts on everything the session has queued, in its order.
    async fn flush_outputs(&mut self) -> Flow {
        while let Some(out) = self.session.poll_output() {
            match out {
                Output::ToClient(bytes) => {
                    let r = async {
                        self.client.write_all(&bytes).await?;
                        self.client.flush().await
                    }
                    .await;
                    if r.is_err() {
                        let _ = self.session.handle_client_eof(now());
                    }
                }
                Output::ToUpstream(bytes) => {
                    if let Some(up) = self.upstream.as_mut() {
                        let r = async {
                            up.write_all(&bytes).await?;
                            up.flush().await
                        }
                        .await;
                        if r.is_err() {
                            let _ = self.session.handle_upstream_eof(now());
                        }
                    }
                }
                Output::Event(event) => {
                    if self.on_event(event).await == Flow::Stop {
                        return Flow::Stop;
                    }
                }
            }
        }
        Flow::Continue
    }

    async fn on_event(&mut self, event: Event) -> Flow {
        let deadline = self.session.poll_timeout();
        match event {
            Event::StartClientTls => {
                let Some(acceptor) = self.inner.acceptor.clone() else {
                    return Flow::Stop;
                };
                let Ok(tcp) = self.client.take_plain() else {
                    return Flow::Stop;
                };
                let handshake = acceptor.accept(tcp);
                match with_deadline(deadline, handshake).await {
                    Some(Ok(tls)) => {
                        self.client = Conn::Server(Box::new(tls));
                        let _ = self.session.handle_client_tls(now());
                    }
                    Some(Err(e)) => {
                        tracing::debug!(peer = %self.peer, error = %e, "client TLS handshake failed");
                        return Flow::Stop;
                    }
                    None => {
                        tracing::debug!(peer = %self.peer, "client TLS handshake timed out");
                        return Flow::Stop;
                    }
                }
            }
            Event::Cancel(key) => crate::cancel::forward(&self.inner, &key).await,
            Event::Authenticate(req) => {
                let attempt = LoginAttempt {
                    target: &self.inner.config.target,
                    token: &req.token,
                    user: &req.user,
                    peer: self.peer,
                    tls: req.tls,
                };
                let answer = with_deadline(deadline, self.inner.gate.authenticate(attempt)).await;
                let _ = match answer {
                    Some(result) => self.session.handle_login(now(), result),
                    None => self.session.handle_timeout(now()),
                };
            }
            Event::ConnectUpstream => {
                let connect = TcpStream::connect(&self.inner.upstream);
                match tokio::time::timeout(self.inner.connect_timeout, connect).await {
                    Ok(Ok(tcp)) => {
                        let _ = tcp.set_nodelay(true);
                        self.upstream = Some(Conn::Plain(tcp));
                        let _ = self.session.handle_upstream_connected(now());
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(upstream = %self.inner.upstream, error = %e, "upstream connect failed");
                        let detail = format!("{}: {e}", self.inner.upstream);
                        let _ = self.session.handle_upstream_connect_failed(now(), detail);
                    }
                    Err(_) => {
                        let detail = format!("{}: timed out", self.inner.upstream);
                        let _ = self.session.handle_upstream_connect_failed(now(), detail);
                    }
                }
            }
            Event::StartUpstreamTls => {
                let result = match (&self.inner.connector, self.upstream.as_mut()) {
                    (Some(connector), Some(up)) => match up.take_plain() {
                        Ok(tcp) => {
                            let hs = connector.connect(self.inner.server_name.clone(), tcp);
                            match tokio::time::timeout(self.inner.connect_timeout, hs).await {
                                Ok(Ok(tls)) => {
                                    *up = Conn::Client(Box::new(tls));
                                    Ok(())
                                }
                                Ok(Err(e)) => Err(e.to_string()),
                                Err(_) => Err("timed out".to_owned()),
                            }
                        }
                        Err(e) => Err(e.to_string()),
                    },
                    _ => Err("no TLS configuration for the upstream".to_owned()),
                };
                let _ = match result {
                    Ok(()) => self.session.handle_upstream_tls(now()),
                    Err(e) => {
                        tracing::warn!(upstream = %self.inner.upstream, error = %e, "upstream TLS failed");
                        let detail = format!("TLS with {}: {e}", self.inner.upstream);
                        self.session.handle_upstream_connect_failed(now(), detail)
                    }
                };
            }
            Event::Established { issued, upstream } => {
                if let Some(up) = upstream {
                    self.inner.cancels.register(&issued, up);
                    self.issued = Some(issued);
                }
                if let Some(identity) = self.session.identity().cloned() {
                    let info = SessionInfo {
                        id: self.id.clone(),
                        target: self.inner.config.target.clone(),
                        peer: self.peer,
                        identity,
                        started_at: now(),
                    };
                    tracing::info!(session = %info.id, user = %info.identity.subject, peer = %self.peer, "postgres session started");
                    self.inner.gate.session_started(&info).await;
                    let (inner, watched) = (Arc::clone(&self.inner), info.clone());
                    self.terminated =
                        Some(Box::pin(
                            async move { inner.gate.terminated(&watched).await },
                        ));
                    self.info = Some(info);
                }
                self.start_recording();
                let maskers = match &self.info {
                    Some(info) => self.inner.gate.maskers(info),
                    None => Vec::new(),
                };
                let masking = Masking::new(maskers, self.inner.catalog.cache(self.database()));
                let _ = self.session.handle_masking(now(), masking.map(Arc::new));
            }
            Event::ResolveColumns(keys) => {
                let database = self.database().to_owned();
                let answer = self
                    .inner
                    .catalog
                    .lookup(&self.inner.config, &database, &keys)
                    .await;
                if let Err(e) = &answer {
                    tracing::warn!(session = %self.id, error = %e, "column lookup failed; masking those columns whole");
                }
                let _ = self.session.handle_columns(now(), answer);
            }
            Event::ResolveCopy(req) => {
                let database = self.database().to_owned();
                let answer = self
                    .inner
                    .catalog
                    .copy_columns(&self.inner.config, &database, &req)
                    .await;
                if let Err(e) = &answer {
                    tracing::warn!(session = %self.id, error = %e, "COPY column lookup failed; masking its fields whole");
                }
                let _ = self.session.handle_copy_columns(now(), answer);
            }
            Event::Statement(req) => {
                let decision = match &self.info {
                    Some(info) => self.inner.gate.decide(info, &req).await,
                    None => Decision::Deny {
                        rule: None,
                        reason: "the session has no verified identity".into(),
                    },
                };
                if let Decision::Hold { approval, .. } = &decision {
                    self.start_review(req.clone(), approval.clone());
                }
                let _ = self.session.handle_decision(now(), req.id, decision);
            }
            Event::Close => {
                let _ = self.client.shutdown().await;
                if let Some(up) = self.upstream.as_mut() {
                    let _ = up.shutdown().await;
                }
                return Flow::Stop;
            }
            other => {
                tracing::error!(event = ?other, "unhandled session event; closing");
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// Waits, alongside the sockets, for the review of a held statement.
    fn start_review(&mut self, req: StatementRequest, approval: String) {
        let Some(info) = self.info.clone() else {
            return;
        };
        tracing::info!(session = %self.id, approval = %approval, "statement held for review");
        let statement = req.id;
        let inner = Arc::clone(&self.inner);
        let waiting = approval.clone();
        let decision: Waiting<Decision> =
            Box::pin(async move { inner.gate.await_review(&info, &req, &waiting).await });
        self.review = Some(Review {
            statement,
            approval,
            decision,
        });
    }

    /// The review of the held statement is over.
    fn on_review(&mut self, decision: Decision) {
        let Some(review) = self.review.take() else {
            return;
        };
        let decision = match decision {
            Decision::Hold { .. } => Decision::Deny {
                rule: None,
                reason: format!("approval {} was not decided", review.approval),
            },
            d => d,
        };
        tracing::info!(session = %self.id, approval = %review.approval, allowed = matches!(decision, Decision::Allow), "review decided");
        let _ = self
            .session
            .handle_decision(now(), review.statement, decision);
    }

    /// Records the session when the gate asks for it.
    fn start_recording(&mut self) {
        let Some(info) = &self.info else { return };
        let Some(limits) = self.inner.gate.recording(info) else {
            return;
        };
        let start = StartRecord {
            at: info.started_at,
            session: info.id.clone(),
            target: info.target.clone(),
            protocol: "postgres".into(),
            user: info.identity.subject.clone(),
            groups: info.identity.groups.clone(),
            database: Some(self.database().to_owned()),
            client: Some(info.peer.to_string()),
        };
        let recorder = SqlRecorder::new(start, limits);
        self.session.start_recording(now(), recorder);
    }

    /// Hands the recorded lines to the gate.
    fn drain_recording(&mut self) {
        if let Some(info) = &self.info
            && let Some(lines) = self.session.poll_recording()
        {
            self.inner.gate.record(info, lines);
        }
    }

    /// Hands the finished commands' outcomes to the gate.
    fn drain_outcomes(&mut self) {
        let Some(info) = &self.info else { return };
        while let Some(outcome) = self.session.poll_outcome() {
            self.inner.gate.command_done(info, outcome);
        }
    }

    /// The upstream database (the account's name when the login named none).
    fn database(&self) -> &str {
        self.session
            .database()
            .unwrap_or(&self.inner.config.upstream_user)
    }

    async fn finish(&mut self) {
        if let (Some(review), Some(info)) = (self.review.take(), &self.info) {
            drop(review.decision);
            self.inner
                .gate
                .review_abandoned(info, &review.approval)
                .await;
        }
        if let Some(issued) = self.issued.take() {
            self.inner.cancels.unregister(&issued);
        }
        if let Some(e) = self.session.error() {
            tracing::info!(session = %self.id, peer = %self.peer, error = %e, "postgres connection ended with an error");
        }
        self.session.finish_recording(now());
        self.drain_recording();
        self.drain_outcomes();
        if let Some(info) = self.info.take() {
            let end = SessionEnd {
                ended_at: now(),
                error: self.session.error().cloned(),
            };
            self.inner.gate.session_ended(&info, &end).await;
        }
    }
}

/// Runs `fut` until the session's deadline; `None` when the deadline came first.
async fn with_deadline<F: std::future::Future>(
    deadline: Option<Timestamp>,
    fut: F,
) -> Option<F::Output> {
    match deadline {
        Some(d) => tokio::time::timeout_at(instant(d), fut).await.ok(),
        None => Some(fut.await),
    }
}
