//! Lifecycle: domains changed and deleted (refused while zones use them, cascaded with
//! their zones, certificate, ACME orders and Redis keys), users deleted with everything
//! of theirs, a user's own password change, and `?dry_run=true` on every write —
//! PostgreSQL and Redis compared before and after.

mod common;

use std::collections::BTreeMap;

use common::*;
use fred::prelude::KeysInterface as _;
use reqwest::Method;
use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
use serde_json::{Value, json};
use switchyard_shared::{CertRecord, ChangeSet, HostPattern};

/// Every table the panel writes, each as one digest of all its rows (`api_keys` without
/// `last_used_at`, which any use of a key may touch).
const TABLES: &[(&str, &str)] = &[
    ("users", "users"),
    ("sessions", "sessions"),
    (
        "api_keys",
        "(SELECT id, user_id, name, prefix, secret_hash, expires_at, revoked_at, created_at FROM api_keys)",
    ),
    ("domains", "domains"),
    ("certificates", "certificates"),
    ("acme_orders", "acme_orders"),
    ("zones", "zones"),
    ("named_backends", "named_backends"),
    ("grants", "grants"),
    ("dns_credentials", "dns_credentials"),
    ("audit_log", "audit_log"),
    ("redis_outbox", "redis_outbox"),
];

/// PostgreSQL's rows and Redis's routing keys (zones, certificates, version, feed) as
/// they are now; the panel's own degraded-mode memory (`panel:`) is left out.
async fn snapshot(panel: &Panel) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (name, source) in TABLES {
        let row = panel
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') \
                     AS digest FROM {source} t"
                ),
            ))
            .await?
            .expect("one row");
        out.insert(format!("pg {name}"), row.try_get::<String>("", "digest")?);
    }
    let keys = panel.redis.keys();
    for key in panel.redis.all_keys().await? {
        let rest = key.strip_prefix(keys.prefix()).unwrap_or(&key);
        if rest.starts_with("panel:") {
            continue;
        }
        let value: Option<String> = panel
            .redis
            .client()
            .get(&key)
            .await
            .unwrap_or(Some("(not a string)".into()));
        out.insert(format!("redis {rest}"), value.unwrap_or_default());
    }
    Ok(out)
}

fn assert_same(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>, what: &str) {
    for (k, v) in before {
        assert_eq!(after.get(k), Some(v), "{what} changed {k}");
    }
    assert_eq!(before.len(), after.len(), "{what} added keys: {after:?}");
}

/// What cert-worker publishes for a domain: `cert:*.<domain>`.
async fn publish_cert(panel: &Panel, domain: &str) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let record = CertRecord {
        name: HostPattern::parse(&format!("*.{domain}"))?,
        names: vec![
            HostPattern::parse(&format!("*.{domain}"))?,
            HostPattern::parse(domain)?,
        ],
        chain_pem: "-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n".into(),
        key_pem: "-----BEGIN PRIVATE KEY-----\ntest\n-----END PRIVATE KEY-----\n".into(),
        not_before: now,
        not_after: now + time::Duration::days(90),
        source: Default::default(),
    };
    let mut changes = ChangeSet::new();
    changes.put_cert(&record);
    panel.redis.store().apply(&changes).await?;
    Ok(())
}

async fn cert_key(panel: &Panel, domain: &str) -> anyhow::Result<Option<String>> {
    Ok(panel
        .redis
        .client()
        .get(panel.redis.keys().cert(&format!("*.{domain}")))
        .await?)
}

/// Rows of `sql` (a count).
async fn count(panel: &Panel, sql: &str) -> anyhow::Result<i64> {
    let row = panel
        .db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await?
        .expect("one row");
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// An ACME order of cert-worker's for the domain's certificate (`outcome`).
async fn acme_order(panel: &Panel, domain_id: &str, outcome: &str) -> anyhow::Result<()> {
    panel
        .db
        .execute_unprepared(&format!(
            "INSERT INTO acme_accounts (directory_url, credentials_ciphertext) \
             VALUES ('https://ca.test/{outcome}', '\\x00'::bytea) ON CONFLICT DO NOTHING; \
             INSERT INTO acme_orders (certificate_id, account_id, outcome, dns_records) \
             SELECT c.id, a.id, '{outcome}', '[]'::jsonb FROM certificates c, acme_accounts a \
             WHERE c.domain_id = '{domain_id}' AND a.directory_url = 'https://ca.test/{outcome}'"
        ))
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_domain_in_use_is_refused_then_deleted_with_its_zones_certificate_and_keys()
-> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "example.com").await?;
    let other = panel.domain(&admin, "other.test").await?;
    panel.zone(&admin, "app.example.com").await?;
    panel.zone(&admin, "*.example.com").await?;
    let api = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&admin),
            Some(zone("app.example.com", "/api", "http://127.0.0.1:9002")),
        )
        .await?;
    assert_eq!(api.status, 201, "{}", api.json);
    panel.zone(&admin, "www.other.test").await?;
    let user = panel.user(&admin, "tenant", "tenant-password-123").await?;
    panel.grant(&admin, &user, &domain, "edit").await?;
    panel.grant(&admin, &user, &other, "read").await?;
    publish_cert(&panel, "example.com").await?;
    publish_cert(&panel, "other.test").await?;
    acme_order(&panel, &domain, "started").await?;
    acme_order(&panel, &domain, "issued").await?;
    assert!(panel.zone_record("app.example.com").await?.is_some());

    // In use: 409 naming the zones and how many; nothing changed, dry run or not.
    let before = snapshot(&panel).await?;
    for path in [
        format!("/domains/{domain}"),
        format!("/domains/{domain}?dry_run=true"),
    ] {
        let reply = panel
            .call(Method::DELETE, &path, Auth::Bearer(&admin), None)
            .await?;
        assert_eq!(reply.status, 409, "{}", reply.json);
        let message = reply.json["error"]["message"].as_str().unwrap();
        assert!(message.contains("3 zone(s)"), "{message}");
        assert!(
            message.contains("\"app.example.com\" with path prefix \"/api\""),
            "{message}"
        );
        assert!(message.contains("\"*.example.com\""), "{message}");
        assert!(message.contains("cascade=true"), "{message}");
        let details = reply.json["error"]["details"].as_array().unwrap();
        assert_eq!(details[0]["field"], "cascade");
        assert_eq!(details.len(), 4, "{details:?}");
    }
    assert_same(&before, &snapshot(&panel).await?, "a refused delete");

    // The dry run of the cascade: every zone, the certificate, the grant; nothing changed.
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/domains/{domain}?dry_run=true&cascade=true"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let diff = &reply.json;
    assert_eq!(diff["dry_run"], true);
    assert_eq!(diff["version"], Value::Null);
    let deleted: Vec<&str> = diff["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(deleted.len(), 3, "{diff}");
    assert!(deleted.contains(&"*.example.com"));
    let records = diff["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "one record per hostname: {records:?}");
    assert!(
        records
            .iter()
            .all(|r| r["after"].is_null() && r["before"].is_object())
    );
    let actions: Vec<&str> = diff["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["certificate.delete", "grant.delete", "domain.delete"]
    );
    let cert = &diff["changes"][0]["before"];
    assert_eq!(cert["names"], json!(["*.example.com", "example.com"]));
    assert_eq!(cert["acme_orders"], 2);
    assert_eq!(cert["pending_acme_orders"], 1);
    assert_eq!(
        cert["redis_key"],
        panel.redis.keys().cert("*.example.com").as_str()
    );
    assert_same(&before, &snapshot(&panel).await?, "a dry run");

    // The real one: 204 with the version it produced.
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/domains/{domain}?cascade=true"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 204, "{}", reply.json);
    let version: u64 = reply.headers["x-switchyard-version"].to_str()?.parse()?;
    assert!(reply.headers.contains_key("x-switchyard-committed-at"));
    let (live, _) = panel.redis.store().meta().await?;
    assert_eq!(version, live);

    // PostgreSQL: the domain, its zones, certificate, orders and grant are gone.
    let of = |table: &str, column: &str| {
        format!("SELECT count(*) FROM {table} WHERE {column} = '{domain}'")
    };
    assert_eq!(count(&panel, &of("domains", "id")).await?, 0);
    assert_eq!(count(&panel, &of("zones", "domain_id")).await?, 0);
    assert_eq!(count(&panel, &of("certificates", "domain_id")).await?, 0);
    assert_eq!(count(&panel, &of("grants", "domain_id")).await?, 0);
    assert_eq!(count(&panel, "SELECT count(*) FROM acme_orders").await?, 0);
    assert_eq!(count(&panel, "SELECT count(*) FROM redis_outbox").await?, 0);
    // Redis: the zones' records and the certificate are gone; the other domain's stay.
    assert!(panel.zone_record("app.example.com").await?.is_none());
    assert!(panel.zone_record("*.example.com").await?.is_none());
    assert!(cert_key(&panel, "example.com").await?.is_none());
    let certs: Vec<String> = fred::prelude::SetsInterface::smembers(
        panel.redis.client(),
        panel.redis.keys().cert_index(),
    )
    .await?;
    assert_eq!(certs, ["*.other.test"]);
    assert!(panel.zone_record("www.other.test").await?.is_some());
    assert!(cert_key(&panel, "other.test").await?.is_some());
    // The other grant stays; the audit log has each deletion.
    assert_eq!(count(&panel, "SELECT count(*) FROM grants").await?, 1);
    assert_eq!(panel.audit_count("zone.delete").await?, 3);
    assert_eq!(panel.audit_count("certificate.delete").await?, 1);
    assert_eq!(panel.audit_count("grant.delete").await?, 1);
    assert_eq!(panel.audit_count("domain.delete").await?, 1);

    let reply = panel
        .call(
            Method::GET,
            &format!("/domains/{domain}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 404);
    // The name is free again.
    panel.domain(&admin, "example.com").await?;
    panel.stop().await
}

/// A second panel's configuration on the test's database and key prefix.
fn config(panel: &Panel, redis_url: &str) -> anyhow::Result<panel_api::Config> {
    Ok(<panel_api::Config as clap::Parser>::try_parse_from([
        "panel-api",
        "--database-url",
        panel.database.as_ref().unwrap().url(),
        "--redis-url",
        redis_url,
        "--key-prefix",
        panel.redis.prefix(),
        "--listen",
        "127.0.0.1:0",
    ])?)
}

#[tokio::test]
async fn a_domain_deleted_while_redis_is_down_leaves_redis_through_the_outbox() -> anyhow::Result<()>
{
    // A panel whose Redis is a closed port: the delete commits and queues; a panel on
    // the real Redis (the same database) replays the outbox at start.
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "queued.test").await?;
    panel.zone(&admin, "www.queued.test").await?;
    publish_cert(&panel, "queued.test").await?;
    // Redis goes away for the panel: its writes fail and stay in the outbox.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?;
    let dead = format!("redis://{}", closed.local_addr()?);
    drop(closed);
    let cut = panel_api::prepare(&config(&panel, &dead)?).await?;
    let caller = panel_api::service::Caller::system("test");
    let diff = panel_api::service::domains::delete(
        &cut,
        &cut.credentials,
        &caller,
        domain.parse()?,
        true,
        false,
    )
    .await?;
    assert_eq!(diff.version, None, "Redis did not answer");
    assert_eq!(count(&panel, "SELECT count(*) FROM redis_outbox").await?, 2);
    assert!(panel.zone_record("www.queued.test").await?.is_some());
    assert!(cert_key(&panel, "queued.test").await?.is_some());

    // Replayed: both leave Redis in one batch.
    let live = panel_api::prepare(&config(&panel, panel.redis.url())?).await?;
    panel_api::service::sync::replay_all(&live).await;
    assert_eq!(count(&panel, "SELECT count(*) FROM redis_outbox").await?, 0);
    assert!(panel.zone_record("www.queued.test").await?.is_none());
    assert!(cert_key(&panel, "queued.test").await?.is_none());
    panel.stop().await
}

#[tokio::test]
async fn a_domains_dns_credential_is_changed_checked_and_kept_in_use() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "example.com").await?;
    let made = panel
        .call(
            Method::POST,
            "/dns-credentials",
            Auth::Bearer(&admin),
            Some(json!({"name": "by-hand", "provider": "manual"})),
        )
        .await?;
    assert_eq!(made.status, 201, "{}", made.json);
    let cred = made.json["id"].as_str().unwrap().to_owned();
    let path = format!("/domains/{domain}");

    // Bad input: 422 naming the field and what is allowed, nothing changed.
    let before = snapshot(&panel).await?;
    let missing = uuid::Uuid::new_v4();
    for (body, field) in [
        (json!({"dns_credential_id": missing}), "dns_credential_id"),
        (
            json!({"dns_credential_id": "not-a-uuid"}),
            "dns_credential_id",
        ),
        (json!({"dns_credential_id": 7}), "dns_credential_id"),
        (json!({"name": "renamed.com"}), "name"),
    ] {
        let reply = panel
            .call(
                Method::PATCH,
                &path,
                Auth::Bearer(&admin),
                Some(body.clone()),
            )
            .await?;
        assert_eq!(reply.status, 422, "{body}: {}", reply.json);
        let details = reply.json["error"]["details"].to_string();
        assert!(details.contains(field), "{body}: {details}");
    }
    let reply = panel
        .call(
            Method::PATCH,
            &format!("/domains/{missing}"),
            Auth::Bearer(&admin),
            Some(json!({"dns_credential_id": cred})),
        )
        .await?;
    assert_eq!(reply.status, 404);
    // A dry run answers the change and makes none.
    let reply = panel
        .call(
            Method::PATCH,
            &format!("{path}?dry_run=true"),
            Auth::Bearer(&admin),
            Some(json!({"dns_credential_id": cred})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["dry_run"], true);
    assert_eq!(reply.json["changes"][0]["action"], "domain.update");
    assert_eq!(
        reply.json["changes"][0]["before"]["dns_credential_id"],
        Value::Null
    );
    assert_eq!(
        reply.json["changes"][0]["after"]["dns_credential_id"],
        cred.as_str()
    );
    assert_same(
        &before,
        &snapshot(&panel).await?,
        "refused and dry-run patches",
    );

    let reply = panel
        .call(
            Method::PATCH,
            &path,
            Auth::Bearer(&admin),
            Some(json!({"dns_credential_id": cred})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["dns_credential_id"], cred.as_str());
    assert_eq!(reply.json["name"], "example.com");
    assert_eq!(panel.audit_count("domain.update").await?, 1);
    // The same again changes nothing and records nothing.
    let reply = panel
        .call(
            Method::PATCH,
            &path,
            Auth::Bearer(&admin),
            Some(json!({"dns_credential_id": cred})),
        )
        .await?;
    assert_eq!(reply.status, 200);
    assert_eq!(panel.audit_count("domain.update").await?, 1);
    // In use: the credential cannot go, and the 409 names the domain.
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/dns-credentials/{cred}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 409, "{}", reply.json);
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("example.com")
    );
    // `null` clears it; then it can go.
    let reply = panel
        .call(
            Method::PATCH,
            &path,
            Auth::Bearer(&admin),
            Some(json!({"dns_credential_id": null})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["dns_credential_id"], Value::Null);
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/dns-credentials/{cred}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 204, "{}", reply.json);
    panel.stop().await
}

#[tokio::test]
async fn a_domains_certificate_choice_is_checked_dry_run_and_audited() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "example.com").await?;
    let path = format!("/domains/{domain}");
    // The default, shown.
    let reply = panel
        .call(Method::GET, &path, Auth::Bearer(&admin), None)
        .await?;
    assert_eq!(reply.json["certificates"], "wildcard", "{}", reply.json);

    // A bad value, in a patch or a new domain: 422 naming the field, the value and the
    // values allowed; nothing changed.
    let before = snapshot(&panel).await?;
    for (method, at, body) in [
        (
            Method::PATCH,
            path.as_str(),
            json!({"certificates": "per_name"}),
        ),
        (Method::PATCH, path.as_str(), json!({"certificates": null})),
        (
            Method::POST,
            "/domains",
            json!({"name": "other.com", "certificates": "per_name"}),
        ),
    ] {
        let reply = panel
            .call(method, at, Auth::Bearer(&admin), Some(body.clone()))
            .await?;
        assert_eq!(reply.status, 422, "{body}: {}", reply.json);
        let detail = &reply.json["error"]["details"][0];
        assert_eq!(detail["field"], "certificates", "{body}: {}", reply.json);
        let problem = detail["problem"].as_str().unwrap();
        if body["certificates"].is_string() {
            for word in ["per_name", "wildcard", "per_host"] {
                assert!(problem.contains(word), "{body}: {problem}");
            }
        }
    }
    // A dry run answers the change and makes none.
    let reply = panel
        .call(
            Method::PATCH,
            &format!("{path}?dry_run=true"),
            Auth::Bearer(&admin),
            Some(json!({"certificates": "per_host"})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["dry_run"], true);
    assert_eq!(reply.json["changes"][0]["action"], "domain.update");
    assert_eq!(
        reply.json["changes"][0]["before"]["certificates"],
        "wildcard"
    );
    assert_eq!(
        reply.json["changes"][0]["after"]["certificates"],
        "per_host"
    );
    assert_same(
        &before,
        &snapshot(&panel).await?,
        "refused and dry-run patches",
    );
    assert_eq!(panel.audit_count("domain.update").await?, 0);

    // The change: stored, answered, audited with before and after, in a revision.
    let reply = panel
        .call(
            Method::PATCH,
            &path,
            Auth::Bearer(&admin),
            Some(json!({"certificates": "per_host"})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["certificates"], "per_host");
    assert_eq!(panel.audit_count("domain.update").await?, 1);
    let stored: String = panel
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT certificates FROM domains WHERE id = '{domain}'"),
        ))
        .await?
        .unwrap()
        .try_get("", "certificates")?;
    assert_eq!(stored, "per_host");
    let audit = panel
        .call(
            Method::GET,
            "/audit?action=domain.update",
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(audit.status, 200, "{}", audit.json);
    let entry = &audit.json["items"][0];
    assert_eq!(entry["before"]["certificates"], "wildcard", "{entry}");
    assert_eq!(entry["after"]["certificates"], "per_host", "{entry}");
    // The same again changes nothing and records nothing.
    let reply = panel
        .call(
            Method::PATCH,
            &path,
            Auth::Bearer(&admin),
            Some(json!({"certificates": "per_host"})),
        )
        .await?;
    assert_eq!(reply.status, 200);
    assert_eq!(panel.audit_count("domain.update").await?, 1);
    // Chosen at creation too.
    let reply = panel
        .call(
            Method::POST,
            "/domains",
            Auth::Bearer(&admin),
            Some(json!({"name": "hosts.com", "certificates": "per_host"})),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(reply.json["certificates"], "per_host");
    panel.stop().await
}

async fn status(panel: &mut Panel, auth: Auth<'_>) -> anyhow::Result<u16> {
    Ok(panel.call(Method::GET, "/me", auth, None).await?.status)
}

#[tokio::test]
async fn a_user_is_deleted_with_their_sessions_keys_grants_and_backends() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "example.com").await?;
    let bob = panel.user(&admin, "bob", "bob-password-1234").await?;
    panel.grant(&admin, &bob, &domain, "edit").await?;
    let (_, bob_key) = panel.key_for("bob", "bob-password-1234").await?;
    let session = panel.login("bob", "bob-password-1234").await?;
    let made = panel
        .call(
            Method::POST,
            "/named-backends",
            Auth::Bearer(&bob_key),
            Some(json!({"name": "bobs", "url_template": "http://{first_label}.svc:8080"})),
        )
        .await?;
    assert_eq!(made.status, 201, "{}", made.json);
    // A zone of the domain (bob's grant) on bob's backend: it keeps bob (409).
    let mut spec = zone("app.example.com", "", "http://127.0.0.1:9001");
    spec["backend"] = json!({"kind": "named", "name": "bobs"});
    let routed = panel
        .call(Method::POST, "/zones", Auth::Bearer(&bob_key), Some(spec))
        .await?;
    assert_eq!(routed.status, 201, "{}", routed.json);
    let path = format!("/users/{bob}");
    let before = snapshot(&panel).await?;
    let reply = panel
        .call(Method::DELETE, &path, Auth::Bearer(&admin), None)
        .await?;
    assert_eq!(reply.status, 409, "{}", reply.json);
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"bobs\" (1 zone(s))"),
        "{}",
        reply.json
    );
    assert_same(&before, &snapshot(&panel).await?, "a refused user delete");
    let zone_id = routed.json["id"].as_str().unwrap();
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/zones/{zone_id}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 204);

    // A dry run lists what goes and changes nothing: bob still gets in.
    let before = snapshot(&panel).await?;
    let reply = panel
        .call(
            Method::DELETE,
            &format!("{path}?dry_run=true"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let actions: Vec<&str> = reply.json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["grant.delete", "named_backend.delete", "user.delete"]
    );
    let gone = &reply.json["changes"][2]["before"];
    assert_eq!(gone["username"], "bob");
    assert_eq!(gone["sessions_deleted"], 1);
    assert_eq!(gone["api_keys_deleted"].as_array().unwrap().len(), 1);
    assert_same(&before, &snapshot(&panel).await?, "a dry-run user delete");
    assert_eq!(status(&mut panel, Auth::Bearer(&bob_key)).await?, 200);
    assert_eq!(status(&mut panel, session.auth()).await?, 200);

    let reply = panel
        .call(Method::DELETE, &path, Auth::Bearer(&admin), None)
        .await?;
    assert_eq!(reply.status, 204, "{}", reply.json);
    // Everything of bob's is gone, and his credentials are dead at once.
    assert_eq!(status(&mut panel, Auth::Bearer(&bob_key)).await?, 401);
    assert_eq!(status(&mut panel, session.auth()).await?, 401);
    for table in ["sessions", "api_keys", "grants"] {
        let sql = format!("SELECT count(*) FROM {table} WHERE user_id = '{bob}'");
        assert_eq!(count(&panel, &sql).await?, 0, "{table}");
    }
    let sql = format!("SELECT count(*) FROM named_backends WHERE owner_user_id = '{bob}'");
    assert_eq!(count(&panel, &sql).await?, 0);
    assert_eq!(panel.audit_count("user.delete").await?, 1);
    let reply = panel
        .call(Method::GET, &path, Auth::Bearer(&admin), None)
        .await?;
    assert_eq!(reply.status, 404);
    let reply = panel
        .call(Method::DELETE, &path, Auth::Bearer(&admin), None)
        .await?;
    assert_eq!(reply.status, 404);
    // The audit log keeps what bob did, with his name.
    let sql = "SELECT count(*) FROM audit_log WHERE actor_label LIKE 'bob %'";
    assert!(count(&panel, sql).await? > 0);
    panel.stop().await
}

#[tokio::test]
async fn the_panel_always_keeps_an_enabled_admin() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, root) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let me = panel
        .call(Method::GET, "/me", Auth::Bearer(&root), None)
        .await?;
    let root_id = me.json["user_id"].as_str().unwrap().to_owned();
    let before = snapshot(&panel).await?;
    // Not oneself (a dry run answers the same), not the last admin's role or flag.
    for (method, path, body) in [
        (Method::DELETE, format!("/users/{root_id}"), None),
        (
            Method::DELETE,
            format!("/users/{root_id}?dry_run=true"),
            None,
        ),
        (
            Method::PATCH,
            format!("/users/{root_id}"),
            Some(json!({"role": "user"})),
        ),
        (
            Method::PATCH,
            format!("/users/{root_id}"),
            Some(json!({"disabled": true})),
        ),
    ] {
        let reply = panel
            .call(method.clone(), &path, Auth::Bearer(&root), body)
            .await?;
        assert_eq!(reply.status, 409, "{method} {path}: {}", reply.json);
        assert_eq!(reply.json["error"]["code"], "conflict");
    }
    assert_same(&before, &snapshot(&panel).await?, "refused admin changes");
    // With a second admin, one admin may go — by the other's hand.
    let reply = panel
        .call(
            Method::POST,
            "/users",
            Auth::Bearer(&root),
            Some(json!({"username": "ada", "password": "ada-password-1234", "role": "admin"})),
        )
        .await?;
    assert_eq!(reply.status, 201);
    let (_, ada) = panel.key_for("ada", "ada-password-1234").await?;
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/users/{root_id}"),
            Auth::Bearer(&ada),
            None,
        )
        .await?;
    assert_eq!(reply.status, 204, "{}", reply.json);
    assert_eq!(status(&mut panel, Auth::Bearer(&root)).await?, 401);
    panel.stop().await
}

#[tokio::test]
async fn a_password_change_proves_the_old_one_and_ends_the_other_sessions() -> anyhow::Result<()> {
    const OLD: &str = "alice-password-1234";
    const NEW: &str = "alice-new-password-5678";
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.user(&admin, "alice", OLD).await?;
    let (_, key) = panel.key_for("alice", OLD).await?;
    let here = panel.login("alice", OLD).await?;
    let there = panel.login("alice", OLD).await?;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    // Wrong current password: 403, field problems: 422; nothing changed.
    let before = snapshot(&panel).await?;
    let reply = panel
        .call(
            Method::POST,
            "/me/password",
            here.auth(),
            Some(change("wrong-password-0000", NEW)),
        )
        .await?;
    assert_eq!(reply.status, 403, "{}", reply.json);
    assert_eq!(reply.json["error"]["code"], "forbidden");
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("current_password")
    );
    for (body, field) in [
        (change(OLD, "short"), "new_password"),
        (change(OLD, OLD), "new_password"),
        (json!({"current_password": OLD}), "new_password"),
        (
            json!({"current_password": OLD, "new_password": NEW, "x": 1}),
            "x",
        ),
    ] {
        let reply = panel
            .call(
                Method::POST,
                "/me/password",
                here.auth(),
                Some(body.clone()),
            )
            .await?;
        assert_eq!(reply.status, 422, "{body}: {}", reply.json);
        assert!(
            reply.json["error"]["details"].to_string().contains(field),
            "{}",
            reply.json
        );
    }
    // Without the CSRF token the cookie may not change it.
    let reply = panel
        .call(
            Method::POST,
            "/me/password",
            Auth::Session {
                cookie: &here.cookie,
                csrf: None,
            },
            Some(change(OLD, NEW)),
        )
        .await?;
    assert_eq!(reply.status, 403);
    // A dry run proves the password and changes nothing.
    let reply = panel
        .call(
            Method::POST,
            "/me/password?dry_run=true",
            here.auth(),
            Some(change(OLD, NEW)),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["changes"][0]["action"], "user.password");
    assert_eq!(
        reply.json["changes"][0]["after"]["other_sessions_revoked"],
        1
    );
    assert_same(
        &before,
        &snapshot(&panel).await?,
        "refused and dry-run password changes",
    );
    assert_eq!(status(&mut panel, there.auth()).await?, 200);

    let reply = panel
        .call(
            Method::POST,
            "/me/password",
            here.auth(),
            Some(change(OLD, NEW)),
        )
        .await?;
    assert_eq!(reply.status, 204, "{}", reply.json);
    // This session stays, the other one ends, the key stays (documented).
    assert_eq!(status(&mut panel, here.auth()).await?, 200);
    assert_eq!(status(&mut panel, there.auth()).await?, 401);
    assert_eq!(status(&mut panel, Auth::Bearer(&key)).await?, 200);
    assert_eq!(panel.audit_count("user.password").await?, 1);
    assert_no_secrets(&panel, &[OLD, NEW, ADMIN_PASSWORD]);
    panel.stop().await
}

#[tokio::test]
async fn password_change_attempts_count_against_the_login_limit() -> anyhow::Result<()> {
    let mut panel = Panel::start_with(None, &["--login-per-user-per-minute", "3"]).await?;
    let actor = panel_api::service::Actor::system("test");
    let user =
        panel_api::service::users::create(&panel.db, &actor, "zed", "zed-password-1234", "user")
            .await?;
    // A session made without a password check, so every check below is a guess.
    let made = panel_api::service::sessions::create(
        &panel.db,
        &actor,
        &user,
        std::time::Duration::from_secs(600),
    )
    .await?;
    let session = Session {
        cookie: made.token,
        csrf: made.csrf_token,
    };
    // GCRA replenishes continuously and debug-build argon2 is slow, so which attempt is
    // refused depends on timing: at least the limit's worth are checked, and a refusal
    // follows soon after, before any password is looked at.
    let mut refused_at = None;
    for n in 1..=10 {
        let reply = panel
            .call(
                Method::POST,
                "/me/password",
                session.auth(),
                Some(json!({"current_password": "guess-guess-guess", "new_password": "zed-password-5678"})),
            )
            .await?;
        if reply.status == 429 {
            assert_eq!(reply.json["error"]["code"], "rate_limited");
            assert!(reply.headers.contains_key("retry-after"));
            refused_at = Some(n);
            break;
        }
        assert_eq!(reply.status, 403, "{}", reply.json);
    }
    let refused_at = refused_at.expect("the per-user limit refuses within 10 attempts");
    assert!(refused_at > 3, "refused at attempt {refused_at}");
    assert_eq!(panel.audit_count("user.password").await?, 0);
    panel.stop().await
}

#[tokio::test]
async fn the_new_password_logs_in_and_the_old_one_no_longer_does() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.user(&admin, "carol", "carol-password-1234").await?;
    // By API key: every session of hers ends.
    let (_, key) = panel.key_for("carol", "carol-password-1234").await?;
    let session = panel.login("carol", "carol-password-1234").await?;
    let reply = panel
        .call(
            Method::POST,
            "/me/password",
            Auth::Bearer(&key),
            Some(json!({"current_password": "carol-password-1234", "new_password": "carol-password-5678"})),
        )
        .await?;
    assert_eq!(reply.status, 204, "{}", reply.json);
    assert_eq!(status(&mut panel, session.auth()).await?, 401);
    let old = panel
        .call(
            Method::POST,
            "/auth/login",
            Auth::None,
            Some(json!({"username": "carol", "password": "carol-password-1234"})),
        )
        .await?;
    assert_eq!(old.status, 401);
    panel.login("carol", "carol-password-5678").await?;
    panel.stop().await
}

#[tokio::test]
async fn every_write_answers_a_dry_run_and_changes_nothing() -> anyhow::Result<()> {
    let secret_key = "bWF0cml4LXNlYWxpbmcta2V5LTMyLWJ5dGVzLWxvbmc=";
    let mut panel = Panel::start_with(None, &["--secret-key", secret_key]).await?;
    let (key_id, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "example.com").await?;
    panel.zone(&admin, "app.example.com").await?;
    let user = panel.user(&admin, "dave", "dave-password-1234").await?;
    let grant = panel.grant(&admin, &user, &domain, "read").await?;
    let other = panel.domain(&admin, "other.test").await?;
    let made = panel
        .call(
            Method::POST,
            "/dns-credentials",
            Auth::Bearer(&admin),
            Some(json!({"name": "cf", "provider": "cloudflare", "secret": {"api_token": "cf-token-4c1e"}})),
        )
        .await?;
    assert_eq!(made.status, 201);
    let cred = made.json["id"].as_str().unwrap().to_owned();
    publish_cert(&panel, "example.com").await?;
    let rows: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::POST,
            "/domains".into(),
            Some(json!({"name": "new.test"})),
            "domain.create",
        ),
        (
            Method::PATCH,
            format!("/domains/{domain}"),
            Some(json!({"dns_credential_id": cred})),
            "domain.update",
        ),
        (
            Method::DELETE,
            format!("/domains/{domain}?cascade=true"),
            None,
            "domain.delete",
        ),
        (
            Method::POST,
            format!("/domains/{domain}/certificate/reissue"),
            None,
            "certificate.reissue",
        ),
        (
            Method::POST,
            "/users".into(),
            Some(json!({"username": "eve", "password": "eve-password-1234"})),
            "user.create",
        ),
        (
            Method::PATCH,
            format!("/users/{user}"),
            Some(json!({"disabled": true, "password": "dave-password-5678"})),
            "user.update",
        ),
        (
            Method::DELETE,
            format!("/users/{user}"),
            None,
            "user.delete",
        ),
        (
            Method::POST,
            "/grants".into(),
            Some(json!({"user_id": user, "domain_id": other, "level": "edit"})),
            "grant.create",
        ),
        (
            Method::DELETE,
            format!("/grants/{grant}"),
            None,
            "grant.delete",
        ),
        (
            Method::POST,
            "/api-keys".into(),
            Some(json!({"name": "ci"})),
            "api_key.create",
        ),
        (
            Method::DELETE,
            format!("/api-keys/{key_id}"),
            None,
            "api_key.revoke",
        ),
        (
            Method::POST,
            "/dns-credentials".into(),
            Some(
                json!({"name": "do", "provider": "digitalocean", "secret": {"token": "do-token-77aa"}}),
            ),
            "dns_credential.create",
        ),
        (
            Method::PATCH,
            format!("/dns-credentials/{cred}"),
            Some(json!({"secret": {"api_token": "cf-token-rotated-9f"}})),
            "dns_credential.update",
        ),
        (
            Method::DELETE,
            format!("/dns-credentials/{cred}"),
            None,
            "dns_credential.delete",
        ),
        (
            Method::POST,
            "/me/password".into(),
            Some(
                json!({"current_password": ADMIN_PASSWORD, "new_password": "root-new-password-1"}),
            ),
            "user.password",
        ),
    ];
    for (method, path, body, action) in rows {
        let before = snapshot(&panel).await?;
        let sep = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{sep}dry_run=true");
        let reply = panel
            .call(method.clone(), &path, Auth::Bearer(&admin), body)
            .await?;
        assert_eq!(reply.status, 200, "{method} {path}: {}", reply.json);
        assert_eq!(reply.json["dry_run"], true, "{method} {path}");
        assert_eq!(reply.json["version"], Value::Null, "{method} {path}");
        let actions: Vec<&str> = reply.json["changes"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path}: {}", reply.json))
            .iter()
            .map(|c| c["action"].as_str().unwrap())
            .collect();
        assert!(actions.contains(&action), "{method} {path}: {actions:?}");
        assert!(
            reply.json.get("key").is_none(),
            "a dry run made no key to show"
        );
        assert_same(
            &before,
            &snapshot(&panel).await?,
            &format!("{method} {path}"),
        );
    }
    assert_no_secrets(
        &panel,
        &[
            ADMIN_PASSWORD,
            "cf-token-4c1e",
            "do-token-77aa",
            "cf-token-rotated-9f",
            "dave-password-5678",
            "eve-password-1234",
            "root-new-password-1",
        ],
    );
    panel.stop().await
}

#[tokio::test]
async fn a_key_used_many_times_within_a_minute_is_written_once() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (id, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    // Count every write of `last_used_at`, whoever makes it.
    panel
        .db
        .execute_unprepared(
            "CREATE TABLE key_use_writes (key_id uuid NOT NULL);              CREATE FUNCTION note_key_use_write() RETURNS trigger LANGUAGE plpgsql AS              $$ BEGIN INSERT INTO key_use_writes VALUES (NEW.id); RETURN NEW; END $$;              CREATE TRIGGER key_use_writes AFTER UPDATE OF last_used_at ON api_keys              FOR EACH ROW EXECUTE FUNCTION note_key_use_write();",
        )
        .await?;
    assert_eq!(status(&mut panel, Auth::Bearer(&key)).await?, 200);
    assert_eq!(status(&mut panel, Auth::Bearer(&key)).await?, 200);
    // And many at once, from another client each.
    let uses = (0..10).map(|_| {
        let http = panel.http.clone();
        let url = format!("{}/me", panel.base);
        let key = key.clone();
        async move {
            http.get(url)
                .bearer_auth(key)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    for status in futures_util::future::join_all(uses).await {
        assert_eq!(status?, 200);
    }
    let sql = format!("SELECT count(*) FROM key_use_writes WHERE key_id = '{id}'");
    assert_eq!(
        count(&panel, &sql).await?,
        1,
        "12 uses within a minute, one write"
    );
    panel.stop().await
}

/// The document without its time of export (the only thing two exports of one
/// configuration differ in).
fn timeless(mut document: Value) -> Value {
    document.as_object_mut().unwrap().remove("exported_at");
    document
}

#[tokio::test]
async fn an_export_with_users_rebuilds_the_configuration_in_a_fresh_panel() -> anyhow::Result<()> {
    let mut source = Panel::start().await?;
    let (_, admin) = source.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let made = source
        .call(
            Method::POST,
            "/dns-credentials",
            Auth::Bearer(&admin),
            Some(json!({"name": "by-hand", "provider": "manual"})),
        )
        .await?;
    assert_eq!(made.status, 201);
    let reply = source
        .call(
            Method::POST,
            "/domains",
            Auth::Bearer(&admin),
            Some(json!({"name": "example.com", "dns_credential_id": made.json["id"], "certificates": "per_host"})),
        )
        .await?;
    assert_eq!(reply.status, 201);
    let example = reply.json["id"].as_str().unwrap().to_owned();
    let other = source.domain(&admin, "other.test").await?;
    let reply = source
        .call(
            Method::POST,
            "/named-backends",
            Auth::Bearer(&admin),
            Some(json!({"name": "web", "url_template": "http://{first_label}.svc:8080", "preset": true})),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let web = reply.json["id"].as_str().unwrap().to_owned();
    let mut spec = zone("app.example.com", "", "http://127.0.0.1:9001");
    spec["backend"] = json!({"kind": "named", "name": "web"});
    let reply = source
        .call(Method::POST, "/zones", Auth::Bearer(&admin), Some(spec))
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    source.zone(&admin, "www.other.test").await?;
    let ann = source.user(&admin, "ann", "ann-password-1234").await?;
    source.grant(&admin, &ann, &example, "edit").await?;
    source.grant(&admin, &ann, &other, "read").await?;
    let reply = source
        .call(
            Method::POST,
            "/grants",
            Auth::Bearer(&admin),
            Some(json!({"user_id": ann, "named_backend_id": web, "level": "read"})),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let reply = source
        .call(
            Method::PATCH,
            &format!("/users/{ann}"),
            Auth::Bearer(&admin),
            Some(json!({"disabled": true})),
        )
        .await?;
    assert_eq!(reply.status, 200);

    // Users are admins' to export; a plain export has none.
    let plain = source
        .call(Method::GET, "/export", Auth::Bearer(&admin), None)
        .await?;
    assert!(plain.json.get("users").is_none(), "{}", plain.json);
    let reply = source
        .call(
            Method::GET,
            "/export?include=users",
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let exported = reply.json.clone();
    assert_eq!(exported["format"], "switchyard-export/2");
    assert_eq!(
        exported["domains"][0],
        json!({"name": "example.com", "dns_credential": "by-hand", "certificates": "per_host"})
    );
    let text = exported.to_string();
    assert!(
        !text.contains("argon2"),
        "no password hash in an export: {text}"
    );
    assert!(!text.contains("sy_"), "no API key in an export");
    assert_eq!(
        exported["users"],
        json!([
            {"username": "ann", "role": "user", "disabled": true},
            {"username": ADMIN, "role": "admin", "disabled": false},
        ])
    );
    assert_eq!(exported["grants"].as_array().unwrap().len(), 3);
    let reply = source.login("ann", "ann-password-1234").await;
    assert!(reply.is_err(), "ann is disabled");

    // A fresh panel: the credential is made by hand (secrets never travel), then one
    // import rebuilds everything else.
    let mut target = Panel::start().await?;
    let (_, fresh) = target.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let reply = target
        .call(
            Method::POST,
            "/import",
            Auth::Bearer(&fresh),
            Some(exported.clone()),
        )
        .await?;
    assert_eq!(
        reply.status, 422,
        "the credential is missing: {}",
        reply.json
    );
    assert_eq!(
        reply.json["error"]["details"][0]["field"],
        "domains[0].dns_credential"
    );
    let reply = target
        .call(
            Method::POST,
            "/dns-credentials",
            Auth::Bearer(&fresh),
            Some(json!({"name": "by-hand", "provider": "manual"})),
        )
        .await?;
    assert_eq!(reply.status, 201);
    let before = snapshot(&target).await?;
    let reply = target
        .call(
            Method::POST,
            "/import?dry_run=true",
            Auth::Bearer(&fresh),
            Some(exported.clone()),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["users_created"][0]["username"], "ann");
    assert_same(&before, &snapshot(&target).await?, "a dry-run import");
    let reply = target
        .call(
            Method::POST,
            "/import",
            Auth::Bearer(&fresh),
            Some(exported.clone()),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let created = reply.json["users_created"].as_array().unwrap();
    assert_eq!(created.len(), 1, "root exists already: {created:?}");
    assert_eq!(created[0]["username"], "ann");
    assert_eq!(created[0]["disabled"], true);
    assert_eq!(reply.json["created"].as_array().unwrap().len(), 2);
    let actions: Vec<&str> = reply.json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "user.create",
            "domain.create",
            "domain.create",
            "grant.create",
            "grant.create",
            "grant.create"
        ]
    );
    // The same configuration: the rebuilt panel exports the same document.
    let again = target
        .call(
            Method::GET,
            "/export?include=users",
            Auth::Bearer(&fresh),
            None,
        )
        .await?;
    assert_eq!(timeless(again.json), timeless(exported.clone()));
    // And routes the same: Redis has the zones, rendered alike.
    for host in ["app.example.com", "www.other.test"] {
        assert_eq!(
            target.zone_record(host).await?.map(|r| r.routes.len()),
            source.zone_record(host).await?.map(|r| r.routes.len()),
            "{host}"
        );
    }
    // Imported users have no usable password until an admin sets one.
    let id = created[0]["id"].as_str().unwrap();
    let reply = target
        .call(
            Method::PATCH,
            &format!("/users/{id}"),
            Auth::Bearer(&fresh),
            Some(json!({"disabled": false, "password": "ann-new-password-1"})),
        )
        .await?;
    assert_eq!(reply.status, 200);
    target.login("ann", "ann-new-password-1").await?;
    assert!(target.login("ann", "ann-password-1234").await.is_err());
    // Importing it again changes nothing.
    let before = snapshot(&target).await?;
    let mut document = exported.clone();
    document["users"][0]["disabled"] = json!(false);
    let reply = target
        .call(
            Method::POST,
            "/import",
            Auth::Bearer(&fresh),
            Some(document),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json.get("changes"), None, "{}", reply.json);
    assert_same(&before, &snapshot(&target).await?, "a repeated import");

    // Format 1 is still read; users and grants are not format 1, nor a non-admin's.
    let v1 = json!({"format": "switchyard-export/1", "domains": ["example.com"], "zones": []});
    let reply = target
        .call(
            Method::POST,
            "/import",
            Auth::Bearer(&fresh),
            Some(v1.clone()),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let mut bad = v1.clone();
    bad["users"] = json!([{"username": "x"}]);
    let reply = target
        .call(Method::POST, "/import", Auth::Bearer(&fresh), Some(bad))
        .await?;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json["error"]["details"][0]["field"], "users");
    let reply = target
        .call(
            Method::GET,
            "/export?include=everything",
            Auth::Bearer(&fresh),
            None,
        )
        .await?;
    assert_eq!(reply.status, 422);
    let (_, ann_key) = target.key_for("ann", "ann-new-password-1").await?;
    // A user's slice names no credential; an admin importing it leaves them as they are.
    let slice = target
        .call(Method::GET, "/export", Auth::Bearer(&ann_key), None)
        .await?;
    assert_eq!(
        slice.json["domains"],
        json!([{"name": "example.com"}, {"name": "other.test"}])
    );
    let reply = target
        .call(
            Method::POST,
            "/import",
            Auth::Bearer(&fresh),
            Some(slice.json),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json.get("changes"), None, "{}", reply.json);
    let again = target
        .call(Method::GET, "/export", Auth::Bearer(&fresh), None)
        .await?;
    assert_eq!(again.json["domains"][0]["dns_credential"], "by-hand");
    // The domain's certificate choice travelled with it.
    assert_eq!(again.json["domains"][0]["certificates"], "per_host");
    let reply = target
        .call(
            Method::GET,
            "/export?include=users",
            Auth::Bearer(&ann_key),
            None,
        )
        .await?;
    assert_eq!(reply.status, 404);
    let reply = target
        .call(
            Method::POST,
            "/import",
            Auth::Bearer(&ann_key),
            Some(exported),
        )
        .await?;
    assert_eq!(reply.status, 422);
    target.stop().await?;
    source.stop().await
}

#[tokio::test]
async fn a_zone_written_while_its_domain_is_deleted_is_a_conflict_not_a_500() -> anyhow::Result<()>
{
    use sea_orm::TransactionTrait as _;
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "race.test").await?;
    // The domain's deletion, not committed yet: its row is locked.
    let deleting = panel.db.begin().await?;
    deleting
        .execute_unprepared(&format!(
            "DELETE FROM certificates WHERE domain_id = '{domain}'; \
             DELETE FROM domains WHERE id = '{domain}'"
        ))
        .await?;
    let request = panel
        .http
        .post(format!("{}/zones", panel.base))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(zone("www.race.test", "", "http://127.0.0.1:9001").to_string());
    let write = tokio::spawn(async move {
        let reply = request.send().await?;
        Ok::<_, reqwest::Error>((reply.status().as_u16(), reply.text().await?))
    });
    // The zone's insert waits on the domain's row (its foreign key check) …
    let db = panel.db.clone();
    switchyard_tests::eventually::eventually(
        std::time::Duration::from_secs(20),
        "the zone write waits for the domain's row",
        || {
            let db = db.clone();
            async move {
                let row = db
                    .query_one_raw(Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT count(*) FROM pg_stat_activity \
                         WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    ))
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("no row")?;
                match row.try_get_by_index::<i64>(0) {
                    Ok(n) if n > 0 => Ok(()),
                    other => Err(format!("{other:?} waiting")),
                }
            }
        },
    )
    .await?;
    // … and once the deletion commits, the write is refused with 409, nothing written.
    deleting.commit().await?;
    let (status, body) = write.await??;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("deleted meanwhile"), "{body}");
    assert_eq!(count(&panel, "SELECT count(*) FROM zones").await?, 0);
    assert!(panel.zone_record("www.race.test").await?.is_none());
    panel.stop().await
}
