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
use crate::service::users::{self as service, NewUser, UserPatch, UserView};
use crate::service::write::Answer;
use crate::service::zones::Diff;
use crate::service::{ListQuery, Page};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

#[utoipa::path(
    post, path = "/users", tag = "users", params(WriteQuery), request_body = NewUser,
    responses((status = 201, description = "Created", body = UserView), (status = 200, description = "`?dry_run=true`: what it would create (`changes`), nothing changed", body = Diff), (status = 404, response = crate::schema::NotFound), (status = 409, response = crate::schema::Conflict))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(input): ApiJson<NewUser>,
) -> Result<Response, ApiError> {
    let answer = service::create_checked(&state.db, &caller, input, query.dry_run).await?;
    Ok(answer.respond(StatusCode::CREATED))
}

#[utoipa::path(
    get, path = "/users", tag = "users", params(ListQuery),
    responses((status = 200, description = "A page of users", body = Page<UserView>), (status = 404, response = crate::schema::NotFound))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<UserView>>, ApiError> {
    Ok(Json(
        service::list(&state.db, &caller.principal, &query).await?,
    ))
}

#[utoipa::path(
    get, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "The user", body = UserView), (status = 404, response = crate::schema::NotFound))
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(service::get(&state.db, &caller.principal, id).await?))
}

/// A new password or disabling ends the user's sessions. The last enabled admin can
/// be neither demoted nor disabled (409).
#[utoipa::path(
    patch, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path, description = "The user's id"), WriteQuery), request_body = UserPatch,
    responses((status = 200, description = "The user as changed, or with `?dry_run=true` the diff (nothing changed)", body = crate::schema::UserOrDiff), (status = 404, response = crate::schema::NotFound), (status = 409, response = crate::schema::Conflict))
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> Result<Response, ApiError> {
    let answer = service::update(
        &state.db,
        &state.credentials,
        &caller,
        id,
        patch,
        query.dry_run,
    )
    .await?;
    Ok(answer.respond(StatusCode::OK))
}

/// Deletes a user with their sessions, API keys, grants and own named backends, in
/// one transaction. Never oneself, never the last enabled admin, nor a user whose
/// named backends zones still use (409).
#[utoipa::path(
    delete, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path, description = "The user's id"), WriteQuery),
    responses((status = 204, description = "Deleted, with everything of theirs"), (status = 200, description = "`?dry_run=true`: the diff (`changes`: the user, their grants and named backends), nothing changed", body = Diff), (status = 404, response = crate::schema::NotFound), (status = 409, response = crate::schema::Conflict))
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WriteQuery>,
) -> Result<Response, ApiError> {
    Ok(
        match service::delete(&state.db, &state.credentials, &caller, id, query.dry_run).await? {
            Answer::DryRun(diff) => Json(diff).into_response(),
            Answer::Done(_) => StatusCode::NO_CONTENT.into_response(),
        },
    )
}
