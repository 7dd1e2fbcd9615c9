//! Counts for the metrics endpoint and the readiness check, read at scrape time (they survive
//! restarts because they come from the store).

/// Everything `/metrics` reads from the store, in one go.
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    /// (buzón, raw status, count)
    pub messages: Vec<(String, String, i64)>,
    /// (tema, count) of every case ever opened
    pub cases_by_tema: Vec<(String, i64)>,
    /// (channel, count): `rechazado` counts senders who may not write to a buzón
    pub cases_by_channel: Vec<(String, i64)>,
    /// (status, level, count) of the cases now
    pub cases_by_status: Vec<(String, String, i64)>,
    /// (outbox status, count)
    pub outbox: Vec<(String, i64)>,
    /// (level, target, count)
    pub sla_breaches: Vec<(String, String, i64)>,
}
