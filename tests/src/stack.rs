//! The real binaries wired together as a user runs them: `panel-api` on its own test
//! database and Redis prefix, any number of `switchyard-proxy` on the same prefix, and
//! a small client for the panel's REST API.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;

use crate::eventually::eventually;
use crate::process::Service;

/// How long a service may take to become ready (debug builds, migrations, a loaded
/// 2-core machine).
pub const READY_DEADLINE: Duration = Duration::from_secs(60);

/// The first admin of every stack.
pub const ADMIN: &str = "root";
pub const ADMIN_PASSWORD: &str = "stack-test-admin-password-7f3a";

/// A running `panel-api` and a client for it.
pub struct Panel {
    pub service: Service,
    /// `http://127.0.0.1:PORT/api/v1`
    pub base: String,
    pub http: reqwest::Client,
}

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
        let args: Vec<String> = [
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
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let env = [
            ("SWITCHYARD_ADMIN_USER", ADMIN),
            ("SWITCHYARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ];
        let service = Service::start("panel-api", &args, &env)?;
        // Port 0: the panel binds a free one and logs it (`panel-api serving`).
        let listen = eventually(READY_DEADLINE, "panel-api logs its address", || {
            let text = service.log_text();
            async move {
                crate::process::logged_fields(&text, "panel-api serving")
                    .and_then(|f| f.get("listen")?.as_str().map(str::to_owned))
                    .ok_or_else(|| "no \"panel-api serving\" line yet".to_owned())
            }
        })
        .await
        .with_context(|| service.log_tail(20))?;
        let panel = Panel {
            service,
            base: format!("http://{listen}/api/v1"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .no_proxy()
                .build()?,
        };
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
        .with_context(|| panel.service.log_tail(20))?;
        Ok(panel)
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

/// A running `switchyard-proxy` in local mode (plain HTTP).
pub struct Proxy {
    pub service: Service,
    pub http: SocketAddr,
    pub admin: SocketAddr,
    pub id: String,
}

impl Proxy {
    /// Starts a proxy named `id` on `redis_url` under `prefix` and waits until it is
    /// ready (a snapshot loaded).
    pub async fn start(redis_url: &str, prefix: &str, id: &str) -> anyhow::Result<Proxy> {
        let proxy = Self::spawn(redis_url, prefix, id, None).await?;
        proxy.ready().await?;
        Ok(proxy)
    }

    /// Starts a proxy named `id` that reads the routing data from `read_url` (a replica:
    /// `--redis-read-url`) and writes its status to `redis_url` (the primary or its
    /// Sentinel set), and waits until it is ready.
    pub async fn start_on_replica(
        redis_url: &str,
        read_url: &str,
        prefix: &str,
        id: &str,
    ) -> anyhow::Result<Proxy> {
        let extra = [format!("--redis-read-url={read_url}")];
        let proxy = Self::spawn_with(redis_url, prefix, id, None, &extra).await?;
        proxy.ready().await?;
        Ok(proxy)
    }

    /// Starts a proxy and waits until it reports its addresses (not until it is
    /// ready): on ports the system picks (port 0, read from its log), or in `dir` (where
    /// an earlier one left its snapshot file) on the same ports as before if given.
    pub async fn spawn(
        redis_url: &str,
        prefix: &str,
        id: &str,
        restart: Option<(&Path, SocketAddr, SocketAddr)>,
    ) -> anyhow::Result<Proxy> {
        Self::spawn_with(redis_url, prefix, id, restart, &[]).await
    }

    /// [`Proxy::spawn`] with `extra` arguments after the usual ones.
    async fn spawn_with(
        redis_url: &str,
        prefix: &str,
        id: &str,
        restart: Option<(&Path, SocketAddr, SocketAddr)>,
        extra: &[String],
    ) -> anyhow::Result<Proxy> {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        let (http, admin) = match restart {
            Some((_, http, admin)) => (http, admin),
            None => (any_port, any_port),
        };
        let args: Vec<String> = [
            "--local".to_owned(),
            "--http-listen".to_owned(),
            http.to_string(),
            "--admin-listen".to_owned(),
            admin.to_string(),
            "--redis-url".to_owned(),
            redis_url.to_owned(),
            "--key-prefix".to_owned(),
            prefix.to_owned(),
            "--snapshot-file".to_owned(),
            "snapshot.json".to_owned(),
            "--upgrade-sock".to_owned(),
            "upgrade.sock".to_owned(),
            "--proxy-id".to_owned(),
            id.to_owned(),
            "--grace-secs".to_owned(),
            "0".to_owned(),
            "--drain-delay-ms".to_owned(),
            "0".to_owned(),
            "--startup-timeout-ms".to_owned(),
            "2000".to_owned(),
            "--threads".to_owned(),
            "1".to_owned(),
        ]
        .into_iter()
        .chain(extra.iter().cloned())
        .collect();
        let mut service = match restart {
            Some((dir, _, _)) => Service::start_in("switchyard-proxy", &args, &[], dir)?,
            None => Service::start("switchyard-proxy", &args, &[])?,
        };
        let listening = service.proxy_listening(READY_DEADLINE).await?;
        Ok(Proxy {
            service,
            http: listening.http,
            admin: listening.admin,
            id: id.to_owned(),
        })
    }

    /// Waits until `/readyz` answers 200.
    pub async fn ready(&self) -> anyhow::Result<()> {
        let url = format!("http://{}/readyz", self.admin);
        eventually(READY_DEADLINE, "the proxy is ready", || {
            let url = url.clone();
            async move {
                let r = reqwest::get(&url).await.map_err(|e| e.to_string())?;
                (r.status().as_u16() == 200)
                    .then_some(())
                    .ok_or_else(|| format!("status {}", r.status()))
            }
        })
        .await
        .with_context(|| self.service.log_tail(20))
    }

    /// The proxy's `/status` document (applied version, source, sizes).
    pub async fn status(&self) -> anyhow::Result<Value> {
        let text = reqwest::get(format!("http://{}/status", self.admin))
            .await?
            .text()
            .await?;
        Ok(serde_json::from_str(&text)?)
    }

    /// `GET http://{host}{path}` through the proxy: the status and the upstream's name
    /// (its `x-upstream` header), or the connection error.
    pub async fn get(&self, host: &str, path: &str) -> Result<(u16, Option<String>), String> {
        let r = crate::client::http_get(self.http, host, path)
            .await
            .map_err(|e| e.to_string())?;
        let upstream = r
            .header(crate::upstream::UPSTREAM_HEADER)
            .map(str::to_owned);
        Ok((r.status.as_u16(), upstream))
    }
}
