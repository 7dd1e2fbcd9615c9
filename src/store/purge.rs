//! Retention (`mesa-fe purge`): the bodies and attachments of cases closed long enough ago are
//! removed; the case record (case row, documents, rejections, actions, outbox headers) and its
//! whole event log stay.
//!
//! What goes, per case and in one transaction: the `raw_bodies` rows of every raw message of the
//! case (its messages, the agents' mail that acted on it and the duplicate copies of those), the
//! requester's own words kept on its messages, and the context of the mail already sent (it may
//! quote the requester). `raw_messages` rows (metadata, SHA-256) stay: dedupe still works.

use serde::Serialize;

/// A closed case whose bodies a purge would remove (`purge --simular` lists these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgeCandidate {
    #[serde(skip)]
    pub case_id: i64,
    pub number: String,
    pub level: String,
    /// RFC 3339 UTC: the closing event, or the case's last update without one.
    pub closed_at: String,
    /// Raw messages whose body would be removed.
    pub raw_messages: i64,
    /// Bytes of those bodies.
    pub bytes: i64,
}

/// What a purge removed from one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgedCase {
    pub number: String,
    pub closed_at: String,
    pub raw_messages: i64,
    pub bytes: i64,
    /// Messages whose own words were emptied.
    pub messages_cleared: i64,
    /// Sent (or given up) outbox rows whose context was emptied.
    pub outbox_cleared: i64,
    /// RFC 3339 UTC.
    pub purged_at: String,
}

/// SQLite does not give freed pages back to the file system by itself: what the database file
/// holds free after a purge, and whether it was shrunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpaceReport {
    /// `PRAGMA auto_vacuum`: `none`, `full` or `incremental`; `postgresql` on PostgreSQL.
    pub auto_vacuum: String,
    /// Whether `PRAGMA incremental_vacuum` ran (only in `incremental` mode).
    pub incremental_vacuum: bool,
    /// Bytes given back to the file system (the file shrank by this much).
    pub returned_bytes: i64,
    /// Bytes free inside the file, reused for new data (the file keeps its size); on PostgreSQL,
    /// the size of the bodies' table after the purge.
    pub free_bytes: i64,
}
