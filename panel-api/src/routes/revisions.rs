//! History and rollback: `GET /revisions`, `GET /revisions/{number}`,
//! `GET /zones/{id}/revisions`, `POST /zones/{id}/rollback`, `POST /rollback`
//! ([`crate::service::revisions`]).

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{ApiJson, ApiPath, ApiQuery};
use crate::routes::zones::WriteQuery;
use crate::service::revisions::{
    self as service, ConfigDiff, RevisionListQuery, RevisionPage, RevisionRecordsQuery,
    RevisionSummary, RevisionView, RollbackRequest, ZoneRevision,
};
use crate::service::zones::Diff;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read))
        .routes(routes!(zone_history))
        .routes(routes!(rollback_zone))
        .routes(routes!(rollback_all))
}

/// The configuration's history, newest first: admins see every revision; a user the
/// revisions with a record they may read (zones and domains of their read grants, their
/// own, granted and preset named backends), each listing only those records.
#[utoipa::path(
    get, path = "/revisions", tag = "revisions", params(RevisionListQuery),
    responses((status = 200, description = "A page of revisions, newest first; `next` is the `after` of the next page", body = RevisionPage<RevisionSummary>))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RevisionListQuery>,
) -> Result<Json<RevisionPage<RevisionSummary>>, ApiError> {
    Ok(Json(
        service::list(&state.db, &caller.principal, &query).await?,
    ))
}

/// One revision with a page of its records, before and after (basic-auth users by
/// username only); only the records the caller may read.
#[utoipa::path(
    get, path = "/revisions/{number}", tag = "revisions",
    params(("number" = i64, Path, minimum = 1, description = "The revision's number"), RevisionRecordsQuery),
    responses((status = 200, description = "The revision and a page of its records", body = RevisionView), (status = 404, response = crate::schema::NotFound))
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(number): ApiPath<i64>,
    ApiQuery(query): ApiQuery<RevisionRecordsQuery>,
) -> Result<Json<RevisionView>, ApiError> {
    Ok(Json(
        service::get(&state.db, &caller.principal, number, &query).await?,
    ))
}

/// A zone's history, newest first: every revision that created, changed, re-rendered
/// or deleted it. A deleted zone's history stays here, by its id.
#[utoipa::path(
    get, path = "/zones/{id}/revisions", tag = "revisions",
    params(("id" = Uuid, Path, description = "The zone's id (a deleted zone's too)"), RevisionListQuery),
    responses((status = 200, description = "A page of the zone's revisions, newest first", body = RevisionPage<ZoneRevision>), (status = 404, response = crate::schema::NotFound))
)]
async fn zone_history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<RevisionListQuery>,
) -> Result<Json<RevisionPage<ZoneRevision>>, ApiError> {
    Ok(Json(
        service::zone_history(&state.db, &caller.principal, id, &query).await?,
    ))
}

/// Restores the zone to its state right after `revision`: re-created (with its id) if
/// deleted since, deleted if it did not exist yet, replaced otherwise. One change with
/// its own revision and audit record, written through to Redis; `dry_run` (in the body
/// or the query) answers the diff only. A zone already in that state answers an empty
/// diff and records nothing.
#[utoipa::path(
    post, path = "/zones/{id}/rollback", tag = "revisions",
    params(("id" = Uuid, Path, description = "The zone's id (a deleted zone's too)"), WriteQuery),
    request_body = RollbackRequest,
    responses(
        (status = 200, description = "The diff applied (or, for a dry run, that would be), as a zone write answers it", body = Diff),
        (status = 403, response = crate::schema::RollbackForbidden),
        (status = 404, response = crate::schema::NotFound),
        (status = 409, response = crate::schema::ZoneConflict),
        (status = 503, response = crate::schema::ZoneUnavailable)
    )
)]
async fn rollback_zone(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(input): ApiJson<RollbackRequest>,
) -> Result<Json<Diff>, ApiError> {
    Ok(Json(
        service::rollback_zone(
            &state,
            &caller.principal,
            &caller.actor(),
            id,
            input.revision,
            input.dry_run || query.dry_run,
        )
        .await?,
    ))
}

/// Admins: restores the whole routing configuration (zones, named backends, deleted
/// domains) to its state right after `revision`, as one change; `dry_run` (in the body
/// or the query) answers every difference and changes nothing.
#[utoipa::path(
    post, path = "/rollback", tag = "revisions", params(WriteQuery), request_body = RollbackRequest,
    responses(
        (status = 200, description = "Every difference applied (or, for a dry run, that would be)", body = ConfigDiff),
        (status = 404, response = crate::schema::NotFound),
        (status = 409, response = crate::schema::ZoneConflict),
        (status = 503, response = crate::schema::ZoneUnavailable)
    )
)]
async fn rollback_all(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(input): ApiJson<RollbackRequest>,
) -> Result<Json<ConfigDiff>, ApiError> {
    Ok(Json(
        service::rollback_all(
            &state,
            &caller.principal,
            &caller.actor(),
            input.revision,
            input.dry_run || query.dry_run,
        )
        .await?,
    ))
}
