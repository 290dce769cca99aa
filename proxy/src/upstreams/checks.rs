//! Active HTTP health checks (a route's `health_check` policy) and the health report.
//!
//! One [`HttpCheck`] exists per (endpoint, check spec): 10,000 routes naming the same
//! endpoint with the same check share it, so the endpoint gets one probe per interval.
//! Balancers hold the checks ([`Registry::balancer_checked`]); the registry holds only
//! weak references — an index for sharing and a schedule ordered by due time — so a
//! check, its state and its probes end with the last route that uses it.
//!
//! [`Registry::run_http_checks`] pops due checks and probes them with Pingora's own HTTP
//! connector (the TLS settings and CA file of upstream traffic, the upstream's name as
//! SNI), at most [`super::HealthConfig::max_concurrent_probes`] at once; each probe is a fresh
//! connection that is closed afterwards, so a check also sees what a new connection
//! would. A check starts up (adding a check to a serving route does not take it down),
//! and changes state after `unhealthy_threshold` failures or `healthy_threshold` passes
//! in a row; each change is logged once at info.
//!
//! Must never: let a probe outlive its timeout, log per probe, or keep a check alive
//! that no route holds.

use std::cmp::Ordering as CmpOrdering;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use pingora::connectors::http::Connector as HttpConnector;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;
use serde::Serialize;
use switchyard_shared::policy::{HealthCheck, parse_status_ranges};
use time::OffsetDateTime;

use super::{EPOCH, Registry, Upstream};

/// How long the check runner sleeps when nothing is scheduled (a new check wakes it).
const IDLE_WAKE: Duration = Duration::from_secs(60);
/// Due checks taken from the schedule per round (the rest wait for the next round).
const TAKE_PER_ROUND: usize = 1024;
/// Forgotten checks are swept from the sharing index at most this often.
const PRUNE_EVERY_MS: u64 = 5_000;
/// A check of an endpoint whose name is not resolved yet looks again this soon.
const UNRESOLVED_RETRY_MS: u64 = 250;
/// Longest failure reason kept (a TLS error can be long).
const MAX_REASON: usize = 300;
/// The `User-Agent` of probes, so a backend's logs can tell them from traffic.
const USER_AGENT: &str = "switchyard-health-check";

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

/// One endpoint judged by one `health_check` spec, shared by every route naming both.
pub struct HttpCheck {
    pub upstream: Arc<Upstream>,
    pub spec: HealthCheck,
    /// `spec.expected_status` parsed.
    statuses: Vec<(u16, u16)>,
    up: AtomicBool,
    state: Mutex<CheckState>,
}

impl std::fmt::Debug for HttpCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCheck")
            .field("upstream", &self.upstream.url.as_str())
            .field("path", &self.spec.path)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

/// What a check remembers besides up/down (read by the admin API, written by probes).
#[derive(Default)]
struct CheckState {
    /// Results in a row that disagree with the current state (towards a change).
    streak: u32,
    changed_at: Option<OffsetDateTime>,
    last_probe_at: Option<OffsetDateTime>,
    last_error: Option<String>,
    last_error_at: Option<OffsetDateTime>,
}

/// Why a probe failed.
#[derive(Debug)]
pub(super) enum ProbeFailure {
    /// No answer head within the check's timeout.
    Timeout,
    /// Connection failure, protocol error or a status not expected.
    Failed(String),
}

impl HttpCheck {
    fn new(upstream: Arc<Upstream>, spec: HealthCheck) -> Self {
        // The spec was validated (panel and record check); the default keeps a broken
        // one from passing everything.
        let statuses =
            parse_status_ranges(&spec.expected_status).unwrap_or_else(|_| vec![(200, 399)]);
        Self {
            upstream,
            spec,
            statuses,
            up: AtomicBool::new(true),
            state: Mutex::new(CheckState::default()),
        }
    }

    /// The check's verdict: true until `unhealthy_threshold` probes in a row failed.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn expects(&self, status: u16) -> bool {
        self.statuses
            .iter()
            .any(|&(a, b)| (a..=b).contains(&status))
    }

    /// Counts a probe's result; returns the new state when it changed.
    fn record(&self, result: &Result<(), ProbeFailure>) -> Option<bool> {
        let now = OffsetDateTime::now_utc();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.last_probe_at = Some(now);
        let passed = result.is_ok();
        if let Err(failure) = result {
            state.last_error = Some(match failure {
                ProbeFailure::Timeout => {
                    format!("no answer within {} ms", self.spec.timeout_ms)
                }
                ProbeFailure::Failed(why) => why.clone(),
            });
            state.last_error_at = Some(now);
        }
        let up = self.is_up();
        if passed == up {
            state.streak = 0;
            return None;
        }
        state.streak += 1;
        let needed = if up {
            self.spec.unhealthy_threshold
        } else {
            self.spec.healthy_threshold
        };
        if state.streak < needed.max(1) {
            return None;
        }
        state.streak = 0;
        state.changed_at = Some(now);
        self.up.store(passed, Ordering::Relaxed);
        Some(passed)
    }

    /// What the admin API shows of this check.
    pub fn report(&self) -> CheckReport {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        CheckReport {
            path: self.spec.path.clone(),
            expected_status: self.spec.expected_status.clone(),
            host: self
                .spec
                .host
                .clone()
                .unwrap_or_else(|| self.upstream.authority().to_owned()),
            interval_ms: self.spec.interval_ms,
            timeout_ms: self.spec.timeout_ms,
            healthy_threshold: self.spec.healthy_threshold,
            unhealthy_threshold: self.spec.unhealthy_threshold,
            up: self.is_up(),
            changed_at: state.changed_at,
            last_probe_at: state.last_probe_at,
            last_error: state.last_error.clone(),
            last_error_at: state.last_error_at,
        }
    }

    /// One probe: `GET path` on a fresh connection, an expected status within the
    /// timeout. The connection is closed afterwards (never pooled).
    pub(super) async fn probe(&self, connector: &HttpConnector) -> Result<(), ProbeFailure> {
        let timeout = Duration::from_millis(u64::from(self.spec.timeout_ms));
        match pingora_timeout::timeout(timeout, self.exchange(connector, timeout)).await {
            Ok(result) => result.map_err(|why| {
                let mut why = why;
                if why.len() > MAX_REASON {
                    let mut end = MAX_REASON;
                    while !why.is_char_boundary(end) {
                        end -= 1;
                    }
                    why.truncate(end);
                    why.push('…');
                }
                ProbeFailure::Failed(why)
            }),
            Err(_) => Err(ProbeFailure::Timeout),
        }
    }

    async fn exchange(&self, connector: &HttpConnector, timeout: Duration) -> Result<(), String> {
        let upstream = &self.upstream;
        let addr = upstream
            .addr()
            .ok_or_else(|| "the host name is not resolved".to_owned())?;
        let mut peer = HttpPeer::new(addr, upstream.tls(), upstream.sni().to_owned());
        peer.options.connection_timeout = Some(timeout);
        peer.options.total_connection_timeout = Some(timeout);
        peer.options.read_timeout = Some(timeout);
        peer.options.write_timeout = Some(timeout);
        let (mut session, _) = connector
            .get_http_session(&peer)
            .await
            .map_err(|e| format!("connecting to {addr}: {}", e.to_string().trim()))?;
        let host = self.spec.host.as_deref().unwrap_or(upstream.authority());
        let request = (|| {
            let mut req = RequestHeader::build("GET", self.spec.path.as_bytes(), None)?;
            req.insert_header(http::header::HOST, host)?;
            req.insert_header(http::header::USER_AGENT, USER_AGENT)?;
            req.insert_header(http::header::CONNECTION, "close")?;
            Ok::<_, Box<pingora::Error>>(req)
        })()
        .map_err(|e| format!("building the request: {e}"))?;
        let exchanged = async {
            session.write_request_header(Box::new(request)).await?;
            session.finish_request_body().await?;
            session.read_response_header().await
        }
        .await;
        exchanged.map_err(|e| format!("exchanging with {addr}: {}", e.to_string().trim()))?;
        let status = session
            .response_header()
            .map(|h| h.status.as_u16())
            .ok_or_else(|| format!("{addr} sent no answer head"))?;
        if self.expects(status) {
            Ok(())
        } else {
            Err(format!(
                "answered {status}; expected {}",
                self.spec.expected_status
            ))
        }
    }
}

/// A check as `GET /upstreams` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub path: String,
    pub expected_status: String,
    /// The `Host` header the probes send.
    pub host: String,
    pub interval_ms: u32,
    pub timeout_ms: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub up: bool,
    /// When the check last changed state (`null`: never, it has been up since it began).
    #[serde(with = "time::serde::rfc3339::option")]
    pub changed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_probe_at: Option<OffsetDateTime>,
    /// Why the last failed probe failed (kept after recovery, with its time).
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_error_at: Option<OffsetDateTime>,
}

/// The TCP check's state of one endpoint, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct TcpReport {
    pub up: bool,
    /// Since when it has been down (`null` while up).
    #[serde(with = "time::serde::rfc3339::option")]
    pub down_since: Option<OffsetDateTime>,
    pub last_error: Option<String>,
}

/// One endpoint as `GET /upstreams` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointReport {
    pub url: String,
    /// Nothing below keeps traffic from it.
    pub up: bool,
    /// What keeps traffic from it: `tcp` (the TCP check), `ejected` (failed
    /// connections), `unresolved`, or `http <path>` (a route's HTTP check; other routes
    /// naming the endpoint without that check still use it).
    pub down_by: Vec<String>,
    pub tcp: TcpReport,
    pub ejected: bool,
    pub http_checks: Vec<CheckReport>,
}

/// Counts of endpoints and checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HealthSummary {
    /// Distinct upstream endpoints in use.
    pub endpoints: usize,
    /// Endpoints down by any judge (TCP check, passive ejection, not resolved, or at
    /// least one route's HTTP check).
    pub endpoints_down: usize,
    /// Distinct (endpoint, HTTP check) pairs in use.
    pub http_checks: usize,
    pub http_checks_down: usize,
}

/// Probe results since start (the `health_probes_total` metric).
#[derive(Debug, Default)]
pub struct ProbeCounts {
    pub tcp_pass: AtomicU64,
    pub tcp_fail: AtomicU64,
    pub http_pass: AtomicU64,
    pub http_fail: AtomicU64,
    pub http_timeout: AtomicU64,
}

/// Which active check a probe result belongs to.
#[derive(Debug, Clone, Copy)]
pub enum ProbeKind {
    Tcp,
    Http,
}

impl ProbeCounts {
    pub fn count(&self, kind: ProbeKind, pass: bool, timeout: bool) {
        let counter = match (kind, pass, timeout) {
            (ProbeKind::Tcp, true, _) => &self.tcp_pass,
            (ProbeKind::Tcp, false, _) => &self.tcp_fail,
            (ProbeKind::Http, true, _) => &self.http_pass,
            (ProbeKind::Http, false, true) => &self.http_timeout,
            (ProbeKind::Http, false, false) => &self.http_fail,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Since when an endpoint has been down by the TCP check, and why.
#[derive(Debug, Clone)]
pub(super) struct Change {
    since: OffsetDateTime,
    error: Option<String>,
}

/// The checks in use, for sharing, and their schedule.
#[derive(Default)]
pub(super) struct CheckIndex {
    /// By a hash of (URL, spec); a list, as two live checks may share a hash.
    by_key: HashMap<u64, Vec<Weak<HttpCheck>>>,
    /// Each live check once, by when its next probe is due.
    due: std::collections::BinaryHeap<Due>,
    pruned_at_ms: u64,
}

/// A check's next probe; the heap's top is the earliest.
struct Due {
    at_ms: u64,
    check: Weak<HttpCheck>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.at_ms == other.at_ms
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.at_ms.cmp(&self.at_ms)
    }
}

/// An endpoint as [`Registry::report`] lists it: its checks and why it is down.
type Listed = (Arc<Upstream>, Vec<Arc<HttpCheck>>, Vec<String>);

fn check_key(url: &str, spec: &HealthCheck) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    // A fixed seed, as for URLs: one process, operators' data.
    let mut h =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .build_hasher();
    url.hash(&mut h);
    spec.hash(&mut h);
    h.finish()
}

impl Registry {
    /// The shared check of `upstream` by `spec`, created (and scheduled at once) on
    /// first use.
    pub fn http_check(&self, upstream: &Arc<Upstream>, spec: &HealthCheck) -> Arc<HttpCheck> {
        let key = check_key(upstream.url.as_str(), spec);
        let mut index = self
            .checks
            .lock()
            .expect("check index lock is never poisoned");
        let list = index.by_key.entry(key).or_default();
        list.retain(|w| w.strong_count() > 0);
        if let Some(found) = list
            .iter()
            .filter_map(Weak::upgrade)
            .find(|c| c.upstream.url == upstream.url && c.spec == *spec)
        {
            return found;
        }
        let check = Arc::new(HttpCheck::new(upstream.clone(), spec.clone()));
        list.push(Arc::downgrade(&check));
        let now = now_ms();
        index.due.push(Due {
            at_ms: now,
            check: Arc::downgrade(&check),
        });
        drop(index);
        if now < self.runner_sleeps_until.load(Ordering::Relaxed) {
            self.wake.notify_one();
        }
        check
    }

    /// Puts `check` back on the schedule, due at `at_ms`.
    fn schedule(&self, check: &Arc<HttpCheck>, at_ms: u64) {
        let mut index = self
            .checks
            .lock()
            .expect("check index lock is never poisoned");
        index.due.push(Due {
            at_ms,
            check: Arc::downgrade(check),
        });
        drop(index);
        if at_ms < self.runner_sleeps_until.load(Ordering::Relaxed) {
            self.wake.notify_one();
        }
    }

    /// Takes the checks due by `now` (at most [`TAKE_PER_ROUND`]) and says when the
    /// next one is due. Checks no route holds any more are dropped here.
    fn take_due(&self, now: u64) -> (Vec<Arc<HttpCheck>>, Option<u64>) {
        let mut index = self
            .checks
            .lock()
            .expect("check index lock is never poisoned");
        let mut taken = Vec::new();
        let mut forgotten = false;
        while taken.len() < TAKE_PER_ROUND {
            match index.due.peek() {
                Some(top) if top.at_ms <= now => {}
                _ => break,
            }
            let due = index.due.pop().expect("peeked");
            match due.check.upgrade() {
                Some(check) => taken.push(check),
                None => forgotten = true,
            }
        }
        if forgotten && now.saturating_sub(index.pruned_at_ms) >= PRUNE_EVERY_MS {
            index.pruned_at_ms = now;
            index.by_key.retain(|_, list| {
                list.retain(|w| w.strong_count() > 0);
                !list.is_empty()
            });
        }
        let next = index.due.peek().map(|d| d.at_ms);
        (taken, next)
    }

    /// Every live HTTP check.
    pub fn live_checks(&self) -> Vec<Arc<HttpCheck>> {
        let index = self
            .checks
            .lock()
            .expect("check index lock is never poisoned");
        index
            .by_key
            .values()
            .flatten()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Runs the HTTP checks until `shutdown`: each check is probed when due, then
    /// rescheduled an interval after its probe began; at most
    /// [`super::HealthConfig::max_concurrent_probes`] probes are in flight.
    pub async fn run_http_checks(
        self: Arc<Self>,
        connector: Arc<HttpConnector>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let permits = Arc::new(tokio::sync::Semaphore::new(
            self.config.max_concurrent_probes.max(1),
        ));
        // Dropping the set (shutdown) aborts the probes in flight.
        let mut probes = tokio::task::JoinSet::new();
        loop {
            while probes.try_join_next().is_some() {}
            let now = now_ms();
            let (due, next) = self.take_due(now);
            if due.is_empty() {
                let until = next.map_or(now + IDLE_WAKE.as_millis() as u64, |n| {
                    n.min(now + IDLE_WAKE.as_millis() as u64)
                });
                // Published before waiting: a check scheduled earlier than this wakes
                // us (a notification sent before we wait is kept for us).
                self.runner_sleeps_until.store(until, Ordering::Relaxed);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(until.saturating_sub(now))) => {}
                    _ = self.wake.notified() => {}
                    _ = shutdown.changed() => return,
                }
                self.runner_sleeps_until.store(0, Ordering::Relaxed);
                continue;
            }
            for check in due {
                let permit = tokio::select! {
                    permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                    _ = shutdown.changed() => return,
                };
                let registry = self.clone();
                let connector = connector.clone();
                if !check.upstream.resolved() {
                    // A name not resolved yet (a new route: resolution follows the
                    // snapshot) is no verdict on the backend; the endpoint takes no
                    // traffic meanwhile anyway (reported "unresolved").
                    let soon = u64::from(check.spec.interval_ms).min(UNRESOLVED_RETRY_MS);
                    self.schedule(&check, now + soon);
                    continue;
                }
                probes.spawn(async move {
                    let started = now_ms();
                    let result = check.probe(&connector).await;
                    drop(permit);
                    registry.probes.count(
                        super::ProbeKind::Http,
                        result.is_ok(),
                        matches!(result, Err(ProbeFailure::Timeout)),
                    );
                    if let Some(up) = check.record(&result) {
                        let state = check.state.lock().unwrap_or_else(|e| e.into_inner());
                        let reason = if up { None } else { state.last_error.clone() };
                        drop(state);
                        tracing::info!(
                            upstream = %check.upstream.url,
                            path = %check.spec.path,
                            up,
                            reason = reason.as_deref().unwrap_or(""),
                            "HTTP health check changed state"
                        );
                    }
                    let interval = u64::from(check.spec.interval_ms);
                    registry.schedule(&check, started + interval);
                });
            }
        }
    }

    /// The TCP check found `upstream` changed state: remember since when it is down.
    pub(super) fn note_tcp(&self, upstream: &Upstream, error: Option<String>) {
        let mut down = self.tcp_down.lock().unwrap_or_else(|e| e.into_inner());
        match error {
            Some(error) => {
                down.insert(
                    upstream.url.as_str().to_owned(),
                    Change {
                        since: OffsetDateTime::now_utc(),
                        error: Some(error),
                    },
                );
            }
            None => {
                down.remove(upstream.url.as_str());
            }
        }
    }

    /// The TCP check found `upstream` still down: keep the latest reason.
    pub(super) fn note_tcp_error(&self, upstream: &Upstream, error: String) {
        let mut down = self.tcp_down.lock().unwrap_or_else(|e| e.into_inner());
        match down.get_mut(upstream.url.as_str()) {
            Some(change) => change.error = Some(error),
            None => {
                down.insert(
                    upstream.url.as_str().to_owned(),
                    Change {
                        since: OffsetDateTime::now_utc(),
                        error: Some(error),
                    },
                );
            }
        }
    }

    /// Forgets the TCP state of endpoints no route names any more (O(down endpoints)).
    pub(super) fn forget_dead_tcp_down(&self) {
        let mut down = self.tcp_down.lock().unwrap_or_else(|e| e.into_inner());
        if down.is_empty() {
            return;
        }
        let index = self.by_url.lock().expect("registry lock is never poisoned");
        let live = |url: &str| {
            let found = |w: Option<&Weak<Upstream>>| {
                w.and_then(Weak::upgrade)
                    .is_some_and(|u| u.url.as_str() == url)
            };
            found(index.by_hash.get(&super::url_hash(url))) || found(index.collisions.get(url))
        };
        down.retain(|url, _| live(url));
    }

    /// Why an endpoint is down (empty: it is up), by its TCP verdict, passive ejection,
    /// resolution and `checks`.
    fn down_by(upstream: &Upstream, checks: &[Arc<HttpCheck>]) -> Vec<String> {
        let mut why = Vec::new();
        if !upstream.tcp_up() {
            why.push("tcp".to_owned());
        }
        if upstream.ejected() {
            why.push("ejected".to_owned());
        }
        if !upstream.resolved() {
            why.push("unresolved".to_owned());
        }
        for c in checks.iter().filter(|c| !c.is_up()) {
            why.push(format!("http {}", c.spec.path));
        }
        why
    }

    /// Every live endpoint with its checks.
    fn endpoints_with_checks(&self) -> Vec<(Arc<Upstream>, Vec<Arc<HttpCheck>>)> {
        let mut by_endpoint: HashMap<*const Upstream, Vec<Arc<HttpCheck>>> = HashMap::new();
        for check in self.live_checks() {
            by_endpoint
                .entry(Arc::as_ptr(&check.upstream))
                .or_default()
                .push(check);
        }
        self.live()
            .into_iter()
            .map(|u| {
                let checks = by_endpoint.remove(&Arc::as_ptr(&u)).unwrap_or_default();
                (u, checks)
            })
            .collect()
    }

    /// Counts of endpoints and checks, up and down.
    pub fn summary(&self) -> HealthSummary {
        let mut summary = HealthSummary::default();
        for (u, checks) in self.endpoints_with_checks() {
            summary.endpoints += 1;
            summary.http_checks += checks.len();
            let checks_down = checks.iter().filter(|c| !c.is_up()).count();
            summary.http_checks_down += checks_down;
            if checks_down > 0 || !u.available() {
                summary.endpoints_down += 1;
            }
        }
        summary
    }

    /// Endpoints as the admin API lists them: down ones first, then by URL; only down
    /// ones with `only_down`; at most `limit`. Also the counts over all of them.
    pub fn report(&self, only_down: bool, limit: usize) -> (Vec<EndpointReport>, HealthSummary) {
        let mut summary = HealthSummary::default();
        let mut listed: Vec<Listed> = Vec::new();
        for (u, checks) in self.endpoints_with_checks() {
            summary.endpoints += 1;
            summary.http_checks += checks.len();
            summary.http_checks_down += checks.iter().filter(|c| !c.is_up()).count();
            let why = Self::down_by(&u, &checks);
            if !why.is_empty() {
                summary.endpoints_down += 1;
            }
            if !only_down || !why.is_empty() {
                listed.push((u, checks, why));
            }
        }
        let order = |a: &Listed, b: &Listed| {
            // Down (a non-empty reason list) before up, then by URL.
            a.2.is_empty()
                .cmp(&b.2.is_empty())
                .then_with(|| a.0.url.as_str().cmp(b.0.url.as_str()))
        };
        if listed.len() > limit {
            if limit == 0 {
                listed.clear();
            } else {
                listed.select_nth_unstable_by(limit - 1, order);
                listed.truncate(limit);
            }
        }
        listed.sort_by(order);
        let tcp_down = self
            .tcp_down
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let reports = listed
            .into_iter()
            .map(|(u, checks, why)| {
                let change = tcp_down.get(u.url.as_str()).filter(|_| !u.tcp_up());
                EndpointReport {
                    url: u.url.as_str().to_owned(),
                    up: why.is_empty(),
                    down_by: why,
                    tcp: TcpReport {
                        up: u.tcp_up(),
                        down_since: change.map(|c| c.since),
                        last_error: change.and_then(|c| c.error.clone()),
                    },
                    ejected: u.ejected(),
                    http_checks: checks.iter().map(|c| c.report()).collect(),
                }
            })
            .collect();
        (reports, summary)
    }
}

#[cfg(test)]
mod tests {
    use switchyard_shared::BackendUrl;
    use switchyard_shared::model::Upstream as UpstreamSpec;

    use super::*;
    use crate::upstreams::{HealthConfig, Pick};

    fn spec(url: &str) -> UpstreamSpec {
        UpstreamSpec {
            url: BackendUrl::parse(url).unwrap(),
            weight: 1,
        }
    }

    fn check(path: &str) -> HealthCheck {
        serde_json::from_value(serde_json::json!({
            "path": path, "healthy_threshold": 2, "unhealthy_threshold": 3
        }))
        .unwrap()
    }

    fn fail() -> Result<(), ProbeFailure> {
        Err(ProbeFailure::Failed(
            "answered 500; expected 200-399".into(),
        ))
    }

    #[test]
    fn routes_with_the_same_check_on_an_endpoint_share_one_check() {
        let registry = Registry::new(HealthConfig::default());
        let a = spec("http://127.0.0.1:1");
        let balancers: Vec<_> = (0..10_000)
            .map(|_| registry.balancer_checked(std::slice::from_ref(&a), Some(&check("/healthz"))))
            .collect();
        let other = registry.balancer_checked(std::slice::from_ref(&a), Some(&check("/ready")));
        assert_eq!(registry.live_checks().len(), 2);
        assert!(Arc::ptr_eq(
            &balancers[0].checks()[0],
            &balancers[9_999].checks()[0]
        ));
        // One schedule entry per check: one probe per interval, however many routes.
        assert_eq!(registry.checks.lock().unwrap().due.len(), 2);
        drop(balancers);
        assert_eq!(registry.live_checks().len(), 1);
        drop(other);
        assert!(registry.live_checks().is_empty());
        // The schedule forgets them when it meets them.
        let (due, next) = registry.take_due(u64::MAX);
        assert!(due.is_empty() && next.is_none());
    }

    #[test]
    fn the_tcp_state_of_an_endpoint_is_kept_while_a_route_names_it() {
        let registry = Registry::new(HealthConfig::default());
        let b = registry.balancer(&[spec("http://127.0.0.1:1")]);
        registry.note_tcp(&b.upstreams()[0], Some("connection refused".into()));
        registry.forget_dead_tcp_down();
        assert_eq!(registry.tcp_down.lock().unwrap().len(), 1);
        drop(b);
        registry.forget_dead_tcp_down();
        assert!(registry.tcp_down.lock().unwrap().is_empty());
    }

    #[test]
    fn a_check_changes_state_after_its_thresholds_in_a_row() {
        let registry = Registry::new(HealthConfig::default());
        let b = registry.balancer_checked(&[spec("http://127.0.0.1:1")], Some(&check("/h")));
        let c = &b.checks()[0];
        assert!(c.is_up(), "a check starts up");
        assert_eq!(c.record(&fail()), None);
        assert_eq!(c.record(&fail()), None);
        assert_eq!(c.record(&Ok(())), None, "a pass resets the streak");
        assert_eq!(c.record(&fail()), None);
        assert_eq!(c.record(&fail()), None);
        assert_eq!(c.record(&Err(ProbeFailure::Timeout)), Some(false));
        assert!(!c.is_up());
        let report = c.report();
        assert_eq!(
            report.last_error.as_deref(),
            Some("no answer within 1000 ms")
        );
        assert!(report.changed_at.is_some());
        assert_eq!(c.record(&Ok(())), None);
        assert_eq!(c.record(&Ok(())), Some(true));
        assert!(c.is_up());
    }

    #[test]
    fn a_route_skips_endpoints_its_check_marks_down_and_others_do_not() {
        let config = HealthConfig {
            trickle_every: Duration::from_secs(60),
            ..HealthConfig::default()
        };
        let registry = Registry::new(config.clone());
        let specs = [spec("http://127.0.0.1:1"), spec("http://127.0.0.1:2")];
        let checked = registry.balancer_checked(&specs, Some(&check("/h")));
        let plain = registry.balancer(&specs);
        let first = &checked.checks()[0];
        for _ in 0..3 {
            first.record(&fail());
        }
        for _ in 0..10 {
            assert!(matches!(checked.pick(&config, &[]), Pick::Upstream(u) if u.url.port() == 2));
        }
        let mut ports: Vec<u16> = (0..4)
            .map(|_| match plain.pick(&config, &[]) {
                Pick::Upstream(u) => u.url.port(),
                other => panic!("{other:?}"),
            })
            .collect();
        ports.sort();
        assert_eq!(
            ports,
            [1, 1, 2, 2],
            "a route without the check still uses both"
        );
        let summary = registry.summary();
        assert_eq!(
            (
                summary.endpoints,
                summary.endpoints_down,
                summary.http_checks_down
            ),
            (2, 1, 1)
        );
        let (down, _) = registry.report(true, 10);
        assert_eq!(down.len(), 1);
        assert_eq!(down[0].url, "http://127.0.0.1:1");
        assert_eq!(down[0].down_by, ["http /h"]);

        // Both down by the check: one trickle probe per endpoint, then 503.
        for _ in 0..3 {
            checked.checks()[1].record(&fail());
        }
        let probes = (0..5)
            .filter(|_| matches!(checked.pick(&config, &[]), Pick::Upstream(_)))
            .count();
        assert_eq!(probes, 2);
        assert!(matches!(checked.pick(&config, &[]), Pick::AllDown));
    }
}
