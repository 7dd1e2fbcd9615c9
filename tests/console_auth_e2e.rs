//! Signing in to the console with a link read from the agent's mailbox: the console's router
//! sends the link through the real Postfix of the mail stack, Dovecot delivers it (dian.gov.co
//! addresses land in the catch-all, with their `To:`), and the link from that mail opens a
//! session.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::Stack;
use common::console::{AGENT_FACTURA, console};
use common::mail::{Mail, WAIT, folder, smtp_port};
use mesa_fe::config::SmtpSettings;
use reqwest::StatusCode;

const CATCHALL: &str = "catchall@fe.test";
const SUBJECT: &str = "Enlace para entrar a la consola";

fn is_link_mail(mail: &Mail) -> bool {
    mail.subject.starts_with(SUBJECT) && mail.is_to(AGENT_FACTURA)
}

#[tokio::test]
async fn an_agent_signs_in_with_the_link_from_their_mailbox() {
    let stack = Stack::from_env();
    let smtp: SmtpSettings = toml::from_str(&format!(
        "servidor = \"{}\"\npuerto = {}\ntls = \"ninguno\"",
        stack.host,
        smtp_port()
    ))
    .expect("smtp settings");
    let server = console(|config| config.buzones[0].smtp = Some(smtp)).await;
    let earlier: HashSet<String> = folder(&stack, CATCHALL, "INBOX")
        .await
        .into_iter()
        .filter(|(m, _)| is_link_mail(m))
        .map(|(m, _)| m.message_id)
        .collect();

    let asked = server.post("/consola/entrar", None, &[("correo", AGENT_FACTURA)]).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);

    let deadline = Instant::now() + WAIT;
    let (mail, raw) = loop {
        let found = folder(&stack, CATCHALL, "INBOX")
            .await
            .into_iter()
            .find(|(m, _)| is_link_mail(m) && !earlier.contains(&m.message_id));
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "no sign-in mail reached {AGENT_FACTURA} in {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let link = mail
        .text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("http") && l.contains("/consola/entrar/"))
        .unwrap_or_else(|| panic!("no link in:\n{}", mail.text))
        .to_string();
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        raw.lines().any(|l| l.trim_end() == link),
        "the link whole on one line of the raw mail"
    );
    assert!(raw.contains("Auto-Submitted: auto-generated"), "{raw}");
    assert!(
        mail.text.contains("15 minutos") && mail.text.contains("una sola vez"),
        "{}",
        mail.text
    );

    let path = &link[link.find("/consola/").expect("console path")..];
    let entered = server.post(path, None, &[]).await;
    assert_eq!(entered.status, StatusCode::SEE_OTHER, "{}", entered.body);
    assert_eq!(entered.location(), Some("/consola/bandeja"));
    let cookie = entered.headers.get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie");
    let cookie = cookie.split(';').next().unwrap_or_default();
    let inbox = server.get("/consola/bandeja", Some(cookie)).await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert!(inbox.body.contains("Ana Rojas"), "{}", inbox.body);
    assert_eq!(server.post(path, None, &[]).await.status, StatusCode::BAD_REQUEST, "single use");
}
