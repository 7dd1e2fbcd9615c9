//! Outlook requesters end to end (issue 14, point 7), against the real Postfix + Dovecot (and
//! PostgreSQL with `MESA_FE_PRUEBA_BASE=postgres`): an Outlook mail whose XML travels inside
//! `winmail.dat`, and a mail forwarded as an attachment with the XML inside it, each make a case
//! with the document read and no request for the XML; and the answer that lands in the
//! requester's mailbox extends their Thread-Index and carries their Thread-Topic without our tag.

mod common;

use base64::Engine;
use common::mail::{Mail, WAIT, clear_inbox, field, folder, outbox, smtp_port, smtp_send, unique};
use common::{Daemon, Stack, buzon_toml};

const BUZON: &str = "sd_facturaelectronica@dian.gov.co";
/// Unknown addresses land in the stack's catch-all, where the requester's answers are read.
const CATCHALL: &str = "catchall@fe.test";
const REQUESTER: &str = "mtorres@ferreteria-andina.example";
/// What Outlook 16 sent as the requester's Thread-Index (tests/fixtures/tnef/generar.py).
const THEIR_INDEX: &str = "AdlRmN3Jq8K2lXzUTuO1Yk0Fb1Qx3w==";

/// The buzón read at its INBOX (where Postfix delivers), processed mail moved to `processed`.
fn config(stack: &Stack, processed: &str) -> String {
    let smtp = format!(
        "carpeta_procesados = \"{processed}\"\n[buzones.smtp]\nservidor = \"{}\"\npuerto = {}\ntls = \"ninguno\"\n",
        stack.host,
        smtp_port()
    );
    format!(
        "{}\n[[agentes]]\ncorreo = \"agente.n2@fe.test\"\nnombre = \"Agente N2\"\nnivel = \"n2\"\n\
         grupos = [\"n2_factura\", \"n2_radian\", \"n2_nomina\", \"n2_documento_soporte\", \
         \"n2_habilitacion\", \"n2_facturador_gratuito\", \"seguridad\"]\nactivo = true\n",
        buzon_toml(stack, "facturacion", BUZON, "INBOX", &smtp)
            .replace("carpeta_procesados = \"INBOX-ok\"\n", "")
    )
}

async fn start_desk(stack: &Stack, processed: &str) -> Daemon {
    for user in [BUZON, CATCHALL, "agente.n2@fe.test"] {
        clear_inbox(stack, user).await;
    }
    stack.fresh_folders(BUZON, &[processed]).await;
    let mut daemon = Daemon::new(&config(stack, processed));
    daemon.start();
    daemon
}

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    String::from_utf8(std::fs::read(path).expect("fixture")).expect("ASCII fixture")
}

/// The Outlook fixture with this run's own Message-ID and subject, so only this run's mail is
/// looked at.
fn outlook_winmail(token: &str) -> (Vec<u8>, String, String) {
    let id = format!("{token}@ferreteria-andina.example");
    let subject = format!("Rechazo factura SETP990000002 {token}");
    let raw = fixture("mail/70_outlook_winmail_dat_factura.eml")
        .replace("winmail.1@ferreteria-andina.example", &id)
        .replace("Rechazo factura SETP990000002", &subject);
    (raw.into_bytes(), id, subject)
}

/// Outlook's "Reenviar como datos adjuntos": the provider's mail, with the XML, as a
/// `message/rfc822` part; the requester's Thread-Index on the outer mail.
fn outlook_forward(token: &str) -> (Vec<u8>, String, String) {
    let id = format!("{token}@ferreteria-andina.example");
    let subject = format!("RV: Factura rechazada {token}");
    let xml = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/dian/ad_factura_validada_02.xml"),
    )
    .expect("xml");
    let encoded = base64::engine::general_purpose::STANDARD.encode(xml);
    let lines: Vec<&str> =
        encoded.as_bytes().chunks(76).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    let raw = format!(
        "From: Maria Torres <{REQUESTER}>\r\nTo: {BUZON}\r\nSubject: {subject}\r\n\
         Message-ID: <{id}>\r\nThread-Topic: Factura rechazada {token}\r\nThread-Index: {THEIR_INDEX}\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"out\"\r\n\r\n\
         --out\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Les reenvío el correo del proveedor; el XML va dentro.\r\n\r\n\
         --out\r\nContent-Type: message/rfc822\r\n\
         Content-Disposition: attachment; filename=\"Factura rechazada.eml\"\r\n\r\n\
         From: Proveedor <soporte@proveedor.example>\r\nTo: {REQUESTER}\r\n\
         Subject: Factura SETP990000002 rechazada\r\nMessage-ID: <in.{id}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"in\"\r\n\r\n\
         --in\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         La DIAN rechazó la factura SETP990000002 del NIT 900481236. Adjuntamos el XML.\r\n\
         --in\r\nContent-Type: application/xml; name=\"ad0900481236.xml\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"ad0900481236.xml\"\r\n\r\n{}\r\n--in--\r\n\
         \r\n--out--\r\n",
        lines.join("\r\n")
    );
    (raw.into_bytes(), id, subject)
}

/// The first answer to `message_id` (bare) in the catch-all, with its raw bytes.
async fn answer_to(stack: &Stack, daemon: &Daemon, message_id: &str) -> (Mail, Vec<u8>) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let found = folder(stack, CATCHALL, "INBOX")
            .await
            .into_iter()
            .find(|(mail, _)| mail.is_to(REQUESTER) && mail.answers(message_id));
        if let Some(found) = found {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no answer to {message_id} reached the requester; daemon log:\n{}",
            daemon.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// A header as the requester's client decodes it (Thread-Topic may be RFC 2047 encoded).
fn header_text(raw: &[u8], name: &str) -> String {
    let message = mail_parser::MessageParser::default().parse(raw).expect("a mail");
    let value = message.header(name).unwrap_or_else(|| panic!("no {name} header"));
    match (value.as_text(), value.as_text_list()) {
        (Some(text), _) => text.to_string(),
        (None, Some(list)) => list.join(" "),
        _ => panic!("{name} is not text: {value:?}"),
    }
}

/// Outlook's conversation holds: the answer's index is the requester's 22 bytes plus one
/// 5-byte block, and its topic is theirs without our `[FE-…]` tag.
fn assert_outlook_thread(raw: &[u8], topic: &str) {
    let decode = |text: &str| {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD.decode(compact).expect("base64")
    };
    let ours = decode(&header_text(raw, "Thread-Index"));
    let theirs = decode(THEIR_INDEX);
    assert_eq!(ours.len(), theirs.len() + 5, "one child block");
    assert_eq!(ours[..22], theirs[..], "the answer starts with the requester's index");
    let shown = header_text(raw, "Thread-Topic");
    assert_eq!(shown, topic);
    assert!(!shown.contains("[FE-"), "{shown}");
}

/// The case made from the mail: the XML read from where it travelled, and no request for it.
async fn assert_document_read(daemon: &Daemon, number: &str, source: &str) {
    let detail = common::mail::wait_outbox_drained(daemon, number).await;
    let documents = detail["documents"].as_array().expect("documents");
    assert!(
        documents.iter().any(|d| d["source"].as_str() == Some(source)),
        "the XML at {source} was not read: {documents:#?}"
    );
    let missing = detail["missing_requirements"].as_array().expect("missing");
    assert!(!missing.iter().any(|m| m == "xml"), "the XML is asked for: {missing:?}");
    assert!(
        !outbox(&detail).iter().any(|row| row["kind"] == "solicitud_informacion"),
        "a request for information was queued: {:#?}",
        outbox(&detail)
    );
    assert_eq!(field(&detail, "requester"), REQUESTER);
}

#[tokio::test]
async fn an_outlook_winmail_dat_with_the_xml_makes_a_case_without_asking_for_it() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-outlook-tnef").await;
    let token = unique("tnef");
    let (raw, id, subject) = outlook_winmail(&token);
    smtp_send(&stack, REQUESTER, BUZON, &raw).await;
    let (answer, answer_raw) = answer_to(&stack, &daemon, &id).await;
    let number = common::mail::case_number(&answer.subject);
    assert_document_read(&daemon, &number, "winmail.dat/ad0900481236.xml").await;
    assert_outlook_thread(&answer_raw, &subject);
}

#[tokio::test]
async fn a_mail_forwarded_as_an_attachment_brings_its_xml_to_the_case() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-outlook-rfc822").await;
    let token = unique("rv");
    let (raw, id, subject) = outlook_forward(&token);
    smtp_send(&stack, REQUESTER, BUZON, &raw).await;
    let (answer, answer_raw) = answer_to(&stack, &daemon, &id).await;
    let number = common::mail::case_number(&answer.subject);
    assert_document_read(&daemon, &number, "reenviado/ad0900481236.xml").await;
    // Our topic is the requester's subject without reply prefixes and without the case tag.
    assert_outlook_thread(&answer_raw, subject.trim_start_matches("RV: "));
}
