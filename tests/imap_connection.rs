//! The IMAP layer (`mesa_fe::mail::imap`) against the real Dovecot of the project's mail stack:
//! plaintext, IMAPS and STARTTLS with the stack's CA, a wrong CA, a wrong password, XOAUTH2
//! through a token endpoint and an introspection endpoint served here, MOVE / COPY+EXPUNGE /
//! \Seen, and IDLE.
//!
//! Needs the stack and its variables:
//! `bash deploy/dev/mailstack.sh start && eval "$(bash deploy/dev/mailstack.sh env)"`.
//! Every test works in folders of its own (unique names, deleted at the end), so tests run in
//! parallel and beside other suites using the same users.

mod common;

use common::http::{bind_introspection, form_value, serve_http};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mesa_fe::config::{
    AfterProcessing, AuthMethod, ImapSettings, OAuth2Settings, SecretRef, TlsMode,
};
use mesa_fe::mail::imap::{Connector, IdleOutcome, ImapError, Mailbox};
use mesa_fe::mail::oauth::TokenSource;
use tokio::net::{TcpListener, TcpStream};

/// The mail stack as `mailstack.sh env` describes it.
struct Stack {
    host: String,
    imap_port: u16,
    imaps_port: u16,
    ca: PathBuf,
    password: String,
    introspection: String,
    user: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "falta la variable {name}: arranque la pila de correo y cargue su entorno antes de \
             estas pruebas:\n  bash deploy/dev/mailstack.sh start\n  \
             eval \"$(bash deploy/dev/mailstack.sh env)\""
        )
    })
}

fn stack() -> Stack {
    let port =
        |name: &str| var(name).parse::<u16>().unwrap_or_else(|_| panic!("{name} no es un puerto"));
    let users = var("MESA_FE_MAILSTACK_USERS");
    // A user the daemon suites do not watch; any user works since folders are per test.
    let user = users
        .split_whitespace()
        .find(|u| *u == "proveedor1@pt.test")
        .or_else(|| users.split_whitespace().next())
        .expect("MESA_FE_MAILSTACK_USERS está vacía")
        .to_string();
    Stack {
        host: var("MESA_FE_MAILSTACK_HOST"),
        imap_port: port("MESA_FE_MAILSTACK_IMAP_PORT"),
        imaps_port: port("MESA_FE_MAILSTACK_IMAPS_PORT"),
        ca: PathBuf::from(var("MESA_FE_MAILSTACK_CA")),
        password: var("MESA_FE_MAILSTACK_PASSWORD"),
        introspection: var("MESA_FE_MAILSTACK_OAUTH_INTROSPECTION"),
        user,
    }
}

/// A folder name no other test (or run) uses.
fn unique(tag: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "prueba-{tag}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

fn settings(stack: &Stack, folder: &str, processed: &str) -> ImapSettings {
    ImapSettings {
        host: stack.host.clone(),
        port: stack.imap_port,
        tls: TlsMode::Ninguno,
        ca_file: None,
        user: stack.user.clone(),
        auth: AuthMethod::Contrasena,
        // The password really comes through the environment-variable path of `secrets`.
        password: Some(SecretRef {
            env: Some("MESA_FE_MAILSTACK_PASSWORD".into()),
            ..SecretRef::default()
        }),
        oauth2: None,
        folder: folder.into(),
        processed_folder: processed.into(),
        after_processing: AfterProcessing::Mover,
        batch: 50,
        poll_seconds: 60,
        idle: true,
        idle_renew_minutes: 25,
    }
}

/// A second, independent session (plain LOGIN) to set up and inspect folders.
struct Helper {
    session: async_imap::Session<TcpStream>,
    created: Vec<String>,
}

impl Helper {
    async fn new(stack: &Stack) -> Helper {
        let tcp = TcpStream::connect((stack.host.as_str(), stack.imap_port)).await.unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap().unwrap();
        let session = client.login(&stack.user, &stack.password).await.map_err(|(e, _)| e).unwrap();
        Helper { session, created: Vec::new() }
    }

    async fn create(&mut self, folder: &str) {
        self.session.create(folder).await.unwrap();
        self.created.push(folder.to_string());
    }

    async fn append(&mut self, folder: &str, subject: &str) {
        let message = format!(
            "From: Proveedor <proveedor1@pt.test>\r\nTo: soporte@dian.gov.co\r\n\
             Subject: {subject}\r\nMessage-ID: <{subject}@pt.test>\r\n\
             Date: Mon, 3 Mar 2025 10:00:00 -0500\r\n\r\nCuerpo de {subject}.\r\n"
        );
        self.session.append(folder, None, None, message.as_bytes()).await.unwrap();
    }

    async fn count(&mut self, folder: &str) -> u32 {
        self.session.status(folder, "(MESSAGES)").await.unwrap().exists
    }

    /// Flags of every message of `folder`, by UID.
    async fn flags(&mut self, folder: &str) -> HashMap<u32, Vec<String>> {
        self.session.examine(folder).await.unwrap();
        let fetched: Vec<_> =
            self.session.uid_fetch("1:*", "FLAGS").await.unwrap().try_collect().await.unwrap();
        self.session.close().await.unwrap();
        fetched
            .iter()
            .filter_map(|f| Some((f.uid?, f.flags().map(|fl| format!("{fl:?}")).collect())))
            .collect()
    }

    async fn cleanup(mut self) {
        for folder in std::mem::take(&mut self.created) {
            let _ = self.session.delete(&folder).await;
        }
        let _ = self.session.logout().await;
    }
}

async fn connect(connector: &Connector) -> (Mailbox, Duration) {
    let started = Instant::now();
    let mailbox = connector.connect().await.unwrap_or_else(|e| panic!("connect: {e}"));
    (mailbox, started.elapsed())
}

#[tokio::test]
async fn plaintext_login_fetch_and_move_to_the_processed_folder() {
    let stack = stack();
    let mut helper = Helper::new(&stack).await;
    let (folder, processed) = (unique("mover"), unique("procesados"));
    helper.create(&folder).await;
    for n in 1..=3 {
        helper.append(&folder, &format!("mover-{n}")).await;
    }
    // The processed folder does not exist yet: connect() creates it.
    let connector = Connector::new(&settings(&stack, &folder, &processed)).unwrap();
    let (mut mailbox, took) = connect(&connector).await;
    helper.created.push(processed.clone());
    eprintln!("tiempo conexión+login (texto plano): {took:?}");
    assert!(mailbox.uidvalidity() > 0);
    assert!(mailbox.has_idle() && mailbox.has_move());

    let uids = mailbox.candidates(0).await.unwrap();
    assert_eq!(uids, [1, 2, 3]);
    let sizes = mailbox.sizes(&uids).await.unwrap();
    assert_eq!(sizes.iter().map(|(uid, _)| *uid).collect::<Vec<_>>(), uids);
    assert!(sizes.iter().all(|(_, size)| *size > 100), "{sizes:?}");

    let fetched = mailbox.fetch(&[3, 1, 2, 99]).await.unwrap();
    assert_eq!(fetched.iter().map(|(uid, _)| *uid).collect::<Vec<_>>(), [1, 2, 3]);
    for ((uid, raw), (_, size)) in fetched.iter().zip(&sizes) {
        let text = String::from_utf8_lossy(raw);
        assert!(text.contains(&format!("Subject: mover-{uid}")), "{text}");
        assert!(text.contains(&format!("Cuerpo de mover-{uid}.")), "{text}");
        assert_eq!(raw.len() as u64, *size, "BODY[] is the whole message");
    }
    let headers = mailbox.fetch_headers(&[2]).await.unwrap();
    assert_eq!(headers.len(), 1);
    let header = String::from_utf8_lossy(&headers[0].1);
    assert!(header.contains("Subject: mover-2") && !header.contains("Cuerpo"), "{header}");

    // BODY.PEEK[] left the messages unseen.
    let flags = helper.flags(&folder).await;
    assert!(flags.values().all(|f| !f.iter().any(|x| x.contains("Seen"))), "{flags:?}");

    mailbox.mark_processed(&[1, 2]).await.unwrap();
    mailbox.mark_processed(&[]).await.unwrap();
    assert_eq!(mailbox.candidates(0).await.unwrap(), [3]);
    mailbox.mark_processed(&[3]).await.unwrap();
    assert_eq!(mailbox.candidates(0).await.unwrap(), Vec::<u32>::new());
    assert_eq!(helper.count(&folder).await, 0);
    assert_eq!(helper.count(&processed).await, 3);

    // A second session finds the processed folder and does not fail creating it again.
    let (again, _) = connect(&connector).await;
    again.logout().await;
    mailbox.logout().await;
    helper.cleanup().await;
}

#[tokio::test]
async fn copy_and_expunge_when_move_is_not_used() {
    let stack = stack();
    let mut helper = Helper::new(&stack).await;
    let (folder, processed) = (unique("copiar"), unique("procesados"));
    helper.create(&folder).await;
    helper.create(&processed).await;
    for n in 1..=4 {
        helper.append(&folder, &format!("copiar-{n}")).await;
    }
    let connector = Connector::new(&settings(&stack, &folder, &processed)).unwrap();
    let (mut mailbox, _) = connect(&connector).await;
    mailbox.disable_move();
    mailbox.mark_processed(&[2, 4]).await.unwrap();
    assert_eq!(mailbox.candidates(0).await.unwrap(), [1, 3]);
    assert_eq!(helper.count(&folder).await, 2);
    assert_eq!(helper.count(&processed).await, 2);
    mailbox.logout().await;
    helper.cleanup().await;
}

#[tokio::test]
async fn marcar_leido_sets_seen_and_candidates_skip_it() {
    let stack = stack();
    let mut helper = Helper::new(&stack).await;
    let folder = unique("leido");
    helper.create(&folder).await;
    for n in 1..=3 {
        helper.append(&folder, &format!("leido-{n}")).await;
    }
    let mut imap = settings(&stack, &folder, "NoSeUsa");
    imap.after_processing = AfterProcessing::MarcarLeido;
    let connector = Connector::new(&imap).unwrap();
    let (mut mailbox, _) = connect(&connector).await;
    assert_eq!(mailbox.candidates(0).await.unwrap(), [1, 2, 3]);
    let _ = mailbox.fetch(&[1, 2, 3]).await.unwrap();

    mailbox.mark_processed(&[1, 2]).await.unwrap();
    let flags = helper.flags(&folder).await;
    assert!(flags[&1].iter().any(|f| f.contains("Seen")), "{flags:?}");
    assert!(flags[&2].iter().any(|f| f.contains("Seen")), "{flags:?}");
    assert!(!flags[&3].iter().any(|f| f.contains("Seen")), "{flags:?}");

    // last_uid 2: 3 is above it; 1 and 2 are seen.
    assert_eq!(mailbox.candidates(2).await.unwrap(), [3]);
    // last_uid 3: 3 is still unseen at or below it, so it is still a candidate.
    assert_eq!(mailbox.candidates(3).await.unwrap(), [3]);
    mailbox.mark_processed(&[3]).await.unwrap();
    assert_eq!(mailbox.candidates(3).await.unwrap(), Vec::<u32>::new());
    // "4:*" matches the last message (UID 3) on the server: it must not come back.
    assert_eq!(mailbox.candidates(10).await.unwrap(), Vec::<u32>::new());
    // Nothing was moved and no processed folder was created.
    assert_eq!(helper.count(&folder).await, 3);
    assert!(helper.session.status("NoSeUsa", "(MESSAGES)").await.is_err());
    mailbox.logout().await;
    helper.cleanup().await;
}

#[tokio::test]
async fn imaps_with_the_stack_ca() {
    let stack = stack();
    let mut helper = Helper::new(&stack).await;
    let folder = unique("imaps");
    helper.create(&folder).await;
    helper.append(&folder, "imaps-1").await;
    let mut imap = settings(&stack, &folder, &unique("procesados"));
    imap.tls = TlsMode::Implicito;
    imap.port = stack.imaps_port;
    imap.ca_file = Some(stack.ca.clone());
    let connector = Connector::new(&imap).unwrap();
    let (mut mailbox, took) = connect(&connector).await;
    helper.created.push(imap.processed_folder.clone());
    eprintln!("tiempo conexión+login (IMAPS): {took:?}");
    let uids = mailbox.candidates(0).await.unwrap();
    assert_eq!(uids, [1]);
    let fetched = mailbox.fetch(&uids).await.unwrap();
    assert!(String::from_utf8_lossy(&fetched[0].1).contains("imaps-1"));
    mailbox.logout().await;
    helper.cleanup().await;
}

#[tokio::test]
async fn starttls_with_the_stack_ca() {
    let stack = stack();
    let mut helper = Helper::new(&stack).await;
    let folder = unique("starttls");
    helper.create(&folder).await;
    helper.append(&folder, "starttls-1").await;
    let mut imap = settings(&stack, &folder, &unique("procesados"));
    imap.tls = TlsMode::Starttls;
    imap.ca_file = Some(stack.ca.clone());
    let connector = Connector::new(&imap).unwrap();
    let (mut mailbox, took) = connect(&connector).await;
    helper.created.push(imap.processed_folder.clone());
    eprintln!("tiempo conexión+login (STARTTLS): {took:?}");
    assert_eq!(mailbox.candidates(0).await.unwrap(), [1]);
    mailbox.logout().await;
    helper.cleanup().await;
}

#[tokio::test]
async fn a_wrong_ca_is_refused_with_a_clear_error() {
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
        [(TlsMode::Implicito, stack.imaps_port), (TlsMode::Starttls, stack.imap_port)]
    {
        let mut imap = settings(&stack, "INBOX", "Procesados");
        imap.tls = tls;
        imap.port = port;
        imap.ca_file = Some(pem.clone());
        let err = match Connector::new(&imap).unwrap().connect().await {
            Ok(_) => panic!("{tls:?}: a certificate from another CA was accepted"),
            Err(e) => e,
        };
        let text = err.to_string();
        assert!(matches!(err, ImapError::Connection { .. }), "{tls:?}: {err:?}");
        assert!(text.contains("no se pudo verificar el certificado del servidor"), "{text}");
        assert!(text.contains("revise `ca`"), "{text}");
        eprintln!("CA equivocada ({tls:?}): {text}");
    }

    // Without `ca`, the bundled public roots do not know the stack's CA either.
    let mut imap = settings(&stack, "INBOX", "Procesados");
    imap.tls = TlsMode::Implicito;
    imap.port = stack.imaps_port;
    let err = Connector::new(&imap).unwrap().connect().await.err().unwrap();
    assert!(err.to_string().contains("no se pudo verificar el certificado"), "{err}");
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_that_does_not_show_it() {
    let stack = stack();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clave");
    std::fs::write(&file, "clave-equivocada-93\n").unwrap();
    let mut imap = settings(&stack, "INBOX", "Procesados");
    imap.password = Some(SecretRef { file: Some(file), ..SecretRef::default() });
    let err = Connector::new(&imap).unwrap().connect().await.err().unwrap();
    let text = err.to_string();
    assert!(matches!(err, ImapError::Auth { .. }), "{err:?}");
    assert!(err.is_retriable());
    assert!(text.contains(&stack.user) && !text.contains("clave-equivocada-93"), "{text}");
    eprintln!("contraseña equivocada: {text}");
}

/// Tokens the test's token endpoint issued, by token: (user, still active).
type Issued = Arc<Mutex<HashMap<String, (String, bool)>>>;

#[tokio::test]
async fn xoauth2_login_and_a_revoked_token() {
    let stack = stack();
    let issued: Issued = Arc::new(Mutex::new(HashMap::new()));
    let token_requests = Arc::new(AtomicUsize::new(0));

    // Token endpoint (client-credentials grant) on a free port.
    let token_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token_url = format!("http://{}/token", token_listener.local_addr().unwrap());
    let (tokens_map, count, user) = (issued.clone(), token_requests.clone(), stack.user.clone());
    serve_http(token_listener, move |_, body| {
        let ok = form_value(body, "grant_type").as_deref() == Some("client_credentials")
            && form_value(body, "client_id").as_deref() == Some("mesa-fe-pruebas")
            && form_value(body, "client_secret").as_deref() == Some("secreto-del-cliente");
        if !ok {
            return (401, r#"{"error":"invalid_client","error_description":"bad client"}"#.into());
        }
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("tok{n}x{}", std::process::id());
        tokens_map.lock().unwrap().insert(token.clone(), (user.clone(), true));
        (200, format!(r#"{{"access_token":"{token}","expires_in":3600,"token_type":"Bearer"}}"#))
    });
    // Introspection endpoint (RFC 7662) where Dovecot checks the tokens.
    let introspections = Arc::new(AtomicUsize::new(0));
    let (tokens_map, seen) = (issued.clone(), introspections.clone());
    serve_http(bind_introspection(&stack.introspection).await, move |_, body| {
        seen.fetch_add(1, Ordering::SeqCst);
        let token = form_value(body, "token").unwrap_or_default();
        match tokens_map.lock().unwrap().get(&token) {
            Some((user, true)) => (200, format!(r#"{{"active":true,"username":"{user}"}}"#)),
            _ => (200, r#"{"active":false}"#.into()),
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secreto");
    std::fs::write(&secret, "secreto-del-cliente\n").unwrap();
    let oauth = OAuth2Settings {
        token_url,
        client_id: "mesa-fe-pruebas".into(),
        client_secret: SecretRef { file: Some(secret), ..SecretRef::default() },
        scope: "https://outlook.office365.com/.default".into(),
    };
    // The token source on its own.
    let source = TokenSource::new(&oauth).unwrap();
    let first = source.token().await.unwrap();
    assert_eq!(source.token().await.unwrap(), first, "cached");
    assert_eq!(token_requests.load(Ordering::SeqCst), 1);

    let mut helper = Helper::new(&stack).await;
    let folder = unique("xoauth2");
    helper.create(&folder).await;
    helper.append(&folder, "xoauth2-1").await;
    let mut imap = settings(&stack, &folder, &unique("procesados"));
    imap.auth = AuthMethod::Xoauth2;
    imap.password = None;
    imap.oauth2 = Some(oauth);
    let connector = Connector::new(&imap).unwrap();
    let (mut mailbox, took) = connect(&connector).await;
    helper.created.push(imap.processed_folder.clone());
    eprintln!("tiempo conexión+login (XOAUTH2, con pedido de token): {took:?}");
    assert_eq!(mailbox.candidates(0).await.unwrap(), [1]);
    mailbox.logout().await;
    assert_eq!(token_requests.load(Ordering::SeqCst), 2);
    assert!(introspections.load(Ordering::SeqCst) >= 1, "Dovecot asked the introspection URL");

    // Cached token: no new request.
    let (again, _) = connect(&connector).await;
    again.logout().await;
    assert_eq!(token_requests.load(Ordering::SeqCst), 2);

    // Revoke every token: the cached one is refused, clearly, and forgotten.
    for (_, active) in issued.lock().unwrap().values_mut() {
        *active = false;
    }
    let err = connector.connect().await.err().expect("a revoked token was accepted");
    let text = err.to_string();
    assert!(matches!(err, ImapError::Auth { .. }), "{err:?}");
    assert!(err.is_retriable());
    assert!(!issued.lock().unwrap().keys().any(|t| text.contains(t.as_str())), "{text}");
    eprintln!("token revocado: {text}");
    // The retry gets a new token and works.
    let (mailbox, _) = connect(&connector).await;
    assert_eq!(token_requests.load(Ordering::SeqCst), 3);
    mailbox.logout().await;
    helper.cleanup().await;
}

#[tokio::test]
async fn idle_wakes_up_on_a_new_message() {
    let stack = stack();
    let mut helper = Helper::new(&stack).await;
    let (folder, processed) = (unique("idle"), unique("procesados"));
    helper.create(&folder).await;
    let connector = Connector::new(&settings(&stack, &folder, &processed)).unwrap();
    let (mut mailbox, _) = connect(&connector).await;
    helper.created.push(processed);
    assert_eq!(mailbox.candidates(0).await.unwrap(), Vec::<u32>::new());

    let appended = Arc::new(Mutex::new(None::<Instant>));
    let mark = appended.clone();
    let folder_for_append = folder.clone();
    let appender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        helper.append(&folder_for_append, "idle-1").await;
        *mark.lock().unwrap() = Some(Instant::now());
        helper
    });
    let started = Instant::now();
    let (mut mailbox, outcome) =
        mailbox.idle(Duration::from_secs(60), std::future::pending()).await.unwrap();
    let woke = Instant::now();
    let helper = appender.await.unwrap();
    assert_eq!(outcome, IdleOutcome::NewData);
    let appended_at = appended.lock().unwrap().expect("append finished");
    let latency = woke.saturating_duration_since(appended_at);
    eprintln!(
        "IDLE: despertó {latency:?} después de terminar el APPEND ({:?} en IDLE)",
        woke - started
    );
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    assert_eq!(mailbox.candidates(0).await.unwrap(), [1]);
    mailbox.logout().await;
    helper.cleanup().await;
}

#[tokio::test]
async fn idle_ends_promptly_on_shutdown_and_on_the_renew_deadline() {
    let stack = stack();
    let mut helper = Helper::new(&stack).await;
    let (folder, processed) = (unique("idle-fin"), unique("procesados"));
    helper.create(&folder).await;
    let connector = Connector::new(&settings(&stack, &folder, &processed)).unwrap();
    let (mailbox, _) = connect(&connector).await;
    helper.created.push(processed);

    let started = Instant::now();
    let shutdown = tokio::time::sleep(Duration::from_millis(300));
    let (mut mailbox, outcome) = mailbox.idle(Duration::from_secs(600), shutdown).await.unwrap();
    let took = started.elapsed();
    eprintln!("IDLE: apagado en {took:?} (300 ms de espera incluidos)");
    assert_eq!(outcome, IdleOutcome::Shutdown);
    assert!(took < Duration::from_secs(2), "{took:?}");
    // The session came back usable.
    assert_eq!(mailbox.candidates(0).await.unwrap(), Vec::<u32>::new());

    let started = Instant::now();
    let (mailbox, outcome) =
        mailbox.idle(Duration::from_secs(2), std::future::pending()).await.unwrap();
    let took = started.elapsed();
    assert_eq!(outcome, IdleOutcome::Timeout);
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(4), "{took:?}");
    mailbox.logout().await;
    helper.cleanup().await;
}

#[tokio::test]
async fn a_message_announced_during_a_command_is_not_missed_by_idle() {
    let stack = stack();
    let mut helper = Helper::new(&stack).await;
    let (folder, processed) = (unique("idle-carrera"), unique("procesados"));
    helper.create(&folder).await;
    helper.append(&folder, "carrera-1").await;
    let connector = Connector::new(&settings(&stack, &folder, &processed)).unwrap();
    let (mut mailbox, _) = connect(&connector).await;
    helper.created.push(processed);
    assert_eq!(mailbox.candidates(0).await.unwrap(), [1]);
    // Arrives after the listing, announced (EXISTS) during the next command, not during IDLE.
    helper.append(&folder, "carrera-2").await;
    let _ = mailbox.fetch(&[1]).await.unwrap();
    let started = Instant::now();
    let (mut mailbox, outcome) =
        mailbox.idle(Duration::from_secs(30), std::future::pending()).await.unwrap();
    let took = started.elapsed();
    eprintln!("IDLE tras un EXISTS recibido durante otro comando: {took:?}");
    assert_eq!(outcome, IdleOutcome::NewData);
    // At once, not after Dovecot's 500 ms notification delay nor the 30 s renewal.
    assert!(took < Duration::from_millis(300), "{took:?}");
    assert_eq!(mailbox.candidates(0).await.unwrap(), [1, 2]);
    mailbox.logout().await;
    helper.cleanup().await;
}
