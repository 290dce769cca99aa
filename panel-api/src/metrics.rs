//! Prometheus metrics of the panel, served at `GET /metrics` (text exposition format).
//!
//! One [`Metrics`] per service instance, with its own registry (so several panels in one
//! test process do not mix their figures). What is measured: HTTP requests by route
//! template, method and status class, and their latency; the Redis outbox depth; the
//! reconciler's runs, drift and duration; whether Redis and PostgreSQL answer. The list
//! with meanings is in `docs/panel-operations.md`.
//!
//! Labels are never request data (no raw paths, hostnames, users or keys): a route
//! template such as `/api/v1/zones/{id}` or `unmatched`, so the series count stays fixed
//! and nothing a client sends reaches the metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric name starts with this.
pub const NAMESPACE: &str = "switchyard_panel";

/// Drift kinds the reconciler reports (the `kind` label).
pub const DRIFT_KINDS: [&str; 3] = ["missing", "changed", "stale"];

/// The panel's metrics and the registry they live in.
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by `route` template, `method` and `status` class (`2xx`…).
    pub http_requests: IntCounterVec,
    /// Time to answer, by `route` template and `method`.
    pub http_duration: HistogramVec,
    /// Rows waiting in `redis_outbox` (changes committed but not yet in Redis).
    pub outbox_depth: IntGauge,
    /// Write-throughs that failed and were left to the outbox.
    pub write_through_failures: IntCounter,
    /// Times the Redis server changed under the panel (a Sentinel failover, a restart),
    /// each followed by a reconciliation.
    pub redis_server_changes: IntCounter,
    /// Reconciliations by `result` (`ok`, `error`).
    pub reconcile_runs: IntCounterVec,
    /// Keys found wrong by the last successful reconciliation, by `kind`.
    pub reconcile_drift: IntGaugeVec,
    /// Keys found wrong (and fixed) by all reconciliations since start, by `kind`.
    pub reconcile_drift_total: IntCounterVec,
    /// Duration of successful reconciliations.
    pub reconcile_duration: Histogram,
    /// Hostname records in Postgres at the last successful reconciliation.
    pub reconcile_records: IntGauge,
    /// Unix time of the last successful reconciliation (0 before the first).
    pub reconcile_last_success: Gauge,
    /// 1 when Redis answered the last probe.
    pub redis_up: IntGauge,
    /// 1 when PostgreSQL answered the last probe.
    pub postgres_up: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn name(short: &str) -> String {
    format!("{NAMESPACE}_{short}")
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        // Names and labels are constants, so registration can only fail on a
        // programming error (a duplicate name): fail loudly at start.
        fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: T) -> T {
            r.register(Box::new(m.clone()))
                .expect("metric names are unique");
            m
        }
        let http_requests = reg(
            &registry,
            IntCounterVec::new(
                Opts::new(name("http_requests_total"), "HTTP requests answered"),
                &["route", "method", "status"],
            )
            .expect("valid metric"),
        );
        let http_duration = reg(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    name("http_request_duration_seconds"),
                    "Time from request to response head",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ]),
                &["route", "method"],
            )
            .expect("valid metric"),
        );
        let outbox_depth = reg(
            &registry,
            IntGauge::new(
                name("redis_outbox_depth"),
                "Changes committed to PostgreSQL and still waiting for Redis",
            )
            .expect("valid metric"),
        );
        let write_through_failures = reg(
            &registry,
            IntCounter::new(
                name("redis_write_through_failures_total"),
                "Write-throughs to Redis that failed and were left to the outbox",
            )
            .expect("valid metric"),
        );
        let redis_server_changes = reg(
            &registry,
            IntCounter::new(
                name("redis_server_changes_total"),
                "Times the Redis server changed (a failover or a restart); each is followed by a reconciliation",
            )
            .expect("valid metric"),
        );
        let reconcile_runs = reg(
            &registry,
            IntCounterVec::new(
                Opts::new(name("reconcile_runs_total"), "Reconciliations by result"),
                &["result"],
            )
            .expect("valid metric"),
        );
        let reconcile_drift = reg(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    name("reconcile_drift"),
                    "Redis keys the last reconciliation found missing, changed or stale",
                ),
                &["kind"],
            )
            .expect("valid metric"),
        );
        let reconcile_drift_total = reg(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    name("reconcile_drift_total"),
                    "Redis keys reconciliations found missing, changed or stale (and fixed)",
                ),
                &["kind"],
            )
            .expect("valid metric"),
        );
        let reconcile_duration = reg(
            &registry,
            Histogram::with_opts(
                HistogramOpts::new(
                    name("reconcile_duration_seconds"),
                    "Duration of successful reconciliations",
                )
                .buckets(vec![0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]),
            )
            .expect("valid metric"),
        );
        let reconcile_records = reg(
            &registry,
            IntGauge::new(
                name("reconcile_records"),
                "Hostname records PostgreSQL held at the last reconciliation",
            )
            .expect("valid metric"),
        );
        let reconcile_last_success = reg(
            &registry,
            Gauge::new(
                name("reconcile_last_success_timestamp_seconds"),
                "Unix time of the last successful reconciliation",
            )
            .expect("valid metric"),
        );
        let redis_up = reg(
            &registry,
            IntGauge::new(name("redis_up"), "1 when Redis answered the last probe")
                .expect("valid metric"),
        );
        let postgres_up = reg(
            &registry,
            IntGauge::new(
                name("postgres_up"),
                "1 when PostgreSQL answered the last probe",
            )
            .expect("valid metric"),
        );
        for kind in DRIFT_KINDS {
            reconcile_drift.with_label_values(&[kind]).set(0);
            reconcile_drift_total.with_label_values(&[kind]).inc_by(0);
        }
        for result in ["ok", "error"] {
            reconcile_runs.with_label_values(&[result]).inc_by(0);
        }
        Metrics {
            registry,
            http_requests,
            http_duration,
            outbox_depth,
            write_through_failures,
            redis_server_changes,
            reconcile_runs,
            reconcile_drift,
            reconcile_drift_total,
            reconcile_duration,
            reconcile_records,
            reconcile_last_success,
            redis_up,
            postgres_up,
        }
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encoding metrics failed: {e}\n"))
    }
}

/// `GET /metrics`.
pub async fn serve(State(metrics): State<std::sync::Arc<Metrics>>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}

/// Middleware counting every request by route template, method and status class.
pub async fn track(
    State(metrics): State<std::sync::Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    // Methods outside the standard set are folded, so clients cannot add series.
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let class = format!("{}xx", response.status().as_u16() / 100);
    let m = &metrics;
    m.http_requests
        .with_label_values(&[route.as_str(), method, class.as_str()])
        .inc();
    m.http_duration
        .with_label_values(&[route.as_str(), method])
        .observe(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lists_every_family_with_zeroed_drift() {
        let m = Metrics::new();
        m.reconcile_drift.with_label_values(&["stale"]).set(3);
        let text = m.render();
        assert!(
            text.contains("switchyard_panel_reconcile_drift{kind=\"stale\"} 3"),
            "{text}"
        );
        assert!(text.contains("switchyard_panel_reconcile_drift{kind=\"missing\"} 0"));
        assert!(text.contains("switchyard_panel_redis_outbox_depth 0"));
        assert!(text.contains("switchyard_panel_reconcile_runs_total{result=\"error\"} 0"));
    }
}
