//! Cases waiting for the requester (status `pendiente_informacion`): N1's request for the
//! minimum requirements, or an agent's `#info` question at N2/N3. After
//! `recordatorio_dias_habiles` business days without an answer the requester gets one reminder;
//! after `cierre_sin_respuesta_dias_habiles` the case closes, the requester is told, and so is
//! whoever holds it.
//!
//! A waiting period starts at the desk's latest request to the requester: a requester's answer
//! that still leaves something missing makes a new request (a new period), and so does a second
//! `#info`. Each step happens at most once per period. Pure: the caller gives the period, the
//! calendar and the time.

use chrono::{DateTime, FixedOffset};

use crate::desk::calendar::Calendar;
use crate::desk::case::{Case, Recipient, ReplyKind, Status, Transition, activity_at};
use crate::desk::levels::level_name;

/// Business days counted at most when telling how long a case waited (bounds the loop).
const MAX_COUNTED_DAYS: u32 = 400;

/// `[espera_solicitante]`: the two deadlines, in business days from the request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deadlines {
    pub reminder_days: u32,
    pub closure_days: u32,
}

/// Where one waiting period stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Period {
    /// The desk's latest request to the requester.
    pub asked_at: DateTime<FixedOffset>,
    /// A reminder already went out in this period.
    pub reminded: bool,
}

/// What the sweep must do for one waiting case now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Nothing,
    Remind,
    Close,
}

/// The period's deadlines on the calendar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub reminder_at: DateTime<FixedOffset>,
    pub closure_at: DateTime<FixedOffset>,
}

impl Deadlines {
    pub fn schedule(&self, period: &Period, calendar: &Calendar) -> Schedule {
        Schedule {
            reminder_at: calendar.add_business_days(period.asked_at, f64::from(self.reminder_days)),
            closure_at: calendar.add_business_days(period.asked_at, f64::from(self.closure_days)),
        }
    }

    /// Closure once its deadline passed (even if the reminder never went out: the daemon may
    /// have been stopped), else the reminder once its deadline passed and it was not sent.
    pub fn step(&self, period: &Period, calendar: &Calendar, now: DateTime<FixedOffset>) -> Step {
        let schedule = self.schedule(period, calendar);
        if now >= schedule.closure_at {
            Step::Close
        } else if now >= schedule.reminder_at && !period.reminded {
            Step::Remind
        } else {
            Step::Nothing
        }
    }
}

/// Whole business days from `since` to `now` (0 before the first one has passed).
pub fn business_days_waited(
    calendar: &Calendar,
    since: DateTime<FixedOffset>,
    now: DateTime<FixedOffset>,
) -> u32 {
    let mut days = 0;
    while days < MAX_COUNTED_DAYS && calendar.add_business_days(since, f64::from(days + 1)) <= now {
        days += 1;
    }
    days
}

/// The reminder: a history row and the mail to the requester, the case unchanged.
pub fn remind(case: &Case, deadlines: &Deadlines, closure_at: DateTime<FixedOffset>) -> Transition {
    let mut t = Transition::of(case);
    let closes_on = closure_at.format("%Y-%m-%d").to_string();
    let detail = format!(
        "Recordatorio al solicitante: {} días hábiles sin su respuesta. Si no responde, el caso \
         se cierra el {closes_on}.",
        deadlines.reminder_days
    );
    t.note(activity_at(case.level), detail);
    t.reply_with(ReplyKind::RecordatorioInformacion, Recipient::Requester, &closes_on);
    t
}

/// The closure: the case closes at its level, the requester is told, and so is `holder` (the
/// agent or coordinator who holds the case; none when nobody is configured).
pub fn close(case: &Case, deadlines: &Deadlines, holder: Option<&str>) -> Transition {
    let mut t = Transition::of(case);
    let detail = format!(
        "Cerrado sin respuesta del solicitante: {} días hábiles esperando la información pedida \
         en {}. Se avisa al solicitante{}.",
        deadlines.closure_days,
        level_name(case.level),
        if holder.is_some() { " y a quien tiene el caso" } else { "" },
    );
    t.record(activity_at(case.level), Status::Cerrado, case.level, detail.clone());
    t.reply(ReplyKind::CierreSinRespuesta, Recipient::Requester);
    if let Some(holder) = holder.filter(|h| !h.is_empty()) {
        t.reply_with(ReplyKind::AvisoCierreSinRespuesta, Recipient::Agent(holder.into()), &detail);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::calendar::testing::{at, office};
    use crate::desk::case::{Intake, Staffing, open};
    use crate::desk::requirements::Evidence;
    use crate::desk::{Channel, Level, Requirement, Tema};

    const DEFAULTS: Deadlines = Deadlines { reminder_days: 3, closure_days: 10 };

    /// Asked on Thursday 3 December 2026 at 10:00; Tuesday 8 December is a holiday.
    fn period(reminded: bool) -> Period {
        Period { asked_at: at("2026-12-03T10:00:00-05:00"), reminded }
    }

    #[test]
    fn the_reminder_comes_after_three_business_days_skipping_weekend_and_holiday() {
        // Thu 3 → Fri 4, Mon 7, (Tue 8 holiday), Wed 9: due Wednesday 10:00.
        let office = office();
        let before = at("2026-12-09T09:59:00-05:00");
        assert_eq!(DEFAULTS.step(&period(false), &office, before), Step::Nothing);
        let after = at("2026-12-09T10:00:00-05:00");
        assert_eq!(DEFAULTS.step(&period(false), &office, after), Step::Remind);
        assert_eq!(DEFAULTS.step(&period(true), &office, after), Step::Nothing, "once a period");
    }

    #[test]
    fn the_case_closes_after_ten_business_days_reminded_or_not() {
        // 10 business days from Thu 3 Dec, without Tue 8: Fri 18 Dec 10:00.
        let office = office();
        let schedule = DEFAULTS.schedule(&period(true), &office);
        assert_eq!(schedule.closure_at, at("2026-12-18T10:00:00-05:00"));
        let before = at("2026-12-18T09:00:00-05:00");
        assert_eq!(DEFAULTS.step(&period(true), &office, before), Step::Nothing);
        let after = at("2026-12-18T10:00:00-05:00");
        assert_eq!(DEFAULTS.step(&period(true), &office, after), Step::Close);
        assert_eq!(DEFAULTS.step(&period(false), &office, after), Step::Close);
    }

    #[test]
    fn days_waited_count_only_business_days() {
        let office = office();
        let asked = period(false).asked_at;
        assert_eq!(business_days_waited(&office, asked, asked), 0);
        assert_eq!(business_days_waited(&office, asked, at("2026-12-07T10:00:00-05:00")), 2);
        assert_eq!(business_days_waited(&office, asked, at("2026-12-08T23:00:00-05:00")), 2);
        assert_eq!(business_days_waited(&office, asked, at("2026-12-09T10:00:00-05:00")), 3);
    }

    fn waiting_case() -> Case {
        let intake = Intake {
            tema: Tema::FacturaElectronica,
            channel: Channel::Correo,
            security_category: None,
            auto_generated: false,
            required: vec![Requirement::Descripcion, Requirement::Xml],
            evidence: Evidence::default(),
            known_errors: Vec::new(),
            answer: crate::desk::answer::Reading::NoClara,
        };
        let staffing = Staffing {
            group: "n2_factura".into(),
            coordinator: "coord@dian.gov.co".into(),
            agents: Vec::new(),
        };
        let case = open(&intake, &staffing).case;
        assert_eq!(case.status, Status::PendienteInformacion);
        case
    }

    #[test]
    fn a_reminder_keeps_the_case_waiting_and_writes_to_the_requester() {
        let case = waiting_case();
        let t = remind(&case, &DEFAULTS, at("2026-12-18T10:00:00-05:00"));
        assert_eq!(t.case, case);
        assert_eq!(t.events.len(), 1);
        assert!(t.events[0].detail.contains("2026-12-18"), "{}", t.events[0].detail);
        assert_eq!(t.replies.len(), 1);
        assert_eq!(t.replies[0].kind, ReplyKind::RecordatorioInformacion);
        assert_eq!(t.replies[0].to, Recipient::Requester);
    }

    #[test]
    fn closure_tells_the_requester_and_the_holder() {
        let case = waiting_case();
        let t = close(&case, &DEFAULTS, Some("coord.n1@dian.gov.co"));
        assert_eq!(t.case.status, Status::Cerrado);
        assert_eq!(t.case.level, Level::N1);
        assert_eq!(t.events[0].activity.number(), 2);
        let sent: Vec<(ReplyKind, Recipient)> =
            t.replies.iter().map(|r| (r.kind, r.to.clone())).collect();
        assert_eq!(
            sent,
            vec![
                (ReplyKind::CierreSinRespuesta, Recipient::Requester),
                (
                    ReplyKind::AvisoCierreSinRespuesta,
                    Recipient::Agent("coord.n1@dian.gov.co".into())
                ),
            ]
        );
        let nobody = close(&case, &DEFAULTS, None);
        assert_eq!(nobody.replies.len(), 1, "no holder configured: only the requester");
    }
}
