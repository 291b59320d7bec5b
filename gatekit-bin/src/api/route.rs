//! The API's router: method, path and query string to a [`Route`], without I/O.
//!
//! Paths and query strings come from the network, so everything here is bounded and total:
//! any input gives a `Route` or a [`RouteError`], in time linear in its length, never a
//! panic. The module uses only `std` and `thiserror` so the fuzz target can include it.

/// Longest path accepted.
pub const MAX_PATH: usize = 2048;
/// Longest query string accepted.
pub const MAX_QUERY: usize = 1024;
/// Longest approval or session id accepted.
pub const MAX_ID: usize = 128;
/// Rows a list returns when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// Most rows a list returns.
pub const MAX_LIMIT: usize = 1000;

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz`: the process is up.
    Health,
    /// `GET /readyz`: the store answers and the listeners are bound.
    Ready,
    /// `GET /metrics`: Prometheus text.
    Metrics,
    /// `GET /ui` and its assets.
    Ui(UiAsset),
    /// `GET /v1/approvals`.
    ListApprovals {
        /// Only approvals in this state.
        status: Option<StatusName>,
        /// At most this many.
        limit: usize,
    },
    /// `GET /v1/approvals/{id}`.
    ShowApproval {
        /// The approval id.
        id: String,
    },
    /// `POST /v1/approvals/{id}/approve` or `/deny`.
    Decide {
        /// The approval id.
        id: String,
        /// Approve (`true`) or deny.
        approve: bool,
    },
    /// `GET /v1/sessions`.
    ListSessions {
        /// At most this many.
        limit: usize,
    },
    /// `POST /v1/sessions/{id}/terminate`.
    Terminate {
        /// The session id.
        id: String,
    },
}

/// The approvers' page and its assets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiAsset {
    /// The page.
    Page,
    /// Its script.
    Script,
    /// Its style sheet.
    Style,
    /// `/favicon.ico`, which browsers ask for: no content.
    Icon,
}

/// An approval state named in `?status=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusName {
    /// `pending`
    Pending,
    /// `approved`
    Approved,
    /// `denied`
    Denied,
    /// `expired`
    Expired,
    /// `cancelled`
    Cancelled,
    /// `decided`: every approval no longer pending, newest decided first.
    Decided,
}

impl StatusName {
    /// Every state, with its name.
    pub const ALL: [(&'static str, StatusName); 6] = [
        ("pending", StatusName::Pending),
        ("approved", StatusName::Approved),
        ("denied", StatusName::Denied),
        ("expired", StatusName::Expired),
        ("cancelled", StatusName::Cancelled),
        ("decided", StatusName::Decided),
    ];

    /// The state's name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("pending", |(n, _)| n)
    }
}

/// Why a request matches no route.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// No resource at that path.
    #[error("no such resource")]
    NotFound,
    /// The resource exists but not with that method.
    #[error("method {method} is not allowed here (use {allowed})")]
    MethodNotAllowed {
        /// The method used (cut to 16 bytes).
        method: String,
        /// The methods the resource takes.
        allowed: &'static str,
    },
    /// An id in the path has characters or a length ids never have.
    #[error("invalid id: ids are 1 to {MAX_ID} letters, digits, '-', '_' or '.'")]
    BadId,
    /// A query parameter is unknown, repeated or has a bad value.
    #[error("query parameter `{param}`: {message}")]
    BadQuery {
        /// The parameter (cut to 32 bytes).
        param: String,
        /// What is wrong with it.
        message: String,
    },
    /// The path or query string is longer than the router accepts.
    #[error("request target too long")]
    TooLong,
}

/// Routes a request. `query` is the part after `?`, if any.
pub fn route(method: &str, path: &str, query: Option<&str>) -> Result<Route, RouteError> {
    if path.len() > MAX_PATH || query.is_some_and(|q| q.len() > MAX_QUERY) {
        return Err(RouteError::TooLong);
    }
    let get = |r: Route| expect(method, "GET", r);
    let post = |r: Route| expect(method, "POST", r);
    let mut parts = path
        .strip_prefix('/')
        .ok_or(RouteError::NotFound)?
        .split('/');
    let first = parts.next().unwrap_or("");
    let rest: [Option<&str>; 4] = std::array::from_fn(|_| parts.next());
    match (first, rest) {
        ("healthz", [None, ..]) => get(Route::Health),
        ("readyz", [None, ..]) => get(Route::Ready),
        ("metrics", [None, ..]) => get(Route::Metrics),
        ("favicon.ico", [None, ..]) => get(Route::Ui(UiAsset::Icon)),
        ("ui", [None | Some(""), None, ..]) => get(Route::Ui(UiAsset::Page)),
        ("ui", [Some("app.js"), None, ..]) => get(Route::Ui(UiAsset::Script)),
        ("ui", [Some("style.css"), None, ..]) => get(Route::Ui(UiAsset::Style)),
        ("v1", [Some("approvals"), None, ..]) => {
            let q = Query::parse(query, &["status", "limit"])?;
            let status = match q.get("status") {
                None => None,
                Some(v) => Some(
                    StatusName::ALL
                        .iter()
                        .find(|(n, _)| *n == v)
                        .map(|(_, s)| *s)
                        .ok_or_else(|| RouteError::BadQuery {
                            param: "status".into(),
                            message:
                                "must be pending, approved, denied, expired, cancelled or decided"
                                    .into(),
                        })?,
                ),
            };
            let limit = q.limit()?;
            get(Route::ListApprovals { status, limit })
        }
        ("v1", [Some("approvals"), Some(id), None, ..]) => {
            get(Route::ShowApproval { id: id_of(id)? })
        }
        (
            "v1",
            [
                Some("approvals"),
                Some(id),
                Some(verb @ ("approve" | "deny")),
                None,
            ],
        ) => post(Route::Decide {
            id: id_of(id)?,
            approve: verb == "approve",
        }),
        ("v1", [Some("sessions"), None, ..]) => {
            let q = Query::parse(query, &["limit"])?;
            let limit = q.limit()?;
            get(Route::ListSessions { limit })
        }
        ("v1", [Some("sessions"), Some(id), Some("terminate"), None]) => {
            post(Route::Terminate { id: id_of(id)? })
        }
        _ => Err(RouteError::NotFound),
    }
}

fn expect(method: &str, allowed: &'static str, route: Route) -> Result<Route, RouteError> {
    if method == allowed || (allowed == "GET" && method == "HEAD") {
        Ok(route)
    } else {
        Err(RouteError::MethodNotAllowed {
            method: cut(method, 16),
            allowed,
        })
    }
}

/// Whether `id` looks like an approval or session id.
pub fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && id != "."
        && id != ".."
}

fn id_of(id: &str) -> Result<String, RouteError> {
    if is_id(id) {
        Ok(id.to_owned())
    } else {
        Err(RouteError::BadId)
    }
}

/// The first `max` bytes of `s`, cut on a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}

/// A parsed query string: known keys only, each at most once.
struct Query<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Query<'a> {
    fn parse(query: Option<&'a str>, known: &[&str]) -> Result<Query<'a>, RouteError> {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if !known.contains(&k) {
                return Err(RouteError::BadQuery {
                    param: cut(k, 32),
                    message: format!("unknown parameter (known: {})", known.join(", ")),
                });
            }
            if pairs.iter().any(|(seen, _)| *seen == k) {
                return Err(RouteError::BadQuery {
                    param: k.to_owned(),
                    message: "given more than once".into(),
                });
            }
            pairs.push((k, v));
        }
        Ok(Query { pairs })
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn limit(&self) -> Result<usize, RouteError> {
        let Some(v) = self.get("limit") else {
            return Ok(DEFAULT_LIMIT);
        };
        match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) && v.len() <= 4 => Ok(n),
            _ => Err(RouteError::BadQuery {
                param: "limit".into(),
                message: format!("must be a number from 1 to {MAX_LIMIT}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
