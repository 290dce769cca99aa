//! The sea-orm entities of every application table, written once for the services that
//! use them (`panel-api` and `cert-worker`) to match `migrations` column for column:
//! names, types, and nullability (`Option` exactly where the column is nullable).
//! `tests/tests/migrations.rs` compares each entity with the migrated schema, so a
//! migration that changes a table without its entity here fails the tests.
//! Relations are left out: every query names its join condition explicitly.

pub mod users {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub username: String,
        /// argon2id PHC string; never serialised or logged.
        pub password_hash: String,
        pub role: String,
        pub disabled: bool,
        pub created_at: TimeDateTimeWithTimeZone,
        pub updated_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_keys {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub name: String,
        pub prefix: String,
        /// SHA-256 of the secret part, hex; never serialised or logged.
        pub secret_hash: String,
        pub created_at: TimeDateTimeWithTimeZone,
        pub expires_at: Option<TimeDateTimeWithTimeZone>,
        pub revoked_at: Option<TimeDateTimeWithTimeZone>,
        pub last_used_at: Option<TimeDateTimeWithTimeZone>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod domains {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "domains")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub dns_credential_id: Option<Uuid>,
        /// How the domain's names get certificates: `wildcard` or `per_host`
        /// (panel-api's `CertificateMode` spells them; cert-worker reads them in SQL).
        pub certificates: String,
        pub created_by: Option<Uuid>,
        pub created_at: TimeDateTimeWithTimeZone,
        pub updated_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod named_backends {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "named_backends")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub url_template: String,
        /// `None`: an admin preset, visible to everyone.
        pub owner_user_id: Option<Uuid>,
        pub created_at: TimeDateTimeWithTimeZone,
        pub updated_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod zones {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "zones")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub domain_id: Uuid,
        pub hostname: String,
        pub path_prefix: String,
        pub backend_kind: String,
        pub upstreams: Json,
        pub named_backend_id: Option<Uuid>,
        pub template_params: Json,
        pub force_https: bool,
        pub preserve_host: bool,
        pub allow_cidrs: Json,
        pub connect_timeout_ms: Option<i32>,
        pub read_timeout_ms: Option<i32>,
        pub idle_timeout_ms: Option<i32>,
        pub total_timeout_ms: Option<i32>,
        /// The route's `Policies` as validated and normalised (`{}`: none); basic-auth
        /// users hold hashes only, never a password (`m20261206_000004_zone_policies`).
        pub policies: Json,
        /// The route's `RouteMatch` as validated and normalised (`{}`: none), and its
        /// canonical JSON (`''`: none), the third part of the zone's identity
        /// (`m20261206_000005_zone_match`).
        pub conditions: Json,
        pub match_key: String,
        pub created_at: TimeDateTimeWithTimeZone,
        pub updated_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_log {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub at: TimeDateTimeWithTimeZone,
        pub actor_user_id: Option<Uuid>,
        pub actor_label: String,
        pub action: String,
        pub resource_type: String,
        pub resource_id: String,
        pub before: Option<Json>,
        pub after: Option<Json>,
        pub source_addr: Option<String>,
        pub request_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod redis_outbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "redis_outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub kind: String,
        pub key: String,
        pub created_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod sessions {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        /// SHA-256 of the cookie's token, hex; never serialised or logged.
        pub token_hash: String,
        /// SHA-256 of the session's CSRF token, hex.
        pub csrf_token_hash: String,
        pub created_at: TimeDateTimeWithTimeZone,
        pub expires_at: TimeDateTimeWithTimeZone,
        pub last_seen_at: TimeDateTimeWithTimeZone,
        pub revoked_at: Option<TimeDateTimeWithTimeZone>,
        pub source_addr: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod grants {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "grants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub domain_id: Option<Uuid>,
        pub named_backend_id: Option<Uuid>,
        /// `read` or `edit`.
        pub level: String,
        pub created_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The columns of `certificates` the panel reads (cert-worker owns the rest, and the
/// encrypted key never leaves it).
pub mod certificates {
    use sea_orm::entity::prelude::*;

    /// A domain's wildcard certificate (`domain_id` set, `hostname` NULL) or one exact
    /// hostname's, ordered by HTTP-01 (`hostname` set, `domain_id` NULL).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "certificates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub domain_id: Option<Uuid>,
        pub hostname: Option<String>,
        pub names: Json,
        pub status: String,
        /// The chain served (PEM); never returned by the panel.
        pub chain_pem: Option<String>,
        /// The private key, sealed by cert-worker; never returned or logged.
        pub key_ciphertext: Option<Vec<u8>>,
        pub not_before: Option<TimeDateTimeWithTimeZone>,
        pub not_after: Option<TimeDateTimeWithTimeZone>,
        pub last_error: Option<String>,
        pub attempts: i32,
        pub next_attempt_at: TimeDateTimeWithTimeZone,
        /// Written by the cert worker for a `manual` DNS credential's open order.
        pub manual_txt_name: Option<String>,
        /// The TXT values to publish at `manual_txt_name`, one per line.
        pub manual_txt_value: Option<String>,
        /// The open ACME order's URL, to resume it.
        pub order_url: Option<String>,
        pub created_at: TimeDateTimeWithTimeZone,
        pub updated_at: TimeDateTimeWithTimeZone,
        /// ARI (RFC 9773): the renewal window the CA last suggested for the certificate
        /// served; NULL while the CA offers no ARI (the one-third rule applies).
        pub ari_window_start: Option<TimeDateTimeWithTimeZone>,
        pub ari_window_end: Option<TimeDateTimeWithTimeZone>,
        /// When the worker chose, in that window, to renew.
        pub ari_renew_at: Option<TimeDateTimeWithTimeZone>,
        /// When the worker asks the CA for the window again (its `Retry-After`).
        pub ari_next_poll_at: Option<TimeDateTimeWithTimeZone>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod acme_accounts {
    use sea_orm::entity::prelude::*;

    /// cert-worker's ACME account at one CA directory.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "acme_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub directory_url: String,
        pub contact: Option<String>,
        /// The account key and URL, sealed by cert-worker.
        pub credentials_ciphertext: Vec<u8>,
        pub created_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod acme_orders {
    use sea_orm::entity::prelude::*;

    /// One ACME order of a certificate: the log of attempts, and the DNS records it made.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "acme_orders")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub certificate_id: Uuid,
        pub account_id: Uuid,
        pub order_url: Option<String>,
        /// `started`, `issued` or `failed`.
        pub outcome: String,
        pub error: Option<String>,
        pub created_at: TimeDateTimeWithTimeZone,
        pub finished_at: Option<TimeDateTimeWithTimeZone>,
        /// The TXT records the order created at the DNS provider (a JSON array).
        pub dns_records: Option<Json>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `uploaded_certificates`: certificates operators bring (`service::cert_uploads`).
/// `key_ciphertext` is the sealed private key; it never leaves the panel except to Redis.
pub mod uploaded_certificates {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "uploaded_certificates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub domain_id: Uuid,
        pub hostname: Option<String>,
        pub name: String,
        pub names: Json,
        pub chain_pem: String,
        pub key_ciphertext: Vec<u8>,
        pub not_before: TimeDateTimeWithTimeZone,
        pub not_after: TimeDateTimeWithTimeZone,
        pub fingerprint_sha256: String,
        pub issuer: String,
        pub key_type: String,
        pub created_by: Option<Uuid>,
        pub created_at: TimeDateTimeWithTimeZone,
        pub updated_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod dns_credentials {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "dns_credentials")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub provider: String,
        /// Sealed with `SecretBox` (context `dns_credentials.secret`); never serialised,
        /// never logged, never returned.
        pub secret_ciphertext: Option<Vec<u8>>,
        pub api_base_url: Option<String>,
        pub created_at: TimeDateTimeWithTimeZone,
        pub updated_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One committed change to the routing configuration (`m20261206_000007_revisions`).
pub mod revisions {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "revisions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub number: i64,
        pub at: TimeDateTimeWithTimeZone,
        pub actor_user_id: Option<Uuid>,
        pub actor_label: String,
        pub action: String,
        pub request_id: Option<String>,
        pub restores: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One record a revision touched, before and after (`m20261206_000007_revisions`).
pub mod revision_records {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "revision_records")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub revision: i64,
        /// `zone`, `named_backend` or `domain`.
        pub kind: String,
        pub record_id: Uuid,
        pub natural_key: String,
        /// `create`, `update`, `delete` or `rerender`.
        pub op: String,
        pub domain_ids: Vec<Uuid>,
        pub owner_user_id: Option<Uuid>,
        /// Zones keep basic-auth hashes here (a rollback restores them); every answer
        /// redacts them.
        pub before: Option<Json>,
        pub after: Option<Json>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod dns_checks {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "dns_checks")]
    pub struct Model {
        /// The name checked: a domain's apex or a zone's hostname.
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub checked_at: TimeDateTimeWithTimeZone,
        pub resolver: String,
        /// `pass`, `fail` or `unconfigured`.
        pub verdict: String,
        /// `[{"type": "A", "value": "203.0.113.7"}, …]`, CNAMEs first.
        pub records: Json,
        /// The public addresses configured when it was checked.
        pub expected: Json,
        pub problem: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod certificate_notices {
    use sea_orm::entity::prelude::*;

    /// An expiry notice cert-worker sent: one per certificate version and threshold.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "certificate_notices")]
    pub struct Model {
        /// `issued` (a `certificates` row) or `uploaded` (an `uploaded_certificates` row).
        #[sea_orm(primary_key, auto_increment = false)]
        pub source: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub certificate_id: Uuid,
        /// The version of the certificate the notice was about.
        #[sea_orm(primary_key, auto_increment = false)]
        pub not_after: TimeDateTimeWithTimeZone,
        /// 14, 7 or 3: days before `not_after`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub threshold_days: i32,
        pub sent_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
