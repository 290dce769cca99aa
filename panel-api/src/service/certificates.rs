//! Certificates as the panel shows them: one wildcard certificate per domain, its status
//! (pending, active, renewing, failed with the last error, failed_renewal) and expiry,
//! and the re-issue action. cert-worker does the ordering; the panel only reads the row
//! and, on re-issue, starts its schedule over.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, Statement,
};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::write::{Answer, Write};
use super::{Actor, AuditEntry};
use crate::access::{Level, Need, Principal, authorize};
use crate::entity::certificates;
use crate::error::ApiError;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CertificateView {
    pub id: Uuid,
    pub domain_id: Uuid,
    /// `["*.example.com", "example.com"]`.
    pub names: serde_json::Value,
    pub status: String,
    /// Why the last attempt failed, in the CA's or DNS provider's words.
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_before: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The domain's DNS credential is `manual` and an order waits for its TXT records:
    /// publish every value at `name`; the cert worker finishes the order once it sees them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_dns: Option<ManualDns>,
}

/// What an operator publishes for a manual DNS-01 challenge.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ManualDns {
    /// `_acme-challenge.example.com`
    pub name: String,
    /// One TXT record each (a wildcard certificate has two: `*.example.com` and the apex).
    pub values: Vec<String>,
}

impl CertificateView {
    /// The view of `domain_id`'s certificate (the row [`of_domain`] found by it).
    fn of(m: certificates::Model, domain_id: Uuid) -> Self {
        CertificateView {
            id: m.id,
            domain_id,
            names: m.names,
            status: m.status,
            last_error: m.last_error,
            not_before: m.not_before,
            not_after: m.not_after,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            updated_at: m.updated_at,
            manual_dns: match (m.manual_txt_name, m.manual_txt_value) {
                (Some(name), Some(values)) => Some(ManualDns {
                    name,
                    values: values.lines().map(str::to_owned).collect(),
                }),
                _ => None,
            },
        }
    }
}

async fn of_domain(
    conn: &impl ConnectionTrait,
    domain_id: Uuid,
    lock: bool,
) -> Result<certificates::Model, ApiError> {
    let mut select =
        // A domain's wildcard row; per-host rows (HTTP-01) have no domain.
        certificates::Entity::find().filter(certificates::Column::DomainId.eq(domain_id));
    if lock {
        select = select.lock_exclusive();
    }
    select.one(conn).await?.ok_or(ApiError::NotFound)
}

/// The certificate of a domain the caller may read.
pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    domain_id: Uuid,
) -> Result<CertificateView, ApiError> {
    authorize(principal, Need::Domain(domain_id, Level::Read))?;
    Ok(CertificateView::of(
        of_domain(db, domain_id, false).await?,
        domain_id,
    ))
}

/// Re-issue: the schedule starts over, due now (the same transition cert-worker's own
/// `request_reissue` makes). An active certificate keeps serving while it is renewed.
pub async fn reissue(
    db: &DatabaseConnection,
    principal: &Principal,
    actor: &Actor,
    domain_id: Uuid,
    dry_run: bool,
) -> Result<Answer<CertificateView>, ApiError> {
    authorize(principal, Need::Domain(domain_id, Level::Edit))?;
    let mut w = Write::begin(db, dry_run).await?;
    let before = of_domain(w.txn(), domain_id, true).await?;
    w.txn()
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE certificates SET attempts = 0, next_attempt_at = now(), last_error = NULL, \
         status = CASE WHEN status IN ('active', 'renewing', 'failed_renewal') \
                  THEN 'renewing' ELSE 'pending' END, \
         updated_at = now() WHERE id = $1",
            [before.id.into()],
        ))
        .await?;
    let after = of_domain(w.txn(), domain_id, false).await?;
    w.audit(
        actor,
        AuditEntry {
            action: "certificate.reissue",
            resource_type: "certificate",
            resource_id: before.id.to_string(),
            before: Some(json!({"status": before.status, "last_error": before.last_error})),
            after: Some(json!({"status": after.status})),
        },
    )
    .await?;
    w.finish(CertificateView::of(after, domain_id)).await
}
