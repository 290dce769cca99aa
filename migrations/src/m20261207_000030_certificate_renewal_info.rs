//! ARI (ACME Renewal Information, RFC 9773) on `certificates` (issue 19, item 6): the
//! renewal window the CA last suggested for the certificate served, the renewal time the
//! worker chose in it, and when to ask the CA again. All NULL while the CA offers no
//! ARI (or has not been asked yet): the one-third-of-lifetime rule decides then.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE certificates
    ADD COLUMN ari_window_start timestamptz,
    ADD COLUMN ari_window_end timestamptz,
    ADD COLUMN ari_renew_at timestamptz,
    ADD COLUMN ari_next_poll_at timestamptz,
    ADD CONSTRAINT certificates_ari_window_check CHECK (
        (ari_window_start IS NULL) = (ari_window_end IS NULL)
        AND (ari_window_start IS NULL OR ari_window_start <= ari_window_end)
        AND (ari_renew_at IS NULL OR ari_window_start IS NOT NULL)
    );
"#;

const DOWN: &str = r#"
ALTER TABLE certificates
    DROP CONSTRAINT certificates_ari_window_check,
    DROP COLUMN ari_window_start,
    DROP COLUMN ari_window_end,
    DROP COLUMN ari_renew_at,
    DROP COLUMN ari_next_poll_at;
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
