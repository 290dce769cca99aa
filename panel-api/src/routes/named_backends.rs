use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::zones::WriteQuery;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{ApiJson, ApiPath, ApiQuery};
use crate::service::named_backends::{
    self as service, BackendDiff, NamedBackendUpdate, NamedBackendView, NewNamedBackend,
};
use crate::service::{ListQuery, Page};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

#[utoipa::path(
    post, path = "/named-backends", tag = "named-backends", params(WriteQuery), request_body = NewNamedBackend,
    responses((status = 201, description = "Created", body = NamedBackendView), (status = 200, description = "`?dry_run=true`: the diff it would apply", body = BackendDiff), (status = 409, response = crate::schema::Conflict))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(input): ApiJson<NewNamedBackend>,
) -> Result<Response, ApiError> {
    // Anyone may define backends of their own; presets are checked in the service.
    let diff = service::create(
        &state,
        &caller.principal,
        &caller.actor(),
        input,
        query.dry_run,
    )
    .await?;
    Ok(if diff.dry_run {
        Json(diff).into_response()
    } else {
        (StatusCode::CREATED, Json(diff.after)).into_response()
    })
}

#[utoipa::path(
    get, path = "/named-backends", tag = "named-backends", params(ListQuery),
    responses((status = 200, description = "Presets, the caller's own and those granted to them", body = Page<NamedBackendView>))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<NamedBackendView>>, ApiError> {
    Ok(Json(
        service::list(&state.db, &caller.principal, &query).await?,
    ))
}

#[utoipa::path(
    get, path = "/named-backends/{id}", tag = "named-backends", params(("id" = Uuid, Path, description = "The named backend's id")),
    responses((status = 200, description = "The named backend", body = NamedBackendView), (status = 404, response = crate::schema::NotFound))
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<NamedBackendView>, ApiError> {
    Ok(Json(service::get(&state.db, &caller.principal, id).await?))
}

/// Answers the diff: the backend before and after, and every zone re-rendered.
#[utoipa::path(
    put, path = "/named-backends/{id}", tag = "named-backends", params(("id" = Uuid, Path, description = "The named backend's id"), WriteQuery), request_body = NamedBackendUpdate,
    responses((status = 200, description = "The diff: the backend before and after, and every zone re-rendered", body = BackendDiff), (status = 404, response = crate::schema::NotFound), (status = 409, response = crate::schema::Conflict))
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(input): ApiJson<NamedBackendUpdate>,
) -> Result<Json<BackendDiff>, ApiError> {
    Ok(Json(
        service::update(
            &state,
            &caller.principal,
            &caller.actor(),
            id,
            input,
            query.dry_run,
        )
        .await?,
    ))
}

#[utoipa::path(
    delete, path = "/named-backends/{id}", tag = "named-backends", params(("id" = Uuid, Path, description = "The named backend's id"), WriteQuery),
    responses((status = 204, description = "Deleted"), (status = 200, description = "`?dry_run=true`: the diff it would apply", body = BackendDiff), (status = 404, response = crate::schema::NotFound), (status = 409, response = crate::schema::Conflict))
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WriteQuery>,
) -> Result<Response, ApiError> {
    let diff = service::delete(
        &state,
        &caller.principal,
        &caller.actor(),
        id,
        query.dry_run,
    )
    .await?;
    Ok(if diff.dry_run {
        Json(diff).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    })
}
