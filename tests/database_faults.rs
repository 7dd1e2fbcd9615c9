//! The database under real faults: a disk that fills up (a small tmpfs holds the database, so
//! SQLite gets ENOSPC as on a real server) and a damaged file. Mounting needs root; the daemon
//! tests also need the mail stack of deploy/dev/mailstack.sh.
//!
//! All SQLite-only: they fill the disk under the SQLite file or overwrite its pages. PostgreSQL's
//! faults (a restart, a failover) are other tests (issue 13).

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::db::{TestDb, sqlite_only};
use common::{Daemon, Stack, buzon_toml};
use mesa_fe::config::Config;
use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::pipeline::{Desk, Outcome};
use mesa_fe::store::cases::CaseFilter;
use mesa_fe::store::raw::Origin;
use mesa_fe::store::{Fault, Store};

const FACTURA: &str = "sd_facturaelectronica@dian.gov.co";

/// Why the full-disk tests are SQLite-only.
const FULL_DISK: &str = "llena un tmpfs bajo el archivo SQLite";

/// A small tmpfs of its own, unmounted when dropped (also when the test fails).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "these tests fill a small tmpfs for real: run them as root");
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The database, a SQLite file on this small disk.
    fn database(&self) -> TestDb {
        TestDb::sqlite_in(self.path())
    }

    fn filler(&self) -> PathBuf {
        self.path().join("relleno")
    }

    /// Writes a file until the filesystem has no byte left.
    fn fill(&self) {
        let mut file = std::fs::File::create(self.filler()).expect("create the filler");
        let chunk = vec![0x55u8; 64 * 1024];
        loop {
            if let Err(e) = file.write_all(&chunk) {
                assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected, got {e}");
                return;
            }
        }
    }

    /// Space comes back.
    fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler");
    }

    /// Bytes of the database's write-ahead log: room SQLite can reuse without a new block.
    fn wal_len(&self) -> u64 {
        std::fs::metadata(self.path().join("mesa-fe.db-wal")).map(|m| m.len()).unwrap_or(0)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: the store under test may still hold the files open.
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// A request with a 1 MiB body: bigger than any room left in the log, so storing it needs new
/// blocks on the disk.
fn big_request(n: usize, tag: &str) -> Vec<u8> {
    let mut raw = common::request(n, tag);
    let line = "Detalle del rechazo de la factura electrónica enviado por el proveedor.\r\n";
    raw.extend(line.repeat(1024 * 1024 / line.len()).into_bytes());
    raw
}

#[tokio::test]
async fn a_full_disk_is_a_retriable_error_and_ingest_resumes_once_space_returns() {
    if !sqlite_only(FULL_DISK) {
        return;
    }
    let disk = Tmpfs::mount("16m");
    let mut config = Config::builtin().expect("config");
    config.general.database_url = disk.database().url();
    let store = Store::open(&config.database_url()).await.expect("open store");
    let desk = std::sync::Arc::new(Desk::new(config, KnowledgeBase::builtin()));
    let origin = Origin::local("facturaelectronica");
    let mails: Vec<Vec<u8>> = (0..3).map(|n| big_request(n, "lleno-directo")).collect();
    disk.fill();
    assert!(disk.wal_len() < mails[0].len() as u64, "the log must not have room for a mail");

    // More failed writes than the pool has connections: every one of them went through one.
    for _ in 0..3 {
        for mail in &mails {
            let error = desk.ingest(&store, &origin, mail).await.expect_err("the disk is full");
            assert_eq!(error.fault(), Some(Fault::DiskFull), "{error}");
            assert!(error.is_retriable(), "{error}");
        }
    }
    assert!(store.list_cases(&CaseFilter::default()).await.expect("cases").is_empty());

    disk.free();
    for mail in &mails {
        let outcome = desk.ingest(&store, &origin, mail).await.expect("ingest once space is back");
        assert!(matches!(outcome, Outcome::Opened { .. }), "{outcome:?}");
    }
    assert_eq!(store.list_cases(&CaseFilter::default()).await.expect("cases").len(), 3);
    store.close().await;
}

/// Polls `/readyz` until its status is `wanted`, up to `limit`.
async fn wait_ready(base: &str, wanted: u16, limit: Duration) -> (u16, String) {
    let deadline = Instant::now() + limit;
    loop {
        let response = reqwest::get(format!("{base}/readyz")).await.expect("GET /readyz");
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        if status == wanted || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Cases in the database at `url`, up to `limit` until there are `wanted`.
async fn wait_for_cases(url: &str, wanted: usize, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let found = match Store::open(url).await {
            Ok(store) => {
                let n = store.list_cases(&CaseFilter::default()).await.map_or(0, |c| c.len());
                store.close().await;
                n
            }
            Err(_) => 0,
        };
        if found >= wanted || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn the_daemon_keeps_mail_in_the_inbox_while_the_disk_is_full_and_resumes_by_itself() {
    if !sqlite_only(FULL_DISK) {
        return;
    }
    let stack = Stack::from_env();
    let (folder, done) = ("t-lleno", "t-lleno-ok");
    stack.fresh_folders(FACTURA, &[folder, done]).await;
    let disk = Tmpfs::mount("16m");
    let config = buzon_toml(&stack, "facturaelectronica", FACTURA, folder, "");
    let mut daemon = Daemon::with_db(&config, disk.database());
    daemon.start();
    let base = daemon.http_base().await;
    let (status, body) = wait_ready(&base, 200, Duration::from_secs(20)).await;
    assert_eq!(status, 200, "{body}\n{}", daemon.log());

    disk.fill();
    let mails: Vec<Vec<u8>> = (0..3).map(|n| big_request(n, "lleno")).collect();
    assert!(disk.wal_len() < mails[0].len() as u64, "the log must not have room for a mail");
    stack.append(FACTURA, folder, &mails).await;
    let (status, body) = wait_ready(&base, 503, Duration::from_secs(30)).await;
    assert_eq!(status, 503, "unready while the disk is full: {body}\n{}", daemon.log());
    assert!(body.contains("disco lleno"), "/readyz says why: {body}");
    assert_eq!(stack.count(FACTURA, folder).await.0, 3, "nothing leaves the INBOX unstored");
    assert_eq!(stack.count(FACTURA, done).await.0, 0);

    disk.free();
    let cases = wait_for_cases(&daemon.database_url(), 3, Duration::from_secs(60)).await;
    assert_eq!(
        cases,
        3,
        "every mail is a case within a minute of space returning\n{}",
        daemon.log()
    );
    let (status, body) = wait_ready(&base, 200, Duration::from_secs(10)).await;
    assert_eq!(status, 200, "ready again: {body}");
    assert_eq!(stack.count(FACTURA, folder).await.0, 0);
    assert_eq!(stack.count(FACTURA, done).await.0, 3);
    assert!(daemon.terminate().success());
    drop(disk);
}

/// Overwrites the start of the page that holds the raw messages (its header and cell pointers)
/// with garbage, as a bad sector or a torn write would.
async fn damage_raw_messages(database: &TestDb) {
    let db = database.sqlite_path().expect("a SQLite file");
    // Read straight from SQLite: the store itself would refuse the file once damaged.
    let pool = database.sqlite_pool().await;
    let root: i64 =
        sqlx::query_scalar("SELECT rootpage FROM sqlite_master WHERE name = 'raw_messages'")
            .fetch_one(&pool)
            .await
            .expect("root page");
    let page_size: i64 =
        sqlx::query_scalar("PRAGMA page_size").fetch_one(&pool).await.expect("page size");
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&pool).await.expect("checkpoint");
    pool.close().await;
    let mut bytes = std::fs::read(db).expect("read the database");
    let start = usize::try_from((root - 1) * page_size).expect("offset");
    bytes[start..start + 64].fill(0xA5);
    std::fs::write(db, bytes).expect("write the damage");

    let pool = database.sqlite_pool().await;
    let check: Result<Vec<String>, sqlx::Error> =
        sqlx::query_scalar("PRAGMA quick_check").fetch_all(&pool).await;
    pool.close().await;
    // SQLite either lists what it found or stops at once with SQLITE_CORRUPT.
    match check {
        Ok(found) => assert_ne!(found, vec!["ok".to_string()], "quick_check must see the damage"),
        Err(e) => assert_eq!(Fault::of(&e), Some(Fault::Damaged), "{e}"),
    }
}

/// A command of the daemon's, killed if it has not ended within `limit`.
fn run_with_limit(mut command: Command, limit: Duration) -> (Option<ExitStatus>, String) {
    let mut child = command.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().expect("spawn");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    (status, stderr)
}

#[tokio::test]
async fn a_damaged_database_stops_run_migrate_and_ingest_with_exit_74_and_leaves_the_inbox() {
    if !sqlite_only("daña páginas del archivo SQLite") {
        return;
    }
    let stack = Stack::from_env();
    let (folder, done) = ("t-danada", "t-danada-ok");
    stack.fresh_folders(FACTURA, &[folder, done]).await;
    let daemon = Daemon::new(&buzon_toml(&stack, "facturaelectronica", FACTURA, folder, ""));
    let eml = daemon.path().join("solicitud.eml");
    std::fs::write(&eml, common::request(1, "danada-cli")).expect("write .eml");
    let ingested = daemon.cli(&["ingest", eml.to_str().expect("UTF-8 path")]);
    assert!(ingested.status.success(), "{}", String::from_utf8_lossy(&ingested.stderr));
    damage_raw_messages(&daemon.db).await;
    stack
        .append(FACTURA, folder, &[common::request(2, "danada"), common::request(3, "danada")])
        .await;

    let mut run = daemon.command();
    run.arg("run")
        .arg("--config")
        .arg(daemon.path().join("mesa-fe.toml"))
        .env("MESA_FE__HTTP__DIRECCION", "127.0.0.1:0");
    let (status, stderr) = run_with_limit(run, Duration::from_secs(30));
    assert_eq!(status.and_then(|s| s.code()), Some(74), "run must refuse to start: {stderr}");
    let path = daemon.db.sqlite_path().expect("a SQLite file").display().to_string();
    for expected in ["dañada", path.as_str(), "copia de respaldo", ".recover", "siguen en el buzón"]
    {
        assert!(stderr.contains(expected), "stderr names {expected:?}: {stderr}");
    }
    assert_eq!(stack.count(FACTURA, folder).await.0, 2, "the daemon never took the mail");
    assert_eq!(stack.count(FACTURA, done).await.0, 0);

    for args in [vec!["migrate"], vec!["ingest", eml.to_str().expect("UTF-8 path")]] {
        let output = daemon.cli(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(74), "{args:?}: {stderr}");
        assert!(stderr.contains("dañada") && stderr.contains(&path), "{args:?}: {stderr}");
    }
}
