//! The panel API end to end, in-process, against a real PostgreSQL database and a real
//! Redis key prefix of its own per test.

mod common;

use std::time::Duration;

use clap::Parser as _;
use common::*;
use panel_api::entity::{api_keys, audit_log, redis_outbox, zones};
use panel_api::service::{Actor, users};
use panel_api::{AppState, Config};
use reqwest::Method;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, ConnectionTrait as _,
    EntityTrait as _, PaginatorTrait as _, QueryFilter as _,
};
use serde_json::{Value, json};
use switchyard_tests::eventually::eventually;

#[tokio::test]
async fn zone_lifecycle_is_written_through_and_audited() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let admin = || Auth::Bearer(&key);

    let reply = panel
        .call(
            Method::POST,
            "/domains",
            admin(),
            Some(json!({"name": "Example.COM."})),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(reply.json["name"], "example.com");
    let reply = panel
        .call(
            Method::POST,
            "/domains",
            admin(),
            Some(json!({"name": "example.com"})),
        )
        .await?;
    assert_eq!(reply.status, 409, "{}", reply.json);
    let reply = panel
        .call(Method::GET, "/domains?q=XAMP&limit=10", admin(), None)
        .await?;
    assert_eq!(reply.json["total"], 1, "{}", reply.json);
    assert_eq!(reply.json["items"][0]["name"], "example.com");
    // A pending wildcard certificate order for the cert worker.
    let order = panel
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT status, names::text AS names FROM certificates",
        ))
        .await?
        .expect("a certificate row");
    assert_eq!(order.try_get::<String>("", "status")?, "pending");
    assert_eq!(
        serde_json::from_str::<Value>(&order.try_get::<String>("", "names")?)?,
        json!(["*.example.com", "example.com"])
    );

    // Create: the record appears under the test prefix with the right upstream.
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            admin(),
            Some(zone("App.Example.com", "", "http://127.0.0.1:9001")),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(reply.json["hostname"], "app.example.com");
    let id = reply.json["id"].as_str().unwrap().to_owned();
    let record = panel
        .zone_record("app.example.com")
        .await?
        .expect("written through");
    assert_eq!(record.routes.len(), 1);
    assert!(upstream_urls(&record, "")[0].contains("127.0.0.1:9001"));
    assert_eq!(record.routes[0].zone_id, id);

    // A second zone on the same hostname: the one record holds both routes.
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            admin(),
            Some(zone("app.example.com", "/api", "http://127.0.0.1:9002")),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let api_id = reply.json["id"].as_str().unwrap().to_owned();
    let record = panel.zone_record("app.example.com").await?.unwrap();
    assert_eq!(record.routes.len(), 2);
    assert!(upstream_urls(&record, "/api")[0].contains("127.0.0.1:9002"));

    // Same hostname and prefix again: a conflict, nothing written.
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            admin(),
            Some(zone("app.example.com", "/api", "http://127.0.0.1:9003")),
        )
        .await?;
    assert_eq!(reply.status, 409, "{}", reply.json);

    // Read, list, search, paginate.
    let reply = panel
        .call(Method::GET, &format!("/zones/{id}"), admin(), None)
        .await?;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["hostname"], "app.example.com");
    let reply = panel
        .call(Method::GET, "/zones?limit=1&offset=1", admin(), None)
        .await?;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["total"], 2);
    assert_eq!(reply.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(reply.json["items"][0]["path_prefix"], "/api");
    let reply = panel
        .call(Method::GET, "/zones?q=nomatch", admin(), None)
        .await?;
    assert_eq!(reply.json["total"], 0);
    let reply = panel
        .call(Method::GET, "/zones?q=APP.ex", admin(), None)
        .await?;
    assert_eq!(reply.json["total"], 2);

    // Update moves the zone to another hostname: the old record keeps the other route,
    // the new one appears.
    let reply = panel
        .call(
            Method::PUT,
            &format!("/zones/{api_id}"),
            admin(),
            Some(zone("api.example.com", "", "http://127.0.0.1:9004")),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let old = panel.zone_record("app.example.com").await?.unwrap();
    assert_eq!(old.routes.len(), 1);
    assert_eq!(old.routes[0].zone_id, id);
    let new = panel.zone_record("api.example.com").await?.unwrap();
    assert!(upstream_urls(&new, "")[0].contains("127.0.0.1:9004"));

    // Delete removes the record once its last route is gone.
    let reply = panel
        .call(Method::DELETE, &format!("/zones/{api_id}"), admin(), None)
        .await?;
    assert_eq!(reply.status, 204);
    assert!(panel.zone_record("api.example.com").await?.is_none());
    let reply = panel
        .call(Method::DELETE, &format!("/zones/{id}"), admin(), None)
        .await?;
    assert_eq!(reply.status, 204);
    assert!(panel.zone_record("app.example.com").await?.is_none());
    let reply = panel
        .call(Method::GET, &format!("/zones/{id}"), admin(), None)
        .await?;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json["error"]["code"], "not_found");

    // One audit row per mutation, with actor and source address; outbox drained.
    assert_eq!(panel.audit_count("user.create").await?, 1);
    assert_eq!(panel.audit_count("api_key.create").await?, 1);
    assert_eq!(panel.audit_count("domain.create").await?, 1);
    assert_eq!(panel.audit_count("zone.create").await?, 2);
    assert_eq!(panel.audit_count("zone.update").await?, 1);
    assert_eq!(panel.audit_count("zone.delete").await?, 2);
    let update = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("zone.update"))
        .one(&panel.db)
        .await?
        .unwrap();
    assert_eq!(
        update.before.as_ref().unwrap()["hostname"],
        "app.example.com"
    );
    assert_eq!(
        update.after.as_ref().unwrap()["hostname"],
        "api.example.com"
    );
    assert!(update.actor_label.starts_with("root (api key sy_"));
    assert_eq!(update.source_addr.as_deref(), Some("127.0.0.1"));
    assert!(update.request_id.is_some());
    assert_eq!(redis_outbox::Entity::find().count(&panel.db).await?, 0);

    // Health: no cert worker heartbeat and no proxy yet → degraded, and it says why.
    let reply = panel.call(Method::GET, "/health", Auth::None, None).await?;
    assert_eq!(
        (
            &reply.json["status"],
            &reply.json["postgres"],
            &reply.json["redis"]
        ),
        (&json!("degraded"), &json!("up"), &json!("up")),
        "{}",
        reply.json
    );
    assert_eq!(reply.json["cert_worker"], "down");
    // A current proxy and a fresh heartbeat, as they publish them: ok.
    use fred::interfaces::{HashesInterface as _, KeysInterface as _};
    let keys = panel.redis.keys().clone();
    let version: u64 = panel.redis.client().get(keys.version()).await?;
    let now = time::OffsetDateTime::now_utc();
    let publish = |id: &str, version: u64| {
        let status = switchyard_shared::model::ProxyStatus {
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
        (id.to_owned(), serde_json::to_string(&status).unwrap())
    };
    let _: () = panel
        .redis
        .client()
        .hset(keys.proxies(), publish("edge-1", version))
        .await?;
    let beat = now.format(&time::format_description::well_known::Rfc3339)?;
    let _: () = panel
        .redis
        .client()
        .set(keys.heartbeat("cert-worker"), beat, None, None, false)
        .await?;
    let reply = panel.call(Method::GET, "/health", Auth::None, None).await?;
    assert_eq!(reply.json["status"], "ok", "{}", reply.json);
    assert_eq!(reply.json["version"], version);
    assert_eq!(reply.json["proxies"][0]["id"], "edge-1");
    assert_eq!(reply.json["proxies"][0]["current"], true);
    assert_eq!(reply.json["cert_worker"], "up");
    // A proxy one version behind: degraded, naming it.
    let _: () = panel
        .redis
        .client()
        .hset(keys.proxies(), publish("edge-2", version - 1))
        .await?;
    let reply = panel.call(Method::GET, "/health", Auth::None, None).await?;
    assert_eq!(reply.json["status"], "degraded");
    assert_eq!(
        reply.json["problems"],
        json!([format!(
            "proxy \"edge-2\" applies version {} of {version}",
            version - 1
        )])
    );

    assert_no_secrets(&panel, &[ADMIN_PASSWORD]);
    panel.stop().await
}

#[tokio::test]
async fn bad_input_is_refused_with_every_field_named_and_nothing_written() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let reply = panel
        .call(
            Method::POST,
            "/domains",
            Auth::Bearer(&key),
            Some(json!({"name": "example.com"})),
        )
        .await?;
    assert_eq!(reply.status, 201);
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone("keep.example.com", "", "http://127.0.0.1:9001")),
        )
        .await?;
    assert_eq!(reply.status, 201);
    let keep_id = reply.json["id"].as_str().unwrap().to_owned();

    let mut unknown_field = zone("x.example.com", "", "http://127.0.0.1:9001");
    unknown_field["colour"] = json!("red");
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "invalid hostname",
            zone("bad_host!.example.com", "", "http://127.0.0.1:1"),
            "hostname",
        ),
        (
            "outside every domain",
            zone("app.other.org", "", "http://127.0.0.1:1"),
            "hostname",
        ),
        (
            "port 99999",
            zone("a.example.com", "", "http://127.0.0.1:99999"),
            "backend.upstreams[0].url",
        ),
        (
            "scheme ftp",
            zone("a.example.com", "", "ftp://127.0.0.1:21"),
            "backend.upstreams[0].url",
        ),
        ("unknown field", unknown_field, "colour"),
        (
            "wildcard inside a label",
            zone("ap*.example.com", "", "http://127.0.0.1:1"),
            "hostname",
        ),
        (
            "** in the middle",
            zone("a.**.example.com", "", "http://127.0.0.1:1"),
            "hostname",
        ),
        (
            "label of 64 characters",
            zone(
                &format!("{}.example.com", "a".repeat(64)),
                "",
                "http://127.0.0.1:1",
            ),
            "hostname",
        ),
        (
            "port 0",
            zone("a.example.com", "", "http://127.0.0.1:0"),
            "backend.upstreams[0].url",
        ),
        (
            "scheme javascript",
            zone("a.example.com", "", "javascript:alert(1)"),
            "backend.upstreams[0].url",
        ),
        (
            "SQL in the hostname",
            zone(
                "x'; DROP TABLE zones; --.example.com",
                "",
                "http://127.0.0.1:1",
            ),
            "hostname",
        ),
        (
            "SQL in the path prefix",
            zone(
                "a.example.com",
                "/'; DELETE FROM zones; --",
                "http://127.0.0.1:1",
            ),
            "path_prefix",
        ),
    ];
    let zones_before = zones::Entity::find().count(&panel.db).await?;
    let audit_before = audit_log::Entity::find().count(&panel.db).await?;
    let redis_before = panel.redis.all_keys().await?;
    for (what, body, field) in cases {
        for (method, path) in [
            (Method::POST, "/zones".to_owned()),
            (Method::PUT, format!("/zones/{keep_id}")),
        ] {
            let reply = panel
                .call(
                    method.clone(),
                    &path,
                    Auth::Bearer(&key),
                    Some(body.clone()),
                )
                .await?;
            assert_eq!(reply.status, 422, "{what} ({method}): {}", reply.json);
            assert_eq!(reply.json["error"]["code"], "invalid", "{what}");
            let details = reply.json["error"]["details"].as_array().unwrap();
            assert!(
                details
                    .iter()
                    .any(|d| d["field"] == field && d["problem"].is_string()),
                "{what} ({method}) should name {field}: {}",
                reply.json
            );
        }
    }
    // Several problems at once are all reported.
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone("app.other.org", "no-slash", "ftp://x")),
        )
        .await?;
    let fields: Vec<&str> = reply.json["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"hostname") && fields.contains(&"path_prefix"),
        "{fields:?}"
    );
    assert!(fields.contains(&"backend.upstreams[0].url"), "{fields:?}");

    assert_eq!(zones::Entity::find().count(&panel.db).await?, zones_before);
    assert_eq!(
        audit_log::Entity::find().count(&panel.db).await?,
        audit_before
    );
    assert_eq!(panel.redis.all_keys().await?, redis_before);
    let kept = panel.zone_record("keep.example.com").await?.unwrap();
    assert!(upstream_urls(&kept, "")[0].contains("127.0.0.1:9001"));

    // Bodies that are not JSON at all: each refused in the one error shape.
    let url = format!("{}/zones", panel.base);
    let raw: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "10 MB body",
            panel
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(vec![b' '; 10 << 20]),
            413,
        ),
        (
            "not UTF-8",
            panel
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(vec![0xff, 0xfe, b'{']),
            400,
        ),
        (
            "deeply nested",
            panel
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body("[".repeat(10_000)),
            422,
        ),
        (
            "not declared as JSON",
            panel.http.post(&url).body("{}"),
            415,
        ),
    ];
    for (what, request, status) in raw {
        let response = request.bearer_auth(&key).send().await?;
        assert_eq!(response.status().as_u16(), status, "{what}");
        let body: Value = serde_json::from_str(&response.text().await?)?;
        assert!(body["error"]["code"].is_string(), "{what}: {body}");
        assert!(body["error"]["message"].is_string(), "{what}: {body}");
    }

    assert_eq!(zones::Entity::find().count(&panel.db).await?, zones_before);
    assert_eq!(panel.redis.all_keys().await?, redis_before);

    // SQL-looking search text is just text: nothing matches, nothing breaks.
    let reply = panel
        .call(
            Method::GET,
            "/zones?q=%27%3B%20DROP%20TABLE%20zones%3B%20--",
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["total"], 0);
    assert_eq!(zones::Entity::find().count(&panel.db).await?, zones_before);
    // Bad users and grants name their field and value.
    for (body, field) in [
        (
            json!({"username": "x' OR '1'='1", "password": "long-enough-password"}),
            "username",
        ),
        (json!({"username": "ok", "password": "short"}), "password"),
        (
            json!({"username": "ok", "password": "long-enough-password", "role": "root"}),
            "role",
        ),
    ] {
        let reply = panel
            .call(Method::POST, "/users", Auth::Bearer(&key), Some(body))
            .await?;
        assert_eq!(reply.status, 422, "{}", reply.json);
        assert_eq!(reply.json["error"]["details"][0]["field"], field);
    }
    let reply = panel
        .call(
            Method::POST,
            "/grants",
            Auth::Bearer(&key),
            Some(json!({"user_id": uuid::Uuid::new_v4(), "level": "owner"})),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    let problems: Vec<&str> = reply.json["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["problem"].as_str())
        .collect();
    assert!(
        problems.contains(&"\"owner\" is not a level: use read or edit"),
        "{problems:?}"
    );
    assert!(
        problems.contains(&"give exactly one of domain_id and named_backend_id"),
        "{problems:?}"
    );
    assert_eq!(
        audit_log::Entity::find().count(&panel.db).await?,
        audit_before
    );

    // Bad domain names too.
    let reply = panel
        .call(
            Method::POST,
            "/domains",
            Auth::Bearer(&key),
            Some(json!({"name": "-bad-.com"})),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    assert_eq!(reply.json["error"]["details"][0]["field"], "name");
    panel.stop().await
}

#[tokio::test]
async fn keys_are_checked_and_non_admins_see_nothing() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (admin_key_id, admin_key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let reply = panel
        .call(
            Method::POST,
            "/domains",
            Auth::Bearer(&admin_key),
            Some(json!({"name": "example.com"})),
        )
        .await?;
    assert_eq!(reply.status, 201);
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&admin_key),
            Some(zone("app.example.com", "", "http://127.0.0.1:9001")),
        )
        .await?;
    let zone_id = reply.json["id"].as_str().unwrap().to_owned();

    // Wrong password, no credentials, garbage key: 401, one shape.
    let reply = panel
        .call(
            Method::POST,
            "/api-keys",
            Auth::Basic(ADMIN, "wrong"),
            Some(json!({"name": "x"})),
        )
        .await?;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json["error"]["code"], "unauthorized");
    for auth in [
        Auth::None,
        Auth::Bearer("sy_000000000000_00"),
        Auth::Bearer("nonsense"),
    ] {
        let reply = panel.call(Method::GET, "/zones", auth, None).await?;
        assert_eq!(reply.status, 401);
    }
    // A right prefix with a wrong secret.
    let forged = format!("{}{}", &admin_key[..admin_key.len() - 4], "0000");
    let forged = if forged == admin_key {
        admin_key.replace('a', "b")
    } else {
        forged
    };
    assert_eq!(
        panel
            .call(Method::GET, "/zones", Auth::Bearer(&forged), None)
            .await?
            .status,
        401
    );

    // Listing keys shows the prefix, never the secret or its hash.
    let reply = panel
        .call(Method::GET, "/api-keys", Auth::Bearer(&admin_key), None)
        .await?;
    assert_eq!(reply.status, 200);
    let listed = reply.json.to_string();
    let secret = admin_key.rsplit('_').next().unwrap();
    assert!(!listed.contains(secret), "{listed}");
    assert!(!listed.contains("secret_hash"));
    assert!(admin_key.starts_with(reply.json["items"][0]["prefix"].as_str().unwrap()));

    // Expired key.
    let (_, expiring) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    assert_eq!(
        panel
            .call(Method::GET, "/zones", Auth::Bearer(&expiring), None)
            .await?
            .status,
        200
    );
    let prefix = expiring.split('_').nth(1).unwrap();
    let row = api_keys::Entity::find()
        .filter(api_keys::Column::Prefix.eq(prefix))
        .one(&panel.db)
        .await?
        .unwrap();
    let mut row: api_keys::ActiveModel = row.into();
    row.expires_at = Set(Some(
        time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
    ));
    row.update(&panel.db).await?;
    assert_eq!(
        panel
            .call(Method::GET, "/zones", Auth::Bearer(&expiring), None)
            .await?
            .status,
        401
    );
    // An expiry in the past is refused at creation.
    let reply = panel
        .call(
            Method::POST,
            "/api-keys",
            Auth::Bearer(&admin_key),
            Some(json!({"name": "old", "expires_at": "2000-01-01T00:00:00Z"})),
        )
        .await?;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json["error"]["details"][0]["field"], "expires_at");

    // Revoked key: a second key revokes the first.
    let (_, second) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/api-keys/{admin_key_id}"),
            Auth::Bearer(&second),
            None,
        )
        .await?;
    assert_eq!(reply.status, 204);
    assert_eq!(
        panel
            .call(Method::GET, "/zones", Auth::Bearer(&admin_key), None)
            .await?
            .status,
        401
    );
    assert_eq!(panel.audit_count("api_key.revoke").await?, 1);

    // A non-admin without grants: their own keys work, everything else is 404.
    users::create(
        &panel.db,
        &Actor::system("test"),
        "bob",
        "bob-password-9c1e",
        "user",
    )
    .await?;
    let (bob_key_id, bob) = panel.key_for("bob", "bob-password-9c1e").await?;
    let reply = panel
        .call(Method::GET, "/api-keys", Auth::Bearer(&bob), None)
        .await?;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(reply.json["total"], 1);
    // Bob cannot revoke the admin's key: it "does not exist" for him.
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/api-keys/{admin_key_id}"),
            Auth::Bearer(&bob),
            None,
        )
        .await?;
    assert_eq!(reply.status, 404);
    let zones_before = zones::Entity::find().count(&panel.db).await?;
    for (method, path, body) in [
        (Method::GET, format!("/zones/{zone_id}"), None),
        (
            Method::PUT,
            format!("/zones/{zone_id}"),
            Some(zone("app.example.com", "", "http://127.0.0.1:1")),
        ),
        (Method::DELETE, format!("/zones/{zone_id}"), None),
        (
            Method::POST,
            "/domains".to_owned(),
            Some(json!({"name": "bob.com"})),
        ),
    ] {
        let reply = panel
            .call(method.clone(), &path, Auth::Bearer(&bob), body)
            .await?;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.json);
    }
    // Lists answer, empty: nothing is granted to him.
    for path in ["/zones", "/domains"] {
        let reply = panel
            .call(Method::GET, path, Auth::Bearer(&bob), None)
            .await?;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.json["total"], 0, "{path}: {}", reply.json);
    }
    // A hostname in someone else's domain reads like one in no domain at all.
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&bob),
            Some(zone("b.example.com", "", "http://127.0.0.1:1")),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    assert!(
        reply.json["error"]["details"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("lies within no domain you may edit")
    );
    assert_eq!(zones::Entity::find().count(&panel.db).await?, zones_before);
    assert!(panel.zone_record("app.example.com").await?.is_some());
    let _ = bob_key_id;

    assert_no_secrets(&panel, &[ADMIN_PASSWORD, "bob-password-9c1e"]);
    panel.stop().await
}

#[tokio::test]
async fn redis_down_keeps_the_change_and_queues_it() -> anyhow::Result<()> {
    // Nothing listens on port 1: Redis is "down" for this panel.
    let mut panel = Panel::start_with_redis(Some("redis://127.0.0.1:1")).await?;
    let reply = panel.call(Method::GET, "/health", Auth::None, None).await?;
    assert_eq!(
        (
            &reply.json["status"],
            &reply.json["postgres"],
            &reply.json["redis"]
        ),
        (&json!("degraded"), &json!("up"), &json!("down")),
        "{}",
        reply.json
    );
    assert_eq!(reply.json["cert_worker"], "unknown");
    assert!(reply.json["redis_down_since"].is_string(), "{}", reply.json);
    assert_eq!(reply.json["postgres_down_since"], Value::Null);
    let since = reply.json["redis_down_since"].clone();
    let reply = panel.call(Method::GET, "/health", Auth::None, None).await?;
    assert_eq!(reply.json["redis_down_since"], since);

    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let reply = panel
        .call(
            Method::POST,
            "/domains",
            Auth::Bearer(&key),
            Some(json!({"name": "example.com"})),
        )
        .await?;
    assert_eq!(reply.status, 201);
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone("app.example.com", "", "http://127.0.0.1:9001")),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    // Committed, but no Redis version: the write is queued.
    assert_eq!(reply.json["version"], Value::Null, "{}", reply.json);
    assert!(reply.json["committed_at"].is_string(), "{}", reply.json);
    assert_eq!(zones::Entity::find().count(&panel.db).await?, 1);
    assert_eq!(panel.audit_count("zone.create").await?, 1);
    let queued = redis_outbox::Entity::find().all(&panel.db).await?;
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0].kind.as_str(), queued[0].key.as_str()),
        ("zone", "app.example.com")
    );
    assert!(panel.logs.text().contains("queued in redis_outbox"));
    assert!(panel.zone_record("app.example.com").await?.is_none());

    // Redis "returns" (a panel on the same database with a reachable Redis): the replay
    // writes the queued hostname and empties the outbox.
    let config = Config::try_parse_from([
        "panel-api",
        "--database-url",
        panel.database.as_ref().unwrap().url(),
        "--redis-url",
        panel.redis.url(),
        "--key-prefix",
        panel.redis.prefix(),
    ])?;
    let recovered = AppState::connect(&config).await?;
    eventually(Duration::from_secs(10), "the outbox replays", || async {
        panel_api::service::sync::replay_all(&recovered).await;
        match panel.zone_record("app.example.com").await {
            Ok(Some(record)) => Ok(record),
            other => Err(format!("not yet: {other:?}")),
        }
    })
    .await?;
    let record = panel.zone_record("app.example.com").await?.unwrap();
    assert!(upstream_urls(&record, "")[0].contains("127.0.0.1:9001"));
    assert_eq!(redis_outbox::Entity::find().count(&panel.db).await?, 0);
    recovered.stores.db.close().await?;
    panel.stop().await
}

#[tokio::test]
async fn postgres_down_answers_503_and_health_says_so() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    // The database disappears (its connections are terminated): PostgreSQL is "down".
    panel.database.take().unwrap().drop_now().await?;

    let reply = panel.call(Method::GET, "/health", Auth::None, None).await?;
    assert_eq!(
        (
            &reply.json["status"],
            &reply.json["postgres"],
            &reply.json["redis"]
        ),
        (&json!("degraded"), &json!("down"), &json!("up")),
        "{}",
        reply.json
    );
    // Since when: the first failure this panel saw, the same on every later answer.
    let since = reply.json["postgres_down_since"].clone();
    let since_time = time::OffsetDateTime::parse(
        since.as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    )?;
    assert!(since_time <= time::OffsetDateTime::now_utc());
    assert_eq!(reply.json["redis_down_since"], Value::Null);
    // Later answers (each probing PostgreSQL again, and failing) keep the first
    // failure's time: the timestamps carry nanoseconds, so a time taken again would
    // differ without waiting for the clock to move on.
    for _ in 0..3 {
        let reply = panel.call(Method::GET, "/health", Auth::None, None).await?;
        assert_eq!(reply.json["postgres_down_since"], since, "{}", reply.json);
    }
    let before = panel.redis.all_keys().await?;
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone("app.example.com", "", "http://127.0.0.1:9001")),
        )
        .await?;
    assert_eq!(reply.status, 503, "{}", reply.json);
    assert_eq!(reply.json["error"]["code"], "unavailable");
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("database")
    );
    assert_eq!(panel.redis.all_keys().await?, before);
    panel.stop().await
}

#[tokio::test]
async fn concurrent_writes_to_one_hostname_all_reach_redis() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let reply = panel
        .call(
            Method::POST,
            "/domains",
            Auth::Bearer(&key),
            Some(json!({"name": "example.com"})),
        )
        .await?;
    assert_eq!(reply.status, 201);
    // Eight routes of one hostname created at once: each write rebuilds the one record,
    // and the per-hostname lock makes the last rebuild see every commit.
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..8 {
        let request = panel
            .http
            .post(format!("{}/zones", panel.base))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(
                zone(
                    "app.example.com",
                    &format!("/p{i}"),
                    "http://127.0.0.1:9001",
                )
                .to_string(),
            );
        writes.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
    }
    while let Some(status) = writes.join_next().await {
        assert_eq!(status??, 201);
    }
    let record = panel.zone_record("app.example.com").await?.unwrap();
    assert_eq!(record.routes.len(), 8);
    assert_eq!(redis_outbox::Entity::find().count(&panel.db).await?, 0);
    panel.stop().await
}

#[tokio::test]
async fn first_start_without_admin_variables_creates_one_admin_once() -> anyhow::Result<()> {
    let database = switchyard_tests::postgres::TestDatabase::create().await?;
    let redis = switchyard_tests::redis::TestRedis::new().await?;
    let config = Config::try_parse_from([
        "panel-api",
        "--database-url",
        database.url(),
        "--redis-url",
        redis.url(),
        "--key-prefix",
        redis.prefix(),
    ])?;
    for _ in 0..2 {
        let state = panel_api::prepare(&config).await?;
        state.stores.db.close().await?;
    }
    let db = database.connect().await?;
    let all = panel_api::entity::users::Entity::find().all(&db).await?;
    assert_eq!(all.len(), 1, "the second start created nobody");
    assert_eq!(all[0].username, "admin");
    assert_eq!(all[0].role, "admin");
    assert!(all[0].password_hash.starts_with("$argon2id$"));
    db.close().await?;
    database.drop_now().await
}
