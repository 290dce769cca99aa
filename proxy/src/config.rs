//! Configuration by flags and environment variables, validated all at once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use switchyard_shared::Keys;

/// Where the proxy saves its snapshot when no path is given: beside the working
/// directory, so a development run needs no privileges.
pub const DEFAULT_SNAPSHOT_FILE: &str = "switchyard-proxy.snapshot";
/// Two health checks of a balancer polling every second (a common setting) see the 503
/// before the listeners close.
pub const DEFAULT_DRAIN_DELAY_MS: u64 = 2_000;
/// Most HTTP health probes in flight: each holds a socket, and file descriptors are
/// the traffic's first.
pub const MAX_PROBE_CONCURRENCY: usize = 10_000;

/// Switchyard's reverse proxy: serves every zone and certificate found in Redis, from an
/// in-memory snapshot that keeps serving while Redis is away.
///
/// Every flag can also be set by the environment variable shown. Logs are JSON lines on
/// stdout (access log lines have target "access"); RUST_LOG sets the level.
#[derive(Parser, Debug, Clone)]
#[command(version)]
pub struct Config {
    /// Plain HTTP listener (redirects to HTTPS for zones that force it, unless --local).
    /// Port 0 on any listener: the system picks a free port, and the proxy logs the
    /// addresses it got (message "proxy listening", fields http, https, admin).
    #[arg(long, env = "SWITCHYARD_HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    pub http_listen: String,
    /// HTTPS listener, certificate chosen per SNI; HTTP/2 by ALPN. Ignored with --local.
    /// Port 0: a free port, logged (see --http-listen).
    #[arg(long, env = "SWITCHYARD_HTTPS_LISTEN", default_value = "0.0.0.0:8443")]
    pub https_listen: String,
    /// Port written into HTTPS redirects (the public one, e.g. 443 behind a port map).
    #[arg(long, env = "SWITCHYARD_HTTPS_REDIRECT_PORT", default_value_t = 443)]
    pub https_redirect_port: u16,
    /// Admin listener: /livez /readyz /status /route /metrics. Keep it private.
    /// Port 0: a free port, logged (see --http-listen).
    #[arg(
        long,
        env = "SWITCHYARD_ADMIN_LISTEN",
        default_value = "127.0.0.1:9080"
    )]
    pub admin_listen: String,
    /// Redis with the routing data: redis://…, rediss://… (TLS) or a Sentinel set,
    /// redis-sentinel://HOST:PORT,HOST:PORT,…/SERVICE (docs/deploy.md, "Redis URLs");
    /// credentials in the URL are never logged.
    #[arg(
        long,
        env = "SWITCHYARD_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: String,
    /// A Redis to read the routing data from instead (a nearby replica of `--redis-url`):
    /// the snapshot and the change stream come from it, while the status heartbeat, the
    /// shared TLS ticket keys and fleet-wide rate limits go to `--redis-url`, the primary.
    /// Credentials in the URL are never logged. See docs/deploy.md, "Proxies on a replica".
    #[arg(long, env = "SWITCHYARD_REDIS_READ_URL", hide_env_values = true)]
    pub redis_read_url: Option<String>,
    /// Prefix of every Switchyard key in Redis.
    #[arg(long, env = "SWITCHYARD_KEY_PREFIX", default_value = switchyard_shared::keys::DEFAULT_PREFIX)]
    pub key_prefix: String,
    /// Local copy of the last snapshot, served when the proxy starts while Redis is down.
    /// It holds private keys: keep its directory private.
    #[arg(long, env = "SWITCHYARD_SNAPSHOT_FILE", default_value = DEFAULT_SNAPSHOT_FILE)]
    pub snapshot_file: PathBuf,
    /// Name this proxy reports in Redis (default: host name and HTTP listener port).
    #[arg(long, env = "SWITCHYARD_PROXY_ID")]
    pub proxy_id: Option<String>,
    /// Development mode: no TLS listener, every zone served on plain HTTP.
    #[arg(long, env = "SWITCHYARD_LOCAL")]
    pub local: bool,
    /// Worker threads of the proxy service.
    #[arg(long, env = "SWITCHYARD_THREADS", default_value_t = 2)]
    pub threads: usize,
    /// Let idle worker threads take tasks queued on busy ones (tokio's work-stealing
    /// scheduler). Off: each worker thread runs its own connections in arrival order, as
    /// an nginx worker does; tail latency under load is lower (see docs/benchmarks.md).
    #[arg(long, env = "SWITCHYARD_WORK_STEALING", default_value_t = false, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub work_stealing: bool,
    /// Serve HTTP/1.1 requests (plain and TLS) and HTTP/2 streams of the common kind on
    /// the proxy's own path (fewer instructions per request than Pingora's); everything
    /// else goes through Pingora's. `false` sends every request through Pingora's (see docs/proxy.md).
    #[arg(long, env = "SWITCHYARD_FAST_PATH", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub fast_path: bool,
    /// Load balancers or proxies in front of this one, as CIDRs or addresses
    /// (comma-separated): when the TCP peer is one of them, the client's address is taken
    /// from `X-Forwarded-For` (the rightmost entry not itself trusted), for allow-lists,
    /// rate limits, `X-Real-IP` and the access log. Empty (the default): the peer is the
    /// client, and `X-Forwarded-For` from clients is only passed on.
    #[arg(long, env = "SWITCHYARD_TRUSTED_PROXIES", value_delimiter = ',', value_parser = switchyard_shared::model::parse_cidr, value_name = "CIDRS")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// PROXY protocol (v1 and v2) on the HTTP and HTTPS listeners: a TCP load balancer
    /// (HAProxy `send-proxy-v2`, AWS NLB) names the client in a header sent before HTTP or
    /// the TLS ClientHello. `optional`: peers in --proxy-protocol-from may send it;
    /// `required`: they must (without it the connection is closed). A header from any
    /// other peer closes the connection. See docs/proxy.md, "PROXY protocol".
    #[arg(long, env = "SWITCHYARD_PROXY_PROTOCOL", value_enum, default_value_t = crate::proxy_protocol::Mode::Off, value_name = "MODE")]
    pub proxy_protocol: crate::proxy_protocol::Mode,
    /// The load balancers whose PROXY protocol header is believed, as CIDRs or addresses
    /// (comma-separated); needed with --proxy-protocol=optional|required. The header's
    /// source address then takes the peer's place, for --trusted-proxies too.
    #[arg(long, env = "SWITCHYARD_PROXY_PROTOCOL_FROM", value_delimiter = ',', value_parser = switchyard_shared::model::parse_cidr, value_name = "CIDRS")]
    pub proxy_protocol_from: Vec<ipnet::IpNet>,
    /// Accept request header names containing "_". Off by default: a backend that maps
    /// "_" to "-" (CGI, many frameworks) would read `Transfer_Encoding` or
    /// `X_Forwarded_For` as headers the proxy never checked (nginx drops them; here the
    /// request is answered 400).
    #[arg(long, env = "SWITCHYARD_ALLOW_UNDERSCORE_HEADERS", default_value_t = false, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub allow_underscore_headers: bool,
    /// Accept request methods with lower-case letters (`get`). Off by default: methods
    /// are case-sensitive (RFC 9110 §9.1) and a backend that upper-cases them could see a
    /// different method from the one the proxy decided on.
    #[arg(long, env = "SWITCHYARD_ALLOW_LOWERCASE_METHODS", default_value_t = false, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub allow_lowercase_methods: bool,
    /// Idle keep-alive connections to upstreams kept for reuse, in all (the fast path's
    /// pool and Pingora's each keep up to this many). A request that finds no idle
    /// connection opens a new one, so this should exceed the number of requests in
    /// flight at once (an HTTP/2 client alone may have 100 per connection).
    #[arg(long, env = "SWITCHYARD_UPSTREAM_IDLE_MAX", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub upstream_idle_max: u32,
    /// How often the TLS session ticket keys that every proxy on this Redis shares are
    /// rotated, in seconds (one proxy rotates, all follow within seconds; a key
    /// decrypts tickets for two periods). See docs/proxy.md, "Session resumption".
    #[arg(long, env = "SWITCHYARD_TLS_TICKET_ROTATE_SECS", default_value_t = 43_200, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub tls_ticket_rotate_secs: u64,
    /// How often this proxy sends its counts of fleet-wide rate limits (`scope: "fleet"`)
    /// to Redis and reads the fleet's back, in milliseconds: the fleet may pass a limit by
    /// what it lets through in one interval. See docs/policies.md, "Rate limits".
    #[arg(long, env = "SWITCHYARD_FLEET_RATE_SYNC_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub fleet_rate_sync_ms: u64,
    /// Default upstream connect timeout, in milliseconds (a zone may set its own).
    #[arg(long, env = "SWITCHYARD_CONNECT_TIMEOUT_MS", default_value_t = 5_000)]
    pub connect_timeout_ms: u64,
    /// Default upstream read timeout, in milliseconds (a zone may set its own).
    #[arg(long, env = "SWITCHYARD_READ_TIMEOUT_MS", default_value_t = 60_000)]
    pub read_timeout_ms: u64,
    /// PEM bundle of CAs trusted for HTTPS upstreams (default: the system's roots).
    #[arg(long, env = "SWITCHYARD_UPSTREAM_CA_FILE")]
    pub upstream_ca_file: Option<PathBuf>,
    /// Stored name of a certificate to present for unknown server names (e.g.
    /// "*.example.com"); without it such handshakes fail.
    #[arg(long, env = "SWITCHYARD_DEFAULT_CERT")]
    pub default_cert: Option<String>,
    /// How long start-up waits for Redis before serving the snapshot file, in ms.
    #[arg(long, env = "SWITCHYARD_STARTUP_TIMEOUT_MS", default_value_t = 3_000)]
    pub startup_timeout_ms: u64,
    /// Full reload from Redis every this many seconds (heals anything missed).
    #[arg(long, env = "SWITCHYARD_FULL_RELOAD_SECS", default_value_t = 600)]
    pub full_reload_secs: u64,
    /// Interval of active upstream health checks in ms (0 turns them off).
    #[arg(long, env = "SWITCHYARD_HEALTH_CHECK_MS", default_value_t = 5_000)]
    pub health_check_ms: u64,
    /// HTTP health probes (routes' `health_check` policies) in flight at most; due
    /// probes beyond it wait their turn.
    #[arg(long, env = "SWITCHYARD_HEALTH_PROBE_CONCURRENCY", default_value_t = crate::upstreams::DEFAULT_PROBE_CONCURRENCY)]
    pub health_probe_concurrency: usize,
    /// Seconds between fetches of each JWK set a `jwt` policy names (`jwks_url`).
    #[arg(long, env = "SWITCHYARD_JWKS_REFRESH_SECS", default_value_t = 300)]
    pub jwks_refresh_secs: u64,
    /// Shortest time between two fetches of one JWK set, in ms: a token naming an
    /// unknown `kid` asks for a fetch at most this often, so made-up `kid`s cannot make
    /// the proxy hammer the key server.
    #[arg(long, env = "SWITCHYARD_JWKS_MIN_REFRESH_MS", default_value_t = 10_000)]
    pub jwks_min_refresh_ms: u64,
    /// Seconds to finish in-flight requests after SIGTERM before exiting.
    #[arg(long, env = "SWITCHYARD_GRACE_SECS", default_value_t = 10)]
    pub grace_secs: u64,
    /// After SIGTERM, milliseconds to keep serving with `/readyz` answering 503 before the
    /// listeners close, so load balancers stop sending first. Set it to the balancer's
    /// health-check interval times its failure threshold; 0 closes at once.
    #[arg(long, env = "SWITCHYARD_DRAIN_DELAY_MS", default_value_t = DEFAULT_DRAIN_DELAY_MS)]
    pub drain_delay_ms: u64,
    /// Take over the listeners of a running proxy (zero-downtime upgrade); see docs/proxy.md.
    #[arg(long)]
    pub upgrade: bool,
    /// Socket used to hand listeners over during an upgrade.
    #[arg(
        long,
        env = "SWITCHYARD_UPGRADE_SOCK",
        default_value = "/tmp/switchyard-proxy-upgrade.sock"
    )]
    pub upgrade_sock: String,
    /// OTLP/HTTP receiver to export traces to, e.g. http://127.0.0.1:4318 (`/v1/traces`
    /// is appended). Also read from OTEL_EXPORTER_OTLP_ENDPOINT and
    /// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; with none of them set, tracing is off.
    #[arg(long, env = "SWITCHYARD_OTLP_ENDPOINT", value_name = "URL", value_parser = switchyard_shared::telemetry::parse_endpoint)]
    pub otlp_endpoint: Option<switchyard_shared::telemetry::OtlpEndpoint>,
}

/// The validated, typed form.
#[derive(Debug, Clone)]
pub struct Settings {
    pub http_listen: SocketAddr,
    pub https_listen: Option<SocketAddr>,
    pub admin_listen: SocketAddr,
    pub keys: Keys,
    pub proxy_id: String,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub startup_timeout: Duration,
    pub full_reload_every: Duration,
    pub health_check_every: Duration,
    pub health_probe_concurrency: usize,
    pub drain_delay: Duration,
}

impl Config {
    /// Checks everything and reports every problem at once.
    pub fn validate(&self) -> Result<Settings, Vec<String>> {
        let mut problems = Vec::new();
        let mut addr = |flag: &str, value: &str| match value.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                problems.push(format!(
                    "--{flag} \"{value}\" is not an address; write IP:PORT, e.g. 0.0.0.0:8080"
                ));
                None
            }
        };
        let http_listen = addr("http-listen", &self.http_listen);
        let https_listen = addr("https-listen", &self.https_listen);
        let admin_listen = addr("admin-listen", &self.admin_listen);
        let keys = Keys::new(&self.key_prefix)
            .map_err(|e| problems.push(format!("--key-prefix: {e}")))
            .ok();
        // The forms every service accepts, decided in one place; the URL itself is not
        // repeated: it may hold a password.
        for (flag, url) in [
            ("--redis-url", Some(&self.redis_url)),
            ("--redis-read-url", self.redis_read_url.as_ref()),
        ] {
            if let Some(url) = url
                && let Err(problem) = switchyard_shared::redis_url::config(url)
            {
                problems.push(format!("{flag}: {problem}"));
            }
        }
        if !(1..=256).contains(&self.threads) {
            problems.push(format!("--threads is {}; it must be 1–256", self.threads));
        }
        for (flag, value) in [
            ("connect-timeout-ms", self.connect_timeout_ms),
            ("read-timeout-ms", self.read_timeout_ms),
            ("startup-timeout-ms", self.startup_timeout_ms),
            ("full-reload-secs", self.full_reload_secs),
        ] {
            if value == 0 {
                problems.push(format!("--{flag} is 0; it must be at least 1"));
            }
        }
        if !(1..=MAX_PROBE_CONCURRENCY).contains(&self.health_probe_concurrency) {
            problems.push(format!(
                "--health-probe-concurrency is {}; it must be 1–{MAX_PROBE_CONCURRENCY}",
                self.health_probe_concurrency
            ));
        }
        if let Some(ca) = &self.upstream_ca_file
            && !ca.is_file()
        {
            problems.push(format!(
                "--upstream-ca-file {} does not exist or is not a file",
                ca.display()
            ));
        }
        match (self.proxy_protocol, self.proxy_protocol_from.is_empty()) {
            (crate::proxy_protocol::Mode::Off, false) => problems.push(
                "--proxy-protocol-from is set but --proxy-protocol is off; \
                 set --proxy-protocol=optional or required, or drop --proxy-protocol-from"
                    .to_owned(),
            ),
            (mode, true) if mode != crate::proxy_protocol::Mode::Off => problems.push(format!(
                "--proxy-protocol={} needs --proxy-protocol-from: the CIDRs of the load \
                 balancers whose header is believed (e.g. 10.0.0.0/8)",
                if mode == crate::proxy_protocol::Mode::Required {
                    "required"
                } else {
                    "optional"
                }
            )),
            _ => {}
        }
        if self.snapshot_file.as_os_str().is_empty() {
            problems.push("--snapshot-file is empty; give a path".to_owned());
        }
        if let (Some(a), Some(b)) = (http_listen, https_listen)
            && a == b
            && a.port() != 0
            && !self.local
        {
            problems.push(format!("--http-listen and --https-listen are both {a}"));
        }
        if self.upgrade {
            for (flag, a) in [
                ("http-listen", http_listen),
                ("https-listen", https_listen.filter(|_| !self.local)),
                ("admin-listen", admin_listen),
            ] {
                if let Some(a) = a
                    && a.port() == 0
                {
                    problems.push(format!(
                        "--{flag} {a}: an upgrade takes over the running proxy's listeners; \
                         give the addresses it logged (\"proxy listening\"), not port 0"
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let http_listen = http_listen.expect("checked");
        let proxy_id = self
            .proxy_id
            .clone()
            .unwrap_or_else(|| default_proxy_id(http_listen.port()));
        Ok(Settings {
            http_listen,
            https_listen: if self.local { None } else { https_listen },
            admin_listen: admin_listen.expect("checked"),
            keys: keys.expect("checked"),
            proxy_id,
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            read_timeout: Duration::from_millis(self.read_timeout_ms),
            startup_timeout: Duration::from_millis(self.startup_timeout_ms),
            full_reload_every: Duration::from_secs(self.full_reload_secs),
            health_check_every: Duration::from_millis(self.health_check_ms),
            health_probe_concurrency: self.health_probe_concurrency,
            drain_delay: Duration::from_millis(self.drain_delay_ms),
        })
    }
}

/// The name a proxy reports without `--proxy-id`: host name and HTTP listener port (the
/// port the system picked, for port 0: see [`crate::build_server`]).
pub fn default_proxy_id(http_port: u16) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "proxy".to_owned());
    format!("{host}:{http_port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let config = Config::parse_from([
            "switchyard-proxy",
            "--http-listen",
            "nonsense",
            "--admin-listen",
            "1.2.3.4",
            "--key-prefix",
            "a b",
            "--redis-url",
            "http://x",
            "--threads",
            "0",
            "--read-timeout-ms",
            "0",
        ]);
        let problems = config.validate().unwrap_err();
        assert_eq!(problems.len(), 6, "{problems:#?}");
        let all = problems.join("\n");
        for want in [
            "--http-listen \"nonsense\" is not an address",
            "--admin-listen \"1.2.3.4\"",
            "--key-prefix: key prefix \"a b\" is not allowed",
            "--redis-url: scheme \"http://\" is not supported",
            "--threads is 0",
            "--read-timeout-ms is 0",
        ] {
            assert!(all.contains(want), "{all}");
        }
    }

    #[test]
    fn defaults_are_valid() {
        let settings = Config::parse_from(["switchyard-proxy"]).validate().unwrap();
        assert_eq!(settings.admin_listen.ip().to_string(), "127.0.0.1");
        assert!(settings.https_listen.is_some());
        let local = Config::parse_from(["switchyard-proxy", "--local"])
            .validate()
            .unwrap();
        assert!(local.https_listen.is_none());
    }

    #[test]
    fn port_zero_is_allowed_except_for_an_upgrade() {
        let zero = [
            "switchyard-proxy",
            "--http-listen",
            "127.0.0.1:0",
            "--https-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ];
        let settings = Config::parse_from(zero).validate().unwrap();
        assert_eq!(settings.http_listen.port(), 0);
        assert_eq!(settings.https_listen.unwrap().port(), 0);
        let problems = Config::parse_from(zero.iter().chain(&["--upgrade"]))
            .validate()
            .unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].contains("not port 0"), "{problems:#?}");
    }
}
