//! The Postgres schema against a real server: the migrations apply to an empty database,
//! the constraints the services rely on reject bad rows, deletes cascade, restrict or
//! detach as documented, and the whole history rolls back to nothing and applies again.
//!
//! Each test runs in its own fresh database (see `switchyard_tests::postgres`).

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, RuntimeErr, Statement};
use switchyard_tests::postgres::TestDatabase;

/// sea-orm's own bookkeeping table; the only one allowed to survive a full rollback.
const MIGRATIONS_TABLE: &str = "seaql_migrations";

/// Every application table, sorted. A migration that adds or drops one updates this
/// list and `docs/postgres-schema.md`.
const APPLICATION_TABLES: [&str; 18] = [
    "acme_accounts",
    "acme_orders",
    "api_keys",
    "audit_log",
    "certificate_notices",
    "certificates",
    "dns_checks",
    "dns_credentials",
    "domains",
    "grants",
    "named_backends",
    "redis_outbox",
    "revision_records",
    "revisions",
    "sessions",
    "uploaded_certificates",
    "users",
    "zones",
];

/// Indexes the services' queries depend on: name, whether unique, and how their
/// definition (`pg_indexes.indexdef`) ends — columns, operator class, partial predicate.
const REQUIRED_INDEXES: [(&str, bool, &str); 24] = [
    ("users_username_lower_key", true, "(lower(username))"),
    ("sessions_token_hash_key", true, "(token_hash)"),
    ("sessions_user_id_idx", false, "(user_id)"),
    ("api_keys_prefix_key", true, "(prefix)"),
    ("api_keys_user_id_idx", false, "(user_id)"),
    ("domains_name_key", true, "(name)"),
    (
        "named_backends_preset_name_key",
        true,
        "(name) WHERE (owner_user_id IS NULL)",
    ),
    (
        "named_backends_owner_user_id_name_key",
        true,
        "(owner_user_id, name) WHERE (owner_user_id IS NOT NULL)",
    ),
    (
        "zones_hostname_path_prefix_match_key_key",
        true,
        "(hostname, path_prefix, match_key)",
    ),
    (
        "zones_hostname_pattern_idx",
        false,
        "(hostname text_pattern_ops)",
    ),
    ("zones_domain_id_idx", false, "(domain_id)"),
    ("zones_named_backend_id_idx", false, "(named_backend_id)"),
    (
        "grants_user_id_domain_id_key",
        true,
        "(user_id, domain_id) WHERE (domain_id IS NOT NULL)",
    ),
    (
        "grants_user_id_named_backend_id_key",
        true,
        "(user_id, named_backend_id) WHERE (named_backend_id IS NOT NULL)",
    ),
    (
        "certificates_domain_id_key",
        true,
        "(domain_id) WHERE (hostname IS NULL)",
    ),
    (
        "certificates_hostname_key",
        true,
        "(hostname) WHERE (hostname IS NOT NULL)",
    ),
    (
        "certificates_status_next_attempt_at_idx",
        false,
        "(status, next_attempt_at)",
    ),
    ("certificates_not_after_idx", false, "(not_after)"),
    (
        "audit_log_resource_type_resource_id_at_idx",
        false,
        "(resource_type, resource_id, at)",
    ),
    ("redis_outbox_created_at_idx", false, "(created_at)"),
    (
        "revision_records_kind_record_id_revision_idx",
        false,
        "(kind, record_id, revision)",
    ),
    ("revisions_at_idx", false, "(at)"),
    ("uploaded_certificates_name_key", true, "(name)"),
    ("uploaded_certificates_domain_id_idx", false, "(domain_id)"),
];

// Fixed ids make the fixture rows readable in the statements below.
const ALICE: &str = "00000000-0000-0000-0000-00000000a11c";
const BOB: &str = "00000000-0000-0000-0000-000000000b0b";
const EXAMPLE_COM: &str = "00000000-0000-0000-0000-0000000000d1";
const K8S_PRESET: &str = "00000000-0000-0000-0000-0000000000b1";
const BOB_BACKEND: &str = "00000000-0000-0000-0000-0000000000b2";
const CLOUDFLARE: &str = "00000000-0000-0000-0000-0000000000c1";

#[tokio::test]
async fn migrations_apply_roll_back_completely_and_apply_again() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let db = database.connect().await?;

    Migrator::up(&db, None).await?;
    assert_eq!(public_tables(&db).await?, tables_after_up());
    let applied: Vec<String> = Migrator::get_applied_migrations(&db)
        .await?
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect();
    assert_eq!(
        applied,
        [
            "m20261122_000001_initial",
            "m20261122_000002_acme_orders",
            "m20261202_000003_acme_order_dns_records",
            "m20261206_000004_zone_policies",
            "m20261206_000005_zone_match",
            "m20261206_000006_zone_timeouts",
            "m20261206_000007_revisions",
            "m20261206_000008_host_certificates",
            "m20261206_000009_uploaded_certificates",
            "m20261207_000020_dns_checks",
            "m20261207_000030_certificate_renewal_info",
            "m20261207_000031_certificate_notices",
            "m20261207_000040_domain_certificates"
        ]
    );
    assert!(Migrator::get_pending_migrations(&db).await?.is_empty());
    assert_required_indexes(&db).await?;

    Migrator::down(&db, None).await?;
    assert_eq!(public_tables(&db).await?, [MIGRATIONS_TABLE]);
    // Nothing else either: no index, sequence or view left behind by `up`.
    assert_eq!(
        strings(
            &db,
            "SELECT c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' \
             AND c.relname NOT IN ('seaql_migrations', 'seaql_migrations_pkey') \
             ORDER BY 1",
        )
        .await?,
        Vec::<String>::new()
    );
    assert!(Migrator::get_applied_migrations(&db).await?.is_empty());

    Migrator::up(&db, None).await?;
    assert_eq!(public_tables(&db).await?, tables_after_up());
    assert_required_indexes(&db).await?;

    db.close().await?;
    database.drop_now().await
}

#[tokio::test]
async fn constraints_accept_valid_rows_and_reject_invalid_ones() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let db = database.connect().await?;
    Migrator::up(&db, None).await?;
    insert_fixture(&db).await?;

    // Each statement must fail on exactly this constraint. All are tried, and all
    // mismatches reported together.
    let cases = [
        // users
        (
            "INSERT INTO users (username, password_hash, role) VALUES ('carol', 'h', 'root')",
            "users_role_check",
        ),
        (
            "INSERT INTO users (username, password_hash, role) VALUES ('ALICE', 'h', 'user')",
            "users_username_lower_key",
        ),
        // sessions and API keys
        (
            &format!(
                "INSERT INTO sessions (user_id, token_hash, csrf_token_hash, expires_at) \
                 VALUES ('{BOB}', 'session-1', 'c', now())"
            ),
            "sessions_token_hash_key",
        ),
        (
            "INSERT INTO sessions (user_id, token_hash, csrf_token_hash, expires_at) \
             VALUES (gen_random_uuid(), 'session-2', 'c', now())",
            "sessions_user_id_fkey",
        ),
        (
            &format!(
                "INSERT INTO api_keys (user_id, name, prefix, secret_hash) \
                 VALUES ('{ALICE}', 'again', 'sy_ab12cd34', 'h')"
            ),
            "api_keys_prefix_key",
        ),
        // DNS credentials and domains
        (
            "INSERT INTO dns_credentials (name, provider) VALUES ('aws', 'route53')",
            "dns_credentials_provider_check",
        ),
        (
            "INSERT INTO dns_credentials (name, provider) VALUES ('cf', 'manual')",
            "dns_credentials_name_key",
        ),
        (
            "INSERT INTO domains (name) VALUES ('example.com')",
            "domains_name_key",
        ),
        (
            "INSERT INTO domains (name, certificates) VALUES ('other.example', 'per_name')",
            "domains_certificates_check",
        ),
        // named backends: unique among presets, and per owner
        (
            "INSERT INTO named_backends (name, url_template) VALUES ('k8s', 'http://other')",
            "named_backends_preset_name_key",
        ),
        (
            &format!(
                "INSERT INTO named_backends (name, url_template, owner_user_id) \
                 VALUES ('k8s', 'http://other', '{BOB}')"
            ),
            "named_backends_owner_user_id_name_key",
        ),
        // zones
        (
            &format!(
                "INSERT INTO zones (domain_id, hostname, backend_kind) \
                 VALUES ('{EXAMPLE_COM}', 'www.example.com', 'none')"
            ),
            "zones_hostname_path_prefix_match_key_key",
        ),
        (
            &format!(
                "INSERT INTO zones (domain_id, hostname, backend_kind, conditions) \
                 VALUES ('{EXAMPLE_COM}', 'new.example.com', 'none', '[]')"
            ),
            "zones_conditions_check",
        ),
        (
            &format!(
                "INSERT INTO zones (domain_id, hostname, backend_kind, match_key) \
                 VALUES ('{EXAMPLE_COM}', 'new.example.com', 'none', repeat('x', 1025))"
            ),
            "zones_match_key_check",
        ),
        (
            &format!(
                "INSERT INTO zones (domain_id, hostname, backend_kind) \
                 VALUES ('{EXAMPLE_COM}', 'new.example.com', 'magic')"
            ),
            "zones_backend_kind_check",
        ),
        (
            &format!(
                "INSERT INTO zones (domain_id, hostname, backend_kind) \
                 VALUES ('{EXAMPLE_COM}', 'new.example.com', 'named')"
            ),
            "zones_named_backend_id_check",
        ),
        (
            &format!(
                "INSERT INTO zones (domain_id, hostname, backend_kind, named_backend_id) \
                 VALUES ('{EXAMPLE_COM}', 'new.example.com', 'upstreams', '{K8S_PRESET}')"
            ),
            "zones_named_backend_id_check",
        ),
        (
            &format!(
                "INSERT INTO zones (domain_id, hostname, backend_kind, upstreams) \
                 VALUES ('{EXAMPLE_COM}', 'new.example.com', 'upstreams', '{{\"url\": \"http://x\"}}')"
            ),
            "zones_upstreams_check",
        ),
        (
            &format!(
                "INSERT INTO zones (domain_id, hostname, backend_kind, template_params) \
                 VALUES ('{EXAMPLE_COM}', 'new.example.com', 'none', '[]')"
            ),
            "zones_template_params_check",
        ),
        (
            &format!(
                "INSERT INTO zones (domain_id, hostname, backend_kind, connect_timeout_ms) \
                 VALUES ('{EXAMPLE_COM}', 'new.example.com', 'none', 0)"
            ),
            "zones_connect_timeout_ms_check",
        ),
        (
            &format!(
                "INSERT INTO zones (domain_id, hostname, backend_kind, idle_timeout_ms) \
                 VALUES ('{EXAMPLE_COM}', 'new.example.com', 'none', 0)"
            ),
            "zones_idle_timeout_ms_check",
        ),
        (
            &format!(
                "INSERT INTO zones (domain_id, hostname, backend_kind, total_timeout_ms) \
                 VALUES ('{EXAMPLE_COM}', 'new.example.com', 'none', -1)"
            ),
            "zones_total_timeout_ms_check",
        ),
        (
            &format!(
                "INSERT INTO zones (domain_id, hostname, backend_kind, policies) \
                 VALUES ('{EXAMPLE_COM}', 'new.example.com', 'none', '[]')"
            ),
            "zones_policies_check",
        ),
        (
            "INSERT INTO zones (domain_id, hostname, backend_kind) \
             VALUES (gen_random_uuid(), 'new.example.com', 'none')",
            "zones_domain_id_fkey",
        ),
        // grants: exactly one target, one grant per user and target
        (
            &format!("INSERT INTO grants (user_id, level) VALUES ('{BOB}', 'read')"),
            "grants_target_check",
        ),
        (
            &format!(
                "INSERT INTO grants (user_id, domain_id, named_backend_id, level) \
                 VALUES ('{ALICE}', '{EXAMPLE_COM}', '{K8S_PRESET}', 'read')"
            ),
            "grants_target_check",
        ),
        (
            &format!(
                "INSERT INTO grants (user_id, domain_id, level) \
                 VALUES ('{ALICE}', '{EXAMPLE_COM}', 'admin')"
            ),
            "grants_level_check",
        ),
        (
            &format!(
                "INSERT INTO grants (user_id, domain_id, level) \
                 VALUES ('{BOB}', '{EXAMPLE_COM}', 'edit')"
            ),
            "grants_user_id_domain_id_key",
        ),
        (
            &format!(
                "INSERT INTO grants (user_id, named_backend_id, level) \
                 VALUES ('{BOB}', '{K8S_PRESET}', 'read')"
            ),
            "grants_user_id_named_backend_id_key",
        ),
        // certificates
        (
            &format!(
                "INSERT INTO certificates (domain_id, names) \
                 VALUES ('{EXAMPLE_COM}', '[\"*.example.com\", \"example.com\"]')"
            ),
            "certificates_domain_id_key",
        ),
        (
            "INSERT INTO certificates (hostname, names) \
             VALUES ('shop.example.net', '[\"shop.example.net\"]'), \
                    ('shop.example.net', '[\"shop.example.net\"]')",
            "certificates_hostname_key",
        ),
        (
            &format!(
                "INSERT INTO certificates (domain_id, hostname, names) \
                 VALUES ('{EXAMPLE_COM}', 'a.example.com', '[\"a.example.com\"]')"
            ),
            "certificates_kind_check",
        ),
        (
            "INSERT INTO certificates (names) VALUES ('[\"x.example.com\"]')",
            "certificates_kind_check",
        ),
        (
            &format!("UPDATE certificates SET status = 'issued' WHERE domain_id = '{EXAMPLE_COM}'"),
            "certificates_status_check",
        ),
        (
            &format!(
                "UPDATE certificates SET names = '\"example.com\"' WHERE domain_id = '{EXAMPLE_COM}'"
            ),
            "certificates_names_check",
        ),
        (
            "INSERT INTO acme_accounts (directory_url, credentials_ciphertext) \
             VALUES ('https://pebble:14000/dir', '\\x01')",
            "acme_accounts_directory_url_key",
        ),
        // outbox
        (
            "INSERT INTO redis_outbox (kind, key) VALUES ('user', 'x')",
            "redis_outbox_kind_check",
        ),
        // ON DELETE RESTRICT: what still routes traffic cannot disappear underneath it.
        (
            &format!("DELETE FROM domains WHERE id = '{EXAMPLE_COM}'"),
            "zones_domain_id_fkey",
        ),
        (
            &format!("DELETE FROM named_backends WHERE id = '{K8S_PRESET}'"),
            "zones_named_backend_id_fkey",
        ),
        (
            &format!("DELETE FROM dns_credentials WHERE id = '{CLOUDFLARE}'"),
            "domains_dns_credential_id_fkey",
        ),
    ];
    let mut mismatches = Vec::new();
    for (sql, constraint) in cases {
        match db.execute_unprepared(sql).await {
            Ok(_) => mismatches.push(format!("accepted, expected {constraint}: {sql}")),
            Err(error) if violated_constraint(&error).as_deref() == Some(constraint) => {}
            Err(error) => mismatches.push(format!("expected {constraint}, got {error}: {sql}")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "constraints did not bite as expected:\n{}",
        mismatches.join("\n")
    );

    db.close().await?;
    database.drop_now().await
}

#[tokio::test]
async fn deleting_a_user_cascades_to_what_they_own_and_detaches_history() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let db = database.connect().await?;
    Migrator::up(&db, None).await?;
    insert_fixture(&db).await?;

    db.execute_unprepared(&format!("DELETE FROM users WHERE id = '{BOB}'"))
        .await?;

    // Cascaded: Bob's sessions, API keys, grants and his own named backend.
    for table in ["sessions", "api_keys", "grants"] {
        let left = count(&db, table, &format!("user_id = '{BOB}'")).await?;
        assert_eq!(left, 0, "{table} rows of a deleted user");
    }
    assert_eq!(
        count(&db, "named_backends", &format!("id = '{BOB_BACKEND}'")).await?,
        0
    );
    // Detached: the domain he created and his audit records stay, without him.
    let domain = format!("id = '{EXAMPLE_COM}' AND created_by IS NULL");
    assert_eq!(count(&db, "domains", &domain).await?, 1);
    let audit = "actor_user_id IS NULL AND actor_label = 'bob'";
    assert_eq!(count(&db, "audit_log", audit).await?, 1);
    // Untouched: the preset he could edit, and everything of Alice's.
    assert_eq!(
        count(&db, "named_backends", &format!("id = '{K8S_PRESET}'")).await?,
        1
    );
    assert_eq!(
        count(&db, "api_keys", &format!("user_id = '{ALICE}'")).await?,
        1
    );

    // A domain whose zones are gone takes its grants and certificate with it.
    db.execute_unprepared(&format!(
        "INSERT INTO grants (user_id, domain_id, level) \
         VALUES ('{ALICE}', '{EXAMPLE_COM}', 'edit'); \
         DELETE FROM zones WHERE domain_id = '{EXAMPLE_COM}'; \
         DELETE FROM domains WHERE id = '{EXAMPLE_COM}'"
    ))
    .await?;
    assert_eq!(count(&db, "certificates", "true").await?, 0);
    assert_eq!(count(&db, "grants", "domain_id IS NOT NULL").await?, 0);

    db.close().await?;
    database.drop_now().await
}

/// Valid rows touching every table; inserting them must succeed, so a schema that is too
/// strict fails here.
async fn insert_fixture(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared(&format!(
        r#"
        INSERT INTO users (id, username, password_hash, role) VALUES
            ('{ALICE}', 'Alice', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', 'admin'),
            ('{BOB}', 'bob', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', 'user');
        INSERT INTO sessions (user_id, token_hash, csrf_token_hash, expires_at, source_addr)
            VALUES ('{BOB}', 'session-1', 'csrf-1', now() + interval '1 day', '192.0.2.7');
        INSERT INTO api_keys (user_id, name, prefix, secret_hash) VALUES
            ('{ALICE}', 'deploy', 'sy_ab12cd34', 'h1'),
            ('{BOB}', 'laptop', 'sy_ef56ab78', 'h2');
        INSERT INTO dns_credentials (id, name, provider, secret_ciphertext)
            VALUES ('{CLOUDFLARE}', 'cf', 'cloudflare', '\x00ff');
        INSERT INTO dns_credentials (name, provider) VALUES ('by-hand', 'manual');
        INSERT INTO domains (id, name, dns_credential_id, created_by)
            VALUES ('{EXAMPLE_COM}', 'example.com', '{CLOUDFLARE}', '{BOB}');
        INSERT INTO named_backends (id, name, url_template) VALUES
            ('{K8S_PRESET}', 'k8s', 'http://{{service}}.{{namespace}}.svc:80');
        -- A custom backend may share a preset's name.
        INSERT INTO named_backends (id, name, url_template, owner_user_id) VALUES
            ('{BOB_BACKEND}', 'k8s', 'http://bob.internal', '{BOB}');
        INSERT INTO zones (domain_id, hostname, backend_kind) VALUES
            ('{EXAMPLE_COM}', 'www.example.com', 'none');
        INSERT INTO zones (domain_id, hostname, path_prefix, backend_kind, upstreams, allow_cidrs,
                           connect_timeout_ms, read_timeout_ms, idle_timeout_ms,
                           total_timeout_ms) VALUES
            ('{EXAMPLE_COM}', 'www.example.com', '/api', 'upstreams',
             '[{{"url": "http://10.0.0.1:8080", "weight": 1}}]', '["10.0.0.0/8"]', 500, 30000,
             10000, 120000);
        INSERT INTO zones (domain_id, hostname, backend_kind, named_backend_id, template_params)
            VALUES ('{EXAMPLE_COM}', '*.apps.example.com', 'named', '{K8S_PRESET}',
                    '{{"service": "web", "namespace": "default"}}');
        INSERT INTO grants (user_id, domain_id, level) VALUES ('{BOB}', '{EXAMPLE_COM}', 'read');
        INSERT INTO grants (user_id, named_backend_id, level) VALUES ('{BOB}', '{K8S_PRESET}', 'edit');
        INSERT INTO acme_accounts (directory_url, credentials_ciphertext)
            VALUES ('https://pebble:14000/dir', '\x01');
        INSERT INTO certificates (domain_id, names)
            VALUES ('{EXAMPLE_COM}', '["*.example.com", "example.com"]');
        INSERT INTO audit_log (actor_user_id, actor_label, action, resource_type, resource_id, after)
            VALUES ('{BOB}', 'bob', 'create', 'domain', '{EXAMPLE_COM}', '{{"name": "example.com"}}');
        INSERT INTO redis_outbox (kind, key) VALUES ('full', '');
        "#
    ))
    .await?;
    Ok(())
}

/// The constraint (or unique index) a statement violated, as Postgres names it.
fn violated_constraint(error: &DbErr) -> Option<String> {
    let (DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error))) =
        error
    else {
        return None;
    };
    match error.as_ref() {
        sea_orm::sqlx::Error::Database(error) => error.constraint().map(str::to_owned),
        _ => None,
    }
}

fn tables_after_up() -> Vec<&'static str> {
    let mut tables = APPLICATION_TABLES.to_vec();
    tables.push(MIGRATIONS_TABLE);
    tables.sort_unstable();
    tables
}

async fn public_tables(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    strings(
        db,
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .await
}

async fn assert_required_indexes(db: &DatabaseConnection) -> Result<(), DbErr> {
    let mut problems = Vec::new();
    for (name, unique, tail) in REQUIRED_INDEXES {
        let found = strings(
            db,
            &format!(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexname = '{name}'"
            ),
        )
        .await?;
        let Some(indexdef) = found.first() else {
            problems.push(format!("{name}: missing"));
            continue;
        };
        if indexdef.starts_with("CREATE UNIQUE INDEX") != unique
            || !indexdef.ends_with(&format!("USING btree {tail}"))
        {
            let wanted = if unique { "unique" } else { "not unique" };
            problems.push(format!("{name}: {indexdef}; wanted {wanted}, btree {tail}"));
        }
    }
    assert!(problems.is_empty(), "indexes:\n{}", problems.join("\n"));
    Ok(())
}

/// The first column of every row, as text.
async fn strings(db: &DatabaseConnection, sql: &str) -> Result<Vec<String>, DbErr> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect()
}

/// `SELECT count(*) FROM <table> WHERE <condition>`.
async fn count(db: &DatabaseConnection, table: &str, condition: &str) -> Result<i64, DbErr> {
    let sql = format!("SELECT count(*) FROM {table} WHERE {condition}");
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.clone()))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("no row from {sql}")))?;
    row.try_get_by_index::<i64>(0)
}
