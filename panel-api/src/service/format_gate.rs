//! The data format gate: the panel writes no record a live proxy cannot read.
//!
//! A zone record without route policies or match conditions is data format 1, which
//! every proxy reads; one with either needs format 2 ([`switchyard_shared::model::HostRecord::format_needed`]).
//! The first write of such a record raises Redis's `format` key to 2, and from then on a
//! proxy that reads only format 1 refuses every change and keeps serving its last
//! snapshot. Hence the upgrade order — proxies first, then the panel and the cert worker
//! (`docs/redis-schema.md`) — and this gate: while Redis is below the format a write
//! needs, the write is refused with 409 if a fresh proxy in the fleet reads less (each
//! named, with its `reads_format`), and with 503 if Redis cannot be read to decide. Once
//! Redis is at the format, no check is needed: it is already raised, whoever reads it.
//! The highest format this instance has read is remembered ([`super::Stores::format_seen`]),
//! so once Redis was at a format, writes that need it no longer read Redis first: while
//! Redis has no primary (a failover), they are committed and queued like any write
//! instead of answering 503 (DESIGN.md, degraded mode). The format never goes down in
//! a fleet (proxies are upgraded before it rises), so what was seen stays true.
//!
//! Every zone write that can add policies (create, update, bulk, import) asks before
//! anything is committed, dry runs included, so a dry run answers the same refusal.
//! Stale proxies (no heartbeat for [`switchyard_shared::fleet::STALE_AFTER`]) are not
//! counted: stopped, or retired without removing their entry.

use std::sync::atomic::Ordering;

use fred::prelude::KeysInterface as _;
use switchyard_shared::model::{FieldError, ZoneSpec};

use super::Stores;
use super::sync::REDIS_WRITE_TIMEOUT;
use crate::error::ApiError;

/// The data format a zone's record needs, and the spec field that needs it (the rule of
/// [`switchyard_shared::model::route_format`]).
pub fn needed(spec: &ZoneSpec) -> (u32, &'static str) {
    spec.format_needed()
}

/// Refuses a write whose records need data format `needed` while Redis holds a lower
/// format and a fresh proxy reads less (409, naming each), or when Redis cannot be read
/// to decide (503). `field` is where the request asks for it (`policies`,
/// `create[3].policies`), named in the 409's details.
pub async fn check(state: &Stores, needed: u32, field: &str) -> Result<(), ApiError> {
    if needed <= 1 {
        // Format 1 is what every proxy reads, old or new.
        return Ok(());
    }
    if state.format_seen.load(Ordering::Relaxed) >= needed {
        // Redis was at it already: raised for good, whoever reads it.
        return Ok(());
    }
    let unreadable = |why: String| {
        ApiError::RedisUnavailable(format!(
            "this write has route policies or match conditions, which need Redis data \
             format {needed}; the panel could not read Redis to check that every proxy reads \
             that format ({why}), so nothing was changed. Retry once Redis answers (GET \
             /api/v1/health shows it), or write the zone without them."
        ))
    };
    let store = &state.store;
    let format: Option<String> = tokio::time::timeout(
        REDIS_WRITE_TIMEOUT,
        store.client().get(store.keys().format()),
    )
    .await
    .map_err(|_| unreadable(format!("no answer within {REDIS_WRITE_TIMEOUT:?}")))?
    .map_err(|e| unreadable(format!("reading the format key: {e}")))?;
    let current = match format.as_deref() {
        None => 0,
        Some(text) => text.parse::<u32>().map_err(|_| {
            unreadable(format!(
                "its format key {} holds \"{}\", not a number",
                store.keys().format(),
                text.escape_debug()
            ))
        })?,
    };
    state.format_seen.fetch_max(current, Ordering::Relaxed);
    if current >= needed {
        return Ok(());
    }
    let fleet = tokio::time::timeout(REDIS_WRITE_TIMEOUT, store.fleet())
        .await
        .map_err(|_| unreadable(format!("no answer within {REDIS_WRITE_TIMEOUT:?}")))?
        .map_err(|e| unreadable(format!("reading the proxies' statuses: {e}")))?;
    let old = fleet.not_reading(needed);
    if old.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = old
        .iter()
        .map(|p| format!("\"{}\" (reads_format {})", p.id, p.reads_format))
        .collect();
    tracing::info!(
        proxies = ?named,
        needed,
        current,
        "refused a write with route policies or match conditions: a proxy in the fleet cannot read its data format"
    );
    Err(ApiError::Conflict {
        message: format!(
            "this write has route policies or match conditions, which need Redis data format \
             {needed} ({}), and {} {} cannot read it: the {} would refuse every change from \
             then on and keep serving {} last snapshot. Nothing was changed; upgrade the \
             proxies first (then the panel and the cert worker, docs/redis-schema.md), or \
             write the zone without them.",
            match current {
                0 => "Redis has no format key yet: format 1".to_owned(),
                n => format!("Redis is at {n}"),
            },
            if old.len() == 1 { "proxy" } else { "proxies" },
            named.join(", "),
            if old.len() == 1 { "proxy" } else { "proxies" },
            if old.len() == 1 { "its" } else { "their" },
        ),
        details: old
            .iter()
            .map(|p| FieldError {
                field: field.to_owned(),
                problem: format!(
                    "proxy \"{}\" reads data format {}; this needs format {needed}",
                    p.id, p.reads_format
                ),
            })
            .collect(),
    })
}
