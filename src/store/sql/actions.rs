//! The SQL of [`crate::store::actions`]: agents' actions, control posterior and mass-incident
//! suggestions. Written once against the backend aliases of its parent (`super::{DB, Row, Tx}`), so
//! each backend that mounts it compiles the same text.

use crate::store::actions::*;
use sqlx::Row;

use super::cases::{
    SYSTEM_ACTOR, claim_raw, insert_events, insert_message, insert_outbox, update_case,
};
use crate::store::cases::{CaseChange, FoundCase};
use crate::desk::case::ReplyKind;
use crate::store::outbox::{DraftContext, OutboxDraft};
use chrono::{DateTime, Utc};

use super::{Store, StoreError, Tx, now_text, timestamp};

impl Store {
    /// The action, the message that carried it (claimed exactly once), and every case it changes
    /// (the first one is the case acted on), in one transaction.
    pub async fn record_action(
        &self,
        message: Option<AgentMessage<'_>>,
        action: &ActionRecord<'_>,
        changes: &[(&FoundCase, CaseChange<'_>)],
        extras: &ActionExtras<'_>,
    ) -> Result<(), StoreError> {
        let Some((primary, _)) = changes.first() else { return Ok(()) };
        let mut tx = self.write_tx().await?;
        if let Some(merge) = extras.merge {
            super::related::move_merged(&mut tx, merge).await?;
        }
        let raw_id = message.as_ref().map(|m| m.raw_id);
        if let Some(message) = &message {
            insert_message(&mut tx, primary.id, message.raw_id, &message.message, "agente").await?;
        }
        insert_action(&mut tx, primary.id, raw_id, action).await?;
        write_changes(&mut tx, changes, action.actor).await?;
        if let Some(entry) = &extras.guide {
            insert_guide_entry(&mut tx, primary.id, entry).await?;
        }
        if let Some(proposal) = &extras.proposal {
            sqlx::query(
                "INSERT INTO known_error_proposals (case_id, codes, error_text, root_cause, answer, proposed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(primary.id)
            .bind(&proposal.codes)
            .bind(proposal.error_text)
            .bind(proposal.root_cause)
            .bind(proposal.answer)
            .bind(now_text())
            .execute(&mut *tx)
            .await?;
        }
        if let Some(id) = extras.approve {
            approve_proposal(&mut tx, id, primary, action.actor).await?;
        }
        if let Some(raw_id) = raw_id {
            claim_raw(&mut tx, raw_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The proposal of this case still waiting for approval, if any.
    pub async fn pending_proposal(&self, case_id: i64) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM known_error_proposals WHERE case_id = $1 AND status = 'propuesta' ORDER BY id DESC LIMIT 1",
        )
        .bind(case_id)
        .fetch_optional(&mut *self.reader().await?)
        .await?)
    }

    /// Approved known errors learned from problemas, oldest first; a problem reopened because
    /// its solution did not work stops answering until it is solved again.
    pub async fn learned_errors(&self) -> Result<Vec<LearnedError>, StoreError> {
        let rows = sqlx::query(
            "SELECT k.codes, k.error_text, k.root_cause, k.answer, c.number FROM known_error_proposals k \
             JOIN cases c ON c.id = k.case_id WHERE k.status = 'aprobada' \
             AND c.status IN ('solucionado', 'cerrado') ORDER BY k.id",
        )
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                let codes: String = row.try_get("codes")?;
                Ok(LearnedError {
                    codes: codes.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect(),
                    error_text: row.try_get("error_text")?,
                    root_cause: row.try_get("root_cause")?,
                    answer: row.try_get("answer")?,
                    case_number: row.try_get("number")?,
                })
            })
            .collect()
    }

    /// Rule codes of a case's children (a mass incident's problem covers them all).
    pub async fn children_codes(&self, parent_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT r.code FROM rejections r JOIN cases c ON c.id = r.case_id WHERE c.parent_id = $1 ORDER BY r.code",
        )
        .bind(parent_id)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }

    /// Changes made by the desk itself (control posterior), one transaction.
    pub async fn apply_changes(
        &self,
        changes: &[(&FoundCase, CaseChange<'_>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        write_changes(&mut tx, changes, SYSTEM_ACTOR).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Solved cases whose control window ended before `now`, oldest first.
    pub async fn expired_follow_ups(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<FoundCase>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM cases WHERE status = 'solucionado' AND follow_up_until IS NOT NULL \
             AND follow_up_until <= $1 ORDER BY follow_up_until LIMIT 500",
        )
        .bind(timestamp(now))
        .fetch_all(&mut *self.reader().await?)
        .await?;
        self.cases_by_ids(ids).await
    }

    /// Open children of a case, in number order.
    pub async fn children_of(&self, parent_id: i64) -> Result<Vec<FoundCase>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM cases WHERE parent_id = $1 AND status NOT IN ('solucionado', 'cerrado') ORDER BY id",
        )
        .bind(parent_id)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        self.cases_by_ids(ids).await
    }

    /// The case that another system's ticket number (Administración Técnica) belongs to.
    pub async fn case_by_external_ref(
        &self,
        external_ref: &str,
    ) -> Result<Option<FoundCase>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM cases WHERE external_ref = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(external_ref)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        match id {
            Some(id) => self.case_by_id(id).await,
            None => Ok(None),
        }
    }

    async fn cases_by_ids(&self, ids: Vec<i64>) -> Result<Vec<FoundCase>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.extend(self.case_by_id(id).await?);
        }
        Ok(found)
    }

    /// The history the mail about a case draws on.
    pub async fn case_brief(&self, case_id: i64) -> Result<CaseBrief, StoreError> {
        let mut conn = self.reader().await?;
        let head = sqlx::query("SELECT subject, requester_name FROM cases WHERE id = $1")
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(head) = head else { return Ok(CaseBrief::default()) };
        let requester_messages = sqlx::query(
            "SELECT raw_message_id, own_words FROM case_messages WHERE case_id = $1 AND direction = 'entrante' \
             ORDER BY id",
        )
        .bind(case_id)
        .fetch_all(&mut *conn)
        .await?;
        let description = match requester_messages.first() {
            Some(row) => row.try_get("own_words")?,
            // A related case (`#relacionado`) starts from the agent's description.
            None => sqlx::query_scalar(
                "SELECT own_words FROM case_messages WHERE case_id = $1 ORDER BY id LIMIT 1",
            )
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or_default(),
        };
        let mut requester_raw_ids = Vec::new();
        for row in &requester_messages {
            requester_raw_ids.extend(row.try_get::<Option<i64>, _>("raw_message_id")?);
        }
        let rejections: Vec<BriefRejection> = sqlx::query_as(
            "SELECT code, MIN(description) AS description FROM rejections WHERE case_id = $1 GROUP BY code ORDER BY MIN(id)",
        )
        .bind(case_id)
        .fetch_all(&mut *conn)
        .await?;
        Ok(CaseBrief {
            subject: head.try_get("subject")?,
            requester_name: head.try_get("requester_name")?,
            description,
            documents: sqlx::query_as(
                "SELECT kind, number, uuid, response_code, environment FROM documents WHERE case_id = $1 ORDER BY id",
            )
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?,
            codes: rejections.iter().map(|r| r.code.clone()).collect(),
            rejections,
            actions: sqlx::query_as(
                "SELECT actor, level, command, text, refused, created_at FROM case_actions WHERE case_id = $1 ORDER BY id",
            )
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?,
            requester_raw_ids,
        })
    }

    /// The requester's side of the conversation: replies thread on their latest message.
    pub async fn requester_thread(&self, case_id: i64) -> Result<RequesterThread, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT message_id FROM case_messages WHERE case_id = $1 AND direction = 'entrante' \
             AND message_id IS NOT NULL ORDER BY id",
        )
        .bind(case_id)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        let thread_index: Option<String> = sqlx::query_scalar(
            "SELECT thread_index FROM case_messages WHERE case_id = $1 AND direction = 'entrante' \
             AND thread_index IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(case_id)
        .fetch_optional(&mut *self.reader().await?)
        .await?
        .flatten();
        let mut references: Vec<String> = ids.iter().map(|id| format!("<{id}>")).collect();
        let skip = references.len().saturating_sub(10);
        references.drain(..skip);
        Ok(RequesterThread { in_reply_to: references.last().cloned(), references, thread_index })
    }

    /// The agents' side of the case's conversation: the case's subject and the mail queued to
    /// agents about it (kinds [`ReplyKind::in_agent_thread`]), oldest first.
    pub async fn agent_thread(&self, case_id: i64) -> Result<AgentThread, StoreError> {
        let subject: Option<String> = sqlx::query_scalar("SELECT subject FROM cases WHERE id = $1")
            .bind(case_id)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        let rows = sqlx::query("SELECT kind, message_id, context FROM outbox WHERE case_id = $1 ORDER BY id")
            .bind(case_id)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        let mut thread = AgentThread { subject, ..AgentThread::default() };
        for row in &rows {
            let kind: String = row.try_get("kind")?;
            if !ReplyKind::parse(&kind).is_some_and(ReplyKind::in_agent_thread) {
                continue;
            }
            thread.sent.push(row.try_get("message_id")?);
            // A context that does not read (purged, newer) only loses Outlook's chain.
            let context: String = row.try_get("context")?;
            let index = serde_json::from_str::<DraftContext>(&context)
                .ok()
                .and_then(|c| c.agent_thread_index);
            if index.is_some() {
                thread.last_thread_index = index;
            }
        }
        Ok(thread)
    }

    /// A mass-incident suggestion for rule `code`, unless one was made within the window: when
    /// `threshold` cases or more, not yet linked to a parent, reported it since `since`. The
    /// draft (built from the cases found) is queued on `case_number`, in the same transaction.
    pub async fn suggest_mass_incident(
        &self,
        code: &str,
        since: DateTime<Utc>,
        threshold: u32,
        case_number: &str,
        draft: impl FnOnce(&[SuggestedCase]) -> OutboxDraft,
    ) -> Result<Option<Vec<SuggestedCase>>, StoreError> {
        let since = timestamp(since);
        let mut tx = self.write_tx().await?;
        let case_id: i64 = sqlx::query_scalar("SELECT id FROM cases WHERE number = $1")
            .bind(case_number)
            .fetch_one(&mut *tx)
            .await?;
        let already: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mass_suggestions WHERE code = $1 AND created_at >= $2",
        )
        .bind(code)
        .bind(&since)
        .fetch_one(&mut *tx)
        .await?;
        if already > 0 {
            return Ok(None);
        }
        let cases: Vec<SuggestedCase> = sqlx::query_as(
            "SELECT c.number, c.subject, c.created_at FROM cases c WHERE c.parent_id IS NULL \
             AND c.security_category IS NULL AND c.created_at >= $2 \
             AND EXISTS (SELECT 1 FROM rejections r WHERE r.case_id = c.id AND r.code = $1) ORDER BY c.id",
        )
        .bind(code)
        .bind(&since)
        .fetch_all(&mut *tx)
        .await?;
        if cases.len() < threshold as usize {
            return Ok(None);
        }
        let draft = draft(&cases);
        sqlx::query(
            "INSERT INTO mass_suggestions (code, case_count, coordinator, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(code)
        .bind(i64::try_from(cases.len()).unwrap_or(i64::MAX))
        .bind(&draft.to)
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
        insert_outbox(&mut tx, case_id, std::slice::from_ref(&draft)).await?;
        tx.commit().await?;
        Ok(Some(cases))
    }
}

/// One row of what people did on a case.
pub(super) async fn insert_action(
    tx: &mut Tx<'_>,
    case_id: i64,
    raw_id: Option<i64>,
    action: &ActionRecord<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO case_actions (case_id, raw_message_id, actor, via, level, command, argument, text, refused, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(case_id)
    .bind(raw_id)
    .bind(action.actor)
    .bind(action.via)
    .bind(action.level.as_str())
    .bind(action.command)
    .bind(action.argument)
    .bind(action.text)
    .bind(i64::from(action.refused))
    .bind(now_text())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_guide_entry(
    tx: &mut Tx<'_>,
    case_id: i64,
    entry: &GuideEntry<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO first_contact_solutions (case_id, tema, codes, question, answer, author, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(case_id)
    .bind(entry.tema)
    .bind(&entry.codes)
    .bind(entry.question)
    .bind(entry.answer)
    .bind(entry.author)
    .bind(now_text())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The proposal becomes a known error: approved, and an entry of the first-contact guide.
async fn approve_proposal(
    tx: &mut Tx<'_>,
    id: i64,
    case: &FoundCase,
    approver: &str,
) -> Result<(), StoreError> {
    let row = sqlx::query(
        "UPDATE known_error_proposals SET status = 'aprobada', decided_by = $1, decided_at = $2 \
         WHERE id = $3 AND status = 'propuesta' RETURNING codes, error_text, answer",
    )
    .bind(approver)
    .bind(now_text())
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Err(StoreError::Conflict) };
    let codes: String = row.try_get("codes")?;
    let error_text: String = row.try_get("error_text")?;
    let answer: String = row.try_get("answer")?;
    let entry = GuideEntry {
        tema: case.case.tema.as_str(),
        codes,
        question: &error_text,
        answer: &answer,
        author: approver,
    };
    insert_guide_entry(tx, case.id, &entry).await
}

async fn write_changes(
    tx: &mut Tx<'_>,
    changes: &[(&FoundCase, CaseChange<'_>)],
    actor: &str,
) -> Result<(), StoreError> {
    for (found, change) in changes {
        update_case(tx, found, change).await?;
        insert_events(tx, found.id, &change.transition.events, actor).await?;
        insert_outbox(tx, found.id, &change.drafts).await?;
    }
    Ok(())
}
