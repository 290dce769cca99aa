//! Cross-node consistency, measured (issue 18, item 5): a benchmark that prints figures
//! and checks them against the issue's goals; not a test. `bench/consistency.sh` builds
//! and runs it; docs/benchmarks.md, "Cross-node consistency", has the method and figures.
//!
//! The topology is the tested one of docs/deploy.md ("Redis with Sentinel", "Proxies on
//! a replica"), on real processes started here ([`RedisTopology`], [`Panel`], [`Proxy`]):
//! a Redis primary, two replicas, three sentinels; one panel on the Sentinel URL; three
//! proxies, each with the Sentinel URL for its heartbeat, two reading replica A and one
//! replica B (`--redis-read-url`); K echo upstreams.
//!
//! Every write is a `PUT /api/v1/zones/{id}` of one of `--zones` zones that changes its
//! backend: the zone's j-th write points it at upstream `u{j mod K}`, one of K echo
//! upstreams ([`UPSTREAMS`]) that each name themselves in every answer (`x-upstream`). A
//! proxy routes write j of a zone once that zone's answers come from the upstream of
//! write j or of a later one (a proxy would have to be K writes behind on one zone to be
//! misread). A backend change, not a route policy: a write with policies needs the panel
//! to read Redis first (the data-format check) and is refused (503) while no Redis
//! primary answers, whereas a plain write is committed and queued, the failover path
//! this measures. The latency runs from the moment the panel's 200 arrived to the first
//! answer from the new upstream through the last of the three proxies; one poller per
//! proxy asks it again `--poll-gap-ms` after each answer (one request at a time per
//! proxy and zone, keep-alive).
//!
//! 1. **Steady state**: `--writes` writes one after the other, each once the one before is
//!    routed by every proxy; no other traffic.
//! 2. **Steady state under load**: the same with a steady background load on every proxy
//!    ([`Load`]: one request at a time, every 2 ms at most, over all zones).
//! 3. **Failover**: the background load goes on; a writer sends a write every
//!    `--pace-ms` without waiting for the proxies; after `--before-kill` writes the
//!    primary is SIGKILLed, Sentinel promotes a replica, and `--after-promotion` more
//!    writes follow. Reported: per-write latency (p50/p99/max, by when the write was
//!    acknowledged), how long after the kill and after the promotion every proxy routed
//!    every write acknowledged until then (compared with the proxies' full-reload interval,
//!    their resync timer), writes answered with something else than 200, and the background
//!    requests that failed (goal: none).
//!
//! `--with-policies` gives every zone a route policy too (an answer header edit the
//! benchmark ignores): such writes pass the panel's data-format gate, which reads Redis.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::eventually::eventually;
use switchyard_tests::load::Load;
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::proxy::{Proxy, ProxyOptions};
use switchyard_tests::sentinel::{Auth, RedisTopology};
use switchyard_tests::stack::{ADMIN, ADMIN_PASSWORD, Panel};
use switchyard_tests::upstream::{UPSTREAM_HEADER, Upstream};

/// How many upstreams a zone's writes cycle through (K above).
const UPSTREAMS: usize = 64;
/// The domain of every zone here.
const DOMAIN: &str = "consistency.test";
/// The issue's steady-state goal for the p99 latency.
const GOAL_P99: Duration = Duration::from_millis(100);
/// The proxies' full reload interval: the product default (`--full-reload-secs`), which
/// the harness leaves as it is.
const FULL_RELOAD: Duration = Duration::from_secs(600);
/// How long one write may take to reach every proxy before the run gives up on it.
const CONVERGE_DEADLINE: Duration = Duration::from_secs(120);

/// Command-line settings (`--help`).
struct Settings {
    writes: usize,
    zones: usize,
    poll_gap: Duration,
    pace: Duration,
    before_kill: usize,
    after_promotion: usize,
    failover: bool,
    policies: bool,
}

impl Settings {
    fn parse() -> anyhow::Result<Settings> {
        let mut s = Settings {
            writes: 1_000,
            zones: 10,
            poll_gap: Duration::from_millis(1),
            pace: Duration::from_millis(20),
            before_kill: 100,
            after_promotion: 200,
            failover: true,
            policies: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut number = |name: &str| -> anyhow::Result<u64> {
                let value = args
                    .next()
                    .with_context(|| format!("{name} needs a value"))?;
                value
                    .parse()
                    .with_context(|| format!("{name} {value:?}: a whole number is allowed"))
            };
            match arg.as_str() {
                "--writes" => s.writes = number("--writes")? as usize,
                "--zones" => s.zones = number("--zones")?.max(1) as usize,
                "--poll-gap-ms" => s.poll_gap = Duration::from_millis(number("--poll-gap-ms")?),
                "--pace-ms" => s.pace = Duration::from_millis(number("--pace-ms")?),
                "--before-kill" => s.before_kill = number("--before-kill")? as usize,
                "--after-promotion" => s.after_promotion = number("--after-promotion")? as usize,
                "--no-failover" => s.failover = false,
                "--with-policies" => s.policies = true,
                "-h" | "--help" => {
                    println!(
                        "switchyard-consistency-bench [--writes N (1000)] [--zones N (10)] \
                         [--poll-gap-ms MS (1)] [--pace-ms MS (20)] [--before-kill N (100)] \
                         [--after-promotion N (200)] [--no-failover] [--with-policies]\n\
                         Run by bench/consistency.sh; see docs/benchmarks.md."
                    );
                    std::process::exit(0);
                }
                other => anyhow::bail!("unknown argument {other:?} (try --help)"),
            }
        }
        Ok(s)
    }
}

/// One acknowledged write and when each proxy was first seen routing it.
#[derive(Clone)]
struct Write {
    /// The zone's j-th write.
    index: u64,
    zone: usize,
    acked: Instant,
    seen: Vec<Option<Instant>>,
}

impl Write {
    /// From the 200 to the last proxy's first answer with it; once every proxy has it.
    fn latency(&self) -> Option<Duration> {
        let last = self.seen.iter().copied().collect::<Option<Vec<_>>>()?;
        last.into_iter().max().map(|t| t.duration_since(self.acked))
    }
}

/// The writes the pollers still look for, and those every proxy routes.
struct Book {
    /// Per zone, the index of its last write sent (acknowledged or not).
    issued: Vec<u64>,
    pending: Vec<Write>,
    done: Vec<Write>,
}

/// What the writer and the pollers share.
struct Tracker {
    book: Mutex<Book>,
    /// Bumped when a write is added (wakes idle pollers) and when one completes.
    added: tokio::sync::watch::Sender<u64>,
    completed: tokio::sync::watch::Sender<u64>,
    /// Poll requests that failed (a connection error, another status than 200).
    poll_errors: AtomicU64,
    polls: AtomicU64,
    stop: AtomicBool,
}

impl Tracker {
    fn new(zones: usize) -> Arc<Tracker> {
        Arc::new(Tracker {
            book: Mutex::new(Book {
                issued: vec![0; zones],
                pending: Vec::new(),
                done: Vec::new(),
            }),
            added: tokio::sync::watch::channel(0).0,
            completed: tokio::sync::watch::channel(0).0,
            poll_errors: AtomicU64::new(0),
            polls: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        })
    }

    /// The index of the next write of `zone`.
    fn issue(&self, zone: usize) -> u64 {
        let mut book = self.book.lock().unwrap();
        book.issued[zone] += 1;
        book.issued[zone]
    }

    fn add(&self, write: Write) {
        self.book.lock().unwrap().pending.push(write);
        self.added.send_modify(|n| *n += 1);
    }

    /// Zones with a write proxy `p` has not been seen routing.
    fn wanted(&self, p: usize) -> BTreeSet<usize> {
        let book = self.book.lock().unwrap();
        book.pending
            .iter()
            .filter(|w| w.seen[p].is_none())
            .map(|w| w.zone)
            .collect()
    }

    /// Proxy `p` answered `zone` from upstream `u{upstream}` at `at`.
    fn seen(&self, p: usize, zone: usize, upstream: u64, at: Instant) {
        let mut book = self.book.lock().unwrap();
        // The latest write of the zone that chose this upstream.
        let last = book.issued[zone];
        let back = (last + UPSTREAMS as u64 - upstream % UPSTREAMS as u64) % UPSTREAMS as u64;
        let Some(index) = last.checked_sub(back) else {
            return;
        };
        let mut complete = false;
        for w in book.pending.iter_mut() {
            if w.zone == zone && w.index <= index && w.seen[p].is_none() {
                w.seen[p] = Some(at);
                complete |= w.seen.iter().all(Option::is_some);
            }
        }
        if complete {
            let (done, pending): (Vec<Write>, Vec<Write>) = std::mem::take(&mut book.pending)
                .into_iter()
                .partition(|w| w.seen.iter().all(Option::is_some));
            book.pending = pending;
            book.done.extend(done);
            drop(book);
            self.completed.send_modify(|n| *n += 1);
        }
    }

    fn pending(&self) -> usize {
        self.book.lock().unwrap().pending.len()
    }

    /// Takes the completed writes (for one phase's figures).
    fn take_done(&self) -> Vec<Write> {
        std::mem::take(&mut self.book.lock().unwrap().done)
    }
}

/// Asks proxy `p` for each zone with a write it has not been seen routing, until stopped.
async fn poll(
    tracker: Arc<Tracker>,
    p: usize,
    proxy: std::net::SocketAddr,
    hosts: Vec<String>,
    gap: Duration,
) {
    let clients: Vec<reqwest::Client> = hosts
        .iter()
        .map(|h| {
            switchyard_tests::client::client(h, proxy)
                .timeout(Duration::from_secs(5))
                .build()
                .expect("a client")
        })
        .collect();
    let mut added = tracker.added.subscribe();
    while !tracker.stop.load(Ordering::Relaxed) {
        added.borrow_and_update();
        let zones = tracker.wanted(p);
        if zones.is_empty() {
            // Idle until a write is added (or a second passes, to see the stop flag).
            let _ = tokio::time::timeout(Duration::from_secs(1), added.changed()).await;
            continue;
        }
        let asks = zones.into_iter().map(|zone| {
            let (client, host) = (&clients[zone], &hosts[zone]);
            async move {
                let answer = client
                    .get(switchyard_tests::client::url("http", host, "/"))
                    .send()
                    .await;
                let at = Instant::now();
                // `x-upstream: u<i>`, from a 200.
                let upstream = match &answer {
                    Ok(r) if r.status().as_u16() == 200 => r
                        .headers()
                        .get(UPSTREAM_HEADER)
                        .and_then(|v| v.to_str().ok()?.strip_prefix('u')?.parse::<u64>().ok()),
                    _ => None,
                };
                if let Ok(r) = answer {
                    let _ = r.bytes().await;
                }
                (zone, upstream, at)
            }
        });
        for (zone, upstream, at) in futures_util::future::join_all(asks).await {
            tracker.polls.fetch_add(1, Ordering::Relaxed);
            match upstream {
                Some(n) => tracker.seen(p, zone, n, at),
                None => {
                    tracker.poll_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
    }
}

/// The panel, its admin key, the zones' ids and hostnames, the upstreams' URLs.
struct Writer {
    http: reqwest::Client,
    base: String,
    key: String,
    zones: Vec<(String, String)>,
    upstreams: Vec<String>,
    policies: bool,
}

/// A zone on `upstream`; with `policies`, also a route policy that changes nothing the
/// benchmark looks at (an answer header edit), which makes the write need data format 2.
fn zone_spec(host: &str, upstream: &str, policies: bool) -> Value {
    let mut spec = json!({
        "hostname": host,
        "backend": {"kind": "upstreams", "upstreams": [{"url": upstream}]},
    });
    if policies {
        spec["policies"] =
            json!({"response_headers": {"set": [{"name": "x-bench", "value": "consistency"}]}});
    }
    spec
}

/// What one write got: the answer's status, how long the API took,
/// and whether Redis took it at once (`version` in the answer) or it was queued.
struct Sent {
    status: Option<u16>,
    acked: Instant,
    took: Duration,
    queued: bool,
    /// The answer's body (or the error) when it was not a 200.
    detail: String,
}

impl Writer {
    /// Zone `zone` pointed at the upstream of its `index`-th write.
    fn spec(&self, zone: usize, index: u64) -> Value {
        let url = &self.upstreams[index as usize % self.upstreams.len()];
        zone_spec(&self.zones[zone].1, url, self.policies)
    }

    /// Writes the next backend of `zone`; on a 200 the write is added to `tracker`.
    async fn write(&self, tracker: &Tracker, zone: usize) -> Sent {
        let index = tracker.issue(zone);
        let started = Instant::now();
        let sent = self
            .http
            .put(format!("{}/zones/{}", self.base, self.zones[zone].0))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(self.spec(zone, index).to_string())
            .send()
            .await;
        let acked = Instant::now();
        let took = acked - started;
        match sent {
            Ok(r) if r.status().as_u16() == 200 => {
                tracker.add(Write {
                    index,
                    zone,
                    acked,
                    seen: vec![None; 3],
                });
                let body: Value = r
                    .text()
                    .await
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or(Value::Null);
                Sent {
                    status: Some(200),
                    acked,
                    took,
                    queued: body["version"].is_null(),
                    detail: String::new(),
                }
            }
            Ok(r) => Sent {
                status: Some(r.status().as_u16()),
                acked,
                took,
                queued: false,
                detail: r.text().await.unwrap_or_default(),
            },
            Err(e) => Sent {
                status: None,
                acked,
                took,
                queued: false,
                detail: e.to_string(),
            },
        }
    }
}

/// A proxy's log message when its Redis server changed, and after a full reload.
const PROXY_NOTICED: &[&str] =
    &["the Redis server changed (failover or restart): reloading everything"];
const PROXY_RELOADED: &[&str] = &["loaded snapshot from Redis"];
/// The panel's when it notices another primary, after a reconciliation, after replaying
/// queued writes.
const PANEL_NOTICED: &[&str] = &[
    "Redis primary changed (failover or restart): reconciling now, to restore writes the old one did not pass on",
];
const PANEL_RECONCILED: &[&str] = &[
    "reconciled Redis with PostgreSQL: no drift",
    "reconciled Redis with PostgreSQL: drift found and fixed",
];
const PANEL_REPLAYED: &[&str] = &["replayed queued Redis writes"];

/// The time of the first JSON log line in `text` with one of `messages`, at or after
/// `after`.
fn logged_at(
    text: &str,
    messages: &[&str],
    after: time::OffsetDateTime,
) -> Option<time::OffsetDateTime> {
    let quoted: Vec<String> = messages.iter().map(|m| format!("\"{m}\"")).collect();
    text.lines()
        .filter(|line| quoted.iter().any(|q| line.contains(q.as_str())))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|line| {
            time::OffsetDateTime::parse(
                line["timestamp"].as_str()?,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()
        })
        .find(|t| *t >= after)
}

/// Nearest-rank percentile of sorted `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// p50 / p99 / max of `values` (sorted here), as one line.
fn summary(mut values: Vec<Duration>) -> (String, Duration) {
    values.sort();
    let p99 = percentile(&values, 99.0);
    (
        format!(
            "n={:<5} p50 {:>9}  p99 {:>9}  max {:>9}",
            values.len(),
            ms(percentile(&values, 50.0)),
            ms(p99),
            ms(values.last().copied().unwrap_or_default()),
        ),
        p99,
    )
}

/// Per-proxy and overall figures of a set of converged writes; the overall p99.
fn report(name: &str, writes: &[Write], proxies: &[Proxy], sent: &[Duration]) -> Duration {
    let all: Vec<Duration> = writes.iter().filter_map(Write::latency).collect();
    let (line, p99) = summary(all);
    println!("  {name}: 200 -> all three proxies route it: {line}");
    for (p, proxy) in proxies.iter().enumerate() {
        let one: Vec<Duration> = writes
            .iter()
            .filter_map(|w| Some(w.seen[p]?.duration_since(w.acked)))
            .collect();
        println!("      {:<28} {}", proxy.id, summary(one).0);
    }
    if !sent.is_empty() {
        println!(
            "      {:<28} {}",
            "(the API call itself)",
            summary(sent.to_vec()).0
        );
    }
    p99
}

/// Sequential writes, each once every proxy routes the one before.
async fn closed_loop(
    writer: &Writer,
    tracker: &Arc<Tracker>,
    writes: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut sent = Vec::with_capacity(writes);
    let mut completed = tracker.completed.subscribe();
    for i in 0..writes {
        let s = writer.write(tracker, i % writer.zones.len()).await;
        anyhow::ensure!(
            s.status == Some(200),
            "write {i}: the panel answered {:?}",
            s.status
        );
        sent.push(s.took);
        tokio::time::timeout(CONVERGE_DEADLINE, async {
            while tracker.pending() > 0 {
                completed.changed().await?;
            }
            anyhow::Ok(())
        })
        .await
        .with_context(|| {
            format!("write {i} not routed by every proxy in {CONVERGE_DEADLINE:?}")
        })??;
    }
    Ok(sent)
}

/// Exit status: 0 when every goal is met, 1 when one is missed, 2 when the run failed.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("the benchmark failed: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Runs every phase and prints the figures; whether every goal was met.
async fn run() -> anyhow::Result<bool> {
    let settings = Settings::parse()?;
    let started = Instant::now();
    let mut topology = RedisTopology::start(2, Auth::default()).await?;
    let url = topology.sentinel_url();
    let prefix = format!("sy-consistency-{}:", uuid::Uuid::new_v4().simple());
    let database = TestDatabase::create().await?;
    let panel = Panel::start(database.url(), &url, &prefix).await?;
    let (replica_a, replica_b) = (topology.node_url(1), topology.node_url(2));
    let on_replica = |read_url: &str, id: &str| {
        ProxyOptions::new(&url, &prefix)
            .id(id)
            .local()
            .arg("--threads=1")
            .read_url(read_url)
            .launch_ready()
    };
    let proxies = [
        on_replica(&replica_a, "proxy-1-replica-a").await?,
        on_replica(&replica_a, "proxy-2-replica-a").await?,
        on_replica(&replica_b, "proxy-3-replica-b").await?,
    ];
    let mut upstreams = Vec::new();
    for i in 0..UPSTREAMS {
        upstreams.push(Upstream::echo(&format!("u{i}")).await);
    }
    let key = panel.key(ADMIN, ADMIN_PASSWORD).await?;
    panel
        .expect(
            Method::POST,
            "/domains",
            &key,
            Some(json!({"name": DOMAIN})),
            201,
        )
        .await?;
    let mut zones = Vec::new();
    for i in 0..settings.zones {
        let host = format!("z{i}.{DOMAIN}");
        let created = panel
            .expect(
                Method::POST,
                "/zones",
                &key,
                Some(zone_spec(&host, &upstreams[0].url(), settings.policies)),
                201,
            )
            .await?;
        let id = created["id"].as_str().context("a zone id")?.to_owned();
        zones.push((id, host));
    }
    let hosts: Vec<String> = zones.iter().map(|(_, h)| h.clone()).collect();
    for proxy in &proxies {
        for host in &hosts {
            eventually(
                Duration::from_secs(30),
                &format!("{} routes {host}", proxy.id),
                || async move {
                    let seen = proxy.route(host, "/").await?;
                    (seen.0 == 200).then_some(()).ok_or(format!("{seen:?}"))
                },
            )
            .await?;
        }
    }
    let writer = Writer {
        http: panel.http.clone(),
        base: panel.base.clone(),
        key,
        zones,
        upstreams: upstreams.iter().map(Upstream::url).collect(),
        policies: settings.policies,
    };
    let tracker = Tracker::new(settings.zones);
    let pollers: Vec<_> = proxies
        .iter()
        .enumerate()
        .map(|(p, proxy)| {
            tokio::spawn(poll(
                tracker.clone(),
                p,
                proxy.http,
                hosts.clone(),
                settings.poll_gap,
            ))
        })
        .collect();
    println!(
        "Cross-node consistency: 1 panel, 3 proxies (2 on replica A {}, 1 on replica B {}), \
         heartbeats to the primary via Sentinel; {} zones; polls {} apart; set up in {:.1} s",
        topology.nodes[1].addr(),
        topology.nodes[2].addr(),
        settings.zones,
        ms(settings.poll_gap),
        started.elapsed().as_secs_f64()
    );

    // 1. Steady state, no other traffic.
    println!(
        "\n== 1. steady state: {} sequential writes ==",
        settings.writes
    );
    let sent = closed_loop(&writer, &tracker, settings.writes).await?;
    let steady_p99 = report("steady", &tracker.take_done(), &proxies, &sent);

    // 2. The same under a steady background load on every proxy.
    println!(
        "\n== 2. steady state under background load: {} sequential writes ==",
        settings.writes
    );
    let loads: Vec<Load> = proxies
        .iter()
        .map(|p| Load::start(p.http, hosts.clone()))
        .collect();
    let sent = closed_loop(&writer, &tracker, settings.writes).await?;
    let loaded_p99 = report("under load", &tracker.take_done(), &proxies, &sent);

    let mut failover = None;
    if settings.failover {
        failover = Some(
            run_failover(
                &settings,
                &panel,
                &mut topology,
                &writer,
                &tracker,
                &proxies,
            )
            .await?,
        );
    }

    tracker.stop.store(true, Ordering::Relaxed);
    for poller in pollers {
        let _ = poller.await;
    }
    let mut background_failures = 0;
    println!(
        "\n== background load on existing zones (phase{}) ==",
        if settings.failover { "s 2 and 3" } else { " 2" }
    );
    for (load, proxy) in loads.into_iter().zip(&proxies) {
        let (sent, failures) = load.finish().await;
        background_failures += failures.len();
        println!(
            "  {:<28} {sent} requests, {} failed{}",
            proxy.id,
            failures.len(),
            match failures.first() {
                Some(f) => format!(" (first: {f})"),
                None => String::new(),
            }
        );
    }
    println!(
        "  poll requests: {}, failed: {}",
        tracker.polls.load(Ordering::Relaxed),
        tracker.poll_errors.load(Ordering::Relaxed)
    );

    println!("\n== against the goals (issue 18, item 5) ==");
    let mut met = true;
    let mut goal = |ok: bool, what: String| {
        met &= ok;
        println!("  [{}] {what}", if ok { "met" } else { "MISSED" });
    };
    goal(
        steady_p99 < GOAL_P99,
        format!("steady state p99 < {}: {}", ms(GOAL_P99), ms(steady_p99)),
    );
    goal(
        loaded_p99 < GOAL_P99,
        format!(
            "steady state under load p99 < {}: {}",
            ms(GOAL_P99),
            ms(loaded_p99)
        ),
    );
    if let Some(f) = &failover {
        goal(
            f.converged_after_kill < FULL_RELOAD,
            format!(
                "after the failover every proxy converges within one resync interval \
                 (full reload, {} s): {:.2} s after the kill, {:.2} s after the promotion",
                FULL_RELOAD.as_secs(),
                f.converged_after_kill.as_secs_f64(),
                f.converged_after_promotion.as_secs_f64()
            ),
        );
        goal(
            f.failed_writes == 0,
            format!(
                "every write during the failover answered 200 (item 3: committed, and queued while \
                 Redis has no primary): {} did not",
                f.failed_writes
            ),
        );
    }
    let poll_errors = tracker.poll_errors.load(Ordering::Relaxed);
    goal(
        background_failures == 0 && poll_errors == 0,
        format!(
            "no failed request on existing zones: {background_failures} of the background \
             load and {poll_errors} of the pollers failed"
        ),
    );
    println!(
        "\n{} (total {:.0} s)",
        if met {
            "ALL GOALS MET"
        } else {
            "SOME GOALS MISSED"
        },
        started.elapsed().as_secs_f64()
    );
    drop(proxies);
    drop(panel);
    database.drop_now().await?;
    drop(topology);
    Ok(met)
}

/// Phase 3's figures for the goals.
struct Failover {
    converged_after_kill: Duration,
    converged_after_promotion: Duration,
    failed_writes: usize,
}

/// Phase 3: paced writes across a SIGKILL of the primary and the promotion.
async fn run_failover(
    settings: &Settings,
    panel: &switchyard_tests::stack::Panel,
    topology: &mut RedisTopology,
    writer: &Writer,
    tracker: &Arc<Tracker>,
    proxies: &[Proxy],
) -> anyhow::Result<Failover> {
    println!(
        "\n== 3. failover under background load: a write every {}, primary SIGKILLed after \
         {} writes, {} writes after the promotion ==",
        ms(settings.pace),
        settings.before_kill,
        settings.after_promotion
    );
    // The writer runs apart from the kill and the wait for the promotion: it never
    // waits for the proxies, only for the panel's answer.
    let results: Mutex<Vec<Sent>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let promoted_at: Mutex<Option<Instant>> = Mutex::new(None);
    let killed_wall = Mutex::new(time::OffsetDateTime::now_utc());
    let write_loop = async {
        let mut pace = tokio::time::interval(settings.pace);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut i = 0usize;
        let mut after = 0usize;
        while !stop.load(Ordering::Relaxed) {
            pace.tick().await;
            let s = writer.write(tracker, i % writer.zones.len()).await;
            i += 1;
            let promoted = promoted_at.lock().unwrap().is_some();
            results.lock().unwrap().push(s);
            if promoted {
                after += 1;
                if after >= settings.after_promotion {
                    break;
                }
            }
        }
    };
    let kill = async {
        let killed = async {
            eventually(Duration::from_secs(120), "writes before the kill", || {
                let n = results.lock().unwrap().len();
                async move {
                    (n >= settings.before_kill)
                        .then_some(())
                        .ok_or(format!("{n} writes"))
                }
            })
            .await?;
            let old = topology.kill_primary();
            let killed = Instant::now();
            *killed_wall.lock().unwrap() = time::OffsetDateTime::now_utc();
            let new = topology.wait_for_failover(old).await;
            let promoted = Instant::now();
            *promoted_at.lock().unwrap() = Some(promoted);
            let new = new.map_err(|e| anyhow::anyhow!("{e}\n{}", topology.logs()))?;
            anyhow::Ok((killed, promoted, new))
        }
        .await;
        if killed.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        killed
    };
    let ((), killed) = tokio::join!(write_loop, kill);
    let (killed, promoted, new) = killed?;
    let promoted_name = if new == 1 { "replica A" } else { "replica B" };
    println!(
        "  primary killed; Sentinel promoted {promoted_name} ({}) {:.2} s later (seen by polling \
         every 20 ms)",
        topology.nodes[new].addr(),
        (promoted - killed).as_secs_f64()
    );
    // Everything acknowledged reaches every proxy (or the run says which did not).
    let waited = tokio::time::timeout(CONVERGE_DEADLINE, async {
        let mut completed = tracker.completed.subscribe();
        while tracker.pending() > 0 {
            let _ = completed.changed().await;
        }
    })
    .await;
    if waited.is_err() {
        let book = tracker.book.lock().unwrap();
        for w in book.pending.iter().take(10) {
            let missing: Vec<&str> = proxies
                .iter()
                .zip(&w.seen)
                .filter(|(_, s)| s.is_none())
                .map(|(p, _)| p.id.as_str())
                .collect();
            println!(
                "  write {} of {} not routed by {missing:?}",
                w.index, writer.zones[w.zone].1
            );
        }
        anyhow::bail!(
            "{} acknowledged writes not routed by every proxy {CONVERGE_DEADLINE:?} after the \
             failover",
            book.pending.len()
        );
    }
    let done = tracker.take_done();
    let results = results.into_inner().unwrap();
    let failed: Vec<String> = results
        .iter()
        .filter(|s| s.status != Some(200))
        .map(|s| format!("{:?} after {}: {}", s.status, ms(s.took), s.detail))
        .collect();
    let queued = results.iter().filter(|s| s.queued).count();
    println!(
        "  {} writes: {} answered 200 ({} of them queued: Redis did not take them at once), \
         {} did not {failed:?}",
        results.len(),
        results.len() - failed.len(),
        queued,
        failed.len()
    );
    let sent: Vec<Duration> = results.iter().map(|s| s.took).collect();
    report("every write of the phase", &done, proxies, &sent);
    for (name, from, to) in [
        ("acknowledged before the kill", None, Some(killed)),
        ("acknowledged kill..promotion", Some(killed), Some(promoted)),
        ("acknowledged after promotion", Some(promoted), None),
    ] {
        let within = |at: Instant| from.is_none_or(|f| at >= f) && to.is_none_or(|t| at < t);
        let some: Vec<Write> = done.iter().filter(|w| within(w.acked)).cloned().collect();
        let sent: Vec<Duration> = results
            .iter()
            .filter(|s| within(s.acked))
            .map(|s| s.took)
            .collect();
        if !some.is_empty() {
            report(name, &some, proxies, &sent);
        }
    }
    // What each service logged after the kill (their clocks are this machine's):
    // noticing the new server, and for a proxy the full reload from it.
    let killed_wall = *killed_wall.lock().unwrap();
    let after_kill = |t: time::OffsetDateTime| (t - killed_wall).as_seconds_f64();
    let panel_log = panel.log_text();
    let at = |t: Option<time::OffsetDateTime>| {
        t.map_or("-".to_owned(), |t| format!("{:.2} s", after_kill(t)))
    };
    let noticed = logged_at(&panel_log, PANEL_NOTICED, killed_wall);
    println!(
        "  {:<28} noticed the new primary at {}, reconciled at {}, replayed queued writes at {} \
         (after the kill)",
        "panel",
        at(noticed),
        at(noticed.and_then(|t| logged_at(&panel_log, PANEL_RECONCILED, t))),
        at(logged_at(&panel_log, PANEL_REPLAYED, killed_wall)),
    );
    let mut reloaded = Vec::new();
    for proxy in proxies {
        let text = proxy.service.log_text();
        let noticed = logged_at(&text, PROXY_NOTICED, killed_wall);
        let loaded = noticed.and_then(|t| logged_at(&text, PROXY_RELOADED, t));
        println!(
            "  {:<28} {}",
            proxy.id,
            match (noticed, loaded) {
                (Some(n), Some(l)) => {
                    reloaded.push(l);
                    format!(
                        "noticed the new server {:.2} s after the kill, reloaded from it at {:.2} s",
                        after_kill(n),
                        after_kill(l)
                    )
                }
                (Some(n), None) => format!(
                    "noticed the new server {:.2} s after the kill, no reload logged",
                    after_kill(n)
                ),
                _ => "logged no server change (it followed its replica's stream)".to_owned(),
            }
        );
    }
    // Every proxy has converged once each has reloaded from the new server (if it had to)
    // and routes every write acknowledged up to the promotion (those the dead primary
    // took included).
    let writes_by = done
        .iter()
        .filter(|w| w.acked < promoted)
        .filter_map(|w| w.seen.iter().copied().max().flatten())
        .max()
        .map_or(0.0, |t| t.saturating_duration_since(killed).as_secs_f64());
    let reloads_by = reloaded.into_iter().map(after_kill).fold(0.0, f64::max);
    let converged_after_kill = Duration::from_secs_f64(writes_by.max(reloads_by));
    let converged_after_promotion = converged_after_kill.saturating_sub(promoted - killed);
    let late: Vec<&Write> = done
        .iter()
        .filter(|w| w.latency().is_some_and(|l| l >= GOAL_P99))
        .collect();
    println!(
        "  every proxy converged (reloaded from the new server, routing every write \
         acknowledged before the promotion) {:.2} s after the kill, {:.2} s after the promotion \
         (proxies' full reload every {} s, server check every 2 s); {} writes took {} or more",
        converged_after_kill.as_secs_f64(),
        converged_after_promotion.as_secs_f64(),
        FULL_RELOAD.as_secs(),
        late.len(),
        ms(GOAL_P99)
    );
    Ok(Failover {
        converged_after_kill,
        converged_after_promotion,
        failed_writes: failed.len(),
    })
}
