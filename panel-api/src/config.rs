//! The panel's settings: every one a flag with an environment variable, defaults named
//! below with the reason for each. Secret values are hidden from `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Loopback only: the panel is meant to sit behind a TLS-terminating reverse proxy, so
/// exposing it on every interface must be a deliberate choice.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";
/// The Redis on the same machine, as in development and on the project's test machines.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// The prefix the proxies and cert-worker default to as well, so a fresh install agrees.
pub const DEFAULT_KEY_PREFIX: &str = "switchyard:";

/// Seconds between replays of Redis writes queued while Redis was unreachable: outages
/// are usually short, and a round with an empty outbox costs one indexed query.
pub const DEFAULT_OUTBOX_REPLAY_SECS: u64 = 30;

/// Twelve hours: a working day in the web panel without logging in again, short enough
/// that a forgotten browser session does not live for weeks. Logout revokes at once.
pub const DEFAULT_SESSION_TTL_SECS: u64 = 12 * 60 * 60;
/// Login attempts per minute for one username: enough for typos, far too few to guess
/// a password (argon2id makes each guess cost the server, too).
pub const DEFAULT_LOGIN_PER_USER_PER_MINUTE: u32 = 10;
/// Login attempts per minute from one address: a few users behind one NAT can still log
/// in, a script trying many usernames cannot.
pub const DEFAULT_LOGIN_PER_ADDRESS_PER_MINUTE: u32 = 30;

/// Switchyard panel API: the REST control plane over PostgreSQL, written through to Redis.
///
/// Logs are JSON lines on stdout; RUST_LOG (e.g. `debug`) sets what is logged.
#[derive(Parser, Clone)]
#[command(version)]
pub struct Config {
    /// Address and port to serve the API on.
    #[arg(long, env = "SWITCHYARD_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// PostgreSQL database, e.g. postgres://user[:password]@127.0.0.1:5432/switchyard,
    /// or a primary and its standbys in libpq's form,
    /// postgres://user@db1:5432,db2:5432/switchyard?target_session_attrs=read-write:
    /// the pool follows the read-write host (credentials are never logged).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Redis holding the routing data, e.g. redis://[user:password@]host:6379/0, rediss://… (TLS)
    /// or a Sentinel set, redis-sentinel://HOST:PORT,HOST:PORT,…/SERVICE (docs/deploy.md, "Redis URLs").
    /// (credentials are never logged).
    #[arg(long, env = "SWITCHYARD_REDIS_URL", hide_env_values = true, default_value = DEFAULT_REDIS_URL)]
    pub redis_url: String,
    /// Prefix of every Switchyard key in Redis, so several deployments can share one Redis.
    #[arg(long, env = "SWITCHYARD_KEY_PREFIX", default_value = DEFAULT_KEY_PREFIX)]
    pub key_prefix: String,
    /// Seconds between replays of Redis writes queued in `redis_outbox` (also replayed
    /// once at start).
    #[arg(long, env = "SWITCHYARD_OUTBOX_REPLAY_SECS", default_value_t = DEFAULT_OUTBOX_REPLAY_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub outbox_replay_secs: u64,
    /// Lifetime of a login session (cookie), in seconds.
    #[arg(long, env = "SWITCHYARD_SESSION_TTL_SECS", default_value_t = DEFAULT_SESSION_TTL_SECS, value_parser = clap::value_parser!(u64).range(60..))]
    pub session_ttl_secs: u64,
    /// Mark session cookies `Secure` (sent over HTTPS only). Keep it on whenever the panel
    /// is reached through TLS; turn it off only for plain-HTTP development.
    #[arg(long, env = "SWITCHYARD_COOKIE_SECURE", default_value_t = true, action = clap::ArgAction::Set)]
    pub cookie_secure: bool,
    /// Login attempts (password checks) allowed per minute for one username.
    #[arg(long, env = "SWITCHYARD_LOGIN_PER_USER_PER_MINUTE", default_value_t = DEFAULT_LOGIN_PER_USER_PER_MINUTE, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_per_user_per_minute: u32,
    /// Login attempts (password checks) allowed per minute from one source address.
    #[arg(long, env = "SWITCHYARD_LOGIN_PER_ADDRESS_PER_MINUTE", default_value_t = DEFAULT_LOGIN_PER_ADDRESS_PER_MINUTE, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_per_address_per_minute: u32,
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub dns_check: DnsCheckArgs,
    /// SameSite attribute of the session cookies: `strict`, `lax` (also sent on links
    /// from other sites into the panel), or `none` for a web panel hosted on another
    /// *site* than the API (allowed only together with --cors-origins and Secure
    /// cookies). A panel on another origin of the same site, e.g. panel.example.com
    /// calling api.example.com, works with `strict`.
    #[arg(long, env = "SWITCHYARD_COOKIE_SAME_SITE", value_enum, default_value_t = CookieSameSite::Strict)]
    pub cookie_same_site: CookieSameSite,
    /// Web origins (e.g. `https://panel.example.com`) allowed to call the API from a
    /// browser with credentials (CORS), comma-separated; none by default. Cookies are
    /// SameSite=Strict unless --cookie-same-site says otherwise, so a cookie-based panel
    /// on another site also needs `--cookie-same-site none`.
    #[arg(long, env = "SWITCHYARD_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,
    /// Directory of the built web panel (`web/dist` after `npm run build`, with its
    /// index.html), served at `/`; unset, the panel serves the API only. A relative path
    /// is taken from the working directory.
    #[arg(long, env = "SWITCHYARD_WEB_DIR", value_name = "DIR")]
    pub web_dir: Option<PathBuf>,
    /// Key sealing DNS provider credentials at rest: 32 random bytes as base64
    /// (`head -c 32 /dev/urandom | base64`), the same key cert-worker opens them with.
    /// Without it, DNS credentials cannot be stored (503), everything else works.
    #[arg(long, env = "SWITCHYARD_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Username of the first admin, created on start when no user exists yet.
    #[arg(long, env = "SWITCHYARD_ADMIN_USER", requires = "admin_password")]
    pub admin_user: Option<String>,
    /// Password of the first admin (only read when no user exists yet; never logged).
    #[arg(
        long,
        env = "SWITCHYARD_ADMIN_PASSWORD",
        hide_env_values = true,
        requires = "admin_user"
    )]
    pub admin_password: Option<String>,
    /// OTLP/HTTP receiver to export traces to, e.g. http://127.0.0.1:4318 (`/v1/traces`
    /// is appended). Also read from OTEL_EXPORTER_OTLP_ENDPOINT and
    /// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; with none of them set, tracing is off.
    #[arg(long, env = "SWITCHYARD_OTLP_ENDPOINT", value_name = "URL", value_parser = switchyard_shared::telemetry::parse_endpoint)]
    pub otlp_endpoint: Option<switchyard_shared::telemetry::OtlpEndpoint>,
}

impl std::fmt::Debug for Config {
    /// Written by hand so that a `{:?}` can never print the password or URL credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("redis_url", &redact_url(&self.redis_url))
            .field("key_prefix", &self.key_prefix)
            .field("outbox_replay_secs", &self.outbox_replay_secs)
            .field("session_ttl_secs", &self.session_ttl_secs)
            .field("cookie_secure", &self.cookie_secure)
            .field("login_per_user_per_minute", &self.login_per_user_per_minute)
            .field(
                "login_per_address_per_minute",
                &self.login_per_address_per_minute,
            )
            .field("reconcile", &self.reconcile)
            .field("retention", &self.retention)
            .field("dns_check", &self.dns_check)
            .field("cookie_same_site", &self.cookie_same_site)
            .field("cors_origins", &self.cors_origins)
            .field("web_dir", &self.web_dir)
            .field("sealing_key", &self.secret_key.as_ref().map(|_| "***"))
            .field("admin_user", &self.admin_user)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "***"),
            )
            .field("otlp_endpoint", &self.otlp_endpoint)
            .finish()
    }
}

/// The session cookies' `SameSite` attribute (`--cookie-same-site`). `Strict` sends them
/// only on requests from the API's own site (the panel served by panel-api, or one on a
/// sibling host of the same site); `Lax` also on top-level navigations from other sites
/// (links into the panel); `None` on cross-site requests too, for a panel on another
/// site, where CSRF stays blocked by the `X-CSRF-Token` header that only the
/// CORS-allowed origins may send. (No doc comments on the variants: clap would list them
/// on lines of their own, which deploy/gen-env-example does not read.)
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieSameSite {
    Strict,
    Lax,
    None,
}

impl Config {
    /// Every problem with the settings at once (empty when they are fine), each naming
    /// the setting, the value and what to do. Flags that parse alone but not together,
    /// and the web directory, are checked here, before anything connects.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = switchyard_db::DatabaseUrl::parse(&self.database_url) {
            problems.push(format!(
                "DATABASE_URL (--database-url): {e} (the URL itself is not shown: it may hold a password)"
            ));
        }
        if self.cookie_same_site == CookieSameSite::None {
            if self.cors_origins.is_empty() {
                problems.push(
                    "SWITCHYARD_COOKIE_SAME_SITE=none sends the session cookie on requests from \
                     any site; it is only for a panel hosted on another site, so name that \
                     panel's origin in SWITCHYARD_CORS_ORIGINS (or use strict)"
                        .to_owned(),
                );
            }
            if !self.cookie_secure {
                problems.push(
                    "SWITCHYARD_COOKIE_SAME_SITE=none needs SWITCHYARD_COOKIE_SECURE=true: \
                     browsers drop SameSite=None cookies that are not Secure"
                        .to_owned(),
                );
            }
        }
        if let Some(dir) = &self.web_dir
            && let Err(problem) = crate::web::WebPanel::open(dir)
        {
            problems.push(problem);
        }
        if let Err(problem) = switchyard_shared::redis_url::config(&self.redis_url) {
            problems.push(format!("SWITCHYARD_REDIS_URL: {problem}"));
        }
        problems
    }

    /// [`Config::problems`] as one error listing them all.
    pub fn validate(&self) -> anyhow::Result<()> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("invalid configuration:\n  - {}", problems.join("\n  - "))
        }
    }
}

/// An origin as browsers send it: `http(s)://host[:port]`, no path, no trailing slash.
fn parse_origin(value: &str) -> Result<String, String> {
    let value = value.trim();
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("\"{value}\" is not an origin: it must start with https:// or http://")
        })?;
    let ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "\"{value}\" is not an origin: give scheme, host and optional port only, e.g. \
             https://panel.example.com (no path, no trailing slash)"
        ))
    }
}

/// The URL with any `user:password@` replaced by `***@`, safe to log.
pub fn redact_url(url: &str) -> String {
    switchyard_shared::redis_url::redact(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_credentials_only() {
        assert_eq!(
            redact_url("postgres://u:secret@db:5432/x"),
            "postgres://***@db:5432/x"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn a_malformed_database_url_is_named_without_its_password() {
        let parse = |url: &str| {
            Config::try_parse_from(["panel-api", "--database-url", url])
                .expect("parses")
                .problems()
        };
        assert!(
            parse("postgres://sy:pw@db1:5432,db2:5433/sy?target_session_attrs=read-write")
                .is_empty()
        );
        let problems = parse("postgres://sy:hunter2@db1:5432,db2:99999/sy");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("DATABASE_URL (--database-url): port"),
            "{problems:?}"
        );
        assert!(problems[0].contains("\"99999\""), "{problems:?}");
        let problems = parse("postgres://sy:hunter2@db1,db2/sy?target_session_attrs=standby");
        assert!(problems[0].contains("target_session_attrs"), "{problems:?}");
        assert!(!problems.concat().contains("hunter2"), "{problems:?}");
    }

    #[test]
    fn cors_origins_are_checked() {
        let parsed = Config::try_parse_from([
            "panel-api",
            "--database-url",
            "postgres://x/y",
            "--cors-origins",
            "https://panel.example.com,http://localhost:5173",
        ])
        .expect("two origins");
        assert_eq!(
            parsed.cors_origins,
            ["https://panel.example.com", "http://localhost:5173"]
        );
        for bad in ["panel.example.com", "https://panel.example.com/", "*"] {
            let err = Config::try_parse_from([
                "panel-api",
                "--database-url",
                "postgres://x/y",
                "--cors-origins",
                bad,
            ])
            .expect_err("refused");
            assert!(err.to_string().contains("is not an origin"), "{bad}: {err}");
        }
    }

    #[test]
    fn same_site_none_needs_cors_origins_and_secure_cookies() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["panel-api", "--database-url", "postgres://x/y"];
            args.extend_from_slice(extra);
            Config::try_parse_from(args).expect("parses")
        };
        assert_eq!(parse(&[]).cookie_same_site, CookieSameSite::Strict);
        assert!(parse(&[]).problems().is_empty());
        let alone = parse(&["--cookie-same-site", "none", "--cookie-secure", "false"]);
        let problems = alone.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("SWITCHYARD_CORS_ORIGINS"));
        assert!(problems[1].contains("SWITCHYARD_COOKIE_SECURE"));
        let cross_site = parse(&[
            "--cookie-same-site",
            "none",
            "--cors-origins",
            "https://panel.example.net",
        ]);
        assert!(cross_site.problems().is_empty());
        let no_panel = parse(&["--web-dir", "/nonexistent/dist"]);
        let err = no_panel.validate().expect_err("no index.html").to_string();
        assert!(err.contains("/nonexistent/dist"), "{err}");
    }

    #[test]
    fn admin_user_and_password_come_together() {
        let partial = Config::try_parse_from([
            "panel-api",
            "--database-url",
            "postgres://x/y",
            "--admin-user",
            "root",
        ]);
        assert!(partial.is_err());
        let full = Config::try_parse_from(["panel-api", "--database-url", "postgres://x/y"])
            .expect("defaults suffice");
        assert_eq!(full.listen.to_string(), DEFAULT_LISTEN);
        assert!(!format!("{full:?}").contains("secret"));
    }
}

/// One hour: drift only appears when someone edits Redis by hand or a write-through was
/// lost together with its outbox replay, both rare; a run over 100,000 zones costs a few
/// seconds of Redis reads.
pub const DEFAULT_RECONCILE_INTERVAL_SECS: u64 = 3_600;

/// The reconciler's settings (flattened into [`crate::Config`]).
#[derive(clap::Args, Debug, Clone)]
pub struct ReconcileArgs {
    /// Seconds between full Postgres → Redis reconciliations (one also runs at start,
    /// whenever Redis answers again after an outage, and after a failover to another
    /// Redis primary).
    #[arg(long, env = "SWITCHYARD_RECONCILE_INTERVAL_SECS", default_value_t = DEFAULT_RECONCILE_INTERVAL_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub reconcile_interval_secs: u64,
    /// Run one reconciliation, print its report as JSON on stdout and exit (no API is
    /// served). Exit status 1 when it fails.
    #[arg(long)]
    pub reconcile_once: bool,
}

/// How long revisions are kept by default: 90 days covers a quarter's changes, long
/// enough to find and undo a mistake noticed late, while a busy panel's history (every
/// zone of every bulk write, before and after) does not grow without bound.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// The newest revisions kept whatever their age: a panel that changes rarely keeps a
/// history to roll back to even after a quiet quarter.
pub const DEFAULT_KEEP_MIN: u32 = 100;

/// History's retention (flattened into [`crate::Config`]).
#[derive(clap::Args, Debug, Clone)]
pub struct RetentionArgs {
    /// Days a revision is kept; older ones are pruned hourly, except the newest
    /// --revision-keep-min.
    #[arg(long, env = "SWITCHYARD_REVISION_RETENTION_DAYS", default_value_t = DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    pub revision_retention_days: u32,
    /// Revisions always kept, whatever their age (the newest ones).
    #[arg(long, env = "SWITCHYARD_REVISION_KEEP_MIN", default_value_t = DEFAULT_KEEP_MIN)]
    pub revision_keep_min: u32,
}

/// Seconds between the periodic DNS checks of every domain and zone hostname.
pub const DEFAULT_DNS_CHECK_INTERVAL_SECS: u64 = 3_600;

/// The DNS check's settings (flattened into [`crate::Config`]).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DnsCheckArgs {
    /// The fleet's public addresses (comma-separated IPv4/IPv6): what a domain's or a
    /// zone's A/AAAA records (after CNAMEs) must point at to pass the DNS check. Empty:
    /// names are still looked up and shown, with the verdict `unconfigured`.
    #[arg(
        long,
        env = "SWITCHYARD_PUBLIC_ADDRESSES",
        value_delimiter = ',',
        value_name = "IP,..."
    )]
    pub public_addresses: Vec<std::net::IpAddr>,
    /// The DNS server the check asks (IP:port); the system's resolver when unset.
    #[arg(long, env = "SWITCHYARD_DNS_CHECK_RESOLVER", value_name = "IP:PORT")]
    pub dns_check_resolver: Option<std::net::SocketAddr>,
    /// Seconds between checks of every domain and zone hostname (one runs at start).
    #[arg(long, env = "SWITCHYARD_DNS_CHECK_INTERVAL_SECS", default_value_t = DEFAULT_DNS_CHECK_INTERVAL_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub dns_check_interval_secs: u64,
}
