//! The console's Operación page (issue 15, point 5) over HTTP, without a mail server: the
//! outbox's failed mail and "Reintentar", the quarantine's headers and its two actions as the
//! viewer, the report's charts, who may do what, and CSRF.

mod common;

use common::console::{
    AGENT_FACTURA, AGENT_NOMINA, AGENT_SEGURIDAD, COORD_FACTURA, ConsoleServer, console,
};
use common::local::{always_open, sample};
use mesa_fe::desk::Tema;
use mesa_fe::pipeline::Outcome;
use mesa_fe::store::outbox::OutboxStatus;
use mesa_fe::store::raw::{RawStatus, Stored};
use reqwest::StatusCode;

const PAGE: &str = "/consola/operacion";
const SERVER_ANSWER: &str = "550 5.1.1 <rosa@correo.example>: buzón inexistente";

/// A case whose acknowledgment the server refused for good: the outbox row's id.
async fn failed_mail(server: &ConsoleServer) -> i64 {
    let outcome = server.ingest(&sample("mail/02_contribuyente_texto_sin_requisitos.eml")).await;
    assert!(matches!(outcome, Outcome::Opened { .. }), "{outcome:?}");
    let rows = server.store().list_outbox(None).await.expect("outbox");
    let id = rows.first().expect("an answer queued").as_ref().expect("readable").id;
    server.store().mark_failed(id, SERVER_ANSWER).await.expect("mark failed");
    id
}

async fn outbox_status(server: &ConsoleServer, id: i64) -> OutboxStatus {
    let item = server.store().outbox_item(id).await.expect("read").expect("row");
    item.expect("readable").status
}

/// A message the pipeline quarantines (no sender it can answer): its raw id.
async fn quarantined(server: &ConsoleServer) -> i64 {
    match server.ingest(&sample("mail/27_sin_remitente.eml")).await {
        Outcome::Quarantined { raw_id, .. } => raw_id,
        other => panic!("expected quarantine, got {other:?}"),
    }
}

async fn raw_status(server: &ConsoleServer, id: i64) -> String {
    let (entry, _) = server.store().quarantine_entry(id).await.expect("read").expect("held");
    entry.status
}

#[tokio::test]
async fn a_failed_mail_shows_the_servers_answer_and_reintentar_queues_it_again() {
    let server = console(|_| {}).await;
    let id = failed_mail(&server).await;
    let (cookie, csrf) = server.session_for(COORD_FACTURA).await;

    let page = server.get(PAGE, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("550 5.1.1 &lt;rosa@correo.example&gt;: buzón inexistente"),
        "{}",
        page.body
    );
    let action = format!("action=\"/consola/operacion/cola/{id}/reintentar\"");
    assert!(page.body.contains(&action), "{}", page.body);
    assert_controls_labelled(&page.body);
    keep("operacion_cola.html", &page.body);

    let retry = format!("/consola/operacion/cola/{id}/reintentar");
    let done = server.post(&retry, Some(&cookie), &[("_csrf", &csrf)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(outbox_status(&server, id).await, OutboxStatus::Pendiente);
    let after = server.get(done.location().expect("back to the page"), Some(&cookie)).await;
    assert!(after.body.contains("vuelve a la cola"), "{}", after.body);
    assert!(!after.body.contains("buzón inexistente</span></td>"), "no longer listed as failed");
}

#[tokio::test]
async fn a_bounced_mail_is_listed_with_the_remote_servers_diagnostic() {
    // The Message-ID the bounce fixtures quote, replaced by the one of our sent mail.
    const PLACEHOLDER_ID: &str = "<FE-2026-000037.r12.0.solicitud_informacion.para-5d41402abc4b.9f86d081884c7d65@dian.gov.co>";
    let server = console(|_| {}).await;
    server.ingest(&sample("mail/01_proveedor_zip_attacheddocument.eml")).await;
    let rows = server.store().list_outbox(None).await.expect("outbox");
    let rows: Vec<_> = rows.into_iter().map(|r| r.expect("readable")).collect();
    for row in &rows {
        server.store().mark_sent(row.id, "250 2.0.0 Ok: queued").await.expect("sent");
    }
    let ack = rows.iter().find(|r| r.kind.as_str() == "acuse_recibo").expect("acknowledgment");
    let bounce = String::from_utf8(sample("mail/50_rebote_postfix_usuario_desconocido.eml"));
    let bounce = bounce.expect("UTF-8").replace(PLACEHOLDER_ID, &ack.message_id);
    server.ingest(bounce.as_bytes()).await;
    assert_eq!(outbox_status(&server, ack.id).await, OutboxStatus::Rebotado);

    let (cookie, _) = server.session_for(COORD_FACTURA).await;
    let page = server.get(PAGE, Some(&cookie)).await;
    let section = page.body.split("id=\"cola\"").nth(1).expect("outbox section");
    let section = section.split("id=\"cuarentena\"").next().unwrap_or_default();
    assert!(section.contains("0 correo(s) con fallo · 1 rebotado(s)"), "{section}");
    for shown in ["contabilidad@ferreteriaelsol.example", "5.1.1", "550 5.1.1"] {
        assert!(section.contains(shown), "{shown} missing: {section}");
    }
    assert!(!section.contains("reintentar"), "a bounced mail is not resent from here");
}

#[tokio::test]
async fn a_forged_post_without_the_token_is_refused_and_changes_nothing() {
    let server = console(|_| {}).await;
    let id = failed_mail(&server).await;
    let held = quarantined(&server).await;
    let (cookie, _) = server.session_for(COORD_FACTURA).await;

    let retry = format!("/consola/operacion/cola/{id}/reintentar");
    assert_eq!(server.post(&retry, Some(&cookie), &[]).await.status, StatusCode::FORBIDDEN);
    let wrong = [("_csrf", "otro")];
    assert_eq!(server.post(&retry, Some(&cookie), &wrong).await.status, StatusCode::FORBIDDEN);
    assert_eq!(outbox_status(&server, id).await, OutboxStatus::FalloPermanente);

    let discard = format!("/consola/operacion/cuarentena/{held}/descartar");
    let forged = server.post(&discard, Some(&cookie), &[("motivo", "spam")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let reprocess = format!("/consola/operacion/cuarentena/{held}/reprocesar");
    assert_eq!(server.post(&reprocess, Some(&cookie), &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(raw_status(&server, held).await, "cuarentena");
    assert!(server.store().raw_actions(held).await.expect("history").is_empty());

    // Without a session at all: 401, and the page itself sends to the sign-in form.
    assert_eq!(server.post(&retry, None, &[]).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.get(PAGE, None).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_quarantined_message_shows_its_headers_only_and_is_discarded_as_the_viewer() {
    let server = console(|_| {}).await;
    let held = quarantined(&server).await;
    let (cookie, csrf) = server.session_for(COORD_FACTURA).await;

    let list = server.get(PAGE, Some(&cookie)).await;
    let link = format!("href=\"/consola/operacion/cuarentena/{held}\"");
    assert!(list.body.contains(&link), "{}", list.body);

    let path = format!("/consola/operacion/cuarentena/{held}");
    let page = server.get(&path, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    for header in ["Subject", "Sin remitente", "Message-ID", "&lt;nosender.1@nowhere.example&gt;"] {
        assert!(page.body.contains(header), "{header} missing: {}", page.body);
    }
    assert!(!page.body.contains("Texto sin remitente."), "the body is never shown");
    keep("operacion_cuarentena.html", &page.body);
    assert_controls_labelled(&page.body);

    let discard = format!("{path}/descartar");
    let blank = server.post(&discard, Some(&cookie), &[("_csrf", &csrf), ("motivo", "  ")]).await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST, "a discard needs its reason");
    assert_eq!(raw_status(&server, held).await, "cuarentena");

    let fields = [("_csrf", csrf.as_str()), ("motivo", "correo sin remitente, no se responde")];
    let done = server.post(&discard, Some(&cookie), &fields).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(raw_status(&server, held).await, "descartado");
    let history = server.store().raw_actions(held).await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].action.as_str(), history[0].actor.as_str()),
        ("descartar", COORD_FACTURA)
    );
    assert_eq!(history[0].reason.as_deref(), Some("correo sin remitente, no se responde"));
    let after = server.get(done.location().expect("to the message"), Some(&cookie)).await;
    assert!(after.body.contains("Mensaje descartado"), "{}", after.body);
    assert!(!after.body.contains(">Descartar</button>"), "no action on a discarded message");

    let again = server.post(&discard, Some(&cookie), &fields).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn reprocesar_runs_the_message_again_and_records_the_viewer() {
    let server = console(|_| {}).await;
    // A readable request held back by a limit since raised (as `quarantine reprocess` is used).
    let raw = sample("mail/02_contribuyente_texto_sin_requisitos.eml");
    let stored = server.store().store_raw(&server.fixture.origin, None, &raw).await.expect("store");
    let Stored::New(id) = stored else { panic!("{stored:?}") };
    let reason = "superó el tiempo máximo de análisis (limites.analisis_max_segundos)";
    server.store().set_raw_status(id, RawStatus::Cuarentena, Some(reason)).await.expect("hold");
    let (cookie, csrf) = server.session_for(AGENT_SEGURIDAD).await;

    let path = format!("/consola/operacion/cuarentena/{id}/reprocesar");
    let done = server.post(&path, Some(&cookie), &[("_csrf", &csrf)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(raw_status(&server, id).await, "procesado");
    let history = server.store().raw_actions(id).await.expect("history");
    assert_eq!(
        (history[0].action.as_str(), history[0].actor.as_str()),
        ("reprocesar", AGENT_SEGURIDAD)
    );
    assert!(history[0].result.contains("abrió el caso"), "{}", history[0].result);
    let cases = server.store().list_cases(&Default::default()).await.expect("cases");
    assert_eq!(cases.len(), 1);
    let page = server.get(done.location().expect("to the message"), Some(&cookie)).await;
    assert!(page.body.contains(&format!("/consola/caso/{}", cases[0].number)), "{}", page.body);
}

#[tokio::test]
async fn a_plain_agent_sees_counts_and_the_report_but_no_held_mail_and_cannot_act() {
    let server = console(|_| {}).await;
    let id = failed_mail(&server).await;
    let held = quarantined(&server).await;
    let (cookie, csrf) = server.session_for(AGENT_FACTURA).await;

    let page = server.get(PAGE, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("1 mensaje(s) en cuarentena"), "{}", page.body);
    assert!(page.body.contains("1 correo(s) con fallo"), "{}", page.body);
    assert!(page.body.contains("solo los ven los coordinadores"), "the page says why");
    assert!(!page.body.contains("buzón inexistente"), "no server answer (addresses) for agents");
    assert!(!page.body.contains("/consola/operacion/cuarentena/"), "no quarantine links");
    assert!(page.body.contains("<svg"), "the report is for everyone");
    // The buzones too: the newest stored message of the fixture's buzón is the held one.
    let buzon = &server.fixture.origin.buzon;
    let row = page.body.split("<tr>").find(|row| row.contains(&format!("<td>{buzon}<br>")));
    let row = row.unwrap_or_else(|| panic!("no row for {buzon}: {}", page.body));
    assert!(row.contains("<span class=\"etiqueta\">cuarentena</span>"), "{row}");
    assert!(row.contains("<td>1</td>"), "one message in quarantine: {row}");

    let detail = server.get(&format!("/consola/operacion/cuarentena/{held}"), Some(&cookie)).await;
    assert_eq!(detail.status, StatusCode::FORBIDDEN);
    assert!(!detail.body.contains("Sin remitente"));
    let token = [("_csrf", csrf.as_str())];
    let reprocess = format!("/consola/operacion/cuarentena/{held}/reprocesar");
    assert_eq!(server.post(&reprocess, Some(&cookie), &token).await.status, StatusCode::FORBIDDEN);
    let discard = format!("/consola/operacion/cuarentena/{held}/descartar");
    let fields = [("_csrf", csrf.as_str()), ("motivo", "no")];
    assert_eq!(server.post(&discard, Some(&cookie), &fields).await.status, StatusCode::FORBIDDEN);
    let retry = format!("/consola/operacion/cola/{id}/reintentar");
    assert_eq!(server.post(&retry, Some(&cookie), &token).await.status, StatusCode::FORBIDDEN);
    assert_eq!(raw_status(&server, held).await, "cuarentena");
    assert_eq!(outbox_status(&server, id).await, OutboxStatus::FalloPermanente);
}

#[tokio::test]
async fn the_report_draws_its_charts_as_inline_svg_with_the_temas_and_a_period() {
    let server = console(|_| {}).await;
    for fixture in ["02_contribuyente_texto_sin_requisitos.eml", "10_nomina_con_xml.eml"] {
        server.ingest(&sample(&format!("mail/{fixture}"))).await;
    }
    let cases = server.store().list_cases(&Default::default()).await.expect("cases");
    assert_eq!(cases.len(), 2);
    let (cookie, _) = server.session_for(COORD_FACTURA).await;
    let page = server.get(PAGE, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let charts: Vec<&str> = page
        .body
        .split("<svg")
        .skip(1)
        .map(|rest| rest.split("</svg>").next().unwrap_or(""))
        .collect();
    assert_eq!(charts.len(), 3, "cases per day, first contact, time to solution");
    for case in &cases {
        let label = Tema::parse(&case.tema).expect("tema").label();
        assert!(charts[0].contains(label), "{label} missing in the per-day chart: {}", charts[0]);
    }
    assert!(charts[0].contains("role=\"img\""), "{}", charts[0]);
    assert!(charts[2].contains("sin datos"), "nothing solved yet: {}", charts[2]);
    assert!(page.body.contains("<label for=\"desde\">Desde</label>"), "{}", page.body);
    keep("operacion.html", &page.body);

    // A period without cases: every chart says so; a date that does not read is explained.
    let empty =
        server.get(&format!("{PAGE}?desde=2020-01-01&hasta=2020-01-31"), Some(&cookie)).await;
    assert_eq!(empty.body.matches("sin datos</text>").count(), 3, "{}", empty.body);
    assert!(empty.body.contains("value=\"2020-01-01\""));
    let bad = server.get(&format!("{PAGE}?desde=ayer"), Some(&cookie)).await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(bad.body.contains("no es una fecha AAAA-MM-DD"), "{}", bad.body);
}

#[tokio::test]
async fn a_passed_target_is_listed_with_how_late_only_for_those_who_see_the_case() {
    let server = console(|config| {
        always_open(config);
        config.sla.n2.first_response_hours = 0.0005; // 1.8 s
    })
    .await;
    let number = match server.ingest(&sample("mail/10_nomina_con_xml.eml")).await {
        Outcome::Opened { case, .. } => case,
        other => panic!("expected a case, got {other:?}"),
    };
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(server.desk().check_sla(server.store()).await.expect("sweep"), 1);
    let link = format!("<a href=\"/consola/caso/{number}\">{number}</a>");

    let (cookie, _) = server.session_for(AGENT_NOMINA).await;
    let page = server.get(PAGE, Some(&cookie)).await;
    let section = page.body.split("id=\"vencidos\"").nth(1).expect("the breaches section");
    let row = section.split("<tr>").find(|r| r.contains(&link));
    let row = row.unwrap_or_else(|| panic!("{number} missing: {section}"));
    assert!(row.contains("<td>Nivel 2</td><td>Primera respuesta</td>"), "{row}");
    assert!(row.contains("class=\"sla-vencido\">0 min</td>"), "how late: {row}");

    // Not a case of the factura group: its agent and coordinator do not see it here either.
    for outsider in [AGENT_FACTURA, COORD_FACTURA] {
        let (cookie, _) = server.session_for(outsider).await;
        let page = server.get(PAGE, Some(&cookie)).await;
        assert!(!page.body.contains(&number), "{outsider} sees {number}");
        assert!(page.body.contains("Ningún caso que usted pueda ver"), "{}", page.body);
    }
}

/// A page kept under `target/consola/` with the console's style sheet beside it, to look at.
fn keep(name: &str, html: &str) {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| format!("{}/target", env!("CARGO_MANIFEST_DIR")));
    let dir = std::path::Path::new(&target).join("consola");
    let css = include_str!("../src/console/static/consola.css");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("consola.css"), css))
        .and_then(|()| std::fs::write(dir.join(name), html.replace("/consola/static/", "")));
    if let Err(e) = written {
        eprintln!("no se pudo guardar {name} en {}: {e}", dir.display());
    }
}

/// Every visible form control has a label: `<label for=id>` or `aria-label`, and every button
/// has text.
fn assert_controls_labelled(html: &str) {
    for tag in ["<input", "<select", "<textarea"] {
        for control in html.split(tag).skip(1) {
            let control = control.split('>').next().unwrap_or("");
            if control.contains("type=\"hidden\"") || control.contains("aria-label=\"") {
                continue;
            }
            let id = control
                .split("id=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("{tag}{control}> has neither id nor aria-label"));
            assert!(html.contains(&format!("<label for=\"{id}\"")), "{tag} #{id} has no label");
        }
    }
    for button in html.split("<button").skip(1) {
        let text = button.split_once('>').map(|(_, rest)| rest).unwrap_or("");
        let text = text.split("</button>").next().unwrap_or("");
        assert!(!text.trim().is_empty(), "a button without text: <button{button}");
    }
}
