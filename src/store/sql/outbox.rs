//! The SQL of [`crate::store::outbox`]: the outbox: queueing, due mail, marks and digests. Written
//! once against the backend aliases of its parent (`super::{DB, Row, Tx}`), so each backend that
//! mounts it compiles the same text.

use crate::store::outbox::*;
use sqlx::{QueryBuilder, Row as _};

use super::{DB, Row, Store, StoreError, Tx, instant_column, now_text, optional_instant_column};
use crate::desk::case::ReplyKind;
use chrono::{DateTime, Duration, Utc};

/// The `kind` column as the desk's enum.
pub(super) fn kind_column(row: &Row, column: &str) -> Result<ReplyKind, sqlx::Error> {
    let name: String = row.try_get(column)?;
    ReplyKind::parse(&name).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: Box::new(UnknownKind(name)),
    })
}

/// The `status` column as [`OutboxStatus`].
pub(super) fn status_column(row: &Row, column: &str) -> Result<OutboxStatus, sqlx::Error> {
    let name: String = row.try_get(column)?;
    OutboxStatus::read(&name)
        .map_err(|e| sqlx::Error::ColumnDecode { index: column.to_string(), source: Box::new(e) })
}

impl<'r> sqlx::FromRow<'r, Row> for OutboxItem {
    fn from_row(row: &'r Row) -> Result<OutboxItem, sqlx::Error> {
        Ok(OutboxItem {
            id: row.try_get("id")?,
            case_number: row.try_get("case_number")?,
            kind: kind_column(row, "kind")?,
            buzon: row.try_get("buzon")?,
            to_addr: row.try_get("to_addr")?,
            subject: row.try_get("subject")?,
            message_id: row.try_get("message_id")?,
            in_reply_to: row.try_get("in_reply_to")?,
            refs: row.try_get("refs")?,
            context: row.try_get("context")?,
            status: status_column(row, "status")?,
            attempts: row.try_get("attempts")?,
            next_attempt_at: instant_column(row, "next_attempt_at")?,
            last_error: row.try_get("last_error")?,
            created_at: instant_column(row, "created_at")?,
            sent_at: optional_instant_column(row, "sent_at")?,
            digest_id: row.try_get("digest_id")?,
            bounce: bounce_columns(row)?,
        })
    }
}

/// The bounce columns (migration 0013), when the row ever bounced.
fn bounce_columns(row: &Row) -> Result<Option<OutboxBounce>, sqlx::Error> {
    let Some(at) = optional_instant_column(row, "bounced_at")? else { return Ok(None) };
    Ok(Some(OutboxBounce {
        at,
        recipient: row.try_get("bounce_recipient")?,
        status: row.try_get("bounce_status")?,
        diagnostic: row.try_get("bounce_diagnostic")?,
    }))
}

/// One row as an item, or as the reason it cannot be one (the row's id still read).
fn item_or_unreadable(row: &Row) -> Result<Result<OutboxItem, UnreadableRow>, StoreError> {
    let id: i64 = row.try_get("id")?;
    Ok(<OutboxItem as sqlx::FromRow<_>>::from_row(row).map_err(|error| UnreadableRow { id, error }))
}

const ITEM_COLUMNS: &str = "o.id, c.number AS case_number, o.kind, o.buzon, o.to_addr, o.subject, o.message_id, \
     o.in_reply_to, o.refs, o.context, o.status, o.attempts, o.next_attempt_at, o.last_error, o.created_at, o.sent_at, \
     o.digest_id, o.bounced_at, o.bounce_recipient, o.bounce_status, o.bounce_diagnostic";

impl Store {
    /// Rows due now for these buzones, oldest first; each read on its own, so that one this
    /// version cannot read does not hold back the others.
    pub async fn due_outbox(
        &self,
        buzones: &[String],
        limit: i64,
    ) -> Result<Vec<Result<OutboxItem, UnreadableRow>>, StoreError> {
        if buzones.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<DB>::new(format!(
            "SELECT {ITEM_COLUMNS} FROM outbox o JOIN cases c ON c.id = o.case_id \
             WHERE o.status IN ('pendiente', 'fallo_temporal') AND o.digest_id IS NULL \
             AND o.next_attempt_at <= "
        ));
        query.push_bind(now_text()).push(" AND o.buzon IN (");
        let mut list = query.separated(", ");
        for buzon in buzones {
            list.push_bind(buzon);
        }
        query.push(") ORDER BY o.next_attempt_at, o.id LIMIT ").push_bind(limit);
        let rows = query.build().fetch_all(&mut *self.reader().await?).await?;
        rows.iter().map(item_or_unreadable).collect()
    }

    /// When the next row of these buzones falls due, if any waits.
    pub async fn next_outbox_due(
        &self,
        buzones: &[String],
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        if buzones.is_empty() {
            return Ok(None);
        }
        let mut query = QueryBuilder::<DB>::new(
            "SELECT MIN(next_attempt_at) AS next FROM outbox WHERE status IN ('pendiente', 'fallo_temporal') \
             AND digest_id IS NULL AND buzon IN (",
        );
        let mut list = query.separated(", ");
        for buzon in buzones {
            list.push_bind(buzon);
        }
        query.push(")");
        let row = query.build().fetch_one(&mut *self.reader().await?).await?;
        Ok(optional_instant_column(&row, "next")?)
    }

    /// A row was sent (a digest: with the notifications it carries).
    pub async fn mark_sent(&self, id: i64, server_reply: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET status = $1, sent_at = $2, attempts = attempts + 1, last_error = $3 \
             WHERE (id = $4 OR digest_id = $4) AND status <> 'rebotado'",
        )
        .bind(OutboxStatus::Enviado.as_str())
        .bind(now_text())
        .bind(server_reply)
        .bind(id)
        .execute(&mut *self.reader().await?)
        .await?;
        Ok(())
    }

    /// A transient failure: try again at `next_attempt_at`.
    pub async fn mark_retry(
        &self,
        id: i64,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET status = $1, next_attempt_at = $2, attempts = attempts + 1, last_error = $3 \
             WHERE (id = $4 OR digest_id = $4) AND status <> 'rebotado'",
        )
        .bind(OutboxStatus::FalloTemporal.as_str())
        .bind(timestamp(next_attempt_at))
        .bind(error)
        .bind(id)
        .execute(&mut *self.reader().await?)
        .await?;
        Ok(())
    }

    /// A permanent failure (5xx, a broken template) or a transient one past the retry horizon.
    pub async fn mark_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET status = $1, attempts = attempts + 1, last_error = $2 \
             WHERE (id = $3 OR digest_id = $3) AND status <> 'rebotado'",
        )
        .bind(OutboxStatus::FalloPermanente.as_str())
        .bind(error)
        .bind(id)
        .execute(&mut *self.reader().await?)
        .await?;
        Ok(())
    }

    /// `outbox list`: every row, or those with one status, newest last.
    /// `outbox list`: every row, each read on its own, so that the operator sent to look at an
    /// unreadable row still sees the queue (and that row, as unreadable).
    pub async fn list_outbox(
        &self,
        wanted: Option<OutboxStatus>,
    ) -> Result<Vec<Result<OutboxItem, UnreadableRow>>, StoreError> {
        // The only interpolation is the constant column list.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ITEM_COLUMNS} FROM outbox o JOIN cases c ON c.id = o.case_id \
             WHERE ($1 IS NULL OR o.status = $1) ORDER BY o.id"
        )))
        .bind(wanted.map(OutboxStatus::as_str))
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter().map(item_or_unreadable).collect()
    }

    pub async fn outbox_item(
        &self,
        id: i64,
    ) -> Result<Option<Result<OutboxItem, UnreadableRow>>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ITEM_COLUMNS} FROM outbox o JOIN cases c ON c.id = o.case_id WHERE o.id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        row.as_ref().map(item_or_unreadable).transpose()
    }

    /// `outbox retry`: a failed (or waiting) row is due again now. `false` when it was sent.
    pub async fn retry_outbox(&self, id: i64) -> Result<bool, StoreError> {
        // A purged case's mail lost its context (the requester's words): resending it would
        // send an empty message.
        let updated = sqlx::query(
            "UPDATE outbox SET status = $1, next_attempt_at = $2 WHERE id = $3 AND status <> $4 \
             AND digest_id IS NULL AND context <> '{}' \
             AND case_id NOT IN (SELECT id FROM cases WHERE purged_at IS NOT NULL)",
        )
        .bind(OutboxStatus::Pendiente.as_str())
        .bind(now_text())
        .bind(id)
        .bind(OutboxStatus::Enviado.as_str())
        .execute(&mut *self.reader().await?)
        .await?;
        Ok(updated.rows_affected() > 0)
    }
}

const NOTIFICATION: ReplyKind = ReplyKind::NotificacionAgente;
const DIGEST: ReplyKind = ReplyKind::ResumenNotificaciones;

impl Store {
    /// Whether a due agent notification goes alone or in a digest. The first `more_than`
    /// notifications to an agent within a minute go alone, as always: an agent works a case by
    /// replying to its own notification, and a normal burst must not take that away. Those past
    /// them are folded into a digest, at most one per agent and minute (what arrives meanwhile is
    /// held until the next one is due).
    pub async fn digest_plan(
        &self,
        item: &OutboxItem,
        more_than: u32,
    ) -> Result<DigestPlan, StoreError> {
        let mut tx = self.write_tx().await?;
        let waiting: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM outbox WHERE id = $1 AND digest_id IS NULL \
             AND status IN ('pendiente', 'fallo_temporal')",
        )
        .bind(item.id)
        .fetch_optional(&mut *tx)
        .await?;
        if waiting.is_none() {
            return Ok(DigestPlan::Later);
        }
        let minute_ago = timestamp(Utc::now() - Duration::minutes(1));
        let window_start = timestamp(item.created_at - Duration::minutes(1));
        let earlier: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE to_addr = $1 AND kind = $2 AND created_at >= $3 \
             AND id < $4",
        )
        .bind(&item.to_addr)
        .bind(NOTIFICATION.as_str())
        .bind(&window_start)
        .bind(item.id)
        .fetch_one(&mut *tx)
        .await?;
        if earlier < i64::from(more_than) {
            return Ok(DigestPlan::Alone);
        }
        let last_digest: Option<String> = sqlx::query_scalar(
            "SELECT MAX(created_at) FROM outbox WHERE to_addr = $1 AND kind = $2",
        )
        .bind(&item.to_addr)
        .bind(DIGEST.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if let Some(next) = last_digest.filter(|last| *last >= minute_ago).and_then(|last| {
            DateTime::parse_from_rfc3339(&last)
                .ok()
                .map(|at| timestamp(at.with_timezone(&Utc) + Duration::minutes(1)))
        }) {
            hold_until(&mut tx, &item.to_addr, &next).await?;
            tx.commit().await?;
            return Ok(DigestPlan::Later);
        }
        let rows: Vec<OutboxItem> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ITEM_COLUMNS} FROM outbox o JOIN cases c ON c.id = o.case_id \
             WHERE o.to_addr = $1 AND o.buzon = $2 AND o.kind = $3 AND o.digest_id IS NULL \
             AND o.status IN ('pendiente', 'fallo_temporal') AND o.id >= $4 ORDER BY o.id"
        )))
        .bind(&item.to_addr)
        .bind(&item.buzon)
        .bind(NOTIFICATION.as_str())
        .bind(item.id)
        .fetch_all(&mut *tx)
        .await?;
        Ok(if rows.len() < 2 { DigestPlan::Alone } else { DigestPlan::Gather(rows) })
    }

    /// Queues a digest and ties the notifications it lists to it, in one transaction: from then
    /// on they are sent (or fail) with it and never alone. `None`, and nothing written, when one
    /// of them is no longer waiting.
    pub async fn queue_digest(
        &self,
        draft: &OutboxDraft,
        covered: &[i64],
    ) -> Result<Option<i64>, StoreError> {
        let Some(newest) = covered.iter().max() else { return Ok(None) };
        let mut tx = self.write_tx().await?;
        let case_id: i64 = sqlx::query_scalar("SELECT case_id FROM outbox WHERE id = $1")
            .bind(newest)
            .fetch_one(&mut *tx)
            .await?;
        super::cases::insert_outbox(&mut tx, case_id, std::slice::from_ref(draft)).await?;
        let digest_id: i64 = sqlx::query_scalar("SELECT id FROM outbox WHERE message_id = $1")
            .bind(&draft.message_id)
            .fetch_one(&mut *tx)
            .await?;
        let mut tie = QueryBuilder::<DB>::new("UPDATE outbox SET digest_id = ");
        tie.push_bind(digest_id).push(
            " WHERE digest_id IS NULL AND status IN ('pendiente', 'fallo_temporal') AND id IN (",
        );
        let mut list = tie.separated(", ");
        for id in covered {
            list.push_bind(id);
        }
        tie.push(")");
        let tied = tie.build().execute(&mut *tx).await?.rows_affected();
        if tied != covered.len() as u64 {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(digest_id))
    }
}

/// Holds an agent's waiting notifications until their next digest may go.
async fn hold_until(tx: &mut Tx<'_>, to_addr: &str, next: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET next_attempt_at = $1 WHERE to_addr = $2 AND kind = $3 \
         AND digest_id IS NULL AND status IN ('pendiente', 'fallo_temporal') AND next_attempt_at < $1",
    )
    .bind(next)
    .bind(to_addr)
    .bind(NOTIFICATION.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
