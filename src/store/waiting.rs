//! Cases waiting for the requester's information: where each waiting period stands.
//!
//! A period starts with the desk's latest request to the requester (an outbox row of
//! `solicitud_informacion` or `pregunta_solicitante`); its reminder is a `recordatorio_informacion`
//! row queued after it. Ordered by outbox id, not by time: both rows may carry the same second.

/// One case in `pendiente_informacion` (timestamps RFC 3339 UTC).
#[derive(Debug, Clone)]
pub struct WaitingRow {
    pub case_id: i64,
    pub number: String,
    pub level: String,
    pub agent: Option<String>,
    pub group: Option<String>,
    /// When the desk last asked the requester; `None` for a case that waits without a request on
    /// record (its reply was held by the cap of automatic answers): then `waiting_since` counts.
    pub asked_at: Option<String>,
    /// The outbox row of that request: names the period (two requests may share a second).
    pub request_id: Option<i64>,
    pub waiting_since: Option<String>,
    /// Reminders queued since that request (0 or 1).
    pub reminders: i64,
}
