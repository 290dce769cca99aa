//! Who is calling, and what they may do.
//!
//! In this slice callers authenticate with API keys only (`Authorization: Bearer
//! sy_<prefix>_<secret>`); the one exception is `POST /api/v1/api-keys`, which also takes
//! HTTP Basic username + password so that the first key can be made. Cookie sessions
//! will arrive as a second way to obtain the same [`Principal`], and everything will
//! still pass through [`authorize`].
//!
//! Key material: the prefix is 48 random bits (hex), unique, stored in clear and used to
//! find the row; the secret is 256 random bits (hex) of which only the SHA-256 is stored.
//! A fast hash is right here, unlike for passwords: the secret is random and long, so
//! there is nothing for a slow hash to protect against, and every request verifies one.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine as _;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::app::{AppState, RequestMeta};
use crate::entity::{api_keys, users};
use crate::error::ApiError;
use crate::service::Actor;
use crate::service::users as user_service;

/// Every key starts with this, so leaked keys are easy to spot in code and logs.
pub const KEY_MARKER: &str = "sy_";
/// Random bytes in a key's prefix (shown to users, stored in clear).
pub const PREFIX_BYTES: usize = 6;
/// Random bytes in a key's secret: 256 bits, far above the 128 required.
pub const SECRET_BYTES: usize = 32;

/// A user's role; `admin` sees and changes everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    User,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    /// How they proved it, for the audit log: `api key sy_ab12…` or `password`.
    pub via: String,
}

/// What a request wants to do; [`authorize`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create, list and revoke one's own API keys.
    OwnApiKeys,
    ReadDomains,
    EditDomains,
    ReadZones,
    EditZones,
}

/// The one permission check every endpoint goes through.
///
/// Admins may do everything. Grants do not exist yet, so a non-admin has no grant on
/// any domain or zone and gets the "no grant" answer: 404, the same as for a resource
/// that does not exist.
pub fn authorize(principal: &Principal, action: Action) -> Result<(), ApiError> {
    match (principal.role, action) {
        (Role::Admin, _) | (Role::User, Action::OwnApiKeys) => Ok(()),
        (Role::User, _) => Err(ApiError::NotFound),
    }
}

/// A freshly generated key: the full text (shown once) and what is stored.
pub struct NewKey {
    pub full: String,
    pub prefix: String,
    pub secret_hash: String,
}

/// Generates a key from the operating system's random source.
pub fn generate_key() -> anyhow::Result<NewKey> {
    let mut prefix = [0u8; PREFIX_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut prefix).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let prefix = hex::encode(prefix);
    let secret = hex::encode(secret);
    Ok(NewKey {
        full: format!("{KEY_MARKER}{prefix}_{secret}"),
        secret_hash: hash_secret(&secret),
        prefix,
    })
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Splits `sy_<prefix>_<secret>`; `None` for anything else.
fn parse_key(token: &str) -> Option<(&str, &str)> {
    let (prefix, secret) = token.strip_prefix(KEY_MARKER)?.split_once('_')?;
    let hex_of = |s: &str, n: usize| s.len() == n * 2 && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_of(prefix, PREFIX_BYTES) && hex_of(secret, SECRET_BYTES)).then_some((prefix, secret))
}

fn role_of(user: &users::Model) -> Role {
    if user.role == "admin" {
        Role::Admin
    } else {
        Role::User
    }
}

/// Checks a bearer key: known prefix, matching secret, not revoked, not expired, user
/// not disabled. Every failure is the same 401.
async fn principal_from_key(state: &AppState, token: &str) -> Result<Principal, ApiError> {
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
    Ok(Principal {
        user_id: user.id,
        role: role_of(&user),
        username: user.username,
        via: format!("api key {KEY_MARKER}{}", key.prefix),
    })
}

fn authorization(parts: &Parts) -> Option<&str> {
    parts.headers.get(AUTHORIZATION)?.to_str().ok()
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = authorization(parts)
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        principal_from_key(state, token.trim()).await
    }
}

/// A caller of `POST /api/v1/api-keys`: a bearer key, or HTTP Basic username + password
/// (the bootstrap path: the first admin has only a password).
pub struct KeyCreator(pub Principal);

impl FromRequestParts<AppState> for KeyCreator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = authorization(parts).ok_or(ApiError::Unauthorized)?;
        if let Some(token) = header.strip_prefix("Bearer ") {
            return principal_from_key(state, token.trim())
                .await
                .map(KeyCreator);
        }
        let encoded = header
            .strip_prefix("Basic ")
            .ok_or(ApiError::Unauthorized)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(ApiError::Unauthorized)?;
        let (username, password) = decoded.split_once(':').ok_or(ApiError::Unauthorized)?;
        let user = user_service::verify_login(&state.db, username, password)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(KeyCreator(Principal {
            user_id: user.id,
            role: role_of(&user),
            username: user.username,
            via: "password".into(),
        }))
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
    pub fn authorize(&self, action: Action) -> Result<(), ApiError> {
        authorize(&self.principal, action)
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

    #[test]
    fn non_admins_get_not_found_outside_their_keys() {
        let user = Principal {
            user_id: Uuid::nil(),
            username: "u".into(),
            role: Role::User,
            via: "test".into(),
        };
        assert!(authorize(&user, Action::OwnApiKeys).is_ok());
        for action in [
            Action::ReadDomains,
            Action::EditDomains,
            Action::ReadZones,
            Action::EditZones,
        ] {
            assert!(matches!(authorize(&user, action), Err(ApiError::NotFound)));
        }
    }
}
