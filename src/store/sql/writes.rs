//! Statements whose results nobody reads, sent together. Each call to the driver is a round trip
//! (on SQLite, to its worker thread: ~35 µs, most of it waking threads), and the rows of one
//! message take several statements; where the backend can run many statements in one call
//! (`dialect::MANY_STATEMENTS_PER_CALL`), they go in one. Elsewhere, one call each, in order.

use sqlx::QueryBuilder;

use super::{DB, StoreError, Tx, dialect};

/// Statements to run in order, in as few calls as the backend allows.
#[derive(Default)]
pub(super) struct Writes {
    calls: Vec<QueryBuilder<DB>>,
    /// Rows the inserts among them add (each adds every row it lists).
    inserted: u64,
}

impl Writes {
    /// Starts the next statement with `sql`; the caller pushes the rest of it (its values) on
    /// the builder returned.
    pub(super) fn statement(&mut self, sql: &str) -> &mut QueryBuilder<DB> {
        match self.calls.last_mut() {
            Some(call) if dialect::MANY_STATEMENTS_PER_CALL => {
                call.push("; ");
                call.push(sql);
            }
            _ => self.calls.push(QueryBuilder::new(sql.to_owned())),
        }
        let index = self.calls.len() - 1;
        &mut self.calls[index]
    }

    /// Starts the next statement, an INSERT of `rows` rows (its VALUES pushed by the caller). It
    /// must add every row it lists (no ON CONFLICT): [`Writes::run`] counts on that to tell the
    /// other statements' changes apart.
    pub(super) fn insert(&mut self, sql: &str, rows: usize) -> &mut QueryBuilder<DB> {
        self.inserted += rows as u64;
        self.statement(sql)
    }

    /// Runs the statements. Returns the rows changed by those that are not inserts (an
    /// UPDATE's count tells whether it found its row).
    pub(super) async fn run(self, tx: &mut Tx<'_>) -> Result<u64, StoreError> {
        let mut changed = 0;
        for mut call in self.calls {
            changed += call.build().execute(&mut **tx).await?.rows_affected();
        }
        Ok(changed.saturating_sub(self.inserted))
    }
}
