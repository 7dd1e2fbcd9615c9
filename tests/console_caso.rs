//! The console's case page (issue 15, point 2): what it shows, its actions through the engine
//! as the signed-in person (recorded via "consola"), previews that change nothing, permissions,
//! CSRF and attachment downloads. No mail stack; both backends (`MESA_FE_PRUEBA_BASE`).

mod common;

use common::console::{AGENT_FACTURA, AGENT_SEGURIDAD, ConsoleServer, Page, console};
use common::local::sample;
use mesa_fe::desk::command::{Action, Command};
use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::pipeline::Outcome;
use mesa_fe::store::cases::CaseDetail;
use mesa_fe::store::console_case::TimelineAction;
use reqwest::StatusCode;

const ZIP_INVOICE: &str = "mail/01_proveedor_zip_attacheddocument.eml";
const DIAN_REJECTION: &str = "mail/16_respuesta_dian_rechazo_independiente.eml";
/// The other agent of n2_factura in the built-in configuration.
const OTHER_FACTURA: &str = "luis.mejia@dian.gov.co";
const SECURITY_EVENT: &str = "mail/08_evento_seguridad_acceso_no_autorizado.eml";

/// Opens a case from a fixture mail; `tag` makes its Message-ID unique, so the same mail can
/// open two identical cases.
async fn open(server: &ConsoleServer, fixture: &str, tag: &str) -> String {
    let raw = String::from_utf8_lossy(&sample(fixture)).into_owned();
    let raw = raw.replacen("Message-ID: <", &format!("Message-ID: <{tag}."), 1);
    match server.ingest(raw.as_bytes()).await {
        Outcome::Opened { case, .. } => case,
        other => panic!("{fixture} no abrió un caso: {other:?}"),
    }
}

async fn detail(server: &ConsoleServer, number: &str) -> CaseDetail {
    server.store().case_detail(number).await.expect("detail").expect("the case")
}

async fn actions(server: &ConsoleServer, number: &str) -> Vec<TimelineAction> {
    let found = server.store().case_by_number(number).await.expect("case").expect("the case");
    server.store().case_timeline(found.id).await.expect("timeline").actions
}

/// A form of the case page, sent with the session's CSRF token.
async fn act(
    server: &ConsoleServer,
    session: &(String, String),
    number: &str,
    fields: &[(&str, &str)],
) -> Page {
    let mut all = vec![("_csrf", session.1.as_str())];
    all.extend_from_slice(fields);
    server.post(&format!("/consola/caso/{number}/accion"), Some(&session.0), &all).await
}

/// Follows the 303 of an action back to the case page.
async fn after(server: &ConsoleServer, session: &(String, String), answer: &Page) -> Page {
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let location = answer.location().expect("location").to_string();
    server.get(&location, Some(&session.0)).await
}

/// As minijinja escapes text in the page.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// No id twice in a page, and no inline style or script (the CSP forbids them).
fn assert_valid_ids(body: &str) {
    let mut seen = std::collections::HashSet::new();
    for piece in body.split(" id=\"").skip(1) {
        let id = piece.split('"').next().unwrap_or_default();
        assert!(seen.insert(id.to_string()), "id repetido: {id}");
    }
    assert!(!body.contains(" style=") && !body.contains("<script>"), "estilo o script en línea");
}

/// Every visible form control has a `<label for>` or an `aria-label`.
fn assert_labelled(body: &str) {
    for tag in ["<input", "<select", "<textarea"] {
        for piece in body.split(tag).skip(1) {
            let element = &piece[..piece.find('>').unwrap_or(piece.len())];
            if element.contains("type=\"hidden\"") || element.contains("aria-label=") {
                continue;
            }
            let id = element
                .split("id=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("control sin id: {tag}{element}"));
            assert!(body.contains(&format!("for=\"{id}\"")), "control sin etiqueta: {id}");
        }
    }
}

#[tokio::test]
async fn the_page_shows_the_documents_cufe_and_the_known_error_text_of_its_rules() {
    let server = console(|_| {}).await;
    let number = open(&server, DIAN_REJECTION, "a").await;
    let session = server.session_for(AGENT_FACTURA).await;
    let page = server.get(&format!("/consola/caso/{number}"), Some(&session.0)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&format!("<h1>Caso {number}</h1>")), "{}", page.body);
    for id in ["linea-tiempo", "documentos", "requisitos", "relacionados", "acciones"] {
        assert!(page.body.contains(&format!("id=\"{id}\"")), "falta la sección {id}");
    }
    let cufe = "f3f56752c1a396c391d041e89fe41fe48db020bb3f9358b3134f6115f1e765b859b14606cd3329897a2a0a9a78ef02d2";
    assert!(page.body.contains(cufe), "falta el CUFE");
    let known = KnowledgeBase::builtin();
    let fad06 = known.get("FAD06").expect("FAD06 en la base incorporada");
    assert!(page.body.contains("FAD06"));
    assert!(page.body.contains(&escaped(&fad06.official_message)), "falta el texto de FAD06");
    assert!(page.body.contains("pruebas (habilitación)"), "falta el ambiente");
    assert!(page.body.contains("800197268"), "falta el NIT del emisor");
    // The timeline: the requester's message and the desk's answer to it, in time order.
    let timeline = &page.body[page.body.find("id=\"linea-tiempo\"").expect("línea")..];
    let received = timeline.find("Mensaje recibido").expect("el mensaje recibido");
    let answered = timeline.find("Correo de la mesa").expect("la respuesta de la mesa");
    assert!(received < answered, "la línea de tiempo no va en orden");
    for accion in
        ["nota", "info", "asignar", "escalar", "solucionar", "padre", "tipo", "cerrar", "reabrir"]
    {
        assert!(
            page.body.contains(&format!("id=\"accion-{accion}\"")),
            "falta el formulario {accion}"
        );
        assert!(page.body.contains(&format!("id=\"boton-{accion}\"")), "falta el botón {accion}");
    }
    assert_labelled(&page.body);
    assert_valid_ids(&page.body);
}

#[tokio::test]
async fn each_action_through_the_console_changes_the_case_as_the_cli_does() {
    // One active agent in the group: both cases go to her, so they start the same.
    let server = console(|config| {
        for agent in config.agentes.iter_mut().filter(|a| a.address == OTHER_FACTURA) {
            agent.active = false;
        }
    })
    .await;
    let by_console = open(&server, ZIP_INVOICE, "consola").await;
    let by_cli = open(&server, ZIP_INVOICE, "cli").await;
    let parent = open(&server, ZIP_INVOICE, "padre").await;
    let session = server.session_for(AGENT_FACTURA).await;
    let steps: Vec<(Vec<(&str, &str)>, Command)> = vec![
        (vec![("accion", "nota"), ("texto", "Revisé el XML.")], Command::Nota),
        (
            vec![("accion", "tipo"), ("tipo", "requerimiento")],
            Command::Tipo(mesa_fe::desk::CaseType::Requerimiento),
        ),
        (vec![("accion", "info"), ("texto", "¿Cuál es el número?")], Command::Info),
        (
            vec![("accion", "asignar"), ("destino", OTHER_FACTURA)],
            Command::Asignar(OTHER_FACTURA.into()),
        ),
        (vec![("accion", "cerrar"), ("texto", "")], Command::Cerrar),
        (vec![("accion", "reabrir"), ("texto", "")], Command::Reabrir),
        (vec![("accion", "padre"), ("padre", &parent)], Command::Padre(parent.clone())),
        (
            vec![("accion", "solucionar"), ("primer_contacto", "1"), ("texto", "Reenvíe el XML.")],
            Command::Solucion { first_contact: true },
        ),
    ];
    let desk = server.desk();
    for (fields, command) in steps {
        let text = fields.iter().find(|(k, _)| *k == "texto").map_or("", |(_, v)| v);
        let page =
            after(&server, &session, &act(&server, &session, &by_console, &fields).await).await;
        let cli_action = Action { command: command.clone(), text: text.to_string() };
        let cli = desk.act_by_cli(server.store(), &by_cli, AGENT_FACTURA, &cli_action).await;
        let cli = cli.expect("cli");
        let (mine, theirs) = (detail(&server, &by_console).await, detail(&server, &by_cli).await);
        assert_eq!(
            (
                &mine.summary.status,
                &mine.summary.level,
                &mine.summary.agent,
                &mine.summary.case_type
            ),
            (
                &theirs.summary.status,
                &theirs.summary.level,
                &theirs.summary.agent,
                &theirs.summary.case_type
            ),
            "#{} por consola y por CLI",
            command.name()
        );
        assert_eq!(mine.outbox.len(), theirs.outbox.len(), "#{}: el correo", command.name());
        assert_eq!(mine.parent, theirs.parent);
        assert_eq!(cli.refusal, None, "#{} por CLI", command.name());
        assert!(page.body.contains("class=\"hecho\""), "#{}: {}", command.name(), page.body);
        let last = actions(&server, &by_console).await.pop().expect("fila del historial");
        assert_eq!((last.via.as_str(), last.actor.as_str()), ("consola", AGENT_FACTURA));
        assert_eq!(last.command, command.name());
        assert_eq!(last.text, text);
    }
    let end = detail(&server, &by_console).await;
    assert_eq!(
        (end.summary.status.as_str(), end.summary.case_type.as_str(), end.parent.as_deref()),
        ("solucionado", "requerimiento", Some(parent.as_str()))
    );
    assert_eq!(end.summary.agent.as_deref(), Some(OTHER_FACTURA));
    // The console's rows say "consola" and the CLI's "cli": the rest is the same.
    assert!(actions(&server, &by_cli).await.iter().all(|a| a.via == "cli"));
}

#[tokio::test]
async fn an_agent_escalates_from_n2_to_n3_with_a_note() {
    let server = console(|_| {}).await;
    let number = open(&server, ZIP_INVOICE, "e").await;
    assert_eq!(detail(&server, &number).await.summary.level, "n2");
    let session = server.session_for(AGENT_FACTURA).await;
    let note = [("accion", "nota"), ("texto", "Diagnóstico: el CUFE no coincide.")];
    after(&server, &session, &act(&server, &session, &number, &note).await).await;
    let escalate =
        [("accion", "escalar"), ("escalar_a", ""), ("texto", "Requiere revisión de N3.")];
    let page = after(&server, &session, &act(&server, &session, &number, &escalate).await).await;
    assert!(page.body.contains("class=\"hecho\" role=\"status\""), "{}", page.body);
    let d = detail(&server, &number).await;
    assert_eq!(d.summary.level, "n3");
    let rows = actions(&server, &number).await;
    let commands: Vec<(&str, &str, &str)> =
        rows.iter().map(|a| (a.command.as_str(), a.via.as_str(), a.actor.as_str())).collect();
    assert_eq!(
        commands,
        [("nota", "consola", AGENT_FACTURA), ("escalar", "consola", AGENT_FACTURA)]
    );
    assert!(d.events.iter().any(|e| e.to_level == "n3"), "{:?}", d.events);
    assert!(page.body.contains("vía consola: #escalar"), "la línea de tiempo no lo muestra");
}

#[tokio::test]
async fn a_refusal_shows_the_engines_reason_and_changes_nothing() {
    let server = console(|_| {}).await;
    let number = open(&server, ZIP_INVOICE, "r").await;
    let session = server.session_for(AGENT_FACTURA).await;
    let before = detail(&server, &number).await;
    let link = [("accion", "padre"), ("padre", "FE-2026-999999")];
    let page = after(&server, &session, &act(&server, &session, &number, &link).await).await;
    let desk = server.desk();
    let cli_action =
        Action { command: Command::Padre("FE-2026-999999".into()), text: String::new() };
    let expected = {
        let other = open(&server, ZIP_INVOICE, "r2").await;
        let outcome = desk.act_by_cli(server.store(), &other, AGENT_FACTURA, &cli_action).await;
        outcome.expect("cli").refusal.expect("la mesa rechaza un padre que no existe")
    };
    assert!(page.body.contains("class=\"aviso\" role=\"alert\""), "{}", page.body);
    assert!(page.body.contains(&escaped(&expected)), "falta la razón «{expected}»: {}", page.body);
    let after_refusal = detail(&server, &number).await;
    assert_eq!(after_refusal.parent, None);
    assert_eq!(after_refusal.summary.status, before.summary.status);
    // A form without its text is refused by the console before the engine, with why.
    let empty = [("accion", "solucionar"), ("texto", "  ")];
    let page = after(&server, &session, &act(&server, &session, &number, &empty).await).await;
    assert!(page.body.contains("#solucion necesita un texto"), "{}", page.body);
}

#[tokio::test]
async fn a_forged_post_without_the_csrf_token_is_refused_and_changes_nothing() {
    let server = console(|_| {}).await;
    let number = open(&server, ZIP_INVOICE, "f").await;
    let (cookie, _) = server.session_for(AGENT_FACTURA).await;
    let before = detail(&server, &number).await;
    let path = format!("/consola/caso/{number}/accion");
    let forged = [("accion", "cerrar"), ("texto", "")];
    let page = server.post(&path, Some(&cookie), &forged).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let wrong = [("_csrf", "otro"), ("accion", "cerrar"), ("texto", "")];
    assert_eq!(server.post(&path, Some(&cookie), &wrong).await.status, StatusCode::FORBIDDEN);
    assert_eq!(server.post(&path, None, &wrong).await.status, StatusCode::UNAUTHORIZED);
    let unchanged = detail(&server, &number).await;
    assert_eq!(unchanged.summary.status, before.summary.status);
    assert_eq!(unchanged.events.len(), before.events.len());
    assert!(actions(&server, &number).await.is_empty());
}

#[tokio::test]
async fn a_security_case_is_seen_only_by_the_security_group() {
    let server = console(|_| {}).await;
    let number = open(&server, SECURITY_EVENT, "s").await;
    let ana = server.session_for(AGENT_FACTURA).await;
    let page = server.get(&format!("/consola/caso/{number}"), Some(&ana.0)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("<h1>Sin permiso</h1>"), "{}", page.body);
    let note = [("accion", "nota"), ("texto", "Miro el caso.")];
    assert_eq!(act(&server, &ana, &number, &note).await.status, StatusCode::FORBIDDEN);
    assert!(actions(&server, &number).await.is_empty());
    let marta = server.session_for(AGENT_SEGURIDAD).await;
    let page = server.get(&format!("/consola/caso/{number}"), Some(&marta.0)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("categoría h"), "{}", page.body);
    let page = server.get("/consola/caso/FE-2026-999999", Some(&marta.0)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_attachment_downloads_with_its_bytes() {
    let server = console(|_| {}).await;
    let number = open(&server, ZIP_INVOICE, "d").await;
    let session = server.session_for(AGENT_FACTURA).await;
    let page = server.get(&format!("/consola/caso/{number}"), Some(&session.0)).await;
    let prefix = format!("href=\"/consola/caso/{number}/adjunto/");
    let at = page.body.find(&prefix).expect("un enlace de adjunto") + "href=\"".len();
    let href = &page.body[at..at + page.body[at..].find('"').expect("fin del enlace")];
    let name_at = at + page.body[at..].find("download>").expect("nombre") + "download>".len();
    let name = page.body[name_at..name_at + page.body[name_at..].find('<').expect("fin")]
        .replace("&#x2f;", "/");
    let response = server
        .client
        .get(format!("{}{href}", server.base))
        .header("cookie", &session.0)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    let disposition =
        response.headers()["content-disposition"].to_str().expect("ascii").to_string();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    let bytes = response.bytes().await.expect("bytes");
    let parsed = mesa_fe::mail::parse(&sample(ZIP_INVOICE), &Default::default()).expect("parse");
    let file = parsed.files.iter().find(|f| f.source == name).expect("el archivo del correo");
    assert!(!file.bytes.is_empty());
    assert_eq!(bytes.as_ref(), file.bytes.as_slice());
    // Another viewer's groups do not reach it by its address either.
    let other = server.session_for(AGENT_SEGURIDAD).await;
    let denied = server.get(href, Some(&other.0)).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let missing =
        server.get(&format!("/consola/caso/{number}/adjunto/999999/0"), Some(&session.0)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_preview_shows_the_mail_and_changes_nothing() {
    let server = console(|_| {}).await;
    let number = open(&server, ZIP_INVOICE, "p").await;
    let session = server.session_for(AGENT_FACTURA).await;
    let before = detail(&server, &number).await;
    let question = "Envíe por favor el XML de la nota crédito NC-77.";
    let fields = [("accion", "info"), ("texto", question), ("vista_previa", "1")];
    let page = act(&server, &session, &number, &fields).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let preview = &page.body[page.body.find("id=\"vista-previa\"").expect("vista previa")..];
    assert!(preview.contains(&before.requester), "falta el destinatario");
    assert!(preview.contains(&escaped(question)), "falta el texto del correo");
    assert!(preview.contains("id=\"boton-info\""), "falta el botón real");
    assert!(
        preview.contains(&format!(">{}</textarea>", escaped(question))),
        "el texto no se conservó"
    );
    assert_labelled(&page.body);
    assert_valid_ids(&page.body);
    // Escalating and solving preview the same way, with their own fields kept.
    let reason = "El CUFE no coincide con el de la DIAN.";
    let escalate =
        [("accion", "escalar"), ("escalar_a", ""), ("texto", reason), ("vista_previa", "1")];
    let page = act(&server, &session, &number, &escalate).await;
    let preview = &page.body[page.body.find("id=\"vista-previa\"").expect("vista previa")..];
    assert!(preview.contains("id=\"boton-escalar\""), "{preview}");
    assert!(preview.contains(&escaped(reason)), "{preview}");
    let solve = [
        ("accion", "solucionar"),
        ("primer_contacto", "1"),
        ("texto", "Reenvíe el XML corregido."),
        ("vista_previa", "1"),
    ];
    let page = act(&server, &session, &number, &solve).await;
    let preview = &page.body[page.body.find("id=\"vista-previa\"").expect("vista previa")..];
    assert!(preview.contains(&before.requester) && preview.contains("Reenvíe el XML corregido."));
    assert!(preview.contains("id=\"primer-contacto\" value=\"1\" checked"), "{preview}");
    let unchanged = detail(&server, &number).await;
    assert_eq!(unchanged.summary.status, before.summary.status);
    assert_eq!(unchanged.summary.level, before.summary.level);
    assert_eq!(unchanged.events.len(), before.events.len());
    assert_eq!(unchanged.outbox.len(), before.outbox.len());
    assert!(actions(&server, &number).await.is_empty());
    // The real button then does it.
    let send = [("accion", "info"), ("texto", question)];
    after(&server, &session, &act(&server, &session, &number, &send).await).await;
    let asked = detail(&server, &number).await;
    assert_eq!(asked.summary.status, "pendiente_informacion");
    assert_eq!(asked.outbox.len(), before.outbox.len() + 1);
}

#[tokio::test]
async fn assigning_gives_the_case_to_an_active_agent_of_its_group() {
    let server = console(|_| {}).await;
    let number = open(&server, ZIP_INVOICE, "g").await;
    let session = server.session_for(AGENT_FACTURA).await;
    let page = server.get(&format!("/consola/caso/{number}"), Some(&session.0)).await;
    let select = &page.body[page.body.find("id=\"destino-asignar\"").expect("select")..];
    let select = &select[..select.find("</select>").expect("fin")];
    assert!(select.contains(&format!("value=\"{OTHER_FACTURA}\"")), "{select}");
    assert!(select.contains(&format!("value=\"{AGENT_FACTURA}\"")), "{select}");
    assert!(!select.contains("carolina.pardo"), "una agente de otro grupo: {select}");
    let holder = detail(&server, &number).await.summary.agent.expect("agente");
    let other = if holder == AGENT_FACTURA { OTHER_FACTURA } else { AGENT_FACTURA };
    let assign = [("accion", "asignar"), ("destino", other), ("texto", "")];
    let page = after(&server, &session, &act(&server, &session, &number, &assign).await).await;
    assert!(page.body.contains("class=\"hecho\""), "{}", page.body);
    assert_eq!(detail(&server, &number).await.summary.agent.as_deref(), Some(other));
    let last = actions(&server, &number).await.pop().expect("fila");
    assert_eq!(
        (last.command.as_str(), last.argument.as_deref(), last.via.as_str()),
        ("asignar", Some(other), "consola")
    );
}
