//! `switchyard-db` — the PostgreSQL connection of `panel-api` and `cert-worker`, with
//! failover to a new primary.
//!
//! sqlx (the driver under sea-orm) takes one host per URL: sqlx-postgres 0.9's
//! `PgConnectOptions::parse_from_url` reads `url.host_str()` and `url.port()` once (a
//! libpq host list such as `h1:5432,h2:5433` does not even parse as a URL) and drops
//! `target_session_attrs` with "ignoring unrecognized connect parameter"; multi-host
//! failover is an open feature request there (launchbadge/sqlx#2290). This crate reads
//! the libpq form ([`DatabaseUrl`]) and keeps one sqlx pool on a host that fits
//! `target_session_attrs`:
//!
//! - [`Database::connect`] tries the hosts in order and opens the pool on the first that
//!   answers and fits (for `read-write`: `pg_is_in_recovery()` false and
//!   `transaction_read_only` off).
//! - [`Database::check`] is the services' one liveness probe: it asks the pool's host the
//!   same question, and when that host is gone or no longer fits (a standby, or a
//!   demoted primary), tries the hosts in order again — at once, then with backoff while
//!   none fits — and points the pool at the first that does. Connections opened before
//!   the switch are dropped as they come back, never handed out again. The
//!   [`DatabaseConnection`] the services hold stays the same value: no restart, no
//!   rebuilt state.
//! - [`unavailable`] says whether a query's error means "this server cannot serve us
//!   now" (unreachable, shutting down, or read-only after a switch: SQLSTATE 25006),
//!   so a service answers 503 instead of 500 and its next check moves on.
//!
//! [`entity`] is the sea-orm model of every application table, written once for both.
//!
//! Shared by both services so they read `DATABASE_URL` and fail over the same way. It
//! must never print a password: errors name the field ([`UrlError`]) and logs carry
//! hosts only.

#![forbid(unsafe_code)]

pub mod entity;

pub mod url;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{DatabaseConnection, DbErr, RuntimeErr};

pub use url::{DatabaseUrl, Host, TargetSessionAttrs, UrlError};

/// How long [`Database::check`] waits for the pool's host to answer before trying the
/// others: the services probe once a second, and a host that takes longer than this to
/// say `SELECT` is as good as down for an API answering in milliseconds.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// The first wait before trying the host list again when no host fits, doubled after
/// each fruitless round up to [`RETRY_MAX`]: a standby's promotion takes a few seconds,
/// and hosts that refuse should not be hammered every second for the whole outage.
pub const RETRY_FIRST: Duration = Duration::from_millis(500);
/// The longest wait between rounds over the host list: also the longest a service stays
/// degraded after a new primary is ready.
pub const RETRY_MAX: Duration = Duration::from_secs(4);

/// How the pool is sized and how long connecting may take.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a query waits for a connection from the pool (sea-orm's
    /// `connect_timeout`/`acquire_timeout`, which sqlx treats as one).
    pub acquire_timeout: Duration,
    /// How long trying one host of the list may take (connect, authenticate, ask its
    /// role), so an unreachable first host does not hide the second.
    pub host_timeout: Duration,
}

/// No host of the URL answered and fitted: each host with what it said.
#[derive(Debug, thiserror::Error)]
#[error("no PostgreSQL host fits target_session_attrs={target}: {}", .reasons.join("; "))]
pub struct NoHost {
    pub target: &'static str,
    /// `host:port: why`, one per host, in order.
    pub reasons: Vec<String>,
}

/// The pool, the hosts it may move between, and what it knows of them.
#[derive(Clone)]
pub struct Database {
    connection: DatabaseConnection,
    pool: PgPool,
    shared: Arc<Shared>,
}

struct Shared {
    hosts: Vec<(Host, PgConnectOptions)>,
    target: TargetSessionAttrs,
    host_timeout: Duration,
    state: Mutex<State>,
    /// One round over the host list at a time; a second caller waits and sees its result.
    switching: tokio::sync::Mutex<()>,
    /// When the pool last moved to another host: connections older than this belong to
    /// the previous one (shared with the pool's `before_acquire`).
    switched_at: Arc<Mutex<Instant>>,
}

struct State {
    /// Index into `hosts` of the pool's host.
    current: usize,
    /// Not before this instant is the host list tried again (backoff while none fits).
    retry_at: Option<Instant>,
    retry_delay: Duration,
    /// Rounds that moved the pool to another host.
    switches: u64,
}

/// What the server behind a connection is.
#[derive(Debug, Clone, Copy)]
struct Role {
    in_recovery: bool,
    read_only: bool,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.in_recovery, self.read_only) {
            (true, _) => f.write_str("a standby (in recovery)"),
            (false, true) => f.write_str("read-only (default_transaction_read_only is on)"),
            (false, false) => f.write_str("read-write"),
        }
    }
}

const ROLE_QUERY: &str =
    "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'";

async fn role<'c, E>(executor: E) -> Result<Role, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    let (in_recovery, read_only): (bool, bool) =
        sqlx::query_as(ROLE_QUERY).fetch_one(executor).await?;
    Ok(Role {
        in_recovery,
        read_only,
    })
}

impl Database {
    /// Tries the URL's hosts in order and opens the pool on the first that answers and
    /// fits `target_session_attrs`; [`NoHost`] says what each one answered.
    pub async fn connect(url: &DatabaseUrl, settings: PoolSettings) -> Result<Database, NoHost> {
        let hosts = url.connect_options().map_err(|e| NoHost {
            target: url.target_session_attrs().as_str(),
            reasons: vec![e.to_string()],
        })?;
        let target = url.target_session_attrs();
        let (current, _) = first_fit(&hosts, target, settings.host_timeout).await?;
        let switched_at = Arc::new(Mutex::new(Instant::now()));
        let cutoff = switched_at.clone();
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // An idle connection is pinged before it is handed out (sqlx's default, kept
            // explicit): one to a host that went away is dropped, not given to a query.
            .test_before_acquire(true)
            .before_acquire(move |_, meta| {
                // Opened before the pool last moved: it talks to the old host.
                let opened = Instant::now().checked_sub(meta.age);
                let switched = *cutoff.lock().expect("never poisoned");
                let current = opened.is_none_or(|opened| opened >= switched);
                Box::pin(async move { Ok(current) })
            })
            .connect_with(hosts[current].1.clone())
            .await
            .map_err(|e| NoHost {
                target: target.as_str(),
                reasons: vec![format!("{}: {}", hosts[current].0, describe(&e))],
            })?;
        if hosts.len() > 1 {
            tracing::info!(
                host = %hosts[current].0,
                target_session_attrs = target.as_str(),
                "PostgreSQL: connected to the first host that fits"
            );
            if target == TargetSessionAttrs::Any {
                tracing::warn!(
                    "DATABASE_URL lists several hosts without target_session_attrs=read-write: a standby is as good as the primary, and writes fail on it"
                );
            }
        }
        Ok(Database {
            connection: DatabaseConnection::from(pool.clone()),
            pool,
            shared: Arc::new(Shared {
                hosts,
                target,
                host_timeout: settings.host_timeout,
                state: Mutex::new(State {
                    current,
                    retry_at: None,
                    retry_delay: RETRY_FIRST,
                    switches: 0,
                }),
                switching: tokio::sync::Mutex::new(()),
                switched_at,
            }),
        })
    }

    /// The sea-orm handle on the pool: the same value for the whole life of the
    /// process, whichever host the pool is on.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    /// The host the pool opens connections to now.
    pub fn current_host(&self) -> Host {
        let state = self.shared.state.lock().expect("never poisoned");
        self.shared.hosts[state.current].0.clone()
    }

    /// How many times the pool moved to another host since it was opened.
    pub fn switches(&self) -> u64 {
        self.shared.state.lock().expect("never poisoned").switches
    }

    /// The liveness probe: `true` when the pool's host answers (within
    /// [`PROBE_TIMEOUT`]) and fits `target_session_attrs`. Otherwise the hosts are
    /// tried in order — at once the first time, then no more often than the backoff
    /// allows — and the pool moves to the first that fits; `true` if one did.
    pub async fn check(&self) -> bool {
        let target = self.shared.target;
        let (why, wrong_role) = match tokio::time::timeout(PROBE_TIMEOUT, role(&self.pool)).await {
            Ok(Ok(role)) if target.accepts(role.in_recovery, role.read_only) => {
                let mut state = self.shared.state.lock().expect("never poisoned");
                state.retry_at = None;
                state.retry_delay = RETRY_FIRST;
                return true;
            }
            Ok(Ok(role)) => (role.to_string(), true),
            Ok(Err(e)) => (describe(&e), false),
            Err(_) => (format!("no answer within {PROBE_TIMEOUT:?}"), false),
        };
        self.fail_over(&why, wrong_role).await
    }

    /// One round over the host list, unless the backoff says not yet. `wrong_role`: the
    /// pool's connection answered, as a server that does not fit.
    async fn fail_over(&self, why: &str, wrong_role: bool) -> bool {
        let shared = &self.shared;
        let switches_before = self.switches();
        let _round = shared.switching.lock().await;
        {
            let state = shared.state.lock().expect("never poisoned");
            if state.switches != switches_before {
                // Another caller moved the pool while this one waited.
                return true;
            }
            if state.retry_at.is_some_and(|at| Instant::now() < at) {
                return false;
            }
        }
        let from = self.current_host();
        match first_fit(&shared.hosts, shared.target, shared.host_timeout).await {
            Ok((index, role)) => {
                let mut state = shared.state.lock().expect("never poisoned");
                state.retry_at = None;
                state.retry_delay = RETRY_FIRST;
                // A pool connection answered as the wrong role (one opened to the old
                // host just as the pool last moved, or a server demoted under it): none
                // opened before now is handed out again, even when the host that fits
                // is the pool's own. (Broken connections need no such help: the ping
                // before each acquire drops them.)
                // New options first: a connection opened after the cut-off is to the
                // new host.
                if index != state.current {
                    self.pool.set_connect_options(shared.hosts[index].1.clone());
                }
                if wrong_role || index != state.current {
                    *shared.switched_at.lock().expect("never poisoned") = Instant::now();
                }
                if index != state.current {
                    state.current = index;
                    state.switches += 1;
                    tracing::warn!(
                        from = %from,
                        to = %shared.hosts[index].0,
                        reason = why,
                        role = %role,
                        "PostgreSQL: moved to another host"
                    );
                }
                true
            }
            Err(none) => {
                let mut state = shared.state.lock().expect("never poisoned");
                let delay = state.retry_delay;
                state.retry_at = Some(Instant::now() + delay);
                state.retry_delay = (delay * 2).min(RETRY_MAX);
                if shared.hosts.len() > 1 {
                    tracing::warn!(
                        host = %from,
                        reason = why,
                        hosts = %none.reasons.join("; "),
                        retry_in_ms = delay.as_millis() as u64,
                        "PostgreSQL: no host fits target_session_attrs={}",
                        none.target
                    );
                }
                false
            }
        }
    }

    /// Closes the pool's connections (at shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The first host (in order) that answers within `timeout` and fits `target`.
async fn first_fit(
    hosts: &[(Host, PgConnectOptions)],
    target: TargetSessionAttrs,
    timeout: Duration,
) -> Result<(usize, Role), NoHost> {
    let mut reasons = Vec::new();
    for (index, (host, options)) in hosts.iter().enumerate() {
        match tokio::time::timeout(timeout, probe(options)).await {
            Ok(Ok(role)) if target.accepts(role.in_recovery, role.read_only) => {
                return Ok((index, role));
            }
            Ok(Ok(role)) => reasons.push(format!("{host}: {role}")),
            Ok(Err(e)) => reasons.push(format!("{host}: {}", describe(&e))),
            Err(_) => reasons.push(format!("{host}: no answer within {timeout:?}")),
        }
    }
    Err(NoHost {
        target: target.as_str(),
        reasons,
    })
}

/// Connects to one host outside the pool and asks its role.
async fn probe(options: &PgConnectOptions) -> Result<Role, sqlx::Error> {
    let mut connection = PgConnection::connect_with(options).await?;
    let found = role(&mut connection).await;
    connection.close().await.ok();
    found
}

/// An sqlx error in words, without the "error communicating with database" noise
/// where the cause says it; never holds a password (sqlx does not put one in errors).
fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (SQLSTATE {code})", db.message()),
            None => db.message().to_owned(),
        },
        other => other.to_string(),
    }
}

/// SQLSTATE `25006` read_only_sql_transaction: a write reached a server that takes none
/// — a standby, or the old primary after a switch.
pub const READ_ONLY_SQL_TRANSACTION: &str = "25006";

/// Whether `e` means the server cannot serve this service now, rather than that the
/// statement was wrong: no connection (pool timeout, I/O, refused), the server shutting
/// down or starting (SQLSTATE class 08, 57P01–57P03), or read-only
/// ([`READ_ONLY_SQL_TRANSACTION`]). Such a failure is a 503 for the panel, and the next
/// [`Database::check`] moves the pool if another host fits.
pub fn unavailable(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => {
            sqlx_unavailable(s)
        }
        _ => false,
    }
}

fn sqlx_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code == READ_ONLY_SQL_TRANSACTION
                || code.starts_with("08")
                || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_and_read_only_are_unavailable_statement_errors_are_not() {
        let io = DbErr::Query(RuntimeErr::SqlxError(Arc::new(sqlx::Error::Io(
            std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        ))));
        assert!(unavailable(&io));
        assert!(unavailable(&DbErr::Exec(RuntimeErr::SqlxError(Arc::new(
            sqlx::Error::PoolTimedOut
        )))));
        assert!(!unavailable(&DbErr::RecordNotFound("x".into())));
        assert!(!unavailable(&DbErr::Query(RuntimeErr::SqlxError(
            Arc::new(sqlx::Error::RowNotFound)
        ))));
    }
}
