//! A TCP relay in front of a real service (PostgreSQL, Redis) that a test can cut — every
//! relayed connection closed, new ones refused — and restore on the same port, so an
//! outage hits only the process under test, never others sharing that service.
//!
//! With several targets ([`Relay::alternating`]) it is a round-robin load balancer in
//! miniature: connection *n* goes to target *n* mod their number, and it counts what
//! each target got — a fleet of proxies behind one address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

pub struct Relay {
    addr: SocketAddr,
    targets: Arc<Vec<String>>,
    /// Connections relayed to each target, in the order of `targets`.
    counts: Arc<Vec<AtomicUsize>>,
    next: Arc<AtomicUsize>,
    tasks: Option<JoinSet<()>>,
}

impl Relay {
    /// Relays a free loopback port to `target` (`host:port`).
    pub async fn start(target: &str) -> anyhow::Result<Relay> {
        Self::alternating(&[target.to_owned()]).await
    }

    /// Relays a free loopback port to `targets` (`host:port`), one connection to each
    /// in turn.
    pub async fn alternating(targets: &[String]) -> anyhow::Result<Relay> {
        anyhow::ensure!(!targets.is_empty(), "a relay needs at least one target");
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut relay = Relay {
            addr: listener.local_addr()?,
            targets: Arc::new(targets.to_vec()),
            counts: Arc::new(targets.iter().map(|_| AtomicUsize::new(0)).collect()),
            next: Arc::new(AtomicUsize::new(0)),
            tasks: None,
        };
        relay.serve(listener);
        Ok(relay)
    }

    /// How many connections each target got so far, in the order given.
    pub fn connections(&self) -> Vec<usize> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    fn serve(&mut self, listener: TcpListener) {
        let mut tasks = JoinSet::new();
        let (targets, counts, next) =
            (self.targets.clone(), self.counts.clone(), self.next.clone());
        // Connections live inside the accept task's own set, so aborting the accept
        // task drops (closes) every relayed connection too.
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let i = next.fetch_add(1, Ordering::Relaxed) % targets.len();
                counts[i].fetch_add(1, Ordering::Relaxed);
                let target = targets[i].clone();
                conns.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        self.tasks = Some(tasks);
    }

    /// The relay's own address, to give the process under test.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The service "goes down": open connections drop, new ones are refused.
    pub async fn cut(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.shutdown().await;
        }
    }

    /// The service "comes back" on the same address.
    pub async fn restore(&mut self) -> anyhow::Result<()> {
        let listener = TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }
}
