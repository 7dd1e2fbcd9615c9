//! The providers' registry and the known errors the desk learns, end to end against the real
//! Postfix + Dovecot of deploy/dev/mailstack.sh: the aliados buzón opens cases only for registered
//! technology providers (strangers and forged senders get one mail pointing to their channel), and
//! a problema solved with its root cause proposes a known error that, once its coordinator approves
//! it by mail, answers new cases with the same DIAN rule at first contact. Every check is on what
//! lands in real mailboxes, on `case show --json` / `case list --json` and on `kb export`.
//! (The same behaviours at the store tier: the last tests of tests/levels_store.rs.)

mod common;

use std::time::{Duration, Instant};

use common::{Daemon, Stack};
use futures::TryStreamExt;
use serde_json::Value;

const ALIADOS: &str = "sd_fistrib_fe_aliados@dian.gov.co";
/// The general buzón the redirect must point to.
const GENERAL: &str = "sd_facturaelectronica@dian.gov.co";
/// Registered by domain (pt.test) in [[proveedores]].
const PROVIDER: &str = "proveedor1@pt.test";
const PROVIDER_NIT: &str = "900123456";
const N2: &str = "agente.n2@fe.test";
const N3: &str = "agente.n3@fe.test";
const CSAT: &str = "csat@fe.test";
const CATCHALL: &str = "catchall@fe.test";
/// Not a registered provider. fe.test and pt.test are strict domains of the stack (unknown users
/// are refused with 550), so addresses that must land in the catch-all use other domains.
const STRANGER: &str = "cliente@clientes.test";
/// The n2_factura group's coordinator (config/mesa-fe.example.toml): lands in the catch-all.
const COORDINATOR: &str = "coord.factura@dian.gov.co";
/// The rule the built-in known-error base has no answer for.
const RULE: &str = "FAW99";
const RULE_TEXT: &str =
    "Regla: FAW99, Rechazo: El servicio de validación no reconoce el grupo de impuestos.";

/// How long any one thing may take to show up.
const WAIT: Duration = Duration::from_secs(30);

const N2_GROUPS: &str = "[\"n2_factura\", \"n2_radian\", \"n2_nomina\", \"n2_documento_soporte\", \
                         \"n2_habilitacion\", \"n2_facturador_gratuito\"]";

/// The facturadores of the known-error test: single addresses of the registered provider
/// (`direcciones`), on a domain that lands in the catch-all, so each has his own address.
fn facturador(n: usize) -> String {
    format!("facturador{n}@facturadores.test")
}

/// The aliados buzón (providers only) on loopback IMAP/SMTP; one registered provider (the pt.test
/// domain and the facturadores' own addresses); one N2 agent for every N2 group, one N3 agent.
fn config(stack: &Stack, processed: &str) -> String {
    let addresses: Vec<String> = (0..=7).map(|n| format!("\"{}\"", facturador(n))).collect();
    format!(
        "[[buzones]]\nnombre = \"aliados\"\ndireccion = \"{ALIADOS}\"\ncanal = \"correo\"\n\
         solo_proveedores = true\n\
         [buzones.imap]\nservidor = \"{host}\"\npuerto = {imap}\ntls = \"ninguno\"\nusuario = \"{ALIADOS}\"\n\
         autenticacion = \"contrasena\"\ncontrasena = {{ variable = \"MESA_FE_MAILSTACK_PASSWORD\" }}\n\
         carpeta = \"INBOX\"\ncarpeta_procesados = \"{processed}\"\nintervalo_sondeo_segundos = 2\n\
         [buzones.smtp]\nservidor = \"{host}\"\npuerto = {smtp}\ntls = \"ninguno\"\n\n\
         [enrutamiento]\nadministracion_tecnica = \"{CSAT}\"\n\n\
         [control_posterior]\ndias_habiles = 3\n\n\
         [[agentes]]\ncorreo = \"{N2}\"\nnombre = \"Agente N2\"\nnivel = \"n2\"\ngrupos = {N2_GROUPS}\nactivo = true\n\n\
         [[agentes]]\ncorreo = \"{N3}\"\nnombre = \"Agente N3\"\nnivel = \"n3\"\ngrupos = [\"n3\"]\nactivo = true\n\n\
         [[proveedores]]\nnit = \"{PROVIDER_NIT}\"\nnombre = \"Proveedor Uno SAS\"\ndominios = [\"pt.test\"]\n\
         direcciones = [{addresses}]\n",
        host = stack.host,
        imap = stack.imap_port,
        smtp = smtp_port(),
        addresses = addresses.join(", "),
    )
}

fn smtp_port() -> u16 {
    std::env::var("MESA_FE_MAILSTACK_SMTP_PORT")
        .expect("MESA_FE_MAILSTACK_SMTP_PORT")
        .parse()
        .expect("port")
}

/// A token no earlier run used: in subjects and Message-IDs, so a test only ever looks at its own
/// mail (case numbers start again at 000001 with each test's fresh base).
fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{tag}-{:x}{:06x}", std::process::id(), nanos % 0xff_ffff)
}

/// Empty INBOXes for every user these tests read, a fresh processed folder, and the daemon.
async fn start_desk(stack: &Stack, processed: &str) -> Daemon {
    for user in [ALIADOS, PROVIDER, N2, N3, CSAT, CATCHALL] {
        clear_inbox(stack, user).await;
    }
    stack.fresh_folders(ALIADOS, &[processed]).await;
    let mut daemon = Daemon::new(&config(stack, processed));
    daemon.start();
    daemon
}

/// Empties a user's INBOX: these tests read the real INBOX Postfix delivers to, one at a time.
async fn clear_inbox(stack: &Stack, user: &str) {
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

/// Sends `raw` through the stack's SMTP port (no auth from loopback), like a mail client would.
/// Postfix passes the message's own header lines through unchanged (no milter on the stack), so
/// an `Authentication-Results` written here reaches the buzón as written.
async fn smtp_send(stack: &Stack, from: &str, to: &str, raw: &[u8]) {
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

/// A plain mail to the aliados buzón as a person writes it.
struct Letter<'a> {
    from: &'a str,
    name: &'a str,
    subject: &'a str,
    /// Bare (without angle brackets).
    message_id: &'a str,
    /// The Message-ID (bare) this mail answers.
    reply_to: Option<&'a str>,
    body: &'a str,
    /// Extra header lines, each ending in CRLF.
    headers: &'a str,
    /// Attach tests/fixtures/dian/ad_factura_validada_02.xml (a request that speaks of a DIAN
    /// rejection is complete only with an XML).
    xml: bool,
}

impl Letter<'_> {
    fn bytes(&self) -> Vec<u8> {
        let thread = self
            .reply_to
            .map(|id| format!("In-Reply-To: <{id}>\r\nReferences: <{id}>\r\n"))
            .unwrap_or_default();
        let head = format!(
            "From: {name} <{from}>\r\nTo: {ALIADOS}\r\nSubject: {subject}\r\n\
             Date: {date}\r\nMessage-ID: <{id}>\r\n{thread}{extra}MIME-Version: 1.0\r\n",
            name = self.name,
            from = self.from,
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

fn fixture_xml() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/dian/ad_factura_validada_02.xml"),
    )
    .expect("AttachedDocument fixture")
}

/// A complete request (description, NIT, document number, no rejection) tagged with `token`;
/// `headers`: extra header lines.
fn complete_request(
    from: &str,
    token: &str,
    number: &str,
    message_id: &str,
    headers: &str,
) -> Vec<u8> {
    Letter {
        from,
        name: "Solicitante",
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

/// A request quoting the DIAN rule without a built-in answer, with its XML: complete.
fn rule_request(from: &str, n: usize, token: &str, message_id: &str) -> Vec<u8> {
    Letter {
        from,
        name: &format!("Facturador {n}"),
        subject: &format!("Factura SETP{n:05} rechazada ({token})"),
        message_id,
        reply_to: None,
        body: &format!(
            "Buenos días, la factura SETP{n:05} del NIT 900.123.456-7 fue rechazada por la DIAN. \
             {RULE_TEXT}"
        ),
        headers: "",
        xml: true,
    }
    .bytes()
}

/// A reply to a mail of the desk: the command on the first line.
async fn answer(stack: &Stack, from: &str, name: &str, to_mail: &Mail, body: &str) {
    let id = format!("{}@{}", unique("resp"), from.rsplit('@').next().unwrap_or("fe.test"));
    let raw = Letter {
        from,
        name,
        subject: &format!("RE: {}", to_mail.subject),
        message_id: &id,
        reply_to: Some(&to_mail.message_id),
        body,
        headers: "",
        xml: false,
    }
    .bytes();
    smtp_send(stack, from, ALIADOS, &raw).await;
}

// ------------------------------------------------------------------------------------ reading

/// One delivered message, as a mail client shows it.
#[derive(Debug, Clone)]
struct Mail {
    to: Vec<String>,
    subject: String,
    /// Bare.
    message_id: String,
    in_reply_to: Vec<String>,
    references: Vec<String>,
    /// Every text body, decoded.
    text: String,
    /// Every HTML body, decoded.
    html: String,
}

impl Mail {
    fn parse(raw: &[u8]) -> Option<Mail> {
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
        Some(Mail {
            to,
            subject: message.subject().unwrap_or_default().to_string(),
            message_id: message.message_id().unwrap_or_default().to_string(),
            in_reply_to: ids(message.in_reply_to()),
            references: ids(message.references()),
            text,
            html,
        })
    }

    fn is_to(&self, address: &str) -> bool {
        self.to.iter().any(|a| a.eq_ignore_ascii_case(address))
    }

    /// Text and HTML together: whatever the reader's client shows.
    fn shown(&self) -> String {
        format!("{}\n{}", self.text, self.html)
    }

    fn answers(&self, message_id: &str) -> bool {
        self.in_reply_to.iter().chain(&self.references).any(|id| id == message_id)
    }

    /// The desk's kind of mail, from the detail its signed Message-ID carries
    /// (`FE-….r7.0.solucion.SIGNATURE@domain`).
    fn is_kind(&self, kind: &str) -> bool {
        self.message_id.contains(&format!(".{kind}."))
    }

    fn kind(&self) -> &str {
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

/// Every message in a folder of `user`.
async fn folder(stack: &Stack, user: &str, name: &str) -> Vec<(Mail, Vec<u8>)> {
    let mut session = stack.login(user).await;
    let Ok(mailbox) = session.examine(name).await else { return Vec::new() };
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
    let found = fetches
        .iter()
        .filter_map(|f| f.body())
        .filter_map(|raw| Mail::parse(raw).map(|m| (m, raw.to_vec())))
        .collect();
    let _ = session.logout().await;
    found
}

/// Every message in a user's INBOX.
async fn inbox(stack: &Stack, user: &str) -> Vec<Mail> {
    folder(stack, user, "INBOX").await.into_iter().map(|(m, _)| m).collect()
}

/// The mail in `user`'s INBOX that `pred` accepts.
async fn matching(stack: &Stack, user: &str, pred: impl Fn(&Mail) -> bool) -> Vec<Mail> {
    inbox(stack, user).await.into_iter().filter(|m| pred(m)).collect()
}

/// The first mail in `user`'s INBOX that `pred` accepts, waiting up to [`WAIT`].
async fn wait_mail(
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
fn case_number(subject: &str) -> String {
    let start = subject.find("[FE-").unwrap_or_else(|| panic!("no case tag in {subject:?}"));
    let rest = &subject[start + 1..];
    rest[..rest.find(']').expect("closing bracket")].to_string()
}

// ------------------------------------------------------------------------------------ the case

/// A one-shot `mesa-fe …` next to the running service; its standard output, which must succeed.
fn cli(daemon: &Daemon, args: &[&str]) -> String {
    let out = daemon.cli(args);
    assert!(
        out.status.success(),
        "mesa-fe {}: {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `mesa-fe case show NUMBER --json`.
fn case_show(daemon: &Daemon, number: &str) -> Value {
    serde_json::from_str(&cli(daemon, &["case", "show", number, "--json"]))
        .expect("case show --json prints JSON")
}

/// `mesa-fe case list --canal rechazado --json`.
fn rejected_cases(daemon: &Daemon) -> Vec<Value> {
    let text = cli(daemon, &["case", "list", "--canal", "rechazado", "--json"]);
    let listed: Value = serde_json::from_str(&text).expect("case list --json prints JSON");
    listed.as_array().cloned().unwrap_or_else(|| panic!("a JSON list: {text}"))
}

/// Waits until the case's `case show --json` satisfies `done`.
async fn wait_case(
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

fn field<'a>(detail: &'a Value, key: &str) -> &'a str {
    detail[key].as_str().unwrap_or_default()
}

fn events(detail: &Value) -> Vec<&Value> {
    detail["events"].as_array().map(|e| e.iter().collect()).unwrap_or_default()
}

fn has_event(detail: &Value, pred: impl Fn(&str) -> bool) -> bool {
    events(detail).iter().any(|e| pred(e["detail"].as_str().unwrap_or_default()))
}

fn outbox(detail: &Value) -> Vec<&Value> {
    detail["outbox"].as_array().map(|o| o.iter().collect()).unwrap_or_default()
}

fn outbox_kinds(detail: &Value) -> Vec<String> {
    outbox(detail).iter().map(|row| row["kind"].as_str().unwrap_or_default().to_string()).collect()
}

/// Waits until nothing of the case waits in the outbox any more (sent or failed for good).
async fn wait_outbox_drained(daemon: &Daemon, number: &str) -> Value {
    wait_case(daemon, number, "the outbox drains", |d| {
        outbox(d)
            .iter()
            .all(|row| row["status"] != "pendiente" && row["status"] != "fallo_temporal")
    })
    .await
}

// ------------------------------------------------------------------------------------ the tests

#[tokio::test]
async fn only_registered_providers_get_a_case_in_the_aliados_buzon() {
    let stack = Stack::from_env();
    let processed = "t-registro-aliados";
    let daemon = start_desk(&stack, processed).await;

    // (a) a stranger, (b) the registered provider, (c) the provider's address with SPF and DKIM
    // failed: three requests, each with its own token.
    let stranger_token = unique("ajeno");
    let stranger_id = format!("{stranger_token}@clientes.test");
    let stranger = complete_request(STRANGER, &stranger_token, "FEPT1001", &stranger_id, "");
    smtp_send(&stack, STRANGER, ALIADOS, &stranger).await;

    let provider_token = unique("registrado");
    let provider_id = format!("{provider_token}@pt.test");
    let provider = complete_request(PROVIDER, &provider_token, "FEPT1002", &provider_id, "");
    smtp_send(&stack, PROVIDER, ALIADOS, &provider).await;

    let forged_token = unique("falsificado");
    let forged_id = format!("{forged_token}@pt.test");
    let forged = complete_request(
        PROVIDER,
        &forged_token,
        "FEPT1003",
        &forged_id,
        "Authentication-Results: mx.dian.gov.co; dkim=fail header.d=pt.test; \
         spf=fail smtp.mailfrom=pt.test\r\n",
    );
    smtp_send(&stack, PROVIDER, ALIADOS, &forged).await;

    // (a) The stranger gets one mail that points him to the general buzón and the Contact Center.
    let redirect = wait_mail(&stack, &daemon, CATCHALL, "respuesta al no registrado", |m| {
        m.is_to(STRANGER) && m.answers(&stranger_id)
    })
    .await;
    assert!(redirect.is_kind("redireccion_canal"), "a redirect, not {}", redirect.kind());
    let stranger_case = case_number(&redirect.subject);
    assert!(redirect.subject.contains(&stranger_token), "{}", redirect.subject);
    assert!(
        redirect.text.contains(GENERAL),
        "the redirect names the general buzón {GENERAL}:\n{}",
        redirect.text
    );
    assert!(
        redirect.text.contains("Contact Center"),
        "the redirect names the Contact Center:\n{}",
        redirect.text
    );
    assert!(redirect.text.contains(&stranger_case), "it names the record:\n{}", redirect.text);
    let detail = wait_outbox_drained(&daemon, &stranger_case).await;
    assert_eq!(outbox_kinds(&detail), vec!["redireccion_canal"], "only the redirect was queued");

    // (b) The registered provider gets his acuse, N2 is told, the case knows the provider.
    let ack = wait_mail(&stack, &daemon, PROVIDER, "acuse al proveedor registrado", |m| {
        m.answers(&provider_id)
    })
    .await;
    assert!(ack.is_kind("acuse_recibo"), "an acuse, not {}", ack.kind());
    let provider_case = case_number(&ack.subject);
    assert!(ack.shown().contains(&provider_case), "the acuse names the case:\n{}", ack.text);
    let note = wait_mail(&stack, &daemon, N2, "notificación N2 del proveedor", |m| {
        m.subject.contains(&provider_token)
    })
    .await;
    assert!(note.is_kind("notificacion_agente"), "{}", note.kind());
    assert_eq!(case_number(&note.subject), provider_case);
    wait_outbox_drained(&daemon, &provider_case).await;
    let shown = case_show(&daemon, &provider_case);
    assert_eq!(shown["provider_nit"].as_str(), Some(PROVIDER_NIT), "{shown:#}");
    assert_eq!(
        (field(&shown, "channel"), field(&shown, "level"), field(&shown, "status")),
        ("correo", "n2", "en_atencion")
    );

    // (c) The same address with SPF/DKIM failed is not trusted: a redirect, no case at N2.
    let forged_answer =
        wait_mail(&stack, &daemon, PROVIDER, "respuesta al correo falsificado", |m| {
            m.answers(&forged_id)
        })
        .await;
    assert!(
        forged_answer.is_kind("redireccion_canal"),
        "a sender failing SPF/DKIM is treated as not registered: got {} «{}»\n{}",
        forged_answer.kind(),
        forged_answer.subject,
        forged_answer.text
    );
    let forged_case = case_number(&forged_answer.subject);
    assert!(forged_answer.text.contains(GENERAL), "{}", forged_answer.text);
    let detail = wait_outbox_drained(&daemon, &forged_case).await;
    assert_eq!(outbox_kinds(&detail), vec!["redireccion_canal"], "only the redirect was queued");
    assert_eq!(detail["provider_nit"], Value::Null, "no provider on a forged sender's record");
    // The header really reached the buzón (the stack keeps it): what the desk read carried it.
    let stored = folder(&stack, ALIADOS, processed).await;
    let (_, raw) = stored
        .iter()
        .find(|(m, _)| m.message_id == forged_id)
        .expect("the forged request in the processed folder");
    assert!(
        String::from_utf8_lossy(raw).contains("dkim=fail header.d=pt.test"),
        "the forged request kept its Authentication-Results"
    );

    // Exactly one mail each to the stranger and, about the forged request, to the provider.
    let to_stranger =
        matching(&stack, CATCHALL, |m| m.is_to(STRANGER) && m.subject.contains(&stranger_token))
            .await;
    assert_eq!(to_stranger.len(), 1, "one mail to the stranger: {to_stranger:#?}");
    let about_forged = matching(&stack, PROVIDER, |m| m.subject.contains(&forged_token)).await;
    assert_eq!(about_forged.len(), 1, "one mail about the forged request: {about_forged:#?}");
    // N2 heard only of the registered provider's case.
    for token in [&stranger_token, &forged_token] {
        let to_n2 = matching(&stack, N2, |m| {
            m.subject.contains(token.as_str()) || m.shown().contains(token.as_str())
        })
        .await;
        assert!(to_n2.is_empty(), "N2 got mail about a rejected sender: {to_n2:#?}");
    }

    // Both rejected messages are kept on the `rechazado` channel, closed at N1; the provider's
    // case is not among them.
    let listed = rejected_cases(&daemon);
    for number in [&stranger_case, &forged_case] {
        let row =
            listed.iter().find(|c| c["number"].as_str() == Some(number.as_str())).unwrap_or_else(
                || panic!("{number} is not in case list --canal rechazado: {listed:#?}"),
            );
        assert_eq!(
            (field(row, "status"), field(row, "level"), field(row, "channel")),
            ("cerrado", "n1", "rechazado"),
            "{row:#}"
        );
    }
    assert!(
        listed.iter().all(|c| c["number"].as_str() != Some(provider_case.as_str())),
        "the registered provider's case is not rejected: {listed:#?}"
    );
    assert_eq!(listed.len(), 2, "{listed:#?}");
}

#[tokio::test]
async fn a_problem_with_five_children_teaches_the_desk_a_known_error() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-registro-problema").await;
    let token = unique("problema");

    // Six facturadores of the registered provider report the same unknown rule.
    let requests: Vec<(String, String)> = (0..6)
        .map(|n| (facturador(n), format!("{token}.solicitud{n}@facturadores.test")))
        .collect();
    for (n, (from, id)) in requests.iter().enumerate() {
        smtp_send(&stack, from, ALIADOS, &rule_request(from, n, &token, id)).await;
    }
    let cases = daemon
        .wait_for_cases(WAIT, |cases| {
            cases.iter().filter(|c| c.subject.contains(&token) && c.status == "en_atencion").count()
                == 6
        })
        .await;
    let ours: Vec<_> = cases.iter().filter(|c| c.subject.contains(&token)).collect();
    assert_eq!(
        ours.iter().filter(|c| c.status == "en_atencion" && c.level == "n2").count(),
        6,
        "six cases at N2: {ours:#?}\n{}",
        daemon.log()
    );
    let numbers: Vec<String> = (0..6)
        .map(|n| {
            let document = format!("SETP{n:05}");
            ours.iter().find(|c| c.subject.contains(&document)).expect("case").number.clone()
        })
        .collect();
    let parent = numbers[0].clone();
    for child in &numbers[1..] {
        cli(&daemon, &["case", "link", child, &parent, "--agente", N2]);
    }
    wait_case(&daemon, &parent, "5 children", |d| {
        d["children"].as_array().is_some_and(|c| c.len() == 5)
    })
    .await;

    // The N2 agent works the parent by mail: a problema, its root cause, its workaround.
    let parent_note = wait_mail(&stack, &daemon, N2, "notificación del padre", |m| {
        m.subject.contains(&token) && m.subject.contains(&format!("[{parent}]"))
    })
    .await;
    answer(&stack, N2, "Agente N2", &parent_note, "#tipo problema").await;
    wait_case(&daemon, &parent, "a problema", |d| field(d, "case_type") == "problema").await;
    let cause = "El validador de la DIAN no tiene el grupo de impuestos ICUI en su catálogo.";
    answer(&stack, N2, "Agente N2", &parent_note, &format!("#causa\n{cause}")).await;
    wait_case(&daemon, &parent, "the root cause", |d| field(d, "root_cause") == cause).await;
    let workaround = "Envíe el grupo de impuestos ICUI con tarifa 0 mientras la DIAN actualiza el \
                      validador.";
    answer(&stack, N2, "Agente N2", &parent_note, &format!("#solucion\n{workaround}")).await;

    // Each of the six requesters gets the workaround on his own thread.
    for ((address, request_id), number) in requests.iter().zip(&numbers) {
        let got = wait_mail(&stack, &daemon, CATCHALL, &format!("solución a {address}"), |m| {
            m.is_to(address) && m.is_kind("solucion")
        })
        .await;
        assert!(got.text.contains(workaround), "{address} gets the workaround:\n{}", got.text);
        assert_eq!(got.in_reply_to, vec![request_id.clone()], "{address}: on his own thread");
        assert!(got.subject.contains(&format!("[{number}]")), "{address}: {}", got.subject);
    }

    // The coordinator of the tema's N2 group gets the proposal naming the rule.
    let proposal = wait_mail(&stack, &daemon, CATCHALL, "propuesta de error conocido", |m| {
        m.is_to(COORDINATOR) && m.is_kind("propuesta_error_conocido")
    })
    .await;
    assert!(proposal.subject.contains(&format!("[{parent}]")), "{}", proposal.subject);
    assert!(proposal.text.contains(RULE), "the proposal names {RULE}:\n{}", proposal.text);
    assert!(proposal.text.contains(workaround), "it carries the answer:\n{}", proposal.text);
    assert!(proposal.text.contains(cause), "it carries the root cause:\n{}", proposal.text);
    assert!(
        proposal.text.contains("#aprobar-error-conocido"),
        "it says how to approve:\n{}",
        proposal.text
    );
    let solved =
        wait_case(&daemon, &parent, "the parent solved", |d| field(d, "status") == "solucionado")
            .await;
    assert_eq!(field(&solved, "case_type"), "problema");

    // Not approved yet: nothing is learned.
    let guide = cli(&daemon, &["kb", "export", "--formato", "csv"]);
    assert!(!guide.contains(RULE), "{RULE} is in the guide before its approval:\n{guide}");

    // The coordinator approves by answering the proposal.
    let approval_id = format!("{token}.aprobacion@dian.gov.co");
    let approval = Letter {
        from: COORDINATOR,
        name: "Coordinación Factura",
        subject: &format!("RE: {}", proposal.subject),
        message_id: &approval_id,
        reply_to: Some(&proposal.message_id),
        body: "#aprobar-error-conocido\nDe acuerdo, que responda en primer contacto.",
        headers: "",
        xml: false,
    }
    .bytes();
    smtp_send(&stack, COORDINATOR, ALIADOS, &approval).await;
    wait_case(&daemon, &parent, "the approval", |d| {
        has_event(d, |detail| detail.contains("Error conocido aprobado"))
    })
    .await;

    // A new requester with the same rule is answered at first contact with the workaround.
    let newcomer = facturador(6);
    let new_id = format!("{token}.nuevo@facturadores.test");
    let new_token = format!("{token}-nuevo");
    smtp_send(&stack, &newcomer, ALIADOS, &rule_request(&newcomer, 6, &new_token, &new_id)).await;
    let known = wait_mail(&stack, &daemon, CATCHALL, "respuesta de error conocido", |m| {
        m.is_to(&newcomer) && m.answers(&new_id)
    })
    .await;
    assert!(
        known.is_kind("respuesta_error_conocido"),
        "a known-error answer at first contact, not {}:\n{}",
        known.kind(),
        known.text
    );
    assert!(known.text.contains(workaround), "it carries the workaround:\n{}", known.text);
    assert!(known.text.contains(RULE), "it names the rule:\n{}", known.text);
    let new_case = case_number(&known.subject);
    assert!(!numbers.contains(&new_case), "a new case: {new_case}");
    let detail = wait_outbox_drained(&daemon, &new_case).await;
    assert_eq!(
        (field(&detail, "status"), field(&detail, "level")),
        ("solucionado", "n1"),
        "solved at first contact: {detail:#}"
    );
    assert_eq!(
        outbox_kinds(&detail),
        vec!["respuesta_error_conocido"],
        "no agent is notified of it"
    );
    let to_n2 = matching(&stack, N2, |m| m.subject.contains(&new_token)).await;
    assert!(to_n2.is_empty(), "N2 got mail about the answered case: {to_n2:#?}");

    // The Contact Center's guide has it.
    let guide = cli(&daemon, &["kb", "export", "--formato", "csv"]);
    assert!(guide.contains(RULE), "{RULE} is in kb export --formato csv:\n{guide}");
    assert!(guide.contains(workaround), "the guide has the workaround:\n{guide}");
}
