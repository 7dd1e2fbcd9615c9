//! How the desk's mail reads and threads, end to end against the real Postfix + Dovecot of
//! deploy/dev/mailstack.sh (issue 14, points 9, 8 and 3): an agent's solution reaches the
//! requester as a person's letter (no `Auto-Submitted`, no "mensaje automático", paragraphs in
//! HTML) while the desk's own acknowledgement keeps those marks; every mail to an agent about one
//! case threads on one conversation; an Aranda notification is never asked for requirements.

mod common;

use common::mail::{
    Letter, Mail, case_number, clear_inbox, field, folder, reply, smtp_send, trusted_mta_toml,
    unique, vouched_header, wait_case, wait_mail,
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
        "{auth}{buzon}\
         [control_posterior]\ndias_habiles = 3.0\n\n[notificaciones]\nresumen_desde = 0\n\n\
         [[agentes]]\ncorreo = \"{N2}\"\nnombre = \"Ana Rojas\"\nnivel = \"n2\"\ngrupos = {N2_GROUPS}\nactivo = true\n",
        auth = trusted_mta_toml(),
        buzon = common::answering_buzon_toml(stack, "facturaelectronica", GENERAL, processed),
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

// ------------------------------------------------------------------------------------ point 8

/// The requester writes again on the case (answering `to`), under `subject`.
async fn requester_adds(stack: &Stack, to: &Mail, subject: &str, body: &str) {
    reply(stack, REQUESTER, "Proveedor Uno", GENERAL, to, subject, body).await;
}

fn thread_index_bytes(head: &str) -> Vec<u8> {
    use base64::Engine;
    let value = header(head, "Thread-Index").expect("Thread-Index");
    base64::engine::general_purpose::STANDARD.decode(value).expect("base64 Thread-Index")
}

#[tokio::test]
async fn every_agent_mail_about_one_case_threads_on_one_conversation() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-hilo-agentes").await;
    let token = unique("hilo");
    let request_id = format!("{token}.solicitud@pt.test");
    send_request(&stack, &token, &request_id).await;
    let ack = wait_mail(&stack, &daemon, REQUESTER, "acuse", |m| m.answers(&request_id)).await;
    let number = case_number(&ack.subject);
    let is_note = |m: &Mail| m.is_kind("notificacion_agente") && m.subject.contains(&number);

    // Three notifications: the case reaches N2, then the requester writes twice more (the
    // second time under another subject, with the case's tag).
    let mut notes = vec![delivered(&stack, &daemon, N2, "notificación 1", is_note).await];
    requester_adds(&stack, &ack, &format!("RE: {}", ack.subject), "Agrego el CUFE de la factura.")
        .await;
    notes.push(
        delivered(&stack, &daemon, N2, "notificación 2", |m| {
            is_note(m) && !notes.iter().any(|(n, _)| n.message_id == m.message_id)
        })
        .await,
    );
    requester_adds(
        &stack,
        &ack,
        &format!("Otro dato [{number}]"),
        "El adquiriente es Hotel Mirador del Quindío.",
    )
    .await;
    notes.push(
        delivered(&stack, &daemon, N2, "notificación 3", |m| {
            is_note(m) && !notes.iter().any(|(n, _)| n.message_id == m.message_id)
        })
        .await,
    );

    let root = notes[0].0.references.first().expect("a root in References").clone();
    assert!(root.contains(".hilo_agentes."), "a root of ours: {root}");
    for (k, (note, head)) in notes.iter().enumerate() {
        assert_eq!(note.subject, notes[0].0.subject, "one subject base");
        assert_eq!(note.references.first(), Some(&root), "mail {k} starts from the root");
        assert_eq!(header(head, "Thread-Topic"), header(&notes[0].1, "Thread-Topic"));
        let earlier: Vec<&String> = notes[..k].iter().map(|(n, _)| &n.message_id).collect();
        for id in &earlier {
            assert!(
                note.references.contains(id),
                "mail {k} references {id}: {:?}",
                note.references
            );
        }
        let answered = earlier.last().map_or(&root, |id| *id);
        assert_eq!(note.in_reply_to.first(), Some(answered), "mail {k} answers the previous");
        // Outlook: one conversation header, each index extending the previous one.
        let index = thread_index_bytes(head);
        assert_eq!(index[..22], thread_index_bytes(&notes[0].1)[..22], "mail {k}");
        if k > 0 {
            let previous = thread_index_bytes(&notes[k - 1].1);
            assert!(index.len() > previous.len() && index.starts_with(&previous), "mail {k}");
        }
    }
    assert!(!notes[0].0.subject.contains("Otro dato"), "{}", notes[0].0.subject);

    // The agent answers the first and the last: both commands find the case.
    for (note, text) in [(&notes[0].0, "Primera revisión."), (&notes[2].0, "Segunda revisión.")] {
        reply(
            &stack,
            N2,
            "Ana Rojas",
            GENERAL,
            note,
            &format!("RE: {}", note.subject),
            &format!("#nota\n{text}"),
        )
        .await;
        wait_case(&daemon, &number, "the note is recorded as the agent's action", |d| {
            d["actions"].as_array().is_some_and(|actions| {
                actions.iter().any(|a| {
                    a["command"] == "nota"
                        && a["refused"] == 0
                        && a["text"].as_str().is_some_and(|t| t.contains(text))
                })
            })
        })
        .await;
    }
    assert_eq!(daemon.cases().await.len(), 1, "no other case was opened");
}

// ------------------------------------------------------------------------------------ point 3

const ARANDA: &str = "notificaciones@aranda.dian.gov.co";
const PQSR: &str = "pqsr@dian.gov.co";
/// The N1 group's coordinator of the example configuration (lands in the catch-all).
const N1_COORDINATOR: &str = "mesa.n1@dian.gov.co";

/// A fixture of tests/fixtures/pipeline/ under a Message-ID of this run.
fn notification(file: &str, token: &str) -> Vec<u8> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pipeline").join(file);
    let text = std::fs::read_to_string(path).expect("fixture");
    let text = text
        .lines()
        .map(|line| {
            if line.starts_with("Message-ID:") {
                format!("Message-ID: <{token}.{file}@sistemas.test>")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    text.into_bytes()
}

#[tokio::test]
async fn a_system_is_never_asked_for_requirements_and_its_reference_stays_in_every_subject() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-sistemas").await;
    let token = unique("sistemas");

    // Aranda, from a Seccional, names nobody and brings no XML.
    smtp_send(&stack, ARANDA, GENERAL, &notification("33_aranda_seccional.eml", &token)).await;
    let cases = daemon.wait_for_cases(std::time::Duration::from_secs(30), |c| !c.is_empty()).await;
    let number = cases[0].number.clone();
    let detail = wait_case(&daemon, &number, "the Aranda case", |d| {
        !d["outbox"].as_array().is_none_or(Vec::is_empty)
    })
    .await;
    assert_eq!(field(&detail, "external_ref"), "Aranda 812377", "{detail:#}");
    assert_eq!(field(&detail, "status"), "pendiente_informacion", "{detail:#}");
    assert!(
        common::mail::events(&detail)
            .iter()
            .any(|e| e["detail"].as_str().is_some_and(|t| t.contains("Seccional Bucaramanga"))),
        "the origin is recorded: {detail:#}"
    );
    // The robot gets the acknowledgement, with both references in its subject, and no request.
    let to_robot = wait_mail(&stack, &daemon, CATCHALL, "acuse a Aranda", |m| {
        m.is_to(ARANDA) && m.is_kind("acuse_recibo")
    })
    .await;
    assert!(
        to_robot.subject.starts_with(&format!("[{number}] [Aranda 812377] ")),
        "{}",
        to_robot.subject
    );
    assert!(
        !to_robot.shown().contains("Aranda Service Desk:"),
        "a robot is not greeted: {}",
        to_robot.text
    );
    // N1 gets the task of getting the XML.
    let task = wait_mail(&stack, &daemon, CATCHALL, "tarea para N1", |m| {
        m.is_to(N1_COORDINATOR) && m.subject.contains(&number)
    })
    .await;
    assert!(task.text.contains("a Aranda no se le piden requisitos"), "{}", task.text);
    assert!(task.subject.contains("[Aranda 812377]"), "{}", task.subject);
    common::mail::wait_outbox_drained(&daemon, &number).await;
    let asked: Vec<Mail> = common::mail::matching(&stack, CATCHALL, |m| {
        m.is_to(ARANDA) && m.is_kind("solicitud_informacion")
    })
    .await;
    assert!(asked.is_empty(), "Aranda was asked for requirements: {asked:?}");

    // The reference is searchable.
    let listed = daemon.cli(&["case", "list", "--referencia", "812377", "--json"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains(&number), "{listed}");
    let none = daemon.cli(&["case", "list", "--referencia", "999999", "--json"]);
    assert!(!String::from_utf8_lossy(&none.stdout).contains(&number));

    // PQSR names the person: the request goes to PQSR, addressed to that person.
    smtp_send(&stack, PQSR, GENERAL, &notification("34_pqsr_radicado.eml", &token)).await;
    let request = wait_mail(&stack, &daemon, CATCHALL, "solicitud a PQSR", |m| {
        m.is_to(PQSR) && m.is_kind("solicitud_informacion")
    })
    .await;
    assert!(request.subject.contains("[PQSR 202682140100045678]"), "{}", request.subject);
    assert!(request.text.contains("Andrés Felipe Castaño Ruiz"), "{}", request.text);
}
