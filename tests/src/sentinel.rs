//! A private Redis topology with Sentinel, for failover tests: one primary, N replicas
//! and three sentinels, each a `redis-server` process of this test alone (never the
//! shared Redis), on ports of their own, killed when the topology is dropped.
//!
//! `redis-server` cannot listen on port 0 (port 0 disables TCP there), so each process
//! is offered a [`candidate_port`] and kept only once `/proc` shows that this very child
//! listens on it ([`listens_on`]); one that fails to bind (it exits: another process
//! holds the port) is started again on another candidate. A test thus never reaches a
//! process of another test. [`RedisProcess`] is also the harness's one way to start a
//! private plain `redis-server`. Sentinels notice a dead primary after
//! [`DOWN_AFTER_MS`] and fail over at once; everything here waits by polling with a
//! deadline.
//!
//! [`RedisTopology::sentinel_url`] is the URL the services take (docs/deploy.md,
//! "Redis with Sentinel"). [`RedisTopology::kill_primary`] is a crash;
//! [`RedisTopology::isolate_primary`] cuts the primary off from its replicas while it
//! keeps serving its clients — writes it acknowledges then are never replicated, and a
//! failover loses them, as asynchronous replication does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use fred::prelude::*;
use fred::types::Value;
use switchyard_shared::store;

use crate::eventually::eventually;
use crate::ports::{candidate_port, listens_on};

/// The Sentinel service name.
pub const SERVICE: &str = "mymaster";
/// Sentinels call a primary down after this long without an answer.
pub const DOWN_AFTER_MS: u64 = 1_000;
/// Sentinel's `failover-timeout`: also the wait before another attempt when an election
/// fails (twice this), so small.
pub const FAILOVER_TIMEOUT_MS: u64 = 3_000;
/// How long a topology may take to form, or a failover to complete.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// Attempts to start one process on a candidate port.
const BIND_ATTEMPTS: usize = 5;

/// Credentials of a topology: the data nodes' password and the sentinels' own.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub password: Option<String>,
    pub sentinel_password: Option<String>,
}

/// One `redis-server` process (a data node, a sentinel or a private server).
pub struct RedisProcess {
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
    /// What it was started with, to start it again ([`RedisProcess::restart`]).
    args: Vec<String>,
    dir: PathBuf,
    ready: String,
    starts: usize,
}

impl RedisProcess {
    /// Starts `redis-server` in `dir` with the arguments `args(port)` gives, on a
    /// [`candidate_port`], trying another one while it fails to bind; waits until its
    /// log says `ready` and `/proc` shows this child listening on the port.
    pub async fn start(
        dir: &Path,
        name: &str,
        ready: &str,
        args: impl Fn(u16) -> Vec<String>,
    ) -> anyhow::Result<RedisProcess> {
        let mut last = String::new();
        for attempt in 0..BIND_ATTEMPTS {
            let port = candidate_port();
            let mut process = RedisProcess {
                port,
                child: None,
                log: PathBuf::new(),
                args: args(port),
                dir: dir.to_owned(),
                ready: ready.to_owned(),
                starts: attempt,
            };
            let name = format!("{name}-{attempt}");
            if process.run(&name).await? {
                return Ok(process);
            }
            last = process.log_tail();
        }
        anyhow::bail!("{name} did not start in {BIND_ATTEMPTS} attempts; last log:\n{last}")
    }

    /// Starts it again after [`RedisProcess::kill`], with the same arguments, on the
    /// same port (the one it proved it owned; clients hold its URL).
    pub async fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        self.kill();
        self.starts += 1;
        let name = format!("{name}-restart-{}", self.starts);
        anyhow::ensure!(
            self.run(&name).await?,
            "{name} did not start again on port {}:\n{}",
            self.port,
            self.log_tail()
        );
        Ok(())
    }

    /// One start: whether it came up listening on `self.port` (false: it exited).
    async fn run(&mut self, name: &str) -> anyhow::Result<bool> {
        self.log = self.dir.join(format!("{name}.log"));
        let child = Command::new("redis-server")
            .args(&self.args)
            .args(["--logfile", self.log.to_str().context("a UTF-8 path")?])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("redis-server is installed")?;
        let pid = child.id();
        self.child = Some(child);
        let port = self.port;
        let ready = self.ready.clone();
        let process = &mut *self;
        eventually(Duration::from_secs(10), &format!("{name} starts"), || {
            let running = process.running();
            let text = std::fs::read_to_string(&process.log).unwrap_or_default();
            let ready = ready.clone();
            async move {
                if !running {
                    Ok(false)
                } else if text.contains(&ready) && listens_on(pid, port) {
                    Ok(true)
                } else {
                    Err("not ready yet".to_owned())
                }
            }
        })
        .await
    }

    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL: gone at once, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn is_alive(&mut self) -> bool {
        self.running()
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A primary, its replicas and three sentinels; see the module docs.
pub struct RedisTopology {
    /// Data nodes; `nodes[primary]` is the primary as the sentinels last agreed.
    pub nodes: Vec<RedisProcess>,
    pub sentinels: Vec<RedisProcess>,
    pub primary: usize,
    auth: Auth,
    dir: PathBuf,
}

impl RedisTopology {
    /// Starts a primary, `replicas` replicas following it and three sentinels watching
    /// it, and waits until every sentinel knows the primary, every replica and the two
    /// other sentinels (a failover needs all of that).
    pub async fn start(replicas: usize, auth: Auth) -> anyhow::Result<RedisTopology> {
        let dir =
            std::env::temp_dir().join(format!("sy-sentinel-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let mut topology = RedisTopology {
            nodes: Vec::new(),
            sentinels: Vec::new(),
            primary: 0,
            auth,
            dir,
        };
        let primary = topology.start_node("primary", None).await?;
        let primary_port = primary.port;
        topology.nodes.push(primary);
        for i in 0..replicas {
            let replica = topology
                .start_node(&format!("replica-{i}"), Some(primary_port))
                .await?;
            topology.nodes.push(replica);
        }
        for i in 1..topology.nodes.len() {
            topology.wait_replicating(i).await?;
        }
        for i in 0..3 {
            let conf = topology.dir.join(format!("sentinel-{i}.conf"));
            let mut text = format!(
                "bind 127.0.0.1\n\
                 sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n\
                 sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n\
                 sentinel parallel-syncs {SERVICE} 1\n"
            );
            if let Some(p) = &topology.auth.password {
                text.push_str(&format!("sentinel auth-pass {SERVICE} {p}\n"));
            }
            if let Some(p) = &topology.auth.sentinel_password {
                text.push_str(&format!("requirepass {p}\nsentinel sentinel-pass {p}\n"));
            }
            let dir = topology.dir.clone();
            let sentinel =
                RedisProcess::start(&dir, &format!("sentinel-{i}"), "+monitor master", |port| {
                    // Sentinel rewrites its file: one per start, with the port of this start.
                    let conf = conf.with_extension(format!("{port}.conf"));
                    std::fs::write(&conf, format!("port {port}\ndir {}\n{text}", dir.display()))
                        .expect("a sentinel configuration file");
                    vec![conf.display().to_string(), "--sentinel".to_owned()]
                })
                .await?;
            topology.sentinels.push(sentinel);
        }
        topology.wait_agreed(primary_port).await?;
        Ok(topology)
    }

    async fn start_node(
        &self,
        name: &str,
        replica_of: Option<u16>,
    ) -> anyhow::Result<RedisProcess> {
        let auth = self.auth.clone();
        RedisProcess::start(
            &self.dir,
            name,
            "Ready to accept connections",
            move |port| {
                let mut args: Vec<String> = [
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    // A replica's first sync at once, not after the default 5 s.
                    "--repl-diskless-sync",
                    "yes",
                    "--repl-diskless-sync-delay",
                    "0",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                if let Some(p) = &auth.password {
                    args.extend([
                        "--requirepass".into(),
                        p.clone(),
                        "--masterauth".into(),
                        p.clone(),
                    ]);
                }
                if let Some(primary) = replica_of {
                    args.extend([
                        "--replicaof".into(),
                        "127.0.0.1".into(),
                        primary.to_string(),
                    ]);
                }
                args
            },
        )
        .await
    }

    /// `redis-sentinel://[:password@]s1,s2,s3/mymaster[?sentinelPassword=…]`: what the
    /// services take.
    pub fn sentinel_url(&self) -> String {
        let hosts: Vec<String> = self.sentinels.iter().map(RedisProcess::addr).collect();
        let mut url = "redis-sentinel://".to_owned();
        if let Some(p) = &self.auth.password {
            url.push_str(&format!(":{p}@"));
        }
        url.push_str(&format!("{}/{SERVICE}", hosts.join(",")));
        if let Some(p) = &self.auth.sentinel_password {
            url.push_str(&format!("?sentinelPassword={p}"));
        }
        url
    }

    /// A plain URL of data node `i` (to look at it directly).
    pub fn node_url(&self, i: usize) -> String {
        match &self.auth.password {
            Some(p) => format!("redis://:{p}@{}", self.nodes[i].addr()),
            None => format!("redis://{}", self.nodes[i].addr()),
        }
    }

    /// A plain URL of the current primary.
    pub fn primary_url(&self) -> String {
        self.node_url(self.primary)
    }

    fn sentinel_client_url(&self, i: usize) -> String {
        match &self.auth.sentinel_password {
            Some(p) => format!("redis://:{p}@{}", self.sentinels[i].addr()),
            None => format!("redis://{}", self.sentinels[i].addr()),
        }
    }

    /// A client of data node `i`.
    pub async fn node_client(&self, i: usize) -> anyhow::Result<Client> {
        Ok(
            tokio::time::timeout(Duration::from_secs(5), store::connect(&self.node_url(i)))
                .await??,
        )
    }

    async fn wait_replicating(&self, i: usize) -> anyhow::Result<()> {
        let url = self.node_url(i);
        eventually(
            DEADLINE,
            &format!("replica {i} follows its primary"),
            || {
                let url = url.clone();
                async move {
                    let info = node_info(&url, "replication").await?;
                    info.contains("master_link_status:up")
                        .then_some(())
                        .ok_or(info)
                }
            },
        )
        .await
    }

    /// Waits until every live sentinel names `primary_port` as the primary and knows
    /// every live replica and the other live sentinels.
    async fn wait_agreed(&mut self, primary_port: u16) -> anyhow::Result<()> {
        let replicas: Vec<u16> = self
            .nodes
            .iter_mut()
            .filter(|n| n.port != primary_port)
            .filter_map(|n| n.is_alive().then_some(n.port))
            .collect();
        let live: Vec<usize> = (0..self.sentinels.len())
            .filter(|&i| self.sentinels[i].is_alive())
            .collect();
        let urls: Vec<String> = live.iter().map(|&i| self.sentinel_client_url(i)).collect();
        eventually(DEADLINE, "the sentinels agree on the topology", || {
            let (urls, replicas) = (urls.clone(), replicas.clone());
            async move {
                for url in &urls {
                    let client = store::connect(url).await.map_err(|e| e.to_string())?;
                    let answers = async {
                        Ok::<_, String>((
                            master_addr(&client).await?,
                            sentinel_list(&client, "replicas").await?,
                            sentinel_list(&client, "sentinels").await?,
                        ))
                    }
                    .await;
                    let _ = client.quit().await;
                    let (master, known, peers) = answers?;
                    if master != format!("127.0.0.1:{primary_port}") {
                        return Err(format!("a sentinel names {master} the primary"));
                    }
                    for port in &replicas {
                        let ok = known.iter().any(|r| {
                            r.get("port") == Some(&port.to_string())
                                && r.get("flags").map(String::as_str) == Some("slave")
                                && r.get("master-link-status").map(String::as_str) == Some("ok")
                        });
                        if !ok {
                            return Err(format!(
                                "a sentinel does not know replica {port} yet: {known:?}"
                            ));
                        }
                    }
                    if peers.len() + 1 < urls.len() {
                        return Err(format!("a sentinel knows {} other sentinels", peers.len()));
                    }
                }
                Ok(())
            }
        })
        .await
    }

    /// SIGKILLs the primary; its index.
    pub fn kill_primary(&mut self) -> usize {
        self.nodes[self.primary].kill();
        self.primary
    }

    /// Cuts the primary off from its replicas while it keeps serving clients: each
    /// replica is given a wrong `masterauth` and its link dropped, so it cannot resync
    /// (until [`RedisTopology::wait_for_failover`] gives the right one back). Waits
    /// until the primary has no replica left.
    pub async fn isolate_primary(&self) -> anyhow::Result<()> {
        for i in 0..self.nodes.len() {
            if i == self.primary || self.nodes[i].child.is_none() {
                continue;
            }
            let client = self.node_client(i).await?;
            let _: () = client
                .custom(
                    fred::cmd!("CONFIG"),
                    vec!["SET", "masterauth", "isolated-by-the-test"],
                )
                .await?;
            let _: Value = client
                .custom(fred::cmd!("CLIENT"), vec!["KILL", "TYPE", "master"])
                .await?;
            let _ = client.quit().await;
        }
        let url = self.primary_url();
        eventually(DEADLINE, "the primary has lost its replicas", || {
            let url = url.clone();
            async move {
                let info = node_info(&url, "replication").await?;
                info.contains("connected_slaves:0")
                    .then_some(())
                    .ok_or(info)
            }
        })
        .await
    }

    /// Waits until the sentinels have promoted a node other than `old` and agree on it
    /// (and it answers as a primary); returns its index. Replicas cut off by
    /// [`RedisTopology::isolate_primary`] get their right `masterauth` back.
    pub async fn wait_for_failover(&mut self, old: usize) -> anyhow::Result<usize> {
        let old_addr = self.nodes[old].addr();
        let live: Vec<usize> = (0..self.sentinels.len())
            .filter(|&i| self.sentinels[i].is_alive())
            .collect();
        let live: Vec<String> = live
            .into_iter()
            .map(|i| self.sentinel_client_url(i))
            .collect();
        let addr = eventually(DEADLINE, "the sentinels promote a replica", || {
            let (live, old_addr) = (live.clone(), old_addr.clone());
            async move {
                let mut seen = Vec::new();
                for url in &live {
                    let client = store::connect(url).await.map_err(|e| e.to_string())?;
                    let master = master_addr(&client).await;
                    let _ = client.quit().await;
                    seen.push(master?);
                }
                if seen.iter().all(|a| *a == seen[0] && *a != old_addr) {
                    Ok(seen[0].clone())
                } else {
                    Err(format!("sentinels name {seen:?}"))
                }
            }
        })
        .await?;
        let promoted = self
            .nodes
            .iter()
            .position(|n| n.addr() == addr)
            .with_context(|| {
                format!("the sentinels promoted {addr}, not a node of this topology")
            })?;
        let url = self.node_url(promoted);
        eventually(DEADLINE, "the promoted node answers as a primary", || {
            let url = url.clone();
            async move {
                let info = node_info(&url, "replication").await?;
                info.contains("role:master").then_some(()).ok_or(info)
            }
        })
        .await?;
        self.primary = promoted;
        let masterauth = self.auth.password.clone().unwrap_or_default();
        for i in 0..self.nodes.len() {
            if i != promoted && self.nodes[i].is_alive() {
                let client = self.node_client(i).await?;
                let _: () = client
                    .custom(
                        fred::cmd!("CONFIG"),
                        vec!["SET", "masterauth", masterauth.as_str()],
                    )
                    .await?;
                let _ = client.quit().await;
            }
        }
        Ok(promoted)
    }

    /// The logs of every process, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (name, list) in [("node", &self.nodes), ("sentinel", &self.sentinels)] {
            for (i, p) in list.iter().enumerate() {
                out.push_str(&format!(
                    "--- {name} {i} ({}):\n{}\n",
                    p.addr(),
                    p.log_tail()
                ));
            }
        }
        out
    }
}

impl Drop for RedisTopology {
    fn drop(&mut self) {
        self.sentinels.clear();
        self.nodes.clear();
        if std::env::var("SWITCHYARD_TEST_KEEP").as_deref() != Ok("1") {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

async fn node_info(url: &str, section: &str) -> Result<String, String> {
    let client = store::connect(url).await.map_err(|e| e.to_string())?;
    let info: Result<String, String> = client
        .custom(fred::cmd!("INFO"), vec![section])
        .await
        .map_err(|e| e.to_string());
    let _ = client.quit().await;
    info
}

/// `SENTINEL get-master-addr-by-name` as `host:port`.
async fn master_addr(sentinel: &Client) -> Result<String, String> {
    let addr: Vec<String> = sentinel
        .custom(
            fred::cmd!("SENTINEL"),
            vec!["get-master-addr-by-name", SERVICE],
        )
        .await
        .map_err(|e| e.to_string())?;
    match addr.as_slice() {
        [host, port] => Ok(format!("{host}:{port}")),
        other => Err(format!("get-master-addr-by-name answered {other:?}")),
    }
}

/// `SENTINEL replicas|sentinels mymaster`: one map of fields per instance.
async fn sentinel_list(
    sentinel: &Client,
    what: &str,
) -> Result<Vec<std::collections::HashMap<String, String>>, String> {
    let value: Value = sentinel
        .custom(fred::cmd!("SENTINEL"), vec![what, SERVICE])
        .await
        .map_err(|e| e.to_string())?;
    let Value::Array(instances) = value else {
        return Err(format!("SENTINEL {what} answered {value:?}"));
    };
    Ok(instances
        .into_iter()
        .map(|instance| {
            let fields: Vec<String> = match instance {
                Value::Array(fields) => {
                    fields.into_iter().filter_map(|f| f.into_string()).collect()
                }
                Value::Map(map) => map
                    .inner()
                    .into_iter()
                    .flat_map(|(k, v)| [k.into_string(), v.into_string()])
                    .flatten()
                    .collect(),
                _ => Vec::new(),
            };
            fields
                .chunks(2)
                .filter_map(|kv| Some((kv.first()?.clone(), kv.get(1)?.clone())))
                .collect()
        })
        .collect())
}
