//! API keys: created (shown once), listed, revoked — always the caller's own.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait as _, Func, LikeExpr},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::credentials::{self, Cache};
use super::write::{Answer, Write};
use super::{Actor, AuditEntry, ListQuery, Page, bounded_count};
use crate::access::{self, KEY_MARKER};
use crate::entity::api_keys;
use crate::error::ApiError;

/// Longest key name; names are labels, not documents.
pub const MAX_NAME_LEN: usize = 100;

/// `POST /api/v1/api-keys` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// RFC 3339; absent or null for a key that does not expire.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A key as listed: never the secret, never its hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// `sy_<prefix>`: enough to recognise the key, useless to authenticate.
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// When the key last authenticated a request (to the minute: recorded at most once
    /// a minute); `null` if never.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl From<api_keys::Model> for ApiKeyView {
    fn from(m: api_keys::Model) -> Self {
        ApiKeyView {
            id: m.id,
            name: m.name,
            prefix: format!("{KEY_MARKER}{}", m.prefix),
            created_at: m.created_at,
            expires_at: m.expires_at,
            revoked_at: m.revoked_at,
            last_used_at: m.last_used_at,
        }
    }
}

/// The answer to a creation: the only time the full key is ever returned.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub view: ApiKeyView,
    pub key: String,
}

pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor,
    user_id: Uuid,
    input: NewApiKey,
    dry_run: bool,
) -> Result<Answer<CreatedApiKey>, ApiError> {
    let name = input.name.trim();
    let mut problems = Vec::new();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        problems.push(switchyard_shared::model::FieldError {
            field: "name".into(),
            problem: format!("must be 1–{MAX_NAME_LEN} characters"),
        });
    }
    if input
        .expires_at
        .is_some_and(|t| t <= OffsetDateTime::now_utc())
    {
        problems.push(switchyard_shared::model::FieldError {
            field: "expires_at".into(),
            problem: "lies in the past; give a future time or leave it out".into(),
        });
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid {
            message: "the API key request is invalid; see details".into(),
            details: problems,
        });
    }
    // A dry run makes a key too (its row is rolled back), but never answers it.
    let key = access::generate_key()?;
    let mut w = Write::begin(db, dry_run).await?;
    let row = api_keys::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(user_id),
        name: Set(name.to_owned()),
        prefix: Set(key.prefix),
        secret_hash: Set(key.secret_hash),
        expires_at: Set(input.expires_at),
        ..Default::default()
    }
    .insert(w.txn())
    .await?;
    let view = ApiKeyView::from(row);
    w.audit(
        actor,
        AuditEntry {
            action: "api_key.create",
            resource_type: "api_key",
            resource_id: view.id.to_string(),
            before: None,
            after: Some(json!({"name": view.name, "prefix": view.prefix, "user_id": user_id})),
        },
    )
    .await?;
    w.finish(CreatedApiKey {
        view,
        key: key.full,
    })
    .await
}

/// The caller's own keys, newest first; `q` searches the name.
pub async fn list(
    db: &DatabaseConnection,
    user_id: Uuid,
    query: &ListQuery,
) -> Result<Page<ApiKeyView>, ApiError> {
    let mut select = api_keys::Entity::find().filter(api_keys::Column::UserId.eq(user_id));
    if let Some(pattern) = query.like_pattern() {
        select = select.filter(
            Expr::expr(Func::lower(Expr::col(api_keys::Column::Name)))
                .like(LikeExpr::new(pattern).escape('\\')),
        );
    }
    let count = bounded_count(select.clone(), db).await?;
    let items = select
        .order_by_desc(api_keys::Column::CreatedAt)
        .order_by_desc(api_keys::Column::Id)
        .limit(query.limit())
        .offset(query.offset())
        .all(db)
        .await?
        .into_iter()
        .map(ApiKeyView::from)
        .collect();
    Ok(Page::new(items, count, query))
}

/// Revokes one of the caller's keys; someone else's key is a 404. Revoking twice is
/// harmless and audited once. Answers the key's stored digest (what degraded mode
/// remembers it by).
async fn revoke_row(
    db: &DatabaseConnection,
    actor: &Actor,
    user_id: Uuid,
    id: Uuid,
    dry_run: bool,
) -> Result<Answer<String>, ApiError> {
    let mut w = Write::begin(db, dry_run).await?;
    let key = api_keys::Entity::find_by_id(id)
        .filter(api_keys::Column::UserId.eq(user_id))
        .lock_exclusive()
        .one(w.txn())
        .await?
        .ok_or(ApiError::NotFound)?;
    let secret_hash = key.secret_hash.clone();
    if key.revoked_at.is_some() {
        return w.finish(secret_hash).await;
    }
    let prefix = format!("{KEY_MARKER}{}", key.prefix);
    let mut active: api_keys::ActiveModel = key.into();
    active.revoked_at = Set(Some(OffsetDateTime::now_utc()));
    active.update(w.txn()).await?;
    w.audit(
        actor,
        AuditEntry {
            action: "api_key.revoke",
            resource_type: "api_key",
            resource_id: id.to_string(),
            before: Some(json!({"prefix": prefix, "revoked": false})),
            after: Some(json!({"prefix": prefix, "revoked": true})),
        },
    )
    .await?;
    w.finish(secret_hash).await
}

/// Revokes one of the caller's keys; the key does not live on in degraded mode's
/// memory. Done: the key's digest.
pub async fn revoke(
    db: &DatabaseConnection,
    cache: &Cache,
    actor: &Actor,
    user_id: Uuid,
    id: Uuid,
    dry_run: bool,
) -> Result<Answer<String>, ApiError> {
    let answer = revoke_row(db, actor, user_id, id, dry_run).await?;
    if let Answer::Done(digest) = &answer {
        credentials::forget_auth(cache, &credentials::key_token(digest)).await;
    }
    Ok(answer)
}
