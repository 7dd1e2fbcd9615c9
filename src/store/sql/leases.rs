//! The SQL of [`crate::store::leases`]: who holds a buzón or a timer, until when (by the
//! database's clock, never a node's), under which fencing token. Every statement runs under the
//! store's one write lock, so "free or expired, then take it" is one step for all nodes.

use crate::store::leases::*;

use super::{Store, StoreError, Tx, dialect};

impl Store {
    /// Takes `name` for `holder` for `ttl_ms` when nobody holds it, its holder let it expire, or
    /// `is_gone` says its holder is a process known to be dead; renews it when `holder` already
    /// has it. A new holder gets the next token, so writes fenced by the old one fail.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
        is_gone: impl Fn(&str) -> bool,
    ) -> Result<LeaseGrant, StoreError> {
        let mut tx = self.write_tx().await?;
        let now = dialect::now_ms(&mut tx).await?;
        let current: Option<(String, i64, i64)> =
            sqlx::query_as("SELECT holder, token, expires_ms FROM leases WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let token = match current {
            None => {
                sqlx::query(
                    "INSERT INTO leases (name, holder, token, expires_ms) VALUES ($1, $2, 1, $3)",
                )
                .bind(name)
                .bind(holder)
                .bind(now + ttl_ms)
                .execute(&mut *tx)
                .await?;
                1
            }
            Some((other, _, expires_ms))
                if other != holder && expires_ms > now && !is_gone(&other) =>
            {
                tx.rollback().await?;
                return Ok(LeaseGrant::HeldBy { holder: other, expires_in_ms: expires_ms - now });
            }
            Some((other, token, _)) => {
                let token = if other == holder { token } else { token + 1 };
                sqlx::query(
                    "UPDATE leases SET holder = $2, token = $3, expires_ms = $4 WHERE name = $1",
                )
                .bind(name)
                .bind(holder)
                .bind(token)
                .bind(now + ttl_ms)
                .execute(&mut *tx)
                .await?;
                token
            }
        };
        tx.commit().await?;
        Ok(LeaseGrant::Granted { token })
    }

    /// Extends `name` by `ttl_ms` if `holder` still has it under `token`; `false` when another
    /// node took it over (the caller stops acting on it at once).
    pub async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        token: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let now = dialect::now_ms(&mut tx).await?;
        let renewed = sqlx::query(
            "UPDATE leases SET expires_ms = $4 WHERE name = $1 AND holder = $2 AND token = $3",
        )
        .bind(name)
        .bind(holder)
        .bind(token)
        .bind(now + ttl_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(renewed == 1)
    }

    /// Gives back every lease of `holder` (a node stopping): the others take over at once.
    pub async fn release_leases(&self, holder: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM leases WHERE holder = $1").bind(holder).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every lease as it stands, for `/readyz` and the operator.
    pub async fn leases(&self) -> Result<Vec<LeaseRow>, StoreError> {
        let mut tx = self.write_tx().await?;
        let now = dialect::now_ms(&mut tx).await?;
        let rows: Vec<(String, String, i64, i64)> =
            sqlx::query_as("SELECT name, holder, token, expires_ms FROM leases ORDER BY name")
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(name, holder, token, expires_ms)| LeaseRow {
                name,
                holder,
                token,
                expires_in_ms: expires_ms - now,
            })
            .collect())
    }
}

/// Inside a write transaction: whether `fence` still holds its lease. A node that lost it (its
/// lease expired while it was cut off, and another took over) must not write what it fetched.
pub(super) async fn check_fence(tx: &mut Tx<'_>, fence: &Fence<'_>) -> Result<(), StoreError> {
    let now = dialect::now_ms(tx).await?;
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT token FROM leases WHERE name = $1 AND holder = $2 AND token = $3 AND expires_ms > $4",
    )
    .bind(fence.name)
    .bind(fence.holder)
    .bind(fence.token)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    match held {
        Some(_) => Ok(()),
        None => Err(StoreError::LeaseLost { name: fence.name.to_string() }),
    }
}
