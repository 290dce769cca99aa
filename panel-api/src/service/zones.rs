//! Zones: one row per hostname pattern + path prefix, validated with
//! [`ZoneSpec::validate`], written with their audit and outbox rows in one transaction,
//! then written through to Redis (see [`super::sync`]).

use std::collections::BTreeMap;

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait as _, LikeExpr},
};
use serde::Serialize;
use switchyard_shared::model::{BackendSpec, FieldError, Timeouts, UpstreamSpec, ZoneSpec};
use switchyard_shared::{HostPattern, UrlTemplate};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Actor, AuditEntry, ListQuery, Page, audit, domains, sync};
use crate::app::AppState;
use crate::auth::{Level, Need, Principal, Scope, authorize};
use crate::entity::zones;
use crate::error::ApiError;

/// A zone as the API shows it: its spec plus identity and times.
#[derive(Debug, Clone, Serialize)]
pub struct ZoneView {
    pub id: Uuid,
    pub domain_id: Uuid,
    #[serde(flatten)]
    pub spec: ZoneSpec,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Named backends zones may reference. Their CRUD is not built yet, so none exist and a
/// `{"kind":"named"}` backend is refused with "does not exist; none are defined".
pub fn named_backends() -> BTreeMap<String, UrlTemplate> {
    BTreeMap::new()
}

/// The spec a stored row was made from (the inverse of [`row_fields`]). Rows are only
/// written by `row_fields` and CHECKs pin the JSON columns' shapes, so the fallbacks to
/// empty lists are for hand-edited rows, which re-validation then reports.
pub fn spec_of(row: &zones::Model) -> ZoneSpec {
    let upstreams: Vec<UpstreamSpec> =
        serde_json::from_value(row.upstreams.clone()).unwrap_or_default();
    let backend = match row.backend_kind.as_str() {
        "upstreams" => BackendSpec::Upstreams { upstreams },
        _ => BackendSpec::None,
    };
    ZoneSpec {
        hostname: row.hostname.clone(),
        path_prefix: row.path_prefix.clone(),
        backend,
        force_https: row.force_https,
        preserve_host: row.preserve_host,
        allow: serde_json::from_value(row.allow_cidrs.clone()).unwrap_or_default(),
        timeouts: Timeouts {
            connect_ms: row.connect_timeout_ms.and_then(|v| u32::try_from(v).ok()),
            read_ms: row.read_timeout_ms.and_then(|v| u32::try_from(v).ok()),
        },
    }
}

fn view_of(row: zones::Model) -> ZoneView {
    ZoneView {
        id: row.id,
        domain_id: row.domain_id,
        spec: spec_of(&row),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// A validated spec, normalised: what is stored.
struct Checked {
    spec: ZoneSpec,
    domain_id: Uuid,
}

/// Validates a spec completely — shape, values, and that the hostname lies within an
/// existing domain — and reports every problem at once.
async fn check(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    zone_id: Uuid,
    spec: ZoneSpec,
) -> Result<Checked, ApiError> {
    let validated = spec.validate("zone", &zone_id.to_string(), &named_backends());
    let (mut errors, host) = match &validated {
        Ok(valid) => (Vec::new(), Some(valid.host.clone())),
        Err(e) => (e.errors.clone(), HostPattern::parse(&spec.hostname).ok()),
    };
    let mut domain_id = None;
    if let Some(host) = &host {
        // A domain the caller may not edit answers like no domain at all, so that
        // probing hostnames does not reveal other tenants' domains.
        match domains::containing(conn, host.as_str()).await? {
            Some(domain) if principal.domains(Level::Edit).contains(domain.id) => {
                domain_id = Some(domain.id)
            }
            _ => errors.push(FieldError {
                field: "hostname".into(),
                problem: format!(
                    "\"{host}\" lies within no domain you may edit; it must equal such a \
                     domain or end in .<domain> (an admin creates domains and grants them)"
                ),
            }),
        }
    }
    match (validated, domain_id) {
        (Ok(valid), Some(domain_id)) if errors.is_empty() => Ok(Checked {
            // Stored normalised, so lookups and the Redis key agree.
            spec: ZoneSpec {
                hostname: valid.host.as_str().to_owned(),
                path_prefix: valid.route.path_prefix.as_str().to_owned(),
                ..spec
            },
            domain_id,
        }),
        _ => Err(ApiError::Invalid {
            message: format!(
                "zone \"{}\" is invalid; see details",
                spec.hostname.escape_debug()
            ),
            details: errors,
        }),
    }
}

/// Fills the row's columns from a checked spec.
fn row_fields(row: &mut zones::ActiveModel, checked: &Checked) {
    let spec = &checked.spec;
    let (kind, upstreams) = match &spec.backend {
        BackendSpec::None => ("none", serde_json::json!([])),
        BackendSpec::Upstreams { upstreams } => (
            "upstreams",
            serde_json::to_value(upstreams).unwrap_or_else(|_| serde_json::json!([])),
        ),
        // Refused by `check` while no named backends exist.
        BackendSpec::Named { .. } => ("none", serde_json::json!([])),
    };
    row.domain_id = Set(checked.domain_id);
    row.hostname = Set(spec.hostname.clone());
    row.path_prefix = Set(spec.path_prefix.clone());
    row.backend_kind = Set(kind.to_owned());
    row.upstreams = Set(upstreams);
    row.force_https = Set(spec.force_https);
    row.preserve_host = Set(spec.preserve_host);
    row.allow_cidrs = Set(serde_json::json!(spec.allow));
    // Validation bounds both timeouts far below i32::MAX.
    row.connect_timeout_ms = Set(spec.timeouts.connect_ms.map(|v| v as i32));
    row.read_timeout_ms = Set(spec.timeouts.read_ms.map(|v| v as i32));
}

fn conflict(spec: &ZoneSpec, e: sea_orm::DbErr) -> ApiError {
    match super::unique_violation(&e) {
        Some(_) => ApiError::Conflict {
            message: format!(
                "a zone for \"{}\" with path prefix \"{}\" already exists",
                spec.hostname, spec.path_prefix
            ),
            details: vec![FieldError {
                field: "path_prefix".into(),
                problem: "this hostname already has a zone with this path prefix".into(),
            }],
        },
        None => e.into(),
    }
}

fn summary(view: &ZoneView) -> serde_json::Value {
    serde_json::to_value(view).unwrap_or(serde_json::Value::Null)
}

pub async fn create(
    state: &AppState,
    principal: &Principal,
    actor: &Actor,
    spec: ZoneSpec,
) -> Result<ZoneView, ApiError> {
    let id = Uuid::new_v4();
    let txn = state.db.begin().await?;
    let checked = check(&txn, principal, id, spec).await?;
    let mut row = zones::ActiveModel {
        id: Set(id),
        template_params: Set(serde_json::json!({})),
        ..Default::default()
    };
    row_fields(&mut row, &checked);
    let view = view_of(
        row.insert(&txn)
            .await
            .map_err(|e| conflict(&checked.spec, e))?,
    );
    audit(
        &txn,
        actor,
        AuditEntry {
            action: "zone.create",
            resource_type: "zone",
            resource_id: id.to_string(),
            before: None,
            after: Some(summary(&view)),
        },
    )
    .await?;
    let pending = sync::enqueue(&txn, [view.spec.hostname.clone()]).await?;
    txn.commit().await?;
    sync::write_through(state, pending).await;
    Ok(view)
}

/// One zone the caller may read.
pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: Uuid,
) -> Result<ZoneView, ApiError> {
    let view = zones::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(view_of)
        .ok_or(ApiError::NotFound)?;
    authorize(principal, Need::Domain(view.domain_id, Level::Read))?;
    Ok(view)
}

/// The zones of the domains the caller may read; `q` searches the hostname.
pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    query: &ListQuery,
) -> Result<Page<ZoneView>, ApiError> {
    let mut select = zones::Entity::find();
    if let Scope::Only(ids) = principal.domains(Level::Read) {
        select = select.filter(zones::Column::DomainId.is_in(ids));
    }
    if let Some(pattern) = query.like_pattern() {
        select = select
            .filter(Expr::col(zones::Column::Hostname).like(LikeExpr::new(pattern).escape('\\')));
    }
    let total = select.clone().count(db).await?;
    let items = select
        .order_by_asc(zones::Column::Hostname)
        .order_by_asc(zones::Column::PathPrefix)
        .order_by_asc(zones::Column::Id)
        .limit(query.limit())
        .offset(query.offset())
        .all(db)
        .await?
        .into_iter()
        .map(view_of)
        .collect();
    Ok(Page {
        items,
        total,
        limit: query.limit(),
        offset: query.offset(),
    })
}

pub async fn update(
    state: &AppState,
    principal: &Principal,
    actor: &Actor,
    id: Uuid,
    spec: ZoneSpec,
) -> Result<ZoneView, ApiError> {
    let txn = state.db.begin().await?;
    // Locked so that two concurrent updates apply one after the other.
    let existing = zones::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize(principal, Need::Domain(existing.domain_id, Level::Edit))?;
    let checked = check(&txn, principal, id, spec).await?;
    let before = view_of(existing.clone());
    let mut row: zones::ActiveModel = existing.into();
    row_fields(&mut row, &checked);
    row.updated_at = Set(OffsetDateTime::now_utc());
    let after = view_of(
        row.update(&txn)
            .await
            .map_err(|e| conflict(&checked.spec, e))?,
    );
    audit(
        &txn,
        actor,
        AuditEntry {
            action: "zone.update",
            resource_type: "zone",
            resource_id: id.to_string(),
            before: Some(summary(&before)),
            after: Some(summary(&after)),
        },
    )
    .await?;
    let pending = sync::enqueue(
        &txn,
        [before.spec.hostname.clone(), after.spec.hostname.clone()],
    )
    .await?;
    txn.commit().await?;
    sync::write_through(state, pending).await;
    Ok(after)
}

pub async fn delete(
    state: &AppState,
    principal: &Principal,
    actor: &Actor,
    id: Uuid,
) -> Result<(), ApiError> {
    let txn = state.db.begin().await?;
    let existing = zones::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize(principal, Need::Domain(existing.domain_id, Level::Edit))?;
    let before = view_of(existing);
    zones::Entity::delete_by_id(id).exec(&txn).await?;
    audit(
        &txn,
        actor,
        AuditEntry {
            action: "zone.delete",
            resource_type: "zone",
            resource_id: id.to_string(),
            before: Some(summary(&before)),
            after: None,
        },
    )
    .await?;
    let pending = sync::enqueue(&txn, [before.spec.hostname.clone()]).await?;
    txn.commit().await?;
    sync::write_through(state, pending).await;
    Ok(())
}
