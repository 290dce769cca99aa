//! The `cert-worker` binary: parse and validate the configuration (every problem at
//! once), start logging (and OTLP tracing when an endpoint is set), start the admin
//! listener, run the worker, and on SIGTERM/SIGINT stop taking orders, delete any TXT
//! record in flight, and exit.

use anyhow::Context as _;
use clap::Parser as _;
use switchyard_cert_worker::metrics::{self, Metrics};
use switchyard_cert_worker::{Args, Worker};
use switchyard_shared::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match Args::parse().validate() {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("cert-worker: {errors}");
            std::process::exit(2);
        }
    };
    // Kept to the end of `main`: dropping it sends the last spans.
    let _telemetry = match telemetry::init("cert-worker", config.otlp_endpoint.as_ref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cert-worker: invalid configuration: {e}");
            std::process::exit(2);
        }
    };
    tracing::info!(
        directory = %config.acme.directory_url,
        key_prefix = %config.keys.prefix(),
        admin = %config.admin_listen,
        "cert-worker starting"
    );
    let metrics = Metrics::new();
    let listener = metrics::bind(config.admin_listen).await?;
    // The address bound (the port is free when the configuration says 0): tests and
    // supervisors read it from this line.
    tracing::info!(admin = %listener.local_addr()?, "cert-worker listening");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let admin = {
        let mut stop = stop_rx.clone();
        tokio::spawn(metrics::serve_admin(
            listener,
            metrics.clone(),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        ))
    };
    let worker = Worker::connect(config, metrics).await?;
    let run = tokio::spawn(worker.run(stop_rx));
    let signal = shutdown_signal().await?;
    tracing::info!(
        signal,
        "shutting down: finishing cleanup of in-flight orders"
    );
    stop_tx.send(true).ok();
    run.await.context("worker task")??;
    admin.await.context("admin task")??;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(tokio::select! { _ = term.recv() => "SIGTERM", _ = int.recv() => "SIGINT" })
}
