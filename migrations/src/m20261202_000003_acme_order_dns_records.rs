//! `acme_orders.dns_records`: the TXT records an order created at the DNS provider.
//!
//! Until now the worker kept them only in memory, so a worker killed mid-order (SIGKILL,
//! OOM, a crash) left them at the provider for good and its order `started` forever.
//! With them in the row, the next worker to claim the certificate deletes them and closes
//! the order. `NULL` marks an order whose records an operator publishes (`manual`
//! credentials), which is never swept; an API order starts with `[]` and gains one entry
//! (`{"fqdn", "value", "zone", "zone_id", "id"}`) before each create call, whose `id` is
//! filled in when the provider answers.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE acme_orders
    ADD COLUMN dns_records jsonb
        CONSTRAINT acme_orders_dns_records_check CHECK (jsonb_typeof(dns_records) = 'array');
-- "Orders a dead worker left open": few rows, looked for on every claim and at start.
CREATE INDEX acme_orders_certificate_id_started_idx ON acme_orders (certificate_id)
    WHERE outcome = 'started' AND dns_records IS NOT NULL;
"#;

const DOWN: &str = r#"
DROP INDEX acme_orders_certificate_id_started_idx;
ALTER TABLE acme_orders DROP COLUMN dns_records;
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
