//! `certificates.hostname`: certificates for one exact hostname, ordered by HTTP-01.
//!
//! A zone whose hostname no DNS-automated domain covers (its domain has no DNS
//! credential) gets a certificate of its own: cert-worker adds the row (`hostname` set,
//! `domain_id` NULL, `names` `["<hostname>"]`) and retires it when no zone has that
//! hostname any more, or a DNS-automated domain's issued wildcard covers it. Such a row
//! belongs to the hostname, not to a domain: deleting the domain leaves it to the worker,
//! which also removes its key from Redis (a cascade would leave the key behind).
//!
//! A domain's wildcard row is unchanged: `domain_id` set, `hostname` NULL, one per
//! domain.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE certificates
    ADD COLUMN hostname text,
    ALTER COLUMN domain_id DROP NOT NULL,
    DROP CONSTRAINT certificates_domain_id_key,
    ADD CONSTRAINT certificates_kind_check CHECK ((domain_id IS NULL) <> (hostname IS NULL));
-- One wildcard certificate per domain, one certificate per exact hostname.
CREATE UNIQUE INDEX certificates_domain_id_key ON certificates (domain_id)
    WHERE hostname IS NULL;
CREATE UNIQUE INDEX certificates_hostname_key ON certificates (hostname)
    WHERE hostname IS NOT NULL;
"#;

const DOWN: &str = r#"
DELETE FROM certificates WHERE hostname IS NOT NULL;
DROP INDEX certificates_hostname_key;
DROP INDEX certificates_domain_id_key;
ALTER TABLE certificates
    DROP CONSTRAINT certificates_kind_check,
    DROP COLUMN hostname,
    ALTER COLUMN domain_id SET NOT NULL,
    ADD CONSTRAINT certificates_domain_id_key UNIQUE (domain_id);
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
