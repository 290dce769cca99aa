//! Keeping the snapshot in step with Redis, and surviving without it.
//!
//! 1. At start, load everything from Redis. If Redis does not answer in time, load the
//!    snapshot file the proxy saved last time, and keep trying Redis.
//! 2. Follow the change feed from the snapshot's last entry, applying each batch of
//!    entries as one update (one swap). A gap in the versions, another data format or an
//!    entry that cannot be read triggers a full reload.
//! 3. Reload fully on a timer, which heals anything missed.
//! 4. While Redis is away, keep serving the last snapshot and retry with backoff.
//!    When the server it reads is another one than before (a Sentinel failover, a
//!    restart: [`switchyard_shared::failover::ServerWatch`]), reload fully: the new
//!    server's change feed is another history, which the snapshot's feed position does
//!    not belong to.
//! 5. Publish this proxy's status (applied version, when it applied it, heartbeat, the
//!    number of upstream endpoints it judges down): every
//!    `heartbeat_every`, and right after a new version is applied — debounced to at most
//!    one write per [`PUBLISH_GAP`], so a burst of changes costs a few writes a second —
//!    so the panel sees a change live within milliseconds, not at the next heartbeat.
//!    Save the snapshot to disk after changes (at most once per `save_every`).
//!
//! A record that fails validation is left out of an update, so the previous version of
//! that record keeps serving; it is logged and counted.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fred::prelude::*;
use switchyard_shared::Keys;
use switchyard_shared::model::ProxyStatus;
use switchyard_shared::store::{self, FeedEntry, Store, StoreError};
use time::OffsetDateTime;

use crate::metrics::Metrics;
use crate::snapshot::{CertEntry, HostEntry, Snapshot, SnapshotWriter, Update};
use crate::upstreams::Registry;

/// Settings of the sync loop.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// The primary: status heartbeats, TLS ticket keys, fleet rate limits — and the
    /// routing data unless `redis_read_url` is set.
    pub redis_url: String,
    /// Where the routing data is read from instead (a replica), if anywhere.
    pub redis_read_url: Option<String>,
    pub keys: Keys,
    pub proxy_id: String,
    pub snapshot_file: Option<PathBuf>,
    /// How long start-up waits for Redis before serving the snapshot file.
    pub startup_timeout: Duration,
    pub full_reload_every: Duration,
    pub heartbeat_every: Duration,
    pub save_every: Duration,
    /// Longest wait of one blocking feed read; bounds how late shutdown is noticed.
    pub feed_block: Duration,
    /// Rotation period of the shared TLS ticket keys; `None` without a TLS listener.
    pub ticket_rotate: Option<Duration>,
    /// Interval of the fleet-wide rate limits' sync (`crate::fleet_limit`).
    pub fleet_rate_sync: Duration,
}

/// What the admin endpoints report about the sync loop.
#[derive(Default)]
pub struct SyncState {
    /// A snapshot (from Redis or the file) is being served.
    pub ready: AtomicBool,
    /// A shutdown or upgrade has begun: `/readyz` answers 503 from this moment on, while
    /// the listeners still serve (see `crate::drain`).
    pub draining: AtomicBool,
    pub redis_connected: AtomicBool,
    pub last_redis_ok: Mutex<Option<OffsetDateTime>>,
    pub last_error: Mutex<Option<String>>,
    /// Where the live snapshot came from: "redis" or "file".
    pub source: Mutex<&'static str>,
    /// Reading a replica (`--redis-read-url`): versions the snapshot was behind the
    /// primary at the last heartbeat.
    pub replica_behind: Mutex<Option<u64>>,
}

impl SyncState {
    fn redis_ok(&self, metrics: &Metrics) {
        let now = OffsetDateTime::now_utc();
        self.redis_connected.store(true, Ordering::Relaxed);
        *self.last_redis_ok.lock().expect("never poisoned") = Some(now);
        metrics.redis_connected.set(1);
        metrics.redis_last_ok_unix.set(now.unix_timestamp());
    }

    fn redis_failed(&self, metrics: &Metrics, error: &str) {
        if self.redis_connected.swap(false, Ordering::Relaxed) {
            tracing::warn!(error, "Redis unreachable; serving the last snapshot");
        }
        metrics.redis_connected.set(0);
        *self.last_error.lock().expect("never poisoned") = Some(error.to_owned());
    }
}

/// Everything the loop works with.
pub struct Syncer {
    pub config: SyncConfig,
    pub writer: SnapshotWriter,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub state: Arc<SyncState>,
    last_saved_version: Option<u64>,
    last_saved_at: Option<tokio::time::Instant>,
    /// The snapshot save running in the background, if any.
    saving: Option<tokio::task::JoinHandle<()>>,
    /// Woken when a snapshot is applied, so the status goes out at once.
    applied: Arc<tokio::sync::Notify>,
}

/// Shortest time between two status writes made because a new version was applied: a
/// burst of changes costs at most four writes a second per proxy (plus heartbeats).
pub const PUBLISH_GAP: Duration = Duration::from_millis(250);

/// How often the proxy checks which Redis server it reads (besides after every
/// reconnection).
pub const SERVER_CHECK_EVERY: Duration = Duration::from_secs(2);

/// Backoff between reconnection attempts: doubles from 100 ms to 5 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}

impl Syncer {
    pub fn new(
        config: SyncConfig,
        writer: SnapshotWriter,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
        state: Arc<SyncState>,
    ) -> Self {
        Self {
            config,
            writer,
            registry,
            metrics,
            state,
            last_saved_version: None,
            last_saved_at: None,
            saving: None,
            applied: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        // Every command gets a deadline so an outage surfaces as an error, never a hang;
        // the feed client's deadline leaves room for its blocking read.
        let timeout = self.config.startup_timeout.max(Duration::from_secs(2));
        let feed_timeout = self.config.feed_block + timeout;
        let read_url = self
            .config
            .redis_read_url
            .as_deref()
            .unwrap_or(&self.config.redis_url);
        let clients = store::client_builder(read_url).and_then(|mut b| {
            b.with_performance_config(|p| p.default_command_timeout = timeout);
            let main = b.build()?;
            b.with_performance_config(|p| p.default_command_timeout = feed_timeout);
            let feed = b.build()?;
            // A replica for reads: the primary for what the proxy writes.
            let primary = match &self.config.redis_read_url {
                None => None,
                Some(_) => {
                    let mut b = store::client_builder(&self.config.redis_url)?;
                    b.with_performance_config(|p| p.default_command_timeout = timeout);
                    Some(b.build()?)
                }
            };
            Ok((main, feed, primary))
        });
        let (main, feed, primary) = match clients {
            Ok(clients) => clients,
            Err(e) => {
                tracing::error!(error = %e, "invalid Redis configuration");
                return;
            }
        };
        main.connect();
        feed.connect();
        if let Some(p) = &primary {
            p.connect();
        }
        let mut server =
            switchyard_shared::failover::ServerWatch::spawn(main.clone(), SERVER_CHECK_EVERY);
        let store = Store::new(main.clone(), self.config.keys.clone());
        let feed_store = Store::new(feed.clone(), self.config.keys.clone());
        // Where this proxy writes: its status, the ticket keys, fleet rate-limit counts.
        let write_store = primary
            .as_ref()
            .map(|p| Store::new(p.clone(), self.config.keys.clone()));
        let write_store = write_store.unwrap_or_else(|| store.clone());

        // Start-up: Redis within the timeout, else the snapshot file.
        // The timeout bounds reaching Redis, not loading: a million zones take seconds.
        let reachable = tokio::time::timeout(self.config.startup_timeout, store.meta()).await;
        let first = match reachable {
            Ok(Ok(_)) => self.full_reload(&store).await.map_err(|e| e.to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer within the start-up timeout".to_owned()),
        };
        if let Err(why) = first {
            self.state.redis_failed(&self.metrics, &why);
            self.load_file().await;
        }

        let heartbeat = tokio::spawn(heartbeat_loop(
            write_store.clone(),
            self.config.clone(),
            self.registry.clone(),
            self.writer.live().clone(),
            self.state.clone(),
            self.applied.clone(),
            shutdown.clone(),
        ));
        let tickets = self.config.ticket_rotate.map(|period| {
            tokio::spawn(crate::tickets::keep_in_step(
                write_store.clone(),
                self.config.keys.clone(),
                period,
                shutdown.clone(),
            ))
        });
        let fleet_limits = tokio::spawn(crate::fleet_limit::keep_in_step(
            write_store.clone(),
            self.config.keys.clone(),
            self.config.fleet_rate_sync,
            shutdown.clone(),
        ));
        let mut full_reload = tokio::time::interval(self.config.full_reload_every);
        full_reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        full_reload.tick().await;
        let mut attempt = 0u32;
        let mut need_reload = !self.state.redis_connected.load(Ordering::Relaxed);
        loop {
            if *shutdown.borrow() {
                break;
            }
            if need_reload {
                match self.full_reload(&store).await {
                    Ok(()) => {
                        need_reload = false;
                        attempt = 0;
                    }
                    Err(e) => {
                        attempt += 1;
                        if !self.redis_failed(&e, attempt, &mut shutdown).await {
                            break;
                        }
                        continue;
                    }
                }
            }
            let after = self.writer.live().load().feed_id.clone();
            let block = self.config.feed_block.as_millis() as u64;
            tokio::select! {
                result = feed_store.feed_after(&after, 1_000, Some(block)) => match result {
                    Ok(entries) if entries.is_empty() => self.state.redis_ok(&self.metrics),
                    Ok(entries) => {
                        self.state.redis_ok(&self.metrics);
                        if let Err(why) = self.apply_entries(&store, entries).await {
                            tracing::info!(reason = %why, "reloading everything");
                            need_reload = true;
                        }
                    }
                    Err(e) => {
                        attempt += 1;
                        if !self.redis_failed(&e, attempt, &mut shutdown).await {
                            break;
                        }
                        // Nothing is known about what was missed: start over.
                        need_reload = true;
                    }
                },
                _ = full_reload.tick() => need_reload = true,
                change = server.changed() => {
                    tracing::info!(
                        before = %change.before,
                        after = %change.after,
                        "the Redis server changed (failover or restart): reloading everything"
                    );
                    need_reload = true;
                }
                _ = shutdown.changed() => break,
            }
            self.maybe_save(false).await;
        }
        self.maybe_save(true).await;
        heartbeat.abort();
        fleet_limits.abort();
        if let Some(tickets) = tickets {
            tickets.abort();
        }
        let _ = main.quit().await;
        let _ = feed.quit().await;
    }

    /// Records a Redis failure and waits out the backoff; false when shutting down.
    async fn redis_failed(
        &self,
        error: &StoreError,
        attempt: u32,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> bool {
        self.state.redis_failed(&self.metrics, &error.to_string());
        tokio::select! {
            _ = tokio::time::sleep(backoff(attempt)) => true,
            _ = shutdown.changed() => false,
        }
    }

    /// Loads everything from Redis and publishes it as one new snapshot.
    async fn full_reload(&mut self, store: &Store) -> Result<(), StoreError> {
        // Entries are built batch by batch as the records arrive (the load's peak is the
        // table plus one batch, not the whole keyspace three times over).
        let registry = &self.registry;
        let (raw, hosts) = store
            .snapshot_mapped(|z| HostEntry::build(z, registry))
            .await?;
        self.state.redis_ok(&self.metrics);
        for problem in &raw.rejected {
            tracing::error!(error = %problem, "record refused; it is left out");
            self.metrics.rejected_records.inc();
        }
        let mut certs = Vec::new();
        for record in raw.certs {
            match CertEntry::parse(record) {
                Ok(c) => certs.push(c),
                Err(e) => {
                    tracing::error!(error = %e, "certificate refused; it is left out");
                    self.metrics.rejected_records.inc();
                }
            }
        }
        self.registry.resolve_missing().await;
        let mut snapshot = Snapshot::build(raw.version, raw.feed_id, hosts, certs);
        snapshot.set_challenges(raw.challenges);
        // Keep a previously valid record where Redis now holds an invalid one.
        let live = self.writer.live().load_full();
        for rejected in &raw.rejected {
            if let switchyard_shared::model::RecordError::Json {
                kind: "zone", key, ..
            }
            | switchyard_shared::model::RecordError::Invalid {
                kind: "zone", key, ..
            } = rejected
                && let Some(previous) = live.hosts().find(|h| h.host.as_str() == key).cloned()
            {
                snapshot.apply(&Update {
                    version: snapshot.version,
                    feed_id: snapshot.feed_id.clone(),
                    zones: vec![(key.clone(), Some(previous))],
                    certs: vec![],
                    challenges: vec![],
                });
            }
        }
        tracing::info!(
            version = snapshot.version,
            zones = snapshot.zone_count(),
            certs = snapshot.cert_count(),
            "loaded snapshot from Redis"
        );
        self.publish_gauges(&snapshot);
        self.writer.replace(snapshot).await;
        *self.state.source.lock().expect("never poisoned") = "redis";
        self.state.ready.store(true, Ordering::Relaxed);
        self.applied.notify_one();
        self.metrics.full_reloads.inc();
        Ok(())
    }

    /// Applies a batch of feed entries as one update; an error asks for a full reload.
    async fn apply_entries(
        &mut self,
        store: &Store,
        entries: Vec<FeedEntry>,
    ) -> Result<(), String> {
        // Only the version: holding the snapshot itself would keep the writer from
        // reclaiming it as its spare.
        let current = self.writer.live().load().version;
        let mut zone_names = Vec::new();
        let mut cert_names = Vec::new();
        let mut challenge_names = Vec::new();
        for (expected, entry) in (current + 1..).zip(entries.iter()) {
            if !switchyard_shared::keys::readable_format(&entry.format) {
                return Err(format!(
                    "feed entry {} has data format {}",
                    entry.id, entry.format
                ));
            }
            if entry.version != expected {
                return Err(format!(
                    "feed jumps from version {} to {} (entries were trimmed or missed)",
                    expected - 1,
                    entry.version
                ));
            }
            zone_names.extend(entry.zones.iter().cloned());
            cert_names.extend(entry.certs.iter().cloned());
            challenge_names.extend(entry.challenges.iter().cloned());
        }
        challenge_names.sort();
        challenge_names.dedup();
        zone_names.sort();
        zone_names.dedup();
        cert_names.sort();
        cert_names.dedup();
        let last = entries.last().expect("entries is not empty");
        let mut update = Update {
            version: last.version,
            feed_id: last.id.clone(),
            ..Update::default()
        };
        let zones = store.zones(&zone_names).await.map_err(|e| e.to_string())?;
        for (name, record) in zones {
            match record {
                None => update.zones.push((name, None)),
                Some(Ok(r)) => update
                    .zones
                    .push((name, Some(HostEntry::build(r, &self.registry)))),
                Some(Err(e)) => {
                    tracing::error!(error = %e, "record refused; the previous one keeps serving");
                    self.metrics.rejected_records.inc();
                }
            }
        }
        let certs = store.certs(&cert_names).await.map_err(|e| e.to_string())?;
        for (name, record) in certs {
            match record.map(|r| r.map_err(|e| e.to_string()).and_then(CertEntry::parse)) {
                None => update.certs.push((name, None)),
                Some(Ok(c)) => update.certs.push((name, Some(c))),
                Some(Err(e)) => {
                    tracing::error!(error = %e, "certificate refused; the previous one keeps serving");
                    self.metrics.rejected_records.inc();
                }
            }
        }
        let challenges = store
            .challenges(&challenge_names)
            .await
            .map_err(|e| e.to_string())?;
        for (name, record) in challenges {
            match record {
                None => update.challenges.push((name, None)),
                Some(Ok(c)) => update.challenges.push((name, Some(Arc::new(c)))),
                Some(Err(e)) => {
                    tracing::error!(error = %e, "ACME challenge refused; it is not answered");
                    self.metrics.rejected_records.inc();
                }
            }
        }
        self.registry.resolve_missing().await;
        self.writer.apply(&update).await;
        self.applied.notify_one();
        self.metrics.feed_entries.inc_by(entries.len() as u64);
        let live = self.writer.live().load_full();
        self.publish_gauges(&live);
        tracing::debug!(
            version = live.version,
            changes = zone_names.len() + cert_names.len() + challenge_names.len(),
            "applied changes"
        );
        Ok(())
    }

    fn publish_gauges(&self, snapshot: &Snapshot) {
        self.metrics.snapshot_version.set(snapshot.version as i64);
        self.metrics
            .snapshot_applied_unix
            .set(snapshot.applied_at.unix_timestamp());
        self.metrics
            .snapshot_zones
            .set(snapshot.zone_count() as i64);
        self.metrics
            .snapshot_certs
            .set(snapshot.cert_count() as i64);
        let now = OffsetDateTime::now_utc();
        self.metrics.cert_days_left.reset();
        for cert in snapshot.certs() {
            let days = (cert.record.not_after - now).whole_days();
            self.metrics
                .cert_days_left
                .with_label_values(&[cert.record.name.as_str()])
                .set(days);
        }
    }

    /// Starts from the snapshot file (Redis is unreachable at start).
    async fn load_file(&mut self) {
        let Some(path) = self.config.snapshot_file.clone() else {
            tracing::warn!("Redis unreachable and no snapshot file configured; not ready yet");
            return;
        };
        let registry = self.registry.clone();
        let loaded = tokio::task::spawn_blocking(move || Snapshot::load(&path, &registry)).await;
        match loaded {
            Ok(Ok((snapshot, problems))) => {
                for p in &problems {
                    tracing::error!(problem = %p, "snapshot file line refused");
                    self.metrics.rejected_records.inc();
                }
                self.registry.resolve_missing().await;
                tracing::info!(
                    version = snapshot.version,
                    zones = snapshot.zone_count(),
                    "Redis unreachable: serving the snapshot file"
                );
                self.publish_gauges(&snapshot);
                self.last_saved_version = Some(snapshot.version);
                self.writer.replace(snapshot).await;
                *self.state.source.lock().expect("never poisoned") = "file";
                self.state.ready.store(true, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot load the snapshot file; not ready yet")
            }
            Err(e) => tracing::error!(error = %e, "loading the snapshot file panicked"),
        }
    }

    /// Saves the live snapshot when it changed and the last save is `save_every` old.
    async fn maybe_save(&mut self, force: bool) {
        let Some(path) = self.config.snapshot_file.clone() else {
            return;
        };
        let live = self.writer.live().load_full();
        if !self.state.ready.load(Ordering::Relaxed)
            || self.last_saved_version == Some(live.version)
        {
            return;
        }
        let due = self
            .last_saved_at
            .is_none_or(|t| t.elapsed() >= self.config.save_every);
        if !due && !force {
            return;
        }
        if self.saving.as_ref().is_some_and(|s| !s.is_finished()) {
            if !force {
                return;
            }
            // Shutting down: let the running save finish, then write the latest.
            if let Some(running) = self.saving.take() {
                let _ = running.await;
            }
        }
        let version = live.version;
        self.last_saved_version = Some(version);
        self.last_saved_at = Some(tokio::time::Instant::now());
        // At a million zones a save takes seconds: it must not hold up the feed, nor hold
        // the snapshot (the writer reclaims a replaced snapshot as its spare only once
        // nothing else holds it), so it writes detached contents.
        let contents = live.contents();
        drop(live);
        let save = tokio::task::spawn_blocking(move || {
            if let Err(e) = contents.save(&path) {
                tracing::error!(error = %e, version, "cannot save the snapshot file");
            }
        });
        if force {
            let _ = save.await;
        } else {
            self.saving = Some(save);
        }
    }
}

/// Publishes this proxy's status every `heartbeat_every`, and soon after `applied` wakes
/// it (a new snapshot), at most once per [`PUBLISH_GAP`] for those.
async fn heartbeat_loop(
    store: Store,
    config: SyncConfig,
    registry: Arc<Registry>,
    live: Arc<arc_swap::ArcSwap<Snapshot>>,
    state: Arc<SyncState>,
    applied: Arc<tokio::sync::Notify>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(config.heartbeat_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_write: Option<tokio::time::Instant> = None;
    // The version last published and when it was applied: a full reload that finds the
    // same version rebuilds the snapshot, but the version was applied when it first was.
    let mut published: Option<(u64, OffsetDateTime)> = None;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = applied.notified() => {
                // Debounce: the changes of a burst go out together, PUBLISH_GAP apart.
                if let Some(due) = last_write.map(|t| t + PUBLISH_GAP)
                    && due > tokio::time::Instant::now()
                {
                    tokio::select! {
                        _ = tokio::time::sleep_until(due) => {}
                        _ = shutdown.changed() => return,
                    }
                }
                if published.is_some_and(|(v, _)| v == live.load().version) {
                    continue;
                }
            }
            _ = shutdown.changed() => return,
        }
        if !state.ready.load(Ordering::Relaxed) {
            continue;
        }
        // On a replica: how many versions the snapshot is behind the primary's.
        let behind = match config.redis_read_url.is_some() {
            false => None,
            true => match store.meta().await {
                Ok((version, _)) => {
                    let behind = version.saturating_sub(live.load().version);
                    *state.replica_behind.lock().expect("never poisoned") = Some(behind);
                    Some(behind)
                }
                Err(_) => None,
            },
        };
        let snapshot = live.load_full();
        let applied_at = match published {
            Some((version, at)) if version == snapshot.version => at,
            _ => snapshot.applied_at,
        };
        let status = ProxyStatus {
            reads_format: switchyard_shared::FORMAT_VERSION,
            id: config.proxy_id.clone(),
            version: snapshot.version,
            heartbeat_at: OffsetDateTime::now_utc(),
            applied_at,
            zones: snapshot.zone_count() as u64,
            certs: snapshot.cert_count() as u64,
            replica_versions_behind: behind,
            endpoints_down: registry.summary().endpoints_down as u64,
        };
        drop(snapshot);
        let json = serde_json::to_string(&status).expect("status serialises");
        last_write = Some(tokio::time::Instant::now());
        // The next heartbeat is due a full period after this write.
        ticks.reset();
        let result: Result<(), _> = store
            .client()
            .hset(config.keys.proxies(), (config.proxy_id.as_str(), json))
            .await;
        match result {
            Ok(()) => published = Some((status.version, applied_at)),
            Err(e) => tracing::debug!(error = %e, "cannot publish proxy status"),
        }
    }
}
