//! Named backends: a URL template defined once (`http://{first_label}.svc.internal:{port}`)
//! and referenced by zones, which give the template's parameters. Presets belong to no
//! one (admins make them, everyone may use them); custom ones belong to their owner, who
//! may share them with grants.
//!
//! Zones store the backend's id; the rendered URL is what reaches Redis. Changing a
//! backend's template therefore re-renders every zone that uses it: each one is checked
//! against the new template first (one that no longer renders refuses the change, and
//! nothing is written), then all their hostnames are rebuilt in one [`super::sync`] write,
//! i.e. one Redis transaction and one version bump.

use std::collections::{BTreeMap, HashMap};

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait as _, LikeExpr},
};
use serde::{Deserialize, Serialize};
use switchyard_shared::UrlTemplate;
use switchyard_shared::model::{FieldError, NamedBackends};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Stores;
use super::revisions::{self, Touched};
use super::{
    Actor, AuditEntry, ListQuery, Page, audit, bounded_count, sync, zones as zone_service,
};
use crate::access::{Level, Need, Principal, Scope, authorize};
use crate::entity::{named_backends, zones};
use crate::error::ApiError;

/// Longest template accepted; a URL longer than this is a mistake.
pub const MAX_TEMPLATE_LEN: usize = 2_048;

/// A named backend as loaded for rendering: its template parsed once.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: Uuid,
    pub name: String,
    pub template: UrlTemplate,
    pub owner_user_id: Option<Uuid>,
}

/// Every named backend by id, loaded once per write, rebuild or reconciliation. The
/// table holds templates, not zones, so it stays small next to the zones it serves.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    by_id: HashMap<Uuid, Entry>,
}

impl Catalog {
    pub async fn load(conn: &impl ConnectionTrait) -> Result<Catalog, sea_orm::DbErr> {
        let mut by_id = HashMap::new();
        for row in named_backends::Entity::find().all(conn).await? {
            match UrlTemplate::parse(&row.url_template) {
                Ok(template) => {
                    by_id.insert(
                        row.id,
                        Entry {
                            id: row.id,
                            name: row.name,
                            template,
                            owner_user_id: row.owner_user_id,
                        },
                    );
                }
                // Only possible for a row edited outside the panel; its zones then fail
                // rendering and stay out of Redis, with their own log line.
                Err(e) => {
                    tracing::error!(named_backend = %row.id, error = %e, "stored named backend has an invalid template")
                }
            }
        }
        Ok(Catalog { by_id })
    }

    /// Every backend, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.by_id.values()
    }

    pub fn get(&self, id: Option<Uuid>) -> Option<&Entry> {
        self.by_id.get(&id?)
    }

    /// The names `principal` may reference in a zone, each resolved to one backend:
    /// their own first, then those granted to them (read is enough), then presets. A
    /// name two granted backends share stays unresolved, with both owners named.
    pub fn names_for(&self, principal: &Principal) -> Names<'_> {
        let rank = |e: &Entry| -> Option<u8> {
            match e.owner_user_id {
                Some(owner) if owner == principal.user_id => Some(0),
                None => Some(2),
                Some(_) if principal.is_admin() => None,
                Some(_) => principal
                    .named_backends(Level::Read)
                    .contains(e.id)
                    .then_some(1),
            }
        };
        let mut by_name: BTreeMap<&str, (u8, Vec<&Entry>)> = BTreeMap::new();
        for entry in self.by_id.values() {
            let Some(r) = rank(entry) else { continue };
            let slot = by_name
                .entry(entry.name.as_str())
                .or_insert((r, Vec::new()));
            if r < slot.0 {
                *slot = (r, vec![entry]);
            } else if r == slot.0 {
                slot.1.push(entry);
            }
        }
        Names {
            by_name: by_name.into_iter().map(|(n, (_, es))| (n, es)).collect(),
            keep: None,
        }
    }
}

/// Named backends by name as one caller sees them (see [`Catalog::names_for`]), plus
/// the backend a zone already uses, which its name keeps meaning on an update.
pub struct Names<'a> {
    by_name: BTreeMap<&'a str, Vec<&'a Entry>>,
    keep: Option<&'a Entry>,
}

impl<'a> Names<'a> {
    /// The same names, with `current` (the zone's backend now) winning for its name.
    pub fn keeping(&self, current: Option<&'a Entry>) -> Names<'a> {
        Names {
            by_name: self.by_name.clone(),
            keep: current,
        }
    }

    /// The one backend `name` means here; `Err` names why not.
    pub fn resolve(&self, name: &str) -> Result<&'a Entry, String> {
        if let Some(keep) = self.keep.filter(|k| k.name == name) {
            return Ok(keep);
        }
        match self.by_name.get(name).map(Vec::as_slice) {
            Some([one]) => Ok(one),
            Some(several) if !several.is_empty() => Err(format!(
                "named backend \"{name}\" is ambiguous: {} backends of that name are shared \
                 with you; ask their owners to rename one",
                several.len()
            )),
            _ => Err(format!("named backend \"{name}\" does not exist")),
        }
    }

    /// Whether any backend of this name is visible here (resolvable or ambiguous).
    pub fn knows(&self, name: &str) -> bool {
        self.keep.is_some_and(|k| k.name == name)
            || self.by_name.get(name).is_some_and(|v| !v.is_empty())
    }
}

impl NamedBackends for Names<'_> {
    fn template(&self, name: &str) -> Option<&UrlTemplate> {
        self.resolve(name).ok().map(|e| &e.template)
    }
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.by_name.keys().map(|n| (*n).to_owned()).collect();
        if let Some(k) = self.keep
            && !names.contains(&k.name)
        {
            names.push(k.name.clone());
            names.sort();
        }
        names
    }
}

/// Exactly one backend (or none), for rendering a stored zone by its backend id.
pub struct One<'a>(pub Option<&'a Entry>);

impl NamedBackends for One<'_> {
    fn template(&self, name: &str) -> Option<&UrlTemplate> {
        self.0.filter(|e| e.name == name).map(|e| &e.template)
    }
    fn names(&self) -> Vec<String> {
        self.0.iter().map(|e| e.name.clone()).collect()
    }
}

/// A named backend as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NamedBackendView {
    pub id: Uuid,
    pub name: String,
    pub url_template: String,
    /// The parameters a zone must give (besides the built-in `{host}`, `{first_label}`).
    pub parameters: Vec<String>,
    /// An admin preset, usable by everyone.
    pub preset: bool,
    pub owner_user_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

pub(crate) fn view_of(row: named_backends::Model) -> NamedBackendView {
    let parameters = UrlTemplate::parse(&row.url_template)
        .map(|t| t.parameters())
        .unwrap_or_default();
    NamedBackendView {
        id: row.id,
        name: row.name,
        url_template: row.url_template,
        parameters,
        preset: row.owner_user_id.is_none(),
        owner_user_id: row.owner_user_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// `POST /api/v1/named-backends`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNamedBackend {
    /// 1–63 characters of a–z, 0–9, `-` and `_`, starting with a letter or digit.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,62}$")]
    pub name: String,
    pub url_template: String,
    /// Admins only: a preset everyone may use (otherwise the caller's own backend).
    #[serde(default)]
    pub preset: bool,
}

/// `PUT /api/v1/named-backends/{id}`: the new name and template.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedBackendUpdate {
    /// As in [`NewNamedBackend::name`].
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,62}$")]
    pub name: String,
    pub url_template: String,
}

/// A zone a template change re-renders: its upstream URL before and after.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rerendered {
    pub id: Uuid,
    pub hostname: String,
    pub path_prefix: String,
    pub before: Option<String>,
    pub after: String,
}

/// What a named-backend write did, or with `dry_run` would do.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BackendDiff {
    pub dry_run: bool,
    pub before: Option<NamedBackendView>,
    pub after: Option<NamedBackendView>,
    /// Every zone whose routing the change re-renders.
    pub zones: Vec<Rerendered>,
    /// The global Redis version the write produced (for a change that touches no zone,
    /// the version Redis held after it); `null` for a dry run, or when Redis did not
    /// answer and the change is queued.
    pub version: Option<u64>,
    /// When the change was committed to PostgreSQL (the panel's clock); `null` for a
    /// dry run.
    #[serde(with = "time::serde::rfc3339::option")]
    pub committed_at: Option<OffsetDateTime>,
    /// A dry run only (empty otherwise): the Redis record of every hostname re-rendered,
    /// now and as the change would write it.
    pub records: Vec<sync::RecordChange>,
}

/// Checks a name and template; every problem, each naming its field and value.
fn check_fields(name: &str, template: &str) -> Result<UrlTemplate, ApiError> {
    let mut problems = Vec::new();
    let name_ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !name_ok {
        problems.push(FieldError {
            field: "name".into(),
            problem: format!(
                "\"{}\" is not a valid name: use 1–63 characters of a–z, 0–9, '-' and '_', \
                 starting with a letter or digit",
                name.escape_debug()
            ),
        });
    }
    let parsed = if template.len() > MAX_TEMPLATE_LEN {
        problems.push(FieldError {
            field: "url_template".into(),
            problem: format!(
                "is {} characters long; at most {MAX_TEMPLATE_LEN} are allowed",
                template.len()
            ),
        });
        None
    } else {
        match UrlTemplate::parse(template) {
            Ok(t) => Some(t),
            Err(e) => {
                problems.push(FieldError {
                    field: "url_template".into(),
                    problem: e.to_string(),
                });
                None
            }
        }
    };
    match parsed {
        Some(t) if problems.is_empty() => Ok(t),
        _ => Err(ApiError::Invalid {
            message: "the named backend is invalid; nothing was changed — see details".into(),
            details: problems,
        }),
    }
}

fn conflict(name: &str, preset: bool, e: sea_orm::DbErr) -> ApiError {
    match super::unique_violation(&e) {
        Some(_) => ApiError::Conflict {
            message: format!(
                "a {} named backend \"{name}\" already exists",
                if preset { "preset" } else { "custom" }
            ),
            details: vec![FieldError {
                field: "name".into(),
                problem: if preset {
                    "this name is taken among the presets".into()
                } else {
                    "you already have a named backend of this name".into()
                },
            }],
        },
        None => e.into(),
    }
}

fn summary(view: &NamedBackendView) -> serde_json::Value {
    serde_json::to_value(view).unwrap_or(serde_json::Value::Null)
}

pub async fn create(
    state: &Stores,
    principal: &Principal,
    actor: &Actor,
    input: NewNamedBackend,
    dry_run: bool,
) -> Result<BackendDiff, ApiError> {
    let txn = state.db.begin().await?;
    let view = insert(&txn, principal, actor, input).await?;
    revisions::record(
        &txn,
        actor,
        "named_backend.create",
        None,
        vec![Touched::named_backend(None, Some(&view))],
    )
    .await?;
    let written = zone_service::finish(state, txn, Default::default(), dry_run).await?;
    Ok(BackendDiff {
        dry_run,
        before: None,
        after: Some(view),
        zones: Vec::new(),
        version: written.version,
        committed_at: written.committed_at,
        records: written.records,
    })
}

/// Checks and inserts one named backend with its audit row on `txn` (a new backend has
/// no zones yet, so nothing reaches Redis). Problems name `name`, `url_template`, `preset`.
/// The caller records the revision (with whatever else its change does).
pub async fn insert(
    txn: &DatabaseTransaction,
    principal: &Principal,
    actor: &Actor,
    input: NewNamedBackend,
) -> Result<NamedBackendView, ApiError> {
    if input.preset {
        authorize(principal, Need::Admin).map_err(|_| {
            ApiError::invalid_field(
                "preset",
                "only admins create presets; leave out \"preset\" for a backend of your own",
            )
        })?;
    }
    check_fields(&input.name, &input.url_template)?;
    let now = OffsetDateTime::now_utc();
    let row = named_backends::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(input.name.clone()),
        url_template: Set(input.url_template),
        owner_user_id: Set((!input.preset).then_some(principal.user_id)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await
    .map_err(|e| conflict(&input.name, input.preset, e))?;
    let view = view_of(row);
    audit(
        txn,
        actor,
        AuditEntry {
            action: "named_backend.create",
            resource_type: "named_backend",
            resource_id: view.id.to_string(),
            before: None,
            after: Some(summary(&view)),
        },
    )
    .await?;
    Ok(view)
}

/// The named backends the caller may read: presets, their own, those granted to them.
fn visible(principal: &Principal) -> Condition {
    match principal.named_backends(Level::Read) {
        Scope::All => Condition::all(),
        Scope::Only(ids) => Condition::any()
            .add(named_backends::Column::OwnerUserId.is_null())
            .add(named_backends::Column::OwnerUserId.eq(principal.user_id))
            .add(named_backends::Column::Id.is_in(ids)),
    }
}

pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    query: &ListQuery,
) -> Result<Page<NamedBackendView>, ApiError> {
    let mut select = named_backends::Entity::find().filter(visible(principal));
    if let Some(pattern) = query.like_pattern() {
        select = select.filter(
            Expr::col(named_backends::Column::Name).like(LikeExpr::new(pattern).escape('\\')),
        );
    }
    let count = bounded_count(select.clone(), db).await?;
    let items = select
        .order_by_asc(named_backends::Column::Name)
        .order_by_asc(named_backends::Column::Id)
        .limit(query.limit())
        .offset(query.offset())
        .all(db)
        .await?
        .into_iter()
        .map(view_of)
        .collect();
    Ok(Page::new(items, count, query))
}

async fn find(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    id: Uuid,
    level: Level,
    lock: bool,
) -> Result<named_backends::Model, ApiError> {
    let mut select = named_backends::Entity::find_by_id(id);
    if lock {
        select = select.lock_exclusive();
    }
    let row = select.one(conn).await?.ok_or(ApiError::NotFound)?;
    // Read first, so a backend the caller cannot even see answers 404 like a missing
    // one; one they can see but not change answers 404 too (DESIGN.md, Security).
    authorize(
        principal,
        Need::NamedBackend(row.id, row.owner_user_id, level),
    )?;
    Ok(row)
}

pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: Uuid,
) -> Result<NamedBackendView, ApiError> {
    Ok(view_of(find(db, principal, id, Level::Read, false).await?))
}

/// The upstream URL `entry`'s template makes of a zone row (`None`: the zone has no
/// upstream); `Err` when the zone does not validate with it.
pub fn rendered_url(
    row: &zones::Model,
    entry: Option<&Entry>,
) -> Result<Option<String>, switchyard_shared::model::ValidationErrors> {
    let spec = zone_service::spec_with(row, entry);
    spec.validate("zone", &row.id.to_string(), &One(entry))
        .map(|v| v.route.upstreams.first().map(|u| u.url.as_str().to_owned()))
}

/// Most re-render problems listed in one answer; the message gives the full count.
const MAX_LISTED: usize = 50;

pub async fn update(
    state: &Stores,
    principal: &Principal,
    actor: &Actor,
    id: Uuid,
    input: NamedBackendUpdate,
    dry_run: bool,
) -> Result<BackendDiff, ApiError> {
    let template = check_fields(&input.name, &input.url_template)?;
    let txn = state.db.begin().await?;
    let existing = find(&txn, principal, id, Level::Edit, true).await?;
    let before = view_of(existing.clone());
    let old = UrlTemplate::parse(&existing.url_template).ok();
    let new_entry = Entry {
        id,
        name: input.name.clone(),
        template,
        owner_user_id: existing.owner_user_id,
    };
    // The zones it serves, locked: a zone write waits until this change is in.
    let users = zones::Entity::find()
        .filter(zones::Column::NamedBackendId.eq(id))
        .order_by_asc(zones::Column::Hostname)
        .order_by_asc(zones::Column::PathPrefix)
        .lock_exclusive()
        .all(&txn)
        .await?;
    let old_entry = old.map(|template| Entry {
        template,
        name: existing.name.clone(),
        ..new_entry.clone()
    });
    let mut rerendered = Vec::with_capacity(users.len());
    let mut touched = Vec::with_capacity(users.len() + 1);
    let mut problems = Vec::new();
    let mut failing = 0usize;
    for row in &users {
        let url_with = |entry: Option<&Entry>| rendered_url(row, entry);
        match url_with(Some(&new_entry)) {
            Ok(after) => {
                let before = url_with(old_entry.as_ref()).ok().flatten();
                let after = after.unwrap_or_default();
                touched.push(Touched::zone_rerendered(
                    &zone_service::full_view_with(row, old_entry.as_ref()),
                    before.as_deref(),
                    &zone_service::full_view_with(row, Some(&new_entry)),
                    &after,
                ));
                rerendered.push(Rerendered {
                    id: row.id,
                    hostname: row.hostname.clone(),
                    path_prefix: row.path_prefix.clone(),
                    before,
                    after,
                })
            }
            Err(e) => {
                failing += 1;
                if problems.len() < MAX_LISTED {
                    problems.push(FieldError {
                        field: "url_template".into(),
                        problem: format!(
                            "zone {} (\"{}\" path \"{}\"): {}",
                            row.id,
                            row.hostname,
                            row.path_prefix,
                            e.errors
                                .iter()
                                .map(|f| f.problem.as_str())
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                    });
                }
            }
        }
    }
    if failing > 0 {
        return Err(ApiError::Invalid {
            message: format!(
                "the new template does not render for {failing} of the {} zones that use \
                 \"{}\"; nothing was changed — see details",
                users.len(),
                existing.name
            ),
            details: problems,
        });
    }
    let preset = existing.owner_user_id.is_none();
    let mut row: named_backends::ActiveModel = existing.into();
    row.name = Set(input.name.clone());
    row.url_template = Set(input.url_template);
    row.updated_at = Set(OffsetDateTime::now_utc());
    let after = view_of(
        row.update(&txn)
            .await
            .map_err(|e| conflict(&input.name, preset, e))?,
    );
    let mut after_summary = summary(&after);
    if let Some(obj) = after_summary.as_object_mut() {
        obj.insert("zones_rerendered".into(), rerendered.len().into());
    }
    audit(
        &txn,
        actor,
        AuditEntry {
            action: "named_backend.update",
            resource_type: "named_backend",
            resource_id: id.to_string(),
            before: Some(summary(&before)),
            after: Some(after_summary),
        },
    )
    .await?;
    touched.insert(0, Touched::named_backend(Some(&before), Some(&after)));
    revisions::record(&txn, actor, "named_backend.update", None, touched).await?;
    // Every hostname of every zone using it, rebuilt in one write-through: one
    // ChangeSet, one Redis transaction, one version.
    let pending = sync::enqueue(&txn, users.iter().map(|z| z.hostname.clone())).await?;
    let written = zone_service::finish(state, txn, pending, dry_run).await?;
    Ok(BackendDiff {
        dry_run,
        before: Some(before),
        after: Some(after),
        zones: rerendered,
        version: written.version,
        committed_at: written.committed_at,
        records: written.records,
    })
}

pub async fn delete(
    state: &Stores,
    principal: &Principal,
    actor: &Actor,
    id: Uuid,
    dry_run: bool,
) -> Result<BackendDiff, ApiError> {
    let txn = state.db.begin().await?;
    let existing = find(&txn, principal, id, Level::Edit, true).await?;
    let used = zones::Entity::find()
        .filter(zones::Column::NamedBackendId.eq(id))
        .count(&txn)
        .await?;
    if used > 0 {
        return Err(ApiError::Conflict {
            message: format!(
                "named backend \"{}\" is used by {used} zone(s); point them at another \
                 backend first (GET /api/v1/zones?named_backend_id={id} lists them)",
                existing.name
            ),
            details: vec![],
        });
    }
    let before = view_of(existing);
    named_backends::Entity::delete_by_id(id).exec(&txn).await?;
    audit(
        &txn,
        actor,
        AuditEntry {
            action: "named_backend.delete",
            resource_type: "named_backend",
            resource_id: id.to_string(),
            before: Some(summary(&before)),
            after: None,
        },
    )
    .await?;
    revisions::record(
        &txn,
        actor,
        "named_backend.delete",
        None,
        vec![Touched::named_backend(Some(&before), None)],
    )
    .await?;
    let written = zone_service::finish(state, txn, Default::default(), dry_run).await?;
    Ok(BackendDiff {
        dry_run,
        before: Some(before),
        after: None,
        zones: Vec::new(),
        version: written.version,
        committed_at: written.committed_at,
        records: written.records,
    })
}
