//! The audit log read endpoint (filters, tenancy) and certificates (status, last
//! error, expiry, re-issue).

mod common;

use common::*;
use panel_api::entity::certificates;
use reqwest::Method;
use sea_orm::{ColumnTrait as _, ConnectionTrait as _, EntityTrait as _, QueryFilter as _};
use serde_json::json;

#[tokio::test]
async fn audit_log_is_filtered_by_actor_resource_and_time() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "example.com").await?;
    let zone_id = panel.zone(&admin, "app.example.com").await?;
    let user = panel.user(&admin, "alice", "alice-password-77aa").await?;
    panel.grant(&admin, &user, &domain, "edit").await?;
    let (_, alice) = panel.key_for("alice", "alice-password-77aa").await?;
    let reply = panel
        .call(
            Method::PUT,
            &format!("/zones/{zone_id}"),
            Auth::Bearer(&alice),
            Some(zone("app.example.com", "", "http://127.0.0.1:9002")),
        )
        .await?;
    assert_eq!(reply.status, 200);

    // By resource: the zone's create (admin) and update (alice), newest first, with
    // before/after, source address and request id.
    let reply = panel
        .call(
            Method::GET,
            &format!("/audit?resource_type=zone&resource_id={zone_id}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["total"], 2);
    let update = &reply.json["items"][0];
    assert_eq!(update["action"], "zone.update");
    assert_eq!(update["actor_user_id"], user.as_str());
    assert!(
        update["actor"]
            .as_str()
            .unwrap()
            .starts_with("alice (api key sy_")
    );
    assert!(
        update["before"]["backend"]["upstreams"][0]["url"]
            .as_str()
            .unwrap()
            .contains("9001")
    );
    assert!(
        update["after"]["backend"]["upstreams"][0]["url"]
            .as_str()
            .unwrap()
            .contains("9002")
    );
    assert_eq!(update["source_addr"], "127.0.0.1");
    assert!(update["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(reply.json["items"][1]["action"], "zone.create");

    // By actor.
    let reply = panel
        .call(
            Method::GET,
            &format!("/audit?actor={user}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    let actions: Vec<&str> = reply.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["zone.update", "api_key.create"]);
    // By time: nothing after now, everything since a minute ago.
    let later = (time::OffsetDateTime::now_utc() + time::Duration::minutes(1))
        .format(&time::format_description::well_known::Rfc3339)?;
    let reply = panel
        .call(
            Method::GET,
            &format!("/audit?since={}", later.replace('+', "%2B")),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["total"], 0);
    let reply = panel
        .call(
            Method::GET,
            &format!("/audit?until={}&limit=2", later.replace('+', "%2B")),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert!(reply.json["total"].as_u64().unwrap() >= 7, "{}", reply.json);
    assert_eq!(reply.json["items"].as_array().unwrap().len(), 2);
    // A user reads only the records of their own actions.
    let reply = panel
        .call(Method::GET, "/audit", Auth::Bearer(&alice), None)
        .await?;
    assert_eq!(reply.json["total"], 2);
    let reply = panel
        .call(
            Method::GET,
            "/audit?since=yesterday",
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json["error"]["details"][0]["field"], "since");
    panel.stop().await
}

#[tokio::test]
async fn certificates_show_status_and_can_be_reissued() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "example.com").await?;
    let path = format!("/domains/{domain}/certificate");

    // Creating the domain queued a pending wildcard order.
    let reply = panel
        .call(Method::GET, &path, Auth::Bearer(&admin), None)
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["status"], "pending");
    assert_eq!(reply.json["names"], json!(["*.example.com", "example.com"]));
    assert_eq!(reply.json["not_after"], serde_json::Value::Null);
    assert!(reply.json.get("manual_dns").is_none(), "{}", reply.json);

    // A manual DNS order waiting for the operator: what to publish, one value a record.
    panel
        .db
        .execute_unprepared(
            "UPDATE certificates SET manual_txt_name = '_acme-challenge.example.com', \
             manual_txt_value = E'value-for-wildcard\\nvalue-for-apex'",
        )
        .await?;
    let reply = panel
        .call(Method::GET, &path, Auth::Bearer(&admin), None)
        .await?;
    assert_eq!(
        reply.json["manual_dns"],
        json!({"name": "_acme-challenge.example.com", "values": ["value-for-wildcard", "value-for-apex"]}),
        "{}",
        reply.json
    );

    // cert-worker failed it: the status says so, with the error.
    panel
        .db
        .execute_unprepared(
            "UPDATE certificates SET status = 'failed', attempts = 4, \
             last_error = 'DNS provider refused the TXT record', \
             next_attempt_at = now() + interval '1 hour'",
        )
        .await?;
    let reply = panel
        .call(Method::GET, &path, Auth::Bearer(&admin), None)
        .await?;
    assert_eq!(reply.json["status"], "failed");
    assert_eq!(
        reply.json["last_error"],
        "DNS provider refused the TXT record"
    );
    assert_eq!(reply.json["attempts"], 4);
    assert!(!reply.json.to_string().contains("key_ciphertext"));

    // Re-issue starts the schedule over, due now.
    let reply = panel
        .call(
            Method::POST,
            &format!("{path}/reissue"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["status"], "pending");
    assert_eq!(reply.json["attempts"], 0);
    assert_eq!(reply.json["last_error"], serde_json::Value::Null);
    let row = certificates::Entity::find()
        .filter(certificates::Column::DomainId.eq(domain.parse::<uuid::Uuid>()?))
        .one(&panel.db)
        .await?
        .unwrap();
    assert!(row.next_attempt_at <= time::OffsetDateTime::now_utc());
    assert_eq!(panel.audit_count("certificate.reissue").await?, 1);

    // An active certificate is renewed (and keeps serving meanwhile).
    panel
        .db
        .execute_unprepared(
            "UPDATE certificates SET status = 'active', not_after = now() + interval '60 days'",
        )
        .await?;
    let reply = panel
        .call(Method::GET, &path, Auth::Bearer(&admin), None)
        .await?;
    assert!(reply.json["not_after"].is_string());
    let reply = panel
        .call(
            Method::POST,
            &format!("{path}/reissue"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.json["status"], "renewing");

    // Unknown domain: 404.
    let reply = panel
        .call(
            Method::GET,
            &format!("/domains/{}/certificate", uuid::Uuid::new_v4()),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 404);
    panel.stop().await
}

/// A test key for sealing secrets (32 bytes, base64).
const SECRET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const TOKEN: &str = "cf-token-6a1f0c9e2b7d4e35a8c1";
const ROTATED: &str = "cf-token-rotated-99e0d1a2b3c4";

#[tokio::test]
async fn dns_credentials_are_sealed_and_never_shown() -> anyhow::Result<()> {
    use panel_api::entity::dns_credentials;
    use switchyard_shared::secrets::SecretBox;

    let mut panel = Panel::start_with(None, &["--secret-key", SECRET_KEY]).await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let reply = panel
        .call(
            Method::POST,
            "/dns-credentials",
            Auth::Bearer(&admin),
            Some(json!({"name": "cf", "provider": "cloudflare", "secret": {"api_token": TOKEN}})),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(reply.json["secret"], "set");
    let id = reply.json["id"].as_str().unwrap().to_owned();

    // At rest: sealed, opening (with cert-worker's key and context) to its JSON shape.
    let row = dns_credentials::Entity::find()
        .one(&panel.db)
        .await?
        .unwrap();
    let sealed = row.secret_ciphertext.unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(TOKEN));
    let secrets = SecretBox::from_base64(SECRET_KEY)?;
    let plain: serde_json::Value =
        serde_json::from_str(&secrets.open_string("dns_credentials.secret", &sealed)?)?;
    assert_eq!(plain, json!({"api_token": TOKEN}));

    let reply = panel
        .call(Method::GET, "/dns-credentials", Auth::Bearer(&admin), None)
        .await?;
    assert_eq!(reply.json["items"][0]["secret"], "set");
    assert_eq!(reply.json["items"][0]["provider"], "cloudflare");

    // Bad credentials name the field and change nothing.
    for (body, field) in [
        (json!({"name": "x", "provider": "godaddy"}), "provider"),
        (
            json!({"name": "x", "provider": "cloudflare", "secret": {}}),
            "secret.api_token",
        ),
        (
            json!({"name": "x", "provider": "cloudflare", "secret": {"api_token": 7}}),
            "secret.api_token",
        ),
        (
            json!({"name": "x", "provider": "porkbun", "secret": {"api_key": "pk1_a"}}),
            "secret.secret_api_key",
        ),
        (
            json!({"name": "x", "provider": "manual", "secret": {"token": "t"}}),
            "secret",
        ),
        (json!({"name": "x", "provider": "digitalocean"}), "secret"),
        (
            json!({"name": "x", "provider": "manual", "api_base_url": "ftp://x"}),
            "api_base_url",
        ),
    ] {
        let reply = panel
            .call(
                Method::POST,
                "/dns-credentials",
                Auth::Bearer(&admin),
                Some(body),
            )
            .await?;
        assert_eq!(reply.status, 422, "{}", reply.json);
        assert!(
            reply.json["error"]["details"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["field"] == field),
            "{field}: {}",
            reply.json
        );
    }
    assert_eq!(
        dns_credentials::Entity::find().all(&panel.db).await?.len(),
        1
    );

    // Rotation.
    let reply = panel
        .call(
            Method::PATCH,
            &format!("/dns-credentials/{id}"),
            Auth::Bearer(&admin),
            Some(json!({"secret": {"api_token": ROTATED}})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let row = dns_credentials::Entity::find()
        .one(&panel.db)
        .await?
        .unwrap();
    let plain = secrets.open_string("dns_credentials.secret", &row.secret_ciphertext.unwrap())?;
    assert!(plain.contains(ROTATED));

    // Domains name their credential; one in use cannot be deleted.
    let reply = panel
        .call(
            Method::POST,
            "/domains",
            Auth::Bearer(&admin),
            Some(json!({"name": "example.com", "dns_credential_id": id})),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(reply.json["dns_credential_id"], id.as_str());
    let reply = panel
        .call(
            Method::POST,
            "/domains",
            Auth::Bearer(&admin),
            Some(json!({"name": "other.test", "dns_credential_id": uuid::Uuid::new_v4()})),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    assert_eq!(
        reply.json["error"]["details"][0]["field"],
        "dns_credential_id"
    );
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/dns-credentials/{id}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 409);
    assert_eq!(panel.audit_count("dns_credential.create").await?, 1);
    assert_eq!(panel.audit_count("dns_credential.update").await?, 1);

    // Users cannot see credentials at all.
    let user = panel.user(&admin, "u1", "user-password-1234").await?;
    let _ = user;
    let (_, u1) = panel.key_for("u1", "user-password-1234").await?;
    let reply = panel
        .call(Method::GET, "/dns-credentials", Auth::Bearer(&u1), None)
        .await?;
    assert_eq!(reply.status, 404);

    // Neither the token nor the rotated one appears in any answer, audit row or log line.
    assert_no_secrets(&panel, &[ADMIN_PASSWORD, TOKEN, ROTATED]);
    let audit = panel
        .call(
            Method::GET,
            "/audit?resource_type=dns_credential",
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(audit.json["total"], 2);
    let text = audit.json.to_string();
    assert!(!text.contains(TOKEN) && !text.contains(ROTATED));
    panel.stop().await?;

    // Without a secret key the panel refuses to store a secret, and says why.
    let mut keyless = Panel::start().await?;
    let (_, admin) = keyless.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let reply = keyless
        .call(
            Method::POST,
            "/dns-credentials",
            Auth::Bearer(&admin),
            Some(json!({"name": "cf", "provider": "cloudflare", "secret": {"api_token": TOKEN}})),
        )
        .await?;
    assert_eq!(reply.status, 503, "{}", reply.json);
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SWITCHYARD_SECRET_KEY")
    );
    keyless.stop().await
}
