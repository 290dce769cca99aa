//! The connector against the test PostgreSQL: a host list tried in order, a host that
//! does not fit refused with its reason, and the pool moving to the next host when its
//! own goes away (a cuttable relay stands for the first host; the server itself is the
//! second), with the same `DatabaseConnection` working on.

use std::time::Duration;

use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
use switchyard_db::{Database, DatabaseUrl, PoolSettings, unavailable};
use switchyard_tests::eventually::eventually;
use switchyard_tests::postgres::TestDatabase;
use switchyard_tests::relay::Relay;

const SETTINGS: PoolSettings = PoolSettings {
    max_connections: 4,
    acquire_timeout: Duration::from_secs(5),
    host_timeout: Duration::from_secs(2),
};

/// `scheme://user@` + `hosts` + `/database?…` of the test database's URL.
fn with_hosts(database: &TestDatabase, hosts: &str, query: &str) -> String {
    let url = url_parts(database.url());
    format!("postgres://{}@{hosts}/{}{query}", url.0, url.1)
}

/// (user, database) of a single-host URL.
fn url_parts(url: &str) -> (String, String) {
    let rest = url.split_once("://").unwrap().1;
    let (authority, path) = rest.split_once('/').unwrap();
    let user = authority.rsplit_once('@').map_or("postgres", |(u, _)| u);
    (user.to_owned(), path.split('?').next().unwrap().to_owned())
}

fn server(database: &TestDatabase) -> String {
    let rest = database.url().split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_owned()
}

/// A loopback port that refuses connections for as long as the socket lives: bound,
/// never listening, so no other test can take it meanwhile.
fn refusing() -> anyhow::Result<(tokio::net::TcpSocket, std::net::SocketAddr)> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind("127.0.0.1:0".parse()?)?;
    let addr = socket.local_addr()?;
    Ok((socket, addr))
}

async fn who(db: &sea_orm::DatabaseConnection) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_stat_activity",
        ))
        .await?
        .expect("a row");
    Ok(row.try_get("", "n")?)
}

#[tokio::test]
async fn skips_a_dead_host_and_moves_when_its_host_goes_away() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let direct = server(&database);
    let mut relay = Relay::start(&direct).await?;
    let (_dead, dead_addr) = refusing()?;

    let url = DatabaseUrl::parse(&with_hosts(
        &database,
        &format!("{dead_addr},{},{direct}", relay.addr()),
        "?target_session_attrs=read-write",
    ))?;
    let db = Database::connect(&url, SETTINGS).await?;
    assert_eq!(db.current_host().to_string(), relay.addr().to_string());
    assert!(db.check().await);
    let connection = db.connection().clone();
    who(&connection).await?;

    // The relayed host goes away: the next check moves the pool to the third host,
    // and the same connection handle works there.
    relay.cut().await;
    eventually(Duration::from_secs(20), "the pool moves on", || async {
        match db.check().await {
            true if db.switches() == 1 => Ok(()),
            up => Err(format!("up {up}, on {}", db.current_host())),
        }
    })
    .await?;
    assert_eq!(db.current_host().to_string(), direct);
    who(&connection).await?;
    // Sticky: the first host coming back does not move it again.
    relay.restore().await?;
    assert!(db.check().await);
    assert_eq!(db.switches(), 1);
    db.close().await;
    database.drop_now().await
}

#[tokio::test]
async fn a_read_only_server_does_not_fit_read_write_and_its_writes_are_unavailable()
-> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let read_only = "?options=-c%20default_transaction_read_only%3Don";
    let hosts = server(&database);
    let url = DatabaseUrl::parse(&with_hosts(
        &database,
        &hosts,
        &format!("{read_only}&target_session_attrs=read-write"),
    ))?;
    let refused = Database::connect(&url, SETTINGS)
        .await
        .err()
        .expect("refused");
    let text = refused.to_string();
    assert!(
        text.contains("read-write") && text.contains("read-only"),
        "{text}"
    );
    // `primary` asks only whether it is a standby; writes there fail read-only, which
    // counts as unavailable (a 503), not as a broken statement.
    let url = DatabaseUrl::parse(&with_hosts(
        &database,
        &hosts,
        &format!("{read_only}&target_session_attrs=primary"),
    ))?;
    let db = Database::connect(&url, SETTINGS).await?;
    let write = db
        .connection()
        .execute_unprepared("CREATE TABLE t (x int)")
        .await
        .expect_err("read-only");
    assert!(unavailable(&write), "{write}");
    assert!(write.to_string().contains("read-only"), "{write}");
    db.close().await;
    database.drop_now().await
}

#[tokio::test]
async fn no_host_answering_lists_each_one() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let ((_a, a), (_b, b)) = (refusing()?, refusing()?);
    let url = DatabaseUrl::parse(&with_hosts(
        &database,
        &format!("{a},{b}"),
        "?target_session_attrs=read-write",
    ))?;
    let e = Database::connect(&url, SETTINGS)
        .await
        .err()
        .expect("no host");
    let text = e.to_string();
    assert!(
        text.contains(&a.to_string()) && text.contains(&b.to_string()),
        "{text}"
    );
    database.drop_now().await
}
