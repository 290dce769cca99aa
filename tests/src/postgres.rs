//! Per-test PostgreSQL databases.
//!
//! [`TestDatabase::create`] makes a fresh, empty database named `sy_test_<uuid>` on the
//! server given by `SWITCHYARD_TEST_DATABASE_URL` (an admin connection URL, default
//! `postgres://postgres@127.0.0.1:5432/postgres`); [`TestDatabase::url`] points at it.
//! Finish a test with [`TestDatabase::drop_now`] to see cleanup errors. If the test never
//! gets there — an assertion panics, a `?` returns early — dropping the value removes the
//! database anyway, so a failing run does not leak databases (only a killed process can;
//! their `sy_test_` names make them easy to find).
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use switchyard_tests::postgres::TestDatabase;
//!
//! let database = TestDatabase::create().await?;
//! let db = database.connect().await?;
//! // ... run migrations, exercise the service against `database.url()` ...
//! db.close().await?;
//! database.drop_now().await?;
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use anyhow::Context as _;
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection};
use uuid::Uuid;

/// Environment variable naming the admin connection URL; its database is only used to
/// run `CREATE DATABASE`/`DROP DATABASE`.
pub const ADMIN_URL_ENV: &str = "SWITCHYARD_TEST_DATABASE_URL";

/// The project machines' Postgres: local, trust auth.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Every test database's name starts with this, so leftovers are recognisable.
pub const DATABASE_NAME_PREFIX: &str = "sy_test_";

/// Long enough for a busy CI machine, short enough that a stopped server fails the test
/// quickly instead of hanging it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections per pool from [`TestDatabase::connect`]: tests run in parallel against one
/// server, and none needs more than a few at once.
const TEST_POOL_SIZE: u32 = 4;

/// A database that exists for one test and is dropped after it.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
    /// Set once cleanup has been attempted, so `Drop` does not try again.
    dropped: bool,
}

impl TestDatabase {
    /// Creates a fresh database on the server named by `SWITCHYARD_TEST_DATABASE_URL`.
    pub async fn create() -> anyhow::Result<Self> {
        let admin_url =
            std::env::var(ADMIN_URL_ENV).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        Self::create_on(&admin_url).await
    }

    /// Creates a fresh database on the server behind `admin_url`.
    pub async fn create_on(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("{DATABASE_NAME_PREFIX}{}", Uuid::new_v4().simple());
        let url = database_url(admin_url, &name)?;
        let admin = connect_admin(admin_url).await?;
        let created = admin
            .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
            .await;
        // Close before reporting, so a failure does not leave the admin pool behind.
        admin.close().await.ok();
        created.with_context(|| format!("creating test database {name}"))?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
            dropped: false,
        })
    }

    /// The database's name (`sy_test_<uuid>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connection URL of this database: the admin URL with the database name replaced.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Opens a small connection pool to this database, without statement logging.
    pub async fn connect(&self) -> anyhow::Result<DatabaseConnection> {
        let mut options = ConnectOptions::new(self.url.clone());
        options
            .max_connections(TEST_POOL_SIZE)
            .connect_timeout(CONNECT_TIMEOUT)
            .acquire_timeout(CONNECT_TIMEOUT)
            .sqlx_logging(false);
        Database::connect(options)
            .await
            .with_context(|| format!("connecting to test database {}", self.name))
    }

    /// Drops the database now, terminating any connection still open to it, and reports
    /// failure (which `Drop` can only print).
    pub async fn drop_now(mut self) -> anyhow::Result<()> {
        self.dropped = true;
        drop_database(&self.admin_url, &self.name).await
    }
}

impl Drop for TestDatabase {
    /// Best-effort cleanup when a test ends without [`TestDatabase::drop_now`], typically
    /// because it panicked. `Drop` cannot await, and it may run on a runtime thread (where
    /// blocking on that runtime would deadlock) or outside any runtime, so the `DROP`
    /// runs on a thread of its own with a one-thread runtime, and this waits for it.
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        self.dropped = true;
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || -> anyhow::Result<()> {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting a runtime for cleanup")?
                .block_on(drop_database(&admin_url, &name))
        });
        // Never panic here: this may already be unwinding from a failed assertion.
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("test database {} was not dropped: {error:#}", self.name),
            Err(_) => eprintln!(
                "test database {} was not dropped: cleanup panicked",
                self.name
            ),
        }
    }
}

/// `DROP DATABASE ... WITH (FORCE)` (Postgres 13+) terminates the sessions still
/// connected to it first, such as a pool the test did not close.
async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let admin = connect_admin(admin_url).await?;
    let dropped = admin
        .execute_unprepared(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
        .await;
    admin.close().await.ok();
    dropped.with_context(|| format!("dropping test database {name}"))?;
    Ok(())
}

/// One connection to the admin database: all it does is create and drop databases.
async fn connect_admin(admin_url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(admin_url.to_owned());
    options
        .max_connections(1)
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(CONNECT_TIMEOUT)
        .sqlx_logging(false);
    Database::connect(options).await.with_context(|| {
        format!(
            "connecting to the test Postgres server ({ADMIN_URL_ENV}, default {DEFAULT_ADMIN_URL})"
        )
    })
}

/// `admin_url` with its path (the database name) replaced by `name`; user, host, port
/// and query parameters (e.g. `sslmode`) are kept.
fn database_url(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(admin_url)
        .with_context(|| format!("{ADMIN_URL_ENV} is not a URL: {admin_url}"))?;
    url.set_path(&format!("/{name}"));
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_replaces_only_the_database_name() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "sy_test_1").unwrap(),
            "postgres://postgres@127.0.0.1:5432/sy_test_1"
        );
        assert_eq!(
            database_url("postgres://u:p@db:6543/admin?sslmode=require", "sy_test_2").unwrap(),
            "postgres://u:p@db:6543/sy_test_2?sslmode=require"
        );
        assert_eq!(
            database_url("postgres://postgres@localhost", "sy_test_3").unwrap(),
            "postgres://postgres@localhost/sy_test_3"
        );
    }
}
