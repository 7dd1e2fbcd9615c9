//! Bounces of our mail ([`crate::mail::bounce`]) matched to their outbox row and case through the
//! signed Message-ID they quote: the row becomes `rebotado`, the case's history says who did not
//! get which mail and why, and whoever must act is told ([`crate::desk::bounce`]). A bounce is
//! never answered. One that quotes none of our mail is ignored, with its reason; a "mailbox
//! full" auto-reply that quotes none is read as any other message.

use super::{Analysis, Desk, Outcome, compose};
use crate::desk::bounce::{BounceReport, BouncedMail, bounced};
use crate::mail::bounce::{Bounce, BounceKind, BounceSource};
use crate::store::cases::{CaseChange, FoundCase};
use crate::store::outbox::{BounceMark, BouncedRow, OutboxStatus};
use crate::store::raw::RawStatus;
use crate::store::{Store, StoreError};

/// Why a bounce that quotes none of our mail is set aside (`quarantine list --ignorados`).
const QUOTES_NOTHING: &str = "aviso de no entrega (rebote) que no cita ningún correo firmado por \
                              la mesa: no se sabe de qué caso es; no se responde";

/// Why a bounce of one of our mails that is no longer in the queue is set aside.
const ROW_GONE: &str = "aviso de no entrega (rebote) de un correo firmado por la mesa que no está \
                        en la cola de salida de esta base; no se responde";

impl Desk {
    /// The bounce this message is, recorded on its case; `None` when it is no bounce, or a
    /// "mailbox full" reply that quotes none of our mail (then it is read as usual).
    pub(super) async fn take_bounce(
        &self,
        store: &Store,
        raw_id: i64,
        analysis: &Analysis,
    ) -> Result<Option<Outcome>, StoreError> {
        let Some(bounce) = analysis.inbound.as_ref().and_then(|m| m.bounce.as_ref()) else {
            return Ok(None);
        };
        // "Mi buzón está lleno" written by a person is a person's message; a report or an NDR is
        // a machine's by its very shape (a report's type, a daemon's address or a bounce subject).
        if bounce.source == BounceSource::AutoReply && !analysis.auto_generated {
            return Ok(None);
        }
        let Some(row) = self.bounced_row(store, bounce).await? else {
            if bounce.source == BounceSource::AutoReply {
                return Ok(None);
            }
            let reason = if self.quotes_signed(bounce) { ROW_GONE } else { QUOTES_NOTHING };
            store.set_raw_status(raw_id, RawStatus::Ignorado, Some(reason)).await?;
            return Ok(Some(Outcome::Ignored { raw_id }));
        };
        // A concurrent message on the same case makes the update fail: read again.
        for _ in 0..3 {
            let Some(found) = store.case_by_id(row.case_id).await? else {
                store.set_raw_status(raw_id, RawStatus::Ignorado, Some(ROW_GONE)).await?;
                return Ok(Some(Outcome::Ignored { raw_id }));
            };
            match self.record_bounce(store, raw_id, &found, &row, bounce, analysis).await {
                Err(StoreError::Conflict) => continue,
                Err(other) => return Err(other),
                Ok(()) => return Ok(Some(Outcome::Appended { raw_id, case: found.number })),
            }
        }
        Err(StoreError::Conflict)
    }

    /// The first quoted Message-ID that is ours (its signature holds) and names an outbox row.
    async fn bounced_row(
        &self,
        store: &Store,
        bounce: &Bounce,
    ) -> Result<Option<BouncedRow>, StoreError> {
        for id in bounce.quoted_ids.iter().filter(|id| self.ids.verify_signed(id).is_some()) {
            if let Some(row) = store.outbox_by_message_id(id).await? {
                return Ok(Some(row));
            }
        }
        Ok(None)
    }

    fn quotes_signed(&self, bounce: &Bounce) -> bool {
        bounce.quoted_ids.iter().any(|id| self.ids.verify_signed(id).is_some())
    }

    async fn record_bounce(
        &self,
        store: &Store,
        raw_id: i64,
        found: &FoundCase,
        row: &BouncedRow,
        bounce: &Bounce,
        analysis: &Analysis,
    ) -> Result<(), StoreError> {
        let staffing = self.staffing(&found.case).await_loads(store).await?;
        let already_bounced = row.status == OutboxStatus::Rebotado;
        let mail = BouncedMail {
            kind: row.kind,
            to: row.to_addr.clone(),
            written: self.local_time(row.sent_at.unwrap_or(row.created_at)),
            already_bounced,
        };
        let diagnostic = diagnostic_with_status(bounce);
        let report = BounceReport {
            delayed: bounce.kind == BounceKind::Delayed,
            mailbox_full: bounce.kind == BounceKind::MailboxFull,
            recipient: bounce.recipient().map(String::from),
            diagnostic: diagnostic.clone(),
        };
        let transition = bounced(&found.case, &mail, &report, &staffing);
        let buzon = self.buzon_for(&found.buzon);
        let ctx = self.reply_context(raw_id, &found.number, &buzon, &found.requester);
        let agents = store.agent_thread(found.id).await?;
        let mut drafts = compose::drafts(&ctx, analysis, &transition, &agents);
        for draft in drafts.iter_mut().filter(|d| !d.context.redacted) {
            // On the bounced mail's subject, not on the mailer daemon's.
            draft.subject = notice_subject(&found.number, &row.subject);
        }
        let change = CaseChange { drafts, follow_up_until: None, transition: &transition };
        let mark = (!report.delayed && !already_bounced).then(|| BounceMark {
            outbox_id: row.id,
            recipient: bounce.recipient(),
            status: bounce.status(),
            diagnostic: &diagnostic,
        });
        let message = analysis.stored()?;
        let cap = self.config.general.auto_replies_per_hour;
        store.record_bounce(raw_id, found, &message, &change, mark, cap).await
    }

    /// A moment as people of the desk read it: `07/12/2026 09:14`, in the configured zone.
    fn local_time(&self, at: chrono::DateTime<chrono::Utc>) -> String {
        self.config.zone().local(at).format("%d/%m/%Y %H:%M").to_string()
    }
}

/// `[FE-…] Correo no entregado: <the bounced mail's subject>`.
fn notice_subject(number: &str, bounced_subject: &str) -> String {
    let rest = compose::tagged_subject(number, bounced_subject);
    let rest = rest.strip_prefix(&format!("[{number}]")).unwrap_or(&rest).trim();
    format!("[{number}] Correo no entregado: {rest}")
}

/// The remote server's words, with the status code when they do not carry it.
fn diagnostic_with_status(bounce: &Bounce) -> String {
    let words = bounce.diagnostic();
    match bounce.status() {
        Some(status) if !words.contains(status) => format!("{words} (estado {status})"),
        _ => words,
    }
}
