//! Domains: the apex names zones live under. Creating one also queues a pending
//! wildcard certificate order for the cert worker, in the same transaction.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
    sea_query::{Expr, ExprTrait as _, LikeExpr},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Actor, AuditEntry, ListQuery, Page, audit, bounded_count};
use crate::auth::{Level, Need, Principal, Scope, authorize};
use crate::entity::domains;
use crate::error::ApiError;

/// `POST /api/v1/domains` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    /// The apex, e.g. `example.com`; normalised (lower case, punycode, no trailing dot).
    pub name: String,
    /// The DNS credential cert-worker solves this domain's DNS-01 challenges with.
    #[serde(default)]
    pub dns_credential_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DomainView {
    pub id: Uuid,
    pub name: String,
    pub dns_credential_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<domains::Model> for DomainView {
    fn from(m: domains::Model) -> Self {
        DomainView {
            id: m.id,
            name: m.name,
            dns_credential_id: m.dns_credential_id,
            created_at: m.created_at,
        }
    }
}

pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor,
    input: NewDomain,
) -> Result<DomainView, ApiError> {
    let name = switchyard_shared::normalize_hostname(&input.name)
        .map_err(|e| ApiError::invalid_field("name", e.to_string()))?;
    let txn = db.begin().await?;
    let view = insert(
        &txn,
        actor,
        Uuid::new_v4(),
        name,
        input.dns_credential_id,
        "domain.create",
    )
    .await?;
    super::revisions::record(
        &txn,
        actor,
        "domain.create",
        None,
        vec![super::revisions::Touched::domain(None, Some(&view))],
    )
    .await?;
    txn.commit().await?;
    Ok(view)
}

/// Inserts a domain (normalised `name`) with its pending certificate order and audit row
/// (`action`) on `txn`; the caller records the revision. A rollback re-creates a deleted
/// domain with its old id this way.
pub async fn insert(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    name: String,
    dns_credential_id: Option<Uuid>,
    action: &str,
) -> Result<DomainView, ApiError> {
    let row = domains::ActiveModel {
        id: Set(id),
        name: Set(name.clone()),
        dns_credential_id: Set(dns_credential_id),
        created_by: Set(actor.user_id),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map_err(|e| match super::unique_violation(&e) {
        Some(_) => ApiError::Conflict {
            message: format!("domain \"{name}\" already exists"),
            details: vec![switchyard_shared::model::FieldError {
                field: "name".into(),
                problem: "already exists".into(),
            }],
        },
        None => match e.sql_err() {
            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => ApiError::invalid_field(
                "dns_credential_id",
                "no DNS credential with this id exists",
            ),
            _ => e.into(),
        },
    })?;
    let view = DomainView::from(row);
    // The cert worker's queue: a pending wildcard order (`*.d` and `d`) for every domain.
    let names = json!([format!("*.{}", view.name), view.name]);
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO certificates (domain_id, names, status) VALUES ($1, $2, 'pending')",
        [view.id.into(), names.clone().into()],
    ))
    .await?;
    audit(
        txn,
        actor,
        AuditEntry {
            action,
            resource_type: "domain",
            resource_id: view.id.to_string(),
            before: None,
            after: Some(
                json!({"name": view.name, "certificate": {"names": names, "status": "pending"}}),
            ),
        },
    )
    .await?;
    Ok(view)
}

/// The domains the caller may read; `q` searches the name.
pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    query: &ListQuery,
) -> Result<Page<DomainView>, ApiError> {
    let mut select = domains::Entity::find();
    if let Scope::Only(ids) = principal.domains(Level::Read) {
        select = select.filter(domains::Column::Id.is_in(ids));
    }
    if let Some(pattern) = query.like_pattern() {
        select = select
            .filter(Expr::col(domains::Column::Name).like(LikeExpr::new(pattern).escape('\\')));
    }
    let count = bounded_count(select.clone(), db).await?;
    let items = select
        .order_by_asc(domains::Column::Name)
        .limit(query.limit())
        .offset(query.offset())
        .all(db)
        .await?
        .into_iter()
        .map(DomainView::from)
        .collect();
    Ok(Page::new(items, count, query))
}

/// One domain the caller may read.
pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: Uuid,
) -> Result<DomainView, ApiError> {
    authorize(principal, Need::Domain(id, Level::Read))?;
    domains::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(DomainView::from)
        .ok_or(ApiError::NotFound)
}

/// Every domain, by name (the copy degraded mode keeps in Redis).
pub async fn all(conn: &impl ConnectionTrait) -> Result<Vec<DomainView>, ApiError> {
    Ok(domains::Entity::find()
        .order_by_asc(domains::Column::Name)
        .all(conn)
        .await?
        .into_iter()
        .map(DomainView::from)
        .collect())
}

/// Every domain's name and id (bulk writes resolve hostnames against these in memory).
pub async fn all_names(
    conn: &impl ConnectionTrait,
) -> Result<std::collections::HashMap<String, Uuid>, ApiError> {
    Ok(domains::Entity::find()
        .select_only()
        .column(domains::Column::Name)
        .column(domains::Column::Id)
        .into_tuple::<(String, Uuid)>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

/// The most specific domain a hostname pattern lies within: the domain itself or any
/// name ending in `.<domain>`.
pub async fn containing(
    conn: &impl ConnectionTrait,
    hostname: &str,
) -> Result<Option<domains::Model>, ApiError> {
    // right(host, length(name) + 1) = '.' || name  — a suffix test with no LIKE
    // wildcards to escape.
    let suffix = Expr::cust_with_values(
        "right($1, length(name) + 1) = '.' || name",
        [hostname.to_owned()],
    );
    Ok(domains::Entity::find()
        .filter(
            Condition::any()
                .add(domains::Column::Name.eq(hostname))
                .add(suffix),
        )
        .order_by_desc(Expr::cust("length(name)"))
        .one(conn)
        .await?)
}
