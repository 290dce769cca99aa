//! `uploaded_certificates`: certificates an operator brings (an EV/OV certificate, a
//! corporate CA's) for a domain — its wildcard and apex, stored under `*.<domain>` — or
//! for one exact hostname within it (issue 19).
//!
//! A table of their own, not rows of `certificates`: cert-worker's queue, renewal and
//! republication read `certificates` only, so an uploaded certificate is never ordered
//! or renewed, and an issued and an uploaded certificate for the same name live side by
//! side (the proxies prefer the uploaded one). The panel writes these rows and publishes
//! them to Redis (`cert:uploaded:<name>`); the key is sealed like every secret at rest
//! (`SWITCHYARD_SECRET_KEY`, context `uploaded_certificates.key`).
//!
//! A domain cannot be deleted from under them (`RESTRICT`): the panel's domain deletion
//! deletes them first, which also takes their keys out of Redis — a cascade here would
//! leave the Redis keys behind.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE uploaded_certificates (
    id uuid PRIMARY KEY,
    domain_id uuid NOT NULL
        CONSTRAINT uploaded_certificates_domain_id_fkey REFERENCES domains (id) ON DELETE RESTRICT,
    -- NULL: the domain's wildcard and apex; else one exact hostname within the domain.
    hostname text,
    -- What it is stored under: `*.<domain>`, or the hostname. One per name.
    name text NOT NULL CONSTRAINT uploaded_certificates_name_key UNIQUE,
    -- The leaf's DNS names, normalised: `["*.example.com", "example.com"]`.
    names jsonb NOT NULL
        CONSTRAINT uploaded_certificates_names_check CHECK (jsonb_typeof(names) = 'array'),
    chain_pem text NOT NULL,
    key_ciphertext bytea NOT NULL,
    not_before timestamptz NOT NULL,
    not_after timestamptz NOT NULL,
    -- SHA-256 of the leaf's DER, hex: what an operator compares with their copy.
    fingerprint_sha256 text NOT NULL,
    issuer text NOT NULL,
    -- `rsa-2048`, `ecdsa-p256`, `ecdsa-p384`, `ed25519`.
    key_type text NOT NULL,
    created_by uuid
        CONSTRAINT uploaded_certificates_created_by_fkey REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uploaded_certificates_validity_check CHECK (not_after > not_before)
);
-- "Which uploaded certificates does this domain have", and the foreign-key checks of a
-- domain's or a user's deletion.
CREATE INDEX uploaded_certificates_domain_id_idx ON uploaded_certificates (domain_id);
CREATE INDEX uploaded_certificates_created_by_idx ON uploaded_certificates (created_by);
-- "What expires soon".
CREATE INDEX uploaded_certificates_not_after_idx ON uploaded_certificates (not_after);
"#;

const DOWN: &str = "DROP TABLE uploaded_certificates;";

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
