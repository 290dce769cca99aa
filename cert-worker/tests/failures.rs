//! Failures end in `failed` (or `failed_renewal`, still serving the old certificate)
//! with the provider's or the CA's own words as `last_error`, a counted attempt, a
//! backed-off next attempt, and no TXT record left behind.

mod support;

use std::time::Duration;

use sea_orm::DatabaseConnection;
use support::providers::{FakeProvider, Kind, Mode};
use switchyard_cert_worker::{Outcome, db};
use switchyard_tests::acme::{AcmeEnv, ChallTestSrv};
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::redis::TestRedis;
use time::OffsetDateTime;
use uuid::Uuid;

struct Setup {
    env: AcmeEnv,
    database: TestDatabase,
    conn: DatabaseConnection,
    redis: TestRedis,
}

async fn setup() -> anyhow::Result<Setup> {
    let env = AcmeEnv::start().await?;
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    Ok(Setup {
        env,
        database,
        conn,
        redis,
    })
}

impl Setup {
    async fn certificate(&self, fake: &FakeProvider, domain: &str) -> anyhow::Result<Uuid> {
        let credential = support::insert_credential(
            &self.conn,
            fake.provider(),
            Some(fake.secret()),
            Some(fake.base_url()),
        )
        .await?;
        support::insert_certificate(&self.conn, domain, Some(credential), "pending").await
    }

    async fn finish(self) -> anyhow::Result<()> {
        self.conn.close().await?;
        self.redis.cleanup().await?;
        self.database.drop_now().await
    }
}

/// The failure was recorded once, with the first backoff step (60 s by default).
fn assert_failed_once(row: &support::CertRow, status: &str, before: OffsetDateTime) {
    assert_eq!(row.status, status);
    assert_eq!(row.attempts, 1);
    let wait = row.next_attempt_at - before;
    assert!(
        wait >= time::Duration::seconds(55) && wait <= time::Duration::seconds(120),
        "next attempt in {wait}"
    );
}

#[tokio::test]
async fn provider_answering_401_fails_with_its_error_body() -> anyhow::Result<()> {
    let s = setup().await?;
    let fake = FakeProvider::start(
        Kind::Cloudflare,
        "denied.example",
        Mode::Unauthorized,
        vec![s.env.dns.management_url()],
    )
    .await;
    let id = s.certificate(&fake, "denied.example").await?;
    let config = support::config(
        &s.env,
        s.database.url(),
        s.redis.url(),
        s.redis.prefix(),
        s.env.dns.dns_addr(),
        &[],
    );
    let worker = support::worker(config).await;
    let before = OffsetDateTime::now_utc();
    let outcomes = worker.run_once(support::no_shutdown()).await?;
    assert!(
        matches!(&outcomes[..], [(i, Outcome::Failed(_))] if *i == id),
        "{outcomes:?}"
    );

    let row = support::cert_row(&s.conn, id).await?;
    assert_failed_once(&row, "failed", before);
    let error = row.last_error.unwrap();
    assert!(error.contains("cloudflare"), "{error}");
    assert!(error.contains("HTTP 401"), "{error}");
    assert!(error.contains("Authentication error"), "{error}");
    assert!(
        !error.contains(support::providers::TOKEN),
        "the token leaked: {error}"
    );
    assert_eq!(fake.records(), vec![]);
    // Not due again before its backoff: a second pass leaves it alone.
    assert_eq!(worker.run_once(support::no_shutdown()).await?, vec![]);
    assert_eq!(support::orders_of(&s.conn, id).await?, 1);
    s.finish().await
}

#[tokio::test]
async fn record_that_never_becomes_visible_fails_and_is_removed() -> anyhow::Result<()> {
    let s = setup().await?;
    let fake = FakeProvider::start(
        Kind::DigitalOcean,
        "invisible.example",
        Mode::Invisible,
        vec![s.env.dns.management_url()],
    )
    .await;
    let id = s.certificate(&fake, "invisible.example").await?;
    let config = support::config(
        &s.env,
        s.database.url(),
        s.redis.url(),
        s.redis.prefix(),
        s.env.dns.dns_addr(),
        &["--propagation-timeout-secs", "1"],
    );
    let worker = support::worker(config).await;
    let before = OffsetDateTime::now_utc();
    worker.run_once(support::no_shutdown()).await?;

    let row = support::cert_row(&s.conn, id).await?;
    assert_failed_once(&row, "failed", before);
    let error = row.last_error.unwrap();
    assert!(
        error.contains("TXT _acme-challenge.invisible.example did not become visible within 1s"),
        "{error}"
    );
    // Both records were created and both deleted again.
    let calls = fake.calls();
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("POST")).count(),
        2,
        "{calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("DELETE")).count(),
        2,
        "{calls:?}"
    );
    assert_eq!(fake.records(), vec![]);
    s.finish().await
}

#[tokio::test]
async fn challenge_rejected_by_the_ca_fails_with_the_problem_document() -> anyhow::Result<()> {
    let s = setup().await?;
    // The worker checks a DNS server the CA does not use: the records are visible to the
    // worker, but Pebble finds none and rejects the challenge.
    let elsewhere = ChallTestSrv::start().await?;
    let fake = FakeProvider::start(
        Kind::Porkbun,
        "rejected.example",
        Mode::Normal,
        vec![elsewhere.management_url()],
    )
    .await;
    let id = s.certificate(&fake, "rejected.example").await?;
    let config = support::config(
        &s.env,
        s.database.url(),
        s.redis.url(),
        s.redis.prefix(),
        elsewhere.dns_addr(),
        &[],
    );
    let worker = support::worker(config).await;
    let before = OffsetDateTime::now_utc();
    worker.run_once(support::no_shutdown()).await?;

    let row = support::cert_row(&s.conn, id).await?;
    assert_failed_once(&row, "failed", before);
    let error = row.last_error.unwrap();
    assert!(
        error.starts_with("ACME CA (validating the challenge)"),
        "{error}"
    );
    assert!(error.contains("urn:ietf:params:acme:error:"), "{error}");
    assert!(error.contains("rejected.example"), "{error}");
    assert_eq!(fake.records(), vec![]);
    s.finish().await
}

#[tokio::test]
async fn failed_renewal_keeps_serving_and_reissue_resets_the_schedule() -> anyhow::Result<()> {
    let s = setup().await?;
    let domain = "renew.example";
    let fake = FakeProvider::start(
        Kind::Cloudflare,
        domain,
        Mode::Normal,
        vec![s.env.dns.management_url()],
    )
    .await;
    let id = s.certificate(&fake, domain).await?;
    let config = support::config(
        &s.env,
        s.database.url(),
        s.redis.url(),
        s.redis.prefix(),
        s.env.dns.dns_addr(),
        &[],
    );
    let worker = support::worker(config).await;
    assert_eq!(
        worker.run_once(support::no_shutdown()).await?,
        vec![(id, Outcome::Issued)]
    );
    let first_chain = support::cert_row(&s.conn, id).await?.chain_pem.unwrap();
    let in_redis = |store: switchyard_shared::Store| async move {
        let mut certs = store.certs(&[format!("*.{domain}")]).await.unwrap();
        certs.remove(0).1.unwrap().unwrap().chain_pem
    };

    // The token is revoked, then the operator asks for a re-issue: active → renewing →
    // failed_renewal, and the old certificate stays in Postgres and in Redis.
    fake.set_mode(Mode::Unauthorized);
    assert_eq!(db::request_reissue(&s.conn, id).await?, 1);
    assert_eq!(support::status(&s.conn, id).await?, "renewing");
    let before = OffsetDateTime::now_utc();
    worker.run_once(support::no_shutdown()).await?;
    let row = support::cert_row(&s.conn, id).await?;
    assert_failed_once(&row, "failed_renewal", before);
    assert!(row.last_error.unwrap().contains("HTTP 401"));
    assert_eq!(row.chain_pem.unwrap(), first_chain);
    assert_eq!(in_redis(s.redis.store()).await, first_chain);

    // Fixed; a re-issue request makes it due now, whatever the backoff said.
    fake.set_mode(Mode::Normal);
    db::request_reissue(&s.conn, id).await?;
    assert_eq!(
        worker.run_once(support::no_shutdown()).await?,
        vec![(id, Outcome::Issued)]
    );
    let row = support::cert_row(&s.conn, id).await?;
    assert_eq!(
        (row.status.as_str(), row.attempts, row.last_error),
        ("active", 0, None)
    );
    let second_chain = row.chain_pem.unwrap();
    assert_ne!(second_chain, first_chain);
    assert_eq!(in_redis(s.redis.store()).await, second_chain);
    assert_eq!(fake.records(), vec![]);
    s.finish().await
}

#[tokio::test]
async fn manual_dns_shows_the_record_and_proceeds_once_it_is_visible() -> anyhow::Result<()> {
    let s = setup().await?;
    let domain = "manual.example";
    let credential = support::insert_credential(&s.conn, "manual", None, None).await?;
    let id = support::insert_certificate(&s.conn, domain, Some(credential), "pending").await?;
    let config = support::config(
        &s.env,
        s.database.url(),
        s.redis.url(),
        s.redis.prefix(),
        s.env.dns.dns_addr(),
        &[],
    );
    let worker = support::worker(config).await;

    assert_eq!(
        worker.run_once(support::no_shutdown()).await?,
        vec![(id, Outcome::WaitingForManualDns)]
    );
    let row = support::cert_row(&s.conn, id).await?;
    assert_eq!(row.status, "pending");
    let name = row.manual_txt_name.unwrap();
    assert_eq!(name, format!("_acme-challenge.{domain}"));
    let values: Vec<String> = row
        .manual_txt_value
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        values.len(),
        2,
        "one value for *.{domain}, one for {domain}"
    );
    // An instance starting meanwhile (as after a crash) closes orders that dead workers
    // left open, but not a manual one that waits for the operator.
    let other = support::worker(support::config(
        &s.env,
        s.database.url(),
        s.redis.url(),
        s.redis.prefix(),
        s.env.dns.dns_addr(),
        &[],
    ))
    .await;
    other.recover_interrupted().await?;
    let orders = support::order_rows(&s.conn, id).await?;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(
        (orders[0].outcome.as_str(), &orders[0].dns_records),
        ("started", &None),
        "the waiting manual order was swept"
    );

    // The operator publishes only one of the two: still waiting.
    s.env.dns.set_txt(&name, &values[0]).await?;
    let outcome = switchyard_tests::eventually::eventually(
        Duration::from_secs(10),
        "the worker looks again",
        || async {
            match worker.run_once(support::no_shutdown()).await {
                Ok(o) if !o.is_empty() => Ok(o),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await?;
    assert_eq!(outcome, vec![(id, Outcome::WaitingForManualDns)]);

    // Both published: the order proceeds.
    s.env.dns.set_txt(&name, &values[1]).await?;
    let outcome = switchyard_tests::eventually::eventually(
        Duration::from_secs(10),
        "the certificate is issued",
        || async {
            match worker.run_once(support::no_shutdown()).await {
                Ok(o) if o == vec![(id, Outcome::Issued)] => Ok(o),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    outcome.map_err(|e| anyhow::anyhow!("{e}\n--- pebble log ---\n{}", s.env.pebble.log_text()))?;
    let row = support::cert_row(&s.conn, id).await?;
    assert_eq!(row.status, "active");
    assert_eq!((row.manual_txt_name, row.manual_txt_value), (None, None));
    assert_eq!(
        support::orders_of(&s.conn, id).await?,
        1,
        "the order was resumed, not placed again"
    );
    s.env.dns.clear_txt(&name).await?;
    s.finish().await
}

#[tokio::test]
async fn rate_limit_guard_refuses_orders_beyond_the_hourly_limit() -> anyhow::Result<()> {
    let s = setup().await?;
    let fake = FakeProvider::start(
        Kind::Cloudflare,
        "limit.example",
        Mode::Normal,
        vec![s.env.dns.management_url()],
    )
    .await;
    let first = s.certificate(&fake, "limit.example").await?;
    let credential = support::insert_credential(
        &s.conn,
        fake.provider(),
        Some(fake.secret()),
        Some(fake.base_url()),
    )
    .await?;
    let second =
        support::insert_certificate(&s.conn, "b.limit.example", Some(credential), "pending")
            .await?;
    let config = support::config(
        &s.env,
        s.database.url(),
        s.redis.url(),
        s.redis.prefix(),
        s.env.dns.dns_addr(),
        &["--max-orders-per-hour", "1", "--concurrency", "1"],
    );
    let worker = support::worker(config).await;
    let outcomes = worker.run_once(support::no_shutdown()).await?;
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert_eq!(outcomes[0], (first, Outcome::Issued));
    let row = support::cert_row(&s.conn, second).await?;
    assert_eq!(row.status, "failed");
    let error = row.last_error.unwrap();
    assert!(
        error.starts_with(
            "rate limit guard: this ACME account already placed 1 orders in the last hour (limit 1"
        ),
        "{error}"
    );
    assert_eq!(
        support::orders_of(&s.conn, second).await?,
        0,
        "no order was placed"
    );
    assert_eq!(
        worker
            .metrics()
            .orders
            .with_label_values(&["rate_limited"])
            .get(),
        1
    );
    s.finish().await
}
