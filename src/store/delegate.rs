//! The public [`Store`]'s methods, each passed to the backend the database URL chose. The SQL
//! and the documentation of each method are in `store/sql/<file>.rs`, named above its group;
//! this list only repeats their signatures (the compiler checks both sides agree).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::actions::*;
use super::cases::*;
use super::console::{ConsoleSession, OpenConsoleSession};
use super::console_case::{CaseTimeline, StoredAttachment};
use super::console_masivas::*;
use super::console_ops::{BuzonActivity, OpenBreach};
use super::knowledge::GuideSolution;
use super::leases::{LeaseGrant, LeaseRow};
use super::message::MessageRecord;
use super::outbox::*;
use super::purge::*;
use super::raw::*;
use super::report::ReportRows;
use super::sla::SlaClockRow;
use super::stats::StoreStats;
use super::{Backend, Store, StoreError};
use crate::desk::knowledge::KnowledgeBase;
use crate::desk::providers::Provider;

/// `fn name(args) -> Result;` becomes `pub async fn name(&self, args) -> Result` on [`Store`],
/// calling the same method of the backend in use.
macro_rules! delegate {
    ($( $(#[$attr:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$attr])*
                pub async fn $name(&self, $($arg: $ty),*) -> $ret {
                    match &self.backend {
                        Backend::Sqlite(store) => store.$name($($arg),*).await,
                        Backend::Postgres(store) => store.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

delegate! {
    // store/sql/actions.rs
    fn record_action(message: Option<AgentMessage<'_>>, action: &ActionRecord<'_>, changes: &[(&FoundCase, CaseChange<'_>)], extras: &ActionExtras<'_>) -> Result<(), StoreError>;
    fn pending_proposal(case_id: i64) -> Result<Option<i64>, StoreError>;
    fn learned_errors() -> Result<Vec<LearnedError>, StoreError>;
    fn children_codes(parent_id: i64) -> Result<Vec<String>, StoreError>;
    fn apply_changes(changes: &[(&FoundCase, CaseChange<'_>)]) -> Result<(), StoreError>;
    fn expired_follow_ups(now: DateTime<Utc>) -> Result<Vec<FoundCase>, StoreError>;
    fn children_of(parent_id: i64) -> Result<Vec<FoundCase>, StoreError>;
    fn case_by_external_ref(external_ref: &str) -> Result<Option<FoundCase>, StoreError>;
    fn case_brief(case_id: i64) -> Result<CaseBrief, StoreError>;
    fn requester_thread(case_id: i64) -> Result<RequesterThread, StoreError>;
    fn agent_thread(case_id: i64) -> Result<AgentThread, StoreError>;
    fn suggest_mass_incident(code: &str, since: DateTime<Utc>, threshold: u32, case_number: &str, draft: impl FnOnce(&[SuggestedCase]) -> OutboxDraft) -> Result<Option<Vec<SuggestedCase>>, StoreError>;
    // store/sql/bounces.rs
    fn outbox_by_message_id(message_id: &str) -> Result<Option<BouncedRow>, StoreError>;
    fn record_bounce(raw_id: i64, found: &FoundCase, message: &MessageRecord<'_>, change: &CaseChange<'_>, mark: Option<BounceMark<'_>>, reply_cap: u32) -> Result<(), StoreError>;
    // store/sql/console.rs
    fn create_console_link(address: &str, token_hash: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError>;
    fn console_links_since(address: &str, since: DateTime<Utc>) -> Result<i64, StoreError>;
    fn consume_console_link(token_hash: &str) -> Result<Option<String>, StoreError>;
    fn create_console_session(address: &str, token_hash: &str, csrf: &str, expires_at: DateTime<Utc>) -> Result<i64, StoreError>;
    fn console_session(token_hash: &str) -> Result<Option<ConsoleSession>, StoreError>;
    fn end_console_session(session_id: i64) -> Result<(), StoreError>;
    fn revoke_console_sessions(address: &str) -> Result<u64, StoreError>;
    fn console_link_usable(token_hash: &str) -> Result<bool, StoreError>;
    fn open_console_sessions() -> Result<Vec<OpenConsoleSession>, StoreError>;
    // store/sql/console_ops.rs
    fn buzon_activity() -> Result<Vec<BuzonActivity>, StoreError>;
    fn open_sla_breaches(limit: i64) -> Result<Vec<OpenBreach>, StoreError>;
    // store/sql/console_masivas.rs
    fn mass_suggestions(limit: i64) -> Result<Vec<SuggestionRow>, StoreError>;
    fn open_cases_with_code(code: &str, since: DateTime<Utc>) -> Result<i64, StoreError>;
    fn mass_candidates(parent: &str, code: &str, words: &str, limit: i64) -> Result<Vec<CandidateRow>, StoreError>;
    fn mass_parents(limit: i64) -> Result<Vec<ParentRow>, StoreError>;
    fn children_rows(parent_id: i64) -> Result<Vec<ChildRow>, StoreError>;
    fn children_mail(parent_id: i64) -> Result<Vec<ChildMail>, StoreError>;
    fn pending_proposals() -> Result<Vec<ProposalRow>, StoreError>;
    fn propose_known_error_edit(code: &str, meaning: &str, answer: &str, proposed_by: &str) -> Result<i64, StoreError>;
    fn known_error_edits(limit: i64) -> Result<Vec<KnownErrorEdit>, StoreError>;
    fn decide_known_error_edit(id: i64, approve: bool, decided_by: &str) -> Result<bool, StoreError>;
    // store/sql/console_case.rs
    fn case_timeline(case_id: i64) -> Result<CaseTimeline, StoreError>;
    fn case_attachment(case_id: i64, message_id: i64, index: usize) -> Result<Option<StoredAttachment>, StoreError>;
    // store/sql/console_cases.rs
    fn bandeja(scope: &super::console_cases::BandejaScope, filter: &super::console_cases::BandejaFilter) -> Result<super::console_cases::BandejaPage, StoreError>;
    // store/sql/cases.rs
    fn open_case(new: NewCase<'_>, drafts: impl FnOnce(&str) -> Vec<OutboxDraft>) -> Result<String, StoreError>;
    fn append_to_case(raw_id: i64, found: &FoundCase, message: &MessageRecord<'_>, change: &CaseChange<'_>, reply_cap: u32) -> Result<(), StoreError>;
    fn case_cap_target(requester: &str, cap: u32) -> Result<Option<FoundCase>, StoreError>;
    fn find_case_for(message: &MessageRecord<'_>, signed_case: Option<&str>) -> Result<Option<(FoundCase, ThreadMatch)>, StoreError>;
    fn case_by_number(number: &str) -> Result<Option<FoundCase>, StoreError>;
    fn case_by_id(id: i64) -> Result<Option<FoundCase>, StoreError>;
    fn open_case_counts(agents: &[String]) -> Result<HashMap<String, i64>, StoreError>;
    fn case_of_raw(raw_id: i64) -> Result<Option<String>, StoreError>;
    fn list_cases(filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError>;
    fn case_detail(number: &str) -> Result<Option<CaseDetail>, StoreError>;
    // store/sql/knowledge.rs
    fn sync_known_errors(base: &KnowledgeBase) -> Result<(), StoreError>;
    fn first_contact_solutions() -> Result<Vec<GuideSolution>, StoreError>;
    // store/sql/leases.rs
    fn acquire_lease(name: &str, holder: &str, ttl_ms: i64, is_gone: impl Fn(&str) -> bool) -> Result<LeaseGrant, StoreError>;
    fn renew_lease(name: &str, holder: &str, token: i64, ttl_ms: i64) -> Result<bool, StoreError>;
    fn release_leases(holder: &str) -> Result<(), StoreError>;
    fn leases() -> Result<Vec<LeaseRow>, StoreError>;
    // store/sql/outbox.rs
    fn due_outbox(buzones: &[String], limit: i64) -> Result<Vec<Result<OutboxItem, UnreadableRow>>, StoreError>;
    fn next_outbox_due(buzones: &[String]) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn mark_sent(id: i64, server_reply: &str) -> Result<(), StoreError>;
    fn mark_retry(id: i64, next_attempt_at: DateTime<Utc>, error: &str) -> Result<(), StoreError>;
    fn mark_failed(id: i64, error: &str) -> Result<(), StoreError>;
    fn list_outbox(wanted: Option<OutboxStatus>) -> Result<Vec<Result<OutboxItem, UnreadableRow>>, StoreError>;
    fn outbox_item(id: i64) -> Result<Option<Result<OutboxItem, UnreadableRow>>, StoreError>;
    fn retry_outbox(id: i64) -> Result<bool, StoreError>;
    fn digest_plan(item: &OutboxItem, more_than: u32) -> Result<DigestPlan, StoreError>;
    fn queue_digest(draft: &OutboxDraft, covered: &[i64]) -> Result<Option<i64>, StoreError>;
    // store/sql/providers.rs
    fn replace_providers(providers: &[Provider]) -> Result<(), StoreError>;
    fn providers() -> Result<Vec<Provider>, StoreError>;
    // store/sql/purge.rs
    fn purge_candidates(closed_before: &str) -> Result<Vec<PurgeCandidate>, StoreError>;
    fn purge_case(case_id: i64, closed_before: &str) -> Result<Option<PurgedCase>, StoreError>;
    fn reclaim_space() -> Result<SpaceReport, StoreError>;
    // store/sql/raw.rs
    fn store_raw(origin: &Origin, message_id: Option<&str>, raw: &[u8]) -> Result<Stored, StoreError>;
    fn store_fetched(batch: &[IncomingRaw<'_>], progress: Option<BuzonProgress<'_>>) -> Result<Vec<Stored>, StoreError>;
    fn buzon_progress(buzon: &str) -> Result<Option<(u32, u32)>, StoreError>;
    fn reset_progress(buzon: &str, uidvalidity: u32) -> Result<(), StoreError>;
    fn stored_uids(buzon: &str, uidvalidity: u32, uids: &[u32]) -> Result<Vec<u32>, StoreError>;
    fn pending_raw() -> Result<Vec<i64>, StoreError>;
    fn pending_raw_of(buzon: &str) -> Result<Vec<i64>, StoreError>;
    fn raw_message(id: i64) -> Result<Option<(Origin, Vec<u8>)>, StoreError>;
    fn begin_attempt(id: i64) -> Result<Option<u32>, StoreError>;
    fn undo_attempt(id: i64) -> Result<(), StoreError>;
    fn set_raw_status(id: i64, status: RawStatus, reason: Option<&str>) -> Result<(), StoreError>;
    fn held_messages(include_ignored: bool) -> Result<Vec<QuarantineEntry>, StoreError>;
    fn quarantine_list() -> Result<Vec<QuarantineEntry>, StoreError>;
    fn quarantine_entry(id: i64) -> Result<Option<(QuarantineEntry, Vec<u8>)>, StoreError>;
    fn discarded_messages() -> Result<Vec<QuarantineEntry>, StoreError>;
    fn requeue_quarantined(id: i64) -> Result<Result<(Origin, Vec<u8>), NotHeld>, StoreError>;
    fn discard_quarantined(id: i64, actor: &str, reason: &str) -> Result<Result<(), NotHeld>, StoreError>;
    fn record_raw_action(id: i64, action: &str, actor: &str, reason: Option<&str>, result: &str) -> Result<(), StoreError>;
    fn raw_actions(id: i64) -> Result<Vec<QuarantineAction>, StoreError>;
    // store/sql/related.rs
    fn open_related_case(related: RelatedCase<'_>, write: impl FnOnce(&str) -> RelatedWrite) -> Result<String, StoreError>;
    fn open_cases_sharing_documents(uuids: &[String], limit: u32) -> Result<(Vec<String>, u64), StoreError>;
    fn merged_requesters(case_id: i64) -> Result<Vec<String>, StoreError>;
    // store/sql/report.rs
    fn report_rows(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<ReportRows, StoreError>;
    // store/sql/sla.rs
    fn sla_clocks() -> Result<Vec<SlaClockRow>, StoreError>;
    fn record_sla_breach(found: &FoundCase, target: &str, due_at: DateTime<Utc>, change: &CaseChange<'_>) -> Result<bool, StoreError>;
    fn sla_breach_count() -> Result<i64, StoreError>;
    // store/sql/stats.rs
    fn stats() -> Result<StoreStats, StoreError>;
    fn ping() -> Result<(), StoreError>;
    fn overdue_outbox(before: &str) -> Result<i64, StoreError>;
    // store/sql/waiting.rs
    fn waiting_cases() -> Result<Vec<super::waiting::WaitingRow>, StoreError>;
}
