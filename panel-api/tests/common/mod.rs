//! The panel under test: one running panel per test with its own PostgreSQL database and
//! Redis key prefix, an HTTP client that records every body (to look for leaked secrets)
//! and the service's captured log lines. The panel runs in the test's process, started by
//! the shared harness's [`Stack`] (the same command line as the binary's; see
//! `switchyard_tests::stack::Panel::args`).

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser as _;
use fred::prelude::KeysInterface as _;
use panel_api::entity::audit_log;
use panel_api::{AppState, Config};
use reqwest::Method;
use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use serde_json::{Value, json};
use switchyard_shared::model::HostRecord;
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::redis::TestRedis;
pub use switchyard_tests::stack::{ADMIN, ADMIN_PASSWORD};
use switchyard_tests::stack::{InProcessPanel, PanelStarter, Stack};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Captures everything the service logs during a test, to look for secrets in it.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// One running panel with its own database and Redis prefix.
pub struct Panel {
    pub base: String,
    pub http: reqwest::Client,
    pub db: sea_orm::DatabaseConnection,
    pub redis: TestRedis,
    pub database: Option<TestDatabase>,
    /// The panel (in this process) and whatever else the test's stack runs.
    pub stack: Stack,
    /// Every response body seen, to check that secrets do not leak.
    pub bodies: Vec<(String, String)>,
    pub logs: Logs,
    pub _log_guard: tracing::subscriber::DefaultGuard,
}

pub struct Reply {
    pub status: u16,
    pub json: Value,
    /// Every `Set-Cookie` header of the response.
    pub set_cookies: Vec<String>,
    pub headers: reqwest::header::HeaderMap,
}

pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Basic(&'a str, &'a str),
    /// A session cookie, with the CSRF token sent as `X-CSRF-Token` when given.
    Session {
        cookie: &'a str,
        csrf: Option<&'a str>,
    },
}

/// A logged-in browser: the session cookie's value and the CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    /// As a browser sends it: cookie and CSRF header.
    pub fn auth(&self) -> Auth<'_> {
        Auth::Session {
            cookie: &self.cookie,
            csrf: Some(&self.csrf),
        }
    }
}

impl Panel {
    pub async fn start() -> anyhow::Result<Panel> {
        Self::start_with_redis(None).await
    }

    /// `redis_url` overrides the test Redis (e.g. to point at a closed port).
    pub async fn start_with_redis(redis_url: Option<&str>) -> anyhow::Result<Panel> {
        Self::start_with(redis_url, &[]).await
    }

    /// `extra` flags are appended to the panel's command line (e.g. login limits).
    pub async fn start_with(redis_url: Option<&str>, extra: &[&str]) -> anyhow::Result<Panel> {
        Self::start_full(redis_url, |url| url.to_owned(), extra).await
    }

    /// [`Panel::start_with`], with the panel's database URL made from the test
    /// database's (e.g. to put a cuttable relay in between); the test's own `db`
    /// connection goes direct.
    pub async fn start_full(
        redis_url: Option<&str>,
        database_url: impl FnOnce(&str) -> String,
        extra: &[&str],
    ) -> anyhow::Result<Panel> {
        Self::start_inner(redis_url, database_url, extra, None).await
    }

    /// A panel that also serves `routes` of the test's own, behind the same layers as
    /// every route of the panel (`panel_api::app::serve_routes`).
    pub async fn start_with_routes(routes: axum::Router<AppState>) -> anyhow::Result<Panel> {
        Self::start_inner(None, |url| url.to_owned(), &[], Some(routes)).await
    }

    async fn start_inner(
        redis_url: Option<&str>,
        database_url: impl FnOnce(&str) -> String,
        extra: &[&str],
        routes: Option<axum::Router<AppState>>,
    ) -> anyhow::Result<Panel> {
        let logs = Logs::default();
        let writer = logs.clone();
        // Tests run on a current-thread runtime, so a thread-default subscriber sees
        // every log line of the server tasks spawned below.
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        let log_guard = tracing::subscriber::set_default(subscriber);
        let database = TestDatabase::create().await?;
        let redis = TestRedis::new().await?;
        let panel_database_url = database_url(database.url());
        let given = |flag: &str| extra.iter().any(|a| a.split('=').next() == Some(flag));
        let mut args = Vec::new();
        // The panel's own default (the shared harness replays every second): tests about
        // the outbox replay it themselves.
        if !given("--outbox-replay-secs") {
            let secs = panel_api::config::DEFAULT_OUTBOX_REPLAY_SECS;
            args.push(format!("--outbox-replay-secs={secs}"));
        }
        // Tests log in often from one address; a test about the limit sets its own.
        if !given("--login-per-address-per-minute") {
            args.push("--login-per-address-per-minute=1000".to_owned());
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        let mut builder = Stack::builder()
            .database_url(&panel_database_url)
            .redis_prefixed(redis_url.unwrap_or(redis.url()), redis.prefix())
            .panel_in_process(in_process(routes, logs.clone()));
        for arg in &args {
            builder = builder.panel_arg(arg);
        }
        let stack = builder.build().await?;
        let db = database.connect().await?;
        Ok(Panel {
            base: stack.panel.base.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            db,
            redis,
            database: Some(database),
            stack,
            bodies: Vec::new(),
            logs,
            _log_guard: log_guard,
        })
    }

    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
    ) -> anyhow::Result<Reply> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        request = match auth {
            Auth::None => request,
            Auth::Bearer(key) => request.bearer_auth(key),
            Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
            Auth::Session { cookie, csrf } => {
                let request = request.header("cookie", format!("sy_session={cookie}"));
                match csrf {
                    Some(token) => request.header("x-csrf-token", token),
                    None => request,
                }
            }
        };
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let set_cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let headers = response.headers().clone();
        let text = response.text().await?;
        self.bodies.push((format!("{method} {path}"), text.clone()));
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{method} {path}: not JSON ({e}): {text}"))?
        };
        Ok(Reply {
            status,
            json,
            set_cookies,
            headers,
        })
    }

    /// Creates a key with HTTP Basic and returns (id, full key).
    pub async fn key_for(
        &mut self,
        user: &str,
        password: &str,
    ) -> anyhow::Result<(String, String)> {
        let reply = self
            .call(
                Method::POST,
                "/api-keys",
                Auth::Basic(user, password),
                Some(json!({"name": "test key"})),
            )
            .await?;
        anyhow::ensure!(reply.status == 201, "key creation: {}", reply.json);
        Ok((
            reply.json["id"].as_str().unwrap().to_owned(),
            reply.json["key"].as_str().unwrap().to_owned(),
        ))
    }

    /// Logs in with a password and returns the session.
    pub async fn login(&mut self, user: &str, password: &str) -> anyhow::Result<Session> {
        let reply = self
            .call(
                Method::POST,
                "/auth/login",
                Auth::None,
                Some(json!({"username": user, "password": password})),
            )
            .await?;
        anyhow::ensure!(
            reply.status == 200,
            "login: {} {}",
            reply.status,
            reply.json
        );
        let cookie = reply
            .set_cookies
            .iter()
            .find_map(|c| c.strip_prefix("sy_session="))
            .and_then(|c| c.split(';').next())
            .ok_or_else(|| anyhow::anyhow!("no session cookie in {:?}", reply.set_cookies))?;
        Ok(Session {
            cookie: cookie.to_owned(),
            csrf: reply.json["csrf_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// Creates a user through the API (as `admin_key`) and returns its id.
    pub async fn user(
        &mut self,
        admin_key: &str,
        name: &str,
        password: &str,
    ) -> anyhow::Result<String> {
        let reply = self
            .call(
                Method::POST,
                "/users",
                Auth::Bearer(admin_key),
                Some(json!({"username": name, "password": password, "role": "user"})),
            )
            .await?;
        anyhow::ensure!(reply.status == 201, "user: {}", reply.json);
        Ok(reply.json["id"].as_str().unwrap().to_owned())
    }

    /// Grants `user_id` `level` on the domain `domain_id` (as `admin_key`); the grant id.
    pub async fn grant(
        &mut self,
        admin_key: &str,
        user_id: &str,
        domain_id: &str,
        level: &str,
    ) -> anyhow::Result<String> {
        let reply = self
            .call(
                Method::POST,
                "/grants",
                Auth::Bearer(admin_key),
                Some(json!({"user_id": user_id, "domain_id": domain_id, "level": level})),
            )
            .await?;
        anyhow::ensure!(reply.status == 201, "grant: {}", reply.json);
        Ok(reply.json["id"].as_str().unwrap().to_owned())
    }

    /// Creates a domain (as `admin_key`) and returns its id.
    pub async fn domain(&mut self, admin_key: &str, name: &str) -> anyhow::Result<String> {
        let reply = self
            .call(
                Method::POST,
                "/domains",
                Auth::Bearer(admin_key),
                Some(json!({"name": name})),
            )
            .await?;
        anyhow::ensure!(reply.status == 201, "domain: {}", reply.json);
        Ok(reply.json["id"].as_str().unwrap().to_owned())
    }

    /// Creates a zone (as `key`) and returns its id.
    pub async fn zone(&mut self, key: &str, host: &str) -> anyhow::Result<String> {
        let reply = self
            .call(
                Method::POST,
                "/zones",
                Auth::Bearer(key),
                Some(zone(host, "", "http://127.0.0.1:9001")),
            )
            .await?;
        anyhow::ensure!(reply.status == 201, "zone: {}", reply.json);
        Ok(reply.json["id"].as_str().unwrap().to_owned())
    }

    pub async fn zone_record(&self, host: &str) -> anyhow::Result<Option<HostRecord>> {
        let value: Option<String> = self
            .redis
            .client()
            .get(self.redis.keys().zone(host))
            .await?;
        Ok(match value {
            Some(json) => Some(HostRecord::from_json(host, json.as_bytes())?),
            None => None,
        })
    }

    pub async fn audit_count(&self, action: &str) -> anyhow::Result<u64> {
        Ok(audit_log::Entity::find()
            .filter(audit_log::Column::Action.eq(action))
            .count(&self.db)
            .await?)
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stack.finish().await?;
        self.db.clone().close().await?;
        if let Some(database) = self.database.take() {
            database.drop_now().await?;
        }
        Ok(())
    }
}

/// Starts the panel in this process from its command line, serving `routes` of the
/// test's own too (behind the same layers as every route of the panel,
/// `panel_api::app::serve_routes`); its log is what `logs` captured.
fn in_process(routes: Option<axum::Router<AppState>>, logs: Logs) -> PanelStarter {
    Box::new(move |args: Vec<String>| {
        Box::pin(async move {
            let config =
                Config::try_parse_from(std::iter::once("panel-api".to_owned()).chain(args))?;
            let state: AppState = panel_api::prepare(&config).await?;
            let listener = TcpListener::bind(config.listen).await?;
            let addr = listener.local_addr()?;
            let (stop, stopped) = oneshot::channel::<()>();
            let app = match routes {
                Some(routes) => panel_api::app::serve_routes(
                    axum::Router::from(panel_api::app::routes()).merge(routes),
                    state.clone(),
                ),
                None => panel_api::router(state.clone()),
            };
            let task = tokio::spawn(panel_api::serve_app(state, app, listener, async {
                let _ = stopped.await;
            }));
            Ok(InProcessPanel {
                addr,
                stop: Some(stop),
                task: Some(task),
                logs: Box::new(move || logs.text()),
            })
        })
    })
}

pub fn zone(host: &str, prefix: &str, upstream: &str) -> Value {
    json!({
        "hostname": host,
        "path_prefix": prefix,
        "backend": {"kind": "upstreams", "upstreams": [{"url": upstream, "weight": 1}]},
    })
}

pub fn upstream_urls(record: &HostRecord, prefix: &str) -> Vec<String> {
    record
        .routes
        .iter()
        .filter(|r| r.path_prefix.as_str() == prefix)
        .flat_map(|r| r.upstreams.iter().map(|u| u.url.as_str().to_owned()))
        .collect()
}

/// No response body except a key's creation, and no log line, holds a secret.
pub fn assert_no_secrets(panel: &Panel, passwords: &[&str]) {
    let mut secrets: Vec<String> = passwords.iter().map(|p| p.to_string()).collect();
    let mut creations = Vec::new();
    for (request, body) in &panel.bodies {
        if let Ok(v) = serde_json::from_str::<Value>(body)
            && let Some(key) = v["key"].as_str()
        {
            secrets.push(key.rsplit('_').next().unwrap().to_owned());
            creations.push(body.clone());
            assert_eq!(request, "POST /api-keys");
        }
    }
    assert!(!creations.is_empty());
    for (request, body) in &panel.bodies {
        if creations.contains(body) {
            continue;
        }
        for secret in &secrets {
            assert!(
                !body.contains(secret.as_str()),
                "{request} leaked a secret: {body}"
            );
        }
    }
    let logs = panel.logs.text();
    assert!(logs.contains("\"request\""), "logs were captured");
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs");
    }
    assert!(
        !logs.contains("argon2id$"),
        "a password hash reached the logs"
    );
}

/// Redis holds exactly what PostgreSQL's zone rows render to (the write path's own
/// renderer), hostname for hostname.
pub async fn assert_redis_matches_postgres(panel: &Panel) -> anyhow::Result<()> {
    use panel_api::entity::zones;
    use panel_api::service::sync;
    use sea_orm::QueryOrder as _;
    let rows = zones::Entity::find()
        .order_by_asc(zones::Column::Hostname)
        .order_by_asc(zones::Column::PathPrefix)
        .all(&panel.db)
        .await?;
    let named = sync::render_context(&panel.db).await?;
    let mut by_host: std::collections::BTreeMap<String, Vec<zones::Model>> = Default::default();
    for row in rows {
        by_host.entry(row.hostname.clone()).or_default().push(row);
    }
    let expected: std::collections::BTreeMap<String, HostRecord> = by_host
        .into_iter()
        .filter_map(|(host, rows)| sync::render(&host, &rows, &named).map(|r| (host, r)))
        .collect();
    let snapshot = panel.redis.store().snapshot().await?;
    anyhow::ensure!(snapshot.rejected.is_empty(), "{:?}", snapshot.rejected);
    let actual: std::collections::BTreeMap<String, HostRecord> = snapshot
        .zones
        .into_iter()
        .map(|r| (r.host.as_str().to_owned(), r))
        .collect();
    anyhow::ensure!(
        actual == expected,
        "Redis differs from PostgreSQL:\nredis: {actual:?}\npostgres: {expected:?}"
    );
    Ok(())
}
