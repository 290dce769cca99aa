//! Uploaded certificates: checked whole (bad uploads refused by field, nothing stored in
//! PostgreSQL or Redis), stored with the key sealed, published to Redis as the proxies
//! read it, replaced, deleted (and unpublished), with dry runs and audit; and which
//! certificate serves each zone's hostname (exact vs wildcard vs none, uploaded vs
//! issued) and which zones none covers.

mod common;

use common::*;
use fred::prelude::{ClientLike as _, KeysInterface as _, SetsInterface as _};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use reqwest::Method;
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};
use switchyard_shared::certs::CertSource;
use switchyard_shared::model::CertRecord;
use time::{Duration, OffsetDateTime};

const SECRET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// A CA and what it signs.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf for `names`, valid `from`..`until` days from now, signed by `ca`: (leaf PEM,
/// key PEM).
fn leaf(ca: &Ca, names: &[&str], from: i64, until: i64) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
    let now = OffsetDateTime::now_utc();
    params.not_before = now + Duration::days(from);
    params.not_after = now + Duration::days(until);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

async fn rows(panel: &Panel) -> anyhow::Result<i64> {
    let row = panel
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM uploaded_certificates",
        ))
        .await?
        .unwrap();
    Ok(row.try_get("", "n")?)
}

async fn uploaded_keys(panel: &Panel) -> anyhow::Result<Vec<String>> {
    let pattern = format!("{}cert:uploaded:*", panel.redis.prefix());
    let mut keys: Vec<String> = Vec::new();
    let (mut cursor, mut first) = ("0".to_owned(), true);
    while first || cursor != "0" {
        first = false;
        let (next, page): (String, Vec<String>) = panel
            .redis
            .client()
            .custom(
                fred::cmd!("SCAN"),
                vec![
                    cursor.clone(),
                    "MATCH".into(),
                    pattern.clone(),
                    "COUNT".into(),
                    "1000".into(),
                ],
            )
            .await?;
        keys.extend(page);
        cursor = next;
    }
    Ok(keys)
}

async fn upload(panel: &mut Panel, key: &str, domain: &str, body: Value) -> anyhow::Result<Reply> {
    panel
        .call(
            Method::POST,
            &format!("/domains/{domain}/uploaded-certificates"),
            Auth::Bearer(key),
            Some(body),
        )
        .await
}

#[tokio::test]
async fn bad_uploads_are_refused_by_field_and_nothing_is_stored() -> anyhow::Result<()> {
    let mut panel = Panel::start_with(None, &["--secret-key", SECRET_KEY]).await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "example.test").await?;
    let ca1 = ca("Test CA one");
    let wild = ["*.example.test", "example.test"];
    let (good, good_key) = leaf(&ca1, &wild, -1, 90);
    let (_, other_key) = leaf(&ca1, &wild, -1, 90);
    let (expired, expired_key) = leaf(&ca1, &wild, -100, -10);
    let (future, future_key) = leaf(&ca1, &wild, 10, 100);
    let (wrong_names, wrong_key) = leaf(&ca1, &["*.other.test", "other.test"], -1, 90);
    let (apex_only, apex_key) = leaf(&ca1, &["example.test"], -1, 90);
    let audit_before = panel.audit_count("uploaded_certificate.create").await?;

    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "mismatched key",
            json!({"chain_pem": format!("{good}{}", ca1.pem), "key_pem": other_key}),
            "key_pem",
            "does not belong to the leaf",
        ),
        (
            "expired",
            json!({"chain_pem": expired, "key_pem": expired_key}),
            "chain_pem",
            "expired at",
        ),
        (
            "not yet valid",
            json!({"chain_pem": future, "key_pem": future_key}),
            "chain_pem",
            "is not valid before",
        ),
        (
            "wrong names",
            json!({"chain_pem": wrong_names, "key_pem": wrong_key}),
            "chain_pem",
            "do not cover *.example.test, example.test",
        ),
        (
            "a name missing",
            json!({"chain_pem": apex_only, "key_pem": apex_key}),
            "chain_pem",
            "do not cover *.example.test",
        ),
        (
            "wrong chain order",
            json!({"chain_pem": format!("{}{good}", ca1.pem), "key_pem": good_key}),
            "chain_pem",
            "is not signed by certificate 2",
        ),
        (
            "garbage chain",
            json!({"chain_pem": "hello, not a certificate", "key_pem": good_key}),
            "chain_pem",
            "holds no PEM certificate",
        ),
        (
            "garbage key",
            json!({"chain_pem": good, "key_pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}),
            "key_pem",
            "is not an ecdsa-p256 private key",
        ),
        (
            "the key in the chain field",
            json!({"chain_pem": format!("{good}{good_key}"), "key_pem": good_key}),
            "chain_pem",
            "only `CERTIFICATE` blocks are allowed",
        ),
        (
            "a hostname outside the domain",
            json!({"hostname": "app.other.test", "chain_pem": good, "key_pem": good_key}),
            "hostname",
            "is not an exact hostname within example.test",
        ),
    ];
    for (what, body, field, says) in cases {
        let reply = upload(&mut panel, &admin, &domain, body.clone()).await?;
        assert_eq!(reply.status, 422, "{what}: {}", reply.json);
        let details = reply.json["error"]["details"].as_array().unwrap();
        assert!(
            details
                .iter()
                .any(|d| d["field"] == field && d["problem"].as_str().unwrap().contains(says)),
            "{what}: expected {field} saying {says:?}, got {}",
            reply.json
        );
        // A dry run is refused the same way.
        let dry = panel
            .call(
                Method::POST,
                &format!("/domains/{domain}/uploaded-certificates?dry_run=true"),
                Auth::Bearer(&admin),
                Some(body),
            )
            .await?;
        assert_eq!(dry.status, 422, "{what} (dry run)");
    }
    assert_eq!(rows(&panel).await?, 0, "nothing in PostgreSQL");
    assert!(uploaded_keys(&panel).await?.is_empty(), "nothing in Redis");
    assert_eq!(
        panel.audit_count("uploaded_certificate.create").await?,
        audit_before
    );

    // Without --secret-key nothing can be sealed: 503, nothing stored.
    let mut keyless = Panel::start().await?;
    let (_, admin2) = keyless.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain2 = keyless.domain(&admin2, "example.test").await?;
    let reply = upload(
        &mut keyless,
        &admin2,
        &domain2,
        json!({"chain_pem": good, "key_pem": good_key}),
    )
    .await?;
    assert_eq!(reply.status, 503, "{}", reply.json);
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SWITCHYARD_SECRET_KEY")
    );
    assert_eq!(rows(&keyless).await?, 0);
    keyless.stop().await?;

    assert_no_secrets(&panel, &[]);
    panel.stop().await
}

#[tokio::test]
async fn an_upload_is_sealed_published_replaced_and_deleted_and_chosen_over_issued()
-> anyhow::Result<()> {
    let mut panel = Panel::start_with(None, &["--secret-key", SECRET_KEY]).await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "example.test").await?;
    let app = panel.zone(&admin, "app.example.test").await?;
    let web = panel.zone(&admin, "web.example.test").await?;
    let deep = panel.zone(&admin, "a.b.example.test").await?;
    let ca1 = ca("Test CA one");
    let wild = ["*.example.test", "example.test"];
    let (leaf_pem, key_pem) = leaf(&ca1, &wild, -1, 90);
    let chain = format!("{leaf_pem}{}", ca1.pem);

    // Nothing covers anything yet (the domain's certificate is still pending).
    let reply = panel
        .call(
            Method::GET,
            &format!("/zones/{app}/certificate"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["certificate"], Value::Null);
    let reply = panel
        .call(
            Method::GET,
            "/certificates/uncovered",
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.json["total"], 3, "{}", reply.json);

    // A dry run answers the audit record it would write and changes nothing.
    let reply = panel
        .call(
            Method::POST,
            &format!("/domains/{domain}/uploaded-certificates?dry_run=true"),
            Auth::Bearer(&admin),
            Some(json!({"chain_pem": chain, "key_pem": key_pem})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["dry_run"], true);
    assert_eq!(
        reply.json["changes"][0]["action"],
        "uploaded_certificate.create"
    );
    assert_eq!(rows(&panel).await?, 0);
    assert!(uploaded_keys(&panel).await?.is_empty());

    // The real upload.
    let reply = upload(
        &mut panel,
        &admin,
        &domain,
        json!({"chain_pem": chain, "key_pem": key_pem}),
    )
    .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let id = reply.json["id"].as_str().unwrap().to_owned();
    assert_eq!(reply.json["name"], "*.example.test");
    assert_eq!(reply.json["key_type"], "ecdsa-p256");
    assert_eq!(reply.json["names"], json!(wild));
    assert!(reply.json.get("key_pem").is_none());
    assert_eq!(panel.audit_count("uploaded_certificate.create").await?, 1);
    // Sealed at rest: the stored key is not the PEM.
    let stored = panel
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT key_ciphertext FROM uploaded_certificates",
        ))
        .await?
        .unwrap();
    let sealed: Vec<u8> = stored.try_get("", "key_ciphertext")?;
    assert!(!String::from_utf8_lossy(&sealed).contains("PRIVATE KEY"));
    let opened = switchyard_shared::secrets::SecretBox::from_base64(SECRET_KEY)?
        .open_string("uploaded_certificates.key", &sealed)?;
    assert_eq!(opened, key_pem);
    // Published as the proxies read it.
    let member = CertSource::Uploaded.member("*.example.test");
    let json: Option<String> = panel
        .redis
        .client()
        .get(panel.redis.keys().cert(&member))
        .await?;
    let record = CertRecord::from_json(&member, json.expect("published").as_bytes())?;
    assert_eq!(record.source, CertSource::Uploaded);
    assert_eq!(record.key_pem, key_pem);
    assert!(record.chain_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let indexed: bool = panel
        .redis
        .client()
        .sismember(panel.redis.keys().cert_index(), &member)
        .await?;
    assert!(indexed);

    // Another upload for the same name: 409 naming the one there.
    let again = upload(
        &mut panel,
        &admin,
        &domain,
        json!({"chain_pem": chain, "key_pem": key_pem}),
    )
    .await?;
    assert_eq!(again.status, 409, "{}", again.json);
    assert!(
        again.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&id)
    );

    // Which certificate: the uploaded wildcard for app and web; nothing for a.b.
    let reply = panel
        .call(
            Method::GET,
            &format!("/zones/{web}/certificate"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(
        reply.json["certificate"]["source"], "uploaded",
        "{}",
        reply.json
    );
    assert_eq!(reply.json["certificate"]["coverage"], "wildcard");
    assert_eq!(reply.json["certificate"]["id"], id.as_str());
    let reply = panel
        .call(
            Method::GET,
            &format!("/zones/{deep}/certificate"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.json["certificate"], Value::Null, "{}", reply.json);
    let reply = panel
        .call(
            Method::GET,
            "/certificates/uncovered",
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.json["total"], 1, "{}", reply.json);
    assert_eq!(reply.json["items"][0]["hostname"], "a.b.example.test");

    // An issued wildcard for the same names (cert-worker's row): the upload still wins.
    panel
        .db
        .execute_unprepared(
            "UPDATE certificates SET status = 'active', not_before = now(), \
             not_after = now() + interval '200 days'",
        )
        .await?;
    let reply = panel
        .call(
            Method::GET,
            &format!("/zones/{app}/certificate"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(
        reply.json["certificate"]["source"], "uploaded",
        "{}",
        reply.json
    );

    // An exact upload for app beats the wildcard.
    let (app_leaf, app_key) = leaf(&ca1, &["app.example.test"], -1, 30);
    let reply = upload(
        &mut panel,
        &admin,
        &domain,
        json!({"hostname": "APP.example.test.", "chain_pem": app_leaf, "key_pem": app_key}),
    )
    .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(reply.json["hostname"], "app.example.test");
    let exact_id = reply.json["id"].as_str().unwrap().to_owned();
    let reply = panel
        .call(
            Method::GET,
            &format!("/zones/{app}/certificate"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(
        reply.json["certificate"]["id"],
        exact_id.as_str(),
        "{}",
        reply.json
    );
    assert_eq!(reply.json["certificate"]["coverage"], "exact");

    // Replace: checked like an upload (a wrong name refused), then swapped.
    let (bad_leaf, bad_key) = leaf(&ca1, &["*.other.test"], -1, 90);
    let reply = panel
        .call(
            Method::PUT,
            &format!("/uploaded-certificates/{id}"),
            Auth::Bearer(&admin),
            Some(json!({"chain_pem": bad_leaf, "key_pem": bad_key})),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    let (new_leaf, new_key) = leaf(&ca1, &wild, -1, 60);
    let reply = panel
        .call(
            Method::PUT,
            &format!("/uploaded-certificates/{id}"),
            Auth::Bearer(&admin),
            Some(json!({"chain_pem": new_leaf, "key_pem": new_key})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let json: Option<String> = panel
        .redis
        .client()
        .get(panel.redis.keys().cert(&member))
        .await?;
    assert_eq!(
        CertRecord::from_json(&member, json.unwrap().as_bytes())?.key_pem,
        new_key
    );

    // Delete (dry run first): the Redis key goes; web falls back to the issued one.
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/uploaded-certificates/{id}?dry_run=true"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(rows(&panel).await?, 2);
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/uploaded-certificates/{id}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 204, "{}", reply.json);
    let gone: Option<String> = panel
        .redis
        .client()
        .get(panel.redis.keys().cert(&member))
        .await?;
    assert_eq!(gone, None);
    let reply = panel
        .call(
            Method::GET,
            &format!("/zones/{web}/certificate"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(
        reply.json["certificate"]["source"], "issued",
        "{}",
        reply.json
    );
    assert_eq!(panel.audit_count("uploaded_certificate.delete").await?, 1);

    // Deleting the domain takes the remaining upload with it, in Redis too.
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/domains/{domain}?cascade=true"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 204, "{}", reply.json);
    assert_eq!(rows(&panel).await?, 0);
    assert!(uploaded_keys(&panel).await?.is_empty());

    assert_no_secrets(&panel, &[]);
    for (request, body) in &panel.bodies {
        assert!(
            !body.contains("PRIVATE KEY"),
            "{request} answered a key: {body}"
        );
    }
    panel.stop().await
}

#[tokio::test]
async fn uploads_follow_the_domain_grants() -> anyhow::Result<()> {
    let mut panel = Panel::start_with(None, &["--secret-key", SECRET_KEY]).await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "example.test").await?;
    let user = panel.user(&admin, "alice", "alice-password-77aa").await?;
    panel.grant(&admin, &user, &domain, "read").await?;
    let (_, alice) = panel.key_for("alice", "alice-password-77aa").await?;
    let ca1 = ca("Test CA one");
    let (leaf_pem, key_pem) = leaf(&ca1, &["*.example.test", "example.test"], -1, 90);
    let body = json!({"chain_pem": leaf_pem, "key_pem": key_pem});
    // A reader may not upload (404, as for anything outside an edit grant)…
    let reply = upload(&mut panel, &alice, &domain, body.clone()).await?;
    assert_eq!(reply.status, 404, "{}", reply.json);
    let reply = upload(&mut panel, &admin, &domain, body).await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let id = reply.json["id"].as_str().unwrap().to_owned();
    // …but may see it, not delete it.
    let reply = panel
        .call(
            Method::GET,
            &format!("/uploaded-certificates/{id}"),
            Auth::Bearer(&alice),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/uploaded-certificates/{id}"),
            Auth::Bearer(&alice),
            None,
        )
        .await?;
    assert_eq!(reply.status, 404, "{}", reply.json);
    // A user without a grant sees nothing.
    let bob = panel.user(&admin, "bob", "bob-password-77aa-x").await?;
    let _ = bob;
    let (_, bob_key) = panel.key_for("bob", "bob-password-77aa-x").await?;
    let reply = panel
        .call(
            Method::GET,
            &format!("/uploaded-certificates/{id}"),
            Auth::Bearer(&bob_key),
            None,
        )
        .await?;
    assert_eq!(reply.status, 404);
    let reply = panel
        .call(
            Method::GET,
            &format!("/domains/{domain}/uploaded-certificates"),
            Auth::Bearer(&bob_key),
            None,
        )
        .await?;
    assert_eq!(reply.status, 404);
    panel.stop().await
}

/// The health list says, for each certificate near its expiry, where it comes from and
/// why it is not replaced: an uploaded one is `not_renewable`; an issued one whose
/// renewal fails is `renewal_failing` with the cert worker's last error; one whose
/// renewal has not failed is `renewal_scheduled`.
#[tokio::test]
async fn health_says_why_each_expiring_certificate_is_not_replaced() -> anyhow::Result<()> {
    let mut panel = Panel::start_with(None, &["--secret-key", SECRET_KEY]).await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "example.test").await?;
    panel.domain(&admin, "calm.test").await?;
    let ca1 = ca("Test CA one");

    // An uploaded wildcard with 5 days left.
    let (leaf_pem, key_pem) = leaf(&ca1, &["*.example.test", "example.test"], -80, 5);
    let chain = format!("{leaf_pem}{}", ca1.pem);
    let reply = upload(
        &mut panel,
        &admin,
        &domain,
        json!({"chain_pem": chain, "key_pem": key_pem}),
    )
    .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);

    // Issued wildcards (as cert-worker publishes them) with 6 and 20 days left: the
    // first one's renewal fails, the second one's is under way.
    let error = "cloudflare: create TXT record failed: HTTP 401: Authentication error";
    let store =
        switchyard_shared::Store::new(panel.redis.client().clone(), panel.redis.keys().clone());
    let mut changes = switchyard_shared::store::ChangeSet::new();
    for (domain, days) in [("example.test", 6), ("calm.test", 20)] {
        let (leaf_pem, key_pem) = leaf(&ca1, &[&format!("*.{domain}"), domain], -70, days);
        changes.put_cert(&CertRecord {
            name: switchyard_shared::HostPattern::parse(&format!("*.{domain}"))?,
            names: vec![
                switchyard_shared::HostPattern::parse(&format!("*.{domain}"))?,
                switchyard_shared::HostPattern::parse(domain)?,
            ],
            chain_pem: format!("{leaf_pem}{}", ca1.pem),
            key_pem,
            not_before: OffsetDateTime::now_utc() - Duration::days(70),
            not_after: OffsetDateTime::now_utc() + Duration::days(days),
            source: CertSource::Issued,
        });
    }
    store.apply(&changes).await?;
    panel
        .db
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "UPDATE certificates SET status = 'failed_renewal', last_error = $1, attempts = 3 \
             WHERE domain_id = (SELECT id FROM domains WHERE name = 'example.test')",
            [error.into()],
        ))
        .await?;
    panel
        .db
        .execute_unprepared(
            "UPDATE certificates SET status = 'renewing' \
             WHERE domain_id = (SELECT id FROM domains WHERE name = 'calm.test')",
        )
        .await?;

    let reply = panel.call(Method::GET, "/health", Auth::None, None).await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let listed: Vec<(String, String, String, Value)> = reply.json["expiring_certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["source"].as_str().unwrap().to_owned(),
                c["why"].as_str().unwrap().to_owned(),
                c.get("error").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (
                "*.example.test".to_owned(),
                "uploaded".to_owned(),
                "not_renewable".to_owned(),
                Value::Null
            ),
            (
                "*.example.test".to_owned(),
                "issued".to_owned(),
                "renewal_failing".to_owned(),
                json!(error)
            ),
            (
                "*.calm.test".to_owned(),
                "issued".to_owned(),
                "renewal_scheduled".to_owned(),
                Value::Null
            ),
        ],
        "{}",
        reply.json
    );
    let days = reply.json["expiring_certificates"][0]["days_left"]
        .as_f64()
        .unwrap();
    assert!((4.9..5.0).contains(&days), "{days}");
    let problems = reply.json["problems"].to_string();
    assert!(
        problems.contains("uploaded certificate \\\"*.example.test\\\" expires in"),
        "{problems}"
    );
    assert!(
        problems.contains(&format!("renewal failing: {error}")),
        "{problems}"
    );
    assert_eq!(reply.json["status"], "degraded");
    panel.stop().await
}
