//! End to end against Pebble: for each DNS provider a real wildcard certificate is
//! issued, covers `*.<domain>` and `<domain>`, is stored with its key sealed, lands in
//! Redis, and the real proxy serves it for `a.<domain>` and `<domain>`. The TXT records
//! are gone afterwards.

mod support;

use support::providers::{FakeProvider, Kind, Mode};
use switchyard_cert_worker::Outcome;
use switchyard_cert_worker::acme::leaf_info;
use switchyard_tests::acme::AcmeEnv;
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::redis::TestRedis;

async fn issues_and_serves(kind: Kind, domain: &str) -> anyhow::Result<()> {
    let env = AcmeEnv::start().await?;
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let fake =
        FakeProvider::start(kind, domain, Mode::Normal, vec![env.dns.management_url()]).await;
    let credential = support::insert_credential(
        &conn,
        fake.provider(),
        Some(fake.secret()),
        Some(fake.base_url()),
    )
    .await?;
    let id = support::insert_certificate(&conn, domain, Some(credential), "pending").await?;

    let config = support::config(
        &env,
        database.url(),
        redis.url(),
        redis.prefix(),
        env.dns.dns_addr(),
        &[],
    );
    let worker = support::worker(config).await;
    let outcomes = worker.run_once(support::no_shutdown()).await?;
    assert_eq!(
        outcomes,
        vec![(id, Outcome::Issued)],
        "pebble log:\n{}",
        env.pebble.log_text()
    );

    // Stored: active, chain readable, key sealed.
    let row = support::cert_row(&conn, id).await?;
    assert_eq!(row.status, "active");
    assert_eq!(row.attempts, 0);
    assert_eq!(row.last_error, None);
    let chain = row.chain_pem.unwrap();
    let mut sans = leaf_info(&chain).unwrap().dns_names;
    sans.sort();
    assert_eq!(sans, vec![format!("*.{domain}"), domain.to_owned()]);
    let sealed = row.key_ciphertext.unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("PRIVATE KEY"));
    // Renewal is scheduled two thirds into the lifetime, not tomorrow.
    assert!(row.next_attempt_at > time::OffsetDateTime::now_utc() + time::Duration::days(2));

    // Published under `*.<domain>`, covering both names.
    let mut certs = redis.store().certs(&[format!("*.{domain}")]).await?;
    let record = certs
        .remove(0)
        .1
        .expect("cert key in Redis")
        .expect("valid record");
    let names: Vec<&str> = record.names.iter().map(|n| n.as_str()).collect();
    assert_eq!(names, vec![format!("*.{domain}").as_str(), domain]);
    assert_eq!(record.chain_pem, chain);

    // Nothing left at the provider or in DNS.
    assert_eq!(fake.records(), vec![], "calls: {:?}", fake.calls());

    // The proxy serves it, and a client trusting only Pebble's root accepts it.
    let root = env.pebble.issuing_root().await?;
    let proxy = support::Proxy::start(redis.url(), redis.prefix()).await;
    for host in [format!("a.{domain}"), domain.to_owned()] {
        proxy.wait_serves(&host, &root).await;
    }

    drop(proxy);
    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}

#[tokio::test]
async fn cloudflare_wildcard_certificate_is_issued_and_served() -> anyhow::Result<()> {
    issues_and_serves(Kind::Cloudflare, "cf-example.com").await
}

#[tokio::test]
async fn digitalocean_wildcard_certificate_is_issued_and_served() -> anyhow::Result<()> {
    issues_and_serves(Kind::DigitalOcean, "do-example.com").await
}

#[tokio::test]
async fn porkbun_wildcard_certificate_is_issued_and_served() -> anyhow::Result<()> {
    issues_and_serves(Kind::Porkbun, "pb-example.com").await
}

#[tokio::test]
async fn account_is_registered_with_external_account_binding() -> anyhow::Result<()> {
    use switchyard_tests::acme::{ChallTestSrv, Pebble};
    // 32 bytes, base64url without padding, as CAs display EAB keys.
    const HMAC: &str = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let dns = ChallTestSrv::start().await?;
    let pebble = Pebble::start_requiring_eab(dns.dns_addr(), "kid-1", HMAC).await?;
    let env = AcmeEnv { pebble, dns };
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let domain = "eab.example";
    let (_fake, id) = support::pending_cloudflare_order(&env, &conn, domain).await?;

    // Without the binding the CA refuses the account, and the error says so.
    let config = support::config(
        &env,
        database.url(),
        redis.url(),
        redis.prefix(),
        env.dns.dns_addr(),
        &[],
    );
    let outcomes = support::worker(config)
        .await
        .run_once(support::no_shutdown())
        .await?;
    let [(_, Outcome::Failed(error))] = &outcomes[..] else {
        panic!("{outcomes:?}")
    };
    assert!(error.contains("registering the account"), "{error}");
    assert!(error.contains("externalAccountRequired"), "{error}");

    switchyard_cert_worker::db::request_reissue(&conn, id).await?;
    let config = support::config(
        &env,
        database.url(),
        redis.url(),
        redis.prefix(),
        env.dns.dns_addr(),
        &["--acme-eab-kid", "kid-1", "--acme-eab-hmac-key", HMAC],
    );
    let outcomes = support::worker(config)
        .await
        .run_once(support::no_shutdown())
        .await?;
    assert_eq!(outcomes, vec![(id, Outcome::Issued)]);

    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}
