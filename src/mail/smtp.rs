//! SMTP submission (lettre's SMTP client over sockets we open, tokio, rustls + ring): one
//! [`Sender`] per buzón, with a small pool of logged-in connections.
//!
//! - `tls = "implicito"`: TLS from the first byte (465); `"starttls"`: STARTTLS required before
//!   anything else (587); `"ninguno"`: plaintext, loopback only.
//! - Certificates are always verified, against the same roots as the IMAP connection: the
//!   bundled public roots plus the PEM certificates of `ca`. Implicit TLS uses the rustls
//!   `ClientConfig` of [`imap::tls_config`] directly; STARTTLS happens inside lettre's
//!   connection, which takes only its own [`TlsParameters`], so the same roots are handed over
//!   with [`TlsParametersBuilder`] ([`CertificateStore::WebpkiRoots`] +
//!   [`TlsParametersBuilder::add_root_certificate`]).
//! - AUTH PLAIN (or LOGIN) with the password, or XOAUTH2 with a token of the buzón's
//!   [`TokenSource`]; no AUTH without `usuario`. The token is asked for on every send (the source
//!   caches it); a pooled connection that logged in with another token is closed, so new
//!   connections log in with the new one. A refused token is invalidated, so the next send asks
//!   for another.
//! - The socket is ours (`AsyncSmtpConnection::connect_with_transport`) so that it has
//!   `TCP_NODELAY`: lettre writes the message and the final `.` separately, and with Nagle's
//!   algorithm that last write waits for the server's delayed ACK, ~40 ms per message on
//!   loopback (22 messages/s); with it, ~1 ms.
//! - The pool: up to `conexiones_smtp` connections in use at once (more senders wait their
//!   turn) and as many kept idle, the most recently used taken first. A connection used in the
//!   last [`CHECK_AFTER`] goes straight to `MAIL FROM` (lettre's own pool sent a NOOP before
//!   every reuse: one more round trip per message); idle longer, it answers a NOOP first. Either
//!   way a connection the server closed while idle (a restart, its idle limit) is noticed
//!   without a round trip, by a non-blocking peek at its socket, and replaced. Unused for
//!   [`POOL_IDLE`], it is closed (QUIT). A connection whose send failed, timed out or was
//!   dropped unfinished is never put back: it may be mid-command.
//! - Timeouts: the TCP connect ([`CONNECT_TIMEOUT`]), and the whole send (connect, TLS, AUTH,
//!   MAIL, RCPT, DATA and the final reply) within [`SEND_TIMEOUT`] plus the time the message
//!   needs at [`MIN_THROUGHPUT`].
//!
//! Failures, as the outbox needs them (never a secret in the text):
//!
//! | what happened                                          | [`SmtpError`]           |
//! |--------------------------------------------------------|-------------------------|
//! | connection refused, reset, DNS, timeout                | `Transient`, no code    |
//! | TLS handshake, certificate not verified                | `Transient`, no code    |
//! | 4xx reply (421, 450, 451, 452, 454…)                   | `Transient`, the code   |
//! | 530, 534, 535, 538 (AUTH refused or required)          | `Transient`, the code   |
//! | XOAUTH2 token refused (challenge instead of 235)       | `Transient`, no code    |
//! | no usable AUTH mechanism, no STARTTLS offered          | `Transient`, no code    |
//! | other 5xx reply (550, 551, 552, 553, 554…)             | `Permanent`, the code   |
//! | invalid recipient, no recipient, 8-bit not accepted    | `Permanent`, no code    |
//! | invalid envelope sender; bad settings at start-up      | `Config`                |
//!
//! Refused credentials are transient on purpose: the message is fine, every message of the
//! buzón fails the same way until an operator fixes the password or the application's
//! permissions, and a permanent failure would drop them all. The outbox keeps retrying with
//! backoff up to its horizon; the error names the user and says what to check.
//!
//! lettre aborts the whole transaction when one recipient is refused: a message to several
//! recipients fails as a whole (the outbox sends one recipient per row).

use std::error::Error as _;
use std::io;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, CertificateStore, TlsParameters,
    TlsParametersBuilder,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tracing::{debug, warn};

use crate::config::{AuthMethod, SMTP_CONNECTIONS_MAX, SmtpSettings, TlsMode, is_loopback};
use crate::mail::imap::{self, ImapError};
use crate::mail::oauth::{OAuthError, TokenSource};
use crate::mail::wire::Wire;
use crate::secrets::{self, Secret};

/// TCP connect, and the TLS handshake of implicit TLS.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// One whole send (connect, TLS, AUTH, MAIL, RCPT, DATA and the final reply), besides the time
/// the message needs on the wire at [`MIN_THROUGHPUT`].
pub const SEND_TIMEOUT: Duration = Duration::from_secs(120);
/// Slowest upload assumed, in bytes per second: a 25 MB message gets 120 s + 381 s.
pub const MIN_THROUGHPUT: u64 = 64 * 1024;
/// A pooled connection unused this long is closed (the sweep looks every half of it, so it can
/// live up to one and a half times this); far below servers' idle limits (Postfix: 300 s).
pub const POOL_IDLE: Duration = Duration::from_secs(30);
/// A pooled connection idle longer than this answers a NOOP before it carries a message; one
/// used more recently is taken as it is (the peek at its socket still sees a close).
pub const CHECK_AFTER: Duration = Duration::from_secs(5);
/// Longest wait for the server's reply to a QUIT or a NOOP of a pooled connection.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A failed send, shaped for the outbox: transient ones are retried with backoff, permanent ones
/// mark the row failed with the server's reply.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// Connection refused/lost, timeout, TLS trouble, a 4xx reply, refused credentials: try
    /// again later.
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

    /// The server's reply code, when the failure was a reply (for metrics: `ReplyFailed`).
    pub fn code(&self) -> Option<u16> {
        match self {
            SmtpError::Transient { code, .. } | SmtpError::Permanent { code, .. } => *code,
            SmtpError::Config(_) => None,
        }
    }
}

/// How the sender logs in.
enum Credential {
    /// No `usuario`: no AUTH.
    None,
    Password {
        user: String,
        password: Secret,
    },
    OAuth {
        user: String,
        tokens: Arc<TokenSource>,
    },
}

/// How a new connection is protected.
enum Protection {
    /// `ninguno` (loopback only).
    Plain,
    /// STARTTLS inside lettre's connection, with our roots.
    Starttls(TlsParameters),
    /// TLS from the first byte, with the IMAP side's `ClientConfig`.
    Implicit { connector: TlsConnector, name: ServerName<'static> },
}

/// One logged-in SMTP session.
struct Connection {
    smtp: AsyncSmtpConnection,
    /// The OAuth2 token it logged in with; `None` for a password or no AUTH.
    token: Option<Secret>,
    /// A second handle on the same socket, only for [`Connection::still_open`] (lettre keeps the
    /// stream to itself).
    probe: std::net::TcpStream,
}

impl Connection {
    /// Whether the server has neither closed the connection nor said anything while it sat
    /// idle: an idle SMTP server speaks only to hang up (`421`, a TLS close), so pending bytes
    /// mean the same as EOF. One non-blocking `MSG_PEEK`, no round trip.
    fn still_open(&self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.probe.peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

/// A connection waiting in the pool, and since when.
struct Idle {
    connection: Connection,
    since: Instant,
}

/// Sends already-formatted messages through one buzón's submission server.
pub struct Sender {
    host: String,
    port: u16,
    protection: Protection,
    credential: Credential,
    /// `host:port`, for messages.
    server: String,
    hello: ClientId,
    send_timeout: Duration,
    /// `conexiones_smtp`: connections in use at once, and the most kept idle.
    connections: usize,
    in_use: Semaphore,
    /// Most recently used last. Never locked across an `.await`; shared (weakly) with the sweep
    /// that closes what stayed unused.
    idle: Arc<Mutex<Vec<Idle>>>,
    sweep_started: AtomicBool,
}

impl Sender {
    /// Loads the CA file and secrets now, so a bad configuration fails at start-up.
    pub fn new(settings: &SmtpSettings) -> Result<Sender, SmtpError> {
        Sender::build(settings, None)
    }

    /// Like [`Sender::new`], with a token source shared with other users of the buzón's
    /// OAuth2 client (one cached token for all); ignored unless `autenticacion = "xoauth2"`.
    pub fn with_token_source(
        settings: &SmtpSettings,
        tokens: Arc<TokenSource>,
    ) -> Result<Sender, SmtpError> {
        Sender::build(settings, Some(tokens))
    }

    /// Bounds each send to `base` plus the message's time at [`MIN_THROUGHPUT`] (default
    /// [`SEND_TIMEOUT`]).
    pub fn with_send_timeout(mut self, base: Duration) -> Sender {
        self.send_timeout = base;
        self
    }

    /// `host:port` of the submission server.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// How many sends may run at once (`conexiones_smtp`); more wait for a connection.
    pub fn connections(&self) -> usize {
        self.connections
    }

    fn build(
        settings: &SmtpSettings,
        tokens: Option<Arc<TokenSource>>,
    ) -> Result<Sender, SmtpError> {
        let host = settings.host.trim();
        if host.is_empty() {
            return Err(SmtpError::Config("falta `servidor`".into()));
        }
        // Checks the CA file (readable, PEM, certificates) with the IMAP side's messages; the
        // OAuth2 token endpoint and implicit TLS trust the same roots.
        let roots = imap::tls_config(settings.ca_file.as_deref()).map_err(|e| match e {
            ImapError::Config(detail) => SmtpError::Config(detail),
            other => SmtpError::Config(other.to_string()),
        })?;
        let protection = match settings.tls {
            TlsMode::Ninguno if !is_loopback(host) => {
                return Err(SmtpError::Config(format!(
                    "tls = \"ninguno\" solo se permite hacia 127.0.0.1/localhost, no hacia {host}"
                )));
            }
            TlsMode::Ninguno => Protection::Plain,
            TlsMode::Implicito => Protection::Implicit {
                connector: TlsConnector::from(roots.clone()),
                name: server_name(host)?,
            },
            TlsMode::Starttls => Protection::Starttls(tls_parameters(host, settings)?),
        };
        let credential = match (&settings.user, settings.auth) {
            (None, _) => Credential::None,
            (Some(user), AuthMethod::Contrasena) => {
                let reference = settings.password.as_ref().ok_or_else(|| {
                    SmtpError::Config(
                        "autenticacion = \"contrasena\" sin `contrasena` (archivo, variable o \
                         credencial)"
                            .into(),
                    )
                })?;
                let password = secrets::load(reference)
                    .map_err(|e| SmtpError::Config(format!("contraseña SMTP: {e}")))?;
                Credential::Password { user: user.clone(), password }
            }
            (Some(user), AuthMethod::Xoauth2) => {
                let tokens = match tokens {
                    Some(tokens) => tokens,
                    None => {
                        let oauth = settings.oauth2.as_ref().ok_or_else(|| {
                            SmtpError::Config(
                                "autenticacion = \"xoauth2\" sin la sección oauth2".into(),
                            )
                        })?;
                        let source = TokenSource::with_tls(oauth, roots).map_err(|e| match e {
                            OAuthError::Config(detail) => SmtpError::Config(detail),
                            other => SmtpError::Config(other.to_string()),
                        })?;
                        Arc::new(source)
                    }
                };
                Credential::OAuth { user: user.clone(), tokens }
            }
        };
        // The configuration checks the range; a Sender built by hand still gets at least one.
        let connections = settings.connections.clamp(1, SMTP_CONNECTIONS_MAX);
        Ok(Sender {
            host: host.to_string(),
            port: settings.port,
            protection,
            credential,
            server: format!("{host}:{}", settings.port),
            // lettre's default: this machine's host name, as the transport used it.
            hello: ClientId::default(),
            send_timeout: SEND_TIMEOUT,
            connections,
            in_use: Semaphore::new(connections),
            idle: Arc::new(Mutex::new(Vec::with_capacity(connections))),
            sweep_started: AtomicBool::new(false),
        })
    }

    /// Sends `message` (RFC 5322 bytes) from `envelope_from` to `recipients`. Returns the
    /// server's final reply text (for the record), e.g. `250 2.0.0 Ok: queued as 4dXk…`.
    /// An empty `envelope_from` sends with the null reverse-path (`MAIL FROM:<>`).
    ///
    /// Dropping the future before it completes is safe: the connection of an unfinished send
    /// is closed, never pooled, since it is mid-command (the server may still have taken the
    /// message).
    pub async fn send(
        &self,
        envelope_from: &str,
        recipients: &[String],
        message: &[u8],
    ) -> Result<String, SmtpError> {
        let envelope = self.envelope(envelope_from, recipients)?;
        // Waiting for a free connection is not the server's slowness: outside the deadline.
        // The semaphore is never closed.
        let _turn = self.in_use.acquire().await;
        let limit = self.deadline(message.len());
        match tokio::time::timeout(limit, self.send_pooled(&envelope, message)).await {
            Ok(result) => result,
            Err(_) => {
                // The connection was dropped with the timed-out future: never reused.
                warn!(server = %self.server, limit = ?limit, "envío SMTP sin respuesta; se descarta su conexión");
                Err(self.transient(
                    None,
                    format!(
                        "sin respuesta del servidor en {}; revise que el puerto corresponda a \
                         `tls` (465 = implicito, 587 = starttls)",
                        human(limit)
                    ),
                ))
            }
        }
    }

    /// Closes the pooled connections (QUIT); a later send opens new ones.
    pub async fn close(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        for entry in idle {
            quit(entry.connection).await;
        }
    }

    /// One send on a pooled or new connection; the connection goes back only after a 250.
    async fn send_pooled(&self, envelope: &Envelope, message: &[u8]) -> Result<String, SmtpError> {
        let token = self.token().await?;
        let mut connection = match self.reuse(token.as_ref()).await {
            Some(connection) => connection,
            None => self.open(token).await?,
        };
        match connection.smtp.send(envelope, message).await {
            Ok(response) => {
                self.put_back(connection);
                Ok(reply_text(&response))
            }
            Err(e) => {
                // lettre already said QUIT after a refused command; a broken socket just closes.
                drop(connection);
                Err(self.failed(&e).await)
            }
        }
    }

    /// The token to log in with, asked for on every send (the source caches it).
    async fn token(&self) -> Result<Option<Secret>, SmtpError> {
        match &self.credential {
            Credential::OAuth { tokens, .. } => Ok(Some(tokens.token().await.map_err(|e| {
                self.transient(None, format!("no se obtuvo el token OAuth2 para AUTH: {e}"))
            })?)),
            Credential::None | Credential::Password { .. } => Ok(None),
        }
    }

    /// The most recently used idle connection still fit to carry a message, if any; the unfit
    /// ones met on the way are closed.
    async fn reuse(&self, token: Option<&Secret>) -> Option<Connection> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop()?;
            let idle_for = idle.since.elapsed();
            let mut connection = idle.connection;
            if !connection.still_open() {
                debug!(server = %self.server, "conexión SMTP cerrada por el servidor; se abre otra");
                continue;
            }
            if idle_for >= POOL_IDLE || connection.token.as_ref() != token {
                retire(connection);
                continue;
            }
            if idle_for >= CHECK_AFTER
                && !tokio::time::timeout(SHUTDOWN_TIMEOUT, connection.smtp.test_connected())
                    .await
                    .unwrap_or(false)
            {
                continue;
            }
            return Some(connection);
        }
    }

    /// A new connection: TCP (with `TCP_NODELAY`), TLS, EHLO, AUTH.
    async fn open(&self, token: Option<Secret>) -> Result<Connection, SmtpError> {
        let tcp = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(self.network(&e)),
            Err(_) => return Err(self.connect_timed_out()),
        };
        // Without it every message waits for the server's delayed ACK (see the module's docs).
        tcp.set_nodelay(true).map_err(|e| self.network(&e))?;
        let probe = probe(&tcp).map_err(|e| self.network(&e))?;
        let stream: Box<dyn AsyncTokioStream> = match &self.protection {
            Protection::Implicit { connector, name } => {
                match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name.clone(), tcp))
                    .await
                {
                    // lettre's own TLS path would open a socket without `TCP_NODELAY`.
                    Ok(Ok(tls)) => Box::new(Wire::Tls(Box::new(tls))),
                    Ok(Err(e)) => return Err(self.network(&e)),
                    Err(_) => return Err(self.connect_timed_out()),
                }
            }
            Protection::Plain | Protection::Starttls(_) => Box::new(tcp),
        };
        let mut smtp = match AsyncSmtpConnection::connect_with_transport(stream, &self.hello).await
        {
            Ok(smtp) => smtp,
            Err(e) => return Err(self.failed(&e).await),
        };
        if let Protection::Starttls(parameters) = &self.protection
            && let Err(e) = smtp.starttls(parameters.clone(), &self.hello).await
        {
            return Err(self.failed(&e).await);
        }
        let login = match (&self.credential, &token) {
            (Credential::Password { user, password }, _) => Some((
                vec![Mechanism::Plain, Mechanism::Login],
                Credentials::new(user.clone(), password.expose().to_string()),
            )),
            (Credential::OAuth { user, .. }, Some(token)) => Some((
                vec![Mechanism::Xoauth2],
                Credentials::new(user.clone(), token.expose().to_string()),
            )),
            _ => None,
        };
        if let Some((mechanisms, credentials)) = login
            && let Err(e) = smtp.auth(&mechanisms, &credentials).await
        {
            smtp.abort().await;
            return Err(self.failed(&e).await);
        }
        Ok(Connection { smtp, token, probe })
    }

    /// After a 250 the connection is between transactions: kept for the next send while the
    /// pool has room, else closed.
    fn put_back(&self, connection: Connection) {
        if connection.smtp.has_broken() {
            return;
        }
        let surplus = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < self.connections {
                idle.push(Idle { connection, since: Instant::now() });
                None
            } else {
                Some(connection)
            }
        };
        match surplus {
            Some(connection) => retire(connection),
            None => self.start_sweep(),
        }
    }

    /// Starts, once, the task that closes connections left unused for [`POOL_IDLE`]; it ends
    /// when the sender is dropped.
    fn start_sweep(&self) {
        if self.sweep_started.swap(true, Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(sweep(Arc::downgrade(&self.idle)));
    }

    fn deadline(&self, bytes: usize) -> Duration {
        self.send_timeout + Duration::from_secs(bytes as u64 / MIN_THROUGHPUT)
    }

    fn envelope(&self, from: &str, recipients: &[String]) -> Result<Envelope, SmtpError> {
        let from = match from.trim() {
            "" => None,
            address => Some(Address::from_str(address).map_err(|_| {
                SmtpError::Config(format!("la dirección del remitente \"{address}\" no es válida"))
            })?),
        };
        if recipients.is_empty() {
            return Err(self.permanent(None, "el mensaje no tiene destinatarios".into()));
        }
        let to = recipients
            .iter()
            .map(|r| {
                Address::from_str(r.trim()).map_err(|_| {
                    self.permanent(None, format!("la dirección de destino \"{r}\" no es válida"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Envelope::new(from, to)
            .map_err(|_| self.permanent(None, "el sobre del mensaje no es válido".into()))
    }

    /// A connect-time I/O error (TCP, DNS, implicit TLS handshake), in the words lettre's
    /// errors get.
    fn network(&self, e: &io::Error) -> SmtpError {
        match causes(e).find_map(|c| c.downcast_ref::<rustls::Error>()) {
            Some(tls) => self.transient(None, tls_text(tls, &self.host)),
            None => self.transient(None, io_text(e)),
        }
    }

    fn connect_timed_out(&self) -> SmtpError {
        let detail = format!(
            "no se pudo conectar: sin respuesta en {} s (¿servidor o puerto equivocado, o un \
             cortafuegos?)",
            CONNECT_TIMEOUT.as_secs()
        );
        self.transient(None, detail)
    }

    /// A lettre error as the outbox needs it; a refused token is forgotten.
    async fn failed(&self, e: &lettre::transport::smtp::Error) -> SmtpError {
        let (error, refused) = self.classify(e);
        if refused && let Credential::OAuth { tokens, .. } = &self.credential {
            tokens.invalidate().await;
        }
        error
    }

    /// The error, and whether the server refused the credentials.
    fn classify(&self, e: &lettre::transport::smtp::Error) -> (SmtpError, bool) {
        let text = e.source().map(|s| s.to_string()).unwrap_or_default();
        if let Some(code) = e.status() {
            let code = u16::from(code);
            let reply = format!("{code} {text}").trim_end().to_string();
            return match code {
                530 | 534 | 535 | 538 => (self.auth_refused(Some(code), &reply), code == 535),
                _ if e.is_transient() => (
                    self.transient(Some(code), format!("el servidor pidió reintentar: {reply}")),
                    false,
                ),
                _ => (
                    self.permanent(Some(code), format!("el servidor rechazó el envío: {reply}")),
                    false,
                ),
            };
        }
        if let Some(tls) = find_tls(e) {
            return (self.transient(None, tls_text(tls, &self.host)), false);
        }
        if e.is_timeout() {
            let detail = format!(
                "no se pudo conectar: sin respuesta en {} s (¿servidor o puerto equivocado, o un \
                 cortafuegos?)",
                CONNECT_TIMEOUT.as_secs()
            );
            return (self.transient(None, detail), false);
        }
        if let Some(io) = find_io(e) {
            return (self.transient(None, io_text(io)), false);
        }
        if e.is_client() {
            return self.client_error(&text);
        }
        if e.is_response() {
            let detail = if text == "incomplete response" {
                "el servidor cerró la conexión sin responder".to_string()
            } else {
                format!("respuesta ilegible del servidor ({text})")
            };
            return (self.transient(None, detail), false);
        }
        (self.transient(None, e.to_string()), false)
    }

    /// lettre's own refusals, told apart by their (stable, English) text.
    fn client_error(&self, text: &str) -> (SmtpError, bool) {
        if text.contains("non-ascii") {
            let detail = if text.contains("SMTPUTF8") {
                "el servidor no acepta direcciones con caracteres no ASCII (sin SMTPUTF8)"
            } else {
                "el servidor no acepta mensajes de 8 bits (sin 8BITMIME)"
            };
            return (self.permanent(None, detail.into()), false);
        }
        if text.contains("does not expect a challenge") || text.contains("Unrecognized challenge") {
            // XOAUTH2: a refused token comes back as a 334 with a JSON error.
            return (self.auth_refused(None, "el servidor rechazó el inicio de sesión"), true);
        }
        if text.contains("No compatible authentication mechanism") {
            let offered = match self.credential {
                Credential::OAuth { .. } => "XOAUTH2",
                _ => "PLAIN ni LOGIN",
            };
            let detail = format!(
                "el servidor no ofrece AUTH {offered}; revise `autenticacion` y que el puerto sea \
                 el de envío autenticado (587 o 465)"
            );
            return (self.transient(None, detail), false);
        }
        if text.contains("STARTTLS is not supported") {
            let detail = "el servidor no ofrece STARTTLS: use tls = \"implicito\" (puerto 465) si \
                          el servidor lo admite";
            return (self.transient(None, detail.into()), false);
        }
        (self.transient(None, format!("error del cliente SMTP: {text}")), false)
    }

    fn auth_refused(&self, code: Option<u16>, reply: &str) -> SmtpError {
        let detail = match &self.credential {
            Credential::Password { user, .. } => format!(
                "el servidor no aceptó la autenticación de {user} ({reply}); revise `usuario` y la \
                 contraseña configurada. Los correos siguen en cola"
            ),
            Credential::OAuth { user, .. } => format!(
                "el servidor no aceptó el token OAuth2 de {user} ({reply}); se pedirá otro en el \
                 próximo intento. Si se repite, revise los permisos de la aplicación sobre el \
                 buzón (envío SMTP autenticado). Los correos siguen en cola"
            ),
            Credential::None => format!(
                "el servidor exige autenticación ({reply}); configure `usuario` y la contraseña \
                 o el token. Los correos siguen en cola"
            ),
        };
        self.transient(code, detail)
    }

    fn transient(&self, code: Option<u16>, detail: String) -> SmtpError {
        SmtpError::Transient { server: self.server.clone(), code, detail }
    }

    fn permanent(&self, code: Option<u16>, detail: String) -> SmtpError {
        SmtpError::Permanent { server: self.server.clone(), code, detail }
    }
}

/// Says QUIT on a connection that is no longer wanted (expired, surplus, another token), in the
/// background so the send that met it does not wait.
fn retire(connection: Connection) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(quit(connection));
    }
}

async fn quit(mut connection: Connection) {
    let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, connection.smtp.quit()).await;
}

/// Every half [`POOL_IDLE`], closes the connections unused for [`POOL_IDLE`]; ends with the
/// sender (the pool is only weakly held).
async fn sweep(idle: Weak<Mutex<Vec<Idle>>>) {
    loop {
        tokio::time::sleep(POOL_IDLE / 2).await;
        let Some(idle) = idle.upgrade() else { return };
        let expired: Vec<Idle> = {
            let mut idle = idle.lock().unwrap_or_else(PoisonError::into_inner);
            let (expired, kept) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|i| i.since.elapsed() >= POOL_IDLE);
            *idle = kept;
            expired
        };
        drop(idle);
        for entry in expired {
            quit(entry.connection).await;
        }
    }
}

/// Another handle on the connection's socket (a `dup`), for [`Connection::still_open`]. It
/// shares the socket's non-blocking mode with tokio's handle, so a peek never waits.
fn probe(tcp: &TcpStream) -> io::Result<std::net::TcpStream> {
    use std::os::fd::AsFd as _;
    let probe = std::net::TcpStream::from(tcp.as_fd().try_clone_to_owned()?);
    probe.set_nonblocking(true)?;
    Ok(probe)
}

/// The name the server's certificate must carry.
fn server_name(host: &str) -> Result<ServerName<'static>, SmtpError> {
    ServerName::try_from(host.to_string())
        .map_err(|_| SmtpError::Config(format!("`servidor` \"{host}\" no es un nombre válido")))
}

/// `120 s`, `300 ms`.
fn human(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// lettre's TLS settings with our roots: the bundled public ones plus `ca`. Verification on.
fn tls_parameters(host: &str, settings: &SmtpSettings) -> Result<TlsParameters, SmtpError> {
    server_name(host)?;
    let mut builder = TlsParametersBuilder::new(host.to_string())
        .certificate_store(CertificateStore::WebpkiRoots);
    if let Some(path) = &settings.ca_file {
        // Already read and checked by `imap::tls_config`.
        let shown = path.display();
        let pem = std::fs::read(path).map_err(|e| {
            SmtpError::Config(format!("no se pudo leer el archivo de CA `ca` ({shown}): {e}"))
        })?;
        let certificates = Certificate::from_pem(&pem).map_err(|_| {
            SmtpError::Config(format!("el archivo de CA `ca` ({shown}) no es PEM válido"))
        })?;
        builder = builder.add_root_certificate(certificates);
    }
    builder.build_rustls().map_err(|e| SmtpError::Config(format!("TLS: {e}")))
}

/// `250 2.0.0 Ok: queued as …`: the code and the reply's lines joined.
fn reply_text(response: &Response) -> String {
    let lines: Vec<&str> = response.message().collect();
    format!("{} {}", u16::from(response.code()), lines.join(" ")).trim_end().to_string()
}

/// Every error under `e`, looking inside `io::Error`s (whose `source()` skips the wrapped one).
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    let mut next = Some(e);
    std::iter::from_fn(move || {
        let current = next?;
        next = match current.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
        Some(current)
    })
}

fn find_tls(e: &lettre::transport::smtp::Error) -> Option<&rustls::Error> {
    causes(e).find_map(|c| c.downcast_ref::<rustls::Error>())
}

fn find_io(e: &lettre::transport::smtp::Error) -> Option<&io::Error> {
    causes(e).find_map(|c| c.downcast_ref::<io::Error>())
}

/// I/O errors in Spanish; the OS text is kept for the details.
fn io_text(e: &io::Error) -> String {
    let what = match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            "no se pudo conectar: conexión rechazada (¿el servidor está en marcha y escucha en \
             ese puerto?)"
        }
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            "el servidor cortó la conexión"
        }
        io::ErrorKind::BrokenPipe | io::ErrorKind::UnexpectedEof => "el servidor cerró la conexión",
        io::ErrorKind::TimedOut => "tiempo de espera agotado",
        _ => "error de red",
    };
    format!("{what} ({e})")
}

/// A failed TLS handshake, with what to check.
fn tls_text(tls: &rustls::Error, host: &str) -> String {
    crate::mail::imap::certificate_problem(tls, host).unwrap_or_else(|| {
        format!(
            "falló la negociación TLS: {tls} (¿el puerto corresponde a `tls`? 465 = implicito, \
             587 = starttls)"
        )
    })
}

#[cfg(test)]
mod tests {
    //! Against a scripted SMTP server on loopback (plaintext): reply codes, the pool across a
    //! server restart, a server that stops answering.

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::{JoinHandle, JoinSet};

    use super::*;
    use crate::config::SecretRef;

    /// What the scripted server answers; by recipient for RCPT.
    #[derive(Clone, Default)]
    struct Script {
        /// Never answer anything after the greeting.
        mute: bool,
        /// Reply to AUTH (default `235 2.7.0 Authentication successful`).
        auth: Option<&'static str>,
    }

    struct Fake {
        port: u16,
        connections: Arc<AtomicUsize>,
        messages: Arc<AtomicUsize>,
        task: JoinHandle<()>,
    }

    impl Fake {
        async fn start(script: Script) -> Fake {
            Fake::on(0, script, Arc::default(), Arc::default()).await
        }

        async fn on(
            port: u16,
            script: Script,
            connections: Arc<AtomicUsize>,
            messages: Arc<AtomicUsize>,
        ) -> Fake {
            let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let (c, m) = (connections.clone(), messages.clone());
            let task = tokio::spawn(async move {
                // Aborting this task drops the set, which aborts (and closes) every session.
                let mut sessions = JoinSet::new();
                while let Ok((socket, _)) = listener.accept().await {
                    c.fetch_add(1, Ordering::SeqCst);
                    let (script, m) = (script.clone(), m.clone());
                    sessions.spawn(async move {
                        let _ = session(socket, script, m).await;
                    });
                }
            });
            Fake { port, connections, messages, task }
        }

        /// Stops listening and cuts every open session.
        async fn stop(self) -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
            self.task.abort();
            let _ = self.task.await;
            (self.port, self.connections, self.messages)
        }
    }

    async fn session(
        socket: TcpStream,
        script: Script,
        messages: Arc<AtomicUsize>,
    ) -> io::Result<()> {
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read);
        write.write_all(b"220 fake ESMTP\r\n").await?;
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            if script.mute {
                continue;
            }
            let upper = line.to_ascii_uppercase();
            let reply: String = if upper.starts_with("EHLO") {
                "250-fake\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".into()
            } else if upper.starts_with("AUTH") {
                format!("{}\r\n", script.auth.unwrap_or("235 2.7.0 Authentication successful"))
            } else if upper.starts_with("MAIL") || upper.starts_with("NOOP") {
                "250 2.0.0 Ok\r\n".into()
            } else if upper.starts_with("RCPT") {
                format!("{}\r\n", rcpt_reply(&line))
            } else if upper.starts_with("DATA") {
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(&line);
                }
                if data.contains("X-Fake: reject") {
                    "554 5.7.1 Message rejected by policy\r\n".into()
                } else {
                    let n = messages.fetch_add(1, Ordering::SeqCst) + 1;
                    format!("250 2.0.0 Ok: queued as FAKE{n}\r\n")
                }
            } else if upper.starts_with("QUIT") {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            } else {
                "500 5.5.2 Error: command not recognized\r\n".into()
            };
            write.write_all(reply.as_bytes()).await?;
        }
    }

    fn rcpt_reply(line: &str) -> &'static str {
        let local = line.split('<').nth(1).and_then(|r| r.split('@').next()).unwrap_or("");
        match local {
            "cerrando" => "421 4.4.2 fake Error: timeout exceeded",
            "lleno" => "452 4.2.2 Mailbox full",
            "temporal" => "451 4.3.0 Temporary lookup failure",
            "gris" => "450 4.2.0 Greylisted, try again later",
            "nadie" => "550 5.1.1 <nadie@fe.test>: Recipient address rejected: User unknown",
            "malo" => "553 5.1.3 Bad recipient address syntax",
            _ => "250 2.1.5 Ok",
        }
    }

    fn settings(port: u16) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::Ninguno,
            ca_file: None,
            user: None,
            auth: AuthMethod::Contrasena,
            password: None,
            oauth2: None,
            sender_name: "Mesa".into(),
            connections: 4,
        }
    }

    const MESSAGE: &[u8] = b"From: a@fe.test\r\nTo: b@correo.example\r\nSubject: x\r\n\r\nhola\r\n";

    async fn send_to(sender: &Sender, to: &str, message: &[u8]) -> Result<String, SmtpError> {
        sender.send("sd_facturaelectronica@dian.gov.co", &[to.to_string()], message).await
    }

    #[tokio::test]
    async fn reply_codes_map_to_transient_and_permanent() {
        let fake = Fake::start(Script::default()).await;
        let sender = Sender::new(&settings(fake.port)).unwrap();
        let reply = send_to(&sender, "rosa@correo.example", MESSAGE).await.unwrap();
        assert_eq!(reply, "250 2.0.0 Ok: queued as FAKE1");
        for (local, code) in [("cerrando", 421), ("gris", 450), ("temporal", 451), ("lleno", 452)] {
            let err =
                send_to(&sender, &format!("{local}@correo.example"), MESSAGE).await.unwrap_err();
            assert!(err.is_transient(), "{code}: {err:?}");
            assert_eq!(err.code(), Some(code));
            assert!(err.to_string().contains(&format!("{code} 4.")), "{err}");
        }
        for (local, code) in [("nadie", 550), ("malo", 553)] {
            let err = send_to(&sender, &format!("{local}@fe.test"), MESSAGE).await.unwrap_err();
            assert!(matches!(err, SmtpError::Permanent { .. }), "{code}: {err:?}");
            assert_eq!(err.code(), Some(code));
        }
        let nadie = send_to(&sender, "nadie@fe.test", MESSAGE).await.unwrap_err().to_string();
        assert_eq!(
            nadie,
            "envío SMTP rechazado (127.0.0.1:".to_string()
                + &fake.port.to_string()
                + "): el servidor rechazó el envío: 550 5.1.1 <nadie@fe.test>: Recipient address \
                   rejected: User unknown"
        );
        let rejected = b"X-Fake: reject\r\nSubject: x\r\n\r\nhola\r\n";
        let err = send_to(&sender, "rosa@correo.example", rejected).await.unwrap_err();
        assert!(matches!(err, SmtpError::Permanent { code: Some(554), .. }), "{err:?}");
        // After all those aborted transactions the sender still works.
        assert!(send_to(&sender, "rosa@correo.example", MESSAGE).await.is_ok());
        fake.stop().await;
    }

    #[tokio::test]
    async fn bad_envelopes_fail_before_connecting() {
        let sender = Sender::new(&settings(9)).unwrap();
        let err = sender.send("a@fe.test", &[], MESSAGE).await.unwrap_err();
        assert!(matches!(err, SmtpError::Permanent { code: None, .. }), "{err:?}");
        let err = send_to(&sender, "sin arroba", MESSAGE).await.unwrap_err();
        assert!(err.to_string().contains("\"sin arroba\" no es válida"), "{err}");
        let err = sender.send("no es", &["b@fe.test".into()], MESSAGE).await.unwrap_err();
        assert!(matches!(err, SmtpError::Config(_)), "{err:?}");
    }

    #[tokio::test]
    async fn the_pool_reuses_connections_and_survives_a_server_restart() {
        let fake = Fake::start(Script::default()).await;
        let sender = Sender::new(&settings(fake.port)).unwrap();
        for _ in 0..3 {
            send_to(&sender, "rosa@correo.example", MESSAGE).await.unwrap();
        }
        assert_eq!(fake.connections.load(Ordering::SeqCst), 1, "one pooled connection");

        // Stopped: the pooled connection is dead and nothing listens.
        let (port, connections, messages) = fake.stop().await;
        let err = send_to(&sender, "rosa@correo.example", MESSAGE).await.unwrap_err();
        assert!(err.is_transient() && err.code().is_none(), "{err:?}");
        assert!(err.to_string().contains("conexión rechazada"), "{err}");

        // Back on the same port: the next send connects again.
        let fake = Fake::on(port, Script::default(), connections, messages).await;
        send_to(&sender, "rosa@correo.example", MESSAGE).await.unwrap();
        assert_eq!(fake.connections.load(Ordering::SeqCst), 2);

        // Restarted between two sends (no failed send in between): the pooled connection is
        // seen closed before use and replaced.
        let (port, connections, messages) = fake.stop().await;
        let fake = Fake::on(port, Script::default(), connections, messages).await;
        let reply = send_to(&sender, "rosa@correo.example", MESSAGE).await.unwrap();
        assert_eq!(reply, "250 2.0.0 Ok: queued as FAKE5");
        assert_eq!(fake.connections.load(Ordering::SeqCst), 3);
        fake.stop().await;
    }

    #[tokio::test]
    async fn twenty_sends_share_the_one_connection_allowed() {
        let fake = Fake::start(Script::default()).await;
        let mut smtp = settings(fake.port);
        smtp.connections = 1;
        let sender = Sender::new(&smtp).unwrap();
        let sends = (0..20).map(|_| send_to(&sender, "rosa@correo.example", MESSAGE));
        let replies = futures::future::join_all(sends).await;
        assert!(replies.iter().all(Result::is_ok), "{replies:?}");
        assert_eq!(fake.messages.load(Ordering::SeqCst), 20);
        assert_eq!(fake.connections.load(Ordering::SeqCst), 1, "one connection, reused");
        fake.stop().await;
    }

    #[tokio::test]
    async fn a_failed_send_does_not_return_its_connection_to_the_pool() {
        let fake = Fake::start(Script::default()).await;
        let sender = Sender::new(&settings(fake.port)).unwrap();
        send_to(&sender, "rosa@correo.example", MESSAGE).await.unwrap();
        let err = send_to(&sender, "nadie@fe.test", MESSAGE).await.unwrap_err();
        assert_eq!(err.code(), Some(550));
        assert!(sender.idle.lock().unwrap().is_empty(), "the refused send's connection is gone");
        send_to(&sender, "rosa@correo.example", MESSAGE).await.unwrap();
        assert_eq!(fake.connections.load(Ordering::SeqCst), 2, "a new one after the failure");
        fake.stop().await;
    }

    #[tokio::test]
    async fn a_server_that_stops_answering_is_transient_and_the_pool_is_discarded() {
        let fake = Fake::start(Script { mute: true, ..Script::default() }).await;
        let sender = Sender::new(&settings(fake.port))
            .unwrap()
            .with_send_timeout(Duration::from_millis(300));
        let started = Instant::now();
        let err = send_to(&sender, "rosa@correo.example", MESSAGE).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert!(err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("sin respuesta del servidor en 300 ms"), "{err}");
        assert!(sender.idle.lock().unwrap().is_empty(), "connection not pooled");
        // The next send does not wait on the dead one: it opens another (and times out again).
        let err = send_to(&sender, "rosa@correo.example", MESSAGE).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert_eq!(fake.connections.load(Ordering::SeqCst), 2);
        fake.stop().await;
    }

    #[tokio::test]
    async fn refused_credentials_are_transient_and_say_what_to_check() {
        let fake = Fake::start(Script {
            auth: Some("535 5.7.8 Error: authentication failed"),
            mute: false,
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clave");
        std::fs::write(&file, "clave-que-no-va-71\n").unwrap();
        let mut smtp = settings(fake.port);
        smtp.user = Some("sd_facturaelectronica@dian.gov.co".into());
        smtp.password = Some(SecretRef { file: Some(file), ..SecretRef::default() });
        let sender = Sender::new(&smtp).unwrap();
        let err = send_to(&sender, "rosa@correo.example", MESSAGE).await.unwrap_err();
        let text = err.to_string();
        assert!(err.is_transient(), "{err:?}");
        assert_eq!(err.code(), Some(535));
        assert!(text.contains("sd_facturaelectronica@dian.gov.co"), "{text}");
        assert!(text.contains("535 5.7.8 Error: authentication failed"), "{text}");
        assert!(text.contains("revise `usuario` y la contraseña"), "{text}");
        assert!(!text.contains("clave-que-no-va-71"), "{text}");
        fake.stop().await;
    }

    #[test]
    fn bad_settings_fail_at_start_up() {
        let mut smtp = settings(25);
        smtp.host = "smtp.office365.com".into();
        assert!(matches!(Sender::new(&smtp), Err(SmtpError::Config(_))), "plaintext off loopback");

        let mut smtp = settings(465);
        smtp.tls = TlsMode::Implicito;
        smtp.ca_file = Some("/no/existe/ca.pem".into());
        let err = Sender::new(&smtp).err().unwrap().to_string();
        assert!(
            err.starts_with("configuración SMTP inválida: no se pudo leer el archivo de CA"),
            "{err}"
        );

        let mut smtp = settings(587);
        smtp.tls = TlsMode::Starttls;
        smtp.user = Some("u@fe.test".into());
        let err = Sender::new(&smtp).err().unwrap().to_string();
        assert!(err.contains("sin `contrasena`"), "{err}");

        let mut smtp = settings(587);
        smtp.user = Some("u@fe.test".into());
        smtp.auth = AuthMethod::Xoauth2;
        assert!(Sender::new(&smtp).err().unwrap().to_string().contains("oauth2"));
    }

    #[test]
    fn timeouts_grow_with_the_message() {
        let sender = Sender::new(&settings(25)).unwrap();
        assert_eq!(sender.deadline(1000), SEND_TIMEOUT);
        assert_eq!(sender.deadline(25 * 1024 * 1024), SEND_TIMEOUT + Duration::from_secs(400));
    }
}
