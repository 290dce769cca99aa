//! HTTP handlers, one file and one router per resource. Each handler only translates
//! HTTP: request in (extractors of [`crate::input`] and [`crate::auth`]) → one service
//! call, which does the rest (the permission check, audit, outbox, credential cache,
//! degraded fallback) → HTTP out. No handler calls `authorize`: a service that forgot
//! it would be the only place to look. A handler never touches the database or Redis
//! itself and never reaches into another layer's internals.

pub mod api_keys;
pub mod audit;
pub mod certificates;
pub mod dns_checks;
pub mod dns_credentials;
pub mod domains;
pub mod grants;
pub mod health;
pub mod named_backends;
pub mod revisions;
pub mod sessions;
pub mod transfer;
pub mod users;
pub mod zones;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Every route the panel serves, with the OpenAPI operations of those under `/api/v1`,
/// plus `api` (more operations under `/api/v1`: the document's own,
/// [`crate::schema::routes`], which builds the document from this). An operation is
/// registered with `utoipa_axum::routes!`, which reads the handler's `#[utoipa::path]`;
/// a plain `.route(…)` would be served undocumented, which the tests refuse for
/// anything under `/api/v1`.
pub fn all_with(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let api = api
        .merge(health::router())
        .merge(api_keys::router())
        .merge(domains::router())
        .merge(zones::router())
        .merge(named_backends::router())
        .merge(sessions::router())
        .merge(users::router())
        .merge(grants::router())
        .merge(audit::router())
        .merge(transfer::router())
        .merge(dns_credentials::router())
        .merge(revisions::router())
        .merge(dns_checks::router())
        .merge(certificates::router());
    OpenApiRouter::new()
        .nest("/api/v1", api)
        .route("/metrics", axum::routing::get(crate::metrics::serve))
}
