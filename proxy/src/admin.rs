//! The admin listener (loopback by default): liveness, readiness, status and metrics.
//!
//! - `GET /livez`: 200 while the process runs.
//! - `GET /readyz`: 200 once a snapshot (from Redis or the snapshot file) is served.
//! - `GET /status`: JSON with the applied version, its age, its source, sizes, the TLS
//!   ticket key ring in use, whether Redis answers (and since when it does not), and the
//!   circuit breakers that are open or half-open (a count, and up to 100 by route and
//!   upstream).
//! - `GET /route?host=H&path=P&method=M&header=name:value…`: which pattern, route and
//!   upstreams serve a request — the authoritative answer to "what does host X route
//!   to" (parameters decoded; `path` may carry a query, `header` may repeat).
//! - `GET /upstreams?down=1&limit=N`: upstream endpoints with their health — up or down,
//!   by which check (TCP, passive ejection, each route's HTTP check), since when, the
//!   last error — down ones first, then by URL; `down=1` lists only the down ones;
//!   `limit` is 1–10,000 (default 100). `/status` carries the counts and the first few
//!   down endpoints.
//! - `GET /metrics`: Prometheus text format.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use switchyard_shared::normalize_request_host;
use time::OffsetDateTime;

use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use crate::sync::SyncState;
use crate::upstreams::Registry;

/// Down endpoints `/status` names (the rest are counted; `/upstreams` lists them).
pub const STATUS_DOWN_SHOWN: usize = 20;
/// Default and largest `limit` of `/upstreams`.
pub const UPSTREAMS_DEFAULT_LIMIT: usize = 100;
pub const UPSTREAMS_MAX_LIMIT: usize = 10_000;

pub struct Admin {
    pub live: Arc<ArcSwap<Snapshot>>,
    pub state: Arc<SyncState>,
    pub metrics: Arc<Metrics>,
    pub registry: Arc<Registry>,
    pub proxy_id: String,
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .header("cache-control", "no-store")
        .body(body)
        .expect("static response parts are valid")
}

fn json(status: u16, value: serde_json::Value) -> Response<Vec<u8>> {
    reply(
        status,
        "application/json",
        serde_json::to_vec(&value).expect("json serialises"),
    )
}

/// The first value of a query parameter, decoded (`application/x-www-form-urlencoded`).
fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Circuits `/status` lists by name (the count covers them all).
const MAX_LISTED_CIRCUITS: usize = 100;

impl Admin {
    fn status(&self) -> serde_json::Value {
        let snapshot = self.live.load();
        let now = OffsetDateTime::now_utc();
        let last_ok = *self.state.last_redis_ok.lock().expect("never poisoned");
        let (down, summary) = self.registry.report(true, STATUS_DOWN_SHOWN);
        serde_json::json!({
            "proxy_id": self.proxy_id,
            "ready": self.state.ready.load(Ordering::Relaxed),
            "version": snapshot.version,
            "applied_at": snapshot.applied_at.format(&time::format_description::well_known::Rfc3339).ok(),
            "age_seconds": (now - snapshot.applied_at).as_seconds_f64(),
            "source": *self.state.source.lock().expect("never poisoned"),
            "zones": snapshot.zone_count(),
            "certs": snapshot.cert_count(),
            // The shared TLS ticket key ring in use (0: the proxy's own, none read yet).
            "tls_ticket_generation": crate::tickets::generation(),
            "redis": {
                "connected": self.state.redis_connected.load(Ordering::Relaxed),
                "seconds_since_ok": last_ok.map(|t| (now - t).as_seconds_f64()),
                "last_error": self.state.last_error.lock().expect("never poisoned").clone(),
                // Reading a replica (--redis-read-url): versions behind the primary at the
                // last heartbeat; null otherwise.
                "replica_versions_behind": *self.state.replica_behind.lock().expect("never poisoned"),
            },
            // Circuit breakers that are not closed: how many, and the first of them.
            "circuits": {
                "open": crate::resilience::counts().open_now,
                "endpoints": crate::resilience::circuits(MAX_LISTED_CIRCUITS),
            },
            "upstreams": {
                "endpoints": summary.endpoints,
                "endpoints_down": summary.endpoints_down,
                "http_checks": summary.http_checks,
                "http_checks_down": summary.http_checks_down,
                // The first few; GET /upstreams?down=1 lists them all.
                "down": down
                    .iter()
                    .map(|e| serde_json::json!({"url": e.url, "down_by": e.down_by}))
                    .collect::<Vec<_>>(),
            },
        })
    }

    fn upstreams(&self, query: &str) -> Response<Vec<u8>> {
        let only_down = matches!(
            query_param(query, "down").as_deref(),
            Some("1" | "true" | "yes")
        );
        let limit = match query_param(query, "limit") {
            None => UPSTREAMS_DEFAULT_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=UPSTREAMS_MAX_LIMIT).contains(&n) => n,
                _ => {
                    return json(
                        400,
                        serde_json::json!({"error": format!(
                            "limit \"{}\" must be a number 1–{UPSTREAMS_MAX_LIMIT}",
                            text.escape_debug()
                        )}),
                    );
                }
            },
        };
        let (endpoints, summary) = self.registry.report(only_down, limit);
        let matching = if only_down {
            summary.endpoints_down
        } else {
            summary.endpoints
        };
        json(
            200,
            serde_json::json!({
                "summary": summary,
                "truncated": endpoints.len() < matching,
                "endpoints": endpoints,
            }),
        )
    }

    fn route(&self, query: &str) -> Response<Vec<u8>> {
        let Some(host) = query_param(query, "host") else {
            return json(
                400,
                serde_json::json!({"error": "give ?host=NAME (and optionally &path=/p?q, &method=GET, &header=name:value…)"}),
            );
        };
        let path = query_param(query, "path").unwrap_or_else(|| "/".to_owned());
        let method = query_param(query, "method").unwrap_or_else(|| "GET".to_owned());
        let mut headers = http::HeaderMap::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if k != "header" {
                continue;
            }
            let parsed = v.split_once(':').and_then(|(name, value)| {
                Some((
                    http::HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
                    http::HeaderValue::from_str(value.trim()).ok()?,
                ))
            });
            match parsed {
                Some((name, value)) => {
                    headers.append(name, value);
                }
                None => {
                    return json(
                        400,
                        serde_json::json!({"error": format!("header \"{}\" is not name:value", v.escape_debug())}),
                    );
                }
            }
        }
        let host = match normalize_request_host(&host) {
            Ok(h) => h.into_owned(),
            Err(e) => return json(400, serde_json::json!({"error": e.to_string()})),
        };
        let snapshot = self.live.load();
        let Some(entry) = snapshot.lookup(&host) else {
            return json(404, serde_json::json!({"host": host, "zone": null}));
        };
        let target = match switchyard_shared::RequestTarget::parse(path.as_bytes()) {
            Ok(t) => t,
            Err(e) => return json(400, serde_json::json!({"error": e.to_string()})),
        };
        let route = entry
            .route_for(method.as_bytes(), &target, &headers)
            .map(|r| r.route_record());
        json(
            200,
            serde_json::json!({"host": host, "zone": entry.host, "route": route}),
        )
    }
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let uri = &session.req_header().uri;
        let query = uri.query().unwrap_or("").to_owned();
        match uri.path() {
            "/livez" => reply(200, "text/plain", b"ok\n".to_vec()),
            "/readyz" if self.state.draining.load(Ordering::Relaxed) => {
                reply(503, "text/plain", b"draining\n".to_vec())
            }
            "/readyz" if self.state.ready.load(Ordering::Relaxed) => {
                reply(200, "text/plain", b"ready\n".to_vec())
            }
            "/readyz" => reply(503, "text/plain", b"no snapshot loaded yet\n".to_vec()),
            "/status" => json(200, self.status()),
            "/route" => self.route(&query),
            "/upstreams" => self.upstreams(&query),
            "/metrics" => reply(200, "text/plain; version=0.0.4", self.metrics.render()),
            _ => reply(
                404,
                "text/plain",
                b"not found; try /livez /readyz /status /route /upstreams /metrics\n".to_vec(),
            ),
        }
    }
}
