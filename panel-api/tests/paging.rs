//! Paging the zone list the way a client with 100,000 zones does: by cursor (`next` /
//! `after`), with a total that stops counting at 10,000 — against a real PostgreSQL
//! database holding more zones than that.

mod common;

use std::collections::HashSet;

use common::*;
use reqwest::Method;
use sea_orm::ConnectionTrait as _;
use serde_json::Value;

/// More zones than the count cap, written straight into the table (the API's bulk
/// path is tested elsewhere; here only the list matters).
const ZONES: usize = 10_040;

fn hostname(g: usize) -> String {
    format!("h{g}.example.com")
}

fn hostnames(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {page}"))
        .iter()
        .map(|z| z["hostname"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn zones_page_by_cursor_and_the_total_stops_at_ten_thousand() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, key) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain_id = panel.domain(&key, "example.com").await?;
    panel
        .db
        .execute_unprepared(&format!(
            "INSERT INTO zones (id, domain_id, hostname, path_prefix, backend_kind, upstreams)
             SELECT gen_random_uuid(), '{domain_id}', 'h' || g || '.example.com', '', 'upstreams',
                    '[{{\"url\": \"http://127.0.0.1:9001\", \"weight\": 1}}]'::jsonb
             FROM generate_series(1, {ZONES}) g"
        ))
        .await?;

    // Unfiltered: more than the cap, so the total is a lower bound and says so.
    let first = panel
        .call(Method::GET, "/zones?limit=50", Auth::Bearer(&key), None)
        .await?;
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(first.json["total"], 10_000, "{}", first.json["total"]);
    assert_eq!(first.json["total_exact"], false);
    assert_eq!(hostnames(&first.json).len(), 50);
    let mut all: Vec<String> = (1..=ZONES).map(hostname).collect();
    all.sort();
    assert_eq!(hostnames(&first.json), all[..50]);

    // A search below the cap: exact, and walking `next` visits every match once, in
    // order, ending on a page without `next`.
    let expected: Vec<String> = all.iter().filter(|h| h.contains("h10")).cloned().collect();
    assert!(expected.len() > 100, "{}", expected.len());
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &after {
            None => "/zones?q=h10&limit=37".to_owned(),
            Some(cursor) => format!("/zones?q=h10&limit=37&after={cursor}"),
        };
        let page = panel
            .call(Method::GET, &path, Auth::Bearer(&key), None)
            .await?;
        assert_eq!(page.status, 200, "{path}: {}", page.json);
        assert_eq!(page.json["total"], expected.len() as u64);
        assert_eq!(page.json["total_exact"], true);
        seen.extend(hostnames(&page.json));
        pages += 1;
        match page.json.get("next").and_then(Value::as_str) {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
        assert!(
            pages <= expected.len() / 37 + 1,
            "the cursor does not advance"
        );
    }
    assert_eq!(pages, expected.len().div_ceil(37));
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());

    // The cursor is a position, not a row: deleting the zone it was taken from does not
    // disturb the next page.
    let page = panel
        .call(Method::GET, "/zones?limit=3", Auth::Bearer(&key), None)
        .await?;
    let next = page.json["next"].as_str().unwrap().to_owned();
    let last_id = page.json["items"][2]["id"].as_str().unwrap().to_owned();
    let deleted = panel
        .call(
            Method::DELETE,
            &format!("/zones/{last_id}"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(deleted.status, 204, "{}", deleted.json);
    let page = panel
        .call(
            Method::GET,
            &format!("/zones?limit=3&after={next}"),
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(page.status, 200, "{}", page.json);
    assert_eq!(hostnames(&page.json), all[3..6]);

    // `offset` still works and agrees with the cursor.
    let page = panel
        .call(
            Method::GET,
            "/zones?limit=3&offset=3",
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert_eq!(hostnames(&page.json), all[4..7], "one zone was deleted");

    // A cursor the API did not make is refused, naming the field and the value.
    for bad in ["not-a-cursor!", "bm8gbGluZSBicmVhaw", "_w"] {
        let reply = panel
            .call(
                Method::GET,
                &format!("/zones?after={bad}"),
                Auth::Bearer(&key),
                None,
            )
            .await?;
        assert_eq!(reply.status, 422, "{bad}: {}", reply.json);
        assert_eq!(reply.json["error"]["details"][0]["field"], "after");
        let problem = reply.json["error"]["details"][0]["problem"]
            .as_str()
            .unwrap();
        assert!(problem.contains("next"), "{problem}");
    }
    let shown = panel
        .call(
            Method::GET,
            "/zones?after=not-a-cursor!",
            Auth::Bearer(&key),
            None,
        )
        .await?;
    assert!(
        shown.json["error"]["details"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("not-a-cursor!"),
        "{}",
        shown.json
    );

    // Other lists say their count is exact.
    let domains = panel
        .call(Method::GET, "/domains", Auth::Bearer(&key), None)
        .await?;
    assert_eq!(
        (&domains.json["total"], &domains.json["total_exact"]),
        (&Value::from(1), &Value::from(true))
    );
    panel.stop().await
}
