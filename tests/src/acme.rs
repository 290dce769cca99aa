//! Pebble (a test ACME CA) and pebble-challtestsrv (its mock DNS server), as processes a
//! test starts and that are killed when dropped. Both bind port 0 and neither says which
//! port it got, so their addresses are read from `/proc` ([`crate::ports`]): no test
//! guesses a free port.
//!
//! Both come from the Debian package `pebble`, which ships no configuration or
//! certificates: [`Pebble::start`] writes a config and a throw-away HTTPS certificate
//! for Pebble's own listeners into a temporary directory. Pebble resolves every name
//! through challtestsrv, whose management API ([`ChallTestSrv::set_txt`]) is where the
//! fake DNS providers of the cert-worker tests put their TXT records; every A lookup
//! answers 127.0.0.1, so HTTP-01 is validated against `127.0.0.1:<httpPort>`
//! ([`Pebble::start_with_http_port`]).
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use switchyard_tests::acme::AcmeEnv;
//! let env = AcmeEnv::start().await?;
//! // ACME directory: env.pebble.directory_url(), trusting env.pebble.listener_ca_file();
//! // DNS: env.dns.dns_addr(); issued certificates chain to env.pebble.issuing_root().await?
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use crate::eventually::eventually;
use crate::ports::{SocketsOf, sockets_of};
use crate::upstream::self_signed;

/// The binaries of the Debian package.
pub const PEBBLE_BIN: &str = "pebble";
pub const CHALLTESTSRV_BIN: &str = "pebble-challtestsrv";

/// Starting either process takes well under a second; CI machines may be slower.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A child process killed (and reaped) on drop, logging to a file.
struct Process {
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    fn spawn(mut command: Command, log: PathBuf) -> anyhow::Result<Self> {
        let file = std::fs::File::create(&log)
            .with_context(|| format!("creating log file {}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {:?} (install the Debian package `pebble`)",
                    command.get_program()
                )
            })?;
        Ok(Self {
            child: Some(child),
            log,
        })
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the process has bound the sockets `enough` asks for (it binds port
    /// 0: the kernel picks the ports); fails at once if it exits first.
    async fn bound(
        &mut self,
        what: &str,
        enough: impl Fn(&SocketsOf) -> bool,
    ) -> anyhow::Result<SocketsOf> {
        let pid = self.child.as_ref().map(Child::id).context("not running")?;
        let enough = &enough;
        let child = &mut self.child;
        let seen = eventually(START_TIMEOUT, &format!("{what} binds its ports"), || {
            let exited = child
                .as_mut()
                .is_none_or(|c| !matches!(c.try_wait(), Ok(None)));
            let sockets = sockets_of(pid);
            async move {
                match sockets {
                    Ok(s) if enough(&s) => Ok(Some(s)),
                    _ if exited => Ok(None),
                    Ok(s) => Err(format!("bound so far: {s:?}")),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await
        .with_context(|| format!("--- {what} log ---\n{}", self.log_text()))?;
        seen.with_context(|| format!("{what} exited\n--- log ---\n{}", self.log_text()))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("sy-{what}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// pebble-challtestsrv: a DNS server answering from records set over HTTP.
pub struct ChallTestSrv {
    process: Process,
    dns: SocketAddr,
    management: SocketAddr,
    http: reqwest::Client,
    _dir: TempDir,
}

impl ChallTestSrv {
    /// Starts it with only DNS and the management API enabled, on ports the kernel
    /// picks. With `-dns01 127.0.0.1:0` its UDP and TCP DNS servers get a port each: the
    /// UDP one is the DNS address (TXT answers are small, nothing falls back to TCP);
    /// of its two TCP listeners the management API is the one that answers HTTP.
    pub async fn start() -> anyhow::Result<Self> {
        let dir = TempDir::new("challtestsrv")?;
        let mut command = Command::new(CHALLTESTSRV_BIN);
        command
            .args(["-dns01", "127.0.0.1:0"])
            .args(["-management", "127.0.0.1:0"])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-defaultIPv6", ""]);
        let mut process = Process::spawn(command, dir.0.join("challtestsrv.log"))?;
        let sockets = process
            .bound("pebble-challtestsrv", |s| {
                !s.udp.is_empty() && s.tcp_listening.len() >= 2
            })
            .await?;
        let dns = sockets.udp[0];
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()?;
        // The DNS-over-TCP listener reads an HTTP request as a length prefix and waits
        // for the rest: a short timeout tells it apart.
        let probe = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(500))
            .build()?;
        let mut management = None;
        for addr in &sockets.tcp_listening {
            let answered = probe
                .post(format!("http://{addr}/clear-txt"))
                .body(json!({"host": "ready.invalid."}).to_string())
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if answered {
                management = Some(*addr);
                break;
            }
        }
        let management = management.with_context(|| {
            format!(
                "no listener of {sockets:?} answers as the management API\n--- challtestsrv log ---\n{}",
                process.log_text()
            )
        })?;
        Ok(Self {
            process,
            dns,
            management,
            http,
            _dir: dir,
        })
    }

    /// The DNS server (UDP), for Pebble's `-dnsserver` and resolvers under test.
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns
    }

    /// The management API's base URL (`http://127.0.0.1:<port>`).
    pub fn management_url(&self) -> String {
        format!("http://{}", self.management)
    }

    /// Adds a TXT value for `host` (more than one value per name is allowed).
    pub async fn set_txt(&self, host: &str, value: &str) -> anyhow::Result<()> {
        self.post("/set-txt", json!({"host": fqdn(host), "value": value}))
            .await
    }

    /// Adds `addresses` to `host`'s A answers (which are the default 127.0.0.1 until the
    /// first is added).
    pub async fn add_a(&self, host: &str, addresses: &[&str]) -> anyhow::Result<()> {
        self.post(
            "/add-a",
            json!({"host": fqdn(host), "addresses": addresses}),
        )
        .await
    }

    /// Removes every TXT value of `host`.
    pub async fn clear_txt(&self, host: &str) -> anyhow::Result<()> {
        self.post("/clear-txt", json!({"host": fqdn(host)})).await
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> anyhow::Result<()> {
        let response = self
            .http
            .post(format!("{}{path}", self.management_url()))
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("challtestsrv {path}"))?;
        anyhow::ensure!(
            response.status().is_success(),
            "challtestsrv {path} answered {}",
            response.status()
        );
        Ok(())
    }

    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

/// `name.` — challtestsrv keys records by fully qualified name.
fn fqdn(host: &str) -> String {
    format!("{}.", host.trim_end_matches('.'))
}

/// Pebble, the ACME test CA.
pub struct Pebble {
    process: Process,
    listen: SocketAddr,
    management: SocketAddr,
    ca_file: PathBuf,
    ca_pem: String,
    /// The listeners' certificate chain and key (PEM), for a front that must be trusted
    /// like Pebble ([`crate::acme_front::DirectoryFront`]).
    listener_chain_pem: String,
    listener_key_pem: String,
    config_file: PathBuf,
    dns: SocketAddr,
    /// How many times [`Pebble::restart`] ran (each run logs to a file of its own).
    restarts: u32,
    dir: TempDir,
}

impl Pebble {
    /// Starts Pebble on ports the kernel picks, resolving names through `dns` (challtestsrv). It
    /// validates at once (`PEBBLE_VA_NOSLEEP`), never rejects nonces at random
    /// (`PEBBLE_WFE_NONCEREJECT=0`) and never reuses authorizations
    /// (`PEBBLE_AUTHZREUSE=0`), so every order is validated for real.
    pub async fn start(dns: SocketAddr) -> anyhow::Result<Self> {
        Self::start_with(dns, None, None).await
    }

    /// Like [`Pebble::start`], validating HTTP-01 challenges on `http_port` (Pebble's
    /// `httpPort`; a CA uses 80) of the address challtestsrv resolves the name to
    /// (127.0.0.1): the port of whatever stands in for the fleet's load balancer.
    pub async fn start_with_http_port(dns: SocketAddr, http_port: u16) -> anyhow::Result<Self> {
        Self::start_with(dns, None, Some(http_port)).await
    }

    /// Like [`Pebble::start`], but new accounts must carry an External Account Binding
    /// with key id `kid` and HMAC key `hmac_key_b64url` (base64url, as CAs show it).
    pub async fn start_requiring_eab(
        dns: SocketAddr,
        kid: &str,
        hmac_key_b64url: &str,
    ) -> anyhow::Result<Self> {
        Self::start_with(dns, Some((kid, hmac_key_b64url)), None).await
    }

    async fn start_with(
        dns: SocketAddr,
        eab: Option<(&str, &str)>,
        http_port: Option<u16>,
    ) -> anyhow::Result<Self> {
        let dir = TempDir::new("pebble")?;
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        let tls = self_signed(&["127.0.0.1", "localhost"]);
        let (cert, key, ca_file) = (
            dir.0.join("listener.pem"),
            dir.0.join("listener.key"),
            dir.0.join("listener-ca.pem"),
        );
        std::fs::write(&cert, &tls.chain_pem)?;
        std::fs::write(&key, &tls.key_pem)?;
        std::fs::write(&ca_file, &tls.ca_pem)?;
        let mut config = json!({"pebble": {
            "listenAddress": any_port.to_string(),
            "managementListenAddress": any_port.to_string(),
            "certificate": cert,
            "privateKey": key,
            // Where http-01 is validated; tests without one answer only dns-01.
            "httpPort": http_port.unwrap_or(5002),
            "tlsPort": 5001,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": eab.is_some(),
            "externalAccountMACKeys": eab.map(|(kid, key)| json!({kid: key})).unwrap_or(json!({})),
            "retryAfter": {"authz": 1, "order": 1},
        }});
        let config_file = dir.0.join("pebble-config.json");
        std::fs::write(&config_file, serde_json::to_vec_pretty(&config)?)?;
        let mut process = Self::spawn(&config_file, dns, dir.0.join("pebble.log"))?;
        let sockets = process
            .bound("pebble", |s| s.tcp_listening.len() >= 2)
            .await?;
        let client = listener_client(&tls.ca_pem)?;
        let (listen, management) = acme_and_management(&client, &sockets.tcp_listening[..2])
            .await
            .with_context(|| format!("--- pebble log ---\n{}", process.log_text()))?;
        // A restart binds the same addresses again: what the kernel gave this Pebble.
        config["pebble"]["listenAddress"] = json!(listen.to_string());
        config["pebble"]["managementListenAddress"] = json!(management.to_string());
        std::fs::write(&config_file, serde_json::to_vec_pretty(&config)?)?;
        let pebble = Self {
            process,
            listen,
            management,
            ca_file,
            ca_pem: tls.ca_pem,
            listener_chain_pem: tls.chain_pem,
            listener_key_pem: tls.key_pem,
            config_file,
            dns,
            restarts: 0,
            dir,
        };
        pebble.wait_ready().await?;
        Ok(pebble)
    }

    fn spawn(config_file: &Path, dns: SocketAddr, log: PathBuf) -> anyhow::Result<Process> {
        let mut command = Command::new(PEBBLE_BIN);
        command
            .arg("-config")
            .arg(config_file)
            .args(["-dnsserver", &dns.to_string()])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0");
        Process::spawn(command, log)
    }

    /// Stops Pebble and starts a new one on the same addresses (the ports the kernel gave
    /// the first one, taken again at once), with the same listener
    /// certificate and configuration: to clients the same directory URL, but a CA that
    /// has forgotten every account, order and certificate and signs with a new root —
    /// what a restarted Pebble (or a wiped staging CA) looks like.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.process.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.restarts += 1;
        let log = self.dir.0.join(format!("pebble-{}.log", self.restarts));
        self.process = Self::spawn(&self.config_file, self.dns, log)?;
        self.wait_ready().await
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let pebble = self;
        let (client, url) = (pebble.client()?, pebble.directory_url());
        eventually(START_TIMEOUT, "Pebble serves its directory", || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let r = client.get(&url).send().await.map_err(|e| e.to_string())?;
                if r.status().is_success() {
                    Ok(())
                } else {
                    Err(r.status().to_string())
                }
            }
        })
        .await
        .with_context(|| format!("--- pebble log ---\n{}", pebble.process.log_text()))?;
        Ok(())
    }

    /// The ACME directory URL.
    pub fn directory_url(&self) -> String {
        format!("https://{}/dir", self.listen)
    }

    /// PEM file of the CA behind Pebble's HTTPS listeners: what an ACME client must trust.
    pub fn listener_ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The certificate chain and key (PEM) of Pebble's listeners: a server presenting them
    /// on 127.0.0.1 is trusted by whatever trusts [`Pebble::listener_ca_file`].
    pub fn listener_identity(&self) -> (&str, &str) {
        (&self.listener_chain_pem, &self.listener_key_pem)
    }

    /// An HTTPS client trusting Pebble's listeners.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        listener_client(&self.ca_pem)
    }

    /// The root that signs issued certificates (it changes with every Pebble start).
    pub async fn issuing_root(&self) -> anyhow::Result<String> {
        let r = self
            .client()?
            .get(format!("https://{}/roots/0", self.management))
            .send()
            .await
            .context("fetching Pebble's issuing root")?;
        anyhow::ensure!(r.status().is_success(), "/roots/0 answered {}", r.status());
        Ok(r.text().await?)
    }

    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

/// An HTTPS client trusting the CA `ca_pem` of Pebble's listeners.
fn listener_client(ca_pem: &str) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes())?)
        .build()?)
}

/// Which of Pebble's two listeners is the ACME one (it serves `/dir`; the management
/// listener answers 404 there): `(acme, management)`. Waits until one answers.
async fn acme_and_management(
    client: &reqwest::Client,
    listeners: &[SocketAddr],
) -> anyhow::Result<(SocketAddr, SocketAddr)> {
    let listeners = listeners.to_vec();
    eventually(START_TIMEOUT, "Pebble serves its directory", || {
        let (client, listeners) = (client.clone(), listeners.clone());
        async move {
            let mut answers = Vec::new();
            for (i, addr) in listeners.iter().enumerate() {
                match client.get(format!("https://{addr}/dir")).send().await {
                    Ok(r) if r.status().is_success() => {
                        return Ok((*addr, listeners[1 - i]));
                    }
                    Ok(r) => answers.push(format!("{addr}: {}", r.status())),
                    Err(e) => answers.push(format!("{addr}: {e}")),
                }
            }
            Err(answers.join("; "))
        }
    })
    .await
}

/// Pebble wired to a challtestsrv: what an ACME end-to-end test needs.
pub struct AcmeEnv {
    pub pebble: Pebble,
    pub dns: ChallTestSrv,
}

impl AcmeEnv {
    pub async fn start() -> anyhow::Result<Self> {
        let dns = ChallTestSrv::start().await?;
        let pebble = Pebble::start(dns.dns_addr()).await?;
        Ok(Self { pebble, dns })
    }
}
