//! The application, top of the crate: the router of every route behind the layers each
//! answer passes through (request id and log line, metrics, the degraded-mode write
//! gate, CORS, security headers, the JSON error shape, a caught panic), and the
//! background watch of PostgreSQL that moves the panel in and out of degraded mode.
//!
//! The layers point one way: `app` → `openapi` → `routes` (HTTP only) → `auth` →
//! `state` → `service` (the operations) → `access`, `liveness` and the foundations
//! (`entity`, `error`, `input`, `config`, `metrics`, `mirror`, `web`); the test
//! `tests/layers.rs` refuses an import that points up.

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use tracing::Instrument as _;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::input::RequestId;
use crate::liveness::{DB_PROBE_EVERY, Liveness};
use crate::service::credentials;

pub use crate::input::{ApiJson, ApiPath, ApiQuery, RequestMeta};
pub use crate::liveness::{Dependency, Outages};
pub use crate::state::{AppState, CONNECT_TIMEOUT, DB_POOL_SIZE};

/// Response header carrying the request id. The id is always generated here, never
/// taken from the request, so clients cannot inject values into the logs.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Every route the panel serves, the OpenAPI document of them included
/// ([`crate::openapi::routes`]).
pub fn routes() -> OpenApiRouter<AppState> {
    crate::openapi::routes()
}

/// The whole API under `/api/v1`, `/metrics`, and the built web panel (when configured)
/// for every other GET.
pub fn router(state: AppState) -> Router {
    serve_routes(Router::from(routes()), state)
}

/// `routes` behind the layers every answer of the panel passes through: the request id
/// and its log line, metrics, the degraded-mode write gate, CORS, the security headers,
/// the API's JSON error shape for whatever axum answers itself, and a panicking handler
/// caught. [`router`] serves [`routes`] this way; a test may serve routes of its own the
/// same way (e.g. one that panics).
pub fn serve_routes(routes: Router<AppState>, state: AppState) -> Router {
    let cors = cors_layer(&state.identity.cors_origins);
    let app = routes
        .fallback(web_or_not_found)
        // Innermost: a handler that panics answers a 500 like any other failure, which
        // every layer outside sees (the request's log line and id, its metrics), instead
        // of the connection being dropped without an answer.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::error::panic_response,
        ))
        .layer(middleware::from_fn(crate::error::json_errors))
        .layer(middleware::from_fn_with_state(
            state.liveness.clone(),
            write_gate,
        ))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .layer(middleware::from_fn(request_context));
    // Outside the rest, so that preflight requests are answered before authentication.
    match cors {
        Some(cors) => app.layer(cors),
        None => app,
    }
    // Outermost: every answer, preflights and 404s included, carries them.
    .layer(middleware::from_fn(crate::web::security_headers))
    .with_state(state)
}

/// What no route matched: the web panel's file or page for a GET outside `/api`, the
/// API's JSON 404 for everything else (and for everything without a web panel).
async fn web_or_not_found(State(state): State<AppState>, request: Request) -> Response {
    match &state.web {
        Some(web) if crate::web::WebPanel::serves(request.method(), request.uri().path()) => {
            web.serve(request).await
        }
        _ => ApiError::NotFound.into_response(),
    }
}

/// CORS for a separately hosted web panel: only the configured origins, with
/// credentials, the methods the API uses and the headers it reads (`X-CSRF-Token`).
fn cors_layer(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::HeaderName::from_static(crate::access::CSRF_HEADER),
            ])
            .expose_headers([
                header::HeaderName::from_static(REQUEST_ID_HEADER),
                header::RETRY_AFTER,
                header::HeaderName::from_static(crate::routes::zones::VERSION_HEADER),
                header::HeaderName::from_static(crate::routes::zones::COMMITTED_AT_HEADER),
            ])
            .max_age(Duration::from_secs(3600)),
    )
}

/// Gives every request an id (in the extensions, the response header and a log span)
/// and logs one line per request — method, path, status; never headers or bodies, which
/// carry credentials. With tracing on, the request is also a trace span (method, route
/// template, status, request id) that the zone write path's spans are children of.
async fn request_context(mut request: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // Trace-only (never in the log lines); its fields are only computed when tracing is
    // on. The route is the matched template, so no id or hostname becomes a span name.
    let http_span = {
        let route = request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map_or("", |p| p.as_str());
        tracing::info_span!(
            target: switchyard_shared::telemetry::TARGET,
            "HTTP request",
            "otel.name" = %format!("{method} {route}"),
            "otel.kind" = "server",
            "otel.status_code" = tracing::field::Empty,
            "http.request.method" = %method,
            "http.route" = route,
            "http.response.status_code" = tracing::field::Empty,
            request_id = %id,
        )
    };
    let started = std::time::Instant::now();
    let mut response = next
        .run(request)
        .instrument(span.clone())
        .instrument(http_span.clone())
        .await;
    http_span.record("http.response.status_code", response.status().as_u16());
    if response.status().is_server_error() {
        http_span.record("otel.status_code", "error");
    }
    span.in_scope(|| {
        tracing::info!(
            %method,
            %path,
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// While PostgreSQL is unreachable, unsafe requests answer 503 at once (nothing could
/// be changed), except login and logout, which have a degraded path of their own.
async fn write_gate(
    State(liveness): State<std::sync::Arc<Liveness>>,
    request: Request,
    next: Next,
) -> Response {
    use axum::http::Method;
    let unsafe_method = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let path = request.uri().path();
    let exempt = path.ends_with("/auth/login") || path.ends_with("/auth/logout");
    if unsafe_method && !exempt && !liveness.db_up() {
        return ApiError::Unavailable(crate::error::DB_DOWN).into_response();
    }
    next.run(request).await
}

/// Keeps [`Liveness::db_up`] true while [`Liveness::probe`] finds PostgreSQL, so
/// degraded mode starts and ends by itself — also across a failover to a new primary,
/// which the probe follows. Runs until the process ends.
pub async fn watch_database(state: AppState) {
    let mut tick = tokio::time::interval(DB_PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let up = state.liveness.probe().await;
        // Logouts made during an outage (here or on another instance) are recorded
        // while PostgreSQL answers, and before sessions are checked against it again:
        // leaving degraded mode waits for them, so none comes back to life.
        if up
            && !credentials::apply_revocations(&state.credentials, &state.db).await
            && !state.liveness.db_up()
        {
            continue;
        }
        state.liveness.set_db_up(up);
    }
}
