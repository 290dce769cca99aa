//! `panel-api` — Switchyard's control plane (to become an axum + sea-orm REST API): users,
//! grants, API keys, domains, zones, named backends, DNS credentials and the audit log in
//! PostgreSQL (the source of truth), written through to the routing keys in Redis and
//! reconciled on a timer. It must never talk to backends or to the ACME CA.
//!
//! At this stage it only checks its dependencies: it connects to PostgreSQL and to Redis,
//! pings both, logs the outcome as JSON, then idles until SIGTERM or SIGINT and exits 0.

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use fred::prelude::{Builder, ClientLike, Config};
use tracing_subscriber::EnvFilter;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Switchyard panel API (placeholder: checks that PostgreSQL and Redis answer, then waits for a signal).
///
/// Logs are JSON lines on stdout; RUST_LOG (e.g. `debug`) sets what is logged.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// PostgreSQL database, e.g. postgres://user[:password]@127.0.0.1:5432/switchyard (credentials are never logged).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Redis holding the routing data, e.g. redis://[user:password@]host:6379/0 (credentials are never logged).
    #[arg(
        long,
        env = "SWITCHYARD_REDIS_URL",
        hide_env_values = true,
        default_value = "redis://127.0.0.1:6379"
    )]
    redis_url: String,
    /// Prefix of every Switchyard key in Redis, so several deployments can share one Redis.
    #[arg(long, env = "SWITCHYARD_KEY_PREFIX", default_value = "switchyard:")]
    key_prefix: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let (database, redis) = (redact(&args.database_url), redact(&args.redis_url));
    tracing::info!(%database, %redis, key_prefix = %args.key_prefix, "panel-api starting (dependency check only)");
    // Checks run beside the signal wait, so SIGTERM during a slow connect still exits cleanly.
    tokio::spawn(async move {
        report(
            "PostgreSQL",
            &database,
            ping_postgres(&args.database_url).await,
        );
        report("Redis", &redis, ping_redis(&args.redis_url).await);
    });
    let signal = shutdown_signal().await?;
    tracing::info!(signal, "shutting down");
    Ok(())
}

async fn ping_postgres(url: &str) -> anyhow::Result<()> {
    let mut options = sea_orm::ConnectOptions::new(url);
    options
        .max_connections(1)
        .connect_timeout(TIMEOUT)
        .acquire_timeout(TIMEOUT)
        .sqlx_logging(false);
    let db = sea_orm::Database::connect(options)
        .await
        .context("cannot connect")?;
    db.ping().await.context("ping failed")?;
    Ok(db.close().await?)
}

async fn ping_redis(url: &str) -> anyhow::Result<()> {
    let config = Config::from_url(url).context("invalid Redis URL")?;
    let client = Builder::from_config(config)
        .with_connection_config(|c| c.connection_timeout = TIMEOUT)
        .build()
        .context("cannot build Redis client")?;
    client.init().await.context("cannot connect")?;
    let pong: String = client.ping(None).await.context("PING failed")?;
    client.quit().await.ok();
    anyhow::ensure!(pong == "PONG", "unexpected PING answer {pong:?}");
    Ok(())
}

fn report(what: &str, url: &str, result: anyhow::Result<()>) {
    match result {
        Ok(()) => tracing::info!(%url, "{what} is reachable"),
        Err(e) => {
            tracing::error!(%url, error = format!("{e:#}"), "{what} at {url} is not reachable")
        }
    }
}

/// The URL with any `user:password@` replaced by `***@`, safe to log.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(tokio::select! { _ = term.recv() => "SIGTERM", _ = int.recv() => "SIGINT" })
}
