//! Test support for the store and the binary without a mail server: a desk over a real store
//! on a fresh [`TestDb`], the `mesa-fe` binary with its state in a directory of the
//! test's, and the files of tests/fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use mesa_fe::config::Config;
use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::pipeline::{Desk, Outcome};
use mesa_fe::store::Store;
use mesa_fe::store::raw::Origin;
use tempfile::TempDir;

use super::db::TestDb;

/// The built-in configuration's desk over a fresh store in `dir`, and the buzón its mail comes
/// through.
pub struct Fixture {
    pub desk: Arc<Desk>,
    pub store: Store,
    pub origin: Origin,
    pub db: TestDb,
}

/// A [`Fixture`] whose configuration `adjust` changes first (`|_| {}` for none).
pub async fn fixture(adjust: impl FnOnce(&mut Config)) -> Fixture {
    let db = TestDb::new();
    let mut config = Config::builtin().expect("config");
    config.general.database_url = db.url();
    config.autenticacion.servers = vec![MTA.to_string()];
    adjust(&mut config);
    let store = Store::open(&config.database_url()).await.expect("open store");
    let origin = Origin::local("facturaelectronica");
    Fixture { desk: Arc::new(Desk::new(config, KnowledgeBase::builtin())), store, origin, db }
}

impl Fixture {
    /// A raw message through the whole pipeline, as if read from the fixture's buzón.
    pub async fn ingest(&self, raw: &[u8]) -> Outcome {
        self.desk.ingest(&self.store, &self.origin, raw).await.expect("ingest")
    }
}

/// A file under tests/fixtures, e.g. `fixture_path("mail/05_rebote_dsn.eml")`.
pub fn fixture_path(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

/// The bytes of a file under tests/fixtures.
pub fn sample(path: &str) -> Vec<u8> {
    let path = fixture_path(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The binary with its state directory `state` and the configuration's default database (a
/// SQLite file in `state`), whatever the environment of the test run says about the
/// configuration. Only for what opens no database (`check-config`, `inspect`, `--help`,
/// `kb list`) and for tests of that default: a command that opens the store runs through
/// [`Host::mesa_fe`], on the run's backend.
pub fn mesa_fe(state: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mesa-fe"));
    command
        .env_remove("MESA_FE_CONFIG")
        .env_remove(super::db::URL_VARIABLE)
        .env("MESA_FE__GENERAL__DIRECTORIO_ESTADO", state);
    command
}

/// A state directory and a database, as an operator's host has them, for runs of the binary.
pub struct Host {
    pub dir: TempDir,
    pub db: TestDb,
}

impl Host {
    pub fn new() -> Host {
        Host { dir: tempfile::tempdir().expect("temp dir"), db: TestDb::new() }
    }

    /// [`mesa_fe`] on this host's state directory and database.
    pub fn mesa_fe(&self) -> Command {
        let mut command = mesa_fe(self.dir.path());
        self.db.apply(&mut command);
        command
    }
}

/// All a run printed: its stdout, then its stderr.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every hour of every day is working time, without holidays: SLA and control-posterior tests
/// then do not depend on when they run.
pub fn always_open(config: &mut Config) {
    config.horario.weekdays =
        ["lunes", "martes", "miercoles", "jueves", "viernes", "sabado", "domingo"]
            .map(String::from)
            .to_vec();
    config.horario.opens = "00:00".into();
    config.horario.closes = "24:00".into();
    config.horario.holidays.clear();
    config.horario.national_holidays = false;
}

/// A plain-text mail to the general buzón; `in_reply_to` (with angle brackets) threads it and
/// `headers` are extra header lines, each ending in CRLF.
pub fn plain_mail(
    from: &str,
    subject: &str,
    message_id: &str,
    in_reply_to: Option<&str>,
    headers: &str,
    body: &str,
) -> Vec<u8> {
    let thread = in_reply_to
        .map(|id| format!("In-Reply-To: {id}\r\nReferences: {id}\r\n"))
        .unwrap_or_default();
    format!(
        "From: {from}\r\nTo: sd_facturaelectronica@dian.gov.co\r\nSubject: {subject}\r\n\
         Message-ID: {message_id}\r\nDate: Thu, 26 Nov 2026 10:00:00 -0500\r\n{thread}{headers}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// The authserv-id of the fixture desk's MTA (`autenticacion.servidores` of [`fixture`]).
pub const MTA: &str = "mx.dian.gov.co";

/// `raw` as the buzón's MTA delivers it after checking the sender: its result on top, a DMARC
/// pass for the domain of `from`. What makes an agent's reply a command.
pub fn vouched(from: &str, raw: &[u8]) -> Vec<u8> {
    let domain = from.rsplit('@').next().unwrap_or_default();
    let mut out =
        format!("Authentication-Results: {MTA}; dmarc=pass header.from={domain}\r\n").into_bytes();
    out.extend_from_slice(raw);
    out
}
