use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::zones::WriteQuery;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{ApiJson, ApiPath, ApiQuery};
use crate::service::certificates::{self, CertificateView};
use crate::state::AppState;
use axum::response::{IntoResponse, Response};

use crate::service::ListQuery;
use crate::service::domains::{self as service, DomainPatch, NewDomain};
use crate::service::zones::Diff;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(certificate))
        .routes(routes!(reissue))
}

/// `DELETE /domains/{id}`: `?cascade=true` deletes the domain's zones with it;
/// `?dry_run=true` answers the diff and changes nothing.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Answer what the delete would do (zones, certificate, grants) and change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Delete the zones that use the domain too; without it a domain in use is a 409
    /// naming them.
    #[serde(default)]
    pub cascade: bool,
}

/// The domain's wildcard certificate: status, last error, expiry.
#[utoipa::path(
    get, path = "/domains/{id}/certificate", tag = "domains", params(("id" = Uuid, Path, description = "The domain's id")),
    responses((status = 200, description = "The certificate's status (never key material)", body = CertificateView), (status = 404, response = crate::schema::NotFound))
)]
async fn certificate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<CertificateView>, ApiError> {
    Ok(Json(
        certificates::get(&state.db, &caller.principal, id).await?,
    ))
}

/// Starts the certificate's schedule over, due now (edit grant on the domain).
#[utoipa::path(
    post, path = "/domains/{id}/certificate/reissue", tag = "domains", params(("id" = Uuid, Path, description = "The domain's id"), WriteQuery),
    responses((status = 200, description = "The certificate, due now; with `?dry_run=true` the diff (nothing changed)", body = crate::schema::CertificateOrDiff), (status = 404, response = crate::schema::NotFound))
)]
async fn reissue(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WriteQuery>,
) -> Result<Response, ApiError> {
    let answer = certificates::reissue(
        &state.db,
        &caller.principal,
        &caller.actor(),
        id,
        query.dry_run,
    )
    .await?;
    Ok(answer.respond(StatusCode::OK))
}

#[utoipa::path(
    get, path = "/domains/{id}", tag = "domains", params(("id" = Uuid, Path, description = "The domain's id")),
    responses((status = 200, description = "The domain (marked `degraded` while PostgreSQL is down)", body = crate::service::domains::DomainRead), (status = 404, response = crate::schema::NotFound))
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    Ok(Json(service::read(&state, &caller.principal, id).await?).into_response())
}

#[utoipa::path(
    post, path = "/domains", tag = "domains", params(WriteQuery), request_body = NewDomain,
    responses((status = 201, description = "Created, with a pending certificate order", body = crate::service::domains::DomainView), (status = 200, description = "`?dry_run=true`: what it would create (`changes`), nothing changed", body = Diff), (status = 404, response = crate::schema::NotFound), (status = 409, response = crate::schema::Conflict))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(input): ApiJson<NewDomain>,
) -> Result<Response, ApiError> {
    let answer = service::create(&state, &caller, input, query.dry_run).await?;
    Ok(answer.respond(StatusCode::CREATED))
}

/// Changes the domain's DNS credential (admins). The certificate's next attempt uses
/// it; `POST …/certificate/reissue` makes that now.
#[utoipa::path(
    patch, path = "/domains/{id}", tag = "domains", params(("id" = Uuid, Path, description = "The domain's id"), WriteQuery), request_body = DomainPatch,
    responses((status = 200, description = "The domain as changed, or with `?dry_run=true` the diff (nothing changed)", body = crate::schema::DomainOrDiff), (status = 404, response = crate::schema::NotFound))
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(patch): ApiJson<DomainPatch>,
) -> Result<Response, ApiError> {
    let answer = service::update(&state, &caller, id, patch, query.dry_run).await?;
    Ok(answer.respond(StatusCode::OK))
}

/// Deletes the domain (admins) with its certificate (row, ACME orders, Redis key) and
/// the grants on it. While zones use it: 409 naming them, unless `cascade=true`,
/// which deletes them too (their Redis records with them, like any zone delete).
#[utoipa::path(
    delete, path = "/domains/{id}", tag = "domains", params(("id" = Uuid, Path, description = "The domain's id"), DeleteQuery),
    responses((status = 204, description = "Deleted", headers(("X-Switchyard-Version" = u64, description = "The global Redis version the write produced; absent when Redis did not answer and the change is queued"), ("X-Switchyard-Committed-At" = String, description = "When the change was committed to PostgreSQL (RFC 3339)"))), (status = 200, description = "`?dry_run=true`: the diff — zones `deleted` with their Redis `records`, and the domain, certificate and grants in `changes`; nothing changed", body = Diff), (status = 404, response = crate::schema::NotFound), (status = 409, response = crate::schema::Conflict))
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<Response, ApiError> {
    let diff = service::delete(
        &state,
        &state.credentials,
        &caller,
        id,
        query.cascade,
        query.dry_run,
    )
    .await?;
    if diff.dry_run {
        return Ok(Json(diff).into_response());
    }
    Ok(super::zones::deleted(&diff))
}

/// From Redis, marked `degraded`, while PostgreSQL is unreachable.
#[utoipa::path(
    get, path = "/domains", tag = "domains", params(ListQuery),
    responses((status = 200, description = "The readable domains (marked `degraded` while PostgreSQL is down)", body = crate::service::domains::DomainPage))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(service::list_or_degraded(&state, &caller.principal, &query).await?).into_response())
}
