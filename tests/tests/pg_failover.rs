//! PostgreSQL failover (issue 18, item 4): the real `panel-api` and `cert-worker`
//! binaries on a private primary with a streaming standby (a stack with
//! `postgres_standby`), both given the libpq multi-host URL with
//! `target_session_attrs=read-write`. The primary is
//! stopped the hard way and the standby promoted: during the switch the panel is in
//! degraded mode (reads from Redis, writes 503 in the API's error shape); after it the
//! panel leaves degraded mode by itself, writes work, and every write acknowledged before
//! the stop is there. The cert worker keeps running and its passes succeed again.

use std::time::Duration;

use reqwest::Method;
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DbBackend, Statement};
use serde_json::{Value, json};
use switchyard_tests::eventually::eventually;
use switchyard_tests::stack::{PAIR_DATABASE, Panel, Stack};

/// Generous for a loaded 2-core machine; the panel probes every second and retries the
/// host list at most every 4 s (`switchyard_db::RETRY_MAX`).
const SWITCH_DEADLINE: Duration = Duration::from_secs(45);
const ZONES: usize = 5;

fn zone(host: &str) -> Value {
    json!({
        "hostname": host,
        "backend": {"kind": "upstreams", "upstreams": [{"url": "http://127.0.0.1:9001"}]},
    })
}

async fn get_zones(panel: &Panel, key: &str) -> Result<Value, String> {
    let r = panel
        .http
        .get(format!("{}/zones?limit=100", panel.base))
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let text = r.text().await.map_err(|e| e.to_string())?;
    let json: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    if status == 200 {
        Ok(json)
    } else {
        Err(format!("{status} {json}"))
    }
}

fn hostnames(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|z| z["hostname"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The worker's `switchyard_cert_last_success_timestamp_seconds`.
async fn last_success(http: &reqwest::Client, admin: std::net::SocketAddr) -> Result<i64, String> {
    let text = http
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    text.lines()
        .find_map(|l| l.strip_prefix("switchyard_cert_last_success_timestamp_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no last-success metric".to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_stopped_and_standby_promoted_degrades_then_recovers_losing_nothing()
-> anyhow::Result<()> {
    let mut stack = Stack::builder().postgres_standby().build().await?;
    let admin = stack.admin_key().await?;
    let panel = &stack.panel;

    // Writes through the panel, each acknowledged (201).
    panel
        .expect(
            Method::POST,
            "/domains",
            &admin,
            Some(json!({"name": "failover.test"})),
            201,
        )
        .await?;
    let mut acknowledged = Vec::new();
    for i in 0..ZONES {
        let host = format!("app{i}.failover.test");
        panel
            .expect(Method::POST, "/zones", &admin, Some(zone(&host)), 201)
            .await?;
        acknowledged.push(host);
    }
    // The domain's certificate order is put off a day: the worker's passes then only
    // read the queue, and what this test watches is whether they succeed.
    let primary_url = stack
        .postgres
        .as_ref()
        .expect("a pair")
        .primary_url(PAIR_DATABASE);
    let primary = Database::connect({
        let mut o = ConnectOptions::new(primary_url);
        o.max_connections(1).sqlx_logging(false);
        o
    })
    .await?;
    primary
        .execute_unprepared("UPDATE certificates SET next_attempt_at = now() + interval '1 day'")
        .await?;
    primary.close().await?;

    // No certificate is due (above), so the worker never calls a CA.
    let worker_admin = stack.start_cert_worker(|o| o).await?.admin;
    let (panel, pair) = (&stack.panel, stack.postgres.as_mut().expect("a pair"));
    let worker = &mut stack.cert_worker.as_mut().expect("just started").service;
    let http = reqwest::Client::builder().no_proxy().build()?;
    eventually(Duration::from_secs(60), "a first worker pass", || async {
        match last_success(&http, worker_admin).await? {
            0 => Err("no pass yet".to_owned()),
            _ => Ok(()),
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e:#}\n{}", worker.log_tail(20)))?;

    // Replication is asynchronous: "acknowledged" here means committed on the primary
    // AND replayed by the standby (its pg_last_wal_replay_lsn() ≥ the primary's
    // pg_current_wal_lsn()), which this waits for before pulling the plug.
    pair.wait_standby_replayed(Duration::from_secs(30)).await?;
    pair.stop_primary().await?;

    // During the switch: degraded mode, by itself.
    let degraded = eventually(SWITCH_DEADLINE, "the panel reads from Redis", || async {
        let list = get_zones(panel, &admin).await?;
        match list["degraded"].as_bool() {
            Some(true) => Ok(list),
            _ => Err(format!("not degraded yet: {list}")),
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e:#}\n{}", panel.log_tail(20)))?;
    assert_eq!(hostnames(&degraded), acknowledged, "{degraded}");
    let refused = panel
        .call(
            Method::POST,
            "/zones",
            switchyard_tests::stack::Auth::Bearer(&admin),
            Some(zone("during.failover.test")),
        )
        .await?;
    assert_eq!(refused.status, 503, "{}", refused.json);
    assert_eq!(
        refused.json["error"]["code"], "unavailable",
        "{}",
        refused.json
    );
    assert!(
        refused.json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("database")),
        "{}",
        refused.json
    );
    let health = panel
        .call(
            Method::GET,
            "/health",
            switchyard_tests::stack::Auth::None,
            None,
        )
        .await?;
    assert_eq!(health.json["postgres"], "down", "{}", health.json);
    // The worker notices too, and keeps running.
    eventually(SWITCH_DEADLINE, "the worker sees PostgreSQL gone", || {
        let text = worker.log_text();
        async move {
            text.contains("PostgreSQL is unreachable or read-only")
                .then_some(())
                .ok_or_else(|| "not yet".to_owned())
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e:#}\n{}", worker.log_tail(20)))?;

    pair.promote_standby().await?;
    // At least a second after the stop (the probes above give up after 1 s), so a pass
    // counted from this second on ran after the stop: on the new primary.
    let promoted_at = time::OffsetDateTime::now_utc().unix_timestamp();

    // After it: the panel leaves degraded mode by itself, on the new primary.
    eventually(
        SWITCH_DEADLINE,
        "the panel reads from PostgreSQL again",
        || async {
            let list = get_zones(panel, &admin).await?;
            match list.get("degraded") {
                None => Ok(()),
                Some(_) => Err(format!("still degraded: {list}")),
            }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e:#}\n{}\n{}", panel.log_tail(20), pair.log_tails()))?;
    assert!(
        panel
            .log_text()
            .contains("PostgreSQL: moved to another host"),
        "{}",
        panel.log_tail(20)
    );
    panel
        .expect(
            Method::POST,
            "/zones",
            &admin,
            Some(zone("after.failover.test")),
            201,
        )
        .await?;
    // Nothing acknowledged before the stop is lost: every zone, from PostgreSQL.
    let list = get_zones(panel, &admin).await.map_err(anyhow::Error::msg)?;
    let mut expected = acknowledged.clone();
    expected.push("after.failover.test".to_owned());
    expected.sort();
    assert_eq!(hostnames(&list), expected, "{list}");
    let promoted = Database::connect({
        let mut o = ConnectOptions::new(pair.standby_url(PAIR_DATABASE));
        o.max_connections(1).sqlx_logging(false);
        o
    })
    .await?;
    let row = promoted
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM zones",
        ))
        .await?
        .expect("a row");
    assert_eq!(row.try_get::<i64>("", "n")?, ZONES as i64 + 1);
    promoted.close().await?;
    let health = panel
        .call(
            Method::GET,
            "/health",
            switchyard_tests::stack::Auth::None,
            None,
        )
        .await?;
    assert_eq!(health.json["postgres"], "up", "{}", health.json);
    assert_eq!(health.json["postgres_down_since"], Value::Null);

    // The worker moved too, without a restart: a pass after the promotion succeeded.
    eventually(
        SWITCH_DEADLINE,
        "a worker pass on the new primary",
        || async {
            let last = last_success(&http, worker_admin).await?;
            if last >= promoted_at {
                Ok(())
            } else {
                Err(format!("last success at {last}, promoted at {promoted_at}"))
            }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e:#}\n{}", worker.log_tail(20)))?;
    assert!(worker.running(), "{}", worker.log_tail(20));
    let ready = http
        .get(format!("http://{worker_admin}/readyz"))
        .send()
        .await?
        .status();
    assert_eq!(ready.as_u16(), 200, "{}", worker.log_tail(20));
    assert!(
        worker
            .log_text()
            .contains("PostgreSQL: moved to another host"),
        "{}",
        worker.log_tail(20)
    );

    worker.stop().await?;
    stack.panel.stop().await?;
    stack.finish().await
}
