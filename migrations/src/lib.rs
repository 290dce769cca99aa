//! Switchyard's PostgreSQL schema, as sea-orm migrations.
//!
//! Postgres is the source of truth for `panel-api` (users, sessions, API keys, grants,
//! domains, zones, named backends, DNS credentials, the audit log, the Redis outbox) and
//! for `cert-worker` (the ACME account and certificate orders). This crate owns the shape
//! of those tables and nothing else; `docs/postgres-schema.md` describes them for
//! operators. Code applies it through [`Migrator`] (`Migrator::up(&db, None)`); operators
//! run the `switchyard-migrate` binary (`DATABASE_URL=... switchyard-migrate up`).
//!
//! What a migration here must never do:
//! - **Edit a released migration.** Once a migration has shipped, databases exist that
//!   recorded it as applied and will never run it again. A schema change is always a new
//!   module `mYYYYMMDD_NNNNNN_what`, appended to [`Migrator::migrations`].
//! - **Depend on data.** No branching on row contents, no backfills that read the
//!   application's rules: a migration must give the same schema on an empty database and
//!   on a full one. Data rewrites belong to the service that owns the data.
//! - **Import the domain model** (`switchyard-shared`). A released migration must keep
//!   producing the same schema even after the model changes, so the enumerated values it
//!   checks (roles, providers, statuses) are spelled out in the migration itself.
//!
//! Every `down` undoes exactly its own `up`, so `switchyard-migrate down` walks the schema
//! back one step at a time (tests roll the whole history back and forward again).

mod m20261122_000001_initial;
mod m20261122_000002_acme_orders;
mod m20261202_000003_acme_order_dns_records;
mod m20261206_000004_zone_policies;
mod m20261206_000005_zone_match;
mod m20261206_000006_zone_timeouts;
mod m20261206_000007_revisions;
mod m20261206_000008_host_certificates;
mod m20261206_000009_uploaded_certificates;
mod m20261207_000020_dns_checks;
mod m20261207_000030_certificate_renewal_info;
mod m20261207_000031_certificate_notices;
mod m20261207_000040_domain_certificates;

// The sea-orm convention: callers write `use migrations::{Migrator, MigratorTrait};`.
pub use sea_orm_migration::prelude::*;

/// All of Switchyard's migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_initial::Migration),
            Box::new(m20261122_000002_acme_orders::Migration),
            Box::new(m20261202_000003_acme_order_dns_records::Migration),
            Box::new(m20261206_000004_zone_policies::Migration),
            Box::new(m20261206_000005_zone_match::Migration),
            Box::new(m20261206_000006_zone_timeouts::Migration),
            Box::new(m20261206_000007_revisions::Migration),
            Box::new(m20261206_000008_host_certificates::Migration),
            Box::new(m20261206_000009_uploaded_certificates::Migration),
            Box::new(m20261207_000020_dns_checks::Migration),
            Box::new(m20261207_000030_certificate_renewal_info::Migration),
            Box::new(m20261207_000031_certificate_notices::Migration),
            Box::new(m20261207_000040_domain_certificates::Migration),
        ]
    }
}
