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
//! timer (`--outbox-replay-interval`). Not built yet: the full Postgres → Redis
//! reconciliation (stale keys, drift metrics) and kinds other than `zone`.

use std::collections::BTreeSet;
use std::time::Duration;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use switchyard_shared::model::{HostRecord, Route};
use switchyard_shared::{ChangeSet, HostPattern};

use super::zones::{named_backends, spec_of};
use crate::app::AppState;
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
}

/// Records, inside the change's transaction, that these hostnames need rewriting.
pub async fn enqueue(
    txn: &impl ConnectionTrait,
    hostnames: impl IntoIterator<Item = String>,
) -> Result<Pending, DbErr> {
    let mut pending = Pending::default();
    for hostname in hostnames {
        if !pending.hostnames.insert(hostname.clone()) {
            continue;
        }
        let row = redis_outbox::ActiveModel {
            kind: Set("zone".into()),
            key: Set(hostname),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        pending.ids.push(row.id);
    }
    Ok(pending)
}

/// Rebuilds the Redis records of `hostnames` from every zone row now committed.
pub async fn rebuild(
    conn: &impl ConnectionTrait,
    hostnames: impl IntoIterator<Item = &String>,
) -> Result<ChangeSet, DbErr> {
    let mut changes = ChangeSet::new();
    let named = named_backends();
    for hostname in hostnames {
        let rows = zones::Entity::find()
            .filter(zones::Column::Hostname.eq(hostname.as_str()))
            .order_by_asc(zones::Column::PathPrefix)
            .all(conn)
            .await?;
        let mut routes: Vec<Route> = Vec::with_capacity(rows.len());
        for row in &rows {
            match spec_of(row).validate("zone", &row.id.to_string(), &named) {
                Ok(valid) => routes.push(valid.route),
                // Only possible if a row was edited outside the panel: keep it out of
                // Redis rather than publish something the proxies would refuse.
                Err(e) => {
                    tracing::error!(zone = %row.id, error = %e, "stored zone fails validation; not published")
                }
            }
        }
        match (HostPattern::parse(hostname), routes.is_empty()) {
            (Ok(host), false) => {
                changes.put_zone(&HostRecord { host, routes });
            }
            _ => {
                changes.delete_zone(hostname);
            }
        }
    }
    Ok(changes)
}

/// Writes the pending hostnames to Redis and clears their outbox rows. Failures are
/// logged, never returned: the change is committed and the outbox keeps it.
pub async fn write_through(state: &AppState, pending: Pending) {
    if let Err(error) = try_write_through(state, &pending).await {
        tracing::warn!(
            error,
            hostnames = ?pending.hostnames,
            "Redis write-through failed; the change is committed and queued in redis_outbox"
        );
    }
}

async fn try_write_through(state: &AppState, pending: &Pending) -> Result<(), String> {
    // Rebuild and Redis write happen under a per-hostname advisory lock (taken in sorted
    // order, so two writers cannot deadlock). Each change commits before it gets here,
    // so whoever takes the lock last reads every commit before it: Redis ends up with
    // the latest state even when two writers race, across panel instances too.
    let txn = state
        .db
        .begin()
        .await
        .map_err(|e| format!("opening the sync transaction: {e}"))?;
    for hostname in &pending.hostnames {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [hostname.clone().into()],
        ))
        .await
        .map_err(|e| format!("locking {hostname}: {e}"))?;
    }
    let changes = rebuild(&txn, &pending.hostnames)
        .await
        .map_err(|e| format!("reading zones: {e}"))?;
    let applied = tokio::time::timeout(REDIS_WRITE_TIMEOUT, state.store.apply(&changes))
        .await
        .map_err(|_| format!("Redis did not answer within {REDIS_WRITE_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    tracing::debug!(version = applied.version, hostnames = ?pending.hostnames, "written through to Redis");
    redis_outbox::Entity::delete_many()
        .filter(redis_outbox::Column::Id.is_in(pending.ids.clone()))
        .exec(&txn)
        .await
        .map_err(|e| format!("clearing the outbox: {e}"))?;
    txn.commit()
        .await
        .map_err(|e| format!("clearing the outbox: {e}"))?;
    Ok(())
}

/// Outbox rows replayed per round; bounds one round's work and transaction size.
pub const REPLAY_BATCH: u64 = 1_000;

/// Replays what Redis missed: the oldest outbox rows, their hostnames rebuilt from the
/// current rows and written in one batch. Returns how many rows it cleared; run it until
/// it returns 0 or fails.
pub async fn replay_outbox(state: &AppState) -> Result<usize, String> {
    let rows = redis_outbox::Entity::find()
        .filter(redis_outbox::Column::Kind.eq("zone"))
        .order_by_asc(redis_outbox::Column::Id)
        .limit(REPLAY_BATCH)
        .all(&state.db)
        .await
        .map_err(|e| format!("reading the outbox: {e}"))?;
    if rows.is_empty() {
        return Ok(0);
    }
    let pending = Pending {
        ids: rows.iter().map(|r| r.id).collect(),
        hostnames: rows.into_iter().map(|r| r.key).collect(),
    };
    try_write_through(state, &pending).await?;
    Ok(pending.ids.len())
}

/// Replays the whole outbox, batch after batch; logs and stops at the first failure
/// (the next round retries).
pub async fn replay_all(state: &AppState) {
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
