//! The API's errors and their HTTP form: a status code and `{"error": ..., "code": ...}`.

use hyper::StatusCode;

use super::route::RouteError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request matched no route, or a route refused its parameters.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The body is not the JSON the endpoint takes.
    #[error("bad request body: {0}")]
    BadBody(String),
    /// The body is longer than the API reads.
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token (send `Authorization: Bearer <JWT>`)")]
    NoToken,
    /// The token did not verify.
    #[error("invalid token: {0}")]
    BadToken(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such approval or session.
    #[error("{what} `{id}` not found")]
    NotFound {
        /// `approval` or `session`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The request conflicts with the resource's state (e.g. already decided).
    #[error("{0}")]
    Conflict(String),
    /// The state store did not answer.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// Something the caller cannot fix.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Route(RouteError::NotFound) | ApiError::NotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            ApiError::Route(RouteError::MethodNotAllowed { .. }) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Route(RouteError::TooLong) => StatusCode::URI_TOO_LONG,
            ApiError::Route(_) | ApiError::BadBody(_) => StatusCode::BAD_REQUEST,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NoToken | ApiError::BadToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Route(RouteError::NotFound) | ApiError::NotFound { .. } => "not_found",
            ApiError::Route(RouteError::MethodNotAllowed { .. }) => "method_not_allowed",
            ApiError::Route(RouteError::TooLong) => "uri_too_long",
            ApiError::Route(RouteError::BadId) => "bad_id",
            ApiError::Route(_) => "bad_query",
            ApiError::BadBody(_) => "bad_body",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::NoToken => "no_token",
            ApiError::BadToken(_) => "bad_token",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The JSON body of the error response.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.to_string(), "code": self.code() })
    }
}
