//! Upstream endpoints: address resolution, health and weighted selection.
//!
//! Every distinct upstream URL has one [`Upstream`] shared by all routes that use it, so
//! health is tracked — and actively checked — once per endpoint, however many zones point
//! at it. Health has three inputs:
//! - passive: consecutive connection failures eject an endpoint for a while;
//! - active TCP: a periodic TCP connect to each endpoint marks it up or down;
//! - active HTTP, for routes with a `health_check` policy: an [`HttpCheck`] per
//!   (endpoint, check spec), shared by every route naming both, probes `GET path` and
//!   flips after N results in a row. Such a route's [`Balancer`] consults its checks
//!   instead of the TCP verdict (passive ejection still applies). Checks are scheduled
//!   by due time ([`Registry::run_http_checks`]), at most
//!   [`HealthConfig::max_concurrent_probes`] at once, and die with the last route
//!   holding them.
//!
//! When every endpoint of a route is down, the route answers 503 but lets one request
//! per endpoint through every [`HealthConfig::trickle_every`], so recovery is noticed even
//! without active checks.
//!
//! Must never: log per probe (only state changes, once per check), label metrics per
//! endpoint, or let a probe run longer than its check's timeout.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use switchyard_shared::backend::{BackendUrl, Scheme};
use switchyard_shared::model::Upstream as UpstreamSpec;
use switchyard_shared::policy::CircuitBreaker;

use crate::resilience::Breakers;
use switchyard_shared::policy::HealthCheck;

mod checks;
use checks::{Change, CheckIndex};
pub use checks::{
    CheckReport, EndpointReport, HealthSummary, HttpCheck, ProbeCounts, ProbeKind, TcpReport,
};

/// How health is judged.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// Consecutive connection failures that eject an endpoint.
    pub eject_after_failures: u32,
    /// How long a passively ejected endpoint stays out.
    pub eject_for: Duration,
    /// Interval of active checks (TCP connect); zero disables them.
    pub check_every: Duration,
    /// Timeout of one active check.
    pub check_timeout: Duration,
    /// While all endpoints of a route are down, one request per endpoint per this
    /// interval is let through as a probe.
    pub trickle_every: Duration,
    /// HTTP health probes in flight at most (`--health-probe-concurrency`).
    pub max_concurrent_probes: usize,
}

/// Default of [`HealthConfig::max_concurrent_probes`]: enough for ~50,000 distinct checks
/// at a 5 s interval answering within 25 ms, few enough that probes never crowd out
/// traffic for file descriptors.
pub const DEFAULT_PROBE_CONCURRENCY: usize = 256;

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            eject_after_failures: 3,
            eject_for: Duration::from_secs(10),
            check_every: Duration::from_secs(5),
            check_timeout: Duration::from_secs(1),
            trickle_every: Duration::from_secs(2),
            max_concurrent_probes: DEFAULT_PROBE_CONCURRENCY,
        }
    }
}

/// One upstream endpoint, shared by every route that names the same URL.
#[derive(Debug)]
pub struct Upstream {
    pub url: BackendUrl,
    addrs: ArcSwap<Vec<SocketAddr>>,
    next_addr: AtomicU32,
    /// False once active checks or passive ejection say it is down.
    up: AtomicBool,
    failures: AtomicU32,
    /// Milliseconds since `epoch` until which a passive ejection lasts.
    ejected_until_ms: AtomicU64,
    /// Milliseconds since `epoch` of the last trickle probe let through
    /// ([`NEVER`] before the first).
    last_trickle_ms: AtomicU64,
}

/// The time health timestamps count from (one per process: a field per endpoint would
/// cost 16 bytes a zone at a million zones with their own upstreams).
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

impl Upstream {
    fn new(url: BackendUrl) -> Self {
        let literal: Vec<SocketAddr> = ip_literal(url.host())
            .map(|ip| vec![SocketAddr::new(ip, url.port())])
            .unwrap_or_default();
        Self {
            url,
            addrs: ArcSwap::from_pointee(literal),
            next_addr: AtomicU32::new(0),
            up: AtomicBool::new(true),
            failures: AtomicU32::new(0),
            ejected_until_ms: AtomicU64::new(0),
            last_trickle_ms: AtomicU64::new(NEVER),
        }
    }

    /// Whether TLS is used towards this endpoint.
    pub fn tls(&self) -> bool {
        self.url.scheme() == Scheme::Https
    }

    /// The name to send as SNI and to verify the certificate against.
    pub fn sni(&self) -> &str {
        self.url
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
    }

    /// `host[:port]` as the Host header of an upstream request (the port only when it
    /// is not the scheme's default).
    pub fn authority(&self) -> &str {
        self.url.authority()
    }

    /// An address to connect to (round robin over resolved addresses), if resolved.
    pub fn addr(&self) -> Option<SocketAddr> {
        let addrs = self.addrs.load();
        if addrs.is_empty() {
            return None;
        }
        let i = self.next_addr.fetch_add(1, Ordering::Relaxed) as usize % addrs.len();
        Some(addrs[i])
    }

    fn now_ms(&self) -> u64 {
        EPOCH.elapsed().as_millis() as u64
    }

    /// Up, and not passively ejected.
    pub fn available(&self) -> bool {
        self.up.load(Ordering::Relaxed) && self.passively_available()
    }

    /// Not passively ejected, and resolved: what a route judged by HTTP checks asks of
    /// the endpoint besides its checks (the TCP verdict is not consulted).
    pub fn passively_available(&self) -> bool {
        !self.ejected() && !self.addrs.load().is_empty()
    }

    /// The TCP check's verdict (true before the first check, and with checks off).
    pub fn tcp_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Passively ejected now (too many failed connections in a row).
    pub fn ejected(&self) -> bool {
        // 0 (never ejected, or cleared by a success) needs no clock read: the common
        // case, asked once per request.
        match self.ejected_until_ms.load(Ordering::Relaxed) {
            0 => false,
            until => until > self.now_ms(),
        }
    }

    /// Lets one probe through per `every` while the endpoint is down.
    fn take_trickle(&self, every: Duration) -> bool {
        let now = self.now_ms();
        let last = self.last_trickle_ms.load(Ordering::Relaxed);
        (last == NEVER || now.saturating_sub(last) >= every.as_millis() as u64)
            && self
                .last_trickle_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            && !self.addrs.load().is_empty()
    }

    /// A request reached the endpoint and got an answer.
    pub fn report_success(&self) {
        self.failures.store(0, Ordering::Relaxed);
        self.ejected_until_ms.store(0, Ordering::Relaxed);
        self.up.store(true, Ordering::Relaxed);
    }

    /// A connection to the endpoint failed.
    pub fn report_failure(&self, config: &HealthConfig) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= config.eject_after_failures {
            let until = self.now_ms() + config.eject_for.as_millis() as u64;
            self.ejected_until_ms.store(until, Ordering::Relaxed);
        }
    }

    fn set_active_result(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
        if up {
            self.failures.store(0, Ordering::Relaxed);
            self.ejected_until_ms.store(0, Ordering::Relaxed);
        }
    }

    fn set_addrs(&self, addrs: Vec<SocketAddr>) {
        self.addrs.store(Arc::new(addrs));
    }

    fn resolved(&self) -> bool {
        !self.addrs.load().is_empty()
    }
}

/// No trickle probe has been let through yet.
const NEVER: u64 = u64::MAX;

fn ip_literal(host: &str) -> Option<std::net::IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The upstreams of one route with their weights.
#[derive(Debug)]
pub struct Balancer {
    upstreams: Vec<Arc<Upstream>>,
    /// Cumulative weights: request `n` goes to the first index whose value exceeds
    /// `n % total`, which spreads requests in proportion to the weights.
    cumulative: Vec<u32>,
    counter: AtomicU64,
    /// The route's circuit breakers, one per upstream, when it has the policy.
    breakers: Option<Arc<Breakers>>,
    /// The route's HTTP health checks, one per upstream in the same order; `None` (most
    /// routes) leaves the TCP check and passive ejection to judge. Boxed: one pointer
    /// (8 bytes a route) for routes without a check.
    checks: Option<Box<RouteChecks>>,
}

/// A route's HTTP checks, one per upstream of its balancer.
#[derive(Debug)]
struct RouteChecks(Vec<Arc<HttpCheck>>);

/// What [`Balancer::pick`] found.
#[derive(Debug)]
pub enum Pick {
    Upstream(Arc<Upstream>),
    /// The route has no upstreams (503 "service not configured").
    NotConfigured,
    /// Every upstream is down and none may take a probe now (503).
    AllDown,
    /// Every upstream that is up has its circuit open (503 with
    /// `X-Switchyard-Circuit: open`).
    CircuitOpen,
}

impl Balancer {
    pub fn upstreams(&self) -> &[Arc<Upstream>] {
        &self.upstreams
    }

    /// The upstreams with their weights, as a route's record lists them.
    pub fn specs(&self) -> Vec<UpstreamSpec> {
        let mut previous = 0;
        self.upstreams
            .iter()
            .zip(&self.cumulative)
            .map(|(u, &c)| {
                let weight = c - previous;
                previous = c;
                UpstreamSpec {
                    url: u.url.clone(),
                    weight,
                }
            })
            .collect()
    }

    /// Gives the balancer circuit breakers per upstream (`label` names the route in
    /// `/status`); without a policy it stays as it is, at no cost.
    pub fn with_breakers(
        mut self,
        config: Option<&CircuitBreaker>,
        label: impl FnOnce() -> String,
    ) -> Self {
        self.breakers = config.map(|c| Breakers::new(c, label(), self.upstreams.clone()));
        self
    }

    /// What happened to an attempt on `upstream` (`ok`: an answer below 500), for the
    /// route's circuit breakers, if it has them.
    pub fn report(&self, upstream: &Upstream, ok: bool) {
        if let Some(b) = &self.breakers {
            b.report(upstream, ok);
        }
    }

    /// Whether upstream `i` may take requests: by the route's HTTP check when it has
    /// one (plus passive ejection), else by the TCP check and passive ejection.
    fn judged_up(&self, i: usize, u: &Upstream) -> bool {
        match &self.checks {
            Some(checks) => checks.0[i].is_up() && u.passively_available(),
            None => u.available(),
        }
    }

    /// The route's HTTP checks, one per upstream (empty without a `health_check`).
    pub fn checks(&self) -> &[Arc<HttpCheck>] {
        self.checks.as_deref().map_or(&[], |c| c.0.as_slice())
    }

    /// Weighted round robin over available upstreams, skipping `exclude` (endpoints
    /// that already failed for this request) and those whose circuit is open.
    pub fn pick(&self, config: &HealthConfig, exclude: &[SocketAddr]) -> Pick {
        let total = match self.cumulative.last() {
            Some(&t) if t > 0 => t,
            _ => return Pick::NotConfigured,
        };
        let n = (self.counter.fetch_add(1, Ordering::Relaxed) % u64::from(total)) as u32;
        let start = self.cumulative.partition_point(|&c| c <= n);
        let count = self.upstreams.len();
        // `judged_up` already asks for an address; a first pick (nothing excluded)
        // needs no second look at them.
        let usable = |i: usize, u: &Arc<Upstream>| {
            self.judged_up(i, u)
                && (exclude.is_empty() || u.addrs.load().iter().any(|a| !exclude.contains(a)))
        };
        let admits = |i: usize| self.breakers.as_ref().is_none_or(|b| b.admits(i));
        let closed = |i: usize| self.breakers.as_ref().is_none_or(|b| b.closed(i));
        let mut circuit_open = false;
        for k in 0..count {
            let i = (start + k) % count;
            let u = &self.upstreams[i];
            if usable(i, u) {
                if admits(i) {
                    return Pick::Upstream(u.clone());
                }
                circuit_open = true;
            }
        }
        if circuit_open {
            return Pick::CircuitOpen;
        }
        for k in 0..count {
            let i = (start + k) % count;
            let u = &self.upstreams[i];
            if closed(i) && u.take_trickle(config.trickle_every) {
                return Pick::Upstream(u.clone());
            }
        }
        Pick::AllDown
    }
}

/// Every upstream in use, by URL; entries die with the last route that uses them.
///
/// Keyed by a 64-bit hash of the URL rather than by a copy of it (the URL lives once, in
/// the [`Upstream`]); a URL whose hash is taken by another live URL — never seen in
/// practice — goes to `collisions`, keyed by its text.
pub struct Registry {
    config: HealthConfig,
    by_url: Mutex<UrlIndex>,
    /// HTTP checks in use and their schedule.
    checks: Mutex<CheckIndex>,
    /// Wakes [`Registry::run_http_checks`] when a check is due before it planned to wake.
    wake: tokio::sync::Notify,
    /// Milliseconds since `EPOCH` until which the check runner sleeps.
    runner_sleeps_until: AtomicU64,
    /// Endpoints the TCP check found down: since when and why (only down ones, so the
    /// memory is bounded by what is broken, not by the number of endpoints).
    tcp_down: Mutex<HashMap<String, Change>>,
    /// Probe results since start.
    pub probes: ProbeCounts,
}

#[derive(Default)]
struct UrlIndex {
    by_hash: HashMap<u64, Weak<Upstream>>,
    collisions: HashMap<String, Weak<Upstream>>,
}

fn url_hash(url: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // A fixed seed: the index lives in one process, and its keys are operators' URLs.
    let mut h =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .build_hasher();
    h.write(url.as_bytes());
    h.finish()
}

impl Registry {
    pub fn new(config: HealthConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            by_url: Mutex::new(UrlIndex::default()),
            checks: Mutex::new(CheckIndex::default()),
            wake: tokio::sync::Notify::new(),
            runner_sleeps_until: AtomicU64::new(0),
            tcp_down: Mutex::new(HashMap::new()),
            probes: ProbeCounts::default(),
        })
    }

    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// The shared endpoint for a URL, created on first use.
    pub fn get(&self, url: &BackendUrl) -> Arc<Upstream> {
        let mut index = self.by_url.lock().expect("registry lock is never poisoned");
        let hash = url_hash(url.as_str());
        let in_place = index.by_hash.get(&hash).and_then(Weak::upgrade);
        match in_place {
            Some(existing) if existing.url == *url => existing,
            Some(_) => {
                if let Some(existing) = index.collisions.get(url.as_str()).and_then(Weak::upgrade) {
                    return existing;
                }
                let upstream = Arc::new(Upstream::new(url.clone()));
                index
                    .collisions
                    .insert(url.as_str().to_owned(), Arc::downgrade(&upstream));
                upstream
            }
            None => {
                let upstream = Arc::new(Upstream::new(url.clone()));
                index.by_hash.insert(hash, Arc::downgrade(&upstream));
                upstream
            }
        }
    }

    /// A balancer over the given upstream specs.
    pub fn balancer(&self, specs: &[UpstreamSpec]) -> Balancer {
        self.balancer_checked(specs, None)
    }

    /// A balancer over the given upstream specs, judged by `check` (a route's
    /// `health_check` policy) when given.
    pub fn balancer_checked(
        &self,
        specs: &[UpstreamSpec],
        check: Option<&HealthCheck>,
    ) -> Balancer {
        let mut upstreams = Vec::with_capacity(specs.len());
        let mut cumulative = Vec::with_capacity(specs.len());
        let mut total = 0u32;
        for spec in specs {
            total += spec.weight.max(1);
            upstreams.push(self.get(&spec.url));
            cumulative.push(total);
        }
        let checks = check.filter(|_| !upstreams.is_empty()).map(|spec| {
            Box::new(RouteChecks(
                upstreams.iter().map(|u| self.http_check(u, spec)).collect(),
            ))
        });
        Balancer {
            upstreams,
            cumulative,
            counter: AtomicU64::new(0),
            breakers: None,
            checks,
        }
    }

    /// Every live endpoint; forgets the dead ones.
    pub fn live(&self) -> Vec<Arc<Upstream>> {
        let mut index = self.by_url.lock().expect("registry lock is never poisoned");
        index.by_hash.retain(|_, w| w.strong_count() > 0);
        index.collisions.retain(|_, w| w.strong_count() > 0);
        let UrlIndex {
            by_hash,
            collisions,
        } = &*index;
        by_hash
            .values()
            .chain(collisions.values())
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Resolves endpoints named by host name that have no address yet.
    pub async fn resolve_missing(&self) {
        let pending: Vec<Arc<Upstream>> =
            self.live().into_iter().filter(|u| !u.resolved()).collect();
        resolve_all(pending, self.config.check_timeout).await;
    }

    /// Periodic work: re-resolve names and actively check every endpoint.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        if self.config.check_every.is_zero() {
            return;
        }
        let mut ticks = tokio::time::interval(self.config.check_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.changed() => return,
            }
            let live = self.live();
            let named: Vec<Arc<Upstream>> = live
                .iter()
                .filter(|u| ip_literal(u.url.host()).is_none())
                .cloned()
                .collect();
            resolve_all(named, self.config.check_timeout).await;
            let timeout = self.config.check_timeout;
            let registry = &self;
            let checks: Vec<_> = live
                .into_iter()
                .map(|u| async move {
                    let error = match u.addr() {
                        Some(addr) => {
                            match tokio::time::timeout(
                                timeout,
                                tokio::net::TcpStream::connect(addr),
                            )
                            .await
                            {
                                Ok(Ok(_)) => None,
                                Ok(Err(e)) => Some(format!("connecting to {addr}: {e}")),
                                Err(_) => Some(format!(
                                    "connecting to {addr}: no answer within {} ms",
                                    timeout.as_millis()
                                )),
                            }
                        }
                        None => Some("the host name is not resolved".to_owned()),
                    };
                    let up = error.is_none();
                    registry.probes.count(ProbeKind::Tcp, up, false);
                    if up != u.up.load(Ordering::Relaxed) {
                        tracing::info!(upstream = %u.url, up, "active health check changed state");
                        registry.note_tcp(&u, error.clone());
                    } else if let Some(e) = error {
                        // Still down: keep the latest reason.
                        registry.note_tcp_error(&u, e);
                    }
                    u.set_active_result(up);
                })
                .collect();
            run_bounded(checks, 64).await;
            self.forget_dead_tcp_down();
        }
    }
}

async fn resolve_all(upstreams: Vec<Arc<Upstream>>, timeout: Duration) {
    let jobs: Vec<_> = upstreams
        .into_iter()
        .map(|u| async move {
            let target = (u.url.host().to_owned(), u.url.port());
            match tokio::time::timeout(timeout, tokio::net::lookup_host(target)).await {
                Ok(Ok(addrs)) => {
                    let addrs: Vec<SocketAddr> = addrs.collect();
                    if !addrs.is_empty() {
                        u.set_addrs(addrs);
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(upstream = %u.url, error = %e, "cannot resolve upstream")
                }
                Err(_) => tracing::warn!(upstream = %u.url, "resolving upstream timed out"),
            }
        })
        .collect();
    run_bounded(jobs, 32).await;
}

/// Runs futures with at most `limit` in flight.
async fn run_bounded<F: std::future::Future<Output = ()>>(jobs: Vec<F>, limit: usize) {
    use futures_util::StreamExt as _;
    futures_util::stream::iter(jobs)
        .buffer_unordered(limit)
        .for_each(|()| async {})
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(url: &str, weight: u32) -> UpstreamSpec {
        UpstreamSpec {
            url: BackendUrl::parse(url).unwrap(),
            weight,
        }
    }

    #[test]
    fn weights_share_requests_in_proportion() {
        let registry = Registry::new(HealthConfig::default());
        let b = registry.balancer(&[spec("http://127.0.0.1:1", 3), spec("http://127.0.0.1:2", 1)]);
        let mut counts = HashMap::new();
        for _ in 0..400 {
            match b.pick(registry.config(), &[]) {
                Pick::Upstream(u) => *counts.entry(u.url.port()).or_insert(0) += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(counts[&1], 300);
        assert_eq!(counts[&2], 100);
    }

    #[test]
    fn one_endpoint_is_shared_by_every_route() {
        let registry = Registry::new(HealthConfig::default());
        let a = registry.balancer(&[spec("http://127.0.0.1:1", 1)]);
        let b = registry.balancer(&[spec("http://127.0.0.1:1", 5)]);
        assert!(Arc::ptr_eq(&a.upstreams()[0], &b.upstreams()[0]));
        assert_eq!(registry.live().len(), 1);
        drop((a, b));
        assert!(registry.live().is_empty());
    }

    #[test]
    fn failures_eject_and_trickle_lets_probes_through() {
        let config = HealthConfig {
            eject_after_failures: 2,
            eject_for: Duration::from_secs(60),
            trickle_every: Duration::from_secs(60),
            ..HealthConfig::default()
        };
        let registry = Registry::new(config.clone());
        let b = registry.balancer(&[spec("http://127.0.0.1:1", 1), spec("http://127.0.0.1:2", 1)]);
        let first = b.upstreams()[0].clone();
        first.report_failure(&config);
        assert!(first.available(), "one failure does not eject");
        first.report_failure(&config);
        assert!(!first.available());
        for _ in 0..10 {
            match b.pick(&config, &[]) {
                Pick::Upstream(u) => assert_eq!(u.url.port(), 2),
                other => panic!("{other:?}"),
            }
        }
        let second = b.upstreams()[1].clone();
        second.report_failure(&config);
        second.report_failure(&config);
        // All down: one probe per endpoint, then 503.
        let mut probes = 0;
        for _ in 0..5 {
            if let Pick::Upstream(_) = b.pick(&config, &[]) {
                probes += 1;
            }
        }
        assert_eq!(probes, 2);
        assert!(matches!(b.pick(&config, &[]), Pick::AllDown));
        second.report_success();
        assert!(matches!(b.pick(&config, &[]), Pick::Upstream(u) if u.url.port() == 2));
    }

    #[test]
    fn no_upstreams_means_not_configured() {
        let registry = Registry::new(HealthConfig::default());
        assert!(matches!(
            registry.balancer(&[]).pick(registry.config(), &[]),
            Pick::NotConfigured
        ));
    }

    fn breaker(failures: u32, open_secs: u32) -> CircuitBreaker {
        CircuitBreaker {
            consecutive_failures: failures,
            error_percent: None,
            window_secs: 10,
            min_requests: 20,
            open_secs,
            half_open_requests: 1,
        }
    }

    #[test]
    fn consecutive_failures_open_a_circuit_and_the_others_take_the_traffic() {
        let registry = Registry::new(HealthConfig::default());
        let b = registry
            .balancer(&[spec("http://127.0.0.1:1", 1), spec("http://127.0.0.1:2", 1)])
            .with_breakers(Some(&breaker(3, 3600)), || "a.test".into());
        let first = b.upstreams()[0].clone();
        b.report(&first, false);
        b.report(&first, true);
        b.report(&first, false);
        b.report(&first, false);
        // Not three in a row yet: a success in between reset the count.
        assert!(matches!(b.pick(registry.config(), &[]), Pick::Upstream(_)));
        b.report(&first, false);
        for _ in 0..6 {
            match b.pick(registry.config(), &[]) {
                Pick::Upstream(u) => assert_eq!(u.url.port(), 2),
                other => panic!("{other:?}"),
            }
        }
        let second = b.upstreams()[1].clone();
        for _ in 0..3 {
            b.report(&second, false);
        }
        // Both endpoints are up (health) but their circuits are open: no trickle.
        assert!(matches!(b.pick(registry.config(), &[]), Pick::CircuitOpen));
        assert!(
            crate::resilience::circuits(10)
                .iter()
                .any(|c| c.route == "a.test" && c.state == "open")
        );
    }

    #[test]
    fn an_error_share_over_the_window_opens_a_circuit() {
        let registry = Registry::new(HealthConfig::default());
        let config = CircuitBreaker {
            error_percent: Some(50),
            min_requests: 10,
            ..breaker(1000, 3600)
        };
        let b = registry
            .balancer(&[spec("http://127.0.0.1:1", 1)])
            .with_breakers(Some(&config), || "share.test".into());
        let only = b.upstreams()[0].clone();
        for i in 0..9 {
            b.report(&only, i % 2 == 0);
        }
        assert!(
            matches!(b.pick(registry.config(), &[]), Pick::Upstream(_)),
            "below min_requests"
        );
        b.report(&only, false);
        assert!(matches!(b.pick(registry.config(), &[]), Pick::CircuitOpen));
    }

    #[test]
    fn a_half_open_circuit_lets_one_probe_through_and_closes_on_its_success() {
        let registry = Registry::new(HealthConfig::default());
        let b = registry
            .balancer(&[spec("http://127.0.0.1:1", 1)])
            .with_breakers(Some(&breaker(1, 0)), || "probe.test".into());
        let only = b.upstreams()[0].clone();
        b.report(&only, false);
        // open_secs 0: a probe is due at once; its failure opens the circuit again.
        assert!(matches!(b.pick(registry.config(), &[]), Pick::Upstream(_)));
        b.report(&only, false);
        assert!(
            matches!(b.pick(registry.config(), &[]), Pick::Upstream(_)),
            "reopened, due again"
        );
        b.report(&only, true);
        for _ in 0..5 {
            assert!(matches!(b.pick(registry.config(), &[]), Pick::Upstream(_)));
        }
    }

    #[test]
    fn a_failed_address_is_skipped_for_the_retry() {
        let registry = Registry::new(HealthConfig::default());
        let b = registry.balancer(&[spec("http://127.0.0.1:1", 1), spec("http://127.0.0.1:2", 1)]);
        let failed: SocketAddr = "127.0.0.1:1".parse().unwrap();
        for _ in 0..4 {
            match b.pick(registry.config(), &[failed]) {
                Pick::Upstream(u) => assert_eq!(u.url.port(), 2),
                other => panic!("{other:?}"),
            }
        }
    }
}
