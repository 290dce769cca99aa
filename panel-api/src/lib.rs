//! `panel-api` — Switchyard's control plane: a JSON REST API under `/api/v1` over
//! PostgreSQL (the source of truth), written through to the routing keys in Redis.
//!
//! It serves identity (API keys, cookie sessions with CSRF, login limits, a user's own
//! password change — [`auth`], [`service::authn`]), tenancy (users, grants; one permission
//! check, [`access::authorize`]), domains with their certificates (changed, and deleted with
//! their zones, certificate and Redis keys: [`service::domains`]), zones (single, bulk),
//! `?dry_run=true` on every write (one shape and one helper: [`service::write`]),
//! named backends (templates
//! re-rendered into every zone using them in one Redis write,
//! [`service::named_backends`]), DNS credentials (sealed), uploaded certificates
//! (checked whole, key sealed, published to Redis, never renewed) and which certificate
//! serves each zone's hostname — by the proxies' own rule — ([`service::cert_uploads`]),
//! the audit log, export/import,
//! the numbered history of the routing configuration with rollback
//! ([`service::revisions`]) and `/health` ([`routes`]), and the OpenAPI document of all of it, generated from
//! the code ([`openapi`]). While PostgreSQL is down — or switching to a new primary,
//! which the shared connector `switchyard_db` follows — it serves reads from Redis and
//! remembered credentials ([`service::degraded`], [`service::credentials`]; whether
//! PostgreSQL is up is [`liveness`]'s one answer). Every mutation commits with its audit
//! record in one transaction, then rewrites the hostname's Redis record; a Redis failure
//! leaves the change committed and queued in `redis_outbox`, replayed at start and on a
//! timer.
//! [`reconcile`] compares all of Redis with PostgreSQL (at start, hourly, and when Redis
//! answers again) and fixes missing, changed and stale records; `GET /metrics` serves
//! Prometheus metrics ([`metrics`]). Operations: `docs/panel-operations.md`. With
//! `--web-dir` it also serves the built web panel at `/` ([`web`]); every response
//! carries the security headers (CSP and friends) of [`web::SECURITY_HEADERS`].
//!
//! What a request carries is read by [`input`]'s extractors, checked against the bounds
//! the OpenAPI document publishes; no input makes a 5xx, every refusal is the JSON error
//! shape of [`error`], and a handler that panics answers a logged 500.
//!
//! It must never talk to backends or to the ACME CA, and never return or log a secret
//! (passwords, API key secrets, session and CSRF tokens or their hashes, DNS
//! credentials): a new API key is returned once, in the answer that creates it, and
//! nowhere else.
//!
//! The modules are layered one way — `app` → `openapi` → `routes` (HTTP only) → `auth`
//! → `state` → `service` (each operation whole: authorization, audit, outbox, cache
//! invalidation, degraded fallback) → `access` → the foundations; `tests/layers.rs`
//! refuses an import that points up.
//!
//! [`run`] is the whole service; tests call it (or [`app::router`]) in-process.

#![forbid(unsafe_code)]

pub mod access;
pub mod app;
pub mod auth;
pub mod config;
/// The tables' entities, shared with cert-worker ([`switchyard_db::entity`]).
pub use switchyard_db::entity;
pub mod error;
pub mod input;
pub mod liveness;
pub mod metrics;
pub mod mirror;
pub mod openapi;
pub mod reconcile;
pub mod routes;
pub mod schema;
pub mod service;
pub mod state;
pub mod web;

use std::future::Future;

use anyhow::Context as _;
use migrations::{Migrator, MigratorTrait as _};
use tokio::net::TcpListener;

pub use app::{AppState, router};
pub use config::Config;
pub use error::ApiError;

/// Connects, migrates the schema and creates the first admin if configured and no user
/// exists yet.
pub async fn prepare(config: &Config) -> anyhow::Result<AppState> {
    let state = AppState::connect(config).await?;
    Migrator::up(&state.db, None)
        .await
        .context("applying database migrations")?;
    if let (Some(user), Some(password)) = (&config.admin_user, &config.admin_password) {
        if service::users::ensure_first_admin(&state.db, user, password)
            .await
            .map_err(|e| anyhow::anyhow!("creating the first admin: {e}"))?
        {
            tracing::info!(username = %user, "created the first admin from the environment");
        }
    } else if let Some(password) = service::users::ensure_generated_admin(&state.db)
        .await
        .map_err(|e| anyhow::anyhow!("creating the first admin: {e}"))?
    {
        // Printed once, on stderr, and never logged: the log carries only the fact.
        eprintln!(
            "\n  First start: created admin user \"{}\" with the one-time password\n\n    \
             {password}\n\n  It is shown only now. Log in and change it \
             (PATCH /api/v1/users/{{id}}).\n",
            service::users::GENERATED_ADMIN
        );
        tracing::warn!(
            username = service::users::GENERATED_ADMIN,
            "created the first admin with a one-time password, printed once on stderr"
        );
    }
    Ok(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then drains open requests.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = router(state.clone());
    serve_app(state, app, listener, shutdown).await
}

/// [`serve`] with a router of the caller's making: the panel's routes, or tests' routes
/// of their own next to them, behind the same layers ([`app::serve_routes`]).
pub async fn serve_app(
    state: AppState,
    app: axum::Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Degraded mode comes and goes with PostgreSQL; the copy of the domains its reads
    // use is published now and by every reconciliation.
    let watch = tokio::spawn(app::watch_database(state.clone()));
    service::degraded::refresh_domains(&state).await;
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP");
    watch.abort();
    served
}

/// The whole service: prepare, bind `config.listen`, run the Redis sync loop (reconcile
/// at start, on a timer and when Redis returns; replay the outbox) and the pruning of
/// old revisions in the background, serve until `shutdown`.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = prepare(&config).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    tracing::info!(listen = %bound, "panel-api serving");
    let replay = reconcile::spawn(
        state.stores.clone(),
        std::time::Duration::from_secs(config.reconcile.reconcile_interval_secs),
        std::time::Duration::from_secs(config.outbox_replay_secs),
    );
    let pruning = service::revisions::spawn_pruning(state.stores.clone(), config.retention.clone());
    let dns_checks = service::dns_checks::spawn(
        state.db.clone(),
        state.dns.clone(),
        std::time::Duration::from_secs(config.dns_check.dns_check_interval_secs),
    );
    let served = serve(state, listener, shutdown).await;
    replay.abort();
    pruning.abort();
    dns_checks.abort();
    served
}
