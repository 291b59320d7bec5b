//! The upstream half of the session: TLS negotiation, login with the held credential, and
//! the server's startup messages.

use bytes::{Buf, Bytes};
use jiff::Timestamp;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::SCRAM_SHA_256;

use super::{Event, Password, Session, State, UpstreamTls};
use crate::pg::codec::encode;
use crate::pg::codec::{AuthRequest, BackendMessage, CancelKey, ErrorFields, Frame};
use crate::pg::error::{PgError, Side, Tag};
use crate::pg::scram::{ScramClient, ScramError};

impl Session {
    pub(super) fn process_upstream(&mut self, now: Timestamp) -> Result<(), PgError> {
        loop {
            match self.state {
                State::UpstreamSsl => {
                    let Some(&answer) = self.upstream_in.first() else {
                        return Ok(());
                    };
                    self.upstream_in.advance(1);
                    self.on_upstream_ssl_answer(answer)?;
                }
                State::AwaitUpstreamTls => {
                    if !self.upstream_in.is_empty() {
                        return Err(PgError::UpstreamDataAfterSsl);
                    }
                    return Ok(());
                }
                State::UpstreamAuth | State::UpstreamStartup => {
                    let Some(frame) =
                        Frame::decode_backend(&mut self.upstream_in, &self.config.limits)?
                    else {
                        return Ok(());
                    };
                    if self.state == State::UpstreamAuth {
                        self.on_upstream_auth(&frame)?;
                    } else {
                        self.on_upstream_startup(&frame)?;
                        if self.state == State::Ready {
                            // Whatever the client sent early is relayed now.
                            self.relay_client(now)?;
                        }
                    }
                }
                State::Ready => return self.relay_upstream(now),
                State::Closed | State::Failed => return Ok(()),
                _ => {
                    if self.upstream_in.is_empty() {
                        return Ok(());
                    }
                    let tag = self.upstream_in.first().copied().unwrap_or(0);
                    return Err(self.unexpected(Side::Upstream, tag));
                }
            }
        }
    }

    fn on_upstream_ssl_answer(&mut self, answer: u8) -> Result<(), PgError> {
        match answer {
            b'S' => {
                if !self.upstream_in.is_empty() {
                    return Err(PgError::UpstreamDataAfterSsl);
                }
                self.events.push_back(Event::StartUpstreamTls);
                self.state = State::AwaitUpstreamTls;
            }
            b'N' if self.config.upstream_tls == UpstreamTls::Prefer => {
                self.send_upstream_startup();
            }
            b'N' => return Err(PgError::UpstreamTlsRefused),
            other => {
                return Err(PgError::Malformed {
                    side: Side::Upstream,
                    tag: Tag(other),
                    what: "answer to SSLRequest is neither 'S' nor 'N'",
                });
            }
        }
        Ok(())
    }

    fn password(&self) -> Result<&[u8], PgError> {
        self.upstream_password().map(Password::as_bytes)
    }

    fn upstream_password(&self) -> Result<&Password, PgError> {
        self.config
            .upstream_password
            .as_ref()
            .ok_or(PgError::UpstreamPasswordMissing)
    }

    fn on_upstream_auth(&mut self, frame: &Frame) -> Result<(), PgError> {
        let scram_err = |e: ScramError| PgError::UpstreamScram {
            detail: e.to_string(),
        };
        match frame.backend()? {
            BackendMessage::Authentication(req) => match req {
                AuthRequest::Ok => {
                    // Once SCRAM began, only a server that proved it knows the password
                    // may end the login: one that skips its signature is not trusted.
                    if self.scram.take().is_some_and(|s| !s.verified()) {
                        return Err(PgError::UpstreamScram {
                            detail: "the server ended the login without proving it knows \
                                     the password"
                                .into(),
                        });
                    }
                    encode::authentication_ok(&mut self.to_client);
                    self.state = State::UpstreamStartup;
                }
                // Once SCRAM began, no other method (a downgrade that would reveal the
                // password) and no second exchange.
                AuthRequest::Cleartext | AuthRequest::Md5 { .. } | AuthRequest::Sasl(_)
                    if self.scram.is_some() =>
                {
                    return Err(PgError::UpstreamScram {
                        detail: "the server asked for another login in the middle of SCRAM".into(),
                    });
                }
                AuthRequest::Cleartext => {
                    let pw = self.password()?.to_vec();
                    encode::password(&mut self.to_upstream, &pw);
                }
                AuthRequest::Md5 { salt } => {
                    let hash =
                        md5_hash(self.config.upstream_user.as_bytes(), self.password()?, salt);
                    encode::password(&mut self.to_upstream, hash.as_bytes());
                }
                AuthRequest::Sasl(_) => {
                    if !req.mechanisms().any(|m| m == SCRAM_SHA_256.as_bytes()) {
                        return Err(PgError::UpstreamScram {
                            detail: "the server offers no SCRAM-SHA-256".into(),
                        });
                    }
                    // Channel binding is not offered ('n'): the server is authenticated by
                    // its certificate under `verify-full`, and by the SCRAM server
                    // signature checked below in every mode.
                    let scram = ScramClient::new(&self.scram_nonce);
                    encode::sasl_initial_response(
                        &mut self.to_upstream,
                        SCRAM_SHA_256,
                        scram.first_message(),
                    );
                    self.scram = Some(scram);
                }
                AuthRequest::SaslContinue(data) => {
                    let Some(mut scram) = self.scram.take() else {
                        return Err(self.unexpected(Side::Upstream, b'R'));
                    };
                    let password = self.upstream_password()?;
                    let answer = scram
                        .server_first(data, password.as_bytes(), password.scram_keys())
                        .map_err(scram_err)?;
                    encode::sasl_response(&mut self.to_upstream, answer);
                    self.scram = Some(scram);
                }
                AuthRequest::SaslFinal(data) => {
                    let Some(scram) = self.scram.as_mut() else {
                        return Err(self.unexpected(Side::Upstream, b'R'));
                    };
                    // Checks the server's signature: a server that does not know the
                    // password cannot fake a login.
                    scram.server_final(data).map_err(scram_err)?;
                }
                AuthRequest::Other(code) => return Err(PgError::UpstreamAuthUnsupported { code }),
            },
            BackendMessage::ErrorResponse(fields) => return Err(login_error(fields)),
            BackendMessage::NoticeResponse(_) | BackendMessage::NegotiateProtocolVersion { .. } => {
            }
            _ => return Err(self.unexpected(Side::Upstream, frame.tag())),
        }
        Ok(())
    }

    fn on_upstream_startup(&mut self, frame: &Frame) -> Result<(), PgError> {
        match frame.backend()? {
            BackendMessage::ParameterStatus { .. } => {
                super::mask::check_parameter(frame)?;
                self.to_client.extend_from_slice(frame.raw());
            }
            BackendMessage::NoticeResponse(_) => {
                self.to_client.extend_from_slice(frame.raw());
            }
            BackendMessage::BackendKeyData { pid, secret } => {
                self.upstream_key = Some(CancelKey {
                    pid,
                    secret: Bytes::copy_from_slice(secret),
                });
                let issued = self.issued_key();
                encode::backend_key_data(&mut self.to_client, &issued);
            }
            BackendMessage::ReadyForQuery { status } => {
                self.transaction_status = status;
                self.to_client.extend_from_slice(frame.raw());
                self.state = State::Ready;
                self.startup_deadline = None;
                self.events.push_back(Event::Established {
                    issued: self.issued_key(),
                    upstream: self.upstream_key.clone(),
                });
            }
            BackendMessage::ErrorResponse(fields) => return Err(login_error(fields)),
            BackendMessage::NegotiateProtocolVersion { .. } => {}
            _ => return Err(self.unexpected(Side::Upstream, frame.tag())),
        }
        Ok(())
    }
}

pub(super) fn login_error(fields: ErrorFields<'_>) -> PgError {
    let text = |code| String::from_utf8_lossy(fields.get(code).unwrap_or_default()).into_owned();
    let mut code = text(b'C');
    if code.len() != 5 {
        code = "08006".into();
    }
    PgError::UpstreamLogin {
        code,
        message: text(b'M'),
    }
}
