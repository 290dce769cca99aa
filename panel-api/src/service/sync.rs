//! Write-through from PostgreSQL to Redis, with an outbox so nothing is lost.
//!
//! A change to zones records, in its own transaction, one `redis_outbox` row per touched
//! hostname (kind `zone`, key = the hostname). After the commit, [`write_through`]
//! rebuilds each hostname's [`HostRecord`] from *all* its zone rows (the Redis record
//! holds every route of a hostname, one per path prefix), applies them as one
//! [`ChangeSet`] (one version bump) and deletes the outbox rows. If Redis fails, the
//! change stays committed and the outbox rows stay behind for a later replay.
//!
//! [`replay_all`] replays leftover outbox rows; the service runs it at start and on a
//! timer (`--outbox-replay-secs`). The full Postgres → Redis comparison (missing, changed
//! and stale keys, drift metrics) is [`crate::reconcile`]; it renders records with
//! [`render`], the same function the write path uses, and excludes write-throughs while
//! it runs with [`SYNC_LOCK_SQL`] (see there).
//!
//! Kind `cert` (key = the certificate's member name: `*.example.com`, or
//! `uploaded:<name>` for an uploaded one) is a certificate to rewrite in Redis from
//! PostgreSQL: queued by a domain's deletion and by every uploaded-certificate write
//! ([`enqueue_certs`]), written in the same batch as the zones, and durable through the
//! outbox like them. An issued certificate the panel only ever removes (cert-worker
//! writes them): a name whose domain exists again by the time it is written is left
//! alone (cert-worker publishes the new one). An uploaded one is rendered from its row
//! ([`super::cert_uploads::render_into`], key opened with `--secret-key`) or removed
//! when the row is gone.
//! Kind `full` is not built yet.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use switchyard_shared::certs::CertSource;
use switchyard_shared::model::{HostRecord, Route};
use switchyard_shared::{ChangeSet, HostPattern};

use super::Stores;
use super::named_backends::{Catalog, One};
use super::zones::{spec_with, stored_policies};
use crate::entity::{redis_outbox, zones};

/// How long a write-through may wait for Redis before the change is left to the outbox:
/// the client reconnects forever, so without a bound a request would hang while Redis is
/// down.
pub const REDIS_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Outbox rows written for one change, to delete once Redis has it.
#[derive(Debug, Default)]
pub struct Pending {
    ids: Vec<i64>,
    hostnames: BTreeSet<String>,
    /// Certificates (by member name: `*.example.com` to remove, `uploaded:<name>` to
    /// rewrite from its row) for Redis.
    certs: BTreeSet<String>,
}

impl Pending {
    /// One change's outbox rows made of several parts' (a rollback's zones and the
    /// zones its named backends re-render), written through together.
    pub fn merge(&mut self, other: Pending) {
        self.ids.extend(other.ids);
        self.hostnames.extend(other.hostnames);
        self.certs.extend(other.certs);
    }
}

/// `redis_outbox.kind` of a zone hostname to rebuild.
pub const OUTBOX_ZONE: &str = "zone";
/// `redis_outbox.kind` of a certificate to rewrite (or remove).
pub const OUTBOX_CERT: &str = "cert";

/// Rows per statement when many hostnames are written, locked or read at once.
const HOSTS_PER_STATEMENT: usize = 5_000;

/// Records, inside the change's transaction, that these hostnames need rewriting: one
/// multi-row INSERT per few thousand hostnames, not a round trip each.
pub async fn enqueue(
    txn: &impl ConnectionTrait,
    hostnames: impl IntoIterator<Item = String>,
) -> Result<Pending, DbErr> {
    let mut pending = Pending {
        ids: Vec::new(),
        hostnames: hostnames.into_iter().collect(),
        certs: BTreeSet::new(),
    };
    let all: Vec<&String> = pending.hostnames.iter().collect();
    for chunk in all.chunks(HOSTS_PER_STATEMENT) {
        let rows = chunk.iter().map(|h| redis_outbox::ActiveModel {
            kind: Set(OUTBOX_ZONE.into()),
            key: Set((*h).clone()),
            ..Default::default()
        });
        pending.ids.extend(
            redis_outbox::Entity::insert_many(rows)
                .exec_with_returning_keys(txn)
                .await?,
        );
    }
    Ok(pending)
}

/// Records, inside the change's transaction, that these certificates (by member name)
/// must be rewritten in Redis — removed for an issued one whose domain is gone, written
/// from its row or removed for an uploaded one: one outbox row each, written through
/// with the zones of `pending`.
pub async fn enqueue_certs(
    txn: &impl ConnectionTrait,
    pending: &mut Pending,
    names: impl IntoIterator<Item = String>,
) -> Result<(), DbErr> {
    let names: Vec<String> = names
        .into_iter()
        .filter(|n| !pending.certs.contains(n))
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let rows = names.iter().map(|n| redis_outbox::ActiveModel {
        kind: Set(OUTBOX_CERT.into()),
        key: Set(n.clone()),
        ..Default::default()
    });
    pending.ids.extend(
        redis_outbox::Entity::insert_many(rows)
            .exec_with_returning_keys(txn)
            .await?,
    );
    pending.certs.extend(names);
    Ok(())
}

/// The Redis certificate name of a domain's wildcard certificate (what cert-worker
/// stores it under): `*.example.com`.
pub fn cert_name(domain: &str) -> String {
    format!("*.{domain}")
}

/// Adds to `changes` the removal of each issued certificate in `certs` whose domain no
/// longer exists (read on `conn`); uploaded members are [`super::cert_uploads`]'s.
async fn cert_removals(
    conn: &impl ConnectionTrait,
    certs: &BTreeSet<String>,
    changes: &mut ChangeSet,
) -> Result<(), DbErr> {
    if certs.is_empty() {
        return Ok(());
    }
    let certs: BTreeSet<&String> = certs
        .iter()
        .filter(|m| CertSource::of_member(m).0.is_issued())
        .collect();
    if certs.is_empty() {
        return Ok(());
    }
    let domains: Vec<String> = certs
        .iter()
        .map(|n| n.strip_prefix("*.").unwrap_or(n).to_owned())
        .collect();
    let existing: BTreeSet<String> = crate::entity::domains::Entity::find()
        .select_only()
        .column(crate::entity::domains::Column::Name)
        .filter(crate::entity::domains::Column::Name.is_in(domains))
        .into_tuple::<String>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    for name in certs {
        if !existing.contains(name.strip_prefix("*.").unwrap_or(name)) {
            changes.delete_cert(name);
        }
    }
    Ok(())
}

/// What rendering a zone row needs besides the row: the named backends, by id.
pub type RenderContext = Catalog;

/// Loads the [`RenderContext`] once per rebuild or reconciliation.
pub async fn render_context(conn: &impl ConnectionTrait) -> Result<RenderContext, DbErr> {
    Catalog::load(conn).await
}

/// The Redis record of `hostname` from all its zone rows, in the order given (callers
/// sort by path prefix); `None` when nothing routable is left, i.e. the key must go.
/// The one rendering function: the write path and the reconciler both use it, so they
/// can never disagree about what a hostname's record is.
pub fn render(hostname: &str, rows: &[zones::Model], named: &RenderContext) -> Option<HostRecord> {
    let mut routes: Vec<Route> = Vec::with_capacity(rows.len());
    for row in rows {
        let backend = named.get(row.named_backend_id);
        // `spec_with` shows unreadable policies as none; publishing the route without
        // them (its basic auth, its limits) would open it, so it stays out of Redis.
        if let Err(e) = stored_policies(row) {
            tracing::error!(zone = %row.id, error = %e, "stored zone's policies are unreadable; not published");
            continue;
        }
        match spec_with(row, backend).validate("zone", &row.id.to_string(), &One(backend)) {
            Ok(valid) => routes.push(valid.route),
            // Only possible if a row was edited outside the panel: keep it out of
            // Redis rather than publish something the proxies would refuse.
            Err(e) => {
                tracing::error!(zone = %row.id, error = %e, "stored zone fails validation; not published")
            }
        }
    }
    match (HostPattern::parse(hostname), routes.is_empty()) {
        (Ok(host), false) => Some(HostRecord { host, routes }),
        _ => None,
    }
}

/// Rebuilds the Redis records of `hostnames` from every zone row now committed: one
/// query per few thousand hostnames.
pub async fn rebuild(
    conn: &impl ConnectionTrait,
    hostnames: impl IntoIterator<Item = &String>,
) -> Result<ChangeSet, DbErr> {
    let mut changes = ChangeSet::new();
    let named = render_context(conn).await?;
    let hostnames: Vec<&String> = hostnames.into_iter().collect();
    for chunk in hostnames.chunks(HOSTS_PER_STATEMENT) {
        let rows = zones::Entity::find()
            .filter(zones::Column::Hostname.is_in(chunk.iter().map(|h| h.as_str())))
            .order_by_asc(zones::Column::Hostname)
            .order_by_asc(zones::Column::PathPrefix)
            .all(conn)
            .await?;
        let mut by_host: BTreeMap<String, Vec<zones::Model>> = BTreeMap::new();
        for row in rows {
            by_host.entry(row.hostname.clone()).or_default().push(row);
        }
        for hostname in chunk {
            let rows = by_host
                .get(hostname.as_str())
                .map_or(&[][..], Vec::as_slice);
            match render(hostname, rows, &named) {
                Some(record) => changes.put_zone(&record),
                None => changes.delete_zone(hostname),
            };
        }
    }
    Ok(changes)
}

/// One hostname's Redis record before and after a write, as a dry run shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RecordChange {
    /// The hostname pattern.
    pub hostname: String,
    /// The Redis key (under the deployment's prefix).
    pub key: String,
    /// The record the write-through writes for the rows committed now — what Redis
    /// holds while it is in step — or `null`: no key.
    #[schema(value_type = Option<crate::mirror::ZoneRecord>)]
    pub before: Option<serde_json::Value>,
    /// The exact record the write would write, or `null`: the key would be deleted.
    /// Here (as in `before`) basic-auth users show their `username` only: the hash the
    /// record holds is never returned.
    #[schema(value_type = Option<crate::mirror::ZoneRecord>)]
    pub after: Option<serde_json::Value>,
}

/// The Redis records of the pending hostnames before and after a change not committed
/// yet: `after` rendered by [`rebuild`] on the change's transaction (it sees the change),
/// `before` on another connection (it sees only what is committed). Both are the JSON
/// the write path gives Redis, from the same code, never a second renderer.
pub async fn preview(
    db: &impl ConnectionTrait,
    txn: &impl ConnectionTrait,
    keys: &switchyard_shared::Keys,
    pending: &Pending,
) -> Result<Vec<RecordChange>, DbErr> {
    let values = |changes: ChangeSet| -> BTreeMap<String, Option<serde_json::Value>> {
        changes
            .zone_values()
            .map(|(name, json)| {
                (
                    name.to_owned(),
                    // As every answer: basic-auth users by username only.
                    json.and_then(|j| serde_json::from_str(j).ok())
                        .map(|mut v| {
                            switchyard_shared::policy::redact_json(&mut v);
                            v
                        }),
                )
            })
            .collect()
    };
    let after = values(rebuild(txn, &pending.hostnames).await?);
    let mut before = values(rebuild(db, &pending.hostnames).await?);
    Ok(after
        .into_iter()
        .map(|(hostname, after)| RecordChange {
            key: keys.zone(&hostname),
            before: before.remove(&hostname).flatten(),
            after,
            hostname,
        })
        .collect())
}

/// Taken (inside the sync transaction, before any per-hostname lock) by every
/// write-through in shared mode, and by the reconciler in exclusive mode
/// (`pg_advisory_xact_lock`): write-throughs run side by side, a reconciliation runs
/// alone. Without it, a reconciler that read Postgres before a commit could overwrite
/// that commit's newer write-through in Redis with its older view. Its key is a string
/// no hostname can be (hostnames hold no `:`), so it never collides with their locks.
pub const SYNC_LOCK_SQL: &str = "hashtextextended('switchyard:redis-sync', 0)";

/// The longest a write-through waits for its locks (a running reconciliation, another
/// write-through of the same hostname) before leaving the change to the outbox, so a
/// request never hangs on them: a full reconciliation of 100,000 zones takes seconds.
pub const SYNC_LOCK_TIMEOUT: &str = "10s";

/// Writes the pending hostnames to Redis and clears their outbox rows; answers the
/// global version that write produced, or `None` when Redis did not take it. Failures
/// are logged, never returned: the change is committed and the outbox keeps it.
///
/// A change with nothing for Redis (no hostname) answers the version Redis holds: a
/// proxy at that version has everything the change affects.
pub async fn write_through(state: &Stores, pending: Pending) -> Option<u64> {
    if pending.hostnames.is_empty() && pending.certs.is_empty() {
        return match tokio::time::timeout(REDIS_WRITE_TIMEOUT, state.store.meta()).await {
            Ok(Ok((version, _))) => Some(version),
            _ => None,
        };
    }
    match try_write_through(state, &pending).await {
        Ok(version) => {
            state
                .liveness
                .outages()
                .note(crate::liveness::Dependency::Redis, true);
            Some(version)
        }
        Err(error) => {
            state.metrics.write_through_failures.inc();
            tracing::warn!(
                error,
                hostnames = ?pending.hostnames,
                "Redis write-through failed; the change is committed and queued in redis_outbox"
            );
            None
        }
    }
}

#[tracing::instrument(
    target = "switchyard_trace",
    name = "redis write-through",
    skip_all,
    fields(hostnames = pending.hostnames.len())
)]
async fn try_write_through(state: &Stores, pending: &Pending) -> Result<u64, String> {
    // Rebuild and Redis write happen under a per-hostname advisory lock (taken in sorted
    // order, so two writers cannot deadlock). Each change commits before it gets here,
    // so whoever takes the lock last reads every commit before it: Redis ends up with
    // the latest state even when two writers race, across panel instances too.
    let txn = state
        .db
        .begin()
        .await
        .map_err(|e| format!("opening the sync transaction: {e}"))?;
    txn.execute_unprepared(&format!("SET LOCAL lock_timeout = '{SYNC_LOCK_TIMEOUT}'"))
        .await
        .map_err(|e| format!("setting the lock timeout: {e}"))?;
    txn.execute_unprepared(&format!(
        "SELECT pg_advisory_xact_lock_shared({SYNC_LOCK_SQL})"
    ))
    .await
    .map_err(|e| format!("waiting for a running reconciliation: {e}"))?;
    // One statement per chunk, in sorted order, which the ORDER BY keeps inside each
    // statement. Certificates lock as `cert:<name>`, which no hostname can be.
    let mut locks: Vec<String> = pending.hostnames.iter().cloned().collect();
    locks.extend(pending.certs.iter().map(|n| format!("cert:{n}")));
    // One total order (bytes, as `COLLATE "C"` below) across chunks and kinds.
    locks.sort();
    for chunk in locks.chunks(HOSTS_PER_STATEMENT) {
        let list: Vec<String> = chunk.to_vec();
        txn.query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended(h, 0)) \
             FROM unnest($1::text[]) AS h ORDER BY h COLLATE \"C\"",
            [sea_orm::Value::from(list)],
        ))
        .await
        .map_err(|e| format!("locking {} hostname(s): {e}", chunk.len()))?;
    }
    let mut changes = rebuild(&txn, &pending.hostnames)
        .await
        .map_err(|e| format!("reading zones: {e}"))?;
    cert_removals(&txn, &pending.certs, &mut changes)
        .await
        .map_err(|e| format!("reading domains: {e}"))?;
    super::cert_uploads::render_into(&txn, state.secrets.as_ref(), &pending.certs, &mut changes)
        .await?;
    let applied = tokio::time::timeout(REDIS_WRITE_TIMEOUT, state.store.apply(&changes))
        .await
        .map_err(|_| format!("Redis did not answer within {REDIS_WRITE_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    // The apply raised Redis's format to what these records need: remembered for the
    // format gate, so later writes needing it do not depend on reading Redis first.
    state.format_seen.fetch_max(
        changes.format_needed(),
        std::sync::atomic::Ordering::Relaxed,
    );
    tracing::debug!(version = applied.version, hostnames = ?pending.hostnames, "written through to Redis");
    redis_outbox::Entity::delete_many()
        .filter(redis_outbox::Column::Id.is_in(pending.ids.clone()))
        .exec(&txn)
        .await
        .map_err(|e| format!("clearing the outbox: {e}"))?;
    txn.commit()
        .await
        .map_err(|e| format!("clearing the outbox: {e}"))?;
    Ok(applied.version)
}

/// Outbox rows replayed per round; bounds one round's work and transaction size.
pub const REPLAY_BATCH: u64 = 1_000;

/// Replays what Redis missed: the oldest outbox rows, their hostnames rebuilt from the
/// current rows and written in one batch. Returns how many rows it cleared; run it until
/// it returns 0 or fails.
pub async fn replay_outbox(state: &Stores) -> Result<usize, String> {
    let rows = redis_outbox::Entity::find()
        .filter(redis_outbox::Column::Kind.is_in([OUTBOX_ZONE, OUTBOX_CERT]))
        .order_by_asc(redis_outbox::Column::Id)
        .limit(REPLAY_BATCH)
        .all(&state.db)
        .await
        .map_err(|e| format!("reading the outbox: {e}"))?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut pending = Pending {
        ids: rows.iter().map(|r| r.id).collect(),
        ..Default::default()
    };
    for row in rows {
        match row.kind.as_str() {
            OUTBOX_CERT => pending.certs.insert(row.key),
            _ => pending.hostnames.insert(row.key),
        };
    }
    try_write_through(state, &pending).await?;
    Ok(pending.ids.len())
}

/// Replays the whole outbox, batch after batch; logs and stops at the first failure
/// (the next round retries).
pub async fn replay_all(state: &Stores) {
    loop {
        match replay_outbox(state).await {
            Ok(0) => return,
            Ok(n) => tracing::info!(rows = n, "replayed queued Redis writes"),
            Err(error) => {
                tracing::warn!(error, "replaying queued Redis writes failed; will retry");
                return;
            }
        }
    }
}
