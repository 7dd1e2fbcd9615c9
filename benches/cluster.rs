//! Benchmark of `mesa-fe run` as one node and as two nodes on PostgreSQL (issue 13), against the
//! real Dovecot and PostgreSQL of deploy/dev/mailstack.sh:
//!
//! 1. drain rate, SQLite, one node reading two buzones;
//! 2. drain rate, PostgreSQL, one node reading two buzones;
//! 3. drain rate, PostgreSQL, two nodes with the same configuration, one buzón each (leases are
//!    first come, first served: each buzón's lease is written beforehand as held by a dead process
//!    of its node, as after a restart, which that node takes over at once and the other leaves
//!    alone); then, on empty folders, who takes what when two nodes start at the same moment with
//!    nothing decided beforehand;
//! 4. takeover: node A holds both buzones under a steady trickle of mail, node B waits; `kill -9`
//!    of A → B connected to each buzón, and the first case stored after the kill.
//!
//! Drain rate = messages / (start of the node processes → the last of the N messages is a case in
//! the store), with the N messages already in the folders at the start: the same definition as
//! step 2 of benches/imap.rs, the same for steps 1–3. The corpus is that of benches/imap.rs
//! (realistic ~50 KB messages, ZIP with AttachedDocument and PDF), but each message from a sender
//! of its own, so that each is a case (the hourly cap of cases per sender does not act); N is
//! split over the two buzones.
//! No buzón has `[buzones.smtp]`: the answers wait in the outbox and the bench measures ingest.
//!
//! Prints figures and asserts nothing about time (the machines are shared and noisy). The daemon
//! is the binary Cargo builds for the bench (release profile), each node a child process with its
//! own state directory and log; every step has a database of its own (a temporary SQLite file, or
//! a `t_<hex>` database on the stack's PostgreSQL, dropped at the end). Folders are named after
//! the run and deleted at the end.
//!
//! Run:
//!   bash deploy/dev/mailstack.sh start && eval "$(bash deploy/dev/mailstack.sh env)"
//!   flock -o /tmp/mesa-e2e.lock cargo bench --bench cluster
//! Optional: `MESA_FE_BENCH_MESSAGES` (2000 per drain step), `MESA_FE_BIN` (another mesa-fe
//! binary), `MESA_FE_BENCH_KEEP=1` (keep the nodes' state directories, with their logs).

mod common;
#[path = "../tests/common/db.rs"]
mod db;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{
    Noise, SEED, cpu_seconds, load_average, message_from, print_machine, processes_cpu,
    processes_cpu_where,
};
use db::{Backend, TestDb};
use mesa_fe::store::Store;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tokio::net::TcpStream;

type Session = async_imap::Session<TcpStream>;

/// The two buzones, (name in the configuration, mail stack user).
const BUZONES: [(&str, &str); 2] = [
    ("facturaelectronica", "sd_facturaelectronica@dian.gov.co"),
    ("aliados", "sd_fistrib_fe_aliados@dian.gov.co"),
];
/// The two nodes' `general.nodo`.
const NODE_A: &str = "nodo-a";
const NODE_B: &str = "nodo-b";
/// What a node logs when it starts reading a buzón, and when another node holds it.
const CONNECTED: &str = "conectado al buzón";
const WAITING: &str = "lo atiende otro nodo";
/// Warnings every node logs here because of how the bench configures it (no `[buzones.smtp]`, no
/// `autenticacion.servidores`): not complaints.
const EXPECTED_WARNINGS: [&str; 2] =
    ["ningún buzón tiene [buzones.smtp]", "autenticacion.servidores está vacío"];
/// Store polling during a drain, and during the takeover.
const POLL_DRAIN: Duration = Duration::from_millis(100);
const POLL_TAKEOVER: Duration = Duration::from_millis(20);
/// A drain step gives up after this long (and says so), or when every message is stored and no
/// new case came for this long.
const DRAIN_LIMIT: Duration = Duration::from_secs(150);
const STALLED: Duration = Duration::from_secs(10);
/// Simultaneous starts of step 3b.
const START_RACES: usize = 3;
/// The trickle of step 4: one message every this long, the buzones in turn.
const TRICKLE_GAP: Duration = Duration::from_millis(50);
/// Cases node A stores from the trickle before it is killed.
const BEFORE_KILL: usize = 40;
/// How long the trickle goes on after node B's first case.
const TRICKLE_AFTER: Duration = Duration::from_secs(2);
/// Step 4 gives up waiting for the takeover after this long.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(40);

fn main() -> ExitCode {
    let Some(binary) = daemon_binary() else { return ExitCode::FAILURE };
    let stack = match Stack::from_env() {
        Ok(stack) => stack,
        Err(missing) => {
            eprintln!(
                "cluster bench: {missing} is not set. Start the dev stack (Dovecot and PostgreSQL) \
                 and export its settings:\n  \
                 bash deploy/dev/mailstack.sh start && eval \"$(bash deploy/dev/mailstack.sh env)\"\n  \
                 flock -o /tmp/mesa-e2e.lock cargo bench --bench cluster"
            );
            return ExitCode::FAILURE;
        }
    };
    let messages = std::env::var("MESA_FE_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000_usize)
        .max(2);
    print_machine(&binary);
    let server = db::postgres_url_of(&stack.postgres, "…");
    let server = server.split_once('@').map_or(server.as_str(), |(_, host)| host);
    println!("PostgreSQL             el de la pila de desarrollo ({server}; sin fsync)");
    println!("SQLite                 archivo temporal, synchronous=FULL (lo que pone mesa-fe)");
    println!(
        "\nTasa de vaciado = mensajes / (arranque de los procesos → el último de los N es caso en \
         la base),\ncon los N mensajes ya en las carpetas al arrancar (como el paso 2 de \
         benches/imap.rs); igual en los pasos 1 a 3.\nMensajes: los de benches/imap.rs (~50 KB, \
         ZIP con AttachedDocument y PDF), cada uno de un remitente\ndistinto (cada mensaje es un \
         caso: no actúa el tope de casos por remitente y hora).\nSin [buzones.smtp]: se mide la \
         ingesta; las respuestas quedan en la cola de salida."
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let folders = Folders::new();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(bench(&stack, &binary, &folders, messages))
    }));
    runtime.block_on(folders.delete(&stack));
    println!("\ncarga al terminar       {} (1, 5, 15 min)", load_average());
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

async fn bench(stack: &Stack, binary: &Path, folders: &Folders, messages: usize) {
    let mut summary = Vec::new();
    let one_sqlite = Drain {
        title: "1. SQLite, un nodo que lee los dos buzones",
        label: "SQLite, 1 nodo",
        backend: Backend::Sqlite,
        split: false,
        folder: &folders.sqlite,
        tag: "sqlite",
    };
    summary.push(one_sqlite.run(stack, binary, messages).await);
    let one_pg = Drain {
        title: "2. PostgreSQL, un nodo que lee los dos buzones",
        label: "PostgreSQL, 1 nodo",
        backend: Backend::Postgres,
        split: false,
        folder: &folders.postgres,
        tag: "pg1",
    };
    summary.push(one_pg.run(stack, binary, messages).await);
    let two_pg = Drain {
        title: "3. PostgreSQL, dos nodos, un buzón cada uno",
        label: "PostgreSQL, 2 nodos",
        backend: Backend::Postgres,
        split: true,
        folder: &folders.two_nodes,
        tag: "pg2",
    };
    summary.push(two_pg.run(stack, binary, messages).await);
    start_race(stack, binary, &folders.two_nodes).await;
    let takeover = takeover(stack, binary, &folders.takeover).await;

    println!("\n== Resumen (vaciado: arranque → último caso, {messages} mensajes en dos buzones)");
    for line in &summary {
        match line.rate {
            Some(rate) => {
                println!("{:<22} {rate:>8.1} mensajes/s   {:>7.2} s", line.label, line.seconds)
            }
            None => println!(
                "{:<22} ¡incompleto! {} de {messages} casos en {:.0} s",
                line.label, line.done, line.seconds
            ),
        }
    }
    let secs =
        |d: Option<Duration>| d.map_or("—".to_string(), |d| format!("{:.2} s", d.as_secs_f64()));
    println!(
        "{:<22} conectado a los dos buzones {}   primer caso nuevo {}   (desde el kill -9)",
        "relevo (nodo B)",
        secs(takeover.connected),
        secs(takeover.first_case)
    );
}

// ------------------------------------------------------------------------------------ the stack

/// Where the dev stack listens, from `eval "$(bash deploy/dev/mailstack.sh env)"`.
#[derive(Clone)]
struct Stack {
    host: String,
    port: u16,
    password: String,
    postgres: String,
}

impl Stack {
    /// Err(name of the missing variable).
    fn from_env() -> Result<Stack, &'static str> {
        let var = |name: &'static str| std::env::var(name).map_err(|_| name);
        Ok(Stack {
            host: var("MESA_FE_MAILSTACK_HOST")?,
            port: var("MESA_FE_MAILSTACK_IMAP_PORT")?
                .parse()
                .map_err(|_| "MESA_FE_MAILSTACK_IMAP_PORT (a number)")?,
            password: var("MESA_FE_MAILSTACK_PASSWORD")?,
            postgres: var(db::POSTGRES_VARIABLE)?,
        })
    }

    /// A plaintext session on loopback as `user`.
    async fn login(&self, user: &str) -> Session {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await.unwrap_or_else(|e| {
            panic!(
                "cannot connect to Dovecot at {}:{} ({e}): is the mail stack running? \
                 (bash deploy/dev/mailstack.sh status)",
                self.host, self.port
            )
        });
        let _ = tcp.set_nodelay(true);
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.expect("greeting").expect("greeting line");
        client.login(user, &self.password).await.map_err(|(e, _)| e).expect("LOGIN")
    }

    /// `folder` and `folder-ok`, empty, in both buzones' accounts.
    async fn fresh_folders(&self, folder: &str) {
        for (_, user) in BUZONES {
            let mut session = self.login(user).await;
            for name in [folder.to_string(), format!("{folder}-ok")] {
                let _ = session.delete(&name).await;
                session.create(&name).await.expect("CREATE");
            }
            session.logout().await.expect("LOGOUT");
        }
    }

    /// APPENDs `messages` to `folder` of `user`, one session.
    async fn append(&self, user: &str, folder: &str, messages: &[Vec<u8>]) {
        let mut session = self.login(user).await;
        for raw in messages {
            session.append(folder, None, None, raw).await.expect("APPEND");
        }
        session.logout().await.expect("LOGOUT");
    }

    /// The nodes' configuration: both buzones on `folder`, plaintext on loopback, no SMTP.
    fn config(&self, folder: &str) -> String {
        BUZONES
            .iter()
            .map(|(name, user)| {
                format!(
                    "[[buzones]]\nnombre = \"{name}\"\ndireccion = \"{user}\"\ncanal = \"correo\"\n\
                     [buzones.imap]\nservidor = \"{host}\"\npuerto = {port}\ntls = \"ninguno\"\n\
                     usuario = \"{user}\"\nautenticacion = \"contrasena\"\n\
                     contrasena = {{ variable = \"MESA_FE_MAILSTACK_PASSWORD\" }}\n\
                     carpeta = \"{folder}\"\ncarpeta_procesados = \"{folder}-ok\"\n\
                     intervalo_sondeo_segundos = 60\n\n",
                    host = self.host,
                    port = self.port,
                )
            })
            .collect()
    }
}

/// This run's folders (each with its `-ok` processed folder, in both accounts), deleted at the end.
struct Folders {
    sqlite: String,
    postgres: String,
    two_nodes: String,
    takeover: String,
}

impl Folders {
    fn new() -> Folders {
        let run = common::run_name("bench-nodos");
        Folders {
            sqlite: format!("{run}-sqlite"),
            postgres: format!("{run}-pg1"),
            two_nodes: format!("{run}-pg2"),
            takeover: format!("{run}-relevo"),
        }
    }

    async fn delete(&self, stack: &Stack) {
        for (_, user) in BUZONES {
            let mut session = stack.login(user).await;
            for folder in [&self.sqlite, &self.postgres, &self.two_nodes, &self.takeover] {
                let _ = session.delete(folder).await;
                let _ = session.delete(&format!("{folder}-ok")).await;
            }
            let _ = session.logout().await;
        }
    }
}

/// The binary Cargo built for this bench (release profile), or `MESA_FE_BIN`.
fn daemon_binary() -> Option<PathBuf> {
    let binary = std::env::var_os("MESA_FE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mesa-fe")));
    if binary.is_file() {
        return Some(binary);
    }
    eprintln!(
        "cluster bench: the daemon binary {} does not exist. Build it first with \
         `cargo build --release` (or point MESA_FE_BIN at a mesa-fe binary).",
        binary.display()
    );
    None
}

// ------------------------------------------------------------------------------------ the nodes

/// One `mesa-fe run` node: a child process with its own state directory and log.
struct Node {
    name: &'static str,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Node {
    /// Starts node `name` with `config` on the database at `url`.
    fn start(binary: &Path, name: &'static str, config: &str, url: &str) -> Node {
        let mut dir = tempfile::tempdir().expect("temp dir");
        if std::env::var_os("MESA_FE_BENCH_KEEP").is_some() {
            dir.disable_cleanup(true);
            println!("  (estado del {name} conservado en {})", dir.path().display());
        }
        let config_path = dir.path().join("mesa-fe.toml");
        std::fs::write(&config_path, config).expect("write config");
        let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log file");
        let child = Command::new(binary)
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .env("MESA_FE__GENERAL__DIRECTORIO_ESTADO", dir.path())
            .env(db::URL_VARIABLE, url)
            .env("MESA_FE__GENERAL__NODO", name)
            // Two nodes on one machine: each its own free port.
            .env("MESA_FE__HTTP__DIRECCION", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            // Readable text logs even when the bench itself runs under systemd.
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mesa-fe run");
        Node { name, dir, child: Some(child) }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// How many times the log has `needle`.
    fn logged(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// How many times the node logged that another node holds a buzón (the timers' leases log
    /// the same line, and are not counted).
    fn waiting_for_buzones(&self) -> usize {
        self.log().lines().filter(|l| l.contains(WAITING) && l.contains("lease=buzon/")).count()
    }

    /// The buzones this node connected to, in order (a buzón twice if it reconnected).
    fn connected_to(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(CONNECTED))
            .filter_map(|l| l.split("buzon=").nth(1)?.split_whitespace().next().map(String::from))
            .collect()
    }

    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid()).unwrap_or(f64::NAN)
    }

    /// `kill -9` and reap: no chance to finish anything or to give its leases back.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (the node gives its leases back), then wait up to 30 s.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                if !status.success() {
                    println!("  (el {} terminó con {status})", self.name);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!("  (el {} no terminó 30 s después de SIGTERM; se mata)", self.name);
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Warnings and errors the node logged (but the expected ones), for the report.
    fn print_complaints(&self) {
        let log = self.log();
        let complaints: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .filter(|l| !EXPECTED_WARNINGS.iter().any(|expected| l.contains(expected)))
            .collect();
        let errors = complaints.iter().filter(|l| l.contains(" ERROR ")).count();
        match complaints.first() {
            None => println!(
                "  registro del {}: sin WARN ni ERROR (aparte de los avisos esperados: sin SMTP, \
                 sin autenticacion.servidores)",
                self.name
            ),
            Some(first) => println!(
                "  registro del {}: {} WARN, {errors} ERROR; el primero: {}",
                self.name,
                complaints.len() - errors,
                first.trim()
            ),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits until `ready` holds, up to `limit`; whether it did.
async fn wait_until(limit: Duration, ready: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !ready() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

// ---------------------------------------------------------------------------------- the store

/// A fresh database with the schema already made (the nodes' start does not include it).
async fn fresh_database(backend: Backend) -> TestDb {
    let db = tokio::task::spawn_blocking(move || TestDb::on(backend)).await.expect("TestDb");
    Store::open(&db.url()).await.expect("create the store").close().await;
    db
}

/// A reader of the nodes' store: one connection, plain queries (cheap enough to poll every 20 ms).
enum Probe {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Probe {
    async fn open(db: &TestDb) -> Probe {
        match db.sqlite_path() {
            Some(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .read_only(true)
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .expect("open the SQLite store");
                Probe::Sqlite(pool)
            }
            None => {
                let options = PgConnectOptions::from_str(&db.url()).expect("PostgreSQL URL");
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .expect("open the PostgreSQL store");
                Probe::Postgres(pool)
            }
        }
    }

    /// One BIGINT.
    async fn scalar(&self, sql: &'static str) -> i64 {
        let value = match self {
            Probe::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Probe::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        };
        value.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    async fn cases(&self) -> usize {
        usize::try_from(self.scalar("SELECT COUNT(*) FROM cases").await).unwrap_or(0)
    }

    /// Cases with distinct subjects (every message of the corpus has its own).
    async fn distinct_subjects(&self) -> usize {
        let sql = "SELECT COUNT(DISTINCT subject) FROM cases";
        usize::try_from(self.scalar(sql).await).unwrap_or(0)
    }

    /// Raw messages stored, by buzón.
    async fn stored_by_buzon(&self) -> BTreeMap<String, i64> {
        let sql = "SELECT buzon, COUNT(*) FROM raw_messages GROUP BY buzon";
        let rows: Vec<(String, i64)> = match self {
            Probe::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            Probe::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .expect("raw messages by buzón");
        rows.into_iter().collect()
    }

    /// Raw messages by status (`procesado`, `pendiente`…).
    async fn raw_statuses(&self) -> BTreeMap<String, i64> {
        let sql = "SELECT status, COUNT(*) FROM raw_messages GROUP BY status";
        let rows: Vec<(String, i64)> = match self {
            Probe::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            Probe::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .expect("raw messages by status");
        rows.into_iter().collect()
    }

    /// `SELECT name, holder FROM leases` (PostgreSQL; SQLite keeps none).
    async fn leases(&self) -> Vec<(String, String)> {
        let sql = "SELECT name, holder FROM leases ORDER BY name";
        match self {
            Probe::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            Probe::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .expect("leases")
    }

    async fn print_buzon_leases(&self) {
        for (name, holder) in self.leases().await {
            if name.starts_with("buzon/") {
                println!("    {name:<26} → {holder}");
            }
        }
    }

    async fn close(self) {
        match self {
            Probe::Sqlite(pool) => pool.close().await,
            Probe::Postgres(pool) => pool.close().await,
        }
    }
}

/// Writes the lease of each buzón as held by a process of its node that no longer runs (the node
/// "held it before it restarted"): a node takes at once a lease its own dead process held, and
/// leaves alone, until it expires, one of another node. So node A starts with facturaelectronica
/// and node B with aliados, whoever starts first, with the same configuration on both.
async fn assign_buzones(db: &TestDb) {
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 600_000)
        .unwrap_or(0)
        .to_string();
    for ((buzon, _), node) in BUZONES.iter().zip([NODE_A, NODE_B]) {
        let holder = format!("{node}/{}/00000000", dead_pid());
        db.execute(
            "INSERT INTO leases (name, holder, token, expires_ms) VALUES ($1, $2, 1, CAST($3 AS BIGINT))",
            &[&format!("buzon/{buzon}"), &holder, &expires],
        )
        .await;
    }
}

/// Drops a step's database. `TestDb`'s `DROP DATABASE … WITH (FORCE)` fails while an
/// autovacuum worker is in the database (the stack's role may not terminate it; seen after a
/// drain of a few thousand messages, when autovacuum analyzes the new tables) and the database
/// stays on the server: wait for autovacuum to leave first, and say so if it stayed anyway.
async fn drop_database(db: TestDb, probe: Probe) {
    if let Probe::Postgres(pool) = &probe {
        let autovacuum = "SELECT COUNT(*) FROM pg_stat_activity \
                          WHERE datname = current_database() AND backend_type = 'autovacuum worker'";
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline
            && sqlx::query_scalar::<_, i64>(autovacuum).fetch_one(pool).await.unwrap_or(0) > 0
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    probe.close().await;
    let name = db.postgres_name().map(str::to_string);
    tokio::task::spawn_blocking(move || drop(db)).await.expect("drop the database");
    let Some(name) = name else { return };
    let server = PgConnectOptions::from_str(&db::postgres_server()).expect("PostgreSQL URL");
    let Ok(mut admin) = PgConnection::connect_with(&server).await else { return };
    let left: Option<i64> =
        sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .ok();
    let _ = admin.close().await;
    if left.unwrap_or(0) > 0 {
        println!(
            "  ¡la base {name} quedó en el servidor (falló su DROP DATABASE … WITH (FORCE)); \
             mailstack.sh start la borra pasados 30 minutos!"
        );
    }
}

/// CPU seconds of the live PostgreSQL sessions on `db` (the nodes' pools and the probe's).
fn database_backends_cpu(db: &TestDb) -> f64 {
    let Some(name) = db.postgres_name() else { return 0.0 };
    let name = format!(" {name} ");
    processes_cpu_where("postgres", |line| line.contains(&name))
}

/// The pid of a process that ran and was reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("run true");
    let pid = child.id();
    let _ = child.wait();
    pid
}

// ------------------------------------------------------------------------------------ the steps

/// Message `i` of benches/imap.rs's corpus, from a sender of its own: every message is a case
/// (one sender opens at most `casos_por_remitente_hora` cases an hour, 10 by default, and its
/// further mail joins its latest case; the corpus's 37 senders would make 370 cases of 2,000).
fn own_message(i: usize, tag: &str, noise: &mut Noise) -> Vec<u8> {
    message_from(i, i, tag, noise)
}

/// The corpus of one step: [`own_message`] `i` for `i` in `range`.
fn corpus(range: std::ops::Range<usize>, tag: &str, noise: &mut Noise) -> Vec<Vec<u8>> {
    range.map(|i| own_message(i, tag, noise)).collect()
}

/// One drain step's figure for the summary.
struct DrainLine {
    label: &'static str,
    rate: Option<f64>,
    seconds: f64,
    done: usize,
}

/// Steps 1–3: N messages in the two buzones' folders, then the node(s) start; time until the
/// last is a case.
struct Drain<'a> {
    title: &'static str,
    label: &'static str,
    backend: Backend,
    /// Two nodes, node A on facturaelectronica and node B on aliados; else one node, both.
    split: bool,
    folder: &'a str,
    tag: &'static str,
}

impl Drain<'_> {
    async fn run(&self, stack: &Stack, binary: &Path, count: usize) -> DrainLine {
        let half = count / 2;
        println!(
            "\n== {} ({count} mensajes: {half} + {} en dos buzones)",
            self.title,
            count - half
        );
        stack.fresh_folders(self.folder).await;
        let mut noise = Noise(SEED);
        let first = corpus(0..half, self.tag, &mut noise);
        let second = corpus(half..count, self.tag, &mut noise);
        let bytes: usize = first.iter().chain(&second).map(Vec::len).sum();
        let appending = Instant::now();
        tokio::join!(
            stack.append(BUZONES[0].1, self.folder, &first),
            stack.append(BUZONES[1].1, self.folder, &second),
        );
        let appended = appending.elapsed().as_secs_f64();
        drop((first, second));
        println!(
            "APPEND (referencia, dos sesiones)     {count:>6} mensajes  {:>9.1} mensajes/s  \
             {:>7.1} MB/s  ({appended:.2} s)",
            count as f64 / appended,
            bytes as f64 / 1e6 / appended
        );

        let db = fresh_database(self.backend).await;
        if self.split {
            assign_buzones(&db).await;
            println!(
                "  reparto: el arrendamiento de cada buzón se escribe antes como de un proceso muerto \
                 de su nodo (como tras un reinicio):\n  {NODE_A} toma {} y {NODE_B} toma {} al \
                 arrancar; ambos con la misma configuración y arrancados a la vez",
                BUZONES[0].0, BUZONES[1].0
            );
        }
        let probe = Probe::open(&db).await;
        let config = stack.config(self.folder);
        let url = db.url();
        let postgres_before = processes_cpu("postgres");
        let dovecot_before = processes_cpu("imap");
        let started = Instant::now();
        let mut nodes = vec![Node::start(binary, NODE_A, &config, &url)];
        if self.split {
            nodes.push(Node::start(binary, NODE_B, &config, &url));
        }

        let mut first_case: Option<Duration> = None;
        let mut finished: BTreeMap<String, Duration> = BTreeMap::new();
        let mut done = 0;
        let mut progress = Duration::ZERO;
        let mut cpu: Vec<f64> = vec![0.0; nodes.len()];
        let mut backends = 0.0;
        while started.elapsed() < DRAIN_LIMIT {
            let cases = probe.cases().await;
            let now = started.elapsed();
            if cases > done {
                progress = now;
            }
            done = cases;
            if done > 0 && first_case.is_none() {
                first_case = Some(now);
            }
            // Every message stored and no new case for a while: the rest will not be cases.
            if finished.len() == BUZONES.len() && now - progress > STALLED {
                break;
            }
            for (buzon, stored) in probe.stored_by_buzon().await {
                let wanted = if buzon == BUZONES[0].0 { half } else { count - half };
                if stored as usize >= wanted {
                    finished.entry(buzon).or_insert(now);
                }
            }
            // Read while the nodes still run: a process's CPU time goes with it.
            for (node, seconds) in nodes.iter().zip(cpu.iter_mut()) {
                *seconds = node.cpu_seconds();
            }
            backends = database_backends_cpu(&db);
            if done >= count {
                break;
            }
            tokio::time::sleep(POLL_DRAIN).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let postgres = processes_cpu("postgres") - postgres_before;
        let dovecot = processes_cpu("imap") - dovecot_before;
        let rate = done as f64 / elapsed;
        if done < count {
            let statuses: Vec<String> = probe
                .raw_statuses()
                .await
                .into_iter()
                .map(|(status, n)| format!("{n} {status}"))
                .collect();
            println!(
                "  ¡solo {done} de {count} casos en {elapsed:.0} s! mensajes guardados: {}",
                statuses.join(", ")
            );
        }
        println!(
            "vaciado, arranque → último caso       {done:>6} casos     {rate:>9.1} mensajes/s              ({elapsed:.2} s)"
        );
        if let Some(first) = first_case {
            let steady =
                (done.saturating_sub(1)) as f64 / (elapsed - first.as_secs_f64()).max(1e-3);
            println!(
                "  primer caso a los {:.2} s; del primero al último: {steady:.1} mensajes/s",
                first.as_secs_f64()
            );
        }
        for (buzon, _) in BUZONES {
            match finished.get(buzon) {
                Some(at) => {
                    println!("  buzón {buzon:<19} todo guardado a los {:.2} s", at.as_secs_f64())
                }
                None => println!("  buzón {buzon:<19} ¡sin terminar!"),
            }
        }
        let doubled = done.saturating_sub(probe.distinct_subjects().await);
        if doubled > 0 {
            println!("  ¡{doubled} casos con el asunto de otro (mensaje hecho caso dos veces)!");
        }
        let cpu_nodes: Vec<String> = nodes
            .iter()
            .zip(&cpu)
            .map(|(node, seconds)| format!("{} {seconds:.2} s", node.name))
            .collect();
        println!(
            "  CPU: {}; Dovecot (imap) {dovecot:.2} s; PostgreSQL {}",
            cpu_nodes.join(", "),
            if self.backend == Backend::Postgres {
                format!(
                    "{postgres:.2} s (de ellos {backends:.2} s las sesiones de esta base; el resto \
                     walwriter, checkpointer, autovacuum…)"
                )
            } else {
                "—".to_string()
            }
        );
        if self.backend == Backend::Postgres {
            println!("  arrendamientos al terminar (SELECT name, holder FROM leases):");
            probe.print_buzon_leases().await;
        }
        for node in &nodes {
            let took = node.connected_to();
            println!(
                "  {} se conectó a: {}{}",
                node.name,
                if took.is_empty() { "ninguno".to_string() } else { took.join(", ") },
                match node.waiting_for_buzones() {
                    0 => String::new(),
                    n => format!(" ({n} avisos «{WAITING}» de un buzón)"),
                }
            );
        }
        for node in &mut nodes {
            node.stop();
            node.print_complaints();
        }
        drop_database(db, probe).await;
        DrainLine {
            label: self.label,
            rate: (done >= count).then_some(rate),
            seconds: elapsed,
            done,
        }
    }
}

/// Step 3b: two nodes with the same configuration started at the same moment, nothing assigned
/// beforehand (no messages): who takes which buzón. Each try stops both nodes (their leases go).
async fn start_race(stack: &Stack, binary: &Path, folder: &str) {
    println!(
        "\n== 3b. Arranque simultáneo de dos nodos sin reparto previo ({START_RACES} intentos; \
         carpetas vacías): quién toma qué"
    );
    let db = fresh_database(Backend::Postgres).await;
    let probe = Probe::open(&db).await;
    let config = stack.config(folder);
    let url = db.url();
    for attempt in 1..=START_RACES {
        let mut a = Node::start(binary, NODE_A, &config, &url);
        let mut b = Node::start(binary, NODE_B, &config, &url);
        let settled = wait_until(Duration::from_secs(30), || {
            a.logged(CONNECTED) + b.logged(CONNECTED) >= 2
                && a.waiting_for_buzones() + b.waiting_for_buzones() >= 2
        })
        .await;
        let leases = probe.leases().await;
        let held = |node: &str| -> Vec<String> {
            leases
                .iter()
                .filter(|(name, holder)| {
                    name.starts_with("buzon/") && holder.starts_with(&format!("{node}/"))
                })
                .map(|(name, _)| name.trim_start_matches("buzon/").to_string())
                .collect()
        };
        let show = |buzones: Vec<String>| {
            if buzones.is_empty() { "ninguno".to_string() } else { buzones.join(", ") }
        };
        println!(
            "intento {attempt}: {NODE_A} tiene {}; {NODE_B} tiene {}{}",
            show(held(NODE_A)),
            show(held(NODE_B)),
            if settled { "" } else { "   (¡no se asentó en 30 s!)" }
        );
        a.stop();
        b.stop();
        if attempt == START_RACES {
            a.print_complaints();
            b.print_complaints();
        }
    }
    drop_database(db, probe).await;
}

/// Step 4's figures for the summary, from the kill.
struct Takeover {
    connected: Option<Duration>,
    first_case: Option<Duration>,
}

/// Step 4: node A holds both buzones, node B waits; a steady trickle of mail; `kill -9` of A.
async fn takeover(stack: &Stack, binary: &Path, folder: &str) -> Takeover {
    println!(
        "\n== 4. Relevo: kill -9 del nodo que tiene los dos buzones, con un goteo de un mensaje \
         cada {} ms (los buzones por turno)",
        TRICKLE_GAP.as_millis()
    );
    println!(
        "  (arrendamiento de {} s renovado cada {} s; quien espera pregunta cada {} s ± 25 %: se \
         espera el relevo entre ~{} y ~{} s)",
        mesa_fe::lease::TTL.as_secs(),
        mesa_fe::lease::RENEW_EVERY.as_secs(),
        mesa_fe::lease::WAIT_POLL.as_secs(),
        (mesa_fe::lease::TTL - mesa_fe::lease::RENEW_EVERY).as_secs(),
        (mesa_fe::lease::TTL + mesa_fe::lease::WAIT_POLL.mul_f64(1.25)).as_secs_f64().ceil()
    );
    stack.fresh_folders(folder).await;
    let db = fresh_database(Backend::Postgres).await;
    let probe = Probe::open(&db).await;
    let config = stack.config(folder);
    let url = db.url();
    let mut a = Node::start(binary, NODE_A, &config, &url);
    let connected = wait_until(Duration::from_secs(30), || a.logged(CONNECTED) >= 2).await;
    assert!(connected, "node A did not connect to both buzones:\n{}", a.log());
    let mut b = Node::start(binary, NODE_B, &config, &url);
    let waiting = wait_until(Duration::from_secs(30), || b.waiting_for_buzones() >= 2).await;
    assert!(waiting, "node B does not wait for both buzones:\n{}", b.log());

    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicUsize::new(0));
    let trickle =
        tokio::spawn(trickle(stack.clone(), folder.to_string(), stop.clone(), appended.clone()));
    let enough = async {
        while probe.cases().await < BEFORE_KILL {
            tokio::time::sleep(POLL_TAKEOVER).await;
        }
    };
    let before = tokio::time::timeout(Duration::from_secs(60), enough).await.is_ok();
    assert!(before, "node A stored no trickle:\n{}", a.log());
    println!("  antes del kill (SELECT name, holder FROM leases):");
    probe.print_buzon_leases().await;

    a.kill9();
    let killed = Instant::now();
    let mut baseline = probe.cases().await;
    let at_kill = baseline;
    let mut stragglers = 0;
    let mut connected: Vec<Duration> = Vec::new();
    let mut first_case: Option<Duration> = None;
    while killed.elapsed() < TAKEOVER_LIMIT && (connected.len() < 2 || first_case.is_none()) {
        let now = killed.elapsed();
        let logged = b.logged(CONNECTED);
        while connected.len() < logged {
            connected.push(now);
        }
        let cases = probe.cases().await;
        if cases > baseline {
            if connected.is_empty() {
                // A commit node A had on the wire when it died: not node B's work.
                stragglers += cases - baseline;
                baseline = cases;
            } else if first_case.is_none() {
                first_case = Some(now);
            }
        }
        tokio::time::sleep(POLL_TAKEOVER).await;
    }
    let secs = |d: Option<&Duration>| {
        d.map_or("¡no en 40 s!".to_string(), |d| format!("{:.2} s", d.as_secs_f64()))
    };
    println!("  casos al kill -9: {at_kill}");
    println!(
        "nodo B conectado al primer buzón       {} después del kill -9",
        secs(connected.first())
    );
    println!(
        "nodo B conectado a los dos buzones     {} después del kill -9",
        secs(connected.get(1))
    );
    println!(
        "primer caso nuevo (del nodo B)         {} después del kill -9",
        secs(first_case.as_ref())
    );
    if stragglers > 0 {
        println!(
            "  ({stragglers} casos llegaron entre el kill y la conexión de B: commits de A en curso)"
        );
    }
    println!(
        "  resolución: registro del nodo B y base leídos cada {} ms",
        POLL_TAKEOVER.as_millis()
    );

    if first_case.is_some() {
        tokio::time::sleep(TRICKLE_AFTER).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = trickle.await;
    let total = appended.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut cases = probe.cases().await;
    while cases < total && Instant::now() < deadline {
        tokio::time::sleep(POLL_DRAIN).await;
        cases = probe.cases().await;
    }
    let distinct = probe.distinct_subjects().await;
    println!(
        "  goteo: {total} mensajes, {cases} casos ({} distintos){}",
        distinct,
        if cases == total && distinct == total {
            ": nada perdido ni doblado".to_string()
        } else {
            format!(": ¡{} sin caso, {} doblados!", total.saturating_sub(cases), cases - distinct)
        }
    );
    println!("  después del relevo (SELECT name, holder FROM leases):");
    probe.print_buzon_leases().await;
    println!("  nodo B se conectó a: {}", b.connected_to().join(", "));
    b.stop();
    a.print_complaints();
    b.print_complaints();
    drop_database(db, probe).await;
    Takeover { connected: connected.get(1).copied(), first_case }
}

/// Appends a message every [`TRICKLE_GAP`], the buzones in turn, until `stop`; counts them.
async fn trickle(stack: Stack, folder: String, stop: Arc<AtomicBool>, appended: Arc<AtomicUsize>) {
    let mut sessions = Vec::new();
    for (_, user) in BUZONES {
        sessions.push(stack.login(user).await);
    }
    let mut noise = Noise(SEED ^ 0x7e1e);
    let mut tick = tokio::time::interval(TRICKLE_GAP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let raw = own_message(i, "goteo", &mut noise);
        let turn = i % sessions.len();
        sessions[turn].append(&folder, None, None, &raw).await.expect("APPEND");
        i += 1;
        appended.store(i, Ordering::Relaxed);
    }
    for mut session in sessions {
        let _ = session.logout().await;
    }
}
