//! `switchyard-import-flat`: import the flat `DOMAINS` / `SERVICES` form through the
//! panel's API (`POST /api/v1/import/flat`).
//!
//! ```sh
//! DOMAINS=app1.com:app1,status.com SERVICES=app1:app1:8080 \
//! SWITCHYARD_API_KEY=sy_... switchyard-import-flat --dry-run
//! ```
//!
//! The panel validates the whole form and answers every problem with its entry number;
//! nothing is changed unless everything is valid. The API key is sent only to the panel
//! and never printed. Exit status: 0 applied (or would apply), 1 refused, 2 cannot ask.

use clap::Parser;
use serde_json::{Value, json};

/// Imports `DOMAINS=domain[:service],...` and `SERVICES=name:host:port,...` as zones.
/// Every flag can also be set by the environment variable shown.
#[derive(Debug, Parser)]
#[command(name = "switchyard-import-flat", version)]
struct Args {
    /// Domains, `domain[:service]` comma-separated (a domain without a service answers 503)
    #[arg(long, env = "DOMAINS", default_value = "")]
    domains: String,
    /// Services, `name:host:port` comma-separated
    #[arg(long, env = "SERVICES", default_value = "")]
    services: String,
    /// The panel's base URL
    #[arg(
        long,
        env = "SWITCHYARD_PANEL_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    panel_url: String,
    /// API key to authenticate with (`sy_...`)
    #[arg(long, env = "SWITCHYARD_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Show what would change without changing anything
    #[arg(long)]
    dry_run: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let url = format!(
        "{}/api/v1/import/flat{}",
        args.panel_url.trim_end_matches('/'),
        if args.dry_run { "?dry_run=true" } else { "" }
    );
    let body = json!({"env": {"domains": args.domains, "services": args.services}});
    let reply = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&args.api_key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await;
    let (status, doc) = match reply {
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            match serde_json::from_str::<Value>(&text) {
                Ok(doc) => (status, doc),
                Err(e) => cannot(&format!("{url} answered {status} without JSON: {e}")),
            }
        }
        Err(e) => cannot(&format!("cannot reach {url}: {e}")),
    };
    if status.is_success() {
        let names = |key: &str| -> Vec<String> {
            doc[key]
                .as_array()
                .into_iter()
                .flatten()
                .map(|z| z["hostname"].as_str().unwrap_or("?").to_owned())
                .collect()
        };
        let verb = if args.dry_run {
            "would create"
        } else {
            "created"
        };
        let created = names("created");
        println!("{verb} {} zone(s): {}", created.len(), created.join(", "));
        let changed = doc["changed"].as_array().map_or(0, Vec::len);
        if changed > 0 {
            println!(
                "{} {changed} zone(s)",
                if args.dry_run {
                    "would change"
                } else {
                    "changed"
                }
            );
        }
        return;
    }
    eprintln!(
        "switchyard-import-flat: refused ({status}): {}",
        doc["error"]["message"].as_str().unwrap_or("no message")
    );
    for d in doc["error"]["details"].as_array().into_iter().flatten() {
        eprintln!(
            "  {}: {}",
            d["field"].as_str().unwrap_or("?"),
            d["problem"].as_str().unwrap_or("?")
        );
    }
    std::process::exit(1);
}

fn cannot(why: &str) -> ! {
    eprintln!("switchyard-import-flat: {why}");
    std::process::exit(2);
}
