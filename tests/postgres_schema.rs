//! One schema history for both backends (issue 13): `migrations/postgres` translates
//! `migrations/sqlite` file by file, and this test holds the two together. It applies each
//! directory to an empty database (a fresh PostgreSQL database on the stack's cluster, a temporary
//! SQLite file) and compares what they built: tables, columns in order with their type, nullability
//! and default, primary keys, unique constraints, indexes and foreign keys, plus the list of
//! (version, description) of both migrators. A migration added, renamed or changed on one side
//! only fails here.
//!
//! Needs the PostgreSQL of the dev stack: `MESA_FE_PRUEBA_POSTGRES` from
//! `eval "$(bash deploy/dev/mailstack.sh env)"`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::db::{Backend, TestDb};
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row, SqliteConnection};

static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");

/// What a migrated table looks like, in terms both backends can state. The column type is the
/// SQLite affinity it stands for (BIGINT is INTEGER, BYTEA is BLOB), so a wrong translation shows.
#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    columns: Vec<Column>,
    primary_key: Vec<String>,
    /// UNIQUE constraints by their columns: their backing indexes are named by each engine
    /// (`sqlite_autoindex_cases_1` against `cases_number_key`), so names cannot be compared.
    unique_constraints: BTreeSet<Vec<String>>,
    /// Indexes made by CREATE INDEX, by name.
    indexes: BTreeMap<String, Index>,
    foreign_keys: BTreeSet<ForeignKey>,
}

#[derive(Debug, PartialEq, Eq)]
struct Column {
    name: String,
    kind: String,
    not_null: bool,
    default: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
struct Index {
    unique: bool,
    partial: bool,
    columns: Vec<String>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ForeignKey {
    columns: Vec<String>,
    table: String,
    references: Vec<String>,
    on_update: String,
    on_delete: String,
}

/// sqlx's own bookkeeping table differs by backend (and is not ours).
const BOOKKEEPING: &str = "_sqlx_migrations";

async fn sqlite_schema(conn: &mut SqliteConnection) -> sqlx::Result<BTreeMap<String, Table>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> ?1 ORDER BY name",
    )
    .bind(BOOKKEEPING)
    .fetch_all(&mut *conn)
    .await?;
    let mut tables = BTreeMap::new();
    for name in names {
        let mut table = Table::default();
        let mut pk = Vec::new();
        let rows = sqlx::query(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1) ORDER BY cid",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            let column: String = row.get("name");
            let pk_position: i64 = row.get("pk");
            if pk_position > 0 {
                pk.push((pk_position, column.clone()));
            }
            table.columns.push(Column {
                kind: row.get::<String, _>("type").to_uppercase(),
                // A primary key column is NOT NULL on PostgreSQL by definition; on SQLite an
                // INTEGER PRIMARY KEY is the rowid (never NULL) and table_info reports 0 for it.
                not_null: row.get::<i64, _>("notnull") != 0 || pk_position > 0,
                default: row.get("dflt_value"),
                name: column,
            });
        }
        pk.sort();
        table.primary_key = pk.into_iter().map(|(_, c)| c).collect();

        let rows =
            sqlx::query("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1)")
                .bind(&name)
                .fetch_all(&mut *conn)
                .await?;
        for row in rows {
            let index: String = row.get("name");
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(&mut *conn)
                    .await?;
            match row.get::<String, _>("origin").as_str() {
                "pk" => {} // compared as the primary key
                "u" => {
                    table.unique_constraints.insert(columns);
                }
                _ => {
                    let unique = row.get::<i64, _>("unique") != 0;
                    let partial = row.get::<i64, _>("partial") != 0;
                    table.indexes.insert(index, Index { unique, partial, columns });
                }
            }
        }

        let rows = sqlx::query(
            "SELECT id, seq, \"table\", \"from\", \"to\", on_update, on_delete \
             FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await?;
        let mut by_id: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for row in rows {
            let fk = by_id.entry(row.get("id")).or_insert_with(|| ForeignKey {
                columns: Vec::new(),
                table: row.get("table"),
                references: Vec::new(),
                on_update: row.get("on_update"),
                on_delete: row.get("on_delete"),
            });
            fk.columns.push(row.get("from"));
            // NULL when the clause names no column (the parent's primary key); ours always do
            fk.references.push(row.get::<Option<String>, _>("to").unwrap_or_default());
        }
        table.foreign_keys = by_id.into_values().collect();
        tables.insert(name, table);
    }
    Ok(tables)
}

/// The column names of a list of attribute numbers, in that order.
const PG_COLUMNS: &str = "ARRAY(SELECT a.attname::text FROM unnest({keys}) WITH ORDINALITY k(n, o) \
     JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.n ORDER BY k.o)";

fn pg_columns(keys: &str, rel: &str) -> String {
    PG_COLUMNS.replace("{keys}", keys).replace("{rel}", rel)
}

fn pg_action(code: &str) -> String {
    match code {
        "a" => "NO ACTION",
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        other => other,
    }
    .to_string()
}

async fn postgres_schema(conn: &mut PgConnection) -> sqlx::Result<BTreeMap<String, Table>> {
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_type = 'BASE TABLE' AND table_name <> $1",
    )
    .bind(BOOKKEEPING)
    .fetch_all(&mut *conn)
    .await?;
    for name in names {
        tables.insert(name, Table::default());
    }

    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty, \
         is_nullable::text AS nullable, column_default::text AS dflt \
         FROM information_schema.columns WHERE table_schema = 'public' \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let Some(table) = tables.get_mut(row.get::<&str, _>("t")) else { continue };
        let kind = match row.get::<&str, _>("ty") {
            "bigint" => "INTEGER".to_string(),
            "text" => "TEXT".to_string(),
            "bytea" => "BLOB".to_string(),
            other => format!("(PostgreSQL {other})"),
        };
        // '…'::text → '…', as SQLite states the same default
        let default = row.get::<Option<String>, _>("dflt").map(|d| match d.rfind("::") {
            Some(i) if d[i + 2..].chars().all(|c| c.is_ascii_alphabetic() || c == ' ') => {
                d[..i].to_string()
            }
            _ => d,
        });
        table.columns.push(Column {
            name: row.get("c"),
            kind,
            not_null: row.get::<&str, _>("nullable") == "NO",
            default,
        });
    }

    let sql = format!(
        "SELECT cl.relname::text AS t, c.contype::text AS kind, {cols} AS cols, \
         rt.relname::text AS ref_table, {ref_cols} AS ref_cols, \
         c.confupdtype::text AS on_update, c.confdeltype::text AS on_delete \
         FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid \
         JOIN pg_namespace ns ON ns.oid = cl.relnamespace \
         LEFT JOIN pg_class rt ON rt.oid = c.confrelid \
         WHERE ns.nspname = 'public' AND c.contype IN ('p', 'u', 'f')",
        cols = pg_columns("c.conkey", "c.conrelid"),
        ref_cols = pg_columns("c.confkey", "c.confrelid"),
    );
    // built from the constants above only
    for row in sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut *conn).await? {
        let Some(table) = tables.get_mut(row.get::<&str, _>("t")) else { continue };
        let cols: Vec<String> = row.get("cols");
        match row.get::<&str, _>("kind") {
            "p" => table.primary_key = cols,
            "u" => {
                table.unique_constraints.insert(cols);
            }
            _ => {
                table.foreign_keys.insert(ForeignKey {
                    columns: cols,
                    table: row.get("ref_table"),
                    references: row.get("ref_cols"),
                    on_update: pg_action(row.get("on_update")),
                    on_delete: pg_action(row.get("on_delete")),
                });
            }
        }
    }

    // Indexes that back a PRIMARY KEY or UNIQUE constraint were compared above.
    let sql = format!(
        "SELECT t.relname::text AS t, i.relname::text AS name, x.indisunique AS is_unique, \
         x.indpred IS NOT NULL AS partial, {cols} AS cols \
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace ns ON ns.oid = t.relnamespace \
         WHERE ns.nspname = 'public' \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid \
                         AND c.contype IN ('p', 'u'))",
        cols = pg_columns("x.indkey::int2[]", "x.indrelid"),
    );
    for row in sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut *conn).await? {
        let Some(table) = tables.get_mut(row.get::<&str, _>("t")) else { continue };
        table.indexes.insert(
            row.get("name"),
            Index {
                unique: row.get("is_unique"),
                partial: row.get("partial"),
                columns: row.get("cols"),
            },
        );
    }
    Ok(tables)
}

/// Text columns sort by bytes (as on SQLite) because each one says `COLLATE "C"`, not because of
/// how the operator created the database: a PostgreSQL migration that forgets it is caught here.
async fn text_columns_without_c_collation(conn: &mut PgConnection) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT table_name::text || '.' || column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> $1 AND data_type = 'text' \
         AND collation_name IS DISTINCT FROM 'C' ORDER BY 1",
    )
    .bind(BOOKKEEPING)
    .fetch_all(&mut *conn)
    .await
}

fn differences(
    sqlite: &BTreeMap<String, Table>,
    postgres: &BTreeMap<String, Table>,
) -> Vec<String> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = sqlite.keys().chain(postgres.keys()).collect();
    for name in names {
        let (s, p) = match (sqlite.get(name), postgres.get(name)) {
            (Some(s), Some(p)) => (s, p),
            (Some(_), None) => {
                out.push(format!("table {name}: only on SQLite"));
                continue;
            }
            _ => {
                out.push(format!("table {name}: only on PostgreSQL"));
                continue;
            }
        };
        let s_names: Vec<&str> = s.columns.iter().map(|c| c.name.as_str()).collect();
        let p_names: Vec<&str> = p.columns.iter().map(|c| c.name.as_str()).collect();
        if s_names != p_names {
            out.push(format!(
                "table {name}: columns (in order)\n    sqlite:     {s_names:?}\n    \
                 postgresql: {p_names:?}"
            ));
        } else {
            for (sc, pc) in s.columns.iter().zip(&p.columns) {
                if sc != pc {
                    out.push(format!(
                        "table {name}, column {}\n    sqlite:     {sc:?}\n    postgresql: {pc:?}",
                        sc.name
                    ));
                }
            }
        }
        let mut field = |what: &str, a: String, b: String| {
            if a != b {
                out.push(format!("table {name}: {what}\n    sqlite:     {a}\n    postgresql: {b}"));
            }
        };
        field("primary key", format!("{:?}", s.primary_key), format!("{:?}", p.primary_key));
        field(
            "unique constraints",
            format!("{:?}", s.unique_constraints),
            format!("{:?}", p.unique_constraints),
        );
        // only the indexes that differ: a table can have a dozen
        let index_names: BTreeSet<&String> = s.indexes.keys().chain(p.indexes.keys()).collect();
        for index in index_names {
            let (a, b) = (s.indexes.get(index), p.indexes.get(index));
            if a != b {
                field(&format!("index {index}"), format!("{a:?}"), format!("{b:?}"));
            }
        }
        field("foreign keys", format!("{:?}", s.foreign_keys), format!("{:?}", p.foreign_keys));
    }
    out
}

fn history(migrator: &Migrator) -> Vec<(i64, String)> {
    migrator.iter().map(|m| (m.version, m.description.to_string())).collect()
}

#[test]
fn both_migrators_have_the_same_history() {
    let sqlite = history(&SQLITE);
    assert!(!sqlite.is_empty(), "no SQLite migrations found");
    assert_eq!(
        sqlite,
        history(&POSTGRES),
        "migrations/sqlite and migrations/postgres must hold the same (version, description) list"
    );
}

/// Migrates a fresh PostgreSQL database and returns the differences with the SQLite schema.
async fn compare(pg: &mut PgConnection) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    POSTGRES.run(&mut *pg).await?;

    let dir = tempfile::tempdir()?;
    let options =
        SqliteConnectOptions::new().filename(dir.path().join("esquema.db")).create_if_missing(true);
    let mut lite = SqliteConnection::connect_with(&options).await?;
    SQLITE.run(&mut lite).await?;

    let sqlite = sqlite_schema(&mut lite).await?;
    let postgres = postgres_schema(pg).await?;
    lite.close().await?;
    if sqlite.len() < 10 {
        return Err(format!("only {} tables read from SQLite", sqlite.len()).into());
    }
    let mut out = differences(&sqlite, &postgres);
    for column in text_columns_without_c_collation(pg).await? {
        out.push(format!("column {column}: TEXT without COLLATE \"C\" on PostgreSQL"));
    }
    Ok(out)
}

#[tokio::test]
async fn postgres_migrations_build_the_sqlite_schema() {
    // a database of its own, dropped also when the test fails: runs never see each other's
    // leftovers
    let db = TestDb::on(Backend::Postgres);
    let mut pg = PgConnection::connect(&db.url()).await.expect("connect to the test database");
    let outcome = compare(&mut pg).await;
    let _ = pg.close().await;

    let differences = outcome.expect("migrate and read both schemas");
    assert!(
        differences.is_empty(),
        "migrations/postgres does not build the schema of migrations/sqlite:\n{}",
        differences.join("\n")
    );
}
