//! What every handler shares ([`AppState`]): the services' [`Stores`] (PostgreSQL,
//! Redis, the liveness monitor, the metrics), the credential cache, the security
//! settings and the built web panel — built once from the configuration
//! ([`AppState::connect`]).
//!
//! Handlers hand the services the parts they need (`&state` derefs to [`Stores`]); no
//! service takes the whole state.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::FromRef;
use switchyard_shared::{Keys, Store};

use crate::access::Identity;
use crate::config::{Config, redact_url};
use crate::liveness::Liveness;
use crate::metrics::Metrics;
use crate::service::Stores;
use crate::service::credentials;
use crate::web::WebPanel;

/// Connections in the PostgreSQL pool: the API's queries are short, and two cores'
/// worth of workers rarely hold more than a few at once.
pub const DB_POOL_SIZE: u32 = 10;
/// How long to wait for PostgreSQL or Redis before calling it down; short, so requests
/// fail fast (503) instead of piling up while a service is away.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// PostgreSQL (the sea-orm handle on the liveness monitor's pool: the same value
    /// whichever host the pool is on), Redis, the liveness monitor, the metrics.
    pub stores: Stores,
    /// What Redis remembers of verified credentials, for degraded mode.
    pub credentials: credentials::Cache,
    /// Session settings, login rate limits, CORS origins, the sealing key.
    pub identity: Arc<Identity>,
    /// The built web panel served at `/` (`--web-dir`); `None` serves the API only.
    pub web: Option<Arc<WebPanel>>,
    /// The DNS check's resolver and the fleet's public addresses.
    pub dns: Arc<crate::service::dns_checks::Checker>,
}

impl std::ops::Deref for AppState {
    type Target = Stores;

    fn deref(&self) -> &Stores {
        &self.stores
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

impl FromRef<AppState> for Arc<Liveness> {
    fn from_ref(state: &AppState) -> Self {
        state.liveness.clone()
    }
}

impl AppState {
    /// Connects to PostgreSQL and Redis as configured (no migrations, no bootstrap).
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        // Settings that cannot work together fail before anything connects.
        config.validate()?;
        let web = match &config.web_dir {
            Some(dir) => Some(Arc::new(WebPanel::open(dir).map_err(anyhow::Error::msg)?)),
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
        let store = Store::new(client, keys);
        let identity = Identity::new(config)?;
        Ok(AppState {
            stores: Stores {
                db: database.connection().clone(),
                store: store.clone(),
                liveness: Arc::new(Liveness::new(database)),
                metrics: Default::default(),
                format_seen: Default::default(),
                secrets: identity.secrets.clone(),
            },
            credentials: credentials::Cache::new(store),
            identity: Arc::new(identity),
            web,
            dns: Arc::new(crate::service::dns_checks::Checker::new(&config.dns_check)?),
        })
    }
}
