//! A TCP relay in front of a real service (PostgreSQL, Redis) that a test can cut — every
//! relayed connection closed, new ones refused — and restore on the same port, so an
//! outage hits only the process under test, never others sharing that service.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

pub struct Relay {
    addr: SocketAddr,
    target: String,
    tasks: Option<JoinSet<()>>,
}

impl Relay {
    /// Relays a free loopback port to `target` (`host:port`).
    pub async fn start(target: &str) -> anyhow::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut relay = Relay {
            addr: listener.local_addr()?,
            target: target.to_owned(),
            tasks: None,
        };
        relay.serve(listener);
        Ok(relay)
    }

    fn serve(&mut self, listener: TcpListener) {
        let mut tasks = JoinSet::new();
        let target = self.target.clone();
        // Connections live inside the accept task's own set, so aborting the accept
        // task drops (closes) every relayed connection too.
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
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
