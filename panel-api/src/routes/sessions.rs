use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::zones::WriteQuery;
use crate::access::{CSRF_COOKIE, Grant, SESSION_COOKIE};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{ApiJson, ApiQuery, RequestMeta};
use crate::service::sessions as service;
use crate::service::users::{self, PasswordChange};
use crate::service::write::Answer;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
}

/// The caller changes their own password, proving the current one (403 when wrong;
/// counted against the login limits, 429 over them). Every other session of theirs
/// ends; the one this request came with stays valid. API keys stay valid: they are
/// separate credentials, each revoked on its own (`DELETE /api-keys/{id}`).
/// `?dry_run=true` checks everything (the current password too) and changes nothing.
#[utoipa::path(
    post, path = "/me/password", tag = "auth", params(WriteQuery), request_body = PasswordChange,
    responses((status = 204, description = "Changed; the caller's other sessions are revoked"), (status = 200, description = "`?dry_run=true`: the diff, nothing changed", body = crate::service::zones::Diff), (status = 429, response = crate::schema::TooManyRequests))
)]
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    let addr = caller
        .meta
        .source_addr
        .as_deref()
        .and_then(|a| a.parse().ok());
    let answer = users::change_own_password(
        &state.db,
        &state.credentials,
        &caller.actor(),
        caller.principal.user_id,
        caller.principal.session_id,
        change,
        query.dry_run,
        || state.identity.check_login(&caller.principal.username, addr),
    )
    .await?;
    Ok(match answer {
        Answer::DryRun(diff) => Json(diff).into_response(),
        Answer::Done(_) => StatusCode::NO_CONTENT.into_response(),
    })
}

/// `POST /api/v1/auth/login` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct LoggedIn {
    /// The user (with `"degraded": true` and no times for a login checked against
    /// Redis while the database is down).
    user: serde_json::Value,
    /// Echo in `X-CSRF-Token` on every unsafe request (also in the `sy_csrf` cookie).
    csrf_token: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

fn cookie(state: &AppState, name: &'static str, value: String, http_only: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(http_only)
        .same_site(state.identity.cookie_same_site)
        .secure(state.identity.cookie_secure)
        .path("/")
        .max_age(
            time::Duration::try_from(state.identity.session_ttl).unwrap_or(time::Duration::HOUR),
        )
        .build()
}

/// Password → session cookie + CSRF token. Rate limited per username and address.
#[utoipa::path(
    post, path = "/auth/login", tag = "auth", request_body = Login, security(()),
    responses((status = 200, description = "Logged in: sets the `sy_session` (HttpOnly) and `sy_csrf` cookies", body = LoggedIn, headers(("Set-Cookie" = String, description = "`sy_session=…; HttpOnly; SameSite=Strict; Path=/` (SameSite as configured) and `sy_csrf=…`"))), (status = 401, response = crate::schema::Unauthorized), (status = 429, response = crate::schema::TooManyRequests))
)]
async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    jar: CookieJar,
    ApiJson(input): ApiJson<Login>,
) -> Result<(CookieJar, Json<LoggedIn>), ApiError> {
    let service::Login { user, session } = service::log_in(
        &state,
        &state.credentials,
        &state.identity,
        &input.username,
        &input.password,
        &meta,
    )
    .await?;
    let jar = jar
        .add(cookie(&state, SESSION_COOKIE, session.token, true))
        .add(cookie(
            &state,
            CSRF_COOKIE,
            session.csrf_token.clone(),
            false,
        ));
    Ok((
        jar,
        Json(LoggedIn {
            user,
            csrf_token: session.csrf_token,
            expires_at: session.expires_at,
        }),
    ))
}

/// Revokes the cookie's session (CSRF-checked like every unsafe request) and clears
/// the cookies.
#[utoipa::path(
    post, path = "/auth/logout", tag = "auth", security(("session" = [], "csrf" = [])),
    responses((status = 204, description = "The session is revoked and the cookies cleared"), (status = 400, response = crate::schema::BadRequest))
)]
async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    jar: CookieJar,
) -> Result<(StatusCode, CookieJar), ApiError> {
    service::log_out(
        &state,
        &state.credentials,
        &caller,
        jar.get(SESSION_COOKIE).map(|c| c.value()),
    )
    .await?;
    // With the attributes they were set with: a browser takes a cross-site panel's
    // removal only as SameSite=None; Secure, like the cookie itself.
    let jar = jar
        .remove(cookie(&state, SESSION_COOKIE, String::new(), true))
        .remove(cookie(&state, CSRF_COOKIE, String::new(), false));
    Ok((StatusCode::NO_CONTENT, jar))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Me {
    user_id: uuid::Uuid,
    username: String,
    role: &'static str,
    via: String,
    grants: Vec<GrantSummary>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct GrantSummary {
    domain_id: Option<uuid::Uuid>,
    named_backend_id: Option<uuid::Uuid>,
    level: &'static str,
}

/// Who the caller is and what they hold: what a front end needs to draw itself.
#[utoipa::path(
    get, path = "/me", tag = "auth",
    responses((status = 200, description = "The caller and their grants", body = Me))
)]
async fn me(caller: Caller) -> Result<Json<Me>, ApiError> {
    let p = caller.principal;
    let role = if p.is_admin() { "admin" } else { "user" };
    Ok(Json(Me {
        user_id: p.user_id,
        username: p.username,
        role,
        via: p.via,
        grants: p
            .grants
            .into_iter()
            .map(
                |Grant {
                     domain_id,
                     named_backend_id,
                     level,
                 }| GrantSummary {
                    domain_id,
                    named_backend_id,
                    level: level.as_str(),
                },
            )
            .collect(),
    }))
}
