//! The console over HTTP (issue 15): who gets in, what every answer carries.

mod common;

use common::console::{AGENT_FACTURA, console};
use reqwest::StatusCode;

#[tokio::test]
async fn a_page_without_a_session_sends_the_browser_to_the_sign_in_form() {
    let server = console(|_| {}).await;
    let page = server.get("/consola/bandeja", None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), Some("/consola/entrar?volver=/consola/bandeja"));
    let (cookie, _) = server.session_for(AGENT_FACTURA).await;
    let page = server.get("/consola/bandeja", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Ana Rojas"), "{}", page.body);
    let csp = page.headers.get("content-security-policy").and_then(|v| v.to_str().ok());
    assert!(csp.is_some_and(|v| v.starts_with("default-src 'self'")), "{csp:?}");
}
