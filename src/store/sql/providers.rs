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
        .fetch_all(self.pool())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(nit: &str, domain: &str) -> Provider {
        Provider {
            nit: nit.into(),
            name: format!("Proveedor {nit}"),
            domains: vec![domain.into()],
            addresses: vec!["soporte@gmail.com".into()],
            active: nit != "811000222",
        }
    }

    #[tokio::test]
    async fn replace_is_whole_and_a_failure_keeps_the_old_registry() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url).await.expect("open");
        assert!(store.providers().await.expect("empty").is_empty());
        let first = vec![provider("900123456", "a.co"), provider("811000222", "b.co")];
        store.replace_providers(&first).await.expect("replace");
        let stored = store.providers().await.expect("read");
        assert_eq!(
            stored.iter().map(|p| p.nit.as_str()).collect::<Vec<_>>(),
            ["811000222", "900123456"]
        );
        assert_eq!(stored[1], first[0]);
        assert!(!stored[0].active);
        // A repeated NIT fails on the primary key after the DELETE: nothing changes.
        let broken = vec![provider("700000001", "c.co"), provider("700000001", "d.co")];
        assert!(store.replace_providers(&broken).await.is_err());
        assert_eq!(store.providers().await.expect("read"), stored);
        store.replace_providers(&[]).await.expect("clear");
        assert!(store.providers().await.expect("read").is_empty());
        store.close().await;
    }
}
