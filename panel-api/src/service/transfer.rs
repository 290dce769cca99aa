//! Export and import of the routing configuration (the caller's slice: the domains and
//! zones they may read, or edit for an import) as one JSON document.
//!
//! An import is computed as a bulk write against what exists — zones keyed by hostname
//! and path prefix are created, replaced when they differ, and (with `"replace": true`)
//! deleted when the document no longer has them — and applied with [`zones::bulk`]:
//! all or nothing, with every problem named by its position in the document
//! (`zones[4].hostname`), and `dry_run` answering the diff without changing anything.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use switchyard_shared::HostPattern;
use switchyard_shared::backend::UrlTemplate;
use switchyard_shared::model::{FieldError, PathPrefix, ZoneSpec};
use time::OffsetDateTime;
use uuid::Uuid;

use super::named_backends::{self, Catalog, NamedBackendView, NewNamedBackend};
use super::revisions::{self, Touched};
use super::zones::{self, BulkRequest, BulkUpdate, Diff, spec_of};
use super::{Actor, domains};
use crate::app::AppState;
use crate::auth::{Level, Principal, Scope};
use crate::entity::zones as zone_rows;
use crate::error::ApiError;

/// The document's format; an import refuses any other.
pub const FORMAT: &str = "switchyard-export/1";

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
    /// The apex names the zones live under; an import requires each to exist already.
    #[serde(default)]
    pub domains: Vec<String>,
    /// The named backends the zones use, and the caller's own; an import creates those
    /// missing (as the importer's own, or presets when marked and imported by an admin).
    #[serde(default)]
    pub named_backends: Vec<BackendEntry>,
    pub zones: Vec<ZoneSpec>,
    /// Import only: delete the caller's zones the document does not list.
    #[serde(default, skip_serializing)]
    pub replace: bool,
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

/// The caller's readable domains and zones, ordered by name.
pub async fn export(db: &DatabaseConnection, principal: &Principal) -> Result<Document, ApiError> {
    let scope = principal.domains(Level::Read);
    let mut names: Vec<(String, Uuid)> = domains::all_names(db)
        .await?
        .into_iter()
        .filter(|(_, id)| scope.contains(*id))
        .collect();
    names.sort();
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
    // What the zones use, and the caller's own (used or not), once each, by name.
    let used: std::collections::HashSet<Uuid> =
        rows.iter().filter_map(|r| r.named_backend_id).collect();
    let mut backends: Vec<BackendEntry> = catalog
        .entries()
        .filter(|e| used.contains(&e.id) || e.owner_user_id == Some(principal.user_id))
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
        domains: names.into_iter().map(|(n, _)| n).collect(),
        named_backends: backends,
        zones: rows.iter().map(|r| spec_of(r, &catalog)).collect(),
        replace: false,
    })
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
    state: &AppState,
    principal: &Principal,
    actor: &Actor,
    document: Document,
    dry_run: bool,
) -> Result<Diff, ApiError> {
    if document.format != FORMAT {
        return Err(ApiError::invalid_field(
            "format",
            format!(
                "\"{}\" is not a known format; this panel reads \"{FORMAT}\"",
                document.format.escape_debug()
            ),
        ));
    }
    let known = domains::all_names(&state.db).await?;
    let editable = principal.domains(Level::Edit);
    let mut problems = Vec::new();
    for (i, name) in document.domains.iter().enumerate() {
        let id = switchyard_shared::normalize_hostname(name)
            .ok()
            .and_then(|n| known.get(&n).copied());
        if !id.is_some_and(|id| editable.contains(id)) {
            problems.push(FieldError {
                field: format!("domains[{i}]"),
                problem: format!(
                    "\"{}\" is no domain you may edit; an admin creates it (and grants it) first",
                    name.escape_debug()
                ),
            });
        }
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }

    // Named backends first, in the transaction the zones then use: a backend the
    // caller already resolves by that name must have the same template; one missing is
    // created. Any problem, here or in the zones, and nothing is kept.
    let txn = state.db.begin().await?;
    let created = import_backends(&txn, principal, actor, &document.named_backends).await?;

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
    let backends_touched: Vec<Touched> = created
        .iter()
        .map(|view| Touched::named_backend(None, Some(view)))
        .collect();
    if request.create.is_empty() && request.update.is_empty() && request.delete.is_empty() {
        let revision = revisions::record(&txn, actor, "import", None, backends_touched).await?;
        let written = zones::finish(state, txn, Default::default(), dry_run).await?;
        return Ok(Diff {
            dry_run,
            named_backends_created: created,
            revision,
            ..Default::default()
        }
        .written(written));
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
    Ok(Diff {
        named_backends_created: created,
        ..diff
    })
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
/// Its schema is [`crate::openapi::mirror::FlatInput`].
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FlatInput {
    /// The two variables' values as written in an environment file.
    Env(FlatEnvInput),
    /// The equivalent document.
    Document(switchyard_shared::flat::FlatConfig),
}

/// `{"env": {...}}` and nothing else (a struct of its own: an untagged enum's struct
/// variant would take unknown fields).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlatEnvInput {
    pub env: FlatEnv,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlatEnv {
    #[serde(default)]
    pub domains: String,
    #[serde(default)]
    pub services: String,
}

/// Validates the flat form as a whole (every problem at once, by entry number), then
/// imports its zones like a document: all or nothing, additive (nothing is replaced).
/// Problems the import finds about a zone (e.g. its domain is not one the caller may
/// edit) are reported under the `domains` entry it came from.
pub async fn import_flat(
    state: &AppState,
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
