//! What people do to cases (by e-mail command or CLI) and what time does (control posterior),
//! each written in one transaction with every case it changes: a parent and its children move
//! together or not at all.

use super::message::MessageRecord;
use crate::desk::Level;
use serde::Serialize;

/// One action as the case history keeps it.
#[derive(Debug, Clone)]
pub struct ActionRecord<'a> {
    pub actor: &'a str,
    /// `correo` or `cli`.
    pub via: &'a str,
    pub level: Level,
    /// `nota`, `solucion`, …, `desconocido` (not understood), `validacion` (a survey answer).
    pub command: &'a str,
    pub argument: Option<&'a str>,
    pub text: &'a str,
    pub refused: bool,
}

/// The e-mail that carried an action.
pub struct AgentMessage<'a> {
    pub raw_id: i64,
    pub message: MessageRecord<'a>,
}

/// A solution marked for first contact: an entry of the CT-CAC-0127 guide.
#[derive(Debug, Clone)]
pub struct GuideEntry<'a> {
    pub tema: &'a str,
    pub codes: String,
    pub question: &'a str,
    pub answer: &'a str,
    pub author: &'a str,
}

/// The known-error entry a solved problema proposes.
#[derive(Debug, Clone)]
pub struct ProposalDraft<'a> {
    pub codes: String,
    pub error_text: &'a str,
    pub root_cause: &'a str,
    pub answer: &'a str,
}

/// What an action writes besides the cases it changes.
#[derive(Debug, Clone, Default)]
pub struct ActionExtras<'a> {
    /// A `#solucion primer-contacto`: an entry of the guide.
    pub guide: Option<GuideEntry<'a>>,
    /// A problema solved: a known-error proposal.
    pub proposal: Option<ProposalDraft<'a>>,
    /// `#aprobar-error-conocido`: the proposal approved (by the action's actor).
    pub approve: Option<i64>,
    /// `#fusionar`: the duplicate's rows move to the case that stays (before the changes are
    /// written, so the duplicate keeps only its closing rows).
    pub merge: Option<MergeMove>,
}

/// A duplicate (`from`, the case acted on) merged into the case `into`, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeMove {
    pub from: i64,
    pub into: i64,
}

/// What `#relacionado` writes besides the new case's own state.
pub struct RelatedCase<'a> {
    pub parent: &'a crate::store::cases::FoundCase,
    pub year: i32,
    pub prefix: &'a str,
    pub subject: &'a str,
    /// The agent's description: the new case's first message.
    pub description: &'a str,
    pub message: Option<AgentMessage<'a>>,
    pub action: &'a ActionRecord<'a>,
}

/// The new case's transition and mail and its parent's, composed once the number is known.
pub struct RelatedWrite {
    pub child: crate::desk::case::Transition,
    pub child_drafts: Vec<crate::store::outbox::OutboxDraft>,
    pub parent: crate::desk::case::Transition,
    pub parent_drafts: Vec<crate::store::outbox::OutboxDraft>,
}

/// An approved known error learned from a problema: it answers at first contact.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearnedError {
    pub codes: Vec<String>,
    pub error_text: String,
    pub root_cause: String,
    pub answer: String,
    pub case_number: String,
}

/// What the mail about a case needs from its history (templates, the CSAT package).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaseBrief {
    pub subject: String,
    pub requester_name: Option<String>,
    /// The requester's own words in the first message: the requirement's description.
    pub description: String,
    pub documents: Vec<BriefDocument>,
    pub rejections: Vec<BriefRejection>,
    pub actions: Vec<BriefAction>,
    /// The requester's stored messages, oldest first: their XML and evidence are forwarded.
    pub requester_raw_ids: Vec<i64>,
    pub codes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct BriefDocument {
    pub kind: String,
    pub number: Option<String>,
    pub uuid: Option<String>,
    pub response_code: Option<String>,
    pub environment: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct BriefRejection {
    pub code: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct BriefAction {
    #[serde(rename = "author")]
    pub actor: String,
    pub level: String,
    pub command: String,
    pub text: String,
    pub refused: i64,
    pub created_at: String,
}

/// The agents' conversation about one case, so far: every mail to agents about it threads on
/// it (one conversation per case in the agent's mail client).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentThread {
    /// The case's subject (every agent mail about the case carries it, tagged); `None` before
    /// the case exists.
    pub subject: Option<String>,
    /// Message-IDs (with angle brackets) of the agent mails already queued, oldest first.
    pub sent: Vec<String>,
    /// Outlook's Thread-Index of the newest of them: the next one extends it.
    pub last_thread_index: Option<String>,
}

/// Where mail to the requester threads: their latest message, and the conversation so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequesterThread {
    /// With angle brackets.
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// The `Thread-Index` of the requester's latest message that had one (Outlook), which
    /// answers to the requester extend.
    pub thread_index: Option<String>,
}

/// A case listed in a mass-incident suggestion.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SuggestedCase {
    pub number: String,
    pub subject: String,
    pub created_at: String,
}
