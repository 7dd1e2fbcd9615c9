//! The SQL of [`crate::store::sla`]: SLA clocks and breaches. Written once against the backend
//! aliases of its parent (`super::{DB, Row, Tx}`), so each backend that mounts it compiles the same
//! text.

use crate::store::sla::*;
use sqlx::Row;

use super::cases::{SYSTEM_ACTOR, insert_events, insert_outbox};
use crate::store::cases::{CaseChange, FoundCase};
use chrono::{DateTime, Utc};

use super::{Store, StoreError, now_text, timestamp};

impl Store {
    /// Clocks of the open cases at N2, N3 and Administración Técnica.
    pub async fn sla_clocks(&self) -> Result<Vec<SlaClockRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.level, c.status, c.level_since, \
             (SELECT MIN(a.created_at) FROM case_actions a WHERE a.case_id = c.id AND a.refused = 0 \
              AND a.level = c.level AND a.created_at >= c.level_since \
              AND a.command NOT IN ('validacion', 'desconocido')) AS first_action_at, \
             (SELECT string_agg(b.target, ',') FROM sla_breaches b WHERE b.case_id = c.id AND b.level = c.level) AS recorded \
             FROM cases c WHERE c.status IN ('nuevo', 'pendiente_informacion', 'en_atencion', 'escalado') \
             AND c.level IN ('n2', 'n3', 'administracion_tecnica') AND c.level_since IS NOT NULL ORDER BY c.id",
        )
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                let recorded: Option<String> = row.try_get("recorded")?;
                Ok(SlaClockRow {
                    case_id: row.try_get("id")?,
                    level: row.try_get("level")?,
                    status: row.try_get("status")?,
                    level_since: row.try_get("level_since")?,
                    first_action_at: row.try_get("first_action_at")?,
                    recorded: recorded
                        .map(|r| r.split(',').map(str::to_string).collect())
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Records a breach once (per case, level and target) with its event and notice; `false`
    /// when it was already recorded. The case's state does not change.
    pub async fn record_sla_breach(
        &self,
        found: &FoundCase,
        target: &str,
        due_at: DateTime<Utc>,
        change: &CaseChange<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        // The case may have moved on since its clock was read (solved, escalated): no notice.
        let unchanged: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM cases WHERE id = $1 AND version = $2 AND level = $3 \
             AND status NOT IN ('solucionado', 'cerrado')",
        )
        .bind(found.id)
        .bind(found.version)
        .bind(found.case.level.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if unchanged.is_none() {
            return Ok(false);
        }
        let inserted = sqlx::query(
            "INSERT INTO sla_breaches (case_id, level, target, due_at, detected_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (case_id, level, target) DO NOTHING",
        )
        .bind(found.id)
        .bind(found.case.level.as_str())
        .bind(target)
        .bind(timestamp(due_at))
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        insert_events(&mut tx, found.id, &change.transition.events, SYSTEM_ACTOR).await?;
        insert_outbox(&mut tx, found.id, &change.drafts).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// SLA breaches recorded so far (for the metrics).
    pub async fn sla_breach_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM sla_breaches").fetch_one(&mut *self.reader().await?).await?)
    }
}
