//! A private PostgreSQL primary with a streaming standby, for failover tests.
//!
//! [`PostgresPair::start`] runs `initdb` into a fresh temporary directory, starts the
//! primary on 127.0.0.1, clones it with `pg_basebackup -R` (a standby that streams from
//! it) and starts that, each on a port of its own. A test can then stop the primary
//! the hard way ([`PostgresPair::stop_primary`]: `pg_ctl stop -m immediate`, a crash as
//! far as clients can tell) and promote the standby ([`PostgresPair::promote_standby`]).
//! Dropping the value stops both servers and removes the directory (unless
//! `SWITCHYARD_TEST_KEEP=1`).
//!
//! - **Binaries**: `SWITCHYARD_TEST_PG_BIN`, or Debian's `/usr/lib/postgresql/<newest>/bin`
//!   (package `postgresql`).
//! - **Root**: PostgreSQL refuses to run as root, and CI runs tests as root. Then every
//!   server command runs as the `postgres` OS user (`runuser -u postgres --`), and the
//!   directory is owned by it; as any other user they run as that user.
//! - **Ports**: PostgreSQL cannot listen on port 0 and report the port it got, so the
//!   pair tries a port and, when the server says the address is in use, tries another —
//!   never a "free port" checked beforehand that another test could take in between.
//!   Candidates come from below Linux's ephemeral range (32768+), where the port-0 binds
//!   of other tests never land.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection};

/// Directory of `initdb`, `pg_ctl`, `pg_basebackup`.
pub const PG_BIN_ENV: &str = "SWITCHYARD_TEST_PG_BIN";

/// Ports tried for the servers: below the kernel's ephemeral range.
const PORTS: std::ops::Range<u16> = 20_000..32_000;
/// Attempts at a port before giving up (each failing only if the port was taken).
const PORT_ATTEMPTS: usize = 20;
/// How long `pg_ctl` may take to start, stop or promote a server on a loaded machine.
const PG_CTL_WAIT_SECS: &str = "60";

/// One of the pair's servers.
#[derive(Debug)]
struct Server {
    data: PathBuf,
    log: PathBuf,
    port: u16,
    running: bool,
}

/// A primary and its streaming standby, private to one test.
pub struct PostgresPair {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
    primary: Server,
    standby: Server,
}

impl std::fmt::Debug for PostgresPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresPair")
            .field("dir", &self.dir)
            .field("primary", &self.primary)
            .field("standby", &self.standby)
            .finish()
    }
}

impl PostgresPair {
    /// initdb, primary up, base backup, standby up and streaming.
    pub async fn start() -> anyhow::Result<PostgresPair> {
        let bin = pg_bin()?;
        let as_postgres = running_as_root()?;
        let dir = std::env::temp_dir().join(format!("sy-pgpair-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut pair = PostgresPair {
            primary: Server {
                data: dir.join("primary"),
                log: dir.join("primary.log"),
                port: 0,
                running: false,
            },
            standby: Server {
                data: dir.join("standby"),
                log: dir.join("standby.log"),
                port: 0,
                running: false,
            },
            bin,
            dir,
            as_postgres,
        };
        // From here on, dropping `pair` cleans up whatever was made.
        pair.set_up().await?;
        Ok(pair)
    }

    async fn set_up(&mut self) -> anyhow::Result<()> {
        if self.as_postgres {
            run_sync(
                Command::new("chown").args(["postgres:postgres", &self.dir.to_string_lossy()]),
            )?;
        }
        let data = self.primary.data.to_string_lossy().into_owned();
        self.pg(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        )
        .await
        .context("initdb")?;
        // Streaming replication on; everything else small and quick. The socket goes into
        // the pair's own directory, never the system's.
        let conf = format!(
            "\n# switchyard-tests PostgresPair\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nwal_level = replica\nmax_wal_senders = 4\n\
             hot_standby = on\nfsync = off\nfull_page_writes = off\nshared_buffers = 16MB\n\
             max_connections = 40\n",
            self.dir.display()
        );
        append(&self.primary.data.join("postgresql.conf"), &conf)?;
        self.start_server(Role::Primary).await?;
        let standby = self.standby.data.to_string_lossy().into_owned();
        let port = self.primary.port.to_string();
        self.pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                &standby,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        )
        .await
        .context("pg_basebackup")?;
        self.start_server(Role::Standby).await?;
        Ok(())
    }

    /// `postgres://postgres@127.0.0.1:<primary port>/<database>`
    pub fn primary_url(&self, database: &str) -> String {
        url(self.primary.port, database)
    }

    /// `postgres://postgres@127.0.0.1:<standby port>/<database>`
    pub fn standby_url(&self, database: &str) -> String {
        url(self.standby.port, database)
    }

    /// The URL a service gets: both hosts, primary first, in libpq's multi-host form
    /// with `target_session_attrs=read-write`.
    pub fn multi_host_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{database}?target_session_attrs=read-write",
            self.primary.port, self.standby.port
        )
    }

    /// Creates a database on the primary (it reaches the standby by replication).
    pub async fn create_database(&self, name: &str) -> anyhow::Result<()> {
        let admin = connect(&self.primary_url("postgres")).await?;
        let made = admin
            .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
            .await;
        admin.close().await.ok();
        made.with_context(|| format!("creating database {name}"))?;
        Ok(())
    }

    /// Waits until the standby has replayed everything the primary has written so far
    /// (`pg_last_wal_replay_lsn()` on the standby ≥ `pg_current_wal_lsn()` on the
    /// primary, read now): after this, nothing committed on the primary is missing on
    /// the standby, without synchronous replication.
    pub async fn wait_standby_replayed(&self, deadline: Duration) -> anyhow::Result<()> {
        let primary = connect(&self.primary_url("postgres")).await?;
        let row = primary
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_current_wal_lsn()::text AS lsn",
            ))
            .await?
            .context("pg_current_wal_lsn")?;
        primary.close().await.ok();
        let lsn: String = row.try_get("", "lsn")?;
        let standby = connect(&self.standby_url("postgres")).await?;
        let sql = format!(
            "SELECT coalesce(pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn, false) AS done, \
             coalesce(pg_last_wal_replay_lsn()::text, 'none') AS at"
        );
        let standby_ref = &standby;
        let sql_ref = &sql;
        let waited = crate::eventually::eventually(
            deadline,
            &format!("the standby replays up to the primary's {lsn}"),
            || async move {
                let row = standby_ref
                    .query_one_raw(sea_orm::Statement::from_string(
                        sea_orm::DbBackend::Postgres,
                        sql_ref.clone(),
                    ))
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("no row")?;
                let done: bool = row.try_get("", "done").map_err(|e| e.to_string())?;
                let at: String = row.try_get("", "at").map_err(|e| e.to_string())?;
                if done {
                    Ok(())
                } else {
                    Err(format!("replayed up to {at}"))
                }
            },
        )
        .await;
        standby.close().await.ok();
        waited
    }

    /// Stops the primary at once (`pg_ctl stop -m immediate`): no shutdown checkpoint,
    /// connections cut — to its clients, a crash.
    pub async fn stop_primary(&mut self) -> anyhow::Result<()> {
        let data = self.primary.data.to_string_lossy().into_owned();
        self.primary.running = false;
        self.pg_ctl(&[
            "stop",
            "-D",
            &data,
            "-m",
            "immediate",
            "-w",
            "-t",
            PG_CTL_WAIT_SECS,
        ])
        .await
        .context("stopping the primary")?;
        Ok(())
    }

    /// Promotes the standby to a primary (`pg_ctl promote`, waiting until it takes
    /// writes).
    pub async fn promote_standby(&mut self) -> anyhow::Result<()> {
        let data = self.standby.data.to_string_lossy().into_owned();
        self.pg_ctl(&["promote", "-D", &data, "-w", "-t", PG_CTL_WAIT_SECS])
            .await
            .context("pg_ctl promote")?;
        Ok(())
    }

    /// The end of a server's log, for failure messages.
    pub fn log_tails(&self) -> String {
        let tail = |path: &Path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        format!(
            "primary log:\n{}\nstandby log:\n{}",
            tail(&self.primary.log),
            tail(&self.standby.log)
        )
    }

    fn server(&mut self, role: Role) -> &mut Server {
        match role {
            Role::Primary => &mut self.primary,
            Role::Standby => &mut self.standby,
        }
    }

    /// Starts a server on a port of its own: tries candidates until one is not in use.
    async fn start_server(&mut self, role: Role) -> anyhow::Result<()> {
        let mut last = String::new();
        for attempt in 0..PORT_ATTEMPTS {
            let port = candidate_port(attempt);
            let (data, log) = {
                let server = self.server(role);
                (
                    server.data.to_string_lossy().into_owned(),
                    server.log.to_string_lossy().into_owned(),
                )
            };
            // The log is truncated per attempt, so a retry's reason is its own.
            std::fs::write(&log, "").ok();
            if self.as_postgres {
                run_sync(Command::new("chown").args(["postgres:postgres", &log]))?;
            }
            let options = format!("-p {port}");
            let started = self
                .pg_ctl(&[
                    "start",
                    "-D",
                    &data,
                    "-l",
                    &log,
                    "-o",
                    &options,
                    "-w",
                    "-t",
                    PG_CTL_WAIT_SECS,
                ])
                .await;
            if started.is_ok() {
                let server = self.server(role);
                server.port = port;
                server.running = true;
                return Ok(());
            }
            last = std::fs::read_to_string(&log).unwrap_or_default();
            if !last.contains("could not bind") && !last.contains("already in use") {
                break;
            }
        }
        bail!("starting the {role:?} failed:\n{last}")
    }

    /// At drop: stops a server still running, without a runtime.
    fn stop_now(&mut self, role: Role) -> anyhow::Result<()> {
        let server = self.server(role);
        if !server.running {
            return Ok(());
        }
        let data = server.data.to_string_lossy().into_owned();
        server.running = false;
        run_sync(&mut self.command(
            "pg_ctl",
            &[
                "stop",
                "-D",
                &data,
                "-m",
                "immediate",
                "-w",
                "-t",
                PG_CTL_WAIT_SECS,
            ],
        ))
        .with_context(|| format!("stopping the {role:?}"))?;
        Ok(())
    }

    async fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.pg("pg_ctl", args).await
    }

    /// Runs a PostgreSQL program (as the `postgres` user when this is root).
    async fn pg(&self, program: &str, args: &[&str]) -> anyhow::Result<Output> {
        run(self.command(program, args)).await
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        command.args(args).current_dir(&self.dir);
        command
    }
}

impl Drop for PostgresPair {
    fn drop(&mut self) {
        for role in [Role::Standby, Role::Primary] {
            if let Err(e) = self.stop_now(role) {
                eprintln!("PostgresPair: {e:#}");
            }
        }
        if std::env::var("SWITCHYARD_TEST_KEEP").as_deref() != Ok("1") {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Role {
    Primary,
    Standby,
}

fn url(port: u16, database: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{database}")
}

/// A port to try: spread by process and attempt, so parallel tests rarely meet.
fn candidate_port(attempt: usize) -> u16 {
    let span = (PORTS.end - PORTS.start) as u128;
    let seed = uuid::Uuid::new_v4().as_u128() ^ attempt as u128;
    PORTS.start + (seed % span) as u16
}

async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .with_context(|| format!("connecting to {url}"))
}

fn pg_bin() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var(PG_BIN_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context(
            "no /usr/lib/postgresql: install Debian's postgresql or set SWITCHYARD_TEST_PG_BIN",
        )?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .context("no /usr/lib/postgresql/<version>/bin/initdb: install Debian's postgresql or set SWITCHYARD_TEST_PG_BIN")
}

fn running_as_root() -> anyhow::Result<bool> {
    let out = Command::new("id").arg("-u").output().context("id -u")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn append(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// Runs `command` without blocking the runtime, failing with its output when it fails.
async fn run(mut command: Command) -> anyhow::Result<Output> {
    command.stdin(Stdio::null());
    let what = format!("{command:?}");
    let out = tokio::process::Command::from(command)
        .output()
        .await
        .with_context(|| format!("running {what}"))?;
    checked(what, out)
}

/// [`run`] outside a runtime (drop, chown).
fn run_sync(command: &mut Command) -> anyhow::Result<Output> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {command:?}"))?;
    checked(format!("{command:?}"), out)
}

fn checked(command: String, out: Output) -> anyhow::Result<Output> {
    if !out.status.success() {
        bail!(
            "{command} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}
