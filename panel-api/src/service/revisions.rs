//! Revisions: the numbered history of the routing configuration, and rollback to any
//! revision kept.
//!
//! Every committed change to zones, named backends or domains calls [`record`] — the one
//! writer of history — inside its own transaction: one `revisions` row (who, when, what
//! kind of change) and one `revision_records` row per record touched, with the record as
//! the API shows it before and after. One change is one revision number, whatever it
//! touched: a bulk write of 20,000 zones, an import with the named backends it creates,
//! a template change with every zone it re-renders, a rollback.
//!
//! **Secrets.** A zone's `before`/`after` keep basic-auth users' `hash` (as the `zones`
//! table and the export do), so that a rollback restores the passwords a zone had; every
//! answer about revisions redacts them ([`redacted`]), for admins too — the export stays
//! the one answer that shows a hash. Passwords in clear never reach a revision: zones are
//! recorded as validated, which replaced them by hashes.
//!
//! **State at a revision.** A record's state right after revision N is the `after` of
//! its last record at or before N; with none, the `before` of its first record after N;
//! with neither, it has not changed since N. ([`states_at`]). A rollback computes that
//! state for what changed after N and writes the difference through the ordinary write
//! paths ([`super::zones::bulk_apply`], the named backends' and domains' own statements),
//! as one change with its own revision.
//!
//! **Retention.** [`prune`] deletes revisions older than the configured age while
//! keeping at least the configured number of the newest (`--revision-retention-days`,
//! `--revision-keep-min`); a rollback reaches only revisions still kept.

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_shared::model::{BackendSpec, FieldError, ZoneSpec};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Stores;
use super::domains::DomainView;
use super::named_backends::{Catalog, NamedBackendView};
use super::zones::{BulkRequest, BulkUpdate, Diff, Restore, ZoneView};
use super::{Actor, AuditEntry, sync};
use crate::access::{Level, Need, Principal, Scope, authorize};
pub use crate::config::{DEFAULT_KEEP_MIN, DEFAULT_RETENTION_DAYS, RetentionArgs};
use crate::entity::{
    dns_credentials, domains as domain_rows, named_backends as backend_rows, revision_records,
    revisions, users, zones,
};
use crate::error::ApiError;

/// Rows per multi-row INSERT of revision records: 10 columns × 5,000 rows stays far
/// below PostgreSQL's 65,535 bind parameters per statement.
const RECORDS_PER_STATEMENT: usize = 5_000;

/// What a revision record is about.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Zone,
    NamedBackend,
    Domain,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Zone => "zone",
            Kind::NamedBackend => "named_backend",
            Kind::Domain => "domain",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "zone" => Some(Kind::Zone),
            "named_backend" => Some(Kind::NamedBackend),
            "domain" => Some(Kind::Domain),
            _ => None,
        }
    }
}

/// What a change did to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Create,
    Update,
    Delete,
    /// A zone whose row stayed as it was while the named backend it uses changed: its
    /// routing was re-rendered with the new template.
    Rerender,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Rerender => "rerender",
        }
    }

    fn parse(s: &str) -> Op {
        match s {
            "create" => Op::Create,
            "delete" => Op::Delete,
            "rerender" => Op::Rerender,
            _ => Op::Update,
        }
    }
}

/// One record a change touched, as [`record`] stores it.
#[derive(Debug, Clone)]
pub struct Touched {
    pub kind: Kind,
    pub id: Uuid,
    /// How people name it: `app.example.com/api` for a zone, the name otherwise.
    pub key: String,
    pub op: Op,
    /// Who may read it: the domains it lies in before and after (zones, domains).
    pub domain_ids: Vec<Uuid>,
    /// A named backend's owner (`None`: a preset, or another kind).
    pub owner: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

fn op_of(before: bool, after: bool) -> Op {
    match (before, after) {
        (false, _) => Op::Create,
        (true, false) => Op::Delete,
        (true, true) => Op::Update,
    }
}

/// A zone's natural key: hostname and path prefix, and its match conditions if any.
pub fn zone_key(view: &ZoneView) -> String {
    let mut key = format!("{}{}", view.spec.hostname, view.spec.path_prefix);
    if !view.spec.matching.is_empty() {
        key.push_str(&format!(" match {}", view.spec.matching.key()));
    }
    key
}

impl Touched {
    /// A zone created, changed or deleted; the views with hashes kept
    /// ([`super::zones::full_view`]).
    pub fn zone(before: Option<&ZoneView>, after: Option<&ZoneView>) -> Touched {
        let either = after.or(before).expect("a zone before or after");
        let mut domain_ids: Vec<Uuid> = before
            .iter()
            .chain(after.iter())
            .map(|v| v.domain_id)
            .collect();
        domain_ids.dedup();
        Touched {
            kind: Kind::Zone,
            id: either.id,
            key: zone_key(either),
            op: op_of(before.is_some(), after.is_some()),
            domain_ids,
            owner: None,
            before: before.map(to_json),
            after: after.map(to_json),
        }
    }

    /// A zone whose named backend changed under it: `before`/`after` are the zone (the
    /// backend's name as it was and is) with `rendered`, the upstream URL the template
    /// made of it.
    pub fn zone_rerendered(
        before: &ZoneView,
        before_url: Option<&str>,
        after: &ZoneView,
        after_url: &str,
    ) -> Touched {
        let with_url = |view: &ZoneView, url: Option<&str>| {
            let mut json = to_json(view);
            if let Some(obj) = json.as_object_mut() {
                obj.insert("rendered".into(), url.map_or(Value::Null, Value::from));
            }
            json
        };
        Touched {
            op: Op::Rerender,
            before: Some(with_url(before, before_url)),
            after: Some(with_url(after, Some(after_url))),
            ..Touched::zone(Some(before), Some(after))
        }
    }

    pub fn named_backend(
        before: Option<&NamedBackendView>,
        after: Option<&NamedBackendView>,
    ) -> Touched {
        let either = after.or(before).expect("a named backend before or after");
        Touched {
            kind: Kind::NamedBackend,
            id: either.id,
            key: either.name.clone(),
            op: op_of(before.is_some(), after.is_some()),
            domain_ids: Vec::new(),
            owner: either.owner_user_id,
            before: before.map(to_json),
            after: after.map(to_json),
        }
    }

    pub fn domain(before: Option<&DomainView>, after: Option<&DomainView>) -> Touched {
        let either = after.or(before).expect("a domain before or after");
        Touched {
            kind: Kind::Domain,
            id: either.id,
            key: either.name.clone(),
            op: op_of(before.is_some(), after.is_some()),
            domain_ids: vec![either.id],
            owner: None,
            before: before.map(to_json),
            after: after.map(to_json),
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Records one change as one revision on `conn`, which must be the transaction of the
/// change: the revision row and a record per touched record, in multi-row statements.
/// `action` names the change (`zone.update`, `zone.bulk`, `import`, `rollback`, …);
/// `restores` is the revision a rollback restored. A change that touched nothing records
/// nothing (`None`); otherwise the revision's number.
pub async fn record(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    action: &str,
    restores: Option<i64>,
    changes: Vec<Touched>,
) -> Result<Option<i64>, DbErr> {
    if changes.is_empty() {
        return Ok(None);
    }
    let revision = revisions::ActiveModel {
        actor_user_id: Set(actor.user_id),
        actor_label: Set(actor.label.clone()),
        action: Set(action.to_owned()),
        request_id: Set(actor.request_id.clone()),
        restores: Set(restores),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    let mut rows = changes.into_iter().map(|t| revision_records::ActiveModel {
        revision: Set(revision.number),
        kind: Set(t.kind.as_str().to_owned()),
        record_id: Set(t.id),
        natural_key: Set(t.key),
        op: Set(t.op.as_str().to_owned()),
        domain_ids: Set(t.domain_ids),
        owner_user_id: Set(t.owner),
        before: Set(t.before),
        after: Set(t.after),
        ..Default::default()
    });
    loop {
        let chunk: Vec<_> = rows.by_ref().take(RECORDS_PER_STATEMENT).collect();
        if chunk.is_empty() {
            break;
        }
        revision_records::Entity::insert_many(chunk)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(Some(revision.number))
}

// ---------------------------------------------------------------------------------------
// Reading history
// ---------------------------------------------------------------------------------------

/// Records listed per revision in [`RevisionSummary::records`]; the rest are one
/// `GET /revisions/{number}` away.
pub const SUMMARY_RECORDS: u64 = 20;

/// `GET /api/v1/revisions` and `GET /api/v1/zones/{id}/revisions`: newest first, paged by
/// the revision number.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RevisionListQuery {
    /// Revisions per page, 1–500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// The `next` of the previous page: revisions numbered below it.
    #[param(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub after: Option<i64>,
}

/// `GET /api/v1/revisions/{number}`: which of its records to show.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RevisionRecordsQuery {
    /// Records per page, 1–500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// Records to skip, 0–1,000,000,000; 0 when absent.
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<u64>,
}

/// Who made a revision, when, and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevisionHead {
    /// Increasing, not contiguous: a dry run or a failed change uses a number up.
    pub number: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `null` once the user is deleted (`actor` still says who it was).
    pub actor_user_id: Option<Uuid>,
    /// e.g. `alice (api key sy_ab12…)`.
    pub actor: String,
    /// `zone.create`, `zone.update`, `zone.delete`, `zone.bulk`, `import`,
    /// `named_backend.create|update|delete`, `domain.create`, `zone.rollback`, `rollback`.
    pub action: String,
    /// A rollback: the revision whose state it restored.
    pub restores: Option<i64>,
    pub request_id: Option<String>,
}

impl From<revisions::Model> for RevisionHead {
    fn from(m: revisions::Model) -> Self {
        RevisionHead {
            number: m.number,
            at: m.at,
            actor_user_id: m.actor_user_id,
            actor: m.actor_label,
            action: m.action,
            restores: m.restores,
            request_id: m.request_id,
        }
    }
}

/// One record of a revision, without its contents.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordSummary {
    pub kind: Kind,
    pub id: Uuid,
    /// `app.example.com/api` for a zone, the name of a named backend or domain.
    pub key: String,
    pub op: Op,
}

/// A revision in a list: who, when, and the first records it touched.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevisionSummary {
    #[serde(flatten)]
    pub head: RevisionHead,
    /// The first 20 records the caller may read.
    pub records: Vec<RecordSummary>,
    /// How many records of this revision the caller may read.
    pub records_total: u64,
}

/// One record of a revision with its contents: the record as the API showed it before
/// and after (`null`: it did not exist). Basic-auth users show their username only.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevisionRecord {
    pub kind: Kind,
    pub id: Uuid,
    pub key: String,
    pub op: Op,
    /// A zone (with `rendered`, the upstream URL, for `rerender`), named backend or
    /// domain as the API shows it.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

impl From<revision_records::Model> for RevisionRecord {
    fn from(m: revision_records::Model) -> Self {
        RevisionRecord {
            kind: Kind::parse(&m.kind).unwrap_or(Kind::Zone),
            id: m.record_id,
            key: m.natural_key,
            op: Op::parse(&m.op),
            before: m.before.map(redacted),
            after: m.after.map(redacted),
        }
    }
}

/// `GET /api/v1/revisions/{number}`: the revision and a page of its records.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevisionView {
    #[serde(flatten)]
    pub head: RevisionHead,
    pub records: Vec<RevisionRecord>,
    /// How many records of this revision the caller may read.
    pub records_total: u64,
    pub limit: u64,
    pub offset: u64,
}

/// One entry of a zone's history: the revision and what it did to the zone.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ZoneRevision {
    #[serde(flatten)]
    pub head: RevisionHead,
    #[serde(flatten)]
    pub record: RevisionRecord,
}

/// A page of revisions (newest first); `next` is the `after` of the next page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RevisionPage<T> {
    pub items: Vec<T>,
    /// Pass as `after=` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    pub limit: u64,
}

/// Every answer's before/after: basic-auth users by username only.
pub fn redacted(mut value: Value) -> Value {
    switchyard_shared::policy::redact_json(&mut value);
    value
}

/// The SQL condition (on `revision_records` as `rr`) for the records `principal` may
/// read, with its values numbered from `$first`; `None` for an admin (everything).
fn visible_sql(principal: &Principal, first: usize) -> Option<(String, Vec<sea_orm::Value>)> {
    let (Scope::Only(domains), Scope::Only(backends)) = (
        principal.domains(Level::Read),
        principal.named_backends(Level::Read),
    ) else {
        return None;
    };
    let sql = format!(
        "((rr.kind IN ('zone', 'domain') AND rr.domain_ids && ${a}::uuid[]) OR \
         (rr.kind = 'named_backend' AND (rr.owner_user_id IS NULL OR rr.owner_user_id = ${b} \
         OR rr.record_id = ANY(${c}::uuid[]))))",
        a = first,
        b = first + 1,
        c = first + 2
    );
    Some((
        sql,
        vec![domains.into(), principal.user_id.into(), backends.into()],
    ))
}

fn page_limit(limit: Option<u64>) -> u64 {
    limit
        .unwrap_or(super::DEFAULT_PAGE)
        .clamp(1, super::MAX_PAGE)
}

/// `GET /api/v1/revisions`: the revisions with a record the caller may read, newest
/// first, each with its first records (only those the caller may read).
pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    query: &RevisionListQuery,
) -> Result<RevisionPage<RevisionSummary>, ApiError> {
    let limit = page_limit(query.limit);
    let after = query.after.unwrap_or(i64::MAX);
    let mut values: Vec<sea_orm::Value> = vec![after.into(), (limit as i64 + 1).into()];
    let visible = visible_sql(principal, 3);
    let filter = match &visible {
        Some((sql, vs)) => {
            values.extend(vs.iter().cloned());
            format!(
                "AND EXISTS (SELECT 1 FROM revision_records rr \
                 WHERE rr.revision = r.number AND {sql})"
            )
        }
        None => String::new(),
    };
    let mut heads = revisions::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT r.* FROM revisions r WHERE r.number < $1 {filter} \
                 ORDER BY r.number DESC LIMIT $2"
            ),
            values,
        ))
        .all(db)
        .await?;
    let more = heads.len() as u64 > limit;
    heads.truncate(limit as usize);
    let numbers: Vec<i64> = heads.iter().map(|h| h.number).collect();
    // The first records of each, and how many the caller may read, in one query.
    let mut values: Vec<sea_orm::Value> =
        vec![numbers.clone().into(), (SUMMARY_RECORDS as i64).into()];
    let visible = visible_sql(principal, 3);
    let filter = match &visible {
        Some((sql, vs)) => {
            values.extend(vs.iter().cloned());
            format!("AND {sql}")
        }
        None => String::new(),
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT revision, kind, record_id, natural_key, op, total FROM ( \
                   SELECT rr.revision, rr.kind, rr.record_id, rr.natural_key, rr.op, \
                          row_number() OVER (PARTITION BY rr.revision ORDER BY rr.id) AS n, \
                          count(*) OVER (PARTITION BY rr.revision) AS total \
                   FROM revision_records rr WHERE rr.revision = ANY($1) {filter} \
                 ) x WHERE n <= $2 ORDER BY revision, n"
            ),
            values,
        ))
        .await?;
    let mut by_number: HashMap<i64, (Vec<RecordSummary>, u64)> = HashMap::new();
    for row in rows {
        let revision: i64 = row.try_get("", "revision")?;
        let kind: String = row.try_get("", "kind")?;
        let op: String = row.try_get("", "op")?;
        let total: i64 = row.try_get("", "total")?;
        let entry = by_number.entry(revision).or_default();
        entry.1 = total as u64;
        entry.0.push(RecordSummary {
            kind: Kind::parse(&kind).unwrap_or(Kind::Zone),
            id: row.try_get("", "record_id")?,
            key: row.try_get("", "natural_key")?,
            op: Op::parse(&op),
        });
    }
    let next = more
        .then(|| heads.last().map(|h| h.number.to_string()))
        .flatten();
    let items = heads
        .into_iter()
        .map(|h| {
            let (records, records_total) = by_number.remove(&h.number).unwrap_or_default();
            RevisionSummary {
                head: h.into(),
                records,
                records_total,
            }
        })
        .collect();
    Ok(RevisionPage { items, next, limit })
}

/// `GET /api/v1/revisions/{number}`: 404 when it does not exist (or was pruned) or
/// holds no record the caller may read.
pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    number: i64,
    query: &RevisionRecordsQuery,
) -> Result<RevisionView, ApiError> {
    let head = revisions::Entity::find_by_id(number)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let limit = page_limit(query.limit);
    let offset = query.offset.unwrap_or(0);
    let mut values: Vec<sea_orm::Value> = vec![number.into()];
    let filter = match visible_sql(principal, 2) {
        Some((sql, vs)) => {
            values.extend(vs);
            format!("AND {sql}")
        }
        None => String::new(),
    };
    let total_row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT count(*) AS n FROM revision_records rr WHERE rr.revision = $1 {filter}"
            ),
            values.clone(),
        ))
        .await?;
    let total: i64 = match total_row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    if total == 0 {
        return Err(ApiError::NotFound);
    }
    let n = values.len();
    values.push((limit as i64).into());
    values.push((offset as i64).into());
    let records = revision_records::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT rr.* FROM revision_records rr WHERE rr.revision = $1 {filter} \
                 ORDER BY rr.id LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            values,
        ))
        .all(db)
        .await?
        .into_iter()
        .map(RevisionRecord::from)
        .collect();
    Ok(RevisionView {
        head: head.into(),
        records,
        records_total: total as u64,
        limit,
        offset,
    })
}

/// The domains a zone lies in now, or (deleted) lay in according to its history; `None`
/// when there is neither the zone nor any history of it.
async fn zone_domains(
    conn: &impl ConnectionTrait,
    zone_id: Uuid,
) -> Result<Option<Vec<Uuid>>, ApiError> {
    if let Some(row) = zones::Entity::find_by_id(zone_id).one(conn).await? {
        return Ok(Some(vec![row.domain_id]));
    }
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT DISTINCT unnest(domain_ids) AS d FROM revision_records \
             WHERE kind = 'zone' AND record_id = $1",
            [zone_id.into()],
        ))
        .await?;
    let ids = rows
        .into_iter()
        .map(|r| r.try_get::<Uuid>("", "d"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((!ids.is_empty()).then_some(ids))
}

/// `GET /api/v1/zones/{id}/revisions`: the zone's history, newest first. A deleted
/// zone's history stays readable by its id to whoever may read one of the domains it lay
/// in; otherwise 404, as for a zone that never existed.
pub async fn zone_history(
    db: &DatabaseConnection,
    principal: &Principal,
    zone_id: Uuid,
    query: &RevisionListQuery,
) -> Result<RevisionPage<ZoneRevision>, ApiError> {
    let domains = zone_domains(db, zone_id).await?.ok_or(ApiError::NotFound)?;
    let readable = principal.domains(Level::Read);
    if !domains.iter().any(|d| readable.contains(*d)) {
        return Err(ApiError::NotFound);
    }
    let limit = page_limit(query.limit);
    let mut records = revision_records::Entity::find()
        .filter(revision_records::Column::Kind.eq(Kind::Zone.as_str()))
        .filter(revision_records::Column::RecordId.eq(zone_id))
        .filter(revision_records::Column::Revision.lt(query.after.unwrap_or(i64::MAX)))
        .order_by_desc(revision_records::Column::Revision)
        .order_by_desc(revision_records::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = records.len() as u64 > limit;
    records.truncate(limit as usize);
    let numbers: Vec<i64> = records.iter().map(|r| r.revision).collect();
    let heads: HashMap<i64, revisions::Model> = revisions::Entity::find()
        .filter(revisions::Column::Number.is_in(numbers))
        .all(db)
        .await?
        .into_iter()
        .map(|h| (h.number, h))
        .collect();
    let next = more
        .then(|| records.last().map(|r| r.revision.to_string()))
        .flatten();
    let items = records
        .into_iter()
        .filter_map(|r| {
            let head = heads.get(&r.revision)?.clone();
            Some(ZoneRevision {
                head: head.into(),
                record: r.into(),
            })
        })
        .collect();
    Ok(RevisionPage { items, next, limit })
}

// ---------------------------------------------------------------------------------------
// State at a revision, and rollback
// ---------------------------------------------------------------------------------------

/// `POST /api/v1/zones/{id}/rollback` and `POST /api/v1/rollback`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The revision whose state to restore (the state right after it was committed).
    #[schema(minimum = 1)]
    pub revision: i64,
    /// Answer the diff the rollback would apply and change nothing (as `?dry_run=true`).
    #[serde(default)]
    pub dry_run: bool,
}

/// Refuses a revision that does not exist or is no longer kept, naming those that are.
async fn ensure_kept(conn: &impl ConnectionTrait, number: i64) -> Result<(), ApiError> {
    if revisions::Entity::find_by_id(number)
        .one(conn)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT min(number) AS lo, max(number) AS hi FROM revisions",
        ))
        .await?;
    let range = match row {
        Some(row) => (
            row.try_get::<Option<i64>>("", "lo")?,
            row.try_get::<Option<i64>>("", "hi")?,
        ),
        None => (None, None),
    };
    let problem = match range {
        (Some(lo), Some(hi)) if number < lo => format!(
            "revision {number} is no longer kept (older revisions are pruned); revisions \
             {lo}–{hi} are"
        ),
        (Some(lo), Some(hi)) => format!(
            "there is no revision {number}; revisions {lo}–{hi} are kept (numbers are not \
             contiguous: a dry run or a failed change uses one up)"
        ),
        _ => format!("there is no revision {number}; no revision is recorded yet"),
    };
    Err(ApiError::invalid_field("revision", problem))
}

/// A record's state right after a revision: `Some(json)` as it was, `None` for "did not
/// exist".
type State = Option<Value>;

/// The state right after revision `to` of every record of `kind` (all of them, or only
/// `only`) that changed after it; records that did not change since are left out (they
/// are as they were). See the module docs for the rule.
async fn states_at(
    conn: &impl ConnectionTrait,
    to: i64,
    kind: Kind,
    only: Option<Uuid>,
) -> Result<BTreeMap<Uuid, State>, ApiError> {
    let mut values: Vec<sea_orm::Value> = vec![to.into(), kind.as_str().into()];
    let filter = match only {
        Some(id) => {
            values.push(id.into());
            "AND record_id = $3"
        }
        None => "",
    };
    // The first record after `to` of each record changed since.
    let after = revision_records::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT DISTINCT ON (record_id) * FROM revision_records \
                 WHERE revision > $1 AND kind = $2 {filter} \
                 ORDER BY record_id, revision, id"
            ),
            values.clone(),
        ))
        .all(conn)
        .await?;
    if after.is_empty() {
        return Ok(BTreeMap::new());
    }
    let ids: Vec<Uuid> = after.iter().map(|r| r.record_id).collect();
    // Their last record at or before `to`, where history still has one.
    let before = revision_records::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT DISTINCT ON (record_id) * FROM revision_records \
             WHERE revision <= $1 AND kind = $2 AND record_id = ANY($3) \
             ORDER BY record_id, revision DESC, id DESC",
            [to.into(), kind.as_str().into(), ids.into()],
        ))
        .all(conn)
        .await?;
    let mut states: BTreeMap<Uuid, State> =
        after.into_iter().map(|r| (r.record_id, r.before)).collect();
    for r in before {
        states.insert(r.record_id, r.after);
    }
    Ok(states)
}

/// A zone's spec and named backend from its recorded JSON ([`Touched::zone`]).
fn stored_zone(value: &Value) -> Result<(ZoneSpec, Option<Uuid>), ApiError> {
    let mut object = value.as_object().cloned().unwrap_or_default();
    let backend = object
        .get("named_backend_id")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok());
    for key in [
        "id",
        "domain_id",
        "named_backend_id",
        "created_at",
        "updated_at",
        "rendered",
    ] {
        object.remove(key);
    }
    let spec = serde_json::from_value(Value::Object(object)).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!("a recorded zone does not read back: {e}"))
    })?;
    Ok((spec, backend))
}

/// What a rollback's zones come to: the bulk request that restores them, and whether
/// anything differs at all.
#[derive(Default)]
struct ZonePlan {
    request: BulkRequest,
    /// `update` items' ids by position, to name problems.
    update_ids: Vec<Uuid>,
}

impl ZonePlan {
    fn is_empty(&self) -> bool {
        self.request.create.is_empty()
            && self.request.update.is_empty()
            && self.request.delete.is_empty()
    }
}

/// The bulk request that takes the zones in `targets` from their current rows to their
/// target states; zones already in their target state are left out. A named backend
/// a zone used is kept by id, under the name it has now.
async fn plan_zones(
    conn: &impl ConnectionTrait,
    targets: &BTreeMap<Uuid, State>,
) -> Result<ZonePlan, ApiError> {
    let catalog = Catalog::load(conn).await?;
    let ids: Vec<Uuid> = targets.keys().copied().collect();
    let mut current: HashMap<Uuid, zones::Model> = HashMap::new();
    for chunk in ids.chunks(super::zones::INSERT_CHUNK) {
        for row in zones::Entity::find()
            .filter(zones::Column::Id.is_in(chunk.to_vec()))
            .lock_exclusive()
            .all(conn)
            .await?
        {
            current.insert(row.id, row);
        }
    }
    let mut plan = ZonePlan::default();
    let mut restore = Restore::default();
    for (id, target) in targets {
        let now = current.get(id);
        match (now, target) {
            (Some(_), None) => plan.request.delete.push(*id),
            (None, None) => {}
            (now, Some(value)) => {
                let (mut spec, backend) = stored_zone(value)?;
                if let Some(backend) = backend {
                    restore.backends.insert(*id, backend);
                    if let (Some(entry), BackendSpec::Named { name, .. }) =
                        (catalog.get(Some(backend)), &mut spec.backend)
                    {
                        name.clone_from(&entry.name);
                    }
                }
                match now {
                    None => {
                        restore.create_ids.push(*id);
                        plan.request.create.push(spec);
                    }
                    Some(row) => {
                        let same = super::zones::full_view(row, &catalog).spec == spec
                            && row.named_backend_id == backend;
                        if !same {
                            plan.update_ids.push(*id);
                            plan.request.update.push(BulkUpdate {
                                id: *id,
                                zone: spec,
                            });
                        }
                    }
                }
            }
        }
    }
    plan.request.restore = Some(restore);
    Ok(plan)
}

/// `create[3].hostname` → `zones[<id>].hostname`: a rollback's problems name the zone.
fn zone_field(field: &str, plan: &ZonePlan) -> String {
    let create_ids = plan
        .request
        .restore
        .as_ref()
        .map(|r| r.create_ids.as_slice())
        .unwrap_or_default();
    let parse = |rest: &str, ids: &[Uuid]| -> Option<String> {
        let (n, tail) = rest.split_once(']')?;
        let id = ids.get(n.parse::<usize>().ok()?)?;
        let tail = tail.strip_prefix(".zone").unwrap_or(tail);
        Some(format!("zones[{id}]{tail}"))
    };
    field
        .strip_prefix("create[")
        .and_then(|rest| parse(rest, create_ids))
        .or_else(|| {
            field
                .strip_prefix("update[")
                .and_then(|rest| parse(rest, &plan.update_ids))
        })
        .or_else(|| {
            field
                .strip_prefix("delete[")
                .and_then(|rest| parse(rest, &plan.request.delete))
        })
        .unwrap_or_else(|| field.to_owned())
}

fn rollback_error(e: ApiError, to: i64, plan: &ZonePlan) -> ApiError {
    let renamed = |details: Vec<FieldError>| -> Vec<FieldError> {
        details
            .into_iter()
            .map(|d| FieldError {
                field: zone_field(&d.field, plan),
                problem: d.problem,
            })
            .collect()
    };
    match e {
        ApiError::Invalid { details, .. } => ApiError::Invalid {
            message: format!(
                "the state of revision {to} cannot be restored as things are now; nothing \
                 was changed — see details"
            ),
            details: renamed(details),
        },
        ApiError::Conflict { message, details } => ApiError::Conflict {
            message,
            details: renamed(details),
        },
        other => other,
    }
}

/// `POST /api/v1/zones/{id}/rollback`: restores one zone to its state right after
/// revision `to` — re-created with its id if it was deleted since, deleted if it did not
/// exist yet, replaced otherwise — through the bulk write path, as one change with its
/// own revision. Needs an edit grant on the zone's domain (now and then): 404 for a zone
/// the caller cannot read, 403 for one they can read but not change.
pub async fn rollback_zone(
    state: &Stores,
    principal: &Principal,
    actor: &Actor,
    zone_id: Uuid,
    to: i64,
    dry_run: bool,
) -> Result<Diff, ApiError> {
    let txn = state.db.begin().await?;
    let domains = zone_domains(&txn, zone_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let readable = principal.domains(Level::Read);
    if !domains.iter().any(|d| readable.contains(*d)) {
        return Err(ApiError::NotFound);
    }
    ensure_kept(&txn, to).await?;
    let targets = states_at(&txn, to, Kind::Zone, Some(zone_id)).await?;
    // The domain it lies in now and the one it would lie in again must both be the
    // caller's to edit.
    let editable = principal.domains(Level::Edit);
    let mut involved = match zones::Entity::find_by_id(zone_id).one(&txn).await? {
        Some(row) => vec![row.domain_id],
        None => Vec::new(),
    };
    if let Some(Some(target)) = targets.get(&zone_id)
        && let Some(domain) = target
            .get("domain_id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Uuid>().ok())
    {
        involved.push(domain);
    }
    if let Some(denied) = involved.iter().find(|d| !editable.contains(**d)) {
        return Err(ApiError::Forbidden(format!(
            "you may read this zone but not change it: rolling it back needs an edit grant \
             on its domain ({denied})"
        )));
    }
    let plan = plan_zones(&txn, &targets).await?;
    if plan.is_empty() {
        // Already as it was: nothing to write, no revision.
        let written = super::zones::finish(state, txn, Default::default(), dry_run).await?;
        return Ok(Diff {
            dry_run,
            ..Default::default()
        }
        .written(written));
    }
    let (mut diff, pending, touched) =
        super::zones::bulk_apply(state, &txn, principal, actor, plan_request(&plan), dry_run)
            .await
            .map_err(|e| rollback_error(e, to, &plan))?;
    diff.revision = record(&txn, actor, "zone.rollback", Some(to), touched).await?;
    let written = super::zones::finish(state, txn, pending, dry_run).await?;
    Ok(diff.written(written))
}

/// The plan's bulk request, by value (the plan keeps its own for naming problems).
fn plan_request(plan: &ZonePlan) -> BulkRequest {
    BulkRequest {
        create: plan.request.create.clone(),
        update: plan
            .request
            .update
            .iter()
            .map(|u| BulkUpdate {
                id: u.id,
                zone: u.zone.clone(),
            })
            .collect(),
        delete: plan.request.delete.clone(),
        restore: plan.request.restore.clone(),
    }
}

/// A named backend a rollback changed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BackendChange {
    pub id: Uuid,
    pub before: NamedBackendView,
    pub after: NamedBackendView,
}

/// What a configuration rollback does to named backends.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct BackendChanges {
    /// Re-created, with the id they had.
    pub created: Vec<NamedBackendView>,
    /// Name or template restored (their zones re-rendered).
    pub changed: Vec<BackendChange>,
    pub deleted: Vec<NamedBackendView>,
}

/// A domain a configuration rollback leaves as it is, and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeptDomain {
    pub domain: DomainView,
    pub reason: String,
}

/// What a configuration rollback does to domains: it re-creates those deleted since
/// (with a new certificate order: the old key is gone) and never deletes one — a
/// domain's certificate and grants are not routing, and zones in it are rolled back
/// anyway.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct DomainChanges {
    pub created: Vec<DomainView>,
    pub kept: Vec<KeptDomain>,
}

/// `POST /api/v1/rollback`: every difference between now and the state right after
/// `to_revision`. The zones' part has the fields of a bulk write's diff (with the
/// Redis records of a dry run, the version and commit time of a real one).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigDiff {
    pub to_revision: i64,
    #[serde(flatten)]
    pub zones: Diff,
    pub named_backends: BackendChanges,
    pub domains: DomainChanges,
}

fn backend_view(value: &Value) -> Result<NamedBackendView, ApiError> {
    serde_json::from_value(value.clone()).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!(
            "a recorded named backend does not read back: {e}"
        ))
    })
}

fn domain_view(value: &Value) -> Result<DomainView, ApiError> {
    serde_json::from_value(value.clone()).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!("a recorded domain does not read back: {e}"))
    })
}

fn backend_audit<'a>(
    action: &'a str,
    before: Option<&NamedBackendView>,
    after: Option<&NamedBackendView>,
    id: Uuid,
) -> AuditEntry<'a> {
    AuditEntry {
        action,
        resource_type: "named_backend",
        resource_id: id.to_string(),
        before: before.map(to_json),
        after: after.map(to_json),
    }
}

/// `POST /api/v1/rollback` (admins): restores the routing configuration — zones, named
/// backends, domains as far as they are restorable (see [`DomainChanges`]) — to its
/// state right after revision `to`, as one change: named backends restored first,
/// then the zones through the bulk write path, then the named backends that did not
/// exist yet deleted; every zone a restored template re-renders is rewritten in the
/// same Redis write. All or nothing; a dry run answers every difference.
pub async fn rollback_all(
    state: &Stores,
    principal: &Principal,
    actor: &Actor,
    to: i64,
    dry_run: bool,
) -> Result<ConfigDiff, ApiError> {
    authorize(principal, Need::Admin)?;
    let txn = state.db.begin().await?;
    ensure_kept(&txn, to).await?;
    let mut touched: Vec<Touched> = Vec::new();
    let mut problems: Vec<FieldError> = Vec::new();

    // Domains: re-create those deleted since; keep the rest.
    let mut domains_out = DomainChanges::default();
    for (id, target) in states_at(&txn, to, Kind::Domain, None).await? {
        let now = domain_rows::Entity::find_by_id(id).one(&txn).await?;
        match (now, target) {
            (None, Some(value)) => {
                let was = domain_view(&value)?;
                let credential = match was.dns_credential_id {
                    Some(c) => dns_credentials::Entity::find_by_id(c)
                        .one(&txn)
                        .await?
                        .map(|c| c.id),
                    None => None,
                };
                match super::domains::reinsert(
                    &txn,
                    actor,
                    id,
                    was.name.clone(),
                    credential,
                    was.certificates,
                    "domain.rollback",
                )
                .await
                {
                    Ok(view) => {
                        touched.push(Touched::domain(None, Some(&view)));
                        domains_out.created.push(view);
                    }
                    Err(ApiError::Conflict { .. }) => problems.push(FieldError {
                        field: format!("domains[{id}]"),
                        problem: format!(
                            "\"{}\" cannot be re-created: another domain of that name exists now",
                            was.name
                        ),
                    }),
                    Err(e) => return Err(e),
                }
            }
            (Some(row), None) => domains_out.kept.push(KeptDomain {
                domain: row.into(),
                reason: format!(
                    "created after revision {to}; a rollback does not delete domains (their \
                     certificate and grants are not routing): its zones are rolled back"
                ),
            }),
            (Some(row), Some(value)) => {
                let view = DomainView::from(row);
                let was = domain_view(&value)?;
                if view.dns_credential_id != was.dns_credential_id
                    || view.certificates != was.certificates
                {
                    domains_out.kept.push(KeptDomain {
                        domain: view,
                        reason: "its DNS credential or certificate choice changed since; a \
                                 rollback leaves them as they are"
                            .into(),
                    });
                }
            }
            (None, None) => {}
        }
    }

    // Named backends: re-create and restore now, delete after the zones.
    let mut backends_out = BackendChanges::default();
    let mut to_delete: Vec<NamedBackendView> = Vec::new();
    let mut rerender: Vec<(Uuid, Option<NamedBackendView>)> = Vec::new();
    for (id, target) in states_at(&txn, to, Kind::NamedBackend, None).await? {
        let now = backend_rows::Entity::find_by_id(id)
            .lock_exclusive()
            .one(&txn)
            .await?;
        let now_view = now.clone().map(super::named_backends::view_of);
        match (now, target) {
            (None, None) => {}
            (Some(_), None) => to_delete.extend(now_view),
            (None, Some(value)) => {
                let was = backend_view(&value)?;
                if let Some(owner) = was.owner_user_id
                    && users::Entity::find_by_id(owner).one(&txn).await?.is_none()
                {
                    problems.push(FieldError {
                        field: format!("named_backends[{id}]"),
                        problem: format!(
                            "\"{}\" cannot be re-created: its owner's account no longer exists",
                            was.name
                        ),
                    });
                    continue;
                }
                let row = backend_rows::ActiveModel {
                    id: Set(id),
                    name: Set(was.name.clone()),
                    url_template: Set(was.url_template.clone()),
                    owner_user_id: Set(was.owner_user_id),
                    created_at: Set(was.created_at),
                    updated_at: Set(OffsetDateTime::now_utc()),
                };
                match row.insert(&txn).await {
                    Ok(row) => {
                        let view = super::named_backends::view_of(row);
                        super::audit(
                            &txn,
                            actor,
                            backend_audit("named_backend.rollback", None, Some(&view), id),
                        )
                        .await?;
                        touched.push(Touched::named_backend(None, Some(&view)));
                        backends_out.created.push(view);
                    }
                    Err(e) if super::unique_violation(&e).is_some() => problems.push(FieldError {
                        field: format!("named_backends[{id}]"),
                        problem: format!(
                            "\"{}\" cannot be re-created: another named backend of that name \
                             exists now",
                            was.name
                        ),
                    }),
                    Err(e) => return Err(e.into()),
                }
            }
            (Some(row), Some(value)) => {
                let was = backend_view(&value)?;
                if row.name == was.name && row.url_template == was.url_template {
                    continue;
                }
                let before = now_view.expect("a row has a view");
                let mut active: backend_rows::ActiveModel = row.into();
                active.name = Set(was.name.clone());
                active.url_template = Set(was.url_template.clone());
                active.updated_at = Set(OffsetDateTime::now_utc());
                match active.update(&txn).await {
                    Ok(row) => {
                        let after = super::named_backends::view_of(row);
                        super::audit(
                            &txn,
                            actor,
                            backend_audit(
                                "named_backend.rollback",
                                Some(&before),
                                Some(&after),
                                id,
                            ),
                        )
                        .await?;
                        touched.push(Touched::named_backend(Some(&before), Some(&after)));
                        rerender.push((id, Some(before.clone())));
                        backends_out
                            .changed
                            .push(BackendChange { id, before, after });
                    }
                    Err(e) if super::unique_violation(&e).is_some() => problems.push(FieldError {
                        field: format!("named_backends[{id}]"),
                        problem: format!(
                            "cannot be renamed back to \"{}\": another named backend of that \
                             name exists now",
                            was.name
                        ),
                    }),
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid {
            message: format!(
                "the state of revision {to} cannot be restored as things are now; nothing was \
                 changed — see details"
            ),
            details: problems,
        });
    }

    // Zones, through the bulk write path.
    let zone_targets = states_at(&txn, to, Kind::Zone, None).await?;
    let plan = plan_zones(&txn, &zone_targets).await?;
    let (mut diff, mut pending) = if plan.is_empty() {
        (
            Diff {
                dry_run,
                ..Default::default()
            },
            sync::Pending::default(),
        )
    } else {
        let (diff, pending, zones_touched) =
            super::zones::bulk_apply(state, &txn, principal, actor, plan_request(&plan), dry_run)
                .await
                .map_err(|e| rollback_error(e, to, &plan))?;
        touched.extend(zones_touched);
        (diff, pending)
    };

    // Named backends that did not exist yet: no zone may use them any more.
    for view in to_delete {
        let used = zones::Entity::find()
            .filter(zones::Column::NamedBackendId.eq(view.id))
            .count(&txn)
            .await?;
        if used > 0 {
            return Err(ApiError::Conflict {
                message: format!(
                    "named backend \"{}\" did not exist at revision {to} but {used} zone(s) \
                     use it still, which history does not account for; nothing was changed",
                    view.name
                ),
                details: vec![],
            });
        }
        backend_rows::Entity::delete_by_id(view.id)
            .exec(&txn)
            .await?;
        super::audit(
            &txn,
            actor,
            backend_audit("named_backend.rollback", Some(&view), None, view.id),
        )
        .await?;
        touched.push(Touched::named_backend(Some(&view), None));
        backends_out.deleted.push(view);
    }

    // Every zone a restored template re-renders (those the bulk did not write anyway).
    let written_zones: HashSet<Uuid> = touched
        .iter()
        .filter(|t| t.kind == Kind::Zone)
        .map(|t| t.id)
        .collect();
    let catalog = Catalog::load(&txn).await?;
    let mut hosts = Vec::new();
    for (id, before) in rerender {
        let old_entry = before.as_ref().and_then(|b| {
            switchyard_shared::UrlTemplate::parse(&b.url_template)
                .ok()
                .map(|template| super::named_backends::Entry {
                    id,
                    name: b.name.clone(),
                    template,
                    owner_user_id: b.owner_user_id,
                })
        });
        let new_entry = catalog.get(Some(id));
        for row in zones::Entity::find()
            .filter(zones::Column::NamedBackendId.eq(id))
            .all(&txn)
            .await?
        {
            hosts.push(row.hostname.clone());
            if written_zones.contains(&row.id) {
                continue;
            }
            let after_url = super::named_backends::rendered_url(&row, new_entry).map_err(|e| {
                ApiError::Invalid {
                    message: format!(
                        "the state of revision {to} cannot be restored as things are now; \
                         nothing was changed — see details"
                    ),
                    details: e
                        .errors
                        .into_iter()
                        .map(|f| FieldError {
                            field: format!("zones[{}].{}", row.id, f.field),
                            problem: f.problem,
                        })
                        .collect(),
                }
            })?;
            let before_url = super::named_backends::rendered_url(&row, old_entry.as_ref())
                .ok()
                .flatten();
            touched.push(Touched::zone_rerendered(
                &super::zones::full_view_with(&row, old_entry.as_ref()),
                before_url.as_deref(),
                &super::zones::full_view_with(&row, new_entry),
                &after_url.unwrap_or_default(),
            ));
        }
    }
    if !hosts.is_empty() {
        pending.merge(sync::enqueue(&txn, hosts).await?);
    }
    diff.revision = record(&txn, actor, "rollback", Some(to), touched).await?;
    let written = super::zones::finish(state, txn, pending, dry_run).await?;
    Ok(ConfigDiff {
        to_revision: to,
        zones: diff.written(written),
        named_backends: backends_out,
        domains: domains_out,
    })
}

// ---------------------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------------------

/// How often the pruning task runs: revisions age by days, so hourly is plenty and costs
/// one indexed delete.
pub const PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3_600);

/// Deletes the revisions older than `days` except the newest `keep_min`, oldest first,
/// so that what is kept is always every revision from some number on (a rollback to a
/// kept revision sees all that came after it). Returns how many were deleted.
pub async fn prune(
    conn: &impl ConnectionTrait,
    now: OffsetDateTime,
    days: u32,
    keep_min: u32,
) -> Result<u64, DbErr> {
    let cutoff = now - time::Duration::days(i64::from(days));
    let result = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            // Kept: every revision from the first young enough, and the newest
            // `keep_min` — whichever reaches further back. Below that, all go.
            "WITH bounds AS (SELECT \
               COALESCE((SELECT min(number) FROM revisions WHERE at >= $1), \
                        9223372036854775807) AS by_age, \
               CASE WHEN $2 = 0 THEN 9223372036854775807 \
                    ELSE COALESCE((SELECT number FROM revisions ORDER BY number DESC \
                                   OFFSET $2 - 1 LIMIT 1), 0) END AS by_count) \
             DELETE FROM revisions \
             WHERE number < (SELECT LEAST(by_age, by_count) FROM bounds)",
            [cutoff.into(), i64::from(keep_min).into()],
        ))
        .await?;
    Ok(result.rows_affected())
}

/// Prunes at start and every [`PRUNE_INTERVAL`] until aborted; failures are logged and
/// retried on the next round.
pub fn spawn_pruning(state: Stores, retention: RetentionArgs) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(PRUNE_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match prune(
                &state.db,
                OffsetDateTime::now_utc(),
                retention.revision_retention_days,
                retention.revision_keep_min,
            )
            .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(revisions = n, "pruned revisions past retention"),
                Err(e) => tracing::warn!(error = %e, "pruning revisions failed; will retry"),
            }
        }
    })
}
