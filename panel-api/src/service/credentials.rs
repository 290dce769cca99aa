//! What Redis remembers of credentials, so that those already verified keep working
//! while PostgreSQL is down (DESIGN.md, "Degraded mode").
//!
//! Every API key or session the database accepts is remembered in Redis (who, role,
//! grants, expiry) for [`AUTH_CACHE_TTL`]; a successful password login is remembered for
//! [`LOGIN_CACHE_TTL`] (the argon2id hash, never the password), so the same user can log
//! in again during an outage. Such a session lives in Redis only. A logout made during
//! an outage is queued here and recorded in PostgreSQL before degraded mode ends.
//!
//! The services that revoke a key, log out, disable a user, change a password or a
//! grant, or delete a domain with grants drop what Redis remembers for them
//! ([`Cache::forget_auth`], [`Cache::forget_user`]) in the same call that commits the
//! change, so an outage never revives a revoked credential and no handler can forget
//! it. Everything here is best-effort toward Redis: a failed cache write is logged and
//! the request goes on. This module must never write routing keys; those belong to
//! [`crate::service::sync`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::prelude::{Expiration, HashesInterface as _, KeysInterface as _, SetsInterface as _};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use switchyard_shared::Store;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::access::{Grant, Principal, Role};

/// The credential cache: Redis, and what this instance wrote to it lately.
#[derive(Clone)]
pub struct Cache {
    store: Store,
    remembered: Arc<Remembered>,
}

impl Cache {
    pub fn new(store: Store) -> Self {
        Cache {
            store,
            remembered: Arc::default(),
        }
    }
}

/// How long a successful password login can be repeated against Redis alone.
pub const LOGIN_CACHE_TTL: Duration = Duration::from_secs(5 * 60);
/// How long an API key or session, once verified by the database, keeps working for
/// reads while the database is down (refreshed on every use; never past its own expiry).
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(60 * 60);
/// A cache write or read never holds a request up longer than this.
const CACHE_TIMEOUT: Duration = Duration::from_millis(500);

/// What Redis remembers of a verified API key or session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedAuth {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    pub via: String,
    pub session_id: Option<Uuid>,
    pub grants: Vec<Grant>,
    /// SHA-256 of the session's CSRF token (sessions only).
    pub csrf_hash: Option<String>,
    /// The key's or session's own expiry.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// A session made by a degraded login: it exists in Redis only.
    #[serde(default)]
    pub redis_only: bool,
}

impl CachedAuth {
    pub fn of(
        principal: &Principal,
        csrf_hash: Option<String>,
        expires_at: Option<OffsetDateTime>,
    ) -> Self {
        CachedAuth {
            user_id: principal.user_id,
            username: principal.username.clone(),
            role: principal.role,
            via: principal.via.clone(),
            session_id: principal.session_id,
            grants: principal.grants.clone(),
            csrf_hash,
            expires_at,
            redis_only: false,
        }
    }

    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user_id,
            username: self.username.clone(),
            role: self.role,
            via: self.via.clone(),
            session_id: self.session_id,
            grants: self.grants.clone(),
        }
    }
}

/// What Redis remembers of a successful password login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedLogin {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    pub grants: Vec<Grant>,
}

/// The cache key of an API key (by the digest stored in `api_keys.secret_hash`) or of a
/// session (by the digest stored in `sessions.token_hash`).
pub fn key_token(secret_hash: &str) -> String {
    format!("key:{secret_hash}")
}
pub fn session_token(token_hash: &str) -> String {
    format!("session:{token_hash}")
}

pub(crate) async fn bounded<T>(
    what: &str,
    f: impl Future<Output = Result<T, fred::error::Error>>,
) -> Option<T> {
    match tokio::time::timeout(CACHE_TIMEOUT, f).await {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "{what}: Redis refused");
            None
        }
        Err(_) => {
            tracing::debug!("{what}: Redis did not answer in time");
            None
        }
    }
}

fn ttl_until(expires_at: Option<OffsetDateTime>, cap: Duration) -> Option<i64> {
    let cap = cap.as_secs() as i64;
    let secs = match expires_at {
        Some(t) => (t - OffsetDateTime::now_utc()).whole_seconds().min(cap),
        None => cap,
    };
    (secs > 0).then_some(secs)
}

/// How long a credential written to Redis is not written again while what it says is
/// unchanged. The entry lives [`AUTH_CACHE_TTL`], so rewriting it once a minute keeps it
/// alive at a sixtieth of the cost of a write per request.
pub const REMEMBER_REFRESH: Duration = Duration::from_secs(60);
/// Past this many tokens the memo is emptied (every entry then costs one more write).
const REMEMBERED_MAX: usize = 100_000;

/// What this instance wrote to Redis lately: token → (user, digest of the entry, when).
/// Dropped with the Redis entry ([`forget_auth`], [`forget_user`]), so a forgotten
/// credential that is still valid is written again on its next request.
#[derive(Debug, Default)]
pub struct Remembered(std::sync::Mutex<HashMap<String, (Uuid, u64, Instant)>>);

impl Remembered {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Uuid, u64, Instant)>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `token` was written with this very `digest` less than
    /// [`REMEMBER_REFRESH`] ago.
    fn fresh(&self, token: &str, digest: u64) -> bool {
        self.lock()
            .get(token)
            .is_some_and(|&(_, d, at)| d == digest && at.elapsed() < REMEMBER_REFRESH)
    }

    fn written(&self, token: &str, user: Uuid, digest: u64) {
        let mut map = self.lock();
        if map.len() >= REMEMBERED_MAX {
            map.clear();
        }
        map.insert(token.to_owned(), (user, digest, Instant::now()));
    }

    fn forget(&self, token: &str) {
        self.lock().remove(token);
    }

    fn forget_user(&self, user: Uuid) {
        self.lock().retain(|_, (u, _, _)| *u != user);
    }
}

fn digest(json: &str) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    json.hash(&mut hasher);
    hasher.finish()
}

/// Remembers a credential the database has just accepted (or a degraded login made);
/// `false` when Redis did not take it. Unchanged and written by this instance within
/// [`REMEMBER_REFRESH`]: nothing to do.
pub async fn remember_auth(cache: &Cache, token: &str, auth: &CachedAuth) -> bool {
    let Some(ttl) = ttl_until(auth.expires_at, AUTH_CACHE_TTL) else {
        return false;
    };
    let Ok(json) = serde_json::to_string(auth) else {
        return false;
    };
    let digest = digest(&json);
    if cache.remembered.fresh(token, digest) {
        return true;
    }
    let keys = cache.store.keys();
    let key = keys.panel_auth(token);
    let index = keys.panel_auth_of_user(&auth.user_id.to_string());
    // One round trip: the entry, its place in the user's index, the index's lifetime.
    let pipeline = cache.store.client().pipeline();
    bounded("caching a credential", async {
        pipeline
            .set::<(), _, _>(&key, json, Some(Expiration::EX(ttl)), None, false)
            .await?;
        pipeline.sadd::<(), _, _>(&index, &key).await?;
        pipeline
            .expire::<(), _>(&index, AUTH_CACHE_TTL.as_secs() as i64, None)
            .await?;
        pipeline.all::<()>().await
    })
    .await
    .inspect(|()| cache.remembered.written(token, auth.user_id, digest))
    .is_some()
}

/// How a session made by a degraded login is described (`via`, the audit label).
pub const REDIS_ONLY_SESSION: &str = "session (degraded login)";

/// A session for a login checked against Redis: it lives in Redis only, for the
/// session lifetime but at most [`AUTH_CACHE_TTL`], and is never written to PostgreSQL.
pub async fn login_session(
    cache: &Cache,
    login: &CachedLogin,
    session_ttl: Duration,
) -> Result<crate::service::sessions::NewSession, crate::error::ApiError> {
    let token = crate::access::generate_token()?;
    let csrf_token = crate::access::generate_token()?;
    let ttl = session_ttl.min(AUTH_CACHE_TTL);
    let expires_at = OffsetDateTime::now_utc()
        + time::Duration::try_from(ttl).map_err(|e| anyhow::anyhow!("session ttl: {e}"))?;
    let id = Uuid::new_v4();
    let cached = CachedAuth {
        user_id: login.user_id,
        username: login.username.clone(),
        role: login.role,
        via: REDIS_ONLY_SESSION.to_owned(),
        session_id: Some(id),
        grants: login.grants.clone(),
        csrf_hash: Some(crate::access::hash_secret(&csrf_token)),
        expires_at: Some(expires_at),
        redis_only: true,
    };
    let key = session_token(&crate::access::hash_secret(&token));
    if !remember_auth(cache, &key, &cached).await {
        return Err(crate::error::ApiError::Unavailable(crate::error::DB_DOWN));
    }
    tracing::info!(user = %login.username, "degraded login: session kept in Redis only");
    Ok(crate::service::sessions::NewSession {
        id,
        token,
        csrf_token,
        expires_at,
    })
}

/// A credential the database accepted within [`AUTH_CACHE_TTL`] and that has not
/// expired since; `None` otherwise (or when Redis does not answer).
pub async fn recall_auth(cache: &Cache, token: &str) -> Option<CachedAuth> {
    let key = cache.store.keys().panel_auth(token);
    let json: Option<String> = bounded(
        "reading a cached credential",
        cache.store.client().get(&key),
    )
    .await
    .flatten();
    let auth: CachedAuth = serde_json::from_str(&json?).ok()?;
    auth.expires_at
        .is_none_or(|t| t > OffsetDateTime::now_utc())
        .then_some(auth)
}

/// Drops one remembered credential (a revoked key, a logged-out session).
pub async fn forget_auth(cache: &Cache, token: &str) {
    cache.remembered.forget(token);
    let key = cache.store.keys().panel_auth(token);
    bounded(
        "dropping a cached credential",
        cache.store.client().del::<(), _>(&key),
    )
    .await;
}

/// Drops everything remembered for a user: their credentials and their last login
/// (a disabled user, a changed password, a changed grant).
pub async fn forget_user(cache: &Cache, user_id: Uuid, username: Option<&str>) {
    cache.remembered.forget_user(user_id);
    let keys = cache.store.keys();
    let index = keys.panel_auth_of_user(&user_id.to_string());
    let client = cache.store.client();
    let login = username.map(|u| keys.panel_login(&u.to_lowercase()));
    bounded("dropping a user's cached credentials", async {
        let members: Vec<String> = client.smembers(&index).await?;
        let mut all = members;
        all.push(index.clone());
        all.extend(login.clone());
        client.del::<(), _>(all).await
    })
    .await;
}

/// Remembers a successful password login for [`LOGIN_CACHE_TTL`].
pub async fn remember_login(cache: &Cache, login: &CachedLogin) {
    let Ok(json) = serde_json::to_string(login) else {
        return;
    };
    let key = cache
        .store
        .keys()
        .panel_login(&login.username.to_lowercase());
    let ttl = LOGIN_CACHE_TTL.as_secs() as i64;
    bounded(
        "caching a login",
        cache
            .store
            .client()
            .set::<(), _, _>(&key, json, Some(Expiration::EX(ttl)), None, false),
    )
    .await;
}

pub async fn recall_login(cache: &Cache, username: &str) -> Option<CachedLogin> {
    let key = cache
        .store
        .keys()
        .panel_login(&username.trim().to_lowercase());
    let json: Option<String> = bounded("reading a cached login", cache.store.client().get(&key))
        .await
        .flatten();
    serde_json::from_str(&json?).ok()
}

/// A logout PostgreSQL could not record when it was made: who made it, for the audit.
#[derive(Debug, Serialize, Deserialize)]
struct PendingRevocation {
    user_id: Option<Uuid>,
    label: String,
    source_addr: Option<String>,
    request_id: Option<String>,
}

/// Keeps a logout for PostgreSQL in Redis (the session is already forgotten there, so it
/// no longer authenticates); `false` when Redis did not take it either.
pub async fn queue_revocation(
    cache: &Cache,
    session_id: Uuid,
    actor: &crate::service::Actor,
) -> bool {
    let pending = PendingRevocation {
        user_id: actor.user_id,
        label: actor.label.clone(),
        source_addr: actor.source_addr.clone(),
        request_id: actor.request_id.clone(),
    };
    let Ok(json) = serde_json::to_string(&pending) else {
        return false;
    };
    let key = cache.store.keys().panel_revocations();
    bounded(
        "queueing a logout",
        cache
            .store
            .client()
            .hset::<(), _, _>(&key, (session_id.to_string(), json)),
    )
    .await
    .is_some()
}

/// Records the queued logouts in PostgreSQL (revoked, audited as their user) and drops
/// them from Redis. `false` when some could not be read or recorded: they stay queued.
pub async fn apply_revocations(cache: &Cache, db: &DatabaseConnection) -> bool {
    let key = cache.store.keys().panel_revocations();
    let client = cache.store.client();
    let Some(queued) = bounded(
        "reading queued logouts",
        client.hgetall::<HashMap<String, String>, _>(&key),
    )
    .await
    else {
        // Redis does not answer: nothing can have been queued that it could give.
        return true;
    };
    let mut all_done = true;
    for (session, json) in queued {
        let (Ok(id), Ok(pending)) = (
            session.parse::<Uuid>(),
            serde_json::from_str::<PendingRevocation>(&json),
        ) else {
            tracing::warn!(%session, "dropping an unreadable queued logout");
            bounded(
                "dropping a queued logout",
                client.hdel::<(), _, _>(&key, &session),
            )
            .await;
            continue;
        };
        let actor = crate::service::Actor {
            user_id: pending.user_id,
            label: pending.label,
            source_addr: pending.source_addr,
            request_id: pending.request_id,
        };
        match crate::service::sessions::revoke(db, &actor, id).await {
            Ok(()) => {
                tracing::info!(session = %id, "recorded a logout made while PostgreSQL was down");
                bounded(
                    "dropping a queued logout",
                    client.hdel::<(), _, _>(&key, &session),
                )
                .await;
            }
            Err(e) => {
                tracing::warn!(session = %id, error = %e, "a queued logout could not be recorded yet");
                all_done = false;
            }
        }
    }
    all_done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_rewritten_when_it_changes_or_was_forgotten() {
        let memo = Remembered::default();
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(!memo.fresh("key:a", 1), "never written");
        memo.written("key:a", alice, 1);
        memo.written("key:b", bob, 7);
        assert!(memo.fresh("key:a", 1));
        assert!(!memo.fresh("key:a", 2), "new grants: a new digest");
        memo.forget("key:a");
        assert!(!memo.fresh("key:a", 1), "revoked or logged out");
        memo.written("key:a", alice, 1);
        memo.forget_user(alice);
        assert!(!memo.fresh("key:a", 1), "password or grant change");
        assert!(memo.fresh("key:b", 7), "other users keep theirs");
    }
}
