//! What the console's case page reads beyond `case show` ([`super::cases::CaseDetail`]): the
//! timeline with ids (messages and their attachments, agents' actions with the way they came,
//! mail with its times), documents with both parties, and one attachment's raw message.

use serde::Serialize;

/// The rows of one case's timeline and documents, oldest first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaseTimeline {
    pub messages: Vec<TimelineMessage>,
    pub attachments: Vec<AttachmentRow>,
    pub actions: Vec<TimelineAction>,
    pub mails: Vec<TimelineMail>,
    pub documents: Vec<DocumentDetail>,
    pub rejections: Vec<DocumentRejection>,
    pub breaches: Vec<SlaBreach>,
}

/// A service-level target that passed (`primera_respuesta` or `solucion`) at a level.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SlaBreach {
    pub level: String,
    pub target: String,
    pub due_at: String,
    pub detected_at: String,
}

/// A message on the case (in: requester and others; `agente`: an agent's mail command).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TimelineMessage {
    pub id: i64,
    pub direction: String,
    pub from_addr: String,
    pub subject: String,
    pub own_words: String,
    pub auto_generated: i64,
    pub attachment_problems: String,
    pub created_at: String,
}

/// An attachment's metadata (the bytes stay in the raw message).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: i64,
    pub case_message_id: i64,
    pub source: String,
    pub content_type: String,
    pub size_bytes: i64,
}

/// What an agent did, how it reached the desk (`correo`, `cli`, `consola`) and whether the
/// engine refused it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TimelineAction {
    pub actor: String,
    pub via: String,
    pub level: String,
    pub command: String,
    pub argument: Option<String>,
    pub text: String,
    pub refused: i64,
    pub created_at: String,
}

/// A mail of the desk about the case and where it stands in the outbox.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TimelineMail {
    pub kind: String,
    pub to_addr: String,
    pub subject: String,
    pub status: String,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub last_error: Option<String>,
}

/// A DIAN document read from the case's XML.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DocumentDetail {
    pub id: i64,
    pub kind: String,
    pub number: Option<String>,
    pub uuid: Option<String>,
    pub uuid_scheme: Option<String>,
    pub environment: Option<String>,
    pub supplier_nit: Option<String>,
    pub customer_nit: Option<String>,
    pub response_code: Option<String>,
    pub referenced_uuid: Option<String>,
    pub source: String,
}

/// A rule DIAN reported, and the document that carried it (`None`: read from the text).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DocumentRejection {
    pub document_id: Option<i64>,
    pub code: String,
    pub description: String,
}

/// One stored attachment of a case's message and the raw message that carries its bytes.
#[derive(Debug, Clone)]
pub struct StoredAttachment {
    pub source: String,
    pub content_type: String,
    pub sha256: String,
    /// Its place among the message's attachments (the parser's order).
    pub index: usize,
    /// The raw message as received; `None` once retention removed it.
    pub raw: Option<Vec<u8>>,
}
