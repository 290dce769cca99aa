//! `POST /api/v1/import/flat`: the DOMAINS/SERVICES form, its error messages, dry run,
//! and the zones it creates reaching Redis.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_flat_form_is_validated_as_a_whole_and_imported_all_or_nothing() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    for domain in ["app1.com", "status.com"] {
        let reply = panel
            .call(
                Method::POST,
                "/domains",
                Auth::Bearer(&key),
                Some(json!({"name": domain})),
            )
            .await?;
        assert_eq!(reply.status, 201, "{}", reply.json);
    }
    let before = panel.redis.all_keys().await?;

    // Every problem at once, each with its entry number; nothing changes.
    let reply = panel
        .call(
            Method::POST,
            "/import/flat",
            Auth::Bearer(&key),
            Some(json!({"env": {
                "domains": "app1.com:app1,,status.com:api,www.app1.com:web",
                "services": "app1:app1:99999,web:web:8080"
            }})),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    let details = &reply.json["error"]["details"];
    assert_eq!(
        details,
        &json!([
            {"field": "services[0].port", "problem": "99999 is not a port; a port is 1-65535"},
            {"field": "domains[2].service", "problem": "unknown service \"api\"; available: app1, web"},
        ]),
        "{}",
        reply.json
    );
    assert_eq!(panel.redis.all_keys().await?, before);

    // A domain the panel does not know is named by its entry too.
    let reply = panel
        .call(
            Method::POST,
            "/import/flat",
            Auth::Bearer(&key),
            Some(json!({"env": {"domains": "app1.com:app1,,other.org", "services": "app1:app1:8080"}})),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    assert_eq!(
        reply.json["error"]["details"][0]["field"], "domains[2].domain",
        "{}",
        reply.json
    );

    // Dry run: the diff, nothing written.
    let good = json!({"env": {
        "domains": "app1.com:app1, status.com ,,www.app1.com:app1",
        "services": "app1:app1:8080"
    }});
    let reply = panel
        .call(
            Method::POST,
            "/import/flat?dry_run=true",
            Auth::Bearer(&key),
            Some(good.clone()),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["dry_run"], true);
    let created: Vec<&str> = reply.json["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(created, ["app1.com", "status.com", "www.app1.com"]);
    assert_eq!(panel.redis.all_keys().await?, before);

    // Applied: the zones reach Redis; status.com has no backend (the proxy answers 503).
    let reply = panel
        .call(Method::POST, "/import/flat", Auth::Bearer(&key), Some(good))
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["created"].as_array().map(Vec::len), Some(3));
    let store = panel.redis.store();
    let names = ["app1.com".to_owned(), "status.com".to_owned()];
    let mut zones = store.zones(&names).await?.into_iter();
    let app1 = zones
        .next()
        .and_then(|(_, r)| r)
        .expect("app1.com in Redis")?;
    assert_eq!(app1.routes[0].upstreams[0].url.as_str(), "http://app1:8080");
    let status = zones
        .next()
        .and_then(|(_, r)| r)
        .expect("status.com in Redis")?;
    assert!(status.routes[0].upstreams.is_empty());

    // The document form is the same thing.
    let reply = panel
        .call(
            Method::POST,
            "/import/flat?dry_run=true",
            Auth::Bearer(&key),
            Some(json!({"domains": [{"domain": "app1.com", "service": "nope"}], "services": []})),
        )
        .await?;
    assert_eq!(reply.status, 422);
    assert_eq!(
        reply.json["error"]["details"][0]["problem"],
        "unknown service \"nope\"; no services are defined"
    );

    // The command, as an operator runs it with the two variables.
    let root = panel.base.trim_end_matches("/api/v1").to_owned();
    // tokio's Command: the panel runs on this test's runtime and must keep answering.
    let run = async |domains: &str, dry_run: bool| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard-import-flat"));
        cmd.env("DOMAINS", domains)
            .env("SERVICES", "app1:app1:8080")
            .env("SWITCHYARD_API_KEY", &key)
            .env("SWITCHYARD_PANEL_URL", &root);
        if dry_run {
            cmd.arg("--dry-run");
        }
        let out = cmd.output().await.expect("the command runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = run("api.app1.com:api", false).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("domains[0].service: unknown service \"api\"; available: app1"),
        "{err}"
    );
    assert!(!err.contains(&key));
    let (code, out, err) = run("api.app1.com:app1", true).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "would create 1 zone(s): api.app1.com");
    let (code, out, _) = run("api.app1.com:app1", false).await;
    assert_eq!(code, Some(0));
    assert_eq!(out.trim(), "created 1 zone(s): api.app1.com");
    panel.stop().await
}
