//! The SQL of [`crate::store::waiting`]: the cases waiting for the requester and their periods.
//! Written once against the backend aliases of its parent, so each backend compiles the same text.

use sqlx::Row;

use super::{Store, StoreError};
use crate::desk::case::ReplyKind;
use crate::store::waiting::WaitingRow;

impl Store {
    /// Every case waiting for the requester, with its latest request and the reminders since.
    pub async fn waiting_cases(&self) -> Result<Vec<WaitingRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.number, c.level, c.agent, c.group_name, c.waiting_since, \
             q.id AS request_id, q.created_at AS asked_at, \
             (SELECT COUNT(*) FROM outbox r WHERE r.case_id = c.id AND r.kind = $3 \
              AND r.id > COALESCE(q.id, 0)) AS reminders \
             FROM cases c LEFT JOIN outbox q ON q.id = \
             (SELECT MAX(o.id) FROM outbox o WHERE o.case_id = c.id AND o.kind IN ($1, $2)) \
             WHERE c.status = 'pendiente_informacion' ORDER BY c.id",
        )
        .bind(ReplyKind::SolicitudInformacion.as_str())
        .bind(ReplyKind::PreguntaSolicitante.as_str())
        .bind(ReplyKind::RecordatorioInformacion.as_str())
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(WaitingRow {
                    case_id: row.try_get("id")?,
                    number: row.try_get("number")?,
                    level: row.try_get("level")?,
                    agent: row.try_get("agent")?,
                    group: row.try_get("group_name")?,
                    asked_at: row.try_get("asked_at")?,
                    request_id: row.try_get("request_id")?,
                    waiting_since: row.try_get("waiting_since")?,
                    reminders: row.try_get("reminders")?,
                })
            })
            .collect()
    }
}
