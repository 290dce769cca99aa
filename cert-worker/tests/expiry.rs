//! Expiry you can see coming: the webhook hears of a failing renewal (delivered after
//! the receiver's first 500) and of certificates 14/7/3 days before they expire, once
//! per threshold and certificate version, issued and uploaded alike, even across
//! worker instances; the metrics show each certificate's days left, source and renewal
//! state. A local receiver (axum on 127.0.0.1:0) records what it is sent.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use clap::Parser as _;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use support::providers::Mode;
use switchyard_cert_worker::{Args, Config, Outcome};
use switchyard_tests::acme::AcmeEnv;
use switchyard_tests::eventually::eventually;
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::redis::TestRedis;
use uuid::Uuid;

/// A webhook receiver that answers each request with the next status of its script
/// (200 once the script is used up) and records the bodies it accepted.
#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<Vec<u16>>>,
    requests: Arc<Mutex<usize>>,
    accepted: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    /// Starts it; `script`: the statuses of the first answers, in order.
    async fn start(script: &[u16]) -> (Receiver, SocketAddr) {
        let receiver = Receiver {
            script: Arc::new(Mutex::new(script.iter().rev().copied().collect())),
            ..Receiver::default()
        };
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    |State(r): State<Receiver>, Json(body): Json<Value>| async move {
                        *r.requests.lock().unwrap() += 1;
                        let status = r.script.lock().unwrap().pop().unwrap_or(200);
                        if status == 200 {
                            r.accepted.lock().unwrap().push(body);
                        }
                        StatusCode::from_u16(status).unwrap()
                    },
                ),
            )
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, addr)
    }

    fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }

    fn accepted(&self) -> Vec<Value> {
        self.accepted.lock().unwrap().clone()
    }

    /// Waits until `n` notices were accepted; returns them.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        eventually(
            Duration::from_secs(20),
            &format!("the receiver accepts {n} notices"),
            || {
                let accepted = self.accepted();
                async move {
                    if accepted.len() >= n {
                        Ok(accepted)
                    } else {
                        Err(format!("{} so far: {accepted:?}", accepted.len()))
                    }
                }
            },
        )
        .await
        .unwrap()
    }
}

fn hook_url(addr: SocketAddr) -> String {
    format!("http://{addr}/hook?token=s3cret-token")
}

/// The value of one series in a Prometheus text exposition.
fn series(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

fn stmt(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// The webhook fired on a failing renewal: the receiver answers 500 first, the notice
/// arrives once after a retry, with the provider's error; the metrics say the renewal
/// fails and why (by kind).
#[tokio::test]
async fn the_webhook_fired_on_a_failing_renewal() -> anyhow::Result<()> {
    let env = AcmeEnv::start().await?;
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let (receiver, addr) = Receiver::start(&[500]).await;
    // An issued certificate with 20 days left whose renewal is due now; its DNS
    // provider refuses the credential.
    let (fake, id) = support::pending_order(
        &env,
        &conn,
        "failing.example",
        Mode::Unauthorized,
        "renewing",
    )
    .await?;
    conn.execute_raw(stmt(
        "UPDATE certificates SET not_before = now() - interval '70 days',
                not_after = now() + interval '20 days' WHERE id = $1",
        vec![id.into()],
    ))
    .await?;
    let config = support::config(
        &env,
        database.url(),
        redis.url(),
        redis.prefix(),
        env.dns.dns_addr(),
        &["--notify-webhook-url", &hook_url(addr)],
    );
    let worker = support::worker(config).await;
    let outcomes = worker.run_once(support::no_shutdown()).await?;
    assert!(
        matches!(&outcomes[..], [(i, Outcome::Failed(_))] if *i == id),
        "{outcomes:?}"
    );

    let notices = receiver.wait_for(1).await;
    assert_eq!(
        receiver.requests(),
        2,
        "one 500, then the retry that was taken"
    );
    let notice = &notices[0];
    assert_eq!(notice["event"], "renewal_failed", "{notice}");
    assert_eq!(notice["certificate"]["id"], json!(id), "{notice}");
    assert_eq!(notice["certificate"]["name"], "*.failing.example");
    assert_eq!(
        notice["certificate"]["names"],
        json!(["*.failing.example", "failing.example"])
    );
    assert_eq!(notice["certificate"]["source"], "issued");
    assert!(notice["certificate"]["not_after"].is_string(), "{notice}");
    let days = notice["certificate"]["days_left"].as_f64().unwrap();
    assert!((19.9..20.0).contains(&days), "{days}");
    let error = notice["error"].as_str().unwrap();
    assert!(error.contains("HTTP 401"), "{error}");
    assert!(notice["at"].is_string());
    let text = eventually(
        Duration::from_secs(10),
        "the delivery is counted",
        || {
            let text = worker.metrics().render();
            async move {
                match series(
                    &text,
                    r#"switchyard_cert_notifications_total{event="renewal_failed",outcome="delivered"}"#,
                ) {
                    Some(1.0) => Ok(text),
                    other => Err(format!("{other:?}")),
                }
            }
        },
    )
    .await
    .unwrap();
    assert!(!text.contains("s3cret-token"));

    // The expiry check: the metrics show it failing, with its error's kind; no
    // `expiring` notice, 20 days being above every threshold.
    assert_eq!(worker.check_expiry().await?, 0);
    let text = worker.metrics().render();
    assert_eq!(
        series(
            &text,
            r#"switchyard_cert_renewal_failing{name="*.failing.example"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        series(
            &text,
            r#"switchyard_cert_renewal_error_info{kind="dns_provider",name="*.failing.example"}"#
        ),
        Some(1.0),
        "{text}"
    );
    let days = series(
        &text,
        r#"switchyard_cert_days_left{name="*.failing.example",source="issued"}"#,
    )
    .unwrap();
    assert!((19.9..20.0).contains(&days), "{days}");
    drop(fake);
    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}

/// A worker configuration without a CA in reach: the expiry check needs PostgreSQL and
/// the webhook only.
fn expiry_config(database: &TestDatabase, redis: &TestRedis, hook: SocketAddr) -> Config {
    Args::try_parse_from([
        "cert-worker",
        "--database-url",
        database.url(),
        "--redis-url",
        redis.url(),
        "--key-prefix",
        redis.prefix(),
        "--secret-key",
        support::SECRET_KEY,
        "--acme-directory",
        "letsencrypt-staging",
        "--admin-listen",
        "127.0.0.1:0",
        "--notify-webhook-url",
        &hook_url(hook),
    ])
    .unwrap()
    .validate()
    .unwrap()
}

/// An uploaded certificate, as the panel stores it (the key is not read here).
async fn insert_upload(
    conn: &DatabaseConnection,
    domain_id: Uuid,
    name: &str,
    days_left: i64,
) -> anyhow::Result<Uuid> {
    let row = conn
        .query_one_raw(stmt(
            "INSERT INTO uploaded_certificates
                (id, domain_id, name, names, chain_pem, key_ciphertext, not_before, not_after,
                 fingerprint_sha256, issuer, key_type)
             VALUES (gen_random_uuid(), $1, $2, $3, 'chain', '\\x00', now() - interval '300 days',
                     now() + make_interval(days => $4), 'ab', 'CN=Corp CA', 'ecdsa-p256')
             RETURNING id",
            vec![
                domain_id.into(),
                name.into(),
                json!([name]).into(),
                (days_left as i32).into(),
            ],
        ))
        .await?
        .unwrap();
    Ok(row.try_get("", "id")?)
}

/// An issued certificate 10 days from expiry gets one `expiring` notice (threshold 14),
/// an uploaded one 2 days from it one (threshold 3); neither is sent again on the next
/// check, nor by another instance; the metrics show both with their source, and drop
/// a certificate once it is deleted.
#[tokio::test]
async fn expiring_notices_go_once_per_threshold_for_issued_and_uploaded() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let (receiver, addr) = Receiver::start(&[]).await;
    let issued = support::insert_certificate(&conn, "soon.example", None, "active").await?;
    conn.execute_raw(stmt(
        "UPDATE certificates SET not_before = now() - interval '80 days',
                not_after = now() + interval '10 days', chain_pem = 'chain',
                next_attempt_at = now() + interval '1 day' WHERE id = $1",
        vec![issued.into()],
    ))
    .await?;
    // Far from expiry: no notice.
    let calm = support::insert_certificate(&conn, "calm.example", None, "active").await?;
    conn.execute_raw(stmt(
        "UPDATE certificates SET not_before = now(), not_after = now() + interval '90 days'
         WHERE id = $1",
        vec![calm.into()],
    ))
    .await?;
    let domain = support::domain_of(&conn, issued).await?;
    let uploaded = insert_upload(&conn, domain, "app.soon.example", 2).await?;

    let worker = support::worker(expiry_config(&database, &redis, addr)).await;
    assert_eq!(worker.check_expiry().await?, 2);
    let mut notices = receiver.wait_for(2).await;
    notices.sort_by_key(|n| n["certificate"]["source"].as_str().unwrap().to_owned());
    let (i, u) = (&notices[0], &notices[1]);
    assert_eq!(i["event"], "expiring", "{i}");
    assert_eq!(i["threshold_days"], 14, "{i}");
    assert_eq!(i["certificate"]["id"], json!(issued));
    assert_eq!(i["certificate"]["source"], "issued");
    assert_eq!(i["certificate"]["name"], "*.soon.example");
    let days = i["certificate"]["days_left"].as_f64().unwrap();
    assert!((9.9..10.0).contains(&days), "{days}");
    assert!(i.get("error").is_none(), "{i}");
    assert_eq!(u["event"], "expiring", "{u}");
    assert_eq!(u["threshold_days"], 3, "{u}");
    assert_eq!(u["certificate"]["id"], json!(uploaded));
    assert_eq!(u["certificate"]["source"], "uploaded");
    assert_eq!(u["certificate"]["names"], json!(["app.soon.example"]));

    // The next check, and a second instance (or this one restarted), send nothing.
    assert_eq!(worker.check_expiry().await?, 0);
    let other = support::worker(expiry_config(&database, &redis, addr)).await;
    assert_eq!(other.check_expiry().await?, 0);
    let rows = conn
        .query_one_raw(stmt(
            "SELECT count(*) AS n FROM certificate_notices",
            vec![],
        ))
        .await?
        .unwrap();
    assert_eq!(rows.try_get::<i64>("", "n")?, 2);

    let text = worker.metrics().render();
    for (series_name, range) in [
        (
            r#"switchyard_cert_days_left{name="*.soon.example",source="issued"}"#,
            9.9..10.0,
        ),
        (
            r#"switchyard_cert_days_left{name="app.soon.example",source="uploaded"}"#,
            1.9..2.0,
        ),
        (
            r#"switchyard_cert_days_left{name="*.calm.example",source="issued"}"#,
            89.9..90.0,
        ),
    ] {
        let value =
            series(&text, series_name).unwrap_or_else(|| panic!("{series_name} in\n{text}"));
        assert!(range.contains(&value), "{series_name} = {value}");
    }
    assert_eq!(
        series(
            &text,
            r#"switchyard_cert_renewal_failing{name="*.soon.example"}"#
        ),
        Some(0.0)
    );
    assert!(!text.contains("renewal_failing{name=\"app.soon.example\"}"));

    // A renewed version of the issued certificate crosses the thresholds anew; the
    // deleted upload leaves the metrics.
    conn.execute_raw(stmt(
        "UPDATE certificates SET not_after = now() + interval '6 days' WHERE id = $1",
        vec![issued.into()],
    ))
    .await?;
    conn.execute_raw(stmt(
        "DELETE FROM uploaded_certificates WHERE id = $1",
        vec![uploaded.into()],
    ))
    .await?;
    assert_eq!(worker.check_expiry().await?, 1);
    let notices = receiver.wait_for(3).await;
    assert_eq!(notices[2]["threshold_days"], 7, "{}", notices[2]);
    assert_eq!(notices[2]["certificate"]["id"], json!(issued));
    let text = worker.metrics().render();
    assert!(!text.contains("app.soon.example"), "{text}");
    assert_eq!(receiver.requests(), 3);

    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}
