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
use crate::service::Page;
use crate::service::grants::{self as service, GrantQuery, GrantView, NewGrant};
use crate::service::write::Answer;
use crate::service::zones::Diff;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(remove))
}

#[utoipa::path(
    post, path = "/grants", tag = "grants", params(WriteQuery), request_body = NewGrant,
    responses((status = 201, description = "Created", body = GrantView), (status = 200, description = "`?dry_run=true`: what it would create (`changes`), nothing changed", body = Diff), (status = 404, response = crate::schema::NotFound), (status = 409, response = crate::schema::Conflict))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(input): ApiJson<NewGrant>,
) -> Result<Response, ApiError> {
    let answer =
        service::create(&state.db, &state.credentials, &caller, input, query.dry_run).await?;
    Ok(answer.respond(StatusCode::CREATED))
}

#[utoipa::path(
    get, path = "/grants", tag = "grants", params(GrantQuery),
    responses((status = 200, description = "A page of grants", body = Page<GrantView>), (status = 404, response = crate::schema::NotFound))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<GrantQuery>,
) -> Result<Json<Page<GrantView>>, ApiError> {
    Ok(Json(
        service::list(&state.db, &caller.principal, &query).await?,
    ))
}

#[utoipa::path(
    delete, path = "/grants/{id}", tag = "grants", params(("id" = Uuid, Path, description = "The grant's id"), WriteQuery),
    responses((status = 204, description = "Deleted"), (status = 200, description = "`?dry_run=true`: the diff (`changes`), nothing changed", body = Diff), (status = 404, response = crate::schema::NotFound))
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
