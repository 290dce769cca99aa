//! Prometheus metrics of the proxy, served on the admin listener at `/metrics`.
//!
//! Request counts are labelled by zone, but only the first [`MAX_ZONE_LABELS`] zones
//! seen get a label of their own; the rest are counted under `zone="other"`, so a
//! million zones cannot blow up the metrics' cardinality.
//!
//! Upstream health ([`Metrics::watch_health`]) is counts only, never a label per
//! endpoint (a million zones can have a million endpoints): `upstream_endpoints{state}`,
//! `health_checks{state}` (HTTP checks, per endpoint and spec) and
//! `health_probes_total{kind,result}`, read from the registry at each scrape.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    zones: Mutex<ZoneCounters>,
}

/// The status classes of `requests_total`, in the order of [`Counters`].
const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// One zone's `requests_total` children by status class, each taken from the vector the
/// first time it is counted (so /metrics shows only the classes seen, as before).
type Counters = [Option<IntCounter>; 6];

/// The request counters by zone label, kept here so that counting a request is one
/// lookup of the zone (foldhash) and an atomic add: `with_label_values` hashed both
/// labels (FNV) and looked them up under a lock on every request, after a SipHash
/// lookup of the zone in the set of zones seen (~450 instructions per request, callgrind).
#[derive(Default)]
struct ZoneCounters {
    /// The first [`MAX_ZONE_LABELS`] zones seen.
    seen: HashMap<String, Counters, foldhash::fast::RandomState>,
    /// Requests no zone matched.
    none: Counters,
    /// Requests of the zones seen after the first [`MAX_ZONE_LABELS`].
    other: Counters,
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
            zones: Mutex::default(),
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
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        let ZoneCounters { seen, none, other } = &mut *zones;
        let (label, counters) = match zone {
            None => ("none", none),
            Some(z) => {
                if !seen.contains_key(z) && seen.len() < MAX_ZONE_LABELS {
                    seen.insert(z.to_owned(), Default::default());
                }
                match seen.get_mut(z) {
                    Some(counters) => (z, counters),
                    None => ("other", other),
                }
            }
        };
        counters[class]
            .get_or_insert_with(|| self.requests.with_label_values(&[label, CLASSES[class]]))
            .inc();
    }

    /// Exports upstream health from `registry` (see the module docs).
    pub fn watch_health(&self, registry: Arc<crate::upstreams::Registry>) {
        self.registry
            .register(Box::new(HealthCollector::new(registry)))
            .expect("health metrics are registered once");
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

/// Upstream health, computed from the registry at each scrape.
struct HealthCollector {
    registry: Arc<crate::upstreams::Registry>,
    descs: Vec<prometheus::core::Desc>,
}

impl HealthCollector {
    fn new(registry: Arc<crate::upstreams::Registry>) -> Self {
        use prometheus::core::Collector;
        let mut collector = Self {
            registry,
            descs: Vec::new(),
        };
        let (a, b, c) = Self::families();
        collector.descs = [a.desc(), b.desc(), c.desc()]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        collector
    }

    /// Fresh metric families (filled at each scrape).
    fn families() -> (IntGaugeVec, IntGaugeVec, IntCounterVec) {
        let endpoints = IntGaugeVec::new(
            Opts::new(
                "upstream_endpoints",
                "Distinct upstream endpoints in use, by state (down: by the TCP check, passive ejection, not resolved, or a route's HTTP check)",
            ),
            &["state"],
        )
        .expect("valid");
        let checks = IntGaugeVec::new(
            Opts::new(
                "health_checks",
                "HTTP health checks in use (one per endpoint and check spec), by state",
            ),
            &["state"],
        )
        .expect("valid");
        let probes = IntCounterVec::new(
            Opts::new(
                "health_probes_total",
                "Active health probes by kind (tcp, http) and result (pass, fail, timeout)",
            ),
            &["kind", "result"],
        )
        .expect("valid");
        (endpoints, checks, probes)
    }
}

impl prometheus::core::Collector for HealthCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        use std::sync::atomic::Ordering::Relaxed;
        let (endpoints, checks, probes) = Self::families();
        let summary = self.registry.summary();
        let up = |all: usize, down: usize| (all - down.min(all)) as i64;
        endpoints
            .with_label_values(&["up"])
            .set(up(summary.endpoints, summary.endpoints_down));
        endpoints
            .with_label_values(&["down"])
            .set(summary.endpoints_down as i64);
        checks
            .with_label_values(&["up"])
            .set(up(summary.http_checks, summary.http_checks_down));
        checks
            .with_label_values(&["down"])
            .set(summary.http_checks_down as i64);
        let counts = &self.registry.probes;
        for (kind, result, value) in [
            ("tcp", "pass", &counts.tcp_pass),
            ("tcp", "fail", &counts.tcp_fail),
            ("http", "pass", &counts.http_pass),
            ("http", "fail", &counts.http_fail),
            ("http", "timeout", &counts.http_timeout),
        ] {
            probes
                .with_label_values(&[kind, result])
                .inc_by(value.load(Relaxed));
        }
        let mut out = endpoints.collect();
        out.extend(checks.collect());
        out.extend(probes.collect());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str, zone: &str, class: &str) -> Option<u64> {
        let line = format!("switchyard_proxy_requests_total{{class=\"{class}\",zone=\"{zone}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line))
            .map(|n| n.parse().expect("a count"))
    }

    #[test]
    fn requests_are_counted_by_zone_and_status_class() {
        let m = Metrics::new();
        for status in [200, 204, 503, 0, 101] {
            m.request(Some("*.example.com"), status);
        }
        m.request(Some("*.example.com"), 200);
        m.request(None, 404);
        let text = String::from_utf8(m.render()).unwrap();
        assert_eq!(count(&text, "*.example.com", "2xx"), Some(3));
        assert_eq!(count(&text, "*.example.com", "5xx"), Some(1));
        assert_eq!(count(&text, "*.example.com", "1xx"), Some(1));
        assert_eq!(count(&text, "*.example.com", "other"), Some(1));
        assert_eq!(count(&text, "none", "4xx"), Some(1));
        // Only the classes seen are shown.
        assert_eq!(count(&text, "*.example.com", "4xx"), None);
        assert_eq!(count(&text, "none", "2xx"), None);
    }

    #[test]
    fn zones_beyond_the_label_limit_are_counted_as_other() {
        let m = Metrics::new();
        for i in 0..MAX_ZONE_LABELS {
            m.request(Some(&format!("z{i}.example")), 200);
        }
        m.request(Some("late.example"), 200);
        m.request(Some("later.example"), 500);
        // A zone seen before the limit keeps its label.
        m.request(Some("z0.example"), 200);
        let text = String::from_utf8(m.render()).unwrap();
        assert_eq!(count(&text, "z0.example", "2xx"), Some(2));
        assert_eq!(count(&text, "late.example", "2xx"), None);
        assert_eq!(count(&text, "other", "2xx"), Some(1));
        assert_eq!(count(&text, "other", "5xx"), Some(1));
    }
}
