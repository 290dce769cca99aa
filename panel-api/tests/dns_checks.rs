//! The DNS check against a real DNS server (pebble-challtestsrv, which answers every A
//! query with 127.0.0.1 unless told otherwise): a name pointing at the fleet passes, one
//! pointing elsewhere fails naming the stray address, the last answer is kept and
//! shown, a wildcard zone is checked at a label under it, every name is checked by the
//! periodic run, and bad input is a 422.

mod common;

use common::*;
use panel_api::config::DnsCheckArgs;
use panel_api::service::dns_checks::{self, Checker};
use reqwest::Method;
use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use serde_json::json;
use switchyard_tests::acme::ChallTestSrv;

#[tokio::test]
async fn names_are_checked_against_the_fleets_public_addresses() -> anyhow::Result<()> {
    let dns = ChallTestSrv::start().await?;
    let resolver = dns.dns_addr().to_string();
    let mut panel = Panel::start_with(
        None,
        &[
            "--public-addresses",
            "127.0.0.1,2001:db8::7",
            "--dns-check-resolver",
            &resolver,
        ],
    )
    .await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "fleet.example").await?;
    let good = panel.zone(&admin, "app.fleet.example").await?;
    let stray = panel.zone(&admin, "stray.fleet.example").await?;
    let wildcard = panel.zone(&admin, "*.wild.fleet.example").await?;
    dns.add_a("stray.fleet.example", &["192.0.2.7"]).await?;
    dns.add_a("switchyard-dns-check.wild.fleet.example", &["192.0.2.8"])
        .await?;

    let apex = get(
        &mut panel,
        &admin,
        &format!("/domains/{domain}/dns-check?refresh=true"),
    )
    .await?;
    assert_eq!(apex.status, 200, "{}", apex.json);
    assert_eq!(apex.json["name"], "fleet.example");
    assert_eq!(apex.json["verdict"], "pass", "{}", apex.json);
    assert_eq!(apex.json["resolver"], resolver);
    assert_eq!(
        apex.json["records"],
        json!([{"type": "A", "value": "127.0.0.1"}])
    );
    assert_eq!(apex.json["expected"], json!(["127.0.0.1", "2001:db8::7"]));
    assert_eq!(apex.json["problem"], serde_json::Value::Null);

    let app = get(&mut panel, &admin, &format!("/zones/{good}/dns-check")).await?;
    assert_eq!(app.json["verdict"], "pass", "{}", app.json);

    let bad = get(
        &mut panel,
        &admin,
        &format!("/zones/{stray}/dns-check?refresh=true"),
    )
    .await?;
    assert_eq!(bad.json["verdict"], "fail", "{}", bad.json);
    assert_eq!(
        bad.json["records"],
        json!([{"type": "A", "value": "192.0.2.7"}])
    );
    let problem = bad.json["problem"].as_str().unwrap();
    assert!(
        problem.contains("192.0.2.7 is not the fleet's"),
        "{problem}"
    );

    let wild = get(&mut panel, &admin, &format!("/zones/{wildcard}/dns-check")).await?;
    assert_eq!(wild.json["name"], "switchyard-dns-check.wild.fleet.example");
    assert_eq!(wild.json["verdict"], "fail", "{}", wild.json);

    // Kept: without refresh the same check answers, even after DNS changed.
    dns.add_a("stray.fleet.example", &["192.0.2.9"]).await?;
    let kept = get(&mut panel, &admin, &format!("/zones/{stray}/dns-check")).await?;
    assert_eq!(kept.json["checked_at"], bad.json["checked_at"]);
    assert_eq!(kept.json["records"], bad.json["records"]);
    // Asked again: what DNS answers now.
    let again = get(
        &mut panel,
        &admin,
        &format!("/zones/{stray}/dns-check?refresh=true"),
    )
    .await?;
    assert_eq!(
        again.json["records"],
        json!([{"type": "A", "value": "192.0.2.7"}, {"type": "A", "value": "192.0.2.9"}])
    );
    let problem = again.json["problem"].as_str().unwrap();
    assert!(
        problem.contains("192.0.2.7, 192.0.2.9 are not"),
        "{problem}"
    );

    // Bad input names the parameter; an unknown zone is a 404.
    let reply = get(
        &mut panel,
        &admin,
        &format!("/zones/{stray}/dns-check?refresh=maybe"),
    )
    .await?;
    assert_eq!(reply.status, 422, "{}", reply.json);
    assert!(reply.json.to_string().contains("refresh"), "{}", reply.json);
    let reply = get(
        &mut panel,
        &admin,
        &format!("/zones/{}/dns-check", uuid::Uuid::new_v4()),
    )
    .await?;
    assert_eq!(reply.status, 404, "{}", reply.json);

    // The periodic run checks every domain and zone hostname.
    let checker = Checker::new(&DnsCheckArgs {
        public_addresses: vec!["127.0.0.1".parse()?],
        dns_check_resolver: Some(dns.dns_addr()),
        dns_check_interval_secs: 3_600,
    })?;
    assert_eq!(dns_checks::check_all(&panel.db, &checker).await?, 4);
    assert_eq!(
        panel_api::entity::dns_checks::Entity::find()
            .count(&panel.db)
            .await?,
        4
    );
    panel.stop().await
}

#[tokio::test]
async fn without_public_addresses_the_records_are_shown_unjudged() -> anyhow::Result<()> {
    let dns = ChallTestSrv::start().await?;
    let resolver = dns.dns_addr().to_string();
    let mut panel = Panel::start_with(None, &["--dns-check-resolver", &resolver]).await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "plain.example").await?;
    let reply = panel
        .call(
            Method::GET,
            &format!("/domains/{domain}/dns-check"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["verdict"], "unconfigured");
    assert_eq!(
        reply.json["records"],
        json!([{"type": "A", "value": "127.0.0.1"}])
    );
    assert!(
        reply.json["problem"]
            .as_str()
            .unwrap()
            .contains("--public-addresses")
    );
    panel.stop().await
}

async fn get(panel: &mut Panel, key: &str, path: &str) -> anyhow::Result<Reply> {
    panel.call(Method::GET, path, Auth::Bearer(key), None).await
}
