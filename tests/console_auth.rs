//! Signing in and out of the console (issue 15), over HTTP against the daemon's router, without
//! the mail stack: the sign-in mail goes to a small SMTP listener of the test's, which keeps what
//! it is given. What every console page shares: no page without a session, CSRF on every POST,
//! the cookie's attributes, no query string or address in the access log, revocation.

mod common;

use std::sync::{Arc, Mutex, OnceLock};

use common::console::{AGENT_FACTURA, ConsoleServer, Page, console};
use common::html::{assert_accessible, problems};
use mesa_fe::config::{Config, SmtpSettings};
use mesa_fe::console::session::{random_token, token_hash};
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const UNKNOWN: &str = "nadie@empresa.example";
const SENT_TEXT: &str = "Si la dirección es de un agente o coordinador de la mesa, le llegará";

// ---------------------------------------------------------------------------------------------
// A minimal SMTP server on a loopback port: accepts everything, keeps each message's DATA.

type Mailbag = Arc<Mutex<Vec<String>>>;

async fn smtp_listener() -> (u16, Mailbag) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
    let port = listener.local_addr().expect("address").port();
    let bag: Mailbag = Arc::default();
    let kept = bag.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(smtp_session(stream, kept.clone()));
        }
    });
    (port, bag)
}

async fn smtp_session(stream: tokio::net::TcpStream, bag: Mailbag) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let _ = write.write_all(b"220 prueba ESMTP\r\n").await;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-prueba\r\n250 8BITMIME\r\n",
            "DATA" => {
                let _ = write.write_all(b"354 adelante\r\n").await;
                let mut message = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    message.push_str(&line);
                }
                bag.lock().expect("bag").push(message);
                b"250 2.0.0 Ok: queued\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 adios\r\n").await;
                return;
            }
            _ => b"250 ok\r\n",
        };
        let _ = write.write_all(reply).await;
    }
}

fn smtp_at(port: u16) -> SmtpSettings {
    toml::from_str(&format!("servidor = \"127.0.0.1\"\npuerto = {port}\ntls = \"ninguno\""))
        .expect("smtp settings")
}

/// The console whose first buzón sends through the test's SMTP listener.
async fn console_with_smtp(adjust: impl FnOnce(&mut Config)) -> (ConsoleServer, Mailbag) {
    let (port, bag) = smtp_listener().await;
    let server = console(|config| {
        config.buzones[0].smtp = Some(smtp_at(port));
        adjust(config);
    })
    .await;
    (server, bag)
}

/// The sign-in URL of a mail (the line that has `/consola/entrar/`).
fn link_of(mail: &str) -> String {
    mail.lines()
        .map(str::trim)
        .find(|l| l.starts_with("http") && l.contains("/consola/entrar/"))
        .unwrap_or_else(|| panic!("no link in the mail:\n{mail}"))
        .to_string()
}

/// The path of a link (the links point to the configured address, not the test's port).
fn path_of(link: &str) -> String {
    let at = link.find("/consola/").unwrap_or_else(|| panic!("not a console link: {link}"));
    link[at..].to_string()
}

/// A link written straight into the store: its token.
async fn stored_link(server: &ConsoleServer, address: &str, minutes: i64) -> String {
    let token = random_token();
    let until = chrono::Utc::now() + chrono::Duration::minutes(minutes);
    server.store().create_console_link(address, &token_hash(&token), until).await.expect("link");
    token
}

fn set_cookie(page: &Page) -> String {
    page.headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Set-Cookie: {:?}", page.headers))
        .to_string()
}

/// `name=value` of a `Set-Cookie`, as a `Cookie` header.
fn cookie_header(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_string()
}

/// The `<main>` of a page: what the person reads.
fn main_of(body: &str) -> &str {
    let start = body.find("<main").unwrap_or(0);
    let end = body.find("</main>").unwrap_or(body.len());
    &body[start..end]
}

// ---------------------------------------------------------------------------------------------
// Every console route without a session.

/// Every page of the console (all but the sign-in form and the static files).
const GET_ROUTES: &[&str] = &[
    "/consola/bandeja",
    "/consola/bandeja?q=900123456",
    "/consola/caso/FE-2026-000001",
    "/consola/caso/FE-2026-000001/adjunto/1/0",
    "/consola/masivas",
    "/consola/masivas/vincular?padre=FE-2026-000001",
    "/consola/masivas/FE-2026-000001",
    "/consola/conocimiento",
    "/consola/conocimiento/guia.md",
    "/consola/conocimiento/guia.csv",
    "/consola/operacion",
    "/consola/operacion/cuarentena/1",
];

/// Every form of the console.
const POST_ROUTES: &[&str] = &[
    "/consola/caso/FE-2026-000001/accion",
    "/consola/masivas/vincular",
    "/consola/conocimiento/propuesta",
    "/consola/conocimiento/aprobar",
    "/consola/operacion/cola/1/reintentar",
    "/consola/operacion/cuarentena/1/reprocesar",
    "/consola/operacion/cuarentena/1/descartar",
    "/consola/salir",
];

#[tokio::test]
async fn every_console_route_without_a_session_goes_to_the_sign_in_form_or_is_refused() {
    let server = console(|_| {}).await;
    for path in GET_ROUTES {
        let page = server.get(path, None).await;
        let bare = path.split('?').next().unwrap_or_default();
        let expected = format!("/consola/entrar?volver={bare}");
        assert_eq!(page.status, StatusCode::SEE_OTHER, "GET {path}");
        assert_eq!(page.location(), Some(expected.as_str()), "GET {path}");
        assert!(!page.body.contains("<h1>"), "GET {path} shows a page: {}", page.body);
    }
    // A valid CSRF token without its cookie changes nothing: the session is the cookie.
    let (_, csrf) = server.session_for(AGENT_FACTURA).await;
    for path in POST_ROUTES {
        let page = server.post(path, None, &[("_csrf", &csrf), ("accion", "nota")]).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "POST {path}");
    }
    // A forged or stale cookie is no session either.
    let forged = format!("mesa_fe_sesion={}", random_token());
    let page = server.get("/consola/bandeja", Some(&forged)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

// ---------------------------------------------------------------------------------------------
// The sign-in by link.

#[tokio::test]
async fn a_link_by_mail_opens_a_session_once_with_a_strict_http_only_cookie() {
    let (server, bag) = console_with_smtp(|_| {}).await;
    let form = server.get("/consola/entrar", None).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(r#"id="correo" name="correo" type="email""#), "{}", form.body);
    assert!(form.body.contains(r#"<button id="enviar-enlace" type="submit">"#), "{}", form.body);
    assert_accessible(&form.body);

    let asked = server.post("/consola/entrar", None, &[("correo", "Ana.Rojas@dian.gov.co ")]).await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.body.contains(SENT_TEXT), "{}", asked.body);
    assert_accessible(&asked.body);
    let mails = bag.lock().expect("bag").clone();
    assert_eq!(mails.len(), 1, "one mail");
    let mail = &mails[0];
    assert!(mail.contains("Subject: Enlace para entrar a la consola de mesa-fe"), "{mail}");
    assert!(mail.contains("Auto-Submitted: auto-generated"), "{mail}");
    assert!(
        mail.contains("From: ") && mail.contains("sd_facturaelectronica@dian.gov.co"),
        "{mail}"
    );
    assert!(mail.contains(&format!("To: {AGENT_FACTURA}")), "{mail}");
    assert!(mail.contains("Message-ID: <consola."), "{mail}");
    assert!(mail.contains("15 minutos") && mail.contains("una sola vez"), "{mail}");
    assert!(mail.contains("Si usted no lo pidió, ignore este correo"), "{mail}");
    assert!(mail.contains("text/html"), "{mail}");
    assert!(mail.contains("Content-Transfer-Encoding: 8bit"), "the link stays on one line: {mail}");
    let link = link_of(mail);
    let token = link.rsplit('/').next().unwrap_or_default();
    assert_eq!(token.len(), 43, "{link}");
    let config = server.desk().config.clone();
    let base = config.consola.base_url(&config.http.address);
    assert_eq!(link, format!("{base}/consola/entrar/{token}"), "the console's address");
    let path = path_of(&link);

    // Fetching the link (a mail scanner does) does not spend it.
    for _ in 0..2 {
        let confirm = server.get(&path, None).await;
        assert_eq!(confirm.status, StatusCode::OK);
        assert!(confirm.body.contains(r#"<button id="entrar" type="submit">"#), "{}", confirm.body);
        assert_accessible(&confirm.body);
    }
    let entered = server.post(&path, None, &[("volver", "")]).await;
    assert_eq!(entered.status, StatusCode::SEE_OTHER);
    assert_eq!(entered.location(), Some("/consola/bandeja"));
    let cookie = set_cookie(&entered);
    for part in ["HttpOnly", "SameSite=Strict", "Path=/consola", "Max-Age=43200"] {
        assert!(cookie.split("; ").any(|p| p == part), "{part} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no Secure over http on loopback: {cookie}");
    let inbox = server.get("/consola/bandeja", Some(&cookie_header(&cookie))).await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert!(inbox.body.contains("Ana Rojas"), "{}", inbox.body);

    // Spent: the page says so, with a way to ask for another; no second session.
    for spent in [server.post(&path, None, &[]).await, server.get(&path, None).await] {
        assert_eq!(spent.status, StatusCode::BAD_REQUEST);
        assert!(spent.body.contains("ya se usó o venció"), "{}", spent.body);
        assert!(spent.body.contains(r#"href="/consola/entrar""#), "{}", spent.body);
        assert!(spent.headers.get("set-cookie").is_none());
        assert_accessible(&spent.body);
    }
    let open = server.store().open_console_sessions().await.expect("sessions");
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].address, AGENT_FACTURA);
}

#[tokio::test]
async fn an_expired_link_opens_nothing_and_says_so() {
    let server = console(|_| {}).await;
    let token = stored_link(&server, AGENT_FACTURA, -1).await;
    let path = format!("/consola/entrar/{token}");
    let page = server.get(&path, None).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("ya se usó o venció"), "{}", page.body);
    let page = server.post(&path, None, &[]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.headers.get("set-cookie").is_none());
    assert!(server.store().open_console_sessions().await.expect("sessions").is_empty());
    let unknown = server.post(&format!("/consola/entrar/{}", random_token()), None, &[]).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn volver_is_followed_only_to_a_page_of_the_console() {
    let server = console(|_| {}).await;
    for evil in
        ["//evil.example", "https://evil.example/consola/", "/consola//evil.example", "/\\evil"]
    {
        let form = server
            .get(&format!("/consola/entrar?volver={}", common::console::encode(evil)), None)
            .await;
        assert!(form.body.contains(r#"name="volver" value="""#), "{evil}: {}", form.body);
        let token = stored_link(&server, AGENT_FACTURA, 10).await;
        let entered =
            server.post(&format!("/consola/entrar/{token}"), None, &[("volver", evil)]).await;
        assert_eq!(entered.status, StatusCode::SEE_OTHER, "{evil}");
        assert_eq!(entered.location(), Some("/consola/bandeja"), "{evil}");
    }
    let token = stored_link(&server, AGENT_FACTURA, 10).await;
    let case = "/consola/caso/FE-2026-000007";
    let entered = server.post(&format!("/consola/entrar/{token}"), None, &[("volver", case)]).await;
    assert_eq!(entered.location(), Some(case));
}

#[tokio::test]
async fn behind_an_https_public_url_the_cookie_is_secure() {
    let server = console(|config| config.consola.public_url = "https://mesa.example/".into()).await;
    let token = stored_link(&server, AGENT_FACTURA, 10).await;
    let entered = server.post(&format!("/consola/entrar/{token}"), None, &[]).await;
    let cookie = set_cookie(&entered);
    assert!(cookie.split("; ").any(|p| p == "Secure"), "{cookie}");
}

#[tokio::test]
async fn unknown_and_rate_limited_addresses_get_the_same_page_and_no_mail() {
    let (server, bag) = console_with_smtp(|config| config.consola.links_per_hour = 2).await;
    let known = server.post("/consola/entrar", None, &[("correo", AGENT_FACTURA)]).await;
    let unknown = server.post("/consola/entrar", None, &[("correo", UNKNOWN)]).await;
    assert_eq!(unknown.status, known.status);
    assert_eq!(main_of(&unknown.body), main_of(&known.body));
    assert!(known.body.contains(SENT_TEXT));
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    assert_eq!(server.store().console_links_since(UNKNOWN, since).await.expect("count"), 0);
    assert_eq!(bag.lock().expect("bag").len(), 1, "only the known address got a mail");

    let second = server.post("/consola/entrar", None, &[("correo", AGENT_FACTURA)]).await;
    let limited = server.post("/consola/entrar", None, &[("correo", AGENT_FACTURA)]).await;
    assert_eq!(main_of(&second.body), main_of(&known.body));
    assert_eq!(limited.status, known.status);
    assert_eq!(main_of(&limited.body), main_of(&known.body));
    assert_eq!(bag.lock().expect("bag").len(), 2, "the third within the hour is not sent");
    let links = server.store().console_links_since(AGENT_FACTURA, since).await.expect("count");
    assert_eq!(links, 2);
}

#[tokio::test]
async fn without_smtp_the_page_tells_operators_what_to_configure() {
    let server = console(|config| {
        for buzon in &mut config.buzones {
            buzon.smtp = None;
        }
    })
    .await;
    let page = server.post("/consola/entrar", None, &[("correo", AGENT_FACTURA)]).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.body.contains("[buzones.smtp]") && page.body.contains("http.direccion"),
        "{}",
        page.body
    );
    assert_accessible(&page.body);
}

#[tokio::test]
async fn when_the_smtp_server_fails_the_page_says_to_try_again_in_a_minute() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let server = console(|config| config.buzones[0].smtp = Some(smtp_at(port))).await;
    let page = server.post("/consola/entrar", None, &[("correo", AGENT_FACTURA)]).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.body.contains("Intente de nuevo en un"), "{}", page.body);
    assert_accessible(&page.body);
}

// ---------------------------------------------------------------------------------------------
// Sessions: CSRF, signing out, revocation.

#[tokio::test]
async fn a_forged_post_without_the_csrf_token_is_refused_and_the_session_still_works() {
    let server = console(|_| {}).await;
    let (cookie, csrf) = server.session_for(AGENT_FACTURA).await;
    let wrong = random_token();
    for fields in [vec![], vec![("_csrf", wrong.as_str())], vec![("_csrf", "")]] {
        let page = server.post("/consola/salir", Some(&cookie), &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{fields:?}");
        assert!(page.body.contains("CSRF"), "{}", page.body);
        assert!(page.headers.get("set-cookie").is_none());
        let still = server.get("/consola/bandeja", Some(&cookie)).await;
        assert_eq!(still.status, StatusCode::OK, "the session survives {fields:?}");
        assert_accessible(&still.body);
    }
    let out = server.post("/consola/salir", Some(&cookie), &[("_csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), Some("/consola/entrar"));
    assert!(set_cookie(&out).contains("Max-Age=0"), "{}", set_cookie(&out));
    let after = server.get("/consola/bandeja", Some(&cookie)).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "signed out");
}

#[tokio::test]
async fn a_revoked_session_goes_back_to_the_sign_in_form() {
    let server = console(|_| {}).await;
    let (cookie, _) = server.session_for(AGENT_FACTURA).await;
    assert_eq!(server.get("/consola/bandeja", Some(&cookie)).await.status, StatusCode::OK);
    assert_eq!(server.store().revoke_console_sessions(AGENT_FACTURA).await.expect("revoke"), 1);
    let page = server.get("/consola/bandeja", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), Some("/consola/entrar?volver=/consola/bandeja"));
}

fn cli(server: &ConsoleServer, state: &std::path::Path, args: &[&str]) -> (bool, String) {
    let mut command = common::local::mesa_fe(state);
    server.fixture.db.apply(&mut command);
    let output = command.args(args).output().expect("run mesa-fe");
    (output.status.success(), common::local::text(&output))
}

#[tokio::test]
async fn sesiones_listar_and_revocar_through_the_binary() {
    let server = console(|_| {}).await;
    let state = tempfile::tempdir().expect("state dir");
    let (none_ok, none) = cli(&server, state.path(), &["sesiones", "listar"]);
    assert!(none_ok && none.contains("No hay sesiones abiertas"), "{none}");
    let (cookie, _) = server.session_for(AGENT_FACTURA).await;
    let (other, _) = server.session_for(AGENT_FACTURA).await;
    let link = stored_link(&server, AGENT_FACTURA, 10).await;

    let (ok, listed) = cli(&server, state.path(), &["sesiones", "listar"]);
    assert!(ok, "{listed}");
    assert!(listed.contains("CORREO") && listed.contains("VENCE"), "{listed}");
    assert_eq!(listed.lines().filter(|l| l.starts_with(AGENT_FACTURA)).count(), 2, "{listed}");

    let (ok, revoked) =
        cli(&server, state.path(), &["sesiones", "revocar", "Ana.Rojas@dian.gov.co"]);
    assert!(ok, "{revoked}");
    assert!(revoked.contains("2 sesiones revocadas"), "{revoked}");
    for cookie in [&cookie, &other] {
        assert_eq!(
            server.get("/consola/bandeja", Some(cookie)).await.status,
            StatusCode::SEE_OTHER
        );
    }
    let unused = server.post(&format!("/consola/entrar/{link}"), None, &[]).await;
    assert_eq!(unused.status, StatusCode::BAD_REQUEST, "its unused link is spent too");

    let (ok, nobody) = cli(&server, state.path(), &["sesiones", "revocar", UNKNOWN]);
    assert!(ok && nobody.contains("0 sesiones revocadas"), "{nobody}");
    let (_, empty) = cli(&server, state.path(), &["sesiones", "listar"]);
    assert!(empty.contains("No hay sesiones abiertas"), "{empty}");
}

// ---------------------------------------------------------------------------------------------
// The access log.

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything logged in this process at info and above from the moment of the first call
/// (the server's tasks log from other threads: a global subscriber, installed once).
fn captured_log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buffer
    })
    .clone()
}

fn log_text(log: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&log.lock().expect("log")).into_owned()
}

#[tokio::test]
async fn the_access_log_has_path_and_status_but_no_query_address_nit_or_token() {
    let log = captured_log();
    let (server, bag) = console_with_smtp(|_| {}).await;
    let (cookie, _) = server.session_for(AGENT_FACTURA).await;
    let page = server.get("/consola/bandeja?q=900123456&correo=ana@x.co", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);

    // A whole sign-in, a rate-limit refusal and an unknown address: none of them in the log.
    let _ = server.post("/consola/entrar", None, &[("correo", AGENT_FACTURA)]).await;
    let _ = server.post("/consola/entrar", None, &[("correo", UNKNOWN)]).await;
    let link = link_of(&bag.lock().expect("bag")[0]);
    let token = link.rsplit('/').next().unwrap_or_default().to_string();
    let entered = server.post(&path_of(&link), None, &[]).await;
    assert_eq!(entered.status, StatusCode::SEE_OTHER);

    let text = log_text(&log);
    let line = text
        .lines()
        .find(|l| l.contains("path=/consola/bandeja"))
        .unwrap_or_else(|| panic!("no access line for the inbox:\n{text}"));
    assert!(line.contains("status=200"), "{line}");
    assert!(text.contains("path=/consola/entrar/…"), "the link's path, without its token:\n{text}");
    for secret in ["900123456", "ana@x.co", "q=", AGENT_FACTURA, UNKNOWN, token.as_str()] {
        assert!(!text.contains(secret), "{secret} reached the log:\n{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// The page check itself (tests/common/html.rs): one page that breaks each rule.

const GOOD: &str = r#"<!doctype html>
<html lang="es"><head><meta charset="utf-8"><title>Bien · mesa-fe</title>
<link rel="stylesheet" href="/consola/static/consola.css">
<script src="/consola/static/consola.js" defer></script></head>
<body><main><h1>Bien</h1>
<!-- un comentario <b> -->
<form method="post" action="/consola/x">
<input type="hidden" name="_csrf" value="x">
<label for="q">Buscar</label><input id="q" name="q" type="search">
<label>Nivel <select name="nivel"><option value="">Todos</option></select></label>
<textarea name="texto" aria-label="Texto"></textarea>
<button type="submit">Enviar</button><button type="button" aria-label="Cerrar">×</button>
<br><img src="/consola/static/logo.png" alt="logo">
</form></main></body></html>"#;

fn with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

#[test]
fn the_html_check_accepts_a_good_page() {
    assert_accessible(GOOD);
}

#[test]
fn the_html_check_refuses_each_broken_rule() {
    let cases = [
        (with("</html>", ""), "sin cerrar"),
        (with("<h1>Bien</h1>", "<h1>Bien</h1></p>"), "sin etiqueta de apertura"),
        (with("<main><h1>Bien</h1>", "<main><div><h1>Bien</h1>"), "cierra también"),
        (with(r#"<html lang="es">"#, "<html>"), "lang"),
        (with("<h1>Bien</h1>", "<h1>Bien</h1><h1>Otra</h1>"), "<h1>"),
        (with("<h1>Bien</h1>", "<h2>Bien</h2>"), "<h1>"),
        (with("<title>Bien · mesa-fe</title>", "<title> </title>"), "<title>"),
        (
            with(r#"id="q" name="q""#, r#"id="dup" name="q""#)
                .replace("<main>", r#"<main id="dup">"#),
            "repetido",
        ),
        (with(r#"<label for="q">Buscar</label>"#, ""), r#"<input name="q">"#),
        (with(r#" aria-label="Texto""#, ""), "<textarea"),
        (
            with(
                r#"<label>Nivel <select name="nivel"><option value="">Todos</option></select></label>"#,
                r#"<select name="nivel"></select>"#,
            ),
            "<select",
        ),
        (with(">Enviar</button>", "> </button>"), "<button> sin texto"),
        (with(r#"defer></script>"#, "defer>alert(1)</script>"), "<script>"),
        (with("</head>", "<style>h1{}</style></head>"), "<style>"),
        (with("<h1>Bien</h1>", r#"<h1 style="color:red">Bien</h1>"#), "style="),
        (with("/consola/static/logo.png", "https://cdn.example/logo.png"), "otro servidor"),
        (
            with(r#"href="/consola/static/consola.css""#, r#"href="//cdn.example/x.css""#),
            "otro servidor",
        ),
        (with(r#"action="/consola/x""#, r#"action="http://evil.example/""#), "otro servidor"),
    ];
    for (page, expected) in cases {
        let found = problems(&page);
        assert!(found.iter().any(|p| p.contains(expected)), "{expected:?} not in {found:?}");
    }
}
