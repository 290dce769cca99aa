//! Issue #14: what writes report about themselves (the Redis version they produced and
//! their commit time), what dry runs show of Redis (the records before and after), and
//! API keys' last use.

mod common;

use common::*;
use fred::prelude::KeysInterface as _;
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

async fn redis_version(panel: &Panel) -> anyhow::Result<u64> {
    let keys = panel.redis.keys().clone();
    let v: Option<u64> = panel.redis.client().get(keys.version()).await?;
    Ok(v.unwrap_or(0))
}

fn committed_at(json: &Value) -> OffsetDateTime {
    let text = json["committed_at"]
        .as_str()
        .unwrap_or_else(|| panic!("committed_at in {json}"));
    OffsetDateTime::parse(text, &Rfc3339).expect("RFC 3339")
}

#[tokio::test]
async fn every_write_answers_the_redis_version_it_produced() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let admin = || Auth::Bearer(&key);
    panel.domain(&key, "example.com").await?;
    let start = OffsetDateTime::now_utc();

    // POST /zones: the zone as stored, plus its version and commit time.
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            admin(),
            Some(zone("app.example.com", "", "http://127.0.0.1:9001")),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let id = reply.json["id"].as_str().unwrap().to_owned();
    let v1 = reply.json["version"].as_u64().expect("a version");
    assert_eq!(v1, redis_version(&panel).await?);
    let at = committed_at(&reply.json);
    assert!(at >= start && at <= OffsetDateTime::now_utc(), "{at}");

    // PUT: the next version.
    let reply = panel
        .call(
            Method::PUT,
            &format!("/zones/{id}"),
            admin(),
            Some(zone("app.example.com", "", "http://127.0.0.1:9002")),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let v2 = reply.json["version"].as_u64().expect("a version");
    assert_eq!(v2, v1 + 1);
    assert!(committed_at(&reply.json) >= at);

    // A dry run changes nothing and reports no version.
    let reply = panel
        .call(
            Method::PUT,
            &format!("/zones/{id}?dry_run=true"),
            admin(),
            Some(zone("app.example.com", "", "http://127.0.0.1:9003")),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["version"], Value::Null);
    assert_eq!(reply.json["committed_at"], Value::Null);
    assert_eq!(redis_version(&panel).await?, v2);

    // Bulk: one version for the whole batch.
    let reply = panel
        .call(
            Method::POST,
            "/zones/bulk",
            admin(),
            Some(json!({"create": [
                zone("a.example.com", "", "http://127.0.0.1:9001"),
                zone("b.example.com", "", "http://127.0.0.1:9001"),
            ]})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["version"], v2 + 1, "{}", reply.json);
    committed_at(&reply.json);

    // A named backend's template change: one version for every zone it re-renders.
    let reply = panel
        .call(
            Method::POST,
            "/named-backends",
            admin(),
            Some(json!({"name": "svc", "url_template": "http://{first_label}.internal:8080"})),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let backend = reply.json["id"].as_str().unwrap().to_owned();
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            admin(),
            Some(json!({"hostname": "c.example.com", "backend": {"kind": "named", "name": "svc"}})),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let v3 = reply.json["version"].as_u64().unwrap();
    let reply = panel
        .call(
            Method::PUT,
            &format!("/named-backends/{backend}"),
            admin(),
            Some(json!({"name": "svc", "url_template": "http://{first_label}.internal:9090"})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["version"], v3 + 1, "{}", reply.json);
    committed_at(&reply.json);

    // An import.
    let reply = panel
        .call(
            Method::POST,
            "/import",
            admin(),
            Some(
                json!({"format": "switchyard-export/1", "domains": ["example.com"],
                        "zones": [zone("d.example.com", "", "http://127.0.0.1:9001")]}),
            ),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["version"], v3 + 2, "{}", reply.json);

    // DELETE answers 204 without a body: the version and commit time are headers.
    let reply = panel
        .call(Method::DELETE, &format!("/zones/{id}"), admin(), None)
        .await?;
    assert_eq!(reply.status, 204);
    let header = |name: &str| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header("x-switchyard-version"),
        Some((v3 + 3).to_string()),
        "{:?}",
        reply.headers
    );
    let at = header("x-switchyard-committed-at").expect("commit time");
    OffsetDateTime::parse(&at, &Rfc3339)?;
    assert_eq!(redis_version(&panel).await?, v3 + 3);
    panel.stop().await
}

/// The value of a zone key as Redis holds it, parsed.
async fn redis_record(panel: &Panel, host: &str) -> anyhow::Result<Option<Value>> {
    let key = panel.redis.keys().zone(host);
    let text: Option<String> = panel.redis.client().get(key).await?;
    Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
}

#[tokio::test]
async fn dry_runs_show_the_exact_redis_records_before_and_after() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let admin = || Auth::Bearer(&key);
    panel.domain(&key, "example.com").await?;
    let reply = panel
        .call(
            Method::POST,
            "/named-backends",
            admin(),
            Some(json!({"name": "svc", "url_template": "http://{first_label}.internal:{port}"})),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let id = panel.zone(&key, "app.example.com").await?;
    let zone_key = panel.redis.keys().zone("app.example.com");

    // A change to a named backend: `after` carries the URL the template renders to,
    // exactly as the real write then stores it.
    let named = json!({"hostname": "app.example.com",
                       "backend": {"kind": "named", "name": "svc", "params": {"port": "8443"}}});
    let reply = panel
        .call(
            Method::PUT,
            &format!("/zones/{id}?dry_run=true"),
            admin(),
            Some(named.clone()),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let records = reply.json["records"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(records.len(), 1, "{}", reply.json);
    assert_eq!(records[0]["hostname"], "app.example.com");
    assert_eq!(records[0]["key"], zone_key.as_str());
    let now = redis_record(&panel, "app.example.com").await?;
    assert_eq!(Some(&records[0]["before"]), now.as_ref());
    assert_eq!(
        records[0]["after"]["routes"][0]["upstreams"][0]["url"], "http://app.internal:8443",
        "{}",
        records[0]
    );
    assert_eq!(records[0]["after"]["routes"][0]["named_backend"], "svc");
    // Nothing changed…
    assert_eq!(redis_record(&panel, "app.example.com").await?, now);
    // …and the real write stores exactly what the dry run said.
    let reply = panel
        .call(Method::PUT, &format!("/zones/{id}"), admin(), Some(named))
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(
        reply.json["records"],
        Value::Null,
        "a real write has no preview"
    );
    assert_eq!(
        redis_record(&panel, "app.example.com").await?.as_ref(),
        Some(&records[0]["after"])
    );

    // A new hostname has no record before; a delete has none after.
    let reply = panel
        .call(
            Method::POST,
            "/zones/bulk?dry_run=true",
            admin(),
            Some(
                json!({"create": [zone("new.example.com", "", "http://127.0.0.1:9005")],
                        "delete": [id]}),
            ),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let records = reply.json["records"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let by_host = |h: &str| {
        records
            .iter()
            .find(|r| r["hostname"] == h)
            .cloned()
            .unwrap_or_else(|| panic!("{h} in {records:?}"))
    };
    let created = by_host("new.example.com");
    assert_eq!(created["before"], Value::Null);
    assert_eq!(
        created["after"]["routes"][0]["upstreams"][0]["url"],
        "http://127.0.0.1:9005"
    );
    let deleted = by_host("app.example.com");
    assert!(deleted["before"].is_object());
    assert_eq!(deleted["after"], Value::Null);
    assert!(redis_record(&panel, "new.example.com").await?.is_none());
    panel.stop().await
}

#[tokio::test]
async fn api_keys_record_their_last_use_at_most_once_a_minute() -> anyhow::Result<()> {
    use panel_api::entity::api_keys;
    use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, EntityTrait as _};

    let mut panel = Panel::start().await?;
    let (id, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let (other_id, _) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let listed = |json: &Value, id: &str| {
        json["items"]
            .as_array()
            .and_then(|items| items.iter().find(|k| k["id"] == id).cloned())
            .unwrap_or_else(|| panic!("key {id} in {json}"))
    };
    let before = OffsetDateTime::now_utc();
    let reply = panel
        .call(Method::GET, "/api-keys", Auth::Bearer(&key), None)
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    // The request that lists them used the key: recorded before the answer.
    let used = committed_at(&json!({"committed_at": listed(&reply.json, &id)["last_used_at"]}));
    assert!(used >= before - time::Duration::seconds(1), "{used}");
    assert_eq!(listed(&reply.json, &other_id)["last_used_at"], Value::Null);

    // Within the minute, further uses write nothing: a marker time set by hand stays.
    let uuid: uuid::Uuid = id.parse()?;
    let marker = OffsetDateTime::now_utc() - time::Duration::seconds(30);
    api_keys::ActiveModel {
        id: Set(uuid),
        last_used_at: Set(Some(marker)),
        ..Default::default()
    }
    .update(&panel.db)
    .await?;
    panel
        .call(Method::GET, "/me", Auth::Bearer(&key), None)
        .await?;
    let row = api_keys::Entity::find_by_id(uuid)
        .one(&panel.db)
        .await?
        .unwrap();
    assert_eq!(
        row.last_used_at.map(|t| t.unix_timestamp()),
        Some(marker.unix_timestamp())
    );
    // Older than a minute: the next use records the time again.
    let stale = OffsetDateTime::now_utc() - time::Duration::seconds(90);
    api_keys::ActiveModel {
        id: Set(uuid),
        last_used_at: Set(Some(stale)),
        ..Default::default()
    }
    .update(&panel.db)
    .await?;
    panel
        .call(Method::GET, "/me", Auth::Bearer(&key), None)
        .await?;
    let row = api_keys::Entity::find_by_id(uuid)
        .one(&panel.db)
        .await?
        .unwrap();
    assert!(row.last_used_at.unwrap() > stale + time::Duration::seconds(60));
    panel.stop().await
}
