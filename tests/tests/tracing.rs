//! Tracing: spans arrive at a local OTLP/HTTP receiver when an endpoint is configured,
//! and nothing is sent when none is.
//!
//! The receiver is a small hyper server on 127.0.0.1 that decodes each
//! `ExportTraceServiceRequest` (protobuf) it is sent. The services are the real
//! binaries, each test with its own database and Redis key prefix.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message as _;
use serde_json::json;
use switchyard_shared::model::HostRecord;
use switchyard_shared::store::ChangeSet;
use switchyard_tests::client;
use switchyard_tests::eventually::eventually;
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::proxy::{Proxy, ProxyOptions};
use switchyard_tests::redis::TestRedis;
use switchyard_tests::stack::{ADMIN, ADMIN_PASSWORD, Panel};
use switchyard_tests::upstream::Upstream;

/// Long enough for a debug build on a busy two-core machine.
const DEADLINE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------
// A local OTLP/HTTP receiver
// ---------------------------------------------------------------------------------

/// One exported span, flattened for assertions.
#[derive(Debug, Clone)]
struct SpanSeen {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    attributes: HashMap<String, String>,
}

#[derive(Default)]
struct Received {
    /// Every HTTP request, whatever its path or body.
    requests: usize,
    exports: Vec<ExportTraceServiceRequest>,
}

struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Received>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        Self::serve(listener)
    }

    /// On the default OTLP/HTTP port (4318), where an exporter left at its defaults would
    /// send; `None` when something else holds the port.
    async fn start_on_default_port() -> Option<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:4318").await.ok()?;
        Some(Self::serve(listener))
    }

    fn serve(listener: tokio::net::TcpListener) -> Receiver {
        let addr = listener.local_addr().expect("receiver address");
        let received = Arc::new(Mutex::new(Received::default()));
        let state = Arc::clone(&received);
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let state = Arc::clone(&state);
                        async move {
                            let path = req.uri().path().to_owned();
                            let body = req.into_body().collect().await?.to_bytes();
                            let mut seen = state.lock().unwrap();
                            seen.requests += 1;
                            let status = match ExportTraceServiceRequest::decode(body) {
                                Ok(export) if path == "/v1/traces" => {
                                    seen.exports.push(export);
                                    200
                                }
                                _ => 400,
                            };
                            let reply = ExportTraceServiceResponse::default().encode_to_vec();
                            Ok::<_, hyper::Error>(
                                hyper::Response::builder()
                                    .status(status)
                                    .header("content-type", "application/x-protobuf")
                                    .body(Full::new(bytes_of(reply)))
                                    .expect("response"),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            received,
            server,
        }
    }

    /// The base URL to configure (`/v1/traces` is appended by the service).
    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> usize {
        self.received.lock().unwrap().requests
    }

    /// Everything received so far, as text: for "no secret anywhere" checks.
    fn dump(&self) -> String {
        format!("{:?}", self.received.lock().unwrap().exports)
    }

    fn spans(&self) -> Vec<SpanSeen> {
        let received = self.received.lock().unwrap();
        let mut out = Vec::new();
        for export in &received.exports {
            for resource_spans in &export.resource_spans {
                let service = resource_spans
                    .resource
                    .as_ref()
                    .map(|r| attributes(&r.attributes))
                    .and_then(|a| a.get("service.name").cloned())
                    .unwrap_or_default();
                for scope in &resource_spans.scope_spans {
                    for span in &scope.spans {
                        out.push(SpanSeen {
                            service: service.clone(),
                            name: span.name.clone(),
                            trace_id: span.trace_id.clone(),
                            span_id: span.span_id.clone(),
                            parent_span_id: span.parent_span_id.clone(),
                            attributes: attributes(&span.attributes),
                        });
                    }
                }
            }
        }
        out
    }
}

fn bytes_of(v: Vec<u8>) -> hyper::body::Bytes {
    hyper::body::Bytes::from(v)
}

fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter()
        .map(|kv| (kv.key.clone(), value_text(kv.value.as_ref())))
        .collect()
}

fn value_text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------
// Running binaries
// ---------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------
// panel-api: one trace from the API request to the Redis transaction
// ---------------------------------------------------------------------------------

/// The panel's span of one HTTP request (named "METHOD /route"), by its request id.
fn is_request_span(span: &SpanSeen, request_id: &str) -> bool {
    span.attributes.contains_key("http.route")
        && span.attributes.get("request_id").map(String::as_str) == Some(request_id)
}

#[tokio::test]
async fn panel_zone_write_is_one_trace_from_request_to_redis() -> anyhow::Result<()> {
    let receiver = Receiver::start().await;
    let database = TestDatabase::create().await?;
    let redis = TestRedis::new().await?;
    let endpoint = receiver.endpoint();
    // A batch delay far beyond the test: whatever arrives was sent by the flush at exit,
    // which is what dropping the guard must do.
    let mut panel = Panel::start_with(
        database.url(),
        redis.url(),
        redis.prefix(),
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_BSP_SCHEDULE_DELAY", "600000")],
    )
    .await?;
    let (http, base) = (panel.http.clone(), panel.base.clone());

    let reply = http
        .post(format!("{base}/api-keys"))
        .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
        .header("content-type", "application/json")
        .body(json!({"name": "trace test"}).to_string())
        .send()
        .await?;
    anyhow::ensure!(reply.status() == 201, "api key: {}", reply.text().await?);
    let key: serde_json::Value = serde_json::from_str(&reply.text().await?)?;
    let api_key = key["key"].as_str().context("key")?.to_owned();
    let reply = http
        .post(format!("{base}/domains"))
        .bearer_auth(&api_key)
        .header("content-type", "application/json")
        .body(json!({"name": "traced.example.com"}).to_string())
        .send()
        .await?;
    anyhow::ensure!(reply.status() == 201, "domain: {}", reply.text().await?);
    let reply = http
        .post(format!("{base}/zones"))
        .bearer_auth(&api_key)
        .header("content-type", "application/json")
        .body(
            json!({
                "hostname": "app.traced.example.com",
                "path_prefix": "",
                "backend": {"kind": "upstreams", "upstreams": [{"url": "http://127.0.0.1:9001", "weight": 1}]},
            })
            .to_string(),
        )
        .send()
        .await?;
    let request_id = reply
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .context("x-request-id")?
        .to_owned();
    anyhow::ensure!(reply.status() == 201, "zone: {}", reply.text().await?);
    let written: Option<String> = fred::prelude::KeysInterface::get(
        redis.client(),
        redis.keys().zone("app.traced.example.com"),
    )
    .await?;
    let written = written.is_some();
    anyhow::ensure!(written, "the zone was written through to Redis");

    panel.stop().await.with_context(|| panel.log_text())?;
    let spans = eventually(DEADLINE, "the zone write's spans arrive", || {
        let spans = receiver.spans();
        let request_id = request_id.clone();
        async move {
            let http_span = spans.iter().find(|s| is_request_span(s, &request_id));
            match http_span {
                Some(h)
                    if spans
                        .iter()
                        .any(|s| s.name == "redis transaction" && s.trace_id == h.trace_id) =>
                {
                    Ok(spans)
                }
                _ => Err(format!(
                    "{} spans: {:?}",
                    spans.len(),
                    spans.iter().map(|s| &s.name).collect::<Vec<_>>()
                )),
            }
        }
    })
    .await
    .with_context(|| panel.log_text())?;

    assert!(
        spans.iter().all(|s| s.service == "panel-api"),
        "service.name: {:?}",
        spans.iter().map(|s| &s.service).collect::<Vec<_>>()
    );
    let http_span = spans
        .iter()
        .find(|s| is_request_span(s, &request_id))
        .expect("found above");
    assert_eq!(http_span.name, "POST /api/v1/zones");
    let attr = |k: &str| http_span.attributes.get(k).map(String::as_str);
    assert_eq!(attr("http.request.method"), Some("POST"));
    assert_eq!(attr("http.route"), Some("/api/v1/zones"));
    assert_eq!(attr("http.response.status_code"), Some("201"));
    // Down the write path, every span is in the request's trace, each the child of the
    // one before: request → commit, request → write-through → Redis transaction.
    let in_trace = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name && s.trace_id == http_span.trace_id)
            .unwrap_or_else(|| panic!("no {name:?} span in the request's trace: {spans:#?}"))
    };
    let commit = in_trace("postgres commit");
    let write_through = in_trace("redis write-through");
    let transaction = in_trace("redis transaction");
    assert_eq!(commit.parent_span_id, http_span.span_id);
    assert_eq!(write_through.parent_span_id, http_span.span_id);
    assert_eq!(transaction.parent_span_id, write_through.span_id);
    assert_eq!(
        transaction.attributes.get("zones").map(String::as_str),
        Some("1")
    );

    // No secret in any span, attribute, event or resource.
    let everything = receiver.dump();
    let secret_part = api_key.rsplit('_').next().unwrap_or(&api_key);
    for secret in [ADMIN_PASSWORD, api_key.as_str(), secret_part] {
        assert!(!everything.contains(secret), "a secret was exported");
    }
    assert!(!everything.to_ascii_lowercase().contains("authorization"));

    drop(panel);
    redis.cleanup().await?;
    database.drop_now().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------
// proxy: a span per request when configured, nothing at all when not
// ---------------------------------------------------------------------------------

/// A proxy in local mode for the test `id`, with `options` changed by `with`.
async fn start_proxy(
    redis: &TestRedis,
    id: &str,
    with: impl FnOnce(ProxyOptions) -> ProxyOptions,
) -> anyhow::Result<Proxy> {
    let options = ProxyOptions::new(redis.url(), redis.prefix())
        .id(&format!("trace-test-{id}"))
        .local();
    with(options).launch().await
}

/// Writes one zone for `host`, routed to `upstream`.
async fn put_zone(redis: &TestRedis, host: &str, upstream: &Upstream) -> anyhow::Result<()> {
    let record = json!({"host": host, "routes": [{"zone_id": "z-traced", "upstreams": [{"url": upstream.url()}]}]});
    let record = HostRecord::from_json(host, record.to_string().as_bytes())
        .map_err(|e| anyhow::anyhow!("test zone: {e}"))?;
    let mut batch = ChangeSet::new();
    batch.put_zone(&record);
    redis.store().apply(&batch).await?;
    Ok(())
}

/// GETs `host` through the proxy until the upstream answers (the proxy has loaded the
/// zone), sending `request_id`.
async fn get_through(proxy: SocketAddr, host: &str, request_id: &str) -> anyhow::Result<()> {
    eventually(DEADLINE, "the proxy routes the zone", || {
        let (host, request_id) = (host.to_owned(), request_id.to_owned());
        async move {
            let reply = client::client(&host, proxy)
                .build()
                .map_err(|e| e.to_string())?
                .get(client::url("http", &host, "/traced"))
                .header("x-request-id", request_id)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            match reply.status().as_u16() {
                200 => Ok(()),
                other => Err(format!("status {other}")),
            }
        }
    })
    .await
}

#[tokio::test]
async fn proxy_exports_a_span_per_request_when_configured() -> anyhow::Result<()> {
    let receiver = Receiver::start().await;
    let redis = TestRedis::new().await?;
    let upstream = Upstream::echo("traced").await;
    put_zone(&redis, "traced.example.com", &upstream).await?;
    let endpoint = receiver.endpoint();
    let mut proxy = start_proxy(&redis, "traced", |o| {
        o.args(["--otlp-endpoint", &endpoint])
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
    })
    .await?;
    let addr = proxy.http;
    get_through(addr, "traced.example.com", "trace-test-request-1")
        .await
        .with_context(|| proxy.log_text())?;

    // Exported while the proxy runs (100 ms batches), not only at exit. The request id
    // is sent on every try (early ones may be 404 until the zone is loaded): the span
    // looked for is the one that reached the upstream.
    let span = eventually(DEADLINE, "the request's span arrives", || {
        let spans = receiver.spans();
        async move {
            spans
                .into_iter()
                .find(|s| {
                    let attr = |k: &str| s.attributes.get(k).map(String::as_str);
                    s.name == "proxy request"
                        && attr("request_id") == Some("trace-test-request-1")
                        && attr("http.response.status_code") == Some("200")
                })
                .ok_or_else(|| "no span yet".to_owned())
        }
    })
    .await
    .with_context(|| proxy.log_text())?;
    assert_eq!(span.service, "switchyard-proxy");
    let attr = |k: &str| span.attributes.get(k).map(String::as_str);
    assert_eq!(attr("host"), Some("traced.example.com"));
    assert_eq!(attr("zone"), Some("traced.example.com"));
    assert_eq!(attr("http.request.method"), Some("GET"));
    assert_eq!(attr("http.response.status_code"), Some("200"));
    assert!(span.parent_span_id.is_empty(), "a request span is a root");

    proxy.stop().await.with_context(|| proxy.log_text())?;
    drop(proxy);
    redis.cleanup().await?;
    Ok(())
}

#[tokio::test]
async fn proxy_sends_nothing_without_an_endpoint() -> anyhow::Result<()> {
    // On the default OTLP port when it is free: an exporter that started with the SDK's
    // defaults would send here.
    let receiver = match Receiver::start_on_default_port().await {
        Some(r) => r,
        None => Receiver::start().await,
    };
    let redis = TestRedis::new().await?;
    let upstream = Upstream::echo("untraced").await;
    put_zone(&redis, "untraced.example.com", &upstream).await?;
    let mut proxy = start_proxy(&redis, "untraced", |o| o).await?;
    let addr = proxy.http;
    for i in 0..5 {
        get_through(addr, "untraced.example.com", &format!("untraced-{i}"))
            .await
            .with_context(|| proxy.log_text())?;
    }
    // A clean exit flushes any exporter there is; after it, nothing can still come.
    proxy.stop().await.with_context(|| proxy.log_text())?;
    assert_eq!(receiver.requests(), 0, "the receiver was sent something");
    let log = proxy.log_text();
    assert!(!log.contains("exporting traces"), "{log}");
    assert!(
        log.contains("\"target\":\"access\""),
        "the proxy logged its requests: {log}"
    );
    drop(proxy);
    redis.cleanup().await?;
    Ok(())
}
