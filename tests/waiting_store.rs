//! Cases waiting for the requester (`pendiente_informacion`) through the real pipeline into a
//! real store, on the business calendar of the built-in configuration, with the sweep's clock
//! set by the test: one reminder per waiting period, the closure with its notices, and a
//! requester's answer (or a new question) that starts the count again.

mod common;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use common::local::{Fixture, fixture, plain_mail, sample};
use mesa_fe::desk::command::{Action, Command};
use mesa_fe::pipeline::Outcome;
use mesa_fe::pipeline::waiting::{WaitingCase, WaitingSweep, waiting_cases};
use mesa_fe::store::cases::CaseDetail;

const ROSA: &str = "rosa.cardenas.contable@correo.example";
const N1_COORDINATOR: &str = "mesa.n1@dian.gov.co";
const N2: &str = "ana.rojas@dian.gov.co";

impl Fixture {
    async fn opened(&self, path: &str) -> String {
        match self.ingest(&sample(path)).await {
            Outcome::Opened { case, .. } => case,
            other => panic!("expected a new case, got {other:?}"),
        }
    }

    async fn detail(&self, number: &str) -> CaseDetail {
        self.store.case_detail(number).await.expect("detail").expect("case exists")
    }

    /// Mail of `kind` queued for the case, as (recipient) in order.
    async fn sent(&self, number: &str, kind: &str) -> Vec<String> {
        let detail = self.detail(number).await;
        detail.outbox.iter().filter(|o| o.kind == kind).map(|o| o.to_addr.clone()).collect()
    }

    async fn waiting(&self) -> Vec<WaitingCase> {
        waiting_cases(&self.desk.config, &self.store, Utc::now()).await.expect("waiting list")
    }

    /// When the current waiting period of `number` started (the latest request).
    async fn asked_at(&self, number: &str) -> DateTime<FixedOffset> {
        let waiting = self.waiting().await;
        let case = waiting.iter().find(|c| c.number == number).expect("the case waits");
        DateTime::parse_from_rfc3339(&case.since).expect("since is RFC 3339")
    }

    /// `days` business days after the period started, plus `minutes` (negative = before).
    async fn after(&self, number: &str, days: f64, minutes: i64) -> DateTime<Utc> {
        let asked = self.asked_at(number).await;
        let due = self.desk.config.calendar().add_business_days(asked, days);
        (due + Duration::minutes(minutes)).with_timezone(&Utc)
    }

    async fn sweep(&self, now: DateTime<Utc>) -> WaitingSweep {
        self.desk.sweep_waiting(&self.store, now).await.expect("sweep")
    }

    async fn reply(&self, from: &str, number: &str, body: &str) {
        let id = format!("<{}.{}@correo.example>", fastrand::u64(..), fastrand::u32(..));
        let subject = format!("RE: [{number}] Ayuda con factura rechazada");
        let raw = plain_mail(from, &subject, &id, None, "", body);
        assert!(matches!(self.ingest(&raw).await, Outcome::Appended { .. }));
    }
}

fn history_with<'a>(detail: &'a CaseDetail, words: &str) -> Vec<&'a str> {
    detail.events.iter().filter(|e| e.detail.contains(words)).map(|e| e.detail.as_str()).collect()
}

#[tokio::test]
async fn three_business_days_without_an_answer_bring_one_reminder_with_its_history_row() {
    let f = fixture(|_| {}).await;
    let number = f.opened("mail/02_contribuyente_texto_sin_requisitos.eml").await;
    assert_eq!(f.detail(&number).await.summary.status, "pendiente_informacion");

    let early = f.after(&number, 3.0, -1).await;
    assert_eq!(f.sweep(early).await, WaitingSweep::default(), "not yet 3 business days");
    let due = f.after(&number, 3.0, 1).await;
    assert_eq!(f.sweep(due).await, WaitingSweep { reminded: 1, closed: 0 });
    assert_eq!(f.sweep(due).await, WaitingSweep::default(), "one reminder per period");

    let detail = f.detail(&number).await;
    assert_eq!(detail.summary.status, "pendiente_informacion");
    assert_eq!(f.sent(&number, "recordatorio_informacion").await, vec![ROSA.to_string()]);
    let rows = history_with(&detail, "Recordatorio al solicitante");
    assert_eq!(rows.len(), 1, "{:?}", detail.events);
    assert!(rows[0].contains("3 días hábiles"), "{}", rows[0]);
    let listed = f.waiting().await;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].reminded);
}

#[tokio::test]
async fn ten_business_days_close_the_case_telling_the_requester_and_the_n1_coordinator() {
    let f = fixture(|_| {}).await;
    let number = f.opened("mail/02_contribuyente_texto_sin_requisitos.eml").await;
    let reminder = f.after(&number, 3.0, 1).await;
    let early = f.after(&number, 10.0, -1).await;
    let due = f.after(&number, 10.0, 1).await;
    f.sweep(reminder).await;
    assert_eq!(f.sweep(early).await, WaitingSweep::default());
    assert_eq!(f.sweep(due).await, WaitingSweep { reminded: 0, closed: 1 });
    assert_eq!(f.sweep(due).await, WaitingSweep::default(), "closed once");

    let detail = f.detail(&number).await;
    assert_eq!((detail.summary.status.as_str(), detail.summary.level.as_str()), ("cerrado", "n1"));
    let closing = detail.events.last().expect("events");
    assert_eq!(closing.to_status, "cerrado");
    assert!(closing.detail.contains("Cerrado sin respuesta del solicitante"), "{}", closing.detail);
    assert!(closing.detail.contains("10 días hábiles"), "{}", closing.detail);
    assert_eq!(f.sent(&number, "cierre_sin_respuesta").await, vec![ROSA.to_string()]);
    assert_eq!(
        f.sent(&number, "aviso_cierre_sin_respuesta").await,
        vec![N1_COORDINATOR.to_string()]
    );
    assert!(f.waiting().await.is_empty(), "a closed case no longer waits");
}

#[tokio::test]
async fn an_answer_that_still_leaves_something_missing_starts_a_new_period() {
    let f = fixture(|_| {}).await;
    let number = f.opened("mail/02_contribuyente_texto_sin_requisitos.eml").await;
    let first_reminder = f.after(&number, 3.0, 1).await;
    assert_eq!(f.sweep(first_reminder).await.reminded, 1);

    f.reply(ROSA, &number, "Mi NIT es 900.123.456-7, adjunto luego el XML.").await;
    assert_eq!(f.detail(&number).await.summary.status, "pendiente_informacion");
    let listed = f.waiting().await;
    assert!(!listed[0].reminded, "the answer started a new period: {listed:?}");
    assert_eq!(listed[0].business_days, 0);
    // The new period has its own reminder, once, and its own closure date.
    let second_reminder = f.after(&number, 3.0, 1).await;
    assert_eq!(f.sweep(second_reminder).await.reminded, 1);
    assert_eq!(f.sweep(second_reminder).await, WaitingSweep::default());
    assert_eq!(f.sent(&number, "recordatorio_informacion").await.len(), 2);
    let closing = f.after(&number, 10.0, -1).await;
    assert_eq!(f.sweep(closing).await, WaitingSweep::default());
    assert_eq!(f.detail(&number).await.summary.status, "pendiente_informacion");
}

#[tokio::test]
async fn an_agents_question_at_n2_waits_too_and_its_closure_tells_the_agent() {
    let f = fixture(|_| {}).await;
    let number = f.opened("mail/01_proveedor_zip_attacheddocument.eml").await;
    let action = Action { command: Command::Info, text: "¿Qué software usa?".into() };
    f.desk.act_by_cli(&f.store, &number, N2, &action).await.expect("info");
    assert_eq!(f.detail(&number).await.summary.status, "pendiente_informacion");
    let listed = f.waiting().await;
    assert_eq!((listed[0].level.as_str(), listed[0].agent.as_deref()), ("n2", Some(N2)));

    let due = f.after(&number, 10.0, 1).await;
    assert_eq!(f.sweep(due).await, WaitingSweep { reminded: 0, closed: 1 });
    let detail = f.detail(&number).await;
    assert_eq!((detail.summary.status.as_str(), detail.summary.level.as_str()), ("cerrado", "n2"));
    assert_eq!(f.sent(&number, "aviso_cierre_sin_respuesta").await, vec![N2.to_string()]);
    assert_eq!(f.sent(&number, "cierre_sin_respuesta").await.len(), 1);
}
