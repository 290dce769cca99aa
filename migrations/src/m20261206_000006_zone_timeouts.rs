//! `zones.idle_timeout_ms` and `zones.total_timeout_ms`: the per-route client idle
//! timeout and the total time of an exchange (issue 16, "connect/read/idle/total
//! timeouts per route"), beside the connect and read timeouts of the first migration.
//! `NULL` means the proxy's default, as for the other two.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE zones
    ADD COLUMN idle_timeout_ms integer
        CONSTRAINT zones_idle_timeout_ms_check CHECK (idle_timeout_ms > 0),
    ADD COLUMN total_timeout_ms integer
        CONSTRAINT zones_total_timeout_ms_check CHECK (total_timeout_ms > 0);
"#;

const DOWN: &str = r#"
ALTER TABLE zones
    DROP COLUMN total_timeout_ms,
    DROP COLUMN idle_timeout_ms;
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
