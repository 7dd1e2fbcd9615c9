//! SLA clocks of open cases and the breaches recorded on them.

/// Where one open case's clock stands at its current level (timestamps RFC 3339 UTC).
#[derive(Debug, Clone)]
pub struct SlaClockRow {
    pub case_id: i64,
    pub level: String,
    pub status: String,
    pub level_since: String,
    /// The first action an agent took at this level since the case reached it.
    pub first_action_at: Option<String>,
    /// Targets of this level already recorded as breached.
    pub recorded: Vec<String>,
}
