//! The SQL of related cases (issue 14, points 5 and 6): a new case created from another
//! (`#relacionado`), a duplicate merged into the case that stays (`#fusionar`), and the open
//! cases whose documents carry the same CUFE/CUDE. Written once against the backend aliases of
//! its parent (`super::{DB, Tx}`), so each backend that mounts it compiles the same text.

use sqlx::QueryBuilder;

use super::actions::insert_action;
use super::cases::{
    claim_raw, engine_state, insert_events, insert_message, insert_outbox, next_case_number,
    update_case,
};
use super::{DB, Store, StoreError, Tx, now_text};
use crate::store::actions::{MergeMove, RelatedCase, RelatedWrite};
use crate::store::cases::CaseChange;

impl Store {
    /// `#relacionado`: the action on the parent, the new case (number, row, the agent's
    /// description as its first message, events and mail) and the parent's history, in one
    /// transaction. `write` composes both transitions once the new number is known. Returns it.
    pub async fn open_related_case(
        &self,
        related: RelatedCase<'_>,
        write: impl FnOnce(&str) -> RelatedWrite,
    ) -> Result<String, StoreError> {
        let parent = related.parent;
        let mut tx = self.write_tx().await?;
        let raw_id = related.message.as_ref().map(|m| m.raw_id);
        if let Some(message) = &related.message {
            insert_message(&mut tx, parent.id, message.raw_id, &message.message, "agente").await?;
        }
        insert_action(&mut tx, parent.id, raw_id, related.action).await?;
        let number = next_case_number(&mut tx, related.prefix, related.year).await?;
        let write = write(&number);
        let case = &write.child.case;
        let now = now_text();
        // Requester, their name, buzón and provider are the parent's.
        let child_id: i64 = sqlx::query_scalar(
            "INSERT INTO cases (number, year, status, level, tema, channel, buzon, requester, requester_name, \
             subject, security_category, group_name, agent, first_contact, engine_state, missing_requirements, \
             created_at, updated_at, level_since, provider_nit, parent_id, case_type, search_text) \
             SELECT $1, $2, $3, $4, $5, $6, p.buzon, p.requester, p.requester_name, $7, $8, $9, $10, 0, $11, '', \
             $12, $12, $12, p.provider_nit, p.id, $13, $15 FROM cases p WHERE p.id = $14 RETURNING id",
        )
        .bind(&number)
        .bind(related.year)
        .bind(case.status.as_str())
        .bind(case.level.as_str())
        .bind(case.tema.as_str())
        .bind(case.channel.as_str())
        .bind(related.subject)
        .bind(case.security_category.map(String::from))
        .bind(case.group.as_deref())
        .bind(case.agent.as_deref())
        .bind(engine_state(case)?)
        .bind(&now)
        .bind(case.case_type.as_str())
        .bind(parent.id)
        .bind(crate::store::console_cases::search_text(related.subject, related.description))
        .fetch_one(&mut *tx)
        .await?;
        insert_description(&mut tx, child_id, &related).await?;
        let author = related.action.actor;
        insert_events(&mut tx, child_id, &write.child.events, author).await?;
        insert_outbox(&mut tx, child_id, &write.child_drafts).await?;
        let change =
            CaseChange { transition: &write.parent, drafts: Vec::new(), follow_up_until: None };
        update_case(&mut tx, parent, &change).await?;
        insert_events(&mut tx, parent.id, &write.parent.events, author).await?;
        insert_outbox(&mut tx, parent.id, &write.parent_drafts).await?;
        if let Some(raw_id) = raw_id {
            claim_raw(&mut tx, raw_id).await?;
        }
        tx.commit().await?;
        Ok(number)
    }

    /// Open cases (not merged, not security events) whose documents carry one of `uuids` as
    /// their CUFE/CUDE or as the one they answer: the numbers of the `limit` oldest, and how many
    /// there are in all.
    pub async fn open_cases_sharing_documents(
        &self,
        uuids: &[String],
        limit: u32,
    ) -> Result<(Vec<String>, u64), StoreError> {
        if uuids.is_empty() {
            return Ok((Vec::new(), 0));
        }
        // Driven by the two document indexes: the case ids come from them, not from a scan of
        // every open case (which made each new case cost more than the one before).
        let mut query = QueryBuilder::<DB>::new(
            "SELECT c.number, COUNT(*) OVER () AS total FROM cases c WHERE c.id IN (SELECT d.case_id FROM documents d \
             WHERE d.uuid IN (",
        );
        let mut list = query.separated(", ");
        for uuid in uuids {
            list.push_bind(uuid);
        }
        query.push(") UNION SELECT d.case_id FROM documents d WHERE d.referenced_uuid IN (");
        let mut list = query.separated(", ");
        for uuid in uuids {
            list.push_bind(uuid);
        }
        query.push(
            ")) AND c.status NOT IN ('solucionado', 'cerrado') AND c.merged_into_id IS NULL \
             AND c.security_category IS NULL ORDER BY c.id LIMIT ",
        );
        query.push_bind(i64::from(limit));
        let rows: Vec<(String, i64)> =
            query.build_query_as().fetch_all(&mut *self.reader().await?).await?;
        let total = rows.first().map_or(0, |(_, total)| u64::try_from(*total).unwrap_or(0));
        Ok((rows.into_iter().map(|(number, _)| number).collect(), total))
    }

    /// Requesters of the duplicates merged into this case: their mail with its tag is theirs.
    pub async fn merged_requesters(&self, case_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT requester FROM cases WHERE merged_into_id = $1 ORDER BY requester",
        )
        .bind(case_id)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }
}

/// The related case's first message: the agent's description, written by the agent (no raw
/// message: it came with the command on the parent).
async fn insert_description(
    tx: &mut Tx<'_>,
    case_id: i64,
    related: &RelatedCase<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO case_messages (case_id, raw_message_id, direction, message_id, in_reply_to, from_addr, \
         subject, own_words, auto_generated, attachment_problems, created_at) \
         VALUES ($1, NULL, 'agente', NULL, NULL, $2, $3, $4, 0, '[]', $5)",
    )
    .bind(case_id)
    .bind(related.action.actor)
    .bind(related.subject)
    .bind(related.description)
    .bind(now_text())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `#fusionar`: the duplicate's messages (with their attachments), documents, rejections,
/// events and actions now belong to the case that stays; the duplicate points at it, and so do
/// the duplicates merged into it before. Its outbox stays: the mail it sent is still its own,
/// and replies to it find the target through `merged_into_id`.
pub(super) async fn move_merged(tx: &mut Tx<'_>, merge: MergeMove) -> Result<(), StoreError> {
    for table in ["case_messages", "documents", "rejections", "events", "case_actions"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET case_id = $1 WHERE case_id = $2"
        )))
        .bind(merge.into)
        .bind(merge.from)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("UPDATE cases SET merged_into_id = $1 WHERE id = $2 OR merged_into_id = $2")
        .bind(merge.into)
        .bind(merge.from)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
