//! History and rollback end to end: every routing change is one numbered revision (a
//! bulk write too), zones and the whole configuration roll back to a revision (dry run
//! first: the diff, nothing changed), Redis equals PostgreSQL after every rollback,
//! tenancy (403 for a reader, 404 for a stranger), secrets never in answers, and
//! pruning keeps what the retention says.

mod common;

use common::*;
use panel_api::entity::{revisions, zones};
use panel_api::service::revisions as service;
use reqwest::Method;
use sea_orm::{
    ConnectionTrait as _, EntityTrait as _, PaginatorTrait as _, QueryOrder as _, Statement,
};
use serde_json::{Value, json};

const OWNER_PASSWORD: &str = "owner-password-7d1e";
const READER_PASSWORD: &str = "reader-password-3b9a";
const STRANGER_PASSWORD: &str = "stranger-password-0c42";
const BCRYPT_HASH: &str = "$2y$12$QjSH496pcT5CEbzjD/vtVeH03tfHKFy36d4J0Ltp3lRtee9HDxY3K";

/// The zone's row as the API shows it, without times.
async fn zone_spec(panel: &mut Panel, key: &str, id: &str) -> anyhow::Result<Value> {
    let reply = panel
        .call(
            Method::GET,
            &format!("/zones/{id}"),
            Auth::Bearer(key),
            None,
        )
        .await?;
    anyhow::ensure!(reply.status == 200, "zone: {}", reply.json);
    Ok(without_times(reply.json))
}

fn without_times(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        for k in ["created_at", "updated_at", "version", "committed_at"] {
            o.remove(k);
        }
    }
    v
}

/// The caller's export without its time: the whole configuration as data.
async fn export(panel: &mut Panel, key: &str) -> anyhow::Result<Value> {
    let mut reply = panel
        .call(Method::GET, "/export", Auth::Bearer(key), None)
        .await?;
    anyhow::ensure!(reply.status == 200, "export: {}", reply.json);
    reply.json.as_object_mut().unwrap().remove("exported_at");
    Ok(reply.json)
}

async fn latest_revision(panel: &Panel) -> anyhow::Result<i64> {
    Ok(revisions::Entity::find()
        .order_by_desc(revisions::Column::Number)
        .one(&panel.db)
        .await?
        .expect("a revision")
        .number)
}

#[tokio::test]
async fn a_zone_changed_three_times_rolls_back_to_its_first_state() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "example.com").await?;
    // The first state has basic auth: its password must come back with the rollback,
    // and its hash must never show in an answer.
    let mut first = zone("app.example.com", "/api", "http://127.0.0.1:9001");
    first["policies"] = json!({"basic_auth": {"realm": "Staff", "users": [
        {"username": "ann", "password": "ann-password-long-enough"},
        {"username": "bob", "hash": BCRYPT_HASH}
    ]}});
    let reply = panel
        .call(Method::POST, "/zones", Auth::Bearer(&key), Some(first))
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let id = reply.json["id"].as_str().unwrap().to_owned();
    let created_revision = latest_revision(&panel).await?;
    let first_state = zone_spec(&mut panel, &key, &id).await?;
    let first_row = zones::Entity::find_by_id(id.parse::<uuid::Uuid>()?)
        .one(&panel.db)
        .await?
        .unwrap();
    let first_record = panel.zone_record("app.example.com").await?.unwrap();

    for port in [9002, 9003] {
        let reply = panel
            .call(
                Method::PUT,
                &format!("/zones/{id}"),
                Auth::Bearer(&key),
                Some(zone(
                    "app.example.com",
                    "/api",
                    &format!("http://127.0.0.1:{port}"),
                )),
            )
            .await?;
        assert_eq!(reply.status, 200, "{}", reply.json);
    }
    let reply = panel
        .call(
            Method::GET,
            &format!("/zones/{id}/revisions"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let items = reply.json["items"].as_array().unwrap();
    let ops: Vec<&str> = items.iter().map(|i| i["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["update", "update", "create"]);
    assert_eq!(items[2]["number"], created_revision);
    assert_eq!(items[2]["key"], "app.example.com/api");
    assert!(items[0]["actor"].as_str().unwrap().starts_with("root ("));
    assert_eq!(
        items[0]["before"]["backend"]["upstreams"][0]["url"],
        "http://127.0.0.1:9002"
    );
    assert_eq!(
        items[0]["after"]["backend"]["upstreams"][0]["url"],
        "http://127.0.0.1:9003"
    );

    // A dry run answers the diff of a zone update and changes nothing.
    let before = zones::Entity::find().all(&panel.db).await?;
    let revisions_before = revisions::Entity::find().count(&panel.db).await?;
    let reply = panel
        .call(
            Method::POST,
            &format!("/zones/{id}/rollback"),
            Auth::Bearer(&key),
            Some(json!({"revision": created_revision, "dry_run": true})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["dry_run"], true);
    assert_eq!(reply.json["revision"], Value::Null);
    assert_eq!(
        reply.json["changed"][0]["after"]["backend"]["upstreams"][0]["url"],
        "http://127.0.0.1:9001"
    );
    assert_eq!(reply.json["records"][0]["hostname"], "app.example.com");
    assert_eq!(zones::Entity::find().all(&panel.db).await?, before);
    assert_eq!(
        revisions::Entity::find().count(&panel.db).await?,
        revisions_before
    );

    // Applied: the answer, PostgreSQL and Redis are the first state again.
    let audits = panel.audit_count("zone.rollback").await?;
    let reply = panel
        .call(
            Method::POST,
            &format!("/zones/{id}/rollback"),
            Auth::Bearer(&key),
            Some(json!({"revision": created_revision})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["dry_run"], false);
    assert!(reply.json["version"].is_u64(), "{}", reply.json);
    let rollback_revision = reply.json["revision"].as_i64().unwrap();
    assert_eq!(
        without_times(reply.json["changed"][0]["after"].clone()),
        first_state
    );
    assert_eq!(zone_spec(&mut panel, &key, &id).await?, first_state);
    let row = zones::Entity::find_by_id(id.parse::<uuid::Uuid>()?)
        .one(&panel.db)
        .await?
        .unwrap();
    // The stored policies, hashes included: ann's password works again.
    assert_eq!(row.policies, first_row.policies);
    assert_eq!(row.upstreams, first_row.upstreams);
    assert_eq!(
        panel.zone_record("app.example.com").await?.unwrap(),
        first_record
    );
    assert_redis_matches_postgres(&panel).await?;
    assert_eq!(panel.audit_count("zone.rollback").await?, audits + 1);

    // The rollback is a revision of its own, naming what it restored.
    let reply = panel
        .call(
            Method::GET,
            &format!("/revisions/{rollback_revision}"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["action"], "zone.rollback");
    assert_eq!(reply.json["restores"], created_revision);
    assert_eq!(reply.json["records_total"], 1);

    // Deleted, the zone's history stays readable by its id, and a rollback re-creates
    // it with that id.
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/zones/{id}"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(reply.status, 204);
    assert_eq!(panel.zone_record("app.example.com").await?, None);
    let reply = panel
        .call(
            Method::GET,
            &format!("/zones/{id}/revisions?limit=2"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["items"][0]["op"], "delete");
    let next = reply.json["next"].as_str().unwrap().to_owned();
    let reply = panel
        .call(
            Method::GET,
            &format!("/zones/{id}/revisions?limit=2&after={next}"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(reply.json["items"].as_array().unwrap().len(), 2);
    let reply = panel
        .call(
            Method::POST,
            &format!("/zones/{id}/rollback?dry_run=true"),
            Auth::Bearer(&key),
            Some(json!({"revision": rollback_revision})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["created"][0]["id"], id.as_str());
    assert_eq!(panel.zone_record("app.example.com").await?, None);
    let reply = panel
        .call(
            Method::POST,
            &format!("/zones/{id}/rollback"),
            Auth::Bearer(&key),
            Some(json!({"revision": rollback_revision})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(zone_spec(&mut panel, &key, &id).await?, first_state);
    assert_eq!(
        panel.zone_record("app.example.com").await?.unwrap(),
        first_record
    );
    assert_redis_matches_postgres(&panel).await?;

    // Rolled back to before it existed, it is deleted.
    let reply = panel
        .call(
            Method::POST,
            &format!("/zones/{id}/rollback"),
            Auth::Bearer(&key),
            Some(json!({"revision": created_revision - 1})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["deleted"][0]["id"], id.as_str());
    assert_redis_matches_postgres(&panel).await?;

    // Revisions that do not exist are refused, naming the field.
    for bad in [0, 1_000_000] {
        let reply = panel
            .call(
                Method::POST,
                &format!("/zones/{id}/rollback"),
                Auth::Bearer(&key),
                Some(json!({"revision": bad})),
            )
            .await?;
        assert_eq!(reply.status, 422, "{}", reply.json);
        assert_eq!(reply.json["error"]["details"][0]["field"], "revision");
    }
    let reply = panel
        .call(Method::GET, "/revisions/999999", Auth::Bearer(&key), None)
        .await?;
    assert_eq!(reply.status, 404);

    // No answer ever showed bob's hash (only the export would).
    for (request, body) in &panel.bodies {
        assert!(
            !body.contains(BCRYPT_HASH),
            "{request} showed a hash: {body}"
        );
        assert!(
            !body.contains("$argon2id$"),
            "{request} showed a hash: {body}"
        );
    }
    panel.stop().await
}

#[tokio::test]
async fn a_bulk_write_is_one_revision_and_the_whole_configuration_rolls_back() -> anyhow::Result<()>
{
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "example.com").await?;
    let a = panel.zone(&key, "a.example.com").await?;
    let b = panel.zone(&key, "b.example.com").await?;
    let reply = panel
        .call(
            Method::POST,
            "/named-backends",
            Auth::Bearer(&key),
            Some(json!({"name": "svc", "url_template": "http://{first_label}.svc.internal:8080"})),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let svc = reply.json["id"].as_str().unwrap().to_owned();
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(json!({"hostname": "n.example.com", "path_prefix": "",
                        "backend": {"kind": "named", "name": "svc", "params": {}}})),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let target = latest_revision(&panel).await?;
    let at_target = export(&mut panel, &key).await?;
    let records_at_target = panel.redis.store().snapshot().await?.zones;

    // One bulk request: one revision with every record it touched.
    let mut changed_a = zone("a.example.com", "", "http://127.0.0.1:9100");
    changed_a["force_https"] = json!(true);
    let reply = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&key),
            Some(json!({
                "create": [zone("c.example.com", "", "http://127.0.0.1:9001"),
                           zone("d.example.com", "/x", "http://127.0.0.1:9001")],
                "update": [{"id": a, "zone": changed_a}],
                "delete": [b],
            })),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let bulk_revision = reply.json["revision"].as_i64().unwrap();
    assert_eq!(bulk_revision, latest_revision(&panel).await?);
    let reply = panel
        .call(
            Method::GET,
            &format!("/revisions/{bulk_revision}"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["action"], "zone.bulk");
    assert_eq!(reply.json["records_total"], 4);
    let mut ops: Vec<&str> = reply.json["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["op"].as_str().unwrap())
        .collect();
    ops.sort();
    assert_eq!(ops, ["create", "create", "delete", "update"]);

    // A template change is one revision: the backend and the zone it re-renders.
    let reply = panel
        .call(
            Method::PUT,
            &format!("/named-backends/{svc}"),
            Auth::Bearer(&key),
            Some(
                json!({"name": "svc2", "url_template": "http://{first_label}.other.internal:9090"}),
            ),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let reply = panel
        .call(Method::GET, "/revisions?limit=1", Auth::Bearer(&key), None)
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let head = &reply.json["items"][0];
    assert_eq!(head["action"], "named_backend.update");
    assert_eq!(head["records_total"], 2);
    assert_eq!(head["records"][1]["op"], "rerender");
    assert!(reply.json["next"].is_string());

    // The dry run lists every difference and changes nothing.
    let snapshot = (
        zones::Entity::find()
            .order_by_asc(zones::Column::Id)
            .all(&panel.db)
            .await?,
        panel.redis.store().snapshot().await?.zones,
        revisions::Entity::find().count(&panel.db).await?,
    );
    let reply = panel
        .call(
            Method::POST,
            "/rollback",
            Auth::Bearer(&key),
            Some(json!({"revision": target, "dry_run": true})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let diff = reply.json.clone();
    assert_eq!(diff["dry_run"], true);
    assert_eq!(diff["to_revision"], target);
    let hosts = |list: &Value| -> Vec<String> {
        let mut v: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|z| z["hostname"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(hosts(&diff["created"]), ["b.example.com"]);
    assert_eq!(diff["created"][0]["id"], b.as_str());
    assert_eq!(hosts(&diff["deleted"]), ["c.example.com", "d.example.com"]);
    assert_eq!(diff["changed"].as_array().unwrap().len(), 1, "{diff}");
    assert_eq!(diff["changed"][0]["id"], a.as_str());
    assert_eq!(diff["named_backends"]["changed"][0]["after"]["name"], "svc");
    assert_eq!(
        diff["named_backends"]["changed"][0]["after"]["url_template"],
        "http://{first_label}.svc.internal:8080"
    );
    // The Redis records of a, b, c, d and the re-rendered n.
    assert_eq!(diff["records"].as_array().unwrap().len(), 5, "{diff}");
    let after = (
        zones::Entity::find()
            .order_by_asc(zones::Column::Id)
            .all(&panel.db)
            .await?,
        panel.redis.store().snapshot().await?.zones,
        revisions::Entity::find().count(&panel.db).await?,
    );
    assert_eq!(after, snapshot, "a dry run changed something");

    // Applied: the configuration is the one of the target revision, in PostgreSQL and
    // Redis alike.
    let reply = panel
        .call(
            Method::POST,
            "/rollback",
            Auth::Bearer(&key),
            Some(json!({"revision": target})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert!(reply.json["revision"].is_i64());
    assert_eq!(export(&mut panel, &key).await?, at_target);
    let mut now = panel.redis.store().snapshot().await?.zones;
    let mut then = records_at_target;
    now.sort_by(|x, y| x.host.as_str().cmp(y.host.as_str()));
    then.sort_by(|x, y| x.host.as_str().cmp(y.host.as_str()));
    assert_eq!(now, then);
    assert_redis_matches_postgres(&panel).await?;

    // Rolled back to the bulk write: its state again, in one more revision.
    let reply = panel
        .call(
            Method::POST,
            "/rollback",
            Auth::Bearer(&key),
            Some(json!({"revision": bulk_revision})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(
        hosts(&reply.json["created"]),
        ["c.example.com", "d.example.com"]
    );
    assert_eq!(hosts(&reply.json["deleted"]), ["b.example.com"]);
    assert_redis_matches_postgres(&panel).await?;
    panel.stop().await
}

#[tokio::test]
async fn rollback_and_history_follow_the_grants() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "example.com").await?;
    let other = panel.domain(&admin, "other.test").await?;
    let owner_id = panel.user(&admin, "owner", OWNER_PASSWORD).await?;
    let reader_id = panel.user(&admin, "reader", READER_PASSWORD).await?;
    panel.user(&admin, "stranger", STRANGER_PASSWORD).await?;
    panel.grant(&admin, &owner_id, &domain, "edit").await?;
    panel.grant(&admin, &reader_id, &domain, "read").await?;
    let (_, owner) = panel.key_for("owner", OWNER_PASSWORD).await?;
    let (_, reader) = panel.key_for("reader", READER_PASSWORD).await?;
    let (_, stranger) = panel.key_for("stranger", STRANGER_PASSWORD).await?;
    let id = panel.zone(&owner, "www.example.com").await?;
    let first = latest_revision(&panel).await?;
    panel.zone(&admin, "www.other.test").await?;
    let reply = panel
        .call(
            Method::PUT,
            &format!("/zones/{id}"),
            Auth::Bearer(&owner),
            Some(zone("www.example.com", "", "http://127.0.0.1:9555")),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let before = zones::Entity::find().all(&panel.db).await?;
    let body = json!({"revision": first});

    // The reader sees the history but may not roll back: 403, nothing changed.
    let reply = panel
        .call(
            Method::GET,
            &format!("/zones/{id}/revisions"),
            Auth::Bearer(&reader),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let reply = panel
        .call(
            Method::POST,
            &format!("/zones/{id}/rollback"),
            Auth::Bearer(&reader),
            Some(body.clone()),
        )
        .await?;
    assert_eq!(reply.status, 403, "{}", reply.json);
    assert_eq!(reply.json["error"]["code"], "forbidden");
    // The stranger learns nothing: 404, as for a zone that does not exist.
    for (method, path) in [
        (Method::GET, format!("/zones/{id}/revisions")),
        (Method::POST, format!("/zones/{id}/rollback")),
        (Method::POST, "/rollback".to_owned()),
    ] {
        let reply = panel
            .call(
                method.clone(),
                &path,
                Auth::Bearer(&stranger),
                Some(body.clone()),
            )
            .await?;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.json);
    }
    // The whole configuration is the admin's: the owner may not roll it back either.
    let reply = panel
        .call(
            Method::POST,
            "/rollback",
            Auth::Bearer(&owner),
            Some(body.clone()),
        )
        .await?;
    assert_eq!(reply.status, 404);
    assert_eq!(zones::Entity::find().all(&panel.db).await?, before);

    // Lists hold only what the caller may read.
    let reply = panel
        .call(Method::GET, "/revisions", Auth::Bearer(&reader), None)
        .await?;
    let keys: Vec<&str> = reply.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["records"].as_array().unwrap())
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"www.example.com"), "{keys:?}");
    assert!(keys.contains(&"example.com"), "{keys:?}");
    assert!(!keys.iter().any(|k| k.contains("other.test")), "{keys:?}");
    let reply = panel
        .call(Method::GET, "/revisions", Auth::Bearer(&stranger), None)
        .await?;
    assert_eq!(reply.json["items"], json!([]));
    let other_revision = revisions::Entity::find()
        .all(&panel.db)
        .await?
        .into_iter()
        .map(|r| r.number)
        .nth(1)
        .unwrap();
    let reply = panel
        .call(
            Method::GET,
            &format!("/revisions/{other_revision}"),
            Auth::Bearer(&reader),
            None,
        )
        .await?;
    assert_eq!(reply.status, 404, "other.test's creation: {}", reply.json);
    let _ = other;

    // The owner may.
    let reply = panel
        .call(
            Method::POST,
            &format!("/zones/{id}/rollback"),
            Auth::Bearer(&owner),
            Some(body),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(
        reply.json["changed"][0]["after"]["backend"]["upstreams"][0]["url"],
        "http://127.0.0.1:9001"
    );
    assert_redis_matches_postgres(&panel).await?;
    panel.stop().await
}

#[tokio::test]
async fn pruning_keeps_the_young_and_the_newest() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "example.com").await?;
    let id = panel.zone(&key, "app.example.com").await?;
    for port in 9002..9008 {
        let reply = panel
            .call(
                Method::PUT,
                &format!("/zones/{id}"),
                Auth::Bearer(&key),
                Some(zone(
                    "app.example.com",
                    "",
                    &format!("http://127.0.0.1:{port}"),
                )),
            )
            .await?;
        assert_eq!(reply.status, 200, "{}", reply.json);
    }
    let numbers = |panel: &Panel| {
        let db = panel.db.clone();
        async move {
            Ok::<Vec<i64>, anyhow::Error>(
                revisions::Entity::find()
                    .order_by_asc(revisions::Column::Number)
                    .all(&db)
                    .await?
                    .into_iter()
                    .map(|r| r.number)
                    .collect(),
            )
        }
    };
    let all = numbers(&panel).await?;
    assert_eq!(all.len(), 8);
    // The first five are 100 days old, the rest young.
    panel
        .db
        .execute_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "UPDATE revisions SET at = now() - interval '100 days' WHERE number <= $1",
            [all[4].into()],
        ))
        .await?;
    let now = time::OffsetDateTime::now_utc();
    // 30 days, at least 5: the three young ones and two old ones stay.
    assert_eq!(service::prune(&panel.db, now, 30, 5).await?, 3);
    assert_eq!(numbers(&panel).await?, all[3..]);
    // Again: nothing more to do.
    assert_eq!(service::prune(&panel.db, now, 30, 5).await?, 0);
    // 30 days, at least 1: only the young ones.
    assert_eq!(service::prune(&panel.db, now, 30, 1).await?, 2);
    assert_eq!(numbers(&panel).await?, all[5..]);
    // Nothing is young at 1000 days ahead; the newest 2 stay.
    let later = now + time::Duration::days(1_000);
    assert_eq!(service::prune(&panel.db, later, 30, 2).await?, 1);
    assert_eq!(numbers(&panel).await?, all[6..]);
    // Records go with their revision.
    let records: i64 = panel
        .db
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM revision_records",
        ))
        .await?
        .unwrap()
        .try_get("", "n")?;
    assert_eq!(records, 2);

    // A pruned revision cannot be rolled back to; a kept one can, and the state before
    // the oldest kept record is known from it.
    let reply = panel
        .call(
            Method::POST,
            &format!("/zones/{id}/rollback"),
            Auth::Bearer(&key),
            Some(json!({"revision": all[2]})),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    assert!(
        reply.json["error"]["details"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("no longer kept"),
        "{}",
        reply.json
    );
    let reply = panel
        .call(
            Method::POST,
            &format!("/zones/{id}/rollback"),
            Auth::Bearer(&key),
            Some(json!({"revision": all[6]})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(
        reply.json["changed"][0]["after"]["backend"]["upstreams"][0]["url"],
        "http://127.0.0.1:9006"
    );
    assert_redis_matches_postgres(&panel).await?;
    panel.stop().await
}
