//! Bulk zone writes (all or nothing, per-item errors, one Redis write) and dry runs
//! (the diff of what would change, with nothing changed in PostgreSQL or Redis).

mod common;

use common::*;
use fred::prelude::{KeysInterface as _, SetsInterface as _, StreamsInterface as _};
use panel_api::entity::{audit_log, named_backends, redis_outbox, zones};
use reqwest::Method;
use sea_orm::{EntityTrait as _, PaginatorTrait as _, QueryOrder as _};
use serde_json::{Value, json};

/// Everything a write could touch: every zone row, the audit log's size, the outbox,
/// and every routing key under the test prefix with its value.
async fn snapshot(
    panel: &Panel,
) -> anyhow::Result<(Vec<zones::Model>, u64, u64, Vec<(String, Option<String>)>)> {
    let rows = zones::Entity::find()
        .order_by_asc(zones::Column::Id)
        .all(&panel.db)
        .await?;
    let audits = audit_log::Entity::find().count(&panel.db).await?;
    let outbox = redis_outbox::Entity::find().count(&panel.db).await?;
    let mut redis = Vec::new();
    for key in panel.redis.all_keys().await? {
        // Degraded mode's memory of verified credentials is not routing data.
        if key.contains(":panel:") {
            continue;
        }
        // The change feed is a stream; its length stands in for its value.
        let value: Option<String> = if key.ends_with("changes") {
            let len: u64 = panel.redis.client().xlen(&key).await?;
            Some(format!("stream of {len}"))
        } else if key.ends_with(":zones") || key.ends_with(":certs") || key.contains(":proxies") {
            let members: Vec<String> = panel
                .redis
                .client()
                .smembers(&key)
                .await
                .unwrap_or_default();
            let mut members = members;
            members.sort();
            Some(members.join(","))
        } else {
            panel.redis.client().get(&key).await.ok().flatten()
        };
        redis.push((key, value));
    }
    Ok((rows, audits, outbox, redis))
}

fn fields(reply: &Reply) -> Vec<String> {
    reply.json["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn bulk_is_all_or_nothing_with_per_item_errors() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "example.com").await?;
    let keep = panel.zone(&key, "keep.example.com").await?;
    let before = snapshot(&panel).await?;

    // One bad item among good ones: 422 naming each bad item, nothing written.
    let reply = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&key),
            Some(json!({"create": [
                zone("a.example.com", "", "http://127.0.0.1:9001"),
                zone("b.example.com", "", "http://127.0.0.1:9001"),
                zone("c.example.com", "", "ftp://127.0.0.1:9001"),
                zone("d.other.org", "", "http://127.0.0.1:9001"),
                zone("a.example.com", "", "http://127.0.0.1:9002"),
                zone("keep.example.com", "", "http://127.0.0.1:9002"),
            ], "delete": ["00000000-0000-4000-8000-000000000000"]})),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    let got = fields(&reply);
    for expected in [
        "create[2].backend.upstreams[0].url",
        "create[3].hostname",
        "create[4].path_prefix",
        "create[5].path_prefix",
        "delete[0]",
    ] {
        assert!(
            got.iter().any(|f| f == expected),
            "{expected} not in {got:?}"
        );
    }
    assert!(
        !got.iter()
            .any(|f| f.starts_with("create[0]") || f.starts_with("create[1]"))
    );
    assert_eq!(
        snapshot(&panel).await?,
        before,
        "a refused bulk request changed something"
    );

    // A good batch: every zone in Postgres, audited, and in Redis.
    let creates: Vec<Value> = (0..50)
        .map(|i| zone(&format!("h{i}.example.com"), "", "http://127.0.0.1:9001"))
        .collect();
    let reply = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&key),
            Some(json!({ "create": creates })),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["dry_run"], false);
    assert_eq!(reply.json["created"].as_array().unwrap().len(), 50);
    assert_eq!(zones::Entity::find().count(&panel.db).await?, 51);
    assert_eq!(panel.audit_count("zone.create").await?, 51);
    for i in [0, 17, 49] {
        let host = format!("h{i}.example.com");
        let record = panel.zone_record(&host).await?.expect("written through");
        assert!(upstream_urls(&record, "")[0].contains("127.0.0.1:9001"));
    }
    assert_eq!(redis_outbox::Entity::find().count(&panel.db).await?, 0);
    let ids: Vec<String> = reply.json["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["id"].as_str().unwrap().to_owned())
        .collect();

    // Mixed: replace two, delete three, create one, and move a (host, path) from a
    // deleted zone to a new one in the same request.
    let reply = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&key),
            Some(json!({
                "update": [
                    {"id": ids[0], "zone": zone("h0.example.com", "", "http://127.0.0.1:9100")},
                    {"id": keep, "zone": zone("kept.example.com", "/api", "http://127.0.0.1:9101")},
                ],
                "delete": [ids[1], ids[2], ids[3]],
                "create": [zone("h1.example.com", "", "http://127.0.0.1:9102")],
            })),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["changed"].as_array().unwrap().len(), 2);
    assert_eq!(reply.json["deleted"].as_array().unwrap().len(), 3);
    assert_eq!(reply.json["created"].as_array().unwrap().len(), 1);
    let moved = &reply.json["changed"][1];
    assert_eq!(moved["before"]["hostname"], "keep.example.com");
    assert_eq!(moved["after"]["hostname"], "kept.example.com");
    assert_eq!(moved["after"]["path_prefix"], "/api");
    assert_eq!(zones::Entity::find().count(&panel.db).await?, 51 - 3 + 1);
    assert!(panel.zone_record("keep.example.com").await?.is_none());
    assert!(panel.zone_record("h2.example.com").await?.is_none());
    let kept = panel.zone_record("kept.example.com").await?.unwrap();
    assert!(upstream_urls(&kept, "/api")[0].contains("9101"));
    let h1 = panel.zone_record("h1.example.com").await?.unwrap();
    assert!(upstream_urls(&h1, "")[0].contains("9102"));
    let h0 = panel.zone_record("h0.example.com").await?.unwrap();
    assert!(upstream_urls(&h0, "")[0].contains("9100"));
    assert_eq!(panel.audit_count("zone.update").await?, 2);
    assert_eq!(panel.audit_count("zone.delete").await?, 3);

    // The same id twice, and an empty request.
    let reply = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&key),
            Some(json!({"delete": [ids[4], ids[4]]})),
        )
        .await?;
    assert_eq!(reply.status, 422);
    assert_eq!(fields(&reply), ["delete[1]"]);
    let reply = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&key),
            Some(json!({})),
        )
        .await?;
    assert_eq!(reply.status, 422);
    // Bulk bodies may be larger than single ones (10,000 zones are ~1.5 MB), but not
    // unbounded.
    let response = panel
        .http
        .post(format!("{}/zones/bulk", panel.base))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(vec![b' '; 40 << 20])
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 413);
    panel.stop().await
}

#[tokio::test]
async fn bulk_respects_tenancy() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let mine = panel.domain(&admin, "mine.test").await?;
    panel.domain(&admin, "theirs.test").await?;
    let theirs_zone = panel.zone(&admin, "www.theirs.test").await?;
    let user = panel.user(&admin, "tenant", "tenant-password-0a1b").await?;
    panel.grant(&admin, &user, &mine, "edit").await?;
    let (_, tenant) = panel.key_for("tenant", "tenant-password-0a1b").await?;
    let before = snapshot(&panel).await?;
    let reply = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&tenant),
            Some(json!({
                "create": [
                    zone("a.mine.test", "", "http://127.0.0.1:9001"),
                    zone("a.theirs.test", "", "http://127.0.0.1:9001"),
                ],
                "delete": [theirs_zone],
            })),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    assert_eq!(fields(&reply), ["create[1].hostname", "delete[0]"]);
    // Someone else's zone reads like a missing one.
    assert!(
        reply.json["error"]["details"][1]["problem"]
            .as_str()
            .unwrap()
            .contains("no zone")
    );
    assert_eq!(snapshot(&panel).await?, before);
    panel.stop().await
}

#[tokio::test]
async fn dry_runs_change_nothing_and_report_the_diff() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "example.com").await?;
    let id = panel.zone(&key, "app.example.com").await?;
    let other = panel.zone(&key, "old.example.com").await?;
    let before = snapshot(&panel).await?;

    let reply = panel
        .call(
            Method::POST,
            "/zones?dry_run=true",
            Auth::Bearer(&key),
            Some(zone("New.Example.com.", "/v1", "http://127.0.0.1:9001")),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["dry_run"], true);
    // The diff shows the zone as it would be stored: normalised.
    assert_eq!(reply.json["created"][0]["hostname"], "new.example.com");
    assert_eq!(reply.json["created"][0]["path_prefix"], "/v1");
    assert_eq!(reply.json["changed"], json!([]));
    assert_eq!(reply.json["deleted"], json!([]));

    let reply = panel
        .call(
            Method::PUT,
            &format!("/zones/{id}?dry_run=true"),
            Auth::Bearer(&key),
            Some(zone("app.example.com", "", "http://127.0.0.1:9555")),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let change = &reply.json["changed"][0];
    assert_eq!(change["id"], id.as_str());
    assert!(
        change["before"]["backend"]["upstreams"][0]["url"]
            .as_str()
            .unwrap()
            .contains("9001")
    );
    assert!(
        change["after"]["backend"]["upstreams"][0]["url"]
            .as_str()
            .unwrap()
            .contains("9555")
    );

    let reply = panel
        .call(
            Method::DELETE,
            &format!("/zones/{other}?dry_run=true"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["deleted"][0]["hostname"], "old.example.com");

    let reply = panel
        .call(
            Method::POST,
            "/zones/bulk?dry_run=true",
            Auth::Bearer(&key),
            Some(json!({
                "create": [zone("b.example.com", "", "http://127.0.0.1:9001")],
                "update": [{"id": id, "zone": zone("app.example.com", "/x", "http://127.0.0.1:9001")}],
                "delete": [other],
            })),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["dry_run"], true);
    assert_eq!(reply.json["created"][0]["hostname"], "b.example.com");
    assert_eq!(reply.json["changed"][0]["before"]["path_prefix"], "");
    assert_eq!(reply.json["changed"][0]["after"]["path_prefix"], "/x");
    assert_eq!(reply.json["deleted"][0]["id"], other.as_str());

    // A dry run runs the real checks: an invalid one fails just like the write would.
    let reply = panel
        .call(
            Method::POST,
            "/zones?dry_run=true",
            Auth::Bearer(&key),
            Some(zone("app.example.com", "", "http://127.0.0.1:9001")),
        )
        .await?;
    assert_eq!(reply.status, 409, "{}", reply.json);
    let reply = panel
        .call(
            Method::POST,
            "/zones?dry_run=maybe",
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(reply.status, 422);

    assert_eq!(
        snapshot(&panel).await?,
        before,
        "a dry run changed something"
    );
    panel.stop().await
}

#[tokio::test]
async fn export_and_import_round_trip_all_or_nothing() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "example.com").await?;
    let other = panel.domain(&key, "other.test").await?;
    for host in ["a.example.com", "c.example.com", "www.other.test"] {
        panel.zone(&key, host).await?;
    }
    let reply = panel
        .call(Method::GET, "/export", Auth::Bearer(&key), None)
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["format"], "switchyard-export/2");
    assert_eq!(
        reply.json["domains"],
        json!([{"name": "example.com", "dns_credential": null, "certificates": "wildcard"}, {"name": "other.test", "dns_credential": null, "certificates": "wildcard"}])
    );
    assert_eq!(reply.json["zones"].as_array().unwrap().len(), 3);
    let exported = reply.json.clone();

    // Importing what was exported changes nothing.
    let before = snapshot(&panel).await?;
    let reply = panel
        .call(
            Method::POST,
            "/import",
            Auth::Bearer(&key),
            Some(exported.clone()),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(
        (
            &reply.json["created"],
            &reply.json["changed"],
            &reply.json["deleted"]
        ),
        (&json!([]), &json!([]), &json!([]))
    );
    assert_eq!(snapshot(&panel).await?, before);

    // An edited document: a changed, c dropped (replace), d added, in another spelling.
    let mut document = exported.clone();
    document["zones"] = json!([
        zone("a.example.com", "", "http://127.0.0.1:9200"),
        zone("D.Example.com.", "/v2/", "http://127.0.0.1:9201"),
        zone("www.other.test", "", "http://127.0.0.1:9001"),
    ]);
    document["replace"] = json!(true);
    let reply = panel
        .call(
            Method::POST,
            "/import?dry_run=true",
            Auth::Bearer(&key),
            Some(document.clone()),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["created"][0]["hostname"], "d.example.com");
    assert_eq!(reply.json["created"][0]["path_prefix"], "/v2");
    assert_eq!(
        reply.json["changed"][0]["before"]["hostname"],
        "a.example.com"
    );
    assert_eq!(reply.json["deleted"][0]["hostname"], "c.example.com");
    assert_eq!(reply.json["changed"].as_array().unwrap().len(), 1);
    assert_eq!(
        snapshot(&panel).await?,
        before,
        "a dry-run import changed something"
    );
    let reply = panel
        .call(Method::POST, "/import", Auth::Bearer(&key), Some(document))
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert!(panel.zone_record("c.example.com").await?.is_none());
    let d = panel.zone_record("d.example.com").await?.unwrap();
    assert!(upstream_urls(&d, "/v2")[0].contains("9201"));
    let a = panel.zone_record("a.example.com").await?.unwrap();
    assert!(upstream_urls(&a, "")[0].contains("9200"));

    // Bad documents: named by their position in the document, nothing changed.
    let before = snapshot(&panel).await?;
    let mut bad = exported.clone();
    bad["zones"] = json!([
        zone("a.example.com", "", "http://127.0.0.1:9200"),
        zone("bad host.example.com", "", "http://127.0.0.1:9001"),
    ]);
    // A name of format 1 in a format 2 document; a user's document (below) may not
    // create domains, an admin's may.
    let mut unknown_domain = exported.clone();
    unknown_domain["domains"] = json!(["not a domain"]);
    let mut wrong_format = exported.clone();
    wrong_format["format"] = json!("something-else/9");
    for (document, field) in [
        (bad, "zones[1].hostname"),
        (unknown_domain, "domains[0]"),
        (wrong_format, "format"),
    ] {
        let reply = panel
            .call(Method::POST, "/import", Auth::Bearer(&key), Some(document))
            .await?;
        assert_eq!(reply.status, 422, "{}", reply.json);
        assert!(
            fields(&reply).iter().any(|f| f == field),
            "{field}: {}",
            reply.json
        );
    }
    assert_eq!(snapshot(&panel).await?, before);

    // A user's export is their slice.
    let user = panel.user(&key, "reader", "reader-password-3f3f").await?;
    panel.grant(&key, &user, &other, "read").await?;
    let (_, reader) = panel.key_for("reader", "reader-password-3f3f").await?;
    let reply = panel
        .call(Method::GET, "/export", Auth::Bearer(&reader), None)
        .await?;
    // Credentials are admins' business: a user's slice leaves them out.
    assert_eq!(reply.json["domains"], json!([{"name": "other.test"}]));
    assert_eq!(reply.json["zones"].as_array().unwrap().len(), 1);
    panel.stop().await
}

/// A zone using the named backend `name` with `params`.
fn named_zone(host: &str, name: &str, params: Value) -> Value {
    json!({
        "hostname": host,
        "path_prefix": "",
        "backend": {"kind": "named", "name": name, "params": params},
    })
}

#[tokio::test]
async fn named_backends_travel_with_the_export() -> anyhow::Result<()> {
    // The source: a preset of the admin's and a backend of alice's, each used by a zone.
    let mut source = Panel::start().await?;
    let (_, admin) = source.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = source.domain(&admin, "example.com").await?;
    let alice = source.user(&admin, "alice", "alice-password-77aa").await?;
    source.grant(&admin, &alice, &domain, "edit").await?;
    let (_, alice_key) = source.key_for("alice", "alice-password-77aa").await?;
    for (key, body) in [
        (
            &admin,
            json!({"name": "web", "url_template": "http://{first_label}.web.internal:8080", "preset": true}),
        ),
        (
            &alice_key,
            json!({"name": "api", "url_template": "http://{first_label}.api.internal:{port}"}),
        ),
        // Alice's own, unused: hers travels with her export, not with the admin's.
        (
            &alice_key,
            json!({"name": "spare", "url_template": "http://spare.internal:9999"}),
        ),
    ] {
        let reply = source
            .call(
                Method::POST,
                "/named-backends",
                Auth::Bearer(key),
                Some(body),
            )
            .await?;
        assert_eq!(reply.status, 201, "{}", reply.json);
    }
    for (key, zone) in [
        (
            &alice_key,
            named_zone("a.example.com", "api", json!({"port": "9000"})),
        ),
        (&admin, named_zone("w.example.com", "web", json!({}))),
    ] {
        let reply = source
            .call(Method::POST, "/zones", Auth::Bearer(key), Some(zone))
            .await?;
        assert_eq!(reply.status, 201, "{}", reply.json);
    }
    let exported = source
        .call(Method::GET, "/export", Auth::Bearer(&admin), None)
        .await?
        .json;
    assert_eq!(
        exported["named_backends"],
        json!([
            {"name": "api", "url_template": "http://{first_label}.api.internal:{port}", "preset": false},
            {"name": "web", "url_template": "http://{first_label}.web.internal:8080", "preset": true},
        ]),
        "{exported}"
    );
    let hers = source
        .call(Method::GET, "/export", Auth::Bearer(&alice_key), None)
        .await?
        .json;
    let names: Vec<&str> = hers["named_backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    // Her slice is the domain's zones (the preset one too) plus her own backends.
    assert_eq!(names, ["api", "spare", "web"], "{hers}");
    source.stop().await?;

    // A fresh panel with the domain only: the import brings the backends, then the zones.
    let mut target = Panel::start().await?;
    let (_, key) = target.key_for(ADMIN, ADMIN_PASSWORD).await?;
    target.domain(&key, "example.com").await?;
    let backends = |panel: &Panel| {
        let db = panel.db.clone();
        async move { named_backends::Entity::find().count(&db).await }
    };
    let dry = target
        .call(
            Method::POST,
            "/import?dry_run=true",
            Auth::Bearer(&key),
            Some(exported.clone()),
        )
        .await?;
    assert_eq!(dry.status, 200, "{}", dry.json);
    assert_eq!(
        dry.json["named_backends_created"].as_array().unwrap().len(),
        2
    );
    assert_eq!(dry.json["created"].as_array().unwrap().len(), 2);
    assert_eq!(backends(&target).await?, 0, "a dry run created backends");
    assert!(target.zone_record("a.example.com").await?.is_none());

    let applied = target
        .call(
            Method::POST,
            "/import",
            Auth::Bearer(&key),
            Some(exported.clone()),
        )
        .await?;
    assert_eq!(applied.status, 200, "{}", applied.json);
    let created = &applied.json["named_backends_created"];
    assert_eq!(created[0]["name"], "api");
    assert_eq!(created[0]["preset"], false);
    assert_eq!(created[1]["name"], "web");
    assert_eq!(created[1]["preset"], true);
    let a = target
        .zone_record("a.example.com")
        .await?
        .expect("a in Redis");
    assert_eq!(upstream_urls(&a, ""), ["http://a.api.internal:9000"]);
    let w = target
        .zone_record("w.example.com")
        .await?
        .expect("w in Redis");
    assert_eq!(upstream_urls(&w, ""), ["http://w.web.internal:8080"]);

    // Again: nothing to do.
    let again = target
        .call(
            Method::POST,
            "/import",
            Auth::Bearer(&key),
            Some(exported.clone()),
        )
        .await?;
    assert_eq!(again.status, 200, "{}", again.json);
    assert!(
        again.json.get("named_backends_created").is_none(),
        "{}",
        again.json
    );
    assert_eq!(again.json["created"], json!([]));

    // Refused, naming the entry, with nothing changed: a template that differs from the
    // existing backend's, a name given twice, an invalid template for a new backend
    // (even though the document's zones are fine).
    let before = (snapshot(&target).await?, backends(&target).await?);
    let mut changed = exported.clone();
    changed["named_backends"][0]["url_template"] = json!("http://elsewhere.internal:{port}");
    let mut twice = exported.clone();
    twice["named_backends"][1]["name"] = json!("api");
    let mut broken = exported.clone();
    broken["named_backends"] = json!([{"name": "fresh", "url_template": "ftp://x.internal"}]);
    broken["zones"] = json!([named_zone("f.example.com", "fresh", json!({}))]);
    for (document, field, says) in [
        (
            changed,
            "named_backends[0].url_template",
            "does not change templates",
        ),
        (
            twice,
            "named_backends[1].name",
            "also given at named_backends[0]",
        ),
        (broken, "named_backends[0].url_template", "http"),
    ] {
        let reply = target
            .call(Method::POST, "/import", Auth::Bearer(&key), Some(document))
            .await?;
        assert_eq!(reply.status, 422, "{}", reply.json);
        let detail = reply.json["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["field"] == field)
            .unwrap_or_else(|| panic!("{field}: {}", reply.json))
            .clone();
        assert!(
            detail["problem"].as_str().unwrap().contains(says),
            "{detail}"
        );
    }
    assert_eq!((snapshot(&target).await?, backends(&target).await?), before);
    target.stop().await
}
