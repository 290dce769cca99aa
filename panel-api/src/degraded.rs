//! Degraded mode: what the panel still does while PostgreSQL is down and Redis is up
//! (DESIGN.md, "Degraded mode").
//!
//! - **Reads** of zones and domains come from Redis, marked `"degraded": true`: zones
//!   from the routing records the proxies serve (rendered upstreams; a named backend's
//!   template parameters are not there), domains from a copy the panel keeps in Redis.
//! - **Credentials already verified keep working.** Every API key or session the
//!   database accepts is remembered in Redis (who, role, grants, expiry) for
//!   [`AUTH_CACHE_TTL`]; a successful password login is remembered for
//!   [`LOGIN_CACHE_TTL`] (the argon2id hash, never the password), so the same user can log
//!   in again during an outage. Such a session lives in Redis only.
//! - **Writes** answer 503 with a message that says why; nothing is changed.
//!
//! Revoking a key, logging out, disabling a user, changing a password or a grant drops
//! what Redis remembers for them, so an outage never revives a revoked credential.
//! Everything here is best-effort toward Redis: a failed cache write is logged and the
//! request goes on. This module must never write routing keys; those belong to
//! [`crate::service::sync`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fred::prelude::{Expiration, HashesInterface as _, KeysInterface as _, SetsInterface as _};
use serde::{Deserialize, Serialize};
use switchyard_shared::model::{BackendSpec, Timeouts, UpstreamSpec};
use switchyard_shared::policy::Policies;
use switchyard_shared::route_match::RouteMatch;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Grant, Principal, Role};
use crate::service::domains::DomainView;
use crate::service::zones::ZoneCursor;
use crate::service::{Count, ListQuery, Page};

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

async fn bounded<T>(
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
pub async fn remember_auth(state: &AppState, token: &str, auth: &CachedAuth) -> bool {
    let Some(ttl) = ttl_until(auth.expires_at, AUTH_CACHE_TTL) else {
        return false;
    };
    let Ok(json) = serde_json::to_string(auth) else {
        return false;
    };
    let digest = digest(&json);
    if state.remembered.fresh(token, digest) {
        return true;
    }
    let keys = state.store.keys();
    let key = keys.panel_auth(token);
    let index = keys.panel_auth_of_user(&auth.user_id.to_string());
    // One round trip: the entry, its place in the user's index, the index's lifetime.
    let pipeline = state.store.client().pipeline();
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
    .inspect(|()| state.remembered.written(token, auth.user_id, digest))
    .is_some()
}

/// How a session made by a degraded login is described (`via`, the audit label).
pub const REDIS_ONLY_SESSION: &str = "session (degraded login)";

/// A session for a login checked against Redis: it lives in Redis only, for the
/// session lifetime but at most [`AUTH_CACHE_TTL`], and is never written to PostgreSQL.
pub async fn login_session(
    state: &AppState,
    login: &CachedLogin,
) -> Result<crate::service::sessions::NewSession, crate::error::ApiError> {
    let token = crate::auth::generate_token()?;
    let csrf_token = crate::auth::generate_token()?;
    let ttl = state.identity.session_ttl.min(AUTH_CACHE_TTL);
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
        csrf_hash: Some(crate::auth::hash_secret(&csrf_token)),
        expires_at: Some(expires_at),
        redis_only: true,
    };
    let key = session_token(&crate::auth::hash_secret(&token));
    if !remember_auth(state, &key, &cached).await {
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
pub async fn recall_auth(state: &AppState, token: &str) -> Option<CachedAuth> {
    let key = state.store.keys().panel_auth(token);
    let json: Option<String> = bounded(
        "reading a cached credential",
        state.store.client().get(&key),
    )
    .await
    .flatten();
    let auth: CachedAuth = serde_json::from_str(&json?).ok()?;
    auth.expires_at
        .is_none_or(|t| t > OffsetDateTime::now_utc())
        .then_some(auth)
}

/// Drops one remembered credential (a revoked key, a logged-out session).
pub async fn forget_auth(state: &AppState, token: &str) {
    state.remembered.forget(token);
    let key = state.store.keys().panel_auth(token);
    bounded(
        "dropping a cached credential",
        state.store.client().del::<(), _>(&key),
    )
    .await;
}

/// Drops everything remembered for a user: their credentials and their last login
/// (a disabled user, a changed password, a changed grant).
pub async fn forget_user(state: &AppState, user_id: Uuid, username: Option<&str>) {
    state.remembered.forget_user(user_id);
    let keys = state.store.keys();
    let index = keys.panel_auth_of_user(&user_id.to_string());
    let client = state.store.client();
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
pub async fn remember_login(state: &AppState, login: &CachedLogin) {
    let Ok(json) = serde_json::to_string(login) else {
        return;
    };
    let key = state
        .store
        .keys()
        .panel_login(&login.username.to_lowercase());
    let ttl = LOGIN_CACHE_TTL.as_secs() as i64;
    bounded(
        "caching a login",
        state
            .store
            .client()
            .set::<(), _, _>(&key, json, Some(Expiration::EX(ttl)), None, false),
    )
    .await;
}

pub async fn recall_login(state: &AppState, username: &str) -> Option<CachedLogin> {
    let key = state
        .store
        .keys()
        .panel_login(&username.trim().to_lowercase());
    let json: Option<String> = bounded("reading a cached login", state.store.client().get(&key))
        .await
        .flatten();
    serde_json::from_str(&json?).ok()
}

/// Writes the copy of every domain that degraded reads use; after each domain change
/// and at start. Best-effort: the reconciler rewrites it hourly.
pub async fn publish_domains(state: &AppState, domains: &[DomainView]) {
    let Ok(json) = serde_json::to_string(domains) else {
        return;
    };
    let key = state.store.keys().panel_domains();
    bounded(
        "publishing the domain list",
        state
            .store
            .client()
            .set::<(), _, _>(&key, json, None, None, false),
    )
    .await;
}

/// Reads every domain from PostgreSQL and publishes the copy; best-effort.
pub async fn refresh_domains(state: &AppState) {
    match crate::service::domains::all(&state.db).await {
        Ok(all) => publish_domains(state, &all).await,
        Err(e) => tracing::warn!(error = %e, "cannot read domains to publish for degraded mode"),
    }
}

/// Every domain as last published; `None` when Redis does not answer or has none.
pub async fn domains(state: &AppState) -> Option<Vec<DomainView>> {
    let key = state.store.keys().panel_domains();
    let json: Option<String> = bounded("reading the domain list", state.store.client().get(&key))
        .await
        .flatten();
    serde_json::from_str(&json?).ok()
}

/// The most specific domain `hostname` lies within (the same rule as the database's).
fn domain_of<'a>(domains: &'a [DomainView], hostname: &str) -> Option<&'a DomainView> {
    let mut rest = hostname;
    loop {
        if let Some(d) = domains.iter().find(|d| d.name == rest) {
            return Some(d);
        }
        rest = rest.split_once('.')?.1;
    }
}

/// A page of a degraded list: the usual page, marked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DegradedPage<T> {
    #[serde(flatten)]
    pub page: Page<T>,
    pub degraded: bool,
}

/// A zone as Redis holds it: what the proxies serve.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DegradedZone {
    pub id: String,
    pub domain_id: Option<Uuid>,
    pub hostname: String,
    pub path_prefix: String,
    /// The upstreams as rendered; a named backend's name is in `named_backend`.
    pub backend: BackendSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_backend: Option<String>,
    pub force_https: bool,
    pub preserve_host: bool,
    pub allow: Vec<String>,
    pub timeouts: Timeouts,
    /// As the record holds them (normalised), but basic-auth users by username only:
    /// hashes are never returned. Absent when the route has none.
    #[serde(skip_serializing_if = "Policies::is_empty")]
    pub policies: Policies,
    /// The route's match conditions, as the record holds them. Absent when none.
    #[serde(rename = "match", skip_serializing_if = "RouteMatch::is_empty")]
    pub matching: RouteMatch,
    /// Their canonical JSON, the third part of the zone's identity (for the order).
    #[serde(skip)]
    pub match_key: String,
    pub degraded: bool,
}

/// Every zone in Redis the principal may read, ordered like the database's list.
async fn readable_zones(state: &AppState, principal: &Principal) -> Option<Vec<DegradedZone>> {
    let domains = domains(state).await.unwrap_or_default();
    let snapshot = tokio::time::timeout(Duration::from_secs(10), state.store.snapshot())
        .await
        .ok()?
        .ok()?;
    let readable = principal.domains(crate::auth::Level::Read);
    let mut out = Vec::new();
    for record in snapshot.zones {
        let hostname = record.host.as_str().to_owned();
        let domain_id = domain_of(&domains, &hostname).map(|d| d.id);
        let allowed = match domain_id {
            Some(id) => readable.contains(id),
            None => principal.is_admin(),
        };
        if !allowed {
            continue;
        }
        for route in record.routes {
            let backend = if route.upstreams.is_empty() {
                BackendSpec::None
            } else {
                BackendSpec::Upstreams {
                    upstreams: route
                        .upstreams
                        .iter()
                        .map(|u| UpstreamSpec {
                            url: u.url.as_str().to_owned(),
                            weight: u.weight,
                        })
                        .collect(),
                }
            };
            let match_key = route.match_key();
            out.push(DegradedZone {
                id: route.zone_id.clone(),
                domain_id,
                hostname: hostname.clone(),
                path_prefix: route.path_prefix.as_str().to_owned(),
                backend,
                named_backend: route.named_backend.clone(),
                force_https: route.force_https,
                preserve_host: route.preserve_host,
                allow: route.allow.iter().map(|n| n.to_string()).collect(),
                timeouts: route.timeouts,
                policies: route.policies.map(|p| p.redacted()).unwrap_or_default(),
                match_key,
                matching: route.matching.map(|m| *m).unwrap_or_default(),
                degraded: true,
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.hostname, &a.path_prefix, &a.match_key, &a.id).cmp(&(
            &b.hostname,
            &b.path_prefix,
            &b.match_key,
            &b.id,
        ))
    });
    Some(out)
}

fn page_of<T>(items: Vec<T>, query: &ListQuery) -> DegradedPage<T> {
    let count = Count::exact(items.len() as u64);
    let items = items
        .into_iter()
        .skip(query.offset() as usize)
        .take(query.limit() as usize)
        .collect();
    DegradedPage {
        page: Page::new(items, count, query),
        degraded: true,
    }
}

fn matches(query: &ListQuery, text: &str) -> bool {
    query
        .q
        .as_deref()
        .filter(|q| !q.is_empty())
        .is_none_or(|q| text.contains(&q.to_lowercase()))
}

/// `GET /zones` from Redis. `None`: Redis cannot answer either.
pub async fn zone_list(
    state: &AppState,
    principal: &Principal,
    query: &ListQuery,
    after: Option<&ZoneCursor>,
    domain_id: Option<Uuid>,
) -> Option<DegradedPage<DegradedZone>> {
    let zones: Vec<DegradedZone> = readable_zones(state, principal)
        .await?
        .into_iter()
        .filter(|z| matches(query, &z.hostname))
        .filter(|z| domain_id.is_none() || z.domain_id == domain_id)
        .collect();
    // Counted before the cursor, as the database list does.
    let count = Count::exact(zones.len() as u64);
    let start = after.map_or(0, |c| {
        zones.partition_point(|z| {
            (
                z.hostname.as_str(),
                z.path_prefix.as_str(),
                z.match_key.as_str(),
            ) <= (
                c.hostname.as_str(),
                c.path_prefix.as_str(),
                c.match_key.as_str(),
            )
        })
    });
    let rest = &zones[start..];
    let offset = (query.offset() as usize).min(rest.len());
    let end = (offset + query.limit() as usize).min(rest.len());
    let next = (end < rest.len()).then(|| {
        let last = &rest[end - 1];
        ZoneCursor {
            hostname: last.hostname.clone(),
            path_prefix: last.path_prefix.clone(),
            match_key: last.match_key.clone(),
        }
        .encode()
    });
    Some(DegradedPage {
        page: Page {
            next,
            ..Page::new(rest[offset..end].to_vec(), count, query)
        },
        degraded: true,
    })
}

/// `GET /zones/{id}` from Redis: `Some(None)` when it is not there (or not readable).
pub async fn zone(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Option<Option<DegradedZone>> {
    let id = id.to_string();
    Some(
        readable_zones(state, principal)
            .await?
            .into_iter()
            .find(|z| z.id == id),
    )
}

/// A domain as last published, marked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DegradedDomain {
    #[serde(flatten)]
    pub domain: DomainView,
    pub degraded: bool,
}

fn readable_domains(all: Vec<DomainView>, principal: &Principal) -> Vec<DegradedDomain> {
    let readable = principal.domains(crate::auth::Level::Read);
    let mut out: Vec<DegradedDomain> = all
        .into_iter()
        .filter(|d| readable.contains(d.id))
        .map(|domain| DegradedDomain {
            domain,
            degraded: true,
        })
        .collect();
    out.sort_by(|a, b| a.domain.name.cmp(&b.domain.name));
    out
}

pub async fn domain_list(
    state: &AppState,
    principal: &Principal,
    query: &ListQuery,
) -> Option<DegradedPage<DegradedDomain>> {
    let all = domains(state).await?;
    let items = readable_domains(all, principal)
        .into_iter()
        .filter(|d| matches(query, &d.domain.name))
        .collect();
    Some(page_of(items, query))
}

pub async fn domain(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Option<Option<DegradedDomain>> {
    let all = domains(state).await?;
    Some(
        readable_domains(all, principal)
            .into_iter()
            .find(|d| d.domain.id == id),
    )
}

/// Runs a database read unless PostgreSQL is known to be down (then answers 503 at
/// once, for the caller's degraded path); a read that finds it unreachable marks it so.
pub async fn unless_down<T>(
    state: &AppState,
    read: impl Future<Output = Result<T, crate::error::ApiError>>,
) -> Result<T, crate::error::ApiError> {
    if !state.db_up() {
        return Err(crate::error::ApiError::Unavailable(crate::error::DB_DOWN));
    }
    let result = read.await;
    if matches!(result, Err(crate::error::ApiError::Unavailable(_))) {
        state.set_db_up(false);
    }
    result
}

/// A read from PostgreSQL answered as JSON, or — while PostgreSQL is unreachable — the
/// same read from Redis: `fallback` gives `Some(Some(_))` (found, marked degraded),
/// `Some(None)` (not there or not readable: 404) or `None` (Redis cannot say either: the
/// original 503).
pub async fn read_or_degraded<T, D, F>(
    state: &AppState,
    read: impl Future<Output = Result<T, crate::error::ApiError>>,
    fallback: impl FnOnce() -> F,
) -> Result<axum::response::Response, crate::error::ApiError>
where
    T: Serialize,
    D: Serialize,
    F: Future<Output = Option<Option<D>>>,
{
    use axum::response::IntoResponse as _;
    match unless_down(state, read).await {
        Ok(view) => Ok(axum::Json(view).into_response()),
        Err(crate::error::ApiError::Unavailable(why)) => match fallback().await {
            Some(Some(view)) => Ok(axum::Json(view).into_response()),
            Some(None) => Err(crate::error::ApiError::NotFound),
            None => Err(crate::error::ApiError::Unavailable(why)),
        },
        Err(e) => Err(e),
    }
}

/// How often [`watch_database`] asks PostgreSQL whether it is there.
pub const DB_PROBE_EVERY: Duration = Duration::from_secs(1);

/// The panel's one PostgreSQL liveness probe, run by [`watch_database`] every second
/// and by `GET /health` on each call: does the pool's host answer within a second and
/// take writes? When not, the pool moves to the next host of `DATABASE_URL`'s list that
/// does, if any ([`switchyard_db::Database::check`]: a new primary after a failover).
/// Notes since when PostgreSQL is down ([`crate::app::Outages`]).
pub async fn probe_database(state: &AppState) -> bool {
    let up = state.database.check().await;
    state.outages.note(crate::app::Dependency::Postgres, up);
    up
}

/// Keeps [`AppState::db_up`] true while [`probe_database`] finds PostgreSQL, so degraded
/// mode starts and ends by itself — also across a failover to a new primary, which the
/// probe follows. Runs until the process ends.
pub async fn watch_database(state: AppState) {
    let mut tick = tokio::time::interval(DB_PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let up = probe_database(&state).await;
        // Logouts made during an outage (here or on another instance) are recorded
        // while PostgreSQL answers, and before sessions are checked against it again:
        // leaving degraded mode waits for them, so none comes back to life.
        if up && !apply_revocations(&state).await && !state.db_up() {
            continue;
        }
        state.set_db_up(up);
    }
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
    state: &AppState,
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
    let key = state.store.keys().panel_revocations();
    bounded(
        "queueing a logout",
        state
            .store
            .client()
            .hset::<(), _, _>(&key, (session_id.to_string(), json)),
    )
    .await
    .is_some()
}

/// Records the queued logouts in PostgreSQL (revoked, audited as their user) and drops
/// them from Redis. `false` when some could not be read or recorded: they stay queued.
pub async fn apply_revocations(state: &AppState) -> bool {
    let key = state.store.keys().panel_revocations();
    let client = state.store.client();
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
        match crate::service::sessions::revoke(&state.db, &actor, id).await {
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

/// While PostgreSQL is unreachable, unsafe requests answer 503 at once (nothing could
/// be changed), except login and logout, which have a degraded path of their own.
pub async fn write_gate(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    use axum::response::IntoResponse as _;
    let unsafe_method = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let path = request.uri().path();
    let exempt = path.ends_with("/auth/login") || path.ends_with("/auth/logout");
    if unsafe_method && !exempt && !state.db_up() {
        return crate::error::ApiError::Unavailable(crate::error::DB_DOWN).into_response();
    }
    next.run(request).await
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
