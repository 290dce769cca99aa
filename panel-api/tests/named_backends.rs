//! Named backends: templates referenced by zones, rendered at write time, re-rendered in
//! one Redis write when they change; presets and custom backends; tenancy.

mod common;

use common::*;
use fred::prelude::{KeysInterface as _, StreamsInterface as _};
use panel_api::entity::{named_backends, zones};
use reqwest::Method;
use sea_orm::{EntityTrait as _, PaginatorTrait as _, QueryOrder as _};
use serde_json::{Value, json};

fn named_zone(host: &str, backend: &str, port: &str) -> Value {
    json!({
        "hostname": host,
        "backend": {"kind": "named", "name": backend, "params": {"port": port}},
    })
}

/// The Redis version and the change feed's length: one atomic write bumps each by one.
async fn version_and_feed(panel: &Panel) -> anyhow::Result<(u64, u64)> {
    let keys = panel.redis.keys();
    let version: Option<u64> = panel.redis.client().get(keys.version()).await?;
    let feed: u64 = panel.redis.client().xlen(keys.changes()).await?;
    Ok((version.unwrap_or(0), feed))
}

async fn url_of(panel: &Panel, host: &str) -> anyhow::Result<Vec<String>> {
    Ok(panel
        .zone_record(host)
        .await?
        .map(|r| upstream_urls(&r, ""))
        .unwrap_or_default())
}

fn problems(reply: &Reply) -> String {
    reply.json["error"]["details"].to_string()
}

#[tokio::test]
async fn a_template_change_rerenders_every_zone_in_one_redis_write() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&admin, "named.test").await?;

    let created = panel
        .call(
            Method::POST,
            "/named-backends",
            Auth::Bearer(&admin),
            Some(json!({"name": "svc", "url_template": "http://{first_label}.internal:{port}", "preset": true})),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.json);
    assert_eq!(created.json["preset"], true);
    assert_eq!(created.json["parameters"], json!(["port"]));
    let backend = created.json["id"].as_str().unwrap().to_owned();

    let hosts = ["a.named.test", "b.named.test", "c.named.test"];
    let bulk = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&admin),
            Some(json!({"create": [
                named_zone(hosts[0], "svc", "8080"),
                named_zone(hosts[1], "svc", "8081"),
                named_zone(hosts[2], "svc", "8082"),
            ]})),
        )
        .await?;
    assert_eq!(bulk.status, 200, "{}", bulk.json);
    assert_eq!(bulk.json["created"][0]["backend"]["name"], "svc");
    assert_eq!(
        bulk.json["created"][0]["named_backend_id"],
        backend.as_str()
    );
    assert_eq!(url_of(&panel, hosts[0]).await?, ["http://a.internal:8080"]);
    assert_eq!(url_of(&panel, hosts[2]).await?, ["http://c.internal:8082"]);
    // A zone without its parameter is refused with the backend's own words.
    let missing = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&admin),
            Some(json!({"hostname": "d.named.test", "backend": {"kind": "named", "name": "svc"}})),
        )
        .await?;
    assert_eq!(missing.status, 422);
    assert!(
        problems(&missing).contains("needs parameter \\\"port\\\""),
        "{}",
        missing.json
    );

    // A template that no longer renders for the zones (a parameter they do not give) is
    // refused, each zone named, and nothing changes.
    let before = version_and_feed(&panel).await?;
    let bad = panel
        .call(
            Method::PUT,
            &format!("/named-backends/{backend}"),
            Auth::Bearer(&admin),
            Some(json!({"name": "svc", "url_template": "http://{first_label}.{region}.internal:{port}"})),
        )
        .await?;
    assert_eq!(bad.status, 422, "{}", bad.json);
    assert!(
        bad.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("3 of the 3 zones")
    );
    for host in hosts {
        assert!(
            problems(&bad).contains(host),
            "{host} not named: {}",
            bad.json
        );
    }
    assert_eq!(version_and_feed(&panel).await?, before);
    assert_eq!(url_of(&panel, hosts[1]).await?, ["http://b.internal:8081"]);

    // A dry run answers the re-rendered URLs and changes nothing.
    let new_template =
        json!({"name": "svc", "url_template": "https://{first_label}.svc.internal:{port}"});
    let dry = panel
        .call(
            Method::PUT,
            &format!("/named-backends/{backend}?dry_run=true"),
            Auth::Bearer(&admin),
            Some(new_template.clone()),
        )
        .await?;
    assert_eq!(dry.status, 200, "{}", dry.json);
    assert_eq!(dry.json["dry_run"], true);
    assert_eq!(dry.json["zones"].as_array().unwrap().len(), 3);
    assert_eq!(dry.json["zones"][0]["before"], "http://a.internal:8080");
    assert_eq!(dry.json["zones"][0]["after"], "https://a.svc.internal:8080");
    assert_eq!(version_and_feed(&panel).await?, before);
    assert_eq!(url_of(&panel, hosts[0]).await?, ["http://a.internal:8080"]);
    let stored = named_backends::Entity::find_by_id(backend.parse::<uuid::Uuid>()?)
        .one(&panel.db)
        .await?
        .unwrap();
    assert_eq!(stored.url_template, "http://{first_label}.internal:{port}");

    // The real change: every zone re-rendered, one version, one feed entry.
    let changed = panel
        .call(
            Method::PUT,
            &format!("/named-backends/{backend}"),
            Auth::Bearer(&admin),
            Some(new_template),
        )
        .await?;
    assert_eq!(changed.status, 200, "{}", changed.json);
    assert_eq!(changed.json["zones"].as_array().unwrap().len(), 3);
    let after = version_and_feed(&panel).await?;
    assert_eq!(
        after,
        (before.0 + 1, before.1 + 1),
        "one atomic Redis write"
    );
    assert_eq!(
        url_of(&panel, hosts[0]).await?,
        ["https://a.svc.internal:8080"]
    );
    assert_eq!(
        url_of(&panel, hosts[1]).await?,
        ["https://b.svc.internal:8081"]
    );
    assert_eq!(
        url_of(&panel, hosts[2]).await?,
        ["https://c.svc.internal:8082"]
    );
    assert_eq!(panel.audit_count("named_backend.update").await?, 1);

    // Renaming keeps the zones on it; their views show the new name.
    let renamed = panel
        .call(
            Method::PUT,
            &format!("/named-backends/{backend}"),
            Auth::Bearer(&admin),
            Some(json!({"name": "svc2", "url_template": "https://{first_label}.svc.internal:{port}"})),
        )
        .await?;
    assert_eq!(renamed.status, 200, "{}", renamed.json);
    let zone_id = bulk.json["created"][0]["id"].as_str().unwrap();
    let zone = panel
        .call(
            Method::GET,
            &format!("/zones/{zone_id}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(zone.json["backend"]["name"], "svc2");
    let listed = panel
        .call(
            Method::GET,
            &format!("/zones?named_backend_id={backend}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(listed.json["total"], 3);

    // Still used: deleting it is refused; once its zones are gone it goes.
    let refused = panel
        .call(
            Method::DELETE,
            &format!("/named-backends/{backend}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert!(
        refused.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("3 zone")
    );
    let ids: Vec<Value> = bulk.json["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["id"].clone())
        .collect();
    let gone = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&admin),
            Some(json!({"delete": ids})),
        )
        .await?;
    assert_eq!(gone.status, 200, "{}", gone.json);
    let deleted = panel
        .call(
            Method::DELETE,
            &format!("/named-backends/{backend}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(deleted.status, 204, "{}", deleted.json);
    assert_eq!(named_backends::Entity::find().count(&panel.db).await?, 0);
    assert_eq!(panel.audit_count("named_backend.create").await?, 1);
    assert_eq!(panel.audit_count("named_backend.delete").await?, 1);
    panel.stop().await
}

#[tokio::test]
async fn custom_backends_belong_to_their_owner_and_grants_share_them() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let alice_id = panel.user(&admin, "alice", "alice password 1").await?;
    let bob_id = panel.user(&admin, "bob", "bob password 123").await?;
    let (_, alice) = panel.key_for("alice", "alice password 1").await?;
    let (_, bob) = panel.key_for("bob", "bob password 123").await?;
    let a_domain = panel.domain(&admin, "alice.test").await?;
    let b_domain = panel.domain(&admin, "bob.test").await?;
    panel.grant(&admin, &alice_id, &a_domain, "edit").await?;
    panel.grant(&admin, &bob_id, &b_domain, "edit").await?;

    // A preset and alice's own backend share the name "web".
    let preset = panel
        .call(
            Method::POST,
            "/named-backends",
            Auth::Bearer(&admin),
            Some(json!({"name": "web", "url_template": "http://preset.internal:{port}", "preset": true})),
        )
        .await?;
    assert_eq!(preset.status, 201, "{}", preset.json);
    let preset_id = preset.json["id"].as_str().unwrap().to_owned();
    let mine = panel
        .call(
            Method::POST,
            "/named-backends",
            Auth::Bearer(&alice),
            Some(json!({"name": "web", "url_template": "http://alice.internal:{port}"})),
        )
        .await?;
    assert_eq!(mine.status, 201, "{}", mine.json);
    assert_eq!(mine.json["preset"], false);
    assert_eq!(mine.json["owner_user_id"], alice_id.as_str());
    let mine_id = mine.json["id"].as_str().unwrap().to_owned();

    // Users may not make presets; the same name twice in one namespace conflicts.
    let no_preset = panel
        .call(
            Method::POST,
            "/named-backends",
            Auth::Bearer(&bob),
            Some(json!({"name": "x", "url_template": "http://x:1", "preset": true})),
        )
        .await?;
    assert_eq!(no_preset.status, 422);
    assert_eq!(no_preset.json["error"]["details"][0]["field"], "preset");
    let twice = panel
        .call(
            Method::POST,
            "/named-backends",
            Auth::Bearer(&alice),
            Some(json!({"name": "web", "url_template": "http://other:1"})),
        )
        .await?;
    assert_eq!(twice.status, 409, "{}", twice.json);

    // The name resolves to one's own first, then presets.
    let a_zone = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&alice),
            Some(named_zone("www.alice.test", "web", "81")),
        )
        .await?;
    assert_eq!(a_zone.status, 201, "{}", a_zone.json);
    let b_zone = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&bob),
            Some(named_zone("www.bob.test", "web", "82")),
        )
        .await?;
    assert_eq!(b_zone.status, 201, "{}", b_zone.json);
    assert_eq!(
        url_of(&panel, "www.alice.test").await?,
        ["http://alice.internal:81"]
    );
    assert_eq!(
        url_of(&panel, "www.bob.test").await?,
        ["http://preset.internal:82"]
    );
    assert_eq!(b_zone.json["named_backend_id"], preset_id.as_str());

    // Bob neither sees nor touches alice's backend: 404, like one that does not exist.
    let path = format!("/named-backends/{mine_id}");
    let update = json!({"name": "web", "url_template": "http://stolen:1"});
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(update.clone())),
        (Method::DELETE, None),
    ] {
        let r = panel
            .call(method.clone(), &path, Auth::Bearer(&bob), body)
            .await?;
        assert_eq!(r.status, 404, "{method} by bob: {}", r.json);
    }
    let listed = panel
        .call(Method::GET, "/named-backends", Auth::Bearer(&bob), None)
        .await?;
    assert_eq!(
        listed.json["total"], 1,
        "bob sees the preset only: {}",
        listed.json
    );
    // Nor can he change a preset, which he may read.
    let r = panel
        .call(
            Method::PUT,
            &format!("/named-backends/{preset_id}"),
            Auth::Bearer(&bob),
            Some(json!({"name": "web", "url_template": "http://stolen:{port}"})),
        )
        .await?;
    assert_eq!(r.status, 404);
    assert_eq!(
        url_of(&panel, "www.bob.test").await?,
        ["http://preset.internal:82"]
    );

    // A read grant lets bob see and use it, not change it; edit lets him change it.
    let grant = panel
        .call(
            Method::POST,
            "/grants",
            Auth::Bearer(&admin),
            Some(json!({"user_id": bob_id, "named_backend_id": mine_id, "level": "read"})),
        )
        .await?;
    assert_eq!(grant.status, 201, "{}", grant.json);
    let seen = panel
        .call(Method::GET, &path, Auth::Bearer(&bob), None)
        .await?;
    assert_eq!(seen.status, 200);
    let r = panel
        .call(Method::PUT, &path, Auth::Bearer(&bob), Some(update.clone()))
        .await?;
    assert_eq!(r.status, 404);
    // Bob's "web" is now alice's backend (shared beats preset), for new zones.
    let shared = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&bob),
            Some(named_zone("api.bob.test", "web", "83")),
        )
        .await?;
    assert_eq!(shared.status, 201, "{}", shared.json);
    assert_eq!(
        url_of(&panel, "api.bob.test").await?,
        ["http://alice.internal:83"]
    );
    // The zone created earlier keeps its backend on an update that names it the same.
    let b_zone_id = b_zone.json["id"].as_str().unwrap();
    let kept = panel
        .call(
            Method::PUT,
            &format!("/zones/{b_zone_id}"),
            Auth::Bearer(&bob),
            Some(named_zone("www.bob.test", "web", "84")),
        )
        .await?;
    assert_eq!(kept.status, 200, "{}", kept.json);
    assert_eq!(
        url_of(&panel, "www.bob.test").await?,
        ["http://preset.internal:84"]
    );

    let read_grant = grant.json["id"].as_str().unwrap();
    let r = panel
        .call(
            Method::DELETE,
            &format!("/grants/{read_grant}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(r.status, 204);
    let edit = panel
        .call(
            Method::POST,
            "/grants",
            Auth::Bearer(&admin),
            Some(json!({"user_id": bob_id, "named_backend_id": mine_id, "level": "edit"})),
        )
        .await?;
    assert_eq!(edit.status, 201, "{}", edit.json);
    let r = panel
        .call(
            Method::PUT,
            &path,
            Auth::Bearer(&bob),
            Some(json!({"name": "web", "url_template": "http://alice2.internal:{port}"})),
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.json);
    // Both zones on it follow, in alice's domain and in bob's.
    assert_eq!(
        url_of(&panel, "www.alice.test").await?,
        ["http://alice2.internal:81"]
    );
    assert_eq!(
        url_of(&panel, "api.bob.test").await?,
        ["http://alice2.internal:83"]
    );
    panel.stop().await
}

#[tokio::test]
async fn bad_named_backends_are_refused_with_the_field_and_change_nothing() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&admin, "bad.test").await?;
    let cases = [
        (
            json!({"name": "Bad Name", "url_template": "http://x:1"}),
            "name",
            "not a valid name",
        ),
        (
            json!({"name": "", "url_template": "http://x:1"}),
            "name",
            "not a valid name",
        ),
        (
            json!({"name": "ok", "url_template": "ftp://x:1"}),
            "url_template",
            "http",
        ),
        (
            json!({"name": "ok", "url_template": "http://{Host}:1"}),
            "url_template",
            "Host",
        ),
        (
            json!({"name": "ok", "url_template": "http://{host:1"}),
            "url_template",
            "brace",
        ),
        (
            json!({"name": "ok", "url_template": format!("http://{}", "a".repeat(3000))}),
            "url_template",
            "at most 2048",
        ),
    ];
    for (body, field, words) in cases {
        let r = panel
            .call(
                Method::POST,
                "/named-backends",
                Auth::Bearer(&admin),
                Some(body.clone()),
            )
            .await?;
        assert_eq!(r.status, 422, "{body}: {}", r.json);
        let detail = &r.json["error"]["details"][0];
        assert_eq!(detail["field"], field, "{body}: {}", r.json);
        assert!(
            detail["problem"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains(&words.to_lowercase()),
            "{body}: {}",
            r.json
        );
    }
    let unknown = panel
        .call(
            Method::POST,
            "/named-backends",
            Auth::Bearer(&admin),
            Some(json!({"name": "ok", "url_template": "http://x:1", "owner": "me"})),
        )
        .await?;
    assert!(matches!(unknown.status, 400 | 422), "{}", unknown.json);
    assert!(unknown.json.to_string().contains("owner"));
    // A zone naming a backend that does not exist lists the ones that do.
    let r = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&admin),
            Some(named_zone("a.bad.test", "nope", "1")),
        )
        .await?;
    assert_eq!(r.status, 422);
    assert!(problems(&r).contains("does not exist"), "{}", r.json);
    assert_eq!(named_backends::Entity::find().count(&panel.db).await?, 0);
    let rows = zones::Entity::find()
        .order_by_asc(zones::Column::Id)
        .all(&panel.db)
        .await?;
    assert!(rows.is_empty());
    assert_eq!(panel.audit_count("named_backend.create").await?, 0);
    panel.stop().await
}
