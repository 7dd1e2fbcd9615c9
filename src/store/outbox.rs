//! The outbox: mail to send, written with the state change it reports, sent by one scheduler.
//! Statuses: `pendiente` → `enviado`, or `fallo_temporal` (retried at `next_attempt_at`) →
//! `fallo_permanente` (the server's reply kept); a mail sent and then returned by the remote
//! server (a bounce quoting its Message-ID) is `rebotado`, with the remote diagnostic. The
//! Message-ID is fixed at write time, so a
//! crash between sending and marking can resend the same message at most once, with the same
//! Message-ID, which mail clients show once.

use serde::Serialize;

use chrono::{DateTime, Utc};

pub use super::timestamp;
use crate::desk::case::ReplyKind;

mod context;

pub use context::{DraftContext, LearnedAnswer, UnreadableContext, into_map};

crate::names::named_enum! {
    /// Where an outbox row stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum OutboxStatus {
        Pendiente = "pendiente",
        Enviado = "enviado",
        /// Retried at `next_attempt_at`.
        FalloTemporal = "fallo_temporal",
        /// Not tried again (the server's reply kept), unless an operator says so.
        FalloPermanente = "fallo_permanente",
        /// Sent, then returned by the remote server (a bounce quoting its Message-ID): the
        /// recipient did not get it. [`OutboxItem::bounce`] says who and why.
        Rebotado = "rebotado",
    }
}

impl OutboxStatus {
    /// Reads a status an operator typed or a row holds: an unknown one is an error that names it.
    pub fn read(name: &str) -> Result<OutboxStatus, UnknownStatus> {
        OutboxStatus::parse(name).ok_or_else(|| UnknownStatus(name.to_string()))
    }
}

impl std::fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A status name this version does not know (a typo on the command line, a row written by a
/// newer version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("estado desconocido: \"{0}\"; use uno de {names}", names = OutboxStatus::ALL.map(OutboxStatus::as_str).join(", "))]
pub struct UnknownStatus(pub String);

/// A mail kind this version does not know (a row written by a newer version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tipo de correo desconocido en la cola de salida: \"{0}\"")]
pub struct UnknownKind(pub String);

/// One automatic mail to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxDraft {
    pub kind: ReplyKind,
    /// The buzón it is sent from (the one the case came in on).
    pub buzon: String,
    pub to: String,
    pub subject: String,
    /// With angle brackets, signed, on the message domain.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub context: DraftContext,
}

/// One outbox row, as the sender and `outbox show` need it.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub case_number: String,
    pub kind: ReplyKind,
    pub buzon: String,
    pub to_addr: String,
    pub subject: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub refs: Option<String>,
    /// As stored: [`OutboxItem::context`] reads it.
    pub context: String,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The digest that carries this agent notification (its status follows the digest's).
    pub digest_id: Option<i64>,
    /// The bounce that returned it, when one did.
    #[serde(rename = "rebote", skip_serializing_if = "Option::is_none")]
    pub bounce: Option<OutboxBounce>,
}

/// What a bounce said of one outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxBounce {
    /// When the bounce was processed.
    #[serde(rename = "fecha")]
    pub at: DateTime<Utc>,
    /// The address the remote server refused (the row's own, unless it was forwarded).
    #[serde(rename = "destinatario")]
    pub recipient: Option<String>,
    /// The enhanced status code (`5.1.1`).
    #[serde(rename = "estado")]
    pub status: Option<String>,
    /// The remote server's words.
    #[serde(rename = "diagnostico")]
    pub diagnostic: Option<String>,
}

/// One of our mails a bounce quotes: what the desk needs to tell the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BouncedRow {
    pub id: i64,
    pub case_id: i64,
    pub kind: ReplyKind,
    pub to_addr: String,
    pub subject: String,
    pub status: OutboxStatus,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// What a failed delivery writes on its outbox row.
#[derive(Debug, Clone, Copy)]
pub struct BounceMark<'a> {
    pub outbox_id: i64,
    pub recipient: Option<&'a str>,
    pub status: Option<&'a str>,
    pub diagnostic: &'a str,
}

/// A row that could not be read (a kind this version does not know, a malformed time): the
/// sender marks it failed instead of stopping on it; `outbox list` shows it as unreadable.
#[derive(Debug)]
pub struct UnreadableRow {
    pub id: i64,
    pub error: sqlx::Error,
}

impl Serialize for UnreadableRow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut row = serializer.serialize_struct("UnreadableRow", 2)?;
        row.serialize_field("id", &self.id)?;
        row.serialize_field("ilegible", &self.error.to_string())?;
        row.end()
    }
}

impl OutboxItem {
    /// The stored context. An error is that row's alone: it cannot be rendered, but it is no
    /// reason to stop the others.
    pub fn context(&self) -> Result<DraftContext, UnreadableContext> {
        serde_json::from_str(&self.context)
            .map_err(|source| UnreadableContext { id: self.id, source })
    }
}

/// What the worker does with a due agent notification.
#[derive(Debug)]
pub enum DigestPlan {
    /// Send it on its own, as always.
    Alone,
    /// It is in a digest already, or waits for its agent's next one: nothing now.
    Later,
    /// Fold these waiting notifications of one agent and buzón (this one among them, oldest
    /// first) into one digest.
    Gather(Vec<OutboxItem>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_stored_name() {
        for status in OutboxStatus::ALL {
            assert_eq!(OutboxStatus::read(status.as_str()), Ok(status));
            assert_eq!(serde_json::json!(status), serde_json::json!(status.as_str()));
        }
    }

    #[test]
    fn an_unknown_status_is_an_error_that_names_it_and_the_known_ones() {
        let error = OutboxStatus::read("enviada").expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "estado desconocido: \"enviada\"; use uno de pendiente, enviado, fallo_temporal, \
             fallo_permanente, rebotado"
        );
    }
}
