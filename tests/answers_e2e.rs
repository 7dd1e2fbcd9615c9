//! Answers end to end, against the real Postfix + Dovecot of deploy/dev/mailstack.sh: a
//! provider writes by SMTP, the daemon reads the buzón by IMAP, and the answers land — threaded,
//! once — in the provider's and the agents' real mailboxes.

mod common;

use std::time::{Duration, Instant};

use common::mail::{clear_inbox, fixture_xml, raw_messages, smtp_port, smtp_send};
use common::{Daemon, Stack};

const ALIADOS: &str = "sd_fistrib_fe_aliados@dian.gov.co";
const PROVIDER: &str = "proveedor1@pt.test";
const AGENT: &str = "agente.n2@fe.test";

/// The aliados buzón read over IMAP and answered over SMTP, both on loopback; every agent of
/// the N2 groups is the stack's agent user.
fn config(stack: &Stack, smtp_port: u16, processed: &str) -> String {
    format!(
        "[[buzones]]\nnombre = \"aliados\"\ndireccion = \"{ALIADOS}\"\ncanal = \"correo\"\n\
         [buzones.imap]\nservidor = \"{host}\"\npuerto = {imap}\ntls = \"ninguno\"\nusuario = \"{ALIADOS}\"\n\
         autenticacion = \"contrasena\"\ncontrasena = {{ variable = \"MESA_FE_MAILSTACK_PASSWORD\" }}\n\
         carpeta = \"INBOX\"\ncarpeta_procesados = \"{processed}\"\nintervalo_sondeo_segundos = 2\n\
         [buzones.smtp]\nservidor = \"{host}\"\npuerto = {smtp_port}\ntls = \"ninguno\"\n\n\
         [[agentes]]\ncorreo = \"{AGENT}\"\nnombre = \"Agente N2\"\nnivel = \"n2\"\n\
         grupos = [\"n2_factura\", \"n2_radian\", \"n2_nomina\", \"n2_documento_soporte\", \"n2_habilitacion\", \
         \"n2_facturador_gratuito\", \"seguridad\"]\nactivo = true\n",
        host = stack.host,
        imap = stack.imap_port,
    )
}

/// What a provider's mail client shows: the header block of each message in a folder.
async fn headers(stack: &Stack, user: &str, folder: &str) -> Vec<String> {
    whole_messages(stack, user, folder)
        .await
        .into_iter()
        .map(|message| match message.split_once("\r\n\r\n") {
            Some((head, _)) => head.to_string(),
            None => message,
        })
        .collect()
}

/// Every message of a folder, whole.
async fn whole_messages(stack: &Stack, user: &str, folder: &str) -> Vec<String> {
    raw_messages(stack, user, folder)
        .await
        .iter()
        .map(|raw| String::from_utf8_lossy(raw).into_owned())
        .collect()
}

async fn wait_for_mail(
    stack: &Stack,
    user: &str,
    folder: &str,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = headers(stack, user, folder).await.into_iter().find(|h| pred(h)) {
            return found;
        }
        assert!(Instant::now() < deadline, "no such mail reached {user}/{folder}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn header_value<'a>(block: &'a str, name: &str) -> Option<&'a str> {
    block.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn provider_mail(
    subject: &str,
    message_id: &str,
    in_reply_to: Option<&str>,
    body: &str,
) -> Vec<u8> {
    let thread = in_reply_to
        .map(|id| format!("In-Reply-To: {id}\r\nReferences: {id}\r\n"))
        .unwrap_or_default();
    format!(
        "From: Proveedor Uno <{PROVIDER}>\r\nTo: {ALIADOS}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n\
         {thread}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn start_desk(stack: &Stack, processed: &str) -> Daemon {
    for user in [ALIADOS, PROVIDER, AGENT] {
        clear_inbox(stack, user).await;
    }
    stack.fresh_folders(ALIADOS, &[processed]).await;
    let mut daemon = Daemon::new(&config(stack, smtp_port(), processed));
    daemon.start();
    daemon
}

#[tokio::test]
async fn the_acknowledgement_is_threaded_and_the_reply_joins_the_case() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-acuse-ok").await;
    let request_id = "<acuse.1@pt.test>";
    let request = provider_mail(
        "Consulta factura FEPT1001",
        request_id,
        None,
        "Buenas tardes. La factura FEPT1001 del NIT 900.481.236-1 no le llega al adquiriente. ¿Qué revisamos?",
    );
    smtp_send(&stack, PROVIDER, ALIADOS, &request).await;
    let ack = wait_for_mail(&stack, PROVIDER, "INBOX", |h| {
        h.contains(&format!("In-Reply-To: {request_id}"))
    })
    .await;
    let subject = header_value(&ack, "Subject").expect("subject").to_string();
    assert!(subject.starts_with("[FE-"), "{subject}");
    assert_eq!(header_value(&ack, "Auto-Submitted"), Some("auto-replied"));
    assert_eq!(header_value(&ack, "From").map(|f| f.contains(ALIADOS)), Some(true), "{ack}");
    let ack_id = header_value(&ack, "Message-ID").expect("Message-ID").to_string();
    let agent_note = wait_for_mail(&stack, AGENT, "INBOX", |h| h.contains("[FE-")).await;
    assert!(
        header_value(&agent_note, "Subject").is_some_and(|s| s.contains("FEPT1001")),
        "{agent_note}"
    );

    let reply = provider_mail(
        &format!("RE: {subject}"),
        "<respuesta.1@pt.test>",
        Some(&ack_id),
        "Adjunto más datos del adquiriente.",
    );
    smtp_send(&stack, PROVIDER, ALIADOS, &reply).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cases = daemon.cases().await;
        assert!(cases.len() <= 1, "the reply opened a new case: {cases:?}");
        if let Some(case) = cases.first() {
            let store = mesa_fe::store::Store::open(&daemon.database_url()).await.expect("store");
            let detail = store.case_detail(&case.number).await.expect("detail").expect("case");
            if detail.messages.len() == 2 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the reply never joined the case; log:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_known_rejection_gets_its_answer_and_the_case_is_solved() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-conocido-ok").await;
    let request = provider_mail(
        "Rechazo factura SETT990004777",
        "<conocido.1@pt.test>",
        None,
        "El servicio web devolvió para la factura SETT990004777 del NIT 900481236:\r\n\
         Regla: FAD06, Rechazo: Valor del CUFE no está calculado correctamente.",
    );
    smtp_send(&stack, PROVIDER, ALIADOS, &request).await;
    let answer = wait_for_mail(&stack, PROVIDER, "INBOX", |h| {
        h.contains("In-Reply-To: <conocido.1@pt.test>")
    })
    .await;
    assert!(header_value(&answer, "Subject").is_some_and(|s| s.starts_with("[FE-")));
    let cases = daemon.wait_for_cases(Duration::from_secs(10), |c| !c.is_empty()).await;
    assert_eq!(cases[0].status, "solucionado");
}

#[tokio::test]
async fn an_auto_reply_and_a_bounce_produce_no_outgoing_mail() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-bucle-ok").await;
    let auto =
        b"From: Vacaciones <proveedor1@pt.test>\r\nTo: sd_fistrib_fe_aliados@dian.gov.co\r\n\
        Subject: Respuesta automatica: fuera de la oficina\r\nMessage-ID: <auto.1@pt.test>\r\n\
        Auto-Submitted: auto-replied\r\n\r\nEstoy de vacaciones hasta el lunes.\r\n";
    smtp_send(&stack, PROVIDER, ALIADOS, auto).await;
    let bounce = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/mail/05_rebote_dsn.eml"),
    )
    .expect("bounce fixture");
    smtp_send(&stack, "", ALIADOS, &bounce).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let store_ready = daemon.db.exists();
        if store_ready {
            let store = mesa_fe::store::Store::open(&daemon.database_url()).await.expect("store");
            let held = store.held_messages(true).await.expect("held");
            if held.len() >= 2 {
                assert!(
                    store.list_outbox(None).await.expect("outbox").is_empty(),
                    "nothing may be queued"
                );
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "both messages must be read and kept; log:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(headers(&stack, PROVIDER, "INBOX").await.is_empty(), "no mail went out");
}

/// A TCP relay in front of Postfix that the test can close and reopen: "the SMTP server is down".
struct Relay {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    async fn start(target: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let port = listener.local_addr().expect("addr").port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = up.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !flag.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(client); // refused: the server is "down"
                    continue;
                }
                tokio::spawn(async move {
                    if let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Relay { port, up }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn answers_wait_while_smtp_is_down_and_each_is_delivered_once() {
    let stack = Stack::from_env();
    for user in [ALIADOS, PROVIDER, AGENT] {
        clear_inbox(&stack, user).await;
    }
    stack.fresh_folders(ALIADOS, &["t-caido-ok"]).await;
    let relay = Relay::start(smtp_port()).await;
    relay.set_up(false);
    let mut daemon = Daemon::new(&config(&stack, relay.port, "t-caido-ok"));
    daemon.start();
    let requests: Vec<(String, Vec<u8>)> = (0..3)
        .map(|n| {
            let id = format!("<caido.{n}@pt.test>");
            let body = format!(
                "La factura FEPT20{n}0 del NIT 900.481.236-1 no llega al cliente. ¿Qué revisamos?"
            );
            let raw = provider_mail(&format!("Consulta FEPT20{n}0"), &id, None, &body);
            (id, raw)
        })
        .collect();
    for (_, raw) in &requests {
        smtp_send(&stack, PROVIDER, ALIADOS, raw).await;
    }
    daemon.wait_for_cases(Duration::from_secs(20), |c| c.len() >= 3).await;
    // While the server is down the answers wait, with their failure recorded.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let store = mesa_fe::store::Store::open(&daemon.database_url()).await.expect("store");
        let waiting = store
            .list_outbox(Some(mesa_fe::store::outbox::OutboxStatus::FalloTemporal))
            .await
            .expect("outbox");
        if waiting.len() >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "answers are not retried while SMTP is down; log:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(headers(&stack, PROVIDER, "INBOX").await.is_empty());

    relay.set_up(true);
    for (id, _) in &requests {
        wait_for_mail(&stack, PROVIDER, "INBOX", |h| h.contains(&format!("In-Reply-To: {id}")))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let delivered = headers(&stack, PROVIDER, "INBOX").await;
    assert_eq!(delivered.len(), 3, "each answer exactly once: {delivered:?}");
    let status = daemon.terminate();
    assert!(status.success());
}

fn provider_mail_with_xml(
    subject: &str,
    message_id: &str,
    in_reply_to: &str,
    body: &str,
) -> Vec<u8> {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(fixture_xml());
    let lines: Vec<&str> =
        encoded.as_bytes().chunks(76).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    format!(
        "From: Proveedor Uno <{PROVIDER}>\r\nTo: {ALIADOS}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n\
         In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\
         --b\r\nContent-Type: text/xml; name=\"ad0900481236.xml\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"ad0900481236.xml\"\r\n\r\n{}\r\n--b--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

#[tokio::test]
async fn the_information_round_trip_reaches_the_n2_agent() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-info-ok").await;
    let request = provider_mail(
        "Factura rechazada",
        "<info.1@pt.test>",
        None,
        "Buenas tardes. Nuestra factura sale rechazada por la DIAN y no sabemos por qué. ¿Nos ayudan?",
    );
    smtp_send(&stack, PROVIDER, ALIADOS, &request).await;
    let question =
        wait_for_mail(&stack, PROVIDER, "INBOX", |h| h.contains("In-Reply-To: <info.1@pt.test>"))
            .await;
    let subject = header_value(&question, "Subject").expect("subject").to_string();
    let question_id = header_value(&question, "Message-ID").expect("id").to_string();
    let cases = daemon.wait_for_cases(Duration::from_secs(10), |c| !c.is_empty()).await;
    assert_eq!(cases[0].status, "pendiente_informacion");
    assert!(
        headers(&stack, AGENT, "INBOX").await.is_empty(),
        "no agent is bothered before the information is complete"
    );

    let reply = provider_mail_with_xml(
        &format!("RE: {subject}"),
        "<info.2@pt.test>",
        &question_id,
        "Adjunto el XML.",
    );
    smtp_send(&stack, PROVIDER, ALIADOS, &reply).await;
    let note = wait_for_mail(&stack, AGENT, "INBOX", |h| h.contains(&cases[0].number)).await;
    assert!(header_value(&note, "Subject").is_some_and(|s| s.contains(&cases[0].number)), "{note}");
    let whole = whole_messages(&stack, AGENT, "INBOX").await.join("\n");
    assert!(whole.contains("ad0900481236.xml"), "the agent gets the requester's XML attached");
    let moved = daemon
        .wait_for_cases(Duration::from_secs(10), |c| c.first().is_some_and(|c| c.level == "n2"))
        .await;
    assert_eq!((moved[0].status.as_str(), moved[0].level.as_str()), ("en_atencion", "n2"));
}

#[tokio::test]
async fn a_crash_between_send_and_mark_resends_at_most_once_with_the_same_message_id() {
    let stack = Stack::from_env();
    let mut daemon = start_desk(&stack, "t-marca-ok").await;
    let request = provider_mail(
        "Consulta factura FEPT3001",
        "<marca.1@pt.test>",
        None,
        "La factura FEPT3001 del NIT 900.481.236-1 no le llega al adquiriente. ¿Qué revisamos?",
    );
    smtp_send(&stack, PROVIDER, ALIADOS, &request).await;
    let ack =
        wait_for_mail(&stack, PROVIDER, "INBOX", |h| h.contains("In-Reply-To: <marca.1@pt.test>"))
            .await;
    let ack_id = header_value(&ack, "Message-ID").expect("id").to_string();
    daemon.kill();
    // What a crash after the SMTP OK and before the UPDATE leaves behind: the row still pending.
    // (Test-only SQL, to build that state; the product's SQL lives in src/store.)
    daemon
        .db
        .execute(
            "UPDATE outbox SET status = 'pendiente', sent_at = NULL WHERE message_id = $1",
            &[&ack_id],
        )
        .await;
    daemon.start();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let copies =
            headers(&stack, PROVIDER, "INBOX").await.iter().filter(|h| h.contains(&ack_id)).count();
        assert!(copies <= 2, "at most one duplicate");
        if copies == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pending row was not sent again; log:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let copies =
        headers(&stack, PROVIDER, "INBOX").await.iter().filter(|h| h.contains(&ack_id)).count();
    assert_eq!(copies, 2, "one resend, same Message-ID, and no more");
}
