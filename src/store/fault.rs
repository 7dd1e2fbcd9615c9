//! How the database fails, shaped for what comes next: wait and try again (a full disk, a lock
//! held by another process, an I/O error, a database server that went away), or stop and call an
//! operator (a damaged file). Which codes mean which fault is each backend's business
//! (`sqlite::dialect::fault_of`, `postgres::dialect::fault_of`).

/// A database failure the daemon must act on, classified by the backend's `dialect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SQLITE_FULL: no space left on the disk (or the file reached its size limit).
    DiskFull,
    /// SQLITE_BUSY / SQLITE_LOCKED: another process holds the database.
    Busy,
    /// SQLITE_IOERR: the disk failed a read or a write.
    Io,
    /// SQLITE_CORRUPT / SQLITE_NOTADB, PostgreSQL's XX001/XX002: the data is damaged; retrying
    /// cannot help.
    Damaged,
    /// The database server cannot be reached, or dropped the connection (restarted, failed over,
    /// a network cut): the desk waits and reconnects.
    Unreachable,
}

impl Fault {
    /// The fault behind a driver error, if it is one the daemon must act on.
    pub fn of(error: &sqlx::Error) -> Option<Fault> {
        match error {
            sqlx::Error::Database(e) => {
                if e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
                    super::postgres::dialect::fault_of(e.as_ref())
                } else {
                    super::sqlite::dialect::fault_of(e.as_ref())
                }
            }
            // A file database fails with codes; these come from a socket.
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::WorkerCrashed => Some(Fault::Unreachable),
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
            Fault::Damaged => "datos dañados",
            Fault::Unreachable => "sin conexión con la base de datos",
        }
    }
}
