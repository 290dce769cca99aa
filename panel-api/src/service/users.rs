//! Users and their passwords (argon2id): created, changed and deleted by admins; a
//! user changes their own password ([`change_own_password`]). The panel always keeps an
//! enabled admin: the last one cannot be deleted, demoted or disabled, and nobody
//! deletes themselves ([`keep_an_admin`]).

use std::sync::LazyLock;

use anyhow::Context as _;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait as _, Func, LikeExpr},
};
use serde_json::json;
use switchyard_shared::model::FieldError;
use uuid::Uuid;

use super::credentials::{self, Cache};
use super::write::{Answer, Write};
use super::{Actor, AuditEntry, Caller, ListQuery, Page, bounded_count};
use crate::access::{Need, Principal, authorize};
use crate::entity::{api_keys, grants, named_backends, sessions, users, zones};
use crate::error::ApiError;

/// Shortest first-admin password accepted from the environment.
pub const MIN_ADMIN_PASSWORD_LEN: usize = 12;

/// Hashes a password with argon2id (the crate's default parameters, OWASP's
/// recommendation). Hashing takes tens of milliseconds of CPU, so it runs on the blocking
/// pool instead of stalling the async workers.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
    .await
    .context("password hashing task")?
}

/// Verifies a password against a stored PHC string, on the blocking pool.
/// Checks a password against an argon2id PHC string, off the async threads.
pub async fn verify_password(password: String, hash: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .context("password verification task")?
}

/// Verified against when the username is unknown, so that an unknown user takes as long
/// as a wrong password and response times do not reveal which usernames exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"no such user", &SaltString::generate(&mut OsRng))
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// The enabled user with this username (case-insensitive) and password, if any.
pub async fn verify_login(
    db: &DatabaseConnection,
    username: &str,
    password: &str,
) -> Result<Option<users::Model>, ApiError> {
    let user = users::Entity::find()
        .filter(
            Expr::expr(Func::lower(Expr::col(users::Column::Username))).eq(username.to_lowercase()),
        )
        .one(db)
        .await?;
    let hash = match &user {
        Some(u) => u.password_hash.clone(),
        None => tokio::task::spawn_blocking(|| DUMMY_HASH.clone())
            .await
            .context("dummy hash task")?,
    };
    let ok = verify_password(password.to_owned(), hash).await?;
    Ok(user.filter(|u| ok && !u.disabled))
}

/// Creates a user (with its audit record) in one transaction.
pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor,
    username: &str,
    password: &str,
    role: &str,
) -> Result<users::Model, ApiError> {
    let password_hash = hash_password(password.to_owned()).await?;
    let mut w = Write::begin(db, false).await?;
    let user = insert(&mut w, actor, username, password_hash, role).await?;
    w.finish(user)
        .await?
        .done()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a real write answered a dry run")))
}

/// Inserts a user and its audit record on the write.
async fn insert(
    w: &mut Write,
    actor: &Actor,
    username: &str,
    password_hash: String,
    role: &str,
) -> Result<users::Model, ApiError> {
    let user = users::ActiveModel {
        id: Set(Uuid::new_v4()),
        username: Set(username.to_owned()),
        password_hash: Set(password_hash),
        role: Set(role.to_owned()),
        ..Default::default()
    }
    .insert(w.txn())
    .await
    .map_err(|e| match super::unique_violation(&e) {
        Some(_) => ApiError::Conflict {
            message: format!("a user named \"{username}\" already exists"),
            details: vec![FieldError {
                field: "username".into(),
                problem: "already exists".into(),
            }],
        },
        None => e.into(),
    })?;
    w.audit(
        actor,
        AuditEntry {
            action: "user.create",
            resource_type: "user",
            resource_id: user.id.to_string(),
            before: None,
            after: Some(json!({"username": user.username, "role": user.role})),
        },
    )
    .await?;
    Ok(user)
}

/// Creates the first admin from the environment when no user exists yet; returns whether
/// it did. Later starts leave users alone, so changing the variables changes nothing.
pub async fn ensure_first_admin(
    db: &DatabaseConnection,
    username: &str,
    password: &str,
) -> Result<bool, ApiError> {
    if users::Entity::find().count(db).await? > 0 {
        return Ok(false);
    }
    if username.trim().is_empty() || password.chars().count() < MIN_ADMIN_PASSWORD_LEN {
        return Err(ApiError::Invalid {
            message: format!(
                "SWITCHYARD_ADMIN_USER must not be empty and SWITCHYARD_ADMIN_PASSWORD must \
                 have at least {MIN_ADMIN_PASSWORD_LEN} characters"
            ),
            details: vec![],
        });
    }
    let actor = Actor::system("first admin from environment");
    match create(db, &actor, username.trim(), password, "admin").await {
        Ok(_) => Ok(true),
        // Another instance starting at the same moment created it first.
        Err(ApiError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Shortest password accepted for any user.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest username; names are handles, not documents.
pub const MAX_USERNAME_LEN: usize = 64;
/// Longest password: argon2 would take anything, but a megabyte "password" is an attack.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A user as the API shows it: never the password hash.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub role: String,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: time::OffsetDateTime,
}

impl From<users::Model> for UserView {
    fn from(m: users::Model) -> Self {
        UserView {
            id: m.id,
            username: m.username,
            role: m.role,
            disabled: m.disabled,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// `POST /api/v1/users` body.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1–64 characters from a–z, A–Z, 0–9 and `.` `_` `-` `@`.
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$")]
    pub username: String,
    /// 12–1024 characters.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
    /// `admin` or `user` (default).
    #[serde(default = "default_role")]
    #[schema(pattern = "^(admin|user)$")]
    pub role: String,
}

fn default_role() -> String {
    "user".into()
}

/// `PATCH /api/v1/users/{id}` body: only the fields given change.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// `admin` or `user`.
    #[schema(pattern = "^(admin|user)$")]
    pub role: Option<String>,
    pub disabled: Option<bool>,
    /// 12–1024 characters; ends the user's sessions.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: Option<String>,
}

fn check_username(username: &str, problems: &mut Vec<FieldError>) {
    let ok = !username.is_empty()
        && username.chars().count() <= MAX_USERNAME_LEN
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !ok {
        problems.push(FieldError {
            field: "username".into(),
            problem: format!(
                "\"{}\" is not a username: use 1–{MAX_USERNAME_LEN} characters from a–z, \
                 A–Z, 0–9 and . _ - @",
                username.escape_debug()
            ),
        });
    }
}

/// The password rules, for every password a user gets: its length.
fn check_password(field: &str, password: &str, problems: &mut Vec<FieldError>) {
    let n = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&n) {
        problems.push(FieldError {
            field: field.into(),
            problem: format!(
                "has {n} characters; use {MIN_PASSWORD_LEN}–{MAX_PASSWORD_LEN} (the value is \
                 not repeated here)"
            ),
        });
    }
}

fn check_role(role: &str, problems: &mut Vec<FieldError>) {
    if !matches!(role, "admin" | "user") {
        problems.push(FieldError {
            field: "role".into(),
            problem: format!(
                "\"{}\" is not a role: use admin or user",
                role.escape_debug()
            ),
        });
    }
}

fn invalid(problems: Vec<FieldError>) -> Result<(), ApiError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            message: "the user is invalid; see details".into(),
            details: problems,
        })
    }
}

/// Problems of a user's name and role (fields `username`, `role`), as creation checks
/// them; for an import, which names them by position.
pub fn check_identity(username: &str, role: &str) -> Vec<FieldError> {
    let mut problems = Vec::new();
    check_username(username, &mut problems);
    check_role(role, &mut problems);
    problems
}

/// Creates a user with no usable password (an import: passwords never travel in a
/// document) — the hash of 256 random bits nobody is shown — until an admin sets one
/// (`PATCH /users/{id}`). Audited like any creation.
pub(crate) async fn insert_without_password(
    w: &mut Write,
    actor: &Actor,
    username: &str,
    role: &str,
    disabled: bool,
) -> Result<users::Model, ApiError> {
    let unusable = hash_password(crate::access::generate_token()?).await?;
    let user = insert(w, actor, username, unusable, role).await?;
    if !disabled {
        return Ok(user);
    }
    let mut row: users::ActiveModel = user.into();
    row.disabled = Set(true);
    Ok(row.update(w.txn()).await?)
}

/// Validates and creates a user (admin endpoint).
pub async fn create_checked(
    db: &DatabaseConnection,
    caller: &Caller,
    input: NewUser,
    dry_run: bool,
) -> Result<Answer<UserView>, ApiError> {
    caller.authorize(Need::Admin)?;
    let actor = &caller.actor();
    let mut problems = Vec::new();
    check_username(&input.username, &mut problems);
    check_password("password", &input.password, &mut problems);
    check_role(&input.role, &mut problems);
    invalid(problems)?;
    let password_hash = hash_password(input.password).await?;
    let mut w = Write::begin(db, dry_run).await?;
    let user = insert(&mut w, actor, &input.username, password_hash, &input.role).await?;
    w.finish(user.into()).await
}

/// Users, by username; `q` searches the username.
pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    query: &ListQuery,
) -> Result<Page<UserView>, ApiError> {
    authorize(principal, Need::Admin)?;
    let mut select = users::Entity::find();
    if let Some(pattern) = query.like_pattern() {
        select = select.filter(
            Expr::expr(Func::lower(Expr::col(users::Column::Username)))
                .like(LikeExpr::new(pattern).escape('\\')),
        );
    }
    let count = bounded_count(select.clone(), db).await?;
    let items = select
        .order_by_asc(users::Column::Username)
        .limit(query.limit())
        .offset(query.offset())
        .all(db)
        .await?
        .into_iter()
        .map(UserView::from)
        .collect();
    Ok(Page::new(items, count, query))
}

pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: Uuid,
) -> Result<UserView, ApiError> {
    authorize(principal, Need::Admin)?;
    users::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(UserView::from)
        .ok_or(ApiError::NotFound)
}

/// Changes role, disabled flag or password. A new password or disabling ends the user's
/// sessions, so a leaked cookie does not outlive the reset. The last enabled admin can
/// be neither demoted nor disabled (409).
async fn update_row(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    patch: UserPatch,
    dry_run: bool,
) -> Result<Answer<UserView>, ApiError> {
    let mut problems = Vec::new();
    if let Some(role) = &patch.role {
        check_role(role, &mut problems);
    }
    if let Some(password) = &patch.password {
        check_password("password", password, &mut problems);
    }
    invalid(problems)?;
    let password_hash = match &patch.password {
        Some(p) => Some(hash_password(p.clone()).await?),
        None => None,
    };
    let mut w = Write::begin(db, dry_run).await?;
    let admins = lock_admins(w.txn()).await?;
    let existing = users::Entity::find_by_id(id)
        .lock_exclusive()
        .one(w.txn())
        .await?
        .ok_or(ApiError::NotFound)?;
    let stays_admin = patch.role.as_deref().unwrap_or(&existing.role) == "admin"
        && !patch.disabled.unwrap_or(existing.disabled);
    if !stays_admin {
        keep_an_admin(&admins, id, "demoted or disabled")?;
    }
    let before = UserView::from(existing.clone());
    let mut row: users::ActiveModel = existing.into();
    if let Some(role) = patch.role {
        row.role = Set(role);
    }
    if let Some(disabled) = patch.disabled {
        row.disabled = Set(disabled);
    }
    if let Some(hash) = password_hash {
        row.password_hash = Set(hash);
    }
    row.updated_at = Set(time::OffsetDateTime::now_utc());
    let after = UserView::from(row.update(w.txn()).await?);
    let mut after_summary =
        json!({"username": after.username, "role": after.role, "disabled": after.disabled});
    if patch.password.is_some() || after.disabled {
        let ended = revoke_sessions(w.txn(), id, None).await?;
        after_summary["sessions_revoked"] = json!(ended);
    }
    if patch.password.is_some() {
        after_summary["password"] = json!("changed");
    }
    w.audit(
        actor,
        AuditEntry {
            action: "user.update",
            resource_type: "user",
            resource_id: id.to_string(),
            before: Some(json!({"username": before.username, "role": before.role, "disabled": before.disabled})),
            after: Some(after_summary),
        },
    )
    .await?;
    w.finish(after).await
}

/// Revokes the user's live sessions, all but `keep`; answers how many.
async fn revoke_sessions(
    txn: &DatabaseTransaction,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<u64, ApiError> {
    let mut update = sessions::Entity::update_many()
        .col_expr(
            sessions::Column::RevokedAt,
            Expr::value(time::OffsetDateTime::now_utc()),
        )
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        update = update.filter(sessions::Column::Id.ne(keep));
    }
    Ok(update.exec(txn).await?.rows_affected)
}

/// The enabled admins' ids, locked for the rest of the transaction: two admins demoting
/// or deleting each other at once cannot both see the other remain.
async fn lock_admins(txn: &DatabaseTransaction) -> Result<Vec<Uuid>, ApiError> {
    Ok(users::Entity::find()
        .filter(users::Column::Role.eq("admin"))
        .filter(users::Column::Disabled.eq(false))
        .order_by_asc(users::Column::Id)
        .lock_exclusive()
        .all(txn)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect())
}

/// The one rule that keeps the panel administrable: some enabled admin other than `id`
/// remains when `id` stops being one (`what`: "deleted", "demoted or disabled"); 409
/// otherwise. `admins` from [`lock_admins`].
pub fn keep_an_admin(admins: &[Uuid], id: Uuid, what: &str) -> Result<(), ApiError> {
    if admins.contains(&id) && admins.iter().all(|a| *a == id) {
        return Err(ApiError::Conflict {
            message: format!(
                "this is the last enabled admin and cannot be {what}: make another user an \
                 admin first"
            ),
            details: vec![],
        });
    }
    Ok(())
}

/// What deleting a user took with it.
#[derive(Debug)]
pub struct Deleted {
    pub username: String,
}

/// Deletes a user (admins; never oneself, never the last enabled admin) with their
/// sessions, API keys, grants and own named backends, in one transaction. A named
/// backend of theirs that zones still use keeps the user (409 naming it): those zones
/// are someone's routing, and move to another backend first.
async fn delete_row(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    dry_run: bool,
) -> Result<Answer<Deleted>, ApiError> {
    if actor.user_id == Some(id) {
        return Err(ApiError::Conflict {
            message: "you cannot delete yourself; another admin can".into(),
            details: vec![],
        });
    }
    let mut w = Write::begin(db, dry_run).await?;
    let admins = lock_admins(w.txn()).await?;
    let user = users::Entity::find_by_id(id)
        .lock_exclusive()
        .one(w.txn())
        .await?
        .ok_or(ApiError::NotFound)?;
    keep_an_admin(&admins, id, "deleted")?;
    let backends = named_backends::Entity::find()
        .filter(named_backends::Column::OwnerUserId.eq(id))
        .order_by_asc(named_backends::Column::Name)
        .lock_exclusive()
        .all(w.txn())
        .await?;
    let mut used = Vec::new();
    for b in &backends {
        let n = zones::Entity::find()
            .filter(zones::Column::NamedBackendId.eq(b.id))
            .count(w.txn())
            .await?;
        if n > 0 {
            used.push(format!("\"{}\" ({n} zone(s))", b.name));
        }
    }
    if !used.is_empty() {
        return Err(ApiError::Conflict {
            message: format!(
                "zones use named backends of this user: {}; point those zones elsewhere \
                 (or delete them) first",
                used.join(", ")
            ),
            details: vec![],
        });
    }
    let sessions_ended = sessions::Entity::delete_many()
        .filter(sessions::Column::UserId.eq(id))
        .exec(w.txn())
        .await?
        .rows_affected;
    let keys: Vec<String> = api_keys::Entity::find()
        .filter(api_keys::Column::UserId.eq(id))
        .order_by_asc(api_keys::Column::CreatedAt)
        .all(w.txn())
        .await?
        .into_iter()
        .map(|k| format!("{}{}", crate::access::KEY_MARKER, k.prefix))
        .collect();
    api_keys::Entity::delete_many()
        .filter(api_keys::Column::UserId.eq(id))
        .exec(w.txn())
        .await?;
    super::grants::delete_in(&mut w, actor, grants::Column::UserId.eq(id)).await?;
    // The named backends are routing: their deletion is a revision (history shows it; a
    // rollback names them as not re-creatable, their owner being gone).
    let mut touched = Vec::new();
    for b in backends {
        touched.push(super::revisions::Touched::named_backend(
            Some(&super::named_backends::view_of(b.clone())),
            None,
        ));
        named_backends::Entity::delete_by_id(b.id)
            .exec(w.txn())
            .await?;
        w.audit(
            actor,
            AuditEntry {
                action: "named_backend.delete",
                resource_type: "named_backend",
                resource_id: b.id.to_string(),
                before: Some(
                    json!({"name": b.name, "url_template": b.url_template, "owner_user_id": id}),
                ),
                after: None,
            },
        )
        .await?;
    }
    if !touched.is_empty() {
        super::revisions::record(w.txn(), actor, "user.delete", None, touched).await?;
    }
    users::Entity::delete_by_id(id).exec(w.txn()).await?;
    w.audit(
        actor,
        AuditEntry {
            action: "user.delete",
            resource_type: "user",
            resource_id: id.to_string(),
            before: Some(json!({
                "username": user.username,
                "role": user.role,
                "disabled": user.disabled,
                "sessions_deleted": sessions_ended,
                "api_keys_deleted": keys,
            })),
            after: None,
        },
    )
    .await?;
    w.finish(Deleted {
        username: user.username,
    })
    .await
}

/// `POST /api/v1/me/password` body.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password now (checked like a login, and counted against its limits).
    #[schema(min_length = 1, max_length = 1024)]
    pub current_password: String,
    /// 12–1024 characters, different from the current one.
    #[schema(min_length = 12, max_length = 1024)]
    pub new_password: String,
}

/// A user changes their own password: the current one is checked first (403 when it is
/// wrong), the new one must follow the password rules and differ from it. Every other
/// session of the user ends (`keep`, the session the request came with, stays valid);
/// API keys stay valid — they are separate credentials, revoked one by one. `limit`
/// counts the attempt against the login limits (429 over them): after the body is found
/// valid, before argon2 runs.
async fn change_own_password_row(
    db: &DatabaseConnection,
    actor: &Actor,
    user_id: Uuid,
    keep: Option<Uuid>,
    change: PasswordChange,
    dry_run: bool,
    limit: impl FnOnce() -> Result<(), ApiError>,
) -> Result<Answer<UserView>, ApiError> {
    let mut problems = Vec::new();
    check_password("new_password", &change.new_password, &mut problems);
    if change.current_password.chars().count() > MAX_PASSWORD_LEN {
        problems.push(FieldError {
            field: "current_password".into(),
            problem: format!("has more than {MAX_PASSWORD_LEN} characters"),
        });
    }
    if change.new_password == change.current_password {
        problems.push(FieldError {
            field: "new_password".into(),
            problem: "is the current password; choose a new one".into(),
        });
    }
    invalid(problems)?;
    limit()?;
    let user = users::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !verify_password(change.current_password, user.password_hash).await? {
        return Err(ApiError::Forbidden(
            "current_password is not your current password; nothing was changed".into(),
        ));
    }
    let hash = hash_password(change.new_password).await?;
    let mut w = Write::begin(db, dry_run).await?;
    let row = users::Entity::find_by_id(user_id)
        .lock_exclusive()
        .one(w.txn())
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let mut row: users::ActiveModel = row.into();
    row.password_hash = Set(hash);
    row.updated_at = Set(time::OffsetDateTime::now_utc());
    let after = UserView::from(row.update(w.txn()).await?);
    let ended = revoke_sessions(w.txn(), user_id, keep).await?;
    w.audit(
        actor,
        AuditEntry {
            action: "user.password",
            resource_type: "user",
            resource_id: user_id.to_string(),
            before: None,
            after: Some(json!({
                "username": after.username,
                "password": "changed",
                "other_sessions_revoked": ended,
                "api_keys": "kept",
            })),
        },
    )
    .await?;
    w.finish(after).await
}

/// Username of the admin created with a one-time password when the environment names
/// none.
pub const GENERATED_ADMIN: &str = "admin";

/// When no user exists and the environment names no first admin: creates
/// [`GENERATED_ADMIN`] with a random 128-bit password and returns it, for the caller to
/// print once. `None` when users exist already (every later start).
pub async fn ensure_generated_admin(db: &DatabaseConnection) -> Result<Option<String>, ApiError> {
    if users::Entity::find().count(db).await? > 0 {
        return Ok(None);
    }
    let password = crate::access::generate_token()?[..32].to_owned();
    let actor = Actor::system("first admin with a one-time password");
    match create(db, &actor, GENERATED_ADMIN, &password, "admin").await {
        Ok(_) => Ok(Some(password)),
        Err(ApiError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Changes a user (admins); a disabled user or a new password ends what degraded mode
/// remembers of them.
pub async fn update(
    db: &DatabaseConnection,
    cache: &Cache,
    caller: &Caller,
    id: Uuid,
    patch: UserPatch,
    dry_run: bool,
) -> Result<Answer<UserView>, ApiError> {
    caller.authorize(Need::Admin)?;
    let actor = &caller.actor();
    let answer = update_row(db, actor, id, patch, dry_run).await?;
    if let Answer::Done(view) = &answer {
        credentials::forget_user(cache, id, Some(&view.username)).await;
    }
    Ok(answer)
}

/// Deletes a user with everything of theirs; their keys and sessions do not live on in
/// degraded mode's memory.
pub async fn delete(
    db: &DatabaseConnection,
    cache: &Cache,
    caller: &Caller,
    id: Uuid,
    dry_run: bool,
) -> Result<Answer<Deleted>, ApiError> {
    caller.authorize(Need::Admin)?;
    let actor = &caller.actor();
    let answer = delete_row(db, actor, id, dry_run).await?;
    if let Answer::Done(deleted) = &answer {
        credentials::forget_user(cache, id, Some(&deleted.username)).await;
    }
    Ok(answer)
}

/// The caller changes their own password (see [`change_own_password_row`]); the old
/// password and the other sessions do not live on in degraded mode's memory (the
/// caller's session is remembered again on its next request).
#[expect(clippy::too_many_arguments, reason = "each is one fact of the request")]
pub async fn change_own_password(
    db: &DatabaseConnection,
    cache: &Cache,
    actor: &Actor,
    user_id: Uuid,
    keep: Option<Uuid>,
    change: PasswordChange,
    dry_run: bool,
    limit: impl FnOnce() -> Result<(), ApiError>,
) -> Result<Answer<UserView>, ApiError> {
    let answer = change_own_password_row(db, actor, user_id, keep, change, dry_run, limit).await?;
    if let Answer::Done(view) = &answer {
        credentials::forget_user(cache, view.id, Some(&view.username)).await;
    }
    Ok(answer)
}
