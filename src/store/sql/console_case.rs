//! The SQL of [`crate::store::console_case`]: the console's case page.

use sqlx::Row;

use super::{Store, StoreError};
use crate::store::console_case::{CaseTimeline, StoredAttachment};

impl Store {
    /// The timeline and documents of case `case_id` (see [`CaseTimeline`]), oldest first.
    pub async fn case_timeline(&self, case_id: i64) -> Result<CaseTimeline, StoreError> {
        let mut conn = self.reader().await?;
        Ok(CaseTimeline {
            messages: sqlx::query_as(
                "SELECT id, direction, from_addr, subject, own_words, auto_generated, \
                 attachment_problems, created_at FROM case_messages WHERE case_id = $1 ORDER BY id",
            )
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?,
            attachments: sqlx::query_as(
                "SELECT a.id, a.case_message_id, a.source, a.content_type, a.size_bytes \
                 FROM attachments a JOIN case_messages m ON m.id = a.case_message_id \
                 WHERE m.case_id = $1 ORDER BY a.id",
            )
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?,
            actions: sqlx::query_as(
                "SELECT actor, via, level, command, argument, text, refused, created_at \
                 FROM case_actions WHERE case_id = $1 ORDER BY id",
            )
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?,
            mails: sqlx::query_as(
                "SELECT kind, to_addr, subject, status, created_at, sent_at, last_error \
                 FROM outbox WHERE case_id = $1 ORDER BY id",
            )
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?,
            documents: sqlx::query_as(
                "SELECT id, kind, number, uuid, uuid_scheme, environment, supplier_nit, customer_nit, \
                 response_code, referenced_uuid, source FROM documents WHERE case_id = $1 ORDER BY id",
            )
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?,
            rejections: sqlx::query_as(
                "SELECT document_id, code, description FROM rejections WHERE case_id = $1 ORDER BY id",
            )
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?,
            breaches: sqlx::query_as(
                "SELECT level, target, due_at, detected_at FROM sla_breaches WHERE case_id = $1 \
                 ORDER BY id",
            )
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?,
        })
    }

    /// The `index`-th attachment (0-based, in stored order) of message `message_id` of case
    /// `case_id`, with its raw message; `None` when the case has no such message or attachment.
    pub async fn case_attachment(
        &self,
        case_id: i64,
        message_id: i64,
        index: usize,
    ) -> Result<Option<StoredAttachment>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.source, a.content_type, a.sha256, m.raw_message_id FROM attachments a \
             JOIN case_messages m ON m.id = a.case_message_id \
             WHERE m.case_id = $1 AND m.id = $2 ORDER BY a.id",
        )
        .bind(case_id)
        .bind(message_id)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        let Some(row) = rows.get(index) else { return Ok(None) };
        let raw_id: Option<i64> = row.try_get("raw_message_id")?;
        let raw = match raw_id {
            Some(raw_id) => sqlx::query_scalar("SELECT raw FROM raw_bodies WHERE raw_message_id = $1")
                .bind(raw_id)
                .fetch_optional(&mut *self.reader().await?)
                .await?,
            None => None,
        };
        Ok(Some(StoredAttachment {
            source: row.try_get("source")?,
            content_type: row.try_get("content_type")?,
            sha256: row.try_get("sha256")?,
            index,
            raw,
        }))
    }
}
