//! `[[notify]]` webhooks: approvals waiting, approvals decided, anomaly signals and killed
//! sessions, posted as Slack-compatible messages or plain JSON.
//!
//! [`Notifier::notify`] never waits: it puts the notice on a bounded queue and returns; a
//! sender task posts it to every webhook subscribed to its event, retrying failures with
//! exponential backoff. When the queue is full the notice is dropped with a warning, so a
//! slow or dead webhook never holds up the data path.

mod format;
mod notice;

#[cfg(test)]
mod tests;

use crate::swap::Swap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

pub use format::{json_body, slack_text};
pub use notice::{AnomalyNotice, ApprovalNotice, Notice, SessionNotice};

use crate::config::{NotifyEvent, NotifyKind};

/// One webhook.
#[derive(Clone)]
pub struct Webhook {
    /// Message shape.
    pub kind: NotifyKind,
    /// Where to POST (holds a secret: never logged).
    pub url: String,
    /// Events sent to it.
    pub events: Vec<NotifyEvent>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("kind", &self.kind)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// How notices are queued and sent.
#[derive(Clone, Debug)]
pub struct NotifyOptions {
    /// Notices waiting to be sent; more are dropped.
    pub queue: usize,
    /// Attempts per webhook and notice.
    pub tries: u32,
    /// Wait before the first retry; doubled before each further one.
    pub backoff: Duration,
    /// Time allowed for one POST.
    pub timeout: Duration,
    /// The gateway API's URL, quoted in the approve/deny commands of Slack messages.
    pub api_url: Option<String>,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        NotifyOptions {
            queue: 1024,
            tries: 3,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(5),
            api_url: None,
        }
    }
}

/// Why the notifier could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The HTTP client could not be built.
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(String),
    /// A webhook URL is not an http(s) URL.
    #[error("notify[{index}]: the webhook URL is not an http:// or https:// URL")]
    BadUrl {
        /// The webhook's position in `[[notify]]`.
        index: usize,
    },
}

/// The handle the gateway notifies through. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Notifier {
    tx: Option<mpsc::Sender<Notice>>,
    dropped: Arc<AtomicU64>,
    hooks: Arc<Swap<Vec<Webhook>>>,
}

impl Notifier {
    /// A notifier with no webhooks: every notice is discarded.
    pub fn disabled() -> Self {
        Notifier {
            tx: None,
            dropped: Arc::new(AtomicU64::new(0)),
            hooks: Arc::new(Swap::new(Vec::new())),
        }
    }

    /// Starts the sender task (on the current tokio runtime) for `hooks`. With no hooks,
    /// returns a [`Notifier::disabled`] and no task. The task ends once every clone of the
    /// notifier is dropped and the queue is drained.
    pub fn start(
        hooks: Vec<Webhook>,
        options: NotifyOptions,
    ) -> Result<(Notifier, Option<tokio::task::JoinHandle<()>>), NotifyError> {
        if hooks.is_empty() {
            return Ok((Notifier::disabled(), None));
        }
        Self::start_replaceable(hooks, options).map(|(n, t)| (n, Some(t)))
    }

    /// Like [`Notifier::start`], but the task runs even with no hooks, so that
    /// [`Notifier::replace_webhooks`] (a config reload) can add some later.
    pub fn start_replaceable(
        hooks: Vec<Webhook>,
        options: NotifyOptions,
    ) -> Result<(Notifier, tokio::task::JoinHandle<()>), NotifyError> {
        check_urls(&hooks)?;
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NotifyError::Client(e.to_string()))?;
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let hooks = Arc::new(Swap::new(hooks));
        let task = tokio::spawn(send_loop(rx, Arc::clone(&hooks), client, options));
        Ok((
            Notifier {
                tx: Some(tx),
                dropped: Arc::new(AtomicU64::new(0)),
                hooks,
            },
            task,
        ))
    }

    /// Replaces the webhooks every clone of this notifier sends to (notices already queued
    /// go to the new ones). On a [`Notifier::disabled`] it changes nothing.
    pub fn replace_webhooks(&self, hooks: Vec<Webhook>) -> Result<(), NotifyError> {
        check_urls(&hooks)?;
        if self.tx.is_none() && !hooks.is_empty() {
            tracing::warn!(
                "webhooks added to a gateway started without a notifier; restart to apply"
            );
        }
        self.hooks.store(Arc::new(hooks));
        Ok(())
    }

    /// Queues `notice` for every webhook subscribed to its event. Never waits; returns
    /// `false` when the notice was dropped because the queue is full.
    pub fn notify(&self, notice: Notice) -> bool {
        let Some(tx) = &self.tx else { return true };
        match tx.try_send(notice) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(n)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(
                    event = n.event_name(),
                    dropped,
                    "notification queue full; notice dropped"
                );
                false
            }
            Err(mpsc::error::TrySendError::Closed(n)) => {
                tracing::warn!(event = n.event_name(), "notifier stopped; notice dropped");
                false
            }
        }
    }

    /// Notices dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Refuses a webhook URL that is not http(s).
fn check_urls(hooks: &[Webhook]) -> Result<(), NotifyError> {
    for (index, h) in hooks.iter().enumerate() {
        if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
            return Err(NotifyError::BadUrl { index });
        }
    }
    Ok(())
}

async fn send_loop(
    mut rx: mpsc::Receiver<Notice>,
    hooks: Arc<Swap<Vec<Webhook>>>,
    client: reqwest::Client,
    options: NotifyOptions,
) {
    while let Some(notice) = rx.recv().await {
        let hooks = hooks.load();
        for (index, hook) in hooks.iter().enumerate() {
            if !hook.events.contains(&notice.event()) {
                continue;
            }
            let body = match hook.kind {
                NotifyKind::Slack => {
                    serde_json::json!({ "text": slack_text(&notice, options.api_url.as_deref()) })
                }
                NotifyKind::Json => json_body(&notice),
            };
            let body = body.to_string();
            deliver(&client, hook, index, body, &options).await;
        }
    }
}

/// Posts `body` to `hook`, retrying with backoff; logs the final failure.
async fn deliver(
    client: &reqwest::Client,
    hook: &Webhook,
    index: usize,
    body: String,
    options: &NotifyOptions,
) {
    let tries = options.tries.max(1);
    let mut wait = options.backoff;
    for attempt in 1..=tries {
        let sent = client
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        let failure = match sent {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => format!("HTTP {}", r.status().as_u16()),
            // Without the URL: it holds the webhook's secret.
            Err(e) => e.without_url().to_string(),
        };
        if attempt == tries {
            tracing::warn!(notify = index, attempts = tries, error = %failure, "webhook failed; notice dropped");
            return;
        }
        tracing::debug!(notify = index, attempt, error = %failure, "webhook failed; retrying");
        tokio::time::sleep(wait).await;
        wait = wait.saturating_mul(2);
    }
}

/// The webhooks of `[[notify]]`, with their URLs as resolved by `serve` (in the same order).
pub fn webhooks(
    config: &crate::config::Config,
    urls: &[crate::config::Secret],
) -> Result<Vec<Webhook>, NotifyError> {
    config
        .notify
        .iter()
        .zip(urls)
        .enumerate()
        .map(|(index, (n, url))| {
            let n = n.get_ref();
            let url = url
                .expose_str()
                .ok_or(NotifyError::BadUrl { index })?
                .trim()
                .to_owned();
            Ok(Webhook {
                kind: n.kind,
                url,
                events: n.events.clone(),
            })
        })
        .collect()
}
