//! Bounces of our mail (issue 14, point 4), without a mail server.
//!
//! - Recognition ([`mesa_fe::mail::bounce`]) over the fixtures `tests/fixtures/mail/05` and
//!   `50…57`: a Postfix report, an Exchange NDR, Gmail's report, a delayed-delivery warning, a
//!   "mailbox full" auto-reply, qmail's failure notice, a report of success and a person who
//!   says her mailbox is full. Each fixture quotes the Message-ID [`PLACEHOLDER_ID`].
//! - The store tier, through the real pipeline into a real store (SQLite, or PostgreSQL with
//!   `MESA_FE_PRUEBA_BASE=postgres`): the fixtures with [`PLACEHOLDER_ID`] replaced by the
//!   Message-ID of a real outbox row, and what the operator and the agents then see.
//!   (The same against the real Postfix: tests/bounces_e2e.rs.)

mod common;

use std::process::Output;

use common::local::{Fixture, fixture, sample, text};
use mesa_fe::mail::bounce::{Bounce, BounceKind, BounceSource};
use mesa_fe::mail::{AttachmentLimits, parse};
use mesa_fe::pipeline::Outcome;
use mesa_fe::store::cases::CaseDetail;
use mesa_fe::store::outbox::{OutboxItem, OutboxStatus};

/// The Message-ID every bounce fixture quotes, in place of one of the desk's own.
const PLACEHOLDER_ID: &str =
    "<FE-2026-000037.r12.0.solicitud_informacion.para-5d41402abc4b.9f86d081884c7d65@dian.gov.co>";

const N2: &str = "ana.rojas@dian.gov.co";
const COORDINATOR: &str = "coord.factura@dian.gov.co";

fn bounce_of(name: &str) -> Option<Bounce> {
    let raw = sample(&format!("mail/{name}"));
    let inbound = parse(&raw, &AttachmentLimits::default()).expect("a readable e-mail");
    inbound.bounce
}

fn bare(id: &str) -> String {
    id.trim_matches(|c| c == '<' || c == '>').to_string()
}

// ---------------------------------------------------------------------------------------------
// Recognition

/// What one fixture is: its file, kind, source, the bounced recipient, the status code, words of
/// the remote diagnostic.
type Expected =
    (&'static str, BounceKind, BounceSource, &'static str, Option<&'static str>, &'static str);

const EXPECTED: [Expected; 6] = [
    (
        "50_rebote_postfix_usuario_desconocido.eml",
        BounceKind::Failed,
        BounceSource::Dsn,
        "contabilidad@ferreteriaelsol.example",
        Some("5.1.1"),
        "Recipient address rejected: User unknown in virtual mailbox table",
    ),
    (
        "51_rebote_exchange_ndr.eml",
        BounceKind::Failed,
        BounceSource::Ndr,
        "pagos@contoso.example",
        Some("5.1.10"),
        "RESOLVER.ADR.RecipientNotFound",
    ),
    (
        "52_rebote_gmail.eml",
        BounceKind::Failed,
        BounceSource::Dsn,
        "gerencia.hotelmirador@gmail.example",
        Some("5.1.1"),
        "The email account that you tried to reach does not exist",
    ),
    (
        "53_rebote_demorado.eml",
        BounceKind::Delayed,
        BounceSource::Dsn,
        "tesoreria@distribuidoraandina.example",
        Some("4.4.1"),
        "Connection timed out",
    ),
    (
        "54_buzon_lleno_respuesta_automatica.eml",
        BounceKind::MailboxFull,
        BounceSource::AutoReply,
        "auxiliar.contable@agroinsumosdelmeta.example",
        None,
        "el buzón de correo está lleno (cuota excedida)",
    ),
    (
        "55_rebote_qmail.eml",
        BounceKind::MailboxFull,
        BounceSource::Ndr,
        "facturacion@tiendaelmirlo.example",
        Some("5.2.2"),
        "This mailbox is over quota (552 5.2.2 mailbox full)",
    ),
];

#[test]
fn each_bounce_fixture_is_read_with_its_recipient_status_diagnostic_and_original() {
    for (name, kind, source, recipient, status, words) in EXPECTED {
        let bounce = bounce_of(name).unwrap_or_else(|| panic!("{name}: not recognised"));
        assert_eq!((bounce.kind, bounce.source), (kind, source), "{name}: {bounce:#?}");
        assert_eq!(bounce.recipient(), Some(recipient), "{name}: {bounce:#?}");
        assert_eq!(bounce.status(), status, "{name}: {bounce:#?}");
        assert!(bounce.diagnostic().contains(words), "{name}: {}", bounce.diagnostic());
        assert_eq!(
            bounce.quoted_ids.first().map(String::as_str),
            Some(bare(PLACEHOLDER_ID).as_str()),
            "{name}: the returned original's Message-ID comes first: {:?}",
            bounce.quoted_ids
        );
    }
}

#[test]
fn the_shared_sample_dsn_is_a_failed_report_quoting_its_original() {
    let bounce = bounce_of("05_rebote_dsn.eml").expect("recognised");
    assert_eq!((bounce.kind, bounce.source), (BounceKind::Failed, BounceSource::Dsn));
    assert_eq!(bounce.recipient(), Some("gerencia@tiendaelmirlo.example"));
    assert!(bounce.diagnostic().starts_with("550 5.1.1"), "{}", bounce.diagnostic());
    assert_eq!(bounce.quoted_ids, vec!["FE-2026-000037.2.outbox@mesa-fe.dian.gov.co".to_string()]);
}

#[test]
fn a_report_of_success_and_ordinary_mail_are_no_bounces() {
    assert_eq!(bounce_of("56_reporte_entregado_no_es_rebote.eml"), None);
    for name in ["02_contribuyente_texto_sin_requisitos.eml", "04_respuesta_automatica.eml"] {
        assert_eq!(bounce_of(name), None, "{name}");
    }
    // A person's words match the text (the pipeline reads her as a person: she is not automatic).
    let person = bounce_of("57_persona_menciona_buzon_lleno.eml").expect("words of a full box");
    assert_eq!(person.source, BounceSource::AutoReply);
}

#[test]
fn a_truncated_or_mangled_report_is_read_without_panicking() {
    let whole = sample("mail/52_rebote_gmail.eml");
    for cut in (0..whole.len()).step_by(97) {
        let _ = parse(&whole[..cut], &AttachmentLimits::default());
    }
    let mangled = String::from_utf8_lossy(&whole)
        .replace("Final-Recipient: rfc822;", "Final-Recipient:")
        .replace("Action: failed", "Action:\u{0}")
        .into_bytes();
    let bounce = parse(&mangled, &AttachmentLimits::default()).expect("readable").bounce;
    assert!(bounce.is_some(), "still a report, its words read from the text");
}

// ---------------------------------------------------------------------------------------------
// Store tier

impl Fixture {
    /// The provider's complete request (fixture 01): a case at N2 held by Ana, an acknowledgement
    /// to the provider and a notification to Ana, both sent.
    async fn sent_case(&self) -> String {
        let number = match self.ingest(&sample("mail/01_proveedor_zip_attacheddocument.eml")).await
        {
            Outcome::Opened { case, .. } => case,
            other => panic!("expected a new case, got {other:?}"),
        };
        for row in self.rows().await {
            self.store.mark_sent(row.id, "250 2.0.0 Ok: queued").await.expect("mark sent");
        }
        number
    }

    async fn rows(&self) -> Vec<OutboxItem> {
        let all = self.store.list_outbox(None).await.expect("outbox");
        all.into_iter().map(|row| row.expect("a readable row")).collect()
    }

    async fn row(&self, kind: &str) -> OutboxItem {
        let rows = self.rows().await;
        rows.into_iter().find(|o| o.kind.as_str() == kind).unwrap_or_else(|| panic!("no {kind}"))
    }

    async fn of_kind(&self, kind: &str) -> Vec<OutboxItem> {
        self.rows().await.into_iter().filter(|o| o.kind.as_str() == kind).collect()
    }

    /// A bounce fixture quoting the mail `row` instead of its placeholder.
    async fn bounce_quoting(&self, fixture: &str, row: &OutboxItem) -> Outcome {
        let text = String::from_utf8(sample(&format!("mail/{fixture}"))).expect("UTF-8 fixture");
        self.ingest(text.replace(PLACEHOLDER_ID, &row.message_id).as_bytes()).await
    }

    async fn detail(&self, number: &str) -> CaseDetail {
        self.store.case_detail(number).await.expect("detail").expect("case exists")
    }
}

fn history(detail: &CaseDetail) -> Vec<&str> {
    detail.events.iter().map(|e| e.detail.as_str()).collect()
}

#[tokio::test]
async fn a_bounce_of_the_requesters_mail_marks_the_row_notes_the_case_and_tells_the_agent() {
    let f = fixture(|_| {}).await;
    let number = f.sent_case().await;
    let ack = f.row("acuse_recibo").await;
    let before = f.detail(&number).await;

    let outcome = f.bounce_quoting("50_rebote_postfix_usuario_desconocido.eml", &ack).await;
    assert!(
        matches!(outcome, Outcome::Appended { ref case, .. } if *case == number),
        "{outcome:?}"
    );

    let rebotados = f.store.list_outbox(Some(OutboxStatus::Rebotado)).await.expect("list");
    let rebotados: Vec<OutboxItem> = rebotados.into_iter().map(|r| r.expect("row")).collect();
    assert_eq!(rebotados.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ack.id]);
    let bounce = rebotados[0].bounce.clone().expect("the bounce is kept on the row");
    assert_eq!(bounce.recipient.as_deref(), Some("contabilidad@ferreteriaelsol.example"));
    assert_eq!(bounce.status.as_deref(), Some("5.1.1"));
    let diagnostic = bounce.diagnostic.expect("diagnostic");
    assert!(diagnostic.contains("User unknown in virtual mailbox table"), "{diagnostic}");

    let after = f.detail(&number).await;
    assert_eq!(
        (after.summary.status.as_str(), after.summary.level.as_str()),
        ("en_atencion", "n2")
    );
    assert_eq!(after.events.len(), before.events.len() + 1, "{:#?}", history(&after));
    let note = history(&after).last().copied().unwrap_or_default().to_string();
    assert!(note.contains("«acuse de recibo» del "), "{note}");
    assert!(note.contains("rebotó: el solicitante no lo recibió"), "{note}");
    assert!(note.contains("contabilidad@ferreteriaelsol.example"), "{note}");
    assert!(note.contains("User unknown"), "{note}");
    assert_eq!(after.messages.len(), before.messages.len() + 1, "the bounce is on the case");

    let notices = f.of_kind("aviso_rebote").await;
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert_eq!(notices[0].to_addr, N2, "the agent holding the case is told");
    assert_eq!(
        notices[0].subject,
        format!(
            "[{number}] Correo no entregado: Consulta documento LCE4821 - Distribuidora La Ceiba"
        ),
        "on the bounced mail's subject, tagged"
    );
    assert!(ack.subject.ends_with("Consulta documento LCE4821 - Distribuidora La Ceiba"));
    let context: serde_json::Value = serde_json::from_str(&notices[0].context).expect("json");
    assert_eq!(context["text"], note.as_str());
    let to_requester = f.rows().await.into_iter().filter(|r| r.kind.to_requester()).count();
    assert_eq!(to_requester, 1, "nothing answers a bounce: still only the acknowledgement");
}

#[tokio::test]
async fn a_second_bounce_of_the_same_mail_is_only_noted() {
    let f = fixture(|_| {}).await;
    let number = f.sent_case().await;
    let ack = f.row("acuse_recibo").await;
    f.bounce_quoting("50_rebote_postfix_usuario_desconocido.eml", &ack).await;
    let outcome = f.bounce_quoting("52_rebote_gmail.eml", &ack).await;
    assert!(matches!(outcome, Outcome::Appended { ref case, .. } if *case == number));
    assert_eq!(f.of_kind("aviso_rebote").await.len(), 1, "one notice per bounced mail");
    let row = f.row("acuse_recibo").await;
    let bounce = row.bounce.expect("kept");
    assert!(bounce.diagnostic.unwrap_or_default().contains("virtual mailbox"), "the first stays");
    let detail = f.detail(&number).await;
    assert!(history(&detail).last().is_some_and(|n| n.contains("Otro aviso de rebote")));
}

#[tokio::test]
async fn a_delayed_delivery_only_adds_a_note() {
    let f = fixture(|_| {}).await;
    let number = f.sent_case().await;
    let ack = f.row("acuse_recibo").await;
    f.bounce_quoting("53_rebote_demorado.eml", &ack).await;
    assert_eq!(f.row("acuse_recibo").await.status, OutboxStatus::Enviado);
    assert!(f.of_kind("aviso_rebote").await.is_empty());
    let detail = f.detail(&number).await;
    let note = history(&detail).last().copied().unwrap_or_default().to_string();
    assert!(note.contains("está demorado") && note.contains("Connection timed out"), "{note}");
}

#[tokio::test]
async fn a_bounce_of_an_agents_notification_tells_the_coordinator() {
    let f = fixture(|_| {}).await;
    let number = f.sent_case().await;
    let notice = f.row("notificacion_agente").await;
    f.bounce_quoting("51_rebote_exchange_ndr.eml", &notice).await;
    assert_eq!(f.row("notificacion_agente").await.status, OutboxStatus::Rebotado);
    let told = f.of_kind("aviso_rebote").await;
    assert_eq!(told.iter().map(|r| r.to_addr.as_str()).collect::<Vec<_>>(), vec![COORDINATOR]);
    let detail = f.detail(&number).await;
    assert!(history(&detail).iter().any(|n| n.contains("el agente no lo recibió")));
}

#[tokio::test]
async fn a_full_mailbox_auto_reply_is_a_bounce_and_a_person_saying_so_is_a_follow_up() {
    let f = fixture(|_| {}).await;
    let number = f.sent_case().await;
    let ack = f.row("acuse_recibo").await;
    f.bounce_quoting("54_buzon_lleno_respuesta_automatica.eml", &ack).await;
    let row = f.row("acuse_recibo").await;
    assert_eq!(row.status, OutboxStatus::Rebotado);
    assert!(row.bounce.and_then(|b| b.diagnostic).is_some_and(|d| d.contains("cuota excedida")));
    let detail = f.detail(&number).await;
    assert!(history(&detail).iter().any(|n| n.contains("(su buzón está lleno)")), "{detail:#?}");

    let g = fixture(|_| {}).await;
    let number = g.sent_case().await;
    let ack = g.row("acuse_recibo").await;
    let outcome = g.bounce_quoting("57_persona_menciona_buzon_lleno.eml", &ack).await;
    assert!(matches!(outcome, Outcome::Appended { ref case, .. } if *case == number));
    assert_eq!(g.row("acuse_recibo").await.status, OutboxStatus::Enviado, "a person, no bounce");
    assert!(g.of_kind("aviso_rebote").await.is_empty());
}

#[tokio::test]
async fn a_bounce_that_quotes_none_of_our_mail_is_ignored_with_its_reason() {
    let f = fixture(|_| {}).await;
    f.sent_case().await;
    // The shared sample quotes a Message-ID nobody signed.
    let outcome = f.ingest(&sample("mail/05_rebote_dsn.eml")).await;
    assert!(matches!(outcome, Outcome::Ignored { .. }), "{outcome:?}");
    // A signature that does not hold is nobody's either.
    let ack = f.row("acuse_recibo").await;
    let forged =
        OutboxItem { message_id: ack.message_id.replace("acuse_recibo", "solucion"), ..ack };
    let outcome = f.bounce_quoting("52_rebote_gmail.eml", &forged).await;
    assert!(matches!(outcome, Outcome::Ignored { .. }), "{outcome:?}");
    let held = f.store.held_messages(true).await.expect("held");
    assert_eq!(held.len(), 2, "{held:#?}");
    for entry in held {
        assert_eq!(entry.status, "ignorado");
        assert!(
            entry.reason.contains("no cita ningún correo firmado por la mesa"),
            "{}",
            entry.reason
        );
    }
    assert!(f.store.list_outbox(Some(OutboxStatus::Rebotado)).await.expect("list").is_empty());
    assert!(f.of_kind("aviso_rebote").await.is_empty());
}

#[tokio::test]
async fn a_report_of_success_changes_nothing() {
    let f = fixture(|_| {}).await;
    let number = f.sent_case().await;
    let before = f.detail(&number).await.events.len();
    let ack = f.row("acuse_recibo").await;
    let outcome = f.bounce_quoting("56_reporte_entregado_no_es_rebote.eml", &ack).await;
    assert!(
        matches!(outcome, Outcome::Ignored { .. }),
        "an automatic message, as before: {outcome:?}"
    );
    assert_eq!(f.row("acuse_recibo").await.status, OutboxStatus::Enviado);
    assert_eq!(f.detail(&number).await.events.len(), before);
}

#[tokio::test]
async fn the_cli_lists_and_shows_a_bounced_row_with_the_remote_diagnostic() {
    let f = fixture(|_| {}).await;
    f.sent_case().await;
    let ack = f.row("acuse_recibo").await;
    f.bounce_quoting("50_rebote_postfix_usuario_desconocido.eml", &ack).await;
    let output = cli(&f, &["outbox", "list", "--estado", "rebotado"]);
    let listed = text(&output);
    assert!(output.status.success(), "{listed}");
    assert!(listed.contains("rebotado") && listed.contains("acuse_recibo"), "{listed}");
    assert_eq!(listed.lines().filter(|l| l.contains("rebotado")).count(), 1, "{listed}");
    let output = cli(&f, &["outbox", "show", &ack.id.to_string()]);
    let text = text(&output);
    assert!(text.contains("[rebotado]"), "{text}");
    assert!(
        text.contains("Destinatario rechazado: contabilidad@ferreteriaelsol.example"),
        "{text}"
    );
    assert!(text.contains("Código de estado remoto: 5.1.1"), "{text}");
    assert!(text.contains("Diagnóstico del servidor remoto: 550 5.1.1"), "{text}");
}

/// The binary on the fixture's database, with a state directory of its own.
fn cli(f: &Fixture, args: &[&str]) -> Output {
    let state = tempfile::tempdir().expect("state dir");
    let mut command = common::local::mesa_fe(state.path());
    f.db.apply(&mut command);
    command.args(args).output().expect("run mesa-fe")
}
