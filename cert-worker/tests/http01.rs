//! Per-host certificates by HTTP-01, end to end: two real proxies behind a relay that
//! alternates connections between them (a load balancer in miniature), Pebble validating
//! through that relay, challtestsrv resolving every name to 127.0.0.1. For the zones of
//! a domain without DNS credential — or one with a credential that chose `per_host`
//! certificates — the worker orders one certificate per exact hostname, publishes the answers through Redis, and whichever proxy Pebble reaches
//! answers; the certificates land in Redis, both proxies serve them by SNI (before a
//! wildcard that also covers the names), and no challenge is left behind.
//!
//! And the decision itself, against PostgreSQL and Redis alone: which hostnames get a
//! certificate of their own, and when one is retired (its key leaving Redis).

mod support;

use fred::prelude::*;
use sea_orm::ConnectionTrait as _;
use switchyard_cert_worker::Outcome;
use switchyard_cert_worker::acme::leaf_info;
use switchyard_shared::model::CertRecord;
use switchyard_shared::store::ChangeSet;
use switchyard_tests::acme::{AcmeEnv, ChallTestSrv, Pebble};
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::redis::TestRedis;
use switchyard_tests::relay::Relay;
use switchyard_tests::upstream::self_signed;

/// A self-signed wildcard record for `*.{domain}`, expiring after anything Pebble issues.
fn decoy_wildcard(domain: &str) -> CertRecord {
    let name = format!("*.{domain}");
    let cert = self_signed(&[&name]);
    let now = time::OffsetDateTime::now_utc();
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let json = serde_json::json!({
        "name": name,
        "names": [name, domain],
        "chain_pem": cert.chain_pem,
        "key_pem": cert.key_pem,
        "not_before": (now - time::Duration::days(1)).format(rfc3339).unwrap(),
        "not_after": (now + time::Duration::days(3650)).format(rfc3339).unwrap(),
    });
    CertRecord::from_json(&name, json.to_string().as_bytes()).unwrap()
}

/// A worker with the tests' configuration, against `env`'s Pebble and DNS.
async fn worker(
    env: &AcmeEnv,
    database: &TestDatabase,
    redis: &TestRedis,
) -> std::sync::Arc<switchyard_cert_worker::Worker> {
    let config = support::config(
        env,
        database.url(),
        redis.url(),
        redis.prefix(),
        env.dns.dns_addr(),
        &[],
    );
    support::worker(config).await
}

/// How the test domain's names are left to HTTP-01.
#[derive(Clone, Copy, PartialEq)]
enum Choice {
    /// No DNS credential: the wildcard waits for one (and says so).
    NoCredential,
    /// A DNS credential, and `certificates = 'per_host'`: the wildcard is never ordered.
    PerHost,
}

#[tokio::test]
async fn hostnames_without_dns_automation_are_issued_by_http01_through_two_proxies()
-> anyhow::Result<()> {
    issued_by_http01_through_two_proxies(Choice::NoCredential).await
}

#[tokio::test]
async fn a_per_host_domain_with_a_dns_credential_gets_http01_certificates_and_no_wildcard_order()
-> anyhow::Result<()> {
    issued_by_http01_through_two_proxies(Choice::PerHost).await
}

async fn issued_by_http01_through_two_proxies(choice: Choice) -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    // The fleet: two proxies, one address in front (the CA's port 80).
    let proxies = [
        support::Proxy::start(redis.url(), redis.prefix()).await,
        support::Proxy::start(redis.url(), redis.prefix()).await,
    ];
    let relay =
        Relay::alternating(&[proxies[0].http.to_string(), proxies[1].http.to_string()]).await?;
    let dns = ChallTestSrv::start().await?;
    let pebble = Pebble::start_with_http_port(dns.dns_addr(), relay.addr().port()).await?;
    let env = AcmeEnv { pebble, dns };

    // shop.example.net has no DNS credential (or has one and chose per-host
    // certificates); two exact hostnames, one of them with two zones (two path
    // prefixes), and a wildcard zone no HTTP-01 order can cover.
    let domain = "shop.example.net";
    let credential = match choice {
        Choice::NoCredential => None,
        Choice::PerHost => Some(support::insert_credential(&conn, "manual", None, None).await?),
    };
    let wildcard_id = support::insert_certificate(&conn, domain, credential, "pending").await?;
    let domain_id = support::domain_of(&conn, wildcard_id).await?;
    if choice == Choice::PerHost {
        conn.execute_unprepared(&format!(
            "UPDATE domains SET certificates = 'per_host' WHERE id = '{domain_id}'"
        ))
        .await?;
    }
    for (host, prefix) in [
        ("shop.example.net", ""),
        ("www.shop.example.net", ""),
        ("www.shop.example.net", "/api"),
        ("*.shop.example.net", ""),
    ] {
        support::insert_zone(&conn, domain_id, host, prefix).await?;
    }
    // A wildcard in Redis that covers both names too, and expires later: exact wins.
    let mut decoy = ChangeSet::new();
    decoy.put_cert(&decoy_wildcard(domain));
    redis.store().apply(&decoy).await?;

    let worker = worker(&env, &database, &redis).await;
    let mut outcomes = worker.run_once(support::no_shutdown()).await?;
    let hosts = support::host_certificates(&conn).await?;
    let names: Vec<&str> = hosts.iter().map(|(h, _, _)| h.as_str()).collect();
    assert_eq!(names, ["shop.example.net", "www.shop.example.net"]);

    match choice {
        // The wildcard still needs DNS-01 and says what happens meanwhile.
        Choice::NoCredential => {
            outcomes.sort_by_key(|(id, _)| *id != wildcard_id);
            let Outcome::Failed(why) = &outcomes[0].1 else {
                panic!("{outcomes:?}")
            };
            assert!(why.contains("no DNS credential"), "{why}");
            assert!(why.contains("HTTP-01"), "{why}");
        }
        // The wildcard is not ordered at all, credential or not: no attempt, no order,
        // still pending as the panel made it.
        Choice::PerHost => {
            assert!(
                outcomes.iter().all(|(id, _)| *id != wildcard_id),
                "{outcomes:?}"
            );
            assert_eq!(support::orders_of(&conn, wildcard_id).await?, 0);
            let row = support::cert_row(&conn, wildcard_id).await?;
            assert_eq!(row.status, "pending");
            assert_eq!(row.attempts, 0);
        }
    }
    for (host, id, status) in &hosts {
        assert!(
            outcomes.contains(&(*id, Outcome::Issued)),
            "{host}: {outcomes:?}\n--- pebble log ---\n{}",
            env.pebble.log_text()
        );
        assert_eq!(status, "active", "{host}");
        let row = support::cert_row(&conn, *id).await?;
        let sans = leaf_info(row.chain_pem.as_deref().unwrap())
            .unwrap()
            .dns_names;
        assert_eq!(sans, [host.as_str()]);
        assert!(row.next_attempt_at > time::OffsetDateTime::now_utc() + time::Duration::days(2));
    }
    // Pebble validated through the relay, and the relay sent it to both proxies.
    let reached = relay.connections();
    assert!(
        reached.iter().all(|&n| n >= 1),
        "validation connections per proxy: {reached:?}"
    );

    // In Redis under the exact names, and every answer withdrawn.
    let stored = redis
        .store()
        .certs(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .await?;
    for (name, record) in stored {
        let record = record.expect("cert key in Redis").expect("valid record");
        let covered: Vec<&str> = record.names.iter().map(|n| n.as_str()).collect();
        assert_eq!(covered, [name.as_str()]);
    }
    let left: Vec<String> = redis
        .client()
        .custom(
            fred::cmd!("ZRANGE"),
            vec![redis.keys().acme_challenge_index(), "0".into(), "-1".into()],
        )
        .await?;
    assert_eq!(left, Vec::<String>::new(), "challenges left in the index");
    let pattern = format!("{}acme-challenge:*", redis.prefix());
    let keys: (String, Vec<String>) = redis
        .client()
        .custom(
            fred::cmd!("SCAN"),
            vec![
                "0".to_owned(),
                "MATCH".into(),
                pattern,
                "COUNT".into(),
                "10000".into(),
            ],
        )
        .await?;
    assert_eq!(keys.1, Vec::<String>::new(), "challenge keys left");

    // Both proxies serve each by SNI, chaining to Pebble's root (not the decoy's).
    let root = env.pebble.issuing_root().await?;
    for proxy in &proxies {
        for host in &names {
            proxy.wait_serves(host, &root).await;
        }
    }

    drop(proxies);
    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}

#[tokio::test]
async fn per_host_certificates_follow_the_zones_and_dns_automation() -> anyhow::Result<()> {
    let env = AcmeEnv::start().await?;
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let worker = worker(&env, &database, &redis).await;

    // manual.example has no credential; auto.example has one (DNS-01 through it).
    let manual = support::insert_certificate(&conn, "manual.example", None, "pending").await?;
    let manual = support::domain_of(&conn, manual).await?;
    let credential = support::insert_credential(&conn, "manual", None, None).await?;
    let auto_cert =
        support::insert_certificate(&conn, "auto.example", Some(credential), "pending").await?;
    let auto = support::domain_of(&conn, auto_cert).await?;
    let a = support::insert_zone(&conn, manual, "a.manual.example", "").await?;
    support::insert_zone(&conn, manual, "*.manual.example", "").await?;
    support::insert_zone(&conn, manual, "**.manual.example", "").await?;
    // Covered by auto.example's wildcard (one label below, and the apex)...
    support::insert_zone(&conn, auto, "www.auto.example", "").await?;
    support::insert_zone(&conn, auto, "auto.example", "").await?;
    // ...but two labels below is not: `*.auto.example` does not cover it.
    support::insert_zone(&conn, auto, "x.deep.auto.example", "").await?;

    assert_eq!(worker.sync_host_certificates().await?, (2, 0));
    let hosts = support::host_certificates(&conn).await?;
    let names: Vec<&str> = hosts.iter().map(|(h, _, _)| h.as_str()).collect();
    assert_eq!(names, ["a.manual.example", "x.deep.auto.example"]);
    assert!(hosts.iter().all(|(_, _, status)| status == "pending"));
    // Idempotent: a second pass (or a second instance) adds nothing.
    assert_eq!(worker.sync_host_certificates().await?, (0, 0));

    // An issued per-host certificate is in Redis; its zone goes: the row and the key go.
    let a_cert = hosts[0].1;
    let mut publish = ChangeSet::new();
    publish.put_cert(&host_record("a.manual.example")?);
    redis.store().apply(&publish).await?;
    conn.execute_unprepared(&format!(
        "UPDATE certificates SET status = 'active', chain_pem = 'x', not_before = now(), \
         not_after = now() + interval '90 days' WHERE id = '{a_cert}'"
    ))
    .await?;
    // While an order holds the certificate, it is left alone.
    let claim = switchyard_cert_worker::db::Claim::try_take(worker.db(), a_cert)
        .await?
        .unwrap();
    conn.execute_unprepared(&format!("DELETE FROM zones WHERE id = '{a}'"))
        .await?;
    assert_eq!(worker.sync_host_certificates().await?, (0, 0));
    claim.release().await?;
    assert_eq!(worker.sync_host_certificates().await?, (0, 1));
    let cert_names: Vec<String> = redis.client().smembers(redis.keys().cert_index()).await?;
    assert!(
        !cert_names.contains(&"a.manual.example".to_owned()),
        "{cert_names:?}"
    );
    assert!(
        redis
            .store()
            .certs(&["a.manual.example".to_owned()])
            .await?[0]
            .1
            .is_none()
    );

    // x.deep.auto.example keeps its own certificate while auto.example's wildcard is
    // not issued, whatever the credential; and the wildcard never covers it anyway.
    conn.execute_unprepared(&format!(
        "UPDATE certificates SET status = 'active', chain_pem = 'x', not_before = now(), \
         not_after = now() + interval '90 days' WHERE id = '{auto_cert}'"
    ))
    .await?;
    assert_eq!(worker.sync_host_certificates().await?, (0, 0));
    // A hostname one label below: covered by the issued wildcard, so it is retired.
    support::insert_zone(&conn, manual, "b.manual.example", "").await?;
    assert_eq!(worker.sync_host_certificates().await?, (1, 0));
    conn.execute_unprepared(&format!(
        "UPDATE domains SET dns_credential_id = '{credential}' WHERE id = '{manual}'"
    ))
    .await?;
    assert_eq!(worker.sync_host_certificates().await?, (0, 0));
    conn.execute_unprepared(&format!(
        "UPDATE certificates SET status = 'active', chain_pem = 'x', not_before = now(), \
         not_after = now() + interval '90 days' \
         WHERE domain_id = '{manual}' AND hostname IS NULL"
    ))
    .await?;
    assert_eq!(worker.sync_host_certificates().await?, (0, 1));
    let names: Vec<String> = support::host_certificates(&conn)
        .await?
        .into_iter()
        .map(|(h, _, _)| h)
        .collect();
    assert_eq!(names, ["x.deep.auto.example"]);

    // Deleting the domain leaves its per-host certificates to the worker, which retires
    // them once no zone has their hostname.
    conn.execute_unprepared(&format!("DELETE FROM zones WHERE domain_id = '{auto}'"))
        .await?;
    conn.execute_unprepared(&format!("DELETE FROM domains WHERE id = '{auto}'"))
        .await?;
    assert_eq!(worker.sync_host_certificates().await?, (0, 1));
    assert!(support::host_certificates(&conn).await?.is_empty());

    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}

/// A self-signed record for the exact hostname `name`, as the worker publishes one.
fn host_record(name: &str) -> anyhow::Result<CertRecord> {
    let cert = self_signed(&[name]);
    let json = serde_json::json!({
        "name": name, "names": [name],
        "chain_pem": cert.chain_pem, "key_pem": cert.key_pem,
        "not_before": "2026-01-01T00:00:00Z", "not_after": "2036-01-01T00:00:00Z"
    });
    Ok(CertRecord::from_json(name, json.to_string().as_bytes())?)
}

async fn set_choice(
    conn: &sea_orm::DatabaseConnection,
    domain: uuid::Uuid,
    choice: &str,
) -> anyhow::Result<()> {
    conn.execute_unprepared(&format!(
        "UPDATE domains SET certificates = '{choice}' WHERE id = '{domain}'"
    ))
    .await?;
    Ok(())
}

/// A domain with a DNS credential switching its certificate choice. To `per_host`: each
/// exact hostname gets its own, while the issued wildcard is kept (serving until the
/// hosts' own exist, and after) but neither renewed nor ordered. Back to `wildcard`: the
/// wildcard is renewed and ordered again, and the hosts' own retire (their keys leaving
/// Redis) once it is issued, not before.
#[tokio::test]
async fn a_domain_switches_between_wildcard_and_per_host_certificates() -> anyhow::Result<()> {
    let env = AcmeEnv::start().await?;
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let worker = worker(&env, &database, &redis).await;
    let due = || switchyard_cert_worker::db::due(worker.db(), 100);

    let credential = support::insert_credential(&conn, "manual", None, None).await?;
    let wildcard =
        support::insert_certificate(&conn, "both.example", Some(credential), "pending").await?;
    let domain = support::domain_of(&conn, wildcard).await?;
    for host in ["both.example", "www.both.example", "*.both.example"] {
        support::insert_zone(&conn, domain, host, "").await?;
    }
    // The wildcard is issued, with a third of its life left or less (due for renewal).
    conn.execute_unprepared(&format!(
        "UPDATE certificates SET status = 'active', chain_pem = 'x', \
         not_before = now() - interval '80 days', not_after = now() + interval '10 days' \
         WHERE id = '{wildcard}'"
    ))
    .await?;
    // `wildcard` (the default): it covers both names; nothing of their own.
    assert_eq!(worker.sync_host_certificates().await?, (0, 0));

    // `per_host`: both exact hostnames get their own (the `*` zone none); the wildcard
    // stays, active, and is not renewed.
    set_choice(&conn, domain, "per_host").await?;
    assert_eq!(worker.sync_host_certificates().await?, (2, 0));
    let hosts = support::host_certificates(&conn).await?;
    let names: Vec<&str> = hosts.iter().map(|(h, _, _)| h.as_str()).collect();
    assert_eq!(names, ["both.example", "www.both.example"]);
    assert_eq!(
        switchyard_cert_worker::db::renewal_sweep(worker.db()).await?,
        Vec::<uuid::Uuid>::new()
    );
    assert_eq!(support::status(&conn, wildcard).await?, "active");
    let now_due = due().await?;
    assert!(
        hosts.iter().all(|(_, id, _)| now_due.contains(id)),
        "{now_due:?}"
    );
    assert!(!now_due.contains(&wildcard), "{now_due:?}");
    // Not even a wildcard whose renewal had begun is ordered.
    conn.execute_unprepared(&format!(
        "UPDATE certificates SET status = 'renewing', next_attempt_at = now() \
         WHERE id = '{wildcard}'"
    ))
    .await?;
    assert!(!due().await?.contains(&wildcard));
    // The hosts' own are issued and published; the wildcard meanwhile expires.
    let mut publish = ChangeSet::new();
    for (host, id, _) in &hosts {
        publish.put_cert(&host_record(host)?);
        conn.execute_unprepared(&format!(
            "UPDATE certificates SET status = 'active', chain_pem = 'x', not_before = now(), \
             not_after = now() + interval '90 days' WHERE id = '{id}'"
        ))
        .await?;
    }
    redis.store().apply(&publish).await?;
    conn.execute_unprepared(&format!(
        "UPDATE certificates SET status = 'active', \
         not_before = now() - interval '91 days', not_after = now() - interval '1 day' \
         WHERE id = '{wildcard}'"
    ))
    .await?;
    assert_eq!(worker.sync_host_certificates().await?, (0, 0));

    // Back to `wildcard`: it is renewed (so due) again; the hosts keep their own while
    // it is not issued...
    set_choice(&conn, domain, "wildcard").await?;
    assert_eq!(
        switchyard_cert_worker::db::renewal_sweep(worker.db()).await?,
        [wildcard]
    );
    assert!(due().await?.contains(&wildcard));
    assert_eq!(worker.sync_host_certificates().await?, (0, 0));
    // ...and retire once it is: rows and Redis keys.
    conn.execute_unprepared(&format!(
        "UPDATE certificates SET status = 'active', not_before = now(), \
         not_after = now() + interval '90 days' WHERE id = '{wildcard}'"
    ))
    .await?;
    assert_eq!(worker.sync_host_certificates().await?, (0, 2));
    assert!(support::host_certificates(&conn).await?.is_empty());
    let stored = redis
        .store()
        .certs(&["both.example".to_owned(), "www.both.example".to_owned()])
        .await?;
    assert!(stored.iter().all(|(_, r)| r.is_none()), "{stored:?}");

    conn.close().await?;
    redis.cleanup().await?;
    database.drop_now().await
}

#[tokio::test]
async fn an_http01_order_waits_while_the_panels_dns_check_fails() -> anyhow::Result<()> {
    let env = AcmeEnv::start().await?;
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let worker = worker(&env, &database, &redis).await;
    let cert = support::insert_certificate(&conn, "elsewhere.example", None, "pending").await?;
    let domain = support::domain_of(&conn, cert).await?;
    support::insert_zone(&conn, domain, "www.elsewhere.example", "").await?;
    assert_eq!(worker.sync_host_certificates().await?, (1, 0));
    // The domain's own wildcard waits for a credential; only the per-host one matters.
    conn.execute_unprepared(&format!(
        "UPDATE certificates SET next_attempt_at = now() + interval '1 day' WHERE id = '{cert}'"
    ))
    .await?;
    // The panel checked the hostname: it points elsewhere.
    conn.execute_unprepared(
        "INSERT INTO dns_checks (name, checked_at, resolver, verdict, records, expected, problem) \
         VALUES ('www.elsewhere.example', now(), '127.0.0.1:53', 'fail', \
                 '[{\"type\": \"A\", \"value\": \"192.0.2.7\"}]', '[\"127.0.0.1\"]', \
                 '192.0.2.7 is not the fleet''s (public addresses: 127.0.0.1)')",
    )
    .await?;
    let outcomes = worker.run_once(support::no_shutdown()).await?;
    let [(_, Outcome::Failed(error))] = &outcomes[..] else {
        panic!("{outcomes:?}");
    };
    assert!(error.contains("waiting for DNS"), "{error}");
    assert!(error.contains("192.0.2.7 is not the fleet's"), "{error}");
    let host = support::host_certificates(&conn).await?;
    assert_eq!(
        support::orders_of(&conn, host[0].1).await?,
        0,
        "no order at the CA"
    );

    // Fixed (the panel's next check passes): the order goes ahead at the next attempt.
    conn.execute_unprepared("UPDATE dns_checks SET verdict = 'pass', problem = NULL")
        .await?;
    conn.execute_unprepared(&format!(
        "UPDATE certificates SET next_attempt_at = now() WHERE id = '{}'",
        host[0].1
    ))
    .await?;
    worker.run_once(support::no_shutdown()).await?;
    assert!(
        support::orders_of(&conn, host[0].1).await? >= 1,
        "ordered once DNS passes"
    );
    drop(conn);
    database.drop_now().await
}
