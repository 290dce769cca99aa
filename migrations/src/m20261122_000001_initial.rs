//! The initial schema: every table Switchyard needs at its first release.
//!
//! Conventions, which later migrations keep:
//! - ids are `uuid DEFAULT gen_random_uuid()` (built into Postgres 13+, no extension), so
//!   every writer — panel, worker, an operator in `psql` — gets one without coordination.
//!   The two append-only logs (`audit_log`, `redis_outbox`) use a `bigint` identity
//!   instead: cheap, and their order is the insertion order.
//! - times are `timestamptz`; `created_at`/`updated_at` default to `now()`. The
//!   application sets `updated_at` on every update (no triggers: the schema holds no logic).
//! - enumerated `text` columns carry a CHECK listing their values, and `jsonb` columns a
//!   CHECK on their top-level shape, so a bug in one writer cannot store what the others
//!   cannot read.
//! - constraints and indexes are named explicitly, after Postgres' own pattern
//!   (`<table>_<columns>_key|_fkey|_check|_idx`), so services can map a violated constraint
//!   to an API error by name, and every foreign key states its `ON DELETE`.
//!
//! Plain tables, keys and indexes use sea-query's builder; indexes the builder would only
//! obscure (expressions, partial indexes, operator classes) are raw SQL.

use sea_orm_migration::{prelude::*, schema::*};

/// `users.role`.
const USER_ROLES: [&str; 2] = ["admin", "user"];
/// `dns_credentials.provider`: the DNS-01 solvers cert-worker knows.
const DNS_PROVIDERS: [&str; 4] = ["cloudflare", "digitalocean", "porkbun", "manual"];
/// `zones.backend_kind`: no backend yet (503), an inline upstream list, a named backend.
const BACKEND_KINDS: [&str; 3] = ["none", "upstreams", "named"];
/// `grants.level`.
const GRANT_LEVELS: [&str; 2] = ["read", "edit"];
/// `certificates.status`.
const CERTIFICATE_STATUSES: [&str; 5] =
    ["pending", "active", "renewing", "failed", "failed_renewal"];
/// `redis_outbox.kind`: which Redis write to replay.
const OUTBOX_KINDS: [&str; 3] = ["zone", "cert", "full"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Parents before children; `down` walks the same list backwards.
        create_users(manager).await?;
        create_sessions(manager).await?;
        create_api_keys(manager).await?;
        create_dns_credentials(manager).await?;
        create_domains(manager).await?;
        create_named_backends(manager).await?;
        create_zones(manager).await?;
        create_grants(manager).await?;
        create_acme_accounts(manager).await?;
        create_certificates(manager).await?;
        create_audit_log(manager).await?;
        create_redis_outbox(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // No CASCADE: if something outside this migration depends on these tables, the
        // rollback must stop and say so rather than silently take it along. Indexes,
        // constraints and identity sequences go with their tables.
        let tables = [
            RedisOutbox::Table.into_iden(),
            AuditLog::Table.into_iden(),
            Certificates::Table.into_iden(),
            AcmeAccounts::Table.into_iden(),
            Grants::Table.into_iden(),
            Zones::Table.into_iden(),
            NamedBackends::Table.into_iden(),
            Domains::Table.into_iden(),
            DnsCredentials::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
        ];
        for table in tables {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

async fn create_users(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Users::Table)
                .col(id(Users::Id))
                .col(text(Users::Username))
                .col(text(Users::PasswordHash))
                .col(text(Users::Role))
                .col(boolean(Users::Disabled).default(false))
                .col(now(Users::CreatedAt))
                .col(now(Users::UpdatedAt))
                .check(one_of("users_role_check", Users::Role, &USER_ROLES))
                .to_owned(),
        )
        .await?;
    // `Alice` and `alice` are the same account. Lookups must compare
    // `lower(username) = lower($1)` to use this index.
    raw(
        manager,
        "CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username))",
    )
    .await
}

async fn create_sessions(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Sessions::Table)
                .col(id(Sessions::Id))
                .col(uuid(Sessions::UserId))
                .col(text(Sessions::TokenHash))
                .col(text(Sessions::CsrfTokenHash))
                .col(now(Sessions::CreatedAt))
                .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                .col(now(Sessions::LastSeenAt))
                .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                .col(text_null(Sessions::SourceAddr))
                .index(unique("sessions_token_hash_key").col(Sessions::TokenHash))
                .foreign_key(
                    ForeignKey::create()
                        .name("sessions_user_id_fkey")
                        .from(Sessions::Table, Sessions::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            index("sessions_user_id_idx", Sessions::Table)
                .col(Sessions::UserId)
                .to_owned(),
        )
        .await
}

async fn create_api_keys(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(ApiKeys::Table)
                .col(id(ApiKeys::Id))
                .col(uuid(ApiKeys::UserId))
                .col(text(ApiKeys::Name))
                .col(text(ApiKeys::Prefix))
                .col(text(ApiKeys::SecretHash))
                .col(now(ApiKeys::CreatedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                // The prefix is how a presented key finds its row.
                .index(unique("api_keys_prefix_key").col(ApiKeys::Prefix))
                .foreign_key(
                    ForeignKey::create()
                        .name("api_keys_user_id_fkey")
                        .from(ApiKeys::Table, ApiKeys::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            index("api_keys_user_id_idx", ApiKeys::Table)
                .col(ApiKeys::UserId)
                .to_owned(),
        )
        .await
}

async fn create_dns_credentials(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(DnsCredentials::Table)
                .col(id(DnsCredentials::Id))
                .col(text(DnsCredentials::Name))
                .col(text(DnsCredentials::Provider))
                // Encrypted by the application with the key from its environment; NULL
                // for `manual`, which has no secret.
                .col(binary_null(DnsCredentials::SecretCiphertext))
                .col(text_null(DnsCredentials::ApiBaseUrl))
                .col(now(DnsCredentials::CreatedAt))
                .col(now(DnsCredentials::UpdatedAt))
                .index(unique("dns_credentials_name_key").col(DnsCredentials::Name))
                .check(one_of(
                    "dns_credentials_provider_check",
                    DnsCredentials::Provider,
                    &DNS_PROVIDERS,
                ))
                .to_owned(),
        )
        .await
}

async fn create_domains(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Domains::Table)
                .col(id(Domains::Id))
                .col(text(Domains::Name))
                .col(uuid_null(Domains::DnsCredentialId))
                .col(uuid_null(Domains::CreatedBy))
                .col(now(Domains::CreatedAt))
                .col(now(Domains::UpdatedAt))
                .index(unique("domains_name_key").col(Domains::Name))
                // A credential in use cannot disappear from under its certificates.
                .foreign_key(
                    ForeignKey::create()
                        .name("domains_dns_credential_id_fkey")
                        .from(Domains::Table, Domains::DnsCredentialId)
                        .to(DnsCredentials::Table, DnsCredentials::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("domains_created_by_fkey")
                        .from(Domains::Table, Domains::CreatedBy)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .to_owned(),
        )
        .await?;
    // Both serve the foreign-key checks when a credential or user is deleted, and the
    // "which domains use this credential" question.
    manager
        .create_index(
            index("domains_dns_credential_id_idx", Domains::Table)
                .col(Domains::DnsCredentialId)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            index("domains_created_by_idx", Domains::Table)
                .col(Domains::CreatedBy)
                .to_owned(),
        )
        .await
}

async fn create_named_backends(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(NamedBackends::Table)
                .col(id(NamedBackends::Id))
                .col(text(NamedBackends::Name))
                .col(text(NamedBackends::UrlTemplate))
                // NULL: an admin preset, visible to everyone.
                .col(uuid_null(NamedBackends::OwnerUserId))
                .col(now(NamedBackends::CreatedAt))
                .col(now(NamedBackends::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("named_backends_owner_user_id_fkey")
                        .from(NamedBackends::Table, NamedBackends::OwnerUserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    // Names are unique per namespace: once among the presets, once per owner. A plain
    // UNIQUE (owner_user_id, name) would let presets repeat, since NULLs are distinct.
    raw(
        manager,
        "CREATE UNIQUE INDEX named_backends_preset_name_key ON named_backends (name) \
         WHERE owner_user_id IS NULL",
    )
    .await?;
    raw(
        manager,
        "CREATE UNIQUE INDEX named_backends_owner_user_id_name_key \
         ON named_backends (owner_user_id, name) WHERE owner_user_id IS NOT NULL",
    )
    .await
}

async fn create_zones(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Zones::Table)
                .col(id(Zones::Id))
                .col(uuid(Zones::DomainId))
                // Normalised pattern (`shared`'s hostname rules); may hold `*`/`**` labels.
                .col(text(Zones::Hostname))
                .col(text(Zones::PathPrefix).default(""))
                .col(text(Zones::BackendKind))
                // `[{"url": "...", "weight": n}, ...]`
                .col(jsonb(Zones::Upstreams, "[]"))
                .col(uuid_null(Zones::NamedBackendId))
                .col(jsonb(Zones::TemplateParams, "{}"))
                .col(boolean(Zones::ForceHttps).default(false))
                .col(boolean(Zones::PreserveHost).default(false))
                // `["10.0.0.0/8", ...]`; empty means everyone.
                .col(jsonb(Zones::AllowCidrs, "[]"))
                .col(integer_null(Zones::ConnectTimeoutMs))
                .col(integer_null(Zones::ReadTimeoutMs))
                .col(now(Zones::CreatedAt))
                .col(now(Zones::UpdatedAt))
                .index(
                    unique("zones_hostname_path_prefix_key")
                        .col(Zones::Hostname)
                        .col(Zones::PathPrefix),
                )
                // A domain with zones cannot be deleted: its zones go first, explicitly.
                .foreign_key(
                    ForeignKey::create()
                        .name("zones_domain_id_fkey")
                        .from(Zones::Table, Zones::DomainId)
                        .to(Domains::Table, Domains::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                // Likewise a named backend still routed to.
                .foreign_key(
                    ForeignKey::create()
                        .name("zones_named_backend_id_fkey")
                        .from(Zones::Table, Zones::NamedBackendId)
                        .to(NamedBackends::Table, NamedBackends::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .check(one_of(
                    "zones_backend_kind_check",
                    Zones::BackendKind,
                    &BACKEND_KINDS,
                ))
                .check((
                    "zones_named_backend_id_check",
                    Expr::cust("(backend_kind = 'named') = (named_backend_id IS NOT NULL)"),
                ))
                .check(json_shape("zones_upstreams_check", "upstreams", "array"))
                .check(json_shape(
                    "zones_template_params_check",
                    "template_params",
                    "object",
                ))
                .check(json_shape(
                    "zones_allow_cidrs_check",
                    "allow_cidrs",
                    "array",
                ))
                .check((
                    "zones_connect_timeout_ms_check",
                    Expr::cust("connect_timeout_ms > 0"),
                ))
                .check((
                    "zones_read_timeout_ms_check",
                    Expr::cust("read_timeout_ms > 0"),
                ))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            index("zones_domain_id_idx", Zones::Table)
                .col(Zones::DomainId)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            index("zones_named_backend_id_idx", Zones::Table)
                .col(Zones::NamedBackendId)
                .to_owned(),
        )
        .await?;
    // `hostname LIKE 'api.%'` searches. The unique index above cannot serve LIKE under a
    // non-C collation; `text_pattern_ops` compares bytewise and can.
    raw(
        manager,
        "CREATE INDEX zones_hostname_pattern_idx ON zones (hostname text_pattern_ops)",
    )
    .await
}

async fn create_grants(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Grants::Table)
                .col(id(Grants::Id))
                .col(uuid(Grants::UserId))
                .col(uuid_null(Grants::DomainId))
                .col(uuid_null(Grants::NamedBackendId))
                .col(text(Grants::Level))
                .col(now(Grants::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("grants_user_id_fkey")
                        .from(Grants::Table, Grants::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("grants_domain_id_fkey")
                        .from(Grants::Table, Grants::DomainId)
                        .to(Domains::Table, Domains::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("grants_named_backend_id_fkey")
                        .from(Grants::Table, Grants::NamedBackendId)
                        .to(NamedBackends::Table, NamedBackends::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .check(one_of("grants_level_check", Grants::Level, &GRANT_LEVELS))
                // A grant is on a domain or on a named backend, never both or neither.
                .check((
                    "grants_target_check",
                    Expr::cust("num_nonnulls(domain_id, named_backend_id) = 1"),
                ))
                .to_owned(),
        )
        .await?;
    // One grant per user and target; these also serve "what may this user see".
    raw(
        manager,
        "CREATE UNIQUE INDEX grants_user_id_domain_id_key ON grants (user_id, domain_id) \
         WHERE domain_id IS NOT NULL",
    )
    .await?;
    raw(
        manager,
        "CREATE UNIQUE INDEX grants_user_id_named_backend_id_key \
         ON grants (user_id, named_backend_id) WHERE named_backend_id IS NOT NULL",
    )
    .await?;
    // "Who may see this domain/backend", and the cascades when one is deleted.
    raw(
        manager,
        "CREATE INDEX grants_domain_id_idx ON grants (domain_id) WHERE domain_id IS NOT NULL",
    )
    .await?;
    raw(
        manager,
        "CREATE INDEX grants_named_backend_id_idx ON grants (named_backend_id) \
         WHERE named_backend_id IS NOT NULL",
    )
    .await
}

async fn create_acme_accounts(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(AcmeAccounts::Table)
                .col(id(AcmeAccounts::Id))
                // One account per CA directory.
                .col(text(AcmeAccounts::DirectoryUrl))
                .col(text_null(AcmeAccounts::Contact))
                // The account key and URL, encrypted by cert-worker.
                .col(binary(AcmeAccounts::CredentialsCiphertext))
                .col(now(AcmeAccounts::CreatedAt))
                .index(unique("acme_accounts_directory_url_key").col(AcmeAccounts::DirectoryUrl))
                .to_owned(),
        )
        .await
}

async fn create_certificates(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Certificates::Table)
                .col(id(Certificates::Id))
                .col(uuid(Certificates::DomainId))
                // `["*.example.com", "example.com"]`
                .col(json_binary(Certificates::Names))
                .col(text(Certificates::Status).default("pending"))
                .col(text_null(Certificates::ChainPem))
                // Encrypted by cert-worker with the key from its environment.
                .col(binary_null(Certificates::KeyCiphertext))
                .col(timestamp_with_time_zone_null(Certificates::NotBefore))
                .col(timestamp_with_time_zone_null(Certificates::NotAfter))
                .col(text_null(Certificates::LastError))
                .col(integer(Certificates::Attempts).default(0))
                .col(now(Certificates::NextAttemptAt))
                // The TXT record an operator must publish for `manual` DNS credentials.
                .col(text_null(Certificates::ManualTxtName))
                .col(text_null(Certificates::ManualTxtValue))
                .col(text_null(Certificates::OrderUrl))
                .col(now(Certificates::CreatedAt))
                .col(now(Certificates::UpdatedAt))
                // One wildcard certificate per domain.
                .index(unique("certificates_domain_id_key").col(Certificates::DomainId))
                .foreign_key(
                    ForeignKey::create()
                        .name("certificates_domain_id_fkey")
                        .from(Certificates::Table, Certificates::DomainId)
                        .to(Domains::Table, Domains::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .check(one_of(
                    "certificates_status_check",
                    Certificates::Status,
                    &CERTIFICATE_STATUSES,
                ))
                .check(json_shape("certificates_names_check", "names", "array"))
                .check(("certificates_attempts_check", Expr::cust("attempts >= 0")))
                .to_owned(),
        )
        .await?;
    // cert-worker's queue: "what is due now, in which state".
    manager
        .create_index(
            index(
                "certificates_status_next_attempt_at_idx",
                Certificates::Table,
            )
            .col(Certificates::Status)
            .col(Certificates::NextAttemptAt)
            .to_owned(),
        )
        .await?;
    // "What expires soon" (renewal scheduling, expiry alerts).
    manager
        .create_index(
            index("certificates_not_after_idx", Certificates::Table)
                .col(Certificates::NotAfter)
                .to_owned(),
        )
        .await
}

async fn create_audit_log(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(big_pk_auto(AuditLog::Id))
                .col(now(AuditLog::At))
                // Kept NULL once the user is gone; `actor_label` still says who it was.
                .col(uuid_null(AuditLog::ActorUserId))
                // e.g. `alice (api key sy_ab12)`
                .col(text(AuditLog::ActorLabel))
                .col(text(AuditLog::Action))
                .col(text(AuditLog::ResourceType))
                .col(text(AuditLog::ResourceId))
                .col(json_binary_null(AuditLog::Before))
                .col(json_binary_null(AuditLog::After))
                .col(text_null(AuditLog::SourceAddr))
                .col(text_null(AuditLog::RequestId))
                .foreign_key(
                    ForeignKey::create()
                        .name("audit_log_actor_user_id_fkey")
                        .from(AuditLog::Table, AuditLog::ActorUserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .to_owned(),
        )
        .await?;
    // The three ways the log is read: by time, by actor, by resource.
    manager
        .create_index(
            index("audit_log_at_idx", AuditLog::Table)
                .col(AuditLog::At)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            index("audit_log_actor_user_id_at_idx", AuditLog::Table)
                .col(AuditLog::ActorUserId)
                .col(AuditLog::At)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            index(
                "audit_log_resource_type_resource_id_at_idx",
                AuditLog::Table,
            )
            .col(AuditLog::ResourceType)
            .col(AuditLog::ResourceId)
            .col(AuditLog::At)
            .to_owned(),
        )
        .await
}

async fn create_redis_outbox(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(RedisOutbox::Table)
                .col(big_pk_auto(RedisOutbox::Id))
                .col(text(RedisOutbox::Kind))
                // The zone or certificate id to rewrite; ignored for `full`.
                .col(text(RedisOutbox::Key))
                .col(now(RedisOutbox::CreatedAt))
                .check(one_of(
                    "redis_outbox_kind_check",
                    RedisOutbox::Kind,
                    &OUTBOX_KINDS,
                ))
                .to_owned(),
        )
        .await?;
    // The sync loop replays oldest first.
    manager
        .create_index(
            index("redis_outbox_created_at_idx", RedisOutbox::Table)
                .col(RedisOutbox::CreatedAt)
                .to_owned(),
        )
        .await
}

/// `<col> uuid NOT NULL PRIMARY KEY DEFAULT gen_random_uuid()`.
fn id<C: IntoIden>(col: C) -> ColumnDef {
    pk_uuid(col).default(Expr::cust("gen_random_uuid()")).take()
}

/// `<col> timestamptz NOT NULL DEFAULT now()`.
fn now<C: IntoIden>(col: C) -> ColumnDef {
    timestamp_with_time_zone(col)
        .default(Expr::cust("now()"))
        .take()
}

/// `<col> jsonb NOT NULL DEFAULT '<empty>'::jsonb`.
fn jsonb<C: IntoIden>(col: C, empty: &str) -> ColumnDef {
    json_binary(col)
        .default(Expr::cust(format!("'{empty}'::jsonb")))
        .take()
}

/// `CONSTRAINT <name> CHECK (<col> IN (<values>))`.
fn one_of<C: IntoIden>(name: &'static str, col: C, values: &[&'static str]) -> Check {
    Check::named(
        name,
        Expr::col(col.into_iden()).is_in(values.iter().copied()),
    )
}

/// `CONSTRAINT <name> CHECK (jsonb_typeof(<col>) = '<shape>')`.
fn json_shape(name: &'static str, col: &str, shape: &str) -> Check {
    Check::named(name, Expr::cust(format!("jsonb_typeof({col}) = '{shape}'")))
}

/// `CONSTRAINT <name> UNIQUE (...)` inside `CREATE TABLE`; add the columns.
fn unique(name: &str) -> IndexCreateStatement {
    Index::create().name(name).unique().to_owned()
}

/// `CREATE INDEX <name> ON <table> (...)`; add the columns.
fn index<T: IntoIden>(name: &str, table: T) -> IndexCreateStatement {
    Index::create().name(name).table(table).to_owned()
}

/// Runs DDL the builder has no clear spelling for, inside the migration's transaction.
async fn raw(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager.get_connection().execute_unprepared(sql).await?;
    Ok(())
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    PasswordHash,
    Role,
    Disabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    TokenHash,
    CsrfTokenHash,
    CreatedAt,
    ExpiresAt,
    LastSeenAt,
    RevokedAt,
    SourceAddr,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    UserId,
    Name,
    Prefix,
    SecretHash,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum DnsCredentials {
    Table,
    Id,
    Name,
    Provider,
    SecretCiphertext,
    ApiBaseUrl,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Domains {
    Table,
    Id,
    Name,
    DnsCredentialId,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum NamedBackends {
    Table,
    Id,
    Name,
    UrlTemplate,
    OwnerUserId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Zones {
    Table,
    Id,
    DomainId,
    Hostname,
    PathPrefix,
    BackendKind,
    Upstreams,
    NamedBackendId,
    TemplateParams,
    ForceHttps,
    PreserveHost,
    AllowCidrs,
    ConnectTimeoutMs,
    ReadTimeoutMs,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    Id,
    UserId,
    DomainId,
    NamedBackendId,
    Level,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AcmeAccounts {
    Table,
    Id,
    DirectoryUrl,
    Contact,
    CredentialsCiphertext,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Certificates {
    Table,
    Id,
    DomainId,
    Names,
    Status,
    ChainPem,
    KeyCiphertext,
    NotBefore,
    NotAfter,
    LastError,
    Attempts,
    NextAttemptAt,
    ManualTxtName,
    ManualTxtValue,
    OrderUrl,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    ActorUserId,
    ActorLabel,
    Action,
    ResourceType,
    ResourceId,
    Before,
    After,
    SourceAddr,
    RequestId,
}

#[derive(DeriveIden)]
enum RedisOutbox {
    Table,
    Id,
    Kind,
    Key,
    CreatedAt,
}
