//! The entities match the migrated schema, column for column: every table's columns
//! are exactly its entity's, and a column is nullable exactly when the entity's field
//! is an `Option`. A migration that changes a table without its entity (or the other
//! way round) fails here, before a query fails at run time.

use std::collections::BTreeMap;

use migrations::{Migrator, MigratorTrait as _};
use sea_orm::{
    ColumnTrait, ConnectionTrait as _, DatabaseConnection, DbBackend, EntityTrait, IdenStatic as _,
    Iterable, Statement,
};
use switchyard_db::entity::*;
use switchyard_tests::postgres::TestDatabase;

/// column → nullable, as an entity declares them.
fn declared<E: EntityTrait>() -> (String, BTreeMap<String, bool>) {
    let columns = E::Column::iter()
        .map(|c| (c.as_str().to_owned(), c.def().is_null()))
        .collect();
    (E::default().table_name().to_owned(), columns)
}

/// column → nullable, as PostgreSQL has them.
async fn actual(db: &DatabaseConnection, table: &str) -> anyhow::Result<BTreeMap<String, bool>> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT column_name, is_nullable FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = $1",
            [table.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get("", "column_name")?;
            let nullable: String = row.try_get("", "is_nullable")?;
            Ok((name, nullable == "YES"))
        })
        .collect()
}

#[tokio::test]
async fn every_entity_matches_its_migrated_table() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let db = database.connect().await?;
    Migrator::up(&db, None).await?;
    let entities = [
        declared::<users::Entity>(),
        declared::<api_keys::Entity>(),
        declared::<domains::Entity>(),
        declared::<named_backends::Entity>(),
        declared::<zones::Entity>(),
        declared::<audit_log::Entity>(),
        declared::<redis_outbox::Entity>(),
        declared::<sessions::Entity>(),
        declared::<grants::Entity>(),
        declared::<certificates::Entity>(),
        declared::<acme_accounts::Entity>(),
        declared::<acme_orders::Entity>(),
        declared::<dns_credentials::Entity>(),
        declared::<dns_checks::Entity>(),
        declared::<certificate_notices::Entity>(),
        declared::<revisions::Entity>(),
        declared::<revision_records::Entity>(),
        declared::<uploaded_certificates::Entity>(),
    ];
    let mut problems = Vec::new();
    for (table, columns) in &entities {
        let schema = actual(&db, table).await?;
        if schema.is_empty() {
            problems.push(format!("{table}: no such table"));
            continue;
        }
        for (column, nullable) in &schema {
            match columns.get(column) {
                None => problems.push(format!("{table}.{column}: in the schema, not the entity")),
                Some(declared) if declared != nullable => problems.push(format!(
                    "{table}.{column}: nullable {nullable} in the schema, {declared} in the entity"
                )),
                Some(_) => {}
            }
        }
        for column in columns.keys().filter(|c| !schema.contains_key(*c)) {
            problems.push(format!("{table}.{column}: in the entity, not the schema"));
        }
    }
    // Every application table has its entity.
    let tables = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_name <> 'seaql_migrations'",
        ))
        .await?;
    for row in tables {
        let table: String = row.try_get("", "table_name")?;
        if !entities.iter().any(|(t, _)| *t == table) {
            problems.push(format!("{table}: a table without an entity"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    drop(db);
    database.drop_now().await
}
