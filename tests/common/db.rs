//! The database a test runs on. Every test that needs a database URL, or pokes the database
//! directly, gets it here: issue 13 runs the whole suite on SQLite and on PostgreSQL, and the
//! backend must then change in this one file, chosen by `MESA_FE_PRUEBA_BASE`.
//!
//! Also compiled into the benches (`#[path]`), so it uses nothing else of `tests/common`.
#![allow(dead_code)] // each test binary uses a different part of it

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tempfile::TempDir;

/// The environment switch: unset or `sqlite` → SQLite, `postgres` → PostgreSQL.
pub const BACKEND_VARIABLE: &str = "MESA_FE_PRUEBA_BASE";

/// The configuration override that points a `mesa-fe` process at a database (`general.base_datos`).
pub const URL_VARIABLE: &str = "MESA_FE__GENERAL__BASE_DATOS";

/// Said wherever a PostgreSQL run is asked for: a run that silently fell back to SQLite would
/// look like a PostgreSQL pass.
const NO_POSTGRES: &str = "MESA_FE_PRUEBA_BASE=postgres: el backend PostgreSQL todavía no existe en \
     el store (issue 13); corra las pruebas sin esa variable o con MESA_FE_PRUEBA_BASE=sqlite";

/// The backend this run tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// From [`BACKEND_VARIABLE`].
    pub fn from_env() -> Backend {
        Backend::parse(std::env::var(BACKEND_VARIABLE).ok().as_deref())
    }

    /// A value of [`BACKEND_VARIABLE`]; any other value stops the test rather than guess.
    pub fn parse(value: Option<&str>) -> Backend {
        match value {
            None | Some("" | "sqlite") => Backend::Sqlite,
            Some("postgres") => Backend::Postgres,
            Some(other) => {
                panic!("{BACKEND_VARIABLE}={other:?} no es un backend: use sqlite o postgres")
            }
        }
    }
}

/// Whether this run is on SQLite; on another backend it prints why the test does not apply, so
/// the skip shows in the output instead of passing silently. For tests of what only SQLite has
/// (its file, PRAGMAs, a disk that fills up):
/// `if !db::sqlite_only("corrompe el archivo SQLite") { return; }`.
pub fn sqlite_only(why: &str) -> bool {
    match Backend::from_env() {
        Backend::Sqlite => true,
        Backend::Postgres => {
            eprintln!("prueba omitida en PostgreSQL, solo aplica a SQLite: {why}");
            false
        }
    }
}

/// A fresh, empty database for one test, removed when dropped.
pub struct TestDb {
    place: Place,
}

enum Place {
    /// A SQLite file; `_dir` keeps its temporary directory alive when the TestDb owns it.
    Sqlite { path: PathBuf, _dir: Option<TempDir> },
    // PostgreSQL (issue 13) goes here: `CREATE DATABASE t_<random>` on the server of
    // `MESA_FE_PRUEBA_POSTGRES`, its URL from `url()`, `DROP DATABASE` in `Drop`, a `PgPool` in
    // `connect`, and `sqlite_path()` → `None`.
}

impl TestDb {
    /// A new database of the run's backend.
    pub fn new() -> TestDb {
        TestDb::on(Backend::from_env())
    }

    /// A new database of `backend`.
    pub fn on(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir for the test database");
                let path = dir.path().join("mesa-fe.db");
                TestDb { place: Place::Sqlite { path, _dir: Some(dir) } }
            }
            Backend::Postgres => panic!("{NO_POSTGRES}"),
        }
    }

    /// SQLite-only: the file `mesa-fe.db` in `dir`, a directory the caller keeps alive (a tmpfs
    /// that fills up). Callers check [`sqlite_only`] first.
    pub fn sqlite_in(dir: &Path) -> TestDb {
        TestDb { place: Place::Sqlite { path: dir.join("mesa-fe.db"), _dir: None } }
    }

    /// What `general.base_datos` (TOML, [`URL_VARIABLE`], `Config`) says to use this database.
    pub fn url(&self) -> String {
        match &self.place {
            Place::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
        }
    }

    /// The SQLite file, for SQLite-only tests that damage it or measure it; `None` on a backend
    /// without one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.place {
            Place::Sqlite { path, .. } => Some(path),
        }
    }

    /// Whether the database is there yet. A SQLite file appears when a process first opens it;
    /// a test polling a daemon's store must not open it before that, or it races the daemon's
    /// own creation of the schema.
    pub fn exists(&self) -> bool {
        match &self.place {
            Place::Sqlite { path, .. } => path.exists(),
        }
    }

    /// `command` (a `mesa-fe` process) pointed at this database, whatever its TOML says.
    pub fn apply<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command.env(URL_VARIABLE, self.url())
    }

    /// Runs one statement of test-only SQL (to build a state the product never writes itself),
    /// with text parameters `$1, $2…`; the rows it changed. The product's SQL lives in src/store.
    pub async fn execute(&self, sql: &'static str, params: &[&str]) -> u64 {
        let pool = self.connect(false).await.expect("open the test database");
        let mut query = sqlx::query(sql);
        for param in params {
            query = query.bind(*param);
        }
        let done = query.execute(&pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        pool.close().await;
        done.rows_affected()
    }

    /// The first column of the first row of a query with integer parameters `$1, $2…`, read
    /// without writing; `None` when there is no row, or no database or schema yet (a daemon
    /// still starting).
    pub async fn fetch_i64(&self, sql: &'static str, params: &[i64]) -> Option<i64> {
        if !self.exists() {
            return None;
        }
        let pool = self.connect(true).await.ok()?;
        let mut query = sqlx::query_scalar(sql);
        for param in params {
            query = query.bind(*param);
        }
        let found = query.fetch_optional(&pool).await.ok().flatten();
        pool.close().await;
        found
    }

    /// SQLite-only: a pool on the file itself, for what only SQLite has (PRAGMAs,
    /// `sqlite_master`) and for reading a file the store would refuse.
    pub async fn sqlite_pool(&self) -> SqlitePool {
        self.connect(false).await.expect("open the SQLite file")
    }

    async fn connect(&self, read_only: bool) -> Result<SqlitePool, sqlx::Error> {
        match &self.place {
            Place::Sqlite { path, .. } => {
                let options = SqliteConnectOptions::new().filename(path).read_only(read_only);
                SqlitePool::connect_with(options).await
            }
        }
    }
}
