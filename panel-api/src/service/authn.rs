//! Authentication: is this API key, session token or password someone's, and who —
//! against PostgreSQL while it answers, against what Redis remembers while it does not.
//!
//! A credential the database accepts is remembered in Redis ([`super::credentials`]);
//! while the database is unreachable, one remembered and unexpired still authenticates
//! (reads only: writes fail on the database with 503). A session made by a degraded
//! login lives in Redis only and is accepted from there. Password checks run under the
//! login rate limits ([`crate::access::Identity::check_login`]) before argon2 does.
//!
//! It reads credentials as strings; [`crate::auth`] takes them out of the request (and
//! checks the CSRF token against the digest answered here).

use std::net::IpAddr;
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter};
use time::OffsetDateTime;

use super::Stores;
use super::credentials::{self, Cache, CachedAuth, CachedLogin};
use super::{sessions, users as user_service};
use crate::access::{
    Grant, Identity, KEY_MARKER, Level, Principal, hash_secret, parse_key, principal_of,
};
use crate::entity::{api_keys, grants, users};
use crate::error::ApiError;

/// A credential as presented: a bearer API key or a session cookie's token.
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    Key(&'a str),
    Session(&'a str),
}

/// Who a credential proved to be, and for a session the digest of its CSRF token
/// (which an unsafe request must echo).
#[derive(Debug)]
pub struct Authenticated {
    pub principal: Principal,
    pub csrf_hash: Option<String>,
}

/// A credential the database accepted: who, and for the degraded-mode cache the
/// session's CSRF digest and the credential's own expiry.
type Verified = (Principal, Option<String>, Option<OffsetDateTime>);

/// Authenticates a presented credential (see the module doc). Every failure of the
/// credential itself is the same 401; PostgreSQL and Redis both unreachable is 503.
pub async fn authenticate(
    state: &Stores,
    cache: &Cache,
    presented: Presented<'_>,
) -> Result<Authenticated, ApiError> {
    let down = || Err(ApiError::Unavailable(crate::error::DB_DOWN));
    let (cache_token, verified) = match presented {
        Presented::Key(token) => {
            let (_, secret) = parse_key(token).ok_or(ApiError::Unauthorized)?;
            let verified = if state.liveness.db_up() {
                principal_from_key(&state.db, token).await
            } else {
                down()
            };
            (credentials::key_token(&hash_secret(secret)), verified)
        }
        Presented::Session(token) => {
            let verified = if state.liveness.db_up() {
                principal_from_session(&state.db, token).await
            } else {
                down()
            };
            (credentials::session_token(&hash_secret(token)), verified)
        }
    };
    let verified = match verified {
        Ok((mut principal, csrf, expires)) => load_grants(&state.db, &mut principal)
            .await
            .map(|()| (principal, csrf, expires)),
        Err(e) => Err(e),
    };
    match verified {
        Ok((principal, csrf_hash, expires)) => {
            let cached = CachedAuth::of(&principal, csrf_hash.clone(), expires);
            credentials::remember_auth(cache, &cache_token, &cached).await;
            Ok(Authenticated {
                principal,
                csrf_hash,
            })
        }
        // The database cannot say: what it said before still counts.
        Err(ApiError::Unavailable(why)) => {
            state.liveness.set_db_up(false);
            let cached = credentials::recall_auth(cache, &cache_token)
                .await
                .ok_or(ApiError::Unavailable(why))?;
            Ok(recalled(cached))
        }
        // Unknown to the database: a session a degraded login made lives in Redis.
        Err(ApiError::Unauthorized) if matches!(presented, Presented::Session(_)) => {
            match credentials::recall_auth(cache, &cache_token).await {
                Some(cached) if cached.redis_only => Ok(recalled(cached)),
                _ => Err(ApiError::Unauthorized),
            }
        }
        Err(e) => Err(e),
    }
}

/// A remembered credential; a session keeps its CSRF digest.
fn recalled(cached: CachedAuth) -> Authenticated {
    let csrf_hash = cached
        .session_id
        .is_some()
        .then(|| cached.csrf_hash.clone().unwrap_or_default());
    Authenticated {
        principal: cached.principal(),
        csrf_hash,
    }
}

/// Checks a bearer key: known prefix, matching secret, not revoked, not expired, user
/// not disabled. Every failure is the same 401.
async fn principal_from_key(db: &DatabaseConnection, token: &str) -> Result<Verified, ApiError> {
    let (prefix, secret) = parse_key(token).ok_or(ApiError::Unauthorized)?;
    let key = api_keys::Entity::find()
        .filter(api_keys::Column::Prefix.eq(prefix))
        .one(db)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let user = users::Entity::find_by_id(key.user_id)
        .one(db)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    // Comparing digests of a random secret: timing reveals nothing an attacker can use.
    let valid = key.secret_hash == hash_secret(secret)
        && key.revoked_at.is_none()
        && key.expires_at.is_none_or(|t| t > OffsetDateTime::now_utc())
        && !user.disabled;
    if !valid {
        return Err(ApiError::Unauthorized);
    }
    note_key_use(db, &key).await;
    let principal = principal_of(user, format!("api key {KEY_MARKER}{}", key.prefix), None);
    Ok((principal, None, key.expires_at))
}

/// `api_keys.last_used_at` is kept to this precision: a busy key costs one UPDATE a
/// minute, not one per request.
pub const KEY_USE_PRECISION: Duration = Duration::from_secs(60);

/// Records that `key` authenticated, when its `last_used_at` is older than
/// [`KEY_USE_PRECISION`] (also checked in the UPDATE, so concurrent requests and other
/// panel instances write it once). A failure is logged and ignored: it must not refuse
/// a valid key.
async fn note_key_use(db: &DatabaseConnection, key: &api_keys::Model) {
    let now = OffsetDateTime::now_utc();
    if key
        .last_used_at
        .is_some_and(|t| now - t < KEY_USE_PRECISION)
    {
        return;
    }
    let stale_before = now - KEY_USE_PRECISION;
    let result = api_keys::Entity::update_many()
        .col_expr(api_keys::Column::LastUsedAt, Expr::value(now))
        .filter(api_keys::Column::Id.eq(key.id))
        .filter(
            Condition::any()
                .add(api_keys::Column::LastUsedAt.is_null())
                .add(api_keys::Column::LastUsedAt.lt(stale_before)),
        )
        .exec(db)
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, key = %key.id, "cannot record the API key's last use");
    }
}

/// Checks a session token: known, not revoked, not expired, user enabled.
async fn principal_from_session(
    db: &DatabaseConnection,
    token: &str,
) -> Result<Verified, ApiError> {
    let (session, user) = sessions::find_valid(db, token)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let principal = principal_of(user, "session".into(), Some(session.id));
    Ok((
        principal,
        Some(session.csrf_token_hash),
        Some(session.expires_at),
    ))
}

/// The caller's grants, read once per request.
async fn load_grants(db: &DatabaseConnection, principal: &mut Principal) -> Result<(), ApiError> {
    if principal.is_admin() {
        return Ok(());
    }
    principal.grants = grants::Entity::find()
        .filter(grants::Column::UserId.eq(principal.user_id))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|g| {
            Some(Grant {
                domain_id: g.domain_id,
                named_backend_id: g.named_backend_id,
                level: Level::parse(&g.level)?,
            })
        })
        .collect();
    Ok(())
}

/// Who a password login proved to be.
pub enum LoggedIn {
    /// Checked against the database.
    Database(users::Model),
    /// Checked against the login remembered in Redis: the database is unreachable.
    Remembered(CachedLogin),
}

/// Checks a username and password under the login rate limits: the user, or 401.
///
/// While the database is unreachable, a user who logged in within the last five minutes
/// is checked against the argon2id hash remembered then
/// ([`credentials::LOGIN_CACHE_TTL`]).
pub async fn password_login(
    state: &Stores,
    cache: &Cache,
    identity: &Identity,
    username: &str,
    password: &str,
    addr: Option<IpAddr>,
) -> Result<LoggedIn, ApiError> {
    identity.check_login(username, addr)?;
    let checked = if state.liveness.db_up() {
        user_service::verify_login(&state.db, username, password).await
    } else {
        Err(ApiError::Unavailable(crate::error::DB_DOWN))
    };
    match checked {
        Ok(Some(user)) => {
            let mut principal = principal_of(user.clone(), String::new(), None);
            if load_grants(&state.db, &mut principal).await.is_ok() {
                let login = CachedLogin {
                    user_id: user.id,
                    username: user.username.clone(),
                    role: principal.role,
                    password_hash: user.password_hash.clone(),
                    grants: principal.grants,
                };
                credentials::remember_login(cache, &login).await;
            }
            Ok(LoggedIn::Database(user))
        }
        Ok(None) => Err(ApiError::Unauthorized),
        Err(ApiError::Unavailable(why)) => {
            state.liveness.set_db_up(false);
            let Some(login) = credentials::recall_login(cache, username).await else {
                return Err(ApiError::Unavailable(why));
            };
            let hash = login.password_hash.clone();
            if user_service::verify_password(password.to_owned(), hash)
                .await
                .unwrap_or(false)
            {
                Ok(LoggedIn::Remembered(login))
            } else {
                Err(ApiError::Unauthorized)
            }
        }
        Err(e) => Err(e),
    }
}
