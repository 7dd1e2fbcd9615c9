//! Moving a desk (issue 13): `mesa-fe migrate --desde sqlite://… --hacia postgres://…` copies
//! every table of a SQLite desk into an empty PostgreSQL database, ids included (the outbox's
//! `context` JSON names raw messages by id), and checks the copy before committing it.
//!
//! Both stores come opened, so both are at this binary's schema version: the tables and columns to
//! copy are read from the source (`sqlite_schema`, `PRAGMA table_info`, foreign keys for the
//! order) and must match the target's `information_schema` column for column, or nothing is
//! copied. Values are never converted: an INTEGER column holding text, a TEXT holding U+0000
//! (PostgreSQL's TEXT cannot), a row whose foreign key points nowhere are reported, by table,
//! column and key, before anything is written.
//!
//! The source is held under SQLite's write lock for the whole copy (a service still running on it
//! waits instead of adding a message the copy would miss); the target is written in one
//! transaction under the desk's write lock, with the self-referencing foreign keys deferred (a case
//! may name a later parent, a notification always names a later digest). Tables are streamed in
//! rowid order, a few hundred rows (or a few MB of mail) at a time. After the copy every table is
//! compared (rows, highest id, bytes of the bodies), then the identity sequences are moved past the
//! copied ids, then the transaction commits; any difference rolls the whole copy back.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use sqlx::{AssertSqlSafe, Connection as _, QueryBuilder, Row as _, TypeInfo as _, ValueRef as _};

use super::{Backend, Store, StoreError, postgres, sqlite};

/// Tables not copied: sqlx's bookkeeping (each database has its own, written by its own
/// migrator), the leases, runtime state of the nodes running on a database (a SQLite desk is
/// one node and holds none that mean anything elsewhere), and the agents' loads, which the
/// target's triggers count as the cases are copied.
const NOT_COPIED: [&str; 3] = ["_sqlx_migrations", "leases", "agent_loads"];

/// Rows read from the source at a time.
const ROWS_PER_CHUNK: usize = 500;

/// Bytes of BLOB read from the source at a time (a table of whole e-mails), at least one row.
const BYTES_PER_CHUNK: i64 = 8 * 1024 * 1024;

/// PostgreSQL's limit of bind parameters in one statement.
const MAX_BINDS: usize = 65_535;

/// Problems listed in one refusal; the rest are counted.
const PROBLEMS_SHOWN: usize = 10;

/// Why a desk was not copied. Nothing was written to the target in any case.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "solo se puede pasar una mesa de SQLite a PostgreSQL: --desde {from} es {from_kind} y \
         --hacia {to} es {to_kind}. Use --desde sqlite://RUTA_DEL_ARCHIVO y --hacia \
         postgres://USUARIO@SERVIDOR:PUERTO/BASE; no se abrió ninguna de las dos"
    )]
    UnsupportedPair { from: String, from_kind: &'static str, to: String, to_kind: &'static str },
    #[error(
        "--desde {url}: el archivo {path} no existe. Revise la ruta (la de general.base_datos de \
         la mesa, por defecto <directorio_estado>/mesa-fe.db); no se creó ni se escribió nada"
    )]
    SourceMissing { url: String, path: String },
    #[error(
        "el archivo SQLite de origen está bloqueado por otro proceso que escribe en él (¿el \
         servicio sigue en marcha?): detenga el servicio (systemctl stop mesa-fe) y repita la \
         orden; no se escribió nada"
    )]
    SourceBusy,
    #[error(
        "la base de destino ya tiene datos: {}. mesa-fe solo copia una mesa a una base vacía, \
         para no mezclar dos mesas ni pisar casos: no se escribió nada. Si es una copia anterior \
         que quiere rehacer, bórrela y créela de nuevo vacía (DROP DATABASE y CREATE DATABASE, \
         con el usuario de mesa-fe como dueño) o use otra base vacía, y repita la orden",
        list_counts(.tables)
    )]
    TargetNotEmpty { tables: Vec<(String, i64)> },
    #[error(
        "el esquema del origen y el del destino no coinciden, así que no se copió nada: {}. \
         Ambas bases están en la versión de esquema de este programa; una diferencia así es una \
         tabla o columna agregada a mano o un fallo de mesa-fe: guarde este mensaje y repórtelo",
        .problems.join("; ")
    )]
    Schema { problems: Vec<String> },
    #[error(
        "el origen tiene valores que PostgreSQL no puede guardar tal como están, y mesa-fe no los \
         convierte por su cuenta: {}{}. No se escribió nada en el destino.{}",
        list_problems(.problems),
        more_problems(*.more),
        remedies(.problems)
    )]
    BadValues { problems: Vec<BadValue>, more: usize },
    #[error(
        "el origen tiene filas cuya referencia apunta a una fila que no existe, que PostgreSQL \
         rechazaría: {}{}. No se escribió nada en el destino. Revise esas filas en una copia del \
         archivo SQLite (`PRAGMA foreign_key_check`) y repita la orden",
        .problems.join("; "),
        more_problems(*.more)
    )]
    BrokenReferences { problems: Vec<String>, more: usize },
    #[error(
        "la verificación de la tabla {table} no cuadra: {detail}. Se deshizo toda la copia: el \
         destino quedó vacío y el origen no cambió. Es un fallo de mesa-fe: guarde esta salida y \
         repórtelo"
    )]
    Mismatch { table: String, detail: String },
    #[error(
        "al copiar la tabla {table}: {source}; se deshizo toda la copia, el destino quedó vacío"
    )]
    Table { table: String, source: StoreError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CopyError {
    fn from(error: sqlx::Error) -> CopyError {
        CopyError::Store(StoreError::Sql(error))
    }
}

/// A value of the source that cannot go into the target as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadValue {
    pub table: String,
    pub column: String,
    /// The row: `id = 7`, `nit = 900123456`, `rowid = 3`.
    pub row: String,
    /// What is wrong with it, in Spanish.
    pub problem: String,
    /// The problem is a U+0000 in a text (which `--reemplazar-nulos` copies as U+FFFD).
    pub nul: bool,
}

impl std::fmt::Display for BadValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{} ({}): {}", self.table, self.column, self.row, self.problem)
    }
}

fn list_counts(tables: &[(String, i64)]) -> String {
    let parts: Vec<String> = tables
        .iter()
        .map(|(table, rows)| {
            format!("{table} tiene {rows} {}", if *rows == 1 { "fila" } else { "filas" })
        })
        .collect();
    parts.join(", ")
}

fn list_problems(problems: &[BadValue]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// What the operator can do about each sort of value listed.
fn remedies(problems: &[BadValue]) -> String {
    let mut said = String::new();
    if problems.iter().any(|p| p.nul) {
        said.push_str(
            " Un U+0000 llega en correos raros o maliciosos y no se puede quitar con sqlite3: \
             repita la orden con --reemplazar-nulos y cada U+0000 se copia como U+FFFD (�), \
             diciendo en qué tablas, columnas y filas; el origen no cambia.",
        );
    }
    if problems.iter().any(|p| !p.nul) {
        said.push_str(
            " Un valor de otro tipo no se adivina: detenga el servicio, guarde una copia del \
             archivo SQLite, corrija esas filas con sqlite3 (`UPDATE tabla SET columna = valor \
             WHERE id = N`) y repita la orden.",
        );
    }
    said
}

fn more_problems(more: usize) -> String {
    match more {
        0 => String::new(),
        1 => " (y 1 fila más)".to_string(),
        more => format!(" (y {more} filas más)"),
    }
}

/// What each table held on each side after the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableStats {
    pub rows: i64,
    /// The highest value of the table's integer primary key (`id`, `raw_message_id`, `year`);
    /// `None` for an empty table or a table keyed by text.
    pub max_key: Option<i64>,
    /// Bytes in the table's BLOB/BYTEA columns (the bodies of `raw_bodies`).
    pub bytes: i64,
}

/// One copied table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub name: String,
    pub source: TableStats,
    pub target: TableStats,
}

/// What the operator allowed the copy to change.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Copy each U+0000 of a text as U+FFFD (PostgreSQL's TEXT cannot hold U+0000) instead of
    /// refusing the copy.
    pub replace_nul: bool,
}

/// A text column where U+0000 was copied as U+FFFD, and in how many rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    pub table: String,
    pub column: String,
    pub rows: i64,
}

/// A committed, verified copy.
#[derive(Debug, Clone)]
pub struct CopyReport {
    /// In the order they were copied (parents before the tables that reference them).
    pub tables: Vec<TableReport>,
    /// Where U+0000 became U+FFFD ([`Options::replace_nul`]).
    pub replaced: Vec<Replaced>,
    /// The schema version both databases are at (the highest migration applied).
    pub schema_version: i64,
}

/// How far a copy got, for the operator watching a long one.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// The source was checked (values, references) and counted; the copy starts.
    Checked { tables: usize, rows: i64 },
    /// One table was copied, with its rows.
    Copied { table: &'a str, rows: i64 },
}

/// Refuses, before either database is opened (opening creates a SQLite file and migrates), any
/// pair but SQLite → PostgreSQL.
pub fn check_pair(from: &str, to: &str) -> Result<(), CopyError> {
    let kind = |url: &str| {
        if sqlite::dialect::accepts(url) {
            "SQLite"
        } else if postgres::dialect::accepts(url) {
            "PostgreSQL"
        } else {
            "una URL que mesa-fe no conoce"
        }
    };
    let (from_kind, to_kind) = (kind(from), kind(to));
    if from_kind == "SQLite" && to_kind == "PostgreSQL" {
        return Ok(());
    }
    Err(CopyError::UnsupportedPair {
        from: super::redact_url(from),
        from_kind,
        to: super::redact_url(to),
        to_kind,
    })
}

/// The schema version of the SQLite desk at `url` as it is now, read without creating or
/// changing anything (opening it with [`Store::open`] then migrates it): `None` when the file has
/// no schema yet. A file that is not there is refused: opening would create an empty desk.
pub async fn sqlite_version(url: &str) -> Result<Option<i64>, CopyError> {
    let open_error = |source| StoreError::Open { url: super::redact_url(url), source };
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .map_err(open_error)?
        .read_only(true)
        .create_if_missing(false);
    let path = options.get_filename();
    if path.as_os_str().is_empty() || !path.is_file() {
        return Err(CopyError::SourceMissing {
            url: super::redact_url(url),
            path: path.display().to_string(),
        });
    }
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.map_err(open_error)?;
    let migrated: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(&mut conn)
    .await?;
    let version = match migrated {
        Some(_) => {
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
                .fetch_one(&mut conn)
                .await?
        }
        None => None,
    };
    conn.close().await?;
    Ok(version)
}

/// Copies the SQLite desk `source` into the empty PostgreSQL database `target` (both opened, so
/// both migrated), verifies and commits it. `progress` hears when the source is checked and as
/// each table is copied, before the verification.
pub async fn copy_desk(
    source: &Store,
    target: &Store,
    options: Options,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<CopyReport, CopyError> {
    let (Backend::Sqlite(from), Backend::Postgres(to)) = (&source.backend, &target.backend) else {
        let name = |store: &Store| match store.backend {
            Backend::Sqlite(_) => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        };
        return Err(CopyError::UnsupportedPair {
            from: "(origen)".into(),
            from_kind: name(source),
            to: "(destino)".into(),
            to_kind: name(target),
        });
    };
    let schema_version: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(from.pool())
            .await?;
    let tables = {
        let mut conn = from.pool().acquire().await?;
        source_tables(&mut conn).await?
    };
    {
        let mut conn = to.pool().acquire().await?;
        check_target_schema(&mut conn, &tables).await?;
        // Refused now, before the long checks of the source; again below under the lock.
        refuse_non_empty(&mut conn, &tables).await?;
    }

    // The source stays as it is until the end: a writer waits (and retries) instead of adding a
    // row the copy would miss. Only read, and rolled back.
    let mut reading = from.write_tx().await.map_err(|e| match e.fault() {
        Some(super::Fault::Busy) => CopyError::SourceBusy,
        _ => CopyError::Store(e),
    })?;
    check_references(&mut reading).await?;
    let replaced = check_values(&mut reading, &tables, options.replace_nul).await?;
    let mut expected = Vec::with_capacity(tables.len());
    for table in &tables {
        expected.push(sqlite_stats(&mut reading, table).await?);
    }
    let rows = expected.iter().map(|stats: &TableStats| stats.rows).sum();
    progress(Progress::Checked { tables: tables.len(), rows });

    let mut writing = to.write_tx().await?;
    refuse_non_empty(&mut writing, &tables).await?;
    sqlx::query("SET CONSTRAINTS ALL DEFERRED").execute(&mut *writing).await?;
    for table in &tables {
        let rows = copy_table(&mut reading, &mut writing, table, options)
            .await
            .map_err(|e| e.in_table(&table.name))?;
        progress(Progress::Copied { table: &table.name, rows });
    }
    // The deferred foreign keys, checked now rather than at COMMIT, so a failure says so here.
    sqlx::query("SET CONSTRAINTS ALL IMMEDIATE").execute(&mut *writing).await?;

    let mut report = Vec::with_capacity(tables.len());
    for (table, source_stats) in tables.iter().zip(expected) {
        let target_stats = postgres_stats(&mut writing, table).await?;
        compare(&table.name, &source_stats, &target_stats)?;
        report.push(TableReport {
            name: table.name.clone(),
            source: source_stats,
            target: target_stats,
        });
    }
    // Last before COMMIT: a sequence moved by setval stays moved even if the transaction rolls
    // back, so it is moved only once the copy is known good.
    reset_identities(&mut writing, &tables).await?;
    writing.commit().await?;
    reading.rollback().await?;
    Ok(CopyReport { tables: report, replaced, schema_version: schema_version.unwrap_or(0) })
}

impl CopyError {
    /// A database error while copying one table, said with the table's name.
    fn in_table(self, table: &str) -> CopyError {
        match self {
            CopyError::Store(source) => CopyError::Table { table: table.to_string(), source },
            other => other,
        }
    }
}

/// The storage a column has on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// SQLite INTEGER, PostgreSQL BIGINT.
    Integer,
    /// TEXT on both.
    Text,
    /// SQLite BLOB, PostgreSQL BYTEA.
    Blob,
}

impl Kind {
    fn of_sqlite(declared: &str) -> Option<Kind> {
        match declared.to_ascii_uppercase().as_str() {
            "INTEGER" => Some(Kind::Integer),
            "TEXT" => Some(Kind::Text),
            "BLOB" => Some(Kind::Blob),
            _ => None,
        }
    }

    fn of_postgres(data_type: &str) -> Option<Kind> {
        match data_type {
            "bigint" => Some(Kind::Integer),
            "text" => Some(Kind::Text),
            "bytea" => Some(Kind::Blob),
            _ => None,
        }
    }

    /// What SQLite's `typeof()` says of a value of this kind.
    fn storage_class(self) -> &'static str {
        match self {
            Kind::Integer => "integer",
            Kind::Text => "text",
            Kind::Blob => "blob",
        }
    }

    /// The name sqlx gives a value of this storage class.
    fn sqlite_type_name(self) -> &'static str {
        match self {
            Kind::Integer => "INTEGER",
            Kind::Text => "TEXT",
            Kind::Blob => "BLOB",
        }
    }
}

/// A SQLite storage class in the operator's words.
fn class_in_spanish(class: &str) -> &'static str {
    match class.to_ascii_lowercase().as_str() {
        "integer" => "un número entero",
        "real" => "un número con decimales",
        "text" => "un texto",
        "blob" => "datos binarios (BLOB)",
        _ => "un valor de otro tipo",
    }
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
struct Table {
    name: String,
    columns: Vec<Column>,
    /// The single-column primary key, named in messages.
    key: Option<String>,
    /// Whether that key is an INTEGER (SQLite's rowid itself): compared as max after the copy.
    integer_key: bool,
}

impl Table {
    fn quoted_columns(&self) -> String {
        self.columns.iter().map(|c| ident(&c.name)).collect::<Vec<_>>().join(", ")
    }

    fn blobs(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.kind == Kind::Blob)
    }

    /// The SQL, the same on both sides, of the sum of its BLOB bytes (`length` of a BLOB is its
    /// bytes on SQLite, `octet_length` on PostgreSQL).
    fn bytes_sql(&self, length: &str) -> String {
        let sums: Vec<String> = self
            .blobs()
            .map(|c| format!("COALESCE(SUM({length}({})), 0)", ident(&c.name)))
            .collect();
        if sums.is_empty() { "CAST(0 AS BIGINT)".to_string() } else { sums.join(" + ") }
    }

    fn stats_sql(&self, length: &str) -> String {
        let max = match (&self.key, self.integer_key) {
            (Some(key), true) => format!("MAX({})", ident(key)),
            _ => "CAST(NULL AS BIGINT)".to_string(),
        };
        format!(
            "SELECT COUNT(*) AS n, {max} AS max_key, {} AS bytes FROM {}",
            self.bytes_sql(length),
            ident(&self.name)
        )
    }

    /// How a row is named in messages, given its rowid (an integer key is the rowid).
    fn row_name(&self, rowid: i64) -> String {
        match (&self.key, self.integer_key) {
            (Some(key), true) => format!("{key} = {rowid}"),
            _ => format!("rowid = {rowid}"),
        }
    }
}

/// `name` as an SQL identifier, the same on both backends.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The source's tables to copy, parents first, with their columns.
async fn source_tables(conn: &mut sqlite::Connection) -> Result<Vec<Table>, CopyError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut problems = Vec::new();
    let mut tables = BTreeMap::new();
    let mut parents = BTreeMap::new();
    for name in names.into_iter().filter(|n| !NOT_COPIED.contains(&n.as_str())) {
        let rows = sqlx::query("SELECT name, type, pk FROM pragma_table_info($1) ORDER BY cid")
            .bind(&name)
            .fetch_all(&mut *conn)
            .await?;
        let mut columns = Vec::new();
        let mut keys = Vec::new();
        for row in rows {
            let column: String = row.try_get("name")?;
            let declared: String = row.try_get("type")?;
            let Some(kind) = Kind::of_sqlite(&declared) else {
                problems.push(format!(
                    "la columna {name}.{column} es de tipo \"{declared}\", que esta versión no sabe \
                     copiar"
                ));
                continue;
            };
            if row.try_get::<i64, _>("pk")? > 0 {
                keys.push((column.clone(), kind));
            }
            columns.push(Column { name: column, kind });
        }
        let (key, integer_key) = match keys.as_slice() {
            [(key, kind)] => (Some(key.clone()), *kind == Kind::Integer),
            _ => (None, false),
        };
        let referenced: BTreeSet<String> = sqlx::query_scalar(
            "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1) WHERE \"table\" <> $1",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
        parents.insert(name.clone(), referenced);
        tables.insert(name.clone(), Table { name, columns, key, integer_key });
    }
    if !problems.is_empty() {
        return Err(CopyError::Schema { problems });
    }
    let order = parents_first(&parents).map_err(|problems| CopyError::Schema { problems })?;
    Ok(order.into_iter().filter_map(|name| tables.remove(&name)).collect())
}

/// The tables in an order where every table comes after those its foreign keys point at
/// (self-references left out), alphabetical among equals; or what makes that impossible.
fn parents_first(parents: &BTreeMap<String, BTreeSet<String>>) -> Result<Vec<String>, Vec<String>> {
    let mut problems = Vec::new();
    for (table, referenced) in parents {
        for parent in referenced {
            if !parents.contains_key(parent) {
                problems.push(format!(
                    "la tabla {table} apunta a {parent}, que no es una de las tablas que se copian"
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut order: Vec<String> = Vec::with_capacity(parents.len());
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    while order.len() < parents.len() {
        let ready: Vec<&String> = parents
            .iter()
            .filter(|(table, referenced)| {
                !placed.contains(table.as_str())
                    && referenced.iter().all(|p| p == *table || placed.contains(p.as_str()))
            })
            .map(|(table, _)| table)
            .collect();
        if ready.is_empty() {
            let stuck: Vec<&str> = parents
                .keys()
                .map(String::as_str)
                .filter(|table| !placed.contains(table))
                .collect();
            return Err(vec![format!(
                "las claves foráneas de {} forman un ciclo: no hay un orden en que copiarlas",
                stuck.join(", ")
            )]);
        }
        for table in ready {
            placed.insert(table);
            order.push(table.clone());
        }
    }
    Ok(order)
}

/// The target has every table to copy, with the same columns of the same kinds.
async fn check_target_schema(
    conn: &mut postgres::Connection,
    tables: &[Table],
) -> Result<(), CopyError> {
    let rows = sqlx::query(
        "SELECT CAST(table_name AS TEXT) AS t, CAST(column_name AS TEXT) AS c, \
         CAST(data_type AS TEXT) AS ty FROM information_schema.columns \
         WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut target: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in rows {
        target.entry(row.try_get("t")?).or_default().insert(row.try_get("c")?, row.try_get("ty")?);
    }
    let mut problems = Vec::new();
    for table in tables {
        let Some(columns) = target.get(&table.name) else {
            problems.push(format!("el destino no tiene la tabla {}", table.name));
            continue;
        };
        for column in &table.columns {
            match columns.get(&column.name) {
                None => problems
                    .push(format!("el destino no tiene la columna {}.{}", table.name, column.name)),
                Some(data_type) if Kind::of_postgres(data_type) != Some(column.kind) => problems
                    .push(format!(
                        "{}.{} es {} en el origen y {data_type} en el destino",
                        table.name,
                        column.name,
                        column.kind.sqlite_type_name()
                    )),
                Some(_) => {}
            }
        }
        for name in columns.keys() {
            if !table.columns.iter().any(|c| &c.name == name) {
                problems.push(format!("el origen no tiene la columna {}.{name}", table.name));
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(CopyError::Schema { problems }) }
}

/// Refuses a target in which any table to copy has a row.
async fn refuse_non_empty(
    conn: &mut postgres::Connection,
    tables: &[Table],
) -> Result<(), CopyError> {
    let mut filled = Vec::new();
    for table in tables {
        let sql = format!("SELECT COUNT(*) FROM {}", ident(&table.name));
        let rows: i64 = sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(&mut *conn).await?;
        if rows > 0 {
            filled.push((table.name.clone(), rows));
        }
    }
    if filled.is_empty() { Ok(()) } else { Err(CopyError::TargetNotEmpty { tables: filled }) }
}

/// SQLite's own check of the foreign keys: a dangling reference would stop the copy halfway.
async fn check_references(conn: &mut sqlite::Connection) -> Result<(), CopyError> {
    let limit = i64::try_from(PROBLEMS_SHOWN).unwrap_or(10) + 1;
    let rows = sqlx::query(
        "SELECT \"table\" AS t, rowid AS r, parent AS p FROM pragma_foreign_key_check LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut problems = Vec::new();
    for row in rows.iter().take(PROBLEMS_SHOWN) {
        let table: String = row.try_get("t")?;
        let rowid: Option<i64> = row.try_get("r")?;
        let parent: String = row.try_get("p")?;
        let rowid = rowid.map_or_else(|| "?".to_string(), |r| r.to_string());
        problems
            .push(format!("{table} (rowid = {rowid}) apunta a una fila de {parent} que no existe"));
    }
    let more = rows.len().saturating_sub(PROBLEMS_SHOWN);
    Err(CopyError::BrokenReferences { problems, more })
}

/// Every value of the source has the storage class its column's kind says (an INTEGER column
/// holds integers or NULL: SQLite keeps text it could not convert) and no text holds U+0000,
/// unless `replace_nul`: then the texts holding it are counted, by column.
async fn check_values(
    conn: &mut sqlite::Connection,
    tables: &[Table],
    replace_nul: bool,
) -> Result<Vec<Replaced>, CopyError> {
    let mut problems = Vec::new();
    let mut more = 0;
    let mut replaced = Vec::new();
    for table in tables {
        if replace_nul {
            replaced.extend(count_nul(conn, table).await?);
        }
        // (condition, what it found: "column:class" or "column:nul")
        let mut checks = Vec::new();
        for column in &table.columns {
            let name = ident(&column.name);
            checks.push((
                format!("typeof({name}) NOT IN ('{}', 'null')", column.kind.storage_class()),
                format!("{} || ':' || typeof({name})", literal(&column.name)),
            ));
            if column.kind == Kind::Text && !replace_nul {
                checks.push((has_nul(&column.name), literal(&format!("{}:nul", column.name))));
            }
        }
        if checks.is_empty() {
            continue;
        }
        let key = match &table.key {
            Some(key) => format!("{} || ' = ' || CAST({} AS TEXT)", literal(key), ident(key)),
            None => "'rowid = ' || CAST(rowid AS TEXT)".to_string(),
        };
        // Every problem of a row, each as "column:class;" or "column:nul;".
        let found: Vec<String> = checks
            .iter()
            .map(|(when, what)| format!("(CASE WHEN {when} THEN {what} || ';' ELSE '' END)"))
            .collect();
        let any: Vec<&str> = checks.iter().map(|(when, _)| when.as_str()).collect();
        let sql = format!(
            "SELECT {key} AS row_name, {} AS found, COUNT(*) OVER () AS total FROM {} \
             WHERE {} ORDER BY rowid LIMIT {}",
            found.join(" || "),
            ident(&table.name),
            any.join(" OR "),
            PROBLEMS_SHOWN
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut *conn).await?;
        // Every offending row of the table is counted (the window runs before the LIMIT).
        let total: i64 = match rows.first() {
            Some(row) => row.try_get("total")?,
            None => continue,
        };
        let mut listed = 0;
        for row in &rows {
            if problems.len() >= PROBLEMS_SHOWN {
                break;
            }
            let row_name: String = row.try_get("row_name")?;
            let found: String = row.try_get("found")?;
            for item in found.split(';').filter(|item| !item.is_empty()) {
                let (column, what) = item.rsplit_once(':').unwrap_or((item, ""));
                let problem = if what == "nul" {
                    "el texto tiene el carácter U+0000, que PostgreSQL no admite en un TEXT"
                        .to_string()
                } else {
                    let expected = table
                        .columns
                        .iter()
                        .find(|c| c.name == column)
                        .map_or("otro tipo", |c| class_in_spanish(c.kind.storage_class()));
                    format!("tiene {} donde va {expected}", class_in_spanish(what))
                };
                problems.push(BadValue {
                    table: table.name.clone(),
                    column: column.to_string(),
                    row: row_name.clone(),
                    problem,
                    nul: what == "nul",
                });
            }
            listed += 1;
        }
        more += usize::try_from(total).unwrap_or(usize::MAX).saturating_sub(listed);
    }
    if problems.is_empty() { Ok(replaced) } else { Err(CopyError::BadValues { problems, more }) }
}

/// The SQLite condition "this column is a text holding U+0000" (text functions stop at it, so
/// it is looked for in the bytes).
fn has_nul(column: &str) -> String {
    let name = ident(column);
    format!("(typeof({name}) = 'text' AND instr(CAST({name} AS BLOB), x'00') > 0)")
}

/// The text columns of `table` holding U+0000, with how many rows do; one pass over the table.
async fn count_nul(
    conn: &mut sqlite::Connection,
    table: &Table,
) -> Result<Vec<Replaced>, CopyError> {
    let texts: Vec<&Column> = table.columns.iter().filter(|c| c.kind == Kind::Text).collect();
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let sums: Vec<String> = texts
        .iter()
        .map(|c| format!("COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0)", has_nul(&c.name)))
        .collect();
    let sql = format!("SELECT {} FROM {}", sums.join(", "), ident(&table.name));
    let row = sqlx::query(AssertSqlSafe(sql)).fetch_one(&mut *conn).await?;
    let mut found = Vec::new();
    for (index, column) in texts.iter().enumerate() {
        let rows: i64 = row.try_get(index)?;
        if rows > 0 {
            found.push(Replaced { table: table.name.clone(), column: column.name.clone(), rows });
        }
    }
    Ok(found)
}

async fn sqlite_stats(
    conn: &mut sqlite::Connection,
    table: &Table,
) -> Result<TableStats, CopyError> {
    let row = sqlx::query(AssertSqlSafe(table.stats_sql("length"))).fetch_one(&mut *conn).await?;
    Ok(TableStats {
        rows: row.try_get("n")?,
        max_key: row.try_get("max_key")?,
        bytes: row.try_get("bytes")?,
    })
}

async fn postgres_stats(
    conn: &mut postgres::Connection,
    table: &Table,
) -> Result<TableStats, CopyError> {
    let row =
        sqlx::query(AssertSqlSafe(table.stats_sql("octet_length"))).fetch_one(&mut *conn).await?;
    Ok(TableStats {
        rows: row.try_get("n")?,
        max_key: row.try_get("max_key")?,
        bytes: row.try_get("bytes")?,
    })
}

/// The same rows, the same highest id and the same bytes on both sides.
fn compare(table: &str, source: &TableStats, target: &TableStats) -> Result<(), CopyError> {
    let show = |key: Option<i64>| key.map_or_else(|| "ninguno".to_string(), |k| k.to_string());
    let detail = if source.rows != target.rows {
        format!("{} filas en el origen y {} en el destino", source.rows, target.rows)
    } else if source.max_key != target.max_key {
        format!(
            "id máximo {} en el origen y {} en el destino",
            show(source.max_key),
            show(target.max_key)
        )
    } else if source.bytes != target.bytes {
        format!("{} bytes en el origen y {} en el destino", source.bytes, target.bytes)
    } else {
        return Ok(());
    };
    Err(CopyError::Mismatch { table: table.to_string(), detail })
}

/// One value read from the source, typed as its target column.
enum Value {
    Integer(Option<i64>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

/// The value in column `index` of `row`, decoded by its storage class, which must be the
/// column's (checked before the copy; checked again here rather than converted).
fn decode(
    row: &sqlite::Row,
    index: usize,
    column: &Column,
    options: Options,
) -> Result<Value, String> {
    let raw = row.try_get_raw(index).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(match column.kind {
            Kind::Integer => Value::Integer(None),
            Kind::Text => Value::Text(None),
            Kind::Blob => Value::Blob(None),
        });
    }
    let class = raw.type_info().name().to_string();
    if class != column.kind.sqlite_type_name() {
        return Err(format!(
            "tiene {} donde va {}",
            class_in_spanish(&class),
            class_in_spanish(column.kind.storage_class())
        ));
    }
    let value = match column.kind {
        Kind::Integer => row.try_get::<i64, _>(index).map(|v| Value::Integer(Some(v))),
        Kind::Text => row.try_get::<String, _>(index).map(|v| {
            if options.replace_nul && v.contains('\0') {
                Value::Text(Some(v.replace('\0', "\u{FFFD}")))
            } else {
                Value::Text(Some(v))
            }
        }),
        Kind::Blob => row.try_get::<Vec<u8>, _>(index).map(|v| Value::Blob(Some(v))),
    };
    value.map_err(|e| format!("no se pudo leer ({e})"))
}

/// Copies one table, a chunk at a time in rowid order; the rows copied.
async fn copy_table(
    reading: &mut sqlite::Connection,
    writing: &mut postgres::Connection,
    table: &Table,
    options: Options,
) -> Result<i64, CopyError> {
    if table.columns.is_empty() {
        return Ok(0);
    }
    let columns = table.quoted_columns();
    let name = ident(&table.name);
    let per_insert = (MAX_BINDS / table.columns.len()).clamp(1, ROWS_PER_CHUNK);
    let insert_head = format!("INSERT INTO {name} ({columns}) ");
    let has_blobs = table.blobs().next().is_some();
    let mut copied = 0_i64;
    // The next rowid to read: rows `>= from`.
    let mut from = i64::MIN;
    loop {
        let rows = if has_blobs {
            let Some(upto) = blob_chunk_end(reading, table, from).await? else { break };
            let sql = format!(
                "SELECT rowid AS \"rowid\", {columns} FROM {name} WHERE rowid >= $1 AND rowid <= $2 \
                 ORDER BY rowid"
            );
            sqlx::query(AssertSqlSafe(sql)).bind(from).bind(upto).fetch_all(&mut *reading).await?
        } else {
            let sql = format!(
                "SELECT rowid AS \"rowid\", {columns} FROM {name} WHERE rowid >= $1 ORDER BY rowid \
                 LIMIT {ROWS_PER_CHUNK}"
            );
            sqlx::query(AssertSqlSafe(sql)).bind(from).fetch_all(&mut *reading).await?
        };
        let Some(last) = rows.last() else { break };
        let last: i64 = last.try_get(0)?;
        let mut values = Vec::with_capacity(rows.len());
        for row in &rows {
            let rowid: i64 = row.try_get(0)?;
            let mut tuple = Vec::with_capacity(table.columns.len());
            for (index, column) in table.columns.iter().enumerate() {
                let value = decode(row, index + 1, column, options).map_err(|problem| {
                    CopyError::BadValues {
                        problems: vec![BadValue {
                            table: table.name.clone(),
                            column: column.name.clone(),
                            row: table.row_name(rowid),
                            problem,
                            nul: false,
                        }],
                        more: 0,
                    }
                })?;
                tuple.push(value);
            }
            values.push(tuple);
        }
        drop(rows);
        copied += i64::try_from(values.len()).unwrap_or(i64::MAX);
        let mut values = values.into_iter().peekable();
        while values.peek().is_some() {
            let batch: Vec<Vec<Value>> = values.by_ref().take(per_insert).collect();
            let mut insert = QueryBuilder::<postgres::DB>::new(insert_head.as_str());
            insert.push_values(batch, |mut tuple, row| {
                for value in row {
                    match value {
                        Value::Integer(v) => tuple.push_bind(v),
                        Value::Text(v) => tuple.push_bind(v),
                        Value::Blob(v) => tuple.push_bind(v),
                    };
                }
            });
            insert.build().execute(&mut *writing).await?;
        }
        match last.checked_add(1) {
            Some(next) => from = next,
            None => break,
        }
    }
    Ok(copied)
}

/// For a table with BLOBs: the last rowid of the next chunk starting at `from`, as many rows as
/// fit in [`BYTES_PER_CHUNK`] (at least one, however large); `None` when no row is left.
async fn blob_chunk_end(
    reading: &mut sqlite::Connection,
    table: &Table,
    from: i64,
) -> Result<Option<i64>, CopyError> {
    let sizes: Vec<String> =
        table.blobs().map(|c| format!("COALESCE(length({}), 0)", ident(&c.name))).collect();
    let sql = format!(
        "SELECT rowid, {} FROM {} WHERE rowid >= $1 ORDER BY rowid LIMIT {ROWS_PER_CHUNK}",
        sizes.join(" + "),
        ident(&table.name)
    );
    let rows: Vec<(i64, i64)> =
        sqlx::query_as(AssertSqlSafe(sql)).bind(from).fetch_all(&mut *reading).await?;
    let mut end = None;
    let mut bytes = 0_i64;
    for (rowid, size) in rows {
        if end.is_some() && bytes.saturating_add(size) > BYTES_PER_CHUNK {
            break;
        }
        bytes = bytes.saturating_add(size);
        end = Some(rowid);
    }
    Ok(end)
}

/// Moves every identity sequence of the copied tables past the highest id copied (an empty
/// table's back to its start), so the next row the service adds gets a new id.
async fn reset_identities(
    conn: &mut postgres::Connection,
    tables: &[Table],
) -> Result<(), CopyError> {
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND is_identity = 'YES' \
         ORDER BY table_name",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (table, column) in identities {
        if !tables.iter().any(|t| t.name == table) {
            continue;
        }
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({column}), 1), \
             MAX({column}) IS NOT NULL) FROM {table}",
            column = ident(&column),
            table = ident(&table),
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(ident(&table))
            .bind(&column)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        edges
            .iter()
            .map(|(t, ps)| (t.to_string(), ps.iter().map(|p| p.to_string()).collect()))
            .collect()
    }

    #[test]
    fn parents_come_before_the_tables_that_point_at_them() {
        let order = parents_first(&graph(&[
            ("attachments", &["case_messages"]),
            ("case_messages", &["cases", "raw_messages"]),
            ("cases", &["cases"]),
            ("raw_bodies", &["raw_messages"]),
            ("raw_messages", &["raw_messages"]),
        ]))
        .expect("an order");
        let at = |t: &str| order.iter().position(|o| o == t).expect("listed");
        assert!(at("cases") < at("case_messages"));
        assert!(at("raw_messages") < at("case_messages"));
        assert!(at("raw_messages") < at("raw_bodies"));
        assert!(at("case_messages") < at("attachments"));
        assert_eq!(order.len(), 5);
    }

    #[test]
    fn a_cycle_or_an_unknown_parent_is_no_order() {
        let cycle = parents_first(&graph(&[("a", &["b"]), ("b", &["a"]), ("c", &[])]));
        assert!(cycle.expect_err("cycle")[0].contains("a, b"));
        let unknown = parents_first(&graph(&[("a", &["leases"])]));
        assert!(unknown.expect_err("unknown")[0].contains("leases"));
    }

    #[test]
    fn a_difference_names_what_differs() {
        let source = TableStats { rows: 3, max_key: Some(9), bytes: 100 };
        assert!(compare("cases", &source, &source).is_ok());
        let fewer = TableStats { rows: 2, ..source };
        let text = compare("cases", &source, &fewer).expect_err("rows").to_string();
        assert!(text.contains("cases") && text.contains("3 filas en el origen y 2"), "{text}");
        let lower = TableStats { max_key: Some(8), ..source };
        let text = compare("outbox", &source, &lower).expect_err("max").to_string();
        assert!(text.contains("id máximo 9 en el origen y 8"), "{text}");
        let shorter = TableStats { bytes: 99, ..source };
        let text = compare("raw_bodies", &source, &shorter).expect_err("bytes").to_string();
        assert!(text.contains("100 bytes en el origen y 99"), "{text}");
    }

    #[test]
    fn only_sqlite_to_postgres_is_a_pair() {
        assert!(check_pair("sqlite:///var/lib/mesa-fe/mesa-fe.db", "postgres://u@h/db").is_ok());
        let text = check_pair("postgres://u:clave@h/db", "sqlite:///tmp/x.db")
            .expect_err("reverse")
            .to_string();
        assert!(text.contains("es PostgreSQL") && !text.contains("clave"), "{text}");
        assert!(check_pair("sqlite:///a.db", "sqlite:///b.db").is_err());
        assert!(check_pair("mysql://h/db", "postgres://h/db").is_err());
    }
}
