//! Why a certificate near its expiry is not replaced yet, for the health report: the
//! list itself comes from Redis (what the proxies serve,
//! [`switchyard_shared::Store::expiring_certs`]); PostgreSQL adds, for each issued one,
//! whether the cert worker's renewal fails and with which error
//! ([`ExpiringCert::explain`]). Uploaded certificates are never renewed, which Redis
//! already says. Read-only; never writes.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use switchyard_shared::fleet::ExpiringCert;

/// Fills in `why` (and `error`) of the issued certificates in `expiring` from their
/// `certificates` rows, matched by the name they are stored under in Redis (`*.<domain>`
/// for a domain's wildcard, the hostname for a per-host one). One without a row keeps
/// `renewal_unknown`.
pub async fn explain(db: &DatabaseConnection, expiring: &mut [ExpiringCert]) -> Result<(), DbErr> {
    let names: Vec<String> = expiring
        .iter()
        .filter(|c| c.source.is_issued())
        .map(|c| c.name.clone())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT COALESCE(c.hostname, '*.' || d.name) AS name, c.last_error
             FROM certificates c LEFT JOIN domains d ON d.id = c.domain_id
             WHERE COALESCE(c.hostname, '*.' || d.name) = ANY($1)",
            vec![names.into()],
        ))
        .await?;
    let mut last_errors: HashMap<String, Option<String>> = HashMap::with_capacity(rows.len());
    for row in rows {
        last_errors.insert(row.try_get("", "name")?, row.try_get("", "last_error")?);
    }
    for cert in expiring.iter_mut().filter(|c| c.source.is_issued()) {
        if let Some(last_error) = last_errors.get(&cert.name) {
            cert.explain(last_error.clone());
        }
    }
    Ok(())
}
