use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::zones::WriteQuery;
use crate::auth::{Caller, KeyCreator};
use crate::error::ApiError;
use crate::input::{ApiJson, ApiPath, ApiQuery, RequestMeta};
use crate::service::api_keys::{self as service, ApiKeyView, CreatedApiKey, NewApiKey};
use crate::service::write::Answer;
use crate::service::zones::Diff;
use crate::service::{ListQuery, Page};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// Bearer key or HTTP Basic (the bootstrap path); the key is in this answer only.
/// A dry run answers what it would record, never a key.
#[utoipa::path(
    post, path = "/api-keys", tag = "api-keys", params(WriteQuery), request_body = NewApiKey,
    security(("bearer" = []), ("session" = [], "csrf" = []), ("basic" = [])),
    responses((status = 201, description = "The key, with its secret shown this once", body = CreatedApiKey), (status = 200, description = "`?dry_run=true`: what it would create (`changes`; no key), nothing changed", body = Diff), (status = 429, response = crate::schema::TooManyRequests))
)]
async fn create(
    State(state): State<AppState>,
    meta: RequestMeta,
    KeyCreator(principal): KeyCreator,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(input): ApiJson<NewApiKey>,
) -> Result<Response, ApiError> {
    let caller = Caller::new(principal, meta);
    let answer = service::create(
        &state.db,
        &caller.actor(),
        caller.principal.user_id,
        input,
        query.dry_run,
    )
    .await?;
    Ok(answer.respond(StatusCode::CREATED))
}

#[utoipa::path(
    get, path = "/api-keys", tag = "api-keys", params(ListQuery),
    responses((status = 200, description = "The caller's keys", body = Page<ApiKeyView>))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<ApiKeyView>>, ApiError> {
    Ok(Json(
        service::list(&state.db, caller.principal.user_id, &query).await?,
    ))
}

#[utoipa::path(
    delete, path = "/api-keys/{id}", tag = "api-keys", params(("id" = Uuid, Path, description = "The key's id"), WriteQuery),
    responses((status = 204, description = "Revoked"), (status = 200, description = "`?dry_run=true`: the diff (`changes`), nothing changed", body = Diff), (status = 404, response = crate::schema::NotFound))
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WriteQuery>,
) -> Result<Response, ApiError> {
    let answer = service::revoke(
        &state.db,
        &state.credentials,
        &caller.actor(),
        caller.principal.user_id,
        id,
        query.dry_run,
    )
    .await?;
    Ok(match answer {
        Answer::DryRun(diff) => Json(diff).into_response(),
        Answer::Done(_) => StatusCode::NO_CONTENT.into_response(),
    })
}
