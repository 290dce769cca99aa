//! `certificate_notices`: the expiry notices cert-worker has sent (issue 19, "expiry you
//! can see coming"): one row per certificate version (`not_after`) and threshold (14, 7,
//! 3 days before expiry). The row is inserted before the webhook is called, under its
//! primary key, so a restart or a second worker instance never sends the same notice
//! twice. `certificate_id` names a row of `certificates` (`source` = `issued`) or of
//! `uploaded_certificates` (`uploaded`), hence no foreign key; cert-worker prunes rows
//! of versions that expired long ago.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE certificate_notices (
    source text NOT NULL
        CONSTRAINT certificate_notices_source_check CHECK (source IN ('issued', 'uploaded')),
    certificate_id uuid NOT NULL,
    not_after timestamptz NOT NULL,
    threshold_days integer NOT NULL
        CONSTRAINT certificate_notices_threshold_days_check CHECK (threshold_days > 0),
    sent_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT certificate_notices_pkey
        PRIMARY KEY (source, certificate_id, not_after, threshold_days)
);
-- The pruning of long-expired versions.
CREATE INDEX certificate_notices_not_after_idx ON certificate_notices (not_after);
"#;

const DOWN: &str = "DROP TABLE certificate_notices;";

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
