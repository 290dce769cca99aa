//! Reading the audit log: filtered by actor, resource and time, newest first, paged.
//! Admins read every record; a user reads the records of their own actions.

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ListQuery, Page, bounded_count};
use crate::access::Principal;
use crate::entity::audit_log;
use crate::error::ApiError;

/// `GET /api/v1/audit` filters; all optional, combined with AND.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// The acting user's id.
    pub actor: Option<Uuid>,
    /// `zone`, `domain`, `user`, `grant`, `api_key`, `session`, `certificate`.
    #[param(max_length = 256)]
    pub resource_type: Option<String>,
    #[param(max_length = 256)]
    pub resource_id: Option<String>,
    /// e.g. `zone.create`.
    #[param(max_length = 256)]
    pub action: Option<String>,
    /// RFC 3339; records at or after.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// RFC 3339; records before.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
    /// Records per page, 1–500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// Records to skip, 0–1,000,000,000; 0 when absent.
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor_user_id: Option<Uuid>,
    /// e.g. `alice (api key sy_ab12…)`; kept after the user is deleted.
    pub actor: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub source_addr: Option<String>,
    pub request_id: Option<String>,
}

impl From<audit_log::Model> for AuditView {
    fn from(m: audit_log::Model) -> Self {
        AuditView {
            id: m.id,
            at: m.at,
            actor_user_id: m.actor_user_id,
            actor: m.actor_label,
            action: m.action,
            resource_type: m.resource_type,
            resource_id: m.resource_id,
            // Rows written before hashes were redacted may hold them: never shown.
            before: m.before.map(redacted),
            after: m.after.map(redacted),
            source_addr: m.source_addr,
            request_id: m.request_id,
        }
    }
}

pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    query: AuditQuery,
) -> Result<Page<AuditView>, ApiError> {
    let paging = ListQuery {
        limit: query.limit,
        offset: query.offset,
        q: None,
    };
    let mut select = audit_log::Entity::find();
    if !principal.is_admin() {
        select = select.filter(audit_log::Column::ActorUserId.eq(principal.user_id));
    }
    if let Some(actor) = query.actor {
        select = select.filter(audit_log::Column::ActorUserId.eq(actor));
    }
    if let Some(t) = query.resource_type {
        select = select.filter(audit_log::Column::ResourceType.eq(t));
    }
    if let Some(id) = query.resource_id {
        select = select.filter(audit_log::Column::ResourceId.eq(id));
    }
    if let Some(action) = query.action {
        select = select.filter(audit_log::Column::Action.eq(action));
    }
    if let Some(since) = query.since {
        select = select.filter(audit_log::Column::At.gte(since));
    }
    if let Some(until) = query.until {
        select = select.filter(audit_log::Column::At.lt(until));
    }
    let count = bounded_count(select.clone(), db).await?;
    let items = select
        .order_by_desc(audit_log::Column::Id)
        .limit(paging.limit())
        .offset(paging.offset())
        .all(db)
        .await?
        .into_iter()
        .map(AuditView::from)
        .collect();
    Ok(Page::new(items, count, &paging))
}

fn redacted(mut value: serde_json::Value) -> serde_json::Value {
    switchyard_shared::policy::redact_json(&mut value);
    value
}
