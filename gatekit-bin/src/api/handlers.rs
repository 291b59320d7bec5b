//! Request handling: authentication, the endpoints, and JSON responses.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use gatekit_core::approval::{Approval, Choice, Status};
use gatekit_core::audit::{ApprovalEvent, ApprovalState, AuditEvent};
use gatekit_core::{Identity, Protocol};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use jiff::Timestamp;
use serde::Deserialize;

use super::route::{Route, StatusName, route};
use super::{ApiError, ApiState, BODY_TIMEOUT, MAX_BODY, ui};
use crate::notify::{ApprovalNotice, Notice, SessionNotice};
use crate::state::{ApprovalFilter, StateError};

/// Longest `Authorization` header value read.
const MAX_AUTH_HEADER: usize = 16 * 1024;

/// The body of `approve` and `deny`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    /// Why.
    #[serde(default)]
    reason: Option<String>,
}

impl ApiState {
    /// Answers one request. Never fails: errors become JSON error responses.
    pub(super) async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Full<Bytes>> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        match self.dispatch(req).await {
            Ok(r) => r,
            Err(e) => {
                if e.status().is_server_error() {
                    tracing::warn!(%peer, %method, path, error = %e, "api request failed");
                } else {
                    tracing::debug!(%peer, %method, path, error = %e, "api request refused");
                }
                json(e.status(), &e.body())
            }
        }
    }

    async fn dispatch(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, ApiError> {
        let r = route(req.method().as_str(), req.uri().path(), req.uri().query())?;
        match r {
            Route::Health => Ok(json(StatusCode::OK, &serde_json::json!({ "status": "ok" }))),
            Route::Ready => Ok(self.ready().await),
            Route::Metrics => Ok(text(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                self.metrics.render(),
            )),
            Route::Ui(asset) => Ok(ui::response(asset)),
            Route::ListApprovals { status, limit } => {
                self.authenticate(&req).await?;
                let filter = match status {
                    None => ApprovalFilter::Any,
                    Some(StatusName::Decided) => ApprovalFilter::Decided,
                    Some(s) => ApprovalFilter::Status(status_of(s)),
                };
                let list = self
                    .store
                    .list_approvals(filter, limit)
                    .await
                    .map_err(store_error)?;
                Ok(json(
                    StatusCode::OK,
                    &serde_json::json!({ "approvals": list }),
                ))
            }
            Route::ShowApproval { id } => {
                self.authenticate(&req).await?;
                let a = self.store.get_approval(&id).await.map_err(store_error)?;
                Ok(json(
                    StatusCode::OK,
                    &serde_json::to_value(&a).unwrap_or_default(),
                ))
            }
            Route::Decide { id, approve } => {
                let decider = self.authenticate(&req).await?;
                let body: DecideBody = read_json(req).await?;
                let choice = if approve {
                    Choice::Approve
                } else {
                    Choice::Deny
                };
                let a = self
                    .decide(&id, &decider, choice, body.reason.as_deref())
                    .await?;
                Ok(json(
                    StatusCode::OK,
                    &serde_json::to_value(&a).unwrap_or_default(),
                ))
            }
            Route::ListSessions { limit } => {
                self.authenticate(&req).await?;
                let mut list = self.store.list_sessions().await.map_err(store_error)?;
                list.truncate(limit);
                Ok(json(
                    StatusCode::OK,
                    &serde_json::json!({ "sessions": list }),
                ))
            }
            Route::Terminate { id } => {
                let admin = self.authenticate(&req).await?;
                if !admin.groups.iter().any(|g| self.admin_groups.contains(g)) {
                    return Err(ApiError::Forbidden(format!(
                        "`{}` is in none of the admin groups ([api] admin_groups) and cannot terminate sessions",
                        admin.subject
                    )));
                }
                let s = self
                    .store
                    .request_kill(&id, &admin.subject, Timestamp::now())
                    .await
                    .map_err(|e| match e {
                        StateError::SessionNotFound { id } => ApiError::NotFound {
                            what: "session",
                            id,
                        },
                        e => store_error(e),
                    })?;
                tracing::info!(session = %s.id, by = %admin.subject, "api: session termination requested");
                self.notifier.notify(Notice::SessionKilled(SessionNotice {
                    session: s.id.clone(),
                    user: s.identity.subject.clone(),
                    target: s.target.clone(),
                    by: admin.subject.clone(),
                }));
                Ok(json(
                    StatusCode::ACCEPTED,
                    &serde_json::to_value(&s).unwrap_or_default(),
                ))
            }
        }
    }

    async fn ready(&self) -> Response<Full<Bytes>> {
        let listeners = self.listeners_ready.load(Ordering::Acquire);
        let store = tokio::time::timeout(Duration::from_secs(2), self.store.get_audit_head()).await;
        let store_error = match store {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("no answer within 2 s".to_owned()),
        };
        let ok = listeners && store_error.is_none();
        let body = serde_json::json!({
            "status": if ok { "ready" } else { "not_ready" },
            "listeners": listeners,
            "store": self.store.backend(),
            "store_error": store_error,
        });
        json(
            if ok {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            },
            &body,
        )
    }

    /// The caller's identity, from a verified bearer token.
    async fn authenticate(&self, req: &Request<Incoming>) -> Result<Identity, ApiError> {
        let value = req
            .headers()
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::NoToken)?;
        if value.len() > MAX_AUTH_HEADER {
            return Err(ApiError::BadToken("Authorization header too long".into()));
        }
        let value = value.to_str().map_err(|_| ApiError::NoToken)?;
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::NoToken)?;
        self.shared
            .keys
            .verify(&self.shared.verifier.load(), token, Timestamp::now())
            .await
            .map_err(|e| ApiError::BadToken(e.to_string()))
    }

    /// Casts the decider's vote through the store, then records, measures and announces it.
    async fn decide(
        &self,
        id: &str,
        decider: &Identity,
        choice: Choice,
        reason: Option<&str>,
    ) -> Result<Approval, ApiError> {
        let now = Timestamp::now();
        let a = self
            .store
            .decide(id, decider, choice, reason, now)
            .await
            .map_err(store_error)?;
        tracing::info!(approval = %a.id, decider = %decider.subject, choice = ?choice, status = %a.status, "api: approval decided");
        let event = AuditEvent::Approval(ApprovalEvent {
            id: a.id.clone(),
            state: audit_state(a.status),
            requester: a.requester.subject.clone(),
            decider: Some(decider.subject.clone()),
            reason: reason.map(str::to_owned),
            session: None,
            target: Some(a.target.as_str().into()),
            command: Some(redacted(&a)),
        });
        if let Err(e) = self.shared.audit.append(event).await {
            // The vote is in the store; a trail that cannot take it must be seen.
            tracing::error!(approval = %a.id, error = %e, "api: the decision could not be written to the audit trail");
            return Err(ApiError::Internal(format!(
                "the decision was recorded but the audit trail refused it: {e}"
            )));
        }
        if !a.status.is_pending() {
            if let Some(decided) = a.decided_at {
                let waited = decided.duration_since(a.created_at);
                self.metrics
                    .approval_waited(Duration::try_from(waited).unwrap_or_default());
            }
            self.notifier
                .notify(Notice::ApprovalDecided(ApprovalNotice::from(&a)));
        }
        Ok(a)
    }
}

/// The approval's command with password literals removed.
pub fn redacted(a: &Approval) -> String {
    match a.protocol {
        Protocol::Postgres => gatekit_core::sql::redact_secrets(&a.command).into_owned(),
        _ => a.command.clone(),
    }
}

fn status_of(s: StatusName) -> Status {
    match s {
        StatusName::Pending | StatusName::Decided => Status::Pending,
        StatusName::Approved => Status::Approved,
        StatusName::Denied => Status::Denied,
        StatusName::Expired => Status::Expired,
        StatusName::Cancelled => Status::Cancelled,
    }
}

fn audit_state(s: Status) -> ApprovalState {
    match s {
        Status::Pending => ApprovalState::Pending,
        Status::Approved => ApprovalState::Approved,
        Status::Denied => ApprovalState::Denied,
        Status::Expired => ApprovalState::Expired,
        Status::Cancelled => ApprovalState::Cancelled,
    }
}

/// The API form of a store error.
fn store_error(e: StateError) -> ApiError {
    use gatekit_core::approval::ApprovalError as A;
    match e {
        StateError::ApprovalNotFound { id } => ApiError::NotFound {
            what: "approval",
            id,
        },
        StateError::SessionNotFound { id } => ApiError::NotFound {
            what: "session",
            id,
        },
        StateError::Transition(t) => match t {
            A::SelfDecision { .. } | A::NotAnApprover { .. } => ApiError::Forbidden(t.to_string()),
            A::TooLong { .. } | A::InvalidId { .. } => ApiError::BadBody(t.to_string()),
            t => ApiError::Conflict(t.to_string()),
        },
        StateError::Contended { .. } => ApiError::Conflict(e.to_string()),
        StateError::TooLong { .. } => ApiError::BadBody(e.to_string()),
        StateError::Unreachable { .. } | StateError::Query { .. } => {
            ApiError::Unavailable(e.to_string())
        }
        e => ApiError::Internal(e.to_string()),
    }
}

/// Reads a bounded JSON body; an empty body is the type's default.
async fn read_json<T: for<'de> Deserialize<'de> + Default>(
    req: Request<Incoming>,
) -> Result<T, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(ApiError::BodyTooLarge { limit: MAX_BODY });
    }
    let body = Limited::new(req.into_body(), MAX_BODY);
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, body.collect()).await {
        Err(_) => return Err(ApiError::BadBody("body not received in time".into())),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ApiError::BodyTooLarge { limit: MAX_BODY });
        }
        Ok(Err(e)) => return Err(ApiError::BadBody(e.to_string())),
        Ok(Ok(c)) => c.to_bytes(),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::BadBody(e.to_string()))
}

/// A JSON response.
pub(super) fn json(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = text(status, "application/json", body.to_string());
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A response with a body of `content_type`.
pub(super) fn text(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}
