//! The service: the order loop, the renewal sweep, the heartbeat, publication to Redis.
//!
//! Every stored certificate is published at start and again whenever the Redis server
//! changes under the worker (a Sentinel failover or a restart, noticed by
//! `switchyard_shared::failover::ServerWatch`): the new primary may lack what the old
//! one acknowledged.
//!
//! One pass ([`Worker::run_once`]) takes the due certificates, claims each one (an
//! advisory lock, so racing instances never order the same certificate twice), and
//! solves its DNS-01 challenges: through the provider's API, or — for `manual` — by
//! showing the TXT record on the certificate row and looking for it on later passes.
//! TXT records this worker created are always deleted afterwards: after success, after
//! failure, and when a shutdown interrupts the wait.
//!
//! Per-host certificates (one exact hostname no DNS-automated domain covers) are added
//! and retired at the start of a pass every `host_sync_every`
//! ([`Worker::sync_host_certificates`]) and then
//! ordered like any other, by HTTP-01 ([`Worker::method`] is where the challenge type is
//! chosen): the answers go to every proxy as short-lived Redis keys on the change feed,
//! the worker waits for the live proxies to have applied them, and withdraws them once
//! the CA has decided.
//!
//! A worker that is killed (SIGKILL, OOM, a crash) cannot delete anything, so each record
//! is written into its order's row (`acme_orders.dns_records`) before the create call and
//! again, with the provider's id, as soon as the call returns. Whoever next claims the
//! certificate — this instance after a restart, or another one on its next pass, and every
//! instance at start — finds the order still `started`, deletes the records and closes the
//! order as `failed` ("interrupted: …"); the certificate stayed due, so the attempt that
//! follows issues it. The claim makes this safe: a live worker holds the certificate's
//! lock for as long as its order runs, and a dead one's lock went with its connection.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Context as _;
use fred::prelude::KeysInterface as _;
use fred::types::Expiration;
use instant_acme::ChallengeType;
use sea_orm::{DatabaseConnection, TransactionTrait as _};
use switchyard_shared::HostPattern;
use switchyard_shared::model::{CertRecord, ChallengeRecord};
use switchyard_shared::store::{self, ChangeSet, Store};
use time::OffsetDateTime;
use tokio::sync::{Mutex, watch};
use uuid::Uuid;

use crate::acme::{Acme, AcmeError, Challenge, leaf_info};
use crate::config::Config;
use crate::db::{self, Claim, Work};
use crate::dns::propagation::Propagation;
use crate::dns::{DnsProvider, LoggedTxtRecord, Solver, TxtRecord};
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::schedule;

/// How many certificates one pass asks the CA's ARI about at most (the rest on the
/// next passes).
pub const ARI_BATCH: usize = 100;

/// A number uniform in `[0, 1)`, for spreading renewals over an ARI window.
fn uniform_fraction() -> f64 {
    // 53 random bits: the precision of an f64 in [0, 1). Without randomness, the middle.
    getrandom::u64().map_or(0.5, |bits| (bits >> 11) as f64 / (1u64 << 53) as f64)
}

/// The service name in `heartbeat:<service>`.
pub const SERVICE: &str = "cert-worker";

/// `acme_orders.error` of an order a dead worker left open and another one closed.
pub const INTERRUPTED_BY_KILL: &str = "interrupted: the worker stopped mid-order (killed)";

/// How often the worker asks PostgreSQL whether its pool's host is there and takes
/// writes; the same period as the panel's database watcher.
pub const DB_PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The worker's database monitor: probes the pool's host every [`DB_PROBE_EVERY`] and,
/// when it is gone or read-only, lets [`switchyard_db::Database::check`] move the pool to
/// the next host that fits (a promoted standby), so passes that failed during the switch
/// work again without a restart. Logs when PostgreSQL goes and comes back.
async fn watch_database(database: switchyard_db::Database, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(DB_PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_up = true;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tick.tick() => {}
        }
        if *shutdown.borrow() {
            break;
        }
        let up = database.check().await;
        if up != was_up {
            if up {
                tracing::info!(host = %database.current_host(), "PostgreSQL answers again: order passes resume");
            } else {
                tracing::warn!(host = %database.current_host(), "PostgreSQL is unreachable or read-only: order passes fail until it (or a new primary) answers");
            }
            was_up = up;
        }
    }
}

/// What became of one certificate in a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Issued, stored and published.
    Issued,
    /// The attempt failed; the error is stored as `last_error`.
    Failed(String),
    /// A manual order waits for its TXT record to appear.
    WaitingForManualDns,
    /// Another instance holds it, or it is no longer due.
    Skipped,
    /// Shutdown interrupted it; it stays due and is retried on the next start.
    Interrupted,
}

/// A certificate that must be retried later, with its error.
#[derive(Debug)]
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

/// The running worker.
pub struct Worker {
    config: Config,
    /// The pool's host list and liveness probe (follows a failover to a new primary).
    database: switchyard_db::Database,
    /// The sea-orm handle on `database`'s pool, the same whichever host it is on.
    db: DatabaseConnection,
    redis: fred::prelude::Client,
    store: Store,
    acme: Acme,
    http: reqwest::Client,
    propagation: Propagation,
    metrics: Metrics,
    /// Issued certificates whose Redis write failed; retried every pass.
    unpublished: Mutex<HashSet<Uuid>>,
    /// Republishing every certificate after a change of Redis server failed; retried
    /// every pass until it succeeds.
    republish_all: std::sync::atomic::AtomicBool,
    /// When the per-host certificates were last brought in step with the zones (every
    /// `host_sync_every`, at the start of a pass).
    last_host_sync: Mutex<Option<tokio::time::Instant>>,
    /// The CA's directory (read when the account was loaded) lists no `renewalInfo`:
    /// passes skip ARI rather than read the active certificates only to learn it again.
    ca_without_ari: std::sync::atomic::AtomicBool,
    /// The webhook notices (`--notify-webhook-url`), delivered in tasks of their own.
    notifier: Notifier,
}

/// How often the worker checks which Redis server it writes to (besides after every
/// reconnection): a failover is followed by a republication of every certificate.
pub const SERVER_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl Worker {
    /// Connects to Postgres and Redis.
    pub async fn connect(config: Config, metrics: Metrics) -> anyhow::Result<Arc<Worker>> {
        let database = db::connect(&config.database_url, config.concurrency)
            .await
            .context("connecting to PostgreSQL")?;
        let db = database.connection().clone();
        let redis = store::connect(&config.redis_url)
            .await
            .context("connecting to Redis")?;
        let store = Store::new(redis.clone(), config.keys.clone());
        let acme = Acme::new(config.acme.clone(), config.secrets.clone());
        let propagation = Propagation {
            resolvers: config.dns_resolvers.clone(),
            timeout: config.propagation_timeout,
            poll: config.propagation_poll,
        };
        let notifier = Notifier::new(config.notify_webhook.clone(), metrics.clone());
        Ok(Arc::new(Worker {
            notifier,
            config,
            database,
            db,
            redis,
            store,
            acme,
            http: crate::dns::http_client(),
            propagation,
            metrics,
            unpublished: Mutex::new(HashSet::new()),
            republish_all: std::sync::atomic::AtomicBool::new(false),
            last_host_sync: Mutex::new(None),
            ca_without_ari: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Runs until `shutdown` turns true: heartbeat, renewal sweep (at start and every
    /// `renew_every`), order passes (every `poll_every`).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let beat = {
            let worker = self.clone();
            let mut shutdown = shutdown.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(worker.config.heartbeat_every);
                loop {
                    tokio::select! {
                        _ = shutdown.changed() => break,
                        _ = ticks.tick() => {
                            if let Err(e) = worker.heartbeat().await {
                                tracing::warn!(error = %format!("{e:#}"), "heartbeat not written");
                            }
                        }
                    }
                }
            })
        };
        let monitor = tokio::spawn(watch_database(self.database.clone(), shutdown.clone()));
        // Started before the first publication, so that its baseline is the server that
        // publication wrote to.
        let mut server =
            switchyard_shared::failover::ServerWatch::spawn(self.redis.clone(), SERVER_CHECK_EVERY);
        if let Err(e) = self.publish_all().await {
            tracing::warn!(error = %format!("{e:#}"), "republishing stored certificates failed; retrying later");
        }
        if let Err(e) = self.recover_interrupted().await {
            tracing::warn!(error = %format!("{e:#}"), "looking for orders a stopped worker left open failed; each is retried when its certificate is next claimed");
        }
        let mut poll = tokio::time::interval(self.config.poll_every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut renew = tokio::time::interval(self.config.renew_every);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut expiry = tokio::time::interval(self.config.expiry_check_every);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !*shutdown.borrow() {
            tokio::select! {
                _ = shutdown.changed() => {}
                change = server.changed() => {
                    // A failover (or a restart) may have lost certificates and the
                    // heartbeat the old server acknowledged: write them all again.
                    tracing::warn!(
                        before = %change.before,
                        after = %change.after,
                        "Redis primary changed (failover or restart): republishing every certificate"
                    );
                    if let Err(e) = self.heartbeat().await {
                        tracing::warn!(error = %format!("{e:#}"), "heartbeat not written");
                    }
                    match self.publish_all().await {
                        Ok(n) => tracing::info!(certificates = n, "republished after the Redis primary changed"),
                        Err(e) => {
                            tracing::warn!(error = %format!("{e:#}"), "republishing after the Redis primary changed failed; retrying on the next pass");
                            self.republish_all.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
                _ = renew.tick() => {
                    match self.sweep().await {
                        Ok(n) => tracing::info!(due = n, "renewal sweep"),
                        Err(e) => tracing::error!(error = %format!("{e:#}"), "renewal sweep failed"),
                    }
                }
                _ = expiry.tick() => {
                    if let Err(e) = self.check_expiry().await {
                        tracing::warn!(error = %format!("{e:#}"), "expiry check failed: the per-certificate metrics and expiry notices wait for the next one");
                    }
                }
                _ = poll.tick() => {
                    match self.run_once(shutdown.clone()).await {
                        Ok(_) => {
                            self.metrics.set_ready(true);
                            self.metrics.last_success.set(OffsetDateTime::now_utc().unix_timestamp());
                        }
                        Err(e) => {
                            self.metrics.set_ready(false);
                            tracing::error!(error = %format!("{e:#}"), "order pass failed");
                        }
                    }
                }
            }
        }
        beat.await.ok();
        monitor.await.ok();
        // The heartbeat key goes with a clean stop, so the panel shows "stopped" at once
        // rather than after the key's expiry.
        let _: Result<i64, _> = self.redis.del(self.config.keys.heartbeat(SERVICE)).await;
        Ok(())
    }

    /// The database handle (tests look at the host it is on).
    pub fn database(&self) -> &switchyard_db::Database {
        &self.database
    }

    /// Writes `heartbeat:cert-worker` (RFC 3339 time), expiring after three missed beats.
    pub async fn heartbeat(&self) -> anyhow::Result<()> {
        let now = OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("RFC 3339 formats any UTC time");
        let ttl = (self.config.heartbeat_every.as_secs() * 3).max(3) as i64;
        let _: () = self
            .redis
            .set(
                self.config.keys.heartbeat(SERVICE),
                now,
                Some(Expiration::EX(ttl)),
                None,
                false,
            )
            .await?;
        Ok(())
    }

    /// The renewal sweep: due active certificates become `renewing`. Also refreshes the
    /// days-to-expiry metric. Returns how many became due.
    pub async fn sweep(&self) -> anyhow::Result<usize> {
        let due = db::renewal_sweep(&self.db).await?;
        let expiries = db::expiries(&self.db).await?;
        self.metrics
            .set_expiries(&expiries, OffsetDateTime::now_utc());
        Ok(due.len())
    }

    /// Brings the per-certificate expiry metrics up to date and sends the expiry
    /// notices that are due ([`crate::notify::check_expiry`]); how many it sent.
    pub async fn check_expiry(&self) -> anyhow::Result<usize> {
        crate::notify::check_expiry(&self.db, &self.metrics, &self.notifier).await
    }

    /// Closes the orders that workers which died mid-order left open, for every
    /// certificate no live instance is working on (see `clean_interrupted`).
    /// Returns how many certificates it looked at.
    pub async fn recover_interrupted(&self) -> anyhow::Result<usize> {
        let mut checked = 0;
        for id in db::certificates_with_open_api_orders(&self.db).await? {
            // Held by a live instance: its order is not interrupted, or that instance
            // cleans it up when it next claims the certificate.
            let Some(claim) = Claim::try_take(&self.db, id).await? else {
                continue;
            };
            if let Some(work) = db::load_work(&self.db, id).await? {
                self.clean_interrupted(&work).await;
                checked += 1;
            }
            claim.release().await?;
        }
        Ok(checked)
    }

    /// Under the certificate's claim: deletes the TXT records of orders that a worker
    /// which died mid-order left `started`, and closes those orders (outcome `failed`,
    /// [`INTERRUPTED_BY_KILL`], counted as `interrupted`). The certificate itself is left
    /// as it is — still due, so the next attempt orders it again. An order whose records
    /// the provider would not delete now stays open and is retried on the next claim.
    async fn clean_interrupted(&self, work: &Work) {
        let orders = match db::open_api_orders(&self.db, work.id).await {
            Ok(orders) => orders,
            Err(e) => {
                tracing::warn!(certificate = %work.id, error = %e, "orders a stopped worker left open could not be read; retrying on the next claim");
                return;
            }
        };
        if orders.is_empty() {
            return;
        }
        let provider = match work
            .credential
            .as_ref()
            .map(|c| Solver::from_credential(c, &self.config.secrets, &self.http))
        {
            Some(Ok(Solver::Api(p))) => Some(p),
            Some(Err(e)) => {
                tracing::warn!(certificate = %work.id, error = %e, "DNS credential unusable for deleting an interrupted order's TXT records");
                None
            }
            Some(Ok(Solver::Manual)) | None => None,
        };
        let provider_name = provider.as_ref().map_or("none", |p| p.name());
        for order in orders {
            let mut failed = 0;
            let mut by_hand = Vec::new();
            for logged in &order.records {
                match (logged.record(), &provider) {
                    (Some(record), Some(p)) => {
                        if let Err(e) = p.delete_txt(&record).await {
                            failed += 1;
                            self.metrics
                                .txt_cleanup_failures
                                .with_label_values(&[provider_name])
                                .inc();
                            tracing::error!(certificate = %work.id, order = %order.id, fqdn = %record.fqdn, id = %record.id, error = %e, "TXT record of an interrupted order could not be deleted; retrying on the next claim");
                        }
                    }
                    // The domain no longer has an API credential to delete it with.
                    (Some(_), None) => by_hand.push(logged),
                    // Killed while the create call was in flight: the provider may or
                    // may not have made it, and no id says which record it would be.
                    (None, _) => by_hand.push(logged),
                }
            }
            if failed > 0 {
                continue;
            }
            let mut error = INTERRUPTED_BY_KILL.to_owned();
            if !by_hand.is_empty() {
                error.push_str(
                    "; check the DNS provider for these TXT records and remove them by hand:",
                );
                for logged in &by_hand {
                    self.metrics
                        .txt_cleanup_failures
                        .with_label_values(&[provider_name])
                        .inc();
                    tracing::error!(certificate = %work.id, order = %order.id, fqdn = %logged.fqdn, value = %logged.value, id = ?logged.id, "TXT record of an interrupted order may be left at the DNS provider; remove it by hand");
                    error.push_str(&format!(" {} \"{}\"", logged.fqdn, logged.value));
                }
            }
            match db::finish_order(&self.db, order.id, Some(&error)).await {
                Ok(()) => {
                    self.metrics
                        .orders
                        .with_label_values(&["interrupted"])
                        .inc();
                    tracing::warn!(certificate = %work.id, domain = %work.domain, order = %order.id, deleted = order.records.len() - by_hand.len(), "closed an order a stopped worker left open; its TXT records are deleted");
                }
                Err(e) => {
                    tracing::warn!(certificate = %work.id, order = %order.id, error = %e, "interrupted order not closed; retrying on the next claim")
                }
            }
        }
    }

    /// Brings the per-host (HTTP-01) certificates in step with the zones
    /// ([`db::add_host_certificates`] decides which hostnames need one): new ones become
    /// `pending` and are ordered in this pass; ones no longer needed are deleted, and
    /// their certificate leaves Redis first (if Redis refuses, nothing is deleted and the
    /// next pass tries again). Returns how many were added and retired.
    pub async fn sync_host_certificates(&self) -> anyhow::Result<(usize, usize)> {
        let added = db::add_host_certificates(&self.db).await?;
        for id in &added {
            tracing::info!(certificate = %id, "a zone's hostname needs a certificate of its own (no DNS-automated domain covers it): ordering it by HTTP-01");
        }
        let txn = self.db.begin().await?;
        let retired = db::retirable_host_certificates(&txn).await?;
        if retired.is_empty() {
            txn.commit().await?;
            return Ok((added.len(), 0));
        }
        let mut changes = ChangeSet::new();
        for r in retired.iter().filter(|r| r.issued) {
            changes.delete_cert(&r.hostname);
        }
        self.store
            .apply(&changes)
            .await
            .context("removing retired per-host certificates from Redis")?;
        let ids: Vec<Uuid> = retired.iter().map(|r| r.id).collect();
        db::delete_certificates(&txn, &ids).await?;
        txn.commit().await?;
        for r in &retired {
            tracing::info!(certificate = %r.id, hostname = %r.hostname, "per-host certificate retired: no zone has this hostname any more, or a DNS-automated domain's wildcard covers it");
        }
        Ok((added.len(), retired.len()))
    }

    /// One pass over the due certificates, `concurrency` at a time, until none is left
    /// due (or shutdown). Returns what happened to each.
    pub async fn run_once(
        &self,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Vec<(Uuid, Outcome)>> {
        self.retry_unpublished().await;
        let sync_due = self
            .last_host_sync
            .lock()
            .await
            .is_none_or(|at| at.elapsed() >= self.config.host_sync_every);
        if sync_due {
            match self.sync_host_certificates().await {
                Ok(_) => *self.last_host_sync.lock().await = Some(tokio::time::Instant::now()),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "per-host certificates not brought in step with the zones; retrying on the next pass")
                }
            }
        }
        if let Err(e) = self.check_renewal_info().await {
            tracing::warn!(error = %format!("{e:#}"), "ARI renewal windows not read; the last windows read (or the one-third rule) hold");
        }
        let mut all = Vec::new();
        let mut seen = HashSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let due: Vec<Uuid> = db::due(&self.db, self.config.concurrency * 4)
                .await?
                .into_iter()
                .filter(|id| !seen.contains(id))
                .take(self.config.concurrency)
                .collect();
            if due.is_empty() {
                break;
            }
            seen.extend(due.iter().copied());
            let results = futures_util::future::join_all(
                due.iter().map(|id| self.process(*id, shutdown.clone())),
            )
            .await;
            for (id, result) in due.into_iter().zip(results) {
                all.push((id, result?));
            }
        }
        Ok(all)
    }

    /// ARI (RFC 9773): asks the CA's `renewalInfo` for the suggested renewal window of
    /// each active certificate whose poll time has come (up to [`ARI_BATCH`] a pass,
    /// the never-asked first), picks a renewal time uniformly in the window (now once it has
    /// begun, never after expiry; kept while the window stays the same, chosen again
    /// when it moves — earlier after a revocation), and stores window, time and the next
    /// poll (the CA's `Retry-After`). A certificate whose time has come becomes
    /// `renewing` at once. A CA without ARI (its directory as read when the account
    /// was loaded: a CA that starts offering ARI is noticed at the next start), or an
    /// answer that cannot be read, leaves the one-third rule (or the last window read)
    /// in charge. Returns how many became
    /// due.
    pub async fn check_renewal_info(&self) -> anyhow::Result<usize> {
        use std::sync::atomic::Ordering;
        if self.ca_without_ari.load(Ordering::Relaxed) {
            return Ok(0);
        }
        let candidates = db::ari_candidates(&self.db, ARI_BATCH).await?;
        if candidates.is_empty() {
            return Ok(0);
        }
        let (_, account) = self.acme.account(&self.db).await?;
        let mut due = 0;
        for candidate in candidates {
            let now = OffsetDateTime::now_utc();
            let read = match crate::acme::certificate_id(&candidate.chain_pem) {
                Ok(id) => self
                    .acme
                    .renewal_info(&account, &id)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(format!("no ARI identifier: {e}")),
            };
            let (info, retry_after) = match read {
                // The CA offers no ARI: the one-third rule, for every certificate.
                Ok(None) => {
                    tracing::info!(
                        "the ACME CA offers no ARI (no renewalInfo in its directory): renewals follow the one-third rule"
                    );
                    self.ca_without_ari.store(true, Ordering::Relaxed);
                    return Ok(due);
                }
                Ok(Some(answer)) => answer,
                Err(e) => {
                    tracing::warn!(certificate = %candidate.id, error = %e, "ARI renewal window not read; asking again later");
                    let next = now + schedule::ARI_POLL_AFTER_ERROR;
                    db::postpone_renewal_info(&self.db, candidate.id, next).await?;
                    continue;
                }
            };
            let window = (info.suggested_window.start, info.suggested_window.end);
            let renew_at = match (candidate.window == Some(window), candidate.renew_at) {
                (true, Some(chosen)) => Some(chosen),
                _ => schedule::ari_renewal_at(
                    window.0,
                    window.1,
                    candidate.not_after.unwrap_or(window.1),
                    now,
                    uniform_fraction(),
                ),
            };
            let Some(renew_at) = renew_at else {
                tracing::warn!(certificate = %candidate.id, start = %window.0, end = %window.1, "the CA's ARI window ends before it starts; ignored");
                let next = now + schedule::ARI_POLL_AFTER_ERROR;
                db::postpone_renewal_info(&self.db, candidate.id, next).await?;
                continue;
            };
            let next_poll = schedule::ari_next_poll(retry_after, now);
            if db::record_renewal_info(&self.db, candidate.id, window, renew_at, next_poll, now)
                .await?
            {
                due += 1;
                tracing::info!(certificate = %candidate.id, start = %window.0, end = %window.1, explanation = info.explanation_url.as_deref().unwrap_or(""), "the CA's ARI window has begun: renewing now");
            } else {
                tracing::debug!(certificate = %candidate.id, %renew_at, "ARI renewal time chosen");
            }
        }
        Ok(due)
    }

    /// Works on one certificate if this instance can claim it and it is still due.
    pub async fn process(
        &self,
        id: Uuid,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Outcome> {
        let Some(claim) = Claim::try_take(&self.db, id).await? else {
            return Ok(Outcome::Skipped);
        };
        let result = self.process_claimed(id, shutdown).await;
        claim.release().await?;
        result
    }

    /// One order attempt; with tracing on, a span (certificate id, domain, outcome) with
    /// the ACME order and the Redis publication as children. Never credentials or keys.
    #[tracing::instrument(
        target = "switchyard_trace",
        name = "certificate order attempt",
        skip_all,
        fields(certificate = %id, domain = tracing::field::Empty, outcome = tracing::field::Empty)
    )]
    async fn process_claimed(
        &self,
        id: Uuid,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Outcome> {
        let Some(work) = db::load_work(&self.db, id).await? else {
            return Ok(Outcome::Skipped);
        };
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record("domain", work.domain.as_str());
        }
        self.clean_interrupted(&work).await;
        if !work.status.wants_order() || work.next_attempt_at > OffsetDateTime::now_utc() {
            return Ok(Outcome::Skipped);
        }
        let names = if work.names.is_empty() {
            vec![format!("*.{}", work.domain), work.domain.clone()]
        } else {
            work.names.clone()
        };
        tracing::info!(certificate = %id, domain = %work.domain, status = work.status.as_str(), "ordering certificate");
        // What the CA last answered decides when a failed attempt is retried.
        let ((order_id, result), answer) =
            crate::acme::observe(self.attempt(&work, &names, shutdown)).await;
        let outcome = match result {
            Ok(Attempt::Issued(issued)) => match self.store_issued(&work, &names, issued).await {
                Ok(()) => Outcome::Issued,
                Err(Failure(e)) => self.record_failure(&work, &e, None).await?,
            },
            Ok(Attempt::ManualWaiting) => Outcome::WaitingForManualDns,
            Ok(Attempt::Interrupted) => Outcome::Interrupted,
            Err(Failure(e)) => self.record_failure(&work, &e, Some(answer)).await?,
        };
        if let Some(order_id) = order_id {
            match &outcome {
                Outcome::Issued => db::finish_order(&self.db, order_id, None).await?,
                Outcome::Failed(e) => db::finish_order(&self.db, order_id, Some(e)).await?,
                Outcome::Interrupted => {
                    db::finish_order(&self.db, order_id, Some("interrupted by shutdown")).await?
                }
                Outcome::WaitingForManualDns | Outcome::Skipped => {}
            }
        }
        let label = match &outcome {
            Outcome::Issued => "issued",
            Outcome::Failed(e) if e.starts_with("rate limit guard") || answer.rate_limited => {
                "rate_limited"
            }
            Outcome::Failed(_) => "failed",
            Outcome::WaitingForManualDns => "manual_waiting",
            Outcome::Interrupted => "interrupted",
            Outcome::Skipped => return Ok(outcome),
        };
        if !span.is_disabled() {
            span.record("outcome", label);
        }
        self.metrics.orders.with_label_values(&[label]).inc();
        Ok(outcome)
    }

    /// Stores a failed attempt. The next attempt is when the CA asked for it (a
    /// `Retry-After` on its last answer, `rateLimited` or not, clamped by
    /// [`schedule::ca_retry_at`]), otherwise after the usual backoff.
    async fn record_failure(
        &self,
        work: &Work,
        error: &str,
        answer: Option<crate::acme::LastAnswer>,
    ) -> anyhow::Result<Outcome> {
        let attempts = work.attempts.saturating_add(1);
        let now = OffsetDateTime::now_utc();
        let answer = answer.unwrap_or_default();
        let next = schedule::ca_retry_at(answer.retry_after, now).unwrap_or_else(|| {
            now + schedule::backoff(
                attempts as u32,
                self.config.backoff_base,
                self.config.backoff_cap,
            )
        });
        let status = work.status.after_failure();
        if answer.rate_limited {
            tracing::warn!(certificate = %work.id, domain = %work.domain, attempts, next_attempt_at = %next, retry_after_sent = answer.retry_after.is_some(), status = status.as_str(), %error, "the ACME CA rate-limited the order; the next attempt waits as it asked");
        } else {
            tracing::warn!(certificate = %work.id, domain = %work.domain, attempts, next_attempt_at = %next, status = status.as_str(), %error, "certificate order failed");
        }
        let error = match answer.retry_after {
            // The CA's words, and that its own date (not the backoff) sets the next try.
            Some(_) => format!("{error}; the CA asked to wait until {next}"),
            None => error.to_owned(),
        };
        db::record_failure(&self.db, work.id, status, &error, attempts, next).await?;
        self.notify_failure(work, &error, attempts);
        Ok(Outcome::Failed(error))
    }

    /// Tells the webhook (if any) that an order failed ([`Notifier::renewal_failed`]).
    fn notify_failure(&self, work: &Work, error: &str, attempts: i32) {
        let state = db::CertificateState {
            id: work.id,
            source: switchyard_shared::certs::CertSource::Issued,
            name: redis_name(&work.domain, work.hostname.as_deref()),
            names: work.names.clone(),
            not_after: None,
            last_error: Some(error.to_owned()),
        };
        self.notifier.renewal_failed(&self.db, state, attempts);
    }

    /// Runs one attempt. Returns the order log id (if an order was placed) and what came
    /// of it.
    #[tracing::instrument(
        target = "switchyard_trace",
        name = "acme order",
        skip_all,
        fields(names = names.len())
    )]
    async fn attempt(
        &self,
        work: &Work,
        names: &[String],
        mut shutdown: watch::Receiver<bool>,
    ) -> (Option<Uuid>, Result<Attempt, Failure>) {
        let method = match self.method(work) {
            Ok(m) => m,
            Err(e) => return (None, Err(e)),
        };
        if let (Method::Http, Some(hostname)) = (&method, &work.hostname) {
            // The CA would reach whatever the name points at: an order while it points
            // elsewhere only burns attempts (and rate limit) at the CA.
            match db::failing_dns_check(&self.db, hostname).await {
                Ok(Some(check)) => {
                    return (
                        None,
                        Err(Failure(format!(
                            "waiting for DNS: {hostname} does not point at the fleet ({}; \
                             checked {} through {}), so no order was placed; fix its \
                             A/AAAA/CNAME records, then check DNS again in the panel",
                            check.problem.as_deref().unwrap_or("no verdict"),
                            check.checked_at,
                            check.resolver
                        ))),
                    );
                }
                Ok(None) => {}
                Err(e) => return (None, Err(e.into())),
            }
        }
        let (account_id, mut account) = match self.acme.account(&self.db).await {
            Ok(account) => account,
            Err(e) => return (None, Err(e.into())),
        };
        if let (Method::Dns(Solver::Manual), Some(url)) = (&method, &work.order_url) {
            let order_id = db::open_order(&self.db, work.id).await.ok().flatten();
            return (order_id, self.resume_manual(work, &account, url).await);
        }
        let order_id = match db::start_order(
            &self.db,
            work.id,
            account_id,
            self.config.max_orders_per_hour,
            // The worker answers API and HTTP-01 orders itself: one a dead worker left
            // open is closed by the next claimant (HTTP-01 answers expire by their TTL).
            !matches!(method, Method::Dns(Solver::Manual)),
        )
        .await
        {
            Ok(Ok(id)) => id,
            Ok(Err(limited)) => return (None, Err(limited.into())),
            Err(e) => return (None, Err(e.into())),
        };
        let kind = method.challenge_type();
        // A renewal the CA's ARI window timed names the certificate it replaces.
        let replaces = work
            .replaces_chain
            .as_deref()
            .and_then(|chain| crate::acme::certificate_id(chain).ok());
        let placed = match self
            .acme
            .place_order(&account, names, kind.clone(), replaces.as_ref())
            .await
        {
            // The CA forgot the account (its state was reset): register anew and order
            // again at once, rather than failing until someone notices.
            Err(AcmeError::AccountUnknown { .. }) => {
                match self.acme.replace_account(&self.db, &account).await {
                    Ok((_, replaced)) => {
                        account = replaced;
                        self.acme
                            .place_order(&account, names, kind.clone(), replaces.as_ref())
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
            placed => placed,
        };
        let (mut order, challenges) = match placed {
            Ok(o) => o,
            Err(e) => return (Some(order_id), Err(e.into())),
        };
        if let Err(e) = db::set_order_url(&self.db, order_id, order.url()).await {
            return (Some(order_id), Err(e.into()));
        }
        let provider = match method {
            Method::Http => {
                let result = self.solve_http(&mut order, &challenges, shutdown).await;
                return (Some(order_id), result);
            }
            Method::Dns(Solver::Manual) => {
                let (name, values) = txt_set(&challenges);
                let next = OffsetDateTime::now_utc() + self.config.poll_every;
                let result = db::record_manual_wait(
                    &self.db,
                    work.id,
                    &name,
                    &values.join("\n"),
                    order.url(),
                    next,
                )
                .await
                .map(|()| Attempt::ManualWaiting)
                .map_err(Failure::from);
                tracing::info!(certificate = %work.id, txt_name = %name, "manual DNS: waiting for the operator to publish the TXT record");
                return (Some(order_id), result);
            }
            Method::Dns(Solver::Api(p)) => p,
        };
        // Records go in before anything may be interrupted, and `created` always holds
        // exactly what must be deleted again.
        let mut created = Vec::new();
        let result = match self
            .create_records(order_id, provider.as_ref(), &challenges, &mut created)
            .await
        {
            Err(e) => Err(e),
            Ok(()) => {
                let (name, values) = txt_set(&challenges);
                let zone = created.first().map(|r| r.zone.clone()).unwrap_or_default();
                let solve = async {
                    self.propagation.wait_visible(&zone, &name, &values).await?;
                    Ok::<_, Failure>(self.acme.complete(&mut order, kind).await?)
                };
                tokio::select! {
                    r = solve => r.map(Attempt::Issued),
                    _ = shutdown.wait_for(|stop| *stop) => Ok(Attempt::Interrupted),
                }
            }
        };
        self.delete_records(provider.as_ref(), &created).await;
        (Some(order_id), result)
    }

    /// How a certificate's challenges are answered — the one place this is decided: a
    /// per-host certificate by HTTP-01 through the proxies; a domain's wildcard by
    /// DNS-01 through its credential (a provider's API, or an operator for `manual`).
    fn method(&self, work: &Work) -> Result<Method, Failure> {
        if work.hostname.is_some() {
            return Ok(Method::Http);
        }
        let Some(credential) = &work.credential else {
            return Err(Failure(format!(
                "domain {} has no DNS credential: its wildcard certificate needs DNS-01, so choose one in the panel; \
                 until then each of its zones' exact hostnames gets a certificate of its own by HTTP-01",
                work.domain
            )));
        };
        Ok(Method::Dns(Solver::from_credential(
            credential,
            &self.config.secrets,
            &self.http,
        )?))
    }

    /// HTTP-01: publishes the answers to every proxy through Redis, waits until the live
    /// proxies have them, lets the CA validate, and withdraws them again — after
    /// success, failure, and a shutdown alike (if the worker dies instead, their TTL
    /// ends them).
    async fn solve_http(
        &self,
        order: &mut instant_acme::Order,
        challenges: &[Challenge],
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<Attempt, Failure> {
        // Long enough for the whole validation (the ACME timeout) and a slow CA, short
        // enough that a dead worker's answers are not served for long.
        let expires_at =
            OffsetDateTime::now_utc() + self.config.acme.timeout + CHALLENGE_TTL_MARGIN;
        let records: Vec<ChallengeRecord> = challenges
            .iter()
            .map(|c| ChallengeRecord {
                host: c.name.clone(),
                token: c.token.clone(),
                key_authorization: c.value.clone(),
                expires_at,
            })
            .collect();
        let mut publish = ChangeSet::new();
        for r in &records {
            publish.put_challenge(r);
        }
        let applied = self
            .store
            .apply(&publish)
            .await
            .map_err(|e| Failure(format!("publishing the HTTP-01 answers to Redis: {e}")))?;
        let solve = async {
            self.wait_for_proxies(applied.version).await;
            Ok::<_, Failure>(self.acme.complete(order, ChallengeType::Http01).await?)
        };
        let result = tokio::select! {
            r = solve => r.map(Attempt::Issued),
            _ = shutdown.wait_for(|stop| *stop) => Ok(Attempt::Interrupted),
        };
        let mut withdraw = ChangeSet::new();
        for r in &records {
            withdraw.delete_challenge(&r.name());
        }
        if let Err(e) = self.store.apply(&withdraw).await {
            tracing::warn!(error = %e, challenges = records.len(), "HTTP-01 answers not withdrawn from Redis; they expire by themselves at {expires_at}");
        }
        result
    }

    /// Waits (at most [`PROXY_APPLY_WAIT`]) until every live proxy reports having
    /// applied `version`, so the CA finds the answer whichever proxy it reaches. A proxy
    /// that is slower than that is not waited for: the CA may still reach another one,
    /// and its answer says which failed.
    async fn wait_for_proxies(&self, version: u64) {
        let deadline = tokio::time::Instant::now() + PROXY_APPLY_WAIT;
        loop {
            let behind: Vec<String> = match self.store.fleet().await {
                Ok(fleet) => fleet
                    .proxies
                    .into_iter()
                    .filter(|p| !p.stale && p.applied_version < version)
                    .map(|p| p.id)
                    .collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the proxies' status; not waiting for them to apply the HTTP-01 answers");
                    return;
                }
            };
            if behind.is_empty() {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    ?behind,
                    version,
                    "proxies have not applied the HTTP-01 answers yet; asking the CA to validate anyway"
                );
                return;
            }
            tokio::time::sleep(PROXY_APPLY_POLL).await;
        }
    }

    /// Creates the challenges' TXT records, logging each in the order's row before the
    /// create call and again with its id after it, so a worker killed at any moment
    /// leaves only records the next claimant can find. The one blind spot: a kill after
    /// the provider made a record but before its answer is written down leaves an entry
    /// without id, which the cleanup reports for removal by hand.
    async fn create_records(
        &self,
        order_id: Uuid,
        provider: &dyn DnsProvider,
        challenges: &[Challenge],
        created: &mut Vec<TxtRecord>,
    ) -> Result<(), Failure> {
        let mut logged: Vec<LoggedTxtRecord> = Vec::with_capacity(challenges.len());
        for ch in challenges {
            let zone = provider.find_zone(&ch.fqdn).await?;
            logged.push(LoggedTxtRecord::planned(&zone, &ch.fqdn, &ch.value));
            db::set_order_records(&self.db, order_id, &logged).await?;
            let record = provider.create_txt(&zone, &ch.fqdn, &ch.value).await?;
            // From here on this worker deletes it itself, whatever happens next.
            created.push(record.clone());
            if let Some(last) = logged.last_mut() {
                *last = LoggedTxtRecord::from(&record);
            }
            db::set_order_records(&self.db, order_id, &logged).await?;
        }
        Ok(())
    }

    async fn delete_records(&self, provider: &dyn DnsProvider, created: &[TxtRecord]) {
        for record in created {
            if let Err(e) = provider.delete_txt(record).await {
                self.metrics
                    .txt_cleanup_failures
                    .with_label_values(&[provider.name()])
                    .inc();
                tracing::error!(fqdn = %record.fqdn, id = %record.id, error = %e, "TXT record could not be deleted; remove it by hand");
            }
        }
    }

    /// A manual order on a later pass: issue once the operator's record is visible.
    async fn resume_manual(
        &self,
        work: &Work,
        account: &instant_acme::Account,
        url: &str,
    ) -> Result<Attempt, Failure> {
        let (mut order, challenges) = match self.acme.resume_order(account, url).await {
            Err(AcmeError::AccountUnknown { problem, .. }) => {
                // The order went with the account; the next attempt orders anew (a
                // failure clears the order URL) with a new account.
                self.acme.replace_account(&self.db, account).await?;
                return Err(Failure(format!(
                    "the ACME CA forgot the account this order was placed with ({problem}); \
                     registered a new account, the next attempt orders again"
                )));
            }
            resumed => resumed?,
        };
        let (name, values) = txt_set(&challenges);
        if challenges.is_empty() {
            return Ok(Attempt::Issued(
                self.acme.complete(&mut order, ChallengeType::Dns01).await?,
            ));
        }
        let zone = work.domain.clone();
        match self.propagation.check_once(&zone, &name, &values).await? {
            Ok(()) => Ok(Attempt::Issued(
                self.acme.complete(&mut order, ChallengeType::Dns01).await?,
            )),
            Err(seen) => {
                tracing::debug!(certificate = %work.id, %seen, "manual TXT record not visible yet");
                let next = OffsetDateTime::now_utc() + self.config.poll_every;
                db::record_manual_wait(&self.db, work.id, &name, &values.join("\n"), url, next)
                    .await?;
                Ok(Attempt::ManualWaiting)
            }
        }
    }

    /// Checks, stores (key sealed) and publishes a new certificate.
    async fn store_issued(
        &self,
        work: &Work,
        names: &[String],
        issued: crate::acme::Issued,
    ) -> Result<(), Failure> {
        let leaf = leaf_info(&issued.chain_pem).map_err(Failure)?;
        let missing: Vec<&String> = names
            .iter()
            .filter(|n| !leaf.dns_names.iter().any(|d| d.eq_ignore_ascii_case(n)))
            .collect();
        if !missing.is_empty() {
            return Err(Failure(format!(
                "the CA issued a certificate for {:?} that lacks {:?}",
                leaf.dns_names, missing
            )));
        }
        let sealed = self.acme.seal_key(&issued.key_pem)?;
        let renew_at = schedule::renewal_at(
            Some(leaf.not_before),
            Some(leaf.not_after),
            OffsetDateTime::now_utc(),
        );
        db::record_issued(
            &self.db,
            work.id,
            &issued.chain_pem,
            sealed,
            leaf.not_before,
            leaf.not_after,
            renew_at,
        )
        .await?;
        tracing::info!(certificate = %work.id, domain = %work.domain, not_after = %leaf.not_after, "certificate issued");
        let record = cert_record(
            &redis_name(&work.domain, work.hostname.as_deref()),
            names,
            &issued.chain_pem,
            &issued.key_pem,
            leaf.not_before,
            leaf.not_after,
        )?;
        if let Err(e) = self.publish(&[record]).await {
            tracing::error!(certificate = %work.id, error = %format!("{e:#}"), "certificate stored but not written to Redis; retrying every pass");
            self.unpublished.lock().await.insert(work.id);
            self.metrics.unpublished.inc();
        }
        Ok(())
    }

    async fn publish(&self, records: &[CertRecord]) -> anyhow::Result<()> {
        for batch in records.chunks(PUBLISH_BATCH) {
            let mut changes = ChangeSet::new();
            for r in batch {
                changes.put_cert(r);
            }
            self.store.apply(&changes).await?;
        }
        Ok(())
    }

    async fn retry_unpublished(&self) {
        if self
            .republish_all
            .swap(false, std::sync::atomic::Ordering::Relaxed)
            && let Err(e) = self.publish_all().await
        {
            tracing::warn!(error = %format!("{e:#}"), "Redis still refuses the certificates");
            self.republish_all
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let ids: Vec<Uuid> = self.unpublished.lock().await.iter().copied().collect();
        if ids.is_empty() {
            return;
        }
        match self.publish_ids(Some(&ids)).await {
            Ok(_) => {
                self.unpublished.lock().await.retain(|id| !ids.contains(id));
                self.metrics
                    .unpublished
                    .set(self.unpublished.lock().await.len() as i64);
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "Redis still refuses the certificates")
            }
        }
    }

    /// Writes every stored certificate to Redis (at start, and after a change of Redis
    /// server: heals a Redis that lost them); how many it wrote.
    pub async fn publish_all(&self) -> anyhow::Result<usize> {
        self.publish_ids(None).await
    }

    async fn publish_ids(&self, ids: Option<&[Uuid]>) -> anyhow::Result<usize> {
        let rows = db::stored_certificates(&self.db, ids).await?;
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            let key_pem = self
                .acme
                .open_key(&row.key_ciphertext)
                .with_context(|| format!("certificate of {}", row.domain))?;
            let names = if row.names.is_empty() {
                vec![format!("*.{}", row.domain), row.domain.clone()]
            } else {
                row.names
            };
            match cert_record(
                &redis_name(&row.domain, row.hostname.as_deref()),
                &names,
                &row.chain_pem,
                &key_pem,
                row.not_before,
                row.not_after,
            ) {
                Ok(r) => records.push(r),
                Err(Failure(e)) => {
                    tracing::error!(domain = %row.domain, error = %e, "stored certificate cannot be published")
                }
            }
        }
        self.publish(&records).await?;
        Ok(records.len())
    }
}

/// Certificates per Redis write batch while republishing.
const PUBLISH_BATCH: usize = 500;

/// How long an HTTP-01 answer outlives the ACME timeout in Redis (its TTL).
pub const CHALLENGE_TTL_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

/// How long the worker waits for the live proxies to apply its HTTP-01 answers before it
/// asks the CA to validate: proxies apply a change within milliseconds and report it
/// within their status debounce (250 ms); ten seconds covers a busy proxy.
pub const PROXY_APPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
const PROXY_APPLY_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// How a certificate's challenges are answered ([`Worker::method`]).
enum Method {
    /// HTTP-01, by every proxy from the answers published in Redis.
    Http,
    /// DNS-01, through the domain's credential.
    Dns(Solver),
}

impl Method {
    fn challenge_type(&self) -> ChallengeType {
        match self {
            Method::Http => ChallengeType::Http01,
            Method::Dns(_) => ChallengeType::Dns01,
        }
    }
}

enum Attempt {
    Issued(crate::acme::Issued),
    ManualWaiting,
    Interrupted,
}

/// The record name and values of an order's challenges (all at `_acme-challenge.<domain>`).
fn txt_set(challenges: &[Challenge]) -> (String, Vec<String>) {
    let name = challenges
        .first()
        .map(|c| c.fqdn.clone())
        .unwrap_or_default();
    (name, challenges.iter().map(|c| c.value.clone()).collect())
}

/// The name a certificate is stored under in Redis: `*.<domain>` for a domain's
/// wildcard (the proxy picks it for both `*.<domain>` and `<domain>`), the hostname
/// itself for a per-host certificate (exact beats wildcard at the proxy).
fn redis_name(domain: &str, hostname: Option<&str>) -> String {
    match hostname {
        Some(host) => host.to_owned(),
        None => format!("*.{domain}"),
    }
}

/// The Redis record of a certificate stored under `name` ([`redis_name`]).
fn cert_record(
    name: &str,
    names: &[String],
    chain_pem: &str,
    key_pem: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertRecord, Failure> {
    let name = HostPattern::parse(name).map_err(|e| Failure(format!("certificate {name}: {e}")))?;
    let names = names
        .iter()
        .map(|n| HostPattern::parse(n).map_err(|e| Failure(format!("name {n}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CertRecord {
        name,
        names,
        chain_pem: chain_pem.to_owned(),
        key_pem: key_pem.to_owned(),
        not_before,
        not_after,
        source: switchyard_shared::certs::CertSource::Issued,
    })
}
