//! The SMTP layer (`mesa_fe::mail::smtp::Sender`) against the real Postfix of the project's mail
//! stack: port 25-style relay without AUTH, submission with STARTTLS + AUTH, SMTPS with implicit
//! TLS + AUTH, XOAUTH2 through a token endpoint and an introspection endpoint served here, a
//! wrong CA, a wrong password, an unknown local recipient, a server that is not there. Delivery
//! is checked in `catchall@fe.test`'s INBOX over IMAP, by a unique Message-ID.
//!
//! Needs the stack and its variables:
//! `bash deploy/dev/mailstack.sh start && eval "$(bash deploy/dev/mailstack.sh env)"`.
//!
//! These tests share the stack (its users, the catch-all INBOX and the OAuth2 introspection
//! port) and belong in the `mailstack` nextest group (`binary(smtp_sending)` in
//! `.config/nextest.toml`). They never stop or restart the stack's services; each removes the
//! messages it delivered.

mod common;

use common::http::{bind_introspection, form_value, serve_http};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mesa_fe::config::{AuthMethod, OAuth2Settings, SecretRef, SmtpSettings, TlsMode};
use mesa_fe::mail::smtp::{Sender, SmtpError};
use tokio::net::{TcpListener, TcpStream};

/// The buzón the tests send from (a local user: AUTH as it works).
const FROM: &str = "sd_facturaelectronica@dian.gov.co";
/// Another domain: Postfix hands it to the catch-all mailbox with its `To:` intact.
const TO: &str = "rosa.prueba@correo.example";
/// How long a delivered message may take to show up in the catch-all INBOX.
const DELIVERY_WAIT: Duration = Duration::from_secs(10);

/// The mail stack as `mailstack.sh env` describes it.
struct Stack {
    host: String,
    smtp_port: u16,
    submission_port: u16,
    smtps_port: u16,
    imap_port: u16,
    ca: PathBuf,
    password: String,
    introspection: String,
    catchall: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "falta la variable {name}: arranque la pila de correo y cargue su entorno antes de \
             estas pruebas:\n  bash deploy/dev/mailstack.sh start && \
             eval \"$(bash deploy/dev/mailstack.sh env)\""
        )
    })
}

fn stack() -> Stack {
    let port =
        |name: &str| var(name).parse::<u16>().unwrap_or_else(|_| panic!("{name} no es un puerto"));
    Stack {
        host: var("MESA_FE_MAILSTACK_HOST"),
        smtp_port: port("MESA_FE_MAILSTACK_SMTP_PORT"),
        submission_port: port("MESA_FE_MAILSTACK_SUBMISSION_PORT"),
        smtps_port: port("MESA_FE_MAILSTACK_SMTPS_PORT"),
        imap_port: port("MESA_FE_MAILSTACK_IMAP_PORT"),
        ca: PathBuf::from(var("MESA_FE_MAILSTACK_CA")),
        password: var("MESA_FE_MAILSTACK_PASSWORD"),
        introspection: var("MESA_FE_MAILSTACK_OAUTH_INTROSPECTION"),
        catchall: var("MESA_FE_MAILSTACK_CATCHALL"),
    }
}

/// Plain relay from loopback: no TLS, no AUTH.
fn plain(stack: &Stack) -> SmtpSettings {
    SmtpSettings {
        host: stack.host.clone(),
        port: stack.smtp_port,
        tls: TlsMode::Ninguno,
        ca_file: None,
        user: None,
        auth: AuthMethod::Contrasena,
        password: None,
        oauth2: None,
        sender_name: "Mesa de Servicio Facturación Electrónica".into(),
        connections: 4,
    }
}

/// Authenticated submission as [`FROM`], trusting the stack's CA.
fn authenticated(stack: &Stack, tls: TlsMode, port: u16) -> SmtpSettings {
    SmtpSettings {
        tls,
        port,
        ca_file: Some(stack.ca.clone()),
        user: Some(FROM.into()),
        // The password really comes through the environment-variable path of `secrets`.
        password: Some(SecretRef {
            env: Some("MESA_FE_MAILSTACK_PASSWORD".into()),
            ..SecretRef::default()
        }),
        ..plain(stack)
    }
}

/// A Message-ID (without brackets) no other test or run uses.
fn unique_id(tag: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "smtp-{tag}.{}.{nanos}.{}@pruebas.mesa-fe.test",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// An answer as the outbox would hand it over: 8-bit UTF-8 body (BODY=8BITMIME) with a line
/// that starts with a dot (dot-stuffing on the wire).
fn message(id: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: Mesa de Servicio <{FROM}>\r\n\
         To: <{TO}>\r\n\
         Subject: [FE-2026-000123] {subject}\r\n\
         Date: Mon, 2 Feb 2026 10:00:00 -0500\r\n\
         Message-ID: <{id}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Señor(a) proveedor: recibimos su solicitud sobre facturación electrónica.\r\n\
         .línea que empieza con punto\r\n\
         marca {id}\r\n"
    )
    .into_bytes()
}

/// Sends one message and returns the server's reply and how long the send took.
async fn send(sender: &Sender, to: &str, id: &str) -> Result<(String, Duration), SmtpError> {
    let started = Instant::now();
    let reply = sender.send(FROM, &[to.to_string()], &message(id, "acuse de recibo")).await?;
    Ok((reply, started.elapsed()))
}

/// Waits until the message with Message-ID `id` is in the catch-all INBOX, checks it arrived
/// whole, removes it and returns how long it took to show up.
async fn delivered(stack: &Stack, id: &str) -> Duration {
    let started = Instant::now();
    let tcp = TcpStream::connect((stack.host.as_str(), stack.imap_port)).await.unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap().unwrap();
    let mut session =
        client.login(&stack.catchall, &stack.password).await.map_err(|(e, _)| e).unwrap();
    session.select("INBOX").await.unwrap();
    let uid = loop {
        let found = session.uid_search(format!("HEADER Message-ID \"{id}\"")).await.unwrap();
        if let Some(uid) = found.into_iter().next() {
            break uid;
        }
        assert!(
            started.elapsed() < DELIVERY_WAIT,
            "<{id}> no llegó al INBOX de {} en {DELIVERY_WAIT:?}",
            stack.catchall
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        session.noop().await.unwrap();
    };
    let took = started.elapsed();
    let fetched: Vec<_> = session
        .uid_fetch(uid.to_string(), "BODY.PEEK[]")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let raw = String::from_utf8_lossy(fetched[0].body().expect("BODY[]")).to_string();
    assert!(raw.contains(&format!("To: <{TO}>")), "{raw}");
    assert!(raw.contains("Señor(a) proveedor"), "8-bit body intact: {raw}");
    assert!(raw.contains("\r\n.línea que empieza con punto\r\n"), "dot-stuffing undone: {raw}");
    assert!(raw.contains(&format!("marca {id}")), "{raw}");
    let _: Vec<_> = session
        .uid_store(uid.to_string(), "+FLAGS (\\Deleted)")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let _: Vec<_> =
        session.uid_expunge(uid.to_string()).await.unwrap().try_collect().await.unwrap();
    session.logout().await.unwrap();
    took
}

/// Sends `count` messages through `sender`, checks each was delivered, prints the latencies.
async fn send_and_check(stack: &Stack, sender: &Sender, label: &str, count: usize) {
    let mut latencies = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..count {
        let id = unique_id(label);
        let (reply, took) = send(sender, TO, &id).await.unwrap();
        assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{label}: {reply}");
        latencies.push(took);
        ids.push(id);
    }
    let mut deliveries = Vec::new();
    for id in &ids {
        deliveries.push(delivered(stack, id).await);
    }
    eprintln!(
        "{label}: envío {latencies:?} (el primero abre la conexión; los demás la reutilizan); \
         visible por IMAP tras {deliveries:?}"
    );
}

#[tokio::test]
async fn plain_relay_without_auth_delivers() {
    let stack = stack();
    let sender = Sender::new(&plain(&stack)).unwrap();
    send_and_check(&stack, &sender, "plano", 3).await;
}

#[tokio::test]
async fn submission_with_starttls_auth_and_the_stack_ca() {
    let stack = stack();
    let settings = authenticated(&stack, TlsMode::Starttls, stack.submission_port);
    let sender = Sender::new(&settings).unwrap();
    send_and_check(&stack, &sender, "starttls", 3).await;
}

#[tokio::test]
async fn smtps_with_implicit_tls_and_auth() {
    let stack = stack();
    let settings = authenticated(&stack, TlsMode::Implicito, stack.smtps_port);
    let sender = Sender::new(&settings).unwrap();
    send_and_check(&stack, &sender, "smtps", 3).await;
}

#[tokio::test]
async fn a_wrong_ca_is_transient_with_a_clear_error() {
    let stack = stack();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "CA equivocada");
    let other_ca = params.self_signed(&key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("otra-ca.pem");
    std::fs::write(&pem, other_ca.pem()).unwrap();

    for (tls, port) in
        [(TlsMode::Implicito, stack.smtps_port), (TlsMode::Starttls, stack.submission_port)]
    {
        let mut settings = authenticated(&stack, tls, port);
        settings.ca_file = Some(pem.clone());
        let sender = Sender::new(&settings).unwrap();
        let err = send(&sender, TO, &unique_id("ca")).await.expect_err("otra CA aceptada");
        let text = err.to_string();
        assert!(err.is_transient() && err.code().is_none(), "{tls:?}: {err:?}");
        assert!(text.contains("no se pudo verificar el certificado del servidor"), "{text}");
        assert!(text.contains("no lo firmó una autoridad de confianza"), "{text}");
        assert!(text.contains("revise `ca`"), "{text}");
        eprintln!("CA equivocada ({tls:?}): {text}");
    }

    // Without `ca`, the bundled public roots do not know the stack's CA either.
    let mut settings = authenticated(&stack, TlsMode::Implicito, stack.smtps_port);
    settings.ca_file = None;
    let err = send(&Sender::new(&settings).unwrap(), TO, &unique_id("ca")).await.unwrap_err();
    assert!(err.to_string().contains("no se pudo verificar el certificado"), "{err}");
}

/// 535 is transient by design: the message is fine, the buzón's credentials are not, and every
/// answer of the buzón must wait in the queue until an operator fixes them.
#[tokio::test]
async fn a_wrong_password_is_transient_535_and_does_not_show_it() {
    let stack = stack();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clave");
    std::fs::write(&file, "clave-equivocada-58\n").unwrap();
    let mut settings = authenticated(&stack, TlsMode::Starttls, stack.submission_port);
    settings.password = Some(SecretRef { file: Some(file), ..SecretRef::default() });
    let sender = Sender::new(&settings).unwrap();
    let started = Instant::now();
    let err = send(&sender, TO, &unique_id("clave")).await.unwrap_err();
    let text = err.to_string();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(err.code(), Some(535), "{err:?}");
    assert!(text.contains(FROM) && text.contains("revise `usuario` y la contraseña"), "{text}");
    assert!(!text.contains("clave-equivocada-58"), "{text}");
    eprintln!("contraseña equivocada ({:?}): {text}", started.elapsed());
}

#[tokio::test]
async fn an_unknown_local_recipient_is_permanent_550() {
    let stack = stack();
    let sender = Sender::new(&plain(&stack)).unwrap();
    let err = send(&sender, "nadie@fe.test", &unique_id("nadie")).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SmtpError::Permanent { code: Some(550), .. }), "{err:?}");
    assert!(text.contains("550 5.1.1 <nadie@fe.test>"), "{text}");
    eprintln!("destinatario desconocido: {text}");
    // The aborted transaction leaves the sender usable.
    send_and_check(&stack, &sender, "tras-550", 1).await;
}

#[tokio::test]
async fn a_server_that_is_not_there_is_transient() {
    let stack = stack();
    // A port that was free a moment ago.
    let listener = TcpListener::bind((stack.host.as_str(), 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    for tls in [TlsMode::Ninguno, TlsMode::Implicito, TlsMode::Starttls] {
        let mut settings = authenticated(&stack, tls, port);
        if tls == TlsMode::Ninguno {
            settings.user = None;
        }
        let sender = Sender::new(&settings).unwrap();
        let started = Instant::now();
        let err = send(&sender, TO, &unique_id("caido")).await.unwrap_err();
        assert!(err.is_transient() && err.code().is_none(), "{tls:?}: {err:?}");
        assert!(err.to_string().contains("conexión rechazada"), "{err}");
        eprintln!("servidor caído ({tls:?}, {:?}): {err}", started.elapsed());
    }
}

/// Tokens the test's token endpoint issued, by token: (user, still active).
type Issued = Arc<Mutex<HashMap<String, (String, bool)>>>;

#[tokio::test]
async fn xoauth2_with_the_token_source_and_a_revoked_token() {
    let stack = stack();
    let issued: Issued = Arc::new(Mutex::new(HashMap::new()));
    let token_requests = Arc::new(AtomicUsize::new(0));

    // Token endpoint (client-credentials grant) on a free port.
    let token_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token_url = format!("http://{}/token", token_listener.local_addr().unwrap());
    let (tokens_map, count) = (issued.clone(), token_requests.clone());
    serve_http(token_listener, move |_path, body| {
        if form_value(body, "client_secret").as_deref() != Some("secreto-del-cliente") {
            return (401, r#"{"error":"invalid_client"}"#.into());
        }
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("smtptok{n}x{}", std::process::id());
        tokens_map.lock().unwrap().insert(token.clone(), (FROM.to_string(), true));
        (200, format!(r#"{{"access_token":"{token}","expires_in":3600,"token_type":"Bearer"}}"#))
    });
    // Introspection endpoint (RFC 7662) where Dovecot, behind Postfix's SASL, checks tokens.
    let tokens_map = issued.clone();
    serve_http(bind_introspection(&stack.introspection).await, move |_path, body| {
        let token = form_value(body, "token").unwrap_or_default();
        match tokens_map.lock().unwrap().get(&token) {
            Some((user, true)) => (200, format!(r#"{{"active":true,"username":"{user}"}}"#)),
            _ => (200, r#"{"active":false}"#.into()),
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secreto");
    std::fs::write(&secret, "secreto-del-cliente\n").unwrap();
    let mut settings = authenticated(&stack, TlsMode::Implicito, stack.smtps_port);
    settings.auth = AuthMethod::Xoauth2;
    settings.password = None;
    settings.oauth2 = Some(OAuth2Settings {
        token_url,
        client_id: "mesa-fe-pruebas".into(),
        client_secret: SecretRef { file: Some(secret), ..SecretRef::default() },
        scope: "https://outlook.office365.com/.default".into(),
    });
    let sender = Sender::new(&settings).unwrap();
    send_and_check(&stack, &sender, "xoauth2", 2).await;
    assert_eq!(token_requests.load(Ordering::SeqCst), 1, "one cached token");

    // Revoke every token and drop the pooled (already logged-in) connection: the next login is
    // refused, clearly, transiently, and the token is forgotten.
    for (_, active) in issued.lock().unwrap().values_mut() {
        *active = false;
    }
    sender.close().await;
    let err = send(&sender, TO, &unique_id("revocado")).await.unwrap_err();
    let text = err.to_string();
    assert!(err.is_transient(), "{err:?}");
    assert!(text.contains("no aceptó el token OAuth2 de") && text.contains(FROM), "{text}");
    assert!(!issued.lock().unwrap().keys().any(|t| text.contains(t.as_str())), "{text}");
    eprintln!("token revocado: {text}");

    // The next send asks for a new token and goes through.
    send_and_check(&stack, &sender, "xoauth2-nuevo", 1).await;
    assert_eq!(token_requests.load(Ordering::SeqCst), 2);
}
