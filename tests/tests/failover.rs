//! Redis failover with Sentinel (issue 18, item 3), on real processes: a private primary,
//! replicas and three sentinels ([`RedisTopology`]), the panel, the cert worker and
//! proxies all given the Sentinel URL.
//!
//! - The primary is killed under steady proxy load and a steady stream of panel writes:
//!   no proxy request fails, every write the panel acknowledged reaches the new primary
//!   and every proxy, and the panel's health (cert worker and proxy heartbeats on the new
//!   primary included) is green again, nothing restarted.
//! - A write the old primary acknowledged but never replicated (it was cut off from its
//!   replica) is lost by the failover and restored by the reconciliation the panel runs
//!   when it notices the new primary.
//! - Proxies on replicas (`--redis-read-url`, two on one replica, one on the other, the
//!   Sentinel URL for their heartbeats): panel writes reach all three and the fleet view
//!   shows them current and not behind; when the primary is killed under load, no
//!   request fails and a write after the promotion reaches all three. How fast, over
//!   1,000 writes: `bench/consistency.sh` (docs/benchmarks.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fred::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};
use switchyard_shared::Keys;
use switchyard_tests::eventually::eventually;
use switchyard_tests::load::Load;
use switchyard_tests::proxy::Proxy;
use switchyard_tests::sentinel::{Auth, RedisTopology};
use switchyard_tests::stack::{Stack, zone_body};
use switchyard_tests::upstream::Upstream;

/// Bound for everything to settle after a failover.
const AFTER_FAILOVER: Duration = Duration::from_secs(30);

fn zone(host: &str, upstream: &Upstream) -> Value {
    zone_body(host, &upstream.url())
}

async fn routed_to(proxy: &Proxy, host: &str, upstream: &str) -> anyhow::Result<()> {
    let want = (200, Some(upstream.to_owned()));
    eventually(
        AFTER_FAILOVER,
        &format!("{} routes {host}", proxy.id),
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

/// Stops the load on each proxy: it ran, and none of its requests failed.
async fn no_request_failed(loads: Vec<Load>, proxies: &[Proxy]) {
    for (load, proxy) in loads.into_iter().zip(proxies) {
        let (sent, failures) = load.finish().await;
        assert!(
            sent > 10,
            "{}: the load loop ran ({sent} requests)",
            proxy.id
        );
        assert!(
            failures.is_empty(),
            "{}: {} of {sent} requests failed: {failures:?}",
            proxy.id,
            failures.len()
        );
    }
}

/// Whether the zone record of `host` is on the Redis at `url`.
async fn zone_in(url: &str, keys: &Keys, host: &str) -> Result<bool, String> {
    let client = switchyard_shared::store::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let exists: Result<i64, _> = client.exists(keys.zone(host)).await;
    let _ = client.quit().await;
    exists.map(|n| n == 1).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_killed_under_load_fails_no_request_and_loses_no_acknowledged_write()
-> anyhow::Result<()> {
    // Passwords on the data nodes and (others) on the sentinels: the URL forms with auth.
    let mut topology = RedisTopology::start(
        2,
        Auth {
            password: Some("data-secret-1f".into()),
            sentinel_password: Some("sentinel-secret-2e".into()),
        },
    )
    .await?;
    let stack = Stack::builder()
        .redis_url(&topology.sentinel_url())
        .proxies(2)
        .cert_worker()
        .build()
        .await?;
    let (panel, proxies) = (&stack.panel, &stack.proxies);
    let worker = &stack.cert_worker.as_ref().expect("a cert worker").service;
    let keys = Keys::new(&stack.prefix)?;
    let echo = Upstream::echo("echo").await;
    let admin = stack.admin_key().await?;
    panel.create_domain(&admin, "failover.test").await?;
    let hosts: Vec<String> = (0..10).map(|i| format!("z{i}.failover.test")).collect();
    for host in &hosts {
        panel.create_zone(&admin, zone(host, &echo)).await?;
    }
    for proxy in proxies {
        for host in &hosts {
            routed_to(proxy, host, "echo").await?;
        }
    }

    // Steady load on both proxies, and a steady stream of zone creations.
    let loads: Vec<Load> = proxies
        .iter()
        .map(|p| Load::start(p.http, hosts.clone()))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let writer = tokio::spawn({
        let (stop, acknowledged) = (stop.clone(), acknowledged.clone());
        let (http, base, admin, upstream) = (
            panel.http.clone(),
            panel.base.clone(),
            admin.clone(),
            echo.url(),
        );
        async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && i < 10_000 {
                let host = format!("w{i}.failover.test");
                i += 1;
                let body = json!({
                    "hostname": host,
                    "backend": {"kind": "upstreams", "upstreams": [{"url": upstream}]},
                });
                let sent = http
                    .post(format!("{base}/zones"))
                    .bearer_auth(&admin)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await;
                if matches!(&sent, Ok(r) if r.status().as_u16() == 201) {
                    acknowledged.lock().unwrap().push(host);
                }
            }
        }
    });
    let acknowledged_count = || acknowledged.lock().unwrap().len();
    eventually(
        Duration::from_secs(30),
        "writes before the failover",
        || {
            let n = acknowledged_count();
            async move { (n >= 5).then_some(()).ok_or(format!("{n} writes")) }
        },
    )
    .await?;

    let old = topology.kill_primary();
    let killed_at = time::OffsetDateTime::now_utc();
    let new = topology
        .wait_for_failover(old)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", topology.logs()))?;
    let before = acknowledged_count();
    eventually(AFTER_FAILOVER, "writes after the failover", || {
        let n = acknowledged_count();
        async move {
            (n >= before + 5)
                .then_some(())
                .ok_or(format!("{n} writes, {before} before"))
        }
    })
    .await?;
    stop.store(true, Ordering::Relaxed);
    writer.await?;

    // No proxy request for an existing zone failed.
    no_request_failed(loads, proxies).await;
    // Every acknowledged write is on the new primary and routed by every proxy.
    let written = acknowledged.lock().unwrap().clone();
    let primary = topology.node_url(new);
    for host in &written {
        eventually(
            AFTER_FAILOVER,
            &format!("{host} on the new primary"),
            || {
                let (primary, keys) = (primary.clone(), keys.clone());
                async move {
                    zone_in(&primary, &keys, host)
                        .await?
                        .then_some(())
                        .ok_or_else(|| "missing".to_owned())
                }
            },
        )
        .await?;
        for proxy in proxies {
            routed_to(proxy, host, "echo").await?;
        }
    }
    // The panel's health is green again: Redis up, the cert worker's heartbeat and
    // every proxy's status fresh on the new primary, every proxy current.
    let health = format!("{}/health", panel.base);
    let http = panel.http.clone();
    let green = eventually(AFTER_FAILOVER, "the panel's health is ok", || {
        let (http, health) = (http.clone(), health.clone());
        async move {
            let text = http
                .get(&health)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            let json: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            let current = json["proxies"]
                .as_array()
                .is_some_and(|p| p.len() == 2 && p.iter().all(|p| p["current"] == true));
            (json["status"] == "ok"
                && json["redis"] == "up"
                && json["cert_worker"] == "up"
                && current)
                .then_some(json.clone())
                .ok_or(json.to_string())
        }
    })
    .await?;
    assert!(
        green["cert_worker_heartbeat_age_secs"]
            .as_f64()
            .unwrap_or(f64::MAX)
            < 5.0,
        "{green}"
    );
    // Those heartbeats were written to the new primary after the old one died.
    let client = topology.node_client(new).await?;
    let statuses: std::collections::HashMap<String, String> =
        client.hgetall(keys.proxies()).await?;
    for proxy in proxies {
        let status: switchyard_shared::model::ProxyStatus =
            serde_json::from_str(&statuses[&proxy.id])?;
        assert!(status.heartbeat_at > killed_at, "{status:?}");
    }
    let beat: String = client.get(keys.heartbeat("cert-worker")).await?;
    let beat = time::OffsetDateTime::parse(&beat, &time::format_description::well_known::Rfc3339)?;
    assert!(beat > killed_at, "{beat}");
    let _ = client.quit().await;
    // Each service noticed the new primary by itself (nothing was restarted).
    let panel_log = panel.log_text();
    assert!(
        panel_log.contains("Redis primary changed"),
        "the panel did not reconcile after the failover:\n{}",
        panel.log_tail(30)
    );
    assert!(
        worker.log_text().contains("republishing every certificate"),
        "the cert worker did not republish:\n{}",
        worker.log_tail(30)
    );
    for proxy in proxies {
        assert!(
            proxy
                .service
                .log_text()
                .contains("the Redis server changed"),
            "{} did not reload:\n{}",
            proxy.id,
            proxy.service.log_tail(30)
        );
    }
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_old_primary_acknowledged_but_lost_is_restored_after_the_failover()
-> anyhow::Result<()> {
    let mut topology = RedisTopology::start(1, Auth::default()).await?;
    let stack = Stack::builder()
        .redis_url(&topology.sentinel_url())
        .proxies(1)
        .build()
        .await?;
    let (panel, proxy) = (&stack.panel, &stack.proxies[0]);
    let keys = Keys::new(&stack.prefix)?;
    let echo = Upstream::echo("echo").await;
    let admin = stack.admin_key().await?;
    panel.create_domain(&admin, "lost.test").await?;
    panel
        .create_zone(&admin, zone("kept.lost.test", &echo))
        .await?;
    routed_to(proxy, "kept.lost.test", "echo").await?;

    // The primary is cut off from its replica, acknowledges a write, and dies.
    topology.isolate_primary().await?;
    panel
        .create_zone(&admin, zone("lost.lost.test", &echo))
        .await?;
    let old = topology.primary;
    assert!(
        zone_in(&topology.node_url(old), &keys, "lost.lost.test")
            .await
            .map_err(anyhow::Error::msg)?
    );
    assert!(
        !zone_in(&topology.node_url(1), &keys, "lost.lost.test")
            .await
            .map_err(anyhow::Error::msg)?,
        "the replica was not cut off"
    );
    routed_to(proxy, "lost.lost.test", "echo").await?;
    topology.kill_primary();
    let new = topology
        .wait_for_failover(old)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", topology.logs()))?;

    // The reconciliation the panel runs on noticing the new primary writes it again.
    let primary = topology.node_url(new);
    eventually(AFTER_FAILOVER, "the lost write is restored", || {
        let (primary, keys) = (primary.clone(), keys.clone());
        async move {
            zone_in(&primary, &keys, "lost.lost.test")
                .await?
                .then_some(())
                .ok_or_else(|| "missing".to_owned())
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", panel.log_tail(30)))?;
    assert!(
        zone_in(&primary, &keys, "kept.lost.test")
            .await
            .map_err(anyhow::Error::msg)?
    );
    routed_to(proxy, "lost.lost.test", "echo").await?;
    routed_to(proxy, "kept.lost.test", "echo").await?;
    assert!(
        panel.log_text().contains("Redis primary changed"),
        "{}",
        panel.log_tail(30)
    );
    let metrics = panel
        .http
        .get(panel.base.replace("/api/v1", "/metrics"))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        metrics.contains("switchyard_panel_redis_server_changes_total 1"),
        "{metrics}"
    );
    stack.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_on_two_replicas_follow_panel_writes_and_fail_no_request_in_a_failover()
-> anyhow::Result<()> {
    let mut topology = RedisTopology::start(2, Auth::default()).await?;
    let stack = Stack::builder()
        .redis_url(&topology.sentinel_url())
        .proxies_on_replica(&topology.node_url(1), 2)
        .proxies_on_replica(&topology.node_url(2), 1)
        .build()
        .await?;
    let (panel, proxies) = (&stack.panel, &stack.proxies);
    let (one, two) = (Upstream::echo("one").await, Upstream::echo("two").await);
    let admin = stack.admin_key().await?;
    panel.create_domain(&admin, "replicas.test").await?;

    // 20 writes: ten zones created on "one", then moved to "two".
    let mut zones = Vec::new();
    for i in 0..10 {
        let host = format!("z{i}.replicas.test");
        let created = panel.create_zone(&admin, zone(&host, &one)).await?;
        zones.push((created["id"].as_str().unwrap_or_default().to_owned(), host));
    }
    for (id, host) in &zones {
        panel
            .expect(
                Method::PUT,
                &format!("/zones/{id}"),
                &admin,
                Some(zone(host, &two)),
                200,
            )
            .await?;
    }
    let hosts: Vec<String> = zones.iter().map(|(_, h)| h.clone()).collect();
    for proxy in proxies {
        for host in &hosts {
            routed_to(proxy, host, "two").await?;
        }
    }
    // The fleet view: every proxy current, reading a replica that is not behind.
    let health = format!("{}/health", panel.base);
    eventually(AFTER_FAILOVER, "every proxy current, 0 behind", || {
        let (http, health) = (panel.http.clone(), health.clone());
        async move {
            let json: Value = serde_json::from_str(
                &http
                    .get(&health)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .text()
                    .await
                    .map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            let fleet = json["proxies"].as_array().cloned().unwrap_or_default();
            (fleet.len() == 3
                && fleet
                    .iter()
                    .all(|p| p["current"] == true && p["replica_versions_behind"] == 0))
            .then_some(())
            .ok_or(json["proxies"].to_string())
        }
    })
    .await?;

    // The primary dies under load on all three proxies.
    let loads: Vec<Load> = proxies
        .iter()
        .map(|p| Load::start(p.http, hosts.clone()))
        .collect();
    let old = topology.kill_primary();
    let new = topology
        .wait_for_failover(old)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", topology.logs()))?;
    // A write after the promotion reaches every proxy, whichever replica it reads.
    let (id, host) = &zones[0];
    panel
        .expect(
            Method::PUT,
            &format!("/zones/{id}"),
            &admin,
            Some(zone(host, &one)),
            200,
        )
        .await?;
    for proxy in proxies {
        routed_to(proxy, host, "one").await.map_err(|e| {
            anyhow::anyhow!("{e} (node {new} promoted)\n{}", proxy.service.log_tail(20))
        })?;
    }
    no_request_failed(loads, proxies).await;
    stack.finish().await
}
