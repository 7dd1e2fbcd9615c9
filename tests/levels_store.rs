//! Agents' actions through the real pipeline into a real SQLite store, without a mail server:
//! commands in replies, forged senders, Administración Técnica's own tickets, control posterior,
//! mass-incident suggestions, and what internal and security details may reach whom.
//! (The same journeys over real IMAP and SMTP: tests/levels_e2e.rs.)

mod common;

use common::local::{Fixture, always_open, fixture, plain_mail, sample, vouched};
use mesa_fe::desk::case::Status;
use mesa_fe::desk::command::{Action, Command};
use mesa_fe::pipeline::Outcome;
use mesa_fe::store::cases::CaseDetail;
use mesa_fe::store::outbox::OutboxItem;
use mesa_fe::store::raw::Origin;
use serde_json::Value;

const N2: &str = "ana.rojas@dian.gov.co";
const N3: &str = "jorge.salazar@dian.gov.co";
const CSAT: &str = "csat@dian.gov.co";
const REQUESTER: &str = "jpardo@andinas-contables.example";
const REQUEST_ID: &str = "<20261126091502.4821.soporte@andinas-contables.example>";

/// A plain-text e-mail; `headers` are extra header lines.
fn mail(
    from: &str,
    subject: &str,
    in_reply_to: Option<&str>,
    headers: &str,
    body: &str,
) -> Vec<u8> {
    let id = format!("<{}.{}@test.example>", fastrand::u64(..), fastrand::u32(..));
    plain_mail(from, subject, &id, in_reply_to, headers, body)
}

impl Fixture {
    /// The provider's complete request (fixture 01): a case at N2 held by Ana.
    async fn open_request(&self) -> String {
        match self.ingest(&sample("mail/01_proveedor_zip_attacheddocument.eml")).await {
            Outcome::Opened { case, .. } => case,
            other => panic!("expected a new case, got {other:?}"),
        }
    }

    async fn detail(&self, number: &str) -> CaseDetail {
        self.store.case_detail(number).await.expect("detail").expect("case exists")
    }

    async fn outbox(&self, kind: &str) -> Vec<OutboxItem> {
        let all = self.store.list_outbox(None).await.expect("outbox");
        all.into_iter()
            .map(|row| row.expect("a readable row"))
            .filter(|o| o.kind.as_str() == kind)
            .collect()
    }

    async fn cli(&self, number: &str, agent: &str, command: Command, text: &str) {
        let action = Action { command, text: text.into() };
        let outcome = self.desk.act_by_cli(&self.store, number, agent, &action).await.expect("act");
        assert_eq!(outcome.refusal, None, "{action:?} by {agent} was refused");
    }

    /// The Message-ID of the latest mail of `kind` to `to`, to reply to.
    async fn last_id(&self, kind: &str, to: &str) -> String {
        let rows = self.outbox(kind).await;
        let row = rows.iter().rev().find(|o| o.to_addr == to);
        row.unwrap_or_else(|| panic!("no {kind} to {to}")).message_id.clone()
    }
}

fn context(item: &OutboxItem) -> Value {
    serde_json::from_str(&item.context).expect("context is JSON")
}

#[tokio::test]
async fn a_command_in_an_agents_reply_acts_and_a_forged_one_does_not() {
    let f = fixture(|_| {}).await;
    let number = f.open_request().await;
    let notice = f.last_id("notificacion_agente", N2).await;
    let reply = vouched(
        N2,
        &mail(
            N2,
            &format!("RE: [{number}] Consulta"),
            Some(&notice),
            "",
            "#nota\r\nLa firma del XML no corresponde al certificado.\r\n\r\n> texto citado",
        ),
    );
    assert!(matches!(f.ingest(&reply).await, Outcome::Appended { .. }));
    let forged = mail(
        N2,
        &format!("RE: [{number}] Consulta"),
        Some(&notice),
        "Authentication-Results: mx.dian.gov.co; dkim=fail header.d=dian.gov.co; spf=fail\r\n",
        "#cerrar",
    );
    f.ingest(&forged).await;
    let detail = f.detail(&number).await;
    assert_eq!(detail.summary.status, "en_atencion", "a forged #cerrar must not close the case");
    // The forged one stays as a note without effect; the agent hears why.
    let actions: Vec<(&str, &str, i64)> =
        detail.actions.iter().map(|a| (a.command.as_str(), a.text.as_str(), a.refused)).collect();
    assert_eq!(
        actions,
        vec![
            ("nota", "La firma del XML no corresponde al certificado.", 0),
            ("nota", "#cerrar", 1)
        ]
    );
    assert!(detail.events.iter().any(|e| e.activity == 5 && e.detail.contains("Diagnóstico")));
    assert!(detail.events.iter().any(|e| e.detail.contains("No se ejecutó el comando #cerrar")));
    let told = f.outbox("respuesta_comando").await;
    assert_eq!(told.iter().map(|o| o.to_addr.as_str()).collect::<Vec<_>>(), vec![N2]);
    assert!(context(&told[0])["text"].as_str().is_some_and(|t| t.contains("no confirmó")));
}

#[tokio::test]
async fn csat_answers_on_its_own_ticket_and_the_solution_goes_back_on_the_requesters_thread() {
    let f = fixture(|_| {}).await;
    let number = f.open_request().await;
    f.cli(&number, N2, Command::Nota, "Diagnóstico: el servicio responde 500").await;
    f.cli(&number, N2, Command::Escalar, "Revisión técnica").await;
    f.cli(&number, N3, Command::Escalar, "Falla del servicio de recepción").await;
    let package = f.outbox("paquete_administracion_tecnica").await;
    assert_eq!(package.len(), 1);
    let package_context = context(&package[0]);
    assert_eq!(package_context["diagnosis"][0]["text"], "Diagnóstico: el servicio responde 500");
    assert!(!package_context["raw_message_ids"].as_array().expect("ids").is_empty());
    let ack = vouched(
        CSAT,
        &mail(
            CSAT,
            &format!("RE: [{number}] Consulta [CSAT-4711]"),
            Some(&package[0].message_id),
            "",
            "#nota\r\nRecibido, lo revisamos.",
        ),
    );
    f.ingest(&ack).await;
    assert_eq!(f.detail(&number).await.external_ref.as_deref(), Some("CSAT-4711"));
    // Later, CSAT writes from its own tool: no thread, no tag, only its ticket.
    let solution = vouched(
        CSAT,
        &mail(
            CSAT,
            "Ticket CSAT-4711 resuelto",
            None,
            "",
            "#solucion\r\nSe corrigió el certificado del servicio; reenvíe la factura.",
        ),
    );
    f.ingest(&solution).await;
    let detail = f.detail(&number).await;
    assert_eq!(detail.summary.status, "solucionado");
    let sent = f.outbox("solucion").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to_addr, REQUESTER);
    assert_eq!(sent[0].in_reply_to.as_deref(), Some(REQUEST_ID));
    assert_eq!(
        context(&sent[0])["text"],
        "Se corrigió el certificado del servicio; reenvíe la factura."
    );
    let notified: Vec<String> =
        f.outbox("aviso_solucion").await.into_iter().map(|o| o.to_addr).collect();
    assert_eq!(notified, vec![N3.to_string(), N2.to_string(), "mesa.n1@dian.gov.co".to_string()]);
}

#[tokio::test]
async fn internal_notes_never_reach_the_requester() {
    let f = fixture(|_| {}).await;
    let number = f.open_request().await;
    f.cli(&number, N2, Command::Nota, "Sospecho de un error del proveedor tecnológico").await;
    f.cli(&number, N2, Command::Info, "¿Con qué software generó la factura?").await;
    let question = f.outbox("pregunta_solicitante").await;
    assert_eq!(question.len(), 1);
    assert!(!question[0].context.contains("Sospecho"), "{}", question[0].context);
    assert_eq!(context(&question[0])["text"], "¿Con qué software generó la factura?");
    assert_eq!(f.detail(&number).await.summary.status, "pendiente_informacion");
    let answer = mail(
        REQUESTER,
        &format!("RE: [{number}] Consulta"),
        Some(&question[0].message_id),
        "",
        "Usamos FacturaYa 3.2",
    );
    f.ingest(&answer).await;
    assert_eq!(f.detail(&number).await.summary.status, "en_atencion");
}

#[tokio::test]
async fn silence_closes_after_the_window_and_a_reply_within_it_reopens_where_it_was_solved() {
    let f = fixture(|c| c.control_posterior.business_days = 0.0).await;
    let number = f.open_request().await;
    f.cli(&number, N2, Command::Solucion { first_contact: false }, "Corrija la fecha").await;
    assert_eq!(f.desk.close_expired_follow_ups(&f.store).await.expect("sweep"), 1);
    let closed = f.detail(&number).await;
    assert_eq!(closed.summary.status, "cerrado");
    let last = closed.events.last().expect("events");
    assert_eq!(last.activity, 12);
    assert!(last.detail.contains("no respondió"), "{}", last.detail);

    let g = fixture(|c| c.control_posterior.business_days = 3.0).await;
    let number = g.open_request().await;
    g.cli(&number, N2, Command::Escalar, "Revisión técnica").await;
    g.cli(&number, N3, Command::Solucion { first_contact: false }, "Corregido").await;
    assert_eq!(g.desk.close_expired_follow_ups(&g.store).await.expect("sweep"), 0);
    let solution = g.last_id("solucion", REQUESTER).await;
    let reply = mail(
        REQUESTER,
        &format!("RE: [{number}] Consulta"),
        Some(&solution),
        "",
        "Sigue el mismo rechazo.",
    );
    g.ingest(&reply).await;
    let reopened = g.detail(&number).await;
    assert_eq!(
        (reopened.summary.status.as_str(), reopened.summary.level.as_str()),
        ("escalado", "n3")
    );
    assert_eq!(reopened.follow_up_until, None);
    assert_eq!(
        g.outbox("notificacion_agente").await.last().map(|o| o.to_addr.clone()),
        Some(N3.into())
    );
}

#[tokio::test]
async fn five_cases_with_the_same_rule_in_an_hour_make_one_suggestion_to_the_coordinator() {
    let f = fixture(|_| {}).await;
    for i in 0..7 {
        let body = format!(
            "Buenos días, nuestra factura SETP99000{i} fue rechazada por la DIAN con la regla \
             Regla: FAK24, Rechazo: No fue informado el NIT del adquirente. NIT 900.123.456-7."
        );
        f.ingest(&mail(&format!("cliente{i}@pt.example"), "Factura rechazada", None, "", &body))
            .await;
    }
    let suggestions = f.outbox("sugerencia_masiva").await;
    assert_eq!(suggestions.len(), 1, "one suggestion per rule and window, not one per case");
    assert_eq!(suggestions[0].to_addr, "coord.factura@dian.gov.co");
    let listed = context(&suggestions[0])["cases"].as_array().expect("cases").len();
    assert_eq!(listed, 5);
}

#[tokio::test]
async fn a_security_case_shows_its_details_to_nobody_outside_the_security_group() {
    let f = fixture(|_| {}).await;
    let number = match f.ingest(&sample("mail/08_evento_seguridad_acceso_no_autorizado.eml")).await
    {
        Outcome::Opened { case, .. } => case,
        other => panic!("expected a case, got {other:?}"),
    };
    let inside = f.outbox("notificacion_agente").await;
    assert_eq!(inside.len(), 1);
    assert_eq!(inside[0].to_addr, "marta.quintero@dian.gov.co");
    assert!(context(&inside[0])["own_words"].is_string(), "the security group sees the report");
    f.cli(&number, "marta.quintero@dian.gov.co", Command::Escalar, "Revisar accesos").await;
    let outside = f.outbox("notificacion_agente").await;
    let to_n3 = outside.iter().find(|o| o.to_addr == N3).expect("N3 is told");
    let ctx = context(to_n3);
    assert_eq!(ctx["redacted"], true);
    assert!(!to_n3.subject.contains("Acceso"), "the subject says nothing: {}", to_n3.subject);
    assert!(ctx.get("own_words").is_none() && ctx.get("documents").is_none(), "{ctx}");
}

#[tokio::test]
async fn a_passed_target_is_recorded_once_and_the_coordinator_is_told() {
    let f = fixture(|c| {
        always_open(c);
        // 1.8 s: stored times have whole seconds, the note comes within one.
        c.sla.n2.first_response_hours = 0.0005;
        c.sla.n2.resolution_hours = 100.0;
    })
    .await;
    let answered = f.open_request().await;
    let silent = match f.ingest(&sample("mail/10_nomina_con_xml.eml")).await {
        Outcome::Opened { case, .. } => case,
        other => panic!("expected a case, got {other:?}"),
    };
    f.cli(&answered, N2, Command::Nota, "Revisando la firma").await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(f.desk.check_sla(&f.store).await.expect("sweep"), 1, "only the silent case");
    assert_eq!(f.desk.check_sla(&f.store).await.expect("sweep"), 0, "recorded once");
    let notices = f.outbox("aviso_sla").await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].case_number, silent);
    assert_eq!(notices[0].to_addr, "coord.nomina@dian.gov.co");
    let detail = f.detail(&silent).await;
    assert!(
        detail.events.iter().any(|e| e.detail.contains("primera respuesta")),
        "{:?}",
        detail.events
    );
    let filter = mesa_fe::store::cases::CaseFilter { overdue: true, ..Default::default() };
    let overdue: Vec<String> =
        f.store.list_cases(&filter).await.expect("list").into_iter().map(|c| c.number).collect();
    assert_eq!(overdue, vec![silent]);
}

/// A request that quotes a DIAN rule the built-in base has no answer for.
fn rule_request(n: usize, code: &str) -> Vec<u8> {
    mail(
        &format!("facturador{n}@pt.example"),
        &format!("Factura SETP{n:05} rechazada"),
        None,
        "",
        &format!(
            "Buenos días, la factura SETP{n:05} del NIT 900.123.456-7 fue rechazada. \
             Regla: {code}, Rechazo: El servicio de validación no reconoce el grupo de impuestos."
        ),
    )
}

#[tokio::test]
async fn a_solved_problem_proposes_a_known_error_that_answers_new_cases_once_approved() {
    let f = fixture(|_| {}).await;
    let code = "FAW99";
    let parent = match f.ingest(&rule_request(0, code)).await {
        Outcome::Opened { case, .. } => case,
        other => panic!("expected a case, got {other:?}"),
    };
    for n in 1..=5 {
        let Outcome::Opened { case, .. } = f.ingest(&rule_request(n, code)).await else {
            panic!("expected a case")
        };
        f.cli(&case, N2, Command::Padre(parent.clone()), "").await;
    }
    f.cli(&parent, N2, Command::Tipo(mesa_fe::desk::CaseType::Problema), "").await;
    let without_cause =
        Action { command: Command::Solucion { first_contact: false }, text: "x".into() };
    let refused = f.desk.act_by_cli(&f.store, &parent, N2, &without_cause).await.expect("act");
    assert!(refused.refusal.is_some_and(|w| w.contains("#causa")), "a problem needs its cause");
    f.cli(&parent, N2, Command::Causa, "El validador rechaza el grupo de impuestos ICUI").await;
    f.cli(
        &parent,
        N2,
        Command::Solucion { first_contact: false },
        "Envíe el grupo ICUI con tarifa 0.",
    )
    .await;
    let proposal = f.outbox("propuesta_error_conocido").await;
    assert_eq!(proposal.len(), 1);
    assert_eq!(proposal[0].to_addr, "coord.factura@dian.gov.co");
    assert!(context(&proposal[0])["text"].as_str().is_some_and(|t| t.contains(code)));
    assert_eq!(f.outbox("solucion").await.len(), 6, "the parent and its 5 children are answered");

    // Not approved yet: a new case with the rule is not answered at first contact.
    let before = f.ingest(&rule_request(6, code)).await;
    assert!(
        matches!(before, Outcome::Opened { decision, .. } if decision != mesa_fe::pipeline::Decision::KnownErrorAnswer),
        "{before:?}"
    );
    let approve = Action { command: Command::AprobarErrorConocido, text: String::new() };
    let other = f.desk.act_by_cli(&f.store, &parent, "coord.nomina@dian.gov.co", &approve).await;
    assert!(
        other.expect("act").refusal.is_some_and(|w| w.contains("coordinador")),
        "another tema's coordinator does not approve"
    );
    f.cli(&parent, "coord.factura@dian.gov.co", Command::AprobarErrorConocido, "").await;
    let after = f.ingest(&rule_request(7, code)).await;
    let Outcome::Opened { case: answered, decision, .. } = after else { panic!("expected a case") };
    assert_eq!(decision, mesa_fe::pipeline::Decision::KnownErrorAnswer);
    assert_eq!(f.detail(&answered).await.summary.status, "solucionado");
    let answer = f.outbox("respuesta_error_conocido").await;
    let learned = &context(answer.last().expect("answer queued"))["learned_answers"][0];
    assert_eq!(learned["code"], code);
    assert_eq!(learned["answer"], "Envíe el grupo ICUI con tarifa 0.");
    let sent = &answer.last().expect("answer").context;
    assert!(!sent.contains("El validador rechaza"), "the root cause is the agents' note: {sent}");
    assert!(!sent.contains(&parent), "the problem case is someone else's: {sent}");
    let guide = f.store.first_contact_solutions().await.expect("guide");
    assert!(guide.iter().any(|g| g.codes.contains(code) && g.answer.contains("ICUI")), "{guide:?}");
    let problems = mesa_fe::store::cases::CaseFilter {
        case_type: Some(mesa_fe::desk::CaseType::Problema),
        ..Default::default()
    };
    let listed = f.store.list_cases(&problems).await.expect("list");
    assert_eq!(listed.iter().map(|c| c.number.as_str()).collect::<Vec<_>>(), vec![parent.as_str()]);
}

fn aliados() -> Origin {
    Origin::local("aliados")
}

#[tokio::test]
async fn only_registered_providers_open_cases_in_the_aliados_buzon() {
    let f = fixture(|c| {
        c.proveedores = vec![mesa_fe::desk::providers::Provider {
            nit: "900123456".into(),
            name: "Facturas Andinas SAS".into(),
            domains: vec!["andinas.example".into()],
            addresses: vec![],
            active: true,
        }];
    })
    .await;
    let ingest = |raw: Vec<u8>| {
        let f = &f;
        async move { f.desk.ingest(&f.store, &aliados(), &raw).await.expect("ingest") }
    };
    let body = "Buenos días, consulta sobre la factura SETP00042 del NIT 900.123.456-7: el adquiriente no la ve.";
    let stranger = ingest(mail("contador@otra-empresa.example", "Consulta", None, "", body)).await;
    let provider = ingest(mail("soporte@andinas.example", "Consulta", None, "", body)).await;
    let forged = ingest(mail(
        "soporte@andinas.example",
        "Consulta urgente",
        None,
        "Authentication-Results: mx.dian.gov.co; dkim=fail header.d=andinas.example; spf=fail\r\n",
        body,
    ))
    .await;
    let number = |o: &Outcome| match o {
        Outcome::Opened { case, .. } => case.clone(),
        other => panic!("expected a case record, got {other:?}"),
    };
    for rejected in [number(&stranger), number(&forged)] {
        let d = f.detail(&rejected).await;
        assert_eq!(
            (d.summary.channel.as_str(), d.summary.status.as_str()),
            ("rechazado", "cerrado")
        );
        assert_eq!(d.summary.level, "n1", "no case at N2");
        assert!(d.outbox.iter().all(|o| o.kind.as_str() == "redireccion_canal"), "{:?}", d.outbox);
    }
    let redirects = f.outbox("redireccion_canal").await;
    assert_eq!(redirects.len(), 2);
    assert_eq!(
        context(&redirects[0])["general_address"],
        "sd_facturaelectronica@dian.gov.co",
        "the answer names the general buzón"
    );
    let accepted = f.detail(&number(&provider)).await;
    assert_eq!(accepted.summary.channel, "correo");
    assert_eq!(accepted.provider_nit.as_deref(), Some("900123456"));
    assert!(
        accepted.outbox.iter().any(|o| o.kind.as_str() == "acuse_recibo"),
        "{:?}",
        accepted.outbox
    );
    let filter = mesa_fe::store::cases::CaseFilter {
        channel: Some(mesa_fe::desk::Channel::Rechazado),
        ..Default::default()
    };
    assert_eq!(f.store.list_cases(&filter).await.expect("list").len(), 2);

    // The stranger answers the redirect: kept on the same record, not answered again.
    let again = mail(
        "contador@otra-empresa.example",
        "RE: Consulta",
        Some(&redirects[0].message_id),
        "",
        "Pero necesito ayuda.",
    );
    assert!(matches!(ingest(again).await, Outcome::Appended { .. }));
    assert_eq!(f.outbox("redireccion_canal").await.len(), 2);
}

#[tokio::test]
async fn an_xml_signed_by_another_providers_software_is_a_warning_for_the_agent() {
    let f = fixture(|c| {
        c.proveedores = vec![mesa_fe::desk::providers::Provider {
            nit: "800999111".into(),
            name: "Andinas Contables".into(),
            domains: vec!["andinas-contables.example".into()],
            addresses: vec![],
            active: true,
        }];
    })
    .await;
    let number = f.open_request().await;
    let detail = f.detail(&number).await;
    assert_eq!(detail.provider_nit.as_deref(), Some("800999111"));
    let warning = detail.events.iter().find(|e| e.detail.contains("Advertencia"));
    assert!(
        warning.is_some_and(|e| e.detail.contains("no coincide con el remitente")),
        "{:?}",
        detail.events
    );
    let notice = f.outbox("notificacion_agente").await;
    assert!(context(&notice[0])["warnings"][0].as_str().is_some_and(|w| w.contains("800999111")));
}

#[tokio::test]
async fn a_subject_tag_with_a_pass_for_another_domain_does_not_make_an_agent() {
    let f = fixture(|_| {}).await;
    let number = f.open_request().await;
    let forged = mail(
        N2,
        &format!("[{number}] Solución"),
        None,
        "Authentication-Results: mx.dian.gov.co; spf=pass smtp.mailfrom=attacker.example; \
         dkim=pass header.d=attacker.example\r\n",
        "#solucion\r\nPague la multa en http://dian-pagos.example",
    );
    f.ingest(&forged).await;
    assert_eq!(f.detail(&number).await.summary.status, "en_atencion");
    assert!(f.outbox("solucion").await.is_empty(), "nothing reaches the requester");
    let tag_only = mail(N2, &format!("[{number}] Solución"), None, "", "#cerrar");
    f.ingest(&tag_only).await;
    assert_eq!(f.detail(&number).await.summary.status, "en_atencion", "a tag alone never commands");
}

#[tokio::test]
async fn a_no_to_the_validation_reopens_the_child_and_tells_its_agent() {
    let f = fixture(|c| c.masiva.validation_sample = 1).await;
    let parent = f.open_request().await;
    let Outcome::Opened { case: child, .. } = f.ingest(&sample("mail/10_nomina_con_xml.eml")).await
    else {
        panic!("expected a case")
    };
    f.cli(&child, N2, Command::Padre(parent.clone()), "").await;
    f.cli(&parent, N2, Command::Solucion { first_contact: false }, "Corregido").await;
    let validation = f.outbox("validacion_masiva").await;
    assert_eq!(validation.len(), 1);
    let requester = validation[0].to_addr.clone();
    let no = mail(
        &requester,
        "RE: validación",
        Some(&validation[0].message_id),
        "",
        "No, sigue el mismo rechazo.",
    );
    f.ingest(&no).await;
    let reopened = f.detail(&child).await;
    assert_ne!(reopened.summary.status, "solucionado", "{:?}", reopened.events);
    assert!(f.detail(&parent).await.events.iter().any(|e| e.detail.contains("no resuelto")));
}

#[tokio::test]
async fn security_cases_are_worked_only_by_the_security_group() {
    let f = fixture(|_| {}).await;
    let report = sample("mail/08_evento_seguridad_acceso_no_autorizado.eml");
    // To the providers' buzón, from someone who is not a provider: still the security group's.
    let outcome = f.desk.ingest(&f.store, &aliados(), &report).await.expect("ingest");
    let Outcome::Opened { case, .. } = outcome else { panic!("expected a case") };
    let detail = f.detail(&case).await;
    assert_eq!(detail.summary.channel, "correo");
    assert_eq!(detail.group.as_deref(), Some("seguridad"));
    let outsider = Action { command: Command::Solucion { first_contact: false }, text: "x".into() };
    let refused = f.desk.act_by_cli(&f.store, &case, N2, &outsider).await.expect("act");
    assert!(refused.refusal.is_some_and(|w| w.contains("seguridad")));
    f.cli(&case, "marta.quintero@dian.gov.co", Command::Nota, "Revisando accesos").await;
}

#[tokio::test]
async fn waiting_for_the_requester_does_not_count_against_the_solution_target() {
    let f = fixture(|c| {
        always_open(c);
        c.sla.n2.first_response_hours = 100.0;
        // 3 s, in a store whose times have whole seconds.
        c.sla.n2.resolution_hours = 3.0 / 3600.0;
    })
    .await;
    let number = f.open_request().await;
    f.cli(&number, N2, Command::Info, "¿Qué software usa?").await;
    tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
    assert_eq!(f.desk.check_sla(&f.store).await.expect("sweep"), 0, "waiting: no breach");
    let question = f.last_id("pregunta_solicitante", REQUESTER).await;
    let answer =
        mail(REQUESTER, &format!("RE: [{number}] Consulta"), Some(&question), "", "FacturaYa 3.2");
    f.ingest(&answer).await;
    assert_eq!(f.detail(&number).await.summary.status, "en_atencion");
    assert_eq!(f.desk.check_sla(&f.store).await.expect("sweep"), 0, "the wait did not count");
    tokio::time::sleep(std::time::Duration::from_millis(4_000)).await;
    assert_eq!(f.desk.check_sla(&f.store).await.expect("sweep"), 1, "the agent's own time does");
}

#[tokio::test]
async fn padre_hangs_a_case_only_on_a_parent_the_agents_groups_see() {
    let f = fixture(|_| {}).await;
    let parent = f.open_request().await;
    let Outcome::Opened { case: child, .. } = f.ingest(&sample("mail/10_nomina_con_xml.eml")).await
    else {
        panic!("expected a case")
    };
    // Carolina works nómina, habilitación and facturador gratuito: not Ana's factura case.
    let link = Action { command: Command::Padre(parent.clone()), text: String::new() };
    let refused = f
        .desk
        .act_by_cli(&f.store, &child, "carolina.pardo@dian.gov.co", &link)
        .await
        .expect("act");
    assert!(refused.refusal.is_some_and(|w| w.contains("ninguno de sus grupos")));
    assert_eq!(f.detail(&child).await.parent, None);
    f.cli(&child, N2, Command::Padre(parent.clone()), "").await;
    assert_eq!(f.detail(&child).await.parent.as_deref(), Some(parent.as_str()));
}

#[tokio::test]
async fn thanks_within_the_window_close_the_case_and_nobody_is_mailed() {
    let f = fixture(|c| c.control_posterior.business_days = 3.0).await;
    let number = f.open_request().await;
    f.cli(&number, N2, Command::Solucion { first_contact: false }, "Corrija el NIT").await;
    let told_before = f.outbox("notificacion_agente").await.len();
    let queued_before = f.store.list_outbox(None).await.expect("outbox").len();
    let solution = f.last_id("solucion", REQUESTER).await;
    let thanks = mail(
        REQUESTER,
        &format!("RE: [{number}] Consulta"),
        Some(&solution),
        "",
        "Muchas gracias, ya quedó resuelto.\r\n\r\nEl lun., 7 dic. 2026 a las 9:00, Mesa FE \
         <sd_facturaelectronica@dian.gov.co> escribió:\r\n> Corrija el NIT",
    );
    f.ingest(&thanks).await;
    let detail = f.detail(&number).await;
    assert_eq!(detail.summary.status, "cerrado", "{:#?}", detail.events);
    let last = detail.events.last().expect("events");
    assert_eq!(last.activity, 12);
    assert!(last.detail.contains("Confirmación del solicitante"), "{}", last.detail);
    assert_eq!(f.outbox("notificacion_agente").await.len(), told_before, "no agent is told");
    let queued = f.store.list_outbox(None).await.expect("outbox").len();
    assert_eq!(queued, queued_before, "no mail at all is queued");
}

#[tokio::test]
async fn a_new_problem_on_a_closed_case_opens_a_related_child_case() {
    let f = fixture(|_| {}).await;
    let old = f.open_request().await;
    f.cli(&old, N2, Command::Solucion { first_contact: false }, "Corrija el NIT").await;
    f.cli(&old, N2, Command::Cerrar, "").await;
    let solution = f.last_id("solucion", REQUESTER).await;
    let thanks = mail(
        REQUESTER,
        &format!("RE: [{old}] Consulta"),
        Some(&solution),
        "",
        "Gracias por la ayuda",
    );
    assert!(matches!(f.ingest(&thanks).await, Outcome::Appended { .. }));
    assert_eq!(f.detail(&old).await.summary.status, "cerrado", "thanks do not reopen");
    let queued_before = f.store.list_outbox(None).await.expect("outbox").len();
    let problem = mail(
        REQUESTER,
        &format!("RE: [{old}] Consulta"),
        Some(&solution),
        "",
        "Buenos días. Ahora tengo otro problema: la nota crédito NC-77 del NIT 900.123.456-7 \
         sigue rechazada al transmitirla.",
    );
    let new = match f.ingest(&problem).await {
        Outcome::Opened { case, .. } => case,
        other => panic!("a new problem on a closed case opens a case, got {other:?}"),
    };
    assert_ne!(new, old);
    let old_detail = f.detail(&old).await;
    assert_eq!(old_detail.summary.status, "cerrado", "the old case is not reopened");
    assert!(old_detail.events.iter().any(|e| e.detail.contains(&new)), "{:#?}", old_detail.events);
    let new_detail = f.detail(&new).await;
    assert_eq!(new_detail.parent.as_deref(), Some(old.as_str()));
    assert!(new_detail.events.iter().any(|e| e.detail.contains(&old)), "{:#?}", new_detail.events);
    let all = f.store.list_outbox(None).await.expect("outbox");
    let to_requester: Vec<OutboxItem> = all
        .into_iter()
        .skip(queued_before)
        .map(|row| row.expect("a readable row"))
        .filter(|o| o.to_addr == REQUESTER)
        .collect();
    assert_eq!(to_requester.len(), 1, "one answer to the requester");
    assert_eq!(to_requester[0].case_number, new);
    assert!(to_requester[0].subject.contains(&new), "{}", to_requester[0].subject);
    assert!(!to_requester[0].subject.contains(&old), "{}", to_requester[0].subject);
}

// Issue 14, points 10–12: marking a security event afterwards, the two N3 groups, and the XML
// that Administración Técnica needs.

const SECURITY: &str = "marta.quintero@dian.gov.co";
const N3_TECHNICAL: &str = "tomas.rincon@dian.gov.co";

/// A desk with the N3 functional filter (`n3`) and an N3 technical group with one agent.
fn two_n3_groups(c: &mut mesa_fe::config::Config) {
    use mesa_fe::config::{Agent, Group, GroupKind};
    use mesa_fe::desk::Level;
    c.grupos.push(Group {
        name: "n3_tecnico".into(),
        level: Level::N3,
        coordinator: "coord.n3.tecnico@dian.gov.co".into(),
        kind: Some(GroupKind::Tecnico),
    });
    c.agentes.push(Agent {
        address: N3_TECHNICAL.into(),
        name: "Tomás Rincón".into(),
        level: Level::N3,
        groups: vec!["n3_tecnico".into()],
        active: true,
    });
}

impl Fixture {
    /// A complete request without any XML (tema otro: description and NIT): at N2 with Ana.
    async fn open_request_without_xml(&self) -> String {
        let body = "Buenos días, desde ayer el portal no nos deja consultar el estado del RUT de \
                    la empresa NIT 900.123.456-7; aparece una pantalla en blanco. Gracias.";
        match self.ingest(&mail(REQUESTER, "Consulta del RUT", None, "", body)).await {
            Outcome::Opened { case, .. } => case,
            other => panic!("expected a new case, got {other:?}"),
        }
    }

    /// The action's refusal (the engine's words), asserting there was one.
    async fn refused(&self, number: &str, agent: &str, command: Command, text: &str) -> String {
        let action = Action { command, text: text.into() };
        let outcome = self.desk.act_by_cli(&self.store, number, agent, &action).await.expect("act");
        outcome.refusal.unwrap_or_else(|| panic!("{action:?} by {agent} was applied"))
    }
}

#[tokio::test]
async fn a_case_marked_as_security_moves_to_its_group_and_is_reserved_from_then_on() {
    let f = fixture(|_| {}).await;
    let number = f.open_request().await;
    assert_eq!(f.detail(&number).await.security_category, None);
    f.cli(
        &number,
        N2,
        Command::Seguridad('h'),
        "El solicitante dice que alguien entró con su usuario",
    )
    .await;
    let detail = f.detail(&number).await;
    assert_eq!(detail.security_category.as_deref(), Some("h"), "stored, not only in memory");
    assert_eq!(detail.group.as_deref(), Some("seguridad"));
    assert_eq!(detail.summary.agent.as_deref(), Some(SECURITY));
    let marked = detail.events.last().expect("history row");
    assert!(marked.detail.contains("categoría h (violación de acceso)"), "{}", marked.detail);
    assert!(marked.detail.contains("alguien entró con su usuario"), "{}", marked.detail);
    let action = detail.actions.last().expect("action row");
    assert_eq!((action.command.as_str(), action.refused), ("seguridad", 0));
    let told = f.outbox("notificacion_agente").await;
    let to_security = told.iter().find(|o| o.to_addr == SECURITY).expect("the group is told");
    assert_eq!(context(to_security)["redacted"], Value::Null, "inside the group: the details");
    // Its former agent no longer acts on it, and mail about it to N3 says nothing.
    let why = f.refused(&number, N2, Command::Nota, "Sigo revisando").await;
    assert!(why.contains("grupo de seguridad"), "{why}");
    f.cli(&number, SECURITY, Command::Escalar, "Revisar accesos").await;
    let outside = f.outbox("notificacion_agente").await;
    let to_n3 = outside.iter().find(|o| o.to_addr == N3).expect("N3 is told");
    assert_eq!(context(to_n3)["redacted"], true);
    assert!(to_n3.subject.contains("Caso reservado"), "{}", to_n3.subject);
}

#[tokio::test]
async fn security_marking_refusals_are_explained() {
    let f = fixture(|_| {}).await;
    let number = f.open_request().await;
    let why = f.refused(&number, N2, Command::Seguridad('a'), " ").await;
    assert!(why.contains("motivo"), "{why}");
    assert_eq!(f.detail(&number).await.security_category, None);
    f.cli(&number, N2, Command::Seguridad('a'), "Correo falso a nombre de la DIAN").await;
    let why = f.refused(&number, SECURITY, Command::Seguridad('a'), "otra vez").await;
    assert!(why.contains("ya es un evento de seguridad"), "{why}");
    f.cli(&number, SECURITY, Command::Seguridad('h'), "Además entraron con su usuario").await;
    assert_eq!(f.detail(&number).await.security_category.as_deref(), Some("h"));
}

#[tokio::test]
async fn n3_functional_then_technical_then_csat_without_xml_with_the_reason() {
    let f = fixture(two_n3_groups).await;
    let number = f.open_request_without_xml().await;
    f.cli(&number, N2, Command::Nota, "Diagnóstico: el portal responde en blanco").await;
    f.cli(&number, N2, Command::Escalar, "Revisión funcional").await;
    f.cli(&number, N3, Command::EscalarN3Tecnico, "Parece del servicio, no de la norma").await;
    let detail = f.detail(&number).await;
    assert_eq!(
        (detail.summary.level.as_str(), detail.group.as_deref()),
        ("n3", Some("n3_tecnico"))
    );
    assert_eq!(detail.summary.agent.as_deref(), Some(N3_TECHNICAL));
    let sevens: Vec<&str> =
        detail.events.iter().filter(|e| e.activity == 7).map(|e| e.detail.as_str()).collect();
    assert_eq!(
        sevens,
        vec![
            "Asignado al grupo n3 (filtro funcional) de nivel 3.",
            "Asignado al grupo técnico n3_tecnico de nivel 3."
        ]
    );
    // Without the requester's XML, Administración Técnica is refused.
    let why = f.refused(&number, N3_TECHNICAL, Command::Escalar, "Servicio caído").await;
    assert!(why.contains("XML del solicitante") && why.contains("sin-xml"), "{why}");
    assert!(f.outbox("paquete_administracion_tecnica").await.is_empty());
    let reason = "la consulta es del RUT: no hay factura ni XML";
    let command = Command::EscalarCsat { without_xml: Some(reason.into()) };
    f.cli(&number, N3_TECHNICAL, command, "El portal de consulta no responde").await;
    let detail = f.detail(&number).await;
    assert_eq!(detail.summary.level, "administracion_tecnica");
    assert!(detail.events.iter().any(|e| e.activity == 10 && e.detail.contains(reason)));
    let package = f.outbox("paquete_administracion_tecnica").await;
    assert_eq!(package.len(), 1);
    let text = context(&package[0])["text"].as_str().unwrap_or_default().to_string();
    assert!(text.contains(reason) && text.contains("El portal de consulta no responde"), "{text}");
    let found = f.store.case_by_number(&number).await.expect("read").expect("case");
    let hops: Vec<(String, Option<String>)> =
        found.case.path.iter().map(|h| (h.level.as_str().to_string(), h.group.clone())).collect();
    assert_eq!(
        hops,
        vec![
            ("n2".to_string(), Some("n2_factura".to_string())),
            ("n3".to_string(), Some("n3".to_string())),
            ("n3".to_string(), Some("n3_tecnico".to_string())),
            ("administracion_tecnica".to_string(), None),
        ]
    );
}

#[tokio::test]
async fn with_one_n3_group_n3_tecnico_is_refused_and_escalar_goes_to_csat() {
    let f = fixture(|_| {}).await;
    let number = f.open_request().await;
    f.cli(&number, N2, Command::Nota, "Diagnóstico").await;
    f.cli(&number, N2, Command::Escalar, "Revisión técnica").await;
    let why = f.refused(&number, N3, Command::EscalarN3Tecnico, "").await;
    assert!(why.contains("un solo grupo de nivel 3"), "{why}");
    // The provider's request carries its XML: the package goes as before.
    f.cli(&number, N3, Command::Escalar, "Falla del servicio").await;
    assert_eq!(f.detail(&number).await.summary.level, "administracion_tecnica");
}

/// Each agent's open cases ([`Status::is_open`]), counted from the cases themselves: what
/// assignment must read.
async fn open_cases_by_agent(f: &Fixture, agents: &[&str]) -> Vec<(String, i64)> {
    let all = f.store.list_cases(&Default::default()).await.expect("cases");
    let open = |status: &str| Status::parse(status).expect("a known status").is_open();
    agents
        .iter()
        .map(|agent| {
            let held = all
                .iter()
                .filter(|c| c.agent.as_deref() == Some(*agent) && open(&c.status))
                .count();
            (agent.to_string(), held as i64)
        })
        .collect()
}

async fn holder_of(f: &Fixture, number: &str) -> String {
    f.detail(number).await.summary.agent.expect("the case is held by an agent")
}

/// The loads assignment reads (kept apart from the cases, by the database).
async fn loads(f: &Fixture, agents: &[&str]) -> Vec<(String, i64)> {
    let names: Vec<String> = agents.iter().map(|a| a.to_string()).collect();
    let loads = f.store.open_case_counts(&names).await.expect("loads");
    names.into_iter().map(|a| (a.clone(), loads.get(&a).copied().unwrap_or(0))).collect()
}

#[tokio::test]
async fn the_agents_loads_follow_new_cases_reassignment_solution_and_reopening() {
    const LUIS: &str = "luis.mejia@dian.gov.co";
    let agents = [N2, LUIS];
    let f = fixture(|_| {}).await;
    let request = String::from_utf8(sample("mail/01_proveedor_zip_attacheddocument.eml"))
        .expect("the fixture is UTF-8");
    let original = request
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
        .expect("the fixture has a Message-ID")
        .to_string();
    let mut numbers = Vec::new();
    for i in 0..4 {
        let raw = request.replace(&original, &format!("Message-ID: <carga-{i}@test.example>"));
        match f.ingest(raw.as_bytes()).await {
            Outcome::Opened { case, .. } => numbers.push(case),
            other => panic!("request {i}: expected a new case, got {other:?}"),
        }
    }
    let opened = loads(&f, &agents).await;
    assert_eq!(opened, open_cases_by_agent(&f, &agents).await);
    assert_eq!(opened.iter().map(|(_, n)| n).sum::<i64>(), 4, "four open cases held: {opened:?}");
    assert!(opened.iter().all(|(_, n)| *n == 2), "new cases go to the least loaded: {opened:?}");

    let first = numbers[0].clone();
    let holder = holder_of(&f, &first).await;
    let other = if holder == N2 { LUIS } else { N2 };
    f.cli(&first, &holder, Command::Asignar(other.into()), "Lo ve el otro agente").await;
    f.cli(
        &numbers[1],
        &holder_of(&f, &numbers[1]).await,
        Command::Solucion { first_contact: false },
        "Corregido",
    )
    .await;
    let moved = loads(&f, &agents).await;
    assert_eq!(moved, open_cases_by_agent(&f, &agents).await);
    assert_eq!(
        moved.iter().map(|(_, n)| n).sum::<i64>(),
        3,
        "a solved case is not a load: {moved:?}"
    );

    f.cli(&numbers[1], &holder_of(&f, &numbers[1]).await, Command::Reabrir, "Vuelve a fallar")
        .await;
    let reopened = loads(&f, &agents).await;
    assert_eq!(reopened, open_cases_by_agent(&f, &agents).await);
    assert_eq!(reopened.iter().map(|(_, n)| n).sum::<i64>(), 4, "reopened: {reopened:?}");
}
