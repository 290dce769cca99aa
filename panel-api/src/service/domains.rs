//! Domains: the apex names zones live under. Creating one also queues a pending
//! wildcard certificate order for the cert worker, in the same transaction; a domain's
//! DNS credential and its certificate choice ([`CertificateMode`]) can be changed
//! ([`update`]); deleting one ([`delete`]) is refused
//! while zones use it, unless asked to delete them too, and removes its certificate (its
//! row, its ACME orders, and its Redis key) and the grants on it.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
    sea_query::{Expr, ExprTrait as _, LikeExpr},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Stores;
use super::credentials::{self, Cache};
use super::degraded::Found;
use super::write::{Answer, Write};
use super::zones::{self as zone_service, Diff};
use super::{Actor, Caller, named_backends::Catalog};
use super::{AuditEntry, ListQuery, Page, audit, bounded_count, sync};
use crate::access::{Level, Need, Principal, Scope, authorize};
use crate::entity::{certificates, dns_credentials, domains, grants, zones};
use crate::error::ApiError;
use switchyard_shared::model::FieldError;

/// How many of the zones that keep a domain from being deleted the 409 names; the
/// message gives the count of all of them.
pub const MAX_NAMED_ZONES: usize = 20;

/// How a domain's names get their certificates; cert-worker reads the stored value
/// (`domains.certificates`) in the one SQL decision of which hostnames get their own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertificateMode {
    /// One wildcard certificate (`*.d` and `d`) by DNS-01, through the domain's DNS
    /// credential (or a TXT record set by hand); only the hostnames it cannot cover
    /// (two labels below the domain or more) get their own HTTP-01 certificate.
    #[default]
    Wildcard,
    /// No wildcard is ordered (even with a DNS credential): every exact hostname of the
    /// domain's zones gets its own HTTP-01 certificate (each waits for a passing DNS
    /// check). Zones with `*` in their hostname get no certificate.
    PerHost,
}

impl CertificateMode {
    /// The stored spelling (as in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateMode::Wildcard => "wildcard",
            CertificateMode::PerHost => "per_host",
        }
    }

    /// The stored value read back; the column's CHECK admits nothing else, so anything
    /// unknown reads as the default.
    pub(crate) fn from_stored(value: &str) -> Self {
        match value {
            "per_host" => CertificateMode::PerHost,
            _ => CertificateMode::Wildcard,
        }
    }
}

/// `POST /api/v1/domains` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    /// The apex, e.g. `example.com`; normalised (lower case, punycode, no trailing dot).
    pub name: String,
    /// The DNS credential cert-worker solves this domain's DNS-01 challenges with.
    #[serde(default)]
    pub dns_credential_id: Option<Uuid>,
    /// How the domain's names get certificates (`wildcard`, the default, or `per_host`).
    #[serde(default)]
    pub certificates: CertificateMode,
}

/// `PATCH /api/v1/domains/{id}` body: only the fields given change. The name cannot
/// change (zones and the certificate are made for it): create the new domain instead.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainPatch {
    /// The DNS credential cert-worker solves this domain's DNS-01 challenges with from
    /// its next attempt on (`POST …/certificate/reissue` makes that now); `null` for
    /// none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub dns_credential_id: Option<Option<Uuid>>,
    /// `per_host`: from the cert worker's next pass, each zone hostname gets its own
    /// HTTP-01 certificate and the wildcard is no longer ordered or renewed (an issued
    /// one keeps serving meanwhile, until it expires). `wildcard`: the wildcard is
    /// ordered again, and the per-host certificates it covers retire once it is issued.
    /// Not nullable (`null` is a 422: there is no "no certificates").
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = CertificateMode)]
    pub certificates: Option<Option<CertificateMode>>,
}

/// A field given (even as `null`) is `Some`; an absent one stays `None` (its default).
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DomainView {
    pub id: Uuid,
    pub name: String,
    pub dns_credential_id: Option<Uuid>,
    /// How the domain's names get certificates. (Revisions recorded before the choice
    /// existed read as `wildcard`.)
    #[serde(default)]
    #[schema(required = true)]
    pub certificates: CertificateMode,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<domains::Model> for DomainView {
    fn from(m: domains::Model) -> Self {
        DomainView {
            id: m.id,
            name: m.name,
            dns_credential_id: m.dns_credential_id,
            certificates: CertificateMode::from_stored(&m.certificates),
            created_at: m.created_at,
        }
    }
}

async fn create_row(
    db: &DatabaseConnection,
    actor: &Actor,
    input: NewDomain,
    dry_run: bool,
) -> Result<Answer<DomainView>, ApiError> {
    let name = switchyard_shared::normalize_hostname(&input.name)
        .map_err(|e| ApiError::invalid_field("name", e.to_string()))?;
    let mut w = Write::begin(db, dry_run).await?;
    if let Some(id) = input.dns_credential_id {
        credential_exists(w.txn(), id).await?;
    }
    let view = insert(
        &mut w,
        actor,
        name,
        input.dns_credential_id,
        input.certificates,
    )
    .await?;
    super::revisions::record(
        w.txn(),
        actor,
        "domain.create",
        None,
        vec![super::revisions::Touched::domain(None, Some(&view))],
    )
    .await?;
    w.finish(view).await
}

/// Inserts a domain (`name` normalised) with its pending certificate order and its audit
/// record, on the write (creation and import); the caller records the revision.
pub(crate) async fn insert(
    w: &mut Write,
    actor: &Actor,
    name: String,
    dns_credential_id: Option<Uuid>,
    certificates: CertificateMode,
) -> Result<DomainView, ApiError> {
    let (view, after) = insert_row(
        w.txn(),
        actor,
        Uuid::new_v4(),
        name,
        dns_credential_id,
        certificates,
    )
    .await?;
    w.audit(
        actor,
        AuditEntry {
            action: "domain.create",
            resource_type: "domain",
            resource_id: view.id.to_string(),
            before: None,
            after: Some(after),
        },
    )
    .await?;
    Ok(view)
}

/// Re-creates a deleted domain with its old id (a rollback), with its pending certificate
/// order and an audit row (`action`) on `txn`; the caller records the revision.
pub async fn reinsert(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    name: String,
    dns_credential_id: Option<Uuid>,
    certificates: CertificateMode,
    action: &str,
) -> Result<DomainView, ApiError> {
    let (view, after) = insert_row(txn, actor, id, name, dns_credential_id, certificates).await?;
    audit(
        txn,
        actor,
        AuditEntry {
            action,
            resource_type: "domain",
            resource_id: view.id.to_string(),
            before: None,
            after: Some(after),
        },
    )
    .await?;
    Ok(view)
}

/// The domain row and its pending certificate order (the one place both are written);
/// answers the domain and its audit summary.
async fn insert_row(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    name: String,
    dns_credential_id: Option<Uuid>,
    certificates: CertificateMode,
) -> Result<(DomainView, serde_json::Value), ApiError> {
    let row = domains::ActiveModel {
        id: Set(id),
        name: Set(name.clone()),
        dns_credential_id: Set(dns_credential_id),
        certificates: Set(certificates.as_str().to_owned()),
        created_by: Set(actor.user_id),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map_err(|e| match super::unique_violation(&e) {
        Some(_) => ApiError::Conflict {
            message: format!("domain \"{name}\" already exists"),
            details: vec![FieldError {
                field: "name".into(),
                problem: "already exists".into(),
            }],
        },
        None => credential_gone(e),
    })?;
    let view = DomainView::from(row);
    // The cert worker's queue: a pending wildcard order (`*.d` and `d`) for every domain
    // (a `per_host` domain's waits, unordered, until the domain switches to `wildcard`).
    let names = json!([format!("*.{}", view.name), view.name]);
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO certificates (domain_id, names, status) VALUES ($1, $2, 'pending')",
        [view.id.into(), names.clone().into()],
    ))
    .await?;
    let after = json!({
        "name": view.name,
        "dns_credential_id": view.dns_credential_id,
        "certificates": view.certificates,
        "certificate": {"names": names, "status": "pending"},
    });
    Ok((view, after))
}

/// 422 naming `dns_credential_id` unless a credential with this id exists.
async fn credential_exists(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), ApiError> {
    match dns_credentials::Entity::find_by_id(id).one(conn).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::invalid_field(
            "dns_credential_id",
            format!("no DNS credential {id} exists (GET /api/v1/dns-credentials lists them)"),
        )),
    }
}

/// A credential deleted between the check and the write (its foreign key): the same 422.
fn credential_gone(e: sea_orm::DbErr) -> ApiError {
    match e.sql_err() {
        Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => {
            ApiError::invalid_field("dns_credential_id", "no DNS credential with this id exists")
        }
        _ => e.into(),
    }
}

/// Changes a domain's DNS credential and/or certificate choice (admin). A patch that
/// changes nothing answers the domain as it is and records nothing.
async fn update_row(
    state: &Stores,
    actor: &Actor,
    id: Uuid,
    patch: DomainPatch,
    dry_run: bool,
) -> Result<Answer<DomainView>, ApiError> {
    let mut w = Write::begin(&state.db, dry_run).await?;
    let existing = domains::Entity::find_by_id(id)
        .lock_exclusive()
        .one(w.txn())
        .await?
        .ok_or(ApiError::NotFound)?;
    if let Some(Some(c)) = patch.dns_credential_id {
        credential_exists(w.txn(), c).await?;
    }
    let before = DomainView::from(existing.clone());
    let after = apply_patch(&mut w, actor, existing, &patch).await?;
    if before.dns_credential_id != after.dns_credential_id
        || before.certificates != after.certificates
    {
        super::revisions::record(
            w.txn(),
            actor,
            "domain.update",
            None,
            vec![super::revisions::Touched::domain(
                Some(&before),
                Some(&after),
            )],
        )
        .await?;
    }
    w.finish(after).await
}

/// Applies a patch to a domain (locked by the caller; a new DNS credential checked by
/// the caller), with its audit record; a patch that changes nothing leaves the domain
/// alone, unrecorded.
pub(crate) async fn apply_patch(
    w: &mut Write,
    actor: &Actor,
    existing: domains::Model,
    patch: &DomainPatch,
) -> Result<DomainView, ApiError> {
    let before = DomainView::from(existing.clone());
    let credential = patch.dns_credential_id.unwrap_or(before.dns_credential_id);
    let certificates = match patch.certificates {
        None => before.certificates,
        Some(Some(choice)) => choice,
        Some(None) => {
            return Err(ApiError::invalid_field(
                "certificates",
                "null is not a choice: expected `wildcard` or `per_host`",
            ));
        }
    };
    if before.dns_credential_id == credential && before.certificates == certificates {
        return Ok(before);
    }
    let id = existing.id;
    let mut row: domains::ActiveModel = existing.into();
    row.dns_credential_id = Set(credential);
    row.certificates = Set(certificates.as_str().to_owned());
    row.updated_at = Set(OffsetDateTime::now_utc());
    let after = DomainView::from(row.update(w.txn()).await.map_err(credential_gone)?);
    let summary = |v: &DomainView| json!({"name": v.name, "dns_credential_id": v.dns_credential_id, "certificates": v.certificates});
    w.audit(
        actor,
        AuditEntry {
            action: "domain.update",
            resource_type: "domain",
            resource_id: id.to_string(),
            before: Some(summary(&before)),
            after: Some(summary(&after)),
        },
    )
    .await?;
    Ok(after)
}

/// Deletes a domain (admin). While zones use it: 409 naming them (the first
/// [`MAX_NAMED_ZONES`] and the count), unless `cascade`, which deletes them too — with
/// the zones' own delete ([`zone_service::delete_rows`]: their audit records, and their
/// Redis records through the outbox and write-through like any zone delete). The
/// domain's certificate goes with it: its row and its ACME orders (a pending order
/// included) from PostgreSQL, its `cert:*.<domain>` key from Redis (queued in the outbox
/// in the same transaction and written in the same batch as the zones); so do its
/// uploaded certificates (rows, and `cert:uploaded:<name>` keys) and grants on the
/// domain. Each is audited; the answer is the diff (for a dry run, with every
/// zone's Redis record before and after, and nothing changed).
async fn delete_row(
    state: &Stores,
    actor: &Actor,
    id: Uuid,
    cascade: bool,
    dry_run: bool,
) -> Result<Diff, ApiError> {
    let mut w = Write::begin(&state.db, dry_run).await?;
    let domain = domains::Entity::find_by_id(id)
        .lock_exclusive()
        .one(w.txn())
        .await?
        .ok_or(ApiError::NotFound)?;
    let rows = zones::Entity::find()
        .filter(zones::Column::DomainId.eq(id))
        .order_by_asc(zones::Column::Hostname)
        .order_by_asc(zones::Column::PathPrefix)
        .order_by_asc(zones::Column::MatchKey)
        .lock_exclusive()
        .all(w.txn())
        .await?;
    let catalog = Catalog::load(w.txn()).await?;
    if !rows.is_empty() && !cascade {
        return Err(in_use(&domain.name, &rows, &catalog));
    }
    let zone_count = rows.len();
    let (deleted, mut touched) =
        zone_service::delete_rows(w.txn(), actor, rows, &catalog, "zone.delete").await?;

    // The certificate: its ACME orders first (cert-worker's log, pending ones included),
    // then the row.
    let cert_name = sync::cert_name(&domain.name);
    if let Some(cert) = certificates::Entity::find()
        .filter(certificates::Column::DomainId.eq(id))
        .lock_exclusive()
        .one(w.txn())
        .await?
    {
        let orders = w
            .txn()
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "DELETE FROM acme_orders WHERE certificate_id = $1 RETURNING outcome",
                [cert.id.into()],
            ))
            .await?;
        let pending_orders = orders
            .iter()
            .filter(|r| {
                r.try_get::<String>("", "outcome")
                    .is_ok_and(|o| o == "started")
            })
            .count();
        certificates::Entity::delete_by_id(cert.id)
            .exec(w.txn())
            .await?;
        w.audit(
            actor,
            AuditEntry {
                action: "certificate.delete",
                resource_type: "certificate",
                resource_id: cert.id.to_string(),
                before: Some(json!({
                    "domain_id": id,
                    "names": cert.names,
                    "status": cert.status,
                    "not_after": cert.not_after.map(|t| t.to_string()),
                    "acme_orders": orders.len(),
                    "pending_acme_orders": pending_orders,
                    "redis_key": state.store.keys().cert(&cert_name),
                })),
                after: None,
            },
        )
        .await?;
    }
    // Uploaded certificates for the domain and its hostnames: rows here, Redis keys
    // (`cert:uploaded:<name>`) through the outbox below.
    let uploads = super::cert_uploads::of_domain(w.txn(), id).await?;
    for upload in &uploads {
        super::cert_uploads::delete_in(&mut w, actor, upload).await?;
    }
    // Grants on the domain (their users lose it).
    super::grants::delete_in(&mut w, actor, grants::Column::DomainId.eq(id)).await?;
    domains::Entity::delete_by_id(id).exec(w.txn()).await?;
    // One revision for the domain and its zones: a rollback re-creates them together.
    touched.push(super::revisions::Touched::domain(
        Some(&DomainView::from(domain.clone())),
        None,
    ));
    let revision = super::revisions::record(w.txn(), actor, "domain.delete", None, touched).await?;
    w.audit(
        actor,
        AuditEntry {
            action: "domain.delete",
            resource_type: "domain",
            resource_id: id.to_string(),
            before: Some(json!({
                "name": domain.name,
                "dns_credential_id": domain.dns_credential_id,
                "zones_deleted": zone_count,
            })),
            after: None,
        },
    )
    .await?;
    let mut pending = sync::enqueue(w.txn(), zone_service::hostnames_of(&deleted)).await?;
    let members = uploads
        .iter()
        .map(|u| switchyard_shared::certs::CertSource::Uploaded.member(&u.name));
    sync::enqueue_certs(
        w.txn(),
        &mut pending,
        std::iter::once(cert_name).chain(members),
    )
    .await?;
    w.finish_routing(
        state,
        pending,
        Diff {
            deleted,
            revision,
            ..Default::default()
        },
    )
    .await
}

/// The 409 of a domain its zones still use: the first [`MAX_NAMED_ZONES`] by name, and
/// how many there are.
fn in_use(domain: &str, rows: &[zones::Model], catalog: &Catalog) -> ApiError {
    let named: Vec<String> = rows
        .iter()
        .take(MAX_NAMED_ZONES)
        .map(|r| zone_service::identity(&zone_service::spec_of(r, catalog)))
        .collect();
    let more = rows.len().saturating_sub(MAX_NAMED_ZONES);
    let mut details = vec![FieldError {
        field: "cascade".into(),
        problem: format!(
            "{} zone(s) use this domain; pass cascade=true to delete them with it \
             (dry_run=true lists what would go)",
            rows.len()
        ),
    }];
    details.extend(rows.iter().take(MAX_NAMED_ZONES).map(|r| FieldError {
        field: format!("zones.{}", r.id),
        problem: format!(
            "zone {} uses this domain",
            zone_service::identity(&zone_service::spec_of(r, catalog))
        ),
    }));
    ApiError::Conflict {
        message: format!(
            "domain \"{domain}\" is used by {} zone(s): {}{}; delete them first, or delete \
             the domain with cascade=true to delete them too",
            rows.len(),
            named.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
        details,
    }
}

/// `GET /domains/{id}`: the domain, or while PostgreSQL is down, as last published.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum DomainRead {
    Domain(DomainView),
    Degraded(super::degraded::DegradedDomain),
}

/// `GET /domains`: a page of domains, or while PostgreSQL is down, as last published.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum DomainPage {
    Page(Page<DomainView>),
    Degraded(super::degraded::DegradedPage<super::degraded::DegradedDomain>),
}

/// One domain the caller may read ([`get`]); while PostgreSQL is down, as last
/// published to Redis, marked degraded.
pub async fn read(state: &Stores, principal: &Principal, id: Uuid) -> Result<DomainRead, ApiError> {
    let found = super::degraded::or_degraded(state, get(&state.db, principal, id), || {
        super::degraded::domain(state, principal, id)
    })
    .await?;
    Ok(match found {
        Found::Stored(domain) => DomainRead::Domain(domain),
        Found::Degraded(domain) => DomainRead::Degraded(domain),
    })
}

/// A page of the domains the caller may read ([`list`]); while PostgreSQL is down, as
/// last published to Redis, marked degraded.
pub async fn list_or_degraded(
    state: &Stores,
    principal: &Principal,
    query: &ListQuery,
) -> Result<DomainPage, ApiError> {
    let found = super::degraded::or_degraded(state, list(&state.db, principal, query), || async {
        super::degraded::domain_list(state, principal, query)
            .await
            .map(Some)
    })
    .await?;
    Ok(match found {
        Found::Stored(page) => DomainPage::Page(page),
        Found::Degraded(page) => DomainPage::Degraded(page),
    })
}

/// The domains the caller may read; `q` searches the name.
pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    query: &ListQuery,
) -> Result<Page<DomainView>, ApiError> {
    let mut select = domains::Entity::find();
    if let Scope::Only(ids) = principal.domains(Level::Read) {
        select = select.filter(domains::Column::Id.is_in(ids));
    }
    if let Some(pattern) = query.like_pattern() {
        select = select
            .filter(Expr::col(domains::Column::Name).like(LikeExpr::new(pattern).escape('\\')));
    }
    let count = bounded_count(select.clone(), db).await?;
    let items = select
        .order_by_asc(domains::Column::Name)
        .limit(query.limit())
        .offset(query.offset())
        .all(db)
        .await?
        .into_iter()
        .map(DomainView::from)
        .collect();
    Ok(Page::new(items, count, query))
}

/// One domain the caller may read.
pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: Uuid,
) -> Result<DomainView, ApiError> {
    authorize(principal, Need::Domain(id, Level::Read))?;
    domains::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(DomainView::from)
        .ok_or(ApiError::NotFound)
}

/// Every domain, by name (the copy degraded mode keeps in Redis).
pub async fn all(conn: &impl ConnectionTrait) -> Result<Vec<DomainView>, ApiError> {
    Ok(domains::Entity::find()
        .order_by_asc(domains::Column::Name)
        .all(conn)
        .await?
        .into_iter()
        .map(DomainView::from)
        .collect())
}

/// Every domain's name and id (bulk writes resolve hostnames against these in memory).
pub async fn all_names(
    conn: &impl ConnectionTrait,
) -> Result<std::collections::HashMap<String, Uuid>, ApiError> {
    Ok(domains::Entity::find()
        .select_only()
        .column(domains::Column::Name)
        .column(domains::Column::Id)
        .into_tuple::<(String, Uuid)>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

/// The most specific domain a hostname pattern lies within: the domain itself or any
/// name ending in `.<domain>`.
pub async fn containing(
    conn: &impl ConnectionTrait,
    hostname: &str,
) -> Result<Option<domains::Model>, ApiError> {
    // right(host, length(name) + 1) = '.' || name  — a suffix test with no LIKE
    // wildcards to escape.
    let suffix = Expr::cust_with_values(
        "right($1, length(name) + 1) = '.' || name",
        [hostname.to_owned()],
    );
    Ok(domains::Entity::find()
        .filter(
            Condition::any()
                .add(domains::Column::Name.eq(hostname))
                .add(suffix),
        )
        .order_by_desc(Expr::cust("length(name)"))
        .one(conn)
        .await?)
}

/// Creates a domain (admins) with a pending certificate order, and publishes the copy
/// of the domains degraded mode reads.
pub async fn create(
    state: &Stores,
    caller: &Caller,
    input: NewDomain,
    dry_run: bool,
) -> Result<Answer<DomainView>, ApiError> {
    caller.authorize(Need::Admin)?;
    let actor = &caller.actor();
    let answer = create_row(&state.db, actor, input, dry_run).await?;
    if !answer.is_dry_run() {
        super::degraded::refresh_domains(state).await;
    }
    Ok(answer)
}

/// Changes a domain's DNS credential and/or certificate choice, and publishes the copy
/// of the domains degraded mode reads.
pub async fn update(
    state: &Stores,
    caller: &Caller,
    id: Uuid,
    patch: DomainPatch,
    dry_run: bool,
) -> Result<Answer<DomainView>, ApiError> {
    caller.authorize(Need::Admin)?;
    let actor = &caller.actor();
    let answer = update_row(state, actor, id, patch, dry_run).await?;
    if !answer.is_dry_run() {
        super::degraded::refresh_domains(state).await;
    }
    Ok(answer)
}

/// Deletes a domain with its certificate, grants and (with `cascade`) zones; publishes
/// the copy of the domains degraded mode reads, and drops what degraded mode remembers
/// of the users who held grants on it (their grants changed).
pub async fn delete(
    state: &Stores,
    cache: &Cache,
    caller: &Caller,
    id: Uuid,
    cascade: bool,
    dry_run: bool,
) -> Result<Diff, ApiError> {
    caller.authorize(Need::Admin)?;
    let actor = &caller.actor();
    let diff = delete_row(state, actor, id, cascade, dry_run).await?;
    if diff.dry_run {
        return Ok(diff);
    }
    super::degraded::refresh_domains(state).await;
    for effect in diff.changes.iter().filter(|e| e.action == "grant.delete") {
        if let Some(user) = effect
            .before
            .as_ref()
            .and_then(|b| b["user_id"].as_str())
            .and_then(|u| u.parse().ok())
        {
            credentials::forget_user(cache, user, None).await;
        }
    }
    Ok(diff)
}
