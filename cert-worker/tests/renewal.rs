//! The renewal window as a table, checked against both [`schedule::renewal_due`] and
//! the SQL renewal sweep over a real Postgres; and the sweep with a renewal time chosen
//! in a CA's ARI window.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use switchyard_cert_worker::{db, schedule};
use switchyard_tests::postgres::TestDatabase;
use time::OffsetDateTime;
use time::macros::datetime;

mod support;

struct Case {
    name: &'static str,
    not_before: Option<OffsetDateTime>,
    not_after: Option<OffsetDateTime>,
    due: bool,
}

/// Relative to `now`, in days.
fn table(now: OffsetDateTime) -> Vec<Case> {
    let d = |days: i64| Some(now + time::Duration::days(days));
    let h = |hours: i64| Some(now + time::Duration::hours(hours));
    let case = |name, not_before, not_after, due| Case {
        name,
        not_before,
        not_after,
        due,
    };
    vec![
        case("90-day, fresh", d(-1), d(89), false),
        case("90-day, 31 days left", d(-59), d(31), false),
        case(
            "90-day, 30 days minus an hour left",
            h(-60 * 24 - 1),
            h(30 * 24 - 1),
            true,
        ),
        case("90-day, 29 days left", d(-61), d(29), true),
        case("expired", d(-100), d(-10), true),
        case("expired just now", d(-90), h(-1), true),
        case("6-day, 3 days left", d(-3), d(3), false),
        case("6-day, 1 day left", d(-5), d(1), true),
        case("1-day, 12 hours left", h(-12), h(12), false),
        case("unknown not_after", d(-1), None, true),
        case("unknown not_before", None, d(80), true),
        case("both unknown", None, None, true),
        case("not_after before not_before", d(10), d(5), true),
    ]
}

#[test]
fn renewal_window_rules_in_rust() {
    let now = datetime!(2026-11-22 12:00 UTC);
    for c in table(now) {
        assert_eq!(
            schedule::renewal_due(c.not_before, c.not_after, now),
            c.due,
            "{}",
            c.name
        );
    }
}

#[tokio::test]
async fn renewal_sweep_follows_the_same_table() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let now = OffsetDateTime::now_utc();
    let cases = table(now);
    let mut ids = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let id =
            support::insert_certificate(&conn, &format!("case{i}.example"), None, "active").await?;
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE certificates SET not_before = $2, not_after = $3, next_attempt_at = now() + interval '1 day' WHERE id = $1",
            vec![id.into(), c.not_before.into(), c.not_after.into()],
        ))
        .await?;
        ids.push(id);
    }
    // A failed first issuance is not the sweep's business: it has its own schedule.
    let failed = support::insert_certificate(&conn, "failed.example", None, "failed").await?;

    let swept = db::renewal_sweep(&conn).await?;
    for (c, id) in cases.iter().zip(&ids) {
        assert_eq!(swept.contains(id), c.due, "{}", c.name);
        let status = support::status(&conn, *id).await?;
        assert_eq!(
            status,
            if c.due { "renewing" } else { "active" },
            "{}",
            c.name
        );
    }
    assert!(!swept.contains(&failed));
    // Sweeping again finds nothing new: renewing certificates are already queued.
    assert!(db::renewal_sweep(&conn).await?.is_empty());

    // A renewal time chosen in the CA's ARI window replaces the one-third rule, either
    // way; an expired certificate is due whatever the window said.
    let d = |days: i64| now + time::Duration::days(days);
    let ari_cases = [
        ("fresh, ARI time passed", d(-1), d(89), d(-1), true),
        ("29 days left, ARI time ahead", d(-61), d(29), d(5), false),
        ("expired, ARI time ahead", d(-100), d(-1), d(5), true),
    ];
    let mut ari_ids = Vec::new();
    for (i, (name, not_before, not_after, renew_at, _)) in ari_cases.iter().enumerate() {
        let id =
            support::insert_certificate(&conn, &format!("ari{i}.example"), None, "active").await?;
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE certificates SET not_before = $2, not_after = $3, \
             ari_window_start = $4, ari_window_end = $4 + interval '1 day', ari_renew_at = $4 \
             WHERE id = $1",
            vec![
                id.into(),
                (*not_before).into(),
                (*not_after).into(),
                (*renew_at).into(),
            ],
        ))
        .await
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        ari_ids.push(id);
    }
    let swept = db::renewal_sweep(&conn).await?;
    for ((name, .., due), id) in ari_cases.iter().zip(&ari_ids) {
        assert_eq!(swept.contains(id), *due, "{name}");
    }
    conn.close().await?;
    database.drop_now().await
}
