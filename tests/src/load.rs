//! A steady request loop through a proxy, for fault tests: every answer that is not a
//! 200 from an upstream counts as a failure, kept with what was seen.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The loop's bound: it stops by itself after this many requests.
pub const MAX_REQUESTS: u64 = 200_000;

/// A request loop over the existing zones through one proxy address; every answer
/// that is not 200 from an upstream is a failure, kept with what was seen.
pub struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failures: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    pub fn start(proxy: std::net::SocketAddr, hosts: Vec<String>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, n, f) = (stop.clone(), sent.clone(), failures.clone());
        let task = tokio::spawn(async move {
            let clients: Vec<(String, reqwest::Client)> = hosts
                .iter()
                .map(|h| {
                    let c = crate::client::client(h, proxy)
                        .timeout(Duration::from_secs(5))
                        .build()
                        .expect("a client");
                    (h.clone(), c)
                })
                .collect();
            // A steady trickle, not a flood: the point is coverage over time.
            let mut pace = tokio::time::interval(Duration::from_millis(2));
            pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut i = 0usize;
            while !s.load(Ordering::Relaxed) && n.load(Ordering::Relaxed) < MAX_REQUESTS {
                pace.tick().await;
                let (h, c) = &clients[i % clients.len()];
                i += 1;
                n.fetch_add(1, Ordering::Relaxed);
                let seen = c
                    .get(crate::client::url("http", h, "/"))
                    .send()
                    .await
                    .map(|r| r.status().as_u16());
                match seen {
                    Ok(200) => {}
                    other => f.lock().unwrap().push(format!("{h}: {other:?}")),
                }
            }
        });
        Load {
            stop,
            sent,
            failures,
            task,
        }
    }

    /// Stops the loop; (requests sent, failures).
    pub async fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let failures = self.failures.lock().unwrap().clone();
        (self.sent.load(Ordering::Relaxed), failures)
    }
}
