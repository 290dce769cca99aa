//! `domains.certificates`: how a domain's names get their certificates (issue 19, item 1,
//! "by choice"). `wildcard` (the default, and every existing domain): one `*.d` + `d`
//! certificate ordered by DNS-01, per-host HTTP-01 certificates only for hostnames it
//! cannot cover. `per_host`: the wildcard is not ordered (even with a DNS credential) and
//! every exact zone hostname under the domain gets its own HTTP-01 certificate.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE domains
    ADD COLUMN certificates text NOT NULL DEFAULT 'wildcard'
        CONSTRAINT domains_certificates_check CHECK (certificates IN ('wildcard', 'per_host'));
"#;

const DOWN: &str = r#"
ALTER TABLE domains DROP COLUMN certificates;
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
