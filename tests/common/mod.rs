//! Shared harness of the daemon tests: the project's real mail stack (deploy/dev/mailstack.sh),
//! an IMAP client to put mail in and look at folders, and the `mesa-fe run` process itself.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod browser;
pub mod console;
pub mod db;
pub mod html;
pub mod http;
pub mod local;
pub mod mail;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use db::TestDb;
use futures::TryStreamExt;
use mesa_fe::store::Store;
use mesa_fe::store::cases::{CaseFilter, CaseSummary};
use tokio::net::TcpStream;

pub type Session = async_imap::Session<TcpStream>;

/// Ports and password of the running stack, from `eval "$(bash deploy/dev/mailstack.sh env)"`.
pub struct Stack {
    pub host: String,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub password: String,
    pub ca: PathBuf,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: start the mail stack and export its settings first:\n  \
             bash deploy/dev/mailstack.sh start && eval \"$(bash deploy/dev/mailstack.sh env)\"\n\
             (bash deploy/dev/test.sh does both)"
        )
    })
}

impl Stack {
    pub fn from_env() -> Stack {
        Stack {
            host: env("MESA_FE_MAILSTACK_HOST"),
            imap_port: env("MESA_FE_MAILSTACK_IMAP_PORT").parse().expect("IMAP port"),
            imaps_port: env("MESA_FE_MAILSTACK_IMAPS_PORT").parse().expect("IMAPS port"),
            password: env("MESA_FE_MAILSTACK_PASSWORD"),
            ca: PathBuf::from(env("MESA_FE_MAILSTACK_CA")),
        }
    }

    /// A plaintext session on loopback (the test's own hands, not the daemon's).
    pub async fn login(&self, user: &str) -> Session {
        let tcp = TcpStream::connect((self.host.as_str(), self.imap_port))
            .await
            .expect("connect to Dovecot");
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.expect("greeting").expect("greeting line");
        client.login(user, &self.password).await.map_err(|(e, _)| e).expect("login")
    }

    /// A fresh, empty folder pair for one test (deleted first if a previous run left it).
    pub async fn fresh_folders(&self, user: &str, folders: &[&str]) {
        let mut session = self.login(user).await;
        for folder in folders {
            let _ = session.delete(folder).await;
            session.create(folder).await.expect("create folder");
        }
        session.logout().await.expect("logout");
    }

    pub async fn append(&self, user: &str, folder: &str, messages: &[Vec<u8>]) {
        let mut session = self.login(user).await;
        for raw in messages {
            session.append(folder, None, None, raw).await.expect("APPEND");
        }
        session.logout().await.expect("logout");
    }

    /// Messages in a folder, and how many of them are \Seen.
    pub async fn count(&self, user: &str, folder: &str) -> (u32, u32) {
        let mut session = self.login(user).await;
        let mailbox = session.examine(folder).await.expect("EXAMINE");
        let seen = session.search("SEEN").await.expect("SEARCH").len() as u32;
        session.logout().await.expect("logout");
        (mailbox.exists, seen)
    }

    /// Subjects of the messages in a folder.
    pub async fn subjects(&self, user: &str, folder: &str) -> Vec<String> {
        let mut session = self.login(user).await;
        session.examine(folder).await.expect("EXAMINE");
        let fetches: Vec<_> = session
            .fetch("1:*", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
            .await
            .expect("FETCH")
            .try_collect()
            .await
            .unwrap_or_default();
        let subjects = fetches
            .iter()
            .filter_map(|f| f.header().map(|h| String::from_utf8_lossy(h).trim().to_string()))
            .collect();
        session.logout().await.expect("logout");
        subjects
    }
}

/// A support request as a provider would write it, unique by `n`.
pub fn request(n: usize, tag: &str) -> Vec<u8> {
    format!(
        "From: Proveedor {n} <proveedor{n}@pt.example>\r\nTo: sd_facturaelectronica@dian.gov.co\r\n\
         Subject: Factura SETT{n:07} rechazada ({tag})\r\nDate: Thu, 26 Nov 2026 10:00:00 -0500\r\n\
         Message-ID: <{tag}.{n}@pt.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Buenos días. La factura SETT{n:07} del NIT 900481236 no fue aceptada por el adquiriente y \
         queremos saber qué revisar antes de volver a enviarla.\r\n"
    )
    .into_bytes()
}

/// The daemon under test: its own state directory, configuration file and database.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub db: TestDb,
    child: Option<Child>,
}

impl Daemon {
    /// Writes `config` to the state directory; `start` runs it on a fresh [`TestDb`].
    pub fn new(config: &str) -> Daemon {
        Daemon::with_db(config, TestDb::new())
    }

    /// As [`Daemon::new`], on the database `db` (whatever `config` says of `base_datos`).
    pub fn with_db(config: &str, db: TestDb) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("mesa-fe.toml"), config).expect("write config");
        Daemon { dir, db, child: None }
    }

    /// The `mesa-fe` binary with this daemon's state directory and database; the caller adds
    /// the subcommand and `--config`.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mesa-fe"));
        command.env("MESA_FE__GENERAL__DIRECTORIO_ESTADO", self.dir.path());
        self.db.apply(&mut command);
        command
    }

    pub fn start(&mut self) {
        self.start_with_env(&[]);
    }

    /// As [`Daemon::start`], with extra environment variables (NOTIFY_SOCKET, …).
    pub fn start_with_env(&mut self, vars: &[(&str, &str)]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("log file");
        let child = self
            .command()
            .arg("run")
            .arg("--config")
            .arg(self.dir.path().join("mesa-fe.toml"))
            // Any free port: tests may run daemons side by side.
            .env("MESA_FE__HTTP__DIRECCION", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mesa-fe run");
        self.child = Some(child);
    }

    /// `kill -9`: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    /// SIGTERM and the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running daemon");
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the daemon did not stop within 20 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn database_url(&self) -> String {
        self.db.url()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub async fn cases(&self) -> Vec<CaseSummary> {
        if !self.db.exists() {
            return Vec::new();
        }
        // The daemon may be creating the schema right now: an error means "not yet".
        let Ok(store) = Store::open(&self.database_url()).await else { return Vec::new() };
        let cases = store.list_cases(&CaseFilter::default()).await.unwrap_or_default();
        store.close().await;
        cases
    }

    /// Waits until `done` holds for the case list, up to `limit`; returns the last list.
    pub async fn wait_for_cases(
        &self,
        limit: Duration,
        done: impl Fn(&[CaseSummary]) -> bool,
    ) -> Vec<CaseSummary> {
        let deadline = Instant::now() + limit;
        loop {
            let cases = self.cases().await;
            if done(&cases) || Instant::now() > deadline {
                return cases;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One `[[buzones]]` entry pointing at the stack over plaintext loopback IMAP.
pub fn buzon_toml(stack: &Stack, name: &str, address: &str, folder: &str, extra: &str) -> String {
    format!(
        "[[buzones]]\nnombre = \"{name}\"\ndireccion = \"{address}\"\ncanal = \"correo\"\n\
         [buzones.imap]\nservidor = \"{host}\"\npuerto = {port}\ntls = \"ninguno\"\nusuario = \"{address}\"\n\
         autenticacion = \"contrasena\"\ncontrasena = {{ variable = \"MESA_FE_MAILSTACK_PASSWORD\" }}\n\
         carpeta = \"{folder}\"\ncarpeta_procesados = \"{folder}-ok\"\nintervalo_sondeo_segundos = 2\n{extra}\n",
        host = stack.host,
        port = stack.imap_port,
    )
}

/// One `[[buzones]]` entry that reads INBOX over loopback IMAP, keeps what it read in
/// `processed` and answers over loopback SMTP: the buzón of every end-to-end desk that sends mail.
pub fn answering_buzon_toml(stack: &Stack, name: &str, address: &str, processed: &str) -> String {
    format!(
        "[[buzones]]\nnombre = \"{name}\"\ndireccion = \"{address}\"\ncanal = \"correo\"\n\
         [buzones.imap]\nservidor = \"{host}\"\npuerto = {imap}\ntls = \"ninguno\"\nusuario = \"{address}\"\n\
         autenticacion = \"contrasena\"\ncontrasena = {{ variable = \"MESA_FE_MAILSTACK_PASSWORD\" }}\n\
         carpeta = \"INBOX\"\ncarpeta_procesados = \"{processed}\"\nintervalo_sondeo_segundos = 2\n\
         [buzones.smtp]\nservidor = \"{host}\"\npuerto = {smtp}\ntls = \"ninguno\"\n\n",
        host = stack.host,
        imap = stack.imap_port,
        smtp = mail::smtp_port(),
    )
}

impl Daemon {
    /// What `mesa-fe case show FE-… --json` prints, as JSON (read through the library); `None`
    /// while the base or the case does not exist yet.
    pub async fn case_json(&self, number: &str) -> Option<serde_json::Value> {
        if !self.db.exists() {
            return None;
        }
        // The daemon may be creating the schema right now: an error means "not yet".
        let Ok(store) = Store::open(&self.database_url()).await else { return None };
        let detail = store.case_detail(number).await.ok().flatten();
        store.close().await;
        detail.and_then(|d| serde_json::to_value(d).ok())
    }

    /// A one-shot `mesa-fe` command (`case link …`, `outbox list`…) on this daemon's
    /// configuration and state directory, as an operator would run it next to the service.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.command()
            .args(args)
            .arg("--config")
            .arg(self.dir.path().join("mesa-fe.toml"))
            .stdin(Stdio::null())
            .output()
            .expect("run mesa-fe")
    }
}

impl Daemon {
    /// Replaces the configuration file (the daemon reads it again on SIGHUP).
    pub fn rewrite_config(&self, config: &str) {
        std::fs::write(self.dir.path().join("mesa-fe.toml"), config).expect("rewrite config");
    }

    /// Sends a signal by name (`HUP`, `TERM`) to the running daemon.
    pub fn signal(&self, name: &str) {
        let child = self.child.as_ref().expect("running daemon");
        let status = Command::new("kill")
            .args([format!("-{name}"), child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// The base URL of the daemon's HTTP server (`http://127.0.0.1:PORT`), from the log line of its
    /// latest start.
    pub async fn http_base(&self) -> String {
        let needle = "servidor HTTP de salud y métricas escuchando";
        assert!(self.wait_for_log(needle, 1, Duration::from_secs(20)).await, "{}", self.log());
        let log = self.log();
        let line = log.lines().rev().find(|l| l.contains(needle)).unwrap_or_default();
        let address = line.split("address=").nth(1).unwrap_or_default().split_whitespace().next();
        format!("http://{}", address.unwrap_or_default())
    }

    /// Waits until the daemon's log has `needle` `times` times, up to `limit`.
    pub async fn wait_for_log(&self, needle: &str, times: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.log().matches(needle).count() >= times {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}
