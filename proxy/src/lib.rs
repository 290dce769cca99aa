//! Switchyard's data plane: a Pingora reverse proxy that serves every zone and
//! certificate found in Redis.
//!
//! It reads Redis only, keeps an immutable in-memory [`snapshot::Snapshot`] swapped
//! atomically, routes by host with wildcards ([`service`]; common plain-HTTP/1.1 requests
//! take the [`fast`] path, everything else Pingora's), picks the TLS certificate per
//! SNI ([`tls`]) and keeps serving the last snapshot — or the copy it saved on disk —
//! while Redis, Postgres or the panel are down ([`sync`]).
//!
//! It must never touch PostgreSQL, never write routing data to Redis (only its own
//! status), and never block a request on Redis: requests only read the snapshot. With
//! an OTLP endpoint configured it exports one span per request ([`trace`]).

pub mod access_log;
pub mod admin;
pub mod complete;
pub mod config;
pub mod decide;
pub mod drain;
pub mod fast;
pub mod framing;
pub mod metrics;
pub mod service;
pub mod snapshot;
pub mod sync;
pub mod tls;
pub mod trace;
pub mod upstreams;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::server::ShutdownWatch;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server};
use pingora::services::background::{BackgroundService, background_service};
use pingora::services::listening::Service;

use crate::config::{Config, Settings};
use crate::metrics::Metrics;
use crate::service::{Router, RouterSettings};
use crate::snapshot::{Snapshot, SnapshotWriter};
use crate::sync::{SyncConfig, SyncState, Syncer};
use crate::upstreams::{HealthConfig, Registry};

/// How often the proxy reports its version and heartbeat to Redis.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// Snapshot file writes are at most this frequent: at a million zones a save is a few
/// hundred MB, too much to write for every change.
const SAVE_EVERY: Duration = Duration::from_secs(5);
/// Longest blocking feed read; shutdown is noticed at the latest after this.
const FEED_BLOCK: Duration = Duration::from_secs(5);
/// Connection attempts per request across a zone's upstreams (first try included).
const MAX_ATTEMPTS: usize = 3;

/// Runs the sync loop and the upstream health checks on Pingora's background runtime.
struct Background {
    syncer: Mutex<Option<Syncer>>,
    registry: Arc<Registry>,
}

#[async_trait]
impl BackgroundService for Background {
    async fn start(&self, shutdown: ShutdownWatch) {
        let syncer = self.syncer.lock().expect("never poisoned").take();
        let Some(syncer) = syncer else { return };
        let health = tokio::spawn(self.registry.clone().run(shutdown.clone()));
        syncer.run(shutdown).await;
        health.abort();
    }
}

/// Builds the Pingora server with the proxy, admin and background services, and the
/// arguments to run it with (the drain-aware signal watch, [`drain::DrainWatch`]).
pub fn build_server(config: &Config, settings: Settings) -> anyhow::Result<(Server, RunArgs)> {
    let opt = Opt {
        upgrade: config.upgrade,
        ..Opt::default()
    };
    let conf = ServerConf {
        threads: config.threads,
        work_stealing: config.work_stealing,
        upgrade_sock: config.upgrade_sock.clone(),
        grace_period_seconds: Some(config.grace_secs),
        graceful_shutdown_timeout_seconds: Some(config.grace_secs),
        ca_file: config
            .upstream_ca_file
            .as_ref()
            .map(|p| p.display().to_string()),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let live = Arc::new(ArcSwap::from_pointee(Snapshot::empty()));
    let registry = Registry::new(HealthConfig {
        check_every: settings.health_check_every,
        ..HealthConfig::default()
    });
    let metrics = Arc::new(Metrics::new());
    let state = Arc::new(SyncState::default());
    let drain_state = state.clone();

    let router = Router {
        live: live.clone(),
        registry: registry.clone(),
        metrics: metrics.clone(),
        settings: RouterSettings {
            local_mode: config.local,
            https_port: config.https_redirect_port,
            connect_timeout: settings.connect_timeout,
            read_timeout: settings.read_timeout,
            max_attempts: MAX_ATTEMPTS,
            allow_underscore_headers: config.allow_underscore_headers,
            allow_lowercase_methods: config.allow_lowercase_methods,
        },
    };
    let pingora_proxy = pingora::proxy::http_proxy(&server.configuration, router.clone());
    let mut proxy = Service::new(
        "proxy".to_owned(),
        fast::Front::new(router, pingora_proxy, config.fast_path),
    );
    proxy.add_tcp(&settings.http_listen.to_string());
    if let Some(addr) = settings.https_listen {
        let selector = tls::CertSelector {
            live: live.clone(),
            default_cert: config.default_cert.clone(),
        };
        let mut tls = TlsSettings::with_callbacks(Box::new(selector))?;
        tls.enable_h2();
        proxy.add_tls_with_settings(&addr.to_string(), None, tls);
    }

    let mut admin = Service::new(
        "admin".to_owned(),
        admin::Admin {
            live: live.clone(),
            state: state.clone(),
            metrics: metrics.clone(),
            proxy_id: settings.proxy_id.clone(),
        },
    );
    admin.add_tcp(&settings.admin_listen.to_string());

    let syncer = Syncer::new(
        SyncConfig {
            redis_url: config.redis_url.clone(),
            keys: settings.keys.clone(),
            proxy_id: settings.proxy_id.clone(),
            snapshot_file: Some(config.snapshot_file.clone()),
            startup_timeout: settings.startup_timeout,
            full_reload_every: settings.full_reload_every,
            heartbeat_every: HEARTBEAT_EVERY,
            save_every: SAVE_EVERY,
            feed_block: FEED_BLOCK,
        },
        SnapshotWriter::new(live),
        registry.clone(),
        metrics,
        state,
    );
    let background = background_service(
        "redis sync",
        Background {
            syncer: Mutex::new(Some(syncer)),
            registry,
        },
    );

    server.add_service(proxy);
    server.add_service(admin);
    server.add_service(background);
    let run_args = RunArgs {
        shutdown_signal: Box::new(drain::DrainWatch {
            state: drain_state,
            delay: settings.drain_delay,
        }),
    };
    Ok((server, run_args))
}
