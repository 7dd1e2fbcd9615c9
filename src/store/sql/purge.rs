//! The SQL of [`crate::store::purge`]: retention: purge candidates and the purge itself. Written
//! once against the backend aliases of its parent (`super::{DB, Row, Tx}`), so each backend that
//! mounts it compiles the same text.

use crate::store::purge::*;
use sqlx::{QueryBuilder, Row as _};

use super::cases::{SYSTEM_ACTOR, insert_events};
use super::{DB, Store, StoreError, now_text};
use crate::desk::Level;
use crate::desk::case::{Activity, Event, Status};
use crate::store::outbox::OutboxStatus;

/// Closed cases with something left to purge, and the time they were closed: their last event
/// that moved them into `cerrado` (the purge's own `cerrado → cerrado` event does not count), or
/// the case's last update when no such event exists.
///
/// Something is left when the case was never purged, or when it got new content since its purge:
/// a requester's reply reopens a closed case, and once closed again its new messages are purged
/// in turn; mail still waiting at the purge may have been sent since. The checks are the
/// conditions `purge_case` clears, so a second run right after the first finds nothing.
macro_rules! closed_cases {
    () => {
        "SELECT c.id, c.number, c.level, COALESCE((SELECT e.created_at FROM events e \
             WHERE e.case_id = c.id AND e.to_status = 'cerrado' \
             AND (e.from_status IS NULL OR e.from_status <> 'cerrado') \
             ORDER BY e.id DESC LIMIT 1), c.updated_at) AS closed_at \
         FROM cases c WHERE c.status = 'cerrado' AND (c.purged_at IS NULL \
         OR EXISTS (SELECT 1 FROM case_messages m WHERE m.case_id = c.id AND m.own_words <> '') \
         OR EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = c.id \
             AND o.status IN ('enviado', 'fallo_permanente', 'rebotado') AND o.context <> '{}') \
         OR EXISTS (SELECT 1 FROM case_messages m \
             JOIN raw_bodies b ON b.raw_message_id = m.raw_message_id WHERE m.case_id = c.id) \
         OR EXISTS (SELECT 1 FROM case_messages m JOIN raw_messages o ON o.id = m.raw_message_id \
             JOIN raw_messages d ON d.message_id = o.message_id AND d.duplicate_of = o.id \
             JOIN raw_bodies b ON b.raw_message_id = d.id WHERE m.case_id = c.id))"
    };
}

/// The stored bodies of a case's raw messages: the ones on its messages and actions, and the
/// duplicate copies of those (same Message-ID, other bytes: the copy of another buzón). A raw
/// message is processed once, onto one case (`claim_raw`), so no other case loses a body.
const CASE_BODIES: &str = "WITH own(id) AS ( \
         SELECT raw_message_id FROM case_messages WHERE case_id = $1 AND raw_message_id IS NOT NULL \
         UNION SELECT raw_message_id FROM case_actions WHERE case_id = $1 AND raw_message_id IS NOT NULL), \
     ids(id) AS ( \
         SELECT id FROM own \
         UNION SELECT d.id FROM own JOIN raw_messages o ON o.id = own.id \
             JOIN raw_messages d ON d.message_id = o.message_id AND d.duplicate_of = o.id) \
     SELECT b.raw_message_id AS id, CAST(LENGTH(b.raw) AS BIGINT) AS bytes \
     FROM raw_bodies b JOIN ids ON ids.id = b.raw_message_id ORDER BY b.raw_message_id";

impl Store {
    /// Closed cases with something left to purge, closed at or before `closed_before` (RFC 3339
    /// UTC), oldest closing first, with the bodies a purge would remove. Reads only.
    pub async fn purge_candidates(
        &self,
        closed_before: &str,
    ) -> Result<Vec<PurgeCandidate>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT id, number, level, closed_at FROM (",
            closed_cases!(),
            ") closed WHERE closed_at <= $1 ORDER BY closed_at, id"
        ))
        .bind(closed_before)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in rows {
            let case_id: i64 = row.try_get("id")?;
            let bodies = case_bodies(&mut *self.reader().await?, case_id).await?;
            candidates.push(PurgeCandidate {
                case_id,
                number: row.try_get("number")?,
                level: row.try_get("level")?,
                closed_at: row.try_get("closed_at")?,
                raw_messages: i64::try_from(bodies.len()).unwrap_or(i64::MAX),
                bytes: bodies.iter().map(|(_, bytes)| bytes).sum(),
            });
        }
        Ok(candidates)
    }

    /// Purges one case in one transaction: its raw bodies, its messages' own words, the context
    /// of its mail already sent; marks it purged and records the event (activity 12). `None`
    /// when the case is no longer a candidate for `closed_before` (reopened meanwhile, nothing
    /// left to purge, unknown): nothing is written.
    pub async fn purge_case(
        &self,
        case_id: i64,
        closed_before: &str,
    ) -> Result<Option<PurgedCase>, StoreError> {
        let mut tx = self.write_tx().await?;
        // Checked again under the write lock: the daemon may have reopened it since the listing.
        let row = sqlx::query(concat!(
            "SELECT number, level, closed_at FROM (",
            closed_cases!(),
            ") closed WHERE id = $1 AND closed_at <= $2"
        ))
        .bind(case_id)
        .bind(closed_before)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let number: String = row.try_get("number")?;
        let level_text: String = row.try_get("level")?;
        let level = Level::parse(&level_text).ok_or_else(|| StoreError::Corrupt {
            what: "level",
            detail: format!("valor desconocido \"{level_text}\""),
        })?;
        let bodies = case_bodies(&mut *tx, case_id).await?;
        for chunk in bodies.chunks(500) {
            let mut delete =
                QueryBuilder::<DB>::new("DELETE FROM raw_bodies WHERE raw_message_id IN (");
            let mut list = delete.separated(", ");
            for (id, _) in chunk {
                list.push_bind(*id);
            }
            delete.push(")");
            delete.build().execute(&mut *tx).await?;
        }
        let messages_cleared = sqlx::query(
            "UPDATE case_messages SET own_words = '' WHERE case_id = $1 AND own_words <> ''",
        )
        .bind(case_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Mail still waiting keeps its context: it is rendered from it when sent.
        let outbox_cleared = sqlx::query(
            "UPDATE outbox SET context = '{}' WHERE case_id = $1 AND status IN ($2, $3, $4) AND context <> '{}'",
        )
        .bind(case_id)
        .bind(OutboxStatus::Enviado.as_str())
        .bind(OutboxStatus::FalloPermanente.as_str())
        .bind(OutboxStatus::Rebotado.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let purged_at = now_text();
        let marked = sqlx::query(
            "UPDATE cases SET purged_at = $1, version = version + 1 \
             WHERE id = $2 AND status = 'cerrado'",
        )
        .bind(&purged_at)
        .bind(case_id)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        let raw_messages = i64::try_from(bodies.len()).unwrap_or(i64::MAX);
        let bytes: i64 = bodies.iter().map(|(_, bytes)| bytes).sum();
        let event = Event {
            activity: Activity::ControlPosterior,
            from_status: Some(Status::Cerrado),
            to_status: Status::Cerrado,
            from_level: Some(level),
            to_level: level,
            detail: format!(
                "Cuerpos y adjuntos eliminados por retención ({raw_messages} mensajes, {bytes} bytes); \
                 se conservan el registro del caso y su historial."
            ),
        };
        insert_events(&mut tx, case_id, &[event], SYSTEM_ACTOR).await?;
        tx.commit().await?;
        Ok(Some(PurgedCase {
            number,
            closed_at: row.try_get("closed_at")?,
            raw_messages,
            bytes,
            messages_cleared: i64::try_from(messages_cleared).unwrap_or(i64::MAX),
            outbox_cleared: i64::try_from(outbox_cleared).unwrap_or(i64::MAX),
            purged_at,
        }))
    }

    /// After a purge: gives freed pages back to the file system where the backend needs it
    /// (SQLite created with `auto_vacuum = incremental`), else only measures the free space.
    pub async fn reclaim_space(&self) -> Result<SpaceReport, StoreError> {
        super::dialect::reclaim_space(self.pool()).await
    }
}

/// `(raw message id, body bytes)` of the bodies a purge of the case removes.
async fn case_bodies<'e, E>(executor: E, case_id: i64) -> Result<Vec<(i64, i64)>, StoreError>
where
    E: sqlx::Executor<'e, Database = DB>,
{
    Ok(sqlx::query_as(CASE_BODIES).bind(case_id).fetch_all(executor).await?)
}
