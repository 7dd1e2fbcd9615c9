//! Related cases and duplicates (issue 14, points 5 and 6): the glue between the engine's
//! `#relacionado` / `#fusionar` and the store, and the open cases that share a new case's
//! CUFE/CUDE (shown to its agent as related, with the commands that link them).

use super::act::{ActionOutcome, Via, action_record, via_nonce};
use super::compose::{self, ActionContext};
use super::{Analysis, Desk};
use crate::desk::Tema;
use crate::desk::case::Transition;
use crate::desk::command::{Action, Command};
use crate::desk::levels::{self, Actor, MergeTarget, Related};
use crate::store::actions::{
    AgentMessage, CaseBrief, MergeMove, RelatedCase, RelatedWrite, RequesterThread,
};
use crate::store::cases::{CaseChange, CaseFilter, FoundCase};
use crate::store::outbox::OutboxDraft;
use crate::store::{Store, StoreError};

/// What `#fusionar` needs read before the engine decides.
#[derive(Default)]
pub(super) struct Links {
    /// The case named, as stored.
    pub target: Option<FoundCase>,
    /// The same, as the engine weighs it.
    pub merge_target: Option<MergeTarget>,
    /// Children of the case acted on.
    pub children: usize,
}

/// The case that takes a duplicate: its transition, its mail and the rows that move.
pub(super) struct Absorbed {
    pub transition: Transition,
    pub drafts: Vec<OutboxDraft>,
    pub rows: MergeMove,
}

impl Absorbed {
    pub fn change(&self) -> CaseChange<'_> {
        CaseChange {
            transition: &self.transition,
            drafts: self.drafts.clone(),
            follow_up_until: None,
        }
    }
}

/// Longest description kept in a related case's subject.
const SUBJECT_WORDS: usize = 80;

impl Desk {
    /// For `#fusionar`: the case named and the children of the case acted on. Nothing for the
    /// other commands.
    pub(super) async fn links_of(
        &self,
        store: &Store,
        found: &FoundCase,
        actor: &Actor,
        command: &Command,
    ) -> Result<Links, StoreError> {
        let Command::Fusionar(number) = command else { return Ok(Links::default()) };
        let target = store.case_by_number(number).await?;
        let filter = CaseFilter { parent: Some(found.number.clone()), ..CaseFilter::default() };
        let children = store.list_cases(&filter).await?.len();
        let merge_target = target.as_ref().map(|t| MergeTarget {
            number: t.number.clone(),
            case: t.case.clone(),
            merged_into: t.merged_into.clone(),
            visible: self.sees(actor, &t.case),
        });
        Ok(Links { target, merge_target, children })
    }

    /// The target's side of a merge the engine accepted.
    pub(super) async fn absorb(
        &self,
        store: &Store,
        duplicate: &FoundCase,
        target: &FoundCase,
        actor: &Actor,
        nonce: &str,
    ) -> Result<Absorbed, StoreError> {
        let staffing = self.staffing(&target.case).await_loads(store).await?;
        let transition = levels::absorb(&target.case, &duplicate.number, actor, &staffing);
        let nonce = format!("{nonce}f");
        let drafts = self.action_drafts(store, target, actor, &transition, nonce, None).await?;
        Ok(Absorbed { transition, drafts, rows: MergeMove { from: duplicate.id, into: target.id } })
    }

    /// `#relacionado` accepted by the engine: the new case, its mail and the parent's history
    /// row, in one transaction.
    pub(super) async fn relate(
        &self,
        store: &Store,
        found: &FoundCase,
        actor: &Actor,
        action: &Action,
        tema: Option<Tema>,
        via: Via<'_>,
    ) -> Result<ActionOutcome, StoreError> {
        let new_tema = tema.unwrap_or(found.case.tema);
        let staffing =
            self.staffing_for(new_tema, found.case.security_category).await_loads(store).await?;
        let brief = store.case_brief(found.id).await?;
        let subject = related_subject(&found.number, &action.text);
        let child_brief = CaseBrief {
            subject: subject.clone(),
            requester_name: brief.requester_name.clone(),
            description: action.text.clone(),
            ..CaseBrief::default()
        };
        let nonce = via_nonce(&via);
        let buzon = self.buzon_for(&found.buzon);
        let record = action_record(found, actor, action, &via, false);
        let message = match via {
            Via::Mail { raw_id, analysis } => {
                Some(AgentMessage { raw_id, message: analysis.stored()? })
            }
            Via::Cli | Via::Console => None,
        };
        let related = RelatedCase {
            parent: found,
            year: self.local_year(),
            prefix: &self.config.general.case_prefix,
            subject: &subject,
            description: &action.text,
            message,
            action: &record,
        };
        let number = store
            .open_related_case(related, |number| {
                let related =
                    Related { parent_number: &found.number, number, text: &action.text, tema };
                let (parent, child) = levels::relate(&found.case, actor, &related, &staffing);
                let ctx = ActionContext {
                    nonce: &nonce,
                    number,
                    buzon: &buzon,
                    requester: &found.requester,
                    ids: &self.ids,
                    config: &self.config,
                    actor,
                    received: None,
                    parent: Some(&found.number),
                };
                // The new case's own thread: nothing of the parent's conversation.
                let thread = RequesterThread::default();
                let child_drafts = compose::action_drafts(
                    &ctx,
                    &child_brief,
                    &thread,
                    &Default::default(),
                    &child,
                );
                RelatedWrite { child, child_drafts, parent, parent_drafts: Vec::new() }
            })
            .await?;
        Ok(ActionOutcome {
            case: found.number.clone(),
            status: found.case.status,
            level: found.case.level,
            refusal: None,
            children_solved: 0,
            created: Some(number),
        })
    }

    /// Open cases whose documents carry a CUFE/CUDE of this message's documents (none for a
    /// security event: its details stay in its group): the oldest [`SAME_CUFE_LISTED`] by
    /// number, and how many more there are.
    pub(super) async fn same_cufe_cases(
        &self,
        store: &Store,
        analysis: &Analysis,
    ) -> Result<SameCufe, StoreError> {
        if analysis.security_category.is_some() {
            return Ok(SameCufe::default());
        }
        let mut uuids: Vec<String> = analysis
            .documents
            .iter()
            .flat_map(|d| [d.uuid.as_deref(), d.referenced_uuid.as_deref()])
            .flatten()
            .map(str::trim)
            .filter(|uuid| !uuid.is_empty())
            .map(String::from)
            .collect();
        uuids.sort();
        uuids.dedup();
        let (numbers, total) = store.open_cases_sharing_documents(&uuids, SAME_CUFE_LISTED).await?;
        let more = total.saturating_sub(numbers.len() as u64);
        Ok(SameCufe { numbers, more })
    }
}

/// How many open cases with the same CUFE a new case names: the same document sent a thousand
/// times must not make each new case (its history and its agent's mail) longer than the last.
pub(super) const SAME_CUFE_LISTED: u32 = 10;

/// Open cases about the same invoice as a new case.
#[derive(Debug, Default)]
pub(super) struct SameCufe {
    /// The oldest ones, by number.
    pub numbers: Vec<String>,
    /// How many more there are.
    pub more: u64,
}

/// The history row of a new case about the same invoice as open cases.
pub(super) fn same_cufe_note(same: &SameCufe) -> String {
    let more = match same.more {
        0 => String::new(),
        more => format!(" y {more} más (búsquelos por el CUFE en la consola)"),
    };
    format!(
        "Casos abiertos con el mismo CUFE: {}{more}. Si tratan el mismo asunto, vincúlelos con \
         #padre, #relacionado o #fusionar.",
        same.numbers.join(", ")
    )
}

/// "Relacionado con FE-2026-000001: <the description's first line, cut at a word>".
fn related_subject(parent: &str, text: &str) -> String {
    let first_line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    let mut short = String::new();
    for word in first_line.split_whitespace() {
        if short.chars().count() + word.chars().count() >= SUBJECT_WORDS {
            short.push('…');
            break;
        }
        if !short.is_empty() {
            short.push(' ');
        }
        short.push_str(word);
    }
    format!("Relacionado con {parent}: {short}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_related_subject_names_the_parent_and_the_first_line() {
        assert_eq!(
            related_subject("FE-2026-000001", "\n  Nómina de marzo rechazada\nDetalle"),
            "Relacionado con FE-2026-000001: Nómina de marzo rechazada"
        );
        let long = "palabra ".repeat(40);
        let subject = related_subject("FE-2026-000001", &long);
        assert!(subject.ends_with('…'), "{subject}");
        assert!(subject.chars().count() < 120, "{subject}");
    }
}
