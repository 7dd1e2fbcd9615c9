//! Moving a desk from SQLite to PostgreSQL (issue 13): `mesa-fe migrate --desde sqlite://…
//! --hacia postgres://…` on a desk the binary itself built (every fixture mail ingested, agents'
//! actions by CLI, a provider registry), into a fresh database on the dev stack's PostgreSQL.
//! The copy must hold the same rows, value for value (read back here with plain sqlx on both
//! sides), and every operator view (`case list/show`, `outbox list/show`, `quarantine`,
//! `proveedores`, `kb export`, `reporte`) must print the same from either database. A target
//! that already has rows, and a source holding a value PostgreSQL cannot take, are refused with
//! nothing written.
//!
//! Needs the PostgreSQL of the dev stack: `MESA_FE_PRUEBA_POSTGRES` from
//! `eval "$(bash deploy/dev/mailstack.sh env)"`, with a role that may CREATE DATABASE.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::str::FromStr;

use common::local::{fixture_path, mesa_fe, text};
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{
    AssertSqlSafe, Connection, Executor, PgConnection, Row, SqliteConnection, TypeInfo, ValueRef,
};
use tempfile::TempDir;

/// `general.base_datos` for a `mesa-fe` process.
const URL_VARIABLE: &str = "MESA_FE__GENERAL__BASE_DATOS";

const AGENT: &str = "ana.rojas@dian.gov.co";

/// Tables the copy leaves out: sqlx's bookkeeping, the nodes' leases and the agents' loads
/// (counted again by the target's triggers as the cases arrive).
const NOT_COPIED: [&str; 3] = ["_sqlx_migrations", "leases", "agent_loads"];

fn postgres_url() -> String {
    std::env::var("MESA_FE_PRUEBA_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "MESA_FE_PRUEBA_POSTGRES is not set: start the dev stack (it includes PostgreSQL) and \
             export its settings first:\n  \
             bash deploy/dev/mailstack.sh start && eval \"$(bash deploy/dev/mailstack.sh env)\""
        )
    })
}

/// A fresh PostgreSQL database on the stack's server, dropped (sessions and all) at the end.
struct PgDatabase {
    name: String,
}

impl PgDatabase {
    async fn create() -> PgDatabase {
        let name = format!("t_copy_{:016x}", fastrand::u64(..));
        let mut admin = PgConnection::connect(&postgres_url()).await.expect("connect as admin");
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("CREATE DATABASE (the test role needs CREATEDB)");
        admin.close().await.expect("close");
        PgDatabase { name }
    }

    /// Its URL, with the stack's user and password.
    fn url(&self) -> String {
        let admin = postgres_url();
        let base = admin.split('?').next().unwrap_or_default();
        let (server, _) = base.rsplit_once('/').expect("a database in MESA_FE_PRUEBA_POSTGRES");
        format!("{server}/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // A thread of its own: a test's runtime cannot block on itself.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&postgres_url()).await?;
                admin.execute(AssertSqlSafe(sql)).await?;
                admin.close().await
            })?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("no se pudo borrar la base de prueba {}: {dropped:?}", self.name);
        }
    }
}

/// A SQLite desk as an operator's host has it: a state directory with its database and the key
/// that signs the desk's Message-IDs.
struct Desk {
    dir: TempDir,
}

impl Desk {
    fn new() -> Desk {
        Desk { dir: tempfile::tempdir().expect("temp dir") }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("mesa-fe.db").display())
    }

    /// `mesa-fe ARGS` on this host, with the database at `url`.
    fn on(&self, url: &str, args: &[&str]) -> Output {
        mesa_fe(self.dir.path())
            .env(URL_VARIABLE, url)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run mesa-fe")
    }

    /// As [`Desk::on`], failing the test unless it succeeds.
    fn ok(&self, url: &str, args: &[&str]) -> Output {
        let output = self.on(url, args);
        assert!(output.status.success(), "mesa-fe {args:?} on {url}: {}", text(&output));
        output
    }

    fn ingest(&self, files: &[PathBuf]) {
        let mut command = mesa_fe(self.dir.path());
        command.env(URL_VARIABLE, self.url()).arg("ingest").args(files);
        let output = command.output().expect("run ingest");
        assert!(output.status.success(), "ingest: {}", text(&output));
    }

    fn migrate_to(&self, target: &str) -> Output {
        self.migrate_with(target, &[])
    }

    fn migrate_with(&self, target: &str, options: &[&str]) -> Output {
        mesa_fe(self.dir.path())
            .env(URL_VARIABLE, self.url())
            .args(["migrate", "--desde", &self.url(), "--hacia", target])
            .args(options)
            .stdin(Stdio::null())
            .output()
            .expect("run migrate")
    }

    async fn sqlite(&self) -> SqliteConnection {
        let options = SqliteConnectOptions::new().filename(self.dir.path().join("mesa-fe.db"));
        SqliteConnection::connect_with(&options).await.expect("open the SQLite desk")
    }
}

/// Every mail of tests/fixtures/mail, in name order.
fn fixture_mails() -> Vec<PathBuf> {
    let dir = fixture_path("mail");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/mail")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    files
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(output)))
}

/// A desk with real content: every fixture mail, an agent's note, a first-contact solution, an
/// escalation, a child linked to a later parent, a provider registry; and one state the CLI
/// cannot make, written here: a notification folded into a later digest (`outbox.digest_id`).
async fn busy_desk() -> Desk {
    let desk = Desk::new();
    let url = desk.url();
    desk.ingest(&fixture_mails());
    let cases = json(&desk.ok(&url, &["case", "list", "--json"]));
    let cases = cases.as_array().expect("a list");
    assert!(cases.len() >= 15, "the fixtures open cases: {cases:?}");
    let of = |status: &str, agent: Option<&str>| -> Vec<String> {
        cases
            .iter()
            .filter(|c| c["status"] == status && agent.is_none_or(|a| c["agent"] == a))
            .map(|c| c["number"].as_str().expect("number").to_string())
            .collect()
    };
    let attended = of("en_atencion", Some(AGENT));
    assert!(attended.len() >= 2, "two cases of {AGENT} in attention: {cases:?}");
    let (child, parent) = (&attended[0], &attended[attended.len() - 1]);
    desk.ok(&url, &["case", "note", child, "--agente", AGENT, "--texto", "Revisado el XML"]);
    // The child's parent is a later case: copied in id order, its row names one not yet there.
    desk.ok(&url, &["case", "link", child, parent, "--agente", AGENT]);
    let waiting = of("pendiente_informacion", None);
    let first_contact = waiting.first().expect("a case waiting for information");
    desk.ok(
        &url,
        &[
            "case",
            "solve",
            first_contact,
            "--agente",
            AGENT,
            "--primer-contacto",
            "--texto",
            "Reinstale el certificado de firma y reenvíe el documento.",
        ],
    );
    desk.ok(&url, &["case", "escalate", parent, "--agente", AGENT, "--texto", "Pasa a N3"]);
    let csv = desk.dir.path().join("proveedores.csv");
    std::fs::write(
        &csv,
        "nit,nombre,dominios,direcciones,activo\n\
         900123456,\"Facturas Andinas, SAS\",andinas.com.co,,si\n\
         811000222,Software Contable Ltda,contable.co,soporte@gmail.com,no\n",
    )
    .expect("write CSV");
    desk.ok(&url, &["proveedores", "importar", csv.to_str().expect("UTF-8 path")]);

    let mut conn = desk.sqlite().await;
    let folded = sqlx::query(
        "UPDATE outbox SET digest_id = (SELECT MAX(id) FROM outbox) \
         WHERE id = (SELECT MIN(id) FROM outbox)",
    )
    .execute(&mut conn)
    .await
    .expect("fold a notification into a digest");
    assert_eq!(folded.rows_affected(), 1);
    conn.close().await.expect("close");
    desk
}

/// A stored value, compared across the two engines.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cell {
    Null,
    Integer(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// A table's columns and its rows in key order.
#[derive(Debug, PartialEq, Eq)]
struct Dump {
    columns: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

/// Every copied table of the SQLite desk, value by value (by storage class).
async fn sqlite_dump(conn: &mut SqliteConnection) -> BTreeMap<String, Dump> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("tables");
    let mut dumps = BTreeMap::new();
    for name in names.into_iter().filter(|n| !NOT_COPIED.contains(&n.as_str())) {
        let info = sqlx::query("SELECT name, pk FROM pragma_table_info($1) ORDER BY cid")
            .bind(&name)
            .fetch_all(&mut *conn)
            .await
            .expect("columns");
        let columns: Vec<String> = info.iter().map(|r| r.get("name")).collect();
        let key: String = info
            .iter()
            .find(|r| r.get::<i64, _>("pk") == 1)
            .map(|r| r.get("name"))
            .expect("a primary key");
        let sql = format!("SELECT * FROM \"{name}\" ORDER BY \"{key}\"");
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut *conn).await.expect("rows");
        let rows = rows
            .iter()
            .map(|row| {
                (0..columns.len())
                    .map(|i| {
                        let raw = row.try_get_raw(i).expect("value");
                        if raw.is_null() {
                            return Cell::Null;
                        }
                        match raw.type_info().name() {
                            "INTEGER" => Cell::Integer(row.get(i)),
                            "TEXT" => Cell::Text(row.get(i)),
                            "BLOB" => Cell::Bytes(row.get(i)),
                            other => panic!("{name}: a {other} value"),
                        }
                    })
                    .collect()
            })
            .collect();
        dumps.insert(name, Dump { columns, rows });
    }
    dumps
}

/// The same tables of the PostgreSQL database, the columns in the source's order.
async fn postgres_dump(url: &str, like: &BTreeMap<String, Dump>) -> BTreeMap<String, Dump> {
    let options = PgConnectOptions::from_str(url).expect("URL");
    let mut conn = PgConnection::connect_with(&options).await.expect("connect");
    let mut dumps = BTreeMap::new();
    for (name, source) in like {
        let key: String = sqlx::query_scalar(
            "SELECT CAST(a.attname AS TEXT) FROM pg_index i JOIN pg_attribute a \
             ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = CAST($1 AS regclass) AND i.indisprimary",
        )
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .expect("primary key");
        let types: BTreeMap<String, String> = sqlx::query_as(
            "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) \
             FROM information_schema.columns WHERE table_schema = current_schema() \
             AND table_name = $1",
        )
        .bind(name)
        .fetch_all(&mut conn)
        .await
        .expect("columns")
        .into_iter()
        .collect();
        let list: Vec<String> = source.columns.iter().map(|c| format!("\"{c}\"")).collect();
        let sql = format!("SELECT {} FROM \"{name}\" ORDER BY \"{key}\"", list.join(", "));
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut conn).await.expect("rows");
        let rows = rows
            .iter()
            .map(|row| {
                source
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, column)| match types.get(column).map(String::as_str) {
                        Some("bigint") => {
                            row.get::<Option<i64>, _>(i).map_or(Cell::Null, Cell::Integer)
                        }
                        Some("text") => {
                            row.get::<Option<String>, _>(i).map_or(Cell::Null, Cell::Text)
                        }
                        Some("bytea") => {
                            row.get::<Option<Vec<u8>>, _>(i).map_or(Cell::Null, Cell::Bytes)
                        }
                        other => panic!("{name}.{column}: PostgreSQL type {other:?}"),
                    })
                    .collect()
            })
            .collect();
        dumps.insert(name.clone(), Dump { columns: source.columns.clone(), rows });
    }
    conn.close().await.expect("close");
    dumps
}

/// The two dumps hold the same values; on a difference, the table and the first row that differs.
fn assert_same(source: &BTreeMap<String, Dump>, target: &BTreeMap<String, Dump>) {
    assert_eq!(source.keys().collect::<Vec<_>>(), target.keys().collect::<Vec<_>>());
    for (name, dump) in source {
        let copy = &target[name];
        assert_eq!(dump.rows.len(), copy.rows.len(), "{name}: rows");
        for (n, (a, b)) in dump.rows.iter().zip(&copy.rows).enumerate() {
            assert_eq!(a, b, "{name}: row {n} differs (columns {:?})", dump.columns);
        }
    }
}

/// Rows per table of the PostgreSQL database, from plain `COUNT(*)`.
async fn postgres_counts(url: &str, tables: &[&String]) -> BTreeMap<String, i64> {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let mut counts = BTreeMap::new();
    for table in tables {
        let sql = format!("SELECT COUNT(*) FROM \"{table}\"");
        let n: i64 =
            sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(&mut conn).await.expect("count");
        counts.insert(table.to_string(), n);
    }
    conn.close().await.expect("close");
    counts
}

/// What the operator reads of a desk, command by command, from the database at `url`.
fn views(desk: &Desk, url: &str) -> Vec<(String, String)> {
    let mut commands: Vec<Vec<String>> = [
        &["case", "list", "--json"][..],
        &["case", "list", "--vencidos", "--json"],
        &["outbox", "list", "--json"],
        &["quarantine", "list", "--ignorados", "--json"],
        &["proveedores", "list", "--json"],
        &["kb", "export", "--formato", "json"],
    ]
    .iter()
    .map(|args| args.iter().map(|a| a.to_string()).collect())
    .collect();
    for case in json(&desk.ok(url, &["case", "list", "--json"])).as_array().expect("cases") {
        let number = case["number"].as_str().expect("number").to_string();
        commands.push(vec!["case".into(), "show".into(), number, "--json".into()]);
    }
    for item in json(&desk.ok(url, &["outbox", "list", "--json"])).as_array().expect("outbox") {
        let id = item["id"].as_i64().expect("id").to_string();
        commands.push(vec!["outbox".into(), "show".into(), id, "--json".into()]);
    }
    let mut seen: Vec<(String, String)> = commands
        .iter()
        .map(|args| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = desk.ok(url, &args);
            (args.join(" "), String::from_utf8_lossy(&output.stdout).into_owned())
        })
        .collect();
    // The report, without the moment it was written.
    let args = ["reporte", "--formato", "json", "--desde", "2020-01-01"];
    let mut report = json(&desk.ok(url, &args));
    report.as_object_mut().expect("an object").remove("generated_at");
    seen.push((args.join(" "), report.to_string()));
    seen
}

/// `tabla  filas origen  filas destino` lines of the migrate output, by table.
fn printed_counts(stdout: &str) -> BTreeMap<String, (i64, i64)> {
    stdout
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [table, from, to] => {
                    Some((table.to_string(), (from.parse().ok()?, to.parse().ok()?)))
                }
                _ => None,
            }
        })
        .collect()
}

#[tokio::test]
async fn a_sqlite_desk_moves_to_postgres_whole_and_a_second_copy_is_refused() {
    let desk = busy_desk().await;
    let target = PgDatabase::create().await;
    let mut source = desk.sqlite().await;
    let before = sqlite_dump(&mut source).await;
    source.close().await.expect("close");
    assert!(before["raw_bodies"].rows.len() >= 20 && before["case_actions"].rows.len() >= 3);
    assert!(
        !before["providers"].rows.is_empty() && !before["first_contact_solutions"].rows.is_empty()
    );

    let output = desk.migrate_to(&target.url());
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    println!("{stdout}");
    assert!(stdout.contains("ya estaba en el esquema"), "{stdout}");
    assert!(stdout.contains("Copia verificada y confirmada"), "{stdout}");
    assert!(!stdout.contains(":mesa@"), "the password is not printed: {stdout}");
    let printed = printed_counts(&stdout);
    for (table, dump) in &before {
        let rows = i64::try_from(dump.rows.len()).expect("rows");
        assert_eq!(printed.get(table), Some(&(rows, rows)), "{table} in the table:\n{stdout}");
    }
    let total: usize = before.values().map(|dump| dump.rows.len()).sum();
    let total = i64::try_from(total).expect("rows");
    assert_eq!(printed.get("total"), Some(&(total, total)), "{stdout}");

    // Value for value, and the same views from either database.
    let copied = postgres_dump(&target.url(), &before).await;
    assert_same(&before, &copied);
    let loads = "SELECT agent, open_cases FROM agent_loads WHERE open_cases > 0 ORDER BY agent";
    let mut source = desk.sqlite().await;
    let source_loads: Vec<(String, i64)> =
        sqlx::query_as(loads).fetch_all(&mut source).await.expect("source loads");
    source.close().await.expect("close");
    let options = PgConnectOptions::from_str(&target.url()).expect("URL");
    let mut conn = PgConnection::connect_with(&options).await.expect("connect");
    let target_loads: Vec<(String, i64)> =
        sqlx::query_as(loads).fetch_all(&mut conn).await.expect("target loads");
    assert!(!source_loads.is_empty(), "the busy desk has cases held by agents");
    assert_eq!(source_loads, target_loads, "the agents' loads, counted again on the target");
    let from_sqlite = views(&desk, &desk.url());
    let from_postgres = views(&desk, &target.url());
    assert!(from_sqlite.len() > 30, "{} views", from_sqlite.len());
    for ((args, a), (_, b)) in from_sqlite.iter().zip(&from_postgres) {
        assert_eq!(a, b, "`mesa-fe {args}` differs between SQLite and PostgreSQL");
    }

    // A second copy into the now non-empty target: refused, and nothing changes there.
    desk.ingest(&[fixture_path("mail/02_contribuyente_texto_sin_requisitos.eml")]);
    let cases = before["cases"].rows.len();
    let again = desk.migrate_to(&target.url());
    assert_eq!(again.status.code(), Some(65), "{}", text(&again));
    let said = text(&again);
    for expected in [
        "la base de destino ya tiene datos",
        &format!("cases tiene {cases} filas"),
        "no se escribió nada",
        "bórrela y créela de nuevo vacía",
    ] {
        assert!(said.contains(expected), "«{expected}» in: {said}");
    }
    assert!(!said.contains("Copia verificada"), "{said}");
    assert_same(&before, &postgres_dump(&target.url(), &before).await);

    // The desk goes on in PostgreSQL: the next case gets the next id and the next number.
    let last_id = before["cases"].rows.iter().filter_map(|r| match r[0] {
        Cell::Integer(id) => Some(id),
        _ => None,
    });
    let last_id = last_id.max().expect("cases");
    let new_mail = desk.dir.path().join("nuevo.eml");
    std::fs::write(
        &new_mail,
        "From: Nueva Empresa <soporte@nueva.example>\r\nTo: sd_facturaelectronica@dian.gov.co\r\n\
         Subject: Primera consulta desde PostgreSQL\r\nMessage-ID: <nuevo.1@nueva.example>\r\n\
         Date: Thu, 26 Nov 2026 10:00:00 -0500\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         La factura SETT0000001 fue rechazada con la regla FAD06.\r\n",
    )
    .expect("write mail");
    let mut command = mesa_fe(desk.dir.path());
    command.env(URL_VARIABLE, target.url()).arg("ingest").arg(&new_mail);
    let ingest = command.output().expect("ingest into PostgreSQL");
    assert!(ingest.status.success(), "{}", text(&ingest));
    let after = postgres_dump(&target.url(), &before).await;
    let ids: Vec<i64> = after["cases"]
        .rows
        .iter()
        .filter_map(|r| match r[0] {
            Cell::Integer(id) => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.last(), Some(&(last_id + 1)), "{}", text(&ingest));
    let listed = json(&desk.ok(&target.url(), &["case", "list", "--json"]));
    let numbers: Vec<&str> =
        listed.as_array().expect("cases").iter().filter_map(|c| c["number"].as_str()).collect();
    let expected = format!("-{:06}", cases + 1);
    assert!(numbers.iter().any(|n| n.ends_with(&expected)), "{numbers:?}");
}

#[tokio::test]
async fn a_source_holding_text_in_an_integer_column_or_a_nul_is_refused_before_writing() {
    // Both found and named; with --reemplazar-nulos only the integer still stops the copy; once
    // fixed, the U+0000 arrives as U+FFFD and the output says where.
    let desk = Desk::new();
    desk.ingest(&[
        fixture_path("mail/01_proveedor_zip_attacheddocument.eml"),
        fixture_path("mail/02_contribuyente_texto_sin_requisitos.eml"),
    ]);
    let mut conn = desk.sqlite().await;
    // What an old bug or a hand edit can leave: SQLite keeps text it cannot read as a number.
    for sql in [
        "UPDATE cases SET version = 'dos' WHERE id = 1",
        "UPDATE case_messages SET own_words = 'antes' || char(0) || 'después' WHERE id = 2",
    ] {
        let done = sqlx::query(sql).execute(&mut conn).await.expect(sql);
        assert_eq!(done.rows_affected(), 1, "{sql}");
    }
    let dump = sqlite_dump(&mut conn).await;
    conn.close().await.expect("close");
    let target = PgDatabase::create().await;

    let output = desk.migrate_to(&target.url());
    assert_eq!(output.status.code(), Some(65), "{}", text(&output));
    let said = text(&output);
    for expected in [
        "cases.version (id = 1): tiene un texto donde va un número entero",
        "case_messages.own_words (id = 2): el texto tiene el carácter U+0000",
        "No se escribió nada en el destino",
    ] {
        assert!(said.contains(expected), "«{expected}» in: {said}");
    }
    assert!(said.contains("--reemplazar-nulos"), "{said}");
    let tables: Vec<&String> = dump.keys().collect();
    let counts = postgres_counts(&target.url(), &tables).await;
    assert!(counts.values().all(|n| *n == 0), "the target stays empty: {counts:?}");

    let output = desk.migrate_with(&target.url(), &["--reemplazar-nulos"]);
    assert_eq!(output.status.code(), Some(65), "{}", text(&output));
    let said = text(&output);
    assert!(said.contains("cases.version (id = 1)") && !said.contains("U+0000"), "{said}");
    let counts = postgres_counts(&target.url(), &tables).await;
    assert!(counts.values().all(|n| *n == 0), "the target stays empty: {counts:?}");

    let mut conn = desk.sqlite().await;
    sqlx::query("UPDATE cases SET version = 0 WHERE id = 1").execute(&mut conn).await.expect("fix");
    conn.close().await.expect("close");
    let output = desk.migrate_with(&target.url(), &["--reemplazar-nulos"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let said = text(&output);
    assert!(
        said.contains("U+0000 copiado como U+FFFD (�)")
            && said.contains("case_messages.own_words en 1 fila"),
        "{said}"
    );
    let copied = postgres_dump(&target.url(), &dump).await;
    let own_words = dump["case_messages"].columns.iter().position(|c| c == "own_words");
    let own_words = own_words.expect("own_words");
    assert_eq!(
        copied["case_messages"].rows[1][own_words],
        Cell::Text("antes\u{FFFD}después".into())
    );
}

#[test]
fn only_sqlite_to_postgres_with_both_options_and_plain_migrate_as_before() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = |name: &str| dir.path().join(name);
    let sqlite = |name: &str| format!("sqlite://{}", file(name).display());
    let run = |args: &[&str]| {
        mesa_fe(dir.path())
            .env(URL_VARIABLE, sqlite("mesa-fe.db"))
            .args(args)
            .output()
            .expect("run mesa-fe")
    };
    let server = "postgres://mesa:clave-secreta@127.0.0.1:1/nada";
    let cases: [(&[&str], i32, &str); 4] = [
        (&["migrate", "--desde", &sqlite("a.db")], 64, "--desde va con --hacia"),
        (&["migrate", "--hacia", server], 64, "--hacia va con --desde"),
        (&["migrate", "--desde", server, "--hacia", &sqlite("b.db")], 64, "solo se puede pasar"),
        (&["migrate", "--desde", &sqlite("no-existe.db"), "--hacia", server], 66, "no existe"),
    ];
    for (args, code, expected) in cases {
        let output = run(args);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {}", text(&output));
        assert!(text(&output).contains(expected), "{args:?}: {}", text(&output));
        assert!(!text(&output).contains("clave-secreta"), "{}", text(&output));
    }
    for name in ["a.db", "b.db", "no-existe.db"] {
        assert!(!file(name).exists(), "{name} was created");
    }
    let plain = run(&["migrate"]);
    assert!(plain.status.success(), "{}", text(&plain));
    assert!(text(&plain).contains("Base de datos al día"), "{}", text(&plain));
    assert!(file("mesa-fe.db").exists());
}

/// A support request with a 30 KB attachment, unique by `n`.
fn bulky_request(n: usize) -> Vec<u8> {
    let mut seed = fastrand::Rng::with_seed(n as u64);
    let attachment: Vec<u8> = (0..30_000).map(|_| seed.u8(..)).collect();
    let encoded = base64_lines(&attachment);
    format!(
        "From: Proveedor {n} <proveedor{n}@pt.example>\r\nTo: sd_facturaelectronica@dian.gov.co\r\n\
         Subject: Factura SETT{n:07} rechazada\r\nDate: Thu, 26 Nov 2026 10:00:00 -0500\r\n\
         Message-ID: <copia.{n}@pt.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b{n}\"\r\n\r\n--b{n}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nBuenos días. La factura SETT{n:07} del NIT \
         900481236 no fue aceptada; adjunto el pantallazo del error FAD06.\r\n--b{n}\r\n\
         Content-Type: image/png; name=\"error{n}.png\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"error{n}.png\"\r\n\r\n{encoded}--b{n}--\r\n"
    )
    .into_bytes()
}

fn base64_lines(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(3).enumerate() {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
        if i % 19 == 18 {
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out
}

/// The figures of a copy of a bigger desk: `MESA_FE_COPIA_CORREOS` mails (2,000 by default),
/// each with a 30 KB attachment, ingested by the binary, then copied; prints the migrate output
/// (rows/s, MB/s). Run on demand:
/// `cargo nextest run --test migrate_copy --run-ignored only --no-capture`.
#[tokio::test]
#[ignore = "a measurement, not a check: run on demand"]
async fn a_bigger_desk_copies_at_a_measured_speed() {
    let mails: usize =
        std::env::var("MESA_FE_COPIA_CORREOS").ok().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let desk = Desk::new();
    let spool = tempfile::tempdir().expect("spool");
    let files: Vec<PathBuf> = (0..mails)
        .map(|n| {
            let path = spool.path().join(format!("{n:05}.eml"));
            std::fs::write(&path, bulky_request(n)).expect("write mail");
            path
        })
        .collect();
    let started = std::time::Instant::now();
    for chunk in files.chunks(500) {
        desk.ingest(chunk);
    }
    println!("{mails} correos ingresados en {:.1} s", started.elapsed().as_secs_f64());
    let size = std::fs::metadata(desk.dir.path().join("mesa-fe.db")).map(|m| m.len()).unwrap_or(0);
    println!("archivo SQLite: {:.1} MB", size as f64 / 1e6);
    let target = PgDatabase::create().await;
    let started = std::time::Instant::now();
    let output = desk.migrate_to(&target.url());
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    println!("{}", String::from_utf8_lossy(&output.stderr));
    println!("{}", String::from_utf8_lossy(&output.stdout));
    println!("migrate completo (abrir, revisar, copiar, verificar): {wall:.1} s");
}
