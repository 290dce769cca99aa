//! The proxy end to end: real binary, real Redis (own key prefix per test), real local
//! upstreams. Routing and precedence, the answers the proxy makes itself, live changes,
//! invalid records, isolation between zones.

mod support;

use std::time::Duration;

use support::{HTTPS_REDIRECT_PORT, Proxy, ProxyOptions, put_zones, zone, zone_json};
use switchyard_shared::store::ChangeSet;
use switchyard_tests::eventually::eventually;
use switchyard_tests::redis::TestRedis;
use switchyard_tests::upstream::Upstream;

async fn setup() -> (TestRedis, Proxy) {
    let redis = TestRedis::new().await.unwrap();
    let proxy = ProxyOptions::new(redis.url(), redis.prefix()).start().await;
    (redis, proxy)
}

fn upstream_name(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .map(|v| v["upstream"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_else(|_| format!("<not echo JSON: {body}>"))
}

#[tokio::test]
async fn hosts_route_by_precedence_whatever_the_insertion_order() {
    let (redis, proxy) = setup().await;
    let exact = Upstream::echo("exact").await;
    let star = Upstream::echo("star").await;
    let many = Upstream::echo("many").await;
    let api = Upstream::echo("api").await;
    let v = put_zones(
        &redis.store(),
        &[
            zone("**.example.com", &[&many.url()]),
            zone("*.example.com", &[&star.url()]),
            zone("app.example.com", &[&exact.url()]),
            zone_json(
                "shop.example.com",
                serde_json::json!([
                    {"zone_id": "shop", "upstreams": [{"url": star.url()}]},
                    {"zone_id": "shop-api", "path_prefix": "/api", "upstreams": [{"url": api.url()}]}
                ]),
            ),
        ],
    )
    .await;
    proxy.wait_for_version(v.version).await;

    for (host, path, want) in [
        ("app.example.com", "/", "exact"),
        ("APP.Example.com.", "/", "exact"),
        ("other.example.com", "/", "star"),
        ("a.b.example.com", "/", "many"),
        ("shop.example.com", "/", "star"),
        ("shop.example.com", "/api/orders?x=1", "api"),
        ("shop.example.com", "/apis", "star"),
    ] {
        let resp = proxy.get(host, path).await;
        assert_eq!(resp.status, 200, "{host}{path}: {}", resp.body);
        assert_eq!(upstream_name(&resp.body), want, "{host}{path}");
    }
    let resp = proxy.get("shop.example.com", "/api/orders?x=1").await;
    assert_eq!(resp.json().unwrap()["path"], "/api/orders?x=1");
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn requests_carry_forwarding_headers_and_the_upstream_host() {
    let (redis, proxy) = setup().await;
    let echo = Upstream::echo("echo").await;
    let v = put_zones(
        &redis.store(),
        &[
            zone("plain.example.com", &[&echo.url()]),
            zone_json(
                "keep.example.com",
                serde_json::json!([{"zone_id": "k", "preserve_host": true, "upstreams": [{"url": echo.url()}]}]),
            ),
        ],
    )
    .await;
    proxy.wait_for_version(v.version).await;

    let resp = proxy.get("plain.example.com", "/").await;
    let request_id = resp
        .header("x-request-id")
        .expect("proxied answers carry the request id")
        .to_owned();
    let seen = resp.json().unwrap()["headers"].clone();
    assert_eq!(seen["host"], echo.addr().to_string());
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["x-real-ip"], "127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["x-forwarded-host"], "plain.example.com");
    assert_eq!(seen["x-request-id"], request_id.as_str());

    let resp = proxy.get("keep.example.com", "/").await;
    assert_eq!(resp.json().unwrap()["headers"]["host"], "keep.example.com");
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn answers_the_proxy_makes_itself_name_the_request_id() {
    let (redis, proxy) = setup().await;
    let slow = Upstream::slow("slow", Duration::from_secs(3)).await;
    let refused = Upstream::refusing();
    let v = put_zones(
        &redis.store(),
        &[
            zone_json("empty.example.com", serde_json::json!([{"zone_id": "e"}])),
            zone_json(
                "private.example.com",
                serde_json::json!([{"zone_id": "p", "allow": ["10.0.0.0/8", "2001:db8::/32"], "upstreams": [{"url": "http://127.0.0.1:9"}]}]),
            ),
            zone(
                "refused.example.com",
                &[&format!("http://{refused}")],
            ),
            zone_json(
                "slow.example.com",
                serde_json::json!([{"zone_id": "s", "timeouts": {"read_ms": 300}, "upstreams": [{"url": slow.url()}]}]),
            ),
            zone_json(
                "secure.example.com",
                serde_json::json!([{"zone_id": "h", "force_https": true, "upstreams": [{"url": slow.url()}]}]),
            ),
        ],
    )
    .await;
    proxy.wait_for_version(v.version).await;

    for (host, path, status, text) in [
        (
            "nowhere.example.org",
            "/",
            404,
            "no zone for host \"nowhere.example.org\"",
        ),
        (
            "empty.example.com",
            "/",
            503,
            "service not configured for this host",
        ),
        ("private.example.com", "/", 403, "Forbidden"),
        (
            "refused.example.com",
            "/",
            502,
            "cannot connect to the upstream",
        ),
        ("slow.example.com", "/", 504, "did not answer in time"),
    ] {
        let resp = proxy.get(host, path).await;
        assert_eq!(resp.status, status, "{host}: {}", resp.body);
        assert!(
            resp.body.contains(text),
            "{host}: {:?} should contain {text:?}",
            resp.body
        );
        let id = resp.header("x-request-id").expect("x-request-id header");
        assert!(
            resp.body.contains(&format!("request id: {id}")),
            "{host}: {}",
            resp.body
        );
    }

    // A sane request id from the client is kept; an insane one is replaced.
    let client = switchyard_tests::client::client("nowhere.example.org", proxy.http)
        .build()
        .unwrap();
    let resp = client
        .get("http://nowhere.example.org/")
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-42");
    let resp = client
        .get("http://nowhere.example.org/")
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(resp.headers()["x-request-id"], "bad id with spaces");

    // Plain HTTP to a zone that forces HTTPS: 308 with path and query kept.
    let resp = proxy.get("secure.example.com", "/a/b?c=d").await;
    assert_eq!(resp.status, 308);
    assert_eq!(
        resp.header("location").unwrap(),
        format!("https://secure.example.com:{HTTPS_REDIRECT_PORT}/a/b?c=d")
    );
    assert_eq!(
        slow.request_count(),
        1,
        "only the 504 test reached the slow upstream"
    );
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_broken_backend_only_affects_its_own_zone() {
    let (redis, proxy) = setup().await;
    let good = Upstream::echo("good").await;
    let resetting = Upstream::resetting("reset").await;
    let v = put_zones(
        &redis.store(),
        &[
            zone("good.example.com", &[&good.url()]),
            zone("reset.example.com", &[&resetting.url()]),
            zone(
                "down.example.com",
                &[&format!("http://{}", Upstream::refusing())],
            ),
        ],
    )
    .await;
    proxy.wait_for_version(v.version).await;
    // First failures answer 502; once the endpoint is ejected (passively, or by the active
    // check) the zone answers 503 "every upstream is down", letting a probe through now
    // and then. Either way the good zone keeps answering.
    assert_eq!(proxy.get("reset.example.com", "/").await.status, 502);
    assert_eq!(proxy.get("down.example.com", "/").await.status, 502);
    for _ in 0..10 {
        for host in ["reset.example.com", "down.example.com"] {
            let resp = proxy.get(host, "/").await;
            let expected = resp.status == 502
                || (resp.status == 503
                    && resp.body.contains("every upstream of this host is down"));
            assert!(expected, "{host}: {} {}", resp.status, resp.body);
        }
        let ok = proxy.get("good.example.com", "/").await;
        assert_eq!(
            (ok.status.as_u16(), upstream_name(&ok.body)),
            (200, "good".to_owned())
        );
    }
    // Three failures ejected the endpoint: the zone answers 503 itself. Polled, not read
    // once: while every endpoint is down one request per `trickle_every` (2 s) still goes
    // through as a probe (502), and on a loaded machine the loop above can outlast that.
    eventually(
        Duration::from_secs(10),
        "three failures eject the endpoint (503 from the proxy itself)",
        || async {
            let down = proxy.get("down.example.com", "/").await;
            (down.status == 503 && down.body.contains("every upstream of this host is down"))
                .then_some(())
                .ok_or_else(|| format!("{} {}", down.status, down.body))
        },
    )
    .await
    .unwrap();
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn weighted_upstreams_share_traffic_and_a_dead_one_is_skipped() {
    let (redis, proxy) = setup().await;
    let a = Upstream::echo("a").await;
    let b = Upstream::echo("b").await;
    let dead = format!("http://{}", Upstream::refusing());
    let v = put_zones(
        &redis.store(),
        &[zone_json(
            "lb.example.com",
            serde_json::json!([{"zone_id": "lb", "upstreams": [
                {"url": a.url(), "weight": 3}, {"url": b.url(), "weight": 1}, {"url": dead, "weight": 1}
            ]}]),
        )],
    )
    .await;
    proxy.wait_for_version(v.version).await;
    for _ in 0..50 {
        let resp = proxy.get("lb.example.com", "/").await;
        assert_eq!(
            resp.status, 200,
            "a dead endpoint is retried elsewhere: {}",
            resp.body
        );
    }
    let (ca, cb) = (a.request_count(), b.request_count());
    assert_eq!(ca + cb, 50);
    assert!(ca > 2 * cb, "weight 3 vs 1: a={ca} b={cb}");
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn changes_in_redis_reach_routing_without_restart() {
    let (redis, proxy) = setup().await;
    let first = Upstream::echo("first").await;
    let second = Upstream::echo("second").await;
    let store = redis.store();
    let v = put_zones(&store, &[zone("live.example.com", &[&first.url()])]).await;
    proxy.wait_for_version(v.version).await;
    assert_eq!(
        upstream_name(&proxy.get("live.example.com", "/").await.body),
        "first"
    );

    put_zones(&store, &[zone("live.example.com", &[&second.url()])]).await;
    let http = proxy.http;
    eventually(
        Duration::from_secs(5),
        "traffic switches to the second upstream",
        || async move {
            let resp = switchyard_tests::client::http_get(http, "live.example.com", "/")
                .await
                .map_err(|e| e.to_string())?;
            let name = upstream_name(&resp.body);
            if name == "second" { Ok(()) } else { Err(name) }
        },
    )
    .await
    .unwrap();

    let mut delete = ChangeSet::new();
    delete.delete_zone("live.example.com");
    store.apply(&delete).await.unwrap();
    eventually(
        Duration::from_secs(5),
        "the deleted zone answers 404",
        || async move {
            let resp = switchyard_tests::client::http_get(http, "live.example.com", "/")
                .await
                .map_err(|e| e.to_string())?;
            if resp.status == 404 {
                Ok(())
            } else {
                Err(resp.status.to_string())
            }
        },
    )
    .await
    .unwrap();

    // The proxy reports what it applied, in Redis and on its admin listener.
    let status = proxy.status().await.unwrap();
    let version = status["version"].as_u64().unwrap();
    let proxies: std::collections::HashMap<String, String> =
        fred::prelude::HashesInterface::hgetall(redis.client(), redis.keys().proxies())
            .await
            .unwrap();
    let reported: serde_json::Value = eventually(
        Duration::from_secs(10),
        "the proxy publishes its status",
        || {
            let proxies = proxies.clone();
            async move {
                let mine = proxies.values().next().ok_or("no status yet")?;
                serde_json::from_str(mine).map_err(|e| e.to_string())
            }
        },
    )
    .await
    .unwrap();
    assert!(reported["version"].as_u64().unwrap() <= version);
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn an_invalid_record_does_not_replace_a_valid_one() {
    let (redis, proxy) = setup().await;
    let echo = Upstream::echo("valid").await;
    let store = redis.store();
    let v = put_zones(&store, &[zone("app.example.com", &[&echo.url()])]).await;
    proxy.wait_for_version(v.version).await;

    // Someone writes a broken record by hand and announces it on the feed.
    let keys = redis.keys().clone();
    let c = redis.client();
    let broken = r#"{"host":"app.example.com","routes":[{"zone_id":"x","upstreams":[{"url":"http://x:99999"}]}]}"#;
    let _: () = fred::prelude::KeysInterface::set(
        c,
        keys.zone("app.example.com"),
        broken,
        None,
        None,
        false,
    )
    .await
    .unwrap();
    let v2: u64 = fred::prelude::KeysInterface::incr(c, keys.version())
        .await
        .unwrap();
    let _: String = fred::prelude::StreamsInterface::xadd(
        c,
        keys.changes(),
        false,
        None,
        "*",
        vec![
            ("v", v2.to_string()),
            ("format", "1".into()),
            ("zones", r#"["app.example.com"]"#.into()),
            ("certs", "[]".into()),
        ],
    )
    .await
    .unwrap();
    proxy.wait_for_version(v2).await;
    let resp = proxy.get("app.example.com", "/").await;
    assert_eq!(
        (resp.status.as_u16(), upstream_name(&resp.body)),
        (200, "valid".to_owned())
    );
    let metrics = switchyard_tests::client::http_get(proxy.admin, "admin", "/metrics")
        .await
        .unwrap()
        .body;
    assert!(
        metrics.contains("switchyard_proxy_rejected_records_total 1"),
        "{metrics}"
    );
    redis.cleanup().await.unwrap();
}

#[tokio::test]
async fn admin_answers_what_a_host_routes_to() {
    let (redis, proxy) = setup().await;
    let v = put_zones(
        &redis.store(),
        &[zone("*.example.com", &["http://10.1.2.3:8080"])],
    )
    .await;
    proxy.wait_for_version(v.version).await;
    let resp = switchyard_tests::client::http_get(
        proxy.admin,
        "admin",
        "/route?host=Shop.Example.com&path=/x",
    )
    .await
    .unwrap();
    let json = resp.json().unwrap();
    assert_eq!(json["zone"], "*.example.com");
    assert_eq!(json["route"]["upstreams"][0]["url"], "http://10.1.2.3:8080");
    let ready = switchyard_tests::client::http_get(proxy.admin, "admin", "/readyz")
        .await
        .unwrap();
    assert_eq!(ready.status, 200);
    redis.cleanup().await.unwrap();
}

/// The access lines (`"target":"access"`) in the proxy's log so far.
fn access_lines(proxy: &Proxy) -> Vec<serde_json::Value> {
    proxy
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "access")
        .collect()
}

fn access_line(proxy: &Proxy, request_id: &str) -> Option<serde_json::Value> {
    access_lines(proxy)
        .into_iter()
        .find(|v| v["fields"]["request_id"] == request_id)
}

#[tokio::test]
async fn every_request_has_one_access_line_even_just_before_shutdown() {
    let (redis, mut proxy) = setup().await;
    let echo = Upstream::echo("echo").await;
    let v = put_zones(
        &redis.store(),
        &[zone("logged.example.com", &[&echo.url()])],
    )
    .await;
    proxy.wait_for_version(v.version).await;

    let resp = proxy.get("logged.example.com", "/some/path?q=1").await;
    let id = resp.header("x-request-id").unwrap().to_owned();
    let proxy_ref = &proxy;
    let id_ref = id.as_str();
    let line = eventually(
        Duration::from_secs(5),
        "the access line of the request is written",
        || async move { access_line(proxy_ref, id_ref).ok_or("not yet".to_owned()) },
    )
    .await
    .unwrap();
    assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
    assert_eq!(line["level"], "INFO");
    let f = &line["fields"];
    assert_eq!(f["client_ip"], "127.0.0.1", "{line}");
    assert_eq!(f["host"], "logged.example.com");
    assert_eq!(f["zone"], "logged.example.com");
    assert_eq!(f["method"], "GET");
    assert_eq!(f["path"], "/some/path");
    assert_eq!(f["status"], 200);
    assert_eq!(f["bytes"], resp.body.len());
    assert!(f["duration_ms"].as_f64().unwrap() > 0.0, "{line}");
    assert_eq!(f["upstream"], echo.addr().to_string());
    assert!(f["upstream_ms"].as_f64().unwrap() > 0.0, "{line}");
    assert_eq!(f["error"], "");

    let resp = proxy.get("nowhere.example.com", "/").await;
    let id = resp.header("x-request-id").unwrap().to_owned();
    let id_ref = id.as_str();
    let line = eventually(
        Duration::from_secs(5),
        "the access line of the 404 is written",
        || async move { access_line(proxy_ref, id_ref).ok_or("not yet".to_owned()) },
    )
    .await
    .unwrap();
    assert_eq!(line["fields"]["status"], 404);
    assert_eq!(line["fields"]["zone"], "");
    assert_eq!(line["fields"]["upstream"], "");
    assert_eq!(line["fields"]["error"], "no_zone");

    // Lines still buffered when the proxy stops are written before it exits.
    let mut ids = Vec::new();
    for _ in 0..20 {
        let resp = proxy.get("logged.example.com", "/last").await;
        ids.push(resp.header("x-request-id").unwrap().to_owned());
    }
    proxy.stop().await.unwrap();
    let lines = access_lines(&proxy);
    for id in &ids {
        let n = lines
            .iter()
            .filter(|v| v["fields"]["request_id"] == id.as_str())
            .count();
        assert_eq!(n, 1, "access lines for {id}\n{}", proxy.log_text());
    }
    redis.cleanup().await.unwrap();
}
