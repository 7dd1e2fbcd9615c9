//! IMAP over tokio (async-imap): TLS (implicit or STARTTLS) with rustls, LOGIN or XOAUTH2, and
//! the few commands the buzón watcher needs. Stub: the IMAP helper fills this in.

use std::future::Future;
use std::time::Duration;

use crate::config::ImapSettings;

/// An IMAP failure, shaped for the watcher: retriable ones mean "reconnect with backoff".
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// TCP connect, TLS handshake, a dropped connection, a timeout: try again later.
    #[error("no se pudo hablar con el servidor IMAP {server}: {detail}")]
    Connection { server: String, detail: String },
    /// The server refused the credentials or the token.
    #[error("el servidor IMAP {server} rechazó la autenticación de {user}: {detail}")]
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

/// Everything needed to open sessions to one buzón: settings, TLS roots, credentials.
pub struct Connector {
    settings: ImapSettings,
}

impl Connector {
    /// Loads the CA file and the secrets now, so a bad configuration fails at start-up.
    pub fn new(settings: &ImapSettings) -> Result<Connector, ImapError> {
        Ok(Connector { settings: settings.clone() })
    }

    /// Connects, secures, authenticates, creates the processed folder if missing and selects the
    /// watched folder.
    pub async fn connect(&self) -> Result<Mailbox, ImapError> {
        Err(ImapError::Connection {
            server: self.settings.host.clone(),
            detail: "sin implementar".into(),
        })
    }
}

/// A logged-in session with the watched folder selected.
pub struct Mailbox {
    uidvalidity: u32,
}

impl Mailbox {
    pub fn uidvalidity(&self) -> u32 {
        self.uidvalidity
    }

    pub fn has_idle(&self) -> bool {
        false
    }

    /// UIDs that may need work: with `mover`, every message in the folder; with `marcar_leido`,
    /// UIDs above `last_uid` plus unseen ones at or below it. Ascending.
    pub async fn candidates(&mut self, _last_uid: u32) -> Result<Vec<u32>, ImapError> {
        Ok(Vec::new())
    }

    /// `RFC822.SIZE` of each UID (missing UIDs are left out).
    pub async fn sizes(&mut self, _uids: &[u32]) -> Result<Vec<(u32, u64)>, ImapError> {
        Ok(Vec::new())
    }

    /// `UID FETCH … BODY.PEEK[]`: the whole message, without setting \\Seen.
    pub async fn fetch(&mut self, _uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        Ok(Vec::new())
    }

    /// `UID FETCH … BODY.PEEK[HEADER]`: only the header block (for oversized messages).
    pub async fn fetch_headers(&mut self, _uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        Ok(Vec::new())
    }

    /// Tells the server the messages are safely stored: MOVE (or COPY + \\Deleted + UID
    /// EXPUNGE) to the processed folder, or +FLAGS \\Seen, as configured.
    pub async fn mark_processed(&mut self, _uids: &[u32]) -> Result<(), ImapError> {
        Ok(())
    }

    /// IDLE until the server has news, `renew` passes, or `shutdown` completes; the session
    /// comes back usable in every case but an error.
    pub async fn idle(
        self,
        _renew: Duration,
        _shutdown: impl Future<Output = ()>,
    ) -> Result<(Mailbox, IdleOutcome), ImapError> {
        Ok((self, IdleOutcome::Timeout))
    }

    /// LOGOUT, ignoring errors: the session is being closed anyway.
    pub async fn logout(self) {}
}
