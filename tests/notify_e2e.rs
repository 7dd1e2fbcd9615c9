//! How the desk's mail reads and threads, end to end against the real Postfix + Dovecot of
//! deploy/dev/mailstack.sh (issue 14, points 9, 8 and 3): an agent's solution reaches the
//! requester as a person's letter (no `Auto-Submitted`, no "mensaje automático", paragraphs in
//! HTML) while the desk's own acknowledgement keeps those marks; every mail to an agent about one
//! case threads on one conversation; an Aranda notification is never asked for requirements.

mod common;

use common::mail::{
    Letter, Mail, case_number, clear_inbox, field, folder, reply, smtp_port, smtp_send,
    trusted_mta_toml, unique, vouched_header, wait_case, wait_mail,
};
use common::{Daemon, Stack};

const GENERAL: &str = "sd_facturaelectronica@dian.gov.co";
const REQUESTER: &str = "proveedor1@pt.test";
const N2: &str = "agente.n2@fe.test";
const CATCHALL: &str = "catchall@fe.test";

const N2_GROUPS: &str = "[\"n2_factura\", \"n2_radian\", \"n2_nomina\", \"n2_documento_soporte\", \
                         \"n2_habilitacion\", \"n2_facturador_gratuito\"]";

/// The general buzón on loopback IMAP/SMTP, one N2 agent for every N2 group.
fn config(stack: &Stack, processed: &str) -> String {
    format!(
        "{auth}[[buzones]]\nnombre = \"facturaelectronica\"\ndireccion = \"{GENERAL}\"\ncanal = \"correo\"\n\
         [buzones.imap]\nservidor = \"{host}\"\npuerto = {imap}\ntls = \"ninguno\"\nusuario = \"{GENERAL}\"\n\
         autenticacion = \"contrasena\"\ncontrasena = {{ variable = \"MESA_FE_MAILSTACK_PASSWORD\" }}\n\
         carpeta = \"INBOX\"\ncarpeta_procesados = \"{processed}\"\nintervalo_sondeo_segundos = 2\n\
         [buzones.smtp]\nservidor = \"{host}\"\npuerto = {smtp}\ntls = \"ninguno\"\n\n\
         [control_posterior]\ndias_habiles = 3.0\n\n\
         [[agentes]]\ncorreo = \"{N2}\"\nnombre = \"Ana Rojas\"\nnivel = \"n2\"\ngrupos = {N2_GROUPS}\nactivo = true\n",
        auth = trusted_mta_toml(),
        host = stack.host,
        imap = stack.imap_port,
        smtp = smtp_port(),
    )
}

async fn start_desk(stack: &Stack, processed: &str) -> Daemon {
    for user in [GENERAL, REQUESTER, N2, CATCHALL] {
        clear_inbox(stack, user).await;
    }
    stack.fresh_folders(GENERAL, &[processed]).await;
    let mut daemon = Daemon::new(&config(stack, processed));
    daemon.start();
    daemon
}

/// A complete request (description, NIT, document number), tagged with `token`.
async fn send_request(stack: &Stack, token: &str, message_id: &str) {
    let letter = Letter {
        from: REQUESTER,
        name: "Proveedor Uno",
        to: GENERAL,
        subject: &format!("Consulta factura LCE4821 ({token})"),
        message_id,
        reply_to: None,
        body: "Buenas tardes. La factura LCE4821 del NIT 900.481.236-1 no le llega al \
               adquiriente. ¿Qué revisamos?",
        headers: "",
        xml: false,
    };
    let mut raw = vouched_header(REQUESTER).into_bytes();
    raw.extend(letter.bytes());
    smtp_send(stack, REQUESTER, GENERAL, &raw).await;
}

/// The mail of `user`'s INBOX `pred` accepts, with its header block as delivered.
async fn delivered(
    stack: &Stack,
    daemon: &Daemon,
    user: &str,
    what: &str,
    pred: impl Fn(&Mail) -> bool,
) -> (Mail, String) {
    let mail = wait_mail(stack, daemon, user, what, &pred).await;
    let raw = folder(stack, user, "INBOX")
        .await
        .into_iter()
        .find(|(m, _)| m.message_id == mail.message_id)
        .map(|(_, raw)| String::from_utf8_lossy(&raw).into_owned())
        .expect("the mail is still there");
    let head = raw.split_once("\r\n\r\n").map_or(raw.as_str(), |(h, _)| h).to_string();
    (mail, head)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

// ------------------------------------------------------------------------------------ point 9

#[tokio::test]
async fn an_agents_solution_reaches_the_requester_as_a_persons_letter_with_paragraphs() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-aviso-persona").await;
    let token = unique("persona");
    let request_id = format!("{token}.solicitud@pt.test");
    send_request(&stack, &token, &request_id).await;

    // The acknowledgement is the desk's own: it keeps the automatic marks.
    let (ack, ack_head) = delivered(&stack, &daemon, REQUESTER, "acuse", |m| {
        m.answers(&request_id) && m.is_kind("acuse_recibo")
    })
    .await;
    assert_eq!(header(&ack_head, "Auto-Submitted"), Some("auto-replied"), "{ack_head}");
    assert!(ack.shown().contains("Este es un mensaje automático"), "{}", ack.text);
    let number = case_number(&ack.subject);

    // The agent writes the solution in three paragraphs.
    let note = wait_mail(&stack, &daemon, N2, "notificación", |m| m.subject.contains(&token)).await;
    reply(
        &stack,
        N2,
        "Ana Rojas",
        GENERAL,
        &note,
        &format!("RE: {}", note.subject),
        "#solucion\nBuenas tardes.\n\nEl adquiriente debe consultar la factura LCE4821 en el \
         catálogo.\nSi no aparece, reenvíe el AttachedDocument <ad0900481236.xml>.\n\nQuedo atenta.",
    )
    .await;
    let (solution, head) = delivered(&stack, &daemon, REQUESTER, "solución", |m| {
        m.is_kind("solucion") && m.subject.contains(&number)
    })
    .await;
    assert_eq!(header(&head, "Auto-Submitted"), None, "a person's letter: {head}");
    assert!(!solution.shown().contains("automático"), "{}", solution.shown());
    assert!(solution.shown().contains("Ana Rojas"), "signed by the agent: {}", solution.text);
    assert!(solution.text.contains("dentro de los 3 días hábiles"), "{}", solution.text);
    assert!(!solution.shown().contains("3.0 días"), "{}", solution.shown());
    // Lines travel with CRLF ends.
    let html = solution.html.replace("\r\n", "\n");
    assert!(!html.contains("pre-wrap"), "{html}");
    assert!(html.contains(">Buenas tardes.</p>"), "{html}");
    assert!(
        html.contains(
            ">El adquiriente debe consultar la factura LCE4821 en el catálogo.<br>\n\
             Si no aparece, reenvíe el AttachedDocument &lt;ad0900481236.xml&gt;.</p>"
        ),
        "{html}"
    );
    assert!(html.contains(">Quedo atenta.</p>"), "{html}");
    // Still on the requester's thread, under our signed Message-ID.
    assert!(solution.answers(&request_id), "{:?}", solution.thread());
    wait_case(&daemon, &number, "solved", |d| field(d, "status") == "solucionado").await;
}
