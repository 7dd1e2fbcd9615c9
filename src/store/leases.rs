//! Leases: which node reads a buzón or runs a timer when several share one database. The store
//! keeps them (`store/sql/leases.rs`); the daemon takes, renews and gives them back.

/// The answer to a request for a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseGrant {
    /// Held now, under this fencing token.
    Granted { token: i64 },
    /// Another live holder has it for `expires_in_ms` more, unless it renews.
    HeldBy { holder: String, expires_in_ms: i64 },
}

/// A lease as proof for a write: the write happens only if `holder` still has `name` under
/// `token` when it commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence<'a> {
    pub name: &'a str,
    pub holder: &'a str,
    pub token: i64,
}

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub name: String,
    pub holder: String,
    pub token: i64,
    /// Negative when it expired and nobody took it yet.
    pub expires_in_ms: i64,
}
