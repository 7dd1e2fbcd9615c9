//! Every SQL statement of mesa-fe lives under this module, in the subset of SQL that SQLite and
//! PostgreSQL share: `$n` placeholders, TEXT timestamps in RFC 3339 UTC, integer flags.
//!
//! - [`raw`]: raw messages as received (stored before anything else), dedupe, quarantine.
//! - [`cases`]: cases with their messages, documents, rejections, events and outbox rows, written
//!   all or nothing per message (one transaction, or a savepoint of a [`Batch`] of messages).
//! - [`knowledge`]: the known-error base as loaded.
//! - [`message`]: a received message as the store records it (filled by the pipeline).
//! - [`outbox`]: mail to send, its schedule and its fate.
//! - [`actions`]: what agents do to cases, control posterior, mass-incident suggestions.
//! - [`sla`]: service-level clocks of open cases and their breaches.
//! - [`waiting`]: cases waiting for the requester (reminder and closure).
//! - [`console`]: the web console's sign-in links and sessions.
//! - [`console_case`]: what the console's case page reads (timeline, documents, attachments).
//! - [`leases`]: which node reads a buzón or runs a timer when nodes share the database.
//! - [`copy`]: a SQLite desk copied into an empty PostgreSQL database.
//! - [`fault`]: which database failures are worth retrying.
//!
//! Two backends, one SQL text. The public types of each module (rows, drafts, plans) are
//! defined once, here; the SQL that reads and writes them lives in `store/sql/*.rs`, which names
//! the driver only through its parent's aliases (`DB`, `Row`, `Tx`, `Pool`, `Connection`) and
//! reaches backend-only behaviour only through `super::dialect`. `sqlite/` and `postgres/` each
//! mount those files ([`mount_sql!`]) for their driver beside their own `dialect.rs` (opening,
//! migrations, the write lock, faults, space after a purge). The public [`Store`] is an enum over
//! the two mounts' handles; `delegate.rs` passes each method to the one in use. Both backends
//! write one transaction at a time (SQLite's `BEGIN IMMEDIATE`, a PostgreSQL advisory lock), so
//! the store's check-then-write steps mean the same on both, with any number of nodes.

/// The SQL modules of `store/sql/` mounted into a backend's module, with the driver aliases they
/// name: `mount_sql!(sqlx::Sqlite, sqlx::sqlite::SqliteRow)`. The backend module adds its
/// `dialect`. `Row` is named concretely, not as `<DB as Database>::Row`: with the projection,
/// coherence sees the two mounts' `impl FromRow<'_, Row> for OutboxItem` as overlapping.
macro_rules! mount_sql {
    ($db:ty, $row:ty) => {
        pub(super) use super::{StoreError, now_text, timestamp};

        /// The database these SQL modules are compiled for.
        pub(crate) type DB = $db;
        /// A result row of [`DB`].
        pub(crate) type Row = $row;
        /// A write transaction on [`DB`]: its own, or a savepoint in a batch's.
        pub(crate) type Tx<'a> = handle::WriteTx<'a>;
        /// A transaction of the driver on [`DB`].
        pub(crate) type SqlTx<'a> = sqlx::Transaction<'a, DB>;
        /// The connection pool of [`DB`].
        pub(crate) type Pool = sqlx::Pool<DB>;
        /// A connection of [`DB`].
        pub(crate) type Connection = <DB as sqlx::Database>::Connection;

        #[path = "../sql/actions.rs"]
        mod actions;
        #[path = "../sql/bounces.rs"]
        mod bounces;
        #[path = "../sql/cases.rs"]
        mod cases;
        #[path = "../sql/columns.rs"]
        mod columns;
        #[path = "../sql/console.rs"]
        mod console;
        #[path = "../sql/console_case.rs"]
        mod console_case;
        #[path = "../sql/console_cases.rs"]
        mod console_cases;
        #[path = "../sql/console_masivas.rs"]
        mod console_masivas;
        #[path = "../sql/console_ops.rs"]
        mod console_ops;
        #[path = "../sql/dedupe.rs"]
        mod dedupe;
        #[path = "../sql/handle.rs"]
        mod handle;
        #[path = "../sql/knowledge.rs"]
        mod knowledge;
        #[path = "../sql/leases.rs"]
        mod leases;
        #[path = "../sql/outbox.rs"]
        mod outbox;
        #[path = "../sql/prior.rs"]
        mod prior;
        #[path = "../sql/providers.rs"]
        mod providers;
        #[path = "../sql/purge.rs"]
        mod purge;
        #[path = "../sql/raw.rs"]
        mod raw;
        #[path = "../sql/related.rs"]
        mod related;
        #[path = "../sql/report.rs"]
        mod report;
        #[path = "../sql/sla.rs"]
        mod sla;
        #[path = "../sql/stats.rs"]
        mod stats;
        #[path = "../sql/waiting.rs"]
        mod waiting;
        #[path = "../sql/writes.rs"]
        mod writes;

        use columns::{instant_column, optional_instant_column};
        pub(crate) use handle::Store;
    };
}

pub mod actions;
pub mod cases;
pub mod console;
pub mod console_case;
pub mod console_cases;
pub mod console_masivas;
pub mod console_ops;
pub mod copy;
pub mod fault;
pub mod knowledge;
pub mod leases;
pub mod message;
pub mod outbox;
pub mod purge;
pub mod raw;
pub mod report;
pub mod sla;
pub mod stats;
pub mod waiting;

mod delegate;
// Both mount the same `store/sql/*.rs`, each for its own driver: on purpose, see above.
#[allow(clippy::duplicate_mod)]
mod postgres;
#[allow(clippy::duplicate_mod)]
mod sqlite;

use chrono::{DateTime, Utc};

pub use fault::Fault;

/// A store failure, shaped for the caller: a busy or unreachable database is worth retrying; a
/// broken schema or a bad URL is not.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "no se pudo abrir la base de datos {url}: {source}. Revise `general.base_datos` y los permisos de la carpeta"
    )]
    Open { url: String, source: sqlx::Error },
    #[error(
        "general.base_datos = \"{url}\" no es una base de datos que mesa-fe conozca: use \
         sqlite://RUTA (un archivo en esta máquina) o postgres://USUARIO@SERVIDOR:PUERTO/BASE"
    )]
    UnsupportedUrl { url: String },
    #[error(
        "general.base_datos_clave está puesta, pero general.base_datos = \"{url}\" es un archivo \
         SQLite, que no usa clave: quite la clave o apunte general.base_datos a PostgreSQL"
    )]
    PasswordWithoutServer { url: String },
    #[error(
        "no se pudo conectar con la base de datos {url} (general.base_datos): {source}. Revise que \
         PostgreSQL esté en marcha y acepte conexiones en esa dirección y puerto (listen_addresses, \
         pg_hba.conf, cortafuegos) y la URL de general.base_datos; no se escribió nada"
    )]
    Unreachable { url: String, source: sqlx::Error },
    #[error(
        "PostgreSQL rechazó la conexión a {url} (general.base_datos): {detail}. Revise el usuario y \
         la base de general.base_datos y la clave de general.base_datos_clave; no se escribió nada"
    )]
    Refused { url: String, detail: String },
    #[error(
        "la base de datos {url} (general.base_datos) tiene un esquema más nuevo que este programa \
         (la migración {version} no es de esta versión): la actualizó una versión posterior de \
         mesa-fe. Instale esa versión, o una más nueva, en este nodo; no se escribió nada"
    )]
    NewerSchema { url: String, version: i64 },
    #[error("el caso cambió mientras se procesaba el mensaje; se vuelve a intentar")]
    Conflict,
    #[error(
        "este nodo perdió el arrendamiento {name} (otro nodo lo tomó mientras no podía renovarlo): \
         no guarda lo que leyó; el otro nodo lo lee"
    )]
    LeaseLost { name: String },
    #[error("el mensaje ya fue procesado por otro proceso")]
    AlreadyProcessed,
    #[error(
        "el lote de mensajes en el que iba este no se pudo confirmar en la base de datos \
         ({detail}): el mensaje sigue pendiente y se procesa de nuevo en la próxima lectura"
    )]
    Uncommitted { detail: String, fault: Option<Fault> },
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
    /// A configuration the operator must fix before the program can start (the URL, the
    /// password, a server that does not answer, a schema from a newer version): exit 78.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            StoreError::UnsupportedUrl { .. }
                | StoreError::PasswordWithoutServer { .. }
                | StoreError::Unreachable { .. }
                | StoreError::Refused { .. }
                | StoreError::NewerSchema { .. }
        )
    }

    /// A failed migration, said as what it means for the operator: a database a newer binary
    /// migrated is refused before anything is written.
    pub(in crate::store) fn of_migration(url: &str, error: sqlx::migrate::MigrateError) -> Self {
        match error {
            sqlx::migrate::MigrateError::VersionMissing(version) => {
                StoreError::NewerSchema { url: redact_url(url), version }
            }
            error => StoreError::Migrate(error),
        }
    }

    /// Transient (disk full, locked, I/O, pool timeout): the same operation may succeed later.
    /// A damaged file is not: it needs an operator.
    pub fn is_retriable(&self) -> bool {
        match self {
            StoreError::Conflict => true,
            // Retried unless the database is damaged (then the daemon stops, as for any fault).
            StoreError::Uncommitted { fault, .. } => *fault != Some(Fault::Damaged),
            StoreError::Sql(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => true,
            _ => self.fault().is_some_and(Fault::is_retriable),
        }
    }

    /// The database failure behind this error, for the backoff and `/readyz`.
    pub fn fault(&self) -> Option<Fault> {
        match self {
            StoreError::Damaged { .. } => Some(Fault::Damaged),
            StoreError::Uncommitted { fault, .. } => *fault,
            StoreError::Sql(e) | StoreError::Open { source: e, .. } => Fault::of(e),
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => Fault::of(e),
            _ => None,
        }
    }
}

/// The database handle. Cheap to clone (a pool). Its query methods are listed in `delegate.rs`
/// and written in `store/sql/`, once for both backends.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
}

/// The backend a database URL names, each the SQL of `store/sql/` compiled for its driver.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(sqlite::Store),
    Postgres(postgres::Store),
}

impl Store {
    /// Opens the database at `url`, creating a SQLite file if needed, refuses it if it is damaged
    /// or of a newer schema (before any mail is accepted) and applies the migrations. A
    /// PostgreSQL URL takes its password from the URL itself; see [`Store::open_with_password`].
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with_password(url, None).await
    }

    /// As [`Store::open`], with the PostgreSQL password from a secret (`general.base_datos_clave`)
    /// rather than written in the URL. SQLite has no password: one given is refused.
    pub async fn open_with_password(
        url: &str,
        password: Option<&str>,
    ) -> Result<Store, StoreError> {
        let backend = if sqlite::dialect::accepts(url) {
            if password.is_some() {
                return Err(StoreError::PasswordWithoutServer { url: redact_url(url) });
            }
            Backend::Sqlite(sqlite::Store::open_with_password(url, None).await?)
        } else if postgres::dialect::accepts(url) {
            Backend::Postgres(postgres::Store::open_with_password(url, password).await?)
        } else {
            return Err(StoreError::UnsupportedUrl { url: redact_url(url) });
        };
        Ok(Store { backend })
    }

    /// Whether other nodes may share this database (PostgreSQL): then buzones and timers are
    /// leased. A SQLite file belongs to one machine and one node.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Which backend this is, for messages and reports: `sqlite` or `postgresql`.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgresql",
        }
    }

    /// Closes the pool, waiting for connections to return.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(store) => store.close().await,
            Backend::Postgres(store) => store.close().await,
        }
    }
}

/// Many messages' writes in one transaction: one commit (one wait for the disk) for all of them.
/// [`Batch::store`] is a store whose every method runs inside that transaction (reads see the
/// batch's own writes; each method's write transaction is a savepoint in it), and each message's
/// writes sit in a savepoint of their own, so one message can fail alone. It holds the desk's one
/// write lock until [`Batch::commit`], so it is kept short; dropped uncommitted, it rolls back.
pub struct Batch {
    store: Store,
}

impl Store {
    /// Starts a batch (see [`Batch`]): waits for the write lock like any write transaction.
    pub async fn begin_batch(&self) -> Result<Batch, StoreError> {
        let backend = match &self.backend {
            Backend::Sqlite(store) => Backend::Sqlite(store.begin_batch().await?),
            Backend::Postgres(store) => Backend::Postgres(store.begin_batch().await?),
        };
        Ok(Batch { store: Store { backend } })
    }
}

impl Batch {
    /// The store whose methods write into this batch. Its methods must not run concurrently
    /// (the batch is one connection): a second one at the same time fails instead of waiting.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Starts the next message's savepoint.
    pub async fn begin_message(&self) -> Result<(), StoreError> {
        match &self.store.backend {
            Backend::Sqlite(store) => store.begin_batch_message().await,
            Backend::Postgres(store) => store.begin_batch_message().await,
        }
    }

    /// Ends the current message's savepoint, keeping its writes or taking them all back.
    pub async fn end_message(&self, keep: bool) -> Result<(), StoreError> {
        match &self.store.backend {
            Backend::Sqlite(store) => store.end_batch_message(keep).await,
            Backend::Postgres(store) => store.end_batch_message(keep).await,
        }
    }

    /// Commits every message kept.
    pub async fn commit(self) -> Result<(), StoreError> {
        match &self.store.backend {
            Backend::Sqlite(store) => store.commit_batch().await,
            Backend::Postgres(store) => store.commit_batch().await,
        }
    }
}

/// `url` without its password (`postgres://user:secret@host/db` → `postgres://user:***@host/db`),
/// for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((credentials, place)) = rest.rsplit_once('@') else { return url.to_string() };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{place}"),
        None => url.to_string(),
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

#[cfg(test)]
mod provider_tests {
    use super::*;
    use crate::desk::providers::Provider;

    fn provider(nit: &str, domain: &str) -> Provider {
        Provider {
            nit: nit.into(),
            name: format!("Proveedor {nit}"),
            domains: vec![domain.into()],
            addresses: vec!["soporte@gmail.com".into()],
            active: nit != "811000222",
        }
    }

    #[tokio::test]
    async fn replace_is_whole_and_a_failure_keeps_the_old_registry() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url).await.expect("open");
        assert!(store.providers().await.expect("empty").is_empty());
        let first = vec![provider("900123456", "a.co"), provider("811000222", "b.co")];
        store.replace_providers(&first).await.expect("replace");
        let stored = store.providers().await.expect("read");
        assert_eq!(
            stored.iter().map(|p| p.nit.as_str()).collect::<Vec<_>>(),
            ["811000222", "900123456"]
        );
        assert_eq!(stored[1], first[0]);
        assert!(!stored[0].active);
        // A repeated NIT fails on the primary key after the DELETE: nothing changes.
        let broken = vec![provider("700000001", "c.co"), provider("700000001", "d.co")];
        assert!(store.replace_providers(&broken).await.is_err());
        assert_eq!(store.providers().await.expect("read"), stored);
        store.replace_providers(&[]).await.expect("clear");
        assert!(store.providers().await.expect("read").is_empty());
        store.close().await;
    }
}
