//! A CA's rate-limit answer sets the next attempt: the `rateLimited` problem document is
//! stored as the certificate's error, the next attempt waits for the answer's
//! `Retry-After` (not the usual backoff), nothing is ordered before then, and the
//! attempt counts as `rate_limited`. Pebble does not rate-limit, so a front for its
//! directory answers new orders (`switchyard_tests::acme_front`).

mod support;

use switchyard_cert_worker::Outcome;
use switchyard_tests::acme::AcmeEnv;
use switchyard_tests::acme_front::{DirectoryFront, RATE_LIMITED};
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::redis::TestRedis;
use time::{Duration, OffsetDateTime};

#[tokio::test]
async fn a_rate_limited_order_waits_for_the_retry_after_the_ca_sent() -> anyhow::Result<()> {
    let env = AcmeEnv::start().await?;
    let front = DirectoryFront::start(&env.pebble).await;
    front.rate_limit_new_orders("3600");
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let (_provider, id) = support::pending_cloudflare_order(&env, &conn, "limited.example").await?;
    let worker = support::worker_through(&front.directory_url(), &env, &database, &redis).await;

    let before = OffsetDateTime::now_utc();
    let outcomes = worker.run_once(support::no_shutdown()).await?;
    let after = OffsetDateTime::now_utc();
    assert!(
        matches!(outcomes.as_slice(), [(got, Outcome::Failed(_))] if *got == id),
        "{outcomes:?}"
    );
    assert_eq!(front.new_orders(), 1);
    let row = support::cert_row(&conn, id).await?;
    assert_eq!(row.status, "failed");
    assert_eq!(row.attempts, 1);
    let error = row.last_error.unwrap_or_default();
    assert!(
        error.contains(RATE_LIMITED) && error.contains("too many new orders recently"),
        "the CA's words are not in the stored error: {error}"
    );
    // An hour from the CA's answer, as it asked: not the first backoff step.
    let hour = Duration::hours(1);
    let slack = Duration::seconds(1);
    assert!(
        row.next_attempt_at >= before + hour - slack && row.next_attempt_at <= after + hour + slack,
        "next attempt {} is not an hour after {before}..{after}",
        row.next_attempt_at
    );
    assert_eq!(
        worker
            .metrics()
            .orders
            .with_label_values(&["rate_limited"])
            .get(),
        1
    );
    assert_eq!(
        worker.metrics().orders.with_label_values(&["failed"]).get(),
        0
    );

    // Before that hour, no pass orders again.
    assert_eq!(worker.run_once(support::no_shutdown()).await?, vec![]);
    assert_eq!(
        front.new_orders(),
        1,
        "ordered again before the Retry-After"
    );

    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}
