//! Expiry you can see coming: the per-certificate metrics (days left, source, renewal
//! failing and its error's kind) and the webhook notices (`--notify-webhook-url`).
//!
//! Notices (JSON, POSTed; the body is [`Notice`]):
//! - `renewal_failed` — an order (first issuance or renewal) of an issued certificate
//!   failed, sent at the first failure of a run of failures (attempt 1; the attempt
//!   count starts over after a success, a renewal sweep or a re-issue), with the error;
//!   while it keeps failing, the `expiring` notices carry the last error;
//! - `expiring` — a certificate, issued or uploaded, has 14, 7 or 3 days left
//!   ([`THRESHOLDS_DAYS`]). Each threshold is sent once per certificate version
//!   (`not_after`): the `certificate_notices` row is inserted before the call, so
//!   neither a restart nor a second instance sends it again. A certificate first seen
//!   past several thresholds gets the nearest one only.
//!
//! Delivery never holds up the order loop: each notice is a task of its own, POSTed
//! with a timeout ([`DELIVERY_TIMEOUT`]) and retried with capped exponential backoff
//! ([`crate::schedule::backoff`], the orders' own rule) on network errors, 5xx and 429
//! (honouring `Retry-After` up to the cap), never on another 4xx. A notice undelivered
//! after [`DELIVERY_ATTEMPTS`], or dropped because [`MAX_IN_FLIGHT`] are already
//! waiting, is logged and counted (`switchyard_cert_notifications_total`). The URL may
//! hold a token: only its host is ever logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde::Serialize;
use switchyard_shared::certs::CertSource;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{self, CertificateState};
use crate::metrics::{CertificateExpiry, Metrics};

/// Days before expiry at which an `expiring` notice goes out, farthest first.
pub const THRESHOLDS_DAYS: [i32; 3] = [14, 7, 3];
/// One POST may take this long: a receiver that needs more is treated as down.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per notice: with [`RETRY_BASE`] doubling up to [`RETRY_CAP`] they span
/// about two minutes, long enough for a receiver's restart.
pub const DELIVERY_ATTEMPTS: u32 = 7;
/// The first retry's wait.
pub const RETRY_BASE: Duration = Duration::from_secs(1);
/// The longest wait between two attempts (a `Retry-After` longer than this is cut).
pub const RETRY_CAP: Duration = Duration::from_secs(60);
/// Notices being delivered at once; more are dropped (logged, counted) rather than
/// piling up in memory while a receiver is down.
pub const MAX_IN_FLIGHT: usize = 1_000;
/// Sent-notice rows are kept this long after their certificate version expired.
pub const NOTICE_RETENTION_DAYS: i32 = 30;

/// `--notify-webhook-url`, checked. Its `Debug` shows the host only.
#[derive(Clone)]
pub struct Webhook {
    url: url::Url,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("host", &self.host())
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// An http:// or https:// URL with a host. The problem never quotes the URL (it may
    /// hold a token); at most its scheme.
    pub fn parse(text: &str) -> Result<Webhook, String> {
        const WANTED: &str = "expected an http:// or https:// URL such as https://hooks.example.com/switchyard (the value is not shown: it may hold a token)";
        let url = url::Url::parse(text).map_err(|e| format!("{e}; {WANTED}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("scheme {:?}; {WANTED}", url.scheme()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("no host; {WANTED}"));
        }
        Ok(Webhook { url })
    }

    /// The host (and port), what logs name the receiver by.
    pub fn host(&self) -> String {
        match (self.url.host_str(), self.url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => String::new(),
        }
    }
}

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    RenewalFailed,
    Expiring,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::RenewalFailed => "renewal_failed",
            Event::Expiring => "expiring",
        }
    }
}

/// The JSON body of a notice.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    pub event: Event,
    pub certificate: NoticeCertificate,
    /// `expiring`: the threshold crossed (14, 7 or 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_days: Option<i32>,
    /// `renewal_failed`: the attempt's error; `expiring`: the last attempt's error while
    /// the renewal fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The certificate a [`Notice`] is about.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeCertificate {
    /// A `certificates` row (`issued`) or an `uploaded_certificates` row (`uploaded`).
    pub id: Uuid,
    /// The name it is stored under: `*.<domain>` or the hostname.
    pub name: String,
    pub names: Vec<String>,
    pub source: CertSource,
    /// `null` for a certificate never issued.
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
    pub days_left: Option<f64>,
}

impl NoticeCertificate {
    fn new(state: &CertificateState, now: OffsetDateTime) -> Self {
        NoticeCertificate {
            id: state.id,
            name: state.name.clone(),
            names: state.names.clone(),
            source: state.source,
            not_after: state.not_after,
            days_left: state.not_after.map(|na| days_left(na, now)),
        }
    }
}

fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> f64 {
    (not_after - now).as_seconds_f64() / 86_400.0
}

/// The nearest threshold a certificate with `days_left` has crossed, if any: 10 days
/// left → 14; 2 days (or expired) → 3; 20 → none.
pub fn crossed_threshold(days_left: f64) -> Option<i32> {
    THRESHOLDS_DAYS
        .iter()
        .rev()
        .copied()
        .find(|t| days_left <= f64::from(*t))
}

/// Sends notices to the webhook, if one is configured.
#[derive(Clone)]
pub struct Notifier {
    webhook: Option<Webhook>,
    http: reqwest::Client,
    metrics: Metrics,
    in_flight: Arc<AtomicUsize>,
}

impl Notifier {
    pub fn new(webhook: Option<Webhook>, metrics: Metrics) -> Notifier {
        Notifier {
            webhook,
            http: reqwest::Client::builder()
                .timeout(DELIVERY_TIMEOUT)
                .user_agent(concat!(
                    "switchyard-cert-worker/",
                    env!("CARGO_PKG_VERSION")
                ))
                .build()
                .expect("the HTTP client configuration is static"),
            metrics,
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn enabled(&self) -> bool {
        self.webhook.is_some()
    }

    /// Delivers `notice` in a task of its own (nothing when no webhook is configured).
    pub fn send(&self, notice: Notice) {
        let Some(webhook) = self.webhook.clone() else {
            return;
        };
        let event = notice.event.as_str();
        if self.in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_IN_FLIGHT {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.metrics
                .notifications
                .with_label_values(&[event, "dropped"])
                .inc();
            tracing::error!(webhook = %webhook.host(), event, certificate = %notice.certificate.name, "notice dropped: {MAX_IN_FLIGHT} notices are already waiting for the webhook");
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let delivered = deliver(&this.http, &webhook, &notice).await;
            this.in_flight.fetch_sub(1, Ordering::SeqCst);
            let outcome = match delivered {
                Ok(attempts) => {
                    tracing::info!(webhook = %webhook.host(), event, certificate = %notice.certificate.name, attempts, "notice delivered");
                    "delivered"
                }
                Err(problem) => {
                    tracing::error!(webhook = %webhook.host(), event, certificate = %notice.certificate.name, attempts = DELIVERY_ATTEMPTS, %problem, "notice not delivered: the webhook failed every attempt");
                    "failed"
                }
            };
            this.metrics
                .notifications
                .with_label_values(&[event, outcome])
                .inc();
        });
    }

    /// An order of an issued certificate failed (`attempts`: failures in a row, this
    /// one included): a `renewal_failed` notice at the first of them. Reads the
    /// certificate's current expiry in the delivery task, so the order loop waits for
    /// nothing.
    pub fn renewal_failed(&self, db: &DatabaseConnection, state: CertificateState, attempts: i32) {
        if !self.enabled() || attempts != 1 {
            return;
        }
        let (db, this) = (db.clone(), self.clone());
        tokio::spawn(async move {
            let mut state = state;
            match db::not_after(&db, state.id).await {
                Ok(not_after) => state.not_after = not_after,
                Err(e) => {
                    tracing::warn!(certificate = %state.id, error = %e, "the certificate's expiry could not be read for its renewal_failed notice; sent without it")
                }
            }
            let now = OffsetDateTime::now_utc();
            this.send(Notice {
                event: Event::RenewalFailed,
                certificate: NoticeCertificate::new(&state, now),
                threshold_days: None,
                error: state.last_error.clone(),
                at: now,
            });
        });
    }
}

/// POSTs `notice` until the receiver takes it (any 2xx; a 3xx is not followed and
/// counts as a refusal) or the attempts run out; how many attempts it took, or the
/// last problem.
async fn deliver(
    http: &reqwest::Client,
    webhook: &Webhook,
    notice: &Notice,
) -> Result<u32, String> {
    let mut problem = String::new();
    for attempt in 1..=DELIVERY_ATTEMPTS {
        let mut wait = crate::schedule::backoff(attempt, RETRY_BASE, RETRY_CAP);
        match http.post(webhook.url.clone()).json(notice).send().await {
            Ok(response) if response.status().is_success() => return Ok(attempt),
            Ok(response) => {
                let status = response.status();
                problem = format!("HTTP {status}");
                if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
                    // The receiver refuses this notice: sending it again changes nothing.
                    return Err(format!("{problem} (not retried)"));
                }
                if let Some(after) = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                {
                    wait = Duration::from_secs(after).clamp(wait, RETRY_CAP);
                }
            }
            // reqwest's error names the URL: keep only what kind of failure it was.
            Err(e) => problem = describe(&e),
        }
        tracing::warn!(webhook = %webhook.host(), event = notice.event.as_str(), attempt, %problem, retry_in = ?wait, "webhook did not take the notice");
        if attempt < DELIVERY_ATTEMPTS {
            tokio::time::sleep(wait).await;
        }
    }
    Err(problem)
}

/// A network error without the URL (which may hold a token).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {DELIVERY_TIMEOUT:?}")
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else if e.is_body() || e.is_decode() {
        "the answer broke off".to_owned()
    } else {
        "request failed".to_owned()
    }
}

/// One expiry check: sets the per-certificate metrics from every certificate, issued
/// and uploaded, and sends the `expiring` notices that are due (when a webhook is
/// configured). Returns how many notices it sent.
pub async fn check_expiry(
    db: &DatabaseConnection,
    metrics: &Metrics,
    notifier: &Notifier,
) -> anyhow::Result<usize> {
    let states = db::certificate_states(db).await?;
    let now = OffsetDateTime::now_utc();
    let series: Vec<CertificateExpiry<'_>> = states
        .iter()
        .map(|s| CertificateExpiry {
            name: &s.name,
            source: s.source,
            not_after: s.not_after,
            last_error: s.last_error.as_deref(),
        })
        .collect();
    metrics.set_certificates(&series, now);
    if !notifier.enabled() {
        return Ok(0);
    }
    let mut sent = 0;
    for state in &states {
        let Some(not_after) = state.not_after else {
            continue;
        };
        let Some(threshold) = crossed_threshold(days_left(not_after, now)) else {
            continue;
        };
        if !db::claim_expiry_notice(db, state, not_after, threshold).await? {
            continue;
        }
        tracing::info!(certificate = %state.id, name = %state.name, source = state.source.as_str(), threshold_days = threshold, %not_after, "certificate expiring: notice sent");
        notifier.send(Notice {
            event: Event::Expiring,
            certificate: NoticeCertificate::new(state, now),
            threshold_days: Some(threshold),
            error: state.last_error.clone(),
            at: now,
        });
        sent += 1;
    }
    db::prune_expiry_notices(db, NOTICE_RETENTION_DAYS).await?;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_crossed_threshold_is_sent() {
        for (days, expected) in [
            (30.0, None),
            (14.5, None),
            (14.0, Some(14)),
            (10.0, Some(14)),
            (7.0, Some(7)),
            (5.0, Some(7)),
            (2.5, Some(3)),
            (-4.0, Some(3)),
        ] {
            assert_eq!(crossed_threshold(days), expected, "{days} days left");
        }
    }

    #[test]
    fn a_webhook_is_logged_by_host_only() {
        let hook = Webhook::parse("http://127.0.0.1:8080/hook?token=s3cret").unwrap();
        assert_eq!(hook.host(), "127.0.0.1:8080");
        assert!(!format!("{hook:?}").contains("s3cret"));
    }
}
