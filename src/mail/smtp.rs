//! SMTP submission with lettre (tokio, rustls + ring): one [`Sender`] per buzón, answering from
//! the buzón the case came in on. TLS verification is always on; a configured `ca` adds roots.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{AuthMethod, SmtpSettings, TlsMode};
use crate::mail::oauth::TokenSource;
use crate::secrets;

/// How long one SMTP exchange may take before it counts as a (transient) failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

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

/// How the sender logs in.
enum Login {
    None,
    /// PLAIN/LOGIN: the transport is built once, with the password, and pooled.
    Password,
    /// XOAUTH2: the token changes, so a transport is built per send with the current one.
    Token {
        user: String,
        tokens: Box<TokenSource>,
    },
}

/// Sends already-formatted messages through one buzón's submission server.
pub struct Sender {
    settings: SmtpSettings,
    tls: Tls,
    login: Login,
    pooled: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl Sender {
    /// Loads the CA file and secrets now, so a bad configuration fails at start-up.
    pub fn new(settings: &SmtpSettings) -> Result<Sender, SmtpError> {
        let tls = tls(settings)?;
        let (login, credentials) = match (&settings.user, settings.auth) {
            (None, _) => (Login::None, None),
            (Some(user), AuthMethod::Contrasena) => {
                let source = settings
                    .password
                    .as_ref()
                    .ok_or_else(|| SmtpError::Config("falta contrasena".into()))?;
                let secret = secrets::load(source).map_err(|e| SmtpError::Config(e.to_string()))?;
                (Login::Password, Some(Credentials::new(user.clone(), secret.expose().to_string())))
            }
            (Some(user), AuthMethod::Xoauth2) => {
                let oauth = settings
                    .oauth2
                    .as_ref()
                    .ok_or_else(|| SmtpError::Config("falta la sección oauth2".into()))?;
                let root = crate::mail::imap::tls_config(settings.ca_file.as_deref())
                    .map_err(|e| SmtpError::Config(e.to_string()))?;
                let tokens = TokenSource::with_tls(oauth, root)
                    .map_err(|e| SmtpError::Config(e.to_string()))?;
                (Login::Token { user: user.clone(), tokens: Box::new(tokens) }, None)
            }
        };
        let pooled = match login {
            Login::Token { .. } => None,
            _ => Some(transport(
                settings,
                tls.clone(),
                credentials,
                &[Mechanism::Plain, Mechanism::Login],
            )),
        };
        Ok(Sender { settings: settings.clone(), tls, login, pooled })
    }

    /// Sends `message` (RFC 5322 bytes) from `envelope_from` to `recipients`. Returns the
    /// server's final reply text (for the record).
    pub async fn send(
        &self,
        envelope_from: &str,
        recipients: &[String],
        message: &[u8],
    ) -> Result<String, SmtpError> {
        let envelope = self.envelope(envelope_from, recipients)?;
        let result = match (&self.login, &self.pooled) {
            (_, Some(pooled)) => pooled.send_raw(&envelope, message).await,
            (Login::Token { user, tokens }, None) => {
                let token =
                    tokens.token().await.map_err(|e| self.transient(None, e.to_string()))?;
                let credentials = Credentials::new(user.clone(), token.expose().to_string());
                let once = transport(
                    &self.settings,
                    self.tls.clone(),
                    Some(credentials),
                    &[Mechanism::Xoauth2],
                );
                let result = once.send_raw(&envelope, message).await;
                if result
                    .as_ref()
                    .is_err_and(|e| e.status().is_some_and(|c| c.to_string().starts_with('5')))
                {
                    // A rejected token: the next attempt fetches a fresh one.
                    tokens.invalidate().await;
                }
                result
            }
            (_, None) => return Err(SmtpError::Config("transporte SMTP sin construir".into())),
        };
        match result {
            Ok(response) => Ok(format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            )),
            Err(error) => Err(self.classify(&error)),
        }
    }

    fn envelope(&self, from: &str, recipients: &[String]) -> Result<Envelope, SmtpError> {
        let parse = |address: &str| {
            address.parse::<Address>().map_err(|e| SmtpError::Permanent {
                server: self.settings.host.clone(),
                code: None,
                detail: format!("la dirección «{address}» no es válida: {e}"),
            })
        };
        let to = recipients.iter().map(|r| parse(r)).collect::<Result<Vec<_>, _>>()?;
        Envelope::new(Some(parse(from)?), to).map_err(|e| SmtpError::Permanent {
            server: self.settings.host.clone(),
            code: None,
            detail: format!("sobre SMTP inválido: {e}"),
        })
    }

    fn transient(&self, code: Option<u16>, detail: String) -> SmtpError {
        SmtpError::Transient {
            server: format!("{}:{}", self.settings.host, self.settings.port),
            code,
            detail,
        }
    }

    /// 5xx → permanent; 4xx, connection, TLS and timeouts → transient.
    fn classify(&self, error: &lettre::transport::smtp::Error) -> SmtpError {
        let code = error.status().and_then(|c| c.to_string().parse::<u16>().ok());
        let server = format!("{}:{}", self.settings.host, self.settings.port);
        let detail = if error.is_tls() {
            format!(
                "{error}. No se pudo establecer TLS o verificar el certificado del servidor: revise `ca` y `servidor`"
            )
        } else {
            error.to_string()
        };
        if error.is_permanent() {
            SmtpError::Permanent { server, code, detail }
        } else {
            SmtpError::Transient { server, code, detail }
        }
    }
}

fn transport(
    settings: &SmtpSettings,
    tls: Tls,
    credentials: Option<Credentials>,
    mechanisms: &[Mechanism],
) -> AsyncSmtpTransport<Tokio1Executor> {
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
            .port(settings.port)
            .timeout(Some(SMTP_TIMEOUT))
            .tls(tls);
    if let Some(credentials) = credentials {
        builder = builder.credentials(credentials).authentication(mechanisms.to_vec());
    }
    builder.build()
}

/// The TLS mode with lettre's rustls backend: bundled public roots plus the configured CA.
fn tls(settings: &SmtpSettings) -> Result<Tls, SmtpError> {
    if settings.tls == TlsMode::Ninguno {
        return Ok(Tls::None);
    }
    let mut builder = TlsParameters::builder(settings.host.clone());
    if let Some(path) = &settings.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            SmtpError::Config(format!("no se pudo leer la CA {}: {e}", path.display()))
        })?;
        for block in pem_certificates(&pem) {
            let certificate = Certificate::from_pem(&block).map_err(|e| {
                SmtpError::Config(format!(
                    "la CA {} no es un certificado PEM válido: {e}",
                    path.display()
                ))
            })?;
            builder = builder.add_root_certificate(certificate);
        }
    }
    let parameters = builder.build_rustls().map_err(|e| {
        SmtpError::Config(format!("no se pudo preparar TLS para {}: {e}", settings.host))
    })?;
    Ok(match settings.tls {
        TlsMode::Implicito => Tls::Wrapper(parameters),
        _ => Tls::Required(parameters),
    })
}

/// Each `-----BEGIN CERTIFICATE-----` block of a PEM bundle.
fn pem_certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    const END: &str = "-----END CERTIFICATE-----";
    let text = String::from_utf8_lossy(pem);
    text.split_inclusive(END)
        .filter(|block| block.contains("-----BEGIN CERTIFICATE-----"))
        .map(|block| block.trim().as_bytes().to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_yields_each_certificate() {
        let one = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let bundle = format!("# comentario\n{one}{one}");
        assert_eq!(pem_certificates(bundle.as_bytes()).len(), 2);
        assert!(pem_certificates(b"nada").is_empty());
    }
}
