//! The tests' own database helper (tests/common/db.rs): what every other test relies on when it
//! asks for "a fresh database".
//!
//! The PostgreSQL tests at the end run in every run, whatever `MESA_FE_PRUEBA_BASE` says: the
//! stack always has PostgreSQL (`MESA_FE_PRUEBA_POSTGRES`), and the SQLite run is then what keeps
//! the harness of the PostgreSQL run working (it creates and drops databases, and fails on a
//! leak), also while the PostgreSQL run itself fails for other reasons.

mod common;

use common::db::{Backend, TestDb, postgres_server, postgres_url_of};
use mesa_fe::store::Store;
use mesa_fe::store::raw::Origin;
use sqlx::{Connection, PgConnection};

const COUNT_RAW: &str = "SELECT COUNT(*) FROM raw_messages";

#[tokio::test]
async fn two_test_databases_are_two_stores_that_share_nothing() {
    let (one, other) = (TestDb::new(), TestDb::new());
    assert_ne!(one.url(), other.url());
    let store = Store::open(&one.url()).await.expect("the URL opens as a store");
    let origin = Origin::local("facturaelectronica");
    store.store_raw(&origin, Some("<uno@pt.example>"), b"Subject: uno\r\n\r\n").await.expect("raw");
    store.close().await;
    Store::open(&other.url()).await.expect("the other URL opens as a store").close().await;

    assert_eq!(one.fetch_i64(COUNT_RAW, &[]).await, Some(1));
    assert_eq!(other.fetch_i64(COUNT_RAW, &[]).await, Some(0), "nothing leaks between tests");
}

#[tokio::test]
async fn reading_a_database_nobody_opened_yet_finds_nothing_and_creates_nothing() {
    let db = TestDb::new();
    assert_eq!(db.fetch_i64(COUNT_RAW, &[]).await, None);
    match db.backend() {
        Backend::Sqlite => {
            assert!(!db.exists(), "a poll must not create the database before the daemon does")
        }
        // The database is there from new() on; the schema is still the daemon's to create.
        Backend::Postgres => assert!(db.exists()),
    }
    assert_eq!(db.fetch_i64(COUNT_RAW, &[]).await, None, "reading created no schema");
}

#[tokio::test]
async fn execute_changes_rows_and_says_how_many() {
    let db = TestDb::new();
    let store = Store::open(&db.url()).await.expect("store");
    let origin = Origin::local("facturaelectronica");
    store.store_raw(&origin, Some("<a@pt.example>"), b"Subject: a\r\n\r\n").await.expect("raw");
    store.close().await;
    let sql = "UPDATE raw_messages SET attempts = 7 WHERE id = CAST($1 AS BIGINT)";
    assert_eq!(db.execute(sql, &["1"]).await, 1);
    let sql = "SELECT attempts FROM raw_messages WHERE id = $1";
    assert_eq!(db.fetch_i64(sql, &[1]).await, Some(7));
}

#[test]
fn the_switch_reads_sqlite_by_default_and_refuses_unknown_values() {
    assert_eq!(Backend::parse(None), Backend::Sqlite);
    assert_eq!(Backend::parse(Some("")), Backend::Sqlite);
    assert_eq!(Backend::parse(Some("sqlite")), Backend::Sqlite);
    assert_eq!(Backend::parse(Some("postgres")), Backend::Postgres);
    assert!(std::panic::catch_unwind(|| Backend::parse(Some("mysql"))).is_err());
}

#[test]
fn a_postgres_database_url_keeps_the_server_and_replaces_the_database() {
    let url = |server| postgres_url_of(server, "t_0123456789abcdef");
    assert_eq!(
        url("postgres://mesa:mesa@127.0.0.1:32432/mesa"),
        "postgres://mesa:mesa@127.0.0.1:32432/t_0123456789abcdef"
    );
    assert_eq!(
        url("postgresql://u:p@db.example/mesa?sslmode=require&application_name=x"),
        "postgresql://u:p@db.example/t_0123456789abcdef?sslmode=require&application_name=x"
    );
    assert_eq!(url("postgres://u@localhost"), "postgres://u@localhost/t_0123456789abcdef");
    assert_eq!(
        url("postgres://u@localhost?sslmode=disable"),
        "postgres://u@localhost/t_0123456789abcdef?sslmode=disable"
    );
}

/// Whether the server of `MESA_FE_PRUEBA_POSTGRES` has a database called `name`.
async fn server_has(name: &str) -> bool {
    let mut admin = PgConnection::connect(&postgres_server()).await.expect("connect as admin");
    let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .expect("pg_database");
    admin.close().await.expect("close");
    found == 1
}

#[tokio::test]
async fn a_postgres_test_database_is_its_own_reachable_by_its_url_and_dropped_with_its_sessions() {
    let db = TestDb::on(Backend::Postgres);
    let name = db.postgres_name().expect("a PostgreSQL name").to_string();
    assert!(name.starts_with("t_") && name.len() == 18, "{name}");
    assert_eq!(db.url(), postgres_url_of(&postgres_server(), &name));
    assert_eq!((db.sqlite_path(), db.exists()), (None, true));
    assert!(server_has(&name).await);

    // Its URL is all a process needs: the daemon gets nothing else.
    let mut session = PgConnection::connect(&db.url()).await.expect("connect by the URL");
    let current: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&mut session)
        .await
        .expect("current_database");
    assert_eq!(current, name);

    // Empty: no schema until a store opens it, and reading one says "not yet".
    assert_eq!(db.fetch_i64(COUNT_RAW, &[]).await, None);
    db.execute("CREATE TABLE probe (id BIGINT PRIMARY KEY, note TEXT NOT NULL)", &[]).await;
    let insert = "INSERT INTO probe (id, note) VALUES (CAST($1 AS BIGINT), $2)";
    assert_eq!(db.execute(insert, &["7", "siete"]).await, 1);
    assert_eq!(db.fetch_i64("SELECT COUNT(*) FROM probe WHERE id = $1", &[7]).await, Some(1));
    assert_eq!(db.fetch_i64("SELECT id FROM probe WHERE id = $1", &[8]).await, None);

    // Dropped with the session still open on it (a daemon killed without closing its pool).
    drop(db);
    assert!(!server_has(&name).await, "{name} is still on the server after the drop");
    assert!(session.ping().await.is_err(), "the drop ends the sessions on the database");
}

/// `Drop` outside any runtime (a synchronous test, a Fixture dropped after its runtime).
#[test]
fn a_postgres_test_database_is_dropped_outside_a_runtime_too() {
    let db = TestDb::on(Backend::Postgres);
    let name = db.postgres_name().expect("a PostgreSQL name").to_string();
    drop(db);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    assert!(!runtime.block_on(server_has(&name)), "{name} is still on the server");
}

/// On PostgreSQL `SELECT 1` is an INTEGER, which `fetch_i64` does not read: a poll on it would
/// never see a value, so it stops the test at once instead.
#[tokio::test]
#[should_panic(expected = "SELECT 1")]
async fn a_value_fetch_i64_cannot_read_stops_the_test_rather_than_read_as_not_yet() {
    let db = TestDb::on(Backend::Postgres);
    db.fetch_i64("SELECT 1", &[]).await;
}
