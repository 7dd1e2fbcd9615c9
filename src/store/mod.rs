//! Every SQL statement of mesa-fe lives under this module, in the portable subset of SQL
//! (PostgreSQL comes later): `$n` placeholders, TEXT timestamps in RFC 3339 UTC, INTEGER flags.
//!
//! - [`raw`]: raw messages as received (stored before anything else), dedupe, quarantine.
//! - [`cases`]: cases with their messages, documents, rejections, events and outbox rows, written
//!   in one transaction per message.
//! - [`knowledge`]: the known-error base as loaded.
//! - [`message`]: a received message as the store records it (filled by the pipeline).
//! - [`outbox`]: mail to send, its schedule and its fate.
//! - [`actions`]: what agents do to cases, control posterior, mass-incident suggestions.
//! - [`sla`]: service-level clocks of open cases and their breaches.
//! - [`fault`]: which database failures are worth retrying.
//!
//! Backend seam (issue 13, plan step 1). The public types of each module (rows, drafts, plans)
//! are defined once, here; the SQL that reads and writes them lives in `store/sql/*.rs`, which
//! names the driver only through its parent's aliases (`DB`, `Row`, `Tx`, `Pool`, `Connection`)
//! and reaches backend-only behaviour only through `super::dialect`. `sqlite/mod.rs` mounts those
//! files by `#[path]` with `DB = sqlx::Sqlite`; `sqlite/dialect.rs` holds what only SQLite does
//! (open options and lock, the `after_release` ping, migrations, `BEGIN IMMEDIATE`,
//! `quick_check`, result codes, the `PRAGMA`s after a purge). Step 2 adds `postgres/`, the same
//! mount with `DB = sqlx::Postgres` and its own dialect.
//!
//! `Store` stays a struct around the SQLite pool for now, not an enum with a single variant: the
//! enum and its `delegate!` over ~70 methods only earn their keep with a second variant, cannot
//! be exercised with one, and would double a diff meant to change no behaviour. In step 2 the SQL
//! files' `impl Store` (their `super::Store`) becomes each mount's own handle and the public
//! `Store` the enum over them, without touching the SQL files. Callers see no change.

pub mod actions;
pub mod cases;
pub mod fault;
pub mod knowledge;
pub mod message;
pub mod outbox;
pub mod purge;
pub mod raw;
pub mod report;
pub mod sla;
pub mod stats;

mod sqlite;

use chrono::{DateTime, Utc};

pub use fault::Fault;

use sqlite::{Pool, Tx, dialect};

/// A store failure, shaped for the caller: a busy or unreachable database is worth retrying; a
/// broken schema or a bad URL is not.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "no se pudo abrir la base de datos {url}: {source}. Revise `general.base_datos` y los permisos de la carpeta"
    )]
    Open { url: String, source: sqlx::Error },
    #[error(
        "la base de datos {url} no está soportada todavía: use una URL sqlite:// (PostgreSQL llegará \
         en una versión posterior)"
    )]
    UnsupportedUrl { url: String },
    #[error("el caso cambió mientras se procesaba el mensaje; se vuelve a intentar")]
    Conflict,
    #[error("el mensaje ya fue procesado por otro proceso")]
    AlreadyProcessed,
    #[error("el remitente ya abrió su tope de casos de esta hora; el mensaje va a su último caso")]
    CaseCap,
    #[error("no se pudieron aplicar las migraciones de la base de datos: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("error de base de datos: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("dato inválido en la base de datos ({what}): {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error(
        "la base de datos {path} está dañada ({detail}). mesa-fe no la usa para no perder correo: \
         los mensajes siguen en el buzón. Detenga el servicio, guarde una copia del archivo (con \
         sus archivos -wal y -shm) y restaure la última copia de respaldo; si no tiene una, \
         recupere lo legible con `sqlite3 {path} .recover | sqlite3 {path}.recuperada`, ponga el \
         archivo recuperado en su lugar y ejecute `mesa-fe migrate` antes de arrancar"
    )]
    Damaged { path: String, detail: String },
}

impl StoreError {
    /// Transient (disk full, locked, I/O, pool timeout): the same operation may succeed later.
    /// A damaged file is not: it needs an operator.
    pub fn is_retriable(&self) -> bool {
        match self {
            StoreError::Conflict => true,
            StoreError::Sql(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => true,
            _ => self.fault().is_some_and(Fault::is_retriable),
        }
    }

    /// The database failure behind this error, for the backoff and `/readyz`.
    pub fn fault(&self) -> Option<Fault> {
        match self {
            StoreError::Damaged { .. } => Some(Fault::Damaged),
            StoreError::Sql(e) | StoreError::Open { source: e, .. } => Fault::of(e),
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => Fault::of(e),
            _ => None,
        }
    }
}

/// The database handle. Cheap to clone (a pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
}

impl Store {
    /// Opens (creating if needed) the database at `url` in WAL mode, refuses it if it is damaged
    /// (before any mail is accepted) and applies the migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if !dialect::accepts(url) {
            return Err(StoreError::UnsupportedUrl { url: url.to_string() });
        }
        Ok(Store { pool: dialect::open(url).await? })
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A write transaction that takes SQLite's write lock at once (`BEGIN IMMEDIATE`), so a
    /// second writer waits for the busy timeout instead of failing on its first write.
    pub(crate) async fn write_tx(&self) -> Result<Tx<'static>, StoreError> {
        Ok(self.pool.begin_with(dialect::BEGIN_WRITE).await?)
    }

    /// Closes the pool, waiting for connections to return.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// RFC 3339 UTC with seconds, the form every stored timestamp has (so text order is time order).
/// The store's API takes and returns `DateTime<Utc>`; this is only how it is written.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Now, as stored.
pub(crate) fn now_text() -> String {
    timestamp(Utc::now())
}

/// A stored timestamp that does not read as RFC 3339.
#[derive(Debug, thiserror::Error)]
#[error("fecha ilegible \"{value}\": {source}")]
pub struct BadTimestamp {
    pub value: String,
    pub source: chrono::ParseError,
}

/// A stored timestamp read back (the backend's `columns` read the text).
pub(in crate::store) fn parse_timestamp(
    value: String,
    column: &str,
) -> Result<DateTime<Utc>, sqlx::Error> {
    match DateTime::parse_from_rfc3339(&value) {
        Ok(at) => Ok(at.with_timezone(&Utc)),
        Err(source) => Err(sqlx::Error::ColumnDecode {
            index: column.to_string(),
            source: Box::new(BadTimestamp { value, source }),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_timestamp_reads_back_as_written() {
        let at = parse_timestamp("2026-11-27T20:00:00Z".into(), "created_at").expect("reads");
        assert_eq!(timestamp(at), "2026-11-27T20:00:00Z");
        let offset = parse_timestamp("2026-11-27T15:00:00-05:00".into(), "x").expect("offset");
        assert_eq!(offset, at);
    }

    #[test]
    fn a_malformed_timestamp_is_an_error_naming_the_column_and_the_value() {
        let error = parse_timestamp("ayer".into(), "next_attempt_at").expect_err("malformed");
        let text = error.to_string();
        assert!(text.contains("next_attempt_at") && text.contains("\"ayer\""), "{text}");
    }
}
