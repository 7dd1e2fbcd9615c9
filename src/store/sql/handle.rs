//! A backend's store handle: its pool, and the write transaction of its dialect. The public
//! [`crate::store::Store`] holds one of these per backend; the `impl Store` blocks of the other
//! SQL files are on this type.

use super::{Pool, StoreError, Tx, dialect};

/// The database handle of one backend. Cheap to clone (a pool).
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pool: Pool,
}

impl Store {
    /// Opens the database at `url` (the caller checked [`dialect::accepts`]) and migrates it.
    pub(in crate::store) async fn open_with_password(
        url: &str,
        password: Option<&str>,
    ) -> Result<Store, StoreError> {
        Ok(Store { pool: dialect::open(url, password).await? })
    }

    pub(in crate::store) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A write transaction: one writer at a time on the whole database (`dialect::BEGIN_WRITE`),
    /// so the check-then-write steps of the store see no other writer between them, on any node.
    pub(in crate::store) async fn write_tx(&self) -> Result<Tx<'static>, StoreError> {
        dialect::begin_write(&self.pool).await
    }

    /// A read-only transaction whose statements all see one snapshot (a report's queries agree).
    pub(in crate::store) async fn snapshot_tx(&self) -> Result<Tx<'static>, StoreError> {
        Ok(self.pool.begin_with(dialect::BEGIN_SNAPSHOT).await?)
    }

    /// Closes the pool, waiting for connections to return.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
