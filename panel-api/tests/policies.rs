//! Route policies (issue 16, data format 2) through the panel: stored normalised in
//! PostgreSQL and Redis, a basic-auth password stored only as its argon2id hash, which
//! no answer, audit row or log line shows (only Redis, PostgreSQL's zone row and the
//! export file hold it), a user by username only keeping its stored password on update, invalid policies refused by field, the data format gate (no
//! policy write while a live proxy reads only format 1), and every other path a zone
//! takes — bulk, dry runs, named-backend re-rendering, reconciliation, degraded reads,
//! export and import — keeping them. The `jwt` policy's HMAC secret is write-only
//! the same way; `jwt` and `forward_auth` are refused by field like the others, and so
//! is each field of an active `health_check`.

mod common;

use std::time::Duration;

use clap::Parser as _;
use common::*;
use fred::interfaces::{HashesInterface as _, KeysInterface as _};
use panel_api::entity::{audit_log, zones};
use panel_api::{AppState, Config};
use reqwest::Method;
use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use serde_json::{Value, json};
use switchyard_shared::model::ProxyStatus;
use switchyard_shared::policy::verify_password;
use switchyard_tests::eventually::eventually;
use switchyard_tests::relay::Relay;

/// A basic-auth password given in clear: it must never come back, nor be stored.
const PASSWORD: &str = "ann-clear-password-5e1d";
/// The replacement password of the update.
const NEW_PASSWORD: &str = "ann-new-password-77b0";
/// A bcrypt hash as users bring them from htpasswd files (kept as given).
const BCRYPT_HASH: &str = "$2y$12$QjSH496pcT5CEbzjD/vtVeH03tfHKFy36d4J0Ltp3lRtee9HDxY3K";

/// Every policy kind, as a user writes it: mixed-case header names, a password in clear.
fn every_policy(password: &str) -> Value {
    json!({
        "rewrite": {"kind": "replace_prefix", "with": "/v2"},
        "redirect": {"code": 301, "pattern": "^/app/old/(.*)$", "target": "https://new.policies.test/$1", "keep_query": true},
        "request_headers": {
            "remove": ["X-Debug"],
            "set": [{"name": "X-Client", "value": "{client_ip}"}],
            "add": [{"name": "X-Via", "value": "switchyard {request_id}"}]
        },
        "response_headers": {"remove": ["Server"], "set": [{"name": "Cache-Control", "value": "no-store"}]},
        "hsts": {"max_age_secs": 31536000, "include_subdomains": true, "preload": true},
        "security_headers": true,
        "max_body_bytes": 1048576,
        "basic_auth": {"realm": "Staff", "users": [
            {"username": "ann", "password": password},
            {"username": "bob", "hash": BCRYPT_HASH}
        ]},
        "rate_limit": {"requests": 10, "per_secs": 60, "burst": 20, "key": {"kind": "header", "name": "X-Api-Key"}},
        "retry": {"attempts": 3, "on_status": [504, 503]},
        "circuit_breaker": {"consecutive_failures": 4, "error_percent": 50},
        "error_pages": {
            "429": {"body": "<h1>Slow down ({request_id})</h1>"},
            "503": {"content_type": "text/plain; charset=utf-8", "body": "down for maintenance"}
        },
        "health_check": {"path": "/healthz", "expected_status": "200-299, 302", "host": "App.Internal"}
    })
}

/// [`every_policy`] as the panel stores and answers it: header names lower-cased,
/// defaults filled in, ann's password replaced by `ann_hash`.
fn every_policy_normalised(ann_hash: &str) -> Value {
    json!({
        "rewrite": {"kind": "replace_prefix", "with": "/v2"},
        "redirect": {"code": 301, "pattern": "^/app/old/(.*)$", "target": "https://new.policies.test/$1", "keep_query": true},
        "request_headers": {
            "remove": ["x-debug"],
            "set": [{"name": "x-client", "value": "{client_ip}"}],
            "add": [{"name": "x-via", "value": "switchyard {request_id}"}]
        },
        "response_headers": {"remove": ["server"], "set": [{"name": "cache-control", "value": "no-store"}]},
        "hsts": {"max_age_secs": 31536000, "include_subdomains": true, "preload": true},
        "security_headers": true,
        "max_body_bytes": 1048576,
        "basic_auth": {"realm": "Staff", "users": [
            {"username": "ann", "hash": ann_hash},
            {"username": "bob", "hash": BCRYPT_HASH}
        ]},
        "rate_limit": {"requests": 10, "per_secs": 60, "burst": 20, "key": {"kind": "header", "name": "x-api-key"}},
        "retry": {"attempts": 3, "on_status": [503, 504], "on_reset": true, "budget_percent": 20, "min_per_sec": 10,
                  "backoff_ms": 25, "max_backoff_ms": 250},
        "circuit_breaker": {"consecutive_failures": 4, "error_percent": 50, "window_secs": 10,
                            "min_requests": 20, "open_secs": 10, "half_open_requests": 1},
        "error_pages": {
            "429": {"content_type": "text/html; charset=utf-8", "body": "<h1>Slow down ({request_id})</h1>"},
            "503": {"content_type": "text/plain; charset=utf-8", "body": "down for maintenance"}
        },
        "health_check": {
            "path": "/healthz", "expected_status": "200-299,302", "host": "app.internal",
            "interval_ms": 5000, "timeout_ms": 1000, "healthy_threshold": 2, "unhealthy_threshold": 3
        }
    })
}

/// [`every_policy_normalised`] as every answer shows it: users by username only.
fn every_policy_shown() -> Value {
    let mut shown = every_policy_normalised("");
    shown["basic_auth"]["users"] = json!([{"username": "ann"}, {"username": "bob"}]);
    shown
}

/// Hash prefixes: argon2 PHC strings and every bcrypt variant.
const HASH_MARKS: [&str; 4] = ["$argon2", "$2a$", "$2b$", "$2y$"];

/// No raw response body (but the export file's) nor log line holds a password hash.
fn assert_no_hashes(panel: &Panel) {
    for (request, body) in &panel.bodies {
        if request.starts_with("GET /export") {
            continue;
        }
        for mark in HASH_MARKS {
            assert!(
                !body.contains(mark),
                "{request} answered a password hash ({mark}): {body}"
            );
        }
    }
    let logs = panel.logs.text();
    for mark in HASH_MARKS {
        assert!(
            !logs.contains(mark),
            "a password hash ({mark}) reached the logs"
        );
    }
}

/// The zone row's policies as PostgreSQL stores them.
async fn row_policies(panel: &Panel, id: &str) -> anyhow::Result<Value> {
    Ok(zones::Entity::find_by_id(id.parse::<uuid::Uuid>()?)
        .one(&panel.db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row {id}"))?
        .policies)
}

fn zone_with(host: &str, prefix: &str, policies: Value) -> Value {
    let mut spec = zone(host, prefix, "http://127.0.0.1:9001");
    spec["policies"] = policies;
    spec
}

/// The hash the panel made of ann's password, checked to be argon2id of `password`.
fn ann_hash(policies: &Value, password: &str) -> String {
    let ann = &policies["basic_auth"]["users"][0];
    assert_eq!(ann["username"], "ann", "{policies}");
    assert!(ann.get("password").is_none(), "a password came back: {ann}");
    let hash = ann["hash"].as_str().expect("ann has a hash").to_owned();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(
        verify_password(&hash, password),
        "the hash is of the password given"
    );
    hash
}

/// A zone as `PUT` takes it: the spec's fields of a `GET` answer.
fn spec_of_view(view: &Value) -> Value {
    let mut spec = view.clone();
    let object = spec.as_object_mut().unwrap();
    for field in [
        "id",
        "domain_id",
        "named_backend_id",
        "created_at",
        "updated_at",
    ] {
        object.remove(field);
    }
    spec
}

/// The raw Redis value of a hostname's record.
async fn raw_record(panel: &Panel, host: &str) -> anyhow::Result<Option<String>> {
    Ok(panel
        .redis
        .client()
        .get(panel.redis.keys().zone(host))
        .await?)
}

/// The policies of a hostname's (one-route) Redis record, as JSON.
async fn record_policies(panel: &Panel, host: &str) -> anyhow::Result<Value> {
    let record = panel
        .zone_record(host)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{host} is not in Redis"))?;
    Ok(serde_json::to_value(&record.routes[0].policies)?)
}

async fn redis_format(panel: &Panel) -> anyhow::Result<Option<String>> {
    Ok(panel
        .redis
        .client()
        .get(panel.redis.keys().format())
        .await?)
}

/// Everything the audit log holds, as text.
async fn audit_text(panel: &Panel) -> anyhow::Result<String> {
    let rows = audit_log::Entity::find().all(&panel.db).await?;
    Ok(rows
        .iter()
        .map(|r| format!("{:?} {:?}", r.before, r.after))
        .collect::<Vec<_>>()
        .join("\n"))
}

#[tokio::test]
async fn every_policy_kind_round_trips_and_a_password_is_kept_only_as_its_hash()
-> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "policies.test").await?;
    let host = "app.policies.test";

    let created = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with(host, "/app", every_policy(PASSWORD))),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.json);
    let id = created.json["id"].as_str().unwrap().to_owned();
    // Answered normalised, users by username only: no hash.
    let policies = created.json["policies"].clone();
    assert_eq!(policies, every_policy_shown());

    // GET answers the same; the list too.
    let read = panel
        .call(
            Method::GET,
            &format!("/zones/{id}"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(read.status, 200, "{}", read.json);
    assert_eq!(read.json["policies"], policies);
    let listed = panel
        .call(Method::GET, "/zones", Auth::Bearer(&key), None)
        .await?;
    assert_eq!(listed.status, 200, "{}", listed.json);
    assert_eq!(listed.json["items"][0]["policies"], policies);

    // Redis holds the normalised policies with the hash (so the data format is 2),
    // PostgreSQL too.
    let raw = raw_record(&panel, host)
        .await?
        .expect("the record is in Redis");
    assert!(
        !raw.contains(PASSWORD) && !raw.contains("password"),
        "{raw}"
    );
    let stored = record_policies(&panel, host).await?;
    let hash = ann_hash(&stored, PASSWORD);
    assert_eq!(stored, every_policy_normalised(&hash));
    assert_eq!(redis_format(&panel).await?.as_deref(), Some("2"));
    assert_eq!(row_policies(&panel, &id).await?, stored);

    // The same spec back (users by username only, as answered) keeps both passwords:
    // ann's argon2id hash and bob's bcrypt hash are unchanged.
    let mut spec = spec_of_view(&read.json);
    let same = panel
        .call(
            Method::PUT,
            &format!("/zones/{id}"),
            Auth::Bearer(&key),
            Some(spec.clone()),
        )
        .await?;
    assert_eq!(same.status, 200, "{}", same.json);
    assert_eq!(same.json["policies"], policies);
    assert_eq!(record_policies(&panel, host).await?, stored);
    assert!(verify_password(&hash, PASSWORD));
    assert_eq!(row_policies(&panel, &id).await?, stored);

    // A dry run of the same shows no hash either (diff and record preview).
    let dry = panel
        .call(
            Method::PUT,
            &format!("/zones/{id}?dry_run=true"),
            Auth::Bearer(&key),
            Some(spec.clone()),
        )
        .await?;
    assert_eq!(dry.status, 200, "{}", dry.json);
    assert_eq!(dry.json["changed"][0]["after"]["policies"], policies);
    assert_eq!(
        dry.json["records"][0]["after"]["routes"][0]["policies"],
        policies
    );
    assert_eq!(
        dry.json["records"][0]["before"]["routes"][0]["policies"],
        policies
    );

    // A new password gives a new hash; bob, by username only, keeps his.
    spec["policies"]["basic_auth"]["users"][0] =
        json!({"username": "ann", "password": NEW_PASSWORD});
    let changed = panel
        .call(
            Method::PUT,
            &format!("/zones/{id}"),
            Auth::Bearer(&key),
            Some(spec.clone()),
        )
        .await?;
    assert_eq!(changed.status, 200, "{}", changed.json);
    assert_eq!(changed.json["policies"], policies);
    let now = record_policies(&panel, host).await?;
    let new_hash = ann_hash(&now, NEW_PASSWORD);
    assert!(!verify_password(&new_hash, PASSWORD));
    assert_eq!(now, every_policy_normalised(&new_hash));

    // A user by username only whom the zone does not know is refused, naming the field.
    spec["policies"]["basic_auth"]["users"][0] = json!({"username": "carl"});
    let unknown = panel
        .call(
            Method::PUT,
            &format!("/zones/{id}"),
            Auth::Bearer(&key),
            Some(spec),
        )
        .await?;
    assert_eq!(unknown.status, 422, "{}", unknown.json);
    let detail = &unknown.json["error"]["details"][0];
    assert_eq!(
        detail["field"], "policies.basic_auth.users[0]",
        "{}",
        unknown.json
    );
    assert!(
        detail["problem"]
            .as_str()
            .unwrap()
            .contains("no stored password for \"carl\" to keep"),
        "{}",
        unknown.json
    );
    assert_eq!(record_policies(&panel, host).await?, now);

    // The audit log holds no hash (nor password), in its rows and as answered.
    let audit = audit_text(&panel).await?;
    for secret in [
        hash.as_str(),
        new_hash.as_str(),
        BCRYPT_HASH,
        PASSWORD,
        NEW_PASSWORD,
    ] {
        assert!(!audit.contains(secret), "{audit}");
    }
    assert!(!audit.contains("\"password\""), "{audit}");
    assert!(!audit.contains("\"hash\""), "{audit}");
    assert_eq!(panel.audit_count("zone.create").await?, 1);
    assert_eq!(panel.audit_count("zone.update").await?, 2);
    let answered = panel
        .call(Method::GET, "/audit", Auth::Bearer(&key), None)
        .await?;
    assert_eq!(answered.status, 200, "{}", answered.json);
    assert!(answered.json.to_string().contains("\"username\":\"ann\""));

    // No answer holds a hash: searched in the raw bodies.
    assert_no_hashes(&panel);
    // Neither in any answer nor in the log.
    assert_no_secrets(&panel, &[ADMIN_PASSWORD, PASSWORD, NEW_PASSWORD]);
    panel.stop().await
}

/// A JWT HMAC secret: write-only, like a password.
const JWT_SECRET: &str = "jwt-secret-3f9c1d0a7b5e4c2d9e8f7a6b";

#[tokio::test]
async fn jwt_and_forward_auth_are_validated_and_the_jwt_secret_never_leaves() -> anyhow::Result<()>
{
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "policies.test").await?;
    let host = "auth.policies.test";

    // Invalid: refused with 422, naming each field, nothing stored.
    let invalid = json!({
        "jwt": {"algorithms": ["none", "RS256"], "claims_to_headers": {"sub": "Host"}},
        "forward_auth": {"url": "ftp://auth.policies.test/check", "timeout_ms": 0,
                         "response_headers": ["X-Forwarded-For"]}
    });
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with(host, "", invalid)),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    let details = reply.json["error"]["details"].as_array().unwrap().clone();
    let problem_of = |field: &str| {
        details
            .iter()
            .find(|d| d["field"] == field)
            .and_then(|d| d["problem"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{field} is not named: {details:?}"))
    };
    assert!(problem_of("policies.jwt.algorithms[0]").contains("\"none\" is not allowed"));
    assert!(problem_of("policies.jwt").contains("give exactly one of secret"));
    assert!(problem_of("policies.jwt.claims_to_headers.sub").contains("\"host\" cannot be edited"));
    assert!(problem_of("policies.forward_auth.url").contains("ftp"));
    assert!(problem_of("policies.forward_auth.timeout_ms").contains("1–60000"));
    assert!(problem_of("policies.forward_auth.response_headers[0]").contains("x-forwarded-for"));
    assert!(raw_record(&panel, host).await?.is_none());
    // Two credentials in one Authorization header make no sense.
    let both = json!({
        "jwt": {"algorithms": ["HS256"], "secret": JWT_SECRET},
        "basic_auth": {"users": [{"username": "bob", "hash": BCRYPT_HASH}]}
    });
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with(host, "", both)),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    assert_eq!(reply.json["error"]["details"][0]["field"], "policies.jwt");

    // Valid: answered without the secret; Redis and PostgreSQL keep it for the proxies.
    let policies = json!({
        "jwt": {"algorithms": ["HS256"], "secret": JWT_SECRET, "issuer": "https://idp.test",
                "claims_to_headers": {"sub": "X-User"}},
        "forward_auth": {"url": "https://auth.policies.test/check",
                         "request_headers": ["Cookie"], "response_headers": ["X-Auth-User"]}
    });
    let created = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with(host, "/", policies)),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.json);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let shown = created.json["policies"].clone();
    assert_eq!(
        shown,
        json!({
            "jwt": {"algorithms": ["HS256"], "issuer": "https://idp.test",
                    "claims_to_headers": {"sub": "x-user"}, "leeway_secs": 30, "realm": "api"},
            "forward_auth": {"url": "https://auth.policies.test/check",
                             "request_headers": ["cookie"], "response_headers": ["x-auth-user"],
                             "timeout_ms": 5000}
        })
    );
    let stored = record_policies(&panel, host).await?;
    assert_eq!(stored["jwt"]["secret"], JWT_SECRET);
    assert_eq!(row_policies(&panel, &id).await?, stored);
    assert_eq!(redis_format(&panel).await?.as_deref(), Some("2"));

    // The view sent back (no key source) keeps the stored secret; so does a dry run,
    // which shows none either.
    let read = panel
        .call(
            Method::GET,
            &format!("/zones/{id}"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(read.json["policies"], shown);
    let spec = spec_of_view(&read.json);
    for path in [format!("/zones/{id}?dry_run=true"), format!("/zones/{id}")] {
        let same = panel
            .call(Method::PUT, &path, Auth::Bearer(&key), Some(spec.clone()))
            .await?;
        assert_eq!(same.status, 200, "{path}: {}", same.json);
        assert!(!same.json.to_string().contains(JWT_SECRET), "{}", same.json);
    }
    assert_eq!(record_policies(&panel, host).await?, stored);

    let audit = audit_text(&panel).await?;
    assert!(!audit.contains(JWT_SECRET), "{audit}");
    let answered = panel
        .call(Method::GET, "/audit", Auth::Bearer(&key), None)
        .await?;
    assert_eq!(answered.status, 200, "{}", answered.json);
    assert!(answered.json.to_string().contains("x-auth-user"));
    // Neither in any answer nor in the log.
    assert_no_secrets(&panel, &[ADMIN_PASSWORD, JWT_SECRET]);
    panel.stop().await
}

#[tokio::test]
async fn invalid_policies_are_refused_by_field_and_nothing_changes() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "policies.test").await?;
    let host = "bad.policies.test";
    let invalid = json!({
        "request_headers": {"set": [{"name": "Transfer-Encoding", "value": "chunked"}]},
        "hsts": {"max_age_secs": 600, "preload": true},
        "basic_auth": {"users": [
            {"username": "a:b", "password": PASSWORD},
            {"username": "carl", "hash": "hunter2"}
        ]},
        "rate_limit": {"requests": 0, "per_secs": 7200},
        "max_header_bytes": 100,
        "retry": {"attempts": 1, "on_status": [500]},
        "circuit_breaker": {"open_secs": 0},
        "error_pages": {"418": {"body": "teapot"}}
    });
    let fields_of = |reply: &Reply| -> Vec<String> {
        reply.json["error"]["details"]
            .as_array()
            .unwrap_or_else(|| panic!("no details: {}", reply.json))
            .iter()
            .map(|d| d["field"].as_str().unwrap().to_owned())
            .collect()
    };

    for path in ["/zones", "/zones?dry_run=true"] {
        let reply = panel
            .call(
                Method::POST,
                path,
                Auth::Bearer(&key),
                Some(zone_with(host, "", invalid.clone())),
            )
            .await?;
        assert_eq!(reply.status, 422, "{}", reply.json);
        assert_eq!(reply.json["error"]["code"], "invalid");
        let fields = fields_of(&reply);
        for want in [
            "policies.request_headers.set[0].name",
            "policies.hsts.preload",
            "policies.basic_auth.users[0].username",
            "policies.basic_auth.users[1].hash",
            "policies.rate_limit.requests",
            "policies.rate_limit.per_secs",
            "policies.max_header_bytes",
            "policies.retry.attempts",
            "policies.retry.on_status[0]",
            "policies.circuit_breaker.open_secs",
            "policies.error_pages.418",
        ] {
            assert!(
                fields.iter().any(|f| f == want),
                "{want} is not named: {fields:?}"
            );
        }
    }
    // A user by username only has no stored password to keep on a create.
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with(
                host,
                "",
                json!({"basic_auth": {"users": [{"username": "ann"}]}}),
            )),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    assert_eq!(fields_of(&reply), ["policies.basic_auth.users[0]"]);
    assert_eq!(
        reply.json["error"]["details"][0]["problem"],
        "gives neither hash nor password, and this zone has no stored password for \"ann\" to keep"
    );
    // A policy serde does not know is named too.
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with(host, "", json!({"cors": true}))),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    assert_eq!(fields_of(&reply), ["policies.cors"]);
    // Bulk: the same, with the item's position.
    let reply = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&key),
            Some(json!({"create": [
                zone("ok.policies.test", "", "http://127.0.0.1:9001"),
                zone_with(host, "", json!({"rate_limit": {"requests": 0}}))
            ]})),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    assert_eq!(
        fields_of(&reply),
        ["create[1].policies.rate_limit.requests"]
    );

    // Nothing changed anywhere.
    assert_eq!(zones::Entity::find().count(&panel.db).await?, 0);
    assert_eq!(panel.audit_count("zone.create").await?, 0);
    assert!(panel.zone_record(host).await?.is_none());
    assert!(panel.zone_record("ok.policies.test").await?.is_none());
    assert_ne!(redis_format(&panel).await?.as_deref(), Some("2"));
    assert_no_secrets(&panel, &[ADMIN_PASSWORD, PASSWORD]);
    panel.stop().await
}

/// A proxy's status as it publishes it; `reads_format: None` is an old proxy's, which
/// has no such field. `age` is how long ago its heartbeat was.
fn status(id: &str, reads_format: Option<u32>, age: Duration) -> (String, String) {
    let now = time::OffsetDateTime::now_utc();
    let mut json = serde_json::to_value(ProxyStatus {
        reads_format: reads_format.unwrap_or(1),
        id: id.into(),
        version: 1,
        heartbeat_at: now - age,
        applied_at: now - age,
        zones: 0,
        certs: 0,
        replica_versions_behind: None,
        endpoints_down: 0,
    })
    .unwrap();
    if reads_format.is_none() {
        json.as_object_mut().unwrap().remove("reads_format");
    }
    (id.to_owned(), json.to_string())
}

#[tokio::test]
async fn policy_writes_wait_until_every_live_proxy_reads_format_2() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "policies.test").await?;
    let (client, proxies) = (panel.redis.client().clone(), panel.redis.keys().proxies());
    let publish = |entry: (String, String)| {
        let (client, proxies) = (client.clone(), proxies.clone());
        async move { client.hset::<(), _, _>(proxies, entry).await }
    };
    // An old proxy, alive; a retired one (no heartbeat for a minute) does not count.
    publish(status("edge-old", None, Duration::ZERO)).await?;
    publish(status("edge-retired", None, Duration::from_secs(60))).await?;
    // As answered: with its defaults spelled out.
    let hsts =
        json!({"hsts": {"max_age_secs": 600, "include_subdomains": false, "preload": false}});
    let refused = |reply: &Reply, field: &str| {
        assert_eq!(reply.status, 409, "{}", reply.json);
        let error = &reply.json["error"];
        assert_eq!(error["code"], "conflict");
        let message = error["message"].as_str().unwrap();
        for want in [
            "\"edge-old\" (reads_format 1)",
            "upgrade the proxies first",
            "format 2",
        ] {
            assert!(message.contains(want), "{want} is not in: {message}");
        }
        assert!(!message.contains("edge-retired"), "{message}");
        assert_eq!(error["details"][0]["field"], field, "{error}");
    };

    for path in ["/zones", "/zones?dry_run=true"] {
        let reply = panel
            .call(
                Method::POST,
                path,
                Auth::Bearer(&key),
                Some(zone_with("hsts.policies.test", "", hsts.clone())),
            )
            .await?;
        refused(&reply, "policies");
    }
    // A zone without policies is format 1: written as ever.
    let plain = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone("plain.policies.test", "", "http://127.0.0.1:9001")),
        )
        .await?;
    assert_eq!(plain.status, 201, "{}", plain.json);
    let plain_id = plain.json["id"].as_str().unwrap().to_owned();
    assert_eq!(redis_format(&panel).await?.as_deref(), Some("1"));
    // Adding policies to it, by update, bulk or import: refused alike.
    let mut spec = zone("plain.policies.test", "", "http://127.0.0.1:9001");
    spec["policies"] = hsts.clone();
    let reply = panel
        .call(
            Method::PUT,
            &format!("/zones/{plain_id}"),
            Auth::Bearer(&key),
            Some(spec.clone()),
        )
        .await?;
    refused(&reply, "policies");
    let reply = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&key),
            Some(json!({
                "create": [zone("other.policies.test", "", "http://127.0.0.1:9001")],
                "update": [{"id": plain_id, "zone": spec}]
            })),
        )
        .await?;
    refused(&reply, "update[0].zone.policies");
    let document = json!({
        "format": "switchyard-export/1",
        "domains": ["policies.test"],
        "zones": [
            zone("plain.policies.test", "", "http://127.0.0.1:9001"),
            zone_with("hsts.policies.test", "", hsts.clone())
        ]
    });
    for path in ["/import", "/import?dry_run=true"] {
        let reply = panel
            .call(
                Method::POST,
                path,
                Auth::Bearer(&key),
                Some(document.clone()),
            )
            .await?;
        refused(&reply, "zones[1].policies");
    }
    // Nothing of it reached PostgreSQL or Redis.
    assert_eq!(zones::Entity::find().count(&panel.db).await?, 1);
    assert!(panel.zone_record("hsts.policies.test").await?.is_none());
    assert!(panel.zone_record("other.policies.test").await?.is_none());
    assert_eq!(
        record_policies(&panel, "plain.policies.test").await?,
        Value::Null
    );
    assert_eq!(redis_format(&panel).await?.as_deref(), Some("1"));
    assert_eq!(panel.audit_count("zone.update").await?, 0);

    // The proxy is upgraded: it reads format 2, and the write goes through.
    publish(status("edge-old", Some(2), Duration::ZERO)).await?;
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with("hsts.policies.test", "", hsts.clone())),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(reply.json["policies"], hsts);
    assert_eq!(redis_format(&panel).await?.as_deref(), Some("2"));
    assert_eq!(record_policies(&panel, "hsts.policies.test").await?, hsts);

    // Once Redis is at format 2 there is nothing left to protect: an old proxy
    // rejoining refuses the data whatever is written, so writes do not wait for it.
    publish(status("edge-old", None, Duration::ZERO)).await?;
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with("late.policies.test", "", hsts.clone())),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    // The fleet view shows what each proxy reads.
    let health = panel.call(Method::GET, "/health", Auth::None, None).await?;
    let edge = health.json["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "edge-old")
        .cloned()
        .unwrap_or_else(|| panic!("edge-old in {}", health.json));
    assert_eq!(edge["reads_format"], 1);
    panel.stop().await
}

#[tokio::test]
async fn without_redis_a_policy_write_is_refused_and_a_plain_one_queued() -> anyhow::Result<()> {
    // Nothing listens on port 1: Redis is "down" for this panel.
    let mut panel = Panel::start_with_redis(Some("redis://127.0.0.1:1")).await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "policies.test").await?;
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with(
                "hsts.policies.test",
                "",
                json!({"hsts": {"max_age_secs": 600}}),
            )),
        )
        .await?;
    assert_eq!(reply.status, 503, "{}", reply.json);
    assert_eq!(reply.json["error"]["code"], "unavailable");
    let message = reply.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not read Redis") && message.contains("nothing was changed"),
        "{message}"
    );
    assert_eq!(zones::Entity::find().count(&panel.db).await?, 0);
    // Without policies the write does not need Redis to decide: committed and queued.
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone("plain.policies.test", "", "http://127.0.0.1:9001")),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(reply.json["version"], Value::Null);
    panel.stop().await
}

#[tokio::test]
async fn once_redis_was_at_format_2_a_policy_write_without_redis_is_queued() -> anyhow::Result<()> {
    // Redis behind a relay that can be cut: a failover with no primary yet, as the panel
    // sees it.
    let mut relay = switchyard_tests::relay::Relay::start("127.0.0.1:6379").await?;
    let url = format!("redis://{}", relay.addr());
    let mut panel = Panel::start_with_redis(Some(&url)).await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "policies.test").await?;
    let hsts = json!({"hsts": {"max_age_secs": 600}});
    let first = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with("one.policies.test", "", hsts.clone())),
        )
        .await?;
    assert_eq!(first.status, 201, "{}", first.json);
    assert_eq!(redis_format(&panel).await?.as_deref(), Some("2"));

    relay.cut().await;
    let queued = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with("two.policies.test", "", hsts.clone())),
        )
        .await?;
    assert_eq!(queued.status, 201, "{}", queued.json);
    assert_eq!(queued.json["version"], Value::Null, "queued, not written");
    assert_eq!(zones::Entity::find().count(&panel.db).await?, 2);
    assert!(panel.zone_record("two.policies.test").await?.is_none());

    // Queued for Redis (the outbox, which delivers it when Redis answers again).
    assert_eq!(
        panel_api::entity::redis_outbox::Entity::find()
            .count(&panel.db)
            .await?,
        1
    );
    relay.restore().await?;
    panel.stop().await
}

#[tokio::test]
async fn policies_survive_bulk_dry_runs_named_backends_and_reconciliation() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "policies.test").await?;

    // A dry run shows the record it would write, users by username only: neither the
    // password nor its hash.
    let dry = panel
        .call(
            Method::POST,
            "/zones?dry_run=true",
            Auth::Bearer(&key),
            Some(zone_with(
                "dry.policies.test",
                "/app",
                every_policy(PASSWORD),
            )),
        )
        .await?;
    assert_eq!(dry.status, 200, "{}", dry.json);
    assert_eq!(dry.json["created"][0]["policies"], every_policy_shown());
    let after = &dry.json["records"][0]["after"]["routes"][0]["policies"];
    assert_eq!(after, &every_policy_shown());
    assert_eq!(zones::Entity::find().count(&panel.db).await?, 0);
    assert!(panel.zone_record("dry.policies.test").await?.is_none());

    // Bulk: created with the hash, written through.
    let bulk = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&key),
            Some(json!({"create": [
                zone_with("bulk.policies.test", "/app", every_policy(PASSWORD)),
                zone("plain.policies.test", "", "http://127.0.0.1:9001")
            ]})),
        )
        .await?;
    assert_eq!(bulk.status, 200, "{}", bulk.json);
    let policies = bulk.json["created"][0]["policies"].clone();
    assert_eq!(policies, every_policy_shown());
    let stored = record_policies(&panel, "bulk.policies.test").await?;
    let hash = ann_hash(&stored, PASSWORD);
    assert_eq!(stored, every_policy_normalised(&hash));
    assert_eq!(redis_format(&panel).await?.as_deref(), Some("2"));

    // A bulk update (dry run, then for real) with ann by username only keeps her
    // password; a new one for bob changes his.
    let bulk_id = bulk.json["created"][0]["id"].as_str().unwrap().to_owned();
    let mut spec = zone_with("bulk.policies.test", "/app", every_policy_shown());
    spec["policies"]["basic_auth"]["users"][1] =
        json!({"username": "bob", "password": NEW_PASSWORD});
    let update = json!({"update": [{"id": bulk_id, "zone": spec}]});
    let dry = panel
        .call(
            Method::POST,
            "/zones/bulk?dry_run=true",
            Auth::Bearer(&key),
            Some(update.clone()),
        )
        .await?;
    assert_eq!(dry.status, 200, "{}", dry.json);
    assert_eq!(dry.json["changed"][0]["before"]["policies"], policies);
    assert_eq!(dry.json["changed"][0]["after"]["policies"], policies);
    assert_eq!(record_policies(&panel, "bulk.policies.test").await?, stored);
    let updated = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&key),
            Some(update),
        )
        .await?;
    assert_eq!(updated.status, 200, "{}", updated.json);
    assert_eq!(updated.json["changed"][0]["after"]["policies"], policies);
    let now = record_policies(&panel, "bulk.policies.test").await?;
    assert_eq!(now["basic_auth"]["users"][0]["hash"], hash.as_str());
    assert!(verify_password(&hash, PASSWORD));
    let bob = now["basic_auth"]["users"][1]["hash"].as_str().unwrap();
    assert!(bob.starts_with("$argon2id$") && verify_password(bob, NEW_PASSWORD));
    // A bulk create with a user by username only is refused, naming the item's field.
    let refused = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&key),
            Some(json!({"create": [zone_with(
                "new.policies.test",
                "",
                json!({"basic_auth": {"users": [{"username": "ann"}]}})
            )]})),
        )
        .await?;
    assert_eq!(refused.status, 422, "{}", refused.json);
    assert_eq!(
        refused.json["error"]["details"][0]["field"],
        "create[0].policies.basic_auth.users[0]"
    );

    // A named backend's new template re-renders its zones; their policies stay.
    let backend = panel
        .call(
            Method::POST,
            "/named-backends",
            Auth::Bearer(&key),
            Some(json!({"name": "svc", "url_template": "http://{first_label}.internal:{port}"})),
        )
        .await?;
    assert_eq!(backend.status, 201, "{}", backend.json);
    let backend_id = backend.json["id"].as_str().unwrap().to_owned();
    let hsts = json!({
        "hsts": {"max_age_secs": 600, "include_subdomains": false, "preload": false},
        "security_headers": true
    });
    let named = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(json!({
                "hostname": "nb.policies.test",
                "backend": {"kind": "named", "name": "svc", "params": {"port": "8080"}},
                "policies": hsts
            })),
        )
        .await?;
    assert_eq!(named.status, 201, "{}", named.json);
    let reply = panel
        .call(
            Method::PUT,
            &format!("/named-backends/{backend_id}"),
            Auth::Bearer(&key),
            Some(
                json!({"name": "svc", "url_template": "http://{first_label}.svc.internal:{port}"}),
            ),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let record = panel.zone_record("nb.policies.test").await?.unwrap();
    assert_eq!(upstream_urls(&record, ""), ["http://nb.svc.internal:8080"]);
    assert_eq!(record_policies(&panel, "nb.policies.test").await?, hsts);

    // Reconciliation rebuilds a lost record exactly, and then finds nothing to fix.
    let config = Config::try_parse_from([
        "panel-api",
        "--database-url",
        panel.database.as_ref().unwrap().url(),
        "--redis-url",
        panel.redis.url(),
        "--key-prefix",
        panel.redis.prefix(),
    ])?;
    let state = AppState::connect(&config).await?;
    let before = raw_record(&panel, "bulk.policies.test").await?.unwrap();
    let _: i64 = panel
        .redis
        .client()
        .del(panel.redis.keys().zone("bulk.policies.test"))
        .await?;
    let report = panel_api::reconcile::reconcile(&state)
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!((report.missing, report.changed), (1, 0), "{report:?}");
    assert_eq!(
        raw_record(&panel, "bulk.policies.test").await?.unwrap(),
        before
    );
    let again = panel_api::reconcile::reconcile(&state)
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(
        (again.missing, again.changed, again.stale),
        (0, 0, 0),
        "{again:?}"
    );
    state.stores.db.close().await?;

    assert_no_secrets(&panel, &[ADMIN_PASSWORD, PASSWORD, NEW_PASSWORD]);
    assert_no_hashes(&panel);
    panel.stop().await
}

#[tokio::test]
async fn export_and_import_into_a_fresh_panel_keep_the_policies() -> anyhow::Result<()> {
    let mut source = Panel::start().await?;
    let (_, key) = source.key_for(ADMIN, ADMIN_PASSWORD).await?;
    source.domain(&key, "policies.test").await?;
    let created = source
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with(
                "app.policies.test",
                "/app",
                every_policy(PASSWORD),
            )),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.json);
    let policies = created.json["policies"].clone();
    assert_eq!(policies, every_policy_shown());
    let stored = record_policies(&source, "app.policies.test").await?;
    let hash = ann_hash(&stored, PASSWORD);
    // The export file is the exception: it keeps the hashes, so that a panel can be
    // rebuilt from it.
    let exported = source
        .call(Method::GET, "/export", Auth::Bearer(&key), None)
        .await?;
    assert_eq!(exported.status, 200, "{}", exported.json);
    assert_eq!(exported.json["zones"][0]["policies"], stored);
    // Importing it back changes nothing: the stored form is the normal form.
    let again = source
        .call(
            Method::POST,
            "/import",
            Auth::Bearer(&key),
            Some(exported.json.clone()),
        )
        .await?;
    assert_eq!(again.status, 200, "{}", again.json);
    assert_eq!(again.json["changed"], json!([]), "{}", again.json);
    assert_eq!(again.json["created"], json!([]), "{}", again.json);
    // Nor does one whose users are given by username only: the zone it replaces keeps
    // their stored passwords.
    let mut by_name = exported.json.clone();
    by_name["zones"][0]["policies"] = every_policy_shown();
    let again = source
        .call(Method::POST, "/import", Auth::Bearer(&key), Some(by_name))
        .await?;
    assert_eq!(again.status, 200, "{}", again.json);
    assert_eq!(again.json["changed"], json!([]), "{}", again.json);
    assert_eq!(record_policies(&source, "app.policies.test").await?, stored);
    assert_no_secrets(&source, &[ADMIN_PASSWORD, PASSWORD]);
    assert_no_hashes(&source);
    source.stop().await?;

    let mut target = Panel::start().await?;
    let (_, key) = target.key_for(ADMIN, ADMIN_PASSWORD).await?;
    target.domain(&key, "policies.test").await?;
    let imported = target
        .call(
            Method::POST,
            "/import",
            Auth::Bearer(&key),
            Some(exported.json.clone()),
        )
        .await?;
    assert_eq!(imported.status, 200, "{}", imported.json);
    assert_eq!(imported.json["created"][0]["policies"], policies);
    let listed = target
        .call(Method::GET, "/zones", Auth::Bearer(&key), None)
        .await?;
    assert_eq!(listed.json["items"][0]["policies"], policies);
    // The same hash in Redis: it still admits ann with her password.
    let rebuilt = record_policies(&target, "app.policies.test").await?;
    assert_eq!(rebuilt, stored);
    assert_eq!(rebuilt["basic_auth"]["users"][0]["hash"], hash.as_str());
    assert_eq!(redis_format(&target).await?.as_deref(), Some("2"));
    assert_no_hashes(&target);
    target.stop().await
}

/// The panel's database URL, pointed at the relay instead.
fn via(relay: &Relay, url: &str) -> String {
    let mut url = reqwest::Url::parse(url).expect("the test database URL parses");
    url.set_host(Some("127.0.0.1")).expect("a host");
    url.set_port(Some(relay.addr().port())).expect("a port");
    url.to_string()
}

fn database_target() -> String {
    use switchyard_tests::postgres::{ADMIN_URL_ENV, DEFAULT_ADMIN_URL};
    let admin = std::env::var(ADMIN_URL_ENV).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
    let url = reqwest::Url::parse(&admin).expect("the test database URL parses");
    format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    )
}

#[tokio::test]
async fn degraded_reads_show_the_policies_redis_holds() -> anyhow::Result<()> {
    let mut relay = Relay::start(&database_target()).await?;
    let mut panel = Panel::start_full(None, |url| via(&relay, url), &[]).await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "policies.test").await?;
    let created = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with(
                "app.policies.test",
                "/app",
                every_policy(PASSWORD),
            )),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.json);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let policies = created.json["policies"].clone();

    relay.cut().await;
    let (http, base) = (panel.http.clone(), panel.base.clone());
    let zone = eventually(Duration::from_secs(15), "degraded reads", || async {
        let r = http
            .get(format!("{base}/zones/{id}"))
            .bearer_auth(&key)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let text = r.text().await.map_err(|e| e.to_string())?;
        let json: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        match json["degraded"].as_bool() {
            Some(true) => Ok(json),
            _ => Err(format!("not degraded yet: {json}")),
        }
    })
    .await?;
    assert_eq!(zone["policies"], policies, "{zone}");
    assert_eq!(zone["policies"], every_policy_shown(), "{zone}");
    let text = zone.to_string();
    assert!(!text.contains(PASSWORD));
    for mark in HASH_MARKS {
        assert!(
            !text.contains(mark),
            "a degraded read answered a hash: {text}"
        );
    }
    relay.restore().await?;
    panel.stop().await
}

/// Match conditions (docs/routing.md) are part of a zone's identity: zones may share a
/// hostname and path prefix when their conditions differ, never when they are the same
/// after normalisation; invalid conditions are refused by field; records, pages, bulk
/// and export/import all keep the three-part key.
#[tokio::test]
async fn match_conditions_are_part_of_a_zones_identity() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "match.test").await?;
    let host = "app.match.test";
    let with_match = |conditions: Value| {
        let mut spec = zone(host, "/api", "http://127.0.0.1:9001");
        spec["match"] = conditions;
        spec
    };
    let plain = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone(host, "/api", "http://127.0.0.1:9001")),
        )
        .await?;
    assert_eq!(plain.status, 201, "{}", plain.json);
    assert!(plain.json.get("match").is_none(), "{}", plain.json);
    let beta = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(with_match(json!({
                "methods": ["POST", "GET", "POST"],
                "headers": [{"name": "X-Beta", "equals": "1"}],
                "query": [{"name": "v", "equals": "2"}]
            }))),
        )
        .await?;
    assert_eq!(beta.status, 201, "{}", beta.json);
    let normalised = json!({
        "methods": ["GET", "POST"],
        "headers": [{"name": "x-beta", "equals": "1"}],
        "query": [{"name": "v", "equals": "2"}]
    });
    assert_eq!(beta.json["match"], normalised);
    // The same conditions written differently are the same zone.
    let again = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(with_match(json!({
                "query": [{"name": "v", "equals": "2"}],
                "headers": [{"name": "x-BETA", "equals": "1"}],
                "methods": ["GET", "POST"]
            }))),
        )
        .await?;
    assert_eq!(again.status, 409, "{}", again.json);
    assert_eq!(again.json["error"]["code"], "conflict");
    assert!(
        again.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("match"),
        "{}",
        again.json
    );
    // Invalid conditions, each named; nothing changes.
    for path in ["/zones", "/zones?dry_run=true"] {
        let reply = panel
            .call(
                Method::POST,
                path,
                Auth::Bearer(&key),
                Some(with_match(json!({
                    "path_exact": "/other",
                    "path_regex": "(",
                    "methods": ["get"],
                    "headers": [{"name": "bad name", "regex": "(", "equals": "x"}],
                    "query": [{"name": ""}]
                }))),
            )
            .await?;
        assert_eq!(reply.status, 422, "{}", reply.json);
        let fields: Vec<&str> = reply.json["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        for want in [
            "match.path_exact",
            "match.path_regex",
            "match.methods[0]",
            "match.headers[0].name",
            "match.headers[0].regex",
            "match.query[0].name",
        ] {
            assert!(fields.contains(&want), "{want} is not named: {fields:?}");
        }
    }
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(with_match(json!({"methods": ["GET"], "unknown": 1}))),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    assert_eq!(zones::Entity::find().count(&panel.db).await?, 2);
    // The record holds both routes; the conditional one says so.
    let record = panel
        .zone_record(host)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{host} is not in Redis"))?;
    assert_eq!(record.routes.len(), 2, "{record:?}");
    let shown: Vec<Value> = record
        .routes
        .iter()
        .map(|r| serde_json::to_value(&r.matching).unwrap())
        .collect();
    assert!(shown.contains(&normalised), "{shown:?}");
    assert!(shown.contains(&Value::Null), "{shown:?}");
    assert_eq!(redis_format(&panel).await?.as_deref(), Some("2"));
    // Pages of one zone each walk both, in the identity's order.
    let first = panel
        .call(Method::GET, "/zones?limit=1", Auth::Bearer(&key), None)
        .await?;
    assert_eq!(
        first.json["items"][0]["id"], plain.json["id"],
        "{}",
        first.json
    );
    let next = first.json["next"].as_str().expect("a next page");
    let second = panel
        .call(
            Method::GET,
            &format!("/zones?limit=1&after={next}"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(
        second.json["items"][0]["id"], beta.json["id"],
        "{}",
        second.json
    );
    assert!(second.json["next"].is_null(), "{}", second.json);
    // Bulk: one identity twice is refused; a third distinct one is created.
    let reply = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&key),
            Some(json!({"create": [
                with_match(json!({"methods": ["DELETE"]})),
                with_match(json!({"methods": ["DELETE", "DELETE"]})),
            ]})),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    assert!(
        reply.json.to_string().contains("also given at create[0]"),
        "{}",
        reply.json
    );
    let reply = panel
        .call(
            Method::POST,
            "/zones/bulk",
            Auth::Bearer(&key),
            Some(json!({"create": [with_match(json!({"path_exact": "/api/health"}))]})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(zones::Entity::find().count(&panel.db).await?, 3);
    // Updating a zone onto another's identity is a conflict.
    let onto = zone(host, "/api", "http://127.0.0.1:9001");
    let reply = panel
        .call(
            Method::PUT,
            &format!("/zones/{}", beta.json["id"].as_str().unwrap()),
            Auth::Bearer(&key),
            Some(onto),
        )
        .await?;
    assert_eq!(reply.status, 409, "{}", reply.json);
    // Export, then import the file back: every zone is found by its three-part key.
    let exported = panel
        .call(Method::GET, "/export", Auth::Bearer(&key), None)
        .await?;
    assert_eq!(exported.status, 200, "{}", exported.json);
    let again = panel
        .call(
            Method::POST,
            "/import",
            Auth::Bearer(&key),
            Some(exported.json),
        )
        .await?;
    assert_eq!(again.status, 200, "{}", again.json);
    assert_eq!(again.json["created"], json!([]), "{}", again.json);
    assert_eq!(again.json["changed"], json!([]), "{}", again.json);
    assert_eq!(zones::Entity::find().count(&panel.db).await?, 3);
    panel.stop().await
}

#[tokio::test]
async fn an_invalid_split_is_refused_naming_the_field_and_a_valid_one_is_stored()
-> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "policies.test").await?;
    let host = "canary.policies.test";

    let invalid = json!({"split": {
        "groups": [
            {"name": "stable", "weight": 90},
            {"name": "canary", "weight": 1001, "upstreams": [{"url": "http://10.0.0.9:99999"}]}
        ],
        "sticky": {"kind": "cookie", "name": "sy cohort"}
    }});
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with(host, "", invalid)),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    let details = reply.json["error"]["details"].as_array().unwrap().clone();
    let problem_of = |field: &str| {
        details
            .iter()
            .find(|d| d["field"] == field)
            .and_then(|d| d["problem"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{field} is not named: {details:?}"))
    };
    assert!(problem_of("policies.split.groups[1].weight").contains("weights must be 0–1000"));
    assert!(problem_of("policies.split.groups[1].upstreams[0].url").contains("99999"));
    assert!(problem_of("policies.split.sticky.name").contains("\"sy cohort\" is not a token"));
    assert!(raw_record(&panel, host).await?.is_none());

    // Valid: stored normalised, in the record the proxies read.
    let valid = json!({"split": {
        "groups": [
            {"name": "stable", "weight": 90},
            {"name": "canary", "weight": 10, "upstreams": [{"url": "HTTP://10.0.0.9:8080"}]}
        ],
        "sticky": {"kind": "header", "name": "X-User-Id"},
        "force": {"header": "X-Canary-Cohort"}
    }});
    let created = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with(host, "", valid)),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.json);
    let split = &record_policies(&panel, host).await?["split"];
    assert_eq!(
        split["groups"][1]["upstreams"][0]["url"],
        "http://10.0.0.9:8080"
    );
    assert_eq!(split["sticky"]["name"], "x-user-id");
    assert_eq!(split["force"]["header"], "x-canary-cohort");
    panel.stop().await
}

/// A zone's idle and total timeouts (data format 2) round-trip through the API, Redis
/// and PostgreSQL; out-of-range ones are refused naming the field, changing nothing.
#[tokio::test]
async fn idle_and_total_timeouts_are_stored_and_bad_ones_named() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "policies.test").await?;
    let host = "slow.policies.test";
    let mut spec = zone(host, "", "http://127.0.0.1:9001");
    spec["timeouts"] = json!({"connect_ms": 500, "idle_ms": 0, "total_ms": 86_400_001});
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(spec.clone()),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    let details = reply.json["error"]["details"].as_array().unwrap().clone();
    let named: Vec<(&str, &str)> = details
        .iter()
        .map(|d| (d["field"].as_str().unwrap(), d["problem"].as_str().unwrap()))
        .collect();
    assert_eq!(
        named,
        [
            (
                "timeouts.idle_ms",
                "timeout idle_ms is 0; it must be 1–3600000 milliseconds"
            ),
            (
                "timeouts.total_ms",
                "timeout total_ms is 86400001; it must be 1–86400000 milliseconds"
            )
        ]
    );
    assert!(panel.zone_record(host).await?.is_none());

    spec["timeouts"] = json!({"connect_ms": 500, "idle_ms": 15000, "total_ms": 120000});
    let created = panel
        .call(Method::POST, "/zones", Auth::Bearer(&key), Some(spec))
        .await?;
    assert_eq!(created.status, 201, "{}", created.json);
    let want = json!({"connect_ms": 500, "idle_ms": 15000, "total_ms": 120000});
    assert_eq!(created.json["timeouts"], want);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let read = panel
        .call(
            Method::GET,
            &format!("/zones/{id}"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(read.json["timeouts"], want, "read back from PostgreSQL");
    let record = panel
        .zone_record(host)
        .await?
        .expect("the record is in Redis");
    let t = record.routes[0].timeouts;
    assert_eq!((t.idle_ms, t.total_ms), (Some(15000), Some(120000)));
    assert_eq!(redis_format(&panel).await?.as_deref(), Some("2"));
    panel.stop().await
}

#[tokio::test]
async fn each_invalid_health_check_field_is_refused_by_name_and_a_valid_one_is_stored()
-> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    panel.domain(&key, "policies.test").await?;
    let host = "checked.policies.test";
    let valid = json!({"path": "/healthz", "interval_ms": 2000, "timeout_ms": 500});
    // Each field alone, with what the answer must say about it.
    for (field, value, says) in [
        (
            "path",
            json!("healthz"),
            "path \"healthz\" must start with \"/\"",
        ),
        ("path", json!("/a b"), "contains ' '"),
        (
            "expected_status",
            json!("2xx"),
            "\"2xx\" is not a list of status codes (100–599)",
        ),
        ("expected_status", json!("500-200"), "ends before it starts"),
        (
            "interval_ms",
            json!(999),
            "interval_ms is 999; it must be 1000–300000",
        ),
        ("interval_ms", json!(300_001), "interval_ms is 300001"),
        (
            "timeout_ms",
            json!(0),
            "timeout_ms is 0; it must be 1–60000",
        ),
        (
            "timeout_ms",
            json!(2000),
            "timeout_ms is 2000; it must be shorter than interval_ms (2000)",
        ),
        (
            "healthy_threshold",
            json!(0),
            "healthy_threshold is 0; it must be 1–10",
        ),
        (
            "unhealthy_threshold",
            json!(11),
            "unhealthy_threshold is 11; it must be 1–10",
        ),
        ("host", json!("a/b"), "host \"a/b\" must be a host name"),
    ] {
        let mut check = valid.clone();
        check[field] = value.clone();
        let reply = panel
            .call(
                Method::POST,
                "/zones",
                Auth::Bearer(&key),
                Some(zone_with(host, "", json!({"health_check": check}))),
            )
            .await?;
        assert_eq!(reply.status, 422, "{field} = {value}: {}", reply.json);
        let details = reply.json["error"]["details"].as_array().unwrap();
        let named = format!("policies.health_check.{field}");
        let problem = details
            .iter()
            .find(|d| d["field"] == named.as_str())
            .and_then(|d| d["problem"].as_str())
            .unwrap_or_else(|| panic!("{named} is not named: {details:?}"));
        assert!(problem.contains(says), "{named} = {value}: {problem}");
        assert_eq!(details.len(), 1, "only {named}: {details:?}");
    }
    // An unknown field is refused too, before anything is stored.
    let mut typo = valid.clone();
    typo["intervall_ms"] = json!(1000);
    let reply = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with(host, "", json!({"health_check": typo}))),
        )
        .await?;
    assert!((400..500).contains(&reply.status), "{}", reply.json);
    assert!(
        reply.json.to_string().contains("intervall_ms"),
        "{}",
        reply.json
    );
    assert!(raw_record(&panel, host).await?.is_none());

    // Valid: stored with its defaults in the record the proxies read.
    let created = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&key),
            Some(zone_with(host, "", json!({"health_check": valid}))),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.json);
    let want = json!({
        "path": "/healthz", "expected_status": "200-399", "interval_ms": 2000,
        "timeout_ms": 500, "healthy_threshold": 2, "unhealthy_threshold": 3
    });
    assert_eq!(created.json["policies"]["health_check"], want);
    assert_eq!(record_policies(&panel, host).await?["health_check"], want);
    assert_eq!(
        row_policies(&panel, created.json["id"].as_str().unwrap()).await?["health_check"],
        want
    );
    panel.stop().await
}
