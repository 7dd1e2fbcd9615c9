//! The tests' own database helper (tests/common/db.rs): what every other test relies on when it
//! asks for "a fresh database".

mod common;

use common::db::{Backend, TestDb};
use mesa_fe::store::Store;
use mesa_fe::store::raw::Origin;

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
    assert!(!db.exists(), "a poll must not create the database before the daemon does");
}

#[tokio::test]
async fn execute_changes_rows_and_says_how_many() {
    let db = TestDb::new();
    let store = Store::open(&db.url()).await.expect("store");
    let origin = Origin::local("facturaelectronica");
    store.store_raw(&origin, Some("<a@pt.example>"), b"Subject: a\r\n\r\n").await.expect("raw");
    store.close().await;
    let changed = db.execute("UPDATE raw_messages SET attempts = 7 WHERE id = $1", &["1"]).await;
    assert_eq!(changed, 1);
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

/// Until the store has a PostgreSQL backend, a PostgreSQL run stops loudly: a silent SQLite run
/// would pass for a PostgreSQL one.
#[test]
#[should_panic(expected = "el backend PostgreSQL todavía no existe en el store")]
fn a_postgres_run_stops_until_the_store_has_that_backend() {
    TestDb::on(Backend::Postgres);
}
