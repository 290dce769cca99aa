//! Users and their passwords (argon2id).

use std::sync::LazyLock;

use anyhow::Context as _;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait as _, Func, LikeExpr},
};
use serde_json::json;
use switchyard_shared::model::FieldError;
use uuid::Uuid;

use super::{Actor, AuditEntry, ListQuery, Page, audit, bounded_count};
use crate::entity::{sessions, users};
use crate::error::ApiError;

/// Shortest first-admin password accepted from the environment.
pub const MIN_ADMIN_PASSWORD_LEN: usize = 12;

/// Hashes a password with argon2id (the crate's default parameters, OWASP's
/// recommendation). Hashing takes tens of milliseconds of CPU, so it runs on the blocking
/// pool instead of stalling the async workers.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
    .await
    .context("password hashing task")?
}

/// Verifies a password against a stored PHC string, on the blocking pool.
/// Checks a password against an argon2id PHC string, off the async threads.
pub async fn verify_password(password: String, hash: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .context("password verification task")?
}

/// Verified against when the username is unknown, so that an unknown user takes as long
/// as a wrong password and response times do not reveal which usernames exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"no such user", &SaltString::generate(&mut OsRng))
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// The enabled user with this username (case-insensitive) and password, if any.
pub async fn verify_login(
    db: &DatabaseConnection,
    username: &str,
    password: &str,
) -> Result<Option<users::Model>, ApiError> {
    let user = users::Entity::find()
        .filter(
            Expr::expr(Func::lower(Expr::col(users::Column::Username))).eq(username.to_lowercase()),
        )
        .one(db)
        .await?;
    let hash = match &user {
        Some(u) => u.password_hash.clone(),
        None => tokio::task::spawn_blocking(|| DUMMY_HASH.clone())
            .await
            .context("dummy hash task")?,
    };
    let ok = verify_password(password.to_owned(), hash).await?;
    Ok(user.filter(|u| ok && !u.disabled))
}

/// Creates a user (with its audit record) in one transaction.
pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor,
    username: &str,
    password: &str,
    role: &str,
) -> Result<users::Model, ApiError> {
    let password_hash = hash_password(password.to_owned()).await?;
    let txn = db.begin().await?;
    let user = users::ActiveModel {
        id: Set(Uuid::new_v4()),
        username: Set(username.to_owned()),
        password_hash: Set(password_hash),
        role: Set(role.to_owned()),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| match super::unique_violation(&e) {
        Some(_) => ApiError::Conflict {
            message: format!("a user named \"{username}\" already exists"),
            details: vec![],
        },
        None => e.into(),
    })?;
    audit(
        &txn,
        actor,
        AuditEntry {
            action: "user.create",
            resource_type: "user",
            resource_id: user.id.to_string(),
            before: None,
            after: Some(json!({"username": user.username, "role": user.role})),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

/// Creates the first admin from the environment when no user exists yet; returns whether
/// it did. Later starts leave users alone, so changing the variables changes nothing.
pub async fn ensure_first_admin(
    db: &DatabaseConnection,
    username: &str,
    password: &str,
) -> Result<bool, ApiError> {
    if users::Entity::find().count(db).await? > 0 {
        return Ok(false);
    }
    if username.trim().is_empty() || password.chars().count() < MIN_ADMIN_PASSWORD_LEN {
        return Err(ApiError::Invalid {
            message: format!(
                "SWITCHYARD_ADMIN_USER must not be empty and SWITCHYARD_ADMIN_PASSWORD must \
                 have at least {MIN_ADMIN_PASSWORD_LEN} characters"
            ),
            details: vec![],
        });
    }
    let actor = Actor::system("first admin from environment");
    match create(db, &actor, username.trim(), password, "admin").await {
        Ok(_) => Ok(true),
        // Another instance starting at the same moment created it first.
        Err(ApiError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Shortest password accepted for any user.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest username; names are handles, not documents.
pub const MAX_USERNAME_LEN: usize = 64;
/// Longest password: argon2 would take anything, but a megabyte "password" is an attack.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A user as the API shows it: never the password hash.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub role: String,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: time::OffsetDateTime,
}

impl From<users::Model> for UserView {
    fn from(m: users::Model) -> Self {
        UserView {
            id: m.id,
            username: m.username,
            role: m.role,
            disabled: m.disabled,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// `POST /api/v1/users` body.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1–64 characters from a–z, A–Z, 0–9 and `.` `_` `-` `@`.
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$")]
    pub username: String,
    /// 12–1024 characters.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
    /// `admin` or `user` (default).
    #[serde(default = "default_role")]
    #[schema(pattern = "^(admin|user)$")]
    pub role: String,
}

fn default_role() -> String {
    "user".into()
}

/// `PATCH /api/v1/users/{id}` body: only the fields given change.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// `admin` or `user`.
    #[schema(pattern = "^(admin|user)$")]
    pub role: Option<String>,
    pub disabled: Option<bool>,
    /// 12–1024 characters; ends the user's sessions.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: Option<String>,
}

fn check_username(username: &str, problems: &mut Vec<FieldError>) {
    let ok = !username.is_empty()
        && username.chars().count() <= MAX_USERNAME_LEN
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !ok {
        problems.push(FieldError {
            field: "username".into(),
            problem: format!(
                "\"{}\" is not a username: use 1–{MAX_USERNAME_LEN} characters from a–z, \
                 A–Z, 0–9 and . _ - @",
                username.escape_debug()
            ),
        });
    }
}

fn check_password(password: &str, problems: &mut Vec<FieldError>) {
    let n = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&n) {
        problems.push(FieldError {
            field: "password".into(),
            problem: format!(
                "has {n} characters; use {MIN_PASSWORD_LEN}–{MAX_PASSWORD_LEN} (the value is \
                 not repeated here)"
            ),
        });
    }
}

fn check_role(role: &str, problems: &mut Vec<FieldError>) {
    if !matches!(role, "admin" | "user") {
        problems.push(FieldError {
            field: "role".into(),
            problem: format!(
                "\"{}\" is not a role: use admin or user",
                role.escape_debug()
            ),
        });
    }
}

fn invalid(problems: Vec<FieldError>) -> Result<(), ApiError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            message: "the user is invalid; see details".into(),
            details: problems,
        })
    }
}

/// Validates and creates a user (admin endpoint).
pub async fn create_checked(
    db: &DatabaseConnection,
    actor: &Actor,
    input: NewUser,
) -> Result<UserView, ApiError> {
    let mut problems = Vec::new();
    check_username(&input.username, &mut problems);
    check_password(&input.password, &mut problems);
    check_role(&input.role, &mut problems);
    invalid(problems)?;
    Ok(
        create(db, actor, &input.username, &input.password, &input.role)
            .await?
            .into(),
    )
}

/// Users, by username; `q` searches the username.
pub async fn list(db: &DatabaseConnection, query: &ListQuery) -> Result<Page<UserView>, ApiError> {
    let mut select = users::Entity::find();
    if let Some(pattern) = query.like_pattern() {
        select = select.filter(
            Expr::expr(Func::lower(Expr::col(users::Column::Username)))
                .like(LikeExpr::new(pattern).escape('\\')),
        );
    }
    let count = bounded_count(select.clone(), db).await?;
    let items = select
        .order_by_asc(users::Column::Username)
        .limit(query.limit())
        .offset(query.offset())
        .all(db)
        .await?
        .into_iter()
        .map(UserView::from)
        .collect();
    Ok(Page::new(items, count, query))
}

pub async fn get(db: &DatabaseConnection, id: Uuid) -> Result<UserView, ApiError> {
    users::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(UserView::from)
        .ok_or(ApiError::NotFound)
}

/// Changes role, disabled flag or password. A new password or disabling ends the user's
/// sessions, so a leaked cookie does not outlive the reset.
pub async fn update(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    patch: UserPatch,
) -> Result<UserView, ApiError> {
    let mut problems = Vec::new();
    if let Some(role) = &patch.role {
        check_role(role, &mut problems);
    }
    if let Some(password) = &patch.password {
        check_password(password, &mut problems);
    }
    invalid(problems)?;
    let password_hash = match &patch.password {
        Some(p) => Some(hash_password(p.clone()).await?),
        None => None,
    };
    let txn = db.begin().await?;
    let existing = users::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    let before = UserView::from(existing.clone());
    let mut row: users::ActiveModel = existing.into();
    if let Some(role) = patch.role {
        row.role = Set(role);
    }
    if let Some(disabled) = patch.disabled {
        row.disabled = Set(disabled);
    }
    if let Some(hash) = password_hash {
        row.password_hash = Set(hash);
    }
    row.updated_at = Set(time::OffsetDateTime::now_utc());
    let after = UserView::from(row.update(&txn).await?);
    if patch.password.is_some() || after.disabled {
        sessions::Entity::update_many()
            .col_expr(
                sessions::Column::RevokedAt,
                Expr::value(time::OffsetDateTime::now_utc()),
            )
            .filter(sessions::Column::UserId.eq(id))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
    }
    let mut after_summary =
        json!({"username": after.username, "role": after.role, "disabled": after.disabled});
    if patch.password.is_some() {
        after_summary["password"] = json!("changed");
    }
    audit(
        &txn,
        actor,
        AuditEntry {
            action: "user.update",
            resource_type: "user",
            resource_id: id.to_string(),
            before: Some(json!({"username": before.username, "role": before.role, "disabled": before.disabled})),
            after: Some(after_summary),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

/// Username of the admin created with a one-time password when the environment names
/// none.
pub const GENERATED_ADMIN: &str = "admin";

/// When no user exists and the environment names no first admin: creates
/// [`GENERATED_ADMIN`] with a random 128-bit password and returns it, for the caller to
/// print once. `None` when users exist already (every later start).
pub async fn ensure_generated_admin(db: &DatabaseConnection) -> Result<Option<String>, ApiError> {
    if users::Entity::find().count(db).await? > 0 {
        return Ok(None);
    }
    let password = crate::auth::generate_token()?[..32].to_owned();
    let actor = Actor::system("first admin with a one-time password");
    match create(db, &actor, GENERATED_ADMIN, &password, "admin").await {
        Ok(_) => Ok(Some(password)),
        Err(ApiError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
