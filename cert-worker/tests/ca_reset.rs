//! A CA that forgot the worker's account: Pebble keeps everything in memory, so after a
//! restart (the local stack's second day, `scripts/down` then `scripts/up`) the stored
//! account is unknown to it (`accountDoesNotExist`), as it would be after a staging CA is
//! wiped. A re-issue must still go through at once: the worker registers a new account,
//! keeps it under the same row, and the new certificate chains to the new root. So must
//! a first issuance.

mod support;

use acme_row::{account_rows, reissue};
use switchyard_cert_worker::Outcome;
use switchyard_tests::acme::AcmeEnv;
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::redis::TestRedis;

mod acme_row {
    use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
    use uuid::Uuid;

    /// `(id, sealed credentials)` of every stored ACME account.
    pub async fn account_rows(conn: &DatabaseConnection) -> anyhow::Result<Vec<(Uuid, Vec<u8>)>> {
        conn.query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id, credentials_ciphertext FROM acme_accounts ORDER BY created_at",
        ))
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("", "id")?,
                r.try_get("", "credentials_ciphertext")?,
            ))
        })
        .collect()
    }

    /// What the panel's re-issue does: renewing, due now, attempts reset.
    pub async fn reissue(conn: &DatabaseConnection, id: Uuid) -> anyhow::Result<()> {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE certificates SET status = 'renewing', attempts = 0, last_error = NULL, \
             next_attempt_at = now() WHERE id = $1",
            vec![id.into()],
        ))
        .await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_ca_that_forgot_the_account_gets_a_new_one_and_the_order_goes_through()
-> anyhow::Result<()> {
    let mut env = AcmeEnv::start().await?;
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let domain = "reset.example";
    let (_fake, id) = support::pending_cloudflare_order(&env, &conn, domain).await?;
    let config = |env: &AcmeEnv| {
        support::config(
            env,
            database.url(),
            redis.url(),
            redis.prefix(),
            env.dns.dns_addr(),
            &[],
        )
    };
    let worker = support::worker(config(&env)).await;
    assert_eq!(
        worker.run_once(support::no_shutdown()).await?,
        vec![(id, Outcome::Issued)]
    );
    let accounts = account_rows(&conn).await?;
    assert_eq!(accounts.len(), 1);
    let first_root = env.pebble.issuing_root().await?;

    // Pebble restarts: same directory URL, but it knows no account and has a new root.
    env.pebble.restart().await?;
    let second_root = env.pebble.issuing_root().await?;
    assert_ne!(first_root, second_root, "Pebble kept its root");

    // The running worker (account cached in memory) re-issues in one attempt.
    reissue(&conn, id).await?;
    let outcomes = worker.run_once(support::no_shutdown()).await?;
    let row = support::cert_row(&conn, id).await?;
    assert_eq!(
        outcomes,
        vec![(id, Outcome::Issued)],
        "last_error: {:?}\npebble log:\n{}",
        row.last_error,
        env.pebble.log_text()
    );
    assert_eq!(row.status, "active");
    assert_eq!(row.attempts, 0);
    // Under the same row (the order log keeps counting), with new credentials.
    let replaced = account_rows(&conn).await?;
    assert_eq!(replaced.len(), 1);
    assert_eq!(replaced[0].0, accounts[0].0);
    assert_ne!(
        replaced[0].1, accounts[0].1,
        "the credentials were not replaced"
    );
    // The new certificate chains to the running Pebble's root.
    let proxy = support::Proxy::start(redis.url(), redis.prefix()).await;
    let https = proxy.https();
    switchyard_tests::eventually::eventually(
        std::time::Duration::from_secs(10),
        "the proxy serves the re-issued certificate, trusted by the new root",
        || {
            let root = second_root.clone();
            async move {
                switchyard_tests::client::https_get(https, domain, "/", &root)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n--- proxy log ---\n{}", proxy.log_text()));
    drop(proxy);

    // A worker started afresh restores the replacement from Postgres and orders with it.
    let fresh = support::worker(config(&env)).await;
    reissue(&conn, id).await?;
    assert_eq!(
        fresh.run_once(support::no_shutdown()).await?,
        vec![(id, Outcome::Issued)]
    );
    assert_eq!(account_rows(&conn).await?, replaced, "registered once more");

    // A first issuance meets a forgotten account too: Pebble restarts again, and a new
    // domain's pending certificate is issued in one attempt with a new account.
    env.pebble.restart().await?;
    let (_second_fake, second) =
        support::pending_cloudflare_order(&env, &conn, "reset-new.example").await?;
    let outcomes = fresh.run_once(support::no_shutdown()).await?;
    let row = support::cert_row(&conn, second).await?;
    assert_eq!(
        outcomes,
        vec![(second, Outcome::Issued)],
        "last_error: {:?}\npebble log:\n{}",
        row.last_error,
        env.pebble.log_text()
    );
    let third = account_rows(&conn).await?;
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].0, accounts[0].0);
    assert_ne!(
        third[0].1, replaced[0].1,
        "the credentials were not replaced"
    );

    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}
