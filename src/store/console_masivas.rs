//! What the console's Masivas and Base de conocimiento pages read (issue 15): mass-incident
//! suggestions and parents, the mail to a parent's children, and the proposals waiting for a
//! coordinator (problems' known errors and edits of the base made in the console).

use serde::Serialize;

/// A mass-incident suggestion the desk mailed to a coordinator (`sugerencia_masiva`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SuggestionRow {
    pub code: String,
    /// Cases counted when the suggestion was made.
    pub case_count: i64,
    pub coordinator: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// A case with children (the parent of a mass incident).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ParentRow {
    pub id: i64,
    pub number: String,
    pub subject: String,
    pub status: String,
    pub children: i64,
    /// Children not yet solved or closed.
    pub open_children: i64,
}

/// An open case that could join a parent.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CandidateRow {
    pub id: i64,
    pub number: String,
    pub subject: String,
    pub status: String,
    pub level: String,
    pub created_at: String,
}

/// One child of a parent.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ChildRow {
    pub number: String,
    pub status: String,
    pub requester: String,
}

/// One mail queued to a parent's child: the solution or the validation question.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ChildMail {
    pub number: String,
    /// `solucion` or `validacion_masiva`.
    pub kind: String,
    /// `pendiente`, `enviado`, `fallo_temporal` or `fallo_permanente`.
    pub status: String,
    /// Set when a bounce came back for it.
    pub bounced_at: Option<String>,
}

/// A known error a solved problema proposes, waiting for its coordinator.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ProposalRow {
    pub id: i64,
    pub case_number: String,
    pub codes: String,
    pub error_text: String,
    pub root_cause: String,
    pub answer: String,
    pub proposed_at: String,
}

/// A proposed change of a known-error entry (`significado`, `respuesta_primer_contacto`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct KnownErrorEdit {
    pub id: i64,
    pub code: String,
    pub meaning: String,
    pub answer: String,
    pub proposed_by: String,
    pub proposed_at: String,
    /// `propuesta`, `aprobada` or `rechazada`.
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
}
