//! Every SQL statement of mesa-fe lives under this module, in the portable subset of SQL
//! (PostgreSQL comes later): `$n` placeholders, TEXT timestamps in RFC 3339 UTC, INTEGER flags.
//!
//! - [`raw`]: raw messages as received (stored before anything else), dedupe, quarantine.
//! - [`cases`]: cases with their messages, documents, rejections, events and outbox rows, written
//!   in one transaction per message.
//! - [`knowledge`]: the known-error base as loaded.
//! - [`outbox`]: mail to send, its schedule and its fate.
//! - [`actions`]: what agents do to cases, control posterior, mass-incident suggestions.
//! - [`sla`]: service-level clocks of open cases and their breaches.

pub mod actions;
pub mod cases;
pub mod knowledge;
pub mod outbox;
pub mod providers;
pub mod purge;
pub mod raw;
pub mod report;
pub mod sla;
pub mod stats;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

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
}

impl StoreError {
    /// Transient (locked, pool timeout, I/O): the same operation may succeed later.
    pub fn is_retriable(&self) -> bool {
        match self {
            StoreError::Conflict => true,
            StoreError::Sql(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => true,
            StoreError::Sql(sqlx::Error::Database(e)) => {
                e.message().contains("locked") || e.message().contains("busy")
            }
            _ => false,
        }
    }
}

/// The database handle. Cheap to clone (a pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database at `url` in WAL mode and applies the migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let open_error = |source| StoreError::Open { url: url.to_string(), source };
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl { url: url.to_string() });
        }
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
        // A local file needs no liveness ping before every query (sqlx's default).
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        MIGRATOR.run(&pool).await?;
        Ok(Store { pool })
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction that takes SQLite's write lock at once (`BEGIN IMMEDIATE`), so a
    /// second writer waits for the busy timeout instead of failing on its first write.
    pub(crate) async fn write_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Closes the pool, waiting for connections to return.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Now, as stored: RFC 3339 UTC with seconds.
pub(crate) fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
