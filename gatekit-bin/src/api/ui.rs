//! The approvers' page: plain HTML, script and style, embedded in the binary and served
//! under a strict Content-Security-Policy (no inline script or style, same-origin fetches
//! only, no framing).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::handlers::text;
use super::route::UiAsset;

const PAGE: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/style.css");

/// The page's Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The response for one asset.
pub(super) fn response(asset: UiAsset) -> Response<Full<Bytes>> {
    let (content_type, body) = match asset {
        UiAsset::Icon => {
            let mut r = text(StatusCode::NO_CONTENT, "image/x-icon", String::new());
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=86400"),
            );
            return r;
        }
        UiAsset::Page => ("text/html; charset=utf-8", PAGE),
        UiAsset::Script => ("text/javascript; charset=utf-8", SCRIPT),
        UiAsset::Style => ("text/css; charset=utf-8", STYLE),
    };
    let mut r = text(StatusCode::OK, content_type, body.to_owned());
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
