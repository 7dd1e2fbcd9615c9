//! A backend's store handle: its pool, and the write transaction of its dialect. The public
//! [`crate::store::Store`] holds one of these per backend; the `impl Store` blocks of the other
//! SQL files are on this type.
//!
//! A handle may also be a batch's ([`Store::begin_batch`]): then every statement of every method
//! runs on the batch's one connection, inside its one transaction (one commit to disk for many
//! messages), each write transaction of a method becomes a SAVEPOINT inside it, and reads see
//! what the batch wrote before them.
//!
//! Each statement is a round trip to the driver (~35 µs on SQLite's worker thread), so the
//! savepoints cost as few as they can: a message's savepoint is opened with its first write
//! (a message that only reads opens none), in the same call that releases the last message kept;
//! and a method's write savepoint inside a message is not released on its own: the message's
//! release or rollback ends every savepoint inside it.

use std::sync::Arc;

use sqlx::pool::PoolConnection;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{Connection, DB, Pool, SqlTx, StoreError, dialect};

/// The database handle of one backend. Cheap to clone (a pool).
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pool: Pool,
    /// Set on a batch's handle: the connection holding the batch's transaction.
    batch: Option<Arc<Mutex<BatchConnection>>>,
}

/// The connection of a batch and its open transaction (`None` once committed or abandoned).
#[derive(Debug)]
pub(crate) struct BatchConnection {
    tx: Option<SqlTx<'static>>,
    /// A method's write savepoint ended without its commit: rolled back before the next use.
    undo_write: bool,
    message: MessageSavepoint,
    kept: KeptMessage,
}

/// Where the savepoint of the batch's current message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageSavepoint {
    /// No message is being written.
    None,
    /// A message began and has not written yet: its savepoint opens with its first write.
    Begun,
    /// The message's savepoint is open in the database.
    Open,
}

/// Whether the savepoint of the batch's last message kept is still to be released: that is done
/// in the same call that opens the next message's (or by the batch's commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeptMessage {
    Released,
    ToRelease,
}

// Savepoints nest by name: a method's write inside a message inside the batch.
const UNDO_WRITE: &str = "ROLLBACK TO SAVEPOINT escritura; RELEASE SAVEPOINT escritura";
const BEGIN_WRITE: &str = "SAVEPOINT escritura";
const KEEP_WRITE: &str = "RELEASE SAVEPOINT escritura";
const BEGIN_MESSAGE_AND_WRITE: &str = "SAVEPOINT mensaje; SAVEPOINT escritura";
const KEEP_AND_BEGIN_MESSAGE_AND_WRITE: &str =
    "RELEASE SAVEPOINT mensaje; SAVEPOINT mensaje; SAVEPOINT escritura";
const UNDO_MESSAGE: &str = "ROLLBACK TO SAVEPOINT mensaje; RELEASE SAVEPOINT mensaje";

fn batch_gone() -> StoreError {
    StoreError::Corrupt { what: "lote", detail: "la transacción del lote ya terminó".into() }
}

fn no_message() -> StoreError {
    StoreError::Corrupt {
        what: "lote",
        detail: "se cerró un mensaje del lote que no se había abierto (un error de programación de mesa-fe)"
            .into(),
    }
}

fn batch_reentered() -> StoreError {
    StoreError::Corrupt {
        what: "lote",
        detail: "el lote se usó desde dos consultas a la vez (un error de programación de mesa-fe)"
            .into(),
    }
}

impl BatchConnection {
    /// The batch's connection, with a write savepoint left behind by a failed method rolled back.
    async fn connection(&mut self) -> Result<&mut Connection, StoreError> {
        let undo = std::mem::take(&mut self.undo_write);
        let tx = self.tx.as_mut().ok_or_else(batch_gone)?;
        if undo {
            sqlx::raw_sql(UNDO_WRITE).execute(&mut **tx).await?;
        }
        Ok(&mut **tx)
    }

    /// Opens a method's write savepoint, and first its message's when this is the message's
    /// first write (one round trip for both). Says whether the write is inside a message.
    async fn begin_write(&mut self) -> Result<bool, StoreError> {
        match self.message {
            MessageSavepoint::None => self.run(BEGIN_WRITE).await.map(|()| false),
            MessageSavepoint::Open => self.run(BEGIN_WRITE).await.map(|()| true),
            MessageSavepoint::Begun => {
                // Marked open first: if the statement fails half-way, the message's end tries
                // its rollback, which fails when the savepoint does not exist, and the batch is
                // then given up whole rather than kept in doubt.
                self.message = MessageSavepoint::Open;
                let sql = match std::mem::replace(&mut self.kept, KeptMessage::Released) {
                    KeptMessage::ToRelease => KEEP_AND_BEGIN_MESSAGE_AND_WRITE,
                    KeptMessage::Released => BEGIN_MESSAGE_AND_WRITE,
                };
                self.run(sql).await.map(|()| true)
            }
        }
    }

    /// One statement of the batch's own (a savepoint's), prepared once per connection; two
    /// (a rollback to a savepoint and its release) as plain SQL: that path is rare.
    async fn run(&mut self, sql: &'static str) -> Result<(), StoreError> {
        let connection = self.connection().await?;
        if sql.contains(';') {
            sqlx::raw_sql(sql).execute(connection).await?;
        } else {
            sqlx::query(sql).execute(connection).await?;
        }
        Ok(())
    }
}

/// A write transaction: the store's own, or a savepoint inside a batch's transaction. Statements
/// run on it as on a connection (`&mut *tx`).
pub(crate) enum WriteTx<'a> {
    Own(SqlTx<'a>),
    Batch(BatchWrite),
}

/// A method's savepoint in a batch; dropped unreleased, it is rolled back before the batch's
/// next statement (a drop cannot run SQL).
pub(crate) struct BatchWrite {
    batch: OwnedMutexGuard<BatchConnection>,
    released: bool,
    /// Inside a message's savepoint, which ends this one with it: kept without a statement.
    in_message: bool,
}

impl Drop for BatchWrite {
    fn drop(&mut self) {
        if !self.released {
            self.batch.undo_write = true;
        }
    }
}

impl BatchWrite {
    fn connection(&mut self) -> &mut Connection {
        match self.batch.tx.as_deref_mut() {
            Some(connection) => connection,
            None => unreachable!("a savepoint is only handed out while its batch is open"),
        }
    }
}

impl WriteTx<'_> {
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            WriteTx::Own(tx) => Ok(tx.commit().await?),
            WriteTx::Batch(mut write) => {
                if !write.in_message {
                    write.batch.run(KEEP_WRITE).await?;
                }
                write.released = true;
                Ok(())
            }
        }
    }

    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        match self {
            WriteTx::Own(tx) => Ok(tx.rollback().await?),
            // Dropped unreleased: rolled back before the batch's next statement.
            WriteTx::Batch(_) => Ok(()),
        }
    }
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            WriteTx::Own(tx) => tx,
            WriteTx::Batch(write) => match write.batch.tx.as_deref() {
                Some(connection) => connection,
                None => unreachable!("a savepoint is only handed out while its batch is open"),
            },
        }
    }
}

impl std::ops::DerefMut for WriteTx<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        match self {
            WriteTx::Own(tx) => tx,
            WriteTx::Batch(write) => write.connection(),
        }
    }
}

/// A connection to read on: one of the pool's, or the batch's (to see its own writes).
pub(crate) enum ReadConnection {
    Pool(PoolConnection<DB>),
    Batch(OwnedMutexGuard<BatchConnection>),
}

impl std::ops::Deref for ReadConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            ReadConnection::Pool(c) => c,
            ReadConnection::Batch(batch) => match batch.tx.as_deref() {
                Some(connection) => connection,
                None => unreachable!("a batch connection is only handed out while its batch is open"),
            },
        }
    }
}

impl std::ops::DerefMut for ReadConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        match self {
            ReadConnection::Pool(c) => c,
            ReadConnection::Batch(batch) => match batch.tx.as_deref_mut() {
                Some(connection) => connection,
                None => unreachable!("a batch connection is only handed out while its batch is open"),
            },
        }
    }
}

impl Store {
    /// Opens the database at `url` (the caller checked [`dialect::accepts`]) and migrates it.
    pub(in crate::store) async fn open_with_password(
        url: &str,
        password: Option<&str>,
    ) -> Result<Store, StoreError> {
        Ok(Store { pool: dialect::open(url, password).await?, batch: None })
    }

    pub(in crate::store) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A connection for a method's reads: the batch's on a batch's handle.
    pub(in crate::store) async fn reader(&self) -> Result<ReadConnection, StoreError> {
        match &self.batch {
            None => Ok(ReadConnection::Pool(self.pool.acquire().await?)),
            Some(batch) => {
                let mut guard = Arc::clone(batch).try_lock_owned().map_err(|_| batch_reentered())?;
                guard.connection().await?;
                Ok(ReadConnection::Batch(guard))
            }
        }
    }

    /// A write transaction: one writer at a time on the whole database (`dialect::BEGIN_WRITE`),
    /// so the check-then-write steps of the store see no other writer between them, on any node.
    /// On a batch's handle, a savepoint in the batch's transaction (which holds that lock).
    pub(in crate::store) async fn write_tx(&self) -> Result<WriteTx<'static>, StoreError> {
        match &self.batch {
            None => Ok(WriteTx::Own(dialect::begin_write(&self.pool).await?)),
            Some(batch) => {
                let mut guard = Arc::clone(batch).try_lock_owned().map_err(|_| batch_reentered())?;
                let in_message = guard.begin_write().await?;
                Ok(WriteTx::Batch(BatchWrite { batch: guard, released: false, in_message }))
            }
        }
    }

    /// A read-only transaction whose statements all see one snapshot (a report's queries agree).
    pub(in crate::store) async fn snapshot_tx(&self) -> Result<WriteTx<'static>, StoreError> {
        Ok(WriteTx::Own(self.pool.begin_with(dialect::BEGIN_SNAPSHOT).await?))
    }

    /// A handle whose methods all run in one new write transaction, committed by
    /// [`Store::commit_batch`]; dropped uncommitted, it rolls back.
    pub(in crate::store) async fn begin_batch(&self) -> Result<Store, StoreError> {
        let tx = dialect::begin_write(&self.pool).await?;
        let batch = BatchConnection {
            tx: Some(tx),
            undo_write: false,
            message: MessageSavepoint::None,
            kept: KeptMessage::Released,
        };
        Ok(Store { pool: self.pool.clone(), batch: Some(Arc::new(Mutex::new(batch))) })
    }

    fn batch_guard(&self) -> Result<OwnedMutexGuard<BatchConnection>, StoreError> {
        let batch = self.batch.as_ref().ok_or_else(batch_gone)?;
        Arc::clone(batch).try_lock_owned().map_err(|_| batch_reentered())
    }

    /// Begins one message of a batch: its writes, from the first, go in a savepoint of their
    /// own, so that they can fail alone.
    pub(in crate::store) async fn begin_batch_message(&self) -> Result<(), StoreError> {
        self.batch_guard()?.message = MessageSavepoint::Begun;
        Ok(())
    }

    /// Keeps (`keep`) or takes back the writes of the batch's current message.
    pub(in crate::store) async fn end_batch_message(&self, keep: bool) -> Result<(), StoreError> {
        let mut guard = self.batch_guard()?;
        match std::mem::replace(&mut guard.message, MessageSavepoint::None) {
            MessageSavepoint::None => Err(no_message()),
            // It wrote nothing: there is nothing to keep or take back.
            MessageSavepoint::Begun => Ok(()),
            // Released with the next message's savepoint, or by the commit: a round trip fewer.
            MessageSavepoint::Open if keep => {
                guard.kept = KeptMessage::ToRelease;
                Ok(())
            }
            MessageSavepoint::Open => guard.run(UNDO_MESSAGE).await,
        }
    }

    /// Commits the batch's transaction: everything its messages kept reaches the disk at once.
    pub(in crate::store) async fn commit_batch(&self) -> Result<(), StoreError> {
        let mut guard = self.batch_guard()?;
        guard.connection().await?;
        let tx = guard.tx.take().ok_or_else(batch_gone)?;
        Ok(tx.commit().await?)
    }

    /// Closes the pool, waiting for connections to return.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
