//! The Redis side of the panel: full reconciliation (deleted, changed and stale keys),
//! a Redis outage during writes with nothing lost, and the metrics that report it.
//! Real PostgreSQL (a database per test) and the shared Redis under a key prefix per
//! test; the outage is a TCP relay in front of that Redis that the test cuts and
//! restores, so nothing else using the shared Redis notices.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser as _;
use fred::prelude::{KeysInterface as _, SetsInterface as _};
use panel_api::entity::{redis_outbox, zones};
use panel_api::reconcile::{self, Report};
use panel_api::service::sync;
use panel_api::{AppState, Config};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ConnectionTrait as _, EntityTrait as _,
    PaginatorTrait as _, QueryOrder as _,
};
use serde_json::{Value, json};
use switchyard_shared::model::HostRecord;
use switchyard_tests::eventually::eventually;
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::redis::TestRedis;
use switchyard_tests::relay::Relay;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

const ADMIN: &str = "root";
const ADMIN_PASSWORD: &str = "sync-test-password-41c9";

/// One panel on its own database and Redis prefix, serving HTTP, optionally with the
/// background sync loop.
struct Panel {
    base: String,
    http: reqwest::Client,
    state: AppState,
    db: sea_orm::DatabaseConnection,
    redis: TestRedis,
    database: Option<TestDatabase>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    sync_loop: Option<tokio::task::JoinHandle<()>>,
    key: String,
}

impl Panel {
    /// `redis_url`: where the panel finds Redis (default the test Redis itself).
    async fn start(redis_url: Option<&str>, sync_loop: bool) -> anyhow::Result<Panel> {
        let database = TestDatabase::create().await?;
        let redis = TestRedis::new().await?;
        let config = Config::try_parse_from([
            "panel-api",
            "--database-url",
            database.url(),
            "--redis-url",
            redis_url.unwrap_or(redis.url()),
            "--key-prefix",
            redis.prefix(),
            "--admin-user",
            ADMIN,
            "--admin-password",
            ADMIN_PASSWORD,
        ])?;
        let state = panel_api::prepare(&config).await?;
        let db = database.connect().await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(panel_api::serve(state.clone(), listener, async {
            let _ = stopped.await;
        }));
        let sync_loop = sync_loop.then(|| {
            // Long timers: only the start and Redis' return trigger a run in the test.
            reconcile::spawn(
                state.stores.clone(),
                Duration::from_secs(3_600),
                Duration::from_secs(3_600),
            )
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let reply = http
            .post(format!("{origin}/api/v1/api-keys"))
            .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
            .header("content-type", "application/json")
            .body((json!({"name": "sync test"})).to_string())
            .send()
            .await?;
        anyhow::ensure!(reply.status() == 201, "api key: {}", reply.text().await?);
        let key = serde_json::from_str::<Value>(&reply.text().await?)?["key"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut panel = Panel {
            base: format!("{origin}/api/v1"),
            http,
            state,
            db,
            redis,
            database: Some(database),
            stop: Some(stop),
            server: Some(server),
            sync_loop,
            key,
        };
        let (status, body) = panel
            .send("POST", "/domains", Some(json!({"name": "example.com"})))
            .await?;
        anyhow::ensure!(status == 201, "domain: {body}");
        Ok(panel)
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method.parse()?, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body((body).to_string());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        };
        Ok((status, json))
    }

    async fn metrics(&self) -> anyhow::Result<String> {
        let url = self.base.replace("/api/v1", "/metrics");
        Ok(self.http.get(url).send().await?.text().await?)
    }

    /// Every record under the test prefix, by hostname (index members and their keys).
    async fn redis_records(&self) -> anyhow::Result<BTreeMap<String, HostRecord>> {
        let store = self.redis.store();
        let snapshot = store.snapshot().await?;
        anyhow::ensure!(snapshot.rejected.is_empty(), "{:?}", snapshot.rejected);
        Ok(snapshot
            .zones
            .into_iter()
            .map(|r| (r.host.as_str().to_owned(), r))
            .collect())
    }

    /// What Redis must hold: every zone row rendered the way the write path does.
    async fn expected_records(&self) -> anyhow::Result<BTreeMap<String, HostRecord>> {
        let rows = zones::Entity::find()
            .order_by_asc(zones::Column::Hostname)
            .order_by_asc(zones::Column::PathPrefix)
            .all(&self.db)
            .await?;
        let named = sync::render_context(&self.db).await?;
        let mut by_host: BTreeMap<String, Vec<zones::Model>> = BTreeMap::new();
        for row in rows {
            by_host.entry(row.hostname.clone()).or_default().push(row);
        }
        Ok(by_host
            .into_iter()
            .filter_map(|(host, rows)| sync::render(&host, &rows, &named).map(|r| (host, r)))
            .collect())
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(sync_loop) = self.sync_loop.take() {
            sync_loop.abort();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await??;
        }
        self.state.db.clone().close().await?;
        self.db.clone().close().await?;
        if let Some(database) = self.database.take() {
            database.drop_now().await?;
        }
        self.redis.cleanup().await
    }
}

fn zone(host: &str, prefix: &str, upstream: &str) -> Value {
    json!({
        "hostname": host,
        "path_prefix": prefix,
        "backend": {"kind": "upstreams", "upstreams": [{"url": upstream, "weight": 1}]},
    })
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn reconcile_restores_deleted_fixes_changed_and_removes_stale_keys() -> anyhow::Result<()> {
    let mut panel = Panel::start(None, false).await?;
    for (host, prefix, port) in [
        ("a.example.com", "", 9001),
        ("a.example.com", "/api", 9002),
        ("b.example.com", "", 9003),
        ("c.example.com", "", 9004),
        ("*.example.com", "", 9005),
    ] {
        let (status, body) = panel
            .send(
                "POST",
                "/zones",
                Some(zone(host, prefix, &format!("http://127.0.0.1:{port}"))),
            )
            .await?;
        assert_eq!(status, 201, "{body}");
    }
    let good = panel.redis_records().await?;
    assert_eq!(good, panel.expected_records().await?);
    assert_eq!(good.len(), 4);

    // In sync: a run finds nothing, writes nothing, bumps nothing.
    let version = panel.redis.store().meta().await?.0;
    let clean = reconcile::reconcile(&panel.state)
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(
        (clean.zones, clean.records, clean.drift(), clean.batches),
        (5, 4, 0, 0),
        "{clean:?}"
    );
    assert_eq!(clean.version, version);

    // An operator's redis-cli session goes wrong in every way at once.
    let client = panel.redis.client().clone();
    let keys = panel.redis.keys().clone();
    // DEL of a record (its index entry stays behind).
    let _: i64 = client.del(keys.zone("a.example.com")).await?;
    // A record overwritten with another upstream.
    let mut wrong = good["b.example.com"].clone();
    wrong.routes[0].upstreams[0].url = switchyard_shared::BackendUrl::parse("http://10.9.9.9:1")?;
    let _: () = client
        .set(
            keys.zone("b.example.com"),
            wrong.to_json(),
            None,
            None,
            false,
        )
        .await?;
    // A record that is not valid at all.
    let _: () = client
        .set(keys.zone("*.example.com"), "{not json", None, None, false)
        .await?;
    // A record Postgres never had, set by hand without the index...
    let mut ghost = good["c.example.com"].clone();
    ghost.host = switchyard_shared::HostPattern::parse("ghost.example.com")?;
    let _: () = client
        .set(
            keys.zone("ghost.example.com"),
            ghost.to_json(),
            None,
            None,
            false,
        )
        .await?;
    // ...and an index entry without a key.
    let _: i64 = client.sadd(keys.zone_index(), "gone.example.com").await?;
    // A queued write Redis already has (e.g. left by a crash after the Redis write).
    redis_outbox::ActiveModel {
        kind: Set("zone".into()),
        key: Set("c.example.com".into()),
        ..Default::default()
    }
    .insert(&panel.db)
    .await?;

    let report = reconcile::reconcile(&panel.state)
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(
        report,
        Report {
            zones: 5,
            records: 4,
            missing: 1,
            changed: 2,
            stale: 2,
            outbox_cleared: 1,
            batches: 1,
            version: version + 1,
            duration_ms: report.duration_ms,
        }
    );
    assert_eq!(panel.redis_records().await?, good);
    let mut all_keys = panel.redis.all_keys().await?;
    all_keys.retain(|k| k.contains(":zone:"));
    assert_eq!(
        all_keys,
        vec![
            keys.zone("*.example.com"),
            keys.zone("a.example.com"),
            keys.zone("b.example.com"),
            keys.zone("c.example.com"),
        ]
    );
    assert_eq!(redis_outbox::Entity::find().count(&panel.db).await?, 0);
    // Proxies learn of it from one feed entry naming exactly the fixed keys.
    let feed = panel.redis.store().feed_after("0", 1_000, None).await?;
    let last = feed.last().expect("a feed entry");
    assert_eq!(last.version, version + 1);
    let mut named = last.zones.clone();
    named.sort();
    assert_eq!(
        named,
        [
            "*.example.com",
            "a.example.com",
            "b.example.com",
            "ghost.example.com",
            "gone.example.com"
        ]
    );

    // The metrics report the drift of the last run and the total.
    let text = panel.metrics().await?;
    for (series, value) in [
        ("switchyard_panel_reconcile_drift{kind=\"missing\"}", 1.0),
        ("switchyard_panel_reconcile_drift{kind=\"changed\"}", 2.0),
        ("switchyard_panel_reconcile_drift{kind=\"stale\"}", 2.0),
        (
            "switchyard_panel_reconcile_drift_total{kind=\"stale\"}",
            2.0,
        ),
        ("switchyard_panel_reconcile_runs_total{result=\"ok\"}", 2.0),
        ("switchyard_panel_reconcile_records", 4.0),
        ("switchyard_panel_reconcile_duration_seconds_count", 2.0),
    ] {
        assert_eq!(metric(&text, series), Some(value), "{series} in\n{text}");
    }
    // Requests are counted by route template, never by raw path.
    assert_eq!(
        metric(
            &text,
            "switchyard_panel_http_requests_total{method=\"POST\",route=\"/api/v1/zones\",status=\"2xx\"}"
        ),
        Some(5.0),
        "{text}"
    );

    // Fixed for good: the next run is clean again and its gauges drop to 0.
    let again = reconcile::reconcile(&panel.state)
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!((again.drift(), again.batches), (0, 0), "{again:?}");
    let text = panel.metrics().await?;
    assert_eq!(
        metric(&text, "switchyard_panel_reconcile_drift{kind=\"stale\"}"),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &text,
            "switchyard_panel_reconcile_drift_total{kind=\"stale\"}"
        ),
        Some(2.0)
    );
    panel.stop().await
}

#[tokio::test]
async fn redis_outage_during_writes_converges_with_nothing_lost() -> anyhow::Result<()> {
    let test_redis = switchyard_tests::redis::redis_url();
    let target = test_redis
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let mut relay = Relay::start(&target).await?;
    let relay_url = format!("redis://{}", relay.addr());
    let mut panel = Panel::start(Some(&relay_url), true).await?;
    let mut ids = BTreeMap::new();
    for host in ["keep.example.com", "change.example.com", "drop.example.com"] {
        let (status, body) = panel
            .send(
                "POST",
                "/zones",
                Some(zone(host, "", "http://127.0.0.1:9001")),
            )
            .await?;
        assert_eq!(status, 201, "{body}");
        ids.insert(host, body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        panel.redis_records().await?,
        panel.expected_records().await?
    );
    let before_outage = panel.redis_records().await?;

    relay.cut().await;
    eventually(
        Duration::from_secs(10),
        "the probe sees Redis down",
        || async {
            match metric(
                &panel.metrics().await.map_err(|e| e.to_string())?,
                "switchyard_panel_redis_up",
            ) {
                Some(0.0) => Ok(()),
                other => Err(format!("redis_up {other:?}")),
            }
        },
    )
    .await?;

    // A reconciliation while Redis is away fails fast (it would hold up write-throughs)
    // and is counted.
    let started = std::time::Instant::now();
    let failed = reconcile::reconcile(&panel.state).await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let text = panel.metrics().await?;
    assert_eq!(
        metric(
            &text,
            "switchyard_panel_reconcile_runs_total{result=\"error\"}"
        ),
        Some(1.0),
        "{text}"
    );

    // Writes while Redis is away all succeed (each waits out the write-through's bound
    // once; they run side by side so the test stays short).
    let mut writes = JoinSet::new();
    let mut expected_status = Vec::new();
    for i in 0..6 {
        let request = panel
            .http
            .post(format!("{}/zones", panel.base))
            .bearer_auth(&panel.key)
            .header("content-type", "application/json")
            .body((zone(&format!("new{i}.example.com"), "", "http://127.0.0.1:9010")).to_string());
        writes.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
        expected_status.push(201);
    }
    let request = panel
        .http
        .put(format!(
            "{}/zones/{}",
            panel.base, ids["change.example.com"]
        ))
        .bearer_auth(&panel.key)
        .header("content-type", "application/json")
        .body((zone("change.example.com", "", "http://127.0.0.1:9099")).to_string());
    writes.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
    expected_status.push(200);
    let request = panel
        .http
        .delete(format!("{}/zones/{}", panel.base, ids["drop.example.com"]))
        .bearer_auth(&panel.key);
    writes.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
    expected_status.push(204);
    let mut statuses = Vec::new();
    while let Some(status) = writes.join_next().await {
        statuses.push(status??);
    }
    statuses.sort();
    expected_status.sort();
    assert_eq!(statuses, expected_status);

    // Committed, queued, and not in Redis (read around the relay).
    assert_eq!(zones::Entity::find().count(&panel.db).await?, 8);
    assert!(redis_outbox::Entity::find().count(&panel.db).await? >= 8);
    assert_eq!(panel.redis_records().await?, before_outage);
    let text = panel.metrics().await?;
    assert!(
        metric(&text, "switchyard_panel_redis_write_through_failures_total")
            .is_some_and(|v| v >= 8.0),
        "{text}"
    );

    // Redis returns: the sync loop notices and converges, with every committed change.
    relay.restore().await?;
    let expected = panel.expected_records().await?;
    assert_eq!(expected.len(), 8);
    assert!(!expected.contains_key("drop.example.com"));
    eventually(Duration::from_secs(30), "Redis converges", || async {
        let have = panel.redis_records().await.map_err(|e| e.to_string())?;
        let queued = redis_outbox::Entity::find()
            .count(&panel.db)
            .await
            .map_err(|e| e.to_string())?;
        if have == expected && queued == 0 {
            Ok(())
        } else {
            Err(format!(
                "{} of {} records, {queued} queued",
                have.len(),
                expected.len()
            ))
        }
    })
    .await?;
    let changed = &panel.redis_records().await?["change.example.com"];
    assert!(
        changed.routes[0].upstreams[0]
            .url
            .as_str()
            .contains(":9099"),
        "{changed:?}"
    );
    eventually(
        Duration::from_secs(10),
        "the metrics say Redis is back",
        || async {
            let text = panel.metrics().await.map_err(|e| e.to_string())?;
            match (
                metric(&text, "switchyard_panel_redis_up"),
                metric(&text, "switchyard_panel_redis_outbox_depth"),
            ) {
                (Some(up), Some(depth)) if up == 1.0 && depth == 0.0 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await?;
    panel.stop().await
}

#[tokio::test]
async fn reconciling_while_zones_change_never_leaves_an_older_record() -> anyhow::Result<()> {
    let mut panel = Panel::start(None, false).await?;
    let hosts = ["w0.example.com", "w1.example.com", "w2.example.com"];
    let mut ids = Vec::new();
    for host in hosts {
        let (status, body) = panel
            .send(
                "POST",
                "/zones",
                Some(zone(host, "", "http://127.0.0.1:9000")),
            )
            .await?;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    // Filler zones make each reconciliation long enough (reading and comparing them all)
    // that writes land between its read of PostgreSQL and its write to Redis.
    panel
        .db
        .execute_unprepared(
            "INSERT INTO zones (id, domain_id, hostname, path_prefix, backend_kind, upstreams)
             SELECT gen_random_uuid(), (SELECT domain_id FROM zones LIMIT 1),
                    'f' || g || '.example.com', '', 'upstreams',
                    '[{\"url\": \"http://127.0.0.1:9000\", \"weight\": 1}]'
             FROM generate_series(1, 5000) g",
        )
        .await?;
    reconcile::reconcile(&panel.state)
        .await
        .map_err(anyhow::Error::msg)?;

    // Writers keep changing three zones' upstreams while reconciliations run back to
    // back. One that wrote its older view over a newer write-through would leave Redis
    // behind PostgreSQL at the end: nothing else writes after the last write-through.
    let mut writers = JoinSet::new();
    for (host, id) in hosts.iter().zip(&ids) {
        let (http, base, key) = (panel.http.clone(), panel.base.clone(), panel.key.clone());
        let (host, id) = (host.to_string(), id.clone());
        writers.spawn(async move {
            for port in 9001..9031 {
                let status = http
                    .put(format!("{base}/zones/{id}"))
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(zone(&host, "", &format!("http://127.0.0.1:{port}")).to_string())
                    .send()
                    .await?
                    .status();
                anyhow::ensure!(status == 200, "update {host} to {port}: {status}");
            }
            Ok(())
        });
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reconciler = tokio::spawn({
        let (state, stop) = (panel.state.clone(), stop.clone());
        async move {
            let mut runs = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                reconcile::reconcile(&state).await?;
                runs += 1;
            }
            Ok::<u32, String>(runs)
        }
    });
    while let Some(done) = writers.join_next().await {
        done??;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // The run in flight finishes (it is not cancelled) before Redis is compared.
    let runs = reconciler.await?.map_err(anyhow::Error::msg)?;
    assert!(runs > 0);
    let have = panel.redis_records().await?;
    for host in hosts {
        let url = have[host].routes[0].upstreams[0].url.as_str().to_owned();
        assert!(
            url.contains(":9030"),
            "{host}: {url} after {runs} reconciliations"
        );
    }
    assert_eq!(have, panel.expected_records().await?);
    assert_eq!(redis_outbox::Entity::find().count(&panel.db).await?, 0);
    panel.stop().await
}
