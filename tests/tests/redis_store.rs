//! The Redis contract against a real Redis: atomic batches with one version bump, the
//! key layout an operator sees with `redis-cli`, snapshots that skip invalid records,
//! the change feed, the format guard, and prefix isolation.

use std::time::Duration;

use fred::prelude::*;
use switchyard_shared::model::{CertRecord, ChallengeRecord, HostRecord};
use switchyard_shared::store::{self, ChangeSet, Store, StoreError};
use switchyard_tests::eventually::eventually;
use switchyard_tests::redis::TestRedis;

fn zone(host: &str, upstream: &str) -> HostRecord {
    let json = serde_json::json!({
        "host": host,
        "routes": [{"zone_id": format!("id-{host}"), "upstreams": [{"url": upstream}]}]
    });
    HostRecord::from_json(host, json.to_string().as_bytes()).expect("test records are valid")
}

fn cert(name: &str) -> CertRecord {
    let json = serde_json::json!({
        "name": name,
        "names": [name],
        "chain_pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "key_pem": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        "not_before": "2026-01-01T00:00:00Z",
        "not_after": "2026-04-01T00:00:00Z"
    });
    CertRecord::from_json(name, json.to_string().as_bytes()).expect("test records are valid")
}

#[tokio::test]
async fn a_batch_is_one_version_with_readable_keys_and_one_feed_entry() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let store = redis.store();
    let keys = redis.keys().clone();

    let mut batch = ChangeSet::new();
    batch
        .put_zone(&zone("app.example.com", "http://10.0.0.1:8080"))
        .put_zone(&zone("*.example.com", "http://10.0.0.2:8080"))
        .put_cert(&cert("*.example.com"));
    let applied = store.apply(&batch).await?;
    assert_eq!(applied.version, 1);

    // What an operator sees with redis-cli.
    let version: String = redis.client().get(keys.version()).await?;
    assert_eq!(version, "1");
    let format: String = redis.client().get(keys.format()).await?;
    assert_eq!(format, "1");
    let raw: String = redis.client().get(keys.zone("app.example.com")).await?;
    let value: serde_json::Value = serde_json::from_str(&raw)?;
    assert_eq!(
        value["routes"][0]["upstreams"][0]["url"],
        "http://10.0.0.1:8080"
    );
    let mut zones: Vec<String> = redis.client().smembers(keys.zone_index()).await?;
    zones.sort();
    assert_eq!(zones, ["*.example.com", "app.example.com"]);
    let certs: Vec<String> = redis.client().smembers(keys.cert_index()).await?;
    assert_eq!(certs, ["*.example.com"]);

    let feed = store.feed_after("0", 10, None).await?;
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].id, applied.feed_id);
    assert_eq!(feed[0].version, 1);
    assert_eq!(feed[0].zones, ["app.example.com", "*.example.com"]);
    assert_eq!(feed[0].certs, ["*.example.com"]);

    // Deleting is a new version; the key and its index entry go.
    let mut delete = ChangeSet::new();
    delete.delete_zone("app.example.com");
    let applied = store.apply(&delete).await?;
    assert_eq!(applied.version, 2);
    let gone: Option<String> = redis.client().get(keys.zone("app.example.com")).await?;
    assert_eq!(gone, None);
    let zones: Vec<String> = redis.client().smembers(keys.zone_index()).await?;
    assert_eq!(zones, ["*.example.com"]);
    let feed = store.feed_after(&feed[0].id, 10, None).await?;
    assert_eq!(
        (feed[0].version, feed[0].zones.clone()),
        (2, vec!["app.example.com".to_owned()])
    );

    // An empty batch changes nothing.
    assert_eq!(store.apply(&ChangeSet::new()).await?.version, 2);
    assert_eq!(store.feed_after("0", 10, None).await?.len(), 2);
    redis.cleanup().await
}

#[tokio::test]
async fn ten_thousand_zones_land_as_one_version() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let store = redis.store();
    let mut batch = ChangeSet::new();
    for i in 0..10_000 {
        batch.put_zone(&zone(&format!("app{i}.example.com"), "http://10.0.0.1:80"));
    }
    let applied = store.apply(&batch).await?;
    assert_eq!(applied.version, 1);
    let snapshot = store.snapshot().await?;
    assert_eq!(snapshot.version, 1);
    assert_eq!(snapshot.zones.len(), 10_000);
    assert_eq!(
        store.feed_after("0", 10, None).await?[0].zones.len(),
        10_000
    );
    redis.cleanup().await
}

#[tokio::test]
async fn snapshot_skips_invalid_records_and_reports_them() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let store = redis.store();
    let keys = redis.keys().clone();
    let mut batch = ChangeSet::new();
    batch
        .put_zone(&zone("good.example.com", "http://10.0.0.1:80"))
        .put_cert(&cert("*.example.com"));
    store.apply(&batch).await?;

    // Someone writes garbage by hand, bypassing validation.
    let c = redis.client();
    let _: () = c
        .set(keys.zone("bad.example.com"), r#"{"host":"bad.example.com","routes":[{"zone_id":"x","upstreams":[{"url":"http://x:99999"}]}]}"#, None, None, false)
        .await?;
    let _: () = c.sadd(keys.zone_index(), "bad.example.com").await?;
    let _: () = c
        .set(
            keys.zone("mislabelled.example.com"),
            zone("other.example.com", "http://a:1").to_json(),
            None,
            None,
            false,
        )
        .await?;
    let _: () = c.sadd(keys.zone_index(), "mislabelled.example.com").await?;

    let snapshot = store.snapshot().await?;
    let hosts: Vec<&str> = snapshot.zones.iter().map(|z| z.host.as_str()).collect();
    assert_eq!(hosts, ["good.example.com"]);
    assert_eq!(snapshot.certs.len(), 1);
    assert_eq!(snapshot.version, 1);
    let mut problems: Vec<String> = snapshot.rejected.iter().map(|e| e.to_string()).collect();
    problems.sort();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("\"bad.example.com\"") && problems[0].contains("port 99999"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("stored under \"mislabelled.example.com\""),
        "{problems:?}"
    );
    redis.cleanup().await
}

#[tokio::test]
async fn a_newer_data_format_is_refused_and_nothing_changes() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let store = redis.store();
    let keys = redis.keys().clone();
    let _: () = redis
        .client()
        .set(keys.format(), "3", None, None, false)
        .await?;

    let mut batch = ChangeSet::new();
    batch.put_zone(&zone("app.example.com", "http://10.0.0.1:80"));
    let err = store.apply(&batch).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Format { found, supported: 2 } if found == "3"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("Redis holds data format 3; this build understands formats up to 2")
    );
    assert!(matches!(
        store.snapshot().await,
        Err(StoreError::Format { .. })
    ));

    // Nothing was written: only the format key exists under the prefix.
    assert_eq!(redis.all_keys().await?, [keys.format()]);
    redis.cleanup().await
}

#[tokio::test]
async fn a_zone_with_policies_raises_the_format_to_2_and_it_stays() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let store = redis.store();
    let keys = redis.keys().clone();
    let format = || async {
        let f: String = redis.client().get(keys.format()).await?;
        anyhow::Ok(f)
    };

    let mut batch = ChangeSet::new();
    batch.put_zone(&zone("plain.example.com", "http://10.0.0.1:80"));
    assert_eq!(batch.format_needed(), 1);
    store.apply(&batch).await?;
    assert_eq!(format().await?, "1");

    let json = serde_json::json!({
        "host": "hsts.example.com",
        "routes": [{"zone_id": "z2", "upstreams": [{"url": "http://10.0.0.2:80"}],
                    "policies": {"hsts": {"max_age_secs": 600}}}]
    });
    let with_policies = HostRecord::from_json("hsts.example.com", json.to_string().as_bytes())?;
    let mut batch = ChangeSet::new();
    batch.put_zone(&with_policies);
    assert_eq!(batch.format_needed(), 2);
    let applied = store.apply(&batch).await?;
    assert_eq!(format().await?, "2");

    // A later batch without policies does not lower it, and its feed entry says 2.
    let mut batch = ChangeSet::new();
    batch.put_zone(&zone("plain.example.com", "http://10.0.0.3:80"));
    store.apply(&batch).await?;
    assert_eq!(format().await?, "2");
    let entries = store.feed_after(&applied.feed_id, 10, None).await?;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].format, "2");

    // This build reads format 2 back: the snapshot holds both records.
    let snapshot = store.snapshot().await?;
    assert_eq!(snapshot.zones.len(), 2, "{:?}", snapshot.rejected);
    redis.cleanup().await
}

#[tokio::test]
async fn a_blocking_feed_read_wakes_on_the_next_write() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let store = redis.store();
    // A blocking read holds its connection: the reader gets a client of its own.
    let reader = Store::new(store::connect(redis.url()).await?, redis.keys().clone());
    let (_, last_id) = store.meta().await?;
    let waiting = tokio::spawn(async move { reader.feed_after(&last_id, 10, Some(10_000)).await });

    let mut batch = ChangeSet::new();
    batch.put_zone(&zone("app.example.com", "http://10.0.0.1:80"));
    // The reader may not have issued XREAD yet; keep writing until it has seen one.
    let seen = eventually(
        Duration::from_secs(10),
        "the blocked reader sees a write",
        || {
            let store = store.clone();
            let batch = batch.clone();
            let done = waiting.is_finished();
            async move {
                if done {
                    return Ok(());
                }
                store.apply(&batch).await.map_err(|e| e.to_string())?;
                Err("reader still waiting".to_owned())
            }
        },
    )
    .await;
    seen?;
    let entries = waiting.await??;
    assert!(!entries.is_empty());
    assert_eq!(entries[0].version, 1);
    assert_eq!(entries[0].zones, ["app.example.com"]);
    redis.cleanup().await
}

#[tokio::test]
async fn a_blocking_read_that_times_out_returns_nothing() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let store = redis.store();
    assert!(store.feed_after("", 10, Some(100)).await?.is_empty());
    let mut batch = ChangeSet::new();
    batch.put_zone(&zone("app.example.com", "http://10.0.0.1:80"));
    let applied = store.apply(&batch).await?;
    assert!(
        store
            .feed_after(&applied.feed_id, 10, Some(100))
            .await?
            .is_empty()
    );
    redis.cleanup().await
}

#[tokio::test]
async fn prefixes_isolate_deployments() -> anyhow::Result<()> {
    let a = TestRedis::new().await?;
    let b = TestRedis::new().await?;
    let mut batch = ChangeSet::new();
    batch.put_zone(&zone("app.example.com", "http://10.0.0.1:80"));
    a.store().apply(&batch).await?;
    let snapshot_b = b.store().snapshot().await?;
    assert!(snapshot_b.zones.is_empty());
    assert_eq!(snapshot_b.version, 0);
    assert!(b.all_keys().await?.is_empty());
    let a_keys = a.all_keys().await?;
    assert!(a_keys.iter().all(|k| k.starts_with(a.prefix())));
    a.cleanup().await?;
    b.cleanup().await
}

#[tokio::test]
async fn cleanup_removes_exactly_the_test_prefix() -> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let neighbour = TestRedis::new().await?;
    let mut batch = ChangeSet::new();
    batch.put_zone(&zone("app.example.com", "http://10.0.0.1:80"));
    redis.store().apply(&batch).await?;
    neighbour.store().apply(&batch).await?;
    let prefix = redis.keys().clone();
    let client = neighbour.client().clone();
    redis.cleanup().await?;
    let left: Option<String> = client.get(prefix.version()).await?;
    assert_eq!(left, None);
    assert!(!neighbour.all_keys().await?.is_empty());
    neighbour.cleanup().await
}

/// The fleet view reads what proxies and the cert worker publish, under the prefix only.
#[tokio::test]
async fn the_fleet_view_judges_published_proxy_statuses() -> anyhow::Result<()> {
    use switchyard_shared::model::ProxyStatus;
    use time::OffsetDateTime;

    let redis = TestRedis::new().await?;
    let store = redis.store();
    let keys = redis.keys().clone();
    let mut batch = ChangeSet::new();
    batch.put_zone(&zone("app.example.com", "http://10.0.0.1:8080"));
    store.apply(&batch).await?;
    store.apply(&batch).await?; // version 2

    let empty = store.fleet().await?;
    assert_eq!((empty.version, empty.proxies.len()), (2, 0));
    assert_eq!(empty.cert_worker_heartbeat_age_secs, None);

    let now = OffsetDateTime::now_utc();
    for (id, version) in [("edge-1", 2), ("edge-2", 1)] {
        let status = ProxyStatus {
            reads_format: switchyard_shared::FORMAT_VERSION,
            id: id.into(),
            version,
            heartbeat_at: now,
            applied_at: now,
            zones: 1,
            certs: 0,
            replica_versions_behind: None,
            endpoints_down: 0,
        };
        let _: () = redis
            .client()
            .hset(keys.proxies(), (id, serde_json::to_string(&status)?))
            .await?;
    }
    let beat = now.format(&time::format_description::well_known::Rfc3339)?;
    let _: () = redis
        .client()
        .set(keys.heartbeat("cert-worker"), beat, None, None, false)
        .await?;

    let fleet = store.fleet().await?;
    let judged: Vec<(&str, u64, bool)> = fleet
        .proxies
        .iter()
        .map(|p| (p.id.as_str(), p.version, p.current))
        .collect();
    assert_eq!(judged, [("edge-1", 2, true), ("edge-2", 1, false)]);
    assert!(
        fleet
            .cert_worker_heartbeat_age_secs
            .is_some_and(|a| a < 5.0)
    );
    redis.cleanup().await
}

/// `rediss://` is TLS for real: against a plain-text Redis the handshake fails (a client
/// built without a TLS feature would connect in plain text and succeed).
#[tokio::test]
async fn a_rediss_url_speaks_tls_and_never_falls_back_to_plain_text() {
    let plain = switchyard_tests::redis::redis_url();
    let rest = plain
        .strip_prefix("redis://")
        .expect("the test Redis is plain text (redis://)");
    let tls = format!("rediss://{rest}");
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        switchyard_shared::store::connect(&tls),
    )
    .await
    .expect("the TLS attempt ends");
    let error = match result {
        Ok(_) => panic!("connected to a plain-text Redis over rediss://"),
        Err(e) => e.to_string(),
    };
    assert!(!error.contains("Redis URL"), "the URL was refused: {error}");
}

fn challenge(host: &str, token: &str, expires_in: time::Duration) -> ChallengeRecord {
    ChallengeRecord {
        host: host.to_owned(),
        token: token.to_owned(),
        key_authorization: format!("{token}.thumbprint"),
        expires_at: time::OffsetDateTime::now_utc() + expires_in,
    }
}

#[tokio::test]
async fn challenges_live_until_their_expiry_and_reach_readers_through_the_feed()
-> anyhow::Result<()> {
    let redis = TestRedis::new().await?;
    let store = redis.store();
    let keys = redis.keys().clone();
    let live = challenge("shop.example.net", "tokenA", time::Duration::minutes(3));
    // Published by a worker that died: its key outlives it by a second at most.
    let dead = challenge("shop.example.net", "tokenB", time::Duration::seconds(-5));

    let mut batch = ChangeSet::new();
    batch.put_challenge(&live).put_challenge(&dead);
    let applied = store.apply(&batch).await?;

    // What an operator sees: the record, a TTL of about three minutes, the index.
    let raw: String = redis
        .client()
        .get(keys.acme_challenge("shop.example.net/tokenA"))
        .await?;
    assert_eq!(serde_json::from_str::<ChallengeRecord>(&raw)?, live);
    let ttl: i64 = redis
        .client()
        .ttl(keys.acme_challenge("shop.example.net/tokenA"))
        .await?;
    assert!((170..=180).contains(&ttl), "TTL {ttl}");
    let ttl: i64 = redis
        .client()
        .ttl(keys.acme_challenge("shop.example.net/tokenB"))
        .await?;
    assert!(
        ttl <= 1,
        "an expired challenge's key lives at most a second: {ttl}"
    );
    // The index keeps only what has not expired (pruned by the write itself).
    let indexed: Vec<String> = redis
        .client()
        .custom(
            fred::cmd!("ZRANGE"),
            vec![keys.acme_challenge_index(), "0".into(), "-1".into()],
        )
        .await?;
    assert_eq!(indexed, ["shop.example.net/tokenA"]);

    // The feed names both, zones and certs untouched; a snapshot holds the live one.
    let feed = store.feed_after("0", 10, None).await?;
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].version, applied.version);
    assert_eq!(
        feed[0].challenges,
        ["shop.example.net/tokenA", "shop.example.net/tokenB"]
    );
    assert!(feed[0].zones.is_empty() && feed[0].certs.is_empty());
    assert_eq!(store.snapshot().await?.challenges, vec![live.clone()]);

    // Withdrawn: key and index entry gone, and the feed says so.
    let mut batch = ChangeSet::new();
    batch.delete_challenge(&live.name());
    store.apply(&batch).await?;
    let exists: i64 = redis
        .client()
        .exists(keys.acme_challenge("shop.example.net/tokenA"))
        .await?;
    assert_eq!(exists, 0);
    let snapshot = store.snapshot().await?;
    assert!(snapshot.challenges.is_empty());
    let feed = store.feed_after("0", 10, None).await?;
    assert_eq!(feed[1].challenges, ["shop.example.net/tokenA"]);

    // Entries of writers without challenges have no such field and read as none.
    let mut batch = ChangeSet::new();
    batch.put_zone(&zone("app.example.com", "http://10.0.0.1:8080"));
    let applied = store.apply(&batch).await?;
    let raw: Vec<(String, std::collections::HashMap<String, String>)> = redis
        .client()
        .xrange(keys.changes(), applied.feed_id.as_str(), "+", None)
        .await?;
    assert!(!raw[0].1.contains_key("challenges"), "{raw:?}");
    assert!(
        store.feed_after("0", 10, None).await?[2]
            .challenges
            .is_empty()
    );
    redis.cleanup().await?;
    Ok(())
}
