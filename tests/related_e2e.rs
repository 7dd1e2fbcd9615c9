//! Related cases and merged duplicates by e-mail, against the real Postfix + Dovecot of
//! deploy/dev/mailstack.sh (issue 14, points 5 and 6): the agent's `#relacionado` gives the
//! requester a new case on a thread of its own; a second request about the same invoice is shown
//! to the agent as related (same CUFE); `#fusionar` sends that duplicate into the first case, its
//! requester hears the number to use, and an answer on the duplicate's thread reaches the first
//! case. Every check is on what lands in real mailboxes and on `case show --json`.

mod common;

use common::mail::{
    Letter, Mail, case_number, clear_inbox, events, reply, smtp_send, trusted_mta_toml, unique,
    wait_case, wait_mail,
};
use common::{Daemon, Stack};
use serde_json::Value;

const ALIADOS: &str = "sd_fistrib_fe_aliados@dian.gov.co";
const PROVIDER: &str = "proveedor1@pt.test";
const N2: &str = "agente.n2@fe.test";

const N2_GROUPS: &str = "[\"n2_factura\", \"n2_radian\", \"n2_nomina\", \"n2_documento_soporte\", \
                         \"n2_habilitacion\", \"n2_facturador_gratuito\"]";

/// The aliados buzón on loopback IMAP/SMTP and one N2 agent for every N2 group.
fn config(stack: &Stack, processed: &str) -> String {
    format!(
        "{auth}{buzon}\
         [[agentes]]\ncorreo = \"{N2}\"\nnombre = \"Agente N2\"\nnivel = \"n2\"\ngrupos = {N2_GROUPS}\nactivo = true\n",
        auth = trusted_mta_toml(),
        buzon = common::answering_buzon_toml(stack, "aliados", ALIADOS, processed),
    )
}

async fn start_desk(stack: &Stack, processed: &str) -> Daemon {
    for user in [ALIADOS, PROVIDER, N2] {
        clear_inbox(stack, user).await;
    }
    stack.fresh_folders(ALIADOS, &[processed]).await;
    let mut daemon = Daemon::new(&config(stack, processed));
    daemon.start();
    daemon
}

/// The provider's request about LCE4821 with its AttachedDocument; returns its Message-ID.
async fn request(stack: &Stack, token: &str, what: &str) -> String {
    let message_id = format!("{token}.{what}@pt.test");
    let letter = Letter {
        from: PROVIDER,
        name: "Proveedor Uno",
        to: ALIADOS,
        subject: &format!("Consulta factura LCE4821 {what} ({token})"),
        message_id: &message_id,
        reply_to: None,
        body: "Buenas tardes. La factura LCE4821 del NIT 900.481.236-1 fue validada por la DIAN, \
               pero el adquiriente no la encuentra en el catálogo. Adjuntamos el AttachedDocument.",
        headers: "",
        xml: true,
    };
    smtp_send(stack, PROVIDER, ALIADOS, &letter.bytes()).await;
    message_id
}

/// The agent's notification about the case opened by the request `request_id`'s acuse.
async fn agent_notice(stack: &Stack, daemon: &Daemon, number: &str) -> Mail {
    wait_mail(stack, daemon, N2, "notificación al agente", |m| {
        m.is_kind("notificacion_agente") && m.subject.contains(&format!("[{number}]"))
    })
    .await
}

async fn acuse(stack: &Stack, daemon: &Daemon, request_id: &str) -> String {
    let ack = wait_mail(stack, daemon, PROVIDER, "acuse", |m| m.answers(request_id)).await;
    case_number(&ack.subject)
}

async fn command(stack: &Stack, to_mail: &Mail, body: &str) {
    let subject = format!("RE: {}", to_mail.subject);
    reply(stack, N2, "Agente N2", ALIADOS, to_mail, &subject, body).await;
}

fn has_event(detail: &Value, words: &str) -> bool {
    events(detail).iter().any(|e| e["detail"].as_str().unwrap_or_default().contains(words))
}

#[tokio::test]
async fn relacionado_and_fusionar_by_mail_reach_the_requester_with_the_number_to_use() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-relacionados").await;
    let token = unique("relacionados");
    let first_id = request(&stack, &token, "primera").await;
    let first = acuse(&stack, &daemon, &first_id).await;
    let first_notice = agent_notice(&stack, &daemon, &first).await;

    // #relacionado: a new case, the requester told on a thread of its own.
    let description = "La nota crédito NC-88 de la misma factura tampoco aparece en el catálogo.";
    command(&stack, &first_notice, &format!("#relacionado\n{description}")).await;
    let related = wait_mail(&stack, &daemon, PROVIDER, "aviso de caso relacionado", |m| {
        m.is_kind("aviso_caso_relacionado")
    })
    .await;
    let child = case_number(&related.subject);
    assert_ne!(child, first);
    assert!(!related.answers(&first_id), "the new case has its own thread");
    assert!(related.shown().contains(description), "{}", related.text);
    assert!(related.shown().contains(&first), "it names the earlier case: {}", related.text);
    let detail = wait_case(&daemon, &child, "the related case", |d| d["parent"] == first).await;
    assert!(has_event(&detail, &first));
    let parent = wait_case(&daemon, &first, "the parent names its child", |d| {
        d["children"].as_array().is_some_and(|c| c.iter().any(|n| *n == child))
    })
    .await;
    assert!(has_event(&parent, &child));
    agent_notice(&stack, &daemon, &child).await;

    // The same invoice again: a duplicate, shown to the agent as related by its CUFE.
    let second_id = request(&stack, &token, "segunda").await;
    let second = acuse(&stack, &daemon, &second_id).await;
    let second_notice = agent_notice(&stack, &daemon, &second).await;
    assert!(
        second_notice.shown().contains(&format!("Casos abiertos con el mismo CUFE: {first}")),
        "{}",
        second_notice.text
    );

    // #fusionar: the duplicate's requester hears the number to use, on the duplicate's thread.
    command(&stack, &second_notice, &format!("#fusionar {first}\nEs la misma consulta.")).await;
    let merged =
        wait_mail(&stack, &daemon, PROVIDER, "aviso de fusión", |m| m.is_kind("aviso_fusion"))
            .await;
    assert!(merged.subject.contains(&format!("[{second}]")), "{}", merged.subject);
    assert!(merged.answers(&second_id), "on the duplicate's thread");
    assert!(merged.shown().contains(&format!("use el número {first}")), "{}", merged.text);
    wait_case(&daemon, &second, "the duplicate is a stub", |d| {
        d["merged_into"] == first && d["status"] == "cerrado"
    })
    .await;

    // Answering on the duplicate's thread reaches the case that stayed.
    let answer = "Gracias. Quedo atento a la respuesta.";
    let subject = format!("RE: {}", merged.subject);
    reply(&stack, PROVIDER, "Proveedor Uno", ALIADOS, &merged, &subject, answer).await;
    wait_case(&daemon, &first, "the answer joins the case that stayed", |d| {
        d["merged_here"].as_array().is_some_and(|m| m.iter().any(|n| *n == second))
            && d["messages"].as_array().is_some_and(|m| {
                m.iter().any(|msg| msg["subject"].as_str().is_some_and(|s| s == subject))
            })
    })
    .await;
}
