//! How the database fails, shaped for what comes next: wait and try again (a full disk, a lock
//! held by another process, an I/O error), or stop and call an operator (a damaged file). Also the
//! start-up check that refuses a damaged database before any mail is accepted.

use super::Pool;

/// A database failure the daemon must act on, from SQLite's primary result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SQLITE_FULL: no space left on the disk (or the file reached its size limit).
    DiskFull,
    /// SQLITE_BUSY / SQLITE_LOCKED: another process holds the database.
    Busy,
    /// SQLITE_IOERR: the disk failed a read or a write.
    Io,
    /// SQLITE_CORRUPT / SQLITE_NOTADB: the file is damaged; retrying cannot help.
    Damaged,
}

// SQLite's primary result codes (the low byte of an extended code).
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_IOERR: i32 = 10;
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_FULL: i32 = 13;
const SQLITE_NOTADB: i32 = 26;

impl Fault {
    /// The fault behind a driver error, if it is one the daemon must act on.
    pub fn of(error: &sqlx::Error) -> Option<Fault> {
        let sqlx::Error::Database(e) = error else { return None };
        let code: i32 = e.code()?.parse().ok()?;
        match code & 0xff {
            SQLITE_FULL => Some(Fault::DiskFull),
            SQLITE_BUSY | SQLITE_LOCKED => Some(Fault::Busy),
            SQLITE_IOERR => Some(Fault::Io),
            SQLITE_CORRUPT | SQLITE_NOTADB => Some(Fault::Damaged),
            _ => None,
        }
    }

    /// Whether the same operation may succeed later without anyone repairing anything.
    pub fn is_retriable(self) -> bool {
        self != Fault::Damaged
    }

    /// What an operator reads in `/readyz` and the logs.
    pub fn describe(self) -> &'static str {
        match self {
            Fault::DiskFull => "disco lleno",
            Fault::Busy => "bloqueada por otro proceso",
            Fault::Io => "error de lectura o escritura en el disco",
            Fault::Damaged => "archivo dañado",
        }
    }
}

/// SQLite's own check of the file's structure (`PRAGMA quick_check`): `Ok(None)` when sound,
/// else what it found (the first lines). A PostgreSQL store would check connectivity and the
/// schema version here instead.
pub(super) async fn quick_check(pool: &Pool) -> Result<Option<String>, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA quick_check(5)").fetch_all(pool).await?;
    if rows.len() == 1 && rows[0] == "ok" {
        return Ok(None);
    }
    Ok(Some(rows.join("; ").replace('\n', " ")))
}
