//! What only SQLite does, gathered so the SQL modules beside it stay backend-neutral: opening the
//! file (WAL, `synchronous = FULL`, foreign keys, the busy timeout, the opening lock, the pool's
//! `after_release` ping), its migrations, the write lock taken by `BEGIN IMMEDIATE`, the
//! `PRAGMA quick_check` at start, the result codes behind a [`Fault`] and the `PRAGMA`s that give
//! free pages back after a purge. A PostgreSQL store gets its own module with the same items.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Pool, SqlTx, Tx};
use crate::store::purge::SpaceReport;
use crate::store::{Fault, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Whether `url` names a database of this backend.
pub(in crate::store) fn accepts(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// Starts a write transaction holding SQLite's write lock at once, so a second writer waits for
/// the busy timeout instead of failing on its first write.
pub(in crate::store) async fn begin_write(pool: &Pool) -> Result<SqlTx<'static>, StoreError> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

/// The database's clock in milliseconds since the epoch (for leases: never a node's clock).
pub(in crate::store) async fn now_ms(tx: &mut Tx<'_>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER)")
        .fetch_one(&mut **tx)
        .await?)
}

/// A read transaction: SQLite's snapshot starts at its first read and holds to the end.
pub(in crate::store) const BEGIN_SNAPSHOT: &str = "BEGIN";

/// The driver runs statements joined by `;` in one call, with their parameters in order: one
/// round trip to its worker thread for all of them.
pub(in crate::store) const MANY_STATEMENTS_PER_CALL: bool = true;

/// Opens (creating if needed) the database at `url` in WAL mode, refuses it if it is damaged
/// (before any mail is accepted) and applies the migrations.
pub(in crate::store) async fn open(url: &str, _password: Option<&str>) -> Result<Pool, StoreError> {
    let open_error = |source| StoreError::Open { url: url.to_string(), source };
    let options = SqliteConnectOptions::from_str(url)
        .map_err(open_error)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    if let Some(parent) = Path::new(options.get_filename()).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| open_error(sqlx::Error::Io(e)))?;
    }
    let path = options.get_filename().display().to_string();
    let damaged = |detail: String| StoreError::Damaged { path: path.clone(), detail };
    // Held until the schema is in place: creating the file, switching it to WAL (which needs
    // SQLite's exclusive lock and does not wait on the busy timeout) and migrating are one
    // step for every process opening the same new database together.
    let _opening = lock_opening(Path::new(&path)).await.map_err(open_error)?;
    // A local file needs no liveness ping before every query (sqlx's default).
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .test_before_acquire(false)
        .after_release(|conn, _| {
            Box::pin(async move {
                // After SQLITE_FULL or SQLITE_IOERR SQLite may roll a transaction back by
                // itself; the driver's ROLLBACK then fails and it keeps counting an open
                // transaction, so every later BEGIN on this connection would fail. The ping
                // runs a queued ROLLBACK first; a connection still "in" a transaction is
                // closed instead of returned.
                conn.ping().await?;
                Ok(!conn.is_in_transaction())
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| match Fault::of(&e) {
            Some(Fault::Damaged) => damaged(e.to_string()),
            _ => open_error(e),
        })?;
    match quick_check(&pool).await {
        Ok(None) => {}
        Ok(Some(found)) => return Err(damaged(found)),
        Err(e) if Fault::of(&e) == Some(Fault::Damaged) => return Err(damaged(e.to_string())),
        Err(e) => return Err(open_error(e)),
    }
    MIGRATOR.run(&pool).await.map_err(|e| StoreError::of_migration(url, e))?;
    Ok(pool)
}

/// An exclusive lock on a file beside the database. sqlx takes no lock of its own on SQLite, so
/// two processes opening a new database together (the daemon and an operator's `mesa-fe case
/// list`) would both apply the same migration, or both try to switch it to WAL, and one would fail.
async fn lock_opening(database: &Path) -> Result<Option<std::fs::File>, sqlx::Error> {
    let name = database.as_os_str();
    if name.is_empty() || name == ":memory:" {
        return Ok(None);
    }
    let mut lock_path = name.to_os_string();
    lock_path.push(".migraciones.lock");
    let file =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?;
    let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))??;
    Ok(Some(file))
}

/// SQLite's own check of the file's structure (`PRAGMA quick_check`): `Ok(None)` when sound,
/// else what it found (the first lines).
async fn quick_check(pool: &Pool) -> Result<Option<String>, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA quick_check(5)").fetch_all(pool).await?;
    if rows.len() == 1 && rows[0] == "ok" {
        return Ok(None);
    }
    Ok(Some(rows.join("; ").replace('\n', " ")))
}

// SQLite's primary result codes (the low byte of an extended code).
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_IOERR: i32 = 10;
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_FULL: i32 = 13;
const SQLITE_NOTADB: i32 = 26;

/// The fault behind a database error, from SQLite's primary result code.
pub(in crate::store) fn fault_of(
    error: &(dyn sqlx::error::DatabaseError + 'static),
) -> Option<Fault> {
    let code: i32 = error.code()?.parse().ok()?;
    match code & 0xff {
        SQLITE_FULL => Some(Fault::DiskFull),
        SQLITE_BUSY | SQLITE_LOCKED => Some(Fault::Busy),
        SQLITE_IOERR => Some(Fault::Io),
        SQLITE_CORRUPT | SQLITE_NOTADB => Some(Fault::Damaged),
        _ => None,
    }
}

/// After a purge: gives freed pages back to the file system when the database was created with
/// `auto_vacuum = incremental` (`PRAGMA incremental_vacuum`); otherwise only measures the free
/// space (no `VACUUM`: it rewrites the whole file and locks it meanwhile).
pub(in crate::store) async fn reclaim_space(pool: &Pool) -> Result<SpaceReport, StoreError> {
    let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum").fetch_one(pool).await?;
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(pool).await?;
    let free_before: i64 = sqlx::query_scalar("PRAGMA freelist_count").fetch_one(pool).await?;
    let incremental = mode == 2;
    if incremental {
        // Runs to the end: every free page goes back.
        sqlx::query("PRAGMA incremental_vacuum").fetch_all(pool).await?;
    }
    let free_after: i64 = sqlx::query_scalar("PRAGMA freelist_count").fetch_one(pool).await?;
    Ok(SpaceReport {
        auto_vacuum: match mode {
            1 => "full",
            2 => "incremental",
            _ => "none",
        }
        .to_string(),
        incremental_vacuum: incremental,
        returned_bytes: (free_before - free_after).max(0) * page_size,
        free_bytes: free_after * page_size,
    })
}
