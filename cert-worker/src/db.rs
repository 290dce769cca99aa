//! Everything cert-worker reads and writes in PostgreSQL: the ACME account, the
//! certificate queue, outcomes, and the order log (`acme_orders`) — through the
//! entities the panel uses too ([`switchyard_db::entity`], one schema written once);
//! plain SQL remains for what an ORM query cannot say as well: advisory locks, the
//! renewal sweep's date arithmetic with `RETURNING`, the claim-and-join reads, and the
//! per-host certificate set operations.
//!
//! Several instances may run at once. A certificate is worked on by the instance holding
//! its transaction-scoped advisory lock ([`Claim`]); the lock lives in a transaction of
//! its own while the row itself is updated through ordinary autocommit statements, so
//! progress (such as the TXT record a manual order waits for) is visible to the panel
//! immediately, and a crashed instance's lock goes with its connection.

use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, Statement, TransactionTrait, Value,
};
use switchyard_db::entity::{acme_accounts, acme_orders, certificates, dns_checks};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::dns::{CredentialRow, LoggedTxtRecord};
use crate::schedule::CertStatus;

fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// A `names` column (a JSON array of strings) as a list; anything else reads as none.
fn names_of(names: &serde_json::Value) -> Vec<String> {
    names
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Opens the pool on the first host of `url` that fits its `target_session_attrs`: one
/// connection per concurrent order for its lock, plus room for the row updates, the
/// sweep and the account. [`switchyard_db::Database::check`] (the worker's database
/// monitor) moves it to a new primary after a failover.
pub async fn connect(url: &str, concurrency: usize) -> anyhow::Result<switchyard_db::Database> {
    let url = switchyard_db::DatabaseUrl::parse(url)
        .map_err(|e| anyhow::anyhow!("--database-url: {e}"))?;
    let settings = switchyard_db::PoolSettings {
        max_connections: concurrency as u32 * 2 + 4,
        acquire_timeout: std::time::Duration::from_secs(30),
        host_timeout: std::time::Duration::from_secs(10),
    };
    switchyard_db::Database::connect(&url, settings)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to {}: {e}", url.redacted()))
}

/// The stored ACME account for a directory.
pub struct StoredAccount {
    pub id: Uuid,
    pub credentials_ciphertext: Vec<u8>,
}

/// Serialises account creation across instances: whoever holds this transaction decides
/// whether the account exists.
pub async fn lock_account_creation(
    db: &DatabaseConnection,
    directory_url: &str,
) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    txn.execute_raw(stmt(
        "SELECT pg_advisory_xact_lock(hashtextextended('acme_account:' || $1, 0))",
        vec![directory_url.into()],
    ))
    .await?;
    Ok(txn)
}

pub async fn load_account<C: ConnectionTrait>(
    db: &C,
    directory_url: &str,
) -> Result<Option<StoredAccount>, DbErr> {
    Ok(acme_accounts::Entity::find()
        .filter(acme_accounts::Column::DirectoryUrl.eq(directory_url))
        .one(db)
        .await?
        .map(|a| StoredAccount {
            id: a.id,
            credentials_ciphertext: a.credentials_ciphertext,
        }))
}

pub async fn insert_account<C: ConnectionTrait>(
    db: &C,
    directory_url: &str,
    contact: Option<&str>,
    ciphertext: Vec<u8>,
) -> Result<Uuid, DbErr> {
    let account = acme_accounts::ActiveModel {
        id: Set(Uuid::new_v4()),
        directory_url: Set(directory_url.to_owned()),
        contact: Set(contact.map(str::to_owned)),
        credentials_ciphertext: Set(ciphertext),
        created_at: NotSet,
    }
    .insert(db)
    .await?;
    Ok(account.id)
}

/// Stores a new registration's credentials in place of ones the CA forgot.
pub async fn replace_account_credentials<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    ciphertext: Vec<u8>,
) -> Result<(), DbErr> {
    acme_accounts::Entity::update_many()
        .col_expr(
            acme_accounts::Column::CredentialsCiphertext,
            Expr::value(ciphertext),
        )
        .filter(acme_accounts::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Whether a DNS-automated domain covers the hostname `{h}` with its wildcard
/// certificate: the domain itself, or one label below it (`*.d`). DNS-automated: it has
/// a DNS credential and chose wildcard certificates (`certificates = 'wildcard'`; a
/// `per_host` domain's names all get their own, whatever its credential). `{issued}`
/// narrows the domains to those whose wildcard is issued. Two `IN` lists rather than a
/// join with `OR`, so PostgreSQL hashes the (few) domains once instead of scanning them
/// per hostname.
const COVERED_BY_DNS_DOMAIN: &str = "(
    {h} IN (SELECT cd.name FROM domains cd WHERE {automated} {issued})
    OR substring({h} from position('.' in {h}) + 1)
       IN (SELECT cd.name FROM domains cd WHERE {automated} {issued}))";

/// A domain (`cd`) whose wildcard is DNS-automated: see [`COVERED_BY_DNS_DOMAIN`].
const DNS_AUTOMATED: &str = "cd.dns_credential_id IS NOT NULL AND cd.certificates = 'wildcard'";

/// Whether the certificate `{c}` (a table name or alias) is wanted: any per-host one, and a domain's wildcard unless
/// the domain chose `per_host` certificates — such a wildcard is neither ordered nor
/// renewed (an issued one keeps serving until it expires, so switching to `per_host`
/// leaves nothing dark while the hosts' own are ordered), and is wanted again when the
/// domain switches back.
const WANTED: &str = "({c}.hostname IS NOT NULL
    OR NOT EXISTS (SELECT 1 FROM domains wd
                   WHERE wd.id = {c}.domain_id AND wd.certificates = 'per_host'))";

fn wanted(certificate: &str) -> String {
    WANTED.replace("{c}", certificate)
}

fn covered_by_dns_domain(hostname: &str, issued_only: bool) -> String {
    let issued = if issued_only {
        "AND EXISTS (SELECT 1 FROM certificates cw
                     WHERE cw.domain_id = cd.id AND cw.hostname IS NULL
                       AND cw.chain_pem IS NOT NULL AND cw.not_after > now())"
    } else {
        ""
    };
    COVERED_BY_DNS_DOMAIN
        .replace("{automated}", DNS_AUTOMATED)
        .replace("{h}", hostname)
        .replace("{issued}", issued)
}

/// The decision of which exact hostnames get a certificate of their own (HTTP-01):
/// every hostname of a zone that has no wildcard label and that no DNS-automated domain
/// covers (so every one under a domain that chose `per_host` certificates). Adds a `pending` row for each one that has none; returns the new rows.
/// One statement, safe for instances running it at once (`ON CONFLICT`): a scan of the
/// zones' distinct hostnames, 0.25 s at 100,000 zones when nothing is new.
pub async fn add_host_certificates(db: &DatabaseConnection) -> Result<Vec<Uuid>, DbErr> {
    db.query_all_raw(stmt(
        &format!(
            "INSERT INTO certificates (hostname, names, status)
             SELECT z.hostname, jsonb_build_array(z.hostname), 'pending'
             FROM (SELECT DISTINCT hostname FROM zones WHERE position('*' in hostname) = 0) z
             WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.hostname = z.hostname)
               AND NOT {}
             ON CONFLICT (hostname) WHERE hostname IS NOT NULL DO NOTHING
             RETURNING id",
            covered_by_dns_domain("z.hostname", false)
        ),
        vec![],
    ))
    .await?
    .iter()
    .map(|r| r.try_get("", "id"))
    .collect()
}

/// A per-host certificate no longer needed, locked for retirement.
#[derive(Debug)]
pub struct Retired {
    pub id: Uuid,
    pub hostname: String,
    /// It was issued, so its key in Redis must go too.
    pub issued: bool,
}

/// The per-host certificates to retire, in `txn`: no zone has their hostname any more
/// (zones or their domain were deleted), or a DNS-automated domain's *issued* wildcard
/// covers it now (a credential was added, or the domain switched from `per_host` to
/// `wildcard`; until the wildcard exists, the host keeps its own). Each row comes with its claim taken for the life of `txn` ([`Claim`]'s lock),
/// so a certificate an instance is ordering right now is left for a later sweep.
pub async fn retirable_host_certificates(txn: &DatabaseTransaction) -> Result<Vec<Retired>, DbErr> {
    txn.query_all_raw(stmt(
        &format!(
            "WITH candidates AS MATERIALIZED (
                SELECT c.id, c.hostname, c.chain_pem IS NOT NULL AS issued FROM certificates c
                WHERE c.hostname IS NOT NULL
                  AND (NOT EXISTS (SELECT 1 FROM zones z WHERE z.hostname = c.hostname)
                       OR {})
             )
             SELECT id, hostname, issued FROM candidates
             WHERE pg_try_advisory_xact_lock(hashtextextended('certificate:' || id::text, 0))",
            covered_by_dns_domain("c.hostname", true)
        ),
        vec![],
    ))
    .await?
    .iter()
    .map(|r| {
        Ok(Retired {
            id: r.try_get("", "id")?,
            hostname: r.try_get("", "hostname")?,
            issued: r.try_get("", "issued")?,
        })
    })
    .collect()
}

/// Deletes retired per-host certificates (their order log goes with them).
pub async fn delete_certificates(txn: &DatabaseTransaction, ids: &[Uuid]) -> Result<(), DbErr> {
    certificates::Entity::delete_many()
        .filter(certificates::Column::Id.is_in(ids.iter().copied()))
        .exec(txn)
        .await?;
    Ok(())
}

/// Certificates whose next attempt is due, oldest first; only [`WANTED`] ones.
pub async fn due(db: &DatabaseConnection, limit: usize) -> Result<Vec<Uuid>, DbErr> {
    certificates::Entity::find()
        .select_only()
        .column(certificates::Column::Id)
        .filter(certificates::Column::Status.ne("active"))
        .filter(Expr::cust(wanted("certificates")))
        .filter(Expr::col(certificates::Column::NextAttemptAt).lte(Expr::current_timestamp()))
        .order_by_asc(certificates::Column::NextAttemptAt)
        .limit(limit as u64)
        .into_tuple::<Uuid>()
        .all(db)
        .await
}

/// The right to work on one certificate, held until dropped or finished.
pub struct Claim {
    txn: DatabaseTransaction,
}

impl Claim {
    /// Takes the certificate's lock if no other instance holds it.
    pub async fn try_take(db: &DatabaseConnection, id: Uuid) -> Result<Option<Claim>, DbErr> {
        let txn = db.begin().await?;
        let row = txn
            .query_one_raw(stmt(
                "SELECT pg_try_advisory_xact_lock(hashtextextended('certificate:' || $1::text, 0)) AS locked",
                vec![id.into()],
            ))
            .await?;
        let locked: bool = match row {
            Some(r) => r.try_get("", "locked")?,
            None => false,
        };
        if locked {
            Ok(Some(Claim { txn }))
        } else {
            txn.rollback().await?;
            Ok(None)
        }
    }

    /// Releases the lock.
    pub async fn release(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

/// One certificate with what it takes to order it.
#[derive(Debug, Clone)]
pub struct Work {
    pub id: Uuid,
    /// The domain of a wildcard certificate; for a per-host one, its hostname (what logs
    /// and messages name it by).
    pub domain: String,
    /// A per-host certificate's exact hostname (ordered by HTTP-01); `None` for a
    /// domain's wildcard certificate (DNS-01).
    pub hostname: Option<String>,
    pub names: Vec<String>,
    pub status: CertStatus,
    pub attempts: i32,
    pub next_attempt_at: OffsetDateTime,
    pub order_url: Option<String>,
    pub manual_txt_name: Option<String>,
    pub manual_txt_value: Option<String>,
    /// `None`: the domain has no DNS credential.
    pub credential: Option<CredentialRow>,
    /// The certificate served now, when it was renewed by the CA's ARI window: the
    /// renewal order names it as the one it replaces (RFC 9773 §5).
    pub replaces_chain: Option<String>,
}

/// Reads a certificate again after taking its lock: another instance may have just
/// finished it, in which case it is no longer due.
pub async fn load_work(db: &DatabaseConnection, id: Uuid) -> Result<Option<Work>, DbErr> {
    let row = db
        .query_one_raw(stmt(
            "SELECT c.id, COALESCE(d.name, c.hostname) AS domain, c.hostname, c.names, c.status,
                    c.attempts, c.next_attempt_at, c.order_url, c.manual_txt_name, c.manual_txt_value,
                    CASE WHEN c.ari_window_start IS NOT NULL THEN c.chain_pem END AS replaces_chain,
                    cr.name AS cred_name, cr.provider, cr.secret_ciphertext, cr.api_base_url
             FROM certificates c
             LEFT JOIN domains d ON d.id = c.domain_id
             LEFT JOIN dns_credentials cr ON cr.id = d.dns_credential_id
             WHERE c.id = $1",
            vec![id.into()],
        ))
        .await?;
    let Some(r) = row else { return Ok(None) };
    let status: String = r.try_get("", "status")?;
    let names: serde_json::Value = r.try_get("", "names")?;
    let provider: Option<String> = r.try_get("", "provider")?;
    Ok(Some(Work {
        id: r.try_get("", "id")?,
        domain: r.try_get("", "domain")?,
        hostname: r.try_get("", "hostname")?,
        names: names_of(&names),
        status: CertStatus::parse(&status).ok_or_else(|| {
            DbErr::Custom(format!("certificate {id} has unknown status {status:?}"))
        })?,
        attempts: r.try_get("", "attempts")?,
        next_attempt_at: r.try_get("", "next_attempt_at")?,
        order_url: r.try_get("", "order_url")?,
        manual_txt_name: r.try_get("", "manual_txt_name")?,
        manual_txt_value: r.try_get("", "manual_txt_value")?,
        credential: match provider {
            Some(provider) => Some(CredentialRow {
                name: r.try_get("", "cred_name")?,
                provider,
                secret_ciphertext: r.try_get("", "secret_ciphertext")?,
                api_base_url: r.try_get("", "api_base_url")?,
            }),
            None => None,
        },
        replaces_chain: r.try_get("", "replaces_chain")?,
    }))
}

/// A certificate was issued: it becomes `active`; errors, attempts and the manual TXT
/// record are cleared; `next_attempt_at` shows when it will be renewed.
#[allow(clippy::too_many_arguments)]
pub async fn record_issued(
    db: &DatabaseConnection,
    id: Uuid,
    chain_pem: &str,
    key_ciphertext: Vec<u8>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    renew_at: OffsetDateTime,
) -> Result<(), DbErr> {
    use certificates::Column as C;
    certificates::Entity::update_many()
        .col_expr(C::Status, Expr::value("active"))
        .col_expr(C::ChainPem, Expr::value(chain_pem))
        .col_expr(C::KeyCiphertext, Expr::value(key_ciphertext))
        .col_expr(C::NotBefore, Expr::value(not_before))
        .col_expr(C::NotAfter, Expr::value(not_after))
        .col_expr(C::NextAttemptAt, Expr::value(renew_at))
        .col_expr(C::LastError, Expr::value(Option::<String>::None))
        .col_expr(C::Attempts, Expr::value(0))
        .col_expr(C::ManualTxtName, Expr::value(Option::<String>::None))
        .col_expr(C::ManualTxtValue, Expr::value(Option::<String>::None))
        .col_expr(C::OrderUrl, Expr::value(Option::<String>::None))
        // A new certificate: the CA is asked about its window on the next pass.
        .col_expr(
            C::AriWindowStart,
            Expr::value(Option::<OffsetDateTime>::None),
        )
        .col_expr(C::AriWindowEnd, Expr::value(Option::<OffsetDateTime>::None))
        .col_expr(C::AriRenewAt, Expr::value(Option::<OffsetDateTime>::None))
        .col_expr(
            C::AriNextPollAt,
            Expr::value(Option::<OffsetDateTime>::None),
        )
        .col_expr(C::UpdatedAt, Expr::current_timestamp())
        .filter(C::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// An attempt failed: the state, the error, the count and the next attempt time.
pub async fn record_failure(
    db: &DatabaseConnection,
    id: Uuid,
    status: CertStatus,
    error: &str,
    attempts: i32,
    next_attempt_at: OffsetDateTime,
) -> Result<(), DbErr> {
    use certificates::Column as C;
    certificates::Entity::update_many()
        .col_expr(C::Status, Expr::value(status.as_str()))
        .col_expr(C::LastError, Expr::value(error))
        .col_expr(C::Attempts, Expr::value(attempts))
        .col_expr(C::NextAttemptAt, Expr::value(next_attempt_at))
        .col_expr(C::ManualTxtName, Expr::value(Option::<String>::None))
        .col_expr(C::ManualTxtValue, Expr::value(Option::<String>::None))
        .col_expr(C::OrderUrl, Expr::value(Option::<String>::None))
        .col_expr(C::UpdatedAt, Expr::current_timestamp())
        .filter(C::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// A manual order waits for its TXT record: what to publish, the order to resume, and
/// when to look again.
pub async fn record_manual_wait(
    db: &DatabaseConnection,
    id: Uuid,
    txt_name: &str,
    txt_values: &str,
    order_url: &str,
    next_attempt_at: OffsetDateTime,
) -> Result<(), DbErr> {
    use certificates::Column as C;
    certificates::Entity::update_many()
        .col_expr(C::ManualTxtName, Expr::value(txt_name))
        .col_expr(C::ManualTxtValue, Expr::value(txt_values))
        .col_expr(C::OrderUrl, Expr::value(order_url))
        .col_expr(C::NextAttemptAt, Expr::value(next_attempt_at))
        .col_expr(C::UpdatedAt, Expr::current_timestamp())
        .filter(C::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The renewal sweep: active certificates whose renewal time has come become
/// `renewing`, due now. The renewal time is the one chosen in the CA's ARI window
/// (`ari_renew_at`) when the CA offers ARI, otherwise the one-third rule
/// ([`crate::schedule::renewal_due`]: less than a third of the lifetime left); unknown
/// dates and expired certificates are always due. One statement, so 10,000
/// certificates take milliseconds and two instances sweeping at once cannot
/// double-transition a row. Only [`WANTED`] certificates: a `per_host` domain's wildcard
/// stays as it is until it expires.
pub async fn renewal_sweep(db: &DatabaseConnection) -> Result<Vec<Uuid>, DbErr> {
    db.query_all_raw(stmt(
        &format!(
            "UPDATE certificates SET status = 'renewing', attempts = 0, next_attempt_at = now(),
                last_error = NULL, updated_at = now()
             WHERE status = 'active' AND {}
               AND (not_before IS NULL OR not_after IS NULL OR not_after <= not_before
                    OR not_after <= now()
                    OR CASE WHEN ari_renew_at IS NOT NULL THEN ari_renew_at <= now()
                            ELSE not_after - (not_after - not_before) / 3 <= now() END)
             RETURNING id",
            wanted("certificates")
        ),
        vec![],
    ))
    .await?
    .iter()
    .map(|r| r.try_get("", "id"))
    .collect()
}

/// What the panel does on "re-issue": the schedule starts over, now. An active
/// certificate keeps serving while it is renewed.
pub async fn request_reissue(db: &DatabaseConnection, certificate_id: Uuid) -> Result<u64, DbErr> {
    Ok(db
        .execute_raw(stmt(
            "UPDATE certificates SET attempts = 0, next_attempt_at = now(), last_error = NULL,
                status = CASE WHEN status IN ('active', 'renewing', 'failed_renewal') THEN 'renewing' ELSE 'pending' END,
                updated_at = now()
             WHERE id = $1",
            vec![certificate_id.into()],
        ))
        .await?
        .rows_affected())
}

/// The per-account rate limit guard refused a new order.
#[derive(Debug, thiserror::Error)]
#[error(
    "rate limit guard: this ACME account already placed {count} orders in the last hour (limit {limit}, --max-orders-per-hour); the order was not placed"
)]
pub struct RateLimited {
    pub count: i64,
    pub limit: u32,
}

/// Records a new order in the log, unless the account reached its hourly limit. Counting
/// and inserting happen under the account's advisory lock, so instances cannot both
/// squeeze under the limit. `by_api`: the worker creates the TXT records itself (the
/// order's `dns_records` starts as `[]`); otherwise an operator does (`NULL`).
pub async fn start_order(
    db: &DatabaseConnection,
    certificate_id: Uuid,
    account_id: Uuid,
    limit: u32,
    by_api: bool,
) -> Result<Result<Uuid, RateLimited>, DbErr> {
    let txn = db.begin().await?;
    txn.execute_raw(stmt(
        "SELECT pg_advisory_xact_lock(hashtextextended('acme_orders:' || $1::text, 0))",
        vec![account_id.into()],
    ))
    .await?;
    let count: i64 = txn
        .query_one_raw(stmt(
            "SELECT count(*) AS n FROM acme_orders WHERE account_id = $1 AND created_at > now() - interval '1 hour'",
            vec![account_id.into()],
        ))
        .await?
        .map(|r| r.try_get("", "n"))
        .transpose()?
        .unwrap_or(0);
    if count >= i64::from(limit) {
        txn.rollback().await?;
        return Ok(Err(RateLimited { count, limit }));
    }
    let id: Uuid = txn
        .query_one_raw(stmt(
            "INSERT INTO acme_orders (certificate_id, account_id, dns_records)
             VALUES ($1, $2, CASE WHEN $3 THEN '[]'::jsonb END) RETURNING id",
            vec![certificate_id.into(), account_id.into(), by_api.into()],
        ))
        .await?
        .ok_or(DbErr::RecordNotInserted)?
        .try_get("", "id")?;
    txn.commit().await?;
    Ok(Ok(id))
}

/// Notes the CA's order URL once it exists.
pub async fn set_order_url(
    db: &DatabaseConnection,
    order_id: Uuid,
    url: &str,
) -> Result<(), DbErr> {
    acme_orders::Entity::update_many()
        .col_expr(acme_orders::Column::OrderUrl, Expr::value(url))
        .filter(acme_orders::Column::Id.eq(order_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Writes down the TXT records an order has created (or is about to create) at the DNS
/// provider, replacing the previous list.
pub async fn set_order_records(
    db: &DatabaseConnection,
    order_id: Uuid,
    records: &[LoggedTxtRecord],
) -> Result<(), DbErr> {
    let json = serde_json::to_value(records)
        .map_err(|e| DbErr::Custom(format!("TXT records as JSON: {e}")))?;
    acme_orders::Entity::update_many()
        .col_expr(acme_orders::Column::DnsRecords, Expr::value(json))
        .filter(acme_orders::Column::Id.eq(order_id))
        .exec(db)
        .await?;
    Ok(())
}

/// An order left `started` with the TXT records it logged.
#[derive(Debug)]
pub struct OpenApiOrder {
    pub id: Uuid,
    pub records: Vec<LoggedTxtRecord>,
}

/// A certificate's orders still `started` whose TXT records the worker creates itself
/// (manual orders, which legitimately stay open, have `dns_records IS NULL`). Called
/// under the certificate's [`Claim`], any found were left by a worker that died.
pub async fn open_api_orders(
    db: &DatabaseConnection,
    certificate_id: Uuid,
) -> Result<Vec<OpenApiOrder>, DbErr> {
    acme_orders::Entity::find()
        .filter(acme_orders::Column::CertificateId.eq(certificate_id))
        .filter(acme_orders::Column::Outcome.eq("started"))
        .filter(acme_orders::Column::DnsRecords.is_not_null())
        .order_by_asc(acme_orders::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|order| {
            let id = order.id;
            let records =
                serde_json::from_value(order.dns_records.unwrap_or_default()).map_err(|e| {
                    DbErr::Custom(format!("acme_orders {id}: dns_records unreadable: {e}"))
                })?;
            Ok(OpenApiOrder { id, records })
        })
        .collect()
}

/// Certificates with an order of [`open_api_orders`]: what a starting worker checks.
pub async fn certificates_with_open_api_orders(
    db: &DatabaseConnection,
) -> Result<Vec<Uuid>, DbErr> {
    acme_orders::Entity::find()
        .select_only()
        .column(acme_orders::Column::CertificateId)
        .distinct()
        .filter(acme_orders::Column::Outcome.eq("started"))
        .filter(acme_orders::Column::DnsRecords.is_not_null())
        .into_tuple::<Uuid>()
        .all(db)
        .await
}

/// Closes an order in the log.
pub async fn finish_order(
    db: &DatabaseConnection,
    order_id: Uuid,
    error: Option<&str>,
) -> Result<(), DbErr> {
    use acme_orders::Column as C;
    acme_orders::Entity::update_many()
        .col_expr(
            C::Outcome,
            Expr::value(if error.is_some() { "failed" } else { "issued" }),
        )
        .col_expr(C::Error, Expr::value(error.map(str::to_owned)))
        .col_expr(C::FinishedAt, Expr::current_timestamp())
        .filter(C::Id.eq(order_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The latest manual order of a certificate that is still open (waiting for its record).
pub async fn open_order(
    db: &DatabaseConnection,
    certificate_id: Uuid,
) -> Result<Option<Uuid>, DbErr> {
    acme_orders::Entity::find()
        .select_only()
        .column(acme_orders::Column::Id)
        .filter(acme_orders::Column::CertificateId.eq(certificate_id))
        .filter(acme_orders::Column::Outcome.eq("started"))
        .filter(acme_orders::Column::DnsRecords.is_null())
        .order_by_desc(acme_orders::Column::CreatedAt)
        .into_tuple::<Uuid>()
        .one(db)
        .await
}

/// Active and renewing certificates' expiry, for the days-to-expiry metric.
pub async fn expiries(db: &DatabaseConnection) -> Result<Vec<OffsetDateTime>, DbErr> {
    certificates::Entity::find()
        .select_only()
        .column(certificates::Column::NotAfter)
        .filter(certificates::Column::NotAfter.is_not_null())
        .filter(certificates::Column::Status.is_in(["active", "renewing", "failed_renewal"]))
        .into_tuple::<OffsetDateTime>()
        .all(db)
        .await
}

/// A stored certificate, for (re)publication to Redis.
pub struct StoredCertificate {
    pub id: Uuid,
    /// The domain (wildcard) or the hostname (per-host), as in [`Work::domain`].
    pub domain: String,
    /// A per-host certificate's hostname.
    pub hostname: Option<String>,
    pub names: Vec<String>,
    pub chain_pem: String,
    pub key_ciphertext: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Every certificate with a chain and key (or just those in `ids`).
pub async fn stored_certificates(
    db: &DatabaseConnection,
    ids: Option<&[Uuid]>,
) -> Result<Vec<StoredCertificate>, DbErr> {
    let filter = if ids.is_some() {
        "AND c.id = ANY($1)"
    } else {
        ""
    };
    let values: Vec<Value> = match ids {
        Some(ids) => vec![ids.to_vec().into()],
        None => vec![],
    };
    db.query_all_raw(stmt(
        &format!(
            "SELECT c.id, COALESCE(d.name, c.hostname) AS domain, c.hostname, c.names, c.chain_pem,
                    c.key_ciphertext, c.not_before, c.not_after
             FROM certificates c LEFT JOIN domains d ON d.id = c.domain_id
             WHERE c.chain_pem IS NOT NULL AND c.key_ciphertext IS NOT NULL
               AND c.not_before IS NOT NULL AND c.not_after IS NOT NULL {filter}"
        ),
        values,
    ))
    .await?
    .iter()
    .map(|r| {
        let names: serde_json::Value = r.try_get("", "names")?;
        Ok(StoredCertificate {
            id: r.try_get("", "id")?,
            domain: r.try_get("", "domain")?,
            hostname: r.try_get("", "hostname")?,
            names: names_of(&names),
            chain_pem: r.try_get("", "chain_pem")?,
            key_ciphertext: r.try_get("", "key_ciphertext")?,
            not_before: r.try_get("", "not_before")?,
            not_after: r.try_get("", "not_after")?,
        })
    })
    .collect()
}

/// The panel's last DNS check of `name` that failed (`dns_checks`, kept by the panel):
/// what it saw and when. `None` while the name passes, is unchecked, or the panel has
/// no public addresses to compare with.
pub async fn failing_dns_check(
    db: &DatabaseConnection,
    name: &str,
) -> Result<Option<dns_checks::Model>, DbErr> {
    dns_checks::Entity::find_by_id(name.to_owned())
        .filter(dns_checks::Column::Verdict.eq("fail"))
        .one(db)
        .await
}

/// An active certificate whose ARI window is due to be asked for.
#[derive(Debug, Clone)]
pub struct AriCandidate {
    pub id: Uuid,
    pub chain_pem: String,
    pub not_after: Option<OffsetDateTime>,
    /// The window last read, and the renewal time chosen in it.
    pub window: Option<(OffsetDateTime, OffsetDateTime)>,
    pub renew_at: Option<OffsetDateTime>,
}

/// Up to `limit` active certificates whose ARI poll time has come (never asked first).
pub async fn ari_candidates(
    db: &DatabaseConnection,
    limit: usize,
) -> Result<Vec<AriCandidate>, DbErr> {
    use certificates::Column as C;
    let rows = certificates::Entity::find()
        .filter(C::Status.eq("active"))
        .filter(C::ChainPem.is_not_null())
        .filter(
            C::AriNextPollAt
                .is_null()
                .or(Expr::col(C::AriNextPollAt).lte(Expr::current_timestamp())),
        )
        // Never asked first (a certificate just issued).
        .order_by_with_nulls(
            C::AriNextPollAt,
            sea_orm::Order::Asc,
            sea_orm::sea_query::NullOrdering::First,
        )
        .limit(limit as u64)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(AriCandidate {
                id: r.id,
                chain_pem: r.chain_pem?,
                not_after: r.not_after,
                window: r.ari_window_start.zip(r.ari_window_end),
                renew_at: r.ari_renew_at,
            })
        })
        .collect())
}

/// The CA's window for an active certificate and the renewal time chosen in it; due
/// (`renew_at` has come) it becomes `renewing` at once, as the renewal sweep would make
/// it. Only while still `active`: a certificate being renewed keeps its state.
pub async fn record_renewal_info(
    db: &DatabaseConnection,
    id: Uuid,
    window: (OffsetDateTime, OffsetDateTime),
    renew_at: OffsetDateTime,
    next_poll_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    use certificates::Column as C;
    let due = renew_at <= now;
    let mut update = certificates::Entity::update_many()
        .col_expr(C::AriWindowStart, Expr::value(window.0))
        .col_expr(C::AriWindowEnd, Expr::value(window.1))
        .col_expr(C::AriRenewAt, Expr::value(renew_at))
        .col_expr(C::AriNextPollAt, Expr::value(next_poll_at))
        .col_expr(C::NextAttemptAt, Expr::value(renew_at))
        .col_expr(C::UpdatedAt, Expr::current_timestamp());
    if due {
        update = update
            .col_expr(C::Status, Expr::value("renewing"))
            .col_expr(C::Attempts, Expr::value(0))
            .col_expr(C::LastError, Expr::value(Option::<String>::None));
    }
    let done = update
        .filter(C::Id.eq(id))
        .filter(C::Status.eq("active"))
        .exec(db)
        .await?;
    Ok(due && done.rows_affected > 0)
}

/// The CA's window could not be read: ask again at `next_poll_at`; the last window read
/// (or the one-third rule) holds meanwhile.
pub async fn postpone_renewal_info(
    db: &DatabaseConnection,
    id: Uuid,
    next_poll_at: OffsetDateTime,
) -> Result<(), DbErr> {
    use certificates::Column as C;
    certificates::Entity::update_many()
        .col_expr(C::AriNextPollAt, Expr::value(next_poll_at))
        .filter(C::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// One certificate as the expiry metrics and notices see it: issued (a `certificates`
/// row, issued yet or not) or uploaded (an `uploaded_certificates` row).
#[derive(Debug, Clone)]
pub struct CertificateState {
    pub id: Uuid,
    pub source: switchyard_shared::certs::CertSource,
    /// The name it is stored under (in Redis too): `*.<domain>` or the hostname.
    pub name: String,
    pub names: Vec<String>,
    /// `None` while an issued certificate has never been issued.
    pub not_after: Option<OffsetDateTime>,
    /// An issued certificate's last failed attempt; `None` while none failed (always
    /// for uploaded ones).
    pub last_error: Option<String>,
}

/// Every certificate, issued and uploaded, with its expiry and renewal error: one
/// statement, about 0.2 s at 100,000 certificates.
pub async fn certificate_states(db: &DatabaseConnection) -> Result<Vec<CertificateState>, DbErr> {
    use switchyard_shared::certs::CertSource;
    db.query_all_raw(stmt(
        "SELECT 'issued' AS source, c.id, COALESCE(c.hostname, '*.' || d.name) AS name, c.names,
                c.not_after, c.last_error
         FROM certificates c LEFT JOIN domains d ON d.id = c.domain_id
         UNION ALL
         SELECT 'uploaded', u.id, u.name, u.names, u.not_after, NULL
         FROM uploaded_certificates u",
        vec![],
    ))
    .await?
    .iter()
    .map(|r| {
        let source: String = r.try_get("", "source")?;
        let names: serde_json::Value = r.try_get("", "names")?;
        Ok(CertificateState {
            id: r.try_get("", "id")?,
            source: if source == "uploaded" {
                CertSource::Uploaded
            } else {
                CertSource::Issued
            },
            name: r.try_get("", "name")?,
            names: names_of(&names),
            not_after: r.try_get("", "not_after")?,
            last_error: r.try_get("", "last_error")?,
        })
    })
    .collect()
}

/// Records that the `threshold_days` notice of this certificate version is sent;
/// `false` when it already was (by this instance before a restart, or another one).
/// Inserting is the claim: of racing instances exactly one gets `true`.
pub async fn claim_expiry_notice(
    db: &DatabaseConnection,
    state: &CertificateState,
    not_after: OffsetDateTime,
    threshold_days: i32,
) -> Result<bool, DbErr> {
    Ok(db
        .execute_raw(stmt(
            "INSERT INTO certificate_notices (source, certificate_id, not_after, threshold_days)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            vec![
                state.source.as_str().into(),
                state.id.into(),
                not_after.into(),
                threshold_days.into(),
            ],
        ))
        .await?
        .rows_affected()
        == 1)
}

/// Forgets the notices of certificate versions that expired more than `keep_days` ago
/// (replaced or deleted long since); how many went.
pub async fn prune_expiry_notices(db: &DatabaseConnection, keep_days: i32) -> Result<u64, DbErr> {
    Ok(db
        .execute_raw(stmt(
            "DELETE FROM certificate_notices WHERE not_after < now() - make_interval(days => $1)",
            vec![keep_days.into()],
        ))
        .await?
        .rows_affected())
}

/// A certificate's current expiry (`None`: never issued, or gone).
pub async fn not_after(db: &DatabaseConnection, id: Uuid) -> Result<Option<OffsetDateTime>, DbErr> {
    Ok(certificates::Entity::find_by_id(id)
        .select_only()
        .column(certificates::Column::NotAfter)
        .into_tuple::<Option<OffsetDateTime>>()
        .one(db)
        .await?
        .flatten())
}
