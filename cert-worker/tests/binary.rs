//! The `cert-worker` binary: `--help` documents the settings, a bad configuration is
//! reported whole (exit code 2, no secrets printed), and a real run issues a pending
//! certificate, exposes metrics and health, beats its heartbeat and stops on SIGTERM.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use fred::prelude::KeysInterface as _;
use support::providers::{FakeProvider, Kind, Mode};
use switchyard_tests::acme::{AcmeEnv, free_port};
use switchyard_tests::client::http_get;
use switchyard_tests::eventually::eventually;
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::redis::TestRedis;

#[test]
fn help_lists_the_settings() {
    let out = Command::new(env!("CARGO_BIN_EXE_cert-worker"))
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
    let out = Command::new(env!("CARGO_BIN_EXE_cert-worker"))
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

/// Kills the child if the test ends early.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_service_issues_reports_and_stops_cleanly() -> anyhow::Result<()> {
    let env = AcmeEnv::start().await?;
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let domain = "service.example";
    let fake = FakeProvider::start(
        Kind::Cloudflare,
        domain,
        Mode::Normal,
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

    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_cert-worker"))
            .env("DATABASE_URL", database.url())
            .env("SWITCHYARD_REDIS_URL", redis.url())
            .env("SWITCHYARD_KEY_PREFIX", redis.prefix())
            .env("SWITCHYARD_SECRET_KEY", support::SECRET_KEY)
            .env("SWITCHYARD_ACME_DIRECTORY", env.pebble.directory_url())
            .env("SWITCHYARD_ACME_CA_FILE", env.pebble.listener_ca_file())
            .env("SWITCHYARD_DNS_RESOLVERS", env.dns.dns_addr().to_string())
            .env("SWITCHYARD_PROPAGATION_POLL_MS", "100")
            .env("SWITCHYARD_POLL_SECS", "1")
            .env("SWITCHYARD_HEARTBEAT_SECS", "1")
            .env("SWITCHYARD_CERT_WORKER_ADMIN_LISTEN", admin.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?,
    );

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

    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()?;
    let status = eventually(
        Duration::from_secs(10),
        "the worker exits after SIGTERM",
        || {
            let exited = child.0.try_wait().map_err(|e| e.to_string());
            async move { exited?.ok_or_else(|| "still running".to_owned()) }
        },
    )
    .await?;
    assert!(status.success(), "exit status {status}");
    let exists: bool = redis.client().exists(&heartbeat).await?;
    assert!(!exists, "heartbeat left after a clean stop");

    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}
