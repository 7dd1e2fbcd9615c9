//! The console in a real browser (issue 15, "What it must show"): Debian's Chromium, headless,
//! through chromedriver, against the real `mesa-fe run` and the mail stack of
//! deploy/dev/mailstack.sh. An agent signs in with the link read from her mailbox (by keyboard),
//! finds a case by its CUFE and escalates it to N3 with a note, links three cases to a parent and
//! solves the parent (each child's requester gets the solution on his own thread), is refused a
//! security case (403), and a forged POST without the CSRF token changes nothing. The pages are
//! saved as screenshots under `target/consola-capturas/` (tests/common/browser.rs).
//!
//! The page elements used here are those of the console's contract (ids and URLs): a failure
//! names the element awaited and the page the browser was on.

mod common;

use std::time::Duration;

use common::browser::{Browser, screenshot_dir};
use common::mail::{
    Letter, WAIT, clear_inbox, field, smtp_send, trusted_mta_toml, undelivered_invoice_request,
    unique, wait_case, wait_mail,
};
use common::{Daemon, Stack};
use fantoccini::key::Key;
use mesa_fe::store::Store;
use mesa_fe::store::cases::CaseSummary;
use serde_json::json;

/// The buzón the requests are written to (a user of the stack).
const GENERAL: &str = "sd_facturaelectronica@dian.gov.co";
const PROVIDER: &str = "proveedor1@pt.test";
/// Where the stack delivers every dian.gov.co address that is not a buzón: the agents' mail.
const CATCHALL: &str = "catchall@fe.test";
/// Agents and coordinators of the built-in configuration (config/mesa-fe.example.toml).
const ANA: &str = "ana.rojas@dian.gov.co"; // N2: n2_factura, n2_documento_soporte
const MARTA: &str = "marta.quintero@dian.gov.co"; // N2: seguridad
const COORD_FACTURA: &str = "coord.factura@dian.gov.co";
/// The CUFE of the invoice in tests/fixtures/dian/ad_factura_validada_02.xml ([`Letter::xml`]).
const CUFE: &str = "d96f1533f0df6342ecdf29ead89c6039705250d2a5275e9799dc23df09a363e3fb5dcf4824c516402f73531dcba0d496";

// ------------------------------------------------------------------------------------ the desk

/// The daemon with the console on a loopback port of its own, reading and answering the general
/// buzón; the built-in agents (their mail lands in the stack's catch-all).
struct Desk {
    stack: Stack,
    daemon: Daemon,
    /// `http://127.0.0.1:PORT`.
    base: String,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("address").port()
}

async fn start_desk(processed: &str) -> Desk {
    let stack = Stack::from_env();
    for user in [GENERAL, PROVIDER, CATCHALL] {
        clear_inbox(&stack, user).await;
    }
    stack.fresh_folders(GENERAL, &[processed]).await;
    let address = format!("127.0.0.1:{}", free_port());
    // The sign-in links are built from http.direccion: the port the browser opens.
    let config = format!(
        "{auth}{buzon}[http]\ndireccion = \"{address}\"\n\n[consola]\nactiva = true\n",
        auth = trusted_mta_toml(),
        buzon = common::answering_buzon_toml(&stack, "facturaelectronica", GENERAL, processed),
    );
    let mut daemon = Daemon::new(&config);
    daemon.start_with_env(&[("MESA_FE__HTTP__DIRECCION", &address)]);
    let base = daemon.http_base().await;
    assert_eq!(base, format!("http://{address}"), "{}", daemon.log());
    Desk { stack, daemon, base }
}

impl Desk {
    /// A browser on this desk's console.
    async fn browser(&self) -> Browser {
        Browser::start(&self.base).await
    }

    /// A browser signed in as `address` by a session opened in the daemon's store (the sign-in
    /// by mail has its own test): the cookie is put in the browser as the sign-in would.
    async fn browser_as(&self, address: &str) -> Browser {
        let browser = self.browser().await;
        let token = mesa_fe::console::session::random_token();
        let csrf = mesa_fe::console::session::random_token();
        let hash = mesa_fe::console::session::token_hash(&token);
        let until = chrono::Utc::now() + chrono::Duration::hours(1);
        let store = Store::open(&self.daemon.database_url()).await.expect("open the store");
        store.create_console_session(address, &hash, &csrf, until).await.expect("session");
        store.close().await;
        browser.set_cookie(mesa_fe::console::session::COOKIE, &token).await;
        browser
    }

    /// A provider's request with the AttachedDocument, tagged `token`: its case number once it
    /// is at N2.
    async fn request_with_xml(&self, token: &str) -> String {
        let letter = Letter {
            from: PROVIDER,
            name: "Proveedor Uno",
            to: GENERAL,
            subject: &format!("Consulta factura LCE4821 ({token})"),
            message_id: &format!("{token}.solicitud@pt.test"),
            reply_to: None,
            body: "Buenas tardes. La factura LCE4821 del NIT 900.481.236-1 fue validada por la \
                   DIAN, pero el adquiriente no la encuentra en el catálogo. Adjuntamos el \
                   AttachedDocument. ¿Qué revisamos?",
            headers: "",
            xml: true,
        };
        smtp_send(&self.stack, PROVIDER, GENERAL, &letter.bytes()).await;
        self.case_at_n2(token).await.number
    }

    /// The case whose subject has `token`, once it is being worked at N2.
    async fn case_at_n2(&self, token: &str) -> CaseSummary {
        let cases = self
            .daemon
            .wait_for_cases(WAIT, |cases| {
                cases.iter().any(|c| c.subject.contains(token) && c.status == "en_atencion")
            })
            .await;
        cases.into_iter().find(|c| c.subject.contains(token)).unwrap_or_else(|| {
            panic!("no case for {token} reached N2; daemon log:\n{}", self.daemon.log())
        })
    }

    /// How many escalations the console wrote in the action log (each test has its own base).
    async fn escalations_via_console(&self) -> i64 {
        let sql = "SELECT COUNT(*) FROM case_actions WHERE via = 'consola' AND command = 'escalar'";
        self.daemon.db.fetch_i64(sql, &[]).await.unwrap_or_default()
    }

    /// How many closings the action log has, whoever wrote them (each test has its own base).
    async fn closings(&self) -> i64 {
        let sql = "SELECT COUNT(*) FROM case_actions WHERE command = 'cerrar'";
        self.daemon.db.fetch_i64(sql, &[]).await.unwrap_or_default()
    }
}

// ------------------------------------------------------------------------------------ harness

/// The harness itself: without a session the console sends the browser to the sign-in page;
/// with a session cookie it shows the bandeja with the agent's name, saved as a screenshot.
#[tokio::test]
async fn the_browser_is_sent_to_sign_in_and_with_a_session_sees_the_bandeja() {
    let desk = start_desk("t-consola-arnes").await;
    let browser = desk.browser().await;
    browser.goto("/consola/bandeja").await;
    browser.wait_path("/consola/entrar").await;
    assert!(
        browser.path().await.contains("volver=/consola/bandeja"),
        "the sign-in page brings her back: {}",
        browser.url().await
    );
    browser.close().await;

    let browser = desk.browser_as(ANA).await;
    browser.goto("/consola/bandeja").await;
    browser.wait_path("/consola/bandeja").await;
    let header = browser.text_css("header .salir").await;
    assert!(header.contains("Ana Rojas"), "signed in as Ana Rojas: {header:?}");
    let shot = browser.screenshot("bandeja-sesion").await;
    assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000), "{}", shot.display());
    browser.close().await;
}

// ------------------------------------------------------------------------------------ a

/// The sign-in link of the mail, as written in its text.
fn sign_in_link(text: &str) -> String {
    text.split_whitespace()
        .find(|word| word.starts_with("http") && word.contains("/consola/entrar/"))
        .unwrap_or_else(|| panic!("no sign-in link in the mail:\n{text}"))
        .trim_end_matches(['.', ',', '>', ')'])
        .to_string()
}

#[tokio::test]
async fn an_agent_signs_in_by_keyboard_with_the_link_read_from_her_mailbox() {
    let desk = start_desk("t-consola-entrar").await;
    let browser = desk.browser().await;
    browser.goto("/consola/bandeja").await;
    browser.wait_path("/consola/entrar").await;

    // By keyboard: from the top of the page, Tab to the address, type it, Enter.
    browser.wait("correo").await;
    browser.blur().await;
    browser.tab_to("correo").await;
    browser.keys(ANA).await;
    browser.press(Key::Enter).await;
    browser.wait_text("le llegará un enlace").await;

    let mail = wait_mail(&desk.stack, &desk.daemon, CATCHALL, "enlace para entrar", |m| {
        m.is_to(ANA) && m.subject.starts_with("Enlace para entrar a la consola")
    })
    .await;
    let link = sign_in_link(&mail.text);
    assert!(link.starts_with(&format!("{}/consola/entrar/", desk.base)), "{link}");
    let token = link.rsplit('/').next().unwrap_or_default();
    assert_eq!(token.len(), 43, "a 256-bit base64url token: {link}");

    // The link opens a confirmation (a mail scanner's GET spends nothing); Enter on `entrar`.
    browser.goto(&link).await;
    browser.wait("entrar").await;
    browser.blur().await;
    browser.tab_to("entrar").await;
    browser.press(Key::Enter).await;
    browser.wait_path("/consola/bandeja").await;
    let header = browser.text_css("header .salir").await;
    assert!(header.contains("Ana Rojas"), "signed in as Ana Rojas: {header:?}");

    // The session cookie is HttpOnly: no script in the page reads it.
    let visible = browser.client.execute("return document.cookie", vec![]).await.expect("script");
    let visible = visible.as_str().unwrap_or_default();
    assert!(!visible.contains(mesa_fe::console::session::COOKIE), "readable: {visible}");
    browser.close().await;
}

// ------------------------------------------------------------------------------------ b + c

#[tokio::test]
async fn a_case_found_by_its_cufe_is_escalated_to_n3_with_a_note_from_the_console() {
    let desk = start_desk("t-consola-cufe").await;
    let token = unique("cufe");
    let number = desk.request_with_xml(&token).await;
    wait_case(&desk.daemon, &number, "the XML is read", |d| {
        d["documents"].as_array().is_some_and(|docs| docs.iter().any(|x| x["uuid"] == CUFE))
    })
    .await;

    let browser = desk.browser_as(ANA).await;
    browser.goto("/consola/bandeja").await;
    browser.fill("buscar", CUFE).await;
    browser.click("boton-buscar").await;
    let row = format!("#casos a[href=\"/consola/caso/{number}\"]");
    browser.wait_css(&row).await;
    let listed = browser.hrefs("#casos a[href^=\"/consola/caso/\"]").await;
    assert_eq!(listed, vec![format!("/consola/caso/{number}")], "only the case with that CUFE");
    browser.click_css(&row).await;
    browser.wait_path(&format!("/consola/caso/{number}")).await;
    assert!(browser.h1().await.contains(&number), "{}", browser.whereabouts().await);
    let documents = browser.text("documentos").await;
    assert!(documents.contains(CUFE), "the XML's CUFE on the page: {documents}");
    browser.screenshot("caso").await;

    // Escalate to the next level (N3) with a note.
    let note = format!("El catálogo no encuentra el CUFE; que lo revise nivel 3 ({token}).");
    browser.fill("texto-escalar", &note).await;
    browser.select("escalar-a", "").await;
    browser.click("boton-escalar").await;
    let done = browser.wait_css("p.hecho").await.text().await.unwrap_or_default();
    assert!(!browser.has("p.aviso[role=alert]").await, "refused: {}", browser.whereabouts().await);
    assert!(!done.is_empty(), "the page says what was done");

    let detail =
        wait_case(&desk.daemon, &number, "the case at N3", |d| field(d, "level") == "n3").await;
    assert!(
        detail["actions"].as_array().is_some_and(|actions| actions.iter().any(|a| {
            a["command"] == "escalar"
                && a["refused"] == 0
                && a["author"] == ANA
                && a["text"] == note
        })),
        "the escalation with the note, by Ana: {:#}",
        detail["actions"]
    );
    assert_eq!(desk.escalations_via_console().await, 1, "recorded via «consola»");
    browser.goto(&format!("/consola/caso/{number}")).await;
    let timeline = browser.text("linea-tiempo").await;
    assert!(timeline.contains(&note), "the note in the case's timeline: {timeline}");
    browser.close().await;
}

// ------------------------------------------------------------------------------------ d

#[tokio::test]
async fn three_cases_linked_to_a_parent_get_its_solution_each_on_its_own_thread() {
    let desk = start_desk("t-consola-masiva").await;
    let token = unique("masiva");
    let parent_raw = undelivered_invoice_request(
        PROVIDER,
        "Proveedor Uno",
        GENERAL,
        &token,
        "FEPT9000",
        &format!("{token}.padre@pt.test"),
        "",
    );
    smtp_send(&desk.stack, PROVIDER, GENERAL, &parent_raw).await;
    let children: Vec<(String, String, String)> = (1..=3)
        .map(|n| {
            (
                format!("cliente{n}@clientes.test"),
                format!("{token}.hijo{n}@clientes.test"),
                format!("FEPT900{n}"),
            )
        })
        .collect();
    for (n, (from, id, document)) in children.iter().enumerate() {
        let raw = undelivered_invoice_request(
            from,
            &format!("Cliente {}", n + 1),
            GENERAL,
            &token,
            document,
            id,
            "",
        );
        smtp_send(&desk.stack, from, GENERAL, &raw).await;
    }
    let cases = desk
        .daemon
        .wait_for_cases(WAIT, |cases| {
            cases.iter().filter(|c| c.subject.contains(&token) && c.status == "en_atencion").count()
                == 4
        })
        .await;
    let number_of = |document: &str| {
        cases
            .iter()
            .find(|c| c.subject.contains(document))
            .unwrap_or_else(|| panic!("no case for {document}: {cases:?}\n{}", desk.daemon.log()))
            .number
            .clone()
    };
    let parent = number_of("FEPT9000");
    let child_numbers: Vec<String> = children.iter().map(|(_, _, doc)| number_of(doc)).collect();

    // Select the three candidates and link them in one action.
    let browser = desk.browser_as(ANA).await;
    // The candidates: open cases without a parent whose subject has the words searched.
    browser.goto(&format!("/consola/masivas/vincular?padre={parent}&q=Consulta+factura")).await;
    browser.wait("form-vincular").await;
    for child in &child_numbers {
        let checkbox =
            format!("#form-vincular input[type=checkbox][name=hijos][value=\"{child}\"]");
        browser.click_css(&checkbox).await;
    }
    browser.click("boton-vincular").await;
    browser.wait_path(&format!("/consola/masivas/{parent}")).await;
    let listed = browser.text("hijos").await;
    for child in &child_numbers {
        assert!(listed.contains(child.as_str()), "{child} among the children: {listed}");
    }
    wait_case(&desk.daemon, &parent, "three children", |d| {
        d["children"].as_array().is_some_and(|c| c.len() == 3)
    })
    .await;
    browser.goto("/consola/masivas").await;
    browser.wait("padres").await;
    browser.screenshot("masivas").await;

    // The parent's solution, previewed first, then sent.
    let solution =
        format!("La DIAN restableció el envío al adquiriente; reenvíe la factura ({token}).");
    browser.goto(&format!("/consola/caso/{parent}")).await;
    browser.fill("texto-solucionar", &solution).await;
    browser.click("vista-previa-solucionar").await;
    let preview = browser.text("vista-previa").await;
    assert!(preview.contains(&solution), "the preview shows the mail: {preview}");
    assert!(
        field(&desk.daemon.case_json(&parent).await.expect("parent"), "status") == "en_atencion",
        "a preview changes nothing"
    );
    browser.click("boton-solucionar").await;
    browser.wait_css("p.hecho").await;
    browser.screenshot("masivas-solucion").await;

    for ((address, request_id, _), number) in children.iter().zip(&child_numbers) {
        let got = wait_mail(
            &desk.stack,
            &desk.daemon,
            CATCHALL,
            &format!("solución a {address}"),
            |m| m.is_to(address) && m.text.contains(&solution),
        )
        .await;
        assert_eq!(got.in_reply_to, vec![request_id.clone()], "{address}: on his own thread");
        assert!(got.references.contains(request_id), "{address}: {:?}", got.references);
        assert!(got.subject.contains(&format!("[{number}]")), "{address}: {}", got.subject);
        wait_case(&desk.daemon, number, "the child solved", |d| {
            field(d, "status") == "solucionado"
        })
        .await;
    }
    // The parent's page counts the three mails as sent.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        browser.goto(&format!("/consola/masivas/{parent}")).await;
        let progress = browser.text("progreso").await;
        if progress.contains("3 enviados") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the progress never counted three sent mails: {progress}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    browser.screenshot("masivas-padre").await;
    browser.close().await;
}

// ------------------------------------------------------------------------------------ e

#[tokio::test]
async fn a_security_case_is_forbidden_to_an_agent_outside_the_security_group() {
    let desk = start_desk("t-consola-seguridad").await;
    let token = unique("seguridad");
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/mail/08_evento_seguridad_acceso_no_autorizado.eml"),
    )
    .expect("security fixture");
    let raw = fixture
        .replace(
            "<CAGx7Ym2wq8Fz@transcordillera.example>",
            &format!("<{token}@transcordillera.example>"),
        )
        .replace(
            "Subject: Acceso no autorizado a nuestra cuenta en el portal",
            &format!("Subject: Acceso no autorizado a nuestra cuenta en el portal ({token})"),
        );
    assert!(raw.contains(&token) && raw.contains(GENERAL), "fixture adapted");
    smtp_send(&desk.stack, "agomez@transcordillera.example", GENERAL, raw.as_bytes()).await;
    let cases =
        desk.daemon.wait_for_cases(WAIT, |c| c.iter().any(|c| c.subject.contains(&token))).await;
    let number =
        cases.iter().find(|c| c.subject.contains(&token)).expect("the case").number.clone();
    wait_case(&desk.daemon, &number, "a security case", |d| field(d, "group") == "seguridad").await;

    // Ana (N2 factura) is refused it, in the page and in the list.
    let browser = desk.browser_as(ANA).await;
    browser.goto(&format!("/consola/caso/{number}")).await;
    assert_eq!(browser.h1().await, "Sin permiso", "{}", browser.whereabouts().await);
    let body = browser.whereabouts().await;
    assert!(!body.contains("Acceso no autorizado"), "nothing of the case shows: {body}");
    let (status, _) = browser.fetch(&format!("/consola/caso/{number}"), json!({})).await;
    assert_eq!(status, 403);
    browser.goto(&format!("/consola/bandeja?q={number}")).await;
    browser.wait_css("#casos, #sin-resultados").await;
    let link = format!("a[href=\"/consola/caso/{number}\"]");
    assert!(!browser.has(&link).await, "listed to Ana: {}", browser.whereabouts().await);
    browser.close().await;

    // The security group's agent sees it.
    let browser = desk.browser_as(MARTA).await;
    browser.goto(&format!("/consola/caso/{number}")).await;
    assert!(browser.h1().await.contains(&number), "{}", browser.whereabouts().await);
    browser.close().await;
}

// ------------------------------------------------------------------------------------ f

#[tokio::test]
async fn a_forged_post_without_the_csrf_token_changes_nothing() {
    let desk = start_desk("t-consola-csrf").await;
    let token = unique("csrf");
    let number = desk.request_with_xml(&token).await;
    let browser = desk.browser_as(ANA).await;
    let page = format!("/consola/caso/{number}");
    browser.goto(&page).await;
    browser.wait("acciones").await;

    // Same origin, her cookie, no token: refused, nothing changes.
    let action = format!("/consola/caso/{number}/accion");
    let form = json!({
        "method": "POST",
        "body": "accion=cerrar&texto=x",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
    });
    let (status, body) = browser.fetch(&action, form).await;
    assert_eq!(status, 403, "{body}");
    let forged = json!({
        "method": "POST",
        "body": "accion=cerrar&texto=x&_csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
    });
    let (status, body) = browser.fetch(&action, forged).await;
    assert_eq!(status, 403, "a wrong token neither: {body}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let detail = desk.daemon.case_json(&number).await.expect("the case");
    assert_eq!(field(&detail, "status"), "en_atencion", "the case is unchanged");
    assert_eq!(desk.closings().await, 0, "no action recorded");

    // The same request with the page's own token is what closes it: the token was the reason.
    let csrf = browser
        .client
        .execute("return document.querySelector('#accion-cerrar input[name=_csrf]').value", vec![])
        .await
        .expect("the form's token");
    let csrf = csrf.as_str().expect("a token").to_string();
    let genuine = json!({
        "method": "POST",
        "body": format!("accion=cerrar&texto=x&_csrf={csrf}"),
        "headers": {"content-type": "application/x-www-form-urlencoded"},
    });
    let (status, body) = browser.fetch(&action, genuine).await;
    assert_eq!(status, 200, "the form's own POST is followed back to the page: {body}");
    wait_case(&desk.daemon, &number, "closed by the genuine form", |d| {
        field(d, "status") == "cerrado"
    })
    .await;
    browser.close().await;
}

// ------------------------------------------------------------------------------------ g

#[tokio::test]
async fn the_five_pages_render_for_a_coordinator_and_are_saved_as_screenshots() {
    let desk = start_desk("t-consola-paginas").await;
    let token = unique("paginas");
    let number = desk.request_with_xml(&token).await;
    let browser = desk.browser_as(COORD_FACTURA).await;
    let pages = [
        ("bandeja", "/consola/bandeja".to_string()),
        ("caso", format!("/consola/caso/{number}")),
        ("masivas", "/consola/masivas".to_string()),
        ("conocimiento", "/consola/conocimiento".to_string()),
        ("operacion", "/consola/operacion".to_string()),
    ];
    for (name, path) in &pages {
        browser.goto(path).await;
        browser.wait_path(path).await;
        let title = browser.h1().await;
        for error in ["Sin permiso", "No existe", "Inicie sesión", "Error", "Solicitud inválida"]
        {
            assert_ne!(title, error, "{name}: {}", browser.whereabouts().await);
        }
        let shot = browser.screenshot(name).await;
        assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000), "{}", shot.display());
    }
    browser.goto("/consola/bandeja").await;
    browser.wait_css(&format!("#casos a[href=\"/consola/caso/{number}\"]")).await;
    eprintln!("capturas en {}", screenshot_dir().display());
    browser.close().await;
}
