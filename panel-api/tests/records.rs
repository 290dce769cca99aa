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
    assert_eq!(reply.json["error"]["details"][0]["field"], "query");
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
