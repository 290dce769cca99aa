//! Who is calling, and what they may do.
//!
//! Two ways in, one [`Principal`] out, one permission check ([`authorize`]):
//! - **API keys** (scripts): `Authorization: Bearer sy_<prefix>_<secret>`. The one
//!   exception is `POST /api/v1/api-keys`, which also takes HTTP Basic username +
//!   password so that a first key can be made without a browser.
//! - **Session cookies** (the web panel): `POST /api/v1/auth/login` sets `sy_session`
//!   (HttpOnly, SameSite=Strict unless `--cookie-same-site` says otherwise, `Secure`
//!   unless `--cookie-secure false`) and returns a
//!   CSRF token (also in the readable cookie `sy_csrf`). Every unsafe request (anything
//!   but GET, HEAD, OPTIONS) authenticated by the cookie must echo that token in
//!   `X-CSRF-Token`, which a cross-site form or script cannot do. Sessions are rows in
//!   `sessions`; logout revokes the row, so a stolen cookie dies with it.
//!
//! Password checks (login, HTTP Basic) are rate limited per username and per source
//! address ([`Identity::check_login`], GCRA from `governor`), before argon2 runs, so a
//! flood of guesses costs the server nothing.
//!
//! Key and token material: random from the operating system; only SHA-256 digests are
//! stored. A fast hash is right here, unlike for passwords: the secrets are 256 random
//! bits, so there is nothing for a slow hash to protect against, and every request
//! verifies one.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use base64::Engine as _;
use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::app::{AppState, RequestMeta};
use crate::config::Config;
use crate::degraded;
use crate::entity::{api_keys, grants, users};
use crate::error::ApiError;
use crate::service::Actor;
use crate::service::{sessions, users as user_service};

/// Every key starts with this, so leaked keys are easy to spot in code and logs.
pub const KEY_MARKER: &str = "sy_";
/// Random bytes in a key's prefix (shown to users, stored in clear).
pub const PREFIX_BYTES: usize = 6;
/// Random bytes in a key's secret, a session token and a CSRF token: 256 bits.
pub const SECRET_BYTES: usize = 32;
/// The session cookie (HttpOnly: scripts never see it).
pub const SESSION_COOKIE: &str = "sy_session";
/// The CSRF cookie: readable by the panel's own scripts, which echo it in
/// [`CSRF_HEADER`] (the double-submit pattern); the server compares it with its digest.
pub const CSRF_COOKIE: &str = "sy_csrf";
/// The header that must carry the CSRF token on unsafe cookie-authenticated requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Tracked usernames above which the per-user limiter forgets idle entries, so that a
/// flood of made-up usernames cannot grow memory without bound.
pub const LIMITER_SHRINK_AT: usize = 10_000;

/// A user's role; `admin` sees and changes everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn of(user: &users::Model) -> Role {
        if user.role == "admin" {
            Role::Admin
        } else {
            Role::User
        }
    }
}

/// What a grant allows; `Edit` includes `Read`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Read,
    Edit,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "read" => Some(Level::Read),
            "edit" => Some(Level::Edit),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Edit => "edit",
        }
    }
}

/// One grant of the caller: a domain or a named backend, at a level.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Grant {
    pub domain_id: Option<Uuid>,
    pub named_backend_id: Option<Uuid>,
    pub level: Level,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    /// How they proved it, for the audit log: `api key sy_ab12…`, `session`, `password`.
    pub via: String,
    /// The session the request came with, if it came with a cookie.
    pub session_id: Option<Uuid>,
    /// The caller's grants (empty for admins, who need none).
    pub grants: Vec<Grant>,
}

/// Which rows of a kind the caller may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Only(Vec<Uuid>),
}

impl Scope {
    pub fn contains(&self, id: Uuid) -> bool {
        match self {
            Scope::All => true,
            Scope::Only(ids) => ids.contains(&id),
        }
    }
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Domains on which the caller holds at least `level`.
    pub fn domains(&self, level: Level) -> Scope {
        self.scope(level, |g| g.domain_id)
    }

    /// Named backends on which the caller holds at least `level`.
    pub fn named_backends(&self, level: Level) -> Scope {
        self.scope(level, |g| g.named_backend_id)
    }

    fn scope(&self, level: Level, target: impl Fn(&Grant) -> Option<Uuid>) -> Scope {
        if self.is_admin() {
            return Scope::All;
        }
        Scope::Only(
            self.grants
                .iter()
                .filter(|g| g.level >= level)
                .filter_map(target)
                .collect(),
        )
    }
}

/// What a request needs; [`authorize`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any authenticated user: their own API keys, sessions and profile.
    Authenticated,
    /// Users, grants, domains' creation, presets: admins only.
    Admin,
    /// A grant on this domain at this level (admins always).
    Domain(Uuid, Level),
    /// A named backend (its id and owner, `None` for an admin preset) at this level:
    /// admins always; its owner always; everyone may read a preset, only admins change
    /// one; others need a grant on it at this level.
    NamedBackend(Uuid, Option<Uuid>, Level),
}

/// The one permission check every endpoint goes through, for cookie and key alike.
///
/// Whatever the caller may not reach answers 404, the same as a resource that does not
/// exist, so that probing reveals nothing (DESIGN.md, Security).
pub fn authorize(principal: &Principal, need: Need) -> Result<(), ApiError> {
    let allowed = match need {
        Need::Authenticated => true,
        Need::Admin => principal.is_admin(),
        Need::Domain(id, level) => principal.domains(level).contains(id),
        Need::NamedBackend(id, owner, level) => {
            principal.is_admin()
                || owner == Some(principal.user_id)
                || (owner.is_none() && level == Level::Read)
                || (owner.is_some() && principal.named_backends(level).contains(id))
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// Sessions, login limits, the web origins allowed to call with credentials and the key
/// sealing secrets at rest: the security settings shared by every request.
pub struct Identity {
    /// `--secret-key`; `None` when not configured.
    pub secrets: Option<switchyard_shared::secrets::SecretBox>,
    pub session_ttl: Duration,
    pub cookie_secure: bool,
    /// `--cookie-same-site` (Strict unless the panel is hosted on another site).
    pub cookie_same_site: axum_extra::extract::cookie::SameSite,
    /// `--cors-origins`; empty means no CORS headers at all.
    pub cors_origins: Vec<String>,
    per_user: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl Identity {
    pub fn new(config: &Config) -> anyhow::Result<Identity> {
        let secrets = match &config.secret_key {
            Some(key) => Some(
                switchyard_shared::secrets::SecretBox::from_base64(key.trim())
                    .map_err(|e| anyhow::anyhow!("SWITCHYARD_SECRET_KEY: {e}"))?,
            ),
            None => None,
        };
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Ok(Identity {
            secrets,
            session_ttl: Duration::from_secs(config.session_ttl_secs),
            cookie_secure: config.cookie_secure,
            cookie_same_site: match config.cookie_same_site {
                crate::config::CookieSameSite::Strict => {
                    axum_extra::extract::cookie::SameSite::Strict
                }
                crate::config::CookieSameSite::Lax => axum_extra::extract::cookie::SameSite::Lax,
                crate::config::CookieSameSite::None => axum_extra::extract::cookie::SameSite::None,
            },
            cors_origins: config.cors_origins.clone(),
            per_user: RateLimiter::keyed(quota(config.login_per_user_per_minute)),
            per_address: RateLimiter::keyed(quota(config.login_per_address_per_minute)),
        })
    }

    /// Counts one login attempt for `username` from `addr`; 429 when either is over its
    /// limit. Every attempt counts, successful or not: the limits are far above what a
    /// person types, and counting before argon2 runs keeps guessing cheap to refuse.
    pub fn check_login(&self, username: &str, addr: Option<IpAddr>) -> Result<(), ApiError> {
        if self.per_user.len() > LIMITER_SHRINK_AT {
            self.per_user.retain_recent();
        }
        if self.per_address.len() > LIMITER_SHRINK_AT {
            self.per_address.retain_recent();
        }
        let refused = |scope: &'static str, not_until: governor::NotUntil<_>| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            ApiError::TooManyRequests {
                scope,
                retry_after_secs: wait.as_secs().max(1),
            }
        };
        if let Some(addr) = addr {
            self.per_address
                .check_key(&addr)
                .map_err(|n| refused("address", n))?;
        }
        self.per_user
            .check_key(&username.trim().to_lowercase())
            .map_err(|n| refused("username", n))?;
        Ok(())
    }
}

/// A freshly generated key: the full text (shown once) and what is stored.
pub struct NewKey {
    pub full: String,
    pub prefix: String,
    pub secret_hash: String,
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(buf))
}

/// Generates a key from the operating system's random source.
pub fn generate_key() -> anyhow::Result<NewKey> {
    let prefix = random_hex(PREFIX_BYTES)?;
    let secret = random_hex(SECRET_BYTES)?;
    Ok(NewKey {
        full: format!("{KEY_MARKER}{prefix}_{secret}"),
        secret_hash: hash_secret(&secret),
        prefix,
    })
}

/// A random 256-bit token (sessions, CSRF, one-time passwords), hex.
pub fn generate_token() -> anyhow::Result<String> {
    random_hex(SECRET_BYTES)
}

/// SHA-256, hex: what is stored of keys, session and CSRF tokens.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Splits `sy_<prefix>_<secret>`; `None` for anything else.
fn parse_key(token: &str) -> Option<(&str, &str)> {
    let (prefix, secret) = token.strip_prefix(KEY_MARKER)?.split_once('_')?;
    let hex_of = |s: &str, n: usize| s.len() == n * 2 && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_of(prefix, PREFIX_BYTES) && hex_of(secret, SECRET_BYTES)).then_some((prefix, secret))
}

fn principal_of(user: users::Model, via: String, session_id: Option<Uuid>) -> Principal {
    Principal {
        user_id: user.id,
        role: Role::of(&user),
        username: user.username,
        via,
        session_id,
        grants: Vec::new(),
    }
}

/// A credential the database accepted: who, and for the degraded-mode cache the
/// session's CSRF digest and the credential's own expiry.
type Verified = (Principal, Option<String>, Option<OffsetDateTime>);

/// Checks a bearer key: known prefix, matching secret, not revoked, not expired, user
/// not disabled. Every failure is the same 401.
async fn principal_from_key(state: &AppState, token: &str) -> Result<Verified, ApiError> {
    let (prefix, secret) = parse_key(token).ok_or(ApiError::Unauthorized)?;
    let key = api_keys::Entity::find()
        .filter(api_keys::Column::Prefix.eq(prefix))
        .one(&state.db)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let user = users::Entity::find_by_id(key.user_id)
        .one(&state.db)
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
    note_key_use(state, &key).await;
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
async fn note_key_use(state: &AppState, key: &api_keys::Model) {
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
        .exec(&state.db)
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, key = %key.id, "cannot record the API key's last use");
    }
}

/// Checks a session cookie (known, not revoked, not expired, user enabled) and, for an
/// unsafe method, the CSRF token.
async fn principal_from_session(
    state: &AppState,
    parts: &Parts,
    token: &str,
) -> Result<Verified, ApiError> {
    let (session, user) = sessions::find_valid(&state.db, token)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    check_csrf(parts, &session.csrf_token_hash)?;
    let principal = principal_of(user, "session".into(), Some(session.id));
    Ok((
        principal,
        Some(session.csrf_token_hash),
        Some(session.expires_at),
    ))
}

/// A cookie-authenticated unsafe request must carry the session's CSRF token.
fn check_csrf(parts: &Parts, csrf_hash: &str) -> Result<(), ApiError> {
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if safe {
        return Ok(());
    }
    let presented = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if presented.is_empty() || hash_secret(presented) != csrf_hash {
        return Err(ApiError::Forbidden(format!(
            "this {} request is authenticated by a session cookie and needs the \
             session's CSRF token in the {CSRF_HEADER} header (returned by login and \
             kept in the {CSRF_COOKIE} cookie)",
            parts.method
        )));
    }
    Ok(())
}

/// The caller's grants, read once per request.
async fn load_grants(state: &AppState, principal: &mut Principal) -> Result<(), ApiError> {
    if principal.is_admin() {
        return Ok(());
    }
    principal.grants = grants::Entity::find()
        .filter(grants::Column::UserId.eq(principal.user_id))
        .all(&state.db)
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

fn authorization(parts: &Parts) -> Option<&str> {
    parts.headers.get(AUTHORIZATION)?.to_str().ok()
}

fn source_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    /// An `Authorization` header wins (and must be a valid bearer key); otherwise the
    /// session cookie; otherwise 401.
    ///
    /// A credential the database accepts is remembered in Redis; while the database is
    /// unreachable, one remembered and unexpired still authenticates (reads only: writes
    /// fail on the database with 503). A session made by a degraded login lives in
    /// Redis only and is accepted from there.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let down = || Err(ApiError::Unavailable(crate::error::DB_DOWN));
        let (cache_token, verified) = if let Some(header) = authorization(parts) {
            let token = header
                .strip_prefix("Bearer ")
                .ok_or(ApiError::Unauthorized)?
                .trim();
            let (_, secret) = parse_key(token).ok_or(ApiError::Unauthorized)?;
            let verified = if state.db_up() {
                principal_from_key(state, token).await
            } else {
                down()
            };
            (degraded::key_token(&hash_secret(secret)), verified)
        } else {
            let jar = CookieJar::from_headers(&parts.headers);
            let token = jar.get(SESSION_COOKIE).ok_or(ApiError::Unauthorized)?;
            let verified = if state.db_up() {
                principal_from_session(state, parts, token.value()).await
            } else {
                down()
            };
            (
                degraded::session_token(&hash_secret(token.value())),
                verified,
            )
        };
        let verified = match verified {
            Ok((mut principal, csrf, expires)) => load_grants(state, &mut principal)
                .await
                .map(|()| (principal, csrf, expires)),
            Err(e) => Err(e),
        };
        match verified {
            Ok((principal, csrf, expires)) => {
                let cached = degraded::CachedAuth::of(&principal, csrf, expires);
                degraded::remember_auth(state, &cache_token, &cached).await;
                Ok(principal)
            }
            // The database cannot say: what it said before still counts.
            Err(ApiError::Unavailable(why)) => {
                state.set_db_up(false);
                let cached = degraded::recall_auth(state, &cache_token)
                    .await
                    .ok_or(ApiError::Unavailable(why))?;
                recalled(parts, cached)
            }
            // Unknown to the database: a session a degraded login made lives in Redis.
            Err(ApiError::Unauthorized) if cache_token.starts_with("session:") => {
                match degraded::recall_auth(state, &cache_token).await {
                    Some(cached) if cached.redis_only => recalled(parts, cached),
                    _ => Err(ApiError::Unauthorized),
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// A remembered credential, with the session's CSRF check.
fn recalled(parts: &Parts, cached: degraded::CachedAuth) -> Result<Principal, ApiError> {
    if cached.session_id.is_some() {
        check_csrf(parts, cached.csrf_hash.as_deref().unwrap_or_default())?;
    }
    Ok(cached.principal())
}

/// Who a password login proved to be.
pub enum LoggedIn {
    /// Checked against the database.
    Database(users::Model),
    /// Checked against the login remembered in Redis: the database is unreachable.
    Remembered(degraded::CachedLogin),
}

/// Checks a username and password under the login rate limits: the user, or 401.
///
/// While the database is unreachable, a user who logged in within the last five minutes
/// is checked against the argon2id hash remembered then ([`degraded::LOGIN_CACHE_TTL`]).
pub async fn password_login(
    state: &AppState,
    username: &str,
    password: &str,
    addr: Option<IpAddr>,
) -> Result<LoggedIn, ApiError> {
    state.identity.check_login(username, addr)?;
    let checked = if state.db_up() {
        user_service::verify_login(&state.db, username, password).await
    } else {
        Err(ApiError::Unavailable(crate::error::DB_DOWN))
    };
    match checked {
        Ok(Some(user)) => {
            let mut principal = principal_of(user.clone(), String::new(), None);
            if load_grants(state, &mut principal).await.is_ok() {
                let login = degraded::CachedLogin {
                    user_id: user.id,
                    username: user.username.clone(),
                    role: principal.role,
                    password_hash: user.password_hash.clone(),
                    grants: principal.grants,
                };
                degraded::remember_login(state, &login).await;
            }
            Ok(LoggedIn::Database(user))
        }
        Ok(None) => Err(ApiError::Unauthorized),
        Err(ApiError::Unavailable(why)) => {
            state.set_db_up(false);
            let Some(login) = degraded::recall_login(state, username).await else {
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

/// A caller of `POST /api/v1/api-keys`: a bearer key, a session, or HTTP Basic username
/// + password (the bootstrap path: the first admin has only a password).
pub struct KeyCreator(pub Principal);

impl FromRequestParts<AppState> for KeyCreator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(encoded) = authorization(parts).and_then(|h| h.strip_prefix("Basic ")) else {
            return Principal::from_request_parts(parts, state)
                .await
                .map(KeyCreator);
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(ApiError::Unauthorized)?;
        let (username, password) = decoded.split_once(':').ok_or(ApiError::Unauthorized)?;
        match password_login(state, username, password, source_ip(parts)).await? {
            LoggedIn::Database(user) => Ok(KeyCreator(principal_of(user, "password".into(), None))),
            // Minting a key writes to the database, which is not there.
            LoggedIn::Remembered(_) => Err(ApiError::Unavailable(crate::error::DB_DOWN)),
        }
    }
}

/// An authenticated request: who, from where, with which request id.
pub struct Caller {
    pub principal: Principal,
    pub meta: RequestMeta,
}

impl Caller {
    pub fn new(principal: Principal, meta: RequestMeta) -> Self {
        Self { principal, meta }
    }

    /// [`authorize`] for this caller.
    pub fn authorize(&self, need: Need) -> Result<(), ApiError> {
        authorize(&self.principal, need)
    }

    /// The audit log's view of this caller.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.principal.user_id),
            label: format!("{} ({})", self.principal.username, self.principal.via),
            source_addr: self.meta.source_addr.clone(),
            request_id: Some(self.meta.request_id.clone()),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let meta = RequestMeta::from_parts(parts);
        let principal = Principal::from_request_parts(parts, state).await?;
        Ok(Caller::new(principal, meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_hash() {
        let key = generate_key().unwrap();
        let (prefix, secret) = parse_key(&key.full).expect("own format");
        assert_eq!(prefix, key.prefix);
        assert_eq!(hash_secret(secret), key.secret_hash);
        assert_ne!(generate_key().unwrap().full, key.full);
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "sy_",
            "sy_abc_def",
            "xx_0123456789ab_00",
            "sy_0123456789ab",
        ] {
            assert!(parse_key(bad).is_none(), "{bad}");
        }
    }

    fn user(grants: Vec<Grant>) -> Principal {
        Principal {
            user_id: Uuid::nil(),
            username: "u".into(),
            role: Role::User,
            via: "test".into(),
            session_id: None,
            grants,
        }
    }

    #[test]
    fn grants_decide_and_edit_includes_read() {
        let (read_only, editable, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let p = user(vec![
            Grant {
                domain_id: Some(read_only),
                named_backend_id: None,
                level: Level::Read,
            },
            Grant {
                domain_id: Some(editable),
                named_backend_id: None,
                level: Level::Edit,
            },
        ]);
        assert!(authorize(&p, Need::Authenticated).is_ok());
        assert!(authorize(&p, Need::Domain(read_only, Level::Read)).is_ok());
        assert!(authorize(&p, Need::Domain(editable, Level::Read)).is_ok());
        assert!(authorize(&p, Need::Domain(editable, Level::Edit)).is_ok());
        // Presets are readable by all; one's own backends are one's own.
        assert!(authorize(&p, Need::NamedBackend(other, None, Level::Read)).is_ok());
        assert!(authorize(&p, Need::NamedBackend(other, Some(p.user_id), Level::Edit)).is_ok());
        for need in [
            Need::Admin,
            Need::Domain(read_only, Level::Edit),
            Need::Domain(other, Level::Read),
            Need::NamedBackend(editable, Some(other), Level::Read),
            Need::NamedBackend(editable, None, Level::Edit),
        ] {
            assert!(matches!(authorize(&p, need), Err(ApiError::NotFound)));
        }
        let admin = Principal {
            role: Role::Admin,
            ..user(vec![])
        };
        assert!(authorize(&admin, Need::Domain(other, Level::Edit)).is_ok());
        assert_eq!(admin.domains(Level::Edit), Scope::All);
    }
}
