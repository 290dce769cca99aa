//! Faults under steady load: the real panel-api and proxy binaries, with PostgreSQL and
//! Redis each behind a TCP relay the test cuts and restores (so nothing else sharing
//! those servers notices), while a bounded request loop on loopback keeps asking the
//! proxy for every existing zone and counts what fails.
//!
//! - PostgreSQL down: the proxy answers every zone, the panel serves degraded reads,
//!   writes get 503, nothing is lost; it recovers by itself.
//! - Redis down: the proxy answers from its snapshot, panel writes commit and reach
//!   Redis (and the proxy) once it is back.
//! - A proxy restarted while Redis is down serves from its snapshot file.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::eventually::eventually;
use switchyard_tests::load::Load;
use switchyard_tests::postgres::{ADMIN_URL_ENV, DEFAULT_ADMIN_URL, TestDatabase};
use switchyard_tests::proxy::{Proxy, ProxyOptions};
use switchyard_tests::redis::TestRedis;
use switchyard_tests::relay::Relay;
use switchyard_tests::stack::{Auth, Stack};
use switchyard_tests::upstream::Upstream;

const ZONES: usize = 20;

fn host(i: usize) -> String {
    format!("z{i}.faults.test")
}

fn zone(host: &str, upstream: &Upstream) -> Value {
    json!({
        "hostname": host,
        "backend": {"kind": "upstreams", "upstreams": [{"url": upstream.url()}]},
    })
}

/// `host:port` of a URL.
fn authority(url: &str) -> String {
    let url = reqwest::Url::parse(url).expect("a URL");
    format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// `url` with its host and port replaced by the relay's.
fn via(relay: &Relay, url: &str) -> String {
    let mut url = reqwest::Url::parse(url).expect("a URL");
    url.set_host(Some("127.0.0.1")).expect("a host");
    url.set_port(Some(relay.addr().port())).expect("a port");
    url.to_string()
}

async fn routed_to(proxy: &Proxy, host: &str, upstream: &str) -> anyhow::Result<()> {
    let want = (200, Some(upstream.to_owned()));
    eventually(
        Duration::from_secs(30),
        &format!("{host} → {upstream}"),
        || {
            let want = want.clone();
            async move {
                let seen = proxy.route(host, "/").await?;
                (seen == want).then_some(()).ok_or(format!("{seen:?}"))
            }
        },
    )
    .await
}

// Multi-threaded, so the load loop keeps going while the test waits on the services.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_redis_outages_under_load_fail_no_request_and_lose_nothing()
-> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let redis = TestRedis::new().await?;
    let admin_url = std::env::var(ADMIN_URL_ENV).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
    let mut pg = Relay::start(&authority(&admin_url)).await?;
    let mut rd = Relay::start(&authority(redis.url())).await?;
    // Both services reach PostgreSQL and Redis through relays the test can cut.
    let mut stack = Stack::builder()
        .database_url(&via(&pg, database.url()))
        .redis_prefixed(&via(&rd, redis.url()), redis.prefix())
        .proxies(1)
        .build()
        .await?;
    let mut proxy = stack.proxies.pop().expect("one proxy");
    let panel = &stack.panel;
    let (one, two) = (Upstream::echo("one").await, Upstream::echo("two").await);

    let admin = stack.admin_key().await?;
    panel.create_domain(&admin, "faults.test").await?;
    let mut ids = Vec::new();
    for i in 0..ZONES {
        let z = panel.create_zone(&admin, zone(&host(i), &one)).await?;
        ids.push(z["id"].as_str().unwrap().to_owned());
    }
    for i in 0..ZONES {
        routed_to(&proxy, &host(i), "one").await?;
    }
    let hosts: Vec<String> = (0..ZONES).map(host).collect();

    // --- PostgreSQL down --------------------------------------------------------------
    let load = Load::start(proxy.http, hosts.clone());
    pg.cut().await;
    let (http, base) = (panel.http.clone(), panel.base.clone());
    let degraded = || {
        let (http, base, admin) = (http.clone(), base.clone(), admin.clone());
        async move {
            let r = http
                .get(format!("{base}/zones?limit=500"))
                .bearer_auth(admin)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let json: Value = serde_json::from_str(&r.text().await.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            Ok::<Value, String>(json)
        }
    };
    let page = eventually(Duration::from_secs(15), "degraded reads", || async {
        let json = degraded().await?;
        (json["degraded"] == true)
            .then_some(json.clone())
            .ok_or(json.to_string())
    })
    .await?;
    assert_eq!(
        page["total"], ZONES,
        "every zone readable from Redis: {page}"
    );
    let refused = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&admin),
            Some(zone("new.faults.test", &one)),
        )
        .await?;
    assert_eq!(refused.status, 503, "{}", refused.json);
    let refused = panel
        .call(
            Method::PUT,
            &format!("/zones/{}", ids[0]),
            Auth::Bearer(&admin),
            Some(zone(&host(0), &two)),
        )
        .await?;
    assert_eq!(refused.status, 503, "{}", refused.json);
    pg.restore().await?;
    eventually(Duration::from_secs(30), "PostgreSQL back", || async {
        let json = degraded().await?;
        (json.get("degraded").is_none() && json["total"] == ZONES)
            .then_some(())
            .ok_or(json.to_string())
    })
    .await?;
    let (sent, failures) = load.finish().await;
    assert!(sent > 10, "the load loop ran ({sent} requests)");
    assert!(
        failures.is_empty(),
        "PostgreSQL outage: {} of {sent} failed: {failures:?}",
        failures.len()
    );
    // Nothing was lost or half-written: the refused writes left no trace.
    let r = panel
        .expect(
            Method::GET,
            &format!("/zones/{}", ids[0]),
            &admin,
            None,
            200,
        )
        .await?;
    assert_eq!(r["backend"]["upstreams"][0]["url"], one.url());
    routed_to(&proxy, &host(0), "one").await?;

    // --- Redis down ---------------------------------------------------------------------
    let load = Load::start(proxy.http, hosts.clone());
    rd.cut().await;
    // Writes commit while Redis is away.
    let moved = panel
        .expect(
            Method::PUT,
            &format!("/zones/{}", ids[0]),
            &admin,
            Some(zone(&host(0), &two)),
            200,
        )
        .await?;
    assert_eq!(moved["backend"]["upstreams"][0]["url"], two.url());
    panel
        .create_zone(&admin, zone("new.faults.test", &two))
        .await?;
    panel
        .expect(
            Method::DELETE,
            &format!("/zones/{}", ids[ZONES - 1]),
            &admin,
            None,
            204,
        )
        .await?;
    let health = panel.call(Method::GET, "/health", Auth::None, None).await?;
    assert_eq!(health.json["redis"], "down", "{}", health.json);
    // The proxy goes on serving what it had, the deleted zone included.
    let (sent, failures) = load.finish().await;
    assert!(sent > 10, "the load loop ran ({sent} requests)");
    assert!(
        failures.is_empty(),
        "Redis outage: {} of {sent} failed: {failures:?}",
        failures.len()
    );
    let (status, upstream) = proxy
        .route(&host(0), "/")
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(
        (status, upstream.as_deref()),
        (200, Some("one")),
        "still the snapshot"
    );

    // --- a proxy restarted while Redis is down: its snapshot file ---------------------
    proxy.service.stop().await?;
    let restarted = ProxyOptions::new(&via(&rd, redis.url()), redis.prefix())
        .id(&proxy.id)
        .local()
        .arg("--threads=1")
        .in_dir_of(&proxy)
        .launch()
        .await?;
    restarted.ready().await?;
    let status = restarted.status().await?;
    assert_eq!(status["source"], "file", "{status}");
    proxy = restarted;
    let load = Load::start(proxy.http, hosts.clone());
    for h in &hosts {
        let (status, upstream) = proxy.route(h, "/").await.map_err(anyhow::Error::msg)?;
        assert_eq!(
            (status, upstream.as_deref()),
            (200, Some("one")),
            "{h} from the file"
        );
    }

    // --- Redis back: the committed writes arrive -----------------------------------------
    rd.restore().await?;
    routed_to(&proxy, &host(0), "two").await?;
    routed_to(&proxy, "new.faults.test", "two").await?;
    let last = host(ZONES - 1);
    eventually(
        Duration::from_secs(30),
        "the deleted zone is gone",
        || async {
            match proxy.route(&last, "/").await? {
                (404, _) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await?;
    let (sent, failures) = load.finish().await;
    // The deleted zone's answers turn to 404 once Redis is back, as they should; every
    // other zone kept answering.
    let failures: Vec<String> = failures
        .into_iter()
        .filter(|f| !f.starts_with(&last))
        .collect();
    assert!(
        failures.is_empty(),
        "after restart: {} of {sent} failed: {failures:?}",
        failures.len()
    );
    let health = panel.call(Method::GET, "/health", Auth::None, None).await?;
    assert_eq!(health.json["redis"], "up", "{}", health.json);

    drop(proxy);
    stack.finish().await?;
    redis.cleanup().await?;
    database.drop_now().await
}
