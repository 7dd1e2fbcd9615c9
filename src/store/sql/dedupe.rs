//! Storing a batch of raw messages with two round trips to the driver instead of two per
//! message: what the database already holds is looked up for the whole batch in one query, each
//! message is then decided in order, as if the batch were stored one message at a time (a message
//! repeated inside the batch is a duplicate of the first), and the new rows go in one multi-row
//! INSERT.

use sqlx::QueryBuilder;

use crate::store::raw::{IncomingRaw, Origin, RawStatus, Stored, content_key};

use super::writes::Writes;
use super::{DB, StoreError, Tx, now_text};

/// The bodies of a batch go to the database in calls of about this many bytes: each body is
/// copied into its statement, and the copies held at once are bounded.
const BODIES_PER_CALL_BYTES: usize = 8 << 20;

/// Messages per lookup query and rows per INSERT: well under both backends' limits on
/// parameters (5 and 12 per message).
const MESSAGES_PER_STATEMENT: usize = 64;

/// A message of the batch with its keys, computed before the write lock is taken.
pub(super) struct Keyed<'a> {
    pub incoming: IncomingRaw<'a>,
    /// SHA-256 of the bytes.
    pub sha: String,
    /// [`content_key`]: what the author sent.
    pub key: String,
}

/// What the database held, before this batch, that a message may be the same as.
#[derive(Default)]
struct Found {
    /// The row with its IMAP UID (buzón, UIDVALIDITY, UID are unique).
    same_uid: Option<i64>,
    /// The first row with its bytes that is not itself a duplicate.
    same_bytes: Option<i64>,
    /// The rows with its Message-ID that are not duplicates, by id, with their content keys.
    same_message_id: Vec<(i64, Option<String>)>,
}

/// A row: one already stored, or the row of an earlier message of this batch.
#[derive(Clone, Copy)]
enum Row {
    Stored(i64),
    Batch(usize),
}

/// What storing a message comes to.
#[derive(Clone, Copy)]
enum Verdict {
    /// The same message (same UID or same bytes): nothing is kept.
    Same(Row),
    /// The same message with other bytes (e.g. the copy sent to the other buzón): kept as a
    /// duplicate row.
    OtherCopy(Row),
    New,
}

/// Stores the batch in `tx`, rows and bodies. The new rows get `starts` as their starts of
/// processing already counted.
pub(super) async fn store_all(
    tx: &mut Tx<'_>,
    batch: &[Keyed<'_>],
    starts: i64,
) -> Result<Vec<Stored>, StoreError> {
    let found = look_up(tx, batch).await?;
    let mut verdicts = Vec::with_capacity(batch.len());
    for (index, (message, found)) in batch.iter().zip(found).enumerate() {
        let earlier = &batch[..index];
        verdicts.push(decide(tx, message, found, earlier, &verdicts).await?);
    }
    let mut ids: Vec<Option<i64>> = vec![None; batch.len()];
    insert_new(tx, batch, &verdicts, starts, &mut ids).await?;
    let id_of = |ids: &[Option<i64>], row: Row| match row {
        Row::Stored(id) => Some(id),
        Row::Batch(index) => ids[index],
    };
    let mut stored = Vec::with_capacity(batch.len());
    let mut bodies = Writes::default();
    let mut body_bytes = 0;
    for (index, (message, verdict)) in batch.iter().zip(&verdicts).enumerate() {
        let (id, outcome) = match *verdict {
            Verdict::Same(row) => {
                stored.push(Stored::Duplicate { of: id_of(&ids, row).ok_or_else(lost_row)? });
                continue;
            }
            Verdict::OtherCopy(row) => {
                let of = id_of(&ids, row).ok_or_else(lost_row)?;
                let id = insert_copy(tx, message, of).await?;
                (id, Stored::Duplicate { of })
            }
            Verdict::New => {
                let id = ids[index].ok_or_else(lost_row)?;
                (id, Stored::New(id))
            }
        };
        ids[index] = Some(id);
        stored.push(outcome);
        let raw = message.incoming.raw;
        bodies.insert("INSERT INTO raw_bodies (raw_message_id, raw) VALUES (", 1)
            .push_bind(id)
            .push(", ")
            .push_bind(raw)
            .push(")");
        body_bytes += raw.len();
        if body_bytes >= BODIES_PER_CALL_BYTES {
            std::mem::take(&mut bodies).run(tx).await?;
            body_bytes = 0;
        }
    }
    bodies.run(tx).await?;
    Ok(stored)
}

fn lost_row() -> StoreError {
    StoreError::Corrupt { what: "raw_messages", detail: "una fila insertada no volvió".into() }
}

/// The three ways each message can be the same as a stored one, for the whole batch, in the
/// order they count: its UID, its bytes, its Message-ID.
async fn look_up(tx: &mut Tx<'_>, batch: &[Keyed<'_>]) -> Result<Vec<Found>, StoreError> {
    let mut found: Vec<Found> = batch.iter().map(|_| Found::default()).collect();
    for (chunk_index, chunk) in batch.chunks(MESSAGES_PER_STATEMENT).enumerate() {
        let first = chunk_index * MESSAGES_PER_STATEMENT;
        let mut query = QueryBuilder::<DB>::new("");
        for (offset, message) in chunk.iter().enumerate() {
            let index = first + offset;
            let select = |way: u8| {
                format!("SELECT CAST({index} AS BIGINT), CAST({way} AS BIGINT), id, content_key FROM ")
            };
            // Every message has bytes: their part opens the message's parts.
            if offset > 0 {
                query.push(" UNION ALL ");
            }
            query.push(select(2));
            query.push("(SELECT id, content_key FROM raw_messages WHERE content_sha256 = ");
            query.push_bind(message.sha.clone());
            query.push(format!(" AND duplicate_of IS NULL ORDER BY id LIMIT 1) AS same_bytes_{index}"));
            let IncomingRaw { origin, message_id, .. } = message.incoming;
            if let (Some(validity), Some(uid)) = (origin.uidvalidity, origin.uid) {
                query.push(" UNION ALL ").push(select(1));
                query.push("raw_messages WHERE buzon = ").push_bind(origin.buzon.clone());
                query.push(" AND uidvalidity = ").push_bind(i64::from(validity));
                query.push(" AND uid = ").push_bind(i64::from(uid));
            }
            if let Some(message_id) = message_id {
                query.push(" UNION ALL ").push(select(3));
                query.push("raw_messages WHERE message_id = ").push_bind(message_id.to_string());
                query.push(" AND duplicate_of IS NULL");
            }
        }
        query.push(" ORDER BY 1, 2, 3");
        let rows: Vec<(i64, i64, i64, Option<String>)> =
            query.build_query_as().fetch_all(&mut **tx).await?;
        for (message, way, id, key) in rows {
            let Some(found) = usize::try_from(message).ok().and_then(|m| found.get_mut(m)) else {
                continue;
            };
            match way {
                1 => found.same_uid = found.same_uid.or(Some(id)),
                2 => found.same_bytes = found.same_bytes.or(Some(id)),
                _ => found.same_message_id.push((id, key)),
            }
        }
    }
    Ok(found)
}

/// What storing `message` comes to, given what the database held and the batch's earlier
/// messages with what was decided for them. A stored row always comes before a row of the batch.
async fn decide(
    tx: &mut Tx<'_>,
    message: &Keyed<'_>,
    found: Found,
    earlier: &[Keyed<'_>],
    verdicts: &[Verdict],
) -> Result<Verdict, StoreError> {
    let origin = message.incoming.origin;
    let kept = || earlier.iter().zip(verdicts).enumerate();
    // Its UID: a row of any kind; then its bytes: a first copy.
    let same_uid = kept().find(|(_, (e, v))| !matches!(v, Verdict::Same(_)) && same_uid(e.incoming.origin, origin));
    if let Some(row) = found.same_uid.map(Row::Stored).or(same_uid.map(|(i, _)| Row::Batch(i))) {
        return Ok(Verdict::Same(row));
    }
    let same_bytes = kept().find(|(_, (e, v))| matches!(v, Verdict::New) && e.sha == message.sha);
    if let Some(row) = found.same_bytes.map(Row::Stored).or(same_bytes.map(|(i, _)| Row::Batch(i))) {
        return Ok(Verdict::Same(row));
    }
    // Its Message-ID with the same content. A Message-ID alone proves nothing: some mailers
    // reuse theirs.
    let Some(message_id) = message.incoming.message_id else { return Ok(Verdict::New) };
    for (id, stored_key) in found.same_message_id {
        let stored_key = match stored_key {
            Some(stored) => Some(stored),
            None => legacy_content_key(tx, id).await?,
        };
        // A row from before content keys whose body was purged cannot be compared: the old
        // rule (the Message-ID alone) stands for it.
        if stored_key.is_none_or(|stored| stored == message.key) {
            return Ok(Verdict::OtherCopy(Row::Stored(id)));
        }
    }
    let same_copy = kept().find(|(_, (e, v))| {
        matches!(v, Verdict::New) && e.incoming.message_id == Some(message_id) && e.key == message.key
    });
    Ok(same_copy.map_or(Verdict::New, |(i, _)| Verdict::OtherCopy(Row::Batch(i))))
}

/// Whether two origins name the same IMAP message (a missing UIDVALIDITY or UID names none).
fn same_uid(a: &Origin, b: &Origin) -> bool {
    a.uid.is_some() && a.uidvalidity.is_some() && (&a.buzon, a.uidvalidity, a.uid) == (&b.buzon, b.uidvalidity, b.uid)
}

/// The content key of a row stored before keys existed, from its body if still kept.
async fn legacy_content_key(tx: &mut Tx<'_>, id: i64) -> Result<Option<String>, StoreError> {
    let body: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT raw FROM raw_bodies WHERE raw_message_id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(body.map(|raw| content_key(&raw)))
}

const INSERT_RAW_MESSAGES: &str = "INSERT INTO raw_messages (buzon, uidvalidity, uid, message_id, \
     content_sha256, size_bytes, declared_size, received_at, status, duplicate_of, content_key, \
     attempts) ";

/// The new messages' rows, in multi-row INSERTs; their ids into `ids`. Two new messages never
/// share their bytes (the second would be the same as the first), so the SHA-256 tells which id
/// is whose whatever order the rows come back in.
async fn insert_new(
    tx: &mut Tx<'_>,
    batch: &[Keyed<'_>],
    verdicts: &[Verdict],
    starts: i64,
    ids: &mut [Option<i64>],
) -> Result<(), StoreError> {
    let new: Vec<usize> = (0..batch.len()).filter(|i| matches!(verdicts[*i], Verdict::New)).collect();
    let received_at = now_text();
    for chunk in new.chunks(MESSAGES_PER_STATEMENT) {
        let mut query = QueryBuilder::<DB>::new(INSERT_RAW_MESSAGES);
        query.push_values(chunk, |mut row, index| {
            let message = &batch[*index];
            push_row(&mut row, message, &received_at, RawStatus::Pendiente, None, starts);
        });
        query.push(" RETURNING id, content_sha256");
        let rows: Vec<(i64, String)> = query.build_query_as().fetch_all(&mut **tx).await?;
        for (id, sha) in rows {
            if let Some(index) = chunk.iter().find(|i| batch[**i].sha == sha) {
                ids[*index] = Some(id);
            }
        }
    }
    Ok(())
}

/// The row of a copy with other bytes, duplicate of `of` (rare: one statement each).
async fn insert_copy(tx: &mut Tx<'_>, message: &Keyed<'_>, of: i64) -> Result<i64, StoreError> {
    let mut query = QueryBuilder::<DB>::new(INSERT_RAW_MESSAGES);
    let received_at = now_text();
    query.push_values([message], |mut row, message| {
        push_row(&mut row, message, &received_at, RawStatus::Duplicado, Some(of), 0);
    });
    query.push(" RETURNING id");
    Ok(query.build_query_scalar().fetch_one(&mut **tx).await?)
}

fn push_row(
    row: &mut sqlx::query_builder::Separated<'_, DB, &'static str>,
    message: &Keyed<'_>,
    received_at: &str,
    status: RawStatus,
    duplicate_of: Option<i64>,
    attempts: i64,
) {
    let IncomingRaw { origin, message_id, raw } = message.incoming;
    row.push_bind(origin.buzon.clone())
        .push_bind(origin.uidvalidity.map(i64::from))
        .push_bind(origin.uid.map(i64::from))
        .push_bind(message_id.map(str::to_string))
        .push_bind(message.sha.clone())
        .push_bind(i64::try_from(raw.len()).unwrap_or(i64::MAX))
        .push_bind(origin.declared_size.and_then(|s| i64::try_from(s).ok()))
        .push_bind(received_at.to_string())
        .push_bind(status.as_str())
        .push_bind(duplicate_of)
        .push_bind(message.key.clone())
        .push_bind(attempts);
}
