//! Switchyard's data plane: a Pingora reverse proxy that serves every zone and
//! certificate found in Redis.
//!
//! It reads Redis only, keeps an immutable in-memory [`snapshot::Snapshot`] swapped
//! atomically, routes by host with wildcards ([`service`]; common plain-HTTP/1.1 requests
//! take the [`fast`] path, everything else Pingora's), picks the TLS certificate per
//! SNI ([`tls`]) and keeps serving the last snapshot — or the copy it saved on disk —
//! while Redis, Postgres or the panel are down ([`sync`]). Upstream endpoints are judged
//! by passive ejection, a TCP check and routes' HTTP health checks ([`upstreams`]),
//! reported by the admin API and metrics, and counted in its heartbeat. Whether a failed
//! attempt is sent again and whether an upstream may take requests (a route's retries,
//! retry budget and circuit breakers) is decided in [`resilience`] for every path.
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
pub mod fleet_limit;
pub mod forward_auth;
pub mod framing;
pub mod jwks;
pub mod metrics;
// `unsafe`: OpenSSL's allocator hooks (see its header).
#[allow(unsafe_code)]
pub mod openssl_alloc;
pub mod policy;
pub mod proxy_protocol;
pub mod resilience;
pub mod route_match;
pub mod service;
pub mod snapshot;
pub mod sync;
// `unsafe`: OpenSSL's ticket key callback (see its header).
#[allow(unsafe_code)]
pub mod tickets;
pub mod tls;
pub mod trace;
pub mod upstreams;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::listeners::TcpSocketOptions;
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

/// The placeholder sockets of [`reserve_port`], open until the process exits.
static PLACEHOLDERS: Mutex<Vec<socket2::Socket>> = Mutex::new(Vec::new());

/// A listen address with port 0 made concrete before Pingora binds it: a placeholder
/// socket with SO_REUSEPORT is bound to it (the system picks the port) but never listens,
/// so it takes no connection, and it stays open until the process exits, so nothing else
/// can take the port (a socket without SO_REUSEPORT, or of another user, cannot bind it;
/// the system's own port-0 search skips it). Pingora then binds the concrete address with
/// SO_REUSEPORT beside it. Returns the address and the socket options to bind it with;
/// any other address is returned as is, bound exactly as before (no options).
fn reserve_port(addr: SocketAddr) -> anyhow::Result<(SocketAddr, Option<TcpSocketOptions>)> {
    if addr.port() != 0 {
        return Ok((addr, None));
    }
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .with_context(|| format!("a socket to reserve a port on {addr}"))?;
    socket
        .set_reuse_port(true)
        .with_context(|| format!("SO_REUSEPORT to reserve a port on {addr}"))?;
    socket
        .bind(&addr.into())
        .with_context(|| format!("binding {addr}"))?;
    let bound = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .with_context(|| format!("the port bound for {addr}"))?;
    PLACEHOLDERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(socket);
    let mut options = TcpSocketOptions::default();
    options.so_reuseport = Some(true);
    Ok((bound, Some(options)))
}

/// Runs the sync loop and the upstream health checks on Pingora's background runtime.
struct Background {
    syncer: Mutex<Option<Syncer>>,
    registry: Arc<Registry>,
    /// Connects HTTP health probes as upstream traffic connects (TLS settings, CA file).
    probe_connector: Arc<pingora::connectors::http::Connector>,
}

#[async_trait]
impl BackgroundService for Background {
    async fn start(&self, shutdown: ShutdownWatch) {
        let syncer = self.syncer.lock().expect("never poisoned").take();
        let Some(syncer) = syncer else { return };
        let health = tokio::spawn(self.registry.clone().run(shutdown.clone()));
        let http_checks = tokio::spawn(
            self.registry
                .clone()
                .run_http_checks(self.probe_connector.clone(), shutdown.clone()),
        );
        syncer.run(shutdown).await;
        health.abort();
        http_checks.abort();
    }
}

/// Builds the Pingora server with the proxy, admin and background services, and the
/// arguments to run it with (the drain-aware signal watch, [`drain::DrainWatch`]).
///
/// Listen addresses with port 0 get a free port ([`reserve_port`]); once every address is
/// known it logs them, as `proxy listening` with fields `http`, `https` (unless
/// `--local`) and `admin`, each `IP:PORT`.
pub fn build_server(config: &Config, mut settings: Settings) -> anyhow::Result<(Server, RunArgs)> {
    // Before any snapshot is compiled: its `jwt` routes start their JWK set fetches.
    jwks::configure(
        Duration::from_secs(config.jwks_refresh_secs),
        Duration::from_millis(config.jwks_min_refresh_ms),
    );
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
        // Pingora's pool is one LRU of this size times `threads`.
        upstream_keepalive_pool_size: (config.upstream_idle_max as usize / config.threads.max(1))
            .max(1),
        ca_file: config
            .upstream_ca_file
            .as_ref()
            .map(|p| p.display().to_string()),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let (http_listen, http_options) = reserve_port(settings.http_listen)?;
    let https_listen = settings.https_listen.map(reserve_port).transpose()?;
    let (admin_listen, admin_options) = reserve_port(settings.admin_listen)?;
    if config.proxy_id.is_none() && settings.http_listen.port() == 0 {
        settings.proxy_id = config::default_proxy_id(http_listen.port());
    }
    settings.http_listen = http_listen;
    settings.https_listen = https_listen.as_ref().map(|(a, _)| *a);
    settings.admin_listen = admin_listen;

    let live = Arc::new(ArcSwap::from_pointee(Snapshot::empty()));
    let registry = Registry::new(HealthConfig {
        check_every: settings.health_check_every,
        max_concurrent_probes: settings.health_probe_concurrency,
        ..HealthConfig::default()
    });
    let probe_connector = Arc::new(pingora::connectors::http::Connector::new(Some(
        pingora::connectors::ConnectorOptions::from_server_conf(&server.configuration),
    )));
    let metrics = Arc::new(Metrics::new());
    metrics.watch_health(registry.clone());
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
            trusted_proxies: config.trusted_proxies.clone(),
        },
    };
    let proxy_protocol = proxy_protocol::ProxyProtocol {
        mode: config.proxy_protocol,
        from: Arc::from(config.proxy_protocol_from.clone()),
    };
    let pingora_proxy = pingora::proxy::http_proxy(&server.configuration, router.clone());
    let mut proxy = Service::new(
        "proxy".to_owned(),
        fast::Front::new(
            router,
            pingora_proxy,
            config.fast_path,
            config.upstream_idle_max as usize,
            proxy_protocol.clone(),
        ),
    );
    add_tcp(&mut proxy, http_listen, http_options);
    if proxy_protocol.mode != proxy_protocol::Mode::Off {
        // The HTTPS listener's header comes before the ClientHello: Pingora reads it in
        // this callback, before its handshake (the plain listener's in `Front`).
        proxy
            .endpoints()
            .set_pre_tls_callback(Arc::new(proxy_protocol::PreTls(proxy_protocol)));
    }
    if let Some((addr, options)) = https_listen {
        let selector = tls::CertSelector {
            live: live.clone(),
            default_cert: config.default_cert.clone(),
        };
        let mut tls = TlsSettings::with_callbacks(Box::new(selector))?;
        tls.enable_h2();
        tickets::install(&mut tls);
        proxy.add_tls_with_settings(&addr.to_string(), options, tls);
    }

    let mut admin = Service::new(
        "admin".to_owned(),
        admin::Admin {
            live: live.clone(),
            state: state.clone(),
            metrics: metrics.clone(),
            registry: registry.clone(),
            proxy_id: settings.proxy_id.clone(),
        },
    );
    add_tcp(&mut admin, admin_listen, admin_options);

    let syncer = Syncer::new(
        SyncConfig {
            redis_url: config.redis_url.clone(),
            redis_read_url: config.redis_read_url.clone(),
            keys: settings.keys.clone(),
            proxy_id: settings.proxy_id.clone(),
            snapshot_file: Some(config.snapshot_file.clone()),
            startup_timeout: settings.startup_timeout,
            full_reload_every: settings.full_reload_every,
            heartbeat_every: HEARTBEAT_EVERY,
            save_every: SAVE_EVERY,
            feed_block: FEED_BLOCK,
            ticket_rotate: settings
                .https_listen
                .is_some()
                .then(|| Duration::from_secs(config.tls_ticket_rotate_secs)),
            fleet_rate_sync: Duration::from_millis(config.fleet_rate_sync_ms),
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
            probe_connector,
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
    // Pingora binds when the server runs; the ports are held meanwhile (port 0: by the
    // placeholders), so the addresses are final. Tests read them from this line.
    match settings.https_listen {
        Some(https) => tracing::info!(
            http = %settings.http_listen,
            https = %https,
            admin = %settings.admin_listen,
            openssl_allocator = openssl_alloc::name(),
            "proxy listening"
        ),
        None => tracing::info!(
            http = %settings.http_listen,
            admin = %settings.admin_listen,
            openssl_allocator = openssl_alloc::name(),
            "proxy listening"
        ),
    }
    Ok((server, run_args))
}

/// A plain TCP listener on `addr`, with the options [`reserve_port`] gave (none: as
/// Pingora binds by default).
fn add_tcp<A>(service: &mut Service<A>, addr: SocketAddr, options: Option<TcpSocketOptions>) {
    match options {
        Some(options) => service.add_tcp_with_settings(&addr.to_string(), options),
        None => service.add_tcp(&addr.to_string()),
    }
}
