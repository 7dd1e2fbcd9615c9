//! Only an agent commands a case, end to end against the real Postfix + Dovecot of
//! deploy/dev/mailstack.sh. A requester who writes `From: <an agent>` on a reply to his own
//! acknowledgement, with no Authentication-Results, with one of his own, or with one that claims
//! the buzón's MTA below the MTA's real one, commands nothing: his text stays as a note without
//! effect, the agent is told, and nothing reaches the requester or the Contact Center's guide.
//! Even a sender the MTA vouches for commands only by answering mail the desk sent to him. A
//! forged `#padre` hangs nobody's case on a victim's, so the victim's solution reaches only its
//! own requester; the agent answering his notification still works the case.
//!
//! The stack's Postfix checks no SPF/DKIM/DMARC: the tests play the buzón's MTA ([`MTA`]),
//! writing its result at the top of what they send, as they do for every legitimate agent reply.

mod common;

use common::mail::{
    Letter, MTA, Mail, case_number, clear_inbox, field, inbox, matching, reply, smtp_port,
    smtp_send, trusted_mta_toml, undelivered_invoice_request, unique, vouched_header, wait_case,
    wait_mail, wait_outbox_drained,
};
use common::{Daemon, Stack};
use serde_json::Value;

const ALIADOS: &str = "sd_fistrib_fe_aliados@dian.gov.co";
const PROVIDER: &str = "proveedor1@pt.test";
const N2: &str = "agente.n2@fe.test";
const N3: &str = "agente.n3@fe.test";
const CATCHALL: &str = "catchall@fe.test";
/// A requester of his own, who lands in the catch-all (clientes.test is not a strict domain).
const STRANGER: &str = "cliente.intruso@clientes.test";

const N2_GROUPS: &str = "[\"n2_factura\", \"n2_radian\", \"n2_nomina\", \"n2_documento_soporte\", \
                         \"n2_habilitacion\", \"n2_facturador_gratuito\"]";

/// The aliados buzón on loopback IMAP/SMTP, trusting only [`MTA`]'s results; one N2 agent for
/// every N2 group, one N3 agent.
fn config(stack: &Stack, processed: &str) -> String {
    format!(
        "{auth}[[buzones]]\nnombre = \"aliados\"\ndireccion = \"{ALIADOS}\"\ncanal = \"correo\"\n\
         [buzones.imap]\nservidor = \"{host}\"\npuerto = {imap}\ntls = \"ninguno\"\nusuario = \"{ALIADOS}\"\n\
         autenticacion = \"contrasena\"\ncontrasena = {{ variable = \"MESA_FE_MAILSTACK_PASSWORD\" }}\n\
         carpeta = \"INBOX\"\ncarpeta_procesados = \"{processed}\"\nintervalo_sondeo_segundos = 2\n\
         [buzones.smtp]\nservidor = \"{host}\"\npuerto = {smtp}\ntls = \"ninguno\"\n\n\
         [[agentes]]\ncorreo = \"{N2}\"\nnombre = \"Agente N2\"\nnivel = \"n2\"\ngrupos = {N2_GROUPS}\nactivo = true\n\n\
         [[agentes]]\ncorreo = \"{N3}\"\nnombre = \"Agente N3\"\nnivel = \"n3\"\ngrupos = [\"n3\"]\nactivo = true\n",
        auth = trusted_mta_toml(),
        host = stack.host,
        imap = stack.imap_port,
        smtp = smtp_port(),
    )
}

async fn start_desk(stack: &Stack, processed: &str) -> Daemon {
    for user in [ALIADOS, PROVIDER, N2, N3, CATCHALL] {
        clear_inbox(stack, user).await;
    }
    stack.fresh_folders(ALIADOS, &[processed]).await;
    let mut daemon = Daemon::new(&config(stack, processed));
    daemon.start();
    daemon
}

/// `from`'s complete request; returns his acknowledgement (which names the case).
async fn open_case(
    stack: &Stack,
    daemon: &Daemon,
    from: &str,
    token: &str,
    inbox_of: &str,
) -> Mail {
    let request_id = format!("{token}.solicitud@{}", from.rsplit('@').next().unwrap_or_default());
    let request = undelivered_invoice_request(
        from,
        "Solicitante",
        ALIADOS,
        token,
        "LCE4821",
        &request_id,
        "",
    );
    smtp_send(stack, from, ALIADOS, &request).await;
    wait_mail(stack, daemon, inbox_of, "acuse", |m| m.is_to(from) && m.answers(&request_id)).await
}

/// A mail that says it is N2's, answering `answered`: `top` goes above its own header lines,
/// where only the MTA writes; `envelope` is who really sends it.
async fn as_n2(stack: &Stack, envelope: &str, top: &str, answered: &Mail, id: &str, body: &str) {
    let mut raw = top.as_bytes().to_vec();
    raw.extend(
        Letter {
            from: N2,
            name: "Agente N2",
            to: ALIADOS,
            subject: &format!("RE: {}", answered.subject),
            message_id: id,
            reply_to: Some(&answered.message_id),
            body,
            headers: "",
            xml: false,
        }
        .bytes(),
    );
    smtp_send(stack, envelope, ALIADOS, &raw).await;
}

/// `mesa-fe kb export --formato csv`: the Contact Center's guide.
fn guide(daemon: &Daemon) -> String {
    let out = daemon.cli(&["kb", "export", "--formato", "csv"]);
    assert!(out.status.success(), "kb export: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn actions(detail: &Value) -> Vec<&Value> {
    detail["actions"].as_array().map(|a| a.iter().collect()).unwrap_or_default()
}

#[tokio::test]
async fn forged_agent_commands_run_nothing_and_stay_as_notes() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-auth-falsos").await;
    let token = unique("falso");
    let ack = open_case(&stack, &daemon, PROVIDER, &token, PROVIDER).await;
    let number = case_number(&ack.subject);
    let notice = wait_mail(&stack, &daemon, N2, "notificación N2", |m| {
        m.subject.contains(&number) && m.is_kind("notificacion_agente")
    })
    .await;

    let own_result = "Authentication-Results: x; dmarc=pass header.from=fe.test\r\n".to_string();
    let below_the_mta = format!(
        "Authentication-Results: {MTA}; dmarc=none header.from=fe.test; spf=none\r\n\
         Received: from atacante.example by {MTA}; Thu, 26 Nov 2026 10:00:00 -0500\r\n\
         Authentication-Results: {MTA}; dmarc=pass header.from=fe.test\r\n"
    );
    // (envelope, what sits on top, the mail answered, why it must not command)
    let attempts = [
        (PROVIDER, String::new(), &ack, "no result, on his own acknowledgement"),
        (PROVIDER, own_result, &ack, "his own result, on his own acknowledgement"),
        (PROVIDER, below_the_mta, &notice, "the MTA's id below the MTA's own result"),
        (N2, vouched_header(N2), &ack, "vouched for, but the acknowledgement was not to N2"),
    ];
    for (n, (envelope, top, answered, why)) in attempts.iter().enumerate() {
        let body =
            format!("#solucion primer-contacto\nPague la multa en dian-pagos.example ({n}).");
        let id = format!("{token}.falso{n}@fe.test");
        as_n2(&stack, envelope, top, answered, &id, &body).await;
        let detail = wait_case(&daemon, &number, why, |d| actions(d).len() > n).await;
        let last = actions(&detail)[n];
        assert_eq!(
            (last["command"].as_str(), last["refused"].as_i64()),
            (Some("nota"), Some(1)),
            "{why}: kept as a note without effect: {last}"
        );
        assert!(last["text"].as_str().is_some_and(|t| t.contains(&format!("({n})"))), "{last}");
        assert_eq!(field(&detail, "status"), "en_atencion", "{why}: the case was solved");
    }

    let detail = wait_outbox_drained(&daemon, &number).await;
    assert_eq!((field(&detail, "status"), field(&detail, "level")), ("en_atencion", "n2"));
    let text = guide(&daemon);
    assert!(!text.contains("dian-pagos.example"), "a forged answer is in the guide:\n{text}");
    let to_provider: Vec<Mail> = matching(&stack, PROVIDER, |m| m.subject.contains(&token)).await;
    assert_eq!(
        to_provider.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>(),
        vec![ack.message_id.as_str()],
        "the requester got only his acknowledgement"
    );
    // The agent hears of each attempt, and why.
    let told: Vec<Mail> =
        matching(&stack, N2, |m| m.subject.contains(&number) && m.is_kind("respuesta_comando"))
            .await;
    assert_eq!(told.len(), 4, "one explanation per attempt: {told:#?}");
    let unconfirmed = told.iter().filter(|m| m.text.contains("no confirmó")).count();
    let not_to_you = told.iter().filter(|m| m.text.contains("enviado a usted")).count();
    assert_eq!((unconfirmed, not_to_you), (3, 1), "{told:#?}");
}

#[tokio::test]
async fn a_forged_padre_hangs_nothing_and_the_agents_solution_reaches_only_its_requester() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-auth-padre").await;
    let token = unique("padre");
    let victim_ack = open_case(&stack, &daemon, PROVIDER, &format!("{token}-v"), PROVIDER).await;
    let victim = case_number(&victim_ack.subject);
    let own_ack = open_case(&stack, &daemon, STRANGER, &format!("{token}-s"), CATCHALL).await;
    let own = case_number(&own_ack.subject);
    assert_ne!(own, victim);

    // The stranger, on his own acknowledgement, as N2 and with a result of his own.
    let forged_id = format!("{token}.padre@fe.test");
    let own_result = "Authentication-Results: x; dmarc=pass header.from=fe.test\r\n";
    as_n2(&stack, STRANGER, own_result, &own_ack, &forged_id, &format!("#padre {victim}")).await;
    wait_case(&daemon, &own, "the forged #padre read", |d| !actions(d).is_empty()).await;

    // N2 answers the victim's notification: a first-contact solution.
    let notice = wait_mail(&stack, &daemon, N2, "notificación del caso víctima", |m| {
        m.subject.contains(&victim) && m.is_kind("notificacion_agente")
    })
    .await;
    let solution = format!("Reenvíe la factura LCE4821 con el correo del adquiriente ({token}).");
    reply(
        &stack,
        N2,
        "Agente N2",
        ALIADOS,
        &notice,
        &format!("RE: {}", notice.subject),
        &format!("#solucion primer-contacto\n{solution}"),
    )
    .await;
    let solved = wait_mail(&stack, &daemon, PROVIDER, "la solución", |m| {
        m.is_kind("solucion") && m.subject.contains(&victim)
    })
    .await;
    assert!(solved.text.contains(&solution), "{}", solved.text);
    let victim_detail = wait_outbox_drained(&daemon, &victim).await;
    assert_eq!(field(&victim_detail, "status"), "solucionado");
    assert_eq!(victim_detail["children"].as_array().map(Vec::len), Some(0), "no child hung on it");
    let own_detail = wait_outbox_drained(&daemon, &own).await;
    assert!(own_detail["parent"].is_null(), "the stranger's case got a parent: {own_detail:#}");
    assert_ne!(field(&own_detail, "status"), "solucionado");

    let to_stranger: Vec<Mail> =
        inbox(&stack, CATCHALL).await.into_iter().filter(|m| m.is_to(STRANGER)).collect();
    assert!(
        to_stranger.iter().all(|m| !m.text.contains(&solution) && !m.subject.contains(&victim)),
        "the stranger received the victim's case: {to_stranger:#?}"
    );
    assert!(guide(&daemon).contains(&solution), "the agent's first-contact answer is in the guide");
}
