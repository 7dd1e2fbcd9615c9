//! The web console's sign-in links and sessions. Tokens are random and shown to the person once
//! (in the mail, in the cookie); the store keeps only their SHA-256, as hex.

/// An open session: who, and the token its forms must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub id: i64,
    pub address: String,
    pub csrf: String,
    /// RFC 3339 UTC.
    pub expires_at: String,
}

/// A live session as operators list it (`mesa-fe sesiones listar`): who, since when, until when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpenConsoleSession {
    pub address: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub expires_at: String,
}
