//! A bounce end to end against the real Postfix + Dovecot of deploy/dev/mailstack.sh (issue 14,
//! point 4): a requester writes from an address that does not exist (`rebota.test`, a domain the
//! stack accepts and then bounces, as a remote server that does not know the recipient); the
//! desk's acknowledgement goes out through Postfix, Postfix's own delivery report comes back to
//! the buzón, and the daemon reads it: the outbox row is `rebotado` with Postfix's diagnostic,
//! the case's history says the requester did not get the acknowledgement, and the agent holding
//! the case finds the notice in the agent's INBOX. Nothing is ever sent to the mailer daemon.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::mail::{
    case_number, clear_inbox, events, inbox, smtp_send, undelivered_invoice_request, unique,
    wait_case, wait_mail,
};
use common::{Daemon, Stack};

const BUZON: &str = "sd_facturaelectronica@dian.gov.co";
const AGENT: &str = "agente.n2@fe.test";
/// On the stack's bouncing domain: Postfix accepts it, then returns it with a DSN.
const NOWHERE: &str = "nadie.existe@rebota.test";
const GROUPS: &str = "[\"n2_factura\", \"n2_radian\", \"n2_nomina\", \"n2_documento_soporte\", \
                      \"n2_habilitacion\", \"n2_facturador_gratuito\"]";

fn config(stack: &Stack, processed: &str) -> String {
    format!(
        "{buzon}\
         [[agentes]]\ncorreo = \"{AGENT}\"\nnombre = \"Agente N2\"\nnivel = \"n2\"\ngrupos = {GROUPS}\nactivo = true\n",
        buzon = common::answering_buzon_toml(stack, "facturaelectronica", BUZON, processed),
    )
}

/// A stack started by an earlier version of mailstack.sh has no bouncing domain: this version's
/// Postfix settings are applied to it (a reload, nothing stops).
fn ensure_bouncing_domain() {
    let dir = std::env::var("MESA_FE_MAILSTACK_DIR").expect("MESA_FE_MAILSTACK_DIR");
    let transports = PathBuf::from(dir).join("postfix/etc/transporte");
    let settings = std::fs::read_to_string(&transports).unwrap_or_default();
    if settings.contains("rebota.test lmtp:") {
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/dev/mailstack.sh");
    let output = Command::new("bash").arg(script).arg("reload-postfix").output().expect("run");
    assert!(output.status.success(), "reload-postfix: {}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn a_reply_to_an_address_that_does_not_exist_bounces_and_the_agent_is_told() {
    ensure_bouncing_domain();
    let stack = Stack::from_env();
    for user in [BUZON, AGENT] {
        clear_inbox(&stack, user).await;
    }
    let processed = unique("rebote-procesados");
    stack.fresh_folders(BUZON, &[&processed]).await;
    let mut daemon = Daemon::new(&config(&stack, &processed));
    let token = unique("rebote");
    let request = undelivered_invoice_request(
        NOWHERE,
        "Nadie Existe",
        BUZON,
        &token,
        "FV7001",
        &format!("{token}@rebota.test"),
        "",
    );
    smtp_send(&stack, NOWHERE, BUZON, &request).await;
    daemon.start();

    let notice = wait_mail(&stack, &daemon, AGENT, "the bounce notice", |m| {
        m.is_kind("aviso_rebote") && m.subject.contains(&token)
    })
    .await;
    let number = case_number(&notice.subject);
    assert!(notice.subject.contains("Correo no entregado"), "{}", notice.subject);
    assert!(notice.text.contains("«acuse de recibo»"), "{}", notice.text);
    assert!(notice.text.contains(NOWHERE), "{}", notice.text);
    assert!(notice.text.contains("550 5.1.1"), "Postfix's words: {}", notice.text);
    assert!(notice.text.contains("User doesn't exist"), "Postfix's words: {}", notice.text);

    let detail = wait_case(&daemon, &number, "the history says it bounced", |d| {
        events(d).iter().any(|e| e["detail"].as_str().is_some_and(|t| t.contains("rebotó")))
    })
    .await;
    let note = events(&detail)
        .into_iter()
        .filter_map(|e| e["detail"].as_str())
        .find(|t| t.contains("rebotó"))
        .unwrap_or_default()
        .to_string();
    assert!(note.contains("el solicitante no lo recibió"), "{note}");
    assert!(note.contains("5.1.1") && note.contains("User doesn't exist"), "{note}");

    let listed = daemon.cli(&["outbox", "list", "--estado", "rebotado", "--json"]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let rows = rows.as_array().expect("a list");
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(
        (rows[0]["kind"].as_str(), rows[0]["to_addr"].as_str()),
        (Some("acuse_recibo"), Some(NOWHERE))
    );
    let bounce = &rows[0]["rebote"];
    assert_eq!(bounce["destinatario"], NOWHERE, "{bounce:#}");
    assert_eq!(bounce["estado"], "5.1.1", "{bounce:#}");
    let diagnostic = bounce["diagnostico"].as_str().unwrap_or_default();
    assert!(
        diagnostic.contains("550 5.1.1") && diagnostic.contains("User doesn't exist"),
        "{diagnostic}"
    );

    let shown = daemon.cli(&["outbox", "show", &rows[0]["id"].to_string()]);
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(
        shown.contains("Diagnóstico del servidor remoto: ") && shown.contains("User doesn't exist"),
        "{shown}"
    );

    // The bounce is on the case and nothing answered it: the only mail to the requester is the
    // acknowledgement that bounced.
    let to_requester: Vec<&serde_json::Value> = detail["outbox"]
        .as_array()
        .map(|rows| rows.iter().filter(|r| r["to_addr"] == NOWHERE).collect())
        .unwrap_or_default();
    assert_eq!(to_requester.len(), 1, "{to_requester:#?}");
    let from_daemon = detail["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|m| m["from_addr"].as_str().is_some_and(|a| a.starts_with("mailer-daemon")))
                .count()
        })
        .unwrap_or_default();
    assert_eq!(from_daemon, 1, "Postfix's report is kept on the case: {:#}", detail["messages"]);
    let notices =
        inbox(&stack, AGENT).await.into_iter().filter(|m| m.is_kind("aviso_rebote")).count();
    assert_eq!(notices, 1, "one notice");
}
