//! Prometheus metrics of the proxy, served on the admin listener at `/metrics`.
//!
//! Request counts are labelled by zone, but only the first [`MAX_ZONE_LABELS`] zones
//! seen get a label of their own; the rest are counted under `zone="other"`, so a
//! million zones cannot blow up the metrics' cardinality.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Distinct zone labels before the rest are aggregated as `other`.
pub const MAX_ZONE_LABELS: usize = 1_000;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    pub upstream_seconds: Histogram,
    pub snapshot_version: IntGauge,
    pub snapshot_applied_unix: IntGauge,
    pub snapshot_zones: IntGauge,
    pub snapshot_certs: IntGauge,
    pub redis_connected: IntGauge,
    pub redis_last_ok_unix: IntGauge,
    pub rejected_records: IntCounter,
    pub full_reloads: IntCounter,
    pub feed_entries: IntCounter,
    pub cert_days_left: IntGaugeVec,
    /// Circuit breakers and retries ([`crate::resilience`]), brought up to date from its
    /// process-wide counts when the metrics are read.
    circuits_open: IntGauge,
    circuits_opened: IntCounter,
    circuit_rejected: IntCounter,
    retries: IntCounter,
    retry_budget_exhausted: IntCounter,
    zones_seen: Mutex<HashSet<String>>,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("switchyard_proxy".into()), None)
            .expect("static metric names are valid");
        let requests = IntCounterVec::new(
            Opts::new("requests_total", "Requests by zone and status class"),
            &["zone", "class"],
        )
        .expect("valid");
        let upstream_seconds = Histogram::with_opts(
            HistogramOpts::new("upstream_seconds", "Upstream response time (to headers)").buckets(
                vec![
                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
        )
        .expect("valid");
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid");
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid");
        let m = Self {
            requests,
            upstream_seconds,
            snapshot_version: gauge("snapshot_version", "Global version of the live snapshot"),
            snapshot_applied_unix: gauge(
                "snapshot_applied_unix_seconds",
                "When the live snapshot was applied (age = now - this)",
            ),
            snapshot_zones: gauge("snapshot_zones", "Hostname patterns in the live snapshot"),
            snapshot_certs: gauge("snapshot_certs", "Certificates in the live snapshot"),
            redis_connected: gauge("redis_connected", "1 while Redis answers, else 0"),
            redis_last_ok_unix: gauge(
                "redis_last_ok_unix_seconds",
                "Last time Redis answered (staleness = now - this)",
            ),
            rejected_records: counter(
                "rejected_records_total",
                "Records from Redis or the snapshot file refused by validation",
            ),
            full_reloads: counter("full_reloads_total", "Full reloads of the snapshot"),
            feed_entries: counter("feed_entries_total", "Change feed entries applied"),
            cert_days_left: IntGaugeVec::new(
                Opts::new(
                    "certificate_days_left",
                    "Days until each certificate expires",
                ),
                &["name"],
            )
            .expect("valid"),
            circuits_open: gauge(
                "circuits_open",
                "Upstream endpoints whose circuit breaker is open or half-open now",
            ),
            circuits_opened: counter(
                "circuits_opened_total",
                "Times a circuit breaker opened (after failures or a failed probe)",
            ),
            circuit_rejected: counter(
                "circuit_rejected_total",
                "Requests answered 503 because every upstream of their route had its circuit open",
            ),
            retries: counter("retries_total", "Attempts sent again under a retry policy"),
            retry_budget_exhausted: counter(
                "retry_budget_exhausted_total",
                "Retries a route's retry budget refused",
            ),
            zones_seen: Mutex::new(HashSet::new()),
            registry,
        };
        let r = &m.registry;
        for c in [
            Box::new(m.requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.upstream_seconds.clone()),
            Box::new(m.snapshot_version.clone()),
            Box::new(m.snapshot_applied_unix.clone()),
            Box::new(m.snapshot_zones.clone()),
            Box::new(m.snapshot_certs.clone()),
            Box::new(m.redis_connected.clone()),
            Box::new(m.redis_last_ok_unix.clone()),
            Box::new(m.rejected_records.clone()),
            Box::new(m.full_reloads.clone()),
            Box::new(m.feed_entries.clone()),
            Box::new(m.cert_days_left.clone()),
            Box::new(m.circuits_open.clone()),
            Box::new(m.circuits_opened.clone()),
            Box::new(m.circuit_rejected.clone()),
            Box::new(m.retries.clone()),
            Box::new(m.retry_budget_exhausted.clone()),
        ] {
            r.register(c).expect("each metric is registered once");
        }
        m
    }

    /// Counts a finished request.
    pub fn request(&self, zone: Option<&str>, status: u16) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            500..=599 => "5xx",
            _ => "other",
        };
        let zone = match zone {
            None => "none",
            Some(z) => {
                let mut seen = self.zones_seen.lock().expect("never poisoned");
                if seen.contains(z) || (seen.len() < MAX_ZONE_LABELS && seen.insert(z.to_owned())) {
                    z
                } else {
                    "other"
                }
            }
        };
        self.requests.with_label_values(&[zone, class]).inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let counts = crate::resilience::counts();
        self.circuits_open.set(counts.open_now as i64);
        for (counter, now) in [
            (&self.circuits_opened, counts.opened),
            (&self.circuit_rejected, counts.rejected),
            (&self.retries, counts.retries),
            (&self.retry_budget_exhausted, counts.budget_exhausted),
        ] {
            counter.inc_by(now.saturating_sub(counter.get()));
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding to a Vec cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
