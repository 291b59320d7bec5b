//! The API router on arbitrary request lines: it routes or refuses, never panics, and what it
//! routes is well-formed (ids pass the id check, limits are in range).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../gatekit-bin/src/api/route.rs"]
#[allow(dead_code, missing_docs)]
mod route;

use route::{MAX_LIMIT, Route, is_id};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // `METHOD path?query`, as hyper hands them over.
    let (method, target) = text.split_once(' ').unwrap_or(("GET", &text));
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    match route::route(method, path, query) {
        Ok(Route::ShowApproval { id } | Route::Decide { id, .. } | Route::Terminate { id }) => {
            assert!(is_id(&id));
            assert!(path.contains(id.as_str()));
        }
        Ok(Route::ListApprovals { limit, .. } | Route::ListSessions { limit }) => {
            assert!((1..=MAX_LIMIT).contains(&limit));
        }
        Ok(_) | Err(_) => {}
    }
});
