//! Fleet-wide rate limits: a route's `rate_limit` with `scope: "fleet"` counts requests
//! per key over fixed windows of `per_secs` seconds in Redis, shared by every proxy on the
//! same Redis, so N proxies together allow `requests` per window instead of N times it.
//!
//! A request never waits for Redis. Each proxy decides on what it knows — the fleet's
//! count for the key as last read, plus the requests it let through since — and a
//! background task ([`keep_in_step`]) sends its counts to Redis every `--fleet-rate-sync-ms`
//! (one pipelined `INCRBY` + `EXPIRE` per active key, whose answer is the fleet's new
//! count). The limit is therefore approximate by what the fleet lets through within one
//! sync interval. While Redis does not answer, the fleet count is not consulted and each
//! proxy applies the route's local limit alone (the same GCRA buckets as a per-proxy
//! limit, which apply in any case), and counting resumes when Redis is back.
//!
//! Redis keys: `<prefix>ratelimit:<zone id>:<key digest>:<window>`, expiring two windows
//! after they start. The key digest is the first 16 bytes of SHA-256 over the client
//! address or the header value, so every proxy names the same client alike and no header
//! value (an API key, say) is stored.
//!
//! Must never: block a request on Redis, or keep a key's counts after its window (the
//! map is pruned every sync).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fred::prelude::*;
use sha2::{Digest, Sha256};
use switchyard_shared::Keys;
use switchyard_shared::store::Store;

/// Most keys sent to Redis in one sync; the rest wait for the next.
const MAX_KEYS_PER_SYNC: usize = 10_000;

/// Whether the last sync reached Redis: when it did not, fleet counts are not consulted.
static REDIS_OK: AtomicBool = AtomicBool::new(false);

/// Every live fleet window, for the sync task.
static WINDOWS: LazyLock<Mutex<Vec<Weak<FleetWindow>>>> = LazyLock::new(Mutex::default);

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The digest a fleet counts a key value by (see the module docs).
pub fn digest(value: &[u8]) -> u128 {
    let hash = Sha256::digest(value);
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash[..16]);
    u128::from_be_bytes(first)
}

/// One key's counts in the current window.
#[derive(Debug, Clone, Copy, Default)]
struct Count {
    window: u64,
    /// Let through here and not yet sent to Redis.
    pending: u64,
    /// The fleet's count (this proxy's sent requests included) as Redis last answered.
    seen: u64,
}

/// A route's fleet-wide limit: `requests` per window of `per_secs`, per key.
#[derive(Debug)]
pub struct FleetWindow {
    zone_id: String,
    requests: u64,
    per_secs: u64,
    counts: Mutex<HashMap<u128, Count>>,
}

impl FleetWindow {
    /// A fleet window for a route, registered with the sync task.
    pub fn new(zone_id: &str, requests: u32, per_secs: u32) -> Arc<Self> {
        let window = Arc::new(Self {
            zone_id: zone_id.to_owned(),
            requests: requests.into(),
            per_secs: u64::from(per_secs.max(1)),
            counts: Mutex::new(HashMap::new()),
        });
        let mut all = WINDOWS.lock().expect("fleet window list is never poisoned");
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&window));
        window
    }

    /// Lets a request of `key` through when both the fleet's count and `local` (the
    /// route's own buckets, charged only when the fleet allows) let it; else the refusal
    /// (`refused` with the seconds until the window turns, or `local`'s). A request is
    /// counted for the fleet only when it passes both.
    pub fn admit<E>(
        &self,
        key: u128,
        local: impl FnOnce() -> Result<(), E>,
        refused: impl FnOnce(u64) -> E,
    ) -> Result<(), E> {
        let now = now_secs();
        let window = now / self.per_secs;
        let mut counts = self
            .counts
            .lock()
            .expect("fleet counts lock is never poisoned");
        let count = counts.entry(key).or_default();
        if count.window != window {
            *count = Count {
                window,
                ..Count::default()
            };
        }
        if REDIS_OK.load(Ordering::Relaxed) && count.seen + count.pending >= self.requests {
            return Err(refused(
                ((window + 1) * self.per_secs).saturating_sub(now).max(1),
            ));
        }
        local()?;
        count.pending += 1;
        Ok(())
    }

    fn redis_key(&self, keys: &Keys, key: u128, window: u64) -> String {
        format!(
            "{}ratelimit:{}:{key:032x}:{window}",
            keys.prefix(),
            self.zone_id
        )
    }
}

/// Sends every active key's counts to Redis and reads the fleet's back, every `every`,
/// until `shutdown`. Runs beside the sync loop, on its Redis client.
pub async fn keep_in_step(
    store: Store,
    keys: Keys,
    every: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.changed() => return,
        }
        let ok = sync_once(store.client(), &keys).await;
        if REDIS_OK.swap(ok, Ordering::Relaxed) != ok {
            if ok {
                tracing::info!("fleet rate limits are counted in Redis again");
            } else {
                tracing::warn!(
                    "Redis does not answer: fleet rate limits fall back to each proxy's local limit"
                );
            }
        }
    }
}

/// One sync; whether Redis answered.
async fn sync_once(client: &Client, keys: &Keys) -> bool {
    let windows: Vec<Arc<FleetWindow>> = {
        let mut all = WINDOWS.lock().expect("fleet window list is never poisoned");
        all.retain(|w| w.strong_count() > 0);
        all.iter().filter_map(Weak::upgrade).collect()
    };
    if windows.is_empty() {
        // Nothing to count: whether Redis answers is the sync loop's business.
        return client.ping::<String>(None).await.is_ok();
    }
    let now = now_secs();
    // (window, key, window index, pending sent)
    let mut sent: Vec<(Arc<FleetWindow>, u128, u64, u64)> = Vec::new();
    for w in &windows {
        let current = now / w.per_secs;
        let mut counts = w
            .counts
            .lock()
            .expect("fleet counts lock is never poisoned");
        counts.retain(|_, c| c.window == current);
        for (&key, c) in counts.iter() {
            if sent.len() == MAX_KEYS_PER_SYNC {
                break;
            }
            sent.push((w.clone(), key, c.window, c.pending));
        }
    }
    if sent.is_empty() {
        return client.ping::<String>(None).await.is_ok();
    }
    let pipeline = client.pipeline();
    for (w, key, window, pending) in &sent {
        let name = w.redis_key(keys, *key, *window);
        let _: Result<(), _> = pipeline.incr_by(&name, *pending as i64).await;
        let _: Result<(), _> = pipeline.expire(&name, (w.per_secs * 2) as i64, None).await;
    }
    let answers: Vec<Value> = match pipeline.all().await {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(error = %e, "cannot sync fleet rate limits");
            return false;
        }
    };
    for (i, (w, key, window, pending)) in sent.iter().enumerate() {
        let Some(total) = answers.get(i * 2).and_then(Value::as_u64) else {
            continue;
        };
        let mut counts = w
            .counts
            .lock()
            .expect("fleet counts lock is never poisoned");
        if let Some(c) = counts.get_mut(key)
            && c.window == *window
        {
            c.pending = c.pending.saturating_sub(*pending);
            c.seen = total;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_redis_the_fleet_count_is_not_consulted() {
        REDIS_OK.store(false, Ordering::Relaxed);
        let w = FleetWindow::new("z", 2, 60);
        for _ in 0..5 {
            assert!(w.admit(1, || Ok::<(), u64>(()), |s| s).is_ok());
        }
        // The local limit still decides.
        assert_eq!(w.admit(1, || Err(7), |s| s), Err(7));
    }

    #[test]
    fn digests_are_stable_and_distinct() {
        assert_eq!(digest(b"key-1"), digest(b"key-1"));
        assert_ne!(digest(b"key-1"), digest(b"key-2"));
    }
}
