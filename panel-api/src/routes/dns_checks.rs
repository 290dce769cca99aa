//! `GET /domains/{id}/dns-check` and `GET /zones/{id}/dns-check`: whether the name
//! points at the fleet ([`crate::service::dns_checks`]).

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{ApiPath, ApiQuery};
use crate::service::dns_checks::{self as service, CheckQuery, DnsCheckView};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(domain))
        .routes(routes!(zone))
}

/// The domain's apex: its last DNS check (made now when there is none, or with
/// `?refresh=true`) — the resolver asked, the records seen, the verdict against the
/// fleet's public addresses and why.
#[utoipa::path(
    get, path = "/domains/{id}/dns-check", tag = "domains",
    params(("id" = Uuid, Path, description = "The domain's id"), CheckQuery),
    responses((status = 200, description = "The last (or a fresh) DNS check of the domain's apex", body = DnsCheckView), (status = 404, response = crate::schema::NotFound))
)]
async fn domain(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<CheckQuery>,
) -> Result<Json<DnsCheckView>, ApiError> {
    Ok(Json(
        service::for_domain(&state.db, &state.dns, &caller.principal, id, query.refresh).await?,
    ))
}

/// The zone's hostname (a wildcard at one label under it): its last DNS check (made
/// now when there is none, or with `?refresh=true`).
#[utoipa::path(
    get, path = "/zones/{id}/dns-check", tag = "zones",
    params(("id" = Uuid, Path, description = "The zone's id"), CheckQuery),
    responses((status = 200, description = "The last (or a fresh) DNS check of the zone's hostname", body = DnsCheckView), (status = 404, response = crate::schema::NotFound))
)]
async fn zone(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<CheckQuery>,
) -> Result<Json<DnsCheckView>, ApiError> {
    Ok(Json(
        service::for_zone(&state.db, &state.dns, &caller.principal, id, query.refresh).await?,
    ))
}
