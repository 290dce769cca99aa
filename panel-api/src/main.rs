//! `panel-api` binary: parse config → JSON logs (and OTLP traces when an endpoint is
//! set) → connect, migrate, bootstrap → serve until SIGTERM/SIGINT, then drain (or, with
//! `--reconcile-once`, reconcile Redis once, print the report and exit). Everything else
//! lives in the library.

use anyhow::Context as _;
use clap::Parser;
use panel_api::Config;
use panel_api::config::redact_url;
use switchyard_shared::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    // Settings that cannot work together (or a web directory without a built panel)
    // stop the service before it logs or connects, all of them listed at once.
    if let Err(e) = config.validate() {
        eprintln!("panel-api: {e}");
        std::process::exit(2);
    }
    // Kept to the end of `main`: dropping it sends the last spans.
    let _telemetry = match telemetry::init("panel-api", config.otlp_endpoint.as_ref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("panel-api: invalid configuration: {e}");
            std::process::exit(2);
        }
    };
    tracing::info!(
        database = %redact_url(&config.database_url),
        redis = %redact_url(&config.redis_url),
        key_prefix = %config.key_prefix,
        "panel-api starting"
    );
    if config.reconcile.reconcile_once {
        return reconcile_once(&config).await;
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        match shutdown_signal().await {
            Ok(signal) => tracing::info!(signal, "shutting down; draining open requests"),
            Err(e) => tracing::error!(error = format!("{e:#}"), "cannot listen for signals"),
        }
        let _ = tx.send(());
    });
    panel_api::run(config, async {
        let _ = rx.await;
    })
    .await?;
    tracing::info!("stopped");
    Ok(())
}

/// `--reconcile-once`: connect, migrate, reconcile, print the report as JSON.
async fn reconcile_once(config: &Config) -> anyhow::Result<()> {
    let state = panel_api::prepare(config).await?;
    let report = panel_api::reconcile::reconcile(&state)
        .await
        .map_err(|e| anyhow::anyhow!("reconciliation failed: {e}"))?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(tokio::select! { _ = term.recv() => "SIGTERM", _ = int.recv() => "SIGINT" })
}
