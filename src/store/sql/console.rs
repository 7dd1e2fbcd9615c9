//! The SQL of [`crate::store::console`]: sign-in links (single use, short-lived) and sessions.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, now_text, timestamp};
use crate::store::console::{ConsoleSession, OpenConsoleSession};

impl Store {
    /// Records a sign-in link for `address`, valid until `expires_at`.
    pub async fn create_console_link(
        &self,
        address: &str,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO console_links (token_hash, address, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(address)
        .bind(now_text())
        .bind(timestamp(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many links `address` asked for since `since` (the rate limit).
    pub async fn console_links_since(
        &self,
        address: &str,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM console_links WHERE address = $1 AND created_at >= $2",
        )
        .bind(address)
        .bind(timestamp(since))
        .fetch_one(&mut *self.reader().await?)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Uses a link: its address when it exists, is unused and unexpired; it is then spent, and
    /// a second use (or a race with another node) gets `None`.
    pub async fn consume_console_link(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
        let now = now_text();
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "UPDATE console_links SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING address",
        )
        .bind(&now)
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(|r| r.try_get("address")).transpose()?)
    }

    /// Whether a link could still be used (exists, unused, unexpired), without spending it: the
    /// confirmation page says at once when a link is spent.
    pub async fn console_link_usable(&self, token_hash: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM console_links \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_text())
        .fetch_one(&mut *self.reader().await?)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Opens a session for `address` until `expires_at`.
    pub async fn create_console_session(
        &self,
        address: &str,
        token_hash: &str,
        csrf: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "INSERT INTO console_sessions (token_hash, address, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(token_hash)
        .bind(address)
        .bind(csrf)
        .bind(now_text())
        .bind(timestamp(expires_at))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.try_get("id")?)
    }

    /// The live session of a cookie's token: unexpired and not revoked.
    pub async fn console_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let row = sqlx::query(
            "SELECT id, address, csrf, expires_at FROM console_sessions \
             WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_text())
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ConsoleSession {
            id: row.try_get("id")?,
            address: row.try_get("address")?,
            csrf: row.try_get("csrf")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    /// Ends one session (signing out).
    pub async fn end_console_session(&self, session_id: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE console_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_text())
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes every live session of `address` (`mesa-fe sesiones revocar`) and its unused
    /// links; how many sessions were open.
    pub async fn revoke_console_sessions(&self, address: &str) -> Result<u64, StoreError> {
        let now = now_text();
        let mut tx = self.write_tx().await?;
        let revoked = sqlx::query(
            "UPDATE console_sessions SET revoked_at = $1 \
             WHERE address = $2 AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(&now)
        .bind(address)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("UPDATE console_links SET used_at = $1 WHERE address = $2 AND used_at IS NULL")
            .bind(&now)
            .bind(address)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// Every live session (unexpired, not revoked), oldest first.
    pub async fn open_console_sessions(&self) -> Result<Vec<OpenConsoleSession>, StoreError> {
        let rows = sqlx::query(
            "SELECT address, created_at, expires_at FROM console_sessions \
             WHERE revoked_at IS NULL AND expires_at > $1 ORDER BY created_at, id",
        )
        .bind(now_text())
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OpenConsoleSession {
                    address: row.try_get("address")?,
                    created_at: row.try_get("created_at")?,
                    expires_at: row.try_get("expires_at")?,
                })
            })
            .collect()
    }
}
