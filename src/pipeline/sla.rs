//! The SLA sweep: targets that passed become an event on the case, a notice to the coordinator
//! of the group that holds it, and a count in the metrics.

use chrono::{DateTime, FixedOffset, Utc};

use super::Desk;
use crate::desk::Level;
use crate::desk::case::Status;
use crate::desk::levels::{Actor, Role};
use crate::desk::sla::{self, Clock, Target, Targets};
use crate::store::cases::CaseChange;
use crate::store::{Store, StoreError};

impl Desk {
    /// Records the targets that passed since the last sweep; returns how many.
    pub async fn check_sla(&self, store: &Store) -> Result<usize, StoreError> {
        let zone = self.config.zone();
        let now = zone.local(Utc::now());
        let calendar = self.config.calendar();
        let mut recorded = 0;
        for row in store.sla_clocks().await? {
            let (Some(level), Some(status), Some(since)) = (
                Level::parse(&row.level),
                Status::parse(&row.status),
                parse_time(&row.level_since),
            ) else {
                continue;
            };
            let Some(target) = self.config.sla_target(level) else { continue };
            let targets = Targets {
                first_response_hours: target.first_response_hours,
                resolution_hours: target.resolution_hours,
            };
            let clock = Clock {
                level,
                status,
                level_since: zone.local(since.with_timezone(&Utc)),
                first_action_at: row.first_action_at.as_deref().and_then(parse_time),
                recorded: row
                    .recorded
                    .iter()
                    .filter_map(|t| match t.as_str() {
                        "primera_respuesta" => Some(Target::PrimeraRespuesta),
                        "solucion" => Some(Target::Solucion),
                        _ => None,
                    })
                    .collect(),
            };
            let breaches = sla::breaches(&clock, targets, &calendar, now);
            if breaches.is_empty() {
                continue;
            }
            let Some(found) = store.case_by_id(row.case_id).await? else { continue };
            // Acted on since the clocks were read: the next sweep sees its new clock.
            if found.case.level != level || found.case.status != status {
                continue;
            }
            let coordinator = self.coordinator_of(&found.case);
            for breach in breaches {
                let hours = match breach.target {
                    Target::PrimeraRespuesta => targets.first_response_hours,
                    Target::Solucion => targets.resolution_hours,
                };
                let t = sla::breach_transition(&found.case, &breach, hours, &coordinator);
                let desk_actor = Actor { address: coordinator.clone(), role: Role::Agent(level) };
                let nonce = format!("sla{}{}", breach.target.as_str(), level.as_str());
                let drafts =
                    self.action_drafts(store, &found, &desk_actor, &t, nonce, None).await?;
                let change = CaseChange { transition: &t, drafts, follow_up_until: None };
                let due = breach.due.with_timezone(&Utc);
                if store.record_sla_breach(&found, breach.target.as_str(), due, &change).await? {
                    recorded += 1;
                }
            }
        }
        Ok(recorded)
    }

    /// The coordinator of the group holding the case; at Administración Técnica, N3's (who
    /// escalated it there).
    fn coordinator_of(&self, case: &crate::desk::case::Case) -> String {
        let group = case.group.clone().unwrap_or_else(|| self.config.enrutamiento.n3_group.clone());
        self.config.group(&group).map(|g| g.coordinator.clone()).unwrap_or_default()
    }
}

fn parse_time(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}
