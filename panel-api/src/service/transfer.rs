//! Export and import of the configuration (the caller's slice: the domains and zones
//! they may read, or edit for an import) as one JSON document, from which an admin can
//! rebuild a panel: domains with their DNS credential *by name* (secrets never travel:
//! the credentials are made by hand first), named backends, zones and — on request
//! (`?include=users`, admins) — users and grants (never a password hash or an API key:
//! imported users get no usable password and are reported, for an admin to set one).
//!
//! Format `switchyard-export/2` (what an export writes) has domains as objects and the
//! optional `users` and `grants`; `switchyard-export/1` (still read) has domains as bare
//! names and neither users nor grants. An import applies, in one transaction: users
//! (created when missing), domains (created when missing and the importer is an admin;
//! an existing one is pointed at the document's credential), named backends, grants
//! (created, or given the document's level), then the zones.
//!
//! An import is computed as a bulk write against what exists — zones keyed by hostname
//! and path prefix are created, replaced when they differ, and (with `"replace": true`)
//! deleted when the document no longer has them — and applied with [`zones::bulk`]:
//! all or nothing, with every problem named by its position in the document
//! (`zones[4].hostname`), and `dry_run` answering the diff without changing anything.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, ExprTrait as _, Func},
};
use serde::{Deserialize, Serialize};
use switchyard_shared::HostPattern;
use switchyard_shared::backend::UrlTemplate;
use switchyard_shared::model::{FieldError, PathPrefix, ZoneSpec};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Stores;
use super::named_backends::{self, Catalog, NamedBackendView, NewNamedBackend};
use super::revisions::{self, Touched};
use super::users::{self as user_service, UserView};
use super::write::Write;
use super::zones::{self, BulkRequest, BulkUpdate, Diff, spec_of};
use super::{Actor, AuditEntry, domains};
use crate::access::{Level, Need, Principal, Scope, authorize};
use crate::entity::{dns_credentials, domains as domain_rows, grants, users, zones as zone_rows};
use crate::error::ApiError;

/// The format an export writes.
pub const FORMAT: &str = "switchyard-export/2";
/// The first format (domains as bare names, no users or grants), still imported.
pub const FORMAT_1: &str = "switchyard-export/1";

/// What `GET /api/v1/export` answers and `POST /api/v1/import` takes. Unlike every
/// other answer, its zones keep basic-auth users' `hash` (a panel can be rebuilt from
/// the file, with the same passwords); an import's user by username only keeps the
/// password the replaced zone stores.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub format: String,
    /// Informational; ignored by an import.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub exported_at: Option<OffsetDateTime>,
    /// The apex names the zones live under, with the DNS credential each uses (by name).
    /// An import creates those missing when the importer is an admin, and otherwise
    /// requires each to exist and be editable.
    #[serde(default)]
    pub domains: Vec<DomainEntry>,
    /// The named backends the zones use, and the caller's own; an import creates those
    /// missing (as the importer's own, or presets when marked and imported by an admin).
    #[serde(default)]
    pub named_backends: Vec<BackendEntry>,
    pub zones: Vec<ZoneSpec>,
    /// `?include=users` (admins): every user, never a password hash or key. An import
    /// (admins) creates those missing, with no usable password.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserEntry>,
    /// `?include=users` (admins): every grant, by username and domain or named backend
    /// name. An import (admins) creates those missing and sets the level of those there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<GrantEntry>,
    /// Import only: delete the caller's zones the document does not list.
    #[serde(default, skip_serializing)]
    pub replace: bool,
}

/// A domain in a document: `switchyard-export/2` writes `{"name", "dns_credential"}`;
/// `switchyard-export/1` wrote the bare name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum DomainEntry {
    Domain(DomainSpec),
    Name(String),
}

impl DomainEntry {
    pub fn name(&self) -> &str {
        match self {
            DomainEntry::Domain(d) => &d.name,
            DomainEntry::Name(n) => n,
        }
    }
}

/// A domain of format 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainSpec {
    pub name: String,
    /// The name of its DNS credential (`null`: none). The credential — its secret — is
    /// never in the file: one of that name must exist where an admin imports it.
    /// Absent (a user's export: credentials are admins' business): an import leaves the
    /// domain's credential as it is.
    #[serde(
        default,
        deserialize_with = "super::domains::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub dns_credential: Option<Option<String>>,
    /// How its names get certificates (`wildcard` or `per_host`), written with the
    /// credential (an admin's export). Absent: an import leaves an existing domain's
    /// choice as it is and creates a new one `wildcard`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<domains::CertificateMode>,
}

/// A user in a document: never a password or hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub username: String,
    /// `admin` or `user`.
    #[serde(default = "user_role")]
    pub role: String,
    #[serde(default)]
    pub disabled: bool,
}

fn user_role() -> String {
    "user".into()
}

/// A grant in a document: exactly one of `domain` and `named_backend`, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantEntry {
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Resolved on import as the importer's zones resolve backend names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named_backend: Option<String>,
    /// `read` or `edit`.
    pub level: String,
}

/// `GET /export?include=users`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `users`: add every user and grant (admins only; never passwords or keys).
    #[param(pattern = "^users$")]
    pub include: Option<String>,
}

/// A named backend in a document: referenced by the zones by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackendEntry {
    pub name: String,
    pub url_template: String,
    /// An admin preset (everyone's) rather than someone's own.
    #[serde(default)]
    pub preset: bool,
}

/// The caller's readable domains and zones, ordered by name; with `users`, every user
/// and grant too (admins: the handler checks).
pub async fn export(
    db: &DatabaseConnection,
    principal: &Principal,
    with_users: bool,
) -> Result<Document, ApiError> {
    if with_users {
        // Users and grants are admins' to see, like /users.
        authorize(principal, Need::Admin)?;
    }
    let scope = principal.domains(Level::Read);
    let mut domain_rows_read = domain_rows::Entity::find()
        .order_by_asc(domain_rows::Column::Name)
        .all(db)
        .await?;
    domain_rows_read.retain(|d| scope.contains(d.id));
    let credential_names: HashMap<Uuid, String> = dns_credentials::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let domain_names: HashMap<Uuid, String> = domain_rows_read
        .iter()
        .map(|d| (d.id, d.name.clone()))
        .collect();
    let mut select = zone_rows::Entity::find();
    if let Scope::Only(ids) = scope {
        select = select.filter(zone_rows::Column::DomainId.is_in(ids));
    }
    let rows = select
        .order_by_asc(zone_rows::Column::Hostname)
        .order_by_asc(zone_rows::Column::PathPrefix)
        .all(db)
        .await?;
    let catalog = Catalog::load(db).await?;
    let (users, grants) = if with_users {
        export_users(db, &domain_names, &catalog).await?
    } else {
        (Vec::new(), Vec::new())
    };
    // What the zones and grants use, and the caller's own (used or not), once each,
    // by name.
    let granted: std::collections::HashSet<&str> = grants
        .iter()
        .filter_map(|g| g.named_backend.as_deref())
        .collect();
    let used: std::collections::HashSet<Uuid> =
        rows.iter().filter_map(|r| r.named_backend_id).collect();
    let mut backends: Vec<BackendEntry> = catalog
        .entries()
        .filter(|e| {
            used.contains(&e.id)
                || e.owner_user_id == Some(principal.user_id)
                || granted.contains(e.name.as_str())
        })
        .map(|e| BackendEntry {
            name: e.name.clone(),
            url_template: e.template.as_str().to_owned(),
            preset: e.owner_user_id.is_none(),
        })
        .collect();
    backends.sort_by(|a, b| (&a.name, a.preset).cmp(&(&b.name, b.preset)));
    backends.dedup();
    Ok(Document {
        format: FORMAT.into(),
        exported_at: Some(OffsetDateTime::now_utc()),
        domains: domain_rows_read
            .into_iter()
            .map(|d| {
                DomainEntry::Domain(DomainSpec {
                    // Credentials are admins' business: a user's slice leaves the field out
                    // (which an import reads as "unchanged", never as "none").
                    dns_credential: principal.is_admin().then(|| {
                        d.dns_credential_id
                            .and_then(|c| credential_names.get(&c).cloned())
                    }),
                    certificates: principal
                        .is_admin()
                        .then(|| domains::CertificateMode::from_stored(&d.certificates)),
                    name: d.name,
                })
            })
            .collect(),
        named_backends: backends,
        zones: rows.iter().map(|r| spec_of(r, &catalog)).collect(),
        users,
        grants,
        replace: false,
    })
}

/// Every user (by username) and grant, for an admin's export.
async fn export_users(
    db: &DatabaseConnection,
    domain_names: &HashMap<Uuid, String>,
    catalog: &Catalog,
) -> Result<(Vec<UserEntry>, Vec<GrantEntry>), ApiError> {
    let all = users::Entity::find()
        .order_by_asc(users::Column::Username)
        .all(db)
        .await?;
    let usernames: HashMap<Uuid, String> = all.iter().map(|u| (u.id, u.username.clone())).collect();
    let mut grant_entries: Vec<GrantEntry> = grants::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .filter_map(|g| {
            Some(GrantEntry {
                username: usernames.get(&g.user_id)?.clone(),
                domain: g.domain_id.and_then(|d| domain_names.get(&d).cloned()),
                named_backend: g
                    .named_backend_id
                    .and_then(|b| catalog.get(Some(b)))
                    .map(|e| e.name.clone()),
                level: g.level,
            })
            .filter(|g| g.domain.is_some() || g.named_backend.is_some())
        })
        .collect();
    grant_entries.sort_by(|a, b| {
        (&a.username, &a.domain, &a.named_backend).cmp(&(&b.username, &b.domain, &b.named_backend))
    });
    let user_entries = all
        .into_iter()
        .map(|u| UserEntry {
            username: u.username,
            role: u.role,
            disabled: u.disabled,
        })
        .collect();
    Ok((user_entries, grant_entries))
}

/// The (hostname, path prefix, match key) a spec will be stored under, if all three are
/// valid (normalised as validation would: [`zones::key_of`] of the stored spec).
fn key_of(spec: &ZoneSpec) -> Option<(String, String, String)> {
    let host = HostPattern::parse(&spec.hostname).ok()?;
    let path = PathPrefix::parse(&spec.path_prefix).ok()?;
    let mut matching = spec.matching.clone();
    let mut problems = Vec::new();
    matching.check("match", &path, &mut problems);
    problems.is_empty().then(|| {
        (
            host.as_str().to_owned(),
            path.as_str().to_owned(),
            matching.key(),
        )
    })
}

pub async fn import(
    state: &Stores,
    principal: &Principal,
    actor: &Actor,
    document: Document,
    dry_run: bool,
) -> Result<Diff, ApiError> {
    let version_one = document.format == FORMAT_1;
    if document.format != FORMAT && !version_one {
        return Err(ApiError::invalid_field(
            "format",
            format!(
                "\"{}\" is not a known format; this panel reads \"{FORMAT}\" and \"{FORMAT_1}\"",
                document.format.escape_debug()
            ),
        ));
    }
    let mut problems = Vec::new();
    if version_one {
        // Format 1 had neither: a document that has them is not format 1.
        for (i, d) in document.domains.iter().enumerate() {
            if matches!(d, DomainEntry::Domain(_)) {
                problems.push(FieldError {
                    field: format!("domains[{i}]"),
                    problem: format!("{FORMAT_1} lists domains by name; an object is {FORMAT}"),
                });
            }
        }
        if !document.users.is_empty() || !document.grants.is_empty() {
            problems.push(FieldError {
                field: "users".into(),
                problem: format!("{FORMAT_1} has no users or grants; they are {FORMAT}"),
            });
        }
    }
    if !principal.is_admin() {
        for (field, given) in [
            ("users", !document.users.is_empty()),
            ("grants", !document.grants.is_empty()),
        ] {
            if given {
                problems.push(FieldError {
                    field: field.into(),
                    problem: "only admins import users and grants; leave it out".into(),
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }

    // Users, domains, named backends and grants first, in the transaction the zones
    // then use. Any problem, here or in the zones, and nothing is kept.
    let mut w = Write::begin(&state.db, dry_run).await?;
    let users_created = import_users(&mut w, actor, &document.users).await?;
    let domains_touched = import_domains(&mut w, principal, actor, &document.domains).await?;
    let created = import_backends(w.txn(), principal, actor, &document.named_backends).await?;
    import_grants(&mut w, principal, actor, &document.grants).await?;
    let editable = principal.domains(Level::Edit);
    let (txn, changes) = w.into_parts();

    // What exists in the caller's editable slice, by key.
    let mut select = zone_rows::Entity::find();
    if let Scope::Only(ids) = &editable {
        select = select.filter(zone_rows::Column::DomainId.is_in(ids.clone()));
    }
    let catalog = Catalog::load(&txn).await?;
    let mut existing: HashMap<(String, String, String), zone_rows::Model> = select
        .all(&txn)
        .await?
        .into_iter()
        .map(|r| {
            let key = (
                r.hostname.clone(),
                r.path_prefix.clone(),
                r.match_key.clone(),
            );
            (key, r)
        })
        .collect();

    // Bulk positions → document positions, to name problems as the caller wrote them.
    let mut request = BulkRequest::default();
    let (mut create_at, mut update_at) = (Vec::new(), Vec::new());
    for (i, mut spec) in document.zones.into_iter().enumerate() {
        match key_of(&spec).and_then(|k| existing.remove(&k)) {
            Some(row) => {
                // A basic-auth user by username only keeps the zone's stored password.
                zones::keep_stored_hashes(&mut spec, &row);
                let normalised = ZoneSpec {
                    hostname: row.hostname.clone(),
                    path_prefix: row.path_prefix.clone(),
                    matching: serde_json::from_value(row.conditions.clone()).unwrap_or_default(),
                    ..spec.clone()
                };
                if spec_of(&row, &catalog) != normalised {
                    update_at.push(i);
                    request.update.push(BulkUpdate {
                        id: row.id,
                        zone: spec,
                    });
                }
            }
            None => {
                create_at.push(i);
                request.create.push(spec);
            }
        }
    }
    if document.replace {
        request.delete = existing.into_values().map(|r| r.id).collect();
    }
    // The import's revision: the domains and named backends it made or changed, then
    // (in bulk_in) its zones.
    let backends_touched: Vec<Touched> = domains_touched
        .into_iter()
        .chain(
            created
                .iter()
                .map(|view| Touched::named_backend(None, Some(view))),
        )
        .collect();
    let extra = |diff: Diff| Diff {
        named_backends_created: created.clone(),
        users_created: users_created.clone(),
        changes: changes.clone(),
        ..diff
    };
    if request.create.is_empty() && request.update.is_empty() && request.delete.is_empty() {
        let revision = revisions::record(&txn, actor, "import", None, backends_touched).await?;
        let written = zones::finish(state, txn, Default::default(), dry_run).await?;
        return Ok(extra(
            Diff {
                dry_run,
                revision,
                ..Default::default()
            }
            .written(written),
        ));
    }
    let as_written = |details: Vec<FieldError>| -> Vec<FieldError> {
        details
            .into_iter()
            .map(|d| FieldError {
                field: renumber(&d.field, &create_at, &update_at),
                problem: d.problem,
            })
            .collect()
    };
    let diff = zones::bulk_in(
        state,
        txn,
        principal,
        actor,
        request,
        "import",
        backends_touched,
        dry_run,
    )
    .await
    .map_err(|e| match e {
        ApiError::Invalid { details, .. } => invalid(as_written(details)),
        // The data format gate names the zone that has policies.
        ApiError::Conflict { message, details } => ApiError::Conflict {
            message,
            details: as_written(details),
        },
        other => other,
    })?;
    Ok(extra(diff))
}

/// Creates the document's users that do not exist (admins; the caller checked), with no
/// usable password; problems named `users[i].…`. Answers those created.
async fn import_users(
    w: &mut Write,
    actor: &Actor,
    entries: &[UserEntry],
) -> Result<Vec<UserView>, ApiError> {
    let mut problems = Vec::new();
    let mut first_at: HashMap<String, usize> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        for p in user_service::check_identity(&entry.username, &entry.role) {
            problems.push(FieldError {
                field: format!("users[{i}].{}", p.field),
                problem: p.problem,
            });
        }
        if let Some(first) = first_at.insert(entry.username.to_lowercase(), i) {
            problems.push(FieldError {
                field: format!("users[{i}].username"),
                problem: format!("\"{}\" is also given at users[{first}]", entry.username),
            });
        }
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let mut created = Vec::new();
    for entry in entries {
        let exists = users::Entity::find()
            .filter(
                Expr::expr(Func::lower(Expr::col(users::Column::Username)))
                    .eq(entry.username.to_lowercase()),
            )
            .one(w.txn())
            .await?
            .is_some();
        if !exists {
            let user = user_service::insert_without_password(
                w,
                actor,
                &entry.username,
                &entry.role,
                entry.disabled,
            )
            .await?;
            created.push(UserView::from(user));
        }
    }
    Ok(created)
}

/// The document's domains: an admin's are created when missing and pointed at the
/// document's DNS credential (by name); anyone else's must exist and be editable.
/// Answers the domains created or changed, for the import's revision.
async fn import_domains(
    w: &mut Write,
    principal: &Principal,
    actor: &Actor,
    entries: &[DomainEntry],
) -> Result<Vec<Touched>, ApiError> {
    let editable = principal.domains(Level::Edit);
    let credentials: HashMap<String, Uuid> = dns_credentials::Entity::find()
        .all(w.txn())
        .await?
        .into_iter()
        .map(|c| (c.name, c.id))
        .collect();
    let mut problems = Vec::new();
    let mut work = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let Ok(name) = switchyard_shared::normalize_hostname(entry.name()) else {
            problems.push(FieldError {
                field: format!("domains[{i}]"),
                problem: format!("\"{}\" is not a domain name", entry.name().escape_debug()),
            });
            continue;
        };
        let credential = match entry {
            // Only an admin's document sets credentials.
            _ if !principal.is_admin() => None,
            DomainEntry::Domain(DomainSpec {
                dns_credential: Some(Some(c)),
                ..
            }) => match credentials.get(c) {
                Some(id) => Some(Some(*id)),
                None => {
                    problems.push(FieldError {
                        field: format!("domains[{i}].dns_credential"),
                        problem: format!(
                            "no DNS credential named \"{}\" exists here; secrets are never \
                             exported, so an admin creates it first (POST \
                             /api/v1/dns-credentials)",
                            c.escape_debug()
                        ),
                    });
                    continue;
                }
            },
            DomainEntry::Domain(DomainSpec {
                dns_credential: Some(None),
                ..
            }) => Some(None),
            // Absent, or format 1, which said nothing about credentials: leave them.
            DomainEntry::Domain(_) | DomainEntry::Name(_) => None,
        };
        // Like the credential: only an admin's document sets the choice.
        let mode = match entry {
            DomainEntry::Domain(DomainSpec {
                certificates: Some(mode),
                ..
            }) if principal.is_admin() => Some(*mode),
            _ => None,
        };
        let row = domain_rows::Entity::find()
            .filter(domain_rows::Column::Name.eq(name.as_str()))
            .lock_exclusive()
            .one(w.txn())
            .await?;
        match row {
            Some(row) if editable.contains(row.id) => {
                work.push((name, Some(row), credential, mode))
            }
            None if principal.is_admin() => work.push((name, None, credential, mode)),
            _ => problems.push(FieldError {
                field: format!("domains[{i}]"),
                problem: format!(
                    "\"{}\" is no domain you may edit; an admin creates it (and grants it) first",
                    entry.name().escape_debug()
                ),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let mut touched = Vec::new();
    for (name, row, credential, mode) in work {
        match row {
            None => {
                let view = domains::insert(
                    w,
                    actor,
                    name,
                    credential.flatten(),
                    mode.unwrap_or_default(),
                )
                .await?;
                touched.push(Touched::domain(None, Some(&view)));
            }
            Some(row) => {
                // Only what the document sets and the row differs in.
                let patch = domains::DomainPatch {
                    dns_credential_id: credential.filter(|c| row.dns_credential_id != *c),
                    certificates: mode.filter(|m| m.as_str() != row.certificates).map(Some),
                };
                if patch.dns_credential_id.is_some() || patch.certificates.is_some() {
                    let before = domains::DomainView::from(row.clone());
                    let after = domains::apply_patch(w, actor, row, &patch).await?;
                    touched.push(Touched::domain(Some(&before), Some(&after)));
                }
            }
        }
    }
    Ok(touched)
}

/// The document's grants (admins; the caller checked): created when missing, their
/// level set when there; problems named `grants[i].…`.
async fn import_grants(
    w: &mut Write,
    principal: &Principal,
    actor: &Actor,
    entries: &[GrantEntry],
) -> Result<(), ApiError> {
    if entries.is_empty() {
        return Ok(());
    }
    let user_ids: HashMap<String, Uuid> = users::Entity::find()
        .all(w.txn())
        .await?
        .into_iter()
        .map(|u| (u.username.to_lowercase(), u.id))
        .collect();
    let domain_ids = domains::all_names(w.txn()).await?;
    let catalog = Catalog::load(w.txn()).await?;
    let names = catalog.names_for(principal);
    let mut problems = Vec::new();
    let mut wanted = Vec::new();
    for (i, g) in entries.iter().enumerate() {
        let at = |f: &str| format!("grants[{i}].{f}");
        let user = user_ids.get(&g.username.to_lowercase()).copied();
        if user.is_none() {
            problems.push(FieldError {
                field: at("username"),
                problem: format!(
                    "no user \"{}\" exists or is in users",
                    g.username.escape_debug()
                ),
            });
        }
        if Level::parse(&g.level).is_none() {
            problems.push(FieldError {
                field: at("level"),
                problem: format!(
                    "\"{}\" is not a level: use read or edit",
                    g.level.escape_debug()
                ),
            });
        }
        let target = match (&g.domain, &g.named_backend) {
            (Some(d), None) => match switchyard_shared::normalize_hostname(d)
                .ok()
                .and_then(|n| domain_ids.get(&n).copied())
            {
                Some(id) => Some((Some(id), None)),
                None => {
                    problems.push(FieldError {
                        field: at("domain"),
                        problem: format!(
                            "no domain \"{}\" exists or is in domains",
                            d.escape_debug()
                        ),
                    });
                    None
                }
            },
            (None, Some(b)) => match names.resolve(b) {
                Ok(entry) => Some((None, Some(entry.id))),
                Err(why) => {
                    problems.push(FieldError {
                        field: at("named_backend"),
                        problem: why,
                    });
                    None
                }
            },
            _ => {
                problems.push(FieldError {
                    field: at("domain"),
                    problem: "give exactly one of domain and named_backend".into(),
                });
                None
            }
        };
        if let (Some(user), Some((domain, backend))) = (user, target) {
            wanted.push((user, domain, backend, g.level.clone()));
        }
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    for (user_id, domain_id, named_backend_id, level) in wanted {
        let existing = grants::Entity::find()
            .filter(grants::Column::UserId.eq(user_id))
            .filter(match domain_id {
                Some(d) => grants::Column::DomainId.eq(d),
                None => grants::Column::DomainId.is_null(),
            })
            .filter(match named_backend_id {
                Some(b) => grants::Column::NamedBackendId.eq(b),
                None => grants::Column::NamedBackendId.is_null(),
            })
            .one(w.txn())
            .await?;
        match existing {
            Some(g) if g.level == level => {}
            Some(g) => {
                let before = super::grants::GrantView::from(g.clone());
                let mut row: grants::ActiveModel = g.into();
                row.level = Set(level);
                let after = super::grants::GrantView::from(row.update(w.txn()).await?);
                w.audit(
                    actor,
                    AuditEntry {
                        action: "grant.update",
                        resource_type: "grant",
                        resource_id: after.id.to_string(),
                        before: Some(serde_json::json!(before)),
                        after: Some(serde_json::json!(after)),
                    },
                )
                .await?;
            }
            None => {
                let row = grants::ActiveModel {
                    id: Set(Uuid::new_v4()),
                    user_id: Set(user_id),
                    domain_id: Set(domain_id),
                    named_backend_id: Set(named_backend_id),
                    level: Set(level),
                    ..Default::default()
                }
                .insert(w.txn())
                .await?;
                let view = super::grants::GrantView::from(row);
                w.audit(
                    actor,
                    AuditEntry {
                        action: "grant.create",
                        resource_type: "grant",
                        resource_id: view.id.to_string(),
                        before: None,
                        after: Some(serde_json::json!(view)),
                    },
                )
                .await?;
            }
        }
    }
    Ok(())
}

fn invalid(details: Vec<FieldError>) -> ApiError {
    ApiError::Invalid {
        message: "the import is invalid; nothing was changed — see details".into(),
        details,
    }
}

/// Creates the document's named backends the caller does not have yet, on `txn`;
/// problems are named `named_backends[i].…`.
async fn import_backends(
    txn: &DatabaseTransaction,
    principal: &Principal,
    actor: &Actor,
    entries: &[BackendEntry],
) -> Result<Vec<NamedBackendView>, ApiError> {
    let catalog = Catalog::load(txn).await?;
    let names = catalog.names_for(principal);
    let mut problems = Vec::new();
    let mut first_at: HashMap<&str, usize> = HashMap::new();
    let mut missing = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if let Some(first) = first_at.insert(entry.name.as_str(), i) {
            problems.push(FieldError {
                field: format!("named_backends[{i}].name"),
                problem: format!(
                    "\"{}\" is also given at named_backends[{first}]; the zones refer to \
                     backends by name, so each name may appear once",
                    entry.name.escape_debug()
                ),
            });
            continue;
        }
        if !names.knows(&entry.name) {
            missing.push((i, entry));
            continue;
        }
        match names.resolve(&entry.name) {
            Ok(have) => {
                let same = UrlTemplate::parse(&entry.url_template)
                    .is_ok_and(|t| t.as_str() == have.template.as_str());
                if !same {
                    problems.push(FieldError {
                        field: format!("named_backends[{i}].url_template"),
                        problem: format!(
                            "\"{}\" exists with the template \"{}\"; an import does not change \
                             templates (PUT /api/v1/named-backends/{} does, re-rendering its \
                             zones), so give that template or another name",
                            entry.name,
                            have.template.as_str(),
                            have.id
                        ),
                    });
                }
            }
            Err(why) => problems.push(FieldError {
                field: format!("named_backends[{i}].name"),
                problem: why,
            }),
        }
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let mut created = Vec::with_capacity(missing.len());
    for (i, entry) in missing {
        let input = NewNamedBackend {
            name: entry.name.clone(),
            url_template: entry.url_template.clone(),
            preset: entry.preset && principal.is_admin(),
        };
        match named_backends::insert(txn, principal, actor, input).await {
            Ok(view) => created.push(view),
            Err(ApiError::Invalid { details, .. }) => {
                problems.extend(details.into_iter().map(|d| FieldError {
                    field: format!("named_backends[{i}].{}", d.field),
                    problem: d.problem,
                }))
            }
            Err(other) => return Err(other),
        }
    }
    if problems.is_empty() {
        Ok(created)
    } else {
        Err(invalid(problems))
    }
}

/// `create[3].hostname` → `zones[7].hostname` (and `update[1].zone.x` → `zones[k].x`).
fn renumber(field: &str, create_at: &[usize], update_at: &[usize]) -> String {
    let parse = |rest: &str, positions: &[usize]| -> Option<String> {
        let (n, tail) = rest.split_once(']')?;
        let at = positions.get(n.parse::<usize>().ok()?)?;
        let tail = tail.strip_prefix(".zone").unwrap_or(tail);
        Some(format!("zones[{at}]{tail}"))
    };
    field
        .strip_prefix("create[")
        .and_then(|rest| parse(rest, create_at))
        .or_else(|| {
            field
                .strip_prefix("update[")
                .and_then(|rest| parse(rest, update_at))
        })
        .unwrap_or_else(|| field.to_owned())
}

#[cfg(test)]
mod tests {
    use super::renumber;

    #[test]
    fn bulk_positions_become_document_positions() {
        assert_eq!(
            renumber("create[1].hostname", &[0, 4], &[2]),
            "zones[4].hostname"
        );
        assert_eq!(
            renumber("update[0].zone.path_prefix", &[0, 4], &[2]),
            "zones[2].path_prefix"
        );
        assert_eq!(renumber("delete[0]", &[], &[]), "delete[0]");
    }
}

/// The flat form as `POST /import/flat` takes it.
/// Its schema is [`crate::mirror::FlatInput`].
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FlatInput {
    /// The two variables' values as written in an environment file.
    Env(FlatEnvInput),
    /// The equivalent document.
    Document(switchyard_shared::flat::FlatConfig),
}

pub use crate::mirror::{FlatEnv, FlatEnvInput};

/// Validates the flat form as a whole (every problem at once, by entry number), then
/// imports its zones like a document: all or nothing, additive (nothing is replaced).
/// Problems the import finds about a zone (e.g. its domain is not one the caller may
/// edit) are reported under the `domains` entry it came from.
pub async fn import_flat(
    state: &Stores,
    principal: &Principal,
    actor: &Actor,
    input: FlatInput,
    dry_run: bool,
) -> Result<Diff, ApiError> {
    let invalid = |details: Vec<FieldError>| ApiError::Invalid {
        message: "the flat configuration is invalid; nothing was changed — see details".into(),
        details,
    };
    let config = match input {
        FlatInput::Env(FlatEnvInput { env }) => {
            switchyard_shared::flat::FlatConfig::parse_env(&env.domains, &env.services)
                .map_err(invalid)?
        }
        FlatInput::Document(config) => config,
    };
    let numbered = config.to_numbered_zones().map_err(invalid)?;
    let entries: Vec<usize> = numbered.iter().map(|(i, _)| *i).collect();
    let document = Document {
        format: FORMAT.into(),
        exported_at: None,
        domains: Vec::new(),
        named_backends: Vec::new(),
        zones: numbered.into_iter().map(|(_, z)| z).collect(),
        users: Vec::new(),
        grants: Vec::new(),
        replace: false,
    };
    import(state, principal, actor, document, dry_run)
        .await
        .map_err(|e| match e {
            ApiError::Invalid { details, .. } => invalid(
                details
                    .into_iter()
                    .map(|d| FieldError {
                        field: flat_entry(&d.field, &entries),
                        problem: d.problem,
                    })
                    .collect(),
            ),
            other => other,
        })
}

/// `zones[3].hostname` → `domains[7].domain` when zone 3 came from entry 7.
fn flat_entry(field: &str, entries: &[usize]) -> String {
    let Some(rest) = field.strip_prefix("zones[") else {
        return field.to_owned();
    };
    let Some((index, tail)) = rest.split_once(']') else {
        return field.to_owned();
    };
    match index.parse::<usize>().ok().and_then(|i| entries.get(i)) {
        Some(entry) => {
            let tail = tail
                .strip_prefix(".hostname")
                .map_or(tail.to_owned(), |t| format!(".domain{t}"));
            format!("domains[{entry}]{tail}")
        }
        None => field.to_owned(),
    }
}
