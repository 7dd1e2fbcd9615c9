//! The sweep of cases waiting for the requester (`pendiente_informacion`): one reminder per
//! waiting period, then the closure with notices; and the list `case list --esperando` prints.
//! The decisions are the desk's ([`crate::desk::waiting`]); this file reads the periods, writes
//! each step in one transaction with its history row and mail.

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;

use super::Desk;
use crate::config::Config;
use crate::desk::Level;
use crate::desk::case::{Case, Status};
use crate::desk::levels::{Actor, Role};
use crate::desk::waiting::{self, Period, Step};
use crate::store::cases::CaseChange;
use crate::store::waiting::WaitingRow;
use crate::store::{Store, StoreError};

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitingSweep {
    pub reminded: usize,
    pub closed: usize,
}

/// One line of `case list --esperando` (dates in the desk's zone).
#[derive(Debug, Clone, Serialize)]
pub struct WaitingCase {
    pub number: String,
    pub level: String,
    pub agent: Option<String>,
    /// When the desk last asked the requester (RFC 3339, local zone).
    pub since: String,
    pub business_days: u32,
    pub reminded: bool,
    /// The date the case closes without an answer (YYYY-MM-DD).
    pub closes_on: String,
}

/// The cases waiting for the requester, oldest request first (what `case list --esperando`
/// prints).
pub async fn waiting_cases(
    config: &Config,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Vec<WaitingCase>, StoreError> {
    let (Some(offset), calendar) = (offset(config), config.calendar()) else {
        return Ok(Vec::new());
    };
    let now = now.with_timezone(&offset);
    let deadlines = config.espera_solicitante.deadlines();
    let mut list: Vec<(DateTime<FixedOffset>, WaitingCase)> = Vec::new();
    for row in store.waiting_cases().await? {
        let Some(period) = period_of(&row, offset) else { continue };
        let schedule = deadlines.schedule(&period, &calendar);
        list.push((
            period.asked_at,
            WaitingCase {
                number: row.number,
                level: row.level,
                agent: row.agent,
                since: period.asked_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                business_days: waiting::business_days_waited(&calendar, period.asked_at, now),
                reminded: period.reminded,
                closes_on: schedule.closure_at.format("%Y-%m-%d").to_string(),
            },
        ));
    }
    list.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.number.cmp(&b.1.number)));
    Ok(list.into_iter().map(|(_, case)| case).collect())
}

impl Desk {
    /// Reminders and closures due at `now`; each written once (a case changed meanwhile is left
    /// to the next sweep).
    pub async fn sweep_waiting(
        &self,
        store: &Store,
        now: DateTime<Utc>,
    ) -> Result<WaitingSweep, StoreError> {
        let mut done = WaitingSweep::default();
        let Some(offset) = offset(&self.config) else { return Ok(done) };
        let (calendar, now) = (self.config.calendar(), now.with_timezone(&offset));
        let deadlines = self.config.espera_solicitante.deadlines();
        for row in store.waiting_cases().await? {
            let Some(period) = period_of(&row, offset) else { continue };
            let step = deadlines.step(&period, &calendar, now);
            if step == Step::Nothing {
                continue;
            }
            let Some(found) = store.case_by_id(row.case_id).await? else { continue };
            if found.case.status != Status::PendienteInformacion {
                continue;
            }
            let holder = self.holder_of(&found.case);
            let t = match step {
                Step::Remind => {
                    let closure_at = deadlines.schedule(&period, &calendar).closure_at;
                    waiting::remind(&found.case, &deadlines, closure_at)
                }
                _ => waiting::close(&found.case, &deadlines, holder.as_deref()),
            };
            let actor =
                Actor { address: holder.unwrap_or_default(), role: Role::Agent(found.case.level) };
            // One Message-ID per period and step: a retried sweep cannot mint a second mail.
            let period_name = row.request_id.unwrap_or_else(|| period.asked_at.timestamp());
            let nonce = format!("espera{period_name}{}", step_tag(step));
            let drafts = self.action_drafts(store, &found, &actor, &t, nonce, None).await?;
            let change = CaseChange { transition: &t, drafts, follow_up_until: None };
            match store.apply_changes(&[(&found, change)]).await {
                Ok(()) if step == Step::Remind => done.reminded += 1,
                Ok(()) => done.closed += 1,
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Who holds a waiting case: its agent, else who was told at its level, else the
    /// coordinator of its group (at N1, of the N1 group). `None` when nobody is configured.
    fn holder_of(&self, case: &Case) -> Option<String> {
        let at_level = case.path.iter().rev().find(|h| h.level == case.level);
        let group = match case.level {
            Level::N1 => Some(self.config.enrutamiento.n1_group.as_str()),
            _ => case.group.as_deref(),
        };
        let coordinator = group.and_then(|g| self.config.group(g)).map(|g| g.coordinator.clone());
        case.agent
            .clone()
            .or_else(|| at_level.map(|h| h.holder.clone()))
            .or(coordinator)
            .filter(|address| !address.is_empty())
    }
}

/// The desk's offset from UTC now (`general.zona_horaria`).
fn offset(config: &Config) -> Option<FixedOffset> {
    Some(*config.zone().local(chrono::Utc::now()).offset())
}

fn step_tag(step: Step) -> &'static str {
    match step {
        Step::Remind => "r",
        Step::Close => "c",
        Step::Nothing => "n",
    }
}

/// The period of a waiting row in the desk's zone; `None` if its timestamps are unreadable.
fn period_of(row: &WaitingRow, offset: FixedOffset) -> Option<Period> {
    let asked = row.asked_at.as_deref().or(row.waiting_since.as_deref())?;
    let asked_at = DateTime::parse_from_rfc3339(asked).ok()?.with_timezone(&offset);
    Some(Period { asked_at, reminded: row.reminders > 0 })
}
