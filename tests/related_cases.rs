//! Related cases, merged duplicates and cases about the same invoice (issue 14, points 5 and 6),
//! through the real pipeline into a real store (SQLite, or PostgreSQL with
//! `MESA_FE_PRUEBA_BASE=postgres`), without a mail server: `#relacionado` / `case relate` opens a
//! child with its own number and thread, `#fusionar` / `case merge` moves a duplicate's rows and
//! routes its later mail, and a new case whose documents carry an open case's CUFE says so.

mod common;

use common::local::{Fixture, fixture, plain_mail, sample, vouched};
use mesa_fe::desk::Tema;
use mesa_fe::desk::command::{Action, Command};
use mesa_fe::pipeline::{ActionOutcome, Outcome};
use mesa_fe::store::cases::{CaseDetail, CaseFilter};
use mesa_fe::store::outbox::OutboxItem;
use serde_json::Value;

const PROVIDER: &str = "jpardo@andinas-contables.example";
const BUYER: &str = "contabilidad@ferreteria-elroble.example";
/// The CUFE of invoice LCE4821, in the provider's ZIP and in the buyer's.
const CUFE: &str = "d96f1533f0df6342ecdf29ead89c6039705250d2a5275e9799dc23df09a363e3fb5dcf4824c516402f73531dcba0d496";

fn mail(from: &str, subject: &str, in_reply_to: Option<&str>, body: &str) -> Vec<u8> {
    let id = format!("<{}.{}@test.example>", fastrand::u64(..), fastrand::u32(..));
    plain_mail(from, subject, &id, in_reply_to, "", body)
}

impl Fixture {
    async fn open(&self, path: &str) -> String {
        match self.ingest(&sample(path)).await {
            Outcome::Opened { case, .. } => case,
            other => panic!("expected a new case from {path}, got {other:?}"),
        }
    }

    /// The provider's request about LCE4821 (a case at N2) and the buyer's about the same invoice.
    async fn provider_and_buyer(&self) -> (String, String) {
        let provider = self.open("mail/01_proveedor_zip_attacheddocument.eml").await;
        let buyer = self.open("related/adquiriente_mismo_cufe.eml").await;
        (provider, buyer)
    }

    async fn detail(&self, number: &str) -> CaseDetail {
        self.store.case_detail(number).await.expect("detail").expect("case exists")
    }

    async fn outbox_of(&self, number: &str, kind: &str) -> Vec<OutboxItem> {
        let all = self.store.list_outbox(None).await.expect("outbox");
        all.into_iter()
            .map(|row| row.expect("a readable row"))
            .filter(|o| o.case_number == number && o.kind.as_str() == kind)
            .collect()
    }

    async fn act(&self, number: &str, agent: &str, command: Command, text: &str) -> ActionOutcome {
        let action = Action { command, text: text.into() };
        self.desk.act_by_cli(&self.store, number, agent, &action).await.expect("act")
    }

    async fn holder(&self, number: &str) -> String {
        self.detail(number).await.summary.agent.expect("the case has an agent")
    }

    async fn numbers(&self, filter: CaseFilter) -> Vec<String> {
        let cases = self.store.list_cases(&filter).await.expect("list");
        cases.into_iter().map(|c| c.number).collect()
    }
}

fn context(item: &OutboxItem) -> Value {
    serde_json::from_str(&item.context).expect("context is JSON")
}

fn has_event(detail: &CaseDetail, words: &str) -> bool {
    detail.events.iter().any(|e| e.detail.contains(words))
}

#[tokio::test]
async fn relate_opens_a_child_with_its_own_number_thread_and_acknowledgement() {
    let f = fixture(|_| {}).await;
    let parent = f.open("mail/01_proveedor_zip_attacheddocument.eml").await;
    let agent = f.holder(&parent).await;
    let text = "La nota crédito NC-88 de la misma factura tampoco aparece en el catálogo.";
    let outcome = f.act(&parent, &agent, Command::Relacionado { tema: None }, text).await;
    assert_eq!(outcome.refusal, None);
    let child = outcome.created.expect("a new case");
    assert_ne!(child, parent);

    let c = f.detail(&child).await;
    let p = f.detail(&parent).await;
    assert_eq!(c.parent.as_deref(), Some(parent.as_str()));
    assert_eq!(p.children, vec![child.clone()]);
    assert_eq!(
        (c.requester.as_str(), c.summary.tema.as_str()),
        (PROVIDER, p.summary.tema.as_str())
    );
    assert_eq!(c.summary.channel, p.summary.channel);
    assert_eq!(c.summary.status, "en_atencion");
    assert_eq!(c.summary.agent.as_deref(), Some(agent.as_str()));
    assert!(
        c.summary.subject.contains(&format!("Relacionado con {parent}")),
        "{}",
        c.summary.subject
    );
    assert_eq!(c.messages.len(), 1, "the agent's description is its first content");
    assert!(has_event(&c, &parent), "the child's history names its parent");
    assert!(has_event(&p, &child), "the parent's history names the child");

    // The requester hears the new number on a thread of its own, with the agent's text.
    let ack = f.outbox_of(&child, "aviso_caso_relacionado").await;
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0].to_addr, PROVIDER);
    assert!(ack[0].subject.starts_with(&format!("[{child}]")), "{}", ack[0].subject);
    assert_eq!(ack[0].in_reply_to, None, "not on the parent's thread");
    assert_eq!(context(&ack[0])["text"], text);
    assert_eq!(context(&ack[0])["parent_case"], parent.as_str());
    let told = f.outbox_of(&child, "notificacion_agente").await;
    assert_eq!(told.iter().map(|o| o.to_addr.as_str()).collect::<Vec<_>>(), vec![agent.as_str()]);

    // The requester's answer to the acknowledgement joins the new case, not the parent.
    let subject = format!("RE: {}", ack[0].subject);
    let answer = mail(PROVIDER, &subject, Some(&ack[0].message_id), "Adjunto la nota.");
    assert_eq!(appended_to(f.ingest(&answer).await), child);
}

fn appended_to(outcome: Outcome) -> String {
    match outcome {
        Outcome::Appended { case, .. } => case,
        other => panic!("expected a message on an existing case, got {other:?}"),
    }
}

#[tokio::test]
async fn relacionado_by_mail_from_the_agent_creates_the_child_and_its_tema_may_change() {
    let f = fixture(|_| {}).await;
    let parent = f.open("mail/01_proveedor_zip_attacheddocument.eml").await;
    let agent = f.holder(&parent).await;
    let notice = f.outbox_of(&parent, "notificacion_agente").await;
    let notice = notice.iter().find(|o| o.to_addr == agent).expect("the agent was notified");
    let reply = vouched(
        &agent,
        &mail(
            &agent,
            &format!("RE: {}", notice.subject),
            Some(&notice.message_id),
            "#relacionado nomina_electronica\nEl mismo emisor no puede transmitir la nómina de marzo.",
        ),
    );
    assert_eq!(appended_to(f.ingest(&reply).await), parent);
    let p = f.detail(&parent).await;
    assert_eq!(p.children.len(), 1, "{:?}", p.events);
    let child = f.detail(&p.children[0]).await;
    assert_eq!(child.summary.tema, Tema::NominaElectronica.as_str());
    assert_eq!(child.group.as_deref(), Some("n2_nomina"));
    assert_eq!(child.summary.agent.as_deref(), Some("carolina.pardo@dian.gov.co"));
    let told: Vec<String> = f
        .outbox_of(&child.summary.number, "notificacion_agente")
        .await
        .into_iter()
        .map(|o| o.to_addr)
        .collect();
    assert_eq!(told, vec!["carolina.pardo@dian.gov.co".to_string(), agent.clone()]);
    assert!(p.actions.iter().any(|a| a.command == "relacionado" && a.refused == 0));
    // Without a description nothing is created and the agent hears why.
    let empty = f.act(&parent, &agent, Command::Relacionado { tema: None }, "").await;
    assert!(empty.refusal.is_some_and(|w| w.contains("descripción")));
    assert_eq!(f.detail(&parent).await.children.len(), 1);
}

#[tokio::test]
async fn two_cases_with_the_same_cufe_see_each_other() {
    let f = fixture(|_| {}).await;
    let (provider, buyer) = f.provider_and_buyer().await;
    let b = f.detail(&buyer).await;
    assert!(
        has_event(&b, &format!("Casos abiertos con el mismo CUFE: {provider}")),
        "{:?}",
        b.events
    );
    let notice = f.outbox_of(&buyer, "notificacion_agente").await;
    assert_eq!(context(&notice[0])["same_cufe"], serde_json::json!([provider]));
    assert_eq!(b.same_cufe.iter().map(|c| c.number.as_str()).collect::<Vec<_>>(), vec![&provider]);
    // The same ZIP: the invoice's CUFE and the DIAN response's CUDE are both shared.
    let uuids: Vec<Option<&str>> = b.documents.iter().map(|d| d.uuid.as_deref()).collect();
    assert!(uuids.contains(&Some(b.same_cufe[0].uuid.as_str())), "{:?}", b.same_cufe);
    let p = f.detail(&provider).await;
    assert_eq!(p.same_cufe.iter().map(|c| c.number.as_str()).collect::<Vec<_>>(), vec![&buyer]);
    // The first case had nobody to point at.
    let first = f.outbox_of(&provider, "notificacion_agente").await;
    assert_eq!(context(&first[0])["same_cufe"], serde_json::json!([]));
    // A closed case is not an open one: a third case about the invoice names only the open one.
    let agent = f.holder(&provider).await;
    assert_eq!(f.act(&provider, &agent, Command::Cerrar, "").await.refusal, None);
    let again = plain_mail_with_attachment_of_buyer();
    let third = match f.ingest(&again).await {
        Outcome::Opened { case, .. } => case,
        other => panic!("{other:?}"),
    };
    let t = f.detail(&third).await;
    assert!(
        has_event(&t, &format!("Casos abiertos con el mismo CUFE: {buyer}.")),
        "{:?}",
        t.events
    );
}

/// The buyer's fixture as sent again by someone else (another Message-ID and sender).
/// The same ZIP sent again and again (a provider's retries, a loop) must not make each new case
/// longer than the last: a new case names the ten oldest open cases with its CUFE and counts
/// the rest, in its history and in its agent's mail.
#[tokio::test]
async fn a_new_case_names_the_ten_oldest_cases_with_its_cufe_and_counts_the_rest() {
    let f = fixture(|_| {}).await;
    let original =
        String::from_utf8(sample("mail/01_proveedor_zip_attacheddocument.eml")).expect("utf-8");
    let mut numbers = Vec::new();
    for n in 0..13 {
        // Each from a sender of its own: a sender's hourly cap of new cases is not the point.
        let raw = original
            .replace(PROVIDER, &format!("soporte{n}@andinas-contables.example"))
            .replace("20261126091502.4821", &format!("20261126091502.{n}"));
        match f.ingest(raw.as_bytes()).await {
            Outcome::Opened { case, .. } => numbers.push(case),
            other => panic!("{other:?}"),
        }
    }
    let last = f.detail(&numbers[12]).await;
    let listed = numbers[..10].join(", ");
    assert!(
        has_event(&last, &format!("Casos abiertos con el mismo CUFE: {listed} y 2 más")),
        "{:?}",
        last.events
    );
    let notice = f.outbox_of(&numbers[12], "notificacion_agente").await;
    assert_eq!(context(&notice[0])["same_cufe"], serde_json::json!(numbers[..10]));
    assert_eq!(context(&notice[0])["same_cufe_more"], serde_json::json!(2));
    // Ten listed and none more: nothing to count.
    let eleventh = f.detail(&numbers[10]).await;
    assert!(
        has_event(&eleventh, &format!("mismo CUFE: {listed}. Si tratan")),
        "{:?}",
        eleventh.events
    );
}

fn plain_mail_with_attachment_of_buyer() -> Vec<u8> {
    let raw = String::from_utf8(sample("related/adquiriente_mismo_cufe.eml")).expect("utf-8");
    raw.replace(BUYER, "gerencia@ferreteria-elroble.example")
        .replace("20261126154011.77", "20261127101500.12")
        .into_bytes()
}

#[tokio::test]
async fn merge_moves_messages_documents_and_history_and_the_old_tag_routes_to_the_target() {
    let f = fixture(|_| {}).await;
    let (provider, buyer) = f.provider_and_buyer().await;
    let before_p = f.detail(&provider).await;
    let before_b = f.detail(&buyer).await;
    let agent = f.holder(&buyer).await;
    let outcome = f.act(&buyer, &agent, Command::Fusionar(provider.clone()), "Mismo CUFE.").await;
    assert_eq!(outcome.refusal, None);

    let b = f.detail(&buyer).await;
    let p = f.detail(&provider).await;
    assert_eq!(b.summary.status, "cerrado");
    assert_eq!(b.merged_into.as_deref(), Some(provider.as_str()));
    assert!(b.messages.is_empty() && b.documents.is_empty(), "the stub keeps no mail");
    assert!(has_event(&b, &format!("Fusionado en el caso {provider}")));
    assert_eq!(p.merged_here, vec![buyer.clone()]);
    assert_eq!(p.messages.len(), before_p.messages.len() + before_b.messages.len());
    assert!(p.messages.iter().any(|m| m.from_addr == BUYER));
    assert_eq!(p.documents.len(), before_p.documents.len() + before_b.documents.len());
    assert!(has_event(&p, "Casos abiertos con el mismo CUFE"), "the buyer's history moved");
    assert!(has_event(&p, &format!("Se fusionó en este caso el caso {buyer}")));
    assert_eq!(p.summary.status, before_p.summary.status, "the target goes on as it was");

    // The duplicate's requester hears the number to use, on the duplicate's thread.
    let notice = f.outbox_of(&buyer, "aviso_fusion").await;
    assert_eq!(notice.len(), 1);
    assert_eq!(notice[0].to_addr, BUYER);
    assert_eq!(context(&notice[0])["text"], provider.as_str());
    assert!(notice[0].in_reply_to.is_some(), "threaded on the buyer's request");

    // Later mail with the old tag, or answering the notice, goes to the target.
    let tagged = mail(BUYER, &format!("[{buyer}] Sigue sin aparecer"), None, "¿Alguna novedad?");
    assert_eq!(appended_to(f.ingest(&tagged).await), provider);
    let subject = format!("RE: {}", notice[0].subject);
    let answer = mail(BUYER, &subject, Some(&notice[0].message_id), "Gracias, quedo atenta.");
    assert_eq!(appended_to(f.ingest(&answer).await), provider);
    // The buyer, told to use the target's number, may write with its tag.
    let new_tag = mail(BUYER, &format!("[{provider}] Otra pregunta"), None, "¿Y el evento 030?");
    assert_eq!(appended_to(f.ingest(&new_tag).await), provider);
    // A stranger with the old tag still gets a case of their own.
    let stranger = mail("otro@desconocido.example", &format!("[{buyer}] hola"), None, "Hola");
    assert!(matches!(f.ingest(&stranger).await, Outcome::Opened { .. }));
}

#[tokio::test]
async fn merges_that_cannot_be_are_refused_and_change_nothing() {
    let f = fixture(|_| {}).await;
    let (provider, buyer) = f.provider_and_buyer().await;
    let agent = f.holder(&buyer).await;
    let refused = |outcome: ActionOutcome| outcome.refusal.expect("refused");
    let own = f.act(&buyer, &agent, Command::Fusionar(buyer.clone()), "").await;
    assert!(refused(own).contains("consigo mismo"));
    let unknown = f.act(&buyer, &agent, Command::Fusionar("FE-2026-999999".into()), "").await;
    assert!(refused(unknown).contains("no existe"));
    // A parent is not merged away from its children.
    let provider_agent = f.holder(&provider).await;
    let linked = f.act(&provider, &provider_agent, Command::Padre(buyer.clone()), "").await;
    assert_eq!(linked.refusal, None);
    let parent = f.act(&buyer, &agent, Command::Fusionar(provider.clone()), "").await;
    assert!(refused(parent).contains("padre de 1"));
    // A closed target.
    let third = f.open("mail/10_nomina_con_xml.eml").await;
    let third_agent = f.holder(&third).await;
    assert_eq!(f.act(&third, &third_agent, Command::Cerrar, "").await.refusal, None);
    let closed = f.act(&provider, &provider_agent, Command::Fusionar(third.clone()), "").await;
    let why = refused(closed);
    assert!(why.contains("cerrado") || why.contains("ninguno de sus grupos"), "{why}");
    for number in [&provider, &buyer] {
        let d = f.detail(number).await;
        assert_eq!(d.merged_into, None);
        assert_ne!(d.summary.status, "cerrado");
    }
    assert!(f.outbox_of(&buyer, "aviso_fusion").await.is_empty());
}

#[tokio::test]
async fn case_list_filters_by_cufe_nit_and_requester_address() {
    let f = fixture(|_| {}).await;
    let (provider, buyer) = f.provider_and_buyer().await;
    let other = f.open("mail/02_contribuyente_texto_sin_requisitos.eml").await;
    let by_cufe = |cufe: &str| CaseFilter { cufe: Some(cufe.into()), ..CaseFilter::default() };
    assert_eq!(f.numbers(by_cufe(CUFE)).await, vec![provider.clone(), buyer.clone()]);
    assert_eq!(f.numbers(by_cufe(&CUFE.to_uppercase())).await.len(), 2, "either case");
    assert!(f.numbers(by_cufe("abc123")).await.is_empty());
    let by_nit = |nit: &str| CaseFilter { nit: Some(nit.into()), ..CaseFilter::default() };
    // The buyer of LCE4821 (customer) and its issuer (supplier).
    assert_eq!(f.numbers(by_nit("900917354")).await, vec![provider.clone(), buyer.clone()]);
    assert_eq!(f.numbers(by_nit("900481236")).await, vec![provider.clone(), buyer.clone()]);
    assert!(f.numbers(by_nit("111111111")).await.is_empty());
    let by_address = CaseFilter { requester: Some(BUYER.into()), ..CaseFilter::default() };
    assert_eq!(f.numbers(by_address).await, vec![buyer.clone()]);
    let everything = f.numbers(CaseFilter::default()).await;
    assert_eq!(everything, vec![provider, buyer, other]);
}
