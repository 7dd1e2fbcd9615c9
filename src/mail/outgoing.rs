//! Outgoing mail: templates rendered with minijinja and the RFC 5322 message built with lettre,
//! with every threading and anti-loop header. Stub: the templates helper fills this in.

use serde_json::Value;

/// One automatic mail, ready to be formatted.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    /// Display name and address of the buzón it leaves from.
    pub from_name: String,
    pub from_address: String,
    pub to: Vec<String>,
    pub subject: String,
    /// With angle brackets.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    /// With angle brackets, oldest first.
    pub references: Vec<String>,
    /// Outlook's conversation topic: the subject without the tag and reply prefixes.
    pub thread_topic: String,
    /// Outlook's Thread-Index (base64), already computed for this message.
    pub thread_index: String,
    pub text: String,
    pub html: Option<String>,
}

/// Why an outgoing mail could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum OutgoingError {
    #[error("la plantilla {name} no existe")]
    MissingTemplate { name: String },
    #[error("la plantilla {name} tiene un error: {detail}")]
    Template { name: String, detail: String },
    #[error("no se pudo armar el correo: {0}")]
    Build(String),
}

/// The e-mail templates, loaded once (built-in, or from the configured folder).
#[derive(Debug, Clone, Default)]
pub struct Templates {}

impl Templates {
    /// The templates shipped in config/templates/.
    pub fn builtin() -> Templates {
        Templates {}
    }

    /// Text and HTML bodies of `kind` (e.g. `acuse_recibo`) for this context.
    pub fn render(&self, kind: &str, _context: &Value) -> Result<(String, String), OutgoingError> {
        Err(OutgoingError::MissingTemplate { name: kind.to_string() })
    }
}

/// RFC 5322 bytes with Message-ID, In-Reply-To, References, Thread-Topic, Thread-Index,
/// Auto-Submitted: auto-replied and X-Auto-Response-Suppress: All, text + HTML alternative.
pub fn build(outgoing: &Outgoing) -> Result<Vec<u8>, OutgoingError> {
    Err(OutgoingError::Build(format!("sin implementar ({})", outgoing.subject)))
}
