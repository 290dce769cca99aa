//! `zones.conditions` and `zones.match_key`: what a request must meet besides hostname
//! and path prefix (issue 16 — exact or pattern path, methods, headers, query
//! parameters), as one JSON object, and the zone's identity widened to
//! (hostname, path prefix, match key).
//!
//! `conditions` is `switchyard_shared::route_match::RouteMatch` as the panel normalised
//! it (`{}`: none, which every existing row becomes). `match_key` is its canonical JSON
//! (`RouteMatch::key`, at most 1024 characters, empty for none): two zones may share a
//! hostname and path prefix when their conditions differ. The unique index keeps its
//! role as the zones list's order (keyset pages scan it).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE zones
    ADD COLUMN conditions jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT zones_conditions_check CHECK (jsonb_typeof(conditions) = 'object'),
    ADD COLUMN match_key text NOT NULL DEFAULT ''
        CONSTRAINT zones_match_key_check CHECK (length(match_key) <= 1024),
    DROP CONSTRAINT zones_hostname_path_prefix_key,
    ADD CONSTRAINT zones_hostname_path_prefix_match_key_key
        UNIQUE (hostname, path_prefix, match_key);
"#;

const DOWN: &str = r#"
DELETE FROM zones WHERE match_key <> '';
ALTER TABLE zones
    DROP CONSTRAINT zones_hostname_path_prefix_match_key_key,
    ADD CONSTRAINT zones_hostname_path_prefix_key UNIQUE (hostname, path_prefix),
    DROP COLUMN match_key,
    DROP COLUMN conditions;
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
