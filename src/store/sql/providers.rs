//! The registry of technology providers imported from CSV (`mesa-fe proveedores importar`).
//! Domains and addresses are stored `;`-separated and lower-case; the providers of the
//! configuration are not stored (they are added when the registry is loaded).
//! Its SQL is written once against the backend aliases of its parent (`super::{DB, Row, Tx}`).

use super::{Store, StoreError, now_text};
use crate::desk::providers::Provider;

impl Store {
    /// Replaces the imported registry with `providers` in one transaction: the old rows are
    /// deleted and the new ones inserted, so a failure (a repeated NIT, a full disk) leaves the
    /// previous registry untouched.
    pub async fn replace_providers(&self, providers: &[Provider]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM providers").execute(&mut *tx).await?;
        let now = now_text();
        for provider in providers {
            sqlx::query(
                "INSERT INTO providers (nit, name, domains, addresses, active, imported_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&provider.nit)
            .bind(&provider.name)
            .bind(join(&provider.domains))
            .bind(join(&provider.addresses))
            .bind(i64::from(provider.active))
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The imported providers, ordered by NIT.
    pub async fn providers(&self) -> Result<Vec<Provider>, StoreError> {
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT nit, name, domains, addresses, active FROM providers ORDER BY nit",
        )
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(nit, name, domains, addresses, active)| Provider {
                nit,
                name,
                domains: split(&domains),
                addresses: split(&addresses),
                active: active != 0,
            })
            .collect())
    }
}

fn join(items: &[String]) -> String {
    items.iter().map(|i| i.trim().to_lowercase()).collect::<Vec<_>>().join(";")
}

fn split(text: &str) -> Vec<String> {
    text.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}
