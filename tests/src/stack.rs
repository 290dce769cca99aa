//! The real binaries wired together as a user runs them: [`Stack::builder`] starts
//! `panel-api` on a test database and Redis prefix of its own, any number of
//! `switchyard-proxy` on the same prefix, optionally a `cert-worker` with Pebble and
//! pebble-challtestsrv and fake DNS provider APIs ([`StackBuilder::dns_provider`]), and
//! optionally a private PostgreSQL primary with a streaming standby instead of the test
//! database ([`StackBuilder::postgres_standby`]). [`Panel`] is the one way to start the
//! panel: as a process (the default), or inside the test's own process
//! ([`StackBuilder::panel_in_process`], for `panel-api`'s own tests, which cannot name
//! the panel's types from here) from the same command line; either way it has typed calls
//! for what tests do most (API keys, users, DNS credentials, domains, certificates,
//! grants, zones, health). Every service binds port 0 and reports the address it got;
//! see [`crate::proxy`] and [`crate::cert_worker`] for the launchers.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use switchyard_tests::stack::Stack;
//! let stack = Stack::builder().proxies(2).build().await?;
//! let key = stack.admin_key().await?;
//! stack.panel.create_domain(&key, "example.test").await?;
//! stack.finish().await
//! # }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::acme::AcmeEnv;
use crate::cert_worker::{CertWorker, CertWorkerOptions};
use crate::dns_providers::{FakeProvider, Kind, Mode};
use crate::eventually::eventually;
use crate::postgres::TestDatabase;
use crate::postgres_pair::PostgresPair;
use crate::process::{Service, logged_fields};
use crate::proxy::{Proxy, ProxyOptions};
use crate::redis::TestRedis;

/// How long a service may take to become ready (debug builds, migrations, a loaded
/// 2-core machine).
pub const READY_DEADLINE: Duration = Duration::from_secs(60);

/// The database a stack with [`StackBuilder::postgres_standby`] creates on its pair.
pub const PAIR_DATABASE: &str = "switchyard";

/// The first admin of every stack.
pub const ADMIN: &str = "root";
pub const ADMIN_PASSWORD: &str = "stack-test-admin-password-7f3a";

/// A running `panel-api` and a client for it.
pub struct Panel {
    pub run: PanelRun,
    /// `http://127.0.0.1:PORT/api/v1`
    pub base: String,
    pub http: reqwest::Client,
}

/// How a [`Panel`] runs.
pub enum PanelRun {
    /// The `panel-api` binary (killed when dropped).
    Process(Service),
    /// Inside the test's process, started by a [`PanelStarter`].
    InProcess(InProcessPanel),
}

/// A panel serving inside the test's process; what a [`PanelStarter`] returns.
pub struct InProcessPanel {
    /// The address it bound (the command line asks for `127.0.0.1:0`).
    pub addr: SocketAddr,
    /// Sent (or dropped) to stop it: the server finishes its requests and returns.
    pub stop: Option<oneshot::Sender<()>>,
    /// The server; its result is the panel's.
    pub task: Option<JoinHandle<anyhow::Result<()>>>,
    /// The panel's log so far, as the starter captures it.
    pub logs: Box<dyn Fn() -> String + Send + Sync>,
}

/// Starts a panel in the test's process from the arguments the binary would get (no
/// program name; every setting is a flag, none comes from the environment), e.g. by
/// parsing them into `panel_api::Config` and serving `panel_api::router`.
pub type PanelStarter = Box<
    dyn FnOnce(Vec<String>) -> Pin<Box<dyn Future<Output = anyhow::Result<InProcessPanel>>>> + Send,
>;

/// A reply of the panel: status and JSON body (`Null` when empty).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub json: Value,
}

/// How a request authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Basic(&'a str, &'a str),
}

impl Panel {
    /// Starts the panel on `database_url` and Redis `redis_url` under `prefix`, with
    /// the stack's first admin, and waits until `/health` answers.
    pub async fn start(database_url: &str, redis_url: &str, prefix: &str) -> anyhow::Result<Panel> {
        Self::start_with(database_url, redis_url, prefix, &[], &[]).await
    }

    /// The panel's command line (without the program name): the test defaults — port 0,
    /// plain-HTTP cookies, the outbox replayed every second, the stack's first admin —
    /// then `extra`, whose flags replace those defaults.
    pub fn args(database_url: &str, redis_url: &str, prefix: &str, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
            "--redis-url",
            redis_url,
            "--key-prefix",
            prefix,
            "--cookie-secure",
            "false",
            "--outbox-replay-secs",
            "1",
            "--admin-user",
            ADMIN,
            "--admin-password",
            ADMIN_PASSWORD,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // A flag in `extra` replaces the default above.
        for arg in extra.iter().filter(|a| a.starts_with("--")) {
            let flag = arg.split_once('=').map_or(*arg, |(flag, _)| flag);
            if let Some(i) = args.iter().position(|a| a == flag) {
                args.drain(i..i + 2);
            }
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// [`Panel::start`] as a process with `extra` arguments (a flag there replaces its
    /// default, see [`Panel::args`]) and environment variables.
    pub async fn start_with(
        database_url: &str,
        redis_url: &str,
        prefix: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Panel> {
        let args = Self::args(database_url, redis_url, prefix, extra);
        let service = Service::start("panel-api", &args, env)?;
        // Port 0: the panel binds a free one and logs it (`panel-api serving`).
        let listen = eventually(READY_DEADLINE, "panel-api logs its address", || {
            let text = service.log_text();
            async move {
                logged_fields(&text, "panel-api serving")
                    .and_then(|f| f.get("listen")?.as_str().map(str::to_owned))
                    .ok_or_else(|| "no \"panel-api serving\" line yet".to_owned())
            }
        })
        .await
        .with_context(|| service.log_tail(20))?;
        let panel = Panel::on(PanelRun::Process(service), &listen)?;
        let health = format!("{}/health", panel.base);
        let http = panel.http.clone();
        eventually(READY_DEADLINE, "panel-api answers /health", || {
            let (http, health) = (http.clone(), health.clone());
            async move {
                let r = http.get(&health).send().await.map_err(|e| e.to_string())?;
                (r.status().as_u16() == 200)
                    .then_some(())
                    .ok_or_else(|| format!("status {}", r.status()))
            }
        })
        .await
        .with_context(|| panel.log_tail(20))?;
        Ok(panel)
    }

    /// The panel inside the test's process: `start` gets [`Panel::args`] and returns once
    /// the panel listens (its migrations applied, its first admin made). Unlike
    /// [`Panel::start_with`] this does not wait for `/health` to say 200: a test may start
    /// a panel whose Redis is down on purpose.
    pub async fn start_in_process(
        start: PanelStarter,
        database_url: &str,
        redis_url: &str,
        prefix: &str,
        extra: &[&str],
    ) -> anyhow::Result<Panel> {
        let running = start(Self::args(database_url, redis_url, prefix, extra)).await?;
        let addr = running.addr.to_string();
        Panel::on(PanelRun::InProcess(running), &addr)
    }

    fn on(run: PanelRun, listen: &str) -> anyhow::Result<Panel> {
        Ok(Panel {
            run,
            base: format!("http://{listen}/api/v1"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .no_proxy()
                .build()?,
        })
    }

    /// Everything the panel logged so far.
    pub fn log_text(&self) -> String {
        match &self.run {
            PanelRun::Process(service) => service.log_text(),
            PanelRun::InProcess(panel) => (panel.logs)(),
        }
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        match &self.run {
            PanelRun::Process(service) => service.log_tail(lines),
            PanelRun::InProcess(panel) => {
                let text = (panel.logs)();
                let all: Vec<&str> = text.lines().collect();
                all[all.len().saturating_sub(lines)..].join("\n")
            }
        }
    }

    /// Stops the panel (SIGTERM for a process) and waits for it; an in-process panel's
    /// error, if it ended with one, is returned.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        match &mut self.run {
            PanelRun::Process(service) => service.stop().await,
            PanelRun::InProcess(panel) => {
                if let Some(stop) = panel.stop.take() {
                    let _ = stop.send(());
                }
                match panel.task.take() {
                    Some(task) => task.await?,
                    None => Ok(()),
                }
            }
        }
    }

    /// One API call; `path` is under `/api/v1`.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
    ) -> anyhow::Result<Reply> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        request = match auth {
            Auth::None => request,
            Auth::Bearer(key) => request.bearer_auth(key),
            Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
        };
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?
        };
        Ok(Reply { status, json })
    }

    /// A new API key for `user` (made with its password); the full key.
    pub async fn key(&self, user: &str, password: &str) -> anyhow::Result<String> {
        let r = self
            .call(
                reqwest::Method::POST,
                "/api-keys",
                Auth::Basic(user, password),
                Some(serde_json::json!({"name": "stack test"})),
            )
            .await?;
        anyhow::ensure!(r.status == 201, "key for {user}: {} {}", r.status, r.json);
        Ok(r.json["key"].as_str().context("a key")?.to_owned())
    }

    /// POSTs `body` to `path` as `key`, expecting `status`; the reply's JSON.
    pub async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
        status: u16,
    ) -> anyhow::Result<Value> {
        let r = self
            .call(method.clone(), path, Auth::Bearer(key), body)
            .await?;
        anyhow::ensure!(
            r.status == status,
            "{method} {path}: expected {status}, got {} {}",
            r.status,
            r.json
        );
        Ok(r.json)
    }
}

/// The panel's usual zone body: `host` sending everything to `upstream_url`.
pub fn zone_body(host: &str, upstream_url: &str) -> Value {
    serde_json::json!({
        "hostname": host,
        "backend": {"kind": "upstreams", "upstreams": [{"url": upstream_url}]},
    })
}

/// Typed calls for what tests do most; each expects the documented success status and
/// returns the reply's JSON (an error with the status and body otherwise).
impl Panel {
    /// `POST /users` (201).
    pub async fn create_user(
        &self,
        key: &str,
        username: &str,
        password: &str,
    ) -> anyhow::Result<Value> {
        let body = serde_json::json!({"username": username, "password": password});
        self.expect(reqwest::Method::POST, "/users", key, Some(body), 201)
            .await
    }

    /// `POST /domains` (201).
    pub async fn create_domain(&self, key: &str, name: &str) -> anyhow::Result<Value> {
        let body = serde_json::json!({"name": name});
        self.expect(reqwest::Method::POST, "/domains", key, Some(body), 201)
            .await
    }

    /// `POST /domains` (201) whose certificate is validated with the DNS credential
    /// `credential_id`.
    pub async fn create_domain_with_credential(
        &self,
        key: &str,
        name: &str,
        credential_id: &Value,
    ) -> anyhow::Result<Value> {
        let body = serde_json::json!({"name": name, "dns_credential_id": credential_id});
        self.expect(reqwest::Method::POST, "/domains", key, Some(body), 201)
            .await
    }

    /// `POST /dns-credentials` (201): a `manual` credential (the operator publishes the
    /// TXT records the certificate shows as `manual_dns`).
    pub async fn create_manual_dns_credential(
        &self,
        key: &str,
        name: &str,
    ) -> anyhow::Result<Value> {
        let body = serde_json::json!({"name": name, "provider": "manual"});
        self.post_dns_credential(key, body).await
    }

    async fn post_dns_credential(&self, key: &str, body: Value) -> anyhow::Result<Value> {
        self.expect(
            reqwest::Method::POST,
            "/dns-credentials",
            key,
            Some(body),
            201,
        )
        .await
    }

    /// `POST /dns-credentials` (201): a credential for `provider`'s API (its kind, its
    /// token or keys, and its address as `api_base_url`).
    pub async fn create_dns_credential(
        &self,
        key: &str,
        name: &str,
        provider: &FakeProvider,
    ) -> anyhow::Result<Value> {
        let body = serde_json::json!({
            "name": name,
            "provider": provider.provider(),
            "secret": provider.secret(),
            "api_base_url": provider.base_url(),
        });
        self.post_dns_credential(key, body).await
    }

    /// `GET /domains/{id}/certificate` (200): the domain's wildcard certificate.
    pub async fn domain_certificate(&self, key: &str, domain_id: &str) -> anyhow::Result<Value> {
        self.expect(
            reqwest::Method::GET,
            &format!("/domains/{domain_id}/certificate"),
            key,
            None,
            200,
        )
        .await
    }

    /// `GET /zones/{id}/certificate` (200): the certificate the zone's hostname gets.
    pub async fn zone_certificate(&self, key: &str, zone_id: &str) -> anyhow::Result<Value> {
        self.expect(
            reqwest::Method::GET,
            &format!("/zones/{zone_id}/certificate"),
            key,
            None,
            200,
        )
        .await
    }

    /// `POST /grants` (201): `user_id` may `level` (`view`, `edit`) `domain_id`.
    pub async fn grant(
        &self,
        key: &str,
        user_id: &Value,
        domain_id: &Value,
        level: &str,
    ) -> anyhow::Result<Value> {
        let body = serde_json::json!({"user_id": user_id, "domain_id": domain_id, "level": level});
        self.expect(reqwest::Method::POST, "/grants", key, Some(body), 201)
            .await
    }

    /// `POST /zones` (201).
    pub async fn create_zone(&self, key: &str, zone: Value) -> anyhow::Result<Value> {
        self.expect(reqwest::Method::POST, "/zones", key, Some(zone), 201)
            .await
    }

    /// `GET /zones/{id}` (200).
    pub async fn get_zone(&self, key: &str, id: &str) -> anyhow::Result<Value> {
        self.expect(
            reqwest::Method::GET,
            &format!("/zones/{id}"),
            key,
            None,
            200,
        )
        .await
    }

    /// `PUT /zones/{id}` (200).
    pub async fn update_zone(&self, key: &str, id: &str, zone: Value) -> anyhow::Result<Value> {
        self.expect(
            reqwest::Method::PUT,
            &format!("/zones/{id}"),
            key,
            Some(zone),
            200,
        )
        .await
    }

    /// `DELETE /zones/{id}` (204).
    pub async fn delete_zone(&self, key: &str, id: &str) -> anyhow::Result<()> {
        self.expect(
            reqwest::Method::DELETE,
            &format!("/zones/{id}"),
            key,
            None,
            204,
        )
        .await
        .map(|_| ())
    }

    /// `GET /zones` (200): the first page of what `key` may see.
    pub async fn zones(&self, key: &str) -> anyhow::Result<Value> {
        self.expect(reqwest::Method::GET, "/zones", key, None, 200)
            .await
    }

    /// `GET /health` without credentials: its status and document (503 while degraded).
    pub async fn health(&self) -> anyhow::Result<Reply> {
        self.call(reqwest::Method::GET, "/health", Auth::None, None)
            .await
    }
}

/// Where the stack's Redis comes from.
enum RedisSource {
    /// A fresh prefix on the shared test Redis.
    Shared,
    /// A URL (a private topology's Sentinel set) and a prefix of the test's.
    Url { url: String, prefix: String },
}

/// The options of the stack's proxy number `n` (from 1): `proxy-<n>`, plain HTTP, one
/// worker thread (several proxies share a small machine).
fn proxy_options(redis_url: &str, prefix: &str, n: usize) -> ProxyOptions {
    ProxyOptions::new(redis_url, prefix)
        .id(&format!("proxy-{n}"))
        .local()
        .arg("--threads=1")
}

/// The options of the stack's cert worker: its database, Redis and prefix, ordering from
/// the stack's Pebble if it has one.
fn cert_worker_options(
    database_url: &str,
    redis_url: &str,
    prefix: &str,
    acme: Option<&AcmeEnv>,
) -> CertWorkerOptions {
    let options = CertWorkerOptions::new(database_url, redis_url, prefix);
    match acme {
        Some(acme) => options.acme(acme),
        None => options,
    }
}

/// Builds a [`Stack`]; see [`Stack::builder`].
pub struct StackBuilder {
    proxies: Vec<Box<dyn FnOnce(ProxyOptions) -> ProxyOptions + Send>>,
    cert_worker: bool,
    acme: bool,
    dns_providers: Vec<(Kind, String, Mode)>,
    panel_starter: Option<PanelStarter>,
    redis: RedisSource,
    database_url: Option<String>,
    postgres_standby: bool,
    panel_args: Vec<String>,
}

impl StackBuilder {
    /// `n` more proxies, plain HTTP (`--local`), ready before [`StackBuilder::build`]
    /// returns.
    pub fn proxies(mut self, n: usize) -> Self {
        for _ in 0..n {
            self.proxies.push(Box::new(|o| o));
        }
        self
    }

    /// One more proxy, its options changed by `with` (HTTPS, a replica to read, flags).
    pub fn proxy(
        mut self,
        with: impl FnOnce(ProxyOptions) -> ProxyOptions + Send + 'static,
    ) -> Self {
        self.proxies.push(Box::new(with));
        self
    }

    /// `n` more proxies reading the routing data from the replica at `read_url`.
    pub fn proxies_on_replica(mut self, read_url: &str, n: usize) -> Self {
        for _ in 0..n {
            let url = read_url.to_owned();
            self.proxies.push(Box::new(move |o| o.read_url(&url)));
        }
        self
    }

    /// A `cert-worker` process on the stack's database and Redis (no CA unless
    /// [`StackBuilder::acme`]).
    pub fn cert_worker(mut self) -> Self {
        self.cert_worker = true;
        self
    }

    /// Pebble and pebble-challtestsrv ([`AcmeEnv`]); the cert worker, if any, orders
    /// from them.
    pub fn acme(mut self) -> Self {
        self.acme = true;
        self
    }

    /// A fake DNS provider API of `kind` hosting `zone` (implies [`StackBuilder::acme`]):
    /// the records it is given go into the stack's challtestsrv, where Pebble and the cert
    /// worker look. [`Stack::dns_providers`] holds them in the order asked;
    /// [`Panel::create_dns_credential`] points a credential at one.
    pub fn dns_provider(mut self, kind: Kind, zone: &str, mode: Mode) -> Self {
        self.acme = true;
        self.dns_providers.push((kind, zone.to_owned(), mode));
        self
    }

    /// Runs the panel inside the test's process with `start` instead of as a process
    /// (see [`Panel::start_in_process`]).
    pub fn panel_in_process(mut self, start: PanelStarter) -> Self {
        self.panel_starter = Some(start);
        self
    }

    /// Redis at `url` (a private topology: `RedisTopology::sentinel_url`) under a fresh
    /// prefix, instead of a prefix on the shared test Redis.
    pub fn redis_url(mut self, url: &str) -> Self {
        self.redis = RedisSource::Url {
            url: url.to_owned(),
            prefix: format!("sy-stack-{}:", uuid::Uuid::new_v4().simple()),
        };
        self
    }

    /// Redis at `url` under `prefix`, both the test's (a relay in front of the test
    /// Redis, say; the test cleans the prefix up).
    pub fn redis_prefixed(mut self, url: &str, prefix: &str) -> Self {
        self.redis = RedisSource::Url {
            url: url.to_owned(),
            prefix: prefix.to_owned(),
        };
        self
    }

    /// PostgreSQL at `url` (e.g. a `PostgresPair`'s multi-host URL) instead of a fresh
    /// test database on the shared server.
    pub fn database_url(mut self, url: &str) -> Self {
        self.database_url = Some(url.to_owned());
        self
    }

    /// A private PostgreSQL primary with a streaming standby ([`PostgresPair`],
    /// [`Stack::postgres`]) instead of a test database on the shared server: every
    /// service gets the pair's multi-host URL for the database [`PAIR_DATABASE`] (the
    /// primary first, `target_session_attrs=read-write`), so a promoted standby takes
    /// over. Replaces [`StackBuilder::database_url`].
    pub fn postgres_standby(mut self) -> Self {
        self.postgres_standby = true;
        self
    }

    /// A further panel argument (a flag replaces its default).
    pub fn panel_arg(mut self, arg: &str) -> Self {
        self.panel_args.push(arg.to_owned());
        self
    }

    /// Starts everything and waits until the panel answers, every proxy is ready and
    /// the cert worker listens.
    pub async fn build(self) -> anyhow::Result<Stack> {
        let (mut database, mut postgres) = (None, None);
        let database_url = match (self.postgres_standby, self.database_url) {
            (true, _) => {
                let pair = PostgresPair::start().await?;
                pair.create_database(PAIR_DATABASE).await?;
                postgres.insert(pair).multi_host_url(PAIR_DATABASE)
            }
            (false, Some(url)) => url,
            (false, None) => database
                .insert(TestDatabase::create().await?)
                .url()
                .to_owned(),
        };
        let (redis, redis_url, prefix) = match self.redis {
            RedisSource::Shared => {
                let redis = TestRedis::new().await?;
                let (url, prefix) = (redis.url().to_owned(), redis.prefix().to_owned());
                (Some(redis), url, prefix)
            }
            RedisSource::Url { url, prefix } => (None, url, prefix),
        };
        let mut panel_args: Vec<&str> = self.panel_args.iter().map(String::as_str).collect();
        // A panel process seals DNS credentials with the key the stack's cert worker opens
        // them with; an in-process panel (panel-api's own tests) gets what its test asks.
        let sealing = format!("--secret-key={}", crate::cert_worker::SECRET_KEY);
        if self.panel_starter.is_none() && !panel_args.iter().any(|a| a.starts_with("--secret-key"))
        {
            panel_args.push(&sealing);
        }
        let panel = match self.panel_starter {
            None => Panel::start_with(&database_url, &redis_url, &prefix, &panel_args, &[]).await?,
            Some(start) => {
                Panel::start_in_process(start, &database_url, &redis_url, &prefix, &panel_args)
                    .await?
            }
        };
        let acme = match self.acme {
            true => Some(AcmeEnv::start().await?),
            false => None,
        };
        let mut dns_providers = Vec::new();
        if let Some(acme) = &acme {
            for (kind, zone, mode) in self.dns_providers {
                let management = vec![acme.dns.management_url()];
                dns_providers.push(FakeProvider::start(kind, &zone, mode, management).await);
            }
        }
        let mut proxies = Vec::new();
        for (i, with) in self.proxies.into_iter().enumerate() {
            let options = proxy_options(&redis_url, &prefix, i + 1);
            proxies.push(with(options).launch().await?);
        }
        for proxy in &proxies {
            proxy.ready().await?;
        }
        let cert_worker = match self.cert_worker {
            true => Some(
                cert_worker_options(&database_url, &redis_url, &prefix, acme.as_ref())
                    .launch()
                    .await?,
            ),
            false => None,
        };
        Ok(Stack {
            panel,
            proxies,
            cert_worker,
            acme,
            dns_providers,
            database,
            postgres,
            redis,
            database_url,
            redis_url,
            prefix,
        })
    }
}

/// A running stack; processes are killed when it is dropped. [`Stack::finish`] also
/// removes its database and Redis keys.
pub struct Stack {
    pub panel: Panel,
    pub proxies: Vec<Proxy>,
    pub cert_worker: Option<CertWorker>,
    pub acme: Option<AcmeEnv>,
    /// The fake DNS provider APIs ([`StackBuilder::dns_provider`]), in the order asked.
    pub dns_providers: Vec<FakeProvider>,
    /// The test database, unless the stack was given one ([`StackBuilder::database_url`]).
    pub database: Option<TestDatabase>,
    /// The primary and its standby, with [`StackBuilder::postgres_standby`] (stopped
    /// and removed when the stack is dropped).
    pub postgres: Option<PostgresPair>,
    /// The prefix on the shared Redis, unless given a URL ([`StackBuilder::redis_url`]).
    pub redis: Option<TestRedis>,
    pub database_url: String,
    pub redis_url: String,
    pub prefix: String,
}

impl Stack {
    /// A panel on a fresh database and Redis prefix, and whatever else is asked for.
    pub fn builder() -> StackBuilder {
        StackBuilder {
            proxies: Vec::new(),
            cert_worker: false,
            acme: false,
            dns_providers: Vec::new(),
            panel_starter: None,
            redis: RedisSource::Shared,
            database_url: None,
            postgres_standby: false,
            panel_args: Vec::new(),
        }
    }

    /// A new API key of the stack's first admin.
    pub async fn admin_key(&self) -> anyhow::Result<String> {
        self.panel.key(ADMIN, ADMIN_PASSWORD).await
    }

    /// One more proxy on the stack's Redis and prefix, ready, its options changed by
    /// `with`.
    pub async fn add_proxy(
        &mut self,
        with: impl FnOnce(ProxyOptions) -> ProxyOptions,
    ) -> anyhow::Result<&Proxy> {
        let options = proxy_options(&self.redis_url, &self.prefix, self.proxies.len() + 1);
        let proxy = with(options).launch_ready().await?;
        self.proxies.push(proxy);
        Ok(self.proxies.last().expect("just pushed"))
    }

    /// Starts the stack's cert worker now (a test that prepares the database first), its
    /// options changed by `with`; it replaces any earlier one, which is killed.
    pub async fn start_cert_worker(
        &mut self,
        with: impl FnOnce(CertWorkerOptions) -> CertWorkerOptions,
    ) -> anyhow::Result<&mut CertWorker> {
        let options = cert_worker_options(
            &self.database_url,
            &self.redis_url,
            &self.prefix,
            self.acme.as_ref(),
        );
        let worker = with(options).launch().await?;
        Ok(self.cert_worker.insert(worker))
    }

    /// Stops every process (and an in-process panel), then removes the stack's database (or PostgreSQL pair) and
    /// Redis keys.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        // A panel process is killed with the rest; one in the test's process is stopped,
        // so that its tasks end and an error it ended with is the test's.
        let stopped = match self.panel.run {
            PanelRun::InProcess(_) => self.panel.stop().await,
            PanelRun::Process(_) => Ok(()),
        };
        drop((self.panel, self.proxies, self.cert_worker, self.acme));
        drop(self.dns_providers);
        drop(self.postgres);
        if let Some(redis) = self.redis {
            redis.cleanup().await?;
        }
        if let Some(database) = self.database {
            database.drop_now().await?;
        }
        stopped
    }
}
