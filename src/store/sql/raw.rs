//! The SQL of [`crate::store::raw`]: raw messages: storing, dedupe, attempts and quarantine.
//! Written once against the backend aliases of its parent (`super::{DB, Row, Tx}`), so each backend
//! that mounts it compiles the same text.

use crate::store::raw::*;

use sqlx::Row as _;

use super::dedupe::Keyed;
use super::{DB, Row, Store, StoreError, Tx, now_text};

impl Store {
    /// Stores the bytes of a message unless it is already known; commits before returning. Its
    /// processing is not started: [`Store::begin_attempt`] counts each start.
    pub async fn store_raw(
        &self,
        origin: &Origin,
        message_id: Option<&str>,
        raw: &[u8],
    ) -> Result<Stored, StoreError> {
        let stored = self.store_batch(&[IncomingRaw { origin, message_id, raw }], None, 0).await?;
        stored
            .into_iter()
            .next()
            .ok_or(StoreError::Corrupt { what: "raw_messages", detail: "lote vacío".into() })
    }

    /// Stores a batch to be processed straight away (an IMAP fetch, a list of files), and with
    /// it how far the buzón's reading has gone: after the commit the server may be told, and a
    /// crash loses nothing. One transaction: one commit, one sync to disk; a message repeated
    /// inside the batch is a duplicate of the first. The first start of each new message's processing is counted in the
    /// same commit, as [`Store::begin_attempt`] would count it: a process that dies before or
    /// during the analyses has used one of each message's starts, as when the starts were
    /// counted in a commit of their own right after this one.
    pub async fn store_fetched(
        &self,
        batch: &[IncomingRaw<'_>],
        progress: Option<BuzonProgress<'_>>,
    ) -> Result<Vec<Stored>, StoreError> {
        self.store_batch(batch, progress, 1).await
    }

    async fn store_batch(
        &self,
        batch: &[IncomingRaw<'_>],
        progress: Option<BuzonProgress<'_>>,
        starts: i64,
    ) -> Result<Vec<Stored>, StoreError> {
        // Hashing a large message takes milliseconds: done before the write lock is taken, so
        // that the other buzones' writers do not wait for it.
        let keyed: Vec<Keyed<'_>> = batch
            .iter()
            .map(|incoming| Keyed {
                incoming: *incoming,
                sha: sha256_hex(incoming.raw),
                key: content_key(incoming.raw),
            })
            .collect();
        let mut tx = self.write_tx().await?;
        if let Some(fence) = progress.as_ref().and_then(|p| p.fence.as_ref()) {
            super::leases::check_fence(&mut tx, fence).await?;
        }
        let stored = super::dedupe::store_all(&mut tx, &keyed, starts).await?;
        if let Some(progress) = progress {
            save_progress(&mut tx, progress).await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// UIDVALIDITY and last UID stored for a buzón.
    pub async fn buzon_progress(&self, buzon: &str) -> Result<Option<(u32, u32)>, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT uidvalidity, last_uid FROM buzon_state WHERE buzon = $1")
                .bind(buzon)
                .fetch_optional(&mut *self.reader().await?)
                .await?;
        Ok(row.map(|(validity, uid)| {
            (u32::try_from(validity).unwrap_or(0), u32::try_from(uid).unwrap_or(0))
        }))
    }

    /// Records a new UIDVALIDITY (the mailbox was recreated): reading starts over from UID 0 and
    /// Message-ID + content dedupe keeps what was already stored from being stored twice.
    pub async fn reset_progress(&self, buzon: &str, uidvalidity: u32) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        save_progress(&mut tx, BuzonProgress { buzon, uidvalidity, last_uid: 0, fence: None })
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Which of these UIDs of a buzón (under this UIDVALIDITY) are already stored.
    pub async fn stored_uids(
        &self,
        buzon: &str,
        uidvalidity: u32,
        uids: &[u32],
    ) -> Result<Vec<u32>, StoreError> {
        let mut known = Vec::new();
        for chunk in uids.chunks(500) {
            let mut query =
                sqlx::QueryBuilder::<DB>::new("SELECT uid FROM raw_messages WHERE buzon = ");
            query
                .push_bind(buzon)
                .push(" AND uidvalidity = ")
                .push_bind(i64::from(uidvalidity))
                .push(" AND uid IN (");
            let mut list = query.separated(", ");
            for uid in chunk {
                list.push_bind(i64::from(*uid));
            }
            query.push(")");
            let rows: Vec<(i64,)> = query.build_query_as().fetch_all(&mut *self.reader().await?).await?;
            known.extend(rows.into_iter().filter_map(|(uid,)| u32::try_from(uid).ok()));
        }
        known.sort_unstable();
        Ok(known)
    }

    /// Raw messages stored but not yet processed (a crash between storing and processing).
    pub async fn pending_raw(&self) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM raw_messages WHERE status = $1 ORDER BY id")
            .bind(RawStatus::Pendiente.as_str())
            .fetch_all(&mut *self.reader().await?)
            .await?)
    }

    /// Pending raw messages of one buzón (each watcher retries only its own).
    pub async fn pending_raw_of(&self, buzon: &str) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM raw_messages WHERE status = $1 AND buzon = $2 ORDER BY id",
        )
        .bind(RawStatus::Pendiente.as_str())
        .bind(buzon)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }

    /// The bytes and origin of a stored message.
    pub async fn raw_message(&self, id: i64) -> Result<Option<(Origin, Vec<u8>)>, StoreError> {
        let row = sqlx::query(
            "SELECT m.buzon, m.uidvalidity, m.uid, m.declared_size, b.raw FROM raw_messages m \
                 JOIN raw_bodies b ON b.raw_message_id = m.id WHERE m.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let origin = Origin {
            buzon: row.try_get("buzon")?,
            uidvalidity: row
                .try_get::<Option<i64>, _>("uidvalidity")?
                .and_then(|v| u32::try_from(v).ok()),
            uid: row.try_get::<Option<i64>, _>("uid")?.and_then(|v| u32::try_from(v).ok()),
            declared_size: row
                .try_get::<Option<i64>, _>("declared_size")?
                .and_then(|v| u64::try_from(v).ok()),
        };
        Ok(Some((origin, row.try_get("raw")?)))
    }

    /// Counts one more start of processing for a pending message and commits it before the
    /// analysis runs; returns how many starts there were before this one. `None` when the
    /// message is no longer pending (processed meanwhile by someone else).
    pub async fn begin_attempt(&self, id: i64) -> Result<Option<u32>, StoreError> {
        let before: Option<i64> = sqlx::query_scalar(
            "UPDATE raw_messages SET attempts = attempts + 1 WHERE id = $1 AND status = $2 \
             RETURNING attempts - 1",
        )
        .bind(id)
        .bind(RawStatus::Pendiente.as_str())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(before.map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    /// Takes back the start counted by [`Store::begin_attempt`] when processing stopped on a
    /// passing store error (a full disk, a lock): that was the desk's failure, not the message's.
    pub async fn undo_attempt(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE raw_messages SET attempts = attempts - 1 \
             WHERE id = $1 AND status = $2 AND attempts > 0",
        )
        .bind(id)
        .bind(RawStatus::Pendiente.as_str())
        .execute(&mut *self.reader().await?)
        .await?;
        Ok(())
    }

    /// Marks a raw message quarantined (unreadable) or ignored, with the reason for operators.
    pub async fn set_raw_status(
        &self,
        id: i64,
        status: RawStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        // Only a message still waiting changes fate: one processed meanwhile keeps its result.
        sqlx::query(
            "UPDATE raw_messages SET status = $1, status_reason = $2, processed_at = $3 \
             WHERE id = $4 AND status = $5",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(now_text())
        .bind(id)
        .bind(RawStatus::Pendiente.as_str())
        .execute(&mut *self.reader().await?)
        .await?;
        Ok(())
    }

    /// Quarantined messages; with `include_ignored`, also machine mail that belonged to no case.
    pub async fn held_messages(
        &self,
        include_ignored: bool,
    ) -> Result<Vec<QuarantineEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, buzon, received_at, size_bytes, status, status_reason FROM raw_messages \
             WHERE status = $1 OR ($2 = 1 AND status = $3) ORDER BY id",
        )
        .bind(RawStatus::Cuarentena.as_str())
        .bind(i64::from(include_ignored))
        .bind(RawStatus::Ignorado.as_str())
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(QuarantineEntry {
                    id: row.try_get("id")?,
                    buzon: row.try_get("buzon")?,
                    received_at: row.try_get("received_at")?,
                    size_bytes: row.try_get("size_bytes")?,
                    status: row.try_get("status")?,
                    reason: row.try_get::<Option<String>, _>("status_reason")?.unwrap_or_default(),
                })
            })
            .collect()
    }

    pub async fn quarantine_list(&self) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.held_messages(false).await
    }

    /// The messages discarded by an operator (`quarantine list --descartados`).
    pub async fn discarded_messages(&self) -> Result<Vec<QuarantineEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, buzon, received_at, size_bytes, status, status_reason FROM raw_messages              WHERE status = $1 ORDER BY id",
        )
        .bind(RawStatus::Descartado.as_str())
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter().map(quarantine_entry_of).collect()
    }

    /// A held message with its bytes, for `quarantine show`: quarantined, ignored or discarded,
    /// or taken out of quarantine by an operator (then its history says how).
    pub async fn quarantine_entry(
        &self,
        id: i64,
    ) -> Result<Option<(QuarantineEntry, Vec<u8>)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, buzon, received_at, size_bytes, status, status_reason FROM raw_messages              WHERE id = $1 AND (status IN ($2, $3, $4)              OR EXISTS (SELECT 1 FROM raw_actions a WHERE a.raw_message_id = raw_messages.id))",
        )
        .bind(id)
        .bind(RawStatus::Cuarentena.as_str())
        .bind(RawStatus::Ignorado.as_str())
        .bind(RawStatus::Descartado.as_str())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        let Some(entry) = row.as_ref().map(quarantine_entry_of).transpose()? else {
            return Ok(None);
        };
        let bytes = self.raw_message(id).await?.map(|(_, raw)| raw).unwrap_or_default();
        Ok(Some((entry, bytes)))
    }

    /// Puts a quarantined message back in the queue (`pendiente`, attempts cleared) for the
    /// pipeline to run it again; its origin and bytes, or why it cannot be taken.
    pub async fn requeue_quarantined(
        &self,
        id: i64,
    ) -> Result<Result<(Origin, Vec<u8>), NotHeld>, StoreError> {
        let mut tx = self.write_tx().await?;
        if let Err(not_held) = held_in_quarantine(&mut tx, id).await? {
            return Ok(Err(not_held));
        }
        sqlx::query(
            "UPDATE raw_messages SET status = $1, status_reason = NULL, processed_at = NULL,              attempts = 0 WHERE id = $2 AND status = $3",
        )
        .bind(RawStatus::Pendiente.as_str())
        .bind(id)
        .bind(RawStatus::Cuarentena.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        match self.raw_message(id).await? {
            Some(found) => Ok(Ok(found)),
            None => Ok(Err(NotHeld::Unknown)),
        }
    }

    /// Takes a quarantined message out of the flow for good, with the operator's reason, and
    /// records it; its bytes stay until purge.
    pub async fn discard_quarantined(
        &self,
        id: i64,
        actor: &str,
        reason: &str,
    ) -> Result<Result<(), NotHeld>, StoreError> {
        let mut tx = self.write_tx().await?;
        if let Err(not_held) = held_in_quarantine(&mut tx, id).await? {
            return Ok(Err(not_held));
        }
        sqlx::query(
            "UPDATE raw_messages SET status = $1, status_reason = $2, processed_at = $3              WHERE id = $4 AND status = $5",
        )
        .bind(RawStatus::Descartado.as_str())
        .bind(format!("descartado por {actor}: {reason}"))
        .bind(now_text())
        .bind(id)
        .bind(RawStatus::Cuarentena.as_str())
        .execute(&mut *tx)
        .await?;
        insert_raw_action(&mut tx, id, "descartar", actor, Some(reason), "descartado").await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Records what an operator's action on a quarantined message came to.
    pub async fn record_raw_action(
        &self,
        id: i64,
        action: &str,
        actor: &str,
        reason: Option<&str>,
        result: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        insert_raw_action(&mut tx, id, action, actor, reason, result).await?;
        tx.commit().await?;
        Ok(())
    }

    /// What operators did to a raw message, oldest first.
    pub async fn raw_actions(&self, id: i64) -> Result<Vec<QuarantineAction>, StoreError> {
        let rows = sqlx::query(
            "SELECT action, actor, reason, result, created_at FROM raw_actions WHERE raw_message_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(QuarantineAction {
                    action: row.try_get("action")?,
                    actor: row.try_get("actor")?,
                    reason: row.try_get("reason")?,
                    result: row.try_get("result")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }
}

fn quarantine_entry_of(row: &Row) -> Result<QuarantineEntry, StoreError> {
    Ok(QuarantineEntry {
        id: row.try_get("id")?,
        buzon: row.try_get("buzon")?,
        received_at: row.try_get("received_at")?,
        size_bytes: row.try_get("size_bytes")?,
        status: row.try_get("status")?,
        reason: row.try_get::<Option<String>, _>("status_reason")?.unwrap_or_default(),
    })
}

/// Whether raw message `id` is in quarantine now (read in the writing transaction).
async fn held_in_quarantine(tx: &mut Tx<'_>, id: i64) -> Result<Result<(), NotHeld>, StoreError> {
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM raw_messages WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match status {
        None => Err(NotHeld::Unknown),
        Some(status) if status == RawStatus::Cuarentena.as_str() => Ok(()),
        Some(status) => Err(NotHeld::Status(status)),
    })
}

async fn insert_raw_action(
    tx: &mut Tx<'_>,
    id: i64,
    action: &str,
    actor: &str,
    reason: Option<&str>,
    result: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO raw_actions (raw_message_id, action, actor, reason, result, created_at)          VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(action)
    .bind(actor)
    .bind(reason)
    .bind(result)
    .bind(now_text())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn save_progress(tx: &mut Tx<'_>, progress: BuzonProgress<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO buzon_state (buzon, uidvalidity, last_uid, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (buzon) DO UPDATE SET uidvalidity = excluded.uidvalidity, \
         last_uid = CASE WHEN buzon_state.uidvalidity = excluded.uidvalidity \
                         AND buzon_state.last_uid > excluded.last_uid THEN buzon_state.last_uid \
                         ELSE excluded.last_uid END, \
         updated_at = excluded.updated_at",
    )
    .bind(progress.buzon)
    .bind(i64::from(progress.uidvalidity))
    .bind(i64::from(progress.last_uid))
    .bind(now_text())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
