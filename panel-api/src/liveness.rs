//! Is PostgreSQL up? The one monitor that answers it for the whole panel.
//!
//! [`Liveness`] owns the pool's host list and its probe ([`Liveness::probe`]: does the
//! pool's host answer within a second and take writes; when not, the pool moves to the
//! next host of `DATABASE_URL` that does — a new primary after a failover), the flag
//! every request reads ([`Liveness::db_up`]: degraded mode while it is false), and since
//! when each store has been failing ([`Outages`], for `/health`). The probe runs every
//! [`DB_PROBE_EVERY`] in the background and on each `/health`; a request that finds
//! PostgreSQL unreachable clears the flag at once ([`Liveness::set_db_up`]), so the
//! next requests go straight to degraded mode instead of waiting out a connect timeout.
//!
//! It must never decide what degraded mode serves (the services do), and never hold a
//! request up: reading the flag is one atomic load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the background watch asks PostgreSQL whether it is there.
pub const DB_PROBE_EVERY: Duration = Duration::from_secs(1);

/// What watches PostgreSQL (and remembers Redis's outages) for one panel instance.
pub struct Liveness {
    database: switchyard_db::Database,
    up: AtomicBool,
    outages: Outages,
}

impl Liveness {
    /// Up until a probe or a request says otherwise.
    pub fn new(database: switchyard_db::Database) -> Self {
        Liveness {
            database,
            up: AtomicBool::new(true),
            outages: Outages::default(),
        }
    }

    /// The pool's host list, whose probe moves the pool to a new primary.
    pub fn database(&self) -> &switchyard_db::Database {
        &self.database
    }

    /// Whether PostgreSQL answered lately.
    pub fn db_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Sets the flag (and its outage record); logs when degraded mode starts or ends.
    pub fn set_db_up(&self, up: bool) {
        self.outages.note(Dependency::Postgres, up);
        let was = self.up.swap(up, Ordering::Relaxed);
        if was != up {
            if up {
                tracing::info!("PostgreSQL answers again: leaving degraded mode");
            } else {
                tracing::warn!(
                    "PostgreSQL is unreachable: degraded mode (reads from Redis, writes 503)"
                );
            }
        }
    }

    /// The panel's one PostgreSQL liveness probe ([`switchyard_db::Database::check`]),
    /// which follows a failover to a new primary. Notes the outage; leaves the flag to
    /// the caller (the watch sets it once queued logouts are recorded).
    pub async fn probe(&self) -> bool {
        let up = self.database.check().await;
        self.outages.note(Dependency::Postgres, up);
        up
    }

    /// Since when each store has been failing.
    pub fn outages(&self) -> &Outages {
        &self.outages
    }
}

/// Since when each store has been failing, as this instance saw it: the first failure
/// after it last answered. Cleared as soon as it answers again.
#[derive(Debug, Default)]
pub struct Outages {
    postgres: std::sync::Mutex<Option<time::OffsetDateTime>>,
    redis: std::sync::Mutex<Option<time::OffsetDateTime>>,
}

/// One of the stores [`Outages`] follows.
#[derive(Debug, Clone, Copy)]
pub enum Dependency {
    Postgres,
    Redis,
}

impl Outages {
    fn slot(&self, store: Dependency) -> &std::sync::Mutex<Option<time::OffsetDateTime>> {
        match store {
            Dependency::Postgres => &self.postgres,
            Dependency::Redis => &self.redis,
        }
    }

    /// Notes that `store` answered (`up`) or failed now; returns since when it is down
    /// (`None` while up).
    pub fn note(&self, store: Dependency, up: bool) -> Option<time::OffsetDateTime> {
        let mut since = self.slot(store).lock().expect("never poisoned");
        if up {
            *since = None;
        } else if since.is_none() {
            *since = Some(time::OffsetDateTime::now_utc());
        }
        *since
    }

    /// Since when `store` is down, if it is.
    pub fn since(&self, store: Dependency) -> Option<time::OffsetDateTime> {
        *self.slot(store).lock().expect("never poisoned")
    }
}
