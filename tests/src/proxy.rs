//! The one way tests start the real `switchyard-proxy` binary.
//!
//! [`ProxyOptions`] says how (Redis URL and key prefix, proxy id, HTTPS listener on or
//! off, a replica to read, extra flags, a working directory shared with an earlier
//! proxy, the upgrade of a running one); [`ProxyOptions::launch`] starts it on ports the
//! kernel picks (`127.0.0.1:0` for every listener) and reads the addresses it got from
//! its `proxy listening` log line ([`crate::process::ProxyListening`]), so no test ever guesses a free
//! port. Every proxy runs in a working directory of its own (snapshot file, upgrade
//! socket, logs), removed when the last proxy using it is dropped unless
//! `SWITCHYARD_TEST_KEEP=1`.
//!
//! ```no_run
//! # async fn example(redis_url: &str, prefix: &str) -> anyhow::Result<()> {
//! use switchyard_tests::proxy::ProxyOptions;
//! let proxy = ProxyOptions::new(redis_url, prefix).id("edge-1").local().launch().await?;
//! proxy.ready().await?; // a snapshot loaded
//! let (status, upstream) = proxy.route("app.example.test", "/").await.map_err(anyhow::Error::msg)?;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;

use crate::client::{self, Response};
use crate::eventually::eventually;
use crate::process::Service;

/// The proxy binary.
pub const BINARY: &str = "switchyard-proxy";

/// The port the proxy writes into its HTTPS redirects (`--https-redirect-port`). Only
/// written, never bound: the HTTPS listener's own port is known only once the proxy
/// reports it.
pub const HTTPS_REDIRECT_PORT: u16 = 8443;

/// How long a proxy may take to report its addresses or to become ready (debug builds
/// on a loaded 2-core machine).
pub const START_DEADLINE: Duration = Duration::from_secs(60);

/// Flags every test proxy gets unless the test sets the flag itself: no drain wait on
/// shutdown, a short wait for Redis at startup, quick active health checks.
const DEFAULTS: [(&str, &str); 4] = [
    ("--grace-secs", "0"),
    ("--drain-delay-ms", "0"),
    ("--startup-timeout-ms", "1000"),
    ("--health-check-ms", "200"),
];

/// A working directory, removed when the last proxy using it is gone.
#[derive(Debug)]
struct WorkDir {
    path: PathBuf,
    owned: bool,
}

impl WorkDir {
    fn fresh() -> anyhow::Result<WorkDir> {
        let path = std::env::temp_dir().join(format!("sy-proxy-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(WorkDir { path, owned: true })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.owned && std::env::var("SWITCHYARD_TEST_KEEP").as_deref() != Ok("1") {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// What the new process of an upgrade takes over from the old one.
#[derive(Debug, Clone)]
pub struct UpgradeFrom {
    pub http: SocketAddr,
    pub https: Option<SocketAddr>,
    pub admin: SocketAddr,
    pub upgrade_sock: PathBuf,
}

/// How to start a proxy; see the module docs.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    pub redis_url: String,
    pub prefix: String,
    /// `--proxy-id`; a fresh `test-<uuid>` if unset.
    pub id: Option<String>,
    /// An HTTPS listener (`--https-listen`), or `--local` (plain HTTP only).
    pub https: bool,
    /// `--redis-read-url`: a replica to read the routing data from.
    pub read_url: Option<String>,
    /// Further arguments, after the usual ones (a flag here replaces its default).
    pub extra: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Run in this directory (an earlier proxy's, to start on the snapshot file it left)
    /// instead of a fresh one.
    dir: Option<Arc<WorkDir>>,
    /// Take over the listeners of this running proxy (`--upgrade`).
    pub upgrade_from: Option<UpgradeFrom>,
}

impl ProxyOptions {
    /// A proxy on `redis_url` under `prefix`, with an HTTPS listener, in a fresh
    /// working directory.
    pub fn new(redis_url: &str, prefix: &str) -> Self {
        Self {
            redis_url: redis_url.to_owned(),
            prefix: prefix.to_owned(),
            id: None,
            https: true,
            read_url: None,
            extra: Vec::new(),
            env: Vec::new(),
            dir: None,
            upgrade_from: None,
        }
    }

    /// Options for the new process of a zero-downtime upgrade of `old`: the same
    /// listeners, directory and upgrade socket, and `--upgrade`.
    pub fn upgrade_of(old: &Proxy, redis_url: &str, prefix: &str) -> Self {
        let mut options = Self::new(redis_url, prefix).in_dir_of(old).arg("--upgrade");
        options.https = old.https.is_some();
        options.upgrade_from = Some(UpgradeFrom {
            http: old.http,
            https: old.https,
            admin: old.admin,
            upgrade_sock: old.upgrade_sock.clone(),
        });
        options
    }

    /// `--proxy-id`.
    pub fn id(mut self, id: &str) -> Self {
        self.id = Some(id.to_owned());
        self
    }

    /// `--local`: plain HTTP only, no HTTPS listener.
    pub fn local(mut self) -> Self {
        self.https = false;
        self
    }

    /// An HTTPS listener (the default of [`ProxyOptions::new`]; undoes
    /// [`ProxyOptions::local`]).
    pub fn https(mut self) -> Self {
        self.https = true;
        self
    }

    /// `--redis-read-url`: read the routing data from this replica; `redis_url` (the
    /// primary or its Sentinel set) then only takes the proxy's status.
    pub fn read_url(mut self, url: &str) -> Self {
        self.read_url = Some(url.to_owned());
        self
    }

    /// One more argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra.push(arg.to_owned());
        self
    }

    /// More arguments.
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.extra
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// An environment variable (`OTEL_BSP_SCHEDULE_DELAY`, …).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Start in `old`'s working directory: on the snapshot file it left.
    pub fn in_dir_of(mut self, old: &Proxy) -> Self {
        self.dir = Some(old.work_dir.clone());
        self
    }

    /// Start in `dir`, which the test owns (it is never removed by the harness).
    pub fn dir(mut self, dir: &Path) -> Self {
        self.dir = Some(Arc::new(WorkDir {
            path: dir.to_owned(),
            owned: false,
        }));
        self
    }

    /// The working directory this proxy will run in (created now if fresh).
    pub fn work_dir(&mut self) -> anyhow::Result<PathBuf> {
        if self.dir.is_none() {
            self.dir = Some(Arc::new(WorkDir::fresh()?));
        }
        Ok(self.dir.as_ref().expect("set above").path.clone())
    }

    /// Does `extra` set `flag` (as `--flag value` or `--flag=value`)?
    fn sets(&self, flag: &str) -> bool {
        self.extra
            .iter()
            .any(|a| a == flag || a.strip_prefix(flag).is_some_and(|r| r.starts_with('=')))
    }

    /// Starts the proxy and waits until it reports the addresses it listens on and its
    /// admin listener answers `/livez` (not until it is ready: see [`Proxy::ready`]).
    /// In upgrade mode the new process reports its addresses only once the old one has
    /// handed its listeners over, so the wait is until it waits on the upgrade socket.
    /// A proxy that exits first ends the wait at once, with its log in the error.
    pub async fn launch(mut self) -> anyhow::Result<Proxy> {
        let dir = self.work_dir()?;
        let work_dir = self.dir.clone().expect("work_dir sets it");
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        let (http, https, admin) = match &self.upgrade_from {
            Some(old) => (old.http, old.https, old.admin),
            None => (any_port, self.https.then_some(any_port), any_port),
        };
        let name = uuid::Uuid::new_v4().simple().to_string();
        let upgrade_sock = match &self.upgrade_from {
            Some(old) => old.upgrade_sock.clone(),
            None => dir.join(format!("upgrade-{name}.sock")),
        };
        let id = self.id.clone().unwrap_or_else(|| format!("test-{name}"));
        let mut args: Vec<String> = vec![
            "--http-listen".into(),
            http.to_string(),
            "--admin-listen".into(),
            admin.to_string(),
            "--redis-url".into(),
            self.redis_url.clone(),
            "--key-prefix".into(),
            self.prefix.clone(),
            "--snapshot-file".into(),
            dir.join("snapshot").display().to_string(),
            "--upgrade-sock".into(),
            upgrade_sock.display().to_string(),
            "--proxy-id".into(),
            id.clone(),
            "--https-redirect-port".into(),
            HTTPS_REDIRECT_PORT.to_string(),
        ];
        match https {
            Some(https) => args.extend(["--https-listen".into(), https.to_string()]),
            None => args.push("--local".into()),
        }
        if let Some(url) = &self.read_url {
            args.push(format!("--redis-read-url={url}"));
        }
        for (flag, value) in DEFAULTS {
            if !self.sets(flag) {
                args.extend([flag.to_owned(), value.to_owned()]);
            }
        }
        args.extend(self.extra.iter().cloned());
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut service = Service::start_in(BINARY, &args, &env, &dir)?;
        // The directory belongs to `work_dir`, shared with any proxy started in it.
        service.keep_dir();
        if let Some(old) = &self.upgrade_from {
            let proxy = Proxy {
                service,
                http: old.http,
                https: old.https,
                admin: old.admin,
                id,
                dir,
                upgrade_sock,
                work_dir,
            };
            let sock = proxy.upgrade_sock.clone();
            eventually(
                START_DEADLINE,
                "the new process waits on the upgrade socket",
                || {
                    let sock = sock.clone();
                    async move {
                        match sock.exists() {
                            true => Ok(()),
                            false => Err(format!("no {}", sock.display())),
                        }
                    }
                },
            )
            .await
            .with_context(|| proxy.log_tail())?;
            return Ok(proxy);
        }
        let listening = service.proxy_listening(START_DEADLINE).await?;
        if self.https {
            anyhow::ensure!(
                listening.https.is_some(),
                "the proxy reported no HTTPS listener:\n{}",
                service.log_tail(20)
            );
        }
        let proxy = Proxy {
            service,
            http: listening.http,
            https: listening.https,
            admin: listening.admin,
            id,
            dir,
            upgrade_sock,
            work_dir,
        };
        let admin = proxy.admin;
        eventually(
            START_DEADLINE,
            "the proxy's admin listener answers",
            || async move {
                client::http_get(admin, "admin", "/livez")
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            },
        )
        .await
        .with_context(|| proxy.log_tail())?;
        Ok(proxy)
    }

    /// [`ProxyOptions::launch`], then waits until the proxy is ready (a snapshot loaded).
    pub async fn launch_ready(self) -> anyhow::Result<Proxy> {
        let proxy = self.launch().await?;
        proxy.ready().await?;
        Ok(proxy)
    }

    /// [`ProxyOptions::launch`] for a test that panics on failure (with the proxy's log).
    pub async fn start(self) -> Proxy {
        self.launch()
            .await
            .unwrap_or_else(|e| panic!("starting the proxy: {e:#}"))
    }
}

/// A running `switchyard-proxy`; killed when dropped.
pub struct Proxy {
    pub service: Service,
    pub http: SocketAddr,
    /// The HTTPS listener (none with `--local`); [`Proxy::https`] for tests that
    /// started one.
    pub https: Option<SocketAddr>,
    pub admin: SocketAddr,
    pub id: String,
    /// The working directory (snapshot file `snapshot`, upgrade socket, logs).
    pub dir: PathBuf,
    /// The socket an upgrade hands the listeners over through.
    pub upgrade_sock: PathBuf,
    work_dir: Arc<WorkDir>,
}

impl Proxy {
    /// A proxy on `redis_url` under `prefix` with an HTTPS listener, started as
    /// [`ProxyOptions::start`] does.
    pub async fn start(redis_url: &str, prefix: &str) -> Proxy {
        ProxyOptions::new(redis_url, prefix).start().await
    }

    /// The HTTPS listener's address.
    pub fn https(&self) -> SocketAddr {
        self.https
            .expect("the proxy listens for HTTPS (started without `local()`)")
    }

    pub fn log_text(&self) -> String {
        self.service.log_text()
    }

    /// The last lines of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        format!(
            "--- proxy {} log ---\n{}",
            self.id,
            self.service.log_tail(30)
        )
    }

    /// Waits until `/readyz` answers 200.
    pub async fn ready(&self) -> anyhow::Result<()> {
        let admin = self.admin;
        eventually(START_DEADLINE, "the proxy is ready", || async move {
            let r = client::http_get(admin, "admin", "/readyz")
                .await
                .map_err(|e| e.to_string())?;
            (r.status.as_u16() == 200)
                .then_some(())
                .ok_or_else(|| format!("status {}", r.status))
        })
        .await
        .with_context(|| self.log_tail())
    }

    /// The admin `/status` document (applied version, source, sizes).
    pub async fn status(&self) -> anyhow::Result<Value> {
        Ok(client::http_get(self.admin, "admin", "/status")
            .await?
            .json()?)
    }

    /// GET through the plain HTTP listener with a Host header; panics on a connection
    /// error.
    pub async fn get(&self, host: &str, path: &str) -> Response {
        client::http_get(self.http, host, path)
            .await
            .unwrap_or_else(|e| panic!("GET http://{host}{path}: {e}\n{}", self.log_tail()))
    }

    /// `GET http://{host}{path}` through the proxy: the status and the upstream's name
    /// (its `x-upstream` header), or the connection error.
    pub async fn route(&self, host: &str, path: &str) -> Result<(u16, Option<String>), String> {
        let r = client::http_get(self.http, host, path)
            .await
            .map_err(|e| e.to_string())?;
        let upstream = r
            .header(crate::upstream::UPSTREAM_HEADER)
            .map(str::to_owned);
        Ok((r.status.as_u16(), upstream))
    }

    /// Waits until the proxy applied at least `version`; panics with its log if not.
    pub async fn wait_for_version(&self, version: u64) {
        let admin = self.admin;
        eventually(
            Duration::from_secs(10),
            &format!("the proxy applies version {version}"),
            || async move {
                let status = client::http_get(admin, "admin", "/status")
                    .await
                    .map_err(|e| e.to_string())?;
                let v = status.json().map_err(|e| e.to_string())?["version"]
                    .as_u64()
                    .unwrap_or(0);
                match v >= version {
                    true => Ok(()),
                    false => Err(format!("at version {v}")),
                }
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.log_tail()));
    }

    /// Waits (10 s at most) until this proxy serves `host` over HTTPS (by SNI) with a
    /// certificate chaining to `root_pem`; panics with the proxy's log otherwise.
    pub async fn wait_serves(&self, host: &str, root_pem: &str) {
        let https = self.https();
        eventually(
            Duration::from_secs(10),
            &format!("proxy {https} serves a certificate for {host} chaining to the root"),
            || async move {
                client::https_get(https, host, "/", root_pem)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.log_tail()));
    }

    /// Sends SIGTERM (graceful shutdown begins) without waiting for the process to end.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends a signal by name (`TERM`, `QUIT`, …) without waiting.
    pub fn signal(&self, name: &str) {
        self.service.signal_now(name);
    }

    /// Whether the process has ended.
    pub fn exited(&mut self) -> bool {
        self.service.exited()
    }

    /// Waits until the process has ended on its own (a graceful exit after
    /// [`Proxy::terminate`]); an error once `deadline` has passed.
    pub async fn exits_within(&mut self, deadline: Duration) -> anyhow::Result<()> {
        eventually(deadline, "the proxy exits", || {
            let exited = self.exited();
            async move {
                if exited {
                    Ok(())
                } else {
                    Err("still running".to_owned())
                }
            }
        })
        .await
    }

    /// SIGTERM, and waits until the process is gone (killed if it does not go).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.service.stop().await
    }

    /// SIGKILL: gone at once. For a test done with a proxy whose graceful exit it does not
    /// measure (a long `--grace-secs` would outlast [`Proxy::stop`]'s deadline).
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.service.kill().await
    }
}
