//! The SQL of [`crate::store::stats`]: counts for `/metrics` and the readiness ping. Written once
//! against the backend aliases of its parent (`super::{DB, Row, Tx}`), so each backend that mounts
//! it compiles the same text.

use super::{Store, StoreError};
use crate::store::stats::*;

impl Store {
    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        let mut conn = self.reader().await?;
        Ok(StoreStats {
            messages: sqlx::query_as(
                "SELECT buzon, status, COUNT(*) FROM raw_messages GROUP BY buzon, status ORDER BY buzon, status",
            )
            .fetch_all(&mut *conn)
            .await?,
            cases_by_tema: sqlx::query_as("SELECT tema, COUNT(*) FROM cases GROUP BY tema ORDER BY tema")
                .fetch_all(&mut *conn)
                .await?,
            cases_by_channel: sqlx::query_as(
                "SELECT channel, COUNT(*) FROM cases GROUP BY channel ORDER BY channel",
            )
            .fetch_all(&mut *conn)
            .await?,
            cases_by_status: sqlx::query_as(
                "SELECT status, level, COUNT(*) FROM cases GROUP BY status, level ORDER BY status, level",
            )
            .fetch_all(&mut *conn)
            .await?,
            outbox: sqlx::query_as("SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status")
                .fetch_all(&mut *conn)
                .await?,
            sla_breaches: sqlx::query_as(
                "SELECT level, target, COUNT(*) FROM sla_breaches GROUP BY level, target ORDER BY level, target",
            )
            .fetch_all(&mut *conn)
            .await?,
        })
    }

    /// The store answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT CAST(1 AS BIGINT)").fetch_one(&mut *self.reader().await?).await?;
        Ok(())
    }

    /// Mail due before `before` and still not sent (RFC 3339): the outbox is stuck if any.
    pub async fn overdue_outbox(&self, before: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE status IN ('pendiente', 'fallo_temporal') AND next_attempt_at < $1",
        )
        .bind(before)
        .fetch_one(&mut *self.reader().await?)
        .await?)
    }
}
