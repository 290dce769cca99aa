//! `acme_orders`: cert-worker's log of every order it places with an ACME CA.
//!
//! Three things need it and the initial schema has none of them: the per-account rate
//! limit guard counts recent orders across every worker instance (so a bug or a crash
//! loop cannot burn through the CA's limits), operators see what was ordered when and
//! how it ended, and tests check that racing workers ordered each certificate once.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `acme_orders.outcome`: still running, certificate issued, or failed.
const UP: &str = r#"
CREATE TABLE acme_orders (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    certificate_id uuid NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
    account_id uuid NOT NULL REFERENCES acme_accounts (id) ON DELETE CASCADE,
    order_url text,
    outcome text NOT NULL DEFAULT 'started'
        CONSTRAINT acme_orders_outcome_check CHECK (outcome IN ('started', 'issued', 'failed')),
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
-- The rate limit guard: "orders by this account in the last hour".
CREATE INDEX acme_orders_account_id_created_at_idx ON acme_orders (account_id, created_at);
-- "Orders of this certificate", and the foreign key check when one is deleted.
CREATE INDEX acme_orders_certificate_id_idx ON acme_orders (certificate_id);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE acme_orders")
            .await?;
        Ok(())
    }
}
