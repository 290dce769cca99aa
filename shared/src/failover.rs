//! Noticing that the Redis a client talks to is not the one it talked to before: Sentinel
//! promoted a replica (a failover), or the server restarted. Either may have lost writes
//! the old server acknowledged (replication is asynchronous; a restart without AOF keeps
//! nothing), so whoever writes to Redis must write its truth again, and a reader must
//! reload instead of following a change feed whose history may have forked.
//!
//! [`ServerWatch`] follows a client's server by its identity — `run_id` (a new process)
//! and `master_replid` (a new replication history: a promoted replica takes a new one, a
//! server that becomes a replica takes its primary's) — read with `INFO` after every
//! reconnection of the client and every `every` besides. The first identity seen is the
//! baseline; each one different from the last is reported once by [`ServerWatch::changed`].
//! One mechanism for all three services: the panel reconciles PostgreSQL into Redis, the
//! cert worker republishes its certificates and beats, the proxy reloads its snapshot.

use std::time::Duration;

use fred::prelude::*;
use fred::types::InfoKind;
use tokio::sync::watch;

/// Who a Redis server is, as far as its data goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    /// Random per server process: a new one after every restart.
    pub run_id: String,
    /// The replication history the server's data belongs to.
    pub replid: String,
    /// `master` or `slave`, as `INFO replication` says.
    pub role: String,
}

impl std::fmt::Display for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} run {} replication {}",
            self.role,
            short(&self.run_id),
            short(&self.replid)
        )
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// A change of server: the identity before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerChange {
    pub before: ServerIdentity,
    pub after: ServerIdentity,
}

/// Reads the identity of the server `client` talks to.
pub async fn identity(client: &Client) -> Result<ServerIdentity, fred::error::Error> {
    let server: String = client.info(Some(InfoKind::Server)).await?;
    let replication: String = client.info(Some(InfoKind::Replication)).await?;
    let field = |text: &str, name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    Ok(ServerIdentity {
        run_id: field(&server, "run_id"),
        replid: field(&replication, "master_replid"),
        role: field(&replication, "role"),
    })
}

/// Follows which server a client talks to; see the module docs. The background task
/// ends when this is dropped.
pub struct ServerWatch {
    changes: watch::Receiver<Option<ServerChange>>,
    task: tokio::task::JoinHandle<()>,
}

impl ServerWatch {
    /// Starts following `client`'s server: after each of its reconnections and every
    /// `every` (each look bounded by `every`, at least 1 s).
    pub fn spawn(client: Client, every: Duration) -> ServerWatch {
        let (tx, changes) = watch::channel(None);
        let task = tokio::spawn(async move {
            let mut reconnects = Some(client.reconnect_rx());
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let bound = every.max(Duration::from_secs(1));
            let mut last: Option<ServerIdentity> = None;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    event = async {
                        match reconnects.as_mut() {
                            Some(rx) => rx.recv().await,
                            None => std::future::pending().await,
                        }
                    } => {
                        if let Err(tokio::sync::broadcast::error::RecvError::Closed) = event {
                            reconnects = None;
                        }
                    }
                }
                let Ok(Ok(now)) = tokio::time::timeout(bound, identity(&client)).await else {
                    continue;
                };
                if now.run_id.is_empty() {
                    continue;
                }
                if let Some(before) = last.take()
                    && before != now
                {
                    tracing::warn!(
                        before = %before,
                        after = %now,
                        "Redis is another server now (a failover or a restart)"
                    );
                    if tx
                        .send(Some(ServerChange {
                            before,
                            after: now.clone(),
                        }))
                        .is_err()
                    {
                        return;
                    }
                }
                last = Some(now);
            }
        });
        ServerWatch { changes, task }
    }

    /// Waits for the next change of server (forever if the watch cannot run).
    pub async fn changed(&mut self) -> ServerChange {
        loop {
            if self.changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            if let Some(change) = self.changes.borrow_and_update().clone() {
                return change;
            }
        }
    }
}

impl Drop for ServerWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
