//! The SQL of [`crate::store::console_ops`]: what the console's Operación page reads.

use crate::store::console_ops::*;
use sqlx::Row as _;

use super::{Store, StoreError};

impl Store {
    /// Each buzón that ever stored mail: its newest message (when, status, reason) and how many
    /// of its messages are in quarantine.
    pub async fn buzon_activity(&self) -> Result<Vec<BuzonActivity>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.buzon, m.received_at, m.status, m.status_reason, \
             (SELECT COUNT(*) FROM raw_messages q WHERE q.buzon = m.buzon AND q.status = 'cuarentena') AS held \
             FROM raw_messages m WHERE m.id IN (SELECT MAX(id) FROM raw_messages GROUP BY buzon) \
             ORDER BY m.buzon",
        )
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BuzonActivity {
                    buzon: row.try_get("buzon")?,
                    last_received_at: row.try_get("received_at")?,
                    last_status: row.try_get("status")?,
                    last_reason: row.try_get("status_reason")?,
                    quarantined: row.try_get("held")?,
                })
            })
            .collect()
    }

    /// Breaches of open cases at their current level, the oldest due first (at most `limit`).
    pub async fn open_sla_breaches(&self, limit: i64) -> Result<Vec<OpenBreach>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.number, b.level, b.target, b.due_at FROM sla_breaches b \
             JOIN cases c ON c.id = b.case_id \
             WHERE c.status IN ('nuevo', 'pendiente_informacion', 'en_atencion', 'escalado') \
             AND b.level = c.level ORDER BY b.due_at, b.id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OpenBreach {
                    case_id: row.try_get("id")?,
                    number: row.try_get("number")?,
                    level: row.try_get("level")?,
                    target: row.try_get("target")?,
                    due_at: row.try_get("due_at")?,
                })
            })
            .collect()
    }
}
