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
use crate::service::dns_credentials::{
    self as service, CredentialPatch, CredentialView, NewCredential,
};
use crate::service::write::Answer;
use crate::service::zones::Diff;
use crate::service::{ListQuery, Page};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, remove))
}

#[utoipa::path(
    post, path = "/dns-credentials", tag = "dns-credentials", params(WriteQuery), request_body = NewCredential,
    responses((status = 201, description = "Created; the secret is sealed and never returned", body = CredentialView), (status = 200, description = "`?dry_run=true`: what it would create (`changes`, never the secret), nothing changed", body = Diff), (status = 404, response = crate::schema::NotFound), (status = 409, response = crate::schema::Conflict))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(input): ApiJson<NewCredential>,
) -> Result<Response, ApiError> {
    let answer = service::create(&state.db, &state.identity, &caller, input, query.dry_run).await?;
    Ok(answer.respond(StatusCode::CREATED))
}

#[utoipa::path(
    get, path = "/dns-credentials", tag = "dns-credentials", params(ListQuery),
    responses((status = 200, description = "A page of credentials (`\"secret\":\"set\"`, never the secret)", body = Page<CredentialView>), (status = 404, response = crate::schema::NotFound))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<CredentialView>>, ApiError> {
    Ok(Json(
        service::list(&state.db, &caller.principal, &query).await?,
    ))
}

#[utoipa::path(
    patch, path = "/dns-credentials/{id}", tag = "dns-credentials", params(("id" = Uuid, Path, description = "The credential's id"), WriteQuery), request_body = CredentialPatch,
    responses((status = 200, description = "The credential as changed, or with `?dry_run=true` the diff (nothing changed)", body = crate::schema::CredentialOrDiff), (status = 404, response = crate::schema::NotFound))
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(input): ApiJson<CredentialPatch>,
) -> Result<Response, ApiError> {
    let answer = service::update(
        &state.db,
        &state.identity,
        &caller,
        id,
        input,
        query.dry_run,
    )
    .await?;
    Ok(answer.respond(StatusCode::OK))
}

#[utoipa::path(
    delete, path = "/dns-credentials/{id}", tag = "dns-credentials", params(("id" = Uuid, Path, description = "The credential's id"), WriteQuery),
    responses((status = 204, description = "Deleted"), (status = 200, description = "`?dry_run=true`: the diff (`changes`), nothing changed", body = Diff), (status = 404, response = crate::schema::NotFound), (status = 409, response = crate::schema::Conflict))
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WriteQuery>,
) -> Result<Response, ApiError> {
    Ok(
        match service::delete(&state.db, &caller, id, query.dry_run).await? {
            Answer::DryRun(diff) => Json(diff).into_response(),
            Answer::Done(()) => StatusCode::NO_CONTENT.into_response(),
        },
    )
}
