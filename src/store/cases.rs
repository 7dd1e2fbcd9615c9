//! Cases and everything a message writes with them, all or nothing (one transaction, or one
//! savepoint of a [`crate::store::Batch`]): the case row, the message, its attachments,
//! documents and rejections, the procedure's events and the outbox.

use serde::Serialize;

use super::message::MessageRecord;
use super::outbox::OutboxDraft;
use crate::desk::case::{Case, Status, Transition};
use crate::desk::{Channel, Level, Tema};
use chrono::{DateTime, Utc};

/// A stored case the engine can act on.
#[derive(Debug, Clone)]
pub struct FoundCase {
    pub id: i64,
    /// Row version read with the case; the update fails with [`StoreError::Conflict`] if another
    /// message changed the case meanwhile.
    pub version: i64,
    pub number: String,
    pub case: Case,
    pub requester: String,
    pub buzon: String,
    /// The case this one was merged into (`#fusionar`): it is a closed stub.
    pub merged_into: Option<String>,
    /// When the case reached its level, and since when it waits for the requester: read with
    /// `version`, so the clock can be moved on in Rust rather than with one backend's date
    /// functions.
    pub(in crate::store) level_since: Option<DateTime<Utc>>,
    pub(in crate::store) waiting_since: Option<DateTime<Utc>>,
}

impl FoundCase {
    /// The level clock once the requester answered: moved on by the time spent waiting, which
    /// does not count against the desk.
    pub(in crate::store) fn level_since_after_waiting(
        &self,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        Some(self.level_since? + (now - self.waiting_since?))
    }
}

/// How a message was tied to its case, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadMatch {
    /// It quotes one of our signed Message-IDs.
    Signed,
    /// It quotes the Message-ID of a mail in our outbox.
    OurMessage,
    /// Only the `[FE-…]` tag of its subject: anyone can type it.
    SubjectTag,
    /// It quotes the Message-ID of a message already on the case.
    TheirMessage,
}

/// Where a new case's rows come from.
pub struct NewCase<'a> {
    pub raw_id: i64,
    pub buzon: &'a str,
    pub year: i32,
    pub prefix: &'a str,
    pub message: &'a MessageRecord<'a>,
    pub transition: &'a Transition,
    /// `general.respuestas_automaticas_por_hora`.
    pub reply_cap: u32,
    /// End of the control window when the case opens already solved (a known error).
    pub follow_up_until: Option<DateTime<Utc>>,
    /// The registered provider the requester is (NIT), when recognised.
    pub provider_nit: Option<String>,
    /// Most cases the requester may open per hour, checked in the transaction that would open
    /// this one ([`StoreError::CaseCap`] past it); `None` = no cap.
    pub case_cap: Option<u32>,
    /// The closed case on whose thread this one was written (the new case's `parent`): its
    /// history row naming the new case is written in the same transaction.
    pub related: Option<Related<'a>>,
}

/// The older case a new one is related to, and its history row given the new case's number.
pub struct Related<'a> {
    pub case_id: i64,
    pub event: Box<dyn FnOnce(&str) -> crate::desk::case::Event + Send + 'a>,
}

/// Filters of `case list`.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub level: Option<Level>,
    pub status: Option<Status>,
    pub tema: Option<Tema>,
    /// Children of this case number.
    pub parent: Option<String>,
    /// Only open cases with a service-level target passed at their current level.
    pub overdue: bool,
    pub case_type: Option<crate::desk::CaseType>,
    /// `correo`, `aranda`, `pqsr` or `rechazado`.
    pub channel: Option<Channel>,
    // Cases about one invoice or one party (issue 14, point 6).
    /// A document of the case has this CUFE/CUDE (its own or the one it answers).
    pub cufe: Option<String>,
    /// A document's issuer or buyer, or the registered provider who wrote (digits only).
    pub nit: Option<String>,
    /// The requester's address (lowercase).
    pub requester: Option<String>,
    /// The case's reference in another system (`Aranda 778812`, `PQSR 2026…`, `CSAT-4711`), or
    /// only its number (`778812`).
    pub external_ref: Option<String>,
}

/// One line of `case list`.
#[derive(Debug, Clone, Serialize)]
pub struct CaseSummary {
    pub number: String,
    pub status: String,
    pub level: String,
    pub tema: String,
    pub channel: String,
    pub case_type: String,
    pub agent: Option<String>,
    pub subject: String,
    pub created_at: String,
}

/// What one case gets from a transition: its new state and the mail to send.
#[derive(Debug, Clone)]
pub struct CaseChange<'a> {
    pub transition: &'a Transition,
    pub drafts: Vec<OutboxDraft>,
    /// End of the control window when this change solves the case (activity 12).
    pub follow_up_until: Option<DateTime<Utc>>,
}

/// Everything `case show` prints.
#[derive(Debug, Clone, Serialize)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub summary: CaseSummary,
    pub buzon: String,
    pub requester: String,
    pub requester_name: Option<String>,
    pub security_category: Option<String>,
    pub group: Option<String>,
    pub first_contact: bool,
    pub missing_requirements: Vec<String>,
    /// Parent case (mass incident) and children, by number.
    pub parent: Option<String>,
    pub children: Vec<String>,
    /// Ticket of another system (Administración Técnica).
    pub external_ref: Option<String>,
    /// The case this duplicate was merged into, and the duplicates merged into this one.
    pub merged_into: Option<String>,
    pub merged_here: Vec<String>,
    /// Other cases whose documents share a CUFE/CUDE with this one's.
    pub same_cufe: Vec<SharedDocumentCase>,
    /// End of the control window while the case is solucionado.
    pub follow_up_until: Option<String>,
    /// When its bodies and attachments were removed (retention).
    pub purged_at: Option<String>,
    /// Root cause of a problema.
    pub root_cause: Option<String>,
    /// The registered technology provider the requester is.
    pub provider_nit: Option<String>,
    pub messages: Vec<MessageRow>,
    pub documents: Vec<DocumentRow>,
    pub rejections: Vec<RejectionRow>,
    pub events: Vec<EventRow>,
    /// What agents did (notes, solutions, escalations…), by e-mail or CLI.
    pub actions: Vec<super::actions::BriefAction>,
    pub outbox: Vec<OutboxRow>,
}

/// Another case about the same invoice: its number, status and the CUFE/CUDE they share.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SharedDocumentCase {
    pub number: String,
    pub status: String,
    pub uuid: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MessageRow {
    pub direction: String,
    pub from_addr: String,
    pub subject: String,
    /// 1 when the message was machine-written (INTEGER, portable).
    pub auto_generated: i64,
    pub attachment_problems: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DocumentRow {
    pub kind: String,
    pub number: Option<String>,
    pub uuid: Option<String>,
    pub environment: Option<String>,
    pub supplier_nit: Option<String>,
    pub response_code: Option<String>,
    pub source: String,
    pub findings: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RejectionRow {
    pub code: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EventRow {
    pub activity: i64,
    pub from_status: Option<String>,
    pub to_status: String,
    pub to_level: String,
    pub actor: String,
    pub detail: String,
    pub created_at: String,
}

/// A case's mail as `case show` lists it: kind and status as stored, so a row this version
/// cannot work (written by a newer one) is still shown rather than hiding the whole case.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutboxRow {
    pub kind: String,
    pub buzon: String,
    pub to_addr: String,
    pub subject: String,
    pub message_id: String,
    pub status: String,
}
