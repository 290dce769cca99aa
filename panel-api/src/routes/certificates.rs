//! Uploaded certificates (`/domains/{id}/uploaded-certificates`,
//! `/uploaded-certificates/{id}`) and which certificate serves which name
//! (`/zones/{id}/certificate`, `/certificates/uncovered`): HTTP only, the operations are
//! `service::cert_uploads`.

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
use crate::service::cert_uploads::{
    self as service, NewUpload, Replacement, Uncovered, UploadList, UploadView, ZoneCertificate,
};
use crate::service::write::Answer;
use crate::service::zones::Diff;
use crate::service::{ListQuery, Page};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, replace, remove))
        .routes(routes!(zone_certificate))
        .routes(routes!(uncovered))
}

/// Uploads a certificate (chain and key in PEM) for the domain — its wildcard and apex
/// — or for one exact hostname within it (edit grant). Checked whole: chain order,
/// names, validity, key type and size, key matching the leaf; each refusal a 422
/// naming the field, nothing stored. Served by the proxies in preference to an issued
/// certificate for the same name; never renewed automatically.
#[utoipa::path(
    post, path = "/domains/{id}/uploaded-certificates", tag = "certificates", params(("id" = Uuid, Path, description = "The domain's id"), WriteQuery), request_body = NewUpload,
    responses((status = 201, description = "Stored (the key sealed, never returned) and written to Redis", body = UploadView), (status = 200, description = "`?dry_run=true`: what it would store (`changes`), nothing changed", body = Diff), (status = 404, response = crate::schema::NotFound), (status = 409, response = crate::schema::Conflict))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(input): ApiJson<NewUpload>,
) -> Result<Response, ApiError> {
    let answer = service::create(&state, &caller, id, input, query.dry_run).await?;
    Ok(answer.respond(StatusCode::CREATED))
}

/// The domain's uploaded certificates (read grant).
#[utoipa::path(
    get, path = "/domains/{id}/uploaded-certificates", tag = "certificates", params(("id" = Uuid, Path, description = "The domain's id")),
    responses((status = 200, description = "Its uploaded certificates (never a key)", body = UploadList), (status = 404, response = crate::schema::NotFound))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<UploadList>, ApiError> {
    Ok(Json(service::list(&state, &caller.principal, id).await?))
}

#[utoipa::path(
    get, path = "/uploaded-certificates/{id}", tag = "certificates", params(("id" = Uuid, Path, description = "The uploaded certificate's id")),
    responses((status = 200, description = "The uploaded certificate (never its key)", body = UploadView), (status = 404, response = crate::schema::NotFound))
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<UploadView>, ApiError> {
    Ok(Json(service::get(&state, &caller.principal, id).await?))
}

/// A new chain and key for the same names (edit grant), checked like an upload.
#[utoipa::path(
    put, path = "/uploaded-certificates/{id}", tag = "certificates", params(("id" = Uuid, Path, description = "The uploaded certificate's id"), WriteQuery), request_body = Replacement,
    responses((status = 200, description = "The certificate as replaced, or with `?dry_run=true` the diff (nothing changed)", body = crate::schema::UploadOrDiff), (status = 404, response = crate::schema::NotFound))
)]
async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(input): ApiJson<Replacement>,
) -> Result<Response, ApiError> {
    let answer = service::replace(&state, &caller, id, input, query.dry_run).await?;
    Ok(answer.respond(StatusCode::OK))
}

/// Deletes it (edit grant) and takes it out of Redis: its names fall back to an issued
/// certificate, if one covers them.
#[utoipa::path(
    delete, path = "/uploaded-certificates/{id}", tag = "certificates", params(("id" = Uuid, Path, description = "The uploaded certificate's id"), WriteQuery),
    responses((status = 204, description = "Deleted"), (status = 200, description = "`?dry_run=true`: the diff (`changes`), nothing changed", body = Diff), (status = 404, response = crate::schema::NotFound))
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WriteQuery>,
) -> Result<Response, ApiError> {
    Ok(
        match service::delete(&state, &caller, id, query.dry_run).await? {
            Answer::DryRun(diff) => Json(diff).into_response(),
            Answer::Done(()) => StatusCode::NO_CONTENT.into_response(),
        },
    )
}

/// Which certificate the zone's hostname gets today, by the proxies' own rule (exact
/// beats wildcard; uploaded beats issued for the same name).
#[utoipa::path(
    get, path = "/zones/{id}/certificate", tag = "certificates", params(("id" = Uuid, Path, description = "The zone's id")),
    responses((status = 200, description = "The certificate serving the hostname (`certificate: null`: none covers it)", body = ZoneCertificate), (status = 404, response = crate::schema::NotFound))
)]
async fn zone_certificate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ZoneCertificate>, ApiError> {
    Ok(Json(
        service::for_zone(&state.db, &caller.principal, id).await?,
    ))
}

/// The readable zones whose hostname no certificate covers, by hostname (one zone per
/// hostname); `q` filters by hostname substring.
#[utoipa::path(
    get, path = "/certificates/uncovered", tag = "certificates", params(ListQuery),
    responses((status = 200, description = "A page of zones no certificate covers", body = Page<Uncovered>))
)]
async fn uncovered(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<Uncovered>>, ApiError> {
    Ok(Json(
        service::uncovered(&state.db, &caller.principal, &query).await?,
    ))
}
