//! What only PostgreSQL does: connecting (password from a secret, session limits so a dead node's
//! locks do not outlive it, refusing a standby), its migrations, the one-writer lock of
//! `BEGIN_WRITE`, the SQLSTATEs behind a [`Fault`] and the space report after a purge.
//!
//! One writer at a time, as on SQLite: a write transaction starts by taking one transaction-level
//! advisory lock, so every check-then-write step of the store (case numbers and caps, dedupe,
//! digests, the registry) runs alone on the whole database, whichever node runs it. Write
//! transactions are short (no network but the database inside them), so this costs little next
//! to the mail round trips; finer locks are a throughput question, not a correctness one.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};

use super::{Pool, SqlTx, Tx};
use crate::store::purge::SpaceReport;
use crate::store::{Fault, StoreError, redact_url};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The key of the advisory lock every write transaction takes ("mesa-fe" in ASCII, as an i64).
const WRITE_LOCK: i64 = 0x006d_6573_612d_6665;

/// How long connecting (or waiting for a free connection) may take before it is a failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `url` names a database of this backend.
pub(in crate::store) fn accepts(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Starts a write transaction holding the desk's one write lock (waits at most `lock_timeout`).
pub(in crate::store) async fn begin_write(pool: &Pool) -> Result<SqlTx<'static>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITE_LOCK).execute(&mut *tx).await?;
    Ok(tx)
}

/// The database's clock in milliseconds since the epoch (for leases: never a node's clock).
pub(in crate::store) async fn now_ms(tx: &mut Tx<'_>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)")
        .fetch_one(&mut **tx)
        .await?)
}

/// A read transaction on one snapshot (READ COMMITTED would take a new one per statement).
pub(in crate::store) const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// The extended protocol takes one statement per call when it carries parameters.
pub(in crate::store) const MANY_STATEMENTS_PER_CALL: bool = false;

/// Session settings, so the server itself ends what a dead or cut-off node left open: its idle
/// transaction (and the write lock with it) after 15 s, a silent peer's connection after about
/// 10 s of keepalives; and a lock wait gives up after 10 s, like SQLite's busy timeout.
const SESSION: [(&str, &str); 6] = [
    ("lock_timeout", "10s"),
    ("idle_in_transaction_session_timeout", "15s"),
    ("tcp_keepalives_idle", "5"),
    ("tcp_keepalives_interval", "2"),
    ("tcp_keepalives_count", "3"),
    ("tcp_user_timeout", "10000"),
];

/// Connects to the server at `url`, refuses it when it cannot be reached, rejects the login, is
/// a standby or holds a newer schema (all before any write), and applies the migrations.
pub(in crate::store) async fn open(url: &str, password: Option<&str>) -> Result<Pool, StoreError> {
    let shown = redact_url(url);
    let mut options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Refused { url: shown.clone(), detail: e.to_string() })?
        .application_name("mesa-fe")
        .options(SESSION);
    if let Some(password) = password {
        options = options.password(password);
    }
    // One connection by hand first: the pool retries until its timeout and then reports only
    // that it timed out, not that the port refused or the password was wrong.
    let first = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await;
    match first {
        Ok(Ok(connection)) => {
            connection.close().await.map_err(|e| refused_or_unreachable(&shown, e))?
        }
        Ok(Err(e)) => return Err(refused_or_unreachable(&shown, e)),
        Err(_) => {
            let silent = std::io::Error::new(std::io::ErrorKind::TimedOut, "sin respuesta en 10 s");
            return Err(refused_or_unreachable(&shown, sqlx::Error::Io(silent)));
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(CONNECT_TIMEOUT)
        // A connection the server dropped (a restart, a failover) is found and replaced here,
        // not in the middle of a transaction.
        .test_before_acquire(true)
        .max_lifetime(Duration::from_secs(300))
        .after_connect(|conn, _| {
            Box::pin(async move {
                let standby: bool =
                    sqlx::query_scalar("SELECT pg_is_in_recovery()").fetch_one(&mut *conn).await?;
                if standby {
                    return Err(sqlx::Error::Protocol(
                        "el servidor es una réplica en recuperación (solo lectura), no el primario"
                            .into(),
                    ));
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| refused_or_unreachable(&shown, e))?;
    MIGRATOR.run(&pool).await.map_err(|e| StoreError::of_migration(url, e))?;
    Ok(pool)
}

/// A failed first connection: the login or the database refused (the operator fixes the
/// configuration), or no server answered.
fn refused_or_unreachable(url: &str, error: sqlx::Error) -> StoreError {
    let url = url.to_string();
    match &error {
        sqlx::Error::Database(e) => match e.code().as_deref() {
            Some("28P01" | "28000") => {
                StoreError::Refused { url, detail: format!("usuario o clave no aceptados ({e})") }
            }
            Some("3D000") => {
                StoreError::Refused { url, detail: format!("la base de datos no existe ({e})") }
            }
            _ => StoreError::Refused { url, detail: e.to_string() },
        },
        sqlx::Error::Configuration(e) => StoreError::Refused { url, detail: e.to_string() },
        _ => StoreError::Unreachable { url, source: error },
    }
}

/// The fault behind a database error, from its SQLSTATE.
pub(in crate::store) fn fault_of(
    error: &(dyn sqlx::error::DatabaseError + 'static),
) -> Option<Fault> {
    let code = error.code()?;
    match code.as_ref() {
        "53100" => Some(Fault::DiskFull),
        "58030" => Some(Fault::Io),
        "XX001" | "XX002" => Some(Fault::Damaged),
        // Serialization failure, deadlock, lock timeout, too many connections.
        "40001" | "40P01" | "55P03" | "53300" => Some(Fault::Busy),
        // Shut down by an administrator, a crash or a restart; read-only after a failover;
        // the connection class.
        "57P01" | "57P02" | "57P03" | "25006" => Some(Fault::Unreachable),
        code if code.starts_with("08") => Some(Fault::Unreachable),
        _ => None,
    }
}

/// After a purge: PostgreSQL's autovacuum gives the freed space back to new rows by itself.
pub(in crate::store) async fn reclaim_space(pool: &Pool) -> Result<SpaceReport, StoreError> {
    let bodies: i64 =
        sqlx::query_scalar("SELECT CAST(pg_total_relation_size('raw_bodies') AS BIGINT)")
            .fetch_one(pool)
            .await?;
    Ok(SpaceReport {
        auto_vacuum: "postgresql".to_string(),
        incremental_vacuum: false,
        returned_bytes: 0,
        free_bytes: bodies,
    })
}
