//! The known-error base as loaded, mirrored in the database so reports can join on it.

use super::{Store, StoreError, now_text};
use crate::desk::knowledge::KnowledgeBase;

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
}
