use proptest::prelude::*;

use super::*;

#[test]
fn known_routes() {
    let cases: &[(&str, &str, Option<&str>, Route)] = &[
        ("GET", "/healthz", None, Route::Health),
        ("HEAD", "/readyz", None, Route::Ready),
        ("GET", "/metrics", None, Route::Metrics),
        ("GET", "/ui", None, Route::Ui(UiAsset::Page)),
        ("GET", "/ui/", None, Route::Ui(UiAsset::Page)),
        ("GET", "/ui/app.js", None, Route::Ui(UiAsset::Script)),
        ("GET", "/ui/style.css", None, Route::Ui(UiAsset::Style)),
        ("GET", "/favicon.ico", None, Route::Ui(UiAsset::Icon)),
        (
            "GET",
            "/v1/approvals",
            None,
            Route::ListApprovals {
                status: None,
                limit: DEFAULT_LIMIT,
            },
        ),
        (
            "GET",
            "/v1/approvals",
            Some("status=denied&limit=5"),
            Route::ListApprovals {
                status: Some(StatusName::Denied),
                limit: 5,
            },
        ),
        (
            "GET",
            "/v1/approvals/ab12",
            None,
            Route::ShowApproval { id: "ab12".into() },
        ),
        (
            "POST",
            "/v1/approvals/ab12/approve",
            None,
            Route::Decide {
                id: "ab12".into(),
                approve: true,
            },
        ),
        (
            "POST",
            "/v1/approvals/ab12/deny",
            None,
            Route::Decide {
                id: "ab12".into(),
                approve: false,
            },
        ),
        (
            "GET",
            "/v1/sessions",
            Some("limit=1000"),
            Route::ListSessions { limit: 1000 },
        ),
        (
            "POST",
            "/v1/sessions/s-1/terminate",
            None,
            Route::Terminate { id: "s-1".into() },
        ),
    ];
    for (method, path, query, want) in cases {
        assert_eq!(
            route(method, path, *query).as_ref(),
            Ok(want),
            "{method} {path}"
        );
    }
}

#[test]
fn refusals() {
    use RouteError::*;
    let not_found = [
        "",
        "healthz",
        "/",
        "//",
        "/healthz/",
        "/v1",
        "/v1/",
        "/v1/approvals/x/y",
        "/v1/approvals/x/approve/",
        "/v1/sessions/x",
        "/ui/../etc/passwd",
        "/v2/approvals",
    ];
    for p in not_found {
        assert_eq!(route("GET", p, None), Err(NotFound), "{p}");
    }
    assert!(matches!(
        route("POST", "/v1/approvals", None),
        Err(MethodNotAllowed { allowed: "GET", .. })
    ));
    assert!(matches!(
        route("GET", "/v1/approvals/x/approve", None),
        Err(MethodNotAllowed {
            allowed: "POST",
            ..
        })
    ));
    for id in ["..", "a%20b", "a b", "é", &"x".repeat(MAX_ID + 1)] {
        assert_eq!(
            route("GET", &format!("/v1/approvals/{id}"), None),
            Err(BadId),
            "{id}"
        );
    }
    for q in [
        "status=open",
        "limit=0",
        "limit=1001",
        "limit=-1",
        "limit=abc",
        "limit=00001",
        "limit=",
        "color=red",
        "limit=1&limit=2",
    ] {
        assert!(
            matches!(route("GET", "/v1/approvals", Some(q)), Err(BadQuery { .. })),
            "{q}"
        );
    }
    assert_eq!(
        route("GET", &format!("/{}", "a".repeat(MAX_PATH)), None),
        Err(TooLong)
    );
}

#[test]
fn errors_name_the_parameter() {
    let e = route("GET", "/v1/sessions", Some("status=pending")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "query parameter `status`: unknown parameter (known: limit)"
    );
}

proptest! {
    #[test]
    fn any_input_routes_or_errs(
        method in "[A-Z]{0,10}|\\PC{0,20}",
        path in "\\PC{0,300}",
        query in proptest::option::of("\\PC{0,300}"),
    ) {
        let _ = route(&method, &path, query.as_deref());
    }

    #[test]
    fn ids_round_trip(id in "[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}") {
        prop_assert_eq!(
            route("GET", &format!("/v1/approvals/{id}"), None),
            Ok(Route::ShowApproval { id: id.clone() })
        );
        prop_assert_eq!(
            route("POST", &format!("/v1/sessions/{id}/terminate"), None),
            Ok(Route::Terminate { id })
        );
    }

    #[test]
    fn limits_in_range_are_taken(n in 1usize..=MAX_LIMIT) {
        prop_assert_eq!(
            route("GET", "/v1/sessions", Some(&format!("limit={n}"))),
            Ok(Route::ListSessions { limit: n })
        );
    }
}
