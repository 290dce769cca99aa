//! Grants: a user's `read` or `edit` access to one domain or one named backend. Only
//! admins manage them; [`crate::access::authorize`] reads them on every request.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, SqlErr,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchyard_shared::model::FieldError;
use time::OffsetDateTime;
use uuid::Uuid;

use super::credentials::{self, Cache};
use super::write::{Answer, Write};
use super::{Actor, AuditEntry, Caller, Page, bounded_count};
use crate::access::{Level, Need, Principal, authorize};
use crate::entity::grants;
use crate::error::ApiError;

/// `POST /api/v1/grants` body: exactly one of `domain_id` and `named_backend_id`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    pub user_id: Uuid,
    pub domain_id: Option<Uuid>,
    pub named_backend_id: Option<Uuid>,
    /// `read` or `edit`.
    #[schema(pattern = "^(read|edit)$")]
    pub level: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GrantView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub domain_id: Option<Uuid>,
    pub named_backend_id: Option<Uuid>,
    pub level: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<grants::Model> for GrantView {
    fn from(m: grants::Model) -> Self {
        GrantView {
            id: m.id,
            user_id: m.user_id,
            domain_id: m.domain_id,
            named_backend_id: m.named_backend_id,
            level: m.level,
            created_at: m.created_at,
        }
    }
}

/// `?user_id=&domain_id=&named_backend_id=&limit=&offset=`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GrantQuery {
    pub user_id: Option<Uuid>,
    pub domain_id: Option<Uuid>,
    pub named_backend_id: Option<Uuid>,
    /// Grants per page, 1–500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// Grants to skip, 0–1,000,000,000; 0 when absent.
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<u64>,
}

fn field(field: &str, problem: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        problem: problem.into(),
    }
}

async fn create_row(
    db: &DatabaseConnection,
    actor: &Actor,
    input: NewGrant,
    dry_run: bool,
) -> Result<Answer<GrantView>, ApiError> {
    let mut problems = Vec::new();
    if Level::parse(&input.level).is_none() {
        problems.push(field(
            "level",
            format!(
                "\"{}\" is not a level: use read or edit",
                input.level.escape_debug()
            ),
        ));
    }
    if input.domain_id.is_some() == input.named_backend_id.is_some() {
        problems.push(field(
            "domain_id",
            "give exactly one of domain_id and named_backend_id",
        ));
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid {
            message: "the grant is invalid; see details".into(),
            details: problems,
        });
    }
    let mut w = Write::begin(db, dry_run).await?;
    let row = grants::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(input.user_id),
        domain_id: Set(input.domain_id),
        named_backend_id: Set(input.named_backend_id),
        level: Set(input.level.clone()),
        ..Default::default()
    }
    .insert(w.txn())
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ApiError::Conflict {
            message: "this user already has a grant on this target; delete it first".into(),
            details: vec![field("user_id", "already granted on this target")],
        },
        Some(SqlErr::ForeignKeyConstraintViolation(m)) => {
            let which = if m.contains("user_id") {
                "user_id"
            } else if m.contains("named_backend_id") {
                "named_backend_id"
            } else {
                "domain_id"
            };
            ApiError::invalid_field(which, "no such id exists")
        }
        _ => e.into(),
    })?;
    let view = GrantView::from(row);
    w.audit(
        actor,
        AuditEntry {
            action: "grant.create",
            resource_type: "grant",
            resource_id: view.id.to_string(),
            before: None,
            after: Some(json!(view)),
        },
    )
    .await?;
    w.finish(view).await
}

pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    query: &GrantQuery,
) -> Result<Page<GrantView>, ApiError> {
    authorize(principal, Need::Admin)?;
    let paging = super::ListQuery {
        limit: query.limit,
        offset: query.offset,
        q: None,
    };
    let mut select = grants::Entity::find();
    if let Some(id) = query.user_id {
        select = select.filter(grants::Column::UserId.eq(id));
    }
    if let Some(id) = query.domain_id {
        select = select.filter(grants::Column::DomainId.eq(id));
    }
    if let Some(id) = query.named_backend_id {
        select = select.filter(grants::Column::NamedBackendId.eq(id));
    }
    let count = bounded_count(select.clone(), db).await?;
    let items = select
        .order_by_asc(grants::Column::CreatedAt)
        .order_by_asc(grants::Column::Id)
        .limit(paging.limit())
        .offset(paging.offset())
        .all(db)
        .await?
        .into_iter()
        .map(GrantView::from)
        .collect();
    Ok(Page::new(items, count, &paging))
}

/// Deletes a grant; answers whose grant it was.
async fn delete_row(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    dry_run: bool,
) -> Result<Answer<Uuid>, ApiError> {
    let mut w = Write::begin(db, dry_run).await?;
    let existing = grants::Entity::find_by_id(id)
        .lock_exclusive()
        .one(w.txn())
        .await?
        .ok_or(ApiError::NotFound)?;
    let user_id = existing.user_id;
    delete_in(&mut w, actor, grants::Column::Id.eq(id)).await?;
    w.finish(user_id).await
}

/// Deletes, inside `w`, every grant `which` selects (one by id, a user's, a domain's),
/// each with its `grant.delete` audit entry: the one place grants go.
pub(super) async fn delete_in(
    w: &mut Write,
    actor: &Actor,
    which: sea_orm::sea_query::SimpleExpr,
) -> Result<(), ApiError> {
    let granted = grants::Entity::find()
        .filter(which.clone())
        .order_by_asc(grants::Column::CreatedAt)
        .all(w.txn())
        .await?;
    grants::Entity::delete_many()
        .filter(which)
        .exec(w.txn())
        .await?;
    for grant in granted {
        w.audit(
            actor,
            AuditEntry {
                action: "grant.delete",
                resource_type: "grant",
                resource_id: grant.id.to_string(),
                before: Some(json!(GrantView::from(grant))),
                after: None,
            },
        )
        .await?;
    }
    Ok(())
}

/// Grants a user a domain or named backend; what degraded mode remembers of the user
/// (with the old grants) is dropped.
pub async fn create(
    db: &DatabaseConnection,
    cache: &Cache,
    caller: &Caller,
    input: NewGrant,
    dry_run: bool,
) -> Result<Answer<GrantView>, ApiError> {
    caller.authorize(Need::Admin)?;
    let actor = &caller.actor();
    let answer = create_row(db, actor, input, dry_run).await?;
    if let Answer::Done(created) = &answer {
        credentials::forget_user(cache, created.user_id, None).await;
    }
    Ok(answer)
}

/// Deletes a grant; what degraded mode remembers of its user (with the old grants) is
/// dropped. Done: the user whose grant it was.
pub async fn delete(
    db: &DatabaseConnection,
    cache: &Cache,
    caller: &Caller,
    id: Uuid,
    dry_run: bool,
) -> Result<Answer<Uuid>, ApiError> {
    caller.authorize(Need::Admin)?;
    let actor = &caller.actor();
    let answer = delete_row(db, actor, id, dry_run).await?;
    if let Answer::Done(user_id) = &answer {
        credentials::forget_user(cache, *user_id, None).await;
    }
    Ok(answer)
}
