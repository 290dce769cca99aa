//! Login sessions (the web panel's cookie): created at login, checked on every
//! cookie-authenticated request, revoked at logout. Only digests of the session and CSRF
//! tokens are stored, so a copy of the database logs nobody in.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait,
};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Actor, AuditEntry, audit};
use crate::access::{generate_token, hash_secret};
use crate::entity::{sessions, users};
use crate::error::ApiError;

/// A session just created: the two tokens, returned to the browser once.
pub struct NewSession {
    pub id: Uuid,
    pub token: String,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

/// Creates a session for `user` (audited as `session.create`).
pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor,
    user: &users::Model,
    ttl: std::time::Duration,
) -> Result<NewSession, ApiError> {
    let token = generate_token()?;
    let csrf_token = generate_token()?;
    let expires_at = OffsetDateTime::now_utc()
        + time::Duration::try_from(ttl).map_err(|e| anyhow::anyhow!("session ttl: {e}"))?;
    let txn = db.begin().await?;
    let row = sessions::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(user.id),
        token_hash: Set(hash_secret(&token)),
        csrf_token_hash: Set(hash_secret(&csrf_token)),
        expires_at: Set(expires_at),
        source_addr: Set(actor.source_addr.clone()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit(
        &txn,
        actor,
        AuditEntry {
            action: "session.create",
            resource_type: "session",
            resource_id: row.id.to_string(),
            before: None,
            after: Some(json!({"user_id": user.id, "expires_at": expires_at.to_string()})),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(NewSession {
        id: row.id,
        token,
        csrf_token,
        expires_at,
    })
}

/// The live session behind `token` and its (enabled) user; `None` when the token is
/// unknown, revoked or expired, or the user is disabled.
pub async fn find_valid(
    db: &DatabaseConnection,
    token: &str,
) -> Result<Option<(sessions::Model, users::Model)>, ApiError> {
    let Some(session) = sessions::Entity::find()
        .filter(sessions::Column::TokenHash.eq(hash_secret(token)))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if session.revoked_at.is_some() || session.expires_at <= OffsetDateTime::now_utc() {
        return Ok(None);
    }
    let user = users::Entity::find_by_id(session.user_id).one(db).await?;
    Ok(user.filter(|u| !u.disabled).map(|user| (session, user)))
}

/// Revokes a session (logout); audited as `session.revoke`.
pub async fn revoke(db: &DatabaseConnection, actor: &Actor, id: Uuid) -> Result<(), ApiError> {
    let txn = db.begin().await?;
    let updated = sessions::Entity::update_many()
        .col_expr(
            sessions::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(OffsetDateTime::now_utc()),
        )
        .filter(sessions::Column::Id.eq(id))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if updated.rows_affected > 0 {
        audit(
            &txn,
            actor,
            AuditEntry {
                action: "session.revoke",
                resource_type: "session",
                resource_id: id.to_string(),
                before: Some(json!({"revoked": false})),
                after: Some(json!({"revoked": true})),
            },
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Who logged in, as `POST /auth/login` answers it, and the session made.
pub struct Login {
    /// The user's view; while PostgreSQL is down, what Redis remembered of them,
    /// marked `"degraded": true`.
    pub user: serde_json::Value,
    pub session: NewSession,
}

/// A password login ([`super::authn::password_login`], under the login limits) and its
/// session: in PostgreSQL, or while PostgreSQL is down for a user who logged in lately,
/// in Redis only ([`super::credentials::login_session`]).
pub async fn log_in(
    state: &super::Stores,
    cache: &super::credentials::Cache,
    identity: &crate::access::Identity,
    username: &str,
    password: &str,
    meta: &crate::input::RequestMeta,
) -> Result<Login, ApiError> {
    use super::authn::LoggedIn;
    let addr = meta.source_addr.as_deref().and_then(|a| a.parse().ok());
    match super::authn::password_login(state, cache, identity, username, password, addr).await? {
        LoggedIn::Database(user) => {
            let actor = Actor {
                user_id: Some(user.id),
                label: format!("{} (password)", user.username),
                source_addr: meta.source_addr.clone(),
                request_id: Some(meta.request_id.clone()),
            };
            let session = create(&state.db, &actor, &user, identity.session_ttl).await?;
            let user = serde_json::to_value(super::users::UserView::from(user)).unwrap_or_default();
            Ok(Login { user, session })
        }
        LoggedIn::Remembered(login) => {
            let session =
                super::credentials::login_session(cache, &login, identity.session_ttl).await?;
            let user = json!({
                "id": login.user_id,
                "username": login.username,
                "role": login.role,
                "disabled": false,
                "degraded": true,
            });
            Ok(Login { user, session })
        }
    }
}

/// Ends the caller's cookie session: forgotten in Redis at once (it no longer
/// authenticates), revoked in PostgreSQL — or, while PostgreSQL is down, queued in
/// Redis until it answers ([`super::credentials::queue_revocation`]). A session of a
/// degraded login exists in Redis only, and is gone with the first step. 400 for a
/// caller without a session (an API key).
pub async fn log_out(
    state: &super::Stores,
    cache: &super::credentials::Cache,
    caller: &super::Caller,
    session_token: Option<&str>,
) -> Result<(), ApiError> {
    let Some(session_id) = caller.principal.session_id else {
        return Err(ApiError::BadRequest(
            "logout ends a cookie session; this request carries an API key — revoke \
             keys with DELETE /api/v1/api-keys/{id}"
                .into(),
        ));
    };
    if let Some(token) = session_token {
        let token = super::credentials::session_token(&hash_secret(token));
        super::credentials::forget_auth(cache, &token).await;
    }
    if caller
        .principal
        .via
        .starts_with(super::credentials::REDIS_ONLY_SESSION)
    {
        return Ok(());
    }
    match revoke(&state.db, &caller.actor(), session_id).await {
        Ok(()) => Ok(()),
        Err(ApiError::Unavailable(why)) => {
            state.liveness.set_db_up(false);
            if super::credentials::queue_revocation(cache, session_id, &caller.actor()).await {
                Ok(())
            } else {
                Err(ApiError::Unavailable(why))
            }
        }
        Err(e) => Err(e),
    }
}
