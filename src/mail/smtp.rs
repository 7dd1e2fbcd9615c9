//! SMTP submission with lettre (tokio, rustls + ring): one [`Sender`] per buzón. Stub: the SMTP
//! helper fills this in.

use crate::config::SmtpSettings;

/// A failed send, shaped for the outbox: transient ones are retried with backoff, permanent ones
/// mark the row failed with the server's reply.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// Connection refused/lost, timeout, TLS trouble, a 4xx reply: try again later.
    #[error("envío SMTP aplazado ({server}): {detail}")]
    Transient { server: String, code: Option<u16>, detail: String },
    /// A 5xx reply: this message will never be accepted as it is.
    #[error("envío SMTP rechazado ({server}): {detail}")]
    Permanent { server: String, code: Option<u16>, detail: String },
    /// Settings that cannot work (bad CA file, missing secret): fix the configuration.
    #[error("configuración SMTP inválida: {0}")]
    Config(String),
}

impl SmtpError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SmtpError::Transient { .. })
    }
}

/// Sends already-formatted messages through one buzón's submission server.
pub struct Sender {
    settings: SmtpSettings,
}

impl Sender {
    /// Loads the CA file and secrets now, so a bad configuration fails at start-up.
    pub fn new(settings: &SmtpSettings) -> Result<Sender, SmtpError> {
        Ok(Sender { settings: settings.clone() })
    }

    /// Sends `message` (RFC 5322 bytes) from `envelope_from` to `recipients`. Returns the
    /// server's final reply text (for the record).
    pub async fn send(
        &self,
        _envelope_from: &str,
        _recipients: &[String],
        _message: &[u8],
    ) -> Result<String, SmtpError> {
        Err(SmtpError::Transient {
            server: self.settings.host.clone(),
            code: None,
            detail: "sin implementar".into(),
        })
    }
}
