//! `revisions` and `revision_records`: the numbered history of the routing
//! configuration (issue 17, "History and rollback").
//!
//! Every committed change to zones, named backends or domains writes one `revisions`
//! row (who, when, what kind of change) and one `revision_records` row per record it
//! touched, with the record as the API shows it before and after, in the transaction of
//! the change. A rollback reads the records back: the state of a record right after
//! revision N is the `after` of its last record at or before N, or else the `before` of
//! its first record after N.
//!
//! Zones' `before`/`after` keep basic-auth users' hashes (as the `zones` table and the
//! export do), so that a rollback restores the passwords; the API redacts them in every
//! answer about revisions.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE revisions (
    number bigint GENERATED ALWAYS AS IDENTITY
        CONSTRAINT revisions_pkey PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    -- Kept NULL once the user is gone; `actor_label` still says who it was.
    actor_user_id uuid
        CONSTRAINT revisions_actor_user_id_fkey REFERENCES users (id) ON DELETE SET NULL,
    -- e.g. `alice (api key sy_ab12…)`
    actor_label text NOT NULL,
    -- e.g. `zone.update`, `zone.bulk`, `import`, `zone.rollback`, `rollback`
    action text NOT NULL,
    request_id text,
    -- A rollback: the revision whose state it restored.
    restores bigint
);
-- Pruning deletes by age, oldest first.
CREATE INDEX revisions_at_idx ON revisions (at);

CREATE TABLE revision_records (
    id bigint GENERATED ALWAYS AS IDENTITY
        CONSTRAINT revision_records_pkey PRIMARY KEY,
    revision bigint NOT NULL
        CONSTRAINT revision_records_revision_fkey REFERENCES revisions (number) ON DELETE CASCADE,
    kind text NOT NULL
        CONSTRAINT revision_records_kind_check CHECK (kind IN ('zone', 'named_backend', 'domain')),
    record_id uuid NOT NULL,
    -- How people name the record: `app.example.com/api` for a zone, the name otherwise.
    natural_key text NOT NULL,
    op text NOT NULL
        CONSTRAINT revision_records_op_check CHECK (op IN ('create', 'update', 'delete', 'rerender')),
    -- Who may read it: the domains it lay in before and after (zones, domains), and a
    -- named backend's owner (NULL: a preset, or not a named backend).
    domain_ids uuid[] NOT NULL DEFAULT '{}',
    owner_user_id uuid,
    before jsonb
        CONSTRAINT revision_records_before_check CHECK (before IS NULL OR jsonb_typeof(before) = 'object'),
    after jsonb
        CONSTRAINT revision_records_after_check CHECK (after IS NULL OR jsonb_typeof(after) = 'object')
);
-- A record's history, and the state of every record at a revision.
CREATE INDEX revision_records_kind_record_id_revision_idx
    ON revision_records (kind, record_id, revision);
-- The records of one revision.
CREATE INDEX revision_records_revision_idx ON revision_records (revision);
-- A user's slice: the records in their domains.
CREATE INDEX revision_records_domain_ids_idx ON revision_records USING gin (domain_ids);
"#;

const DOWN: &str = r#"
DROP TABLE revision_records;
DROP TABLE revisions;
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
