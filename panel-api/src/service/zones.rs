//! Zones: one row per hostname pattern + path prefix, validated with
//! [`ZoneSpec::validate`], written with their audit and outbox rows in one transaction,
//! then written through to Redis (see [`super::sync`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait as _, LikeExpr},
};
use serde::{Deserialize, Serialize};
use switchyard_shared::HostPattern;
use switchyard_shared::model::{BackendSpec, FieldError, Timeouts, UpstreamSpec, ZoneSpec};
use switchyard_shared::policy::Policies;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Stores;
use super::degraded::Found;
use super::named_backends::{Catalog, Entry, Names};
use super::revisions::{self, Touched};
use super::{Actor, AuditEntry, ListQuery, Page, audit, bounded_count, domains, format_gate, sync};
use crate::access::{Level, Need, Principal, Scope, authorize};
use crate::entity::{audit_log, zones};
use crate::error::ApiError;

/// A zone as the API shows it: its spec plus identity and times.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ZoneView {
    pub id: Uuid,
    pub domain_id: Uuid,
    /// The named backend a `{"kind":"named"}` zone uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_backend_id: Option<Uuid>,
    #[serde(flatten)]
    pub spec: ZoneSpec,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// What a write did — or, with `dry_run`, would do: zones created, changed (before →
/// after) and deleted. A dry run runs every check and every statement of the real
/// write, then rolls the transaction back, so its answer is exactly what the write
/// would apply, and nothing reaches PostgreSQL or Redis.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Diff {
    pub dry_run: bool,
    pub created: Vec<ZoneView>,
    pub changed: Vec<Change>,
    pub deleted: Vec<ZoneView>,
    /// An import only: the named backends it created (before the zones using them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub named_backends_created: Vec<super::named_backends::NamedBackendView>,
    /// Every other row the write creates, changes or deletes — a domain, its certificate,
    /// a user, grants, keys, DNS credentials — as its audit record summarises it (never a
    /// secret); absent when there is none (a write of zones alone). The dry run of every
    /// write that is not a zone write answers this [`Diff`] with its `changes`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<super::write::Effect>,
    /// An import only: the users it created. They have no usable password (a document
    /// never carries one): an admin sets one for each (`PATCH /users/{id}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users_created: Vec<super::users::UserView>,
    /// The global Redis version the write produced: a proxy at this version or later
    /// serves it. `null` for a dry run, or when Redis did not answer: the change is
    /// committed and queued, and reaches Redis once it is back.
    pub version: Option<u64>,
    /// When the change was committed to PostgreSQL (the panel's clock); `null` for a
    /// dry run. A proxy's `applied_at` minus this is how long it took to go live.
    #[serde(with = "time::serde::rfc3339::option")]
    pub committed_at: Option<OffsetDateTime>,
    /// A dry run only (empty otherwise): per hostname the write touches, its Redis record
    /// now and the exact record the write would write (the JSON the proxies read), by
    /// hostname.
    pub records: Vec<sync::RecordChange>,
    /// The revision this change recorded (`GET /api/v1/revisions/{number}`); `null` for
    /// a dry run or a change that changed nothing.
    pub revision: Option<i64>,
}

impl Diff {
    /// The diff with what the write reports; a dry run reports no revision (its number
    /// was rolled back with it).
    pub fn written(self, written: Written) -> Self {
        Diff {
            version: written.version,
            committed_at: written.committed_at,
            records: written.records,
            revision: if self.dry_run { None } else { self.revision },
            ..self
        }
    }
}

/// What a committed write reports about itself: see [`Diff::version`] and
/// [`Diff::committed_at`]; both `None` for a dry run, which has [`Diff::records`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Written {
    pub version: Option<u64>,
    pub committed_at: Option<OffsetDateTime>,
    pub records: Vec<sync::RecordChange>,
}

/// A zone as `POST /zones` and `PUT /zones/{id}` answer it: as stored, with the Redis
/// version the write produced and its commit time.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ZoneWritten {
    pub id: Uuid,
    pub domain_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_backend_id: Option<Uuid>,
    #[serde(flatten)]
    pub spec: ZoneSpec,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The global Redis version the write produced; `null` when Redis did not answer
    /// and the change is queued (it reaches Redis once Redis is back).
    pub version: Option<u64>,
    /// When the change was committed to PostgreSQL (the panel's clock).
    #[serde(with = "time::serde::rfc3339")]
    pub committed_at: OffsetDateTime,
}

impl ZoneWritten {
    pub fn new(view: ZoneView, version: Option<u64>, committed_at: OffsetDateTime) -> Self {
        ZoneWritten {
            id: view.id,
            domain_id: view.domain_id,
            named_backend_id: view.named_backend_id,
            spec: view.spec,
            created_at: view.created_at,
            updated_at: view.updated_at,
            version,
            committed_at,
        }
    }
}

/// One changed zone.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Change {
    pub id: Uuid,
    pub before: ZoneView,
    pub after: ZoneView,
}

/// Commits and writes through, or — for a dry run — rolls back.
pub(crate) async fn finish(
    state: &Stores,
    txn: DatabaseTransaction,
    pending: sync::Pending,
    dry_run: bool,
) -> Result<Written, ApiError> {
    if dry_run {
        let records = sync::preview(&state.db, &txn, state.store.keys(), &pending).await?;
        txn.rollback().await?;
        return Ok(Written {
            records,
            ..Written::default()
        });
    }
    let commit = tracing::info_span!(
        target: switchyard_shared::telemetry::TARGET,
        "postgres commit",
        "db.system" = "postgresql"
    );
    tracing::Instrument::instrument(txn.commit(), commit).await?;
    let committed_at = OffsetDateTime::now_utc();
    let version = sync::write_through(state, pending).await;
    Ok(Written {
        version,
        committed_at: Some(committed_at),
        records: Vec::new(),
    })
}

/// The spec a stored row was made from (the inverse of [`row_fields`]), with a named
/// backend's current name from `catalog`.
pub fn spec_of(row: &zones::Model, catalog: &Catalog) -> ZoneSpec {
    spec_with(row, catalog.get(row.named_backend_id))
}

/// [`spec_of`] with the zone's named backend given (`None`: not found, or none). Rows are
/// only written by `row_fields` and CHECKs pin the JSON columns' shapes, so the fallbacks
/// to empty lists are for hand-edited rows, which re-validation then reports.
pub fn spec_with(row: &zones::Model, named: Option<&Entry>) -> ZoneSpec {
    let backend = match row.backend_kind.as_str() {
        "upstreams" => BackendSpec::Upstreams {
            upstreams: serde_json::from_value::<Vec<UpstreamSpec>>(row.upstreams.clone())
                .unwrap_or_default(),
        },
        "named" => BackendSpec::Named {
            // A vanished backend (impossible through the foreign key) renders as
            // "does not exist" and keeps the zone out of Redis.
            name: named.map_or_else(|| "(missing)".to_owned(), |e| e.name.clone()),
            params: serde_json::from_value::<BTreeMap<String, String>>(row.template_params.clone())
                .unwrap_or_default(),
        },
        _ => BackendSpec::None,
    };
    ZoneSpec {
        hostname: row.hostname.clone(),
        path_prefix: row.path_prefix.clone(),
        backend,
        force_https: row.force_https,
        preserve_host: row.preserve_host,
        allow: serde_json::from_value(row.allow_cidrs.clone()).unwrap_or_default(),
        timeouts: Timeouts {
            connect_ms: row.connect_timeout_ms.and_then(|v| u32::try_from(v).ok()),
            read_ms: row.read_timeout_ms.and_then(|v| u32::try_from(v).ok()),
            idle_ms: row.idle_timeout_ms.and_then(|v| u32::try_from(v).ok()),
            total_ms: row.total_timeout_ms.and_then(|v| u32::try_from(v).ok()),
        },
        // A row whose policies cannot be read shows none here; [`sync::render`] keeps
        // it out of Redis rather than publish the route without them.
        policies: stored_policies(row).unwrap_or_default(),
        matching: serde_json::from_value(row.conditions.clone()).unwrap_or_default(),
    }
}

/// The row's policies as stored (normalised by [`check_with`]: hashes, never passwords).
/// An error only for a row edited outside the panel.
pub fn stored_policies(row: &zones::Model) -> Result<Policies, serde_json::Error> {
    serde_json::from_value(row.policies.clone())
}

/// A spec as the API shows it (every [`ZoneView`], so every answer and audit row):
/// basic-auth users by username only ([`Policies::redacted`]). Only the Redis record
/// and the admin export ([`spec_of`]) keep hashes.
pub fn shown(spec: ZoneSpec) -> ZoneSpec {
    ZoneSpec {
        policies: spec.policies.redacted(),
        ..spec
    }
}

fn view_of(row: zones::Model, catalog: &Catalog) -> ZoneView {
    ZoneView {
        spec: shown(spec_of(&row, catalog)),
        ..full_view(&row, catalog)
    }
}

/// A zone as [`ZoneView`] with basic-auth hashes kept: what a revision stores, so that a
/// rollback restores the passwords. Never an answer as it is ([`revisions`] redacts).
pub fn full_view(row: &zones::Model, catalog: &Catalog) -> ZoneView {
    full_view_with(row, catalog.get(row.named_backend_id))
}

/// [`full_view`] with the zone's named backend given (e.g. as it was before a change).
pub fn full_view_with(row: &zones::Model, named: Option<&Entry>) -> ZoneView {
    ZoneView {
        id: row.id,
        domain_id: row.domain_id,
        named_backend_id: row.named_backend_id,
        spec: spec_with(row, named),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// `GET /api/v1/zones`: a page, optionally only one domain's zones or those of one
/// named backend; `q` searches the hostname.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ZoneListQuery {
    /// Zones per page, 1–500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// Zones to skip, 0–1,000,000,000; 0 when absent (`after` is cheaper).
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<u64>,
    /// Substring of the hostname, case-insensitive; at most 256 characters.
    #[param(max_length = 256)]
    pub q: Option<String>,
    /// The `next` of the previous page: this page starts after it. Costs the same at
    /// any depth (an index range scan), where `offset` walks every skipped row.
    #[param(max_length = 8192)]
    pub after: Option<String>,
    pub domain_id: Option<Uuid>,
    pub named_backend_id: Option<Uuid>,
}

/// Where a keyset page of zones starts: after this (hostname, path prefix, match key),
/// the list's order. On the wire it is opaque: URL-safe base64 of
/// `hostname \n path_prefix \n match_key` (none may hold a line break: the key is JSON,
/// which escapes them). A cursor of the two-part form earlier versions made still reads,
/// as "after the zone without conditions".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneCursor {
    pub hostname: String,
    pub path_prefix: String,
    pub match_key: String,
}

impl ZoneCursor {
    pub fn of(row: &zones::Model) -> Self {
        Self {
            hostname: row.hostname.clone(),
            path_prefix: row.path_prefix.clone(),
            match_key: row.match_key.clone(),
        }
    }

    pub fn encode(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "{}\n{}\n{}",
            self.hostname, self.path_prefix, self.match_key
        ))
    }

    /// Reads `after=`; anything not made by [`ZoneCursor::encode`] is refused naming
    /// the field.
    pub fn decode(text: &str) -> Result<Self, ApiError> {
        use base64::Engine as _;
        let refuse = || {
            let shown: String = text.chars().take(64).collect();
            ApiError::invalid_field(
                "after",
                format!(
                    "{shown:?} is not a page cursor: pass the `next` value of the previous \
                     page unchanged"
                ),
            )
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| refuse())?;
        let text = String::from_utf8(bytes).map_err(|_| refuse())?;
        // The panel never makes a cursor with a NUL, and PostgreSQL refuses one.
        if text.contains('\0') {
            return Err(refuse());
        }
        let (hostname, rest) = text.split_once('\n').ok_or_else(refuse)?;
        let (path_prefix, match_key) = rest.split_once('\n').unwrap_or((rest, ""));
        if hostname.is_empty()
            || !(path_prefix.is_empty() || path_prefix.starts_with('/'))
            || !(match_key.is_empty() || match_key.starts_with('{'))
        {
            return Err(refuse());
        }
        Ok(ZoneCursor {
            hostname: hostname.to_owned(),
            path_prefix: path_prefix.to_owned(),
            match_key: match_key.to_owned(),
        })
    }
}

impl ZoneListQuery {
    /// The decoded `after`, if one was given.
    pub fn cursor(&self) -> Result<Option<ZoneCursor>, ApiError> {
        self.after.as_deref().map(ZoneCursor::decode).transpose()
    }

    pub fn page(&self) -> ListQuery {
        ListQuery {
            limit: self.limit,
            offset: self.offset,
            q: self.q.clone(),
        }
    }
}

/// A validated spec, normalised: what is stored.
struct Checked {
    spec: ZoneSpec,
    domain_id: Uuid,
    named_backend_id: Option<Uuid>,
}

/// Validates a spec completely — shape, values, and that the hostname lies within an
/// existing domain — and reports every problem at once.
async fn check(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    zone_id: Uuid,
    spec: ZoneSpec,
    names: &Names<'_>,
) -> Result<Checked, ApiError> {
    let domain = match HostPattern::parse(&spec.hostname) {
        Ok(host) => domains::containing(conn, host.as_str()).await?,
        Err(_) => None,
    };
    let hostname = spec.hostname.clone();
    check_with(principal, zone_id, spec, |_| domain.map(|d| d.id), names).map_err(|details| {
        ApiError::Invalid {
            message: format!(
                "zone \"{}\" is invalid; see details",
                hostname.escape_debug()
            ),
            details,
        }
    })
}

/// The checks of [`check`] with the containing domain found by `domain_of` (the most
/// specific domain the normalised hostname lies within, editable or not).
///
/// A `{"kind":"named"}` backend's name is resolved in `names` (the caller's own, then
/// shared with them, then presets; a zone's current backend keeps its name's meaning).
fn check_with(
    principal: &Principal,
    zone_id: Uuid,
    spec: ZoneSpec,
    domain_of: impl FnOnce(&str) -> Option<Uuid>,
    names: &Names<'_>,
) -> Result<Checked, Vec<FieldError>> {
    let validated = spec.validate("zone", &zone_id.to_string(), names);
    let (mut errors, host) = match &validated {
        Ok(valid) => (Vec::new(), Some(valid.host.clone())),
        Err(e) => (e.errors.clone(), HostPattern::parse(&spec.hostname).ok()),
    };
    let mut named_backend_id = None;
    if let BackendSpec::Named { name, .. } = &spec.backend {
        match names.resolve(name) {
            Ok(entry) => named_backend_id = Some(entry.id),
            // "does not exist" is already reported by validation, with the list.
            Err(problem) if problem.contains("ambiguous") => errors.push(FieldError {
                field: "backend.name".into(),
                problem,
            }),
            Err(_) => {}
        }
    }
    let mut domain_id = None;
    if let Some(host) = &host {
        // A domain the caller may not edit answers like no domain at all, so that
        // probing hostnames does not reveal other tenants' domains.
        match domain_of(host.as_str()) {
            Some(id) if principal.domains(Level::Edit).contains(id) => domain_id = Some(id),
            _ => errors.push(FieldError {
                field: "hostname".into(),
                problem: format!(
                    "\"{host}\" lies within no domain you may edit; it must equal such a \
                     domain or end in .<domain> (an admin creates domains and grants them)"
                ),
            }),
        }
    }
    match (validated, domain_id) {
        (Ok(valid), Some(domain_id)) if errors.is_empty() => Ok(Checked {
            // Stored normalised, so lookups and the Redis key agree; the policies as
            // validation normalised them (header names lower-cased, a basic-auth
            // password replaced by its argon2id hash): the spec's own may hold a
            // password in clear, which must reach no row, record, answer or log.
            spec: ZoneSpec {
                hostname: valid.host.as_str().to_owned(),
                path_prefix: valid.route.path_prefix.as_str().to_owned(),
                policies: valid.route.policies.map(|p| *p).unwrap_or_default(),
                matching: valid.route.matching.map(|m| *m).unwrap_or_default(),
                ..spec
            },
            domain_id,
            named_backend_id,
        }),
        _ => Err(errors),
    }
}

/// An update's basic-auth users given by username only (neither `hash` nor `password`)
/// keep the hash the zone being updated stores for that username; answers never show
/// hashes, so this is how a client keeps a password it does not change.
pub fn keep_stored_hashes(spec: &mut ZoneSpec, stored: &zones::Model) {
    if let Ok(old) = stored_policies(stored) {
        spec.policies.keep_stored_hashes(&old);
    }
}

/// Fills the row's columns from a checked spec.
fn row_fields(row: &mut zones::ActiveModel, checked: &Checked) {
    let spec = &checked.spec;
    let (kind, upstreams, params) = match &spec.backend {
        BackendSpec::None => ("none", serde_json::json!([]), serde_json::json!({})),
        BackendSpec::Upstreams { upstreams } => (
            "upstreams",
            serde_json::to_value(upstreams).unwrap_or_else(|_| serde_json::json!([])),
            serde_json::json!({}),
        ),
        BackendSpec::Named { params, .. } => (
            "named",
            serde_json::json!([]),
            serde_json::to_value(params).unwrap_or_else(|_| serde_json::json!({})),
        ),
    };
    row.named_backend_id = Set(checked.named_backend_id);
    row.template_params = Set(params);
    row.domain_id = Set(checked.domain_id);
    row.hostname = Set(spec.hostname.clone());
    row.path_prefix = Set(spec.path_prefix.clone());
    row.backend_kind = Set(kind.to_owned());
    row.upstreams = Set(upstreams);
    row.force_https = Set(spec.force_https);
    row.preserve_host = Set(spec.preserve_host);
    row.allow_cidrs = Set(serde_json::json!(spec.allow));
    // Validation bounds every timeout far below i32::MAX.
    row.connect_timeout_ms = Set(spec.timeouts.connect_ms.map(|v| v as i32));
    row.read_timeout_ms = Set(spec.timeouts.read_ms.map(|v| v as i32));
    row.idle_timeout_ms = Set(spec.timeouts.idle_ms.map(|v| v as i32));
    row.total_timeout_ms = Set(spec.timeouts.total_ms.map(|v| v as i32));
    // Normalised by `check_with`: hashes only (`password` is never serialised either).
    row.policies =
        Set(serde_json::to_value(&spec.policies).unwrap_or_else(|_| serde_json::json!({})));
    row.conditions =
        Set(serde_json::to_value(&spec.matching).unwrap_or_else(|_| serde_json::json!({})));
    row.match_key = Set(spec.matching.key());
}

/// How a zone's identity reads in messages: hostname, path prefix and, when it has
/// some, its match conditions.
pub fn identity(spec: &ZoneSpec) -> String {
    let mut text = format!(
        "\"{}\" with path prefix \"{}\"",
        spec.hostname, spec.path_prefix
    );
    if !spec.matching.is_empty() {
        text.push_str(&format!(" and match {}", spec.matching.key()));
    }
    text
}

/// A zone's identity: (hostname, path prefix, match key), unique among zones. The spec
/// must be normalised (as [`check`] returns it).
pub fn key_of(spec: &ZoneSpec) -> (String, String, String) {
    (
        spec.hostname.clone(),
        spec.path_prefix.clone(),
        spec.matching.key(),
    )
}

fn conflict(spec: &ZoneSpec, e: sea_orm::DbErr) -> ApiError {
    match super::unique_violation(&e) {
        Some(_) => ApiError::Conflict {
            message: format!("a zone for {} already exists", identity(spec)),
            details: vec![FieldError {
                field: "path_prefix".into(),
                problem: "this hostname already has a zone with this path prefix and these match conditions".into(),
            }],
        },
        None => gone_meanwhile(e),
    }
}

/// A zone written while its domain or named backend was being deleted (the foreign key
/// refuses it once that commits): 409, nothing changed.
fn gone_meanwhile(e: sea_orm::DbErr) -> ApiError {
    match e.sql_err() {
        Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => ApiError::Conflict {
            message: "the zone's domain or named backend was deleted meanwhile; nothing was \
                      changed"
                .into(),
            details: vec![],
        },
        _ => e.into(),
    }
}

fn summary(view: &ZoneView) -> serde_json::Value {
    serde_json::to_value(view).unwrap_or(serde_json::Value::Null)
}

pub async fn create(
    state: &Stores,
    principal: &Principal,
    actor: &Actor,
    spec: ZoneSpec,
    dry_run: bool,
) -> Result<Diff, ApiError> {
    let id = Uuid::new_v4();
    let txn = state.db.begin().await?;
    let catalog = Catalog::load(&txn).await?;
    let checked = check(&txn, principal, id, spec, &catalog.names_for(principal)).await?;
    let (needed, field) = format_gate::needed(&checked.spec);
    format_gate::check(state, needed, field).await?;
    let mut row = zones::ActiveModel {
        id: Set(id),
        ..Default::default()
    };
    row_fields(&mut row, &checked);
    let inserted = row
        .insert(&txn)
        .await
        .map_err(|e| conflict(&checked.spec, e))?;
    let full = full_view(&inserted, &catalog);
    let view = view_of(inserted, &catalog);
    audit(
        &txn,
        actor,
        AuditEntry {
            action: "zone.create",
            resource_type: "zone",
            resource_id: id.to_string(),
            before: None,
            after: Some(summary(&view)),
        },
    )
    .await?;
    let revision = revisions::record(
        &txn,
        actor,
        "zone.create",
        None,
        vec![Touched::zone(None, Some(&full))],
    )
    .await?;
    let pending = sync::enqueue(&txn, [view.spec.hostname.clone()]).await?;
    let written = finish(state, txn, pending, dry_run).await?;
    Ok(Diff {
        dry_run,
        created: vec![view],
        revision,
        ..Default::default()
    }
    .written(written))
}

/// `GET /zones/{id}`: the zone, or while PostgreSQL is down, the zone as Redis holds it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ZoneRead {
    Zone(ZoneView),
    Degraded(super::degraded::DegradedZone),
}

/// `GET /zones`: a page of zones, or while PostgreSQL is down, of zones from Redis.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ZonePage {
    Page(Page<ZoneView>),
    Degraded(super::degraded::DegradedPage<super::degraded::DegradedZone>),
}

/// One zone the caller may read ([`get`]); while PostgreSQL is down, what the proxies
/// serve, from Redis, marked degraded.
pub async fn read(state: &Stores, principal: &Principal, id: Uuid) -> Result<ZoneRead, ApiError> {
    let found = super::degraded::or_degraded(state, get(&state.db, principal, id), || {
        super::degraded::zone(state, principal, id)
    })
    .await?;
    Ok(match found {
        Found::Stored(zone) => ZoneRead::Zone(zone),
        Found::Degraded(zone) => ZoneRead::Degraded(zone),
    })
}

/// A page of the zones the caller may read ([`list`]); while PostgreSQL is down, from
/// Redis, marked degraded.
pub async fn list_or_degraded(
    state: &Stores,
    principal: &Principal,
    query: &ZoneListQuery,
) -> Result<ZonePage, ApiError> {
    let after = query.cursor()?;
    let found = super::degraded::or_degraded(state, list(&state.db, principal, query), || async {
        let page = query.page();
        super::degraded::zone_list(state, principal, &page, after.as_ref(), query.domain_id)
            .await
            .map(Some)
    })
    .await?;
    Ok(match found {
        Found::Stored(page) => ZonePage::Page(page),
        Found::Degraded(page) => ZonePage::Degraded(page),
    })
}

/// One zone the caller may read.
pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: Uuid,
) -> Result<ZoneView, ApiError> {
    let row = zones::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize(principal, Need::Domain(row.domain_id, Level::Read))?;
    Ok(view_of(row, &Catalog::load(db).await?))
}

/// The zones of the domains the caller may read; `q` searches the hostname.
pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    query: &ZoneListQuery,
) -> Result<Page<ZoneView>, ApiError> {
    let mut select = zones::Entity::find();
    if let Scope::Only(ids) = principal.domains(Level::Read) {
        select = select.filter(zones::Column::DomainId.is_in(ids));
    }
    if let Some(id) = query.domain_id {
        select = select.filter(zones::Column::DomainId.eq(id));
    }
    if let Some(id) = query.named_backend_id {
        select = select.filter(zones::Column::NamedBackendId.eq(id));
    }
    let cursor = query.cursor()?;
    let query = &query.page();
    if let Some(pattern) = query.like_pattern() {
        select = select
            .filter(Expr::col(zones::Column::Hostname).like(LikeExpr::new(pattern).escape('\\')));
    }
    let count = bounded_count(select.clone(), db).await?;
    if let Some(after) = &cursor {
        // Row comparison: PostgreSQL starts the unique index's range scan at the cursor.
        select = select.filter(
            Expr::tuple([
                Expr::col(zones::Column::Hostname),
                Expr::col(zones::Column::PathPrefix),
                Expr::col(zones::Column::MatchKey),
            ])
            .gt(Expr::tuple([
                Expr::val(after.hostname.as_str()),
                Expr::val(after.path_prefix.as_str()),
                Expr::val(after.match_key.as_str()),
            ])),
        );
    }
    // (hostname, path prefix, match key) is unique, so this order is total and is
    // exactly the unique index's: a page is an index range scan, not a sort of every
    // row. One row more than the page tells whether there is a next page.
    let mut rows = select
        .order_by_asc(zones::Column::Hostname)
        .order_by_asc(zones::Column::PathPrefix)
        .order_by_asc(zones::Column::MatchKey)
        .limit(query.limit() + 1)
        .offset(query.offset())
        .all(db)
        .await?;
    let more = rows.len() as u64 > query.limit();
    rows.truncate(query.limit() as usize);
    let next = more
        .then(|| rows.last())
        .flatten()
        .map(|last| ZoneCursor::of(last).encode());
    let catalog = Catalog::load(db).await?;
    let items = rows.into_iter().map(|r| view_of(r, &catalog)).collect();
    Ok(Page {
        next,
        ..Page::new(items, count, query)
    })
}

pub async fn update(
    state: &Stores,
    principal: &Principal,
    actor: &Actor,
    id: Uuid,
    mut spec: ZoneSpec,
    dry_run: bool,
) -> Result<Diff, ApiError> {
    let txn = state.db.begin().await?;
    // Locked so that two concurrent updates apply one after the other.
    let existing = zones::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize(principal, Need::Domain(existing.domain_id, Level::Edit))?;
    keep_stored_hashes(&mut spec, &existing);
    let catalog = Catalog::load(&txn).await?;
    let names = catalog
        .names_for(principal)
        .keeping(catalog.get(existing.named_backend_id));
    let checked = check(&txn, principal, id, spec, &names).await?;
    let (needed, field) = format_gate::needed(&checked.spec);
    format_gate::check(state, needed, field).await?;
    let before = view_of(existing.clone(), &catalog);
    let full_before = full_view(&existing, &catalog);
    let mut row: zones::ActiveModel = existing.into();
    row_fields(&mut row, &checked);
    row.updated_at = Set(OffsetDateTime::now_utc());
    let updated = row
        .update(&txn)
        .await
        .map_err(|e| conflict(&checked.spec, e))?;
    let full_after = full_view(&updated, &catalog);
    let after = view_of(updated, &catalog);
    let revision = revisions::record(
        &txn,
        actor,
        "zone.update",
        None,
        vec![Touched::zone(Some(&full_before), Some(&full_after))],
    )
    .await?;
    audit(
        &txn,
        actor,
        AuditEntry {
            action: "zone.update",
            resource_type: "zone",
            resource_id: id.to_string(),
            before: Some(summary(&before)),
            after: Some(summary(&after)),
        },
    )
    .await?;
    let pending = sync::enqueue(
        &txn,
        [before.spec.hostname.clone(), after.spec.hostname.clone()],
    )
    .await?;
    let written = finish(state, txn, pending, dry_run).await?;
    Ok(Diff {
        dry_run,
        changed: vec![Change { id, before, after }],
        revision,
        ..Default::default()
    }
    .written(written))
}

pub async fn delete(
    state: &Stores,
    principal: &Principal,
    actor: &Actor,
    id: Uuid,
    dry_run: bool,
) -> Result<Diff, ApiError> {
    let txn = state.db.begin().await?;
    let existing = zones::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize(principal, Need::Domain(existing.domain_id, Level::Edit))?;
    let catalog = Catalog::load(&txn).await?;
    let (deleted, touched) =
        delete_rows(&txn, actor, vec![existing], &catalog, "zone.delete").await?;
    let revision = revisions::record(&txn, actor, "zone.delete", None, touched).await?;
    let pending = sync::enqueue(&txn, hostnames_of(&deleted)).await?;
    let written = finish(state, txn, pending, dry_run).await?;
    Ok(Diff {
        dry_run,
        deleted,
        revision,
        ..Default::default()
    }
    .written(written))
}

/// The one way zones are deleted (a zone, a bulk request's deletes, a domain's zones):
/// the rows, locked by the caller, go on `txn` with an `action` audit record each
/// (`zone.delete`, or `zone.rollback`), in multi-row statements; answers them as views,
/// and as the records the caller's revision notes. The caller enqueues their hostnames
/// ([`hostnames_of`]) and finishes the write.
pub(crate) async fn delete_rows(
    txn: &DatabaseTransaction,
    actor: &Actor,
    rows: Vec<zones::Model>,
    catalog: &Catalog,
    action: &str,
) -> Result<(Vec<ZoneView>, Vec<Touched>), ApiError> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        zones::Entity::delete_many()
            .filter(zones::Column::Id.is_in(chunk.iter().map(|r| r.id)))
            .exec(txn)
            .await?;
    }
    // For the revision: each zone as it was, with its basic-auth hashes.
    let touched: Vec<Touched> = rows
        .iter()
        .map(|r| Touched::zone(Some(&full_view(r, catalog)), None))
        .collect();
    let views: Vec<ZoneView> = rows.into_iter().map(|r| view_of(r, catalog)).collect();
    // 11 columns per audit row.
    for chunk in views.chunks(INSERT_CHUNK * 2) {
        audit_log::Entity::insert_many(
            chunk
                .iter()
                .map(|view| audit_row(actor, action, view.id, Some(summary(view)), None)),
        )
        .exec_without_returning(txn)
        .await?;
    }
    Ok((views, touched))
}

/// The hostnames of these zones, to enqueue for Redis.
pub(crate) fn hostnames_of(views: &[ZoneView]) -> Vec<String> {
    views.iter().map(|v| v.spec.hostname.clone()).collect()
}

/// Most items one bulk request may carry: 10,000-zone imports fit twice over, and the
/// request stays well inside the body limit and one transaction's comfort zone.
pub const MAX_BULK_ITEMS: usize = 20_000;
/// Rows per multi-row INSERT: 17 columns × 2,000 rows stays far below PostgreSQL's
/// 65,535 bind parameters per statement.
pub const INSERT_CHUNK: usize = 2_000;

/// `POST /api/v1/zones/bulk` body. Applied all together or not at all.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    #[serde(default)]
    pub create: Vec<ZoneSpec>,
    #[serde(default)]
    pub update: Vec<BulkUpdate>,
    #[serde(default)]
    pub delete: Vec<Uuid>,
    /// A rollback's restoring write (never read from a request).
    #[serde(skip)]
    pub restore: Option<Restore>,
}

/// What a rollback adds to a bulk write: the zones it re-creates keep the ids they had
/// (so their history goes on), and every zone keeps the named backend it had by id,
/// whatever the name means to the caller now.
#[derive(Debug, Default, Clone)]
pub struct Restore {
    /// The id of each `create` item, by position.
    pub create_ids: Vec<Uuid>,
    /// Zone id → the named backend it must use.
    pub backends: HashMap<Uuid, Uuid>,
}

/// One replacement in a bulk request: the zone's id and its full new spec.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkUpdate {
    pub id: Uuid,
    pub zone: ZoneSpec,
}

fn item_error(errors: &mut Vec<FieldError>, at: String, e: FieldError) {
    errors.push(FieldError {
        field: format!("{at}.{}", e.field),
        problem: e.problem,
    });
}

/// Creates, replaces and deletes many zones in one transaction: every item is checked
/// first and every problem reported with its position (`create[3].hostname`); if any
/// item fails, nothing changes. Rows, audit records and outbox rows are written with
/// multi-row statements, and Redis gets one write for the whole batch.
pub async fn bulk(
    state: &Stores,
    principal: &Principal,
    actor: &Actor,
    request: BulkRequest,
    dry_run: bool,
) -> Result<Diff, ApiError> {
    let txn = state.db.begin().await?;
    bulk_in(
        state,
        txn,
        principal,
        actor,
        request,
        "zone.bulk",
        Vec::new(),
        dry_run,
    )
    .await
}

/// [`bulk`] on a transaction the caller opened (an import creates named backends in it
/// first, and passes what it changed there as `earlier`): records the whole change as
/// one revision named `action`, then commits, or rolls back for a dry run or on any
/// problem.
#[expect(
    clippy::too_many_arguments,
    reason = "one write's context, passed through"
)]
pub async fn bulk_in(
    state: &Stores,
    txn: DatabaseTransaction,
    principal: &Principal,
    actor: &Actor,
    request: BulkRequest,
    action: &str,
    mut earlier: Vec<Touched>,
    dry_run: bool,
) -> Result<Diff, ApiError> {
    let (mut diff, pending, touched) =
        bulk_apply(state, &txn, principal, actor, request, dry_run).await?;
    earlier.extend(touched);
    diff.revision = revisions::record(&txn, actor, action, None, earlier).await?;
    let written = finish(state, txn, pending, dry_run).await?;
    Ok(diff.written(written))
}

/// The statements of a bulk write on `txn`, neither recorded as a revision nor
/// committed: the diff, the hostnames Redis owes, and the records it touched (for
/// [`revisions::record`]). Callers finish with [`finish`].
pub async fn bulk_apply(
    state: &Stores,
    txn: &DatabaseTransaction,
    principal: &Principal,
    actor: &Actor,
    mut request: BulkRequest,
    dry_run: bool,
) -> Result<(Diff, sync::Pending, Vec<Touched>), ApiError> {
    let restoring = request.restore.is_some();
    let restore = request.restore.take().unwrap_or_default();
    // What a restored zone's named backend name means: the backend it had, by id.
    let pinned = |id: Uuid| restore.backends.get(&id).copied();
    let items = request.create.len() + request.update.len() + request.delete.len();
    if items == 0 || items > MAX_BULK_ITEMS {
        return Err(ApiError::invalid_field(
            "create",
            format!(
                "give 1–{MAX_BULK_ITEMS} items in create, update and delete together (got {items})"
            ),
        ));
    }
    let mut errors = Vec::new();
    let catalog = Catalog::load(txn).await?;
    let names = catalog.names_for(principal);

    // Every domain by name, once: the containing domain of each hostname is then a few
    // hash lookups (the name and each of its parent suffixes), not a query per item.
    let domain_ids: HashMap<String, Uuid> = super::domains::all_names(txn).await?;
    let domain_of = |host: &str| -> Option<Uuid> {
        let mut rest = host;
        loop {
            if let Some(id) = domain_ids.get(rest) {
                return Some(*id);
            }
            rest = rest.split_once('.')?.1;
        }
    };

    // The rows being replaced or deleted, locked for the rest of the transaction.
    let touched: Vec<Uuid> = request
        .update
        .iter()
        .map(|u| u.id)
        .chain(request.delete.iter().copied())
        .collect();
    let mut existing: HashMap<Uuid, zones::Model> = HashMap::new();
    for chunk in touched.chunks(INSERT_CHUNK) {
        for row in zones::Entity::find()
            .filter(zones::Column::Id.is_in(chunk.to_vec()))
            .lock_exclusive()
            .all(txn)
            .await?
        {
            existing.insert(row.id, row);
        }
    }
    let editable = principal.domains(Level::Edit);
    let mut seen_ids = HashSet::new();
    let mut own = |at: String, id: Uuid, errors: &mut Vec<FieldError>| -> Option<zones::Model> {
        if !seen_ids.insert(id) {
            errors.push(FieldError {
                field: at,
                problem: format!("zone {id} appears more than once in this request"),
            });
            return None;
        }
        match existing.get(&id) {
            Some(row) if editable.contains(row.domain_id) => Some(row.clone()),
            // Someone else's zone reads like no zone at all.
            _ => {
                errors.push(FieldError {
                    field: at,
                    problem: format!("no zone {id} exists that you may edit"),
                });
                None
            }
        }
    };

    let now = OffsetDateTime::now_utc();
    // Each with its position in the request, for error messages.
    let mut creates: Vec<(usize, Uuid, Checked)> = Vec::with_capacity(request.create.len());
    for (i, spec) in request.create.into_iter().enumerate() {
        let id = restore
            .create_ids
            .get(i)
            .copied()
            .unwrap_or_else(Uuid::new_v4);
        let names = names.keeping(catalog.get(pinned(id)));
        match check_with(principal, id, spec, domain_of, &names) {
            Ok(checked) => creates.push((i, id, checked)),
            Err(es) => es
                .into_iter()
                .for_each(|e| item_error(&mut errors, format!("create[{i}]"), e)),
        }
    }
    let mut updates: Vec<(usize, zones::Model, Checked)> = Vec::with_capacity(request.update.len());
    for (i, mut item) in request.update.into_iter().enumerate() {
        let before = own(format!("update[{i}].id"), item.id, &mut errors);
        if let Some(before) = &before {
            keep_stored_hashes(&mut item.zone, before);
        }
        let names = names.keeping(
            pinned(item.id)
                .and_then(|id| catalog.get(Some(id)))
                .or_else(|| {
                    before
                        .as_ref()
                        .and_then(|b| catalog.get(b.named_backend_id))
                }),
        );
        match (
            before,
            check_with(principal, item.id, item.zone, domain_of, &names),
        ) {
            (Some(before), Ok(checked)) => updates.push((i, before, checked)),
            (_, Err(es)) => es
                .into_iter()
                .for_each(|e| item_error(&mut errors, format!("update[{i}].zone"), e)),
            (None, Ok(_)) => {}
        }
    }
    let mut deletes: Vec<zones::Model> = Vec::with_capacity(request.delete.len());
    for (i, id) in request.delete.iter().enumerate() {
        if let Some(row) = own(format!("delete[{i}]"), *id, &mut errors) {
            deletes.push(row);
        }
    }

    // (hostname, path prefix, match key) must stay unique: among the new keys, and
    // against the rows that stay (neither replaced nor deleted).
    let mut claimed: HashMap<(String, String, String), String> = HashMap::new();
    let new_keys = creates
        .iter()
        .map(|(i, _, c)| (format!("create[{i}].path_prefix"), &c.spec))
        .chain(
            updates
                .iter()
                .map(|(i, _, c)| (format!("update[{i}].zone.path_prefix"), &c.spec)),
        );
    for (at, spec) in new_keys {
        if let Some(first) = claimed.insert(key_of(spec), at.clone()) {
            errors.push(FieldError {
                field: at,
                problem: format!("{} is also given at {first}", identity(spec)),
            });
        }
    }
    let hostnames: Vec<String> = claimed
        .keys()
        .map(|(h, _, _)| h.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    for chunk in hostnames.chunks(INSERT_CHUNK) {
        let staying = zones::Entity::find()
            .filter(zones::Column::Hostname.is_in(chunk.to_vec()))
            .all(txn)
            .await?;
        for row in staying.into_iter().filter(|r| !seen_ids.contains(&r.id)) {
            let key = (
                row.hostname.clone(),
                row.path_prefix.clone(),
                row.match_key.clone(),
            );
            if let Some(at) = claimed.get(&key) {
                errors.push(FieldError {
                    field: at.clone(),
                    problem: format!(
                        "a zone for {} already exists ({})",
                        identity(&spec_of(&row, &catalog)),
                        row.id
                    ),
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid {
            message: format!(
                "{} problem(s) in the bulk request; nothing was changed — see details",
                errors.len()
            ),
            details: errors,
        });
    }
    // The highest data format an item's record needs, asked for once, naming the first
    // item that needs it.
    let writes = || {
        let creates = creates.iter().map(|(i, _, c)| (*i, "create", &c.spec));
        let updates = updates.iter().map(|(i, _, c)| (*i, "update", &c.spec));
        creates.chain(updates)
    };
    let needed = writes()
        .map(|(_, _, spec)| format_gate::needed(spec).0)
        .max()
        .unwrap_or(1);
    if let Some((i, kind, field)) = writes().find_map(|(i, kind, spec)| {
        let (format, field) = format_gate::needed(spec);
        (format == needed).then_some((i, kind, field))
    }) {
        let at = match kind {
            "create" => format!("create[{i}].{field}"),
            _ => format!("update[{i}].zone.{field}"),
        };
        format_gate::check(state, needed, &at).await?;
    }

    let mut diff = Diff {
        dry_run,
        ..Default::default()
    };
    let mut audits: Vec<audit_log::ActiveModel> = Vec::with_capacity(items);
    let mut touched_hosts: Vec<String> = Vec::with_capacity(items);
    let mut touched: Vec<Touched> = Vec::with_capacity(items);
    // A rollback's items are audited as what they are.
    let (create_action, update_action, delete_action) = if restoring {
        ("zone.rollback", "zone.rollback", "zone.rollback")
    } else {
        ("zone.create", "zone.update", "zone.delete")
    };

    // Deletes first, so a batch may move a (hostname, path) from one zone to another.
    let (deleted, gone) = delete_rows(txn, actor, deletes, &catalog, delete_action).await?;
    touched.extend(gone);
    touched_hosts.extend(hostnames_of(&deleted));
    diff.deleted = deleted;
    for (_, before, checked) in updates {
        let full_before = full_view(&before, &catalog);
        let before_view = view_of(before.clone(), &catalog);
        let mut row: zones::ActiveModel = before.into();
        row_fields(&mut row, &checked);
        row.updated_at = Set(now);
        let updated = row
            .update(txn)
            .await
            .map_err(|e| conflict(&checked.spec, e))?;
        touched.push(Touched::zone(
            Some(&full_before),
            Some(&full_view(&updated, &catalog)),
        ));
        let after = view_of(updated, &catalog);
        audits.push(audit_row(
            actor,
            update_action,
            after.id,
            Some(summary(&before_view)),
            Some(summary(&after)),
        ));
        touched_hosts.push(before_view.spec.hostname.clone());
        touched_hosts.push(after.spec.hostname.clone());
        diff.changed.push(Change {
            id: after.id,
            before: before_view,
            after,
        });
    }
    let mut rows = Vec::with_capacity(creates.len());
    for (_, id, checked) in &creates {
        let mut row = zones::ActiveModel {
            id: Set(*id),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        row_fields(&mut row, checked);
        let full = ZoneView {
            id: *id,
            domain_id: checked.domain_id,
            named_backend_id: checked.named_backend_id,
            spec: checked.spec.clone(),
            created_at: now,
            updated_at: now,
        };
        touched.push(Touched::zone(None, Some(&full)));
        let view = ZoneView {
            spec: shown(full.spec),
            ..full
        };
        audits.push(audit_row(
            actor,
            create_action,
            *id,
            None,
            Some(summary(&view)),
        ));
        touched_hosts.push(view.spec.hostname.clone());
        diff.created.push(view);
        rows.push(row);
    }
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(INSERT_CHUNK));
        zones::Entity::insert_many(std::mem::replace(&mut rows, rest))
            .exec_without_returning(txn)
            .await
            .map_err(|e| match super::unique_violation(&e) {
                Some(_) => ApiError::Conflict {
                    message: "another request created one of these zones meanwhile; nothing \
                              was changed, retry"
                        .into(),
                    details: vec![],
                },
                None => gone_meanwhile(e),
            })?;
    }
    // 11 columns per audit row.
    while !audits.is_empty() {
        let rest = audits.split_off(audits.len().min(INSERT_CHUNK * 2));
        audit_log::Entity::insert_many(std::mem::replace(&mut audits, rest))
            .exec_without_returning(txn)
            .await?;
    }
    let pending = sync::enqueue(txn, touched_hosts).await?;
    Ok((diff, pending, touched))
}

/// An audit row for [`bulk`], written with the others in one statement.
fn audit_row(
    actor: &Actor,
    action: &str,
    id: Uuid,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> audit_log::ActiveModel {
    audit_log::ActiveModel {
        actor_user_id: Set(actor.user_id),
        actor_label: Set(actor.label.clone()),
        action: Set(action.to_owned()),
        resource_type: Set("zone".to_owned()),
        resource_id: Set(id.to_string()),
        before: Set(before),
        after: Set(after),
        source_addr: Set(actor.source_addr.clone()),
        request_id: Set(actor.request_id.clone()),
        ..Default::default()
    }
}
