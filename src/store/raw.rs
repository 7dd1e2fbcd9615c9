//! Raw messages: stored and committed before anything else happens to them, deduplicated,
//! quarantined when unreadable.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Where a raw message came from: the buzón and, for IMAP, its UID coordinates.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub buzon: String,
    pub uidvalidity: Option<u32>,
    pub uid: Option<u32>,
    /// The size the server declared, when it is larger than the bytes kept: a message over the
    /// size limit is stored with its headers only.
    pub declared_size: Option<u64>,
}

impl Origin {
    /// A message handed over by hand (`mesa-fe ingest`), registered under a buzón.
    pub fn local(buzon: impl Into<String>) -> Origin {
        Origin { buzon: buzon.into(), ..Origin::default() }
    }
}

/// How far a buzón's reading has gone, written with the raw messages it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuzonProgress<'a> {
    pub buzon: &'a str,
    pub uidvalidity: u32,
    pub last_uid: u32,
    /// The buzón's lease when nodes share the database: nothing is stored unless it still holds.
    pub fence: Option<crate::store::leases::Fence<'a>>,
}

/// What storing a raw message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Stored for processing under this id.
    New(i64),
    /// The same message was already stored (same bytes, same IMAP UID, or the same Message-ID
    /// with the same content): kept as a duplicate row when its bytes differ, never processed
    /// twice.
    Duplicate { of: i64 },
}

crate::names::named_enum! {
    /// Lifecycle of a raw message.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum RawStatus {
        /// Stored, not yet turned into a case (replayed at start).
        Pendiente = "pendiente",
        Procesado = "procesado",
        Cuarentena = "cuarentena",
        /// The same message was stored before; these bytes are kept, never processed.
        Duplicado = "duplicado",
        /// Kept but not worked (our own mail coming back, a machine's mail with no case).
        Ignorado = "ignorado",
        /// Taken out of quarantine by an operator (`quarantine discard`, with a reason): not
        /// worked, its bytes kept until purge.
        Descartado = "descartado",
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A message held out of the case flow (quarantined or ignored), as operators list it.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineEntry {
    pub id: i64,
    pub buzon: String,
    pub received_at: String,
    pub size_bytes: i64,
    /// `cuarentena`, `ignorado` or `descartado`.
    pub status: String,
    pub reason: String,
}

/// What an operator did to a quarantined message (`quarantine reprocess` / `discard`).
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineAction {
    /// `reprocesar` or `descartar`.
    pub action: String,
    pub actor: String,
    pub reason: Option<String>,
    /// What came of it, in Spanish (the case it made, the new reason it stays for…).
    pub result: String,
    pub created_at: String,
}

/// Why a quarantined message could not be taken for an operator's action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotHeld {
    /// No raw message has that id.
    Unknown,
    /// It is not in quarantine: its status as stored (`descartado`, `procesado`…).
    Status(String),
}

/// One message to store.
#[derive(Debug, Clone, Copy)]
pub struct IncomingRaw<'a> {
    pub origin: &'a Origin,
    pub message_id: Option<&'a str>,
    pub raw: &'a [u8],
}

/// Headers the author wrote; everything else (Received, Delivered-To, Return-Path, DKIM, ARC,
/// X-…) is added on the way and differs between the copies that reach two buzones.
const AUTHOR_HEADERS: &[&str] =
    &["from", "sender", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references"];

/// A hash of what the author sent: the author's headers (unfolded, whitespace collapsed, in a
/// fixed order) and the body, with line endings normalized. Two copies of one message share it
/// whatever the servers added; two messages that share only a Message-ID do not.
pub(in crate::store) fn content_key(raw: &[u8]) -> String {
    let (head, body) = split_head(raw);
    let mut fields: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(head).split('\n') {
        let line = line.trim_end_matches('\r');
        match (line.starts_with([' ', '\t']), fields.last_mut()) {
            (true, Some(last)) => last.push_str(line),
            _ => fields.push(line.to_string()),
        }
    }
    let mut kept: Vec<String> = fields
        .iter()
        .filter_map(|field| field.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value))
        .filter(|(name, _)| AUTHOR_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| {
            format!("{name}:{}", value.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .collect();
    kept.sort();
    let mut hasher = Sha256::new();
    hasher.update(kept.join("\n").as_bytes());
    hasher.update(b"\n\n");
    // Line endings normalized without copying the body: the hash skips every CR.
    for piece in body.split(|b| *b == b'\r') {
        hasher.update(piece);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The header block and the body: split at the first empty line (CRs ignored, as a sender's
/// CRLF and a relay's LF are the same message).
fn split_head(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut from = 0;
    while let Some(at) = raw[from..].iter().position(|b| *b == b'\n').map(|at| from + at) {
        let next = raw[at + 1..].iter().position(|b| *b != b'\r').map(|skip| at + 1 + skip);
        match next {
            Some(blank) if raw[blank] == b'\n' => return (&raw[..at], &raw[blank + 1..]),
            _ => from = at + 1,
        }
    }
    (raw, &[])
}

#[cfg(test)]
mod tests {
    use super::content_key;

    #[test]
    fn trace_headers_and_line_endings_do_not_change_the_content_key() {
        let mail = "From: a@b.example\r\nSubject: Factura\r\n  rechazada\r\nMessage-ID: <1@b>\r\n\r\nHola\r\n";
        let relayed = format!(
            "Received: from mx by mx2\r\nDelivered-To: buzon@dian.gov.co\r\n{}",
            mail.replace("\r\n", "\n")
        );
        assert_eq!(content_key(mail.as_bytes()), content_key(relayed.as_bytes()));
        let other_body = mail.replace("Hola", "Adiós");
        assert_ne!(content_key(mail.as_bytes()), content_key(other_body.as_bytes()));
        let other_subject = mail.replace("Factura", "Nómina");
        assert_ne!(content_key(mail.as_bytes()), content_key(other_subject.as_bytes()));
    }
}
