//! What a message's writes must know before they are made, read in one query: each read is a
//! round trip to the driver, and a new case asked up to three of them on its own.

use std::collections::HashMap;
use std::sync::LazyLock;

use sqlx::{QueryBuilder, Row as _};

use super::cases::hour_ago;
use super::{DB, StoreError, Tx};
use crate::desk::case::ReplyKind;
use crate::store::outbox::OutboxDraft;

/// What to read before a message's writes (the Message-ID reuse is always read).
pub(super) struct Asked<'a> {
    raw_id: i64,
    reply_cap: u32,
    /// The sender whose cases opened in the last hour are counted (the cap of new cases).
    opened_by: Option<&'a str>,
    /// The sender for whom a coordinator's notice of the cap, in the last hour, is looked for.
    cap_notice_for: Option<&'a str>,
    /// Addresses whose automatic answers of the last hour are counted (the cap of answers).
    replies_to: Vec<&'a str>,
}

/// What was read (counts of the last hour).
#[derive(Debug, Default)]
pub(super) struct Known {
    /// Automatic answers an address may get in an hour (configured, not read).
    pub reply_cap: u32,
    /// The earlier message that carried this one's Message-ID with other content: the sender's
    /// mailer reuses Message-IDs.
    pub reused_message_id: Option<i64>,
    pub opened_last_hour: i64,
    pub cap_notice_sent: bool,
    /// Automatic answers queued per address asked.
    pub replies: HashMap<String, i64>,
}

impl<'a> Asked<'a> {
    /// The reads every message's writes need: the Message-ID reuse, and the automatic answers
    /// already queued to the requesters `drafts` answer (at most `reply_cap` an hour).
    pub(super) fn new(raw_id: i64, drafts: &'a [OutboxDraft], reply_cap: u32) -> Asked<'a> {
        let mut replies_to: Vec<&str> = Vec::new();
        for draft in drafts.iter().filter(|d| d.kind.to_requester()) {
            if !replies_to.contains(&draft.to.as_str()) {
                replies_to.push(&draft.to);
            }
        }
        Asked { raw_id, reply_cap, opened_by: None, cap_notice_for: None, replies_to }
    }

    pub(super) fn opened_by(mut self, requester: &'a str) -> Asked<'a> {
        self.opened_by = Some(requester);
        self
    }

    pub(super) fn cap_notice_for(mut self, requester: &'a str) -> Asked<'a> {
        self.cap_notice_for = Some(requester);
        self
    }

    /// One SELECT of scalar subqueries, one column per question, in the order asked.
    pub(super) async fn read(self, tx: &mut Tx<'_>) -> Result<Known, StoreError> {
        let hour_ago = hour_ago();
        let mut query = QueryBuilder::<DB>::new(
            "SELECT (SELECT o.id FROM raw_messages r JOIN raw_messages o ON o.message_id = r.message_id \
             AND o.id < r.id AND o.duplicate_of IS NULL WHERE r.id = ",
        );
        query.push_bind(self.raw_id).push(" ORDER BY o.id LIMIT 1)");
        if let Some(requester) = self.opened_by {
            query.push(", (SELECT COUNT(*) FROM cases WHERE requester = ");
            query.push_bind(requester).push(" AND created_at >= ");
            query.push_bind(hour_ago.clone()).push(")");
        }
        if let Some(requester) = self.cap_notice_for {
            query.push(
                ", (SELECT COUNT(*) FROM outbox o JOIN cases c ON c.id = o.case_id WHERE o.kind = ",
            );
            query.push_bind(ReplyKind::AvisoTopeCasos.as_str()).push(" AND c.requester = ");
            query.push_bind(requester).push(" AND o.created_at >= ");
            query.push_bind(hour_ago.clone()).push(")");
        }
        for address in &self.replies_to {
            query.push(", (SELECT COUNT(*) FROM outbox WHERE to_addr = ");
            query.push_bind(*address).push(" AND created_at >= ");
            query.push_bind(hour_ago.clone());
            // Our own constant kind names, not input: internal mail does not count.
            query.push(" AND kind IN (").push(&*REQUESTER_KINDS).push("))");
        }
        let row = query.build().fetch_one(&mut **tx).await?;
        let mut column = 0;
        let mut next = || {
            column += 1;
            column
        };
        let mut known = Known {
            reply_cap: self.reply_cap,
            reused_message_id: row.try_get(0)?,
            ..Known::default()
        };
        if self.opened_by.is_some() {
            known.opened_last_hour = row.try_get(next())?;
        }
        if self.cap_notice_for.is_some() {
            known.cap_notice_sent = row.try_get::<i64, _>(next())? > 0;
        }
        for address in self.replies_to {
            known.replies.insert(address.to_string(), row.try_get(next())?);
        }
        Ok(known)
    }
}

impl Known {
    /// The mail-loop brake: requester-facing drafts to an address that already got its cap of
    /// automatic answers in the last hour are held back (agent notifications always go).
    /// Returns the drafts kept and how many were held.
    pub(super) fn brake(&self, drafts: Vec<OutboxDraft>) -> (Vec<OutboxDraft>, usize) {
        let mut kept: Vec<OutboxDraft> = Vec::with_capacity(drafts.len());
        let mut held = 0;
        for draft in drafts {
            if !draft.kind.to_requester() {
                kept.push(draft);
                continue;
            }
            let queued_now =
                kept.iter().filter(|d| d.to == draft.to && d.kind.to_requester()).count() as i64;
            let earlier = self.replies.get(&draft.to).copied().unwrap_or(0);
            if earlier + queued_now >= i64::from(self.reply_cap) {
                held += 1;
            } else {
                kept.push(draft);
            }
        }
        (kept, held)
    }
}

/// The kinds of answers to requesters, quoted for an `IN (…)` list.
static REQUESTER_KINDS: LazyLock<String> = LazyLock::new(|| {
    ReplyKind::ALL
        .into_iter()
        .filter(|k| k.to_requester())
        .map(|k| format!("'{}'", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
});
