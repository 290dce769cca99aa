//! Shutdown signals with a drain announced first.
//!
//! Pingora closes its listeners the moment it learns of a graceful shutdown. A load
//! balancer that still thinks the proxy is ready would send new connections into that
//! gap, so [`DrainWatch`] stands between the signals and Pingora: on SIGTERM it marks the
//! proxy as draining (`/readyz` answers 503 at once), keeps serving for the drain delay
//! (`--drain-delay-ms`, long enough for the balancer's health checks to notice), and only
//! then hands Pingora the graceful shutdown, which stops accepting and lets requests in
//! flight finish within `--grace-secs`. SIGQUIT (the zero-downtime upgrade) is marked and
//! passed on at once: the new process already has the listeners. SIGINT is a fast
//! shutdown, also during the delay.
//!
//! Must never: delay a fast shutdown, or hold a signal longer than the drain delay.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{SignalKind, signal};

use crate::sync::SyncState;

/// The proxy's [`ShutdownSignalWatch`].
pub struct DrainWatch {
    pub state: Arc<SyncState>,
    pub delay: Duration,
}

#[async_trait]
impl ShutdownSignalWatch for DrainWatch {
    async fn recv(&self) -> ShutdownSignal {
        let (Ok(mut quit), Ok(mut terminate), Ok(mut interrupt)) = (
            signal(SignalKind::quit()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers; shutting down");
            return ShutdownSignal::FastShutdown;
        };
        tokio::select! {
            _ = quit.recv() => {
                self.state.draining.store(true, Ordering::Relaxed);
                tracing::info!("SIGQUIT: draining; handing the listeners to the new process");
                ShutdownSignal::GracefulUpgrade
            }
            _ = terminate.recv() => {
                self.state.draining.store(true, Ordering::Relaxed);
                tracing::info!(
                    delay_ms = self.delay.as_millis() as u64,
                    "SIGTERM: draining; /readyz answers 503, listeners close after the drain delay"
                );
                tokio::select! {
                    () = tokio::time::sleep(self.delay) => ShutdownSignal::GracefulTerminate,
                    _ = interrupt.recv() => ShutdownSignal::FastShutdown,
                }
            }
            _ = interrupt.recv() => ShutdownSignal::FastShutdown,
        }
    }
}
