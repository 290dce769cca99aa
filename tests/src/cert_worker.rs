//! The one way tests start the real `cert-worker` binary: configured through its
//! environment (`SWITCHYARD_*`, `DATABASE_URL`, as the deploy files do), its admin
//! listener on port 0, the address it got read from its `cert-worker listening` log
//! line.
//!
//! Without a CA ([`CertWorkerOptions::acme`]) it is given a directory URL it never
//! calls: enough for a worker whose certificates are not due (heartbeats, failover).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;

use crate::acme::AcmeEnv;
use crate::eventually::eventually;
use crate::process::{Service, logged_fields};

/// The worker binary.
pub const BINARY: &str = "cert-worker";

/// The secret key (32 bytes, base64) test workers seal certificate keys with.
pub const SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The message of the log line that carries the admin address.
pub const LISTENING: &str = "cert-worker listening";

/// How long a worker may take to report its admin address.
pub const START_DEADLINE: Duration = Duration::from_secs(60);

/// A directory URL for a worker that must never reach a CA. Nothing is asked of it:
/// the port is never connected to as long as no certificate is due.
const NO_CA: &str = "https://127.0.0.1:9/directory";

/// How to start a worker; see the module docs.
#[derive(Debug, Clone)]
pub struct CertWorkerOptions {
    /// `(variable, value)`, in order; a later one for the same variable wins.
    env: Vec<(String, String)>,
}

impl CertWorkerOptions {
    /// A worker on `database_url` and Redis `redis_url` under `prefix`, polling and
    /// beating every second, with no CA.
    pub fn new(database_url: &str, redis_url: &str, prefix: &str) -> Self {
        let options = Self { env: Vec::new() };
        options
            .env("DATABASE_URL", database_url)
            .env("SWITCHYARD_REDIS_URL", redis_url)
            .env("SWITCHYARD_KEY_PREFIX", prefix)
            .env("SWITCHYARD_SECRET_KEY", SECRET_KEY)
            .env("SWITCHYARD_ACME_DIRECTORY", NO_CA)
            .env("SWITCHYARD_POLL_SECS", "1")
            .env("SWITCHYARD_HEARTBEAT_SECS", "1")
            .env("SWITCHYARD_CERT_WORKER_ADMIN_LISTEN", "127.0.0.1:0")
    }

    /// Order from `acme`'s Pebble and check DNS at its challtestsrv, polling it every
    /// 100 ms.
    pub fn acme(self, acme: &AcmeEnv) -> Self {
        self.env("SWITCHYARD_ACME_DIRECTORY", &acme.pebble.directory_url())
            .env(
                "SWITCHYARD_ACME_CA_FILE",
                &acme.pebble.listener_ca_file().to_string_lossy(),
            )
            .env("SWITCHYARD_DNS_RESOLVERS", &acme.dns.dns_addr().to_string())
            .env("SWITCHYARD_PROPAGATION_POLL_MS", "100")
    }

    /// Give up waiting for DNS after `secs` (the worker's default otherwise).
    pub fn propagation_timeout_secs(self, secs: u64) -> Self {
        self.env("SWITCHYARD_PROPAGATION_TIMEOUT_SECS", &secs.to_string())
    }

    /// Sets (or replaces) an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Starts the worker and waits until it reports its admin address; a worker that
    /// exits first ends the wait at once, with its log in the error.
    pub async fn launch(self) -> anyhow::Result<CertWorker> {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut service = Service::start(BINARY, &[], &env)?;
        let admin = admin_of(&mut service).await?;
        Ok(CertWorker { service, admin })
    }
}

/// The admin address a worker logs once it listens.
async fn admin_of(service: &mut Service) -> anyhow::Result<SocketAddr> {
    let seen = eventually(
        START_DEADLINE,
        "the cert worker logs its admin address",
        || {
            let running = service.running();
            let text = service.log_text();
            async move {
                let admin = logged_fields(&text, LISTENING)
                    .and_then(|f| f.get("admin")?.as_str()?.parse::<SocketAddr>().ok());
                match (admin, running) {
                    (Some(admin), _) => Ok(Some(admin)),
                    (None, false) => Ok(None),
                    (None, true) => Err(format!("no \"{LISTENING}\" line yet")),
                }
            }
        },
    )
    .await
    .with_context(|| service.log_tail(20))?;
    seen.with_context(|| format!("the cert worker exited:\n{}", service.log_tail(20)))
}

/// A running `cert-worker`; killed when dropped.
pub struct CertWorker {
    pub service: Service,
    /// The admin listener (`/metrics`, `/livez`, `/readyz`).
    pub admin: SocketAddr,
}

impl CertWorker {
    pub fn log_tail(&self, lines: usize) -> String {
        self.service.log_tail(lines)
    }
}
