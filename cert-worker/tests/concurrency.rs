//! Several instances, and stopping: racing workers order each certificate once; a
//! shutdown in the middle of an order deletes its TXT records and leaves it due; the
//! heartbeat is in Redis while the worker runs.

mod support;

use std::time::Duration;

use fred::prelude::KeysInterface as _;
use support::providers::{FakeProvider, Kind, Mode};
use switchyard_cert_worker::Outcome;
use switchyard_tests::acme::AcmeEnv;
use switchyard_tests::eventually::eventually;
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::redis::TestRedis;

#[tokio::test]
async fn two_workers_racing_issue_each_certificate_once() -> anyhow::Result<()> {
    let env = AcmeEnv::start().await?;
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let fake = FakeProvider::start(
        Kind::Cloudflare,
        "race.example",
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
    // Subdomains of one zone, so a single fake provider hosts them all.
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            support::insert_certificate(
                &conn,
                &format!("d{i}.race.example"),
                Some(credential),
                "pending",
            )
            .await?,
        );
    }
    let config = || {
        support::config(
            &env,
            database.url(),
            redis.url(),
            redis.prefix(),
            env.dns.dns_addr(),
            &["--concurrency", "3"],
        )
    };
    let (a, b) = (
        support::worker(config()).await,
        support::worker(config()).await,
    );
    let (ra, rb) = tokio::join!(
        a.run_once(support::no_shutdown()),
        b.run_once(support::no_shutdown())
    );
    let (ra, rb) = (ra?, rb?);

    let issued =
        |r: &Vec<(uuid::Uuid, Outcome)>| r.iter().filter(|(_, o)| *o == Outcome::Issued).count();
    assert_eq!(issued(&ra) + issued(&rb), 6, "a: {ra:?}\nb: {rb:?}");
    for id in &ids {
        assert_eq!(support::status(&conn, *id).await?, "active");
        assert_eq!(
            support::orders_of(&conn, *id).await?,
            1,
            "certificate {id} was ordered more than once"
        );
    }
    // Both instances share the load's metrics between them, one order each in total.
    let count = |m: &switchyard_cert_worker::metrics::Metrics| {
        m.orders.with_label_values(&["issued"]).get()
    };
    assert_eq!(count(a.metrics()) + count(b.metrics()), 6);
    // Nothing is due any more.
    assert_eq!(a.run_once(support::no_shutdown()).await?, vec![]);
    assert_eq!(fake.records(), vec![]);

    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}

#[tokio::test]
async fn shutdown_mid_order_deletes_the_records_and_keeps_it_due() -> anyhow::Result<()> {
    let env = AcmeEnv::start().await?;
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let fake = FakeProvider::start(
        Kind::DigitalOcean,
        "stop.example",
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
    let id =
        support::insert_certificate(&conn, "stop.example", Some(credential), "pending").await?;
    let config = support::config(
        &env,
        database.url(),
        redis.url(),
        redis.prefix(),
        env.dns.dns_addr(),
        &["--propagation-timeout-secs", "300", "--heartbeat-secs", "1"],
    );
    let worker = support::worker(config).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(worker.clone().run(stopped));

    // Running: the heartbeat is there, and the order waits for its (invisible) records.
    let heartbeat_key = redis.keys().heartbeat("cert-worker");
    let client = redis.client().clone();
    let beat: String = eventually(Duration::from_secs(10), "the heartbeat is written", || {
        let (client, key) = (client.clone(), heartbeat_key.clone());
        async move {
            let v: Option<String> = client.get(&key).await.map_err(|e| e.to_string())?;
            v.ok_or_else(|| "no heartbeat".to_owned())
        }
    })
    .await?;
    time::OffsetDateTime::parse(&beat, &time::format_description::well_known::Rfc3339)?;
    eventually(
        Duration::from_secs(10),
        "both TXT records are created",
        || async {
            if fake.records().len() == 2 {
                Ok(())
            } else {
                Err(format!("{:?}", fake.records()))
            }
        },
    )
    .await?;

    stop.send(true)?;
    tokio::time::timeout(Duration::from_secs(10), run).await???;
    assert_eq!(fake.records(), vec![], "a TXT record was left behind");
    let row = support::cert_row(&conn, id).await?;
    assert_eq!(
        (row.status.as_str(), row.attempts, row.last_error),
        ("pending", 0, None)
    );
    assert!(
        row.next_attempt_at <= time::OffsetDateTime::now_utc(),
        "still due for the next start"
    );
    let exists: bool = redis.client().exists(&heartbeat_key).await?;
    assert!(!exists, "a clean stop removes the heartbeat");
    assert_eq!(
        worker
            .metrics()
            .orders
            .with_label_values(&["interrupted"])
            .get(),
        1
    );

    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}
