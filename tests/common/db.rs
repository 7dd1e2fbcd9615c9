//! The database a test runs on. Every test that needs a database URL, or pokes the database
//! directly, gets it here: issue 13 runs the whole suite on SQLite and on PostgreSQL, and the
//! backend changes in this one file, chosen by `MESA_FE_PRUEBA_BASE`.
//!
//! Also compiled into the benches (`#[path]`), so it uses nothing else of `tests/common`.
#![allow(dead_code)] // each test binary uses a different part of it

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{AssertSqlSafe, Connection, Executor};
use tempfile::TempDir;

/// The environment switch: unset or `sqlite` → SQLite, `postgres` → PostgreSQL.
pub const BACKEND_VARIABLE: &str = "MESA_FE_PRUEBA_BASE";

/// The configuration override that points a `mesa-fe` process at a database (`general.base_datos`).
pub const URL_VARIABLE: &str = "MESA_FE__GENERAL__BASE_DATOS";

/// The PostgreSQL server the tests make their databases on, as a URL whose role may
/// `CREATE DATABASE`; `eval "$(bash deploy/dev/mailstack.sh env)"` sets it to the dev stack's.
pub const POSTGRES_VARIABLE: &str = "MESA_FE_PRUEBA_POSTGRES";

/// How every database of a test is named on the PostgreSQL server: this prefix and 16 hex digits.
/// `mailstack.sh start` drops the ones a killed run left behind (deploy/dev/mailstack.sh).
pub const POSTGRES_PREFIX: &str = "t_";

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

/// Whether this run is the PostgreSQL pass, for tests that always use PostgreSQL whatever the
/// run's backend (several nodes on one server): they run once, in that pass, and the SQLite
/// pass says why it leaves them out.
pub fn postgres_pass_only(why: &str) -> bool {
    match Backend::from_env() {
        Backend::Postgres => true,
        Backend::Sqlite => {
            eprintln!("prueba omitida en la pasada SQLite, corre en la de PostgreSQL: {why}");
            false
        }
    }
}

/// The server URL of [`POSTGRES_VARIABLE`]; a run without it stops and says how to get it.
pub fn postgres_server() -> String {
    std::env::var(POSTGRES_VARIABLE).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_VARIABLE} is not set: start the dev stack (it includes PostgreSQL) and \
             export its settings first:\n  \
             bash deploy/dev/mailstack.sh start && eval \"$(bash deploy/dev/mailstack.sh env)\"\n\
             (bash deploy/dev/test.sh does both)"
        )
    })
}

/// `server` (a `postgres://` URL) with its database replaced by `database`: the same role,
/// password, host, port and query parameters.
pub fn postgres_url_of(server: &str, database: &str) -> String {
    let (scheme, rest) = server
        .split_once("://")
        .unwrap_or_else(|| panic!("{POSTGRES_VARIABLE} no es una URL postgres://: {server:?}"));
    // the authority ends at the path or at the query, whichever comes first
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    format!("{scheme}://{authority}/{database}{query}")
}

/// A fresh, empty database for one test, removed when dropped.
pub struct TestDb {
    place: Place,
}

enum Place {
    /// A SQLite file; `_dir` keeps its temporary directory alive when the TestDb owns it.
    Sqlite { path: PathBuf, _dir: Option<TempDir> },
    /// A database `t_<16 hex digits>` of its own on the server of [`POSTGRES_VARIABLE`], made by
    /// `new` and dropped (with whatever sessions are still on it) by `Drop`.
    Postgres { server: String, name: String },
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
            Backend::Postgres => {
                let server = postgres_server();
                let name = block_on_own_thread(create_postgres_database(&server));
                TestDb { place: Place::Postgres { server, name } }
            }
        }
    }

    /// SQLite-only: the file `mesa-fe.db` in `dir`, a directory the caller keeps alive (a tmpfs
    /// that fills up). Callers check [`sqlite_only`] first.
    pub fn sqlite_in(dir: &Path) -> TestDb {
        TestDb { place: Place::Sqlite { path: dir.join("mesa-fe.db"), _dir: None } }
    }

    /// Which backend this database is on.
    pub fn backend(&self) -> Backend {
        match &self.place {
            Place::Sqlite { .. } => Backend::Sqlite,
            Place::Postgres { .. } => Backend::Postgres,
        }
    }

    /// What `general.base_datos` (TOML, [`URL_VARIABLE`], `Config`) says to use this database.
    pub fn url(&self) -> String {
        match &self.place {
            Place::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            Place::Postgres { server, name } => postgres_url_of(server, name),
        }
    }

    /// The name of the PostgreSQL database; `None` on SQLite.
    pub fn postgres_name(&self) -> Option<&str> {
        match &self.place {
            Place::Sqlite { .. } => None,
            Place::Postgres { name, .. } => Some(name),
        }
    }

    /// The SQLite file, for SQLite-only tests that damage it or measure it; `None` on a backend
    /// without one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.place {
            Place::Sqlite { path, .. } => Some(path),
            Place::Postgres { .. } => None,
        }
    }

    /// Whether the database is there yet. A SQLite file appears when a process first opens it;
    /// a test polling a daemon's store must not open it before that, or it races the daemon's
    /// own creation of the schema. A PostgreSQL database is there from [`TestDb::new`] on (empty:
    /// the first `Store::open`, the daemon's or the test's, creates the schema; two at once are
    /// the store's own business, `ingest_store` tests it).
    pub fn exists(&self) -> bool {
        match &self.place {
            Place::Sqlite { path, .. } => path.exists(),
            Place::Postgres { .. } => true,
        }
    }

    /// `command` (a `mesa-fe` process) pointed at this database, whatever its TOML says.
    pub fn apply<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command.env(URL_VARIABLE, self.url())
    }

    /// Runs one statement of test-only SQL (to build a state the product never writes itself),
    /// with text parameters `$1, $2…`; the rows it changed. The product's SQL lives in src/store.
    /// The SQL must be valid on both backends: PostgreSQL compares a text parameter to a text
    /// column only, so one that stands for a number is written `CAST($1 AS BIGINT)`.
    pub async fn execute(&self, sql: &'static str, params: &[&str]) -> u64 {
        let done = match &self.place {
            Place::Sqlite { .. } => {
                let pool = self.sqlite_connect(false).await.expect("open the test database");
                let mut query = sqlx::query(sql);
                for param in params {
                    query = query.bind(*param);
                }
                let done = query.execute(&pool).await.map(|d| d.rows_affected());
                pool.close().await;
                done
            }
            Place::Postgres { .. } => {
                let mut conn = self.postgres_connect(false).await.expect("open the test database");
                let mut query = sqlx::query(sql);
                for param in params {
                    query = query.bind(*param);
                }
                let done = query.execute(&mut conn).await.map(|d| d.rows_affected());
                let _ = conn.close().await;
                done
            }
        };
        done.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first column of the first row of a query with integer parameters `$1, $2…`, read
    /// without writing; `None` when there is no row or it is NULL, or no database or schema yet
    /// (a daemon still starting). A value that is not an integer (PostgreSQL's `SELECT 1` is an
    /// INTEGER, not a BIGINT: write `COUNT(*)` or a BIGINT column) stops the test: a poll would
    /// otherwise wait for it in vain.
    pub async fn fetch_i64(&self, sql: &'static str, params: &[i64]) -> Option<i64> {
        if !self.exists() {
            return None;
        }
        let found = match &self.place {
            Place::Sqlite { .. } => {
                let pool = self.sqlite_connect(true).await.ok()?;
                let mut query = sqlx::query_scalar::<_, Option<i64>>(sql);
                for param in params {
                    query = query.bind(*param);
                }
                let found = query.fetch_optional(&pool).await;
                pool.close().await;
                found
            }
            Place::Postgres { .. } => {
                let mut conn = self.postgres_connect(true).await.ok()?;
                let mut query = sqlx::query_scalar::<_, Option<i64>>(sql);
                for param in params {
                    query = query.bind(*param);
                }
                let found = query.fetch_optional(&mut conn).await;
                let _ = conn.close().await;
                found
            }
        };
        match found {
            Ok(value) => value.flatten(),
            Err(
                e @ (sqlx::Error::ColumnDecode { .. }
                | sqlx::Error::Decode(_)
                | sqlx::Error::ColumnNotFound(_)
                | sqlx::Error::ColumnIndexOutOfBounds { .. }),
            ) => panic!("{sql}: {e}"),
            // no table yet, the daemon creating it right now…: "not yet"
            Err(_) => None,
        }
    }

    /// SQLite-only: a pool on the file itself, for what only SQLite has (PRAGMAs,
    /// `sqlite_master`) and for reading a file the store would refuse.
    pub async fn sqlite_pool(&self) -> SqlitePool {
        assert!(self.sqlite_path().is_some(), "sqlite_pool on a PostgreSQL TestDb");
        self.sqlite_connect(false).await.expect("open the SQLite file")
    }

    async fn sqlite_connect(&self, read_only: bool) -> Result<SqlitePool, sqlx::Error> {
        let path = self.sqlite_path().expect("a SQLite TestDb");
        let options = SqliteConnectOptions::new().filename(path).read_only(read_only);
        SqlitePool::connect_with(options).await
    }

    /// One session on this PostgreSQL database; `read_only` makes every transaction of it so.
    async fn postgres_connect(&self, read_only: bool) -> Result<PgConnection, sqlx::Error> {
        let mut options = PgConnectOptions::from_str(&self.url())?;
        if read_only {
            options = options.options([("default_transaction_read_only", "on")]);
        }
        PgConnection::connect_with(&options).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Place::Postgres { server, name } = &self.place {
            // Never a panic here: it may run while a failed test unwinds.
            if let Err(e) = block_on_own_thread(drop_postgres_database(server, name)) {
                eprintln!("no se pudo borrar la base de prueba {name}: {e}");
            }
        }
    }
}

/// Runs `future` to completion on a thread of its own with its own runtime: `TestDb::new` and
/// `Drop` are synchronous, and are called both inside a test's tokio runtime (where blocking on
/// it would panic) and outside any.
fn block_on_own_thread<T: Send>(future: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the test database")
                .block_on(future)
        });
        thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

async fn admin_connect(server: &str) -> Result<PgConnection, sqlx::Error> {
    let options = PgConnectOptions::from_str(server)?;
    PgConnection::connect_with(&options).await
}

/// `CREATE DATABASE t_<random>` on `server`; its name.
async fn create_postgres_database(server: &str) -> String {
    let mut admin = admin_connect(server).await.unwrap_or_else(|e| {
        panic!(
            "connect to {POSTGRES_VARIABLE} ({server}): {e}\n\
             (is the stack's PostgreSQL running? bash deploy/dev/mailstack.sh start)"
        )
    });
    let mut attempts = 0;
    let name = loop {
        // letters, digits and an underscore: nothing to quote
        let name = format!("{POSTGRES_PREFIX}{:016x}", fastrand::u64(..));
        match admin.execute(AssertSqlSafe(format!("CREATE DATABASE {name}"))).await {
            Ok(_) => break name,
            // 42P04 duplicate_database: another test drew the same number
            Err(e) if attempts < 3 && database_code(&e).as_deref() == Some("42P04") => {
                attempts += 1;
            }
            Err(e) => panic!("CREATE DATABASE {name} on {server}: {e}"),
        }
    };
    let _ = admin.close().await;
    name
}

/// `DROP DATABASE … WITH (FORCE)`: the sessions still on it (a daemon killed without closing
/// its pool, a store the test did not close) end with it.
async fn drop_postgres_database(server: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut admin = admin_connect(server).await?;
    let dropped =
        admin.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await;
    let _ = admin.close().await;
    dropped.map(|_| ())
}

fn database_code(error: &sqlx::Error) -> Option<String> {
    error.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned())
}
