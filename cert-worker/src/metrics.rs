//! Prometheus metrics and the admin listener (`/metrics`, `/livez`, `/readyz`), bound
//! to loopback by default.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use prometheus::{
    Encoder, GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use time::OffsetDateTime;

/// Days-to-expiry buckets of `switchyard_cert_certificates`: upper bounds in days.
pub const EXPIRY_BUCKETS: [(i64, &str); 5] = [
    (0, "expired"),
    (7, "0-7"),
    (14, "7-14"),
    (30, "14-30"),
    (60, "30-60"),
];
const EXPIRY_OVER: &str = "60+";

/// The worker's metrics.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// Orders by outcome: `issued`, `failed`, `rate_limited`, `manual_waiting`, `interrupted`.
    pub orders: IntCounterVec,
    /// Certificates by days to expiry.
    pub certificates: IntGaugeVec,
    /// Unix time of the last loop pass that finished without an error.
    pub last_success: IntGauge,
    /// Certificates stored in Postgres but not yet written to Redis.
    pub unpublished: IntGauge,
    /// TXT records whose deletion failed (an operator must remove them).
    pub txt_cleanup_failures: IntCounterVec,
    /// Days to expiry of each certificate, by `name` and `source` (`issued`/`uploaded`).
    pub days_left: GaugeVec,
    /// 1 while an issued certificate's last order or renewal attempt failed, else 0.
    pub renewal_failing: IntGaugeVec,
    /// 1 for each failing certificate, labelled with its error's short `kind`
    /// ([`error_kind`]); the error's text is in the panel's health list.
    pub renewal_error: IntGaugeVec,
    /// Webhook notices by `event` and `outcome` (`delivered`, `failed`, `dropped`).
    pub notifications: IntCounterVec,
    /// The per-certificate series set last time, so those of certificates that are
    /// gone can be removed.
    series: Arc<Mutex<CertSeries>>,
    ready: Arc<AtomicBool>,
}

/// Label sets of the per-certificate series currently exported.
#[derive(Default)]
struct CertSeries {
    days_left: HashSet<(String, &'static str)>,
    renewal_failing: HashSet<String>,
    renewal_error: HashSet<(String, &'static str)>,
}

/// One certificate for the per-certificate series.
#[derive(Debug, Clone)]
pub struct CertificateExpiry<'a> {
    pub name: &'a str,
    pub source: switchyard_shared::certs::CertSource,
    pub not_after: Option<OffsetDateTime>,
    pub last_error: Option<&'a str>,
}

/// A short, fixed name for a renewal error, fit for a label (error texts hold names,
/// order URLs and times, which would make a new series per failure): `rate_limit_guard`
/// (`--max-orders-per-hour`), `dns_check` (the hostname does not point at the fleet),
/// `no_dns_credential`, `dns_provider` (the provider's API refused or failed),
/// `dns_propagation` (the TXT record never became visible), `acme` (the CA refused or
/// failed), `database`, or `other`.
pub fn error_kind(error: &str) -> &'static str {
    let lower = error.to_ascii_lowercase();
    if lower.starts_with("rate limit guard") {
        "rate_limit_guard"
    } else if lower.starts_with("waiting for dns") {
        "dns_check"
    } else if lower.contains("has no dns credential") || lower.starts_with("dns credential") {
        "no_dns_credential"
    } else if ["cloudflare:", "digitalocean:", "porkbun:"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        "dns_provider"
    } else if lower.starts_with("txt ") || lower.contains("name servers of zone") {
        "dns_propagation"
    } else if lower.starts_with("acme") || lower.contains("the ca ") {
        "acme"
    } else if lower.starts_with("database") {
        "database"
    } else {
        "other"
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let orders = IntCounterVec::new(
            Opts::new("switchyard_cert_orders_total", "ACME orders by outcome"),
            &["outcome"],
        )
        .expect("static metric");
        let certificates = IntGaugeVec::new(
            Opts::new(
                "switchyard_cert_certificates",
                "Issued certificates by days to expiry",
            ),
            &["days_to_expiry"],
        )
        .expect("static metric");
        let last_success = IntGauge::new(
            "switchyard_cert_last_success_timestamp_seconds",
            "Unix time of the last worker pass that completed without error",
        )
        .expect("static metric");
        let unpublished = IntGauge::new(
            "switchyard_cert_unpublished",
            "Certificates issued but not yet written to Redis",
        )
        .expect("static metric");
        let txt_cleanup_failures = IntCounterVec::new(
            Opts::new(
                "switchyard_cert_txt_cleanup_failures_total",
                "TXT records that could not be deleted after an order",
            ),
            &["provider"],
        )
        .expect("static metric");
        let days_left = GaugeVec::new(
            Opts::new(
                "switchyard_cert_days_left",
                "Days until each certificate expires (below 0 once expired)",
            ),
            &["name", "source"],
        )
        .expect("static metric");
        let renewal_failing = IntGaugeVec::new(
            Opts::new(
                "switchyard_cert_renewal_failing",
                "1 while an issued certificate's last order or renewal attempt failed",
            ),
            &["name"],
        )
        .expect("static metric");
        let renewal_error = IntGaugeVec::new(
            Opts::new(
                "switchyard_cert_renewal_error_info",
                "The kind of error a failing certificate's last attempt ended with (always 1)",
            ),
            &["name", "kind"],
        )
        .expect("static metric");
        let notifications = IntCounterVec::new(
            Opts::new(
                "switchyard_cert_notifications_total",
                "Webhook notices by event and outcome (delivered, failed after every retry, dropped)",
            ),
            &["event", "outcome"],
        )
        .expect("static metric");
        for c in [
            Box::new(orders.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(days_left.clone()),
            Box::new(renewal_failing.clone()),
            Box::new(renewal_error.clone()),
            Box::new(notifications.clone()),
            Box::new(certificates.clone()),
            Box::new(last_success.clone()),
            Box::new(unpublished.clone()),
            Box::new(txt_cleanup_failures.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Self {
            registry,
            orders,
            certificates,
            last_success,
            unpublished,
            txt_cleanup_failures,
            days_left,
            renewal_failing,
            renewal_error,
            notifications,
            series: Arc::new(Mutex::new(CertSeries::default())),
            ready: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Marks the worker ready (connected, account usable) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Recomputes the expiry buckets from every issued certificate's `not_after`.
    pub fn set_expiries(&self, not_after: &[OffsetDateTime], now: OffsetDateTime) {
        let mut counts = vec![0i64; EXPIRY_BUCKETS.len() + 1];
        for na in not_after {
            let days = (*na - now).whole_days();
            let expired = *na <= now;
            let i = if expired {
                0
            } else {
                EXPIRY_BUCKETS
                    .iter()
                    .skip(1)
                    .position(|(bound, _)| days < *bound)
                    .map(|p| p + 1)
                    .unwrap_or(EXPIRY_BUCKETS.len())
            };
            counts[i] += 1;
        }
        for (i, (_, label)) in EXPIRY_BUCKETS.iter().enumerate() {
            self.certificates
                .with_label_values(&[*label])
                .set(counts[i]);
        }
        self.certificates
            .with_label_values(&[EXPIRY_OVER])
            .set(counts[EXPIRY_BUCKETS.len()]);
    }

    /// Sets the per-certificate series from every certificate there is, and removes
    /// those of certificates that are gone (or no longer fail).
    pub fn set_certificates(&self, certs: &[CertificateExpiry<'_>], now: OffsetDateTime) {
        let mut next = CertSeries::default();
        for c in certs {
            if let Some(not_after) = c.not_after {
                let source = c.source.as_str();
                self.days_left
                    .with_label_values(&[c.name, source])
                    .set((not_after - now).as_seconds_f64() / 86_400.0);
                next.days_left.insert((c.name.to_owned(), source));
            }
            if c.source.is_issued() {
                self.renewal_failing
                    .with_label_values(&[c.name])
                    .set(i64::from(c.last_error.is_some()));
                next.renewal_failing.insert(c.name.to_owned());
                if let Some(error) = c.last_error {
                    let kind = error_kind(error);
                    self.renewal_error.with_label_values(&[c.name, kind]).set(1);
                    next.renewal_error.insert((c.name.to_owned(), kind));
                }
            }
        }
        let mut series = self.series.lock().expect("metrics lock");
        for (name, source) in series.days_left.difference(&next.days_left) {
            let _ = self
                .days_left
                .remove_label_values(&[name.as_str(), *source]);
        }
        for name in series.renewal_failing.difference(&next.renewal_failing) {
            let _ = self.renewal_failing.remove_label_values(&[name.as_str()]);
        }
        for (name, kind) in series.renewal_error.difference(&next.renewal_error) {
            let _ = self
                .renewal_error
                .remove_label_values(&[name.as_str(), *kind]);
        }
        *series = next;
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// Serves the admin endpoints until `shutdown` resolves.
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(m): State<Metrics>| async move { m.render() }),
        )
        .route("/livez", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|State(m): State<Metrics>| async move {
                if m.ready.load(Ordering::Relaxed) {
                    (StatusCode::OK, "ready\n")
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready: Postgres, Redis or the ACME directory is not reachable yet\n",
                    )
                }
            }),
        )
        .with_state(metrics);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the admin listener, with the address in the error.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on --admin-listen {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn each_certificate_has_its_series_until_it_is_gone() {
        use switchyard_shared::certs::CertSource;
        let m = Metrics::new();
        let now = OffsetDateTime::now_utc();
        let cert = |name, source, days: Option<i64>, error| CertificateExpiry {
            name,
            source,
            not_after: days.map(|d| now + Duration::days(d)),
            last_error: error,
        };
        m.set_certificates(
            &[
                cert("*.a.example", CertSource::Issued, Some(10), None),
                cert(
                    "b.example",
                    CertSource::Issued,
                    Some(20),
                    Some("cloudflare: create TXT failed: HTTP 401: denied at 12:00"),
                ),
                cert(
                    "c.example",
                    CertSource::Issued,
                    None,
                    Some("rate limit guard: 50 orders"),
                ),
                cert("*.d.example", CertSource::Uploaded, Some(5), None),
            ],
            now,
        );
        let text = m.render();
        for line in [
            r#"switchyard_cert_days_left{name="*.a.example",source="issued"} 10"#,
            r#"switchyard_cert_days_left{name="*.d.example",source="uploaded"} 5"#,
            r#"switchyard_cert_days_left{name="b.example",source="issued"} 20"#,
            r#"switchyard_cert_renewal_failing{name="*.a.example"} 0"#,
            r#"switchyard_cert_renewal_failing{name="b.example"} 1"#,
            r#"switchyard_cert_renewal_failing{name="c.example"} 1"#,
            r#"switchyard_cert_renewal_error_info{kind="dns_provider",name="b.example"} 1"#,
            r#"switchyard_cert_renewal_error_info{kind="rate_limit_guard",name="c.example"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(!text.contains(r#"name="c.example",source"#), "{text}");
        assert!(
            !text.contains("*.d.example\"}"),
            "uploads are never renewal_failing: {text}"
        );
        // b renews, c and d are deleted: their series go.
        m.set_certificates(
            &[
                cert("*.a.example", CertSource::Issued, Some(10), None),
                cert("b.example", CertSource::Issued, Some(90), None),
            ],
            now,
        );
        let text = m.render();
        assert!(
            text.contains(r#"switchyard_cert_renewal_failing{name="b.example"} 0"#),
            "{text}"
        );
        for gone in ["c.example", "d.example", "renewal_error_info{"] {
            assert!(!text.contains(gone), "{gone} still in\n{text}");
        }
    }

    #[test]
    fn certificates_are_counted_by_days_to_expiry() {
        let m = Metrics::new();
        let now = OffsetDateTime::now_utc();
        let d = |days: i64| now + Duration::days(days) + Duration::hours(1);
        m.set_expiries(&[d(-3), d(0), d(6), d(10), d(29), d(45), d(89), d(89)], now);
        let text = m.render();
        for line in [
            r#"switchyard_cert_certificates{days_to_expiry="expired"} 1"#,
            r#"switchyard_cert_certificates{days_to_expiry="0-7"} 2"#,
            r#"switchyard_cert_certificates{days_to_expiry="7-14"} 1"#,
            r#"switchyard_cert_certificates{days_to_expiry="14-30"} 1"#,
            r#"switchyard_cert_certificates{days_to_expiry="30-60"} 1"#,
            r#"switchyard_cert_certificates{days_to_expiry="60+"} 2"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
