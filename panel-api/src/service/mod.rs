//! The service layer: each operation of the panel, whole — authorization, data access,
//! the audit record, the Redis write-through and outbox, the credential cache's
//! invalidation ([`credentials`]) and the degraded-mode fallback of its reads
//! ([`degraded`]) — so that a handler only translates HTTP and a new operation cannot
//! forget one of them.
//!
//! Every mutation runs in one PostgreSQL transaction together with its audit row (and,
//! for routing data, its `redis_outbox` row). A service takes the few dependencies it
//! needs: the database handle alone, or [`Stores`] (PostgreSQL, Redis, the liveness
//! monitor and the metrics) for what writes through to Redis, plus the credential
//! [`credentials::Cache`] where a change revokes credentials. It never sees a request
//! or the application state, and never imports a handler.

pub mod api_keys;
pub mod audit_reads;
pub mod authn;
pub mod cert_uploads;
pub mod certificates;
pub mod credentials;
pub mod degraded;
pub mod dns_checks;
pub mod dns_credentials;
pub mod domains;
pub mod expiry;
pub mod format_gate;
pub mod grants;
pub mod named_backends;
pub mod revisions;
pub mod sessions;
pub mod sync;
pub mod transfer;
pub mod users;
pub mod write;
pub mod zones;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QuerySelect, Select,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::entity::audit_log;

/// What the routing services share: PostgreSQL (through its liveness monitor, which
/// knows whether to try it), Redis (the write-through target and degraded-mode source)
/// and this instance's metrics.
#[derive(Clone)]
pub struct Stores {
    pub db: sea_orm::DatabaseConnection,
    pub store: switchyard_shared::Store,
    pub liveness: std::sync::Arc<crate::liveness::Liveness>,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The highest Redis data format this instance has read ([`format_gate`]).
    pub format_seen: std::sync::Arc<std::sync::atomic::AtomicU32>,
    /// `--secret-key`: seals uploaded certificates' keys, and opens them again when
    /// they are written to Redis; `None` when not configured.
    pub secrets: Option<switchyard_shared::secrets::SecretBox>,
}

/// Largest page a list returns; bounds the work one request can cause.
pub const MAX_PAGE: u64 = 500;
/// Page size when the caller gives none.
pub const DEFAULT_PAGE: u64 = 50;
/// Largest `offset` a list takes: more rows than any table here holds, and far inside
/// PostgreSQL's `bigint` (an offset past `i64::MAX` cannot even be sent to it).
pub const MAX_OFFSET: u64 = 1_000_000_000;
/// Longest search text (`q`): a whole hostname (253) fits.
pub const MAX_SEARCH_LEN: usize = 256;

// The query types' `#[param(...)]` bounds are literals (utoipa reads attributes, not
// constants); `crate::input::ApiQuery` enforces exactly what they publish, and the
// OpenAPI tests check that they equal the constants above.
/// A list's `total` counts at most this many matches; past it the total is a lower
/// bound (`total_exact: false`). An exact count of 100,000 zones is a scan of all of them
/// on every page, which is what made a page cost 30–150 ms; counting stops here.
pub const COUNT_CAP: u64 = 10_000;

/// How [`Caller::system`] is authenticated: by being the service itself.
const SYSTEM_VIA: &str = "system";

/// An authenticated request as the services see it: who ([`crate::access::Principal`]),
/// from where, with which request id (for the audit log).
pub struct Caller {
    pub principal: crate::access::Principal,
    pub meta: crate::input::RequestMeta,
}

impl Caller {
    pub fn new(principal: crate::access::Principal, meta: crate::input::RequestMeta) -> Self {
        Self { principal, meta }
    }

    /// [`crate::access::authorize`] for this caller.
    pub fn authorize(&self, need: crate::access::Need) -> Result<(), crate::error::ApiError> {
        crate::access::authorize(&self.principal, need)
    }

    /// The service acting on its own behalf, with an admin's rights (tools and tests
    /// that call the services without a request); audited as [`Actor::system`].
    pub fn system(what: &str) -> Self {
        Caller {
            principal: crate::access::Principal {
                user_id: Uuid::nil(),
                username: what.to_owned(),
                role: crate::access::Role::Admin,
                via: SYSTEM_VIA.to_owned(),
                session_id: None,
                grants: Vec::new(),
            },
            meta: crate::input::RequestMeta {
                request_id: String::new(),
                source_addr: None,
            },
        }
    }

    /// The audit log's view of this caller.
    pub fn actor(&self) -> Actor {
        if self.principal.via == SYSTEM_VIA {
            return Actor::system(&self.principal.username);
        }
        Actor {
            user_id: Some(self.principal.user_id),
            label: format!("{} ({})", self.principal.username, self.principal.via),
            source_addr: self.meta.source_addr.clone(),
            request_id: Some(self.meta.request_id.clone()),
        }
    }
}

/// Who made a change, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `None` for the service itself (e.g. creating the first admin).
    pub user_id: Option<Uuid>,
    /// e.g. `alice (api key sy_ab12…)`; survives the user's deletion.
    pub label: String,
    pub source_addr: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    /// The service acting on its own behalf.
    pub fn system(what: &str) -> Self {
        Actor {
            user_id: None,
            label: format!("system ({what})"),
            source_addr: None,
            request_id: None,
        }
    }
}

/// One audit record; `before`/`after` are summaries that never hold secrets.
pub struct AuditEntry<'a> {
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Writes an audit row on `conn`, which must be the transaction of the change.
pub async fn audit(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    entry: AuditEntry<'_>,
) -> Result<(), DbErr> {
    audit_log::ActiveModel {
        actor_user_id: Set(actor.user_id),
        actor_label: Set(actor.label.clone()),
        action: Set(entry.action.to_owned()),
        resource_type: Set(entry.resource_type.to_owned()),
        resource_id: Set(entry.resource_id),
        before: Set(entry.before),
        after: Set(entry.after),
        source_addr: Set(actor.source_addr.clone()),
        request_id: Set(actor.request_id.clone()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// `?limit=&offset=&q=` of every list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page, 1–500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// Items to skip, 0–1,000,000,000; 0 when absent.
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<u64>,
    /// Substring of the name / hostname, case-insensitive; at most 256 characters.
    #[param(max_length = 256)]
    pub q: Option<String>,
}

impl ListQuery {
    pub fn limit(&self) -> u64 {
        self.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
    }
    pub fn offset(&self) -> u64 {
        self.offset.unwrap_or(0)
    }
    /// `%q%` with LIKE's own wildcards escaped (escape character `\`).
    pub fn like_pattern(&self) -> Option<String> {
        let q = self.q.as_deref().filter(|q| !q.is_empty())?;
        let mut out = String::from("%");
        for c in q.to_lowercase().chars() {
            if matches!(c, '%' | '_' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('%');
        Some(out)
    }
}

/// One page of a list.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// How many items match: exact when `total_exact`, else at least this many (the
    /// count stops at 10,000).
    pub total: u64,
    pub total_exact: bool,
    pub limit: u64,
    pub offset: u64,
    /// Lists paged by key (zones): pass this as `after=` for the next page; absent on
    /// the last page. Costs the same however deep the page, unlike `offset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// A page of `items` found with `query`, of `count` matches in all.
    pub fn new(items: Vec<T>, count: Count, query: &ListQuery) -> Self {
        Page {
            items,
            total: count.total,
            total_exact: count.exact,
            limit: query.limit(),
            offset: query.offset(),
            next: None,
        }
    }
}

/// The number of rows a list matches, as far as counting went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub total: u64,
    pub exact: bool,
}

impl Count {
    /// `n` items counted to the end (e.g. filtered in memory).
    pub fn exact(n: u64) -> Self {
        Count {
            total: n.min(COUNT_CAP),
            exact: n <= COUNT_CAP,
        }
    }
}

/// Counts what `select` matches, stopping after [`COUNT_CAP`] rows: the database reads
/// at most that many index entries however large the table.
pub async fn bounded_count<E, C>(select: Select<E>, db: &C) -> Result<Count, DbErr>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let n = select
        .select_only()
        .column_as(Expr::val(1), "one")
        .limit(COUNT_CAP + 1)
        .count(db)
        .await?;
    Ok(Count::exact(n))
}

/// The name of the unique constraint `e` violated, if that is what it is.
pub fn unique_violation(e: &DbErr) -> Option<String> {
    match e.sql_err()? {
        sea_orm::SqlErr::UniqueConstraintViolation(message) => Some(message),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards() {
        let q = ListQuery {
            q: Some("A_b%".into()),
            ..Default::default()
        };
        assert_eq!(q.like_pattern().unwrap(), "%a\\_b\\%%");
        assert_eq!(ListQuery::default().like_pattern(), None);
        assert_eq!(ListQuery::default().limit(), DEFAULT_PAGE);
    }
}
