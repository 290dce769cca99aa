//! The application: shared state, the `/api/v1` router and the per-request context.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use sea_orm::DatabaseConnection;
use switchyard_shared::{Keys, Store};
use tracing::Instrument as _;
use utoipa_axum::router::OpenApiRouter;

use crate::config::{Config, redact_url};
use crate::error::ApiError;
use crate::routes;

pub use crate::input::{ApiJson, ApiPath, ApiQuery};

/// Connections in the PostgreSQL pool: the API's queries are short, and two cores'
/// worth of workers rarely hold more than a few at once.
pub const DB_POOL_SIZE: u32 = 10;
/// How long to wait for PostgreSQL or Redis before calling it down; short, so requests
/// fail fast (503) instead of piling up while a service is away.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Response header carrying the request id. The id is always generated here, never
/// taken from the request, so clients cannot inject values into the logs.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The sea-orm handle on [`AppState::database`]'s pool: the same value whichever
    /// PostgreSQL host the pool is on.
    pub db: DatabaseConnection,
    /// The pool's host list and its liveness probe, which moves the pool to a new
    /// primary ([`crate::degraded::probe_database`]).
    pub database: switchyard_db::Database,
    pub store: Store,
    /// This instance's Prometheus metrics (`GET /metrics`).
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Session settings and login rate limits.
    pub identity: std::sync::Arc<crate::auth::Identity>,
    /// Whether PostgreSQL answered lately: kept by [`crate::degraded::watch_database`]
    /// and cleared by any request that finds it unreachable, so that while it is down
    /// requests go straight to degraded mode instead of waiting out a connect timeout.
    pub db_up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Which credentials this instance wrote to Redis lately, so that a busy key is
    /// remembered once a minute rather than on every request.
    pub remembered: std::sync::Arc<crate::degraded::Remembered>,
    /// The built web panel served at `/` (`--web-dir`); `None` serves the API only.
    pub web: Option<std::sync::Arc<crate::web::WebPanel>>,
    /// Since when this instance has seen PostgreSQL and Redis fail, for health.
    pub outages: std::sync::Arc<Outages>,
}

/// Since when each store has been failing, as this instance saw it: the first failure
/// after it last answered. Cleared as soon as it answers again.
#[derive(Debug, Default)]
pub struct Outages {
    postgres: std::sync::Mutex<Option<time::OffsetDateTime>>,
    redis: std::sync::Mutex<Option<time::OffsetDateTime>>,
}

/// One of the stores [`Outages`] follows.
#[derive(Debug, Clone, Copy)]
pub enum Dependency {
    Postgres,
    Redis,
}

impl Outages {
    fn slot(&self, store: Dependency) -> &std::sync::Mutex<Option<time::OffsetDateTime>> {
        match store {
            Dependency::Postgres => &self.postgres,
            Dependency::Redis => &self.redis,
        }
    }

    /// Notes that `store` answered (`up`) or failed now; returns since when it is down
    /// (`None` while up).
    pub fn note(&self, store: Dependency, up: bool) -> Option<time::OffsetDateTime> {
        let mut since = self.slot(store).lock().expect("never poisoned");
        if up {
            *since = None;
        } else if since.is_none() {
            *since = Some(time::OffsetDateTime::now_utc());
        }
        *since
    }

    /// Since when `store` is down, if it is.
    pub fn since(&self, store: Dependency) -> Option<time::OffsetDateTime> {
        *self.slot(store).lock().expect("never poisoned")
    }
}

impl AppState {
    pub fn db_up(&self) -> bool {
        self.db_up.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set_db_up(&self, up: bool) {
        self.outages.note(Dependency::Postgres, up);
        let was = self.db_up.swap(up, std::sync::atomic::Ordering::Relaxed);
        if was != up {
            if up {
                tracing::info!("PostgreSQL answers again: leaving degraded mode");
            } else {
                tracing::warn!(
                    "PostgreSQL is unreachable: degraded mode (reads from Redis, writes 503)"
                );
            }
        }
    }
}

impl AppState {
    /// Connects to PostgreSQL and Redis as configured (no migrations, no bootstrap).
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        // Settings that cannot work together fail before anything connects.
        config.validate()?;
        let web = match &config.web_dir {
            Some(dir) => Some(std::sync::Arc::new(
                crate::web::WebPanel::open(dir).map_err(anyhow::Error::msg)?,
            )),
            None => None,
        };
        let url = switchyard_db::DatabaseUrl::parse(&config.database_url)
            .map_err(|e| anyhow::anyhow!("DATABASE_URL (--database-url): {e}"))?;
        let database = switchyard_db::Database::connect(
            &url,
            switchyard_db::PoolSettings {
                max_connections: DB_POOL_SIZE,
                acquire_timeout: CONNECT_TIMEOUT,
                host_timeout: CONNECT_TIMEOUT,
            },
        )
        .await
        .with_context(|| format!("connecting to {}", url.redacted()))?;
        let keys = Keys::new(&config.key_prefix)
            .map_err(|e| anyhow::anyhow!("SWITCHYARD_KEY_PREFIX: {}", e.0))?;
        // Built without waiting for a connection: a panel whose Redis is down still
        // starts, commits changes and queues them (DESIGN.md, degraded mode).
        let client = switchyard_shared::store::client_builder(&config.redis_url)
            .with_context(|| format!("Redis URL {}", redact_url(&config.redis_url)))?
            .build()
            .context("building the Redis client")?;
        // Runs in the background and reconnects with backoff for as long as it takes.
        fred::prelude::ClientLike::connect(&client);
        Ok(AppState {
            db: database.connection().clone(),
            database,
            store: Store::new(client, keys),
            metrics: Default::default(),
            identity: std::sync::Arc::new(crate::auth::Identity::new(config)?),
            db_up: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
            remembered: Default::default(),
            web,
            outages: Default::default(),
        })
    }
}

/// Every route the panel serves, with the OpenAPI operations of those under `/api/v1`
/// (`crate::openapi` builds the document from this; the router below serves it). An
/// operation is registered with `utoipa_axum::routes!`, which reads the handler's
/// `#[utoipa::path]`; a plain `.route(…)` would be served undocumented, which the tests
/// refuse for anything under `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .merge(routes::health::router())
        .merge(routes::api_keys::router())
        .merge(routes::domains::router())
        .merge(routes::zones::router())
        .merge(routes::named_backends::router())
        .merge(routes::sessions::router())
        .merge(routes::users::router())
        .merge(routes::grants::router())
        .merge(routes::audit::router())
        .merge(routes::transfer::router())
        .merge(routes::dns_credentials::router())
        .merge(routes::revisions::router());
    OpenApiRouter::new()
        .nest("/api/v1", api)
        .route("/metrics", axum::routing::get(crate::metrics::serve))
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
            state.clone(),
            crate::degraded::write_gate,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
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
                header::HeaderName::from_static(crate::auth::CSRF_HEADER),
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

/// Where a request came from and its id, for logs and the audit log.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub source_addr: Option<String>,
}

impl RequestMeta {
    pub fn from_parts(parts: &Parts) -> Self {
        RequestMeta {
            request_id: parts
                .extensions
                .get::<RequestId>()
                .map(|r| r.0.clone())
                .unwrap_or_default(),
            source_addr: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestMeta::from_parts(parts))
    }
}

#[derive(Clone)]
struct RequestId(String);

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
