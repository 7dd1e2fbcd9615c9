//! How the database fails, shaped for what comes next: wait and try again (a full disk, a lock
//! held by another process, an I/O error), or stop and call an operator (a damaged file). Which
//! result codes mean which fault is the backend's business (`dialect::fault_of`).

/// A database failure the daemon must act on, classified by the backend's `dialect`.
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

impl Fault {
    /// The fault behind a driver error, if it is one the daemon must act on.
    pub fn of(error: &sqlx::Error) -> Option<Fault> {
        let sqlx::Error::Database(e) = error else { return None };
        super::dialect::fault_of(e.as_ref())
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
