//! Operators' second look at quarantined messages: `quarantine reprocess` runs the stored bytes
//! through the pipeline again (after a fix or a configuration change). The message goes back to
//! `pendiente` and is processed exactly as a new one: the case it opens or joins is written with
//! its outbox rows in one transaction, their Message-IDs fixed by the message's id, so a
//! reprocessed message cannot queue its answers twice (and a daemon replaying the same pending
//! message meanwhile finds it taken). If it fails again it returns to quarantine with the new
//! reason. Each run is recorded with who did it and what came of it.

use std::sync::Arc;

use super::{Desk, Outcome};
use crate::store::raw::{NotHeld, RawStatus};
use crate::store::{Store, StoreError};

impl Desk {
    /// Reprocesses quarantined message `id` for `actor`; the outcome, or why it was not taken.
    pub async fn reprocess_quarantined(
        self: &Arc<Self>,
        store: &Store,
        id: i64,
        actor: &str,
    ) -> Result<Result<Outcome, NotHeld>, StoreError> {
        let (origin, raw) = match store.requeue_quarantined(id).await? {
            Ok(found) => found,
            Err(not_held) => return Ok(Err(not_held)),
        };
        let outcome = self.process(store, id, &origin, &raw).await;
        let result = match &outcome {
            Ok(done) => describe(done),
            // A passing store failure leaves it pending: the daemon (or `ingest`) replays it.
            Err(failure) if failure.is_retriable() => {
                format!("no se pudo procesar ahora ({failure}); queda pendiente y se reintenta")
            }
            Err(failure) => {
                let reason = format!("error al procesar el mensaje: {failure}");
                store.set_raw_status(id, RawStatus::Cuarentena, Some(&reason)).await?;
                format!("sigue en cuarentena: {reason}")
            }
        };
        store.record_raw_action(id, "reprocesar", actor, None, &result).await?;
        outcome.map(Ok)
    }
}

/// What a reprocessing came to, as the quarantine's history says it.
fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Opened { case, .. } => format!("sale de cuarentena: abrió el caso {case}"),
        Outcome::Appended { case, .. } => format!("sale de cuarentena: se agregó al caso {case}"),
        Outcome::Duplicate { case: Some(case), .. } => {
            format!("ya lo había procesado otro proceso (caso {case})")
        }
        Outcome::Duplicate { of, case: None } => {
            format!("ya lo había procesado otro proceso (mensaje {of})")
        }
        Outcome::Quarantined { reason, .. } => format!("sigue en cuarentena: {reason}"),
        Outcome::Ignored { .. } => {
            "sale de cuarentena: mensaje automático sin caso, guardado sin respuesta".into()
        }
    }
}
