use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchyard_shared::model::ZoneSpec;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::router::UtoipaMethodRouterExt as _;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{ApiJson, ApiPath, ApiQuery};
use crate::service::zones::{
    self as service, BulkRequest, Diff, ZoneListQuery, ZoneView, ZoneWritten,
};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(bulk).layer(DefaultBodyLimit::max(BULK_BODY_LIMIT)))
        .routes(routes!(read, update, remove))
}

/// Largest bulk or import body: 20,000 zones with long upstream lists and CIDR
/// allow-lists fit; other bodies keep axum's 2 MB default.
pub const BULK_BODY_LIMIT: usize = 32 << 20;

/// `?dry_run=true` on every write: answer with the diff, change nothing.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WriteQuery {
    #[serde(default)]
    pub dry_run: bool,
}

/// Response headers of a real `DELETE /zones/{id}` (its answer has no body): the
/// Redis version the write produced (absent when Redis did not answer and the change
/// is queued) and its commit time (RFC 3339).
pub const VERSION_HEADER: &str = "x-switchyard-version";
pub const COMMITTED_AT_HEADER: &str = "x-switchyard-committed-at";

/// A real write's zone with what the write reports (version, commit time).
fn written(zone: ZoneView, diff: &Diff) -> ZoneWritten {
    ZoneWritten::new(
        zone,
        diff.version,
        diff.committed_at
            .unwrap_or_else(time::OffsetDateTime::now_utc),
    )
}

/// The diff of a dry run (200), or the real answer made from it.
fn answer(diff: Diff, real: impl FnOnce(Diff) -> Response) -> Response {
    if diff.dry_run {
        (StatusCode::OK, Json(diff)).into_response()
    } else {
        real(diff)
    }
}

#[utoipa::path(
    post, path = "/zones", tag = "zones", params(WriteQuery), request_body = ZoneSpec,
    responses((status = 201, description = "Created: the zone as stored, with the Redis version the write produced and its commit time", body = ZoneWritten), (status = 200, description = "`?dry_run=true`: the diff it would apply", body = Diff), (status = 409, response = crate::schema::ZoneConflict), (status = 503, response = crate::schema::ZoneUnavailable))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(spec): ApiJson<ZoneSpec>,
) -> Result<Response, ApiError> {
    // The permission check is the hostname's domain: the service refuses a hostname
    // outside every domain the caller may edit.
    let diff = service::create(
        &state,
        &caller.principal,
        &caller.actor(),
        spec,
        query.dry_run,
    )
    .await?;
    Ok(answer(diff, |mut d| {
        let zone = written(d.created.remove(0), &d);
        (StatusCode::CREATED, Json(zone)).into_response()
    }))
}

/// All-or-nothing create / replace / delete of many zones; answers the diff.
#[utoipa::path(
    post, path = "/zones/bulk", tag = "zones", params(WriteQuery), request_body = BulkRequest,
    responses((status = 200, description = "The diff applied (or, with `?dry_run=true`, that would be)", body = Diff), (status = 409, response = crate::schema::ZoneConflict), (status = 503, response = crate::schema::ZoneUnavailable))
)]
async fn bulk(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(request): ApiJson<BulkRequest>,
) -> Result<Json<Diff>, ApiError> {
    Ok(Json(
        service::bulk(
            &state,
            &caller.principal,
            &caller.actor(),
            request,
            query.dry_run,
        )
        .await?,
    ))
}

#[utoipa::path(
    get, path = "/zones", tag = "zones", params(ZoneListQuery),
    responses((status = 200, description = "A page of readable zones (from Redis, marked `degraded`, while PostgreSQL is down)", body = crate::service::zones::ZonePage))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ZoneListQuery>,
) -> Result<Response, ApiError> {
    // PostgreSQL down: what the proxies serve, from Redis, marked degraded.
    Ok(Json(service::list_or_degraded(&state, &caller.principal, &query).await?).into_response())
}

#[utoipa::path(
    get, path = "/zones/{id}", tag = "zones", params(("id" = Uuid, Path, description = "The zone's id")),
    responses((status = 200, description = "The zone (from Redis, marked `degraded`, while PostgreSQL is down)", body = crate::service::zones::ZoneRead), (status = 404, response = crate::schema::NotFound))
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    Ok(Json(service::read(&state, &caller.principal, id).await?).into_response())
}

#[utoipa::path(
    put, path = "/zones/{id}", tag = "zones", params(("id" = Uuid, Path, description = "The zone's id"), WriteQuery), request_body = ZoneSpec,
    responses((status = 200, description = "The zone as stored, or with `?dry_run=true` the diff", body = crate::schema::ZoneOrDiff), (status = 404, response = crate::schema::NotFound), (status = 409, response = crate::schema::ZoneConflict), (status = 503, response = crate::schema::ZoneUnavailable))
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WriteQuery>,
    ApiJson(spec): ApiJson<ZoneSpec>,
) -> Result<Response, ApiError> {
    let diff = service::update(
        &state,
        &caller.principal,
        &caller.actor(),
        id,
        spec,
        query.dry_run,
    )
    .await?;
    Ok(answer(diff, |mut d| {
        let zone = written(d.changed.remove(0).after, &d);
        Json(zone).into_response()
    }))
}

#[utoipa::path(
    delete, path = "/zones/{id}", tag = "zones", params(("id" = Uuid, Path, description = "The zone's id"), WriteQuery),
    responses((status = 204, description = "Deleted", headers(("X-Switchyard-Version" = u64, description = "The global Redis version the write produced; absent when Redis did not answer and the change is queued"), ("X-Switchyard-Committed-At" = String, description = "When the change was committed to PostgreSQL (RFC 3339)"))), (status = 200, description = "`?dry_run=true`: the diff it would apply", body = Diff), (status = 404, response = crate::schema::NotFound))
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
    Ok(answer(diff, |d| deleted(&d)))
}

/// A real delete's 204, with the version and commit time headers of the write.
pub(super) fn deleted(d: &Diff) -> Response {
    let mut headers = axum::http::HeaderMap::new();
    if let Some(v) = d.version {
        headers.insert(VERSION_HEADER, v.into());
    }
    if let Some(at) = d.committed_at.and_then(|at| {
        at.format(&time::format_description::well_known::Rfc3339)
            .ok()
    }) && let Ok(value) = axum::http::HeaderValue::from_str(&at)
    {
        headers.insert(COMMITTED_AT_HEADER, value);
    }
    (StatusCode::NO_CONTENT, headers).into_response()
}
