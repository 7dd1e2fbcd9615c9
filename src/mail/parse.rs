//! MIME → [`Inbound`] with mail-parser.

use super::{AttachmentLimits, Inbound};

/// The bytes are not an e-mail at all (no header block, binary garbage, no sender to answer).
/// Such a message is quarantined for an operator, never dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Unreadable {
    /// Spanish, for the operator.
    pub reason: String,
}

/// Parses one raw message. Stub: the mail helper fills this in.
pub fn parse(_raw: &[u8], _limits: &AttachmentLimits) -> Result<Inbound, Unreadable> {
    Err(Unreadable { reason: "sin implementar".into() })
}
