//! Benchmark of `mesa-fe run` against the real Dovecot of deploy/dev/mailstack.sh (issue 3):
//!
//! 1. raw fetch rate: 2,000 realistic ~50 KB messages appended to a fresh folder, then
//!    `UID FETCH a:b BODY.PEEK[]` in batches of 50 over one session, nothing else done;
//! 2. the daemon's end-to-end rate on the same messages (start of `mesa-fe run` → 2,000 committed
//!    cases), its ratio to the raw rate, the daemon's peak RSS and CPU time;
//! 3. latency APPEND → case with IDLE (poll interval 600 s, so IDLE is the only way in):
//!    200 messages appended one at a time, ~20 ms apart; p50/p95/max;
//! 4. RSS with 10,000 cases already in the store (steady), then while one 25 MB message becomes
//!    a case;
//! 5. a burst (issue 16): 1,000 short requests APPENDed at once to a buzón that answers by the
//!    local Postfix; when each acknowledgement is in the requester's mailbox (the stack's
//!    catch-all), from the first APPEND; then p50/p95 APPEND → acknowledgement of single
//!    requests, one at a time.
//!
//! Prints figures and the aims of the issue next to them; asserts nothing about time (the
//! machines are shared and noisy). The daemon is the binary Cargo builds for the bench (release
//! profile), run as a child process with its own state directory; folders are named after the
//! run and deleted at the end.
//!
//! Run:
//!   bash deploy/dev/mailstack.sh start && eval "$(bash deploy/dev/mailstack.sh env)"
//!   cargo bench --bench imap
//! Optional: `MESA_FE_BENCH_MESSAGES` (2000), `MESA_FE_BENCH_LATENCY_MESSAGES` (200),
//! `MESA_FE_BENCH_PRELOAD` (10000), `MESA_FE_BENCH_BURST` (1000), `MESA_FE_BENCH_STEPS` (the
//! steps to run, e.g. `1,2,5`: 2 needs 1), `MESA_FE_BIN` (another mesa-fe binary),
//! `MESA_FE_BENCH_PERF=FILE` (`perf record --call-graph dwarf` of the daemon during step 2 into
//! FILE; then `perf report -i FILE --children`), `MESA_FE_BENCH_KEEP=1` (keep the daemons' state
//! directories, with their logs and stores, and print where they are),
//! `MESA_FE_BENCH_DAEMON_LOG` (the daemons' `RUST_LOG`, `info` by default; with
//! `info,sqlx::query=debug` and `MESA_FE_BENCH_KEEP=1` the log lists every statement with its
//! time, to count them per message).

mod common;
#[path = "../tests/common/db.rs"]
mod db;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Noise, SEED, big_message, cpu_seconds, invoice_number, load_average, message_from,
    processes_cpu, report, small_request, status_mib,
};
use db::TestDb;
use futures::TryStreamExt;
use mesa_fe::config::Config;
use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::pipeline::{Desk, Outcome};
use mesa_fe::store::Store;
use mesa_fe::store::raw::Origin;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tokio::net::TcpStream;

type Session = async_imap::Session<TcpStream>;

/// The buzón the daemon watches, and the mail stack user behind it.
const BUZON: &str = "facturaelectronica";
const USER: &str = "sd_facturaelectronica@dian.gov.co";
/// UIDs per `UID FETCH` of the raw rate (the daemon's default `lote`).
const FETCH_BATCH: usize = 50;
/// Gap between the APPENDs of the latency step.
const APPEND_GAP: Duration = Duration::from_millis(20);
/// Store polling: the rate step and the RSS step, and the latency step.
const POLL_RATE: Duration = Duration::from_millis(100);
const POLL_LATENCY: Duration = Duration::from_millis(10);
/// The big message: 25 MB, under the default limit (`mensaje_max_bytes` = 25 MiB = 26,214,400).
const BIG_MESSAGE_BYTES: usize = 25_000_000;
/// How long the daemon idles with 10,000 cases before its RSS is read.
const STEADY_WAIT: Duration = Duration::from_secs(5);
/// Messages of the bare-IDLE reference (Dovecot's own notification delay).
const BARE_IDLE_MESSAGES: usize = 50;
/// Messages per `Desk::ingest_batch` when preloading the store.
const PRELOAD_BATCH: usize = 500;

fn main() -> ExitCode {
    let Some(binary) = daemon_binary() else { return ExitCode::FAILURE };
    let stack = match Stack::from_env() {
        Ok(stack) => stack,
        Err(missing) => {
            eprintln!(
                "imap bench: {missing} is not set. Start the mail stack and export its settings:\n  \
                 bash deploy/dev/mailstack.sh start && eval \"$(bash deploy/dev/mailstack.sh env)\"\n  \
                 cargo bench --bench imap"
            );
            return ExitCode::FAILURE;
        }
    };
    let sizes = Sizes::from_env();
    print_machine(&binary);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let folders = Folders::new();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(bench(&stack, &binary, &folders, &sizes))
    }));
    runtime.block_on(folders.delete(&stack));
    println!("\ncarga al terminar       {} (1, 5, 15 min)", load_average());
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

async fn bench(stack: &Stack, binary: &Path, folders: &Folders, sizes: &Sizes) {
    if sizes.runs(1) {
        let raw_rate = raw_fetch(stack, &folders.fetch, sizes.messages).await;
        if sizes.runs(2) {
            daemon_rate(stack, binary, &folders.fetch, sizes.messages, raw_rate).await;
        }
    }
    if sizes.runs(3) {
        idle_latency(stack, binary, folders, sizes.latency_messages).await;
    }
    if sizes.runs(4) {
        rss_with_cases(stack, binary, &folders.rss, sizes.preload).await;
    }
    if sizes.runs(5) {
        burst(stack, binary, &folders.burst, sizes.burst).await;
    }
}

/// How much work each step does (environment overrides for quick runs).
struct Sizes {
    messages: usize,
    latency_messages: usize,
    preload: usize,
    burst: usize,
    steps: Option<Vec<u8>>,
}

impl Sizes {
    fn from_env() -> Sizes {
        let count = |name: &str, default: usize| {
            std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
        };
        Sizes {
            messages: count("MESA_FE_BENCH_MESSAGES", 2000).max(1),
            latency_messages: count("MESA_FE_BENCH_LATENCY_MESSAGES", 200).max(1),
            preload: count("MESA_FE_BENCH_PRELOAD", 10_000),
            burst: count("MESA_FE_BENCH_BURST", 1000).max(1),
            steps: std::env::var("MESA_FE_BENCH_STEPS")
                .ok()
                .map(|list| list.split(',').filter_map(|s| s.trim().parse().ok()).collect()),
        }
    }

    fn runs(&self, step: u8) -> bool {
        self.steps.as_ref().is_none_or(|steps| steps.contains(&step))
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
        "imap bench: the daemon binary {} does not exist. Build it first with \
         `cargo build --release` (or point MESA_FE_BIN at a mesa-fe binary).",
        binary.display()
    );
    None
}

fn print_machine(binary: &Path) {
    common::print_machine(binary);
    println!(
        "estado del demonio en  {} (SQLite, synchronous=FULL)",
        std::env::temp_dir().display()
    );
}

// ------------------------------------------------------------------------------------ the stack

/// Where the mail stack listens, from `eval "$(bash deploy/dev/mailstack.sh env)"`.
struct Stack {
    host: String,
    port: u16,
    password: String,
    submission_port: u16,
    ca: String,
    catchall: String,
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
            submission_port: var("MESA_FE_MAILSTACK_SUBMISSION_PORT")?
                .parse()
                .map_err(|_| "MESA_FE_MAILSTACK_SUBMISSION_PORT (a number)")?,
            ca: var("MESA_FE_MAILSTACK_CA")?,
            catchall: var("MESA_FE_MAILSTACK_CATCHALL")?,
        })
    }

    /// A plaintext session on loopback as the buzón's user.
    async fn login(&self) -> Session {
        self.login_as(USER).await
    }

    /// A plaintext session on loopback as `user` (every stack user has the same password).
    async fn login_as(&self, user: &str) -> Session {
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

    /// One `[[buzones]]` entry for the daemon, plaintext on loopback.
    fn daemon_config(&self, folder: &str, poll_seconds: u64) -> String {
        format!(
            "[[buzones]]\nnombre = \"{BUZON}\"\ndireccion = \"{USER}\"\ncanal = \"correo\"\n\
             [buzones.imap]\nservidor = \"{host}\"\npuerto = {port}\ntls = \"ninguno\"\n\
             usuario = \"{USER}\"\nautenticacion = \"contrasena\"\n\
             contrasena = {{ variable = \"MESA_FE_MAILSTACK_PASSWORD\" }}\n\
             carpeta = \"{folder}\"\ncarpeta_procesados = \"{folder}-ok\"\n\
             intervalo_sondeo_segundos = {poll_seconds}\n",
            host = self.host,
            port = self.port,
        )
    }

    /// [`Stack::daemon_config`] with the buzón answering by the stack's Postfix (STARTTLS).
    fn answering_config(&self, folder: &str, poll_seconds: u64) -> String {
        format!(
            "{}[buzones.smtp]\nservidor = \"{host}\"\npuerto = {port}\ntls = \"starttls\"\n\
             ca = \"{ca}\"\nusuario = \"{USER}\"\nautenticacion = \"contrasena\"\n\
             contrasena = {{ variable = \"MESA_FE_MAILSTACK_PASSWORD\" }}\n",
            self.daemon_config(folder, poll_seconds),
            host = self.host,
            port = self.submission_port,
            ca = self.ca,
        )
    }
}

/// This run's folders (each with its `-ok` processed folder), deleted at the end.
struct Folders {
    fetch: String,
    idle: String,
    idle_bare: String,
    rss: String,
    burst: String,
}

impl Folders {
    fn new() -> Folders {
        let run = common::run_name("bench");
        Folders {
            fetch: format!("{run}-tasa"),
            idle: format!("{run}-idle"),
            idle_bare: format!("{run}-idle-solo"),
            rss: format!("{run}-rss"),
            burst: format!("{run}-rafaga"),
        }
    }

    async fn delete(&self, stack: &Stack) {
        let mut session = stack.login().await;
        for folder in [&self.fetch, &self.idle, &self.idle_bare, &self.rss, &self.burst] {
            let _ = session.delete(folder).await;
            let _ = session.delete(&format!("{folder}-ok")).await;
        }
        let _ = session.logout().await;
    }
}

// ----------------------------------------------------------------------------------- the daemon

/// `mesa-fe run` as a child process with its own state directory.
struct Daemon {
    dir: tempfile::TempDir,
    child: Option<Child>,
    started: Instant,
    perf: Option<Child>,
}

impl Daemon {
    /// A state directory with the configuration and a migrated, empty store.
    async fn prepare(config: &str) -> tempfile::TempDir {
        let mut dir = tempfile::tempdir().expect("temp dir");
        if std::env::var_os("MESA_FE_BENCH_KEEP").is_some() {
            dir.disable_cleanup(true);
            println!("  (estado del demonio conservado en {})", dir.path().display());
        }
        std::fs::write(dir.path().join("mesa-fe.toml"), config).expect("write config");
        Store::open(&database(dir.path()).url()).await.expect("create the store").close().await;
        dir
    }

    fn start(binary: &Path, dir: tempfile::TempDir) -> Daemon {
        let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log file");
        let started = Instant::now();
        let child = Command::new(binary)
            .arg("run")
            .arg("--config")
            .arg(dir.path().join("mesa-fe.toml"))
            .env("MESA_FE__GENERAL__DIRECTORIO_ESTADO", dir.path())
            .env("RUST_LOG", std::env::var("MESA_FE_BENCH_DAEMON_LOG").unwrap_or("info".into()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mesa-fe run");
        Daemon { dir, child: Some(child), started, perf: None }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    fn mib(&self, field: &str) -> f64 {
        status_mib(Some(self.pid()), field).unwrap_or(f64::NAN)
    }

    /// User + system CPU seconds the daemon has used so far.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid()).unwrap_or(0.0)
    }

    async fn wait_connected(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log().contains("conectado al buzón") {
            assert!(Instant::now() < deadline, "the daemon did not connect:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `perf record` (DWARF call graphs) of the daemon into `output`, until [`Daemon::stop_perf`].
    fn start_perf(&mut self, output: &str) {
        let perf = Command::new("perf")
            .args([
                "record",
                "-F",
                "499",
                "--call-graph",
                "dwarf,16384",
                "-o",
                output,
                "-p",
                &self.pid().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match perf {
            Ok(perf) => self.perf = Some(perf),
            Err(e) => println!("(perf no arrancó: {e})"),
        }
    }

    fn stop_perf(&mut self) {
        if let Some(mut perf) = self.perf.take() {
            let _ = Command::new("kill").args(["-INT", &perf.id().to_string()]).status();
            let _ = perf.wait();
        }
    }

    /// SIGTERM, then wait up to 30 s.
    fn stop(&mut self) {
        self.stop_perf();
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                if !status.success() {
                    println!("(el demonio terminó con {status})");
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!("(el demonio no terminó 30 s después de SIGTERM; se mata)");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Warnings and errors the daemon logged, and the first of them, for the report.
    fn print_complaints(&self) {
        let log = self.log();
        let complaints: Vec<&str> =
            log.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).collect();
        if let Some(first) = complaints.first() {
            let errors = complaints.iter().filter(|l| l.contains(" ERROR ")).count();
            println!(
                "  registro del demonio: {} WARN, {errors} ERROR; el primero: {}",
                complaints.len() - errors,
                first.trim()
            );
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop_perf();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The daemon's store: SQLite in its state directory, where `run` puts it by default (and where
/// `MESA_FE_BENCH_KEEP` keeps it with the log). This bench measures SQLite.
fn database(dir: &Path) -> TestDb {
    TestDb::sqlite_in(dir)
}

/// A reader of the daemon's store: one connection, plain queries (cheap enough to poll every
/// 10 ms without stealing the daemon's CPU; `Store::list_cases` loads whole rows).
struct Cases(SqlitePool);

impl Cases {
    async fn open(dir: &Path) -> Cases {
        let db = database(dir);
        let options = SqliteConnectOptions::new()
            .filename(db.sqlite_path().expect("a SQLite file"))
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("open the daemon's store");
        Cases(pool)
    }

    async fn count(&self) -> usize {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
            .fetch_one(&self.0)
            .await
            .expect("count cases");
        usize::try_from(count).unwrap_or(0)
    }

    /// Cases after `id`: (id, subject).
    async fn since(&self, id: i64) -> Vec<(i64, String)> {
        sqlx::query_as("SELECT id, subject FROM cases WHERE id > $1 ORDER BY id")
            .bind(id)
            .fetch_all(&self.0)
            .await
            .expect("new cases")
    }

    /// The newest raw message: (size kept, size declared by the server, status).
    async fn last_raw(&self) -> Option<(i64, Option<i64>, String)> {
        sqlx::query_as(
            "SELECT size_bytes, declared_size, status FROM raw_messages ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.0)
        .await
        .expect("last raw message")
    }

    async fn close(self) {
        self.0.close().await;
    }
}

// ------------------------------------------------------------------------------------ the steps

/// `count` realistic messages, each from a sender of its own: a sender's mail past its hourly
/// cap of new cases joins its latest case, and every message here must be a case.
fn corpus(count: usize, tag: &str, seed: u64) -> (Vec<Vec<u8>>, usize) {
    let mut noise = Noise(seed);
    let messages: Vec<Vec<u8>> = (0..count).map(|i| message_from(i, i, tag, &mut noise)).collect();
    let bytes = messages.iter().map(Vec::len).sum();
    (messages, bytes)
}

/// Step 1: APPEND the corpus, then fetch it raw twice; returns the better rate (messages/s).
async fn raw_fetch(stack: &Stack, folder: &str, count: usize) -> f64 {
    let (messages, bytes) = corpus(count, "tasa", SEED);
    println!(
        "\n== 1. Lectura cruda desde Dovecot ({count} mensajes, {:.1} MB, {:.1} KB de media)",
        bytes as f64 / 1e6,
        bytes as f64 / 1e3 / count as f64
    );
    let mut session = stack.login().await;
    let _ = session.delete(folder).await;
    session.create(folder).await.expect("CREATE");
    let started = Instant::now();
    for raw in &messages {
        session.append(folder, None, None, raw).await.expect("APPEND");
    }
    report("APPEND de a uno (referencia)", count, bytes, started.elapsed().as_secs_f64());
    drop(messages);

    session.examine(folder).await.expect("EXAMINE");
    let mut uids: Vec<u32> =
        session.uid_search("ALL").await.expect("UID SEARCH").into_iter().collect();
    uids.sort_unstable();
    assert_eq!(uids.len(), count, "the folder holds what was appended");
    let mut best: f64 = 0.0;
    for pass in 1..=2 {
        let started = Instant::now();
        let (mut fetched, mut fetched_bytes) = (0, 0);
        for chunk in uids.chunks(FETCH_BATCH) {
            let set = format!("{}:{}", chunk[0], chunk[chunk.len() - 1]);
            let fetches: Vec<_> = session
                .uid_fetch(&set, "BODY.PEEK[]")
                .await
                .expect("UID FETCH")
                .try_collect()
                .await
                .expect("FETCH responses");
            for body in fetches.iter().filter_map(|f| f.body()) {
                fetched += 1;
                fetched_bytes += body.len();
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        report(
            &format!("UID FETCH BODY.PEEK[] de a {FETCH_BATCH}, pasada {pass}"),
            fetched,
            fetched_bytes,
            seconds,
        );
        best = best.max(fetched as f64 / seconds);
    }
    session.logout().await.expect("LOGOUT");
    best
}

/// Step 2: the daemon on the folder of step 1, from its start to the last committed case.
async fn daemon_rate(stack: &Stack, binary: &Path, folder: &str, count: usize, raw_rate: f64) {
    println!("\n== 2. Demonio de punta a punta: mismos {count} mensajes (arranque → último caso)");
    let dir = Daemon::prepare(&stack.daemon_config(folder, 60)).await;
    let cases = Cases::open(dir.path()).await;
    let dovecot_before = processes_cpu("imap");
    let mut daemon = Daemon::start(binary, dir);
    if let Ok(output) = std::env::var("MESA_FE_BENCH_PERF") {
        daemon.start_perf(&output);
    }
    let limit = Duration::from_secs(120).max(Duration::from_millis(count as u64 * 250));
    let mut first_case: Option<Duration> = None;
    let mut done = 0;
    let mut peak_rss: f64 = 0.0;
    while daemon.started.elapsed() < limit {
        done = cases.count().await;
        if done > 0 && first_case.is_none() {
            first_case = Some(daemon.started.elapsed());
        }
        peak_rss = peak_rss.max(daemon.mib("VmRSS"));
        if done >= count {
            break;
        }
        tokio::time::sleep(POLL_RATE).await;
    }
    let elapsed = daemon.started.elapsed().as_secs_f64();
    let cpu = daemon.cpu_seconds();
    let dovecot = processes_cpu("imap") - dovecot_before;
    let hwm = daemon.mib("VmHWM");
    daemon.stop_perf();
    let rate = done as f64 / elapsed;
    if done < count {
        println!("  ¡solo {done} de {count} casos en {elapsed:.0} s!");
    }
    println!(
        "demonio, arranque → caso comprometido {done:>6} casos     {rate:>9.1} mensajes/s              ({elapsed:.2} s)"
    );
    if let Some(first) = first_case {
        let steady = (done.saturating_sub(1)) as f64 / (elapsed - first.as_secs_f64()).max(1e-3);
        println!(
            "  primer caso a los {:.2} s; del primero al último: {steady:.1} mensajes/s",
            first.as_secs_f64()
        );
    }
    println!(
        "  relación con la lectura cruda ({raw_rate:.1} mensajes/s): {:.1} %   [meta: vaciar 5000 pendientes a ≥ 2000 mensajes/s]",
        100.0 * rate / raw_rate
    );
    println!(
        "  CPU del demonio: {cpu:.2} s ({:.0} % de un núcleo); CPU de Dovecot (procesos imap): \
         {dovecot:.2} s",
        100.0 * cpu / elapsed
    );
    println!(
        "  RSS máximo del demonio (VmHWM) {hwm:.1} MiB; máximo de VmRSS muestreado {peak_rss:.1} MiB"
    );
    let db = database(daemon.dir.path()).sqlite_path().and_then(|p| std::fs::metadata(p).ok());
    let db = db.map_or(0, |m| m.len());
    println!("  base SQLite: {:.1} MB", db as f64 / 1e6);
    daemon.print_complaints();
    cases.close().await;
    daemon.stop();
}

/// Step 3: with the daemon idling on an empty folder, APPEND one message at a time and time
/// APPEND's OK → the case in the store.
async fn idle_latency(stack: &Stack, binary: &Path, folders: &Folders, count: usize) {
    let folder = folders.idle.as_str();
    println!(
        "\n== 3. Latencia APPEND → caso con IDLE ({count} mensajes de a uno, cada {} ms; sondeo cada 600 s)",
        APPEND_GAP.as_millis()
    );
    let mut session = stack.login().await;
    let _ = session.delete(folder).await;
    session.create(folder).await.expect("CREATE");
    let dir = Daemon::prepare(&stack.daemon_config(folder, 600)).await;
    let cases = Arc::new(Cases::open(dir.path()).await);
    let daemon = Daemon::start(binary, dir);
    daemon.wait_connected().await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (messages, _) = corpus(count, "latencia", SEED ^ 0x5555);
    let numbers: HashMap<String, usize> = (0..count).map(|i| (invoice_number(i), i)).collect();
    let seen: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; count]));
    let stop = Arc::new(AtomicBool::new(false));
    let poller = tokio::spawn(watch_cases(cases.clone(), numbers, seen.clone(), stop.clone()));

    let mut appended = Vec::with_capacity(count);
    for raw in &messages {
        session.append(folder, None, None, raw).await.expect("APPEND");
        appended.push(Instant::now());
        tokio::time::sleep(APPEND_GAP).await;
    }
    session.logout().await.expect("LOGOUT");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && seen.lock().expect("lock").iter().any(Option::is_none) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let unmatched = poller.await.expect("poller");

    let seen = seen.lock().expect("lock").clone();
    let mut latencies: Vec<Duration> = seen
        .iter()
        .zip(&appended)
        .filter_map(|(case, ok)| case.map(|at| at.saturating_duration_since(*ok)))
        .collect();
    latencies.sort_unstable();
    let missing = count - latencies.len();
    print_latencies("latencia APPEND OK → caso", &latencies, "   [meta p95 < 1 s]");
    println!("  resolución: sondeo de la base cada {} ms", POLL_LATENCY.as_millis());
    if missing > 0 || unmatched > 0 {
        println!(
            "  ¡{missing} mensajes sin caso en 30 s; {unmatched} casos que no se reconocieron!"
        );
    }
    daemon.print_complaints();
    drop(daemon);
    if let Ok(cases) = Arc::try_unwrap(cases) {
        cases.close().await;
    }
    let bare = &messages[..count.min(BARE_IDLE_MESSAGES)];
    let bare = idle_bare(stack, &folders.idle_bare, bare).await;
    print_latencies("referencia: IDLE solo, OK → * EXISTS", &bare, "   (Dovecot, sin demonio)");
}

/// p50/p95/max (and min) of sorted latencies.
fn print_latencies(label: &str, sorted: &[Duration], aim: &str) {
    if sorted.is_empty() {
        println!("{label:<38} ¡ninguna medida!");
        return;
    }
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{label:<38} p50 {:.0} ms   p95 {:.0} ms   máx {:.0} ms   (mín {:.0} ms, n = {}){aim}",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(at(1.0)),
        ms(at(0.0)),
        sorted.len(),
    );
}

/// Dovecot's own share of the latency: a bare IDLE session, time from APPEND's OK (from another
/// session) to `* EXISTS`, one message at a time. Sorted.
async fn idle_bare(stack: &Stack, folder: &str, messages: &[Vec<u8>]) -> Vec<Duration> {
    let mut appender = stack.login().await;
    let _ = appender.delete(folder).await;
    appender.create(folder).await.expect("CREATE");
    let mut watcher = stack.login().await;
    watcher.select(folder).await.expect("SELECT");
    let mut latencies = Vec::with_capacity(messages.len());
    for raw in messages {
        let mut idle = watcher.idle();
        idle.init().await.expect("IDLE");
        {
            let (wait, _stop) = idle.wait_with_timeout(Duration::from_secs(10));
            let news = async { (wait.await, Instant::now()) };
            let append = async {
                appender.append(folder, None, None, raw).await.expect("APPEND");
                Instant::now()
            };
            let ((news, at), ok) = tokio::join!(news, append);
            if let Ok(async_imap::extensions::idle::IdleResponse::NewData(_)) = news {
                latencies.push(at.saturating_duration_since(ok));
            }
        }
        watcher = idle.done().await.expect("DONE");
        while watcher.unsolicited_responses.try_recv().is_ok() {}
        tokio::time::sleep(APPEND_GAP).await;
    }
    let _ = watcher.logout().await;
    let _ = appender.logout().await;
    latencies.sort_unstable();
    latencies
}

/// Polls the store for new cases, noting when each expected invoice number shows up; returns
/// how many cases matched none.
async fn watch_cases(
    cases: Arc<Cases>,
    numbers: HashMap<String, usize>,
    seen: Arc<Mutex<Vec<Option<Instant>>>>,
    stop: Arc<AtomicBool>,
) -> usize {
    let mut last_id = 0;
    let mut unmatched = 0;
    let mut tick = tokio::time::interval(POLL_LATENCY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let new = cases.since(last_id).await;
        let now = Instant::now();
        let mut seen = seen.lock().expect("lock");
        for (id, subject) in new {
            last_id = id;
            match subject.split(';').find_map(|part| numbers.get(part.trim())) {
                Some(&i) => {
                    seen[i].get_or_insert(now);
                }
                None => unmatched += 1,
            }
        }
    }
    unmatched
}

/// Step 4: 10,000 cases in the store, the daemon idling (steady RSS), then one 25 MB message.
async fn rss_with_cases(stack: &Stack, binary: &Path, folder: &str, preload: usize) {
    println!("\n== 4. Memoria con {preload} casos en la base, y con un mensaje de 25 MB");
    let mut session = stack.login().await;
    let _ = session.delete(folder).await;
    session.create(folder).await.expect("CREATE");
    let dir = Daemon::prepare(&stack.daemon_config(folder, 600)).await;
    preload_cases(dir.path(), preload).await;

    let cases = Cases::open(dir.path()).await;
    let daemon = Daemon::start(binary, dir);
    daemon.wait_connected().await;
    tokio::time::sleep(STEADY_WAIT).await;
    println!(
        "en reposo, {:.0} s después de conectar     VmRSS {:.1} MiB   VmHWM {:.1} MiB   [meta < 64 MB]",
        STEADY_WAIT.as_secs_f64(),
        daemon.mib("VmRSS"),
        daemon.mib("VmHWM")
    );

    let mut noise = Noise(SEED ^ 0xb16);
    let big = big_message(&format!("grande-{}", std::process::id()), BIG_MESSAGE_BYTES, &mut noise);
    let before = cases.count().await;
    session.append(folder, None, None, &big).await.expect("APPEND of the big message");
    let appended = Instant::now();
    session.logout().await.expect("LOGOUT");
    let deadline = appended + Duration::from_secs(180);
    while cases.count().await <= before && Instant::now() < deadline {
        tokio::time::sleep(POLL_RATE).await;
    }
    let took = appended.elapsed().as_secs_f64();
    let became_case = cases.count().await > before;
    println!(
        "mensaje de {:.1} MB ({}) → caso en {took:.2} s     VmHWM {:.1} MiB   VmRSS después {:.1} MiB   [meta < 150 MB]",
        big.len() as f64 / 1e6,
        if became_case { "llegó a caso" } else { "¡no llegó a caso en 180 s!" },
        daemon.mib("VmHWM"),
        daemon.mib("VmRSS"),
    );
    if let Some((kept, declared, status)) = cases.last_raw().await {
        let how = match declared {
            Some(declared) => format!("solo encabezados ({kept} de {declared} bytes)"),
            None => format!("completo ({kept} bytes)"),
        };
        println!("  crudo guardado: {how}, estado {status}");
    }
    daemon.print_complaints();
    cases.close().await;
    drop(daemon);
}

/// Small requests through the library's own ingest, into the daemon's store before it starts.
async fn preload_cases(dir: &Path, count: usize) {
    let mut config = Config::builtin().expect("built-in configuration");
    config.general.database_url = database(dir).url();
    let desk = std::sync::Arc::new(Desk::new(config, KnowledgeBase::builtin()));
    let store = Store::open(&desk.config.database_url()).await.expect("store");
    let origin = Origin::local(BUZON);
    let started = Instant::now();
    let (mut opened, mut bytes) = (0, 0);
    for first in (0..count).step_by(PRELOAD_BATCH) {
        let batch: Vec<Vec<u8>> = (first..(first + PRELOAD_BATCH).min(count))
            .map(|i| small_request(i, "precarga"))
            .collect();
        bytes += batch.iter().map(Vec::len).sum::<usize>();
        let raws: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        let outcomes = desk.ingest_batch(&store, &origin, &raws).await.expect("ingest");
        opened += outcomes.iter().filter(|o| matches!(o, Outcome::Opened { .. })).count();
    }
    report("precarga con Desk::ingest_batch", count, bytes, started.elapsed().as_secs_f64());
    if opened != count {
        println!("  ({opened} casos abiertos de {count} mensajes)");
    }
    store.close().await;
}

/// Step 5: the daemon idling on an empty folder with SMTP; `count` requests APPENDed as fast as
/// one session can, then single requests one at a time. An acknowledgement is found in the
/// catch-all mailbox by its In-Reply-To (the request's Message-ID, `<tag.i@pt.example>`).
async fn burst(stack: &Stack, binary: &Path, folder: &str, count: usize) {
    println!(
        "\n== 5. Ráfaga: {count} solicitudes APPEND de una vez → acuses en el buzón del \
         solicitante (Postfix local, STARTTLS)"
    );
    let mut session = stack.login().await;
    let _ = session.delete(folder).await;
    session.create(folder).await.expect("CREATE");
    let dir = Daemon::prepare(&stack.answering_config(folder, 600)).await;
    let daemon = Daemon::start(binary, dir);
    daemon.wait_connected().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut inbox = stack.login_as(&stack.catchall).await;
    inbox.select("INBOX").await.expect("SELECT catch-all");

    let tag = common::run_name("rafaga");
    let requests: Vec<Vec<u8>> = (0..count).map(|i| small_request(i, &tag)).collect();
    let started = Instant::now();
    for raw in &requests {
        session.append(folder, None, None, raw).await.expect("APPEND");
    }
    let appended = started.elapsed();
    let (mut first, mut last, mut acknowledged) = (None, None, 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged < count && Instant::now() < deadline {
        acknowledged = acknowledgements(&mut inbox, &tag).await;
        if acknowledged > 0 {
            first.get_or_insert(started.elapsed());
        }
        last = Some(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64());
    println!("  APPEND de las {count}: {:.2} s", appended.as_secs_f64());
    println!(
        "  acuses en el buzón: {acknowledged} de {count}; primero a los {:.2} s, último a los {:.2} s \
         del primer APPEND   [meta: último ≤ 10 s]",
        secs(first),
        secs(last)
    );
    if acknowledged == count {
        println!(
            "  {:.0} acuses/s de punta a punta (primer APPEND → último acuse entregado)",
            count as f64 / secs(last)
        );
    }

    let singles = 30;
    let mut latencies = Vec::with_capacity(singles);
    for i in 0..singles {
        let tag = format!("{tag}-uno{i}");
        let sent = Instant::now();
        session.append(folder, None, None, &small_request(i, &tag)).await.expect("APPEND");
        let deadline = sent + Duration::from_secs(20);
        while Instant::now() < deadline {
            if acknowledgements(&mut inbox, &tag).await > 0 {
                latencies.push(sent.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    latencies.sort_unstable();
    print_latencies("solicitud sola: APPEND → acuse entregado", &latencies, "   [meta p95 < 1 s]");
    println!("  resolución: búsqueda IMAP en el comodín cada 10 ms (más lo que tarda)");
    daemon.print_complaints();
    let _ = inbox.logout().await;
    let _ = session.logout().await;
}

/// How many acknowledgements of requests tagged `tag` the catch-all mailbox holds.
async fn acknowledgements(inbox: &mut Session, tag: &str) -> usize {
    inbox.noop().await.expect("NOOP");
    let query = format!("HEADER In-Reply-To \"<{tag}.\"");
    inbox.uid_search(&query).await.expect("UID SEARCH").len()
}
