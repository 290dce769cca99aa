//! Prometheus metrics and the admin listener (`/metrics`, `/livez`, `/readyz`), bound
//! to loopback by default.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use prometheus::{Encoder, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
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
    ready: Arc<AtomicBool>,
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
        for c in [
            Box::new(orders.clone()) as Box<dyn prometheus::core::Collector>,
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
