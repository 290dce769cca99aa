//! Redis outages: the proxy keeps serving its snapshot while Redis is down and follows
//! again when it returns; a proxy started while Redis is unreachable serves the snapshot
//! file it saved before. These tests run a private `redis-server` they can stop, never
//! the shared one.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use support::{ProxyOptions, put_zones, zone};
use switchyard_shared::Keys;
use switchyard_shared::store::{self, Store};
use switchyard_tests::client;
use switchyard_tests::eventually::eventually;
// redis-server cannot bind port 0: the harness offers candidates and proves which one
// the child took.
use switchyard_tests::sentinel::RedisProcess;
use switchyard_tests::upstream::Upstream;

/// A private Redis with append-only persistence, as in production: data survives a
/// restart on the same directory and port.
struct PrivateRedis {
    process: RedisProcess,
    dir: std::path::PathBuf,
}

impl PrivateRedis {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// `extra`: further `redis-server` arguments (`--replicaof …`).
    async fn start_with(extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("sy-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let data = dir.display().to_string();
        let process = RedisProcess::start(&dir, "redis", "Ready to accept connections", |port| {
            let mut args: Vec<String> = ["--port", &port.to_string(), "--bind", "127.0.0.1"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            args.extend(extra.iter().cloned());
            args.extend(
                [
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--dir",
                    &data,
                ]
                .iter()
                .map(|s| s.to_string()),
            );
            args
        })
        .await
        .unwrap();
        Self { process, dir }
    }

    /// Starts it again on its port, on the data it left.
    async fn run(&mut self) {
        self.process.restart("redis").await.unwrap();
    }

    fn stop(&mut self) {
        self.process.kill();
    }

    fn port(&self) -> u16 {
        self.process.port
    }

    fn url(&self) -> String {
        format!("redis://{}", self.process.addr())
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const PREFIX: &str = "sy-outage:";

#[tokio::test]
async fn redis_stopped_and_started_during_traffic_fails_no_request() {
    let mut redis = PrivateRedis::start().await;
    let keys = Keys::new(PREFIX).unwrap();
    let store = Store::new(store::connect(&redis.url()).await.unwrap(), keys.clone());
    let echo = Upstream::echo("steady").await;
    let hosts: Vec<String> = (0..20).map(|i| format!("app{i}.example.com")).collect();
    let zones: Vec<_> = hosts.iter().map(|h| zone(h, &[&echo.url()])).collect();
    let v = put_zones(&store, &zones).await;
    let proxy = ProxyOptions::new(&redis.url(), PREFIX).start().await;
    proxy.wait_for_version(v.version).await;

    // A bounded request loop over every existing zone, counting failures.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let traffic = tokio::spawn({
        let (stop, ok, failed, hosts) = (stop.clone(), ok.clone(), failed.clone(), hosts.clone());
        let http = proxy.http;
        async move {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) && i < 100_000 {
                let host = &hosts[i % hosts.len()];
                match client::http_get(http, host, "/").await {
                    Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                i += 1;
            }
        }
    });

    redis.stop();
    let admin = proxy.admin;
    eventually(
        Duration::from_secs(20),
        "the proxy notices Redis is gone",
        || async move {
            let status = client::http_get(admin, "admin", "/status")
                .await
                .map_err(|e| e.to_string())?;
            let json = status.json().map_err(|e| e.to_string())?;
            if json["redis"]["connected"] == false {
                Ok(())
            } else {
                Err(json.to_string())
            }
        },
    )
    .await
    .unwrap();
    let served_while_down = ok.load(Ordering::Relaxed);
    let ready = client::http_get(admin, "admin", "/readyz").await.unwrap();
    assert_eq!(
        ready.status, 200,
        "readiness stays green while Redis is down"
    );
    let metrics = client::http_get(admin, "admin", "/metrics")
        .await
        .unwrap()
        .body;
    assert!(
        metrics.contains("switchyard_proxy_redis_connected 0"),
        "{metrics}"
    );

    redis.run().await;
    eventually(
        Duration::from_secs(20),
        "the proxy reconnects",
        || async move {
            let status = client::http_get(admin, "admin", "/status")
                .await
                .map_err(|e| e.to_string())?;
            let json = status.json().map_err(|e| e.to_string())?;
            if json["redis"]["connected"] == true {
                Ok(())
            } else {
                Err(json.to_string())
            }
        },
    )
    .await
    .unwrap();
    // And follows changes again.
    let store = Store::new(store::connect(&redis.url()).await.unwrap(), keys);
    let newer = Upstream::echo("newer").await;
    let v = put_zones(&store, &[zone("app0.example.com", &[&newer.url()])]).await;
    proxy.wait_for_version(v.version).await;
    let resp = proxy.get("app0.example.com", "/").await;
    assert_eq!(resp.json().unwrap()["upstream"], "newer");

    stop.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests for existing zones failed"
    );
    assert!(
        ok.load(Ordering::Relaxed) > served_while_down,
        "traffic kept flowing throughout"
    );
}

#[tokio::test]
async fn a_proxy_started_while_redis_is_down_serves_its_snapshot_file() {
    let redis = PrivateRedis::start().await;
    let store = Store::new(
        store::connect(&redis.url()).await.unwrap(),
        Keys::new(PREFIX).unwrap(),
    );
    let echo = Upstream::echo("from-file").await;
    let v = put_zones(
        &store,
        &[
            zone("cold.example.com", &[&echo.url()]),
            zone("*.cold.example.com", &[&echo.url()]),
        ],
    )
    .await;
    let mut first = ProxyOptions::new(&redis.url(), PREFIX).start().await;
    let dir = first.dir.clone();
    first.wait_for_version(v.version).await;
    let snapshot = dir.join("snapshot");
    eventually(
        Duration::from_secs(15),
        "the snapshot file is written",
        || {
            let snapshot = snapshot.clone();
            async move {
                let text = std::fs::read_to_string(&snapshot).map_err(|e| e.to_string())?;
                if text.contains("cold.example.com") {
                    Ok(())
                } else {
                    Err("not yet".into())
                }
            }
        },
    )
    .await
    .unwrap();
    first.stop().await.unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&snapshot).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the snapshot holds private keys: owner only");

    // Redis is unreachable for the second proxy: nothing listens on its port.
    let unreachable: SocketAddr = Upstream::refusing();
    let second = ProxyOptions::new(&format!("redis://{unreachable}"), PREFIX)
        .in_dir_of(&first)
        .start()
        .await;
    let admin = second.admin;
    eventually(
        Duration::from_secs(10),
        "the second proxy is ready from its file",
        || async move {
            let r = client::http_get(admin, "admin", "/readyz")
                .await
                .map_err(|e| e.to_string())?;
            if r.status == 200 { Ok(()) } else { Err(r.body) }
        },
    )
    .await
    .unwrap();
    let status = second.status().await.unwrap();
    assert_eq!(status["source"], "file");
    assert_eq!(status["version"].as_u64(), Some(v.version));
    for host in ["cold.example.com", "x.cold.example.com"] {
        let resp = second.get(host, "/").await;
        assert_eq!(resp.status, 200, "{host}: {}", resp.body);
        assert_eq!(resp.json().unwrap()["upstream"], "from-file");
    }
    drop(redis);
}

/// A proxy given a replica to read (`--redis-read-url`) serves what the primary holds,
/// writes its status to the primary, reports how far behind the replica is, and catches
/// up by the version-gap rule (a full reload) when the replica resynchronises.
#[tokio::test]
async fn a_proxy_reads_a_replica_writes_to_the_primary_and_reports_the_lag() {
    let primary = PrivateRedis::start().await;
    let replica =
        PrivateRedis::start_with(&["--replicaof", "127.0.0.1", &primary.port().to_string()]).await;
    let keys = Keys::new(PREFIX).unwrap();
    let store = Store::new(store::connect(&primary.url()).await.unwrap(), keys.clone());
    let replica_client = store::connect(&replica.url()).await.unwrap();
    let echo = Upstream::echo("one").await;
    let v = put_zones(&store, &[zone("a.example.com", &[&echo.url()])]).await;
    let proxy = (ProxyOptions::new(&primary.url(), PREFIX)
        .arg(&format!("--redis-read-url={}", replica.url())))
    .start()
    .await;
    proxy.wait_for_version(v.version).await;
    assert_eq!(proxy.get("a.example.com", "/").await.status, 200);

    // Its status goes to the primary, saying it is not behind.
    let status_on_primary = |want: u64| {
        let (store, keys) = (store.clone(), keys.clone());
        async move {
            eventually(
                Duration::from_secs(30),
                &format!("the primary holds a status {want} versions behind"),
                || {
                    let (store, keys) = (store.clone(), keys.clone());
                    async move {
                        use fred::interfaces::HashesInterface as _;
                        let all: std::collections::HashMap<String, String> = store
                            .client()
                            .hgetall(keys.proxies())
                            .await
                            .map_err(|e| e.to_string())?;
                        let behind: Vec<Option<u64>> = all
                            .values()
                            .filter_map(|j| {
                                serde_json::from_str::<switchyard_shared::model::ProxyStatus>(j)
                                    .ok()
                            })
                            .map(|s| s.replica_versions_behind)
                            .collect();
                        if behind == [Some(want)] {
                            Ok(())
                        } else {
                            Err(format!("statuses say {behind:?}"))
                        }
                    }
                },
            )
            .await
            .unwrap();
        }
    };
    status_on_primary(0).await;

    // The replica stops following: a change on the primary does not reach the proxy,
    // which says how far behind it is.
    use fred::interfaces::ClientLike as _;
    let _: () = replica_client
        .custom(fred::cmd!("REPLICAOF"), vec!["NO", "ONE"])
        .await
        .unwrap();
    let two = Upstream::echo("two").await;
    let v2 = put_zones(&store, &[zone("b.example.com", &[&two.url()])]).await;
    status_on_primary(1).await;
    assert_eq!(proxy.get("b.example.com", "/").await.status, 404);
    let status = proxy.status().await.unwrap();
    assert_eq!(status["redis"]["replica_versions_behind"], 1, "{status}");

    // It follows again (a full resynchronisation): the proxy catches up.
    let _: () = replica_client
        .custom(
            fred::cmd!("REPLICAOF"),
            vec!["127.0.0.1".to_owned(), primary.port().to_string()],
        )
        .await
        .unwrap();
    proxy.wait_for_version(v2.version).await;
    assert_eq!(proxy.get("b.example.com", "/").await.status, 200);
    assert_eq!(proxy.get("a.example.com", "/").await.status, 200);
    status_on_primary(0).await;
}
