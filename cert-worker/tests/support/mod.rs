//! Test harness for the cert worker: a migrated database, certificate rows, a worker
//! configured against Pebble, fake DNS provider APIs, and the real proxy binary (the
//! harness's one launcher: [`Proxy::start`]`(redis_url, prefix)`, [`Proxy::wait_serves`]).
#![allow(dead_code)] // each test file uses a different part of the harness

/// The fake DNS provider APIs live with the rest of the harness in `switchyard-tests`.
pub use switchyard_tests::dns_providers as providers;

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser as _;
use migrations::{Migrator, MigratorTrait as _};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use switchyard_cert_worker::{Args, Config, Worker, dns::CREDENTIALS_CONTEXT, metrics::Metrics};
use switchyard_shared::secrets::SecretBox;
use switchyard_tests::acme::AcmeEnv;
pub use switchyard_tests::cert_worker::SECRET_KEY;
use switchyard_tests::postgres::TestDatabase;
#[allow(unused_imports)] // not every test file starts a proxy
pub use switchyard_tests::proxy::Proxy;
use uuid::Uuid;

pub fn secrets() -> SecretBox {
    SecretBox::from_base64(SECRET_KEY).unwrap()
}

fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// Connects and applies every migration.
pub async fn migrated(database: &TestDatabase) -> anyhow::Result<DatabaseConnection> {
    let conn = database.connect().await?;
    Migrator::up(&conn, None).await?;
    Ok(conn)
}

/// Stores a DNS credential the way the panel does (secret sealed as JSON).
pub async fn insert_credential(
    conn: &DatabaseConnection,
    provider: &str,
    secret: Option<serde_json::Value>,
    api_base_url: Option<String>,
) -> anyhow::Result<Uuid> {
    let sealed = secret.map(|s| {
        secrets()
            .seal(CREDENTIALS_CONTEXT, s.to_string().as_bytes())
            .unwrap()
    });
    let row = conn
        .query_one_raw(stmt(
            "INSERT INTO dns_credentials (name, provider, secret_ciphertext, api_base_url) VALUES ($1, $2, $3, $4) RETURNING id",
            vec![
                format!("{provider}-{}", Uuid::new_v4().simple()).into(),
                provider.into(),
                sealed.into(),
                api_base_url.into(),
            ],
        ))
        .await?
        .unwrap();
    Ok(row.try_get("", "id")?)
}

/// A domain and its pending certificate row, as the panel creates them.
pub async fn insert_certificate(
    conn: &DatabaseConnection,
    domain: &str,
    credential: Option<Uuid>,
    status: &str,
) -> anyhow::Result<Uuid> {
    let row = conn
        .query_one_raw(stmt(
            "INSERT INTO domains (name, dns_credential_id) VALUES ($1, $2) RETURNING id",
            vec![domain.into(), credential.into()],
        ))
        .await?
        .unwrap();
    let domain_id: Uuid = row.try_get("", "id")?;
    let names = serde_json::json!([format!("*.{domain}"), domain]);
    let row = conn
        .query_one_raw(stmt(
            "INSERT INTO certificates (domain_id, names, status) VALUES ($1, $2, $3) RETURNING id",
            vec![domain_id.into(), names.into(), status.into()],
        ))
        .await?
        .unwrap();
    Ok(row.try_get("", "id")?)
}

/// A zone of `domain_id` for `hostname` (one route, no backend), as the panel stores it.
pub async fn insert_zone(
    conn: &DatabaseConnection,
    domain_id: Uuid,
    hostname: &str,
    path_prefix: &str,
) -> anyhow::Result<Uuid> {
    let row = conn
        .query_one_raw(stmt(
            "INSERT INTO zones (domain_id, hostname, path_prefix, backend_kind) VALUES ($1, $2, $3, 'none') RETURNING id",
            vec![domain_id.into(), hostname.into(), path_prefix.into()],
        ))
        .await?
        .unwrap();
    Ok(row.try_get("", "id")?)
}

/// The domain a certificate row belongs to.
pub async fn domain_of(conn: &DatabaseConnection, certificate: Uuid) -> anyhow::Result<Uuid> {
    let row = conn
        .query_one_raw(stmt(
            "SELECT domain_id FROM certificates WHERE id = $1",
            vec![certificate.into()],
        ))
        .await?
        .unwrap();
    Ok(row.try_get("", "domain_id")?)
}

/// The per-host certificates by hostname, sorted: (hostname, id, status).
pub async fn host_certificates(
    conn: &DatabaseConnection,
) -> anyhow::Result<Vec<(String, Uuid, String)>> {
    conn.query_all_raw(stmt(
        "SELECT hostname, id, status FROM certificates WHERE hostname IS NOT NULL ORDER BY hostname",
        vec![],
    ))
    .await?
    .iter()
    .map(|r| Ok((r.try_get("", "hostname")?, r.try_get("", "id")?, r.try_get("", "status")?)))
    .collect()
}

/// A fake Cloudflare answering for `domain` (writing its TXT records into `env`'s
/// challtestsrv), a credential for it and the domain's pending certificate row: the
/// start of most issuance tests. Returns the provider (keep it alive) and the
/// certificate id.
pub async fn pending_cloudflare_order(
    env: &AcmeEnv,
    conn: &DatabaseConnection,
    domain: &str,
) -> anyhow::Result<(providers::FakeProvider, Uuid)> {
    pending_order(env, conn, domain, providers::Mode::Normal, "pending").await
}

/// [`pending_cloudflare_order`] with the fake answering in `mode` and the certificate
/// row in `status` (`renewing` for a due renewal).
pub async fn pending_order(
    env: &AcmeEnv,
    conn: &DatabaseConnection,
    domain: &str,
    mode: providers::Mode,
    status: &str,
) -> anyhow::Result<(providers::FakeProvider, Uuid)> {
    let fake = providers::FakeProvider::start(
        providers::Kind::Cloudflare,
        domain,
        mode,
        vec![env.dns.management_url()],
    )
    .await;
    let credential = insert_credential(
        conn,
        fake.provider(),
        Some(fake.secret()),
        Some(fake.base_url()),
    )
    .await?;
    let id = insert_certificate(conn, domain, Some(credential), status).await?;
    Ok((fake, id))
}

pub async fn status(conn: &DatabaseConnection, id: Uuid) -> anyhow::Result<String> {
    Ok(cert_row(conn, id).await?.status)
}

/// What the panel would show about a certificate.
#[derive(Debug)]
pub struct CertRow {
    pub status: String,
    pub last_error: Option<String>,
    pub attempts: i32,
    pub next_attempt_at: time::OffsetDateTime,
    pub chain_pem: Option<String>,
    pub key_ciphertext: Option<Vec<u8>>,
    pub manual_txt_name: Option<String>,
    pub manual_txt_value: Option<String>,
}

pub async fn cert_row(conn: &DatabaseConnection, id: Uuid) -> anyhow::Result<CertRow> {
    let r = conn
        .query_one_raw(stmt(
            "SELECT status, last_error, attempts, next_attempt_at, chain_pem, key_ciphertext, manual_txt_name, manual_txt_value FROM certificates WHERE id = $1",
            vec![id.into()],
        ))
        .await?
        .unwrap();
    Ok(CertRow {
        status: r.try_get("", "status")?,
        last_error: r.try_get("", "last_error")?,
        attempts: r.try_get("", "attempts")?,
        next_attempt_at: r.try_get("", "next_attempt_at")?,
        chain_pem: r.try_get("", "chain_pem")?,
        key_ciphertext: r.try_get("", "key_ciphertext")?,
        manual_txt_name: r.try_get("", "manual_txt_name")?,
        manual_txt_value: r.try_get("", "manual_txt_value")?,
    })
}

/// How many orders the worker placed for a certificate, by its own order log.
pub async fn orders_of(conn: &DatabaseConnection, id: Uuid) -> anyhow::Result<i64> {
    let r = conn
        .query_one_raw(stmt(
            "SELECT count(*) AS n FROM acme_orders WHERE certificate_id = $1",
            vec![id.into()],
        ))
        .await?
        .unwrap();
    Ok(r.try_get("", "n")?)
}

/// One row of the order log.
#[derive(Debug)]
pub struct OrderRow {
    pub outcome: String,
    pub error: Option<String>,
    pub dns_records: Option<serde_json::Value>,
}

/// A certificate's orders, oldest first.
pub async fn order_rows(conn: &DatabaseConnection, id: Uuid) -> anyhow::Result<Vec<OrderRow>> {
    conn.query_all_raw(stmt(
        "SELECT outcome, error, dns_records FROM acme_orders WHERE certificate_id = $1 ORDER BY created_at",
        vec![id.into()],
    ))
    .await?
    .iter()
    .map(|r| {
        Ok(OrderRow {
            outcome: r.try_get("", "outcome")?,
            error: r.try_get("", "error")?,
            dns_records: r.try_get("", "dns_records")?,
        })
    })
    .collect()
}

/// A worker configuration pointing at Pebble, checking DNS at `resolver`.
pub fn config(
    env: &AcmeEnv,
    database_url: &str,
    redis_url: &str,
    prefix: &str,
    resolver: SocketAddr,
    extra: &[&str],
) -> Config {
    let mut argv: Vec<String> = [
        "cert-worker",
        "--database-url",
        database_url,
        "--redis-url",
        redis_url,
        "--key-prefix",
        prefix,
        "--secret-key",
        SECRET_KEY,
        "--acme-directory",
        &env.pebble.directory_url(),
        "--acme-ca-file",
        env.pebble.listener_ca_file().to_str().unwrap(),
        "--acme-contact",
        "ops@example.com",
        "--dns-resolvers",
        &resolver.to_string(),
        "--propagation-poll-ms",
        "100",
        "--propagation-timeout-secs",
        "15",
        "--acme-timeout-secs",
        "30",
        "--admin-listen",
        "127.0.0.1:0",
        "--poll-secs",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A flag in `extra` replaces the default above.
    for flag in extra.iter().filter(|a| a.starts_with("--")) {
        if let Some(i) = argv.iter().position(|a| a == flag) {
            argv.drain(i..i + 2);
        }
    }
    argv.extend(extra.iter().map(|s| s.to_string()));
    Args::try_parse_from(argv).unwrap().validate().unwrap()
}

pub async fn worker(config: Config) -> Arc<Worker> {
    Worker::connect(config, Metrics::new()).await.unwrap()
}

/// A worker ordering through `directory` (a front for Pebble's, see
/// `switchyard_tests::acme_front`) instead of Pebble's own directory.
pub async fn worker_through(
    directory: &str,
    env: &AcmeEnv,
    database: &TestDatabase,
    redis: &switchyard_tests::redis::TestRedis,
) -> Arc<Worker> {
    worker(config(
        env,
        database.url(),
        redis.url(),
        redis.prefix(),
        env.dns.dns_addr(),
        &["--acme-directory", directory],
    ))
    .await
}

/// A shutdown channel that never fires.
pub fn no_shutdown() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(tx);
    rx
}
