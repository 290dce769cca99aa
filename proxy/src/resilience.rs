//! Retries with a budget, and circuit breakers per upstream endpoint: the one place that
//! decides whether a failed attempt is sent again and whether an endpoint may take
//! requests. The fast paths (`fast.rs`'s `attempts`, for HTTP/1 and HTTP/2) and Pingora's
//! path (`service.rs`) report what happened to each attempt and ask [`retry_after`];
//! neither has a rule of its own.
//!
//! - **Retries** ([`RetryPolicy`], a route's `retry` policy). A connection that could not
//!   be made is tried on another upstream (as every route does, up to `--max-attempts`,
//!   without a policy). With a policy, also an answer whose status the policy names
//!   (502/503/504) and a connection that broke before any byte of the answer, but only
//!   for an idempotent method whose body the proxy still holds whole: a POST is never
//!   sent twice. Every retry is drawn from the route's [`Budget`]: over the last
//!   [`BUDGET_WINDOW_SECS`] seconds, retries may add `budget_percent` of the route's
//!   requests (plus `min_per_sec` a second), so retries cannot multiply an outage. Each
//!   retry waits a random time up to `backoff × 2^(retry − 1)` ("full jitter").
//! - **Circuit breakers** ([`Breakers`], a route's `circuit_breaker` policy): one state
//!   machine per endpoint of the route (closed → open → half-open → closed), consulted
//!   by the balancer's pick, fed by [`Breakers::report`]. Process-wide counts for
//!   `/metrics` and the list of open circuits for `/status` come from [`circuits`].
//!
//! Must never: retry a request that is not idempotent after it may have reached the
//! upstream, retry without a budget under a policy, block (state is atomics and one
//! short-held lock per endpoint for the error share), or keep a breaker alive after its
//! route is gone.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use switchyard_shared::policy::{CircuitBreaker, Retry};

use crate::upstreams::Upstream;

/// The window a retry budget counts requests and retries over.
pub const BUDGET_WINDOW_SECS: u64 = 10;

/// The process's clock for budgets and breakers, in milliseconds.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

/// How an attempt failed, as far as retries and breakers care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// No connection could be made: the request never left.
    Connect,
    /// The connection broke before any byte of the answer: the upstream may or may not
    /// have acted on the request.
    Reset,
    /// The upstream answered with this status.
    Status(u16),
    /// The upstream did not answer in time (never retried: it may still be working).
    Timeout,
}

/// Methods that may be sent twice (RFC 9110 §9.2.2). nginx's rule too: POST, PATCH,
/// LOCK and the like are never resent.
pub fn idempotent(method: &[u8]) -> bool {
    matches!(
        method,
        b"GET" | b"HEAD" | b"OPTIONS" | b"TRACE" | b"PUT" | b"DELETE"
    )
}

/// What the request allows of a retry.
#[derive(Debug, Clone, Copy)]
pub struct Replay {
    /// The method is idempotent and the proxy still holds the whole body.
    pub safe: bool,
    /// Tries made so far, the failed one included.
    pub tries: u32,
    /// The proxy's own limit of tries (`--max-attempts`), for routes without a policy.
    pub default_tries: u32,
}

/// Whether to send the request again after `failed`, and after how long: the one rule of
/// both paths. Without a policy only connection failures are retried, at once, up to the
/// proxy's limit; with one, see the module docs. The caller still needs another
/// upstream to send it to (or the same, for a single-endpoint route).
pub fn retry_after(
    policy: Option<&RetryPolicy>,
    failed: Failed,
    replay: Replay,
) -> Option<Duration> {
    let Some(p) = policy else {
        return (failed == Failed::Connect && replay.tries < replay.default_tries)
            .then_some(Duration::ZERO);
    };
    if replay.tries >= p.attempts {
        return None;
    }
    let eligible = match failed {
        Failed::Connect => true,
        Failed::Reset => p.on_reset && replay.safe,
        Failed::Status(s) => replay.safe && p.on_status.contains(&s),
        Failed::Timeout => false,
    };
    if !eligible || !p.budget.withdraw() {
        return None;
    }
    Some(p.backoff(replay.tries))
}

/// A route's `retry` policy, compiled, with its budget.
#[derive(Debug)]
pub struct RetryPolicy {
    attempts: u32,
    on_status: Vec<u16>,
    on_reset: bool,
    backoff_ms: u32,
    max_backoff_ms: u32,
    pub budget: Budget,
}

impl RetryPolicy {
    pub fn compile(r: &Retry) -> Self {
        Self {
            attempts: r.attempts,
            on_status: r.on_status.clone(),
            on_reset: r.on_reset,
            backoff_ms: r.backoff_ms,
            max_backoff_ms: r.max_backoff_ms,
            budget: Budget::new(r.budget_percent, r.min_per_sec),
        }
    }

    /// Tries in all, the first included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether answers with `status` may be retried (the fast path reads no further
    /// than the head of such an answer when a retry may follow).
    pub fn retries_status(&self, status: u16) -> bool {
        self.on_status.contains(&status)
    }

    /// Full jitter: a random wait in `[0, min(max, base × 2^(tries − 1))]`.
    fn backoff(&self, tries: u32) -> Duration {
        if self.backoff_ms == 0 {
            return Duration::ZERO;
        }
        let ceiling = u64::from(self.backoff_ms)
            .saturating_mul(1 << tries.saturating_sub(1).min(16))
            .min(u64::from(self.max_backoff_ms));
        Duration::from_millis(random_below(ceiling + 1))
    }
}

/// A random number in `[0, n)` (0 when `n` is 0), from a per-thread xorshift seeded by
/// the OS: jitter needs spread, not secrecy.
fn random_below(n: u64) -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut seed = [0u8; 8];
            let _ = getrandom::fill(&mut seed);
            u64::from_le_bytes(seed) | 1
        });
    }
    if n == 0 {
        return 0;
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x % n
    })
}

/// One second of a budget's window.
#[derive(Debug, Default)]
struct Second {
    /// Which second (since the epoch) the counts are of.
    at: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

/// Requests and retries of a route over the last [`BUDGET_WINDOW_SECS`] seconds, one
/// slot a second (a ring). Counts are approximate at a second's turn, never unbounded.
#[derive(Debug)]
pub struct Budget {
    percent: u64,
    floor_per_sec: u64,
    ring: [Second; BUDGET_WINDOW_SECS as usize],
}

impl Budget {
    pub fn new(percent: u32, floor_per_sec: u32) -> Self {
        Self {
            percent: percent.into(),
            floor_per_sec: floor_per_sec.into(),
            ring: Default::default(),
        }
    }

    fn slot(&self, second: u64) -> &Second {
        let slot = &self.ring[(second % BUDGET_WINDOW_SECS) as usize];
        let at = slot.at.load(Ordering::Relaxed);
        if at != second
            && slot
                .at
                .compare_exchange(at, second, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            slot.requests.store(0, Ordering::Relaxed);
            slot.retries.store(0, Ordering::Relaxed);
        }
        slot
    }

    /// Counts a request of the route (once, however many tries it takes).
    pub fn deposit(&self) {
        let second = now_ms() / 1000;
        self.slot(second).requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry from the budget, if the window allows it.
    pub fn withdraw(&self) -> bool {
        let second = now_ms() / 1000;
        let (mut requests, mut retries) = (0, 0);
        for slot in &self.ring {
            let at = slot.at.load(Ordering::Relaxed);
            if at + BUDGET_WINDOW_SECS > second && at <= second {
                requests += slot.requests.load(Ordering::Relaxed);
                retries += slot.retries.load(Ordering::Relaxed);
            }
        }
        let allowed = (requests * self.percent / 100).max(self.floor_per_sec * BUDGET_WINDOW_SECS);
        if retries >= allowed {
            BUDGET_EXHAUSTED.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.slot(second).retries.fetch_add(1, Ordering::Relaxed);
        RETRIES.fetch_add(1, Ordering::Relaxed);
        true
    }
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// One endpoint's circuit.
#[derive(Debug)]
struct Circuit {
    state: AtomicU8,
    /// Failures in a row (closed), successes of probes (half-open).
    run: AtomicU32,
    /// When the state last changed (ms since [`EPOCH`]).
    since_ms: AtomicU64,
    /// Probes a half-open circuit may still let through.
    probes: AtomicU32,
    /// Attempts and failures per second over the window, when an error share is set.
    window: Option<Mutex<Vec<(u64, u32, u32)>>>,
}

/// The circuit breakers of one balancer (a route's upstreams, or a split group's): one
/// circuit per endpoint, in the balancer's order.
#[derive(Debug)]
pub struct Breakers {
    config: CircuitBreaker,
    /// Which route, for `/status` (`host/prefix`).
    pub label: String,
    upstreams: Vec<Arc<Upstream>>,
    circuits: Vec<Circuit>,
}

impl Breakers {
    /// Breakers for `upstreams`, registered for `/status` and `/metrics`.
    pub fn new(config: &CircuitBreaker, label: String, upstreams: Vec<Arc<Upstream>>) -> Arc<Self> {
        let circuits = upstreams
            .iter()
            .map(|_| Circuit {
                state: AtomicU8::new(CLOSED),
                run: AtomicU32::new(0),
                since_ms: AtomicU64::new(0),
                probes: AtomicU32::new(0),
                window: config
                    .error_percent
                    .map(|_| Mutex::new(vec![(0, 0, 0); config.window_secs as usize])),
            })
            .collect();
        let breakers = Arc::new(Self {
            config: config.clone(),
            label,
            upstreams,
            circuits,
        });
        let mut all = REGISTRY
            .lock()
            .expect("breaker registry lock is never poisoned");
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&breakers));
        breakers
    }

    fn open_ms(&self) -> u64 {
        u64::from(self.config.open_secs) * 1000
    }

    /// Whether endpoint `i` may take a request now; a half-open circuit lets its probes
    /// through one by one (an open one turns half-open when its time is up).
    pub fn admits(&self, i: usize) -> bool {
        let Some(c) = self.circuits.get(i) else {
            return true;
        };
        match c.state.load(Ordering::Acquire) {
            CLOSED => true,
            state => {
                let now = now_ms();
                let since = c.since_ms.load(Ordering::Relaxed);
                let due = now.saturating_sub(since) >= self.open_ms();
                if state == OPEN {
                    if !due {
                        return false;
                    }
                    if c.state
                        .compare_exchange(OPEN, HALF_OPEN, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                    {
                        c.run.store(0, Ordering::Relaxed);
                        c.since_ms.store(now, Ordering::Relaxed);
                        c.probes
                            .store(self.config.half_open_requests, Ordering::Relaxed);
                    }
                } else if due && c.probes.load(Ordering::Relaxed) == 0 {
                    // Probes that never reported (their clients left): probe again.
                    c.since_ms.store(now, Ordering::Relaxed);
                    c.probes
                        .store(self.config.half_open_requests, Ordering::Relaxed);
                }
                c.probes
                    .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |p| p.checked_sub(1))
                    .is_ok()
            }
        }
    }

    /// Whether endpoint `i`'s circuit is closed (it takes requests without probing).
    pub fn closed(&self, i: usize) -> bool {
        self.circuits
            .get(i)
            .is_none_or(|c| c.state.load(Ordering::Relaxed) == CLOSED)
    }

    /// What happened to an attempt on `upstream`: `ok` is an answer below 500.
    pub fn report(&self, upstream: &Upstream, ok: bool) {
        let Some(i) = self
            .upstreams
            .iter()
            .position(|u| std::ptr::eq(Arc::as_ptr(u), upstream))
        else {
            return;
        };
        let c = &self.circuits[i];
        let now = now_ms();
        let share_exceeded = c.window.as_ref().is_some_and(|w| {
            let mut w = w.lock().expect("breaker window lock is never poisoned");
            let second = now / 1000;
            let len = w.len() as u64;
            let slot = &mut w[(second % len) as usize];
            if slot.0 != second {
                *slot = (second, 0, 0);
            }
            slot.1 += 1;
            slot.2 += u32::from(!ok);
            let (total, failed) = w
                .iter()
                .filter(|s| s.0 + len > second)
                .fold((0u64, 0u64), |(t, f), s| {
                    (t + u64::from(s.1), f + u64::from(s.2))
                });
            total >= u64::from(self.config.min_requests)
                && failed * 100 >= total * u64::from(self.config.error_percent.unwrap_or(100))
        });
        match c.state.load(Ordering::Acquire) {
            CLOSED if ok => {
                c.run.store(0, Ordering::Relaxed);
            }
            CLOSED => {
                let run = c.run.fetch_add(1, Ordering::Relaxed) + 1;
                if (run >= self.config.consecutive_failures || share_exceeded)
                    && c.state
                        .compare_exchange(CLOSED, OPEN, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                {
                    c.since_ms.store(now, Ordering::Relaxed);
                    OPENED.fetch_add(1, Ordering::Relaxed);
                    NOT_CLOSED.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(route = %self.label, upstream = %upstream.url, "circuit opened");
                }
            }
            HALF_OPEN if ok => {
                let run = c.run.fetch_add(1, Ordering::Relaxed) + 1;
                if run >= self.config.half_open_requests
                    && c.state
                        .compare_exchange(HALF_OPEN, CLOSED, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                {
                    c.run.store(0, Ordering::Relaxed);
                    c.since_ms.store(now, Ordering::Relaxed);
                    if let Some(w) = &c.window {
                        w.lock()
                            .expect("breaker window lock is never poisoned")
                            .fill((0, 0, 0));
                    }
                    NOT_CLOSED.fetch_sub(1, Ordering::Relaxed);
                    tracing::info!(route = %self.label, upstream = %upstream.url, "circuit closed");
                }
            }
            HALF_OPEN
                if c.state
                    .compare_exchange(HALF_OPEN, OPEN, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok() =>
            {
                c.since_ms.store(now, Ordering::Relaxed);
                OPENED.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(route = %self.label, upstream = %upstream.url, "circuit opened again after a failed probe");
            }
            // Open: a late answer of a request let through before it opened.
            _ => {}
        }
    }
}

impl Drop for Breakers {
    fn drop(&mut self) {
        let not_closed = self
            .circuits
            .iter()
            .filter(|c| c.state.load(Ordering::Relaxed) != CLOSED)
            .count();
        NOT_CLOSED.fetch_sub(not_closed as u64, Ordering::Relaxed);
    }
}

static REGISTRY: Mutex<Vec<Weak<Breakers>>> = Mutex::new(Vec::new());
static OPENED: AtomicU64 = AtomicU64::new(0);
static NOT_CLOSED: AtomicU64 = AtomicU64::new(0);
static REJECTED: AtomicU64 = AtomicU64::new(0);
static RETRIES: AtomicU64 = AtomicU64::new(0);
static BUDGET_EXHAUSTED: AtomicU64 = AtomicU64::new(0);

/// A request answered 503 because every endpoint's circuit was open.
pub fn note_rejected() {
    REJECTED.fetch_add(1, Ordering::Relaxed);
}

/// Process-wide counts, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Circuits opened since start.
    pub opened: u64,
    /// Circuits open or half-open now.
    pub open_now: u64,
    /// Requests answered 503 because every circuit of their route was open.
    pub rejected: u64,
    /// Retries made under a policy.
    pub retries: u64,
    /// Retries a budget refused.
    pub budget_exhausted: u64,
}

pub fn counts() -> Counts {
    Counts {
        opened: OPENED.load(Ordering::Relaxed),
        open_now: NOT_CLOSED.load(Ordering::Relaxed),
        rejected: REJECTED.load(Ordering::Relaxed),
        retries: RETRIES.load(Ordering::Relaxed),
        budget_exhausted: BUDGET_EXHAUSTED.load(Ordering::Relaxed),
    }
}

/// One circuit that is not closed, for `/status`.
#[derive(Debug, serde::Serialize)]
pub struct OpenCircuit {
    pub route: String,
    pub upstream: String,
    /// `open` or `half_open`.
    pub state: &'static str,
    /// Seconds since the state began.
    pub for_secs: u64,
}

/// Up to `limit` circuits that are open or half-open now.
pub fn circuits(limit: usize) -> Vec<OpenCircuit> {
    let live: Vec<Arc<Breakers>> = {
        let mut all = REGISTRY
            .lock()
            .expect("breaker registry lock is never poisoned");
        all.retain(|w| w.strong_count() > 0);
        all.iter().filter_map(Weak::upgrade).collect()
    };
    let now = now_ms();
    let mut out = Vec::new();
    for b in &live {
        for (c, u) in b.circuits.iter().zip(&b.upstreams) {
            let state = match c.state.load(Ordering::Relaxed) {
                OPEN => "open",
                HALF_OPEN => "half_open",
                _ => continue,
            };
            if out.len() == limit {
                return out;
            }
            out.push(OpenCircuit {
                route: b.label.clone(),
                upstream: u.url.to_string(),
                state,
                for_secs: now.saturating_sub(c.since_ms.load(Ordering::Relaxed)) / 1000,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(attempts: u32, percent: u32, floor: u32) -> RetryPolicy {
        RetryPolicy::compile(&Retry {
            attempts,
            on_status: vec![502, 503, 504],
            on_reset: true,
            budget_percent: percent,
            min_per_sec: floor,
            backoff_ms: 0,
            max_backoff_ms: 0,
        })
    }

    fn replay(safe: bool, tries: u32) -> Replay {
        Replay {
            safe,
            tries,
            default_tries: 3,
        }
    }

    #[test]
    fn without_a_policy_only_connection_failures_retry() {
        assert_eq!(
            retry_after(None, Failed::Connect, replay(false, 1)),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(None, Failed::Connect, replay(true, 3)), None);
        for f in [Failed::Reset, Failed::Status(502), Failed::Timeout] {
            assert_eq!(retry_after(None, f, replay(true, 1)), None, "{f:?}");
        }
    }

    #[test]
    fn a_policy_retries_only_what_is_safe_to_repeat() {
        let p = retry(3, 100, 1000);
        assert!(retry_after(Some(&p), Failed::Status(503), replay(true, 1)).is_some());
        assert!(retry_after(Some(&p), Failed::Reset, replay(true, 2)).is_some());
        // A POST (or a body no longer held) is never sent twice once it may have arrived.
        assert!(retry_after(Some(&p), Failed::Status(503), replay(false, 1)).is_none());
        assert!(retry_after(Some(&p), Failed::Reset, replay(false, 1)).is_none());
        // ... but a connection that was never made is safe for anything.
        assert!(retry_after(Some(&p), Failed::Connect, replay(false, 1)).is_some());
        assert!(retry_after(Some(&p), Failed::Status(500), replay(true, 1)).is_none());
        assert!(retry_after(Some(&p), Failed::Timeout, replay(true, 1)).is_none());
        assert!(retry_after(Some(&p), Failed::Status(503), replay(true, 3)).is_none());
    }

    #[test]
    fn the_budget_caps_retries_at_a_share_of_requests() {
        let p = retry(5, 20, 0);
        for _ in 0..100 {
            p.budget.deposit();
        }
        let granted = (0..100)
            .filter(|_| retry_after(Some(&p), Failed::Status(502), replay(true, 1)).is_some())
            .count();
        assert_eq!(granted, 20);
        // The floor allows a quiet route some retries without requests counted.
        let quiet = retry(5, 20, 1);
        let granted = (0..100).filter(|_| quiet.budget.withdraw()).count();
        assert_eq!(granted, BUDGET_WINDOW_SECS as usize);
    }

    #[test]
    fn backoff_is_jittered_below_its_ceiling() {
        let mut p = retry(5, 100, 1000);
        p.backoff_ms = 10;
        p.max_backoff_ms = 35;
        let waits: Vec<u64> = (0..200).map(|_| p.backoff(3).as_millis() as u64).collect();
        assert!(waits.iter().all(|&w| w <= 35));
        assert!(
            waits.iter().any(|&w| w > 10),
            "the ceiling grows with the retry"
        );
        assert!(waits.iter().any(|&w| w != waits[0]), "waits are spread");
    }
}
