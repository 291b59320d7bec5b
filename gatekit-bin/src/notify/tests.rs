use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

use super::*;

/// A local webhook receiver: answers the first `failures` requests with 500, later ones with
/// 200, and hands every body it gets (with the status it answered) to the test.
async fn receiver(failures: usize) -> (String, mpsc::UnboundedReceiver<(u16, String)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hook/secret-token",
        listener.local_addr().unwrap()
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let seen = Arc::new(Mutex::new(0usize));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    let seen = Arc::clone(&seen);
                    async move {
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let n = {
                            let mut s = seen.lock().unwrap();
                            *s += 1;
                            *s
                        };
                        let status = if n <= failures { 500 } else { 200 };
                        let _ = tx.send((status, String::from_utf8_lossy(&body).into_owned()));
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .status(StatusCode::from_u16(status).unwrap())
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, rx)
}

fn pending() -> ApprovalNotice {
    ApprovalNotice {
        id: "0123abcd".into(),
        status: "pending".into(),
        requester: "alice".into(),
        target: "shop".into(),
        protocol: "postgres".into(),
        command: "ALTER TABLE customers ADD note text -- <b>&".into(),
        classes: vec!["ddl".into()],
        rule: Some("risky-needs-review".into()),
        approvers: vec!["dba".into()],
        expires_at: Some("2025-06-02T10:15:00Z".into()),
        ..Default::default()
    }
}

fn fast() -> NotifyOptions {
    NotifyOptions {
        backoff: Duration::from_millis(10),
        api_url: Some("http://127.0.0.1:8080".into()),
        ..Default::default()
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(u16, String)>) -> (u16, serde_json::Value) {
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("webhook called in time")
        .unwrap();
    (status, serde_json::from_str(&body).unwrap())
}

#[tokio::test]
async fn slack_message_carries_command_requester_and_decision_lines() {
    let (url, mut rx) = receiver(0).await;
    let hook = Webhook {
        kind: NotifyKind::Slack,
        url,
        events: vec![NotifyEvent::ApprovalPending],
    };
    let (n, _task) = Notifier::start(vec![hook], fast()).unwrap();
    assert!(n.notify(Notice::ApprovalPending(pending())));
    let (_, body) = next(&mut rx).await;
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("*alice* on *shop* (postgres), rule `risky-needs-review`"),
        "{text}"
    );
    assert!(
        text.contains("```ALTER TABLE customers ADD note text -- &lt;b&gt;&amp;```"),
        "{text}"
    );
    assert!(
        text.contains("gatekit approvals approve 0123abcd --api http://127.0.0.1:8080"),
        "{text}"
    );
    assert!(
        text.contains("gatekit approvals deny 0123abcd --api http://127.0.0.1:8080 --reason"),
        "{text}"
    );
}

#[tokio::test]
async fn json_kind_posts_the_event_and_filters_by_event() {
    let (url, mut rx) = receiver(0).await;
    let hook = Webhook {
        kind: NotifyKind::Json,
        url,
        events: vec![NotifyEvent::ApprovalDecided, NotifyEvent::Anomaly],
    };
    let (n, _task) = Notifier::start(vec![hook], fast()).unwrap();
    // Not subscribed: never sent.
    n.notify(Notice::ApprovalPending(pending()));
    let mut decided = pending();
    decided.status = "approved".into();
    decided.decider = Some("bob".into());
    n.notify(Notice::ApprovalDecided(decided));
    n.notify(Notice::Anomaly(AnomalyNotice {
        kind: "write_spike".into(),
        detail: "40 writes in 10 s".into(),
        ..Default::default()
    }));
    let (_, first) = next(&mut rx).await;
    assert_eq!(first["event"], "approval_decided");
    assert_eq!(first["decider"], "bob");
    assert_eq!(first["command"], pending().command);
    let (_, second) = next(&mut rx).await;
    assert_eq!(second["event"], "anomaly");
    assert_eq!(second["kind"], "write_spike");
}

#[tokio::test]
async fn failures_are_retried_with_backoff_then_given_up() {
    let (url, mut rx) = receiver(2).await;
    let hook = Webhook {
        kind: NotifyKind::Json,
        url: url.clone(),
        events: vec![NotifyEvent::ApprovalPending],
    };
    let (n, _task) = Notifier::start(vec![hook], fast()).unwrap();
    n.notify(Notice::ApprovalPending(pending()));
    let statuses = [
        next(&mut rx).await.0,
        next(&mut rx).await.0,
        next(&mut rx).await.0,
    ];
    assert_eq!(statuses, [500, 500, 200]);

    // Always failing: exactly `tries` attempts, then the next notice goes through.
    let (url, mut rx) = receiver(3).await;
    let hook = Webhook {
        kind: NotifyKind::Json,
        url,
        events: vec![NotifyEvent::ApprovalPending],
    };
    let (n, _task) = Notifier::start(vec![hook], fast()).unwrap();
    n.notify(Notice::ApprovalPending(pending()));
    n.notify(Notice::ApprovalPending(pending()));
    let statuses = [
        next(&mut rx).await.0,
        next(&mut rx).await.0,
        next(&mut rx).await.0,
        next(&mut rx).await.0,
    ];
    assert_eq!(statuses, [500, 500, 500, 200]);
}

#[tokio::test]
async fn a_full_queue_drops_instead_of_waiting() {
    // A webhook that never answers within the test: the sender is stuck on the first notice.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let hook = Webhook {
        kind: NotifyKind::Json,
        url,
        events: vec![NotifyEvent::ApprovalPending],
    };
    let options = NotifyOptions {
        queue: 2,
        timeout: Duration::from_secs(30),
        ..fast()
    };
    let (n, _task) = Notifier::start(vec![hook], options).unwrap();
    let started = std::time::Instant::now();
    let sent: Vec<bool> = (0..10)
        .map(|_| n.notify(Notice::ApprovalPending(pending())))
        .collect();
    assert!(started.elapsed() < Duration::from_millis(100));
    assert!(sent.iter().filter(|s| !**s).count() >= 7, "{sent:?}");
    assert_eq!(n.dropped(), sent.iter().filter(|s| !**s).count() as u64);
    drop(listener);
}

#[test]
fn bad_urls_are_refused_naming_the_webhook() {
    let hook = Webhook {
        kind: NotifyKind::Json,
        url: "ftp://x".into(),
        events: vec![],
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt
        .block_on(async { Notifier::start(vec![hook], fast()) })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "notify[0]: the webhook URL is not an http:// or https:// URL"
    );
}

#[test]
fn code_blocks_cannot_be_closed_by_the_command() {
    let mut a = pending();
    a.command = "SELECT '```' || 'x'".into();
    let text = slack_text(&Notice::ApprovalPending(a), None);
    let block = text
        .split_once("```")
        .unwrap()
        .1
        .rsplit_once("```")
        .unwrap()
        .0;
    assert!(!block.contains("``"), "{block}");
}

#[test]
fn fields_outside_the_block_cannot_open_code() {
    let mut a = pending();
    a.requester = "```mallory`".into();
    a.target = "`db`".into();
    let plain = slack_text(&Notice::ApprovalPending(pending()), None);
    let text = slack_text(&Notice::ApprovalPending(a), None);
    assert_eq!(
        text.matches('`').count(),
        plain.matches('`').count(),
        "{text}"
    );
    assert!(
        text.contains("\u{2cb}\u{2cb}\u{2cb}mallory\u{2cb}"),
        "{text}"
    );
}

#[test]
fn approval_notices_redact_passwords() {
    use gatekit_core::approval::{Approval, NewApproval};
    use gatekit_core::policy::{Decision, Verdict};
    use gatekit_core::{Class, Classification, Identity, Protocol};
    let mut decision = Decision::without_rule(Verdict::Review, "roles need a DBA");
    decision.rule = Some("dcl-review".into());
    decision.approvers = vec!["dba".to_owned()].into();
    decision.min_approvals = 1;
    let a = Approval::new(NewApproval {
        id: &"ab".repeat(16),
        requester: &Identity::new("alice", ["dev"]),
        target: "shop",
        protocol: Protocol::Postgres,
        command: "ALTER ROLE app PASSWORD 'hunter2'",
        classification: &Classification::of([Class::Dcl]),
        decision: &decision,
        review_timeout: jiff::SignedDuration::from_mins(15),
        now: "2025-06-02T10:00:00Z".parse().unwrap(),
    })
    .unwrap();
    let n = ApprovalNotice::from(&a);
    assert!(!n.command.contains("hunter2"), "{}", n.command);
    assert_eq!(n.rule.as_deref(), Some("dcl-review"));
    assert_eq!(n.classes, ["dcl"]);
    assert_eq!(n.expires_at.as_deref(), Some("2025-06-02T10:15:00Z"));
    let text = slack_text(&Notice::ApprovalPending(n), Some("https://gw:8080"));
    assert!(!text.contains("hunter2"));
}

proptest::proptest! {
    #[test]
    fn slack_text_escapes_whatever_the_fields_hold(
        command in "\\PC{0,200}",
        requester in "\\PC{0,40}",
    ) {
        let mut a = pending();
        a.command = command;
        a.requester = requester;
        let text = slack_text(&Notice::ApprovalPending(a), None);
        proptest::prop_assert!(!text.contains('<') && !text.contains('>'));
        let (_, rest) = text.split_once("```").unwrap();
        let (block, _) = rest.rsplit_once("```").unwrap();
        proptest::prop_assert!(!block.contains("``"));
    }
}

#[tokio::test]
async fn replaced_webhooks_take_the_next_notice() {
    let (first, mut first_rx) = receiver(0).await;
    let (second, mut second_rx) = receiver(0).await;
    let hook = |url| Webhook {
        kind: NotifyKind::Json,
        url,
        events: vec![NotifyEvent::ApprovalPending],
    };
    // Started with none, as a gateway whose config has no [[notify]] yet.
    let (n, _task) = Notifier::start_replaceable(Vec::new(), fast()).unwrap();
    assert!(n.notify(Notice::ApprovalPending(pending())));
    n.clone().replace_webhooks(vec![hook(first)]).unwrap();
    assert!(n.notify(Notice::ApprovalPending(pending())));
    let (_, body) = next(&mut first_rx).await;
    assert_eq!(body["event"], "approval_pending");
    n.replace_webhooks(vec![hook(second)]).unwrap();
    assert!(n.notify(Notice::ApprovalPending(pending())));
    next(&mut second_rx).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), first_rx.recv())
            .await
            .is_err(),
        "the replaced webhook is not called again"
    );
    assert!(
        n.replace_webhooks(vec![hook("ftp://example.invalid/".into())])
            .is_err()
    );
}
