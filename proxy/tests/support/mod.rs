//! Starts the real `switchyard-proxy` binary against a test's Redis prefix, and writes
//! zones the way the panel does (through the shared Redis contract).
#![allow(dead_code)] // each test file uses a different part of the harness

pub mod raw;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use switchyard_shared::model::{CertRecord, HostRecord};
use switchyard_shared::store::{Applied, ChangeSet, Store};
use switchyard_tests::client::{self, Response};
use switchyard_tests::eventually::eventually;
use switchyard_tests::process::ProxyListening;

/// The port the proxy writes into its HTTPS redirects (`--https-redirect-port`). Only
/// written, never bound: the HTTPS listener's own port is known only once the proxy
/// reports it.
pub const HTTPS_REDIRECT_PORT: u16 = 8443;

/// A running proxy process; killed when dropped.
pub struct Proxy {
    child: Option<Child>,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub admin: SocketAddr,
    pub dir: PathBuf,
    pub log: PathBuf,
    /// The socket an upgrade hands the listeners over through.
    pub upgrade_sock: PathBuf,
}

/// What the new process of an upgrade takes over from the old one.
pub struct UpgradeFrom {
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub admin: SocketAddr,
    pub upgrade_sock: PathBuf,
}

pub struct ProxyOptions {
    pub redis_url: String,
    pub prefix: String,
    pub dir: PathBuf,
    pub extra: Vec<String>,
    /// Take over the listeners of this running proxy (`--upgrade`), same addresses and
    /// upgrade socket.
    pub upgrade_from: Option<UpgradeFrom>,
}

impl ProxyOptions {
    pub fn new(redis_url: &str, prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sy-proxy-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            redis_url: redis_url.to_owned(),
            prefix: prefix.to_owned(),
            dir,
            extra: Vec::new(),
            upgrade_from: None,
        }
    }

    /// Options for the new process of a zero-downtime upgrade of `old`: the same
    /// listeners, directory and upgrade socket, and `--upgrade`.
    pub fn upgrade_of(old: &Proxy, redis_url: &str, prefix: &str) -> Self {
        Self {
            redis_url: redis_url.to_owned(),
            prefix: prefix.to_owned(),
            dir: old.dir.clone(),
            extra: vec!["--upgrade".to_owned()],
            upgrade_from: Some(UpgradeFrom {
                http: old.http,
                https: old.https,
                admin: old.admin,
                upgrade_sock: old.upgrade_sock.clone(),
            }),
        }
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.extra.push(arg.to_owned());
        self
    }
}

impl Proxy {
    /// Starts a proxy on ports the system picks (port 0; the addresses are read from its
    /// "proxy listening" log line) and waits until its admin listener answers. In upgrade
    /// mode it gets the old process's addresses and the wait is until it waits on the
    /// upgrade socket for the old process's listeners (it logs its addresses only once it
    /// has them).
    pub async fn start(options: ProxyOptions) -> Proxy {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        let (http, https, admin) = match &options.upgrade_from {
            Some(old) => (old.http, old.https, old.admin),
            None => (any_port, any_port, any_port),
        };
        let name = uuid::Uuid::new_v4().simple().to_string();
        let upgrade_sock = match &options.upgrade_from {
            Some(old) => old.upgrade_sock.clone(),
            None => options.dir.join(format!("upgrade-{name}.sock")),
        };
        let log = options.dir.join(if options.upgrade_from.is_some() {
            format!("proxy-{name}-upgraded.log")
        } else {
            format!("proxy-{name}.log")
        });
        let log_file = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard-proxy"))
            .args(["--http-listen", &http.to_string()])
            .args(["--https-listen", &https.to_string()])
            .args(["--admin-listen", &admin.to_string()])
            .args(["--redis-url", &options.redis_url])
            .args(["--key-prefix", &options.prefix])
            .args([
                "--snapshot-file",
                options.dir.join("snapshot").to_str().unwrap(),
            ])
            .args(["--upgrade-sock", upgrade_sock.to_str().unwrap()])
            .args(["--proxy-id", &format!("test-{name}")])
            .args(["--https-redirect-port", &HTTPS_REDIRECT_PORT.to_string()])
            .args(["--startup-timeout-ms", "1000"])
            .args(
                // Quick active checks unless the test sets its own.
                (!options
                    .extra
                    .iter()
                    .any(|a| a.starts_with("--health-check-ms")))
                .then_some(["--health-check-ms", "200"])
                .into_iter()
                .flatten(),
            )
            .args(
                // No drain wait unless the test sets its own.
                (!options.extra.iter().any(|a| a == "--grace-secs"))
                    .then_some(["--grace-secs", "0"])
                    .into_iter()
                    .flatten(),
            )
            .args(
                (!options.extra.iter().any(|a| a == "--drain-delay-ms"))
                    .then_some(["--drain-delay-ms", "0"])
                    .into_iter()
                    .flatten(),
            )
            .args(&options.extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("the proxy binary starts");
        let log_text = |log: &PathBuf| std::fs::read_to_string(log).unwrap_or_default();
        if proxy_is_upgrade(&options.extra) {
            let proxy = Proxy {
                child: Some(child),
                http,
                https,
                admin,
                dir: options.dir,
                log,
                upgrade_sock: upgrade_sock.clone(),
            };
            let sock = upgrade_sock;
            eventually(
                Duration::from_secs(20),
                "the new process waits on the upgrade socket",
                || {
                    let sock = sock.clone();
                    async move {
                        if sock.exists() {
                            Ok(())
                        } else {
                            Err(format!("no {}", sock.display()))
                        }
                    }
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}\n--- proxy log ---\n{}", proxy.log_text()));
            return proxy;
        }
        // The addresses it got; a process that exits first ends the wait at once.
        let listening = eventually(
            Duration::from_secs(20),
            "the proxy logs the addresses it listens on",
            || {
                let exited = matches!(child.try_wait(), Ok(Some(_)));
                let text = log_text(&log);
                async move {
                    match ProxyListening::from_log(&text) {
                        Some(listening) => Ok(Some(listening)),
                        None if exited => Ok(None),
                        None => Err(format!("no \"{}\" line yet", ProxyListening::MESSAGE)),
                    }
                }
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n--- proxy log ---\n{}", log_text(&log)))
        .unwrap_or_else(|| panic!("the proxy exited\n--- proxy log ---\n{}", log_text(&log)));
        let proxy = Proxy {
            child: Some(child),
            http: listening.http,
            https: listening.https.expect("the HTTPS listener (no --local)"),
            admin: listening.admin,
            dir: options.dir,
            log,
            upgrade_sock,
        };
        let admin = proxy.admin;
        eventually(
            Duration::from_secs(20),
            "the proxy's admin listener answers",
            || async move {
                client::http_get(admin, "admin", "/livez")
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n--- proxy log ---\n{}", proxy.log_text()));
        proxy
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET through the plain HTTP listener with a Host header.
    pub async fn get(&self, host: &str, path: &str) -> Response {
        client::http_get(self.http, host, path)
            .await
            .unwrap_or_else(|e| panic!("GET http://{host}{path}: {e}"))
    }

    /// The admin /status document.
    pub async fn status(&self) -> serde_json::Value {
        client::http_get(self.admin, "admin", "/status")
            .await
            .unwrap()
            .json()
            .unwrap()
    }

    /// Waits until the proxy applied at least `version`.
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
                if v >= version {
                    Ok(())
                } else {
                    Err(format!("at version {v}"))
                }
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n--- proxy log ---\n{}", self.log_text()));
    }

    /// Sends SIGTERM (graceful shutdown begins) without waiting for the process to end.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends a signal by name (`TERM`, `QUIT`, …).
    pub fn signal(&self, name: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([&format!("-{name}"), &child.id().to_string()])
                .status();
        }
    }

    /// Whether the process has ended.
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))))
    }

    /// Stops the proxy with SIGTERM and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::yield_now();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn proxy_is_upgrade(extra: &[String]) -> bool {
    extra.iter().any(|a| a == "--upgrade")
}

/// A zone record for `host` sending everything to `upstreams`.
pub fn zone(host: &str, upstreams: &[&str]) -> HostRecord {
    zone_json(
        host,
        serde_json::json!([{
            "zone_id": format!("z-{host}"),
            "upstreams": upstreams.iter().map(|u| serde_json::json!({"url": u})).collect::<Vec<_>>(),
        }]),
    )
}

/// A zone record from a JSON list of routes.
pub fn zone_json(host: &str, routes: serde_json::Value) -> HostRecord {
    let json = serde_json::json!({"host": host, "routes": routes});
    HostRecord::from_json(host, json.to_string().as_bytes()).expect("test zones are valid")
}

/// Writes zones as one batch.
pub async fn put_zones(store: &Store, zones: &[HostRecord]) -> Applied {
    let mut batch = ChangeSet::new();
    for z in zones {
        batch.put_zone(z);
    }
    store.apply(&batch).await.expect("write zones")
}

/// Writes certificates as one batch.
pub async fn put_certs(store: &Store, certs: &[CertRecord]) -> Applied {
    let mut batch = ChangeSet::new();
    for c in certs {
        batch.put_cert(c);
    }
    store.apply(&batch).await.expect("write certs")
}
