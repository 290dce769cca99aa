//! `dns_checks`: the last DNS check of each name the panel serves — a domain's apex or a
//! zone's hostname — against the fleet's public addresses (issue 19, "DNS check"): when,
//! through which resolver, the records seen, the verdict and why. One row per name,
//! replaced by each check; a cache of what DNS answered, never configuration.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE dns_checks (
    name text PRIMARY KEY,
    checked_at timestamptz NOT NULL,
    resolver text NOT NULL,
    verdict text NOT NULL
        CONSTRAINT dns_checks_verdict_check CHECK (verdict IN ('pass', 'fail', 'unconfigured')),
    records jsonb NOT NULL,
    expected jsonb NOT NULL,
    problem text
);
"#;

const DOWN: &str = r#"
DROP TABLE dns_checks;
"#;

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
