//! The console's Base de conocimiento over HTTP (issue 15, point 4), without a mail server:
//! searching the known errors, proposing a change that only a coordinator approves, approving
//! a solved problema's known error with the engine's own call, and the first-contact guide's
//! downloads (the same text as `mesa-fe kb export`).

mod common;

use common::console::{AGENT_FACTURA, COORD_FACTURA, ConsoleServer, console};
use common::html::assert_accessible;
use common::local::plain_mail;
use mesa_fe::desk::command::{Action, Command};
use mesa_fe::desk::guide::Guide;
use mesa_fe::pipeline::Outcome;
use reqwest::StatusCode;

async fn act(server: &ConsoleServer, number: &str, who: &str, command: Command, text: &str) {
    let desk = server.desk();
    let actor = desk.actor(who).expect("a configured person");
    let action = Action { command, text: text.into() };
    let outcome = desk.act_by_console(server.store(), number, &actor, &action).await.expect("act");
    assert_eq!(outcome.refusal, None, "{action:?} by {who}");
}

/// A solved problema with rule FAW98: its known error waits for the coordinator.
async fn solved_problem(server: &ConsoleServer) -> String {
    let raw = plain_mail(
        "facturador@pt.example",
        "Factura SETP00001 rechazada",
        "<problema.1@pt.example>",
        None,
        "",
        "Buenos días, la factura SETP00001 del NIT 900.123.456-7 fue rechazada. \
         Regla: FAW98, Rechazo: El servicio de validación no reconoce el grupo de impuestos.",
    );
    let Outcome::Opened { case, .. } = server.ingest(&raw).await else { panic!("a new case") };
    let problema = Command::Tipo(mesa_fe::desk::CaseType::Problema);
    act(server, &case, AGENT_FACTURA, problema, "").await;
    act(server, &case, AGENT_FACTURA, Command::Causa, "El validador no conoce el grupo ICUI").await;
    let solve = Command::Solucion { first_contact: false };
    act(server, &case, AGENT_FACTURA, solve, "Envíe el grupo ICUI con tarifa 0.").await;
    case
}

#[tokio::test]
async fn the_guide_downloads_are_the_same_text_as_kb_export() {
    let server = console(|_| {}).await;
    let (cookie, _) = server.session_for(AGENT_FACTURA).await;
    let solutions = server.store().first_contact_solutions().await.expect("solutions");
    let guide = Guide::new(&server.desk().knowledge, &solutions);

    let md = server.get("/consola/conocimiento/guia.md", Some(&cookie)).await;
    assert_eq!(md.status, StatusCode::OK);
    let kind = md.headers.get("content-type").and_then(|v| v.to_str().ok());
    assert_eq!(kind, Some("text/markdown; charset=utf-8"));
    assert_eq!(md.body, guide.to_markdown());
    assert!(md.body.contains("FAD06"), "the known errors are in it");

    let csv = server.get("/consola/conocimiento/guia.csv", Some(&cookie)).await;
    assert_eq!(csv.status, StatusCode::OK);
    let disposition = csv.headers.get("content-disposition").and_then(|v| v.to_str().ok());
    assert!(disposition.is_some_and(|d| d.starts_with("attachment")), "{disposition:?}");
    assert_eq!(csv.body, guide.to_csv());
    assert!(csv.body.starts_with("origen,codigos,"), "{}", &csv.body[..40]);
    assert!(csv.body.lines().count() > 10, "one line per answer");

    let anonymous = server.get("/consola/conocimiento/guia.csv", None).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_search_finds_known_errors_by_code_and_by_words() {
    let server = console(|_| {}).await;
    let (cookie, _) = server.session_for(AGENT_FACTURA).await;
    let all = server.get("/consola/conocimiento", Some(&cookie)).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_accessible(&all.body);
    let fad06 = server.get("/consola/conocimiento?q=fad06", Some(&cookie)).await;
    let table = fad06.body.split("id=\"errores-conocidos\"").nth(1).expect("results");
    assert!(table.contains("FAD06"), "{table}");
    assert_eq!(table.matches("<tr>").count() - 1, 1, "one entry (and the header row): {table}");
    let none = server.get("/consola/conocimiento?q=zzzz-nada", Some(&cookie)).await;
    assert!(none.body.contains("id=\"sin-resultados\""), "{}", none.body);
}

#[tokio::test]
async fn a_proposed_change_is_approved_by_a_coordinator_and_not_by_an_agent() {
    let server = console(|_| {}).await;
    let (agent, agent_csrf) = server.session_for(AGENT_FACTURA).await;
    let proposal = [
        ("_csrf", agent_csrf.as_str()),
        ("codigo", "fad06"),
        ("significado", "El CUFE no corresponde a los datos de la factura."),
        ("respuesta", "Recalcule el CUFE con la clave técnica del ambiente."),
    ];
    let sent = server.post("/consola/conocimiento/propuesta", Some(&agent), &proposal).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    assert!(sent.location().is_some_and(|l| l.contains("hecho=")), "{:?}", sent.location());
    let edits = server.store().known_error_edits(10).await.expect("edits");
    assert_eq!(edits.len(), 1);
    assert_eq!((edits[0].code.as_str(), edits[0].status.as_str()), ("FAD06", "propuesta"));
    let id = edits[0].id.to_string();

    let page = server.get("/consola/conocimiento", Some(&agent)).await;
    assert!(page.body.contains("Recalcule el CUFE"), "listed as waiting");
    assert!(!page.body.contains("boton-aprobar-cambio-"), "no approve button for an agent");

    let approve = |csrf: String| {
        vec![
            ("_csrf".to_string(), csrf),
            ("tipo".into(), "edicion".into()),
            ("id".into(), id.clone()),
            ("decision".into(), "aprobar".into()),
        ]
    };
    let fields = approve(agent_csrf.clone());
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let by_agent = server.post("/consola/conocimiento/aprobar", Some(&agent), &fields).await;
    assert_eq!(by_agent.status, StatusCode::FORBIDDEN);
    let still = server.store().known_error_edits(10).await.expect("edits");
    assert_eq!(still[0].status, "propuesta");

    let (coord, coord_csrf) = server.session_for(COORD_FACTURA).await;
    let forged = approve(String::new());
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let without = server.post("/consola/conocimiento/aprobar", Some(&coord), &forged).await;
    assert_eq!(without.status, StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(server.store().known_error_edits(10).await.expect("edits")[0].status, "propuesta");

    let page = server.get("/consola/conocimiento", Some(&coord)).await;
    assert!(page.body.contains(&format!("id=\"boton-aprobar-cambio-{id}\"")), "{}", page.body);
    assert_accessible(&page.body);
    let fields = approve(coord_csrf);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let by_coord = server.post("/consola/conocimiento/aprobar", Some(&coord), &fields).await;
    assert_eq!(by_coord.status, StatusCode::SEE_OTHER);
    let decided = server.store().known_error_edits(10).await.expect("edits");
    assert_eq!(decided[0].status, "aprobada");
    assert_eq!(decided[0].decided_by.as_deref(), Some(COORD_FACTURA));
    let again = server.post("/consola/conocimiento/aprobar", Some(&coord), &fields).await;
    let page = server.get(again.location().expect("back"), Some(&coord)).await;
    assert!(page.body.contains("ya no espera decisión"), "{}", page.body);
}

#[tokio::test]
async fn a_problems_known_error_is_approved_with_the_engines_call_by_its_coordinator() {
    let server = console(|_| {}).await;
    let case = solved_problem(&server).await;
    assert_eq!(server.store().pending_proposals().await.expect("proposals").len(), 1);

    let (agent, agent_csrf) = server.session_for(AGENT_FACTURA).await;
    let page = server.get("/consola/conocimiento", Some(&agent)).await;
    let waiting = page.body.split("id=\"propuestas-problemas\"").nth(1).expect("the proposal");
    assert!(waiting.contains(&case) && waiting.contains("FAW98"), "{waiting}");
    assert!(!waiting.contains(&format!("boton-aprobar-{case}")), "an agent does not approve");
    let fields = [("_csrf", agent_csrf.as_str()), ("tipo", "problema"), ("caso", case.as_str())];
    let by_agent = server.post("/consola/conocimiento/aprobar", Some(&agent), &fields).await;
    assert_eq!(by_agent.status, StatusCode::FORBIDDEN);
    assert_eq!(server.store().pending_proposals().await.expect("proposals").len(), 1);

    let (coord, coord_csrf) = server.session_for(COORD_FACTURA).await;
    let page = server.get("/consola/conocimiento", Some(&coord)).await;
    assert!(page.body.contains(&format!("id=\"boton-aprobar-{case}\"")), "{}", page.body);
    let fields = [("_csrf", coord_csrf.as_str()), ("tipo", "problema"), ("caso", case.as_str())];
    let approved = server.post("/consola/conocimiento/aprobar", Some(&coord), &fields).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    assert!(approved.location().is_some_and(|l| l.contains("hecho=")), "{:?}", approved.location());
    assert!(server.store().pending_proposals().await.expect("proposals").is_empty());
    let learned = server.store().learned_errors().await.expect("learned");
    assert!(learned.iter().any(|l| l.codes.contains(&"FAW98".to_string())), "{learned:?}");
    let guide = server.get("/consola/conocimiento/guia.csv", Some(&coord)).await;
    assert!(guide.body.contains("ICUI"), "the approved answer joins the guide");
}
