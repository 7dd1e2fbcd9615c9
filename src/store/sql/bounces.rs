//! The SQL of bounces: which outbox row a bounce is about, and the one transaction that records
//! it (the bounce on its case, the history, the agent's notice and the row `rebotado`).

use sqlx::Row as _;

use super::cases::{update_case, write_message_and_effects};
use super::prior::Asked;
use super::outbox::{kind_column, status_column};
use super::{Store, StoreError, instant_column, now_text, optional_instant_column};
use crate::store::cases::{CaseChange, FoundCase};
use crate::store::message::MessageRecord;
use crate::store::outbox::{BounceMark, BouncedRow, OutboxStatus};

impl Store {
    /// The outbox row whose Message-ID is `message_id` (with or without angle brackets).
    pub async fn outbox_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<BouncedRow>, StoreError> {
        let bare = message_id.trim().trim_start_matches('<').trim_end_matches('>');
        let row = sqlx::query(
            "SELECT id, case_id, kind, to_addr, subject, status, created_at, sent_at FROM outbox \
             WHERE message_id = $1",
        )
        .bind(format!("<{bare}>"))
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(BouncedRow {
            id: row.try_get("id")?,
            case_id: row.try_get("case_id")?,
            kind: kind_column(&row, "kind")?,
            to_addr: row.try_get("to_addr")?,
            subject: row.try_get("subject")?,
            status: status_column(&row, "status")?,
            created_at: instant_column(&row, "created_at")?,
            sent_at: optional_instant_column(&row, "sent_at")?,
        }))
    }

    /// A bounce on its case, in one transaction: the case's change (its history note and the
    /// agent's notice), the bounce itself as a message of the case, and, for a failed delivery
    /// (`mark`), the row `rebotado` with the remote diagnostic. [`StoreError::Conflict`] when the
    /// case changed since it was read.
    pub async fn record_bounce(
        &self,
        raw_id: i64,
        found: &FoundCase,
        message: &MessageRecord<'_>,
        change: &CaseChange<'_>,
        mark: Option<BounceMark<'_>>,
        reply_cap: u32,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let known = Asked::new(raw_id, &change.drafts, reply_cap).read(&mut tx).await?;
        update_case(&mut tx, found, change).await?;
        write_message_and_effects(
            &mut tx,
            found.id,
            raw_id,
            message,
            change.transition,
            change.drafts.clone(),
            &known,
        )
        .await?;
        if let Some(mark) = mark {
            sqlx::query(
                "UPDATE outbox SET status = $1, bounced_at = $2, bounce_recipient = $3, \
                 bounce_status = $4, bounce_diagnostic = $5 WHERE id = $6",
            )
            .bind(OutboxStatus::Rebotado.as_str())
            .bind(now_text())
            .bind(mark.recipient)
            .bind(mark.status)
            .bind(mark.diagnostic)
            .bind(mark.outbox_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
