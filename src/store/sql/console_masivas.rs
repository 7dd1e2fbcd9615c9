//! The SQL of [`crate::store::console_masivas`]: what the console's Masivas and Base de
//! conocimiento pages read, and the edits of the known-error base proposed there.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, now_text, timestamp};
use crate::store::console_masivas::*;

impl Store {
    /// The latest mass-incident suggestions, newest first.
    pub async fn mass_suggestions(&self, limit: i64) -> Result<Vec<SuggestionRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT code, case_count, coordinator, created_at FROM mass_suggestions \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }

    /// Open cases, not linked to a parent and not reserved for security, that reported rule
    /// `code` since `since`.
    pub async fn open_cases_with_code(
        &self,
        code: &str,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM cases c WHERE c.parent_id IS NULL AND c.security_category IS NULL \
             AND c.status NOT IN ('solucionado', 'cerrado') AND c.created_at >= $2 \
             AND EXISTS (SELECT 1 FROM rejections r WHERE r.case_id = c.id AND r.code = $1)",
        )
        .bind(code)
        .bind(timestamp(since))
        .fetch_one(&mut *self.reader().await?)
        .await?)
    }

    /// Open cases without a parent that could join `parent` (never itself): with rule
    /// `code` when given, and whose subject has `words` or whose number is `words` when given.
    /// Oldest first, at most `limit`.
    pub async fn mass_candidates(
        &self,
        parent: &str,
        code: &str,
        words: &str,
        limit: i64,
    ) -> Result<Vec<CandidateRow>, StoreError> {
        let pattern = format!("%{}%", words.to_lowercase().replace(['%', '_', '\\'], ""));
        Ok(sqlx::query_as(
            "SELECT c.id, c.number, c.subject, c.status, c.level, c.created_at FROM cases c \
             WHERE c.parent_id IS NULL AND c.status NOT IN ('solucionado', 'cerrado') \
             AND c.number <> $1 \
             AND ($2 = '' OR EXISTS (SELECT 1 FROM rejections r WHERE r.case_id = c.id AND r.code = $2)) \
             AND ($3 = '' OR LOWER(c.subject) LIKE $4 OR c.number = $5) ORDER BY c.id LIMIT $6",
        )
        .bind(parent)
        .bind(code)
        .bind(words)
        .bind(pattern)
        .bind(words.to_uppercase())
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }

    /// Cases that have children, newest first, with how many and how many are still open.
    pub async fn mass_parents(&self, limit: i64) -> Result<Vec<ParentRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT p.id, p.number, p.subject, p.status, COUNT(c.id) AS children, \
             COUNT(CASE WHEN c.status NOT IN ('solucionado', 'cerrado') THEN 1 END) AS open_children \
             FROM cases p JOIN cases c ON c.parent_id = p.id \
             GROUP BY p.id, p.number, p.subject, p.status ORDER BY p.id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }

    /// Every child of a case (open or not), in number order.
    pub async fn children_rows(&self, parent_id: i64) -> Result<Vec<ChildRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT number, status, requester FROM cases WHERE parent_id = $1 ORDER BY id",
        )
        .bind(parent_id)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }

    /// The solutions and validation questions queued to a case's children, oldest first.
    pub async fn children_mail(&self, parent_id: i64) -> Result<Vec<ChildMail>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.number, o.kind, o.status, o.bounced_at FROM outbox o \
             JOIN cases c ON c.id = o.case_id WHERE c.parent_id = $1 \
             AND o.kind IN ('solucion', 'validacion_masiva') ORDER BY o.id",
        )
        .bind(parent_id)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }

    /// Known errors proposed by solved problemas, waiting for approval, oldest first.
    pub async fn pending_proposals(&self) -> Result<Vec<ProposalRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT k.id, c.number AS case_number, k.codes, k.error_text, k.root_cause, k.answer, \
             k.proposed_at FROM known_error_proposals k JOIN cases c ON c.id = k.case_id \
             WHERE k.status = 'propuesta' ORDER BY k.id",
        )
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }

    /// Records a proposed change of the known error `code`; returns its id.
    pub async fn propose_known_error_edit(
        &self,
        code: &str,
        meaning: &str,
        answer: &str,
        proposed_by: &str,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let id = sqlx::query_scalar(
            "INSERT INTO known_error_edits (code, meaning, answer, proposed_by, proposed_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(code)
        .bind(meaning)
        .bind(answer)
        .bind(proposed_by)
        .bind(now_text())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The proposed changes of the base, newest first.
    pub async fn known_error_edits(&self, limit: i64) -> Result<Vec<KnownErrorEdit>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, code, meaning, answer, proposed_by, proposed_at, status, decided_by, \
             decided_at FROM known_error_edits ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }

    /// Approves (or rejects) a proposed change still waiting; `false` when it was not waiting.
    pub async fn decide_known_error_edit(
        &self,
        id: i64,
        approve: bool,
        decided_by: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE known_error_edits SET status = $1, decided_by = $2, decided_at = $3 \
             WHERE id = $4 AND status = 'propuesta'",
        )
        .bind(if approve { "aprobada" } else { "rechazada" })
        .bind(decided_by)
        .bind(now_text())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
