//! ARI (ACME Renewal Information, RFC 9773): when the CA's directory offers
//! `renewalInfo`, the window it suggests decides when a certificate is renewed; without
//! it the one-third-of-lifetime rule does. Debian's Pebble 2.4 has no ARI, so a front for
//! its directory adds a `renewalInfo` endpoint whose window the test sets
//! (`switchyard_tests::acme_front`); orders still go to Pebble.

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};
use switchyard_cert_worker::{Outcome, schedule};
use switchyard_tests::acme::AcmeEnv;
use switchyard_tests::acme_front::{DirectoryFront, RENEWAL_INFO_RETRY_AFTER_SECS};
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::redis::TestRedis;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The ARI columns of a certificate and its validity.
#[derive(Debug)]
struct AriRow {
    window: Option<(OffsetDateTime, OffsetDateTime)>,
    renew_at: Option<OffsetDateTime>,
    next_poll_at: Option<OffsetDateTime>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

async fn ari_row(conn: &DatabaseConnection, id: Uuid) -> anyhow::Result<AriRow> {
    let r = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT ari_window_start, ari_window_end, ari_renew_at, ari_next_poll_at, \
             not_before, not_after FROM certificates WHERE id = $1",
            vec![id.into()],
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no certificate {id}"))?;
    let start: Option<OffsetDateTime> = r.try_get("", "ari_window_start")?;
    let end: Option<OffsetDateTime> = r.try_get("", "ari_window_end")?;
    Ok(AriRow {
        window: start.zip(end),
        renew_at: r.try_get("", "ari_renew_at")?,
        next_poll_at: r.try_get("", "ari_next_poll_at")?,
        not_before: r.try_get("", "not_before")?,
        not_after: r.try_get("", "not_after")?,
    })
}

/// `base64url(AKI keyIdentifier).base64url(serial)` of the chain's leaf, read here
/// independently of the worker.
fn ari_id(chain_pem: &str) -> String {
    let (_, pem) = x509_parser::pem::parse_x509_pem(chain_pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    let aki = cert
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .expect("Pebble's certificates carry an authority key identifier");
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(aki),
        URL_SAFE_NO_PAD.encode(cert.tbs_certificate.raw_serial())
    )
}

/// Pebble, the front, a database and Redis, a domain's pending certificate, and a worker
/// ordering through the front's directory: issued once.
struct Issued {
    env: AcmeEnv,
    front: DirectoryFront,
    database: TestDatabase,
    conn: DatabaseConnection,
    redis: TestRedis,
    _provider: support::providers::FakeProvider,
    worker: std::sync::Arc<switchyard_cert_worker::Worker>,
    id: Uuid,
}

async fn issued(domain: &str, offer_renewal_info: bool) -> anyhow::Result<Issued> {
    let env = AcmeEnv::start().await?;
    let front = DirectoryFront::start(&env.pebble).await;
    front.offer_renewal_info(offer_renewal_info);
    let database = TestDatabase::create().await?;
    let conn = support::migrated(&database).await?;
    let redis = TestRedis::new().await?;
    let (provider, id) = support::pending_cloudflare_order(&env, &conn, domain).await?;
    let worker = support::worker_through(&front.directory_url(), &env, &database, &redis).await;
    assert_eq!(
        worker.run_once(support::no_shutdown()).await?,
        vec![(id, Outcome::Issued)]
    );
    Ok(Issued {
        env,
        front,
        database,
        conn,
        redis,
        _provider: provider,
        worker,
        id,
    })
}

impl Issued {
    async fn finish(self) -> anyhow::Result<()> {
        drop(self.env);
        self.conn.close().await?;
        self.redis.cleanup().await?;
        self.database.drop_now().await
    }
}

#[tokio::test]
async fn the_cas_window_decides_when_a_certificate_is_renewed() -> anyhow::Result<()> {
    let t = issued("ari.example", true).await?;
    let (conn, id) = (&t.conn, t.id);
    let first = support::cert_row(conn, id).await?;
    let first_chain = first.chain_pem.clone().unwrap_or_default();
    let row = ari_row(conn, id).await?;
    let now = OffsetDateTime::now_utc();
    // Pebble's certificates live for years: the one-third point is far away.
    let third = schedule::renewal_at(Some(row.not_before), Some(row.not_after), now);
    assert!(third > now + Duration::days(30), "one-third point {third}");

    // A window ahead: the renewal time lies in it; nothing is ordered.
    let (start, end) = (now + Duration::days(10), now + Duration::days(11));
    t.front.set_window(start, end);
    assert_eq!(t.worker.run_once(support::no_shutdown()).await?, vec![]);
    assert_eq!(t.front.renewal_info_asked(), vec![ari_id(&first_chain)]);
    let row = ari_row(conn, id).await?;
    let micro = Duration::microseconds(1);
    let (stored_start, stored_end) = row.window.expect("the window is stored");
    assert!((stored_start - start).abs() < micro && (stored_end - end).abs() < micro);
    let renew_at = row.renew_at.expect("a renewal time is chosen");
    assert!(
        renew_at >= stored_start && renew_at <= stored_end,
        "{renew_at} is outside {start}..{end}"
    );
    let polled = row.next_poll_at.expect("the next poll is stored");
    let retry = Duration::seconds(RENEWAL_INFO_RETRY_AFTER_SECS as i64);
    assert!(
        polled > now + retry - Duration::minutes(1) && polled <= OffsetDateTime::now_utc() + retry,
        "next poll {polled} is not the CA's Retry-After from now"
    );
    let shown = support::cert_row(conn, id).await?;
    assert_eq!(shown.status, "active");
    assert_eq!(
        shown.next_attempt_at, renew_at,
        "the panel shows the ARI time"
    );
    // The renewal sweep follows the chosen time, not the one-third rule.
    assert_eq!(t.worker.sweep().await?, 0);
    // Not asked again before the CA's Retry-After.
    assert_eq!(t.worker.run_once(support::no_shutdown()).await?, vec![]);
    assert_eq!(t.front.renewal_info_asked().len(), 1);

    // The window moves into the past (what a CA does before revoking): once the CA's
    // Retry-After has passed, the next pass asks again and renews at once.
    t.front
        .set_window(now - Duration::hours(2), now - Duration::hours(1));
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE certificates SET ari_next_poll_at = now() WHERE id = $1",
        vec![id.into()],
    ))
    .await?;
    let outcomes = t.worker.run_once(support::no_shutdown()).await?;
    let renewed = support::cert_row(conn, id).await?;
    assert_eq!(
        outcomes,
        vec![(id, Outcome::Issued)],
        "last_error: {:?}\npebble log:\n{}",
        renewed.last_error,
        t.env.pebble.log_text()
    );
    assert_eq!(t.front.renewal_info_asked().len(), 2);
    assert_eq!(renewed.status, "active");
    let second_chain = renewed.chain_pem.unwrap_or_default();
    assert_ne!(ari_id(&second_chain), ari_id(&first_chain), "not renewed");
    // A new certificate: its window is asked for on the next pass.
    let row = ari_row(conn, id).await?;
    assert!(row.window.is_none() && row.renew_at.is_none() && row.next_poll_at.is_none());
    t.finish().await
}

#[tokio::test]
async fn without_renewal_info_the_one_third_rule_holds() -> anyhow::Result<()> {
    let t = issued("no-ari.example", false).await?;
    let (conn, id) = (&t.conn, t.id);
    assert_eq!(t.worker.check_renewal_info().await?, 0);
    assert_eq!(t.worker.run_once(support::no_shutdown()).await?, vec![]);
    assert_eq!(t.worker.sweep().await?, 0);
    assert!(t.front.renewal_info_asked().is_empty());
    let row = ari_row(conn, id).await?;
    assert!(row.window.is_none() && row.renew_at.is_none() && row.next_poll_at.is_none());
    let shown = support::cert_row(conn, id).await?;
    assert_eq!(shown.status, "active");
    let third = schedule::renewal_at(
        Some(row.not_before),
        Some(row.not_after),
        OffsetDateTime::now_utc(),
    );
    assert!(
        (shown.next_attempt_at - third).abs() < Duration::milliseconds(1),
        "renews at {} rather than at the one-third point {third}",
        shown.next_attempt_at
    );
    t.finish().await
}
