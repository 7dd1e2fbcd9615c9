//! The SQL of [`crate::store::knowledge`]: the known-error base. Written once against the backend
//! aliases of its parent (`super::{DB, Row, Tx}`), so each backend that mounts it compiles the same
//! text.

use super::{Store, StoreError, now_text};
use crate::desk::knowledge::KnowledgeBase;
use crate::store::knowledge::*;

impl Store {
    /// Replaces the stored known-error base with `base`, in one transaction.
    pub async fn sync_known_errors(&self, base: &KnowledgeBase) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM known_errors").execute(&mut *tx).await?;
        let now = now_text();
        for entry in base.entries() {
            sqlx::query(
                "INSERT INTO known_errors (code, equivalents, severity, official_message, meaning, first_contact_answer, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&entry.code)
            .bind(entry.equivalents.join(","))
            .bind(entry.severity.as_str())
            .bind(&entry.official_message)
            .bind(&entry.meaning)
            .bind(entry.first_contact_answer.as_deref())
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every solution marked for first contact, oldest first (by id), with its case number.
    pub async fn first_contact_solutions(&self) -> Result<Vec<GuideSolution>, StoreError> {
        let rows: Vec<(String, String, String, String, String, String, String)> = sqlx::query_as(
            // The latest solution of each case, while the case stays solved: a case reopened
            // because the answer did not work takes it out of the guide.
            "SELECT c.number AS case_number, s.tema, s.codes, s.question, s.answer, s.author, \
             s.created_at FROM first_contact_solutions s JOIN cases c ON c.id = s.case_id \
             WHERE s.id IN (SELECT MAX(id) FROM first_contact_solutions GROUP BY case_id) \
             AND c.status IN ('solucionado', 'cerrado') ORDER BY s.id",
        )
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(case_number, tema, codes, question, answer, author, created_at)| GuideSolution {
                case_number,
                tema,
                codes,
                question,
                answer,
                author,
                created_at,
            })
            .collect())
    }
}
