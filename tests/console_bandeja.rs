//! The console's bandeja (issue 15, point 1): who sees which cases, the search by number, NIT,
//! CUFE, address and words, the filters, the service-level state and the pages. On the run's
//! backend (SQLite, or PostgreSQL with `MESA_FE_PRUEBA_BASE=postgres`).

mod common;

use common::console::{
    AGENT_FACTURA, AGENT_N3, AGENT_NOMINA, AGENT_SEGURIDAD, COORD_FACTURA, ConsoleServer, console,
    encode,
};
use common::local::{always_open, plain_mail, sample};
use mesa_fe::desk::command::{Action, Command};
use mesa_fe::pipeline::Outcome;
use mesa_fe::store::cases::CaseFilter;
use reqwest::StatusCode;

const CSAT: &str = "csat@dian.gov.co";
/// The invoice of fixture 01 (its AttachedDocument): CUFE and issuer.
const CUFE_01: &str = "d96f1533f0df6342ecdf29ead89c6039705250d2a5275e9799dc23df09a363e3fb5dcf4824c516402f73531dcba0d496";
const NIT_01: &str = "900481236";

async fn open(server: &ConsoleServer, raw: &[u8]) -> String {
    match server.ingest(raw).await {
        Outcome::Opened { case, .. } => case,
        other => panic!("expected a new case, got {other:?}"),
    }
}

async fn act(server: &ConsoleServer, number: &str, agent: &str, command: Command, text: &str) {
    let action = Action { command, text: text.into() };
    let outcome =
        server.desk().act_by_cli(server.store(), number, agent, &action).await.expect("act");
    assert_eq!(outcome.refusal, None, "{action:?} by {agent} was refused");
}

/// The bandeja of `address` with `query` (without the `?`): the page and the case numbers of
/// its table, in order.
async fn bandeja(server: &ConsoleServer, address: &str, query: &str) -> (String, Vec<String>) {
    let (cookie, _) = server.session_for(address).await;
    let page = server.get(&format!("/consola/bandeja?{query}"), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.body);
    let numbers = listed(&page.body);
    (page.body, numbers)
}

/// The case numbers linked from the page's table rows.
fn listed(body: &str) -> Vec<String> {
    let Some(table) = body.split("<table id=\"casos\">").nth(1) else { return Vec::new() };
    let table = table.split("</table>").next().unwrap_or_default();
    table
        .split("<a href=\"/consola/caso/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// Every form control of the page that a person fills has a `<label for>` or an `aria-label`.
fn assert_labelled(body: &str) {
    for tag in ["<input", "<select", "<textarea"] {
        for control in body.split(tag).skip(1) {
            let control = control.split('>').next().unwrap_or_default();
            if control.contains("type=\"hidden\"") || control.contains("aria-label=") {
                continue;
            }
            let id = control
                .split("id=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("a control without id: {tag}{control}"));
            assert!(body.contains(&format!("<label for=\"{id}\"")), "no label for #{id}");
        }
    }
}

/// Cases of fixture 01 (factura, N2 Ana), fixture 10 (nómina, N2 Carolina), fixture 08
/// (security) and a words-only request; returns their numbers in that order.
async fn four_cases(server: &ConsoleServer) -> [String; 4] {
    let factura = open(server, &sample("mail/01_proveedor_zip_attacheddocument.eml")).await;
    let nomina = open(server, &sample("mail/10_nomina_con_xml.eml")).await;
    let security = open(server, &sample("mail/08_evento_seguridad_acceso_no_autorizado.eml")).await;
    let words = open(
        server,
        &plain_mail(
            "lucia.mora@ferreteria-el-puente.example",
            "Rechazo en la facturación de anticipos",
            "<anticipos-1@ferreteria-el-puente.example>",
            None,
            "",
            "Buenos días: la factura de anticipo FA-77 sale rechazada. NIT 901.222.333-4. Gracias.",
        ),
    )
    .await;
    [factura, nomina, security, words]
}

#[tokio::test]
async fn an_agent_sees_the_cases_of_their_groups_and_not_another_groups() {
    let server = console(|_| {}).await;
    let [factura, nomina, security, _] = four_cases(&server).await;
    let (_, ana) = bandeja(&server, AGENT_FACTURA, "").await;
    assert!(ana.contains(&factura), "{ana:?}");
    assert!(!ana.contains(&nomina) && !ana.contains(&security), "{ana:?}");
    let (_, carolina) = bandeja(&server, AGENT_NOMINA, "").await;
    assert!(carolina.contains(&nomina), "{carolina:?}");
    assert!(!carolina.contains(&factura) && !carolina.contains(&security), "{carolina:?}");
    let (_, coordinator) = bandeja(&server, COORD_FACTURA, "").await;
    assert!(coordinator.contains(&factura) && !coordinator.contains(&nomina), "{coordinator:?}");
}

#[tokio::test]
async fn a_security_case_is_listed_only_for_the_security_group() {
    let server = console(|_| {}).await;
    let [_, _, security, _] = four_cases(&server).await;
    for outsider in [AGENT_FACTURA, AGENT_NOMINA, AGENT_N3, COORD_FACTURA, CSAT] {
        let (_, numbers) = bandeja(&server, outsider, "estado=todos").await;
        assert!(!numbers.contains(&security), "{outsider} sees the security case");
        let (body, numbers) = bandeja(&server, outsider, &format!("q={security}")).await;
        assert!(numbers.is_empty() && body.contains("id=\"sin-resultados\""), "{outsider}");
    }
    let (_, marta) = bandeja(&server, AGENT_SEGURIDAD, "").await;
    assert!(marta.contains(&security), "{marta:?}");
}

/// The list equals `sees` for every kind of viewer, also after the factura case went to N3 and
/// to Administración Técnica (its path is what keeps it visible to N2 and N3).
#[tokio::test]
async fn the_list_shows_exactly_the_cases_the_desk_lets_each_viewer_see() {
    let server = console(|_| {}).await;
    let [factura, ..] = four_cases(&server).await;
    act(&server, &factura, AGENT_FACTURA, Command::Nota, "Diagnóstico: el servicio responde 500")
        .await;
    act(&server, &factura, AGENT_FACTURA, Command::Escalar, "Revisión técnica").await;
    act(&server, &factura, AGENT_N3, Command::Escalar, "Falla del servicio de recepción").await;
    let all = server.store().list_cases(&CaseFilter::default()).await.expect("cases");
    let desk = server.desk();
    for address in [AGENT_FACTURA, AGENT_NOMINA, AGENT_N3, AGENT_SEGURIDAD, COORD_FACTURA, CSAT] {
        let actor = desk.actor(address).expect("a configured person");
        let mut expected = Vec::new();
        for summary in &all {
            let found = server.store().case_by_number(&summary.number).await.expect("read");
            if desk.sees(&actor, &found.expect("exists").case) {
                expected.push(summary.number.clone());
            }
        }
        let (_, numbers) = bandeja(&server, address, "estado=todos").await;
        assert_eq!(numbers, expected, "{address}");
    }
    let (_, csat) = bandeja(&server, CSAT, "").await;
    assert_eq!(csat, vec![factura.clone()], "Administración Técnica: what reached it");
    let (_, jorge) = bandeja(&server, AGENT_N3, "").await;
    assert!(jorge.contains(&factura), "N3 still sees what it escalated: {jorge:?}");
}

#[tokio::test]
async fn a_case_is_found_by_number_nit_cufe_address_and_words() {
    let server = console(|_| {}).await;
    let [factura, nomina, _, words] = four_cases(&server).await;
    let requester = server.store().case_detail(&factura).await.expect("read").expect("case");
    let short = factura.rsplit('-').next().expect("sequence").trim_start_matches('0');
    let searches = [
        (factura.clone(), factura.clone()),
        (factura.to_lowercase(), factura.clone()),
        (short.to_string(), factura.clone()),
        (NIT_01.to_string(), factura.clone()),
        ("900.481.236".to_string(), factura.clone()),
        (CUFE_01.to_string(), factura.clone()),
        (CUFE_01.to_uppercase(), factura.clone()),
        (requester.requester.to_uppercase(), factura.clone()),
        // Accents and case do not matter; every word must be there.
        ("FACTURACION anticipos".to_string(), words.clone()),
        ("rechazada anticipo".to_string(), words.clone()),
        ("@ferreteria-el-puente.example".to_string(), words.clone()),
    ];
    for (q, expected) in searches {
        let (body, numbers) =
            bandeja(&server, COORD_FACTURA, &format!("q={}&estado=todos", encode(&q))).await;
        assert_eq!(numbers, vec![expected], "search «{q}»");
        assert!(
            body.contains(&format!("value=\"{}\"", q.replace('&', "&amp;"))),
            "the box keeps «{q}»"
        );
    }
    let (body, numbers) =
        bandeja(&server, COORD_FACTURA, "q=anticipos+inexistentes&estado=todos").await;
    assert!(numbers.is_empty() && body.contains("id=\"sin-resultados\""), "{numbers:?}");
    // A search never reaches beyond the viewer's cases: the nómina case by its own number.
    let (_, numbers) = bandeja(&server, AGENT_FACTURA, &format!("q={nomina}")).await;
    assert!(numbers.is_empty(), "{numbers:?}");
}

#[tokio::test]
async fn filters_narrow_the_list_and_keep_their_values() {
    let server = console(|_| {}).await;
    let [factura, _, _, words] = four_cases(&server).await;
    let (_, all) = bandeja(&server, COORD_FACTURA, "estado=todos").await;
    assert!(all.contains(&factura) && all.contains(&words), "{all:?}");
    let (body, numbers) =
        bandeja(&server, COORD_FACTURA, "estado=todos&nivel=n2&grupo=n2_factura").await;
    assert!(numbers.contains(&factura), "{numbers:?}");
    for number in &numbers {
        let case = server.store().case_detail(number).await.expect("read").expect("case");
        assert_eq!(
            (case.summary.level.as_str(), case.group.as_deref()),
            ("n2", Some("n2_factura"))
        );
    }
    assert!(body.contains("<option value=\"n2_factura\" selected>"), "the group stays chosen");
    let (_, numbers) =
        bandeja(&server, COORD_FACTURA, &format!("estado=todos&agente={}", encode(AGENT_FACTURA)))
            .await;
    assert!(numbers.contains(&factura), "{numbers:?}");
    let (_, numbers) =
        bandeja(&server, COORD_FACTURA, "estado=todos&tema=nomina_electronica").await;
    assert!(numbers.is_empty(), "{numbers:?}");
    let (_, numbers) = bandeja(&server, COORD_FACTURA, "estado=todos&canal=aranda").await;
    assert!(numbers.is_empty(), "{numbers:?}");
    let (_, numbers) =
        bandeja(&server, COORD_FACTURA, "estado=todos&tipo=incidente&canal=correo").await;
    assert_eq!(numbers, all);
    let (_, numbers) = bandeja(&server, COORD_FACTURA, "estado=cerrado").await;
    assert!(numbers.is_empty(), "{numbers:?}");
    let (body, numbers) = bandeja(&server, COORD_FACTURA, "estado=todos&nivel=n9").await;
    assert_eq!(numbers, all, "an unknown level is left out");
    assert!(body.contains("Nivel desconocido"), "and said");
}

#[tokio::test]
async fn an_overdue_case_reads_vencido_and_only_it_is_listed_as_vencido() {
    let server = console(|c| {
        always_open(c);
        // 1.8 s: stored times have whole seconds.
        c.sla.n2.first_response_hours = 0.0005;
        c.sla.n2.resolution_hours = 100.0;
    })
    .await;
    let answered = open(&server, &sample("mail/01_proveedor_zip_attacheddocument.eml")).await;
    let silent = open(&server, &sample("mail/10_nomina_con_xml.eml")).await;
    act(&server, &answered, AGENT_FACTURA, Command::Nota, "Revisando la firma").await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(server.desk().check_sla(server.store()).await.expect("sweep"), 1);
    let coordinator = "coord.nomina@dian.gov.co";
    let (body, numbers) = bandeja(&server, coordinator, "").await;
    assert_eq!(numbers, vec![silent.clone()]);
    assert!(body.contains("class=\"sla sla-vencido\">Vencido (primera respuesta) hace"), "{body}");
    let (body, _) = bandeja(&server, AGENT_FACTURA, "").await;
    assert!(body.contains("class=\"sla sla-a_tiempo\">A tiempo (solución): quedan"), "{body}");
    // The vencidos filter: the coordinator of nómina sees the silent case, Ana none.
    let (_, numbers) = bandeja(&server, coordinator, "vencidos=1").await;
    assert_eq!(numbers, vec![silent]);
    let (body, numbers) = bandeja(&server, AGENT_FACTURA, "vencidos=1").await;
    assert!(numbers.is_empty() && body.contains("id=\"sin-resultados\""), "{numbers:?}");
    assert!(body.contains(
        "id=\"filtro-vencidos\" name=\"vencidos\" type=\"checkbox\" value=\"1\" checked"
    ));
}

#[tokio::test]
async fn fifty_five_cases_make_two_pages_with_the_filters_in_their_links() {
    let server = console(|_| {}).await;
    for i in 0..55 {
        let raw = plain_mail(
            &format!("contador{i}@empresa{i}.example"),
            &format!("Consulta de factura electrónica {i}"),
            &format!("<pagina-{i}@empresa{i}.example>"),
            None,
            "",
            "No sabemos cómo anular una factura electrónica ya validada.",
        );
        open(&server, &raw).await;
    }
    let (body, first) = bandeja(&server, COORD_FACTURA, "q=anular&estado=todos").await;
    assert_eq!(first.len(), 50);
    assert!(body.contains("55 casos · página 1 de 2"), "{body}");
    assert!(
        body.contains("href=\"/consola/bandeja?q=anular&amp;estado=todos&amp;pagina=2\""),
        "{body}"
    );
    let (body, second) = bandeja(&server, COORD_FACTURA, "q=anular&estado=todos&pagina=2").await;
    assert_eq!(second.len(), 5);
    assert!(body.contains("página 2 de 2"));
    assert!(second.iter().all(|n| !first.contains(n)), "pages do not overlap");
    let (_, past) = bandeja(&server, COORD_FACTURA, "q=anular&estado=todos&pagina=99").await;
    assert_eq!(past, second, "past the end: the last page");
}

#[tokio::test]
async fn the_page_has_labelled_controls_the_contract_ids_and_sla_words() {
    let server = console(|_| {}).await;
    let [factura, ..] = four_cases(&server).await;
    let (body, numbers) = bandeja(&server, AGENT_FACTURA, "").await;
    assert!(numbers.contains(&factura));
    assert_labelled(&body);
    for needle in [
        "<input id=\"buscar\" name=\"q\" type=\"search\"",
        "<button id=\"boton-buscar\" type=\"submit\">",
        "<table id=\"casos\">",
        &format!("<a href=\"/consola/caso/{factura}\">{factura}</a>"),
        "<form class=\"filtros\" method=\"get\" action=\"/consola/bandeja\"",
    ] {
        assert!(body.contains(needle), "missing {needle}");
    }
    let sla_words = ["A tiempo", "Por vencer", "Vencido"];
    assert!(sla_words.iter().any(|w| body.contains(w)), "an N2 case shows its SLA state");
    assert!(body.contains("class=\"sla sla-"), "as a colour too");
    assert!(!body.contains("style="), "no inline style (CSP)");
}
