//! Degraded mode: PostgreSQL unreachable (a TCP relay in front of the test database is
//! cut) while Redis is up. Zone and domain reads come from Redis marked `degraded`,
//! verified keys and sessions keep working for reads, a recent login can be repeated,
//! writes answer 503 and change nothing, and everything recovers by itself.

mod common;

use std::time::Duration;

use common::*;
use panel_api::entity::zones;
use reqwest::Method;
use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use serde_json::{Value, json};
use switchyard_tests::eventually::eventually;
use switchyard_tests::relay::Relay;

/// The panel's database URL, pointed at the relay instead.
fn via(relay: &Relay, url: &str) -> String {
    let mut url = reqwest::Url::parse(url).expect("the test database URL parses");
    url.set_host(Some("127.0.0.1")).expect("a host");
    url.set_port(Some(relay.addr().port())).expect("a port");
    url.to_string()
}

/// `GET path` with a bearer key, outside `Panel` (for polling closures).
async fn get(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    key: &str,
) -> Result<(u16, Value), String> {
    let r = http
        .get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let text = r.text().await.map_err(|e| e.to_string())?;
    let json: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    Ok((status, json))
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
async fn postgres_down_serves_degraded_reads_cached_logins_and_refuses_writes() -> anyhow::Result<()>
{
    let mut relay = Relay::start(&database_target()).await?;
    let relay_addr = relay.addr();
    let mut panel = Panel::start_full(None, |url| via(&relay, url), &[]).await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let alice_id = panel.user(&admin, "alice", "alice password 1").await?;
    panel.user(&admin, "bob", "bob password 123").await?;
    let mine = panel.domain(&admin, "alice.test").await?;
    let other = panel.domain(&admin, "other.test").await?;
    panel.grant(&admin, &alice_id, &mine, "read").await?;
    let a_zone = panel.zone(&admin, "www.alice.test").await?;
    let o_zone = panel.zone(&admin, "www.other.test").await?;
    // Alice's key and session, verified by the database before the outage; a second
    // key is revoked before it.
    let (_, alice_key) = panel.key_for("alice", "alice password 1").await?;
    let (revoked_id, revoked) = panel.key_for("alice", "alice password 1").await?;
    let session = panel.login("alice", "alice password 1").await?;
    for auth in [
        Auth::Bearer(&alice_key),
        session.auth(),
        Auth::Bearer(&revoked),
    ] {
        let r = panel.call(Method::GET, "/zones", auth, None).await?;
        assert_eq!(r.status, 200, "{}", r.json);
        assert!(r.json.get("degraded").is_none());
    }
    let r = panel
        .call(
            Method::DELETE,
            &format!("/api-keys/{revoked_id}"),
            Auth::Bearer(&alice_key),
            None,
        )
        .await?;
    assert_eq!(r.status, 204);
    let zones_before = zones::Entity::find().count(&panel.db).await?;

    relay.cut().await;
    // Degraded mode begins within the database watch's period.
    let (http, base) = (panel.http.clone(), panel.base.clone());
    eventually(Duration::from_secs(15), "degraded reads", || async {
        let (status, json) = get(&http, &base, "/zones", &admin).await?;
        match json["degraded"].as_bool() {
            Some(true) => Ok(()),
            _ => Err(format!("not degraded yet: {status} {json}")),
        }
    })
    .await?;

    // The admin reads every zone from Redis; alice only her domain's.
    let all = panel
        .call(Method::GET, "/zones", Auth::Bearer(&admin), None)
        .await?;
    assert_eq!(all.status, 200, "{}", all.json);
    assert_eq!(all.json["degraded"], true);
    assert_eq!(all.json["total"], 2, "{}", all.json);
    assert_eq!(all.json["items"][0]["hostname"], "www.alice.test");
    assert_eq!(all.json["items"][0]["id"], a_zone.as_str());
    assert_eq!(all.json["items"][0]["domain_id"], mine.as_str());
    assert_eq!(
        all.json["items"][0]["backend"]["upstreams"][0]["url"],
        "http://127.0.0.1:9001"
    );
    // Paging by cursor works from Redis too: one zone a page, the second page last.
    let first = panel
        .call(Method::GET, "/zones?limit=1", Auth::Bearer(&admin), None)
        .await?;
    let next = first.json["next"].as_str().expect("a next cursor");
    let second = panel
        .call(
            Method::GET,
            &format!("/zones?limit=1&after={next}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(second.json["degraded"], true, "{}", second.json);
    assert_eq!(second.json["items"][0], all.json["items"][1]);
    assert_eq!(second.json["total"], 2);
    assert!(second.json.get("next").is_none(), "{}", second.json);
    for auth in [Auth::Bearer(&alice_key), session.auth()] {
        let r = panel.call(Method::GET, "/zones", auth, None).await?;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["degraded"], true);
        assert_eq!(
            r.json["total"], 1,
            "alice reads her domain only: {}",
            r.json
        );
        assert_eq!(r.json["items"][0]["hostname"], "www.alice.test");
    }
    let one = panel
        .call(
            Method::GET,
            &format!("/zones/{a_zone}"),
            Auth::Bearer(&alice_key),
            None,
        )
        .await?;
    assert_eq!(
        (one.status, &one.json["degraded"]),
        (200, &json!(true)),
        "{}",
        one.json
    );
    let hidden = panel
        .call(
            Method::GET,
            &format!("/zones/{o_zone}"),
            Auth::Bearer(&alice_key),
            None,
        )
        .await?;
    assert_eq!(hidden.status, 404, "{}", hidden.json);
    let domains = panel
        .call(Method::GET, "/domains", Auth::Bearer(&alice_key), None)
        .await?;
    assert_eq!(domains.status, 200, "{}", domains.json);
    assert_eq!(domains.json["degraded"], true);
    assert_eq!(domains.json["total"], 1);
    assert_eq!(domains.json["items"][0]["name"], "alice.test");
    let d = panel
        .call(
            Method::GET,
            &format!("/domains/{other}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!((d.status, &d.json["name"]), (200, &json!("other.test")));
    let d = panel
        .call(
            Method::GET,
            &format!("/domains/{other}"),
            Auth::Bearer(&alice_key),
            None,
        )
        .await?;
    assert_eq!(d.status, 404);

    // The revoked key stays dead.
    let r = panel
        .call(Method::GET, "/zones", Auth::Bearer(&revoked), None)
        .await?;
    assert_ne!(
        r.status, 200,
        "a revoked key works in degraded mode: {}",
        r.json
    );

    // Writes: 503 saying why, nothing changed.
    let keys_before = panel.redis.all_keys().await?;
    let write = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&admin),
            Some(zone("new.other.test", "", "http://127.0.0.1:9002")),
        )
        .await?;
    assert_eq!(write.status, 503, "{}", write.json);
    assert_eq!(write.json["error"]["code"], "unavailable");
    let message = write.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("read-only") && message.contains("database"),
        "{message}"
    );
    let delete = panel
        .call(
            Method::DELETE,
            &format!("/zones/{a_zone}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(delete.status, 503);
    assert_eq!(panel.redis.all_keys().await?.len(), keys_before.len());
    assert!(panel.zone_record("www.alice.test").await?.is_some());

    // Alice logged in minutes ago: she can log in again, against Redis. A wrong
    // password is still wrong; bob, who never logged in, cannot be checked.
    let again = panel.login("alice", "alice password 1").await?;
    let r = panel
        .call(Method::GET, "/zones", again.auth(), None)
        .await?;
    assert_eq!((r.status, &r.json["total"]), (200, &json!(1)), "{}", r.json);
    let wrong = panel
        .call(
            Method::POST,
            "/auth/login",
            Auth::None,
            Some(json!({"username": "alice", "password": "not her password"})),
        )
        .await?;
    assert_eq!(wrong.status, 401);
    let bob = panel
        .call(
            Method::POST,
            "/auth/login",
            Auth::None,
            Some(json!({"username": "bob", "password": "bob password 123"})),
        )
        .await?;
    assert_eq!(bob.status, 503, "{}", bob.json);
    // Alice ends her database session during the outage: it stops working at once,
    // and the revocation waits in Redis for PostgreSQL.
    let out = panel
        .call(Method::POST, "/auth/logout", session.auth(), None)
        .await?;
    assert_eq!(out.status, 204, "{}", out.json);
    let me = panel.call(Method::GET, "/me", session.auth(), None).await?;
    assert_ne!(
        me.status, 200,
        "a logged-out session still works: {}",
        me.json
    );
    let health = panel.call(Method::GET, "/health", Auth::None, None).await?;
    assert_eq!(health.json["postgres"], "down");
    assert_eq!(health.json["redis"], "up");

    // Recovery is automatic: full reads again, writes work.
    relay.restore().await?;
    assert_eq!(relay.addr(), relay_addr);
    eventually(Duration::from_secs(20), "recovery", || async {
        let (status, json) = get(&http, &base, "/zones", &admin).await?;
        match (status, json.get("degraded")) {
            (200, None) => Ok(()),
            _ => Err(format!("still degraded: {status} {json}")),
        }
    })
    .await?;
    let write = panel
        .call(
            Method::POST,
            "/zones",
            Auth::Bearer(&admin),
            Some(zone("new.other.test", "", "http://127.0.0.1:9002")),
        )
        .await?;
    assert_eq!(write.status, 201, "{}", write.json);
    assert_eq!(
        zones::Entity::find().count(&panel.db).await?,
        zones_before + 1
    );
    // The logout made during the outage is recorded: the session stays dead, revoked
    // in the database and audited, and nothing is left queued.
    let me = panel.call(Method::GET, "/me", session.auth(), None).await?;
    assert_eq!(me.status, 401, "{}", me.json);
    assert_eq!(panel.audit_count("session.revoke").await?, 1);
    let queued: u64 = fred::prelude::HashesInterface::hlen(
        panel.redis.client(),
        panel.redis.keys().panel_revocations(),
    )
    .await?;
    assert_eq!(queued, 0);
    // The degraded login's session lives on in Redis until it expires.
    let me = panel.call(Method::GET, "/me", again.auth(), None).await?;
    assert_eq!((me.status, &me.json["username"]), (200, &json!("alice")));
    let out = panel
        .call(Method::POST, "/auth/logout", again.auth(), None)
        .await?;
    assert_eq!(out.status, 204, "{}", out.json);
    let me = panel.call(Method::GET, "/me", again.auth(), None).await?;
    assert_eq!(me.status, 401);
    assert_no_secrets(
        &panel,
        &[ADMIN_PASSWORD, "alice password 1", "bob password 123"],
    );
    panel.stop().await
}
