//! IMAP over tokio (async-imap): TLS (implicit or STARTTLS) with rustls, LOGIN or XOAUTH2, and
//! the few commands the buzón watcher needs.
//!
//! - [`Connector`] holds what one buzón needs to open sessions: its settings, the TLS roots
//!   (bundled public roots plus the configured `ca`), the password or the OAuth2
//!   [`TokenSource`]. Everything that can be wrong in the configuration fails in
//!   [`Connector::new`], at start-up.
//! - [`Mailbox`] is a logged-in session with the watched folder selected: list candidates, fetch
//!   with `BODY.PEEK[]` (the server's flags are untouched until the caller says so), mark
//!   processed (MOVE, COPY + EXPUNGE, or \Seen), IDLE, LOGOUT.
//!
//! async-imap gotchas handled here: the greeting is read by hand; STARTTLS is sent by hand and
//! the stream upgraded (no greeting after it); `N:*` always matches the last message, so UID
//! ranges are filtered; unsolicited responses go to a bounded(100) channel that drops on
//! overflow, so it is drained after every command and commands that cause one response per
//! message are sent in chunks of [`MAX_UIDS_PER_UPDATE`].
//!
//! A timeout or an I/O error leaves the session in an unknown state: the caller drops the
//! [`Mailbox`] and connects again ([`ImapError::is_retriable`]).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{Response, Status};
use async_imap::types::{Fetch, UnsolicitedResponse};
use futures::TryStreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::{AfterProcessing, AuthMethod, ImapSettings, TlsMode, is_loopback};
use crate::mail::oauth::{OAuthError, TokenSource};
use crate::mail::wire::Wire;
use crate::secrets::{self, Secret};

/// TCP connect + TLS handshake + greeting (+ STARTTLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// LOGIN or AUTHENTICATE, including getting an OAuth2 token.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Any other command; generous because a UID FETCH may carry a 25 MB message.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// DONE (end of IDLE) and LOGOUT.
const DONE_TIMEOUT: Duration = Duration::from_secs(30);
/// Capacity of async-imap's unsolicited channel (`bounded(100)`, overflow silently dropped).
const UNSOLICITED_CAPACITY: usize = 100;
/// MOVE/STORE/EXPUNGE produce one unsolicited response per message: stay under the capacity.
pub const MAX_UIDS_PER_UPDATE: usize = 64;
/// UIDs per FETCH/SEARCH set: keeps command lines far below servers' limits (Dovecot: 64 KiB).
pub const MAX_UIDS_PER_FETCH: usize = 500;

/// An IMAP failure, shaped for the watcher: retriable ones mean "reconnect with backoff".
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// TCP connect, TLS handshake, a dropped connection, a timeout: try again later.
    #[error("no se pudo hablar con el servidor IMAP {server}: {detail}")]
    Connection { server: String, detail: String },
    /// The server refused the credentials or the token, or no OAuth2 token could be had.
    #[error("no se pudo autenticar a {user} en el servidor IMAP {server}: {detail}")]
    Auth { server: String, user: String, detail: String },
    /// Settings that cannot work (bad CA file, missing secret…): fix the configuration.
    #[error("configuración IMAP inválida: {0}")]
    Config(String),
    /// The server answered NO/BAD to a command.
    #[error("el servidor IMAP respondió con error a {command}: {detail}")]
    Command { command: String, detail: String },
}

impl ImapError {
    /// Worth reconnecting for (with backoff); `false` means the operator must act.
    pub fn is_retriable(&self) -> bool {
        !matches!(self, ImapError::Config(_))
    }

    /// No OAuth2 token could be had, or the server refused it (counted apart in the metrics).
    pub fn is_token_failure(&self) -> bool {
        matches!(self, ImapError::Auth { detail, .. } if detail.contains("token OAuth2"))
    }
}

/// What ended an IDLE wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleOutcome {
    /// The server announced a change (new message, expunge…).
    NewData,
    /// The renewal timeout passed with no news.
    Timeout,
    /// The shutdown future completed.
    Shutdown,
}

/// Client TLS settings: ring provider, the bundled public roots (webpki-roots) plus the PEM
/// certificates of `ca_file`. Verification is always on.
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, ImapError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let shown = path.display();
        let pem = std::fs::read(path).map_err(|e| {
            ImapError::Config(format!(
                "no se pudo leer el archivo de CA `ca` ({shown}): {}",
                io_text(&e)
            ))
        })?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| {
                ImapError::Config(format!("el archivo de CA `ca` ({shown}) no es PEM válido: {e}"))
            })?;
            roots.add(cert).map_err(|e| {
                ImapError::Config(format!(
                    "el archivo de CA `ca` ({shown}) tiene un certificado inválido: {e}"
                ))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(ImapError::Config(format!(
                "el archivo de CA `ca` ({shown}) no contiene certificados PEM \
                 (-----BEGIN CERTIFICATE-----)"
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

type Client = async_imap::Client<Wire>;
type Session = async_imap::Session<Wire>;

/// How the session authenticates.
enum Credential {
    Password(Secret),
    OAuth(TokenSource),
}

/// Everything needed to open sessions to one buzón: settings, TLS roots, credentials.
pub struct Connector {
    settings: ImapSettings,
    tls: Arc<rustls::ClientConfig>,
    credential: Credential,
    /// `host:port`, for messages.
    server: String,
}

impl Connector {
    /// Loads the CA file and the secrets now, so a bad configuration fails at start-up.
    pub fn new(settings: &ImapSettings) -> Result<Connector, ImapError> {
        if settings.tls == TlsMode::Ninguno && !is_loopback(&settings.host) {
            return Err(ImapError::Config(format!(
                "tls = \"ninguno\" solo se permite hacia 127.0.0.1/localhost, no hacia {}",
                settings.host
            )));
        }
        ServerName::try_from(settings.host.as_str()).map_err(|_| {
            ImapError::Config(format!("`servidor` \"{}\" no es un nombre válido", settings.host))
        })?;
        let tls = tls_config(settings.ca_file.as_deref())?;
        let credential = match settings.auth {
            AuthMethod::Contrasena => {
                let reference = settings.password.as_ref().ok_or_else(|| {
                    ImapError::Config(
                        "autenticacion = \"contrasena\" sin `contrasena` (archivo, variable o \
                         credencial)"
                            .into(),
                    )
                })?;
                let password = secrets::load(reference)
                    .map_err(|e| ImapError::Config(format!("contraseña IMAP: {e}")))?;
                Credential::Password(password)
            }
            AuthMethod::Xoauth2 => {
                let oauth = settings.oauth2.as_ref().ok_or_else(|| {
                    ImapError::Config("autenticacion = \"xoauth2\" sin la sección oauth2".into())
                })?;
                let tokens = TokenSource::with_tls(oauth, tls.clone()).map_err(|e| match e {
                    OAuthError::Config(detail) => ImapError::Config(detail),
                    other => ImapError::Config(other.to_string()),
                })?;
                Credential::OAuth(tokens)
            }
        };
        Ok(Connector {
            server: format!("{}:{}", settings.host, settings.port),
            settings: settings.clone(),
            tls,
            credential,
        })
    }

    /// The OAuth2 token source of an XOAUTH2 buzón.
    pub fn token_source(&self) -> Option<&TokenSource> {
        match &self.credential {
            Credential::OAuth(tokens) => Some(tokens),
            Credential::Password(_) => None,
        }
    }

    /// Connects, secures, authenticates, creates the processed folder if missing and selects the
    /// watched folder.
    pub async fn connect(&self) -> Result<Mailbox, ImapError> {
        let client = self.within(CONNECT_TIMEOUT, "conexión", self.open()).await?;
        let mut session = self.within(LOGIN_TIMEOUT, "autenticación", self.login(client)).await?;
        let server = self.server.as_str();
        let caps = timed(server, "CAPABILITY", session.capabilities()).await?;
        let caps = Caps {
            idle: caps.has_str("IDLE"),
            mv: caps.has_str("MOVE"),
            uidplus: caps.has_str("UIDPLUS"),
        };
        let processed = encode_mailbox_name(&self.settings.processed_folder);
        if self.settings.after_processing == AfterProcessing::Mover {
            ensure_folder(server, &mut session, &processed, &self.settings.processed_folder)
                .await?;
        }
        let folder = encode_mailbox_name(&self.settings.folder);
        let selected = timeout(COMMAND_TIMEOUT, session.select(&folder))
            .await
            .map_err(|_| timed_out(server, "SELECT", COMMAND_TIMEOUT))?
            .map_err(|e| match e {
                async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => {
                    ImapError::Command {
                        command: format!("SELECT {}", self.settings.folder),
                        detail: format!(
                            "{}; revise `carpeta` en la configuración del buzón",
                            server_text(&text)
                        ),
                    }
                }
                other => imap_error(server, "SELECT", other),
            })?;
        let uidvalidity = selected.uid_validity.ok_or_else(|| ImapError::Command {
            command: format!("SELECT {}", self.settings.folder),
            detail: "el servidor no informó UIDVALIDITY".into(),
        })?;
        let mut mailbox = Mailbox {
            session,
            server: self.server.clone(),
            uidvalidity,
            caps,
            processed,
            after: self.settings.after_processing,
            news: false,
        };
        mailbox.drain();
        Ok(mailbox)
    }

    /// TCP, TLS as configured, greeting.
    async fn open(&self) -> Result<Client, ImapError> {
        let (host, port) = (self.settings.host.as_str(), self.settings.port);
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| self.connection(format!("no se pudo conectar: {}", io_text(&e))))?;
        let _ = tcp.set_nodelay(true);
        match self.settings.tls {
            TlsMode::Implicito => {
                let mut client = Client::new(Wire::Tls(Box::new(self.handshake(tcp).await?)));
                self.greeting(&mut client).await?;
                Ok(client)
            }
            TlsMode::Starttls => {
                let mut client = Client::new(Wire::Plain(tcp));
                self.greeting(&mut client).await?;
                client.run_command_and_check_ok("STARTTLS", None).await.map_err(|e| match e {
                    async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => {
                        ImapError::Config(format!(
                            "el servidor {} no aceptó STARTTLS ({}): use tls = \"implicito\" \
                             (puerto 993) si el servidor lo ofrece",
                            self.server,
                            server_text(&text)
                        ))
                    }
                    other => imap_error(&self.server, "STARTTLS", other),
                })?;
                // Bytes the server sent before the handshake are dropped with the old stream
                // (RFC 3501 §6.2.1: nothing before TLS is trusted). No greeting follows.
                let Wire::Plain(tcp) = client.into_inner() else {
                    return Err(self.connection("estado inesperado tras STARTTLS".into()));
                };
                Ok(Client::new(Wire::Tls(Box::new(self.handshake(tcp).await?))))
            }
            TlsMode::Ninguno => {
                let mut client = Client::new(Wire::Plain(tcp));
                self.greeting(&mut client).await?;
                Ok(client)
            }
        }
    }

    async fn handshake(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, ImapError> {
        let name = ServerName::try_from(self.settings.host.clone()).map_err(|_| {
            ImapError::Config(format!(
                "`servidor` \"{}\" no es un nombre válido",
                self.settings.host
            ))
        })?;
        TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| self.connection(tls_text(&e, &self.settings.host)))
    }

    /// `* OK` (or `* PREAUTH`) before anything else; `* BYE` means the server turned us away.
    async fn greeting(&self, client: &mut Client) -> Result<(), ImapError> {
        let response = client
            .read_response()
            .await
            .map_err(|e| self.connection(format!("sin saludo IMAP: {}", io_text(&e))))?
            .ok_or_else(|| self.connection("el servidor cerró la conexión sin saludo".into()))?;
        match response.parsed() {
            Response::Data { status: Status::Ok | Status::PreAuth, .. } => Ok(()),
            Response::Data { status, outcome, .. } => Err(self.connection(format!(
                "saludo {status:?}: {}",
                outcome.information.as_deref().unwrap_or("")
            ))),
            _ => Err(self.connection("el saludo no es una respuesta IMAP".into())),
        }
    }

    async fn login(&self, client: Client) -> Result<Session, ImapError> {
        let user = self.settings.user.as_str();
        match &self.credential {
            Credential::Password(password) => {
                client.login(user, password.expose()).await.map_err(|(e, _client)| {
                    self.auth_error(e, "revise `usuario` y la contraseña configurada")
                })
            }
            Credential::OAuth(tokens) => {
                let token = tokens.token().await.map_err(|e| match e {
                    OAuthError::Config(detail) => ImapError::Config(detail),
                    other => self.auth(format!("no se obtuvo el token OAuth2: {other}")),
                })?;
                let xoauth2 = XOAuth2 { user: user.to_string(), token };
                match client.authenticate("XOAUTH2", xoauth2).await {
                    Ok(session) => Ok(session),
                    Err((e, _client)) => {
                        let refused = matches!(
                            e,
                            async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_)
                        );
                        if refused {
                            // Revoked or expired early: the next attempt asks for a new one.
                            tokens.invalidate().await;
                        }
                        Err(self.auth_error(
                            e,
                            "el token OAuth2 fue rechazado (se pedirá otro en el próximo intento); \
                             si se repite, revise los permisos de la aplicación sobre el buzón",
                        ))
                    }
                }
            }
        }
    }

    fn auth_error(&self, e: async_imap::error::Error, hint: &str) -> ImapError {
        match e {
            async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => {
                self.auth(format!(
                    "el servidor respondió {}; {hint}",
                    server_text(&text).trim_end_matches('.')
                ))
            }
            async_imap::error::Error::Validate(_) => ImapError::Config(
                "el usuario o la contraseña IMAP contienen un salto de línea".into(),
            ),
            other => imap_error(&self.server, "autenticación", other),
        }
    }

    fn auth(&self, detail: String) -> ImapError {
        ImapError::Auth { server: self.server.clone(), user: self.settings.user.clone(), detail }
    }

    fn connection(&self, detail: String) -> ImapError {
        ImapError::Connection { server: self.server.clone(), detail }
    }

    async fn within<T>(
        &self,
        limit: Duration,
        what: &str,
        fut: impl Future<Output = Result<T, ImapError>>,
    ) -> Result<T, ImapError> {
        timeout(limit, fut).await.unwrap_or_else(|_| {
            Err(self.connection(format!("{what}: sin respuesta en {} s", limit.as_secs())))
        })
    }
}

/// SASL XOAUTH2 (Google, Microsoft): `user=…^Aauth=Bearer …^A^A`.
struct XOAuth2 {
    user: String,
    token: Secret,
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;

    fn process(&mut self, challenge: &[u8]) -> String {
        if challenge.is_empty() {
            format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token.expose())
        } else {
            // A refused token comes back as a base64 JSON error in a continuation; the answer
            // must be empty, then the server sends NO.
            String::new()
        }
    }
}

/// Creates `encoded` unless LIST shows it exists; a CREATE that fails because another session
/// created it meanwhile is fine.
async fn ensure_folder(
    server: &str,
    session: &mut Session,
    encoded: &str,
    shown: &str,
) -> Result<(), ImapError> {
    if folder_exists(server, session, encoded).await? {
        return Ok(());
    }
    match timeout(COMMAND_TIMEOUT, session.create(encoded)).await {
        Err(_) => Err(timed_out(server, "CREATE", COMMAND_TIMEOUT)),
        Ok(Ok(())) => Ok(()),
        Ok(Err(async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text))) => {
            if folder_exists(server, session, encoded).await? {
                Ok(())
            } else {
                Err(ImapError::Command {
                    command: format!("CREATE {shown}"),
                    detail: format!(
                        "{}; revise `carpeta_procesados` en la configuración del buzón",
                        server_text(&text)
                    ),
                })
            }
        }
        Ok(Err(other)) => Err(imap_error(server, "CREATE", other)),
    }
}

async fn folder_exists(
    server: &str,
    session: &mut Session,
    encoded: &str,
) -> Result<bool, ImapError> {
    let pattern = quote(encoded);
    let names = timed(server, "LIST", async {
        session.list(Some(""), Some(&pattern)).await?.try_collect::<Vec<_>>().await
    })
    .await?;
    Ok(!names.is_empty())
}

/// Capabilities that change what the session does.
#[derive(Debug, Clone, Copy)]
struct Caps {
    idle: bool,
    mv: bool,
    uidplus: bool,
}

/// A logged-in session with the watched folder selected.
pub struct Mailbox {
    session: Session,
    server: String,
    uidvalidity: u32,
    caps: Caps,
    /// Processed folder, modified UTF-7.
    processed: String,
    after: AfterProcessing,
    /// EXISTS/RECENT seen among unsolicited responses since the last [`Mailbox::candidates`]:
    /// the next [`Mailbox::idle`] returns at once instead of missing the message.
    news: bool,
}

impl Mailbox {
    pub fn uidvalidity(&self) -> u32 {
        self.uidvalidity
    }

    pub fn has_idle(&self) -> bool {
        self.caps.idle
    }

    /// The server advertises MOVE (RFC 6851).
    pub fn has_move(&self) -> bool {
        self.caps.mv
    }

    /// Use COPY + \Deleted + EXPUNGE even if the server has MOVE: for tests of that path and
    /// for servers whose MOVE misbehaves.
    #[doc(hidden)]
    pub fn disable_move(&mut self) {
        self.caps.mv = false;
    }

    /// UIDs that may need work: with `mover`, every message in the folder; with `marcar_leido`,
    /// UIDs above `last_uid` plus unseen ones at or below it. Ascending.
    pub async fn candidates(&mut self, last_uid: u32) -> Result<Vec<u32>, ImapError> {
        self.drain();
        self.news = false;
        let found: BTreeSet<u32> = match self.after {
            AfterProcessing::Mover => self.search("ALL").await?.into_iter().collect(),
            AfterProcessing::MarcarLeido => {
                let mut found = BTreeSet::new();
                if let Some(next) = last_uid.checked_add(1) {
                    // `N:*` always matches the last message, even below N: filter it out.
                    let above = self.search(&format!("UID {next}:*")).await?;
                    found.extend(above.into_iter().filter(|uid| *uid > last_uid));
                }
                if last_uid > 0 {
                    let unseen = self.search(&format!("UNSEEN UID 1:{last_uid}")).await?;
                    found.extend(unseen.into_iter().filter(|uid| *uid <= last_uid));
                }
                found
            }
        };
        self.drain();
        Ok(found.into_iter().collect())
    }

    /// `RFC822.SIZE` of each UID (missing UIDs are left out).
    pub async fn sizes(&mut self, uids: &[u32]) -> Result<Vec<(u32, u64)>, ImapError> {
        let fetched = self.fetch_items(uids, "RFC822.SIZE").await?;
        Ok(fetched
            .into_iter()
            .filter_map(|(uid, f)| f.size.map(|size| (uid, u64::from(size))))
            .collect())
    }

    /// `UID FETCH … BODY.PEEK[]`: the whole message, without setting \\Seen.
    pub async fn fetch(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        let fetched = self.fetch_items(uids, "BODY.PEEK[]").await?;
        Ok(fetched.into_iter().filter_map(|(uid, f)| f.body().map(|b| (uid, b.to_vec()))).collect())
    }

    /// `UID FETCH … BODY.PEEK[HEADER]`: only the header block (for oversized messages).
    pub async fn fetch_headers(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        let fetched = self.fetch_items(uids, "BODY.PEEK[HEADER]").await?;
        Ok(fetched
            .into_iter()
            .filter_map(|(uid, f)| f.header().map(|h| (uid, h.to_vec())))
            .collect())
    }

    /// Tells the server the messages are safely stored: MOVE (or COPY + \\Deleted + UID
    /// EXPUNGE) to the processed folder, or +FLAGS \\Seen, as configured.
    pub async fn mark_processed(&mut self, uids: &[u32]) -> Result<(), ImapError> {
        for set in uid_sets(uids, MAX_UIDS_PER_UPDATE) {
            match self.after {
                AfterProcessing::MarcarLeido => self.store(&set, "+FLAGS.SILENT (\\Seen)").await?,
                AfterProcessing::Mover if self.caps.mv => {
                    let (server, processed) = (&self.server, &self.processed);
                    timed(server, "UID MOVE", self.session.uid_mv(&set, processed)).await?;
                }
                AfterProcessing::Mover => {
                    let (server, processed) = (&self.server, &self.processed);
                    timed(server, "UID COPY", self.session.uid_copy(&set, processed)).await?;
                    self.store(&set, "+FLAGS.SILENT (\\Deleted)").await?;
                    let session = &mut self.session;
                    if self.caps.uidplus {
                        timed(&self.server, "UID EXPUNGE", async {
                            session.uid_expunge(&set).await?.try_collect::<Vec<_>>().await
                        })
                        .await?;
                    } else {
                        // Without UIDPLUS this also expunges messages others flagged \Deleted.
                        timed(&self.server, "EXPUNGE", async {
                            session.expunge().await?.try_collect::<Vec<_>>().await
                        })
                        .await?;
                    }
                }
            }
            self.drain();
        }
        Ok(())
    }

    /// IDLE until the server has news, `renew` passes, or `shutdown` completes; the session
    /// comes back usable in every case but an error.
    ///
    /// Returns `NewData` at once when a new message was announced during an earlier command
    /// (the server will not announce it again). Without IDLE on the server it waits `renew`
    /// (or `shutdown`) and asks with NOOP, so callers pass their poll interval as `renew` then.
    /// `renew` is a hard deadline: the keepalives servers send while idling do not extend it.
    pub async fn idle(
        mut self,
        renew: Duration,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(Mailbox, IdleOutcome), ImapError> {
        let renew = renew.max(Duration::from_secs(1));
        let mut shutdown = pin!(shutdown);
        self.drain();
        if std::mem::take(&mut self.news) {
            return Ok((self, IdleOutcome::NewData));
        }
        if !self.caps.idle {
            return self.wait_without_idle(renew, shutdown).await;
        }
        let server = self.server.clone();
        let unsolicited = self.session.unsolicited_responses.clone();
        let mut handle = self.session.idle();
        timed(&server, "IDLE", handle.init()).await?;
        // EXISTS that came before the server's "+ idling" went to the channel, not to `wait`.
        let mut announced = false;
        while let Ok(response) = unsolicited.try_recv() {
            announced |= announces_mail(&response);
        }
        let outcome = if announced {
            IdleOutcome::NewData
        } else {
            // async-imap's own timeout restarts with every keepalive: ours is the real one.
            let (wait, stop) = handle.wait_with_timeout(renew + Duration::from_secs(60));
            let mut wait = pin!(wait);
            tokio::select! {
                response = &mut wait => match response {
                    Ok(IdleResponse::NewData(_)) => IdleOutcome::NewData,
                    Ok(IdleResponse::Timeout | IdleResponse::ManualInterrupt) => IdleOutcome::Timeout,
                    Err(e) => return Err(imap_error(&server, "IDLE", e)),
                },
                () = &mut shutdown => {
                    drop(stop); // interrupts `wait`
                    let _ = timeout(DONE_TIMEOUT, wait).await;
                    IdleOutcome::Shutdown
                }
                () = sleep(renew) => {
                    drop(stop);
                    match timeout(DONE_TIMEOUT, wait).await {
                        Ok(Ok(IdleResponse::NewData(_))) => IdleOutcome::NewData,
                        _ => IdleOutcome::Timeout,
                    }
                }
            }
        };
        self.session = timeout(DONE_TIMEOUT, handle.done())
            .await
            .map_err(|_| timed_out(&server, "DONE", DONE_TIMEOUT))?
            .map_err(|e| imap_error(&server, "DONE", e))?;
        self.drain();
        if outcome == IdleOutcome::Timeout && std::mem::take(&mut self.news) {
            return Ok((self, IdleOutcome::NewData));
        }
        Ok((self, outcome))
    }

    /// LOGOUT, ignoring errors: the session is being closed anyway.
    pub async fn logout(mut self) {
        let _ = timeout(DONE_TIMEOUT, self.session.logout()).await;
    }

    /// The server has no IDLE: sleep, then NOOP to hear about new messages.
    async fn wait_without_idle(
        mut self,
        wait: Duration,
        mut shutdown: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<(Mailbox, IdleOutcome), ImapError> {
        tokio::select! {
            () = sleep(wait) => {}
            () = &mut shutdown => return Ok((self, IdleOutcome::Shutdown)),
        }
        timed(&self.server, "NOOP", self.session.noop()).await?;
        self.drain();
        let outcome = if std::mem::take(&mut self.news) {
            IdleOutcome::NewData
        } else {
            IdleOutcome::Timeout
        };
        Ok((self, outcome))
    }

    async fn search(&mut self, query: &str) -> Result<Vec<u32>, ImapError> {
        let found = timed(&self.server, "UID SEARCH", self.session.uid_search(query)).await?;
        Ok(found.into_iter().collect())
    }

    async fn store(&mut self, set: &str, flags: &str) -> Result<(), ImapError> {
        let session = &mut self.session;
        timed(&self.server, "UID STORE", async {
            session.uid_store(set, flags).await?.try_collect::<Vec<_>>().await
        })
        .await?;
        Ok(())
    }

    /// One `UID FETCH` per [`MAX_UIDS_PER_FETCH`] UIDs; answers for other UIDs (unsolicited
    /// flag updates) are left out. Ascending by UID.
    async fn fetch_items(
        &mut self,
        uids: &[u32],
        items: &str,
    ) -> Result<Vec<(u32, Fetch)>, ImapError> {
        let wanted: BTreeSet<u32> = uids.iter().copied().collect();
        let mut found: BTreeMap<u32, Fetch> = BTreeMap::new();
        for set in uid_sets(uids, MAX_UIDS_PER_FETCH) {
            let session = &mut self.session;
            let fetched = timed(&self.server, "UID FETCH", async {
                session.uid_fetch(&set, items).await?.try_collect::<Vec<_>>().await
            })
            .await?;
            for f in fetched {
                if let Some(uid) = f.uid.filter(|uid| wanted.contains(uid)) {
                    let useful = f.size.is_some() || f.body().is_some() || f.header().is_some();
                    if useful {
                        found.insert(uid, f);
                    }
                }
            }
            self.drain();
        }
        Ok(found.into_iter().collect())
    }

    /// Empties async-imap's unsolicited channel, remembering whether new messages were
    /// announced. A full channel may have dropped such an announcement: count it as news.
    fn drain(&mut self) {
        let mut count = 0;
        while let Ok(response) = self.session.unsolicited_responses.try_recv() {
            count += 1;
            self.news |= announces_mail(&response);
        }
        if count >= UNSOLICITED_CAPACITY {
            self.news = true;
        }
    }
}

/// EXISTS or RECENT: the folder may have new messages.
fn announces_mail(response: &UnsolicitedResponse) -> bool {
    matches!(response, UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_))
}

/// Runs one async-imap command under [`COMMAND_TIMEOUT`], mapping its error.
async fn timed<T>(
    server: &str,
    command: &str,
    fut: impl Future<Output = async_imap::error::Result<T>>,
) -> Result<T, ImapError> {
    match timeout(COMMAND_TIMEOUT, fut).await {
        Ok(result) => result.map_err(|e| imap_error(server, command, e)),
        Err(_) => Err(timed_out(server, command, COMMAND_TIMEOUT)),
    }
}

fn timed_out(server: &str, command: &str, limit: Duration) -> ImapError {
    ImapError::Connection {
        server: server.into(),
        detail: format!("{command}: sin respuesta en {} s", limit.as_secs()),
    }
}

/// NO/BAD → `Command`; anything on the wire → `Connection` (reconnect).
fn imap_error(server: &str, command: &str, e: async_imap::error::Error) -> ImapError {
    use async_imap::error::Error;
    let connection = |detail: String| ImapError::Connection {
        server: server.into(),
        detail: format!("{command}: {detail}"),
    };
    match e {
        Error::No(text) | Error::Bad(text) => {
            ImapError::Command { command: command.into(), detail: server_text(&text) }
        }
        Error::Io(io) => connection(io_text(&io)),
        Error::ConnectionLost => connection("el servidor cerró la conexión".into()),
        Error::Parse(p) => connection(format!("respuesta ilegible del servidor ({p})")),
        Error::Validate(v) => ImapError::Config(format!("{command}: nombre inválido ({v})")),
        other => connection(other.to_string()),
    }
}

/// async-imap formats NO/BAD as `code: Some(X), info: Some("text")`: keep `[X] text`.
fn server_text(raw: &str) -> String {
    let code = raw
        .strip_prefix("code: Some(")
        .and_then(|rest| rest.split_once("), info: "))
        .map(|(code, _)| code);
    let info = raw
        .split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.strip_suffix("\")"))
        .map(|s| s.replace("\\\"", "\""));
    match (code, info) {
        (Some(code), Some(info)) => format!("[{code}] {info}"),
        (None, Some(info)) => info,
        _ => raw.to_string(),
    }
}

/// I/O errors in Spanish; the OS text is kept for the details.
fn io_text(e: &io::Error) -> String {
    let what = match e.kind() {
        io::ErrorKind::ConnectionRefused => "conexión rechazada",
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            "el servidor cortó la conexión"
        }
        io::ErrorKind::UnexpectedEof => "el servidor cerró la conexión",
        io::ErrorKind::TimedOut => "tiempo de espera agotado",
        io::ErrorKind::NotFound => "no existe",
        io::ErrorKind::PermissionDenied => "permiso denegado",
        _ => "error de E/S",
    };
    format!("{what} ({e})")
}

/// A failed TLS handshake, with what to check for certificate problems.
fn tls_text(e: &io::Error, host: &str) -> String {
    let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) else {
        return format!("falló la negociación TLS: {}", io_text(e));
    };
    certificate_problem(tls, host).unwrap_or_else(|| format!("falló la negociación TLS: {tls}"))
}

/// What is wrong with the server's certificate and what to check, for any mail protocol;
/// `None` when the TLS failure is not about the certificate.
pub(crate) fn certificate_problem(tls: &rustls::Error, host: &str) -> Option<String> {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(cert) = tls else { return None };
    let why = match cert {
        C::NotValidForName | C::NotValidForNameContext { .. } => format!(
            "no corresponde al nombre \"{host}\"; revise `servidor` (debe ser un nombre o IP del \
             certificado)"
        ),
        C::Expired | C::ExpiredContext { .. } => "venció".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "aún no es válido (¿el reloj de esta máquina está bien?)".into()
        }
        _ => format!(
            "no lo firmó una autoridad de confianza ({cert:?}); revise `ca` (archivo PEM de la \
             autoridad que firmó el certificado del servidor)"
        ),
    };
    Some(format!("no se pudo verificar el certificado del servidor: {why}"))
}

/// `"…"` with `\` and `"` escaped (RFC 3501 quoted string), for LIST patterns.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Mailbox names go on the wire in modified UTF-7 (RFC 3501 §5.1.3): `Eliminación` →
/// `Eliminaci&APM-n`, `&` → `&-`.
pub fn encode_mailbox_name(name: &str) -> String {
    use base64::Engine;
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|unit| unit.to_be_bytes()).collect();
        let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes);
        out.push('&');
        out.push_str(&encoded.replace('/', ","));
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Sorted, deduplicated UID sets in compact form (`1:3,7,9:10`), at most `max` UIDs each.
fn uid_sets(uids: &[u32], max: usize) -> Vec<String> {
    let sorted: Vec<u32> = uids.iter().copied().collect::<BTreeSet<u32>>().into_iter().collect();
    sorted.chunks(max.max(1)).map(compact).collect()
}

fn compact(sorted: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && end.checked_add(1) == Some(sorted[i + 1]) {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact_sorted_and_chunked() {
        assert_eq!(uid_sets(&[], 10), Vec::<String>::new());
        assert_eq!(uid_sets(&[5], 10), ["5"]);
        assert_eq!(uid_sets(&[3, 1, 2, 2, 7, 9, 10, 4_294_967_295], 10), ["1:3,7,9:10,4294967295"]);
        assert_eq!(uid_sets(&[1, 2, 3, 4, 5], 2), ["1:2", "3:4", "5"]);
        assert_eq!(uid_sets(&[4_294_967_294, 4_294_967_295], 5), ["4294967294:4294967295"]);
    }

    #[test]
    fn mailbox_names_in_modified_utf7() {
        assert_eq!(encode_mailbox_name("Procesados"), "Procesados");
        assert_eq!(encode_mailbox_name("INBOX/Facturación"), "INBOX/Facturaci&APM-n");
        assert_eq!(encode_mailbox_name("café con ñ"), "caf&AOk- con &APE-");
        assert_eq!(encode_mailbox_name("A&B"), "A&-B");
        assert_eq!(encode_mailbox_name("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(encode_mailbox_name("日本語"), "&ZeVnLIqe-");
        // Astral plane: a surrogate pair, ',' instead of '/'.
        assert_eq!(encode_mailbox_name("📁"), "&2D3cwQ-");
    }

    #[test]
    fn server_text_keeps_code_and_information() {
        assert_eq!(
            server_text(
                r#"code: Some(AuthenticationFailed), info: Some("Authentication failed.")"#
            ),
            "[AuthenticationFailed] Authentication failed."
        );
        assert_eq!(
            server_text(r#"code: None, info: Some("Mailbox doesn't exist: X")"#),
            "Mailbox doesn't exist: X"
        );
        assert_eq!(server_text("otra cosa"), "otra cosa");
    }

    #[test]
    fn ca_file_problems_are_config_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-existe.pem");
        let err = tls_config(Some(&missing)).unwrap_err();
        assert!(matches!(err, ImapError::Config(_)) && !err.is_retriable());
        assert!(err.to_string().contains("no-existe.pem"), "{err}");

        let empty = dir.path().join("vacio.pem");
        std::fs::write(&empty, "no es un certificado\n").unwrap();
        let err = tls_config(Some(&empty)).unwrap_err();
        assert!(err.to_string().contains("no contiene certificados PEM"), "{err}");

        let broken = dir.path().join("roto.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .unwrap();
        assert!(matches!(tls_config(Some(&broken)), Err(ImapError::Config(_))));

        assert!(tls_config(None).is_ok());
    }

    #[test]
    fn plaintext_is_refused_off_loopback() {
        let settings = ImapSettings {
            host: "imap.example.com".into(),
            port: 143,
            tls: TlsMode::Ninguno,
            ca_file: None,
            user: "u".into(),
            auth: AuthMethod::Contrasena,
            password: Some(crate::config::SecretRef {
                env: Some("PATH".into()),
                ..Default::default()
            }),
            oauth2: None,
            folder: "INBOX".into(),
            processed_folder: "Procesados".into(),
            after_processing: AfterProcessing::Mover,
            batch: 50,
            poll_seconds: 60,
            idle: true,
            idle_renew_minutes: 25,
        };
        let err = Connector::new(&settings).err().unwrap();
        assert!(matches!(err, ImapError::Config(_)), "{err}");
        let missing = ImapSettings {
            tls: TlsMode::Implicito,
            password: Some(crate::config::SecretRef {
                env: Some("MESA_FE_PRUEBA_NO_DEFINIDA_5d1".into()),
                ..Default::default()
            }),
            ..settings
        };
        let err = Connector::new(&missing).err().unwrap();
        assert!(matches!(err, ImapError::Config(_)), "{err}");
        assert!(err.to_string().contains("MESA_FE_PRUEBA_NO_DEFINIDA_5d1"), "{err}");
    }
}
