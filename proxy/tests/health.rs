//! Active HTTP health checks (a route's `health_check` policy) end to end, on the real
//! binary with real local backends whose health endpoint can be switched: an endpoint
//! answering 500 on `/healthz` — its TCP port still open, so a TCP check would call it
//! up — is taken out after `unhealthy_threshold` probes and traffic goes to the other
//! one; it comes back after `healthy_threshold` good probes; a probe that times out
//! counts as a failure; a route naming the same endpoint without the check keeps using
//! it; the admin API, the metrics, the log and the heartbeat in Redis show it. Also over
//! HTTPS (the upstream's name as SNI, the proxy's upstream CA file).

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use support::{Proxy, ProxyOptions, put_zones, zone, zone_json};
use switchyard_tests::client;
use switchyard_tests::eventually::eventually;
use switchyard_tests::redis::TestRedis;
use switchyard_tests::upstream::{Upstream, self_signed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `/healthz` answers this status; [`HANG`] makes it never answer.
const HANG: u16 = 0;

/// A backend whose `/healthz` status can be switched while its port stays open. Every
/// other path answers 200 with its name as the body. Counts the probes.
struct Backend {
    name: &'static str,
    addr: SocketAddr,
    health: Arc<AtomicU16>,
    probes: Arc<AtomicU64>,
    _server: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self._server.abort();
    }
}

impl Backend {
    async fn start(name: &'static str) -> Backend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let health = Arc::new(AtomicU16::new(200));
        let probes = Arc::new(AtomicU64::new(0));
        let (h, p) = (health.clone(), probes.clone());
        let server = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (h, p) = (h.clone(), p.clone());
                connections.spawn(serve(stream, name, h, p));
            }
        });
        Backend {
            name,
            addr,
            health,
            probes,
            _server: server,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set_health(&self, status: u16) {
        self.health.store(status, Ordering::SeqCst);
    }

    fn probes(&self) -> u64 {
        self.probes.load(Ordering::SeqCst)
    }
}

/// Serves HTTP/1.1 requests without bodies on one connection, kept alive.
async fn serve(
    mut stream: tokio::net::TcpStream,
    name: &'static str,
    health: Arc<AtomicU16>,
    probes: Arc<AtomicU64>,
) {
    let mut buf = Vec::new();
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => return,
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let path = head.split(' ').nth(1).unwrap_or("");
        let (status, body) = if path == "/healthz" {
            probes.fetch_add(1, Ordering::SeqCst);
            match health.load(Ordering::SeqCst) {
                HANG => {
                    // Holds the connection without answering until the client gives up.
                    let mut rest = [0u8; 64];
                    while matches!(stream.read(&mut rest).await, Ok(n) if n > 0) {}
                    return;
                }
                s => (s, format!("{name} health {s}")),
            }
        } else {
            (200, name.to_owned())
        };
        let answer = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A check quick enough for a test: one probe a second, two in a row to change state.
fn check() -> serde_json::Value {
    serde_json::json!({
        "path": "/healthz", "interval_ms": 1000, "timeout_ms": 300,
        "healthy_threshold": 2, "unhealthy_threshold": 2
    })
}

async fn admin_json(proxy: &Proxy, path: &str) -> serde_json::Value {
    client::http_get(proxy.admin, "admin", path)
        .await
        .unwrap()
        .json()
        .unwrap()
}

async fn metrics(proxy: &Proxy) -> String {
    client::http_get(proxy.admin, "admin", "/metrics")
        .await
        .unwrap()
        .body
}

/// The value of one metric line (`name{labels}`), 0 when absent.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Waits until `/upstreams` says `url` is up (`want`) and returns its entry.
async fn wait_endpoint(proxy: &Proxy, url: &str, want: bool) -> serde_json::Value {
    let admin = proxy.admin;
    eventually(
        Duration::from_secs(15),
        &format!("{url} is {}", if want { "up" } else { "down" }),
        || async move {
            let doc = client::http_get(admin, "admin", "/upstreams")
                .await
                .map_err(|e| e.to_string())?
                .json()
                .map_err(|e| e.to_string())?;
            let entry = doc["endpoints"]
                .as_array()
                .and_then(|list| list.iter().find(|e| e["url"] == url).cloned())
                .ok_or_else(|| format!("not listed: {doc}"))?;
            if entry["up"] == want {
                Ok(entry)
            } else {
                Err(entry.to_string())
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n--- proxy log ---\n{}", proxy.log_text()))
}

/// Which backends answer `n` requests for `host`.
async fn answered_by(proxy: &Proxy, host: &str, n: usize) -> Vec<String> {
    let mut names = Vec::new();
    for _ in 0..n {
        let r = proxy.get(host, "/").await;
        assert_eq!(r.status, 200, "{host}: {}", r.body);
        names.push(r.body);
    }
    names
}

#[tokio::test]
async fn an_endpoint_failing_its_http_check_is_taken_out_and_comes_back() {
    let redis = TestRedis::new().await.unwrap();
    let proxy = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let routes = |zone_id: &str| {
        serde_json::json!([{
            "zone_id": zone_id,
            "upstreams": [{"url": a.url()}, {"url": b.url()}],
            "policies": {"health_check": check()}
        }])
    };
    let v = put_zones(
        &redis.store(),
        &[
            zone_json("checked.test", routes("checked")),
            // The same check on the same endpoints: shared, one probe per interval.
            zone_json("twin.test", routes("twin")),
            // The same endpoint without the check: judged by the TCP check only.
            zone("plain.test", &[&a.url()]),
        ],
    )
    .await;
    proxy.wait_for_version(v.version).await;

    // Both healthy: both take traffic.
    wait_endpoint(&proxy, &a.url(), true).await;
    let names = answered_by(&proxy, "checked.test", 6).await;
    assert!(
        names.contains(&"a".to_owned()) && names.contains(&"b".to_owned()),
        "{names:?}"
    );
    let doc = admin_json(&proxy, "/upstreams").await;
    assert_eq!(
        doc["summary"]["http_checks"], 2,
        "two zones with the same check share one check per endpoint: {doc}"
    );

    // a's health endpoint fails while its port stays open.
    let before = a.probes();
    a.set_health(500);
    let entry = wait_endpoint(&proxy, &a.url(), false).await;
    assert!(
        a.probes() - before >= 2,
        "taken out only after unhealthy_threshold (2) failed probes, after {}",
        a.probes() - before
    );
    assert_eq!(entry["down_by"], serde_json::json!(["http /healthz"]));
    assert_eq!(
        entry["tcp"]["up"], true,
        "a TCP check would call it up: {entry}"
    );
    let checks = entry["http_checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1, "{entry}");
    assert_eq!(checks[0]["up"], false);
    assert_eq!(checks[0]["last_error"], "answered 500; expected 200-399");
    assert!(checks[0]["changed_at"].is_string(), "{entry}");

    // Traffic of the checked routes goes to b only; the plain route still uses a.
    let names = answered_by(&proxy, "checked.test", 10).await;
    assert!(names.iter().all(|n| n == "b"), "{names:?}");
    let names = answered_by(&proxy, "twin.test", 4).await;
    assert!(names.iter().all(|n| n == "b"), "{names:?}");
    assert_eq!(answered_by(&proxy, "plain.test", 2).await, ["a", "a"]);

    // The admin API, the metrics and the heartbeat say so, without naming endpoints in
    // the metrics.
    let status = proxy.status().await.unwrap();
    assert_eq!(status["upstreams"]["endpoints"], 2, "{status}");
    assert_eq!(status["upstreams"]["endpoints_down"], 1, "{status}");
    assert_eq!(status["upstreams"]["down"][0]["url"], a.url());
    let down = admin_json(&proxy, "/upstreams?down=1").await;
    assert_eq!(down["endpoints"].as_array().unwrap().len(), 1, "{down}");
    let text = metrics(&proxy).await;
    assert_eq!(
        metric(&text, "switchyard_proxy_upstream_endpoints{state=\"down\"}"),
        1.0
    );
    assert_eq!(
        metric(&text, "switchyard_proxy_upstream_endpoints{state=\"up\"}"),
        1.0
    );
    assert_eq!(
        metric(&text, "switchyard_proxy_health_checks{state=\"down\"}"),
        1.0
    );
    assert!(
        metric(
            &text,
            "switchyard_proxy_health_probes_total{kind=\"http\",result=\"fail\"}"
        ) >= 2.0
    );
    assert!(
        metric(
            &text,
            "switchyard_proxy_health_probes_total{kind=\"http\",result=\"pass\"}"
        ) >= 1.0
    );
    assert!(
        !text.contains(&a.addr.to_string()),
        "no endpoint in the metrics"
    );
    let store = redis.store();
    eventually(
        Duration::from_secs(15),
        "the heartbeat reports one endpoint down",
        || {
            let store = store.clone();
            async move {
                let fleet = store.fleet().await.map_err(|e| e.to_string())?;
                match fleet.proxies.first() {
                    Some(p) if p.endpoints_down == 1 => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        },
    )
    .await
    .unwrap();

    // It recovers after healthy_threshold (2) good probes.
    let before = a.probes();
    a.set_health(200);
    wait_endpoint(&proxy, &a.url(), true).await;
    assert!(
        a.probes() - before >= 2,
        "back after {} probes",
        a.probes() - before
    );
    let names = answered_by(&proxy, "checked.test", 6).await;
    assert!(names.contains(&"a".to_owned()), "{names:?}");

    // A probe that gets no answer within timeout_ms fails.
    a.set_health(HANG);
    let entry = wait_endpoint(&proxy, &a.url(), false).await;
    assert_eq!(
        entry["http_checks"][0]["last_error"],
        "no answer within 300 ms"
    );
    let text = metrics(&proxy).await;
    assert!(
        metric(
            &text,
            "switchyard_proxy_health_probes_total{kind=\"http\",result=\"timeout\"}"
        ) >= 2.0
    );

    // Each change of state is logged once (not once per probe, nor per route).
    let log = proxy.log_text();
    let changes = log
        .lines()
        .filter(|l| l.contains("HTTP health check changed state") && l.contains(&a.url()))
        .count();
    assert_eq!(changes, 3, "down, up, down:\n{log}");
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("HTTP health check changed state") && l.contains(&b.url()))
            .count(),
        0
    );
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn when_every_endpoint_fails_its_check_the_route_answers_503_and_recovers() {
    let redis = TestRedis::new().await.unwrap();
    let proxy = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    let a = Backend::start("a").await;
    a.set_health(503);
    let v = put_zones(
        &redis.store(),
        &[zone_json(
            "only.test",
            serde_json::json!([{
                "zone_id": "only",
                "upstreams": [{"url": a.url()}],
                "policies": {"health_check": check()}
            }]),
        )],
    )
    .await;
    proxy.wait_for_version(v.version).await;
    wait_endpoint(&proxy, &a.url(), false).await;
    // All down: 503, with at most a trickle of requests let through as probes.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(proxy.get("only.test", "/").await.status.as_u16());
    }
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert!(served <= 1, "{statuses:?}");
    assert!(statuses.contains(&503), "{statuses:?}");
    a.set_health(200);
    wait_endpoint(&proxy, &a.url(), true).await;
    assert_eq!(proxy.get("only.test", "/").await.body, a.name);
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn https_upstreams_are_probed_over_verified_tls_with_their_name() {
    let redis = TestRedis::new().await.unwrap();
    let cert = self_signed(&["localhost"]);
    let ca_file = std::env::temp_dir().join(format!(
        "sy-health-ca-{}.pem",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&ca_file, &cert.ca_pem).unwrap();
    let proxy = (ProxyOptions::new(redis.url(), redis.prefix())
        .arg("--upstream-ca-file")
        .arg(ca_file.to_str().unwrap()))
    .start()
    .await;
    let trusted = Upstream::https_echo("trusted", &cert.chain_pem, &cert.key_pem).await;
    let other_ca = self_signed(&["localhost"]);
    let untrusted = Upstream::https_echo("untrusted", &other_ca.chain_pem, &other_ca.key_pem).await;
    let url = |u: &Upstream| format!("https://localhost:{}", u.addr().port());
    let routes = |zone_id: &str, upstream: &str| {
        serde_json::json!([{
            "zone_id": zone_id,
            "upstreams": [{"url": upstream}],
            "policies": {"health_check": {
                "path": "/healthz", "interval_ms": 1000, "timeout_ms": 500,
                "healthy_threshold": 1, "unhealthy_threshold": 1,
                "expected_status": "200-299"
            }}
        }])
    };
    let v = put_zones(
        &redis.store(),
        &[
            zone_json("tls.test", routes("tls", &url(&trusted))),
            zone_json("mitm.test", routes("mitm", &url(&untrusted))),
        ],
    )
    .await;
    proxy.wait_for_version(v.version).await;

    // A certificate from an unknown CA fails the probe, as it fails traffic.
    let entry = wait_endpoint(&proxy, &url(&untrusted), false).await;
    let error = entry["http_checks"][0]["last_error"].as_str().unwrap();
    assert!(error.starts_with("connecting to 127.0.0.1:"), "{entry}");

    // The trusted one passes: probed over TLS with its name as SNI and Host.
    let admin = proxy.admin;
    let trusted_url = url(&trusted);
    eventually(
        Duration::from_secs(15),
        "the trusted upstream was probed",
        || {
            let trusted_url = trusted_url.clone();
            async move {
                let doc = client::http_get(admin, "admin", "/upstreams")
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .map_err(|e| e.to_string())?;
                let entry = doc["endpoints"]
                    .as_array()
                    .and_then(|l| l.iter().find(|e| e["url"] == trusted_url.as_str()).cloned())
                    .ok_or_else(|| doc.to_string())?;
                let check = &entry["http_checks"][0];
                if check["last_probe_at"].is_string() && check["up"] == true {
                    Ok(())
                } else {
                    Err(entry.to_string())
                }
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(trusted.last_sni().as_deref(), Some("localhost"));
    let probe = trusted.last_headers().unwrap();
    assert_eq!(probe["user-agent"], "switchyard-health-check");
    assert_eq!(
        probe["host"],
        format!("localhost:{}", trusted.addr().port()).as_str()
    );
    assert_eq!(proxy.get("tls.test", "/").await.status, 200);
    std::fs::remove_file(&ca_file).unwrap();
    redis.cleanup().await.unwrap();
}
