//! The store compiled for PostgreSQL: the same SQL modules of `store/sql/` as `sqlite/mod.rs`
//! mounts, with `DB = sqlx::Postgres` and the PostgreSQL [`dialect`].

pub(super) use super::{StoreError, now_text, timestamp};

/// The database these SQL modules are compiled for.
pub(crate) type DB = sqlx::Postgres;
/// A result row of [`DB`]. Named concretely, not as `<DB as Database>::Row`: with the projection,
/// coherence sees the two mounts' `impl FromRow<'_, Row> for OutboxItem` as overlapping.
pub(crate) type Row = sqlx::postgres::PgRow;
/// A transaction on [`DB`].
pub(crate) type Tx<'a> = sqlx::Transaction<'a, DB>;
/// The connection pool of [`DB`].
pub(crate) type Pool = sqlx::Pool<DB>;
/// A connection of [`DB`].
pub(crate) type Connection = <DB as sqlx::Database>::Connection;

pub(super) mod dialect;

#[path = "../sql/actions.rs"]
mod actions;
#[path = "../sql/cases.rs"]
mod cases;
#[path = "../sql/columns.rs"]
mod columns;
#[path = "../sql/handle.rs"]
mod handle;
#[path = "../sql/knowledge.rs"]
mod knowledge;
#[path = "../sql/leases.rs"]
mod leases;
#[path = "../sql/outbox.rs"]
mod outbox;
#[path = "../sql/providers.rs"]
mod providers;
#[path = "../sql/purge.rs"]
mod purge;
#[path = "../sql/raw.rs"]
mod raw;
#[path = "../sql/report.rs"]
mod report;
#[path = "../sql/sla.rs"]
mod sla;
#[path = "../sql/stats.rs"]
mod stats;

use columns::{instant_column, optional_instant_column};
pub(crate) use handle::Store;
