//! `zones.policies`: what a route does besides forwarding (issue 16) — rewrites,
//! redirects, header edits, HSTS, security headers, a body size limit, basic auth, a
//! rate limit and custom error pages, as one JSON object.
//!
//! The object is `switchyard_shared::policy::Policies` as the panel normalised it (header
//! names lower-cased, a basic-auth password replaced by its argon2id hash: a password in
//! clear never reaches this column). `{}` is a route without policies, which every
//! existing row becomes; the CHECK pins the top-level shape like the other JSON columns.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE zones
    ADD COLUMN policies jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT zones_policies_check CHECK (jsonb_typeof(policies) = 'object');
"#;

const DOWN: &str = "ALTER TABLE zones DROP COLUMN policies";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
