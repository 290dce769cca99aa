use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::router::UtoipaMethodRouterExt as _;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{ApiJson, ApiQuery};
use crate::routes::zones::{BULK_BODY_LIMIT, WriteQuery};
use crate::service::transfer::{self as service, Document, ExportQuery};
use crate::service::zones::Diff;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export))
        .routes(routes!(import).layer(DefaultBodyLimit::max(BULK_BODY_LIMIT)))
        .routes(routes!(import_flat).layer(DefaultBodyLimit::max(BULK_BODY_LIMIT)))
}

/// `POST /import/flat`: the `DOMAINS`/`SERVICES` form, as the two variables' values
/// (`{"env":{"domains":"app1.com:app1,status.com","services":"app1:app1:8080"}}`) or
/// as the equivalent document (`{"domains":[...],"services":[...]}`), applied like an
/// import (all or nothing, `?dry_run=true`). Problems name the entry they are about.
#[utoipa::path(
    post, path = "/import/flat", tag = "transfer", params(WriteQuery), request_body = crate::mirror::FlatInput,
    responses((status = 200, description = "The diff applied (or, with `?dry_run=true`, that would be)", body = Diff))
)]
async fn import_flat(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(input): ApiJson<service::FlatInput>,
) -> Result<Json<Diff>, ApiError> {
    Ok(Json(
        service::import_flat(
            &state,
            &caller.principal,
            &caller.actor(),
            input,
            query.dry_run,
        )
        .await?,
    ))
}

/// The caller's readable slice of the configuration (format `switchyard-export/2`):
/// domains with their DNS credential by name (admins; never a secret), named
/// backends, zones, and with `?include=users` (admins) every user and grant (never a
/// password hash or API key). The one answer that carries basic-auth password hashes
/// (`policies.basic_auth.users[].hash`), so that a panel can be rebuilt from the
/// file: treat it as a secret (docs/policies.md).
#[utoipa::path(
    get, path = "/export", tag = "transfer", params(ExportQuery),
    responses((status = 200, description = "The caller's readable slice; basic-auth users keep their `hash` (the only answer that returns one)", body = Document), (status = 404, response = crate::schema::NotFound))
)]
async fn export(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Json<Document>, ApiError> {
    let with_users = match query.include.as_deref() {
        None => false,
        Some("users") => true,
        Some(other) => {
            return Err(ApiError::invalid_field(
                "include",
                format!("\"{}\" cannot be included: use users", other.escape_debug()),
            ));
        }
    };
    Ok(Json(
        service::export(&state.db, &caller.principal, with_users).await?,
    ))
}

/// All or nothing; `?dry_run=true` answers the diff only. Reads formats
/// `switchyard-export/2` and `/1`. Users (admins) are created with no usable
/// password and listed in `users_created`: set each one's with `PATCH /users/{id}`.
#[utoipa::path(
    post, path = "/import", tag = "transfer", params(WriteQuery), request_body = Document,
    responses((status = 200, description = "The diff applied (or, with `?dry_run=true`, that would be); domains, users and grants in `changes`, users created in `users_created`", body = Diff), (status = 409, response = crate::schema::ZoneConflict), (status = 503, response = crate::schema::ZoneUnavailable))
)]
async fn import(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(document): ApiJson<Document>,
) -> Result<Json<Diff>, ApiError> {
    Ok(Json(
        service::import(
            &state,
            &caller.principal,
            &caller.actor(),
            document,
            query.dry_run,
        )
        .await?,
    ))
}
