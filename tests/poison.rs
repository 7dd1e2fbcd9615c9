//! A message that stops the process while it is being read must not stop the desk: its
//! processing starts are counted in the store, and after two that never finished it goes to
//! quarantine and the other messages go on. The analysis runs off the async workers under a time
//! budget, so the watchdog and /healthz keep answering meanwhile.

mod common;

use std::time::{Duration, Instant};

use common::local::fixture;
use common::{Daemon, Stack, buzon_toml, request};
use mesa_fe::pipeline::Outcome;

const BUZON: &str = "sd_facturaelectronica@dian.gov.co";

/// How long the debug-build failure hook holds every analysis: far longer than the test waits.
const PAUSE_MS: &str = "600000";

async fn attempts(daemon: &Daemon, raw_id: i64) -> i64 {
    // Read-only and only once the daemon made the database: polling must not create it.
    let sql = "SELECT attempts FROM raw_messages WHERE id = $1";
    daemon.db.fetch_i64(sql, &[raw_id]).await.unwrap_or(0)
}

async fn wait_for_attempts(daemon: &Daemon, raw_id: i64, wanted: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while attempts(daemon, raw_id).await < wanted {
        assert!(
            Instant::now() < deadline,
            "no attempt {wanted} on message {raw_id}\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads datagrams from the notify socket until one contains `wanted` (or 10 s pass).
fn hears(socket: &std::os::unix::net::UnixDatagram, wanted: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buffer = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buffer)
            && String::from_utf8_lossy(&buffer[..n]).contains(wanted)
        {
            return true;
        }
    }
    false
}

async fn healthz(daemon: &Daemon) -> u16 {
    let url = format!("{}/healthz", daemon.http_base().await);
    let response = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("/healthz answers while a message is being read");
    response.status().as_u16()
}

#[tokio::test]
async fn a_message_that_kills_the_daemon_twice_is_quarantined_and_the_next_one_goes_on() {
    let stack = Stack::from_env();
    let folder = "PoisonKill";
    stack.fresh_folders(BUZON, &[folder, "PoisonKill-ok"]).await;
    stack.append(BUZON, folder, &[request(1, "veneno"), request(2, "veneno")]).await;
    let mut daemon = Daemon::new(&buzon_toml(&stack, "facturaelectronica", BUZON, folder, ""));
    let dir = tempfile::tempdir().expect("temp dir");
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).expect("bind");
    socket.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let socket_text = socket_path.display().to_string();
    let hooks = [
        ("MESA_FE_PRUEBA_PAUSA_ANALISIS_MS", PAUSE_MS),
        ("NOTIFY_SOCKET", socket_text.as_str()),
        ("WATCHDOG_USEC", "2000000"),
    ];

    // 1. Read from the buzón, stored, and stuck in its analysis: the daemon still answers.
    daemon.start_with_env(&hooks);
    wait_for_attempts(&daemon, 1, 1).await;
    assert!(hears(&socket, "WATCHDOG=1"), "no watchdog while a message is read\n{}", daemon.log());
    assert_eq!(healthz(&daemon).await, 200);
    daemon.kill();
    assert_eq!(stack.count(BUZON, folder).await.0, 0, "both were stored and moved before");

    // 2. Replayed at start-up, stuck again: systemd still hears from it, /healthz answers.
    daemon.start_with_env(&hooks);
    wait_for_attempts(&daemon, 1, 2).await;
    assert!(hears(&socket, "WATCHDOG=1"), "no watchdog during the replay\n{}", daemon.log());
    assert_eq!(healthz(&daemon).await, 200);
    daemon.kill();

    // 3. A normal start: the message is set apart and the desk goes on with the next one.
    daemon.start();
    let cases = daemon.wait_for_cases(Duration::from_secs(30), |c| !c.is_empty()).await;
    assert_eq!(cases.len(), 1, "the second message became a case\n{}", daemon.log());
    assert!(daemon.wait_for_log("conectado al buzón", 1, Duration::from_secs(20)).await);
    let listed = daemon.cli(&["quarantine", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains("falló al procesar 2 veces"), "{listed}");
    assert_eq!(attempts(&daemon, 1).await, 3, "the third start was counted and stopped there");
    // Read ahead with the first in step 1 (its start counted there and cut by the kill), it
    // is not started again while the first one is replayed alone, and goes through now.
    assert_eq!(
        attempts(&daemon, 2).await,
        2,
        "the second message was started once more, not quarantined"
    );
    assert!(daemon.terminate().success());
}

/// A request of `size` bytes: many small attachments, real work for the MIME reader.
fn large_request(size: usize) -> Vec<u8> {
    let mut raw = String::from(
        "From: Proveedor <proveedor@pt.example>\r\nTo: sd_facturaelectronica@dian.gov.co\r\n\
         Subject: Muchos adjuntos\r\nMessage-ID: <grande@pt.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         Adjunto las evidencias del rechazo.\r\n",
    );
    let mut n = 0;
    while raw.len() < size {
        n += 1;
        raw.push_str(&format!(
            "--b\r\nContent-Type: image/png; name=\"captura{n}.png\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\r\n"
                .repeat(20)
        ));
    }
    raw.push_str("--b--\r\n");
    raw.into_bytes()
}

#[tokio::test]
async fn an_analysis_over_its_budget_is_quarantined_with_the_reason() {
    let f = fixture(|config| config.limites.analysis_max_seconds = 1e-9).await;
    let raw = large_request(2_000_000);
    let Outcome::Quarantined { reason, .. } = f.ingest(&raw).await else {
        panic!("an analysis over its time budget must be set apart");
    };
    assert!(reason.contains("superó el tiempo máximo"), "{reason}");
    assert!(reason.contains("limites.analisis_max_segundos"), "{reason}");
    let held = f.store.quarantine_list().await.expect("quarantine list");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].reason, reason);
    assert!(f.store.list_cases(&Default::default()).await.expect("cases").is_empty());
}
