//! `switchyard-migrate`: apply or inspect Switchyard's Postgres schema by hand.
//!
//! A thin wrapper over sea-orm's migration CLI. It reads `DATABASE_URL` (or `-u`), and
//! supports `up`, `down`, `status`, `fresh`, `refresh` and `reset`; see
//! `docs/postgres-schema.md`. It is how an operator applies, inspects or rolls back the
//! schema without starting a service.

#[tokio::main]
async fn main() {
    sea_orm_migration::cli::run_cli(migrations::Migrator).await;
}
