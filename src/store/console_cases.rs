//! The console's bandeja (issue 15): one page of the cases a viewer may see, with filters and a
//! search, for 100,000 cases on both backends.
//!
//! The query runs in three steps, each cheap on its own: the count of matching cases, the ids of
//! one page (ordered by id: oldest first, the order work is taken), then the page's rows with
//! what only they need (the first agent action at their level, the latest request to the
//! requester, a breach recorded at their level). Words are looked up in `cases.search_text`
//! (the subject and the requester's first own words, folded: see [`search_text`]).

use crate::desk::case::Case;
use crate::desk::case::Status;
use crate::desk::{CaseType, Channel, Level, Tema};

/// Most characters of `search_text`: enough for a request's own words, bounded for the scan.
pub const SEARCH_TEXT_CHARS: usize = 4000;

/// Most words of one search (each one is a `LIKE` on `search_text`).
pub const MAX_SEARCH_WORDS: usize = 8;

/// What a case's words are searched in: subject and the requester's own words, folded
/// (lowercase, no accents) and cut to [`SEARCH_TEXT_CHARS`].
pub fn search_text(subject: &str, own_words: &str) -> String {
    let folded = crate::text::fold(&format!("{subject} {own_words}"));
    folded.chars().take(SEARCH_TEXT_CHARS).collect()
}

/// Whose cases a viewer sees, in the terms the SQL can read (the same rule as
/// [`crate::pipeline::Desk::sees`]; the console checks each row with `sees` too).
#[derive(Debug, Clone, Default)]
pub struct BandejaScope {
    /// The viewer's address (lowercase): cases they held at any level.
    pub address: String,
    /// Groups they belong to or coordinate: cases held or once held by one of them.
    pub groups: Vec<String>,
    /// Temas whose N2 group is one of `groups`.
    pub temas: Vec<Tema>,
    /// Member of the security group: sees every security case too.
    pub security: bool,
    /// Administración Técnica: sees only the cases that reached it.
    pub technical_administration: bool,
}

/// What a search box text is taken to be (see `console::bandeja::read_search`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BandejaSearch {
    /// A case number, `FE-2026-000001`.
    Number(String),
    /// A NIT, digits only (a document's issuer or buyer, or the registered provider).
    Nit(String),
    /// A CUFE/CUDE in lowercase hex (found in either case).
    Cufe(String),
    /// A requester's address (lowercase).
    Requester(String),
    /// Every requester of a domain: `@empresa.example`.
    RequesterDomain(String),
    /// Folded words, all of which must occur in `search_text`.
    Words(Vec<String>),
}

/// Which cases, and which page of them.
#[derive(Debug, Clone)]
pub struct BandejaFilter {
    pub level: Option<Level>,
    pub group: Option<String>,
    pub agent: Option<String>,
    pub tema: Option<Tema>,
    pub case_type: Option<CaseType>,
    /// `None`: the open cases (nuevo, pendiente_informacion, en_atencion, escalado).
    pub status: Option<StatusFilter>,
    pub channel: Option<Channel>,
    /// Only open cases with a service-level breach recorded at their current level.
    pub overdue: bool,
    pub search: Option<BandejaSearch>,
    /// 0-based.
    pub offset: i64,
    pub limit: i64,
}

/// The `estado` filter: one status, or every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    One(Status),
    All,
}

/// One case of the page, with what its row shows (timestamps RFC 3339 UTC as stored).
#[derive(Debug, Clone)]
pub struct BandejaRow {
    pub number: String,
    pub subject: String,
    pub requester: String,
    pub requester_name: Option<String>,
    pub created_at: String,
    /// When the case reached its level (moved on by the time spent waiting for the requester).
    pub level_since: Option<String>,
    pub waiting_since: Option<String>,
    /// The first agent action at its current level since it got there.
    pub first_action_at: Option<String>,
    /// When the desk last asked the requester (the waiting period's start).
    pub asked_at: Option<String>,
    /// A breach of a service-level target is recorded at its current level.
    pub breach_recorded: bool,
    /// The case as the engine sees it (status, level, tema, group, agent, path…).
    pub case: Case,
}

/// One page and the count of every matching case.
#[derive(Debug, Clone)]
pub struct BandejaPage {
    pub rows: Vec<BandejaRow>,
    pub total: i64,
    /// Where the page starts: the filter's offset, or the last page's when that was past it.
    pub offset: i64,
}
