//! Who a caller is and what they may do — nothing about how a request proves it.
//!
//! One [`Principal`] per authenticated caller, one permission check ([`authorize`]) every
//! operation goes through (in a handler, or inside the service where the answer depends
//! on the row), the caller's [`Grant`]s and [`Role`]; the security settings shared by
//! every request ([`Identity`]: sessions, login limits per username and per address —
//! GCRA from `governor` — CORS origins, the sealing key); and key and token material:
//! random from the operating system, of which only SHA-256 digests are stored. A fast
//! hash is right here, unlike for passwords: the secrets are 256 random bits, so there
//! is nothing for a slow hash to protect against, and every request verifies one.
//!
//! It depends on no handler, service or request: [`crate::auth`] turns a request into a
//! [`Principal`] (through [`crate::service::authn`]), the services ask [`authorize`].

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::Config;
use crate::entity::users;
use crate::error::ApiError;

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
pub fn parse_key(token: &str) -> Option<(&str, &str)> {
    let (prefix, secret) = token.strip_prefix(KEY_MARKER)?.split_once('_')?;
    let hex_of = |s: &str, n: usize| s.len() == n * 2 && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_of(prefix, PREFIX_BYTES) && hex_of(secret, SECRET_BYTES)).then_some((prefix, secret))
}

pub fn principal_of(user: users::Model, via: String, session_id: Option<Uuid>) -> Principal {
    Principal {
        user_id: user.id,
        role: Role::of(&user),
        username: user.username,
        via,
        session_id,
        grants: Vec::new(),
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
