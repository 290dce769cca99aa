//! How a request proves who is calling: the extractors that turn its credentials into
//! a [`Principal`] ([`crate::service::authn`] checks them; [`crate::access`] says what
//! the principal may do).
//!
//! Two ways in, one [`Principal`] out:
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
//! address ([`crate::access::Identity::check_login`], GCRA from `governor`), before argon2 runs, so a
//! flood of guesses costs the server nothing.
//!
//! Key and token material: random from the operating system; only SHA-256 digests are
//! stored. A fast hash is right here, unlike for passwords: the secrets are 256 random
//! bits, so there is nothing for a slow hash to protect against, and every request
//! verifies one.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use base64::Engine as _;

pub use crate::access::{CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE};
use crate::access::{Principal, hash_secret, principal_of};
use crate::error::ApiError;
use crate::input::RequestMeta;
pub use crate::service::Caller;
use crate::service::authn::{self, LoggedIn, Presented};
use crate::state::AppState;

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

fn authorization(parts: &Parts) -> Option<&str> {
    parts.headers.get(AUTHORIZATION)?.to_str().ok()
}

/// The address the request came from, for the login limits.
pub fn source_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    /// An `Authorization` header wins (and must be a valid bearer key); otherwise the
    /// session cookie; otherwise 401. A session's unsafe request must echo its CSRF
    /// token.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let jar;
        let presented = if let Some(header) = authorization(parts) {
            let token = header
                .strip_prefix("Bearer ")
                .ok_or(ApiError::Unauthorized)?
                .trim();
            Presented::Key(token)
        } else {
            jar = CookieJar::from_headers(&parts.headers);
            let token = jar.get(SESSION_COOKIE).ok_or(ApiError::Unauthorized)?;
            Presented::Session(token.value())
        };
        let found = authn::authenticate(state, &state.credentials, presented).await?;
        if let Some(csrf_hash) = &found.csrf_hash {
            check_csrf(parts, csrf_hash)?;
        }
        Ok(found.principal)
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
        let logged_in = authn::password_login(
            state,
            &state.credentials,
            &state.identity,
            username,
            password,
            source_ip(parts),
        )
        .await?;
        match logged_in {
            LoggedIn::Database(user) => Ok(KeyCreator(principal_of(user, "password".into(), None))),
            // Minting a key writes to the database, which is not there.
            LoggedIn::Remembered(_) => Err(ApiError::Unavailable(crate::error::DB_DOWN)),
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
