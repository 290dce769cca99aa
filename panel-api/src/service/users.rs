//! Users and their passwords (argon2id).

use std::sync::LazyLock;

use anyhow::Context as _;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait,
    sea_query::{Expr, ExprTrait as _, Func},
};
use serde_json::json;
use uuid::Uuid;

use super::{Actor, AuditEntry, audit};
use crate::entity::users;
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
async fn verify_password(password: String, hash: String) -> anyhow::Result<bool> {
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
