//! The console's Masivas pages over HTTP (issue 15, point 3), without a mail server: the
//! suggestions of a spike of one rule, linking candidate cases to a parent in one form (the
//! engine's `#padre` per case, recorded via consola), and the parent's progress after its
//! solution (the children's mail and the validation sample's answers).

mod common;

use common::console::{AGENT_FACTURA, AGENT_NOMINA, ConsoleServer, console};
use common::db::Backend;
use common::html::assert_accessible;
use common::local::plain_mail;
use mesa_fe::desk::command::{Action, Command};
use mesa_fe::pipeline::Outcome;
use reqwest::StatusCode;

/// A rule no entry of the built-in base answers: the cases stay with the N2 agent.
const RULE: &str = "FAW77";

/// A provider's request quoting DIAN rule `code` (a new case each, from a new address).
fn rule_request(n: usize, code: &str) -> Vec<u8> {
    let id = format!("<regla.{n}.{}@pt.example>", fastrand::u64(..));
    let body = format!(
        "Buenos días, la factura SETP{n:05} del NIT 900.123.456-7 fue rechazada. \
         Regla: {code}, Rechazo: El servicio de validación no reconoce el grupo de impuestos."
    );
    plain_mail(
        &format!("facturador{n}@pt.example"),
        &format!("Factura SETP{n:05} rechazada"),
        &id,
        None,
        "",
        &body,
    )
}

async fn open(server: &ConsoleServer, raw: &[u8]) -> String {
    match server.ingest(raw).await {
        Outcome::Opened { case, .. } => case,
        other => panic!("expected a new case, got {other:?}"),
    }
}

/// A parent and three more cases with the same rule, all with Ana (N2 factura).
async fn parent_and_three(server: &ConsoleServer) -> (String, Vec<String>) {
    let parent = open(server, &rule_request(0, RULE)).await;
    let mut children = Vec::new();
    for n in 1..=3 {
        children.push(open(server, &rule_request(n, RULE)).await);
    }
    (parent, children)
}

/// The `via` of each action recorded on a case, with its command (the action log).
async fn vias(server: &ConsoleServer, number: &str) -> Vec<(String, String)> {
    let sql = "SELECT a.command, a.via FROM case_actions a JOIN cases c ON c.id = a.case_id \
               WHERE c.number = $1 ORDER BY a.id";
    let url = server.fixture.db.url();
    match server.fixture.db.backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
            sqlx::query_as(sql).bind(number).fetch_all(&pool).await.expect("actions")
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
            sqlx::query_as(sql).bind(number).fetch_all(&pool).await.expect("actions")
        }
    }
}

#[tokio::test]
async fn a_spike_of_one_rule_is_suggested_with_a_link_to_link_its_cases() {
    let server = console(|c| c.masiva.cases_to_suggest = 3).await;
    let (cookie, _) = server.session_for(AGENT_FACTURA).await;
    let before = server.get("/consola/masivas", Some(&cookie)).await;
    assert_eq!(before.status, StatusCode::OK);
    assert!(before.body.contains("id=\"sin-sugerencias\""), "{}", before.body);

    parent_and_three(&server).await;
    let page = server.get("/consola/masivas", Some(&cookie)).await;
    let suggestions = page.body.split("id=\"sugerencias\"").nth(1).expect("suggestions section");
    let suggestions = suggestions.split("id=\"padres\"").next().expect("before the parents");
    assert!(suggestions.contains(RULE), "{suggestions}");
    assert!(suggestions.contains("<td>4</td>"), "four open cases with the rule: {suggestions}");
    assert!(suggestions.contains("n2_factura"), "the coordinator's group: {suggestions}");
    assert!(
        suggestions.contains(&format!("href=\"/consola/masivas/vincular?codigo={RULE}\"")),
        "{suggestions}"
    );

    // Nómina's agent is not in the group the suggestion went to.
    let (other, _) = server.session_for(AGENT_NOMINA).await;
    let theirs = server.get("/consola/masivas", Some(&other)).await;
    assert!(!theirs.body.contains(RULE), "{}", theirs.body);
}

#[tokio::test]
async fn three_cases_linked_in_one_form_get_their_parent_and_then_its_solution() {
    let server = console(|c| c.masiva.validation_sample = 1).await;
    let (parent, children) = parent_and_three(&server).await;
    let (cookie, csrf) = server.session_for(AGENT_FACTURA).await;

    let form = server
        .get(&format!("/consola/masivas/vincular?padre={parent}&codigo={RULE}"), Some(&cookie))
        .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("id=\"form-vincular\""), "{}", form.body);
    for child in &children {
        let checkbox = format!("<input type=\"checkbox\" name=\"hijos\" value=\"{child}\"");
        assert!(form.body.contains(&checkbox), "{child} is a candidate: {}", form.body);
    }
    assert!(!form.body.contains(&format!("value=\"{parent}\" id=\"hijo-")), "not itself");
    assert_accessible(&form.body);

    let mut fields = vec![("_csrf", csrf.as_str()), ("padre", parent.as_str())];
    fields.extend(children.iter().map(|c| ("hijos", c.as_str())));
    let linked = server.post("/consola/masivas/vincular", Some(&cookie), &fields).await;
    assert_eq!(linked.status, StatusCode::SEE_OTHER, "{}", linked.body);
    let target = linked.location().expect("redirect").to_string();
    assert!(target.starts_with(&format!("/consola/masivas/{parent}?hecho=")), "{target}");
    assert!(!target.contains("aviso"), "nothing refused: {target}");
    for child in &children {
        let detail = server.store().case_detail(child).await.expect("detail").expect("case");
        assert_eq!(detail.parent.as_deref(), Some(parent.as_str()));
        let history = vias(&server, child).await;
        assert!(history.contains(&("padre".into(), "consola".into())), "{history:?}");
    }

    let page = server.get(&target, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("class=\"hecho\" role=\"status\""), "{}", page.body);
    let table = page.body.split("id=\"hijos\"").nth(1).expect("children table");
    for child in &children {
        assert!(table.contains(child), "{child} listed: {table}");
    }
    assert!(page.body.contains(&format!("href=\"/consola/caso/{parent}#acciones\"")));
    assert!(page.body.contains("id=\"progreso-en-cola\">0<"), "nothing sent yet");

    // The parent's solution is given on the case page; here, the same engine call.
    let desk = server.desk();
    let actor = desk.actor(AGENT_FACTURA).expect("an agent");
    let solve = Action {
        command: Command::Solucion { first_contact: false },
        text: "Envíe el grupo de impuestos con la tarifa vigente.".into(),
    };
    let outcome =
        desk.act_by_console(server.store(), &parent, &actor, &solve).await.expect("solve");
    assert_eq!((outcome.refusal, outcome.children_solved), (None, 3));

    let page = server.get(&format!("/consola/masivas/{parent}"), Some(&cookie)).await;
    let progress = page.body.split("id=\"progreso\"").nth(1).expect("progress section");
    assert!(progress.contains("id=\"progreso-en-cola\">3<"), "three solutions queued: {progress}");
    assert!(progress.contains("id=\"progreso-enviados\">0<"), "{progress}");
    let validation = page.body.split("id=\"validacion\"").nth(1).expect("validation section");
    let asked = children.iter().filter(|c| validation.contains(c.as_str())).count();
    assert_eq!(asked, 1, "a sample of one child was asked: {validation}");
    assert!(validation.contains("sin respuesta aún"), "{validation}");

    // The sampled requester answers yes: the parent's page shows it.
    let outbox = server.store().list_outbox(None).await.expect("outbox");
    let question = outbox
        .into_iter()
        .map(|row| row.expect("a readable row"))
        .find(|o| o.kind.as_str() == "validacion_masiva")
        .expect("the validation question");
    let yes = plain_mail(
        &question.to_addr,
        "RE: validación",
        "<si.validacion@pt.example>",
        Some(&question.message_id),
        "",
        "Sí, quedó resuelto. Gracias.",
    );
    server.ingest(&yes).await;
    let page = server.get(&format!("/consola/masivas/{parent}"), Some(&cookie)).await;
    let validation = page.body.split("id=\"validacion\"").nth(1).expect("validation section");
    assert!(validation.contains("<td>resuelto</td>"), "{validation}");

    let overview = server.get("/consola/masivas", Some(&cookie)).await;
    let parents = overview.body.split("id=\"padres\"").nth(1).expect("parents section");
    assert!(parents.contains(&format!("href=\"/consola/masivas/{parent}\"")), "{parents}");
    assert!(parents.contains("Solucionado"), "{parents}");
}

#[tokio::test]
async fn a_forged_link_without_the_csrf_token_changes_nothing() {
    let server = console(|_| {}).await;
    let (parent, children) = parent_and_three(&server).await;
    let (cookie, _) = server.session_for(AGENT_FACTURA).await;
    let fields = [("padre", parent.as_str()), ("hijos", children[0].as_str())];
    let forged = server.post("/consola/masivas/vincular", Some(&cookie), &fields).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let wrong = [("_csrf", "x"), ("padre", parent.as_str()), ("hijos", children[0].as_str())];
    let forged = server.post("/consola/masivas/vincular", Some(&cookie), &wrong).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let detail = server.store().case_detail(&children[0]).await.expect("detail").expect("case");
    assert_eq!(detail.parent, None);
    let anonymous = server.post("/consola/masivas/vincular", None, &fields).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cases_of_other_groups_are_neither_offered_nor_linked() {
    let server = console(|_| {}).await;
    let (parent, children) = parent_and_three(&server).await;
    let (cookie, csrf) = server.session_for(AGENT_NOMINA).await;
    let form = server.get(&format!("/consola/masivas/vincular?codigo={RULE}"), Some(&cookie)).await;
    assert!(form.body.contains("id=\"sin-resultados\""), "{}", form.body);
    let fields = [("_csrf", csrf.as_str()), ("padre", parent.as_str()), ("hijos", &children[0])];
    let refused = server.post("/consola/masivas/vincular", Some(&cookie), &fields).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    let back = refused.location().expect("back to the form");
    assert!(back.contains("aviso="), "{back}");
    let page = server.get(back, Some(&cookie)).await;
    assert!(page.body.contains("no es de sus grupos"), "{}", page.body);
    let detail = server.store().case_detail(&children[0]).await.expect("detail").expect("case");
    assert_eq!(detail.parent, None);
    let parent_page = server.get(&format!("/consola/masivas/{parent}"), Some(&cookie)).await;
    assert_eq!(parent_page.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_control_of_the_masivas_pages_is_labelled() {
    let server = console(|_| {}).await;
    let (parent, _) = parent_and_three(&server).await;
    let (cookie, _) = server.session_for(AGENT_FACTURA).await;
    for path in [
        "/consola/masivas".to_string(),
        format!("/consola/masivas/vincular?padre={parent}&q=SETP"),
        format!("/consola/masivas/{parent}"),
    ] {
        let page = server.get(&path, Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_accessible(&page.body);
    }
}
