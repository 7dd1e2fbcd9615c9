//! `base_datos = "postgres://…"` that cannot be used: a server that does not answer, a refused
//! password, a database that does not exist, a schema from a newer mesa-fe. Each is a Spanish
//! error naming the key, exit 78 (EX_CONFIG), and nothing written. Always on the stack's
//! PostgreSQL, whatever the run's backend; the password also comes from a secret file.

mod common;

use common::db::{Backend, TestDb, postgres_url_of};
use common::local::{Host, text};

/// `mesa-fe case list` on `url`, with `extra` environment (the password secret).
fn case_list(host: &Host, url: &str, extra: &[(&str, &str)]) -> std::process::Output {
    host.mesa_fe()
        .args(["case", "list"])
        .env("MESA_FE__GENERAL__BASE_DATOS", url)
        .envs(extra.iter().copied())
        .output()
        .expect("run mesa-fe")
}

fn assert_config_error(output: &std::process::Output, says: &str) {
    let shown = text(output);
    assert_eq!(output.status.code(), Some(78), "exit 78: {shown}");
    assert!(shown.contains("general.base_datos"), "names the key: {shown}");
    assert!(shown.contains(says), "says {says:?}: {shown}");
    assert!(shown.contains("no se escribió nada"), "says nothing was written: {shown}");
    assert!(!shown.contains(":mesa@") && !shown.contains(":otra@"), "no password shown: {shown}");
}

/// The tables of `db`'s schema (none when nothing was written).
async fn tables(db: &TestDb) -> i64 {
    db.fetch_i64(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
        &[],
    )
    .await
    .unwrap_or(0)
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_a_configuration_error() {
    let host = Host::new();
    let output = case_list(&host, "postgres://mesa:mesa@127.0.0.1:1/mesa", &[]);
    assert_config_error(&output, "no se pudo conectar");
}

#[tokio::test]
async fn a_wrong_password_or_a_missing_database_is_refused_and_nothing_is_written() {
    let db = TestDb::on(Backend::Postgres);
    let host = Host::new();
    let wrong = db.url().replacen(":mesa@", ":otra@", 1);
    assert_config_error(&case_list(&host, &wrong, &[]), "usuario o clave no aceptados");
    assert_eq!(tables(&db).await, 0, "a refused login writes nothing");
    let missing = postgres_url_of(&db.url(), "no_existe_esta_base");
    assert_config_error(&case_list(&host, &missing, &[]), "la base de datos no existe");
}

#[tokio::test]
async fn the_password_comes_from_a_secret_and_not_from_the_url() {
    let db = TestDb::on(Backend::Postgres);
    let host = Host::new();
    let without = db.url().replacen(":mesa@", "@", 1);
    let secret = host.dir.path().join("clave-base");
    std::fs::write(&secret, "mesa\n").expect("write secret");
    let from_file = secret.display().to_string();
    let output = case_list(
        &host,
        &without,
        &[("MESA_FE__GENERAL__BASE_DATOS_CLAVE__ARCHIVO", from_file.as_str())],
    );
    assert!(output.status.success(), "logs in with the secret: {}", text(&output));
    assert!(tables(&db).await > 0, "the schema is created on first use");
}

#[tokio::test]
async fn a_database_of_a_newer_schema_is_refused_before_anything_is_written() {
    let db = TestDb::on(Backend::Postgres);
    let host = Host::new();
    let first = case_list(&host, &db.url(), &[]);
    assert!(first.status.success(), "{}", text(&first));
    db.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'de una versión futura', TRUE, '\\x00', 1)",
        &[],
    )
    .await;
    let before = tables(&db).await;
    let output = case_list(&host, &db.url(), &[]);
    assert_config_error(&output, "esquema más nuevo");
    assert!(text(&output).contains("9999"), "names the unknown migration: {}", text(&output));
    assert_eq!(tables(&db).await, before, "nothing created or changed");
}
