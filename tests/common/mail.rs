//! The mail side of the end-to-end tests (tests/*_e2e.rs), against the stack of
//! deploy/dev/mailstack.sh: the tests write raw SMTP to Postfix as requesters and agents do, and
//! read whole messages back from Dovecot over IMAP, so every check is on what really lands in a
//! mailbox; and they follow the case each mail belongs to (`case show --json`) with the same
//! patience.

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use serde_json::Value;

use super::{Daemon, Stack};

/// How long any one thing may take to show up.
pub const WAIT: Duration = Duration::from_secs(30);

/// Postfix's SMTP port on the stack (`MESA_FE_MAILSTACK_SMTP_PORT`): where the tests send as
/// requesters and agents, and where the daemon sends the desk's answers.
pub fn smtp_port() -> u16 {
    std::env::var("MESA_FE_MAILSTACK_SMTP_PORT")
        .expect("MESA_FE_MAILSTACK_SMTP_PORT")
        .parse()
        .expect("port")
}

/// A token no earlier run used: in subjects and Message-IDs, so a test only ever looks at its own
/// mail (case numbers start again at 000001 with each test's fresh base).
pub fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{tag}-{:x}{:06x}", std::process::id(), nanos % 0xff_ffff)
}

/// Empties a user's INBOX: these tests read the real INBOX Postfix delivers to, one at a time.
pub async fn clear_inbox(stack: &Stack, user: &str) {
    let mut session = stack.login(user).await;
    let mailbox = session.select("INBOX").await.expect("SELECT");
    if mailbox.exists > 0 {
        let _: Vec<_> = session
            .store("1:*", "+FLAGS.SILENT (\\Deleted)")
            .await
            .expect("STORE")
            .try_collect()
            .await
            .expect("STORE");
        let _: Vec<_> =
            session.expunge().await.expect("EXPUNGE").try_collect().await.expect("EXPUNGE");
    }
    let _ = session.logout().await;
}

// ------------------------------------------------------------------------------------ sending

/// The authserv-id the tests write as the buzón's MTA: Postfix on the stack checks no SPF, DKIM or
/// DMARC, so the tests play that MTA, writing its `Authentication-Results` at the top of what
/// they send. Every desk under test names it in `autenticacion.servidores`.
pub const MTA: &str = "mx.pruebas.fe.test";

/// The configuration section that trusts [`MTA`]'s results.
pub fn trusted_mta_toml() -> String {
    format!("[autenticacion]\nservidores = [\"{MTA}\"]\nexigir = true\n\n")
}

/// The header line [`MTA`] writes after checking `from`: DMARC passes for its domain.
pub fn vouched_header(from: &str) -> String {
    let domain = from.rsplit('@').next().unwrap_or_default();
    format!("Authentication-Results: {MTA}; dmarc=pass header.from={domain}\r\n")
}

/// Sends `raw` through the stack's SMTP port (no auth from loopback), like a mail client would.
/// Postfix passes the message's own header lines through unchanged (no milter on the stack), so
/// an `Authentication-Results` written here reaches the buzón as written.
pub async fn smtp_send(stack: &Stack, from: &str, to: &str, raw: &[u8]) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect((stack.host.as_str(), smtp_port()))
        .await
        .expect("connect SMTP");
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut expect = async |code: &str| {
        loop {
            let line = lines.next_line().await.expect("read").expect("line");
            assert!(line.starts_with(code), "expected {code}, got {line}");
            if line.as_bytes().get(3) == Some(&b' ') {
                break;
            }
        }
    };
    expect("220").await;
    for (command, code) in [
        ("EHLO pruebas.test\r\n".to_string(), "250"),
        (format!("MAIL FROM:<{from}>\r\n"), "250"),
        (format!("RCPT TO:<{to}>\r\n"), "250"),
        ("DATA\r\n".to_string(), "354"),
    ] {
        write.write_all(command.as_bytes()).await.expect("write");
        expect(code).await;
    }
    // CRLF line ends and dot-stuffing (RFC 5321 4.5.2).
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n").replace('\n', "\r\n");
    let mut data = text.replace("\r\n.", "\r\n..").into_bytes();
    data.extend_from_slice(b"\r\n.\r\n");
    write.write_all(&data).await.expect("write data");
    expect("250").await;
    write.write_all(b"QUIT\r\n").await.expect("quit");
}

/// A plain mail as a person writes it, to one buzón.
pub struct Letter<'a> {
    pub from: &'a str,
    pub name: &'a str,
    /// The buzón written to (the `To:` line; the envelope is [`smtp_send`]'s).
    pub to: &'a str,
    pub subject: &'a str,
    /// Bare (without angle brackets).
    pub message_id: &'a str,
    /// The Message-ID (bare) this mail answers.
    pub reply_to: Option<&'a str>,
    pub body: &'a str,
    /// Extra header lines, each ending in CRLF.
    pub headers: &'a str,
    /// Attach [`fixture_xml`] (a request that speaks of a DIAN rejection is complete only with an
    /// XML).
    pub xml: bool,
}

impl Letter<'_> {
    pub fn bytes(&self) -> Vec<u8> {
        let thread = self
            .reply_to
            .map(|id| format!("In-Reply-To: <{id}>\r\nReferences: <{id}>\r\n"))
            .unwrap_or_default();
        let head = format!(
            "From: {name} <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\n\
             Date: {date}\r\nMessage-ID: <{id}>\r\n{thread}{extra}MIME-Version: 1.0\r\n",
            name = self.name,
            from = self.from,
            to = self.to,
            subject = self.subject,
            date = chrono::Utc::now().to_rfc2822(),
            id = self.message_id,
            extra = self.headers,
        );
        let body = if self.xml {
            use base64::Engine;
            let encoded = base64::engine::general_purpose::STANDARD.encode(fixture_xml());
            let lines: Vec<&str> =
                encoded.as_bytes().chunks(76).filter_map(|c| std::str::from_utf8(c).ok()).collect();
            format!(
                "Content-Type: multipart/mixed; boundary=\"limite\"\r\n\r\n--limite\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n\
                 --limite\r\nContent-Type: text/xml; name=\"ad0900481236.xml\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\
                 Content-Disposition: attachment; filename=\"ad0900481236.xml\"\r\n\r\n{}\r\n--limite--\r\n",
                self.body,
                lines.join("\r\n")
            )
        } else {
            format!(
                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
                self.body
            )
        };
        format!("{head}{body}").into_bytes()
    }
}

/// A complete request to the buzón `to` (description, NIT, document number; no DIAN rejection, so
/// no XML is needed), tagged with `token` in its subject so a test finds its own case.
pub fn undelivered_invoice_request(
    from: &str,
    name: &str,
    to: &str,
    token: &str,
    number: &str,
    message_id: &str,
    headers: &str,
) -> Vec<u8> {
    Letter {
        from,
        name,
        to,
        subject: &format!("Consulta factura {number} ({token})"),
        message_id,
        reply_to: None,
        body: &format!(
            "Buenas tardes. La factura {number} del NIT 900.481.236-1 no le llega al adquiriente. \
             ¿Qué revisamos?"
        ),
        headers,
        xml: false,
    }
    .bytes()
}

/// `from` answers `to_mail` on its thread, to the buzón `to`, under a fresh Message-ID of his own
/// domain: how agents, CSAT and requesters work a case by mail (a command on `body`'s first line).
/// The stack's MTA (played here, [`MTA`]) vouches for the sender, as a real one would.
pub async fn reply(
    stack: &Stack,
    from: &str,
    name: &str,
    to: &str,
    to_mail: &Mail,
    subject: &str,
    body: &str,
) {
    let id = format!("{}@{}", unique("resp"), from.rsplit('@').next().unwrap_or("fe.test"));
    let mut raw = vouched_header(from).into_bytes();
    raw.extend(
        Letter {
            from,
            name,
            to,
            subject,
            message_id: &id,
            reply_to: Some(&to_mail.message_id),
            body,
            headers: "",
            xml: false,
        }
        .bytes(),
    );
    smtp_send(stack, from, to, &raw).await;
}

/// tests/fixtures/dian/ad_factura_validada_02.xml: the AttachedDocument a requester attaches,
/// and what the tests expect to see again where the desk forwards it.
pub fn fixture_xml() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/dian/ad_factura_validada_02.xml"),
    )
    .expect("AttachedDocument fixture")
}

// ------------------------------------------------------------------------------------ reading

/// One delivered message, as a mail client shows it.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Lowercased addresses.
    pub to: Vec<String>,
    pub subject: String,
    /// Bare.
    pub message_id: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// Every text body, decoded.
    pub text: String,
    /// Every HTML body, decoded.
    pub html: String,
    /// (file name, decoded contents) of every attachment.
    pub attachments: Vec<(String, Vec<u8>)>,
}

impl Mail {
    pub fn parse(raw: &[u8]) -> Option<Mail> {
        use mail_parser::MimeHeaders;
        let message = mail_parser::MessageParser::default().parse(raw)?;
        let ids = |value: &mail_parser::HeaderValue<'_>| -> Vec<String> {
            match (value.as_text_list(), value.as_text()) {
                (Some(list), _) => list.iter().map(|id| id.to_string()).collect(),
                (None, Some(one)) => vec![one.to_string()],
                (None, None) => Vec::new(),
            }
        };
        let to = message
            .to()
            .map(|a| a.iter().filter_map(|a| a.address()).map(str::to_lowercase).collect())
            .unwrap_or_default();
        let text = (0..message.text_body_count())
            .filter_map(|i| message.body_text(i).map(|t| t.into_owned()))
            .collect::<Vec<_>>()
            .join("\n");
        let html = (0..message.html_body_count())
            .filter_map(|i| message.body_html(i).map(|t| t.into_owned()))
            .collect::<Vec<_>>()
            .join("\n");
        let attachments = message
            .attachments()
            .map(|part| {
                (part.attachment_name().unwrap_or_default().to_string(), part.contents().to_vec())
            })
            .collect();
        Some(Mail {
            to,
            subject: message.subject().unwrap_or_default().to_string(),
            message_id: message.message_id().unwrap_or_default().to_string(),
            in_reply_to: ids(message.in_reply_to()),
            references: ids(message.references()),
            text,
            html,
            attachments,
        })
    }

    /// Whether `address` is among the recipients: the catch-all's INBOX holds the mail of many
    /// addresses, told apart by their `To:`.
    pub fn is_to(&self, address: &str) -> bool {
        self.to.iter().any(|a| a.eq_ignore_ascii_case(address))
    }

    /// Text and HTML together: whatever the reader's client shows.
    pub fn shown(&self) -> String {
        format!("{}\n{}", self.text, self.html)
    }

    /// The Message-IDs this mail answers (In-Reply-To and References).
    pub fn thread(&self) -> Vec<&str> {
        self.in_reply_to.iter().chain(&self.references).map(String::as_str).collect()
    }

    /// Whether this mail answers `message_id` (bare), by In-Reply-To or References.
    pub fn answers(&self, message_id: &str) -> bool {
        self.thread().contains(&message_id)
    }

    /// The desk's kind of mail, from the detail its signed Message-ID carries
    /// (`FE-….r7.0.solucion.SIGNATURE@domain`).
    pub fn is_kind(&self, kind: &str) -> bool {
        self.message_id.contains(&format!(".{kind}."))
    }

    /// The desk's kind of this mail (see [`Mail::is_kind`]), for failure messages.
    pub fn kind(&self) -> &str {
        [
            "redireccion_canal",
            "acuse_recibo",
            "solicitud_informacion",
            "respuesta_error_conocido",
            "notificacion_agente",
            "solucion",
            "validacion_masiva",
            "propuesta_error_conocido",
            "sugerencia_masiva",
            "aviso_solucion",
            "respuesta_comando",
        ]
        .into_iter()
        .find(|kind| self.is_kind(kind))
        .unwrap_or("desconocido")
    }
}

/// Every message in a folder of `user`, whole, without marking it \Seen; none when the folder does
/// not exist (yet).
pub async fn raw_messages(stack: &Stack, user: &str, folder: &str) -> Vec<Vec<u8>> {
    let mut session = stack.login(user).await;
    let Ok(mailbox) = session.examine(folder).await else { return Vec::new() };
    if mailbox.exists == 0 {
        let _ = session.logout().await;
        return Vec::new();
    }
    let fetches: Vec<_> = session
        .fetch("1:*", "BODY.PEEK[]")
        .await
        .expect("FETCH")
        .try_collect()
        .await
        .unwrap_or_default();
    let found = fetches.iter().filter_map(|f| f.body()).map(<[u8]>::to_vec).collect();
    let _ = session.logout().await;
    found
}

/// Every message in a folder of `user`, parsed and as stored (for the header lines the parse
/// does not keep).
pub async fn folder(stack: &Stack, user: &str, name: &str) -> Vec<(Mail, Vec<u8>)> {
    raw_messages(stack, user, name)
        .await
        .into_iter()
        .filter_map(|raw| Mail::parse(&raw).map(|m| (m, raw)))
        .collect()
}

/// Every message in a user's INBOX.
pub async fn inbox(stack: &Stack, user: &str) -> Vec<Mail> {
    folder(stack, user, "INBOX").await.into_iter().map(|(m, _)| m).collect()
}

/// The mail in `user`'s INBOX that `pred` accepts.
pub async fn matching(stack: &Stack, user: &str, pred: impl Fn(&Mail) -> bool) -> Vec<Mail> {
    inbox(stack, user).await.into_iter().filter(|m| pred(m)).collect()
}

/// The first mail in `user`'s INBOX that `pred` accepts, waiting up to [`WAIT`]; on time out the
/// panic lists what the INBOX holds and the daemon's log.
pub async fn wait_mail(
    stack: &Stack,
    daemon: &Daemon,
    user: &str,
    what: &str,
    pred: impl Fn(&Mail) -> bool,
) -> Mail {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = inbox(stack, user).await.into_iter().find(|m| pred(m)) {
            return found;
        }
        if Instant::now() > deadline {
            let seen: Vec<String> = inbox(stack, user)
                .await
                .into_iter()
                .map(|m| format!("{} → {:?} ({})", m.subject, m.to, m.kind()))
                .collect();
            panic!(
                "{what}: no such mail reached {user} within {WAIT:?}; its INBOX: {seen:#?}\n\
                 daemon log:\n{}",
                daemon.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `[FE-2026-000001] …` → `FE-2026-000001`.
pub fn case_number(subject: &str) -> String {
    let start = subject.find("[FE-").unwrap_or_else(|| panic!("no case tag in {subject:?}"));
    let rest = &subject[start + 1..];
    rest[..rest.find(']').expect("closing bracket")].to_string()
}

// ------------------------------------------------------------------------------------ the case

// The e2e tests check each mail against the case it came from: `case show --json`, polled with the
// same patience as the mailboxes.

/// Waits until the case's `case show --json` satisfies `done`, up to [`WAIT`]; on time out the
/// panic shows the case as it is and the daemon's log.
pub async fn wait_case(
    daemon: &Daemon,
    number: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let detail = daemon.case_json(number).await;
        if let Some(detail) = &detail
            && done(detail)
        {
            return detail.clone();
        }
        if Instant::now() > deadline {
            panic!(
                "{what}: case {number} never got there; it is:\n{}\ndaemon log:\n{}",
                detail
                    .map(|d| serde_json::to_string_pretty(&d).unwrap_or_default())
                    .unwrap_or_default(),
                daemon.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A string field of the case (`""` when absent or not a string).
pub fn field<'a>(detail: &'a Value, key: &str) -> &'a str {
    detail[key].as_str().unwrap_or_default()
}

/// The case's history.
pub fn events(detail: &Value) -> Vec<&Value> {
    detail["events"].as_array().map(|e| e.iter().collect()).unwrap_or_default()
}

/// The case's rows in the outbox: what the desk queued, to whom, and whether it went out.
pub fn outbox(detail: &Value) -> Vec<&Value> {
    detail["outbox"].as_array().map(|o| o.iter().collect()).unwrap_or_default()
}

/// Waits until nothing of the case waits in the outbox any more (sent or failed for good).
pub async fn wait_outbox_drained(daemon: &Daemon, number: &str) -> Value {
    wait_case(daemon, number, "the outbox drains", |d| {
        outbox(d)
            .iter()
            .all(|row| row["status"] != "pendiente" && row["status"] != "fallo_temporal")
    })
    .await
}
