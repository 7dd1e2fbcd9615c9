//! Service-level targets (SLA): for the level a case is at, the first response and the solution
//! are due a number of business hours after the case reached that level. Pure: the caller gives
//! the case's clock and the time; the engine says which targets passed and writes the event and
//! the coordinator's notice.

use chrono::{DateTime, FixedOffset};

use crate::desk::Level;
use crate::desk::calendar::Calendar;
use crate::desk::case::{Case, Recipient, ReplyKind, Status, Transition, activity_at};

crate::names::named_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Target {
        /// The first action of an agent at the level (note, question, escalation, solution).
        PrimeraRespuesta = "primera_respuesta",
        /// The solution, or the hand-over to the next level.
        Solucion = "solucion",
    }
}

impl Target {
    fn label(self) -> &'static str {
        match self {
            Target::PrimeraRespuesta => "primera respuesta",
            Target::Solucion => "solución",
        }
    }
}

/// Where a case's clock stands at its current level.
#[derive(Debug, Clone)]
pub struct Clock {
    pub level: Level,
    pub status: Status,
    pub level_since: DateTime<FixedOffset>,
    /// The first action of an agent at this level, if any.
    pub first_action_at: Option<DateTime<FixedOffset>>,
    /// Targets of this level already recorded as breached.
    pub recorded: Vec<Target>,
}

/// The targets of one level, in business hours.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub first_response_hours: f64,
    pub resolution_hours: f64,
}

/// A target that passed: when it was due.
#[derive(Debug, Clone, PartialEq)]
pub struct Breach {
    pub target: Target,
    pub due: DateTime<FixedOffset>,
}

/// Targets that passed and are not yet recorded. While the case waits for the requester's
/// information its solution target is not reported; when the answer comes the store moves
/// `level_since` forward by the wait, so the waiting time does not count.
pub fn breaches(
    clock: &Clock,
    targets: Targets,
    calendar: &Calendar,
    now: DateTime<FixedOffset>,
) -> Vec<Breach> {
    let mut found = Vec::new();
    if !clock.status.is_open() {
        return found;
    }
    let first_due = calendar.add_business_hours(clock.level_since, targets.first_response_hours);
    let answered_in_time = clock.first_action_at.is_some_and(|at| at <= first_due);
    if now > first_due && !answered_in_time && !clock.recorded.contains(&Target::PrimeraRespuesta) {
        found.push(Breach { target: Target::PrimeraRespuesta, due: first_due });
    }
    let solution_due = calendar.add_business_hours(clock.level_since, targets.resolution_hours);
    if now > solution_due
        && clock.status != Status::PendienteInformacion
        && !clock.recorded.contains(&Target::Solucion)
    {
        found.push(Breach { target: Target::Solucion, due: solution_due });
    }
    found
}

/// The event of a breach and the notice to the coordinator of the group that holds the case
/// (hierarchical escalation).
pub fn breach_transition(
    case: &Case,
    breach: &Breach,
    hours: f64,
    coordinator: &str,
) -> Transition {
    let mut t = Transition::of(case);
    let detail = format!(
        "Objetivo de servicio vencido: {} en {} ({} horas hábiles; vencía {}). Se avisa al coordinador.",
        breach.target.label(),
        crate::desk::levels::level_name(case.level),
        crate::text::spanish_number(hours),
        // In the desk's zone (the caller's offset), named so a coordinator elsewhere reads it.
        breach.due.format("%Y-%m-%d %H:%M (UTC%:z)"),
    );
    t.note(activity_at(case.level), detail.clone());
    if !coordinator.is_empty() {
        t.reply_with(ReplyKind::AvisoSla, Recipient::Agent(coordinator.to_string()), &detail);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::calendar::testing::{at, office};

    fn clock(first_action_at: Option<&str>) -> Clock {
        Clock {
            level: Level::N2,
            status: Status::EnAtencion,
            level_since: at("2026-11-27T15:00:00-05:00"),
            first_action_at: first_action_at.map(at),
            recorded: Vec::new(),
        }
    }

    /// A case opened at N2 (the requirements met), held by one agent.
    fn case_at_n2() -> Case {
        use crate::desk::Requirement;
        use crate::desk::case::{AgentLoad, Intake, Staffing, open};
        use crate::desk::requirements::Evidence;
        let intake = Intake {
            tema: crate::desk::Tema::FacturaElectronica,
            channel: crate::desk::Channel::Correo,
            security_category: None,
            auto_generated: false,
            required: vec![Requirement::Descripcion],
            evidence: Evidence {
                supplied: [Requirement::Descripcion].into_iter().collect(),
                reports_rejection: false,
            },
            known_errors: Vec::new(),
            answer: crate::desk::answer::Reading::NoClara,
        };
        let staffing = Staffing {
            group: "n2_factura".into(),
            coordinator: "coord.n2@dian.gov.co".into(),
            agents: vec![AgentLoad { address: "ana@dian.gov.co".into(), open_cases: 0 }],
        };
        open(&intake, &staffing).case
    }

    const N2: Targets = Targets { first_response_hours: 4.0, resolution_hours: 16.0 };

    #[test]
    fn targets_count_business_hours_only() {
        // Friday 15:00 + 4 business hours = Monday 10:00.
        assert!(breaches(&clock(None), N2, &office(), at("2026-11-30T09:59:00-05:00")).is_empty());
        let late = breaches(&clock(None), N2, &office(), at("2026-11-30T10:01:00-05:00"));
        assert_eq!(
            late,
            vec![Breach { target: Target::PrimeraRespuesta, due: at("2026-11-30T10:00:00-05:00") }]
        );
    }

    #[test]
    fn an_answer_in_time_stops_the_first_response_clock_not_the_solution_clock() {
        let answered = clock(Some("2026-11-30T09:00:00-05:00"));
        let later = at("2026-12-02T09:00:00-05:00");
        let found: Vec<Target> =
            breaches(&answered, N2, &office(), later).iter().map(|b| b.target).collect();
        assert_eq!(found, vec![Target::Solucion]);
        let mut recorded = answered.clone();
        recorded.recorded = vec![Target::Solucion];
        assert!(breaches(&recorded, N2, &office(), later).is_empty(), "recorded once");
    }

    #[test]
    fn waiting_for_the_requester_or_solved_cases_do_not_breach_the_solution() {
        let mut waiting = clock(Some("2026-11-30T09:00:00-05:00"));
        waiting.status = Status::PendienteInformacion;
        assert!(breaches(&waiting, N2, &office(), at("2026-12-10T09:00:00-05:00")).is_empty());
        waiting.status = Status::Solucionado;
        assert!(breaches(&waiting, N2, &office(), at("2026-12-10T09:00:00-05:00")).is_empty());
    }

    #[test]
    fn a_monday_moved_holiday_is_not_working_time_for_the_target() {
        // Colombia's computed holidays, nothing configured: Monday 17 August 2026 is Asunción
        // (Saturday 15 moved by Ley 51 de 1983).
        let calendar =
            Calendar { holidays: crate::desk::calendar::Holidays::colombia(), ..office() };
        let mut friday = clock(None);
        friday.level_since = at("2026-08-14T15:00:00-05:00");
        // 2 h on Friday, none on Monday, 2 h on Tuesday: due Tuesday 10:00, not Monday 10:00.
        assert!(breaches(&friday, N2, &calendar, at("2026-08-17T16:00:00-05:00")).is_empty());
        let late = breaches(&friday, N2, &calendar, at("2026-08-18T10:01:00-05:00"));
        assert_eq!(
            late,
            vec![Breach { target: Target::PrimeraRespuesta, due: at("2026-08-18T10:00:00-05:00") }]
        );
        // The history and the coordinator's notice say when it was due, in the desk's time.
        let t = breach_transition(&case_at_n2(), &late[0], 4.0, "coord.n2@dian.gov.co");
        let detail = &t.events.last().expect("an event").detail;
        assert!(detail.contains("vencía 2026-08-18 10:00 (UTC-05:00)"), "{detail}");
    }
}
