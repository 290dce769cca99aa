//! Configuration: flags and environment variables (`cert-worker --help`), validated as a
//! whole so that every problem is reported at once, each naming the setting, the value
//! and what is allowed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use switchyard_shared::Keys;
use switchyard_shared::secrets::SecretBox;

/// Let's Encrypt production: publicly trusted certificates, strict rate limits.
pub const LETSENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt staging: untrusted certificates, generous limits; for trying things out.
pub const LETSENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// Orders are checked this often: a new domain gets its certificate within seconds, and
/// an idle query every 10 s costs Postgres nothing.
pub const DEFAULT_POLL_SECS: u64 = 10;
/// New zones' hostnames get their per-host (HTTP-01) certificate rows within a minute;
/// the check reads every zone hostname (about 0.4 s of PostgreSQL time per 100,000
/// zones), so it runs once a minute rather than at every 10 s pass.
pub const DEFAULT_HOST_SYNC_SECS: u64 = 60;
/// The issue asks for a daily renewal sweep; a third of a 90-day lifetime leaves 30 days
/// of daily attempts before expiry.
pub const DEFAULT_RENEW_SECS: u64 = 24 * 60 * 60;
/// First retry a minute after a failure: long enough for a transient provider error to
/// clear, short enough that a fixed typo is picked up soon.
pub const DEFAULT_BACKOFF_BASE_SECS: u64 = 60;
/// Never wait more than 6 hours between attempts: a renewal that keeps failing is still
/// retried four times a day, far within the 30-day margin.
pub const DEFAULT_BACKOFF_CAP_SECS: u64 = 6 * 60 * 60;
/// Let's Encrypt allows 300 new orders per account per 3 hours; 50 an hour stays well
/// under it even with several instances, and is more than a healthy fleet needs.
pub const DEFAULT_MAX_ORDERS_PER_HOUR: u32 = 50;
/// DNS changes at the big providers are usually visible within a minute; five leave room
/// for slow secondaries before the order is given up.
pub const DEFAULT_PROPAGATION_TIMEOUT_SECS: u64 = 300;
/// How often the TXT record is looked up while waiting for it.
pub const DEFAULT_PROPAGATION_POLL_MS: u64 = 2_000;
/// Orders solved at the same time by one instance: DNS waits dominate, so a few in
/// parallel keep throughput up without flooding a provider's API.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// How long the CA may take to validate and to issue before the attempt fails.
pub const DEFAULT_ACME_TIMEOUT_SECS: u64 = 120;
/// Loopback only: metrics and health are for the local agent, not the internet.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9082";
/// Heartbeat written every loop; the key expires after three missed beats.
pub const DEFAULT_HEARTBEAT_SECS: u64 = 10;
/// The per-certificate expiry metrics and the 14/7/3-day notices are brought up to date
/// every five minutes: days-to-expiry moves slowly, and reading every certificate's
/// expiry (about 0.2 s of PostgreSQL time per 100,000) that often costs nothing.
pub const DEFAULT_EXPIRY_CHECK_SECS: u64 = 300;

/// Switchyard certificate worker: obtains and renews wildcard certificates (`*.<domain>`
/// and `<domain>`) by ACME DNS-01 through the DNS providers' APIs, stores them in
/// PostgreSQL and publishes them to Redis for the proxies.
///
/// Logs are JSON lines on stdout; RUST_LOG (e.g. `debug`) sets what is logged.
#[derive(Parser, Clone)]
#[command(name = "cert-worker", version)]
pub struct Args {
    /// PostgreSQL database, e.g. postgres://user[:password]@127.0.0.1:5432/switchyard, or a primary and its standbys in libpq's form, postgres://user@db1:5432,db2:5432/switchyard?target_session_attrs=read-write: the pool follows the read-write host (credentials are never logged).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Redis receiving the certificates for the proxies, e.g. redis://[user:password@]host:6379/0, rediss://… (TLS) or a Sentinel set, redis-sentinel://HOST:PORT,HOST:PORT,…/SERVICE (docs/deploy.md, "Redis URLs").
    #[arg(
        long,
        env = "SWITCHYARD_REDIS_URL",
        hide_env_values = true,
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,
    /// Prefix of every Switchyard key in Redis.
    #[arg(long, env = "SWITCHYARD_KEY_PREFIX", default_value = "switchyard:")]
    pub key_prefix: String,
    /// 32 random bytes in base64 that encrypt secrets at rest (ACME account key, certificate keys, DNS credentials); the panel uses the same key.
    #[arg(long, env = "SWITCHYARD_SECRET_KEY", hide_env_values = true)]
    pub secret_key: String,
    /// ACME directory: `letsencrypt`, `letsencrypt-staging`, or a directory URL.
    #[arg(long, env = "SWITCHYARD_ACME_DIRECTORY")]
    pub acme_directory: String,
    /// Contact e-mail registered with the ACME account (expiry notices from the CA).
    #[arg(long, env = "SWITCHYARD_ACME_CONTACT")]
    pub acme_contact: Option<String>,
    /// External Account Binding key id (CAs such as ZeroSSL or Google require one).
    #[arg(long, env = "SWITCHYARD_ACME_EAB_KID")]
    pub acme_eab_kid: Option<String>,
    /// External Account Binding HMAC key, base64url as the CA shows it.
    #[arg(long, env = "SWITCHYARD_ACME_EAB_HMAC_KEY", hide_env_values = true)]
    pub acme_eab_hmac_key: Option<String>,
    /// PEM file of the CA that signs the ACME directory's HTTPS certificate, instead of the public roots (test CAs such as Pebble).
    #[arg(long, env = "SWITCHYARD_ACME_CA_FILE")]
    pub acme_ca_file: Option<PathBuf>,
    /// DNS servers (ip:port, comma-separated) asked whether a TXT record is visible; by default the zone's authoritative name servers.
    #[arg(long, env = "SWITCHYARD_DNS_RESOLVERS", value_delimiter = ',')]
    pub dns_resolvers: Vec<String>,
    /// Give up waiting for a TXT record to become visible after this many seconds.
    #[arg(long, env = "SWITCHYARD_PROPAGATION_TIMEOUT_SECS", default_value_t = DEFAULT_PROPAGATION_TIMEOUT_SECS)]
    pub propagation_timeout_secs: u64,
    /// Look the TXT record up this often (milliseconds) while waiting.
    #[arg(long, env = "SWITCHYARD_PROPAGATION_POLL_MS", default_value_t = DEFAULT_PROPAGATION_POLL_MS)]
    pub propagation_poll_ms: u64,
    /// Time the CA may take to validate and issue (seconds).
    #[arg(long, env = "SWITCHYARD_ACME_TIMEOUT_SECS", default_value_t = DEFAULT_ACME_TIMEOUT_SECS)]
    pub acme_timeout_secs: u64,
    /// Check for due orders this often (seconds).
    #[arg(long, env = "SWITCHYARD_POLL_SECS", default_value_t = DEFAULT_POLL_SECS)]
    pub poll_secs: u64,
    /// Bring the per-host (HTTP-01) certificates in step with the zones this often
    /// (seconds): hostnames that need one are added, ones no longer needed retired.
    #[arg(long, env = "SWITCHYARD_HOST_SYNC_SECS", default_value_t = DEFAULT_HOST_SYNC_SECS)]
    pub host_sync_secs: u64,
    /// Run the renewal sweep this often (seconds; daily by default).
    #[arg(long, env = "SWITCHYARD_RENEW_SECS", default_value_t = DEFAULT_RENEW_SECS)]
    pub renew_secs: u64,
    /// Wait this long after a first failure; doubles per further failure (seconds).
    #[arg(long, env = "SWITCHYARD_BACKOFF_BASE_SECS", default_value_t = DEFAULT_BACKOFF_BASE_SECS)]
    pub backoff_base_secs: u64,
    /// Never wait longer than this between attempts (seconds).
    #[arg(long, env = "SWITCHYARD_BACKOFF_CAP_SECS", default_value_t = DEFAULT_BACKOFF_CAP_SECS)]
    pub backoff_cap_secs: u64,
    /// At most this many new orders per ACME account per hour, over all instances.
    #[arg(long, env = "SWITCHYARD_MAX_ORDERS_PER_HOUR", default_value_t = DEFAULT_MAX_ORDERS_PER_HOUR)]
    pub max_orders_per_hour: u32,
    /// Orders this instance works on at the same time.
    #[arg(long, env = "SWITCHYARD_CONCURRENCY", default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Admin listener: /metrics (Prometheus), /livez, /readyz.
    #[arg(long, env = "SWITCHYARD_CERT_WORKER_ADMIN_LISTEN", default_value = DEFAULT_ADMIN_LISTEN)]
    pub admin_listen: String,
    /// Write the heartbeat to Redis this often (seconds).
    #[arg(long, env = "SWITCHYARD_HEARTBEAT_SECS", default_value_t = DEFAULT_HEARTBEAT_SECS)]
    pub heartbeat_secs: u64,
    /// Webhook that hears of certificate trouble: a JSON POST when an order or renewal
    /// fails, and 14, 7 and 3 days before a certificate (issued or uploaded) expires;
    /// retried with backoff (docs/cert-worker.md, "Expiry notices"). An http:// or
    /// https:// URL; it may carry a token (only its host is ever logged). Unset: no
    /// notices.
    #[arg(
        long,
        env = "SWITCHYARD_NOTIFY_WEBHOOK_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub notify_webhook_url: Option<String>,
    /// Update the per-certificate expiry metrics and send due expiry notices this often
    /// (seconds).
    #[arg(long, env = "SWITCHYARD_EXPIRY_CHECK_SECS", default_value_t = DEFAULT_EXPIRY_CHECK_SECS)]
    pub expiry_check_secs: u64,
    /// OTLP/HTTP receiver to export traces to, e.g. http://127.0.0.1:4318 (`/v1/traces`
    /// is appended). Also read from OTEL_EXPORTER_OTLP_ENDPOINT and
    /// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; with none of them set, tracing is off.
    #[arg(long, env = "SWITCHYARD_OTLP_ENDPOINT", value_name = "URL", value_parser = switchyard_shared::telemetry::parse_endpoint)]
    pub otlp_endpoint: Option<switchyard_shared::telemetry::OtlpEndpoint>,
}

/// The External Account Binding credentials.
#[derive(Clone)]
pub struct Eab {
    pub kid: String,
    pub hmac_key: Vec<u8>,
}

impl std::fmt::Debug for Eab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eab")
            .field("kid", &self.kid)
            .field("hmac_key", &format_args!("<redacted>"))
            .finish()
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub redis_url: String,
    pub keys: Keys,
    pub secrets: SecretBox,
    pub acme: AcmeConfig,
    pub dns_resolvers: Vec<SocketAddr>,
    pub propagation_timeout: Duration,
    pub propagation_poll: Duration,
    pub poll_every: Duration,
    /// How often the per-host certificates are brought in step with the zones.
    pub host_sync_every: Duration,
    pub renew_every: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub max_orders_per_hour: u32,
    pub concurrency: usize,
    pub admin_listen: SocketAddr,
    pub heartbeat_every: Duration,
    /// `--otlp-endpoint`, for [`switchyard_shared::telemetry::init`].
    pub otlp_endpoint: Option<switchyard_shared::telemetry::OtlpEndpoint>,
    /// `--notify-webhook-url`: where notices go; `None`, none are sent.
    pub notify_webhook: Option<crate::notify::Webhook>,
    /// How often the expiry metrics and notices are brought up to date.
    pub expiry_check_every: Duration,
}

/// Where the ACME account lives.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    pub directory_url: String,
    pub contact: Option<String>,
    pub eab: Option<Eab>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Args").finish_non_exhaustive()
    }
}

/// Every problem found in the configuration, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigErrors(pub Vec<String>);

impl Args {
    /// Checks everything and reports every problem at once.
    pub fn validate(self) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let keys = Keys::new(&self.key_prefix)
            .map_err(|e| errors.push(format!("--key-prefix {:?}: {e}", self.key_prefix)))
            .ok();
        let secrets = SecretBox::from_base64(&self.secret_key)
            .map_err(|e| errors.push(format!("--secret-key: {e}")))
            .ok();
        let directory_url = match self.acme_directory.as_str() {
            "letsencrypt" => LETSENCRYPT.to_owned(),
            "letsencrypt-staging" => LETSENCRYPT_STAGING.to_owned(),
            other => match url::Url::parse(other) {
                Ok(u) if u.scheme() == "https" => other.to_owned(),
                _ => {
                    errors.push(format!(
                        "--acme-directory {other:?}: expected `letsencrypt`, `letsencrypt-staging` or an https:// directory URL"
                    ));
                    String::new()
                }
            },
        };
        if let Some(contact) = &self.acme_contact {
            let parts: Vec<&str> = contact.split('@').collect();
            if parts.len() != 2 || parts[0].is_empty() || !parts[1].contains('.') {
                errors.push(format!(
                    "--acme-contact {contact:?}: expected an e-mail address such as ops@example.com"
                ));
            }
        }
        let eab = match (&self.acme_eab_kid, &self.acme_eab_hmac_key) {
            (None, None) => None,
            (Some(kid), Some(key)) => {
                use base64::Engine as _;
                match base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(key.trim().trim_end_matches('='))
                {
                    Ok(hmac_key) if !hmac_key.is_empty() => Some(Eab {
                        kid: kid.clone(),
                        hmac_key,
                    }),
                    _ => {
                        errors.push(
                            "--acme-eab-hmac-key: not base64url (the value is not shown); copy it as the CA displays it".to_owned(),
                        );
                        None
                    }
                }
            }
            (Some(_), None) => {
                errors.push("--acme-eab-kid is set but --acme-eab-hmac-key is not: External Account Binding needs both".to_owned());
                None
            }
            (None, Some(_)) => {
                errors.push("--acme-eab-hmac-key is set but --acme-eab-kid is not: External Account Binding needs both".to_owned());
                None
            }
        };
        if let Some(path) = &self.acme_ca_file {
            match std::fs::read_to_string(path) {
                Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => {}
                Ok(_) => errors.push(format!(
                    "--acme-ca-file {}: holds no PEM certificate",
                    path.display()
                )),
                Err(e) => errors.push(format!(
                    "--acme-ca-file {}: cannot be read ({e})",
                    path.display()
                )),
            }
        }
        let mut dns_resolvers = Vec::new();
        for r in self.dns_resolvers.iter().filter(|r| !r.trim().is_empty()) {
            let r = r.trim();
            match r
                .parse::<SocketAddr>()
                .or_else(|_| r.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
            {
                Ok(a) => dns_resolvers.push(a),
                Err(_) => errors.push(format!(
                    "--dns-resolvers {r:?}: expected an IP address with optional port, e.g. 1.1.1.1 or 127.0.0.1:8053"
                )),
            }
        }
        let admin_listen = self
            .admin_listen
            .parse::<SocketAddr>()
            .map_err(|_| {
                errors.push(format!(
                    "--admin-listen {:?}: expected ip:port, e.g. {DEFAULT_ADMIN_LISTEN}",
                    self.admin_listen
                ))
            })
            .ok();
        for (name, value) in [
            ("--propagation-timeout-secs", self.propagation_timeout_secs),
            ("--propagation-poll-ms", self.propagation_poll_ms),
            ("--acme-timeout-secs", self.acme_timeout_secs),
            ("--poll-secs", self.poll_secs),
            ("--host-sync-secs", self.host_sync_secs),
            ("--renew-secs", self.renew_secs),
            ("--backoff-base-secs", self.backoff_base_secs),
            ("--backoff-cap-secs", self.backoff_cap_secs),
            ("--heartbeat-secs", self.heartbeat_secs),
            ("--expiry-check-secs", self.expiry_check_secs),
        ] {
            if value == 0 {
                errors.push(format!("{name} 0: must be at least 1"));
            }
        }
        if self.backoff_base_secs > self.backoff_cap_secs {
            errors.push(format!(
                "--backoff-base-secs {} is above --backoff-cap-secs {}: the first wait cannot exceed the longest",
                self.backoff_base_secs, self.backoff_cap_secs
            ));
        }
        if self.max_orders_per_hour == 0 {
            errors.push("--max-orders-per-hour 0: must be at least 1".to_owned());
        }
        if self.concurrency == 0 || self.concurrency > 64 {
            errors.push(format!(
                "--concurrency {}: must be between 1 and 64",
                self.concurrency
            ));
        }
        if let Err(e) = switchyard_db::DatabaseUrl::parse(&self.database_url) {
            errors.push(format!(
                "--database-url: {e} (the URL itself is not shown: it may hold a password)"
            ));
        }
        // The forms every service accepts, decided in one place (the value is not shown).
        if let Err(problem) = switchyard_shared::redis_url::config(&self.redis_url) {
            errors.push(format!("--redis-url: {problem}"));
        }
        let notify_webhook = match self.notify_webhook_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) => crate::notify::Webhook::parse(url)
                .map_err(|problem| errors.push(format!("--notify-webhook-url: {problem}")))
                .ok(),
        };
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Config {
            database_url: self.database_url,
            redis_url: self.redis_url,
            keys: keys.expect("checked"),
            secrets: secrets.expect("checked"),
            acme: AcmeConfig {
                directory_url,
                contact: self.acme_contact,
                eab,
                ca_file: self.acme_ca_file,
                timeout: Duration::from_secs(self.acme_timeout_secs),
            },
            dns_resolvers,
            propagation_timeout: Duration::from_secs(self.propagation_timeout_secs),
            propagation_poll: Duration::from_millis(self.propagation_poll_ms),
            poll_every: Duration::from_secs(self.poll_secs),
            host_sync_every: Duration::from_secs(self.host_sync_secs),
            renew_every: Duration::from_secs(self.renew_secs),
            backoff_base: Duration::from_secs(self.backoff_base_secs),
            backoff_cap: Duration::from_secs(self.backoff_cap_secs),
            max_orders_per_hour: self.max_orders_per_hour,
            concurrency: self.concurrency,
            admin_listen: admin_listen.expect("checked"),
            heartbeat_every: Duration::from_secs(self.heartbeat_secs),
            otlp_endpoint: self.otlp_endpoint,
            notify_webhook,
            expiry_check_every: Duration::from_secs(self.expiry_check_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn parse(extra: &[&str]) -> Result<Config, ConfigErrors> {
        let mut argv = vec![
            "cert-worker",
            "--database-url",
            "postgres://postgres@127.0.0.1/x",
        ];
        if !extra.contains(&"--secret-key") {
            argv.extend_from_slice(&["--secret-key", KEY]);
        }
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).unwrap().validate()
    }

    #[test]
    fn presets_and_defaults() {
        let c = parse(&["--acme-directory", "letsencrypt-staging"]).unwrap();
        assert_eq!(c.acme.directory_url, LETSENCRYPT_STAGING);
        assert_eq!(c.renew_every, Duration::from_secs(86_400));
        let c = parse(&["--acme-directory", "letsencrypt"]).unwrap();
        assert_eq!(c.acme.directory_url, LETSENCRYPT);
        assert!(
            !format!("{c:?}").contains(KEY),
            "the secret key leaked into Debug"
        );
    }

    #[test]
    fn a_multi_host_database_url_is_accepted_and_a_bad_one_named() {
        let url = "postgres://sy:hunter2@db1:5432,db2:5432/sy?target_session_attrs=read-write";
        let c = Args::try_parse_from([
            "cert-worker",
            "--database-url",
            url,
            "--secret-key",
            KEY,
            "--acme-directory",
            "letsencrypt",
        ])
        .unwrap()
        .validate()
        .unwrap();
        assert_eq!(c.database_url, url);
        let err = Args::try_parse_from([
            "cert-worker",
            "--database-url",
            "postgres://sy:hunter2@db1:5432,,db2/sy",
            "--secret-key",
            KEY,
            "--acme-directory",
            "letsencrypt",
        ])
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("--database-url: host: entry 2"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn the_webhook_url_is_checked_and_never_shown_whole() {
        let c = parse(&[
            "--acme-directory",
            "letsencrypt",
            "--notify-webhook-url",
            "https://hooks.example.com/T0/secret-token",
        ])
        .unwrap();
        let hook = c.notify_webhook.as_ref().unwrap();
        assert_eq!(hook.host(), "hooks.example.com");
        assert!(!format!("{c:?}").contains("secret-token"), "{c:?}");
        let c = parse(&[
            "--acme-directory",
            "letsencrypt",
            "--notify-webhook-url",
            "",
        ])
        .unwrap();
        assert!(c.notify_webhook.is_none());
        for bad in [
            "ftp://hooks.example.com/x",
            "hooks.example.com/secret-token",
            "https://",
        ] {
            let err = parse(&[
                "--acme-directory",
                "letsencrypt",
                "--notify-webhook-url",
                bad,
            ])
            .unwrap_err()
            .to_string();
            assert!(err.contains("--notify-webhook-url: "), "{err}");
            assert!(err.contains("http:// or https://"), "{err}");
            assert!(!err.contains("secret-token"), "{err}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = parse(&[
            "--acme-directory",
            "ftp://x",
            "--acme-contact",
            "nobody",
            "--acme-eab-kid",
            "kid",
            "--dns-resolvers",
            "1.1.1.1,not-an-ip",
            "--poll-secs",
            "0",
            "--admin-listen",
            "localhost",
            "--secret-key",
            "c2hvcnQ=",
        ])
        .unwrap_err()
        .to_string();
        for expected in [
            "--acme-directory \"ftp://x\"",
            "--acme-contact \"nobody\"",
            "--acme-eab-kid is set but --acme-eab-hmac-key is not",
            "--dns-resolvers \"not-an-ip\"",
            "--poll-secs 0",
            "--admin-listen \"localhost\"",
            "--secret-key: SWITCHYARD_SECRET_KEY decodes to 5 bytes",
        ] {
            assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
        }
    }
}
