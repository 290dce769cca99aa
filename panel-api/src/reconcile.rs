//! Full reconciliation of PostgreSQL (the truth) into Redis, and the background loop
//! that runs it.
//!
//! [`reconcile`] renders every hostname's record from all zone rows — with
//! [`sync::render`], the function the write path uses, so the two cannot disagree —
//! compares them with what Redis holds (the zone index *and* every `zone:` key, so a key
//! an operator set by hand is found too), writes missing and changed records, deletes
//! stale ones, and clears the outbox rows its view covered. Writes go out in batches of
//! [`RECONCILE_BATCH`] keys, each one [`Store::apply`] call: one version bump and one
//! change-feed entry per batch, so a small drift is fixed in one atomic step and even a
//! full rebuild takes a handful of steps, each whole per hostname. A run with no drift
//! writes nothing and bumps nothing.
//!
//! [`spawn`] runs it at start, every `--reconcile-interval-secs` (hourly by default),
//! whenever Redis answers again after failing a probe, and whenever the Redis server
//! changed under the client ([`switchyard_shared::failover::ServerWatch`]: a Sentinel
//! failover promoted a replica, or the server restarted) — writes the old primary
//! acknowledged but never replicated are lost then, and this restores them; it also replays the outbox
//! every `--outbox-replay-secs` and keeps the Redis / PostgreSQL / outbox gauges of
//! [`crate::metrics`] current.
//!
//! Uploaded certificates (`cert:uploaded:<name>`, the panel's own) are reconciled the
//! same way, rendered by the write path's renderer ([`upload_changes`]).
//!
//! It must never write anything to PostgreSQL except deleting outbox rows it has covered,
//! and never touch Redis keys outside the zone records, the uploaded certificates and
//! their indexes under the configured prefix (issued certificates, proxies' status and
//! other services' keys are not its business).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use fred::prelude::*;
use fred::types::scan::Scanner;
use futures_util::StreamExt as _;
use sea_orm::sea_query::Expr;
use sea_orm::{
    AccessMode, ColumnTrait as _, ConnectionTrait as _, EntityTrait as _, IsolationLevel,
    PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, TransactionTrait,
};
use serde::Serialize;
use switchyard_shared::model::HostRecord;
use switchyard_shared::{ChangeSet, Store};

pub use crate::config::{DEFAULT_RECONCILE_INTERVAL_SECS, ReconcileArgs};
use crate::entity::{redis_outbox, zones};
use crate::service::Stores;
use crate::service::sync::{self, SYNC_LOCK_SQL};

/// Keys per `Store::apply` call: one batch is one Lua script call, during which Redis
/// serves nobody else. 10,000 records (a few MB) keep that pause to tens of
/// milliseconds while a full rebuild of 100,000 still needs only ten round trips.
pub const RECONCILE_BATCH: usize = 10_000;
/// Zone rows read per query: large pages, few round trips, bounded memory per page.
pub const READ_PAGE: u64 = 10_000;
/// `SCAN` page size when looking for `zone:` keys missing from the index.
pub const SCAN_COUNT: u32 = 10_000;
/// Upper bound for one reconciliation's Redis work; Redis calls otherwise wait forever
/// while the client reconnects.
pub const RECONCILE_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound for each Redis step of a run (reading everything, one batch): Redis calls
/// otherwise wait for as long as the client takes to reconnect.
pub const REDIS_STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the loop checks that Redis and PostgreSQL answer (and so notices Redis
/// coming back); a `PING` and one count query.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// How long a probe may take before the service counts as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failed reconciliation, the earliest retry (Redis coming back retries at once).
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// What one reconciliation found and did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Zone rows read from PostgreSQL.
    pub zones: u64,
    /// Hostname records they render to (what Redis should hold).
    pub records: u64,
    /// Records PostgreSQL has and Redis lacked (written).
    pub missing: u64,
    /// Records Redis held with another value, an invalid one or outside the index
    /// (rewritten).
    pub changed: u64,
    /// Records Redis held that PostgreSQL does not have (deleted).
    pub stale: u64,
    /// Outbox rows this run covered and cleared.
    pub outbox_cleared: u64,
    /// `Store::apply` calls made (version bumps); 0 when nothing drifted.
    pub batches: u64,
    /// The Redis version after the run.
    pub version: u64,
    pub duration_ms: u64,
}

impl Report {
    pub fn drift(&self) -> u64 {
        self.missing + self.changed + self.stale
    }
}

/// Runs one full reconciliation and records it in the metrics and the log.
pub async fn reconcile(state: &Stores) -> Result<Report, String> {
    let started = Instant::now();
    let result = tokio::time::timeout(RECONCILE_TIMEOUT, run(state, started))
        .await
        .unwrap_or_else(|_| Err(format!("did not finish within {RECONCILE_TIMEOUT:?}")));
    let m = &state.metrics;
    match &result {
        Ok(report) => {
            // The domain copy degraded reads use rides along with every reconciliation.
            crate::service::degraded::refresh_domains(state).await;
            m.reconcile_runs.with_label_values(&["ok"]).inc();
            for (kind, n) in [
                ("missing", report.missing),
                ("changed", report.changed),
                ("stale", report.stale),
            ] {
                m.reconcile_drift
                    .with_label_values(&[kind])
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
                m.reconcile_drift_total.with_label_values(&[kind]).inc_by(n);
            }
            m.reconcile_records
                .set(i64::try_from(report.records).unwrap_or(i64::MAX));
            m.reconcile_duration
                .observe(started.elapsed().as_secs_f64());
            m.reconcile_last_success.set(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0),
            );
            if report.drift() > 0 {
                tracing::warn!(
                    zones = report.zones,
                    records = report.records,
                    missing = report.missing,
                    changed = report.changed,
                    stale = report.stale,
                    outbox_cleared = report.outbox_cleared,
                    version = report.version,
                    duration_ms = report.duration_ms,
                    "reconciled Redis with PostgreSQL: drift found and fixed"
                );
            } else {
                tracing::info!(
                    zones = report.zones,
                    records = report.records,
                    outbox_cleared = report.outbox_cleared,
                    version = report.version,
                    duration_ms = report.duration_ms,
                    "reconciled Redis with PostgreSQL: no drift"
                );
            }
        }
        Err(error) => {
            m.reconcile_runs.with_label_values(&["error"]).inc();
            tracing::warn!(
                error,
                "reconciling Redis with PostgreSQL failed; will retry"
            );
        }
    }
    result
}

/// `fut`, failing with a message naming `what` after [`REDIS_STEP_TIMEOUT`].
async fn bounded<T>(
    what: &str,
    fut: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(REDIS_STEP_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{what}: Redis did not answer within {REDIS_STEP_TIMEOUT:?}"
            ))
        })
}

async fn run(state: &Stores, started: Instant) -> Result<Report, String> {
    // Fail fast while Redis is away: the run holds the sync lock, and write-throughs
    // would wait for it for nothing.
    match tokio::time::timeout(PROBE_TIMEOUT, state.store.client().ping::<String>(None)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(format!("Redis does not answer: {e}")),
        Err(_) => return Err(format!("Redis does not answer within {PROBE_TIMEOUT:?}")),
    }
    // Concurrency with the write path. Every write-through holds SYNC_LOCK_SQL in shared
    // mode from before it reads PostgreSQL until its Redis write is done; this holds it
    // exclusively for the whole run (transaction `lock`, so it is released however the
    // run ends). So while it reads and writes, no write-through is between its read and
    // its write, and any that finished before is in what it reads. Changes committed
    // while it runs wait, write-through pending, until it is done, then write the
    // current rows over whatever it wrote: Redis still ends at the latest commit. Two
    // panels' reconcilers exclude each other the same way.
    let lock = state
        .db
        .begin()
        .await
        .map_err(|e| format!("opening the lock transaction: {e}"))?;
    lock.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({SYNC_LOCK_SQL})"))
        .await
        .map_err(|e| format!("taking the sync lock: {e}"))?;
    // The data is read in a second transaction, opened only now that the lock is held:
    // a snapshot taken before the lock was granted could miss commits whose
    // write-throughs finished while we waited. Repeatable read gives every page and the
    // outbox one snapshot, so the outbox rows we clear are exactly those whose changes
    // we read.
    let read = state
        .db
        .begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadOnly),
        )
        .await
        .map_err(|e| format!("opening the read transaction: {e}"))?;
    let outbox: Vec<i64> = redis_outbox::Entity::find()
        .select_only()
        .column(redis_outbox::Column::Id)
        .filter(redis_outbox::Column::Kind.eq("zone"))
        .into_tuple()
        .all(&read)
        .await
        .map_err(|e| format!("reading the outbox: {e}"))?;
    let (desired, zone_rows) = desired_records(&read).await?;
    read.commit()
        .await
        .map_err(|e| format!("closing the read transaction: {e}"))?;

    let actual = bounded("reading Redis", redis_records(&state.store)).await?;
    let mut report = Report {
        zones: zone_rows,
        records: desired.len() as u64,
        ..Report::default()
    };
    let mut changes = diff(desired, actual, &mut report);
    let uploads = bounded(
        "reconciling uploaded certificates",
        upload_changes(state, &mut report),
    )
    .await?;
    if !uploads.is_empty() {
        changes.push(uploads);
    }
    let mut version = None;
    for batch in changes {
        let applied = bounded("writing to Redis", async {
            state
                .store
                .apply(&batch)
                .await
                .map_err(|e| format!("writing to Redis: {e}"))
        })
        .await?;
        report.batches += 1;
        version = Some(applied.version);
    }
    report.version = match version {
        Some(v) => v,
        None => {
            bounded("reading the Redis version", async {
                state
                    .store
                    .meta()
                    .await
                    .map_err(|e| format!("reading the Redis version: {e}"))
            })
            .await?
            .0
        }
    };
    for chunk in outbox.chunks(READ_PAGE as usize) {
        let deleted = redis_outbox::Entity::delete_many()
            .filter(redis_outbox::Column::Id.is_in(chunk.iter().copied()))
            .exec(&lock)
            .await
            .map_err(|e| format!("clearing the outbox: {e}"))?;
        report.outbox_cleared += deleted.rows_affected;
    }
    lock.commit()
        .await
        .map_err(|e| format!("clearing the outbox: {e}"))?;
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Uploaded certificates (the panel's own certificate keys, `cert:uploaded:<name>`):
/// every row rendered by the write path's renderer
/// ([`crate::service::cert_uploads::render`]) and compared with Redis, together with every
/// `uploaded:` member the `certs` index lists (stale ones are removed). Runs under the
/// sync lock like the zones; issued certificates stay cert-worker's.
async fn upload_changes(state: &Stores, report: &mut Report) -> Result<ChangeSet, String> {
    use switchyard_shared::certs::{CertSource, UPLOADED_MEMBER_PREFIX};
    let names: Vec<String> = crate::entity::uploaded_certificates::Entity::find()
        .select_only()
        .column(crate::entity::uploaded_certificates::Column::Name)
        .into_tuple()
        .all(&state.db)
        .await
        .map_err(|e| format!("reading uploaded certificates: {e}"))?;
    let mut members: std::collections::BTreeSet<String> = names
        .iter()
        .map(|n| CertSource::Uploaded.member(n))
        .collect();
    let indexed = state
        .store
        .members(&state.store.keys().cert_index())
        .await
        .map_err(|e| format!("reading the certificate index: {e}"))?;
    members.extend(
        indexed
            .into_iter()
            .filter(|m| m.starts_with(UPLOADED_MEMBER_PREFIX)),
    );
    let mut changes = ChangeSet::new();
    for member in &members {
        let (_, name) = CertSource::of_member(member);
        let desired =
            crate::service::cert_uploads::render(&state.db, state.secrets.as_ref(), name).await?;
        let actual: Option<String> = state
            .store
            .client()
            .get(state.store.keys().cert(member))
            .await
            .map_err(|e| format!("reading {member}: {e}"))?;
        match (desired, actual) {
            (Some(record), Some(json)) if record.to_json() == json => {}
            (Some(record), actual) => {
                if actual.is_some() {
                    report.changed += 1;
                } else {
                    report.missing += 1;
                }
                changes.put_cert(&record);
            }
            (None, _) => {
                report.stale += 1;
                changes.delete_cert(member);
            }
        }
    }
    Ok(changes)
}

/// Every hostname's record as PostgreSQL says it should be, and the number of zone
/// rows read. Rows come in keyset pages ordered by (hostname, path prefix) — the order
/// the write path renders them in — and a hostname is rendered once all its rows are in.
async fn desired_records(
    read: &sea_orm::DatabaseTransaction,
) -> Result<(HashMap<String, HostRecord>, u64), String> {
    let named = sync::render_context(read)
        .await
        .map_err(|e| format!("reading named backends: {e}"))?;
    let mut desired = HashMap::new();
    let mut rows_read = 0u64;
    let mut current: Vec<zones::Model> = Vec::new();
    let mut after: Option<(String, String, String)> = None;
    let mut flush = |rows: &mut Vec<zones::Model>| {
        if let Some(first) = rows.first() {
            let hostname = first.hostname.clone();
            if let Some(record) = sync::render(&hostname, rows, &named) {
                desired.insert(hostname, record);
            }
        }
        rows.clear();
    };
    loop {
        let mut page = zones::Entity::find()
            .order_by_asc(zones::Column::Hostname)
            .order_by_asc(zones::Column::PathPrefix)
            .order_by_asc(zones::Column::MatchKey)
            .limit(READ_PAGE);
        // The zones' identity, so a page never splits or skips rows of one key.
        if let Some((hostname, prefix, match_key)) = &after {
            page = page.filter(Expr::cust_with_values(
                "(hostname, path_prefix, match_key) > ($1, $2, $3)",
                [hostname.clone(), prefix.clone(), match_key.clone()],
            ));
        }
        let rows = page
            .all(read)
            .await
            .map_err(|e| format!("reading zones: {e}"))?;
        let full = rows.len() as u64 == READ_PAGE;
        rows_read += rows.len() as u64;
        for row in rows {
            if current.first().is_some_and(|c| c.hostname != row.hostname) {
                flush(&mut current);
            }
            after = Some((
                row.hostname.clone(),
                row.path_prefix.clone(),
                row.match_key.clone(),
            ));
            current.push(row);
        }
        if !full {
            break;
        }
    }
    flush(&mut current);
    Ok((desired, rows_read))
}

/// What Redis holds: every name in the zone index and every `zone:` key under the
/// prefix, with its value (`None`: no key) and whether it is indexed.
struct Actual {
    names: Vec<String>,
    indexed: HashSet<String>,
}

async fn redis_records(
    store: &Store,
) -> Result<(Actual, Vec<Option<Result<HostRecord, String>>>), String> {
    let keys = store.keys();
    let indexed: HashSet<String> = store
        .members(&keys.zone_index())
        .await
        .map_err(|e| format!("reading the zone index: {e}"))?
        .into_iter()
        .collect();
    // Keys outside the index (set by hand, or left by a crash of a non-atomic writer)
    // are invisible to a proxy's snapshot but not to its feed: find them too.
    let key_start = keys.zone("");
    let mut names: HashSet<String> = indexed.clone();
    let pages = store
        .client()
        .scan(format!("{key_start}*"), Some(SCAN_COUNT), None);
    let mut pages = std::pin::pin!(pages);
    while let Some(page) = pages.next().await {
        let mut page = page.map_err(|e| format!("scanning zone keys: {e}"))?;
        if let Some(found) = page.take_results() {
            for key in found {
                if let Some(name) = key.as_str().and_then(|k| k.strip_prefix(&key_start)) {
                    names.insert(name.to_owned());
                }
            }
        }
        page.next();
    }
    let names: Vec<String> = names.into_iter().collect();
    let values = store
        .zones(&names)
        .await
        .map_err(|e| format!("reading zone records: {e}"))?
        .into_iter()
        .map(|(_, v)| v.map(|r| r.map_err(|e| e.to_string())))
        .collect();
    Ok((Actual { names, indexed }, values))
}

/// Compares, counts the drift into `report`, and returns the batches to apply.
fn diff(
    mut desired: HashMap<String, HostRecord>,
    (actual, values): (Actual, Vec<Option<Result<HostRecord, String>>>),
    report: &mut Report,
) -> Vec<ChangeSet> {
    let mut batches = vec![ChangeSet::new()];
    let mut push = |f: &dyn Fn(&mut ChangeSet)| {
        if batches.last().is_some_and(|b| b.len() >= RECONCILE_BATCH) {
            batches.push(ChangeSet::new());
        }
        f(batches.last_mut().expect("never empty"));
    };
    for (name, value) in actual.names.iter().zip(values) {
        let in_index = actual.indexed.contains(name);
        match (desired.remove(name), value) {
            (Some(want), Some(Ok(have))) if have == want && in_index => {}
            (Some(want), None) => {
                report.missing += 1;
                push(&|b| {
                    b.put_zone(&want);
                });
            }
            (Some(want), Some(found)) => {
                if let Err(problem) = &found {
                    tracing::warn!(zone = %name, problem, "invalid record in Redis; rewriting it");
                }
                report.changed += 1;
                push(&|b| {
                    b.put_zone(&want);
                });
            }
            (None, _) => {
                report.stale += 1;
                push(&|b| {
                    b.delete_zone(name);
                });
            }
        }
    }
    for record in desired.values() {
        report.missing += 1;
        push(&|b| {
            b.put_zone(record);
        });
    }
    batches.retain(|b| !b.is_empty());
    batches
}

/// Starts the sync loop: reconcile now, then probe, replay and reconcile on their
/// schedules until aborted. See the module docs.
pub fn spawn(
    state: Stores,
    reconcile_every: Duration,
    replay_every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut probe = tokio::time::interval(PROBE_INTERVAL);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut replay =
            tokio::time::interval_at(tokio::time::Instant::now() + replay_every, replay_every);
        replay.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut full = tokio::time::interval_at(
            tokio::time::Instant::now() + reconcile_every,
            reconcile_every,
        );
        full.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Whether the last reconciliation failed (or none ran yet), and when it ran.
        // Started before the first run, so that its baseline is the server that run wrote.
        let mut server = switchyard_shared::failover::ServerWatch::spawn(
            state.store.client().clone(),
            PROBE_INTERVAL,
        );
        let mut owed = reconcile(&state).await.is_err();
        let mut last_try = Instant::now();
        let mut redis_was_up = true;
        loop {
            tokio::select! {
                change = server.changed() => {
                    state.metrics.redis_server_changes.inc();
                    tracing::warn!(
                        before = %change.before,
                        after = %change.after,
                        "Redis primary changed (failover or restart): reconciling now, to restore writes the old one did not pass on"
                    );
                    owed = reconcile(&state).await.is_err();
                    // Failed: the next probe that finds both stores up retries at once.
                    last_try = if owed { Instant::now() - RETRY_AFTER } else { Instant::now() };
                    sync::replay_all(&state).await;
                }
                _ = probe.tick() => {
                    let (redis_up, postgres_up) = probe_once(&state).await;
                    if redis_up && !redis_was_up {
                        tracing::info!("Redis answers again; reconciling");
                        owed = true;
                        last_try = Instant::now() - RETRY_AFTER;
                    }
                    redis_was_up = redis_up;
                    if owed && redis_up && postgres_up && last_try.elapsed() >= RETRY_AFTER {
                        owed = reconcile(&state).await.is_err();
                        last_try = Instant::now();
                    }
                }
                _ = replay.tick() => sync::replay_all(&state).await,
                _ = full.tick() => {
                    owed = reconcile(&state).await.is_err();
                    last_try = Instant::now();
                }
            }
        }
    })
}

/// Checks Redis and PostgreSQL once, updating the up gauges and the outbox depth.
pub async fn probe_once(state: &Stores) -> (bool, bool) {
    let redis = tokio::time::timeout(PROBE_TIMEOUT, state.store.client().ping::<String>(None));
    let outbox = tokio::time::timeout(PROBE_TIMEOUT, redis_outbox::Entity::find().count(&state.db));
    let (redis, outbox) = tokio::join!(redis, outbox);
    let redis_up = matches!(redis, Ok(Ok(_)));
    let m = &state.metrics;
    m.redis_up.set(i64::from(redis_up));
    let postgres_up = match outbox {
        Ok(Ok(depth)) => {
            m.outbox_depth.set(i64::try_from(depth).unwrap_or(i64::MAX));
            true
        }
        _ => false,
    };
    m.postgres_up.set(i64::from(postgres_up));
    (redis_up, postgres_up)
}
