//! The whole stack as users run it: the real `panel-api` and `switchyard-proxy`
//! binaries on a test database and a Redis prefix of their own, real local upstreams.
//!
//! - A user created by the admin and granted a domain creates a zone with an API key;
//!   within a second a request through the proxy reaches the backend; an update
//!   switches traffic; a delete gives 404; another user can neither see nor touch it.
//! - Two proxies on one Redis converge on the same version after a burst of 1,000
//!   writes through the API.
//! - With the cert worker and Pebble: a domain on a `manual` DNS credential gets its
//!   wildcard certificate once the operator publishes the TXT records the panel shows;
//!   the panel reports it active and serving the zone, and the proxy presents exactly
//!   that certificate by SNI.
//! - With fake DNS provider APIs: a domain whose credential is a Cloudflare token gets
//!   its wildcard with no operator step (the TXT records published through the API and
//!   removed after) and the proxy serves it; a domain whose DigitalOcean token is revoked
//!   says why in the panel, without the token.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::client;
use switchyard_tests::dns_providers::{Kind, Mode, TOKEN};
use switchyard_tests::eventually::eventually;
use switchyard_tests::proxy::Proxy;
use switchyard_tests::stack::{Auth, Stack, zone_body};
use switchyard_tests::upstream::Upstream;

fn zone(host: &str, upstream: &Upstream) -> Value {
    zone_body(host, &upstream.url())
}

/// Polls the proxy until `host` answers with `status` from `upstream` (or with no
/// upstream, for the proxy's own answers); how long it took.
async fn until_routed(
    proxy: &Proxy,
    host: &str,
    status: u16,
    upstream: Option<&str>,
    deadline: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let want = (status, upstream.map(str::to_owned));
    eventually(deadline, &format!("{host} answers {want:?}"), || {
        let want = want.clone();
        async move {
            let seen = proxy.route(host, "/").await?;
            (seen == want).then_some(()).ok_or(format!("{seen:?}"))
        }
    })
    .await?;
    Ok(started.elapsed())
}

#[tokio::test]
async fn a_users_zone_reaches_the_proxy_follows_changes_and_stays_private() -> anyhow::Result<()> {
    let stack = Stack::builder().proxies(1).build().await?;
    let (panel, proxy) = (&stack.panel, &stack.proxies[0]);
    let (one, two) = (Upstream::echo("one").await, Upstream::echo("two").await);

    let admin = stack.admin_key().await?;
    let alice = panel
        .create_user(&admin, "alice", "alice password 1")
        .await?;
    panel.create_user(&admin, "bob", "bob password 123").await?;
    let domain = panel.create_domain(&admin, "e2e.test").await?;
    panel
        .grant(&admin, &alice["id"], &domain["id"], "edit")
        .await?;
    let alice_key = panel.key("alice", "alice password 1").await?;
    let bob_key = panel.key("bob", "bob password 123").await?;

    // Before the zone exists the proxy answers 404 itself.
    let (status, _) = proxy
        .route("app.e2e.test", "/")
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(status, 404);
    let created = panel
        .create_zone(&alice_key, zone("app.e2e.test", &one))
        .await?;
    let id = created["id"].as_str().unwrap().to_owned();
    let took = until_routed(
        proxy,
        "app.e2e.test",
        200,
        Some("one"),
        Duration::from_secs(1),
    )
    .await?;
    eprintln!("zone created → routed by the proxy in {took:?}");

    panel
        .update_zone(&alice_key, &id, zone("app.e2e.test", &two))
        .await?;
    until_routed(
        proxy,
        "app.e2e.test",
        200,
        Some("two"),
        Duration::from_secs(5),
    )
    .await?;

    // Bob has no grant: the zone does not exist for him, and his writes change nothing.
    let path = format!("/zones/{id}");
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(zone("app.e2e.test", &one))),
        (Method::DELETE, None),
    ] {
        let r = panel
            .call(method.clone(), &path, Auth::Bearer(&bob_key), body)
            .await?;
        assert_eq!(r.status, 404, "{method} by bob: {}", r.json);
    }
    let listed = panel.zones(&bob_key).await?;
    assert_eq!(listed["total"], 0, "{listed}");
    let theft = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&bob_key),
            Some(zone("evil.e2e.test", &one)),
        )
        .await?;
    assert_eq!(theft.status, 422, "{}", theft.json);
    let (status, upstream) = proxy
        .route("app.e2e.test", "/")
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!((status, upstream.as_deref()), (200, Some("two")));
    let (status, _) = proxy
        .route("evil.e2e.test", "/")
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(status, 404);

    panel.delete_zone(&alice_key, &id).await?;
    until_routed(proxy, "app.e2e.test", 404, None, Duration::from_secs(5)).await?;
    assert!(one.request_count() >= 1 && two.request_count() >= 1);

    stack.finish().await
}

#[tokio::test]
async fn two_proxies_converge_after_a_burst_of_1000_writes() -> anyhow::Result<()> {
    let stack = Stack::builder().proxies(2).build().await?;
    let (panel, proxies) = (&stack.panel, &stack.proxies);
    let redis = stack.redis.as_ref().expect("a prefix on the test Redis");
    let upstream = Upstream::echo("burst").await;
    let admin = stack.admin_key().await?;
    panel.create_domain(&admin, "burst.test").await?;

    // 1,000 single writes, eight at a time: 600 creates, then 250 updates (moved
    // under /v2) and 150 deletes of those; 200 stay as created.
    let mut hosts: Vec<(String, String)> = Vec::new();
    let mut writes = tokio::task::JoinSet::new();
    let (http, base) = (panel.http.clone(), panel.base.clone());
    let send = |method: Method, path: String, body: Option<Value>| {
        let (http, base, admin) = (http.clone(), base.clone(), admin.clone());
        async move {
            let mut request = http
                .request(method, format!("{base}{path}"))
                .bearer_auth(admin);
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            let r = request.send().await?;
            let status = r.status().as_u16();
            let json: Value = serde_json::from_str(&r.text().await?).unwrap_or(Value::Null);
            anyhow::Ok((status, json))
        }
    };
    let created = |json: &Value| {
        (
            json["id"].as_str().unwrap_or_default().to_owned(),
            json["hostname"].as_str().unwrap_or_default().to_owned(),
        )
    };
    for i in 0..600 {
        if writes.len() >= 8 {
            let (status, json) = writes.join_next().await.unwrap()??;
            anyhow::ensure!(status == 201, "create: {status} {json}");
            hosts.push(created(&json));
        }
        writes.spawn(send(
            Method::POST,
            "/zones".into(),
            Some(zone(&format!("h{i}.burst.test"), &upstream)),
        ));
    }
    while let Some(done) = writes.join_next().await {
        let (status, json) = done??;
        anyhow::ensure!(status == 201, "create: {status} {json}");
        hosts.push(created(&json));
    }
    hosts.sort();
    for (n, (id, host)) in hosts.iter().enumerate().take(400) {
        let (method, body) = if n < 250 {
            let mut z = zone(host, &upstream);
            z["path_prefix"] = json!("/v2");
            (Method::PUT, Some(z))
        } else {
            (Method::DELETE, None)
        };
        if writes.len() >= 8 {
            let (status, json) = writes.join_next().await.unwrap()??;
            anyhow::ensure!(matches!(status, 200 | 204), "write: {status} {json}");
        }
        writes.spawn(send(method, format!("/zones/{id}"), body));
    }
    while let Some(done) = writes.join_next().await {
        let (status, json) = done??;
        anyhow::ensure!(matches!(status, 200 | 204), "write: {status} {json}");
    }

    // Both proxies reach the version Redis holds (read again each time: the panel's
    // outbox replay may add one), and route the end state alike.
    let redis_version = || async {
        use fred::prelude::KeysInterface as _;
        let v: Option<u64> = redis
            .client()
            .get(redis.keys().version())
            .await
            .map_err(|e| e.to_string())?;
        Ok::<u64, String>(v.unwrap_or(0))
    };
    let version = eventually(
        Duration::from_secs(20),
        "both proxies are current",
        || async {
            let version = redis_version().await?;
            let mut seen = Vec::new();
            for proxy in proxies {
                let status = proxy.status().await.map_err(|e| e.to_string())?;
                seen.push(status["version"].as_u64());
            }
            match seen.iter().all(|v| *v == Some(version)) {
                true => Ok(version),
                false => Err(format!("Redis at {version}, proxies at {seen:?}")),
            }
        },
    )
    .await?;
    assert!(version >= 1000, "one version per write at least: {version}");
    for proxy in proxies {
        let status = proxy.status().await?;
        assert_eq!(status["zones"], 450, "hostnames left: {status}");
    }
    for (n, (_, host)) in hosts.iter().enumerate() {
        let want = match n {
            0..400 => (404, None), // moved under /v2, or deleted
            _ => (200, Some("burst".to_owned())),
        };
        for proxy in proxies {
            let seen = proxy.route(host, "/").await.map_err(anyhow::Error::msg)?;
            assert_eq!(seen, want, "{host} via {}", proxy.id);
        }
        if n < 250 {
            for proxy in proxies {
                let seen = proxy
                    .route(host, "/v2/x")
                    .await
                    .map_err(anyhow::Error::msg)?;
                assert_eq!(
                    seen,
                    (200, Some("burst".to_owned())),
                    "{host}/v2 via {}",
                    proxy.id
                );
            }
        }
    }
    stack.finish().await
}

/// After a write, health reports every proxy at the write's version with `applied_at`
/// shortly after the write's `committed_at`, and does so long before the next 5-second
/// heartbeat: proxies publish their status as soon as they apply a new version.
#[tokio::test]
async fn health_reports_every_proxy_live_shortly_after_a_write() -> anyhow::Result<()> {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    let stack = Stack::builder().proxies(2).build().await?;
    let (panel, proxies) = (&stack.panel, &stack.proxies);
    let upstream = Upstream::echo("live").await;
    let admin = stack.admin_key().await?;
    panel.create_domain(&admin, "live.test").await?;
    let time_of = |v: &Value| {
        v.as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .ok_or_else(|| format!("not a time: {v}"))
    };
    // Three writes in a row: each must show on every proxy within a second, where a
    // status published only with the heartbeat (every 5 s) could not keep up.
    for i in 0..3 {
        let written = panel
            .create_zone(&admin, zone(&format!("w{i}.live.test"), &upstream))
            .await?;
        let version = written["version"].as_u64().expect("the write's version");
        let committed = time_of(&written["committed_at"]).map_err(anyhow::Error::msg)?;
        let lags = eventually(
            Duration::from_secs(1),
            "health shows every proxy at the write's version",
            || async {
                let health = panel.health().await.map_err(|e| e.to_string())?.json;
                let listed = health["proxies"].as_array().cloned().unwrap_or_default();
                let mut lags = Vec::new();
                for proxy in proxies {
                    let p = listed
                        .iter()
                        .find(|p| p["id"] == proxy.id.as_str())
                        .ok_or_else(|| format!("{} not listed: {health}", proxy.id))?;
                    if p["applied_version"].as_u64() < Some(version) {
                        return Err(format!(
                            "{} at {}: {health}",
                            proxy.id, p["applied_version"]
                        ));
                    }
                    let age = p["heartbeat_age_secs"].as_f64().unwrap_or(f64::MAX);
                    if age > 5.0 {
                        return Err(format!("{} heartbeat {age} s old", proxy.id));
                    }
                    lags.push(time_of(&p["applied_at"])? - committed);
                }
                Ok(lags)
            },
        )
        .await?;
        for lag in lags {
            // Same machine, same clock: applied after the commit (a few ms of slack for
            // rounding), and well within the second.
            assert!(
                lag > -time::Duration::milliseconds(5) && lag < time::Duration::seconds(1),
                "applied {lag} after the commit"
            );
        }
    }
    stack.finish().await
}

/// Polls `GET /domains/{id}/certificate` (a minute at most: a debug cert worker, Pebble)
/// until `ready` accepts it; the cert worker's log is in the error.
async fn certificate_until(
    stack: &Stack,
    key: &str,
    domain_id: &str,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    eventually(
        Duration::from_secs(60),
        &format!("the domain's certificate: {what}"),
        || async {
            let cert = stack
                .panel
                .domain_certificate(key, domain_id)
                .await
                .map_err(|e| e.to_string())?;
            match ready(&cert) {
                true => Ok(cert),
                false => Err(cert.to_string()),
            }
        },
    )
    .await
    .with_context(|| {
        let worker = stack.cert_worker.as_ref();
        worker.map(|w| w.log_tail(30)).unwrap_or_default()
    })
}

/// The leaf of `*.{domain}`'s certificate as published in the stack's Redis (DER).
async fn published_leaf(stack: &Stack, domain: &str) -> anyhow::Result<Vec<u8>> {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    let redis = stack.redis.as_ref().context("a prefix on the test Redis")?;
    let mut published = redis.store().certs(&[format!("*.{domain}")]).await?;
    let record = published
        .remove(0)
        .1
        .context("the certificate's key in Redis")??;
    Ok(CertificateDer::pem_slice_iter(record.chain_pem.as_bytes())
        .next()
        .context("a leaf in the stored chain")??
        .as_ref()
        .to_vec())
}

/// The leaf the proxy presents for `name` by SNI to a client trusting `root`, once it
/// presents one (10 s at most: the certificate travels through Redis).
async fn presented(proxy: &Proxy, name: &str, root: &str) -> anyhow::Result<Vec<u8>> {
    eventually(
        Duration::from_secs(10),
        &format!("the proxy presents a certificate for {name}"),
        || async {
            client::presented_leaf(proxy.https(), name, root)
                .await
                .map_err(|e| format!("{e:#}"))
        },
    )
    .await
    .with_context(|| proxy.log_tail())
}

/// The operator's path to HTTPS with a `manual` DNS credential, every service a real
/// process: the panel shows the TXT records the cert worker's order waits for, the
/// operator publishes them (in challtestsrv, Pebble's DNS), and the certificate becomes
/// active, covers the zone, and is what the proxy presents for the zone's hostname.
#[tokio::test]
async fn a_manual_dns_domain_gets_its_certificate_issued_and_served_by_sni() -> anyhow::Result<()> {
    const DOMAIN: &str = "stack-manual.com";
    const HOST: &str = "app.stack-manual.com";
    let stack = Stack::builder()
        .proxy(|o| o.https())
        .acme()
        .cert_worker()
        .build()
        .await?;
    let (panel, proxy) = (&stack.panel, &stack.proxies[0]);
    let acme = stack.acme.as_ref().context("the stack's Pebble")?;
    let upstream = Upstream::echo("tls").await;
    let admin = stack.admin_key().await?;

    let credential = panel
        .create_manual_dns_credential(&admin, "operator publishes")
        .await?;
    let domain = panel
        .create_domain_with_credential(&admin, DOMAIN, &credential["id"])
        .await?;
    let domain_id = domain["id"].as_str().context("the domain's id")?;
    let created = panel.create_zone(&admin, zone(HOST, &upstream)).await?;
    let zone_id = created["id"].as_str().context("the zone's id")?;
    let root = acme.pebble.issuing_root().await?;

    // The order waits for the operator: the panel says what to publish where.
    let waiting = certificate_until(&stack, &admin, domain_id, "manual_dns is shown", |c| {
        !c["manual_dns"].is_null()
    })
    .await?;
    let manual = &waiting["manual_dns"];
    assert_eq!(
        manual["name"],
        format!("_acme-challenge.{DOMAIN}"),
        "{manual}"
    );
    let values = manual["values"].as_array().context("manual_dns.values")?;
    assert_eq!(
        values.len(),
        2,
        "one value each for *.{DOMAIN} and {DOMAIN}: {manual}"
    );
    assert_eq!(waiting["status"], "pending", "{waiting}");
    let uncovered = panel.zone_certificate(&admin, zone_id).await?;
    assert_eq!(uncovered["certificate"], Value::Null, "{uncovered}");
    assert!(
        client::presented_leaf(proxy.https(), HOST, &root)
            .await
            .is_err(),
        "no certificate for {HOST} before issuance"
    );

    for value in values {
        let value = value.as_str().context("a TXT value")?;
        acme.dns
            .set_txt(&format!("_acme-challenge.{DOMAIN}"), value)
            .await?;
    }
    let active = certificate_until(&stack, &admin, domain_id, "status active", |c| {
        c["status"] == "active"
    })
    .await?;
    assert_eq!(
        active["names"],
        json!([format!("*.{DOMAIN}"), DOMAIN]),
        "{active}"
    );
    assert_eq!(
        active["manual_dns"],
        Value::Null,
        "nothing left to publish: {active}"
    );
    assert_eq!(active["last_error"], Value::Null, "{active}");
    assert!(active["not_after"].is_string(), "{active}");

    // The panel: the zone's hostname is served by this certificate, through its wildcard.
    let served = panel.zone_certificate(&admin, zone_id).await?;
    let serving = &served["certificate"];
    assert_eq!(serving["source"], "issued", "{served}");
    assert_eq!(serving["id"], active["id"], "{served}");
    assert_eq!(serving["coverage"], "wildcard", "{served}");
    assert_eq!(serving["not_after"], active["not_after"], "{served}");

    // The proxy presents exactly the stored certificate for the zone's hostname and for
    // the apex (the leaf published in Redis), and a client trusting only Pebble's root
    // reaches the upstream through it.
    let stored_leaf = published_leaf(&stack, DOMAIN).await?;
    for name in [HOST, DOMAIN] {
        let leaf = presented(proxy, name, &root).await?;
        assert!(
            leaf == stored_leaf,
            "{name}: the proxy presents another certificate"
        );
    }
    let reply = client::https_get(proxy.https(), HOST, "/", &root).await?;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header(switchyard_tests::upstream::UPSTREAM_HEADER),
        Some("tls")
    );
    stack.finish().await
}

/// The automated path: the panel's DNS credentials point at provider APIs (local fakes
/// that write into Pebble's DNS), the cert worker publishes and removes the TXT records
/// itself, and the proxy serves the result; a provider refusing the token leaves a
/// reason the operator can read.
#[tokio::test]
async fn provider_api_domains_are_issued_unattended_or_say_why_not() -> anyhow::Result<()> {
    const GOOD: &str = "stack-cf.com";
    const HOST: &str = "app.stack-cf.com";
    const REVOKED: &str = "stack-do.com";
    let stack = Stack::builder()
        .proxy(|o| o.https())
        .dns_provider(Kind::Cloudflare, GOOD, Mode::Normal)
        .dns_provider(Kind::DigitalOcean, REVOKED, Mode::Unauthorized)
        .cert_worker()
        .build()
        .await?;
    let (panel, proxy) = (&stack.panel, &stack.proxies[0]);
    let (cloudflare, digitalocean) = (&stack.dns_providers[0], &stack.dns_providers[1]);
    let acme = stack.acme.as_ref().context("the stack's Pebble")?;
    let upstream = Upstream::echo("cf").await;
    let admin = stack.admin_key().await?;

    let cf = panel
        .create_dns_credential(&admin, "cloudflare", cloudflare)
        .await?;
    assert_eq!(cf["provider"], "cloudflare", "{cf}");
    let good = panel
        .create_domain_with_credential(&admin, GOOD, &cf["id"])
        .await?;
    let good_id = good["id"].as_str().context("the domain's id")?;
    let revoked = panel
        .create_dns_credential(&admin, "digitalocean", digitalocean)
        .await?;
    let bad = panel
        .create_domain_with_credential(&admin, REVOKED, &revoked["id"])
        .await?;
    let bad_id = bad["id"].as_str().context("the domain's id")?;
    panel.create_zone(&admin, zone(HOST, &upstream)).await?;
    let root = acme.pebble.issuing_root().await?;

    let active = certificate_until(&stack, &admin, good_id, "status active", |c| {
        c["status"] == "active"
    })
    .await?;
    assert_eq!(
        active["names"],
        json!([format!("*.{GOOD}"), GOOD]),
        "{active}"
    );
    assert_eq!(
        active["manual_dns"],
        Value::Null,
        "no operator step: {active}"
    );
    // The worker published one record per name through the API and removed both.
    let calls = cloudflare.calls();
    let created = calls.iter().filter(|c| c.starts_with("POST ")).count();
    let deleted = calls.iter().filter(|c| c.starts_with("DELETE ")).count();
    assert!(created >= 2, "records created through the API: {calls:?}");
    assert_eq!(created, deleted, "every record removed again: {calls:?}");
    assert_eq!(cloudflare.records(), vec![], "nothing left at the provider");

    let leaf = presented(proxy, HOST, &root).await?;
    assert!(
        leaf == published_leaf(&stack, GOOD).await?,
        "the proxy presents another certificate"
    );
    let reply = client::https_get(proxy.https(), HOST, "/", &root).await?;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header(switchyard_tests::upstream::UPSTREAM_HEADER),
        Some("cf")
    );

    // The revoked token: the order fails, the panel says which provider refused and how,
    // and never shows the token.
    let failed = certificate_until(&stack, &admin, bad_id, "a last error", |c| {
        !c["last_error"].is_null()
    })
    .await?;
    assert_ne!(failed["status"], "active", "{failed}");
    let error = failed["last_error"].as_str().context("last_error")?;
    assert!(error.contains("digitalocean"), "{error}");
    assert!(error.contains("HTTP 401"), "{error}");
    assert!(!failed.to_string().contains(TOKEN), "{failed}");
    assert_eq!(digitalocean.records(), vec![], "{failed}");
    stack.finish().await
}
