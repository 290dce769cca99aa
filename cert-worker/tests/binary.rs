//! The `cert-worker` binary: `--help` documents the settings, a bad configuration is
//! reported whole (exit code 2, no secrets printed), a real run issues a pending
//! certificate, exposes metrics and health, beats its heartbeat and stops on SIGTERM, and
//! a worker SIGKILLed mid-order leaves nothing behind once it is started again.

mod support;

use std::process::Command;
use std::time::Duration;

use fred::prelude::KeysInterface as _;
use support::providers::{FakeProvider, Kind, Mode};
use switchyard_shared::model::HostRecord;
use switchyard_shared::store::ChangeSet;
use switchyard_tests::acme::AcmeEnv;
use switchyard_tests::bins::workspace_bin;
use switchyard_tests::cert_worker::{BINARY, CertWorkerOptions};
use switchyard_tests::client::http_get;
use switchyard_tests::eventually::eventually;
use switchyard_tests::load::Load;
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::process::Service;
use switchyard_tests::proxy::ProxyOptions;
use switchyard_tests::redis::TestRedis;
use switchyard_tests::upstream::Upstream;

#[test]
fn help_lists_the_settings() {
    let out = Command::new(workspace_bin(BINARY))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--acme-directory",
        "--secret-key",
        "--dns-resolvers",
        "--renew-secs",
        "--max-orders-per-hour",
        "--admin-listen",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn every_config_problem_is_reported_at_once() {
    let secret = "c2VjcmV0LXRoYXQtaXMtdG9vLXNob3J0";
    let out = Command::new(workspace_bin(BINARY))
        .env_clear()
        .args(["--database-url", "postgres://u:hunter2@127.0.0.1/x"])
        .args(["--secret-key", secret])
        .args(["--acme-directory", "letsencrypt-prod"])
        .args(["--concurrency", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--secret-key: SWITCHYARD_SECRET_KEY decodes to 24 bytes"),
        "{err}"
    );
    assert!(
        err.contains("--acme-directory \"letsencrypt-prod\""),
        "{err}"
    );
    assert!(err.contains("--concurrency 0"), "{err}");
    assert!(
        !err.contains(secret) && !err.contains("hunter2"),
        "a secret was printed: {err}"
    );
}

#[tokio::test]
async fn the_service_issues_reports_and_stops_cleanly() -> anyhow::Result<()> {
    let env = AcmeEnv::start().await?;
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let domain = "service.example";
    let (_fake, id) = support::pending_cloudflare_order(&env, &conn, domain).await?;

    // Configured through the environment only, as the deploy files do.
    let mut worker = CertWorkerOptions::new(database.url(), redis.url(), redis.prefix())
        .acme(&env)
        .launch()
        .await?;
    let admin = worker.admin;

    let conn2 = conn.clone();
    eventually(
        Duration::from_secs(30),
        "the pending certificate becomes active",
        || {
            let conn = conn2.clone();
            async move {
                let status = support::status(&conn, id)
                    .await
                    .map_err(|e| e.to_string())?;
                if status == "active" {
                    Ok(())
                } else {
                    Err(status)
                }
            }
        },
    )
    .await?;
    let metrics = eventually(
        Duration::from_secs(10),
        "/metrics counts the order",
        || async move {
            let body = http_get(admin, "admin", "/metrics")
                .await
                .map_err(|e| e.to_string())?
                .body;
            if body.contains(r#"switchyard_cert_orders_total{outcome="issued"} 1"#) {
                Ok(body)
            } else {
                Err(body)
            }
        },
    )
    .await?;
    assert!(
        metrics.contains("switchyard_cert_last_success_timestamp_seconds"),
        "{metrics}"
    );
    assert_eq!(http_get(admin, "admin", "/readyz").await?.status, 200);
    assert_eq!(http_get(admin, "admin", "/livez").await?.status, 200);
    let heartbeat = redis.keys().heartbeat("cert-worker");
    let beat: Option<String> = redis.client().get(&heartbeat).await?;
    assert!(beat.is_some(), "no heartbeat while running");

    let status = worker.service.stop_status().await?;
    assert!(status.success(), "exit status {status}");
    let exists: bool = redis.client().exists(&heartbeat).await?;
    assert!(!exists, "heartbeat left after a clean stop");

    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}

/// The worker binary against the test's Pebble, challtestsrv, database and Redis
/// prefix, giving up on DNS after `propagation_timeout_secs`.
async fn start_worker(
    env: &AcmeEnv,
    database: &TestDatabase,
    redis: &TestRedis,
    propagation_timeout_secs: u64,
) -> anyhow::Result<(Service, std::net::SocketAddr)> {
    let worker = CertWorkerOptions::new(database.url(), redis.url(), redis.prefix())
        .acme(env)
        .propagation_timeout_secs(propagation_timeout_secs)
        .launch()
        .await?;
    Ok((worker.service, worker.admin))
}

/// The issue's requirement: a worker SIGKILLed while its order waits for DNS cannot
/// delete its TXT records; the next start must delete them, close the dead order and
/// issue the certificate. Meanwhile a proxy on the same Redis serves a zone under steady
/// load (multi-threaded, so the loop runs while the test waits), and no request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_order_leaves_no_record_after_restart() -> anyhow::Result<()> {
    let env = AcmeEnv::start().await?;
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let domain = "killed.example";
    // Accepted but never visible: the order waits (300 s) with both records created.
    let fake = FakeProvider::start(
        Kind::DigitalOcean,
        domain,
        Mode::Invisible,
        vec![env.dns.management_url()],
    )
    .await;
    let credential = support::insert_credential(
        &conn,
        fake.provider(),
        Some(fake.secret()),
        Some(fake.base_url()),
    )
    .await?;
    let id = support::insert_certificate(&conn, domain, Some(credential), "pending").await?;

    let (mut first, _) = start_worker(&env, &database, &redis, 300).await?;
    // Both records exist at the provider and the order row has both of their ids: the
    // order is waiting for DNS.
    let conn2 = conn.clone();
    let logged = eventually(
        Duration::from_secs(30),
        "both TXT records are created and logged in the order",
        || {
            let (conn, records) = (conn2.clone(), fake.records());
            async move {
                let orders = support::order_rows(&conn, id)
                    .await
                    .map_err(|e| e.to_string())?;
                let ids = orders
                    .first()
                    .and_then(|o| o.dns_records.as_ref())
                    .and_then(|r| r.as_array())
                    .map(|a| a.iter().filter(|r| r["id"].is_string()).count())
                    .unwrap_or(0);
                if records.len() == 2 && ids == 2 {
                    Ok(orders)
                } else {
                    Err(format!("provider: {records:?}; orders: {orders:?}"))
                }
            }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n--- worker log ---\n{}", first.log_tail(40)))?;
    assert_eq!(logged.len(), 1, "{logged:?}");

    // Traffic keeps flowing through a proxy on the same Redis the whole time: the cert
    // worker is not in the request path, so its crash must cost no request.
    let upstream = Upstream::echo("app").await;
    let proxy = ProxyOptions::new(redis.url(), redis.prefix())
        .id("proxy-during-kill")
        .local()
        .launch_ready()
        .await?;
    let host = format!("app.{domain}");
    let record = serde_json::json!({
        "host": host,
        "routes": [{"zone_id": "z-app", "upstreams": [{"url": upstream.url()}]}],
    });
    let record = HostRecord::from_json(&host, record.to_string().as_bytes())
        .map_err(|e| anyhow::anyhow!("test zone: {e}"))?;
    let mut batch = ChangeSet::new();
    batch.put_zone(&record);
    redis.store().apply(&batch).await?;
    eventually(
        Duration::from_secs(30),
        "the proxy routes the zone",
        || async {
            let seen = proxy.route(&host, "/").await?;
            (seen.0 == 200).then_some(()).ok_or(format!("{seen:?}"))
        },
    )
    .await?;
    let load = Load::start(proxy.http, vec![host.clone()]);

    first.kill().await?;
    let left = fake.records();
    assert_eq!(
        left.len(),
        2,
        "killed mid-order, the records stay: {left:?}"
    );
    let orders = support::order_rows(&conn, id).await?;
    assert_eq!(orders[0].outcome, "started", "{orders:?}");
    assert_eq!(support::status(&conn, id).await?, "pending");

    // The records of the next order reach DNS; the restarted worker must clean up first.
    fake.set_mode(Mode::Normal);
    let (mut second, admin) = start_worker(&env, &database, &redis, 30).await?;
    let conn2 = conn.clone();
    let outcome = eventually(
        Duration::from_secs(60),
        "the certificate is issued, the dead order closed and no TXT record left",
        || {
            let (conn, records) = (conn2.clone(), fake.records());
            async move {
                let status = support::status(&conn, id)
                    .await
                    .map_err(|e| e.to_string())?;
                let orders = support::order_rows(&conn, id)
                    .await
                    .map_err(|e| e.to_string())?;
                if status == "active"
                    && records.is_empty()
                    && orders.iter().all(|o| o.outcome != "started")
                {
                    Ok(orders)
                } else {
                    Err(format!(
                        "status {status}; provider: {records:?}; orders: {orders:?}"
                    ))
                }
            }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n--- worker log ---\n{}", second.log_tail(40)))?;
    assert_eq!(
        outcome.len(),
        2,
        "one dead order, one that issued: {outcome:?}"
    );
    assert_eq!(
        (outcome[0].outcome.as_str(), outcome[0].error.as_deref()),
        (
            "failed",
            Some(switchyard_cert_worker::worker::INTERRUPTED_BY_KILL)
        ),
        "the dead order is closed cleanly"
    );
    assert_eq!(
        (outcome[1].outcome.as_str(), outcome[1].error.as_deref()),
        ("issued", None)
    );
    // The old records went by the provider's API, by the ids the dead worker logged.
    let deletes: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("DELETE "))
        .collect();
    for record in logged[0]
        .dns_records
        .as_ref()
        .and_then(|r| r.as_array())
        .unwrap()
    {
        let path = format!(
            "DELETE /domains/{domain}/records/{}",
            record["id"].as_str().unwrap()
        );
        assert!(deletes.contains(&path), "{path} not in {deletes:?}");
    }
    let metrics = http_get(admin, "admin", "/metrics").await?.body;
    assert!(
        metrics.contains(r#"switchyard_cert_orders_total{outcome="interrupted"} 1"#),
        "{metrics}"
    );
    // Kill, restart and issuance: not one failed request for the existing zone.
    let (sent, failures) = load.finish().await;
    assert!(sent > 10, "the load loop ran ({sent} requests)");
    assert!(
        failures.is_empty(),
        "{} of {sent} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    second.stop().await?;
    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}
