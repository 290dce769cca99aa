//! `switchyard-status`: the fleet at a glance, for operators.
//!
//! Reads Redis only (and PostgreSQL when `--database-url` is given), so it works while
//! the panel is down: the version Redis holds, each proxy's applied version, heartbeat
//! age, whether it is current and how many upstream endpoints it judges down, the cert
//! worker's heartbeat, and the certificates that expire within 30 days. The same verdict as the panel's `GET /api/v1/health`.
//! Exit status: 0 all well, 1 something needs attention, 2 Redis cannot be read.
//! It never writes anything.

use std::time::Duration;

use clap::Parser;
use panel_api::config::redact_url;
use panel_api::routes::health::{Health, verdict};
use switchyard_shared::fleet::EXPIRY_WARNING;
use switchyard_shared::{Keys, Store, store};

/// Shows each proxy's applied version and heartbeat, the cert worker's heartbeat and the
/// certificates expiring within 30 days. Every flag can also be set by the environment
/// variable shown.
#[derive(Debug, Parser)]
#[command(name = "switchyard-status", version)]
struct Args {
    /// Redis with the routing data
    #[arg(
        long,
        env = "SWITCHYARD_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    redis_url: String,
    /// Prefix of every Switchyard key in Redis
    #[arg(long, env = "SWITCHYARD_KEY_PREFIX", default_value = "switchyard:")]
    key_prefix: String,
    /// Also check that PostgreSQL answers (not checked when absent)
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Print the report as JSON (the panel's health document) instead of text
    #[arg(long)]
    json: bool,
}

const TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let postgres = match &args.database_url {
        None => None,
        Some(url) => {
            // The services' own connector: a libpq host list finds the read-write host
            // as the panel would.
            let url = match switchyard_db::DatabaseUrl::parse(url) {
                Ok(url) => url,
                Err(e) => {
                    eprintln!("switchyard-status: DATABASE_URL (--database-url): {e}");
                    std::process::exit(2);
                }
            };
            let settings = switchyard_db::PoolSettings {
                max_connections: 1,
                acquire_timeout: TIMEOUT,
                host_timeout: TIMEOUT,
            };
            let ping = async {
                let database = switchyard_db::Database::connect(&url, settings)
                    .await
                    .ok()?;
                database.check().await.then_some(database)
            };
            Some(tokio::time::timeout(TIMEOUT, ping).await.ok().flatten())
        }
    };
    let keys = match Keys::new(&args.key_prefix) {
        Ok(k) => k,
        Err(e) => {
            eprintln!(
                "switchyard-status: --key-prefix \"{}\": {e}",
                args.key_prefix
            );
            std::process::exit(2);
        }
    };
    let read = async {
        let client = store::connect(&args.redis_url).await?;
        let store = Store::new(client, keys.clone());
        let fleet = store.fleet().await?;
        let expiring = store.expiring_certs(EXPIRY_WARNING).await?;
        Ok::<_, switchyard_shared::StoreError>((fleet, expiring))
    };
    let mut found = match tokio::time::timeout(TIMEOUT, read).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => fail(&args, &e.to_string()),
        Err(_) => fail(&args, "no answer within 5 s"),
    };
    // With PostgreSQL, why each issued certificate is still expiring (as the panel says).
    if let Some(Some(database)) = &postgres {
        let explain = panel_api::service::expiry::explain(database.connection(), &mut found.1);
        if !matches!(tokio::time::timeout(TIMEOUT, explain).await, Ok(Ok(()))) {
            eprintln!(
                "switchyard-status: the renewal state of expiring certificates could not be read from PostgreSQL"
            );
        }
    }
    let postgres = match postgres {
        Some(Some(database)) => {
            database.close().await;
            Some(true)
        }
        Some(None) => Some(false),
        None => None,
    };
    let health = verdict(postgres, Some(found));
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&health).expect("the report serialises")
        );
    } else {
        print!("{}", render(&health, &args));
    }
    std::process::exit(if health.status == "ok" { 0 } else { 1 });
}

fn fail(args: &Args, why: &str) -> ! {
    eprintln!(
        "switchyard-status: cannot read Redis at {} (prefix \"{}\"): {why}",
        redact_url(&args.redis_url),
        args.key_prefix
    );
    std::process::exit(2);
}

fn render(h: &Health, args: &Args) -> String {
    let mut out = format!(
        "Switchyard at {} (prefix \"{}\"): {}\n",
        redact_url(&args.redis_url),
        args.key_prefix,
        h.status.to_uppercase()
    );
    out += &format!(
        "version {}   postgres {}   redis {}   cert-worker {}{}\n\n",
        h.version.unwrap_or_default(),
        h.postgres,
        h.redis,
        h.cert_worker,
        h.cert_worker_heartbeat_age_secs
            .map(|a| format!(" (heartbeat {a:.1} s ago)"))
            .unwrap_or_default()
    );
    if h.proxies.is_empty() {
        out += "no proxy has reported yet\n";
    } else {
        out += &format!(
            "{:<32} {:>10} {:>12} {:>9} {:>7} {:>6}  state\n",
            "proxy", "version", "heartbeat", "zones", "certs", "down"
        );
        for p in &h.proxies {
            let state = if p.stale {
                "STALE"
            } else if p.current {
                "current"
            } else {
                "BEHIND"
            };
            out += &format!(
                "{:<32} {:>10} {:>10.1} s {:>9} {:>7} {:>6}  {state}\n",
                p.id, p.version, p.heartbeat_age_secs, p.zones, p.certs, p.endpoints_down
            );
        }
    }
    out += "\ncertificates expiring within 30 days: ";
    if h.expiring_certificates.is_empty() {
        out += "none\n";
    } else {
        out += "\n";
        for c in &h.expiring_certificates {
            out += &format!(
                "  {:<40} {:>6.1} days  ({}, {})  {}\n",
                c.name,
                c.days_left,
                c.not_after,
                c.source.as_str(),
                panel_api::routes::health::expiry_why_text(c)
            );
        }
    }
    if !h.notices.is_empty() {
        // Upstream endpoints down: the backends' owners', not a fleet problem (exit 0).
        out += "\nupstreams:\n";
        for n in &h.notices {
            out += &format!("  - {n}\n");
        }
    }
    if !h.problems.is_empty() {
        out += "\nneeds attention:\n";
        for p in &h.problems {
            out += &format!("  - {p}\n");
        }
    }
    out
}
