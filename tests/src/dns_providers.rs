//! Fake DNS provider APIs: local servers speaking the Cloudflare, DigitalOcean and
//! Porkbun API shapes, on port 0. Records they are given go into pebble-challtestsrv
//! (through its management API), so the CA and the worker's DNS check really see them;
//! deleting takes them out again. A credential points the cert worker at one through
//! `api_base_url` ([`FakeProvider::base_url`]); [`crate::stack::StackBuilder::dns_provider`]
//! starts one beside a stack's Pebble.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Cloudflare,
    DigitalOcean,
    Porkbun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Behaves like the real API.
    Normal,
    /// Every call answers 401 (a revoked token).
    Unauthorized,
    /// Records are accepted but never reach DNS.
    Invisible,
}

/// A record the fake holds: (fqdn, value).
type Records = BTreeMap<u64, (String, String)>;

struct Inner {
    kind: Kind,
    zone: String,
    mode: Mutex<Mode>,
    dns_management: Vec<String>,
    http: reqwest::Client,
    records: Mutex<Records>,
    next_id: Mutex<u64>,
    calls: Mutex<Vec<String>>,
}

/// A running fake provider.
pub struct FakeProvider {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

pub const TOKEN: &str = "test-token";
pub const PORKBUN_KEY: &str = "pk1_test";
pub const PORKBUN_SECRET: &str = "sk1_test";

impl FakeProvider {
    /// Hosts `zone`; writes records into the challtestsrv instances behind the given
    /// management URLs.
    pub async fn start(kind: Kind, zone: &str, mode: Mode, dns_management: Vec<String>) -> Self {
        let inner = Arc::new(Inner {
            kind,
            zone: zone.to_owned(),
            mode: Mutex::new(mode),
            dns_management,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            records: Mutex::new(BTreeMap::new()),
            next_id: Mutex::new(1),
            calls: Mutex::new(Vec::new()),
        });
        let app = match kind {
            Kind::Cloudflare => Router::new()
                .route("/zones", get(cf_zones))
                .route("/zones/{zone}/dns_records", post(cf_create))
                .route("/zones/{zone}/dns_records/{id}", delete(cf_delete)),
            Kind::DigitalOcean => Router::new()
                .route("/domains/{name}", get(do_domain))
                .route("/domains/{name}/records", post(do_create))
                .route("/domains/{name}/records/{id}", delete(do_delete)),
            Kind::Porkbun => Router::new()
                .route("/dns/retrieve/{domain}", post(pb_retrieve))
                .route("/dns/create/{domain}", post(pb_create))
                .route("/dns/delete/{domain}/{id}", post(pb_delete)),
        }
        .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { inner, addr, task }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The provider name as stored in `dns_credentials.provider`.
    pub fn provider(&self) -> &'static str {
        match self.inner.kind {
            Kind::Cloudflare => "cloudflare",
            Kind::DigitalOcean => "digitalocean",
            Kind::Porkbun => "porkbun",
        }
    }

    /// The sealed-secret JSON the panel would store for this provider.
    pub fn secret(&self) -> Value {
        match self.inner.kind {
            Kind::Cloudflare => json!({"api_token": TOKEN}),
            Kind::DigitalOcean => json!({"token": TOKEN}),
            Kind::Porkbun => json!({"api_key": PORKBUN_KEY, "secret_api_key": PORKBUN_SECRET}),
        }
    }

    /// Changes how the fake behaves from now on.
    pub fn set_mode(&self, mode: Mode) {
        *self.inner.mode.lock().unwrap() = mode;
    }

    /// Records currently held (created and not deleted).
    pub fn records(&self) -> Vec<(String, String)> {
        self.inner
            .records
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect()
    }

    /// Every call received, as "METHOD path".
    pub fn calls(&self) -> Vec<String> {
        self.inner.calls.lock().unwrap().clone()
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Inner {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap()
    }

    fn call(&self, what: String) {
        self.calls.lock().unwrap().push(what);
    }

    fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        self.mode() != Mode::Unauthorized
            && headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {TOKEN}"))
    }

    async fn add(&self, fqdn: String, value: String) -> u64 {
        let id = {
            let mut next = self.next_id.lock().unwrap();
            *next += 1;
            *next
        };
        self.records
            .lock()
            .unwrap()
            .insert(id, (fqdn.clone(), value.clone()));
        if self.mode() == Mode::Normal {
            for m in &self.dns_management {
                self.http
                    .post(format!("{m}/set-txt"))
                    .body(json!({"host": format!("{fqdn}."), "value": value}).to_string())
                    .send()
                    .await
                    .unwrap();
            }
        }
        id
    }

    /// challtestsrv clears by name, so the name's other values are put back.
    async fn remove(&self, id: u64) -> bool {
        let Some((fqdn, _)) = self.records.lock().unwrap().remove(&id) else {
            return false;
        };
        let rest: Vec<String> = self
            .records
            .lock()
            .unwrap()
            .values()
            .filter(|(f, _)| *f == fqdn)
            .map(|(_, v)| v.clone())
            .collect();
        for m in &self.dns_management {
            self.http
                .post(format!("{m}/clear-txt"))
                .body(json!({"host": format!("{fqdn}.")}).to_string())
                .send()
                .await
                .unwrap();
            if self.mode() == Mode::Normal {
                for v in &rest {
                    self.http
                        .post(format!("{m}/set-txt"))
                        .body(json!({"host": format!("{fqdn}."), "value": v}).to_string())
                        .send()
                        .await
                        .unwrap();
                }
            }
        }
        true
    }

    fn absolute(&self, relative: &str) -> String {
        if relative == "@" || relative.is_empty() {
            self.zone.clone()
        } else if relative.ends_with(&self.zone) {
            relative.to_owned()
        } else {
            format!("{relative}.{}", self.zone)
        }
    }
}

type S = State<Arc<Inner>>;

fn cf_unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"success": false, "errors": [{"code": 10000, "message": "Authentication error"}], "messages": [], "result": null})),
    )
        .into_response()
}

async fn cf_zones(
    State(s): S,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    s.call(format!(
        "GET /zones?name={}",
        q.get("name").cloned().unwrap_or_default()
    ));
    if !s.bearer_ok(&headers) {
        return cf_unauthorized();
    }
    // As Cloudflare answers `GET /zones?name=…`: full zone objects, paginated.
    let result = if q.get("name") == Some(&s.zone) {
        json!([{
            "id": format!("zone-{}", s.zone),
            "name": s.zone,
            "status": "active",
            "paused": false,
            "type": "full",
            "development_mode": 0,
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "original_name_servers": null,
            "original_registrar": null,
            "original_dnshost": null,
            "modified_on": "2026-11-01T10:00:00.000000Z",
            "created_on": "2026-11-01T09:00:00.000000Z",
            "activated_on": "2026-11-01T10:00:00.000000Z",
            "meta": {"step": 2, "custom_certificate_quota": 0, "page_rule_quota": 3,
                "phishing_detected": false},
            "owner": {"id": null, "type": "user", "email": null},
            "account": {"id": "acct-1", "name": "Test account"},
            "permissions": ["#dns_records:edit", "#zone:read"],
            "plan": {"id": "free", "name": "Free Website", "price": 0, "currency": "USD",
                "frequency": "", "is_subscribed": false, "can_subscribe": false,
                "legacy_id": "free", "legacy_discount": false,
                "externally_managed": false}
        }])
    } else {
        json!([])
    };
    let count = result.as_array().map_or(0, Vec::len);
    Json(
        json!({"success": true, "errors": [], "messages": [], "result": result,
        "result_info": {"page": 1, "per_page": 20, "count": count, "total_count": count,
            "total_pages": 1}}),
    )
    .into_response()
}

async fn cf_create(
    State(s): S,
    headers: HeaderMap,
    Path(zone): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    s.call(format!("POST /zones/{zone}/dns_records"));
    if !s.bearer_ok(&headers) {
        return cf_unauthorized();
    }
    assert_eq!(zone, format!("zone-{}", s.zone));
    assert_eq!(body["type"], "TXT");
    assert!(body["ttl"].is_u64(), "a TTL is sent: {body}");
    let id = s
        .add(
            body["name"].as_str().unwrap().to_owned(),
            body["content"].as_str().unwrap().to_owned(),
        )
        .await;
    // The record as Cloudflare answers it.
    let record = json!({
        "id": format!("rec{id}"),
        "zone_id": zone,
        "zone_name": s.zone,
        "name": body["name"],
        "type": "TXT",
        "content": body["content"],
        "proxiable": false,
        "proxied": false,
        "ttl": body["ttl"],
        "settings": {},
        "meta": {},
        "comment": null,
        "tags": [],
        "created_on": "2026-12-06T10:00:00.000000Z",
        "modified_on": "2026-12-06T10:00:00.000000Z"
    });
    Json(json!({"success": true, "errors": [], "messages": [], "result": record})).into_response()
}

async fn cf_delete(
    State(s): S,
    headers: HeaderMap,
    Path((zone, id)): Path<(String, String)>,
) -> Response {
    s.call(format!("DELETE /zones/{zone}/dns_records/{id}"));
    if !s.bearer_ok(&headers) {
        return cf_unauthorized();
    }
    let id: u64 = id.trim_start_matches("rec").parse().unwrap_or(0);
    if s.remove(id).await {
        Json(json!({"success": true, "errors": [], "messages": [], "result": {"id": format!("rec{id}")}}))
            .into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({"success": false, "errors": [{"code": 81044, "message": "Record does not exist."}]}))).into_response()
    }
}

fn do_unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"id": "Unauthorized", "message": "Unable to authenticate you"})),
    )
        .into_response()
}

async fn do_domain(State(s): S, headers: HeaderMap, Path(name): Path<String>) -> Response {
    s.call(format!("GET /domains/{name}"));
    if !s.bearer_ok(&headers) {
        return do_unauthorized();
    }
    if name == s.zone {
        Json(json!({"domain": {"name": s.zone, "ttl": 1800, "zone_file": ""}})).into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({"id": "not_found", "message": "The resource you were accessing could not be found."}))).into_response()
    }
}

async fn do_create(
    State(s): S,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    s.call(format!("POST /domains/{name}/records"));
    if !s.bearer_ok(&headers) {
        return do_unauthorized();
    }
    assert_eq!(body["type"], "TXT");
    let fqdn = s.absolute(body["name"].as_str().unwrap());
    let id = s.add(fqdn, body["data"].as_str().unwrap().to_owned()).await;
    (
        StatusCode::CREATED,
        Json(json!({"domain_record": {"id": id, "type": "TXT", "name": body["name"], "data": body["data"], "ttl": body["ttl"]}})),
    )
        .into_response()
}

async fn do_delete(
    State(s): S,
    headers: HeaderMap,
    Path((name, id)): Path<(String, u64)>,
) -> Response {
    s.call(format!("DELETE /domains/{name}/records/{id}"));
    if !s.bearer_ok(&headers) {
        return do_unauthorized();
    }
    if s.remove(id).await {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({"id": "not_found", "message": "The resource you were accessing could not be found."}))).into_response()
    }
}

fn pb_error(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"status": "ERROR", "message": message})),
    )
        .into_response()
}

fn pb_auth(s: &Inner, body: &Value) -> bool {
    s.mode() != Mode::Unauthorized
        && body["apikey"] == PORKBUN_KEY
        && body["secretapikey"] == PORKBUN_SECRET
}

async fn pb_retrieve(State(s): S, Path(domain): Path<String>, Json(body): Json<Value>) -> Response {
    s.call(format!("POST /dns/retrieve/{domain}"));
    if !pb_auth(&s, &body) {
        return pb_error("Invalid API key. (002)");
    }
    if domain != s.zone {
        return pb_error("Invalid domain.");
    }
    Json(json!({"status": "SUCCESS", "records": []})).into_response()
}

async fn pb_create(State(s): S, Path(domain): Path<String>, Json(body): Json<Value>) -> Response {
    s.call(format!("POST /dns/create/{domain}"));
    if !pb_auth(&s, &body) {
        return pb_error("Invalid API key. (002)");
    }
    let fqdn = s.absolute(body["name"].as_str().unwrap_or(""));
    let id = s
        .add(fqdn, body["content"].as_str().unwrap().to_owned())
        .await;
    Json(json!({"status": "SUCCESS", "id": id})).into_response()
}

async fn pb_delete(
    State(s): S,
    Path((domain, id)): Path<(String, u64)>,
    Json(body): Json<Value>,
) -> Response {
    s.call(format!("POST /dns/delete/{domain}/{id}"));
    if !pb_auth(&s, &body) {
        return pb_error("Invalid API key. (002)");
    }
    if s.remove(id).await {
        Json(json!({"status": "SUCCESS"})).into_response()
    } else {
        pb_error("Invalid record ID.")
    }
}
