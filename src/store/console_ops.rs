//! What the console's Operación page reads that no other part of the store already gives: each
//! buzón's last stored message and its quarantine count, and the SLA breaches of the cases that
//! are still open at the level where they broke.

use serde::Serialize;

/// A buzón as its stored mail shows it (the connection itself is in [`crate::telemetry`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuzonActivity {
    pub buzon: String,
    /// When its newest message was stored (RFC 3339 UTC).
    pub last_received_at: String,
    /// That message's status (`procesado`, `cuarentena`…) and reason, when it has one.
    pub last_status: String,
    pub last_reason: Option<String>,
    /// Its messages in quarantine now.
    pub quarantined: i64,
}

/// A breach of a case still open at the level where the target passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenBreach {
    pub case_id: i64,
    pub number: String,
    pub level: String,
    /// `primera_respuesta` or `solucion`.
    pub target: String,
    /// When the target passed (RFC 3339 UTC).
    pub due_at: String,
}
