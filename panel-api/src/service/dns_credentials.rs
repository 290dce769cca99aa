//! DNS provider credentials (admin only): the secret is sealed with the panel's
//! `--secret-key` (`SecretBox`, context [`CONTEXT`], the same key and context cert-worker
//! opens it with) before it reaches PostgreSQL, and never leaves the panel again: the API
//! shows only whether one is set and when the credential last changed.
//!
//! The secret's JSON shape is cert-worker's contract: Cloudflare `{"api_token"}`,
//! DigitalOcean `{"token"}`, Porkbun `{"api_key", "secret_api_key"}`; `manual` has none.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, SqlErr,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use switchyard_shared::model::FieldError;
use time::OffsetDateTime;
use uuid::Uuid;

use super::write::{Answer, Write};
use super::{AuditEntry, Caller, ListQuery, Page, bounded_count};
use crate::access::{Identity, Need, Principal, authorize};
use crate::entity::{dns_credentials, domains};
use crate::error::ApiError;

/// Associated data the secret is sealed under (cert-worker's `CREDENTIALS_CONTEXT`).
pub const CONTEXT: &str = "dns_credentials.secret";
/// Longest secret value accepted; provider tokens are far shorter.
pub const MAX_SECRET_FIELD_LEN: usize = 512;

/// The secret fields each provider needs, in cert-worker's JSON shape.
fn secret_fields(provider: &str) -> Option<&'static [&'static str]> {
    match provider {
        "cloudflare" => Some(&["api_token"]),
        "digitalocean" => Some(&["token"]),
        "porkbun" => Some(&["api_key", "secret_api_key"]),
        "manual" => Some(&[]),
        _ => None,
    }
}

/// `POST /api/v1/dns-credentials` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// `cloudflare`, `digitalocean`, `porkbun` or `manual`.
    #[schema(pattern = "^(cloudflare|digitalocean|porkbun|manual)$")]
    pub provider: String,
    /// The provider's secret fields; absent for `manual`.
    #[schema(value_type = Option<Object>)]
    pub secret: Option<Map<String, Value>>,
    /// The provider API's base URL, for a proxy or a test double; absent for the real one.
    pub api_base_url: Option<String>,
}

/// `PATCH /api/v1/dns-credentials/{id}` body: a new secret (rotation) and/or base URL.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialPatch {
    /// New secret fields (rotation), in the provider's shape.
    #[schema(value_type = Option<Object>)]
    pub secret: Option<Map<String, Value>>,
    pub api_base_url: Option<String>,
}

/// A credential as listed: never the secret, only whether one is set.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CredentialView {
    pub id: Uuid,
    pub name: String,
    pub provider: String,
    pub api_base_url: Option<String>,
    /// `set` or `not set`.
    pub secret: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<dns_credentials::Model> for CredentialView {
    fn from(m: dns_credentials::Model) -> Self {
        CredentialView {
            id: m.id,
            name: m.name,
            provider: m.provider,
            api_base_url: m.api_base_url,
            secret: if m.secret_ciphertext.is_some() {
                "set"
            } else {
                "not set"
            },
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

fn problem(field: impl Into<String>, problem: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Checks the secret's shape for `provider` (naming fields, never echoing values) and
/// returns it as the JSON text cert-worker parses.
fn check_secret(
    provider: &str,
    secret: &Option<Map<String, Value>>,
    problems: &mut Vec<FieldError>,
) -> Option<String> {
    let fields = secret_fields(provider)?;
    match (fields.is_empty(), secret) {
        (true, None) => None,
        (true, Some(_)) => {
            problems.push(problem(
                "secret",
                "provider manual takes no secret; leave it out",
            ));
            None
        }
        (false, None) => {
            problems.push(problem(
                "secret",
                format!(
                    "provider {provider} needs a secret with {}",
                    fields.join(", ")
                ),
            ));
            None
        }
        (false, Some(map)) => {
            let before = problems.len();
            for name in map.keys().filter(|k| !fields.contains(&k.as_str())) {
                problems.push(problem(
                    format!("secret.{name}"),
                    format!(
                        "unknown field; provider {provider} takes {}",
                        fields.join(", ")
                    ),
                ));
            }
            for field in fields {
                match map.get(*field) {
                    Some(Value::String(v)) if !v.trim().is_empty() && v.len() <= MAX_SECRET_FIELD_LEN => {}
                    _ => problems.push(problem(
                        format!("secret.{field}"),
                        format!("must be a non-empty string of at most {MAX_SECRET_FIELD_LEN} bytes (the value is not repeated here)"),
                    )),
                }
            }
            (problems.len() == before).then(|| Value::Object(map.clone()).to_string())
        }
    }
}

fn check_base_url(url: &Option<String>, problems: &mut Vec<FieldError>) {
    if let Some(url) = url {
        let ok = (url.starts_with("https://") || url.starts_with("http://"))
            && url.len() <= 2048
            && !url.contains(char::is_whitespace);
        if !ok {
            problems.push(problem(
                "api_base_url",
                format!("\"{}\" is not an http(s) URL", url.escape_debug()),
            ));
        }
    }
}

fn seal(identity: &Identity, plain: &str) -> Result<Vec<u8>, ApiError> {
    let secrets = identity.secrets.as_ref().ok_or(ApiError::Unavailable(
        "DNS credentials cannot be stored: the panel has no SWITCHYARD_SECRET_KEY; nothing \
         was changed",
    ))?;
    secrets
        .seal(CONTEXT, plain.as_bytes())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("sealing a DNS credential: {e}")))
}

fn invalid(problems: Vec<FieldError>) -> Result<(), ApiError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            message: "the DNS credential is invalid; see details".into(),
            details: problems,
        })
    }
}

pub async fn create(
    db: &DatabaseConnection,
    identity: &Identity,
    caller: &Caller,
    input: NewCredential,
    dry_run: bool,
) -> Result<Answer<CredentialView>, ApiError> {
    caller.authorize(Need::Admin)?;
    let actor = &caller.actor();
    let mut problems = Vec::new();
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        problems.push(problem("name", "must be 1–100 characters"));
    }
    if secret_fields(&input.provider).is_none() {
        problems.push(problem(
            "provider",
            format!(
                "\"{}\" is not a provider: use cloudflare, digitalocean, porkbun or manual",
                input.provider.escape_debug()
            ),
        ));
    }
    let plain = check_secret(&input.provider, &input.secret, &mut problems);
    check_base_url(&input.api_base_url, &mut problems);
    invalid(problems)?;
    let sealed = plain.map(|p| seal(identity, &p)).transpose()?;
    let mut w = Write::begin(db, dry_run).await?;
    let row = dns_credentials::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(name.clone()),
        provider: Set(input.provider),
        secret_ciphertext: Set(sealed),
        api_base_url: Set(input.api_base_url),
        ..Default::default()
    }
    .insert(w.txn())
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ApiError::Conflict {
            message: format!("a DNS credential named \"{name}\" already exists"),
            details: vec![problem("name", "already exists")],
        },
        _ => e.into(),
    })?;
    let view = CredentialView::from(row);
    w.audit(
        actor,
        AuditEntry {
            action: "dns_credential.create",
            resource_type: "dns_credential",
            resource_id: view.id.to_string(),
            before: None,
            after: Some(json!(view)),
        },
    )
    .await?;
    w.finish(view).await
}

pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    query: &ListQuery,
) -> Result<Page<CredentialView>, ApiError> {
    authorize(principal, Need::Admin)?;
    let select = dns_credentials::Entity::find();
    let count = bounded_count(select.clone(), db).await?;
    let items = select
        .order_by_asc(dns_credentials::Column::Name)
        .limit(query.limit())
        .offset(query.offset())
        .all(db)
        .await?
        .into_iter()
        .map(CredentialView::from)
        .collect();
    Ok(Page::new(items, count, query))
}

/// Rotates the secret and/or changes the base URL.
pub async fn update(
    db: &DatabaseConnection,
    identity: &Identity,
    caller: &Caller,
    id: Uuid,
    patch: CredentialPatch,
    dry_run: bool,
) -> Result<Answer<CredentialView>, ApiError> {
    caller.authorize(Need::Admin)?;
    let actor = &caller.actor();
    let mut w = Write::begin(db, dry_run).await?;
    let existing = dns_credentials::Entity::find_by_id(id)
        .lock_exclusive()
        .one(w.txn())
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut problems = Vec::new();
    let plain = match &patch.secret {
        Some(_) => check_secret(&existing.provider, &patch.secret, &mut problems),
        None => None,
    };
    check_base_url(&patch.api_base_url, &mut problems);
    invalid(problems)?;
    let before = CredentialView::from(existing.clone());
    let mut row: dns_credentials::ActiveModel = existing.into();
    if let Some(plain) = plain {
        row.secret_ciphertext = Set(Some(seal(identity, &plain)?));
    }
    if patch.api_base_url.is_some() {
        row.api_base_url = Set(patch.api_base_url);
    }
    row.updated_at = Set(OffsetDateTime::now_utc());
    let after = CredentialView::from(row.update(w.txn()).await?);
    let mut summary = json!(after);
    if patch.secret.is_some() {
        summary["secret"] = json!("changed");
    }
    w.audit(
        actor,
        AuditEntry {
            action: "dns_credential.update",
            resource_type: "dns_credential",
            resource_id: id.to_string(),
            before: Some(json!(before)),
            after: Some(summary),
        },
    )
    .await?;
    w.finish(after).await
}

/// Deletes a credential no domain uses (409 naming the domains otherwise).
pub async fn delete(
    db: &DatabaseConnection,
    caller: &Caller,
    id: Uuid,
    dry_run: bool,
) -> Result<Answer<()>, ApiError> {
    caller.authorize(Need::Admin)?;
    let actor = &caller.actor();
    let mut w = Write::begin(db, dry_run).await?;
    let existing = dns_credentials::Entity::find_by_id(id)
        .lock_exclusive()
        .one(w.txn())
        .await?
        .ok_or(ApiError::NotFound)?;
    let users: Vec<String> = domains::Entity::find()
        .select_only()
        .column(domains::Column::Name)
        .filter(domains::Column::DnsCredentialId.eq(id))
        .order_by_asc(domains::Column::Name)
        .limit(21)
        .into_tuple::<String>()
        .all(w.txn())
        .await?;
    let in_use = || ApiError::Conflict {
        message: format!(
            "domains still use this DNS credential ({}{}); point them elsewhere first \
             (PATCH /api/v1/domains/{{id}} with another dns_credential_id)",
            users
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if users.len() > 20 { ", …" } else { "" }
        ),
        details: vec![],
    };
    if !users.is_empty() {
        return Err(in_use());
    }
    dns_credentials::Entity::delete_by_id(id)
        .exec(w.txn())
        .await
        .map_err(|e| match e.sql_err() {
            // A domain took it up meanwhile.
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => in_use(),
            _ => e.into(),
        })?;
    w.audit(
        actor,
        AuditEntry {
            action: "dns_credential.delete",
            resource_type: "dns_credential",
            resource_id: id.to_string(),
            before: Some(json!(CredentialView::from(existing))),
            after: None,
        },
    )
    .await?;
    w.finish(()).await
}
