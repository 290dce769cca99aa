//! The workspace's binaries as real processes: started with their output in a log
//! file, stopped with SIGTERM (and killed if they do not go), killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use crate::bins::workspace_bin;
use crate::eventually::eventually;

/// Environment variables that would change what a service does and that a test must
/// set explicitly if it wants them (tracing endpoints, log filters).
const SCRUBBED: [&str; 8] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "SWITCHYARD_OTLP_ENDPOINT",
    "DATABASE_URL",
];

/// How long a service may take to exit after SIGTERM.
pub const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// The `fields` of the first JSON log line in `text` whose message is `message`. The
/// workspace's services report the addresses they bound that way: panel-api
/// `{"fields":{"message":"panel-api serving","listen":"IP:PORT"}}`, switchyard-proxy
/// [`ProxyListening`].
pub fn logged_fields(
    text: &str,
    message: &str,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let quoted = format!("\"{message}\"");
    text.lines()
        .filter(|line| line.contains(&quoted))
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|line| match line.get("fields") {
            Some(serde_json::Value::Object(fields))
                if fields.get("message").and_then(|m| m.as_str()) == Some(message) =>
            {
                Some(fields.clone())
            }
            _ => None,
        })
}

/// The addresses a `switchyard-proxy` listens on, from its log line
/// `{"fields":{"message":"proxy listening","http":"IP:PORT","https":"IP:PORT","admin":"IP:PORT"}}`
/// (no `https` with `--local`): start it with port 0 and read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyListening {
    pub http: SocketAddr,
    pub https: Option<SocketAddr>,
    pub admin: SocketAddr,
}

impl ProxyListening {
    pub const MESSAGE: &str = "proxy listening";

    /// From a proxy's log text, once the line is there.
    pub fn from_log(text: &str) -> Option<ProxyListening> {
        let fields = logged_fields(text, Self::MESSAGE)?;
        let addr = |name: &str| -> Option<SocketAddr> { fields.get(name)?.as_str()?.parse().ok() };
        Some(ProxyListening {
            http: addr("http")?,
            https: addr("https"),
            admin: addr("admin")?,
        })
    }
}

/// A running service. Its working directory is a fresh temporary directory (removed on
/// drop unless `SWITCHYARD_TEST_KEEP=1`), which holds its log.
pub struct Service {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    dir: PathBuf,
}

impl Service {
    /// Starts `binary` (a workspace binary) with `args` and extra `env`, in a new
    /// working directory.
    pub fn start(binary: &str, args: &[String], env: &[(&str, &str)]) -> anyhow::Result<Service> {
        let dir =
            std::env::temp_dir().join(format!("sy-{binary}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).context("a working directory")?;
        Self::start_in(binary, args, env, &dir)
    }

    /// [`Service::start`] in a given working directory (to restart a service on the
    /// files it left, e.g. a proxy's snapshot file).
    pub fn start_in(
        binary: &str,
        args: &[String],
        env: &[(&str, &str)],
        dir: &Path,
    ) -> anyhow::Result<Service> {
        let log = dir.join(format!("{binary}-{}.log", uuid::Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).context("a log file")?;
        let mut command = Command::new(workspace_bin(binary));
        command
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        for var in SCRUBBED {
            command.env_remove(var);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        Ok(Service {
            name: binary.to_owned(),
            child: Some(child),
            log,
            dir: dir.to_owned(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process id, while it has not been stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of the log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Waits (up to `deadline`) for a `switchyard-proxy` to log the addresses it listens
    /// on; fails at once if it exits first.
    pub async fn proxy_listening(&mut self, deadline: Duration) -> anyhow::Result<ProxyListening> {
        let log = self.log.clone();
        let seen = eventually(
            deadline,
            "the proxy logs the addresses it listens on",
            || {
                let running = self.running();
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                async move {
                    match ProxyListening::from_log(&text) {
                        Some(listening) => Ok(Some(listening)),
                        None if !running => Ok(None),
                        None => Err(format!("no \"{}\" line yet", ProxyListening::MESSAGE)),
                    }
                }
            },
        )
        .await
        .with_context(|| self.log_tail(20))?;
        seen.with_context(|| format!("the proxy exited before listening:\n{}", self.log_tail(20)))
    }

    /// Still running?
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends a signal by name (`TERM`, `QUIT`, …) without waiting for its effect.
    pub fn signal_now(&self, name: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([&format!("-{name}"), &child.id().to_string()])
                .status();
        }
    }

    /// Has the process ended (or been stopped)?
    pub fn exited(&mut self) -> bool {
        !self.running()
    }

    /// SIGTERM, then waits (with a deadline) for the process to exit; killed if not.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.signal("-TERM").await.map(|_| ())
    }

    /// [`Service::stop`], returning how the process exited (a clean stop is a success).
    pub async fn stop_status(&mut self) -> anyhow::Result<ExitStatus> {
        self.signal("-TERM")
            .await?
            .context("the process had been stopped already")
    }

    /// SIGKILL: the process dies at once, mid-whatever (a crash).
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.signal("-KILL").await.map(|_| ())
    }

    async fn signal(&mut self, signal: &str) -> anyhow::Result<Option<ExitStatus>> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .context("kill")?;
        let what = format!("{} exits after kill {signal}", self.name);
        let exited = eventually(STOP_DEADLINE, &what, || {
            let status = child.try_wait();
            async move {
                match status {
                    Ok(Some(status)) => Ok(status),
                    Ok(None) => Err("still running".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
        if exited.is_err() {
            let _ = child.kill();
            let _ = child.wait();
        }
        exited.map(Some)
    }

    /// Keeps the working directory (and log) when this value is dropped: for a directory
    /// another value owns (a proxy and the process of its upgrade share one).
    pub fn keep_dir(&mut self) {
        self.dir = PathBuf::new();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::env::var("SWITCHYARD_TEST_KEEP").as_deref() != Ok("1")
            && !self.dir.as_os_str().is_empty()
        {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
