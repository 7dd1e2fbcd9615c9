//! `mesa-fe run` against the real Dovecot of deploy/dev/mailstack.sh: nothing lost, nothing
//! twice, across crashes, server restarts and recreated mailboxes. Each test works in its own
//! folders; they run one at a time (.config/nextest.toml) because one restarts Dovecot.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Daemon, Stack, buzon_toml, request};

const FACTURA: &str = "sd_facturaelectronica@dian.gov.co";
const ALIADOS: &str = "sd_fistrib_fe_aliados@dian.gov.co";

fn one_buzon(stack: &Stack, folder: &str, extra: &str) -> String {
    buzon_toml(stack, "facturaelectronica", FACTURA, folder, extra)
}

#[tokio::test]
async fn messages_in_two_buzones_become_cases_and_are_moved() {
    let stack = Stack::from_env();
    stack.fresh_folders(FACTURA, &["t-dos", "t-dos-ok"]).await;
    stack.fresh_folders(ALIADOS, &["t-dos", "t-dos-ok"]).await;
    stack
        .append(FACTURA, "t-dos", &[request(1, "dos"), request(2, "dos"), request(3, "dos")])
        .await;
    let aranda = b"From: Aranda <notificaciones@aranda.dian.gov.co>\r\nTo: sd_fistrib_fe_aliados@dian.gov.co\r\n\
        Subject: Caso 4411: factura rechazada\r\nMessage-ID: <dos.aranda@aranda.dian.gov.co>\r\n\
        Auto-Submitted: auto-generated\r\n\r\nEl proveedor con NIT 900481236 reporta que la factura SETT0001 \
        fue rechazada con la regla FAB05b.\r\n"
        .to_vec();
    stack.append(ALIADOS, "t-dos", &[request(4, "dos"), aranda]).await;

    let config =
        one_buzon(&stack, "t-dos", "") + &buzon_toml(&stack, "aliados", ALIADOS, "t-dos", "");
    let mut daemon = Daemon::new(&config);
    daemon.start();
    let cases = daemon.wait_for_cases(Duration::from_secs(30), |c| c.len() >= 5).await;
    assert_eq!(cases.len(), 5, "log:\n{}", daemon.log());
    let channels: Vec<&str> = cases.iter().map(|c| c.channel.as_str()).collect();
    assert_eq!(channels.iter().filter(|c| **c == "aranda").count(), 1, "{channels:?}");
    assert_eq!(channels.iter().filter(|c| **c == "correo").count(), 4, "{channels:?}");

    let deadline = Instant::now() + Duration::from_secs(10);
    while stack.count(FACTURA, "t-dos").await.0 + stack.count(ALIADOS, "t-dos").await.0 > 0 {
        assert!(Instant::now() < deadline, "messages left in the watched folders");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stack.count(FACTURA, "t-dos-ok").await.0, 3);
    assert_eq!(stack.count(ALIADOS, "t-dos-ok").await.0, 2);

    let status = daemon.terminate();
    assert!(
        status.success(),
        "SIGTERM must end with exit 0, got {status:?}; log:\n{}",
        daemon.log()
    );
    assert!(daemon.log().contains("buzón detenido"), "{}", daemon.log());
}

#[tokio::test]
async fn kill_9_in_the_middle_of_500_messages_loses_and_doubles_nothing() {
    let stack = Stack::from_env();
    stack.fresh_folders(FACTURA, &["t-crash", "t-crash-ok"]).await;
    let messages: Vec<Vec<u8>> = (0..500).map(|n| request(n, "crash")).collect();
    stack.append(FACTURA, "t-crash", &messages).await;

    let mut daemon = Daemon::new(&one_buzon(&stack, "t-crash", "lote = 20"));
    daemon.start();
    let partial = daemon.wait_for_cases(Duration::from_secs(60), |c| c.len() >= 40).await;
    daemon.kill();
    assert!(
        partial.len() < 500,
        "the crash must hit the middle of the work ({} cases)",
        partial.len()
    );

    daemon.start();
    let cases = daemon.wait_for_cases(Duration::from_secs(120), |c| c.len() >= 500).await;
    // Give a wrongly doubling daemon the chance to show it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cases_after = daemon.cases().await;
    assert_eq!(cases.len(), 500, "log:\n{}", daemon.log());
    assert_eq!(cases_after.len(), 500, "no case may appear twice");
    let subjects: HashSet<&str> = cases_after.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(subjects.len(), 500, "each message is exactly one case");
    let deadline = Instant::now() + Duration::from_secs(20);
    while stack.count(FACTURA, "t-crash").await.0 > 0 {
        assert!(Instant::now() < deadline, "messages left unprocessed on the server");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stack.count(FACTURA, "t-crash-ok").await.0, 500);
}

#[tokio::test]
async fn a_dovecot_restart_is_survived() {
    let stack = Stack::from_env();
    stack.fresh_folders(FACTURA, &["t-reinicio", "t-reinicio-ok"]).await;
    let mut daemon = Daemon::new(&one_buzon(&stack, "t-reinicio", ""));
    daemon.start();
    stack.append(FACTURA, "t-reinicio", &[request(1, "reinicio")]).await;
    assert_eq!(daemon.wait_for_cases(Duration::from_secs(20), |c| !c.is_empty()).await.len(), 1);

    let restart = std::process::Command::new("bash")
        .args(["deploy/dev/mailstack.sh", "restart-dovecot"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("restart Dovecot");
    assert!(restart.success());
    stack.append(FACTURA, "t-reinicio", &[request(2, "reinicio"), request(3, "reinicio")]).await;
    let cases = daemon.wait_for_cases(Duration::from_secs(40), |c| c.len() >= 3).await;
    assert_eq!(cases.len(), 3, "log:\n{}", daemon.log());
    assert!(
        daemon.log().contains("se reintenta"),
        "the lost connection is logged:\n{}",
        daemon.log()
    );
}

#[tokio::test]
async fn a_recreated_mailbox_with_the_same_messages_makes_no_duplicates() {
    let stack = Stack::from_env();
    stack.fresh_folders(FACTURA, &["t-validez", "t-validez-ok"]).await;
    let messages: Vec<Vec<u8>> = (0..3).map(|n| request(n, "validez")).collect();
    stack.append(FACTURA, "t-validez", &messages).await;
    let mut daemon = Daemon::new(&one_buzon(&stack, "t-validez", "al_procesar = \"marcar_leido\""));
    daemon.start();
    assert_eq!(daemon.wait_for_cases(Duration::from_secs(20), |c| c.len() >= 3).await.len(), 3);
    let deadline = Instant::now() + Duration::from_secs(10);
    while stack.count(FACTURA, "t-validez").await != (3, 3) {
        assert!(Instant::now() < deadline, "messages stay in place, flagged \\Seen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon.terminate();

    // Recreated: new UIDVALIDITY, same messages, unread again.
    stack.fresh_folders(FACTURA, &["t-validez"]).await;
    stack.append(FACTURA, "t-validez", &messages).await;
    daemon.start();
    let deadline = Instant::now() + Duration::from_secs(20);
    while stack.count(FACTURA, "t-validez").await != (3, 3) {
        assert!(
            Instant::now() < deadline,
            "the re-read messages are flagged again; log:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(daemon.cases().await.len(), 3, "no duplicate cases; log:\n{}", daemon.log());
    assert!(daemon.log().contains("UIDVALIDITY"), "{}", daemon.log());
}

#[tokio::test]
async fn idle_turns_a_new_message_into_a_case_without_waiting_for_the_poll() {
    let stack = Stack::from_env();
    stack.fresh_folders(FACTURA, &["t-idle", "t-idle-ok"]).await;
    let config = one_buzon(&stack, "t-idle", "")
        .replace("intervalo_sondeo_segundos = 2", "intervalo_sondeo_segundos = 600");
    let mut daemon = Daemon::new(&config);
    daemon.start();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !daemon.log().contains("conectado al buzón") {
        assert!(Instant::now() < deadline, "daemon did not connect:\n{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let appended = Instant::now();
    stack.append(FACTURA, "t-idle", &[request(1, "idle")]).await;
    let cases = daemon.wait_for_cases(Duration::from_secs(10), |c| !c.is_empty()).await;
    let latency = appended.elapsed();
    assert_eq!(cases.len(), 1, "log:\n{}", daemon.log());
    assert!(
        latency < Duration::from_secs(5),
        "with IDLE the case exists in about a second, took {latency:?}"
    );
}

#[tokio::test]
async fn a_wrong_password_is_an_error_the_operator_sees_and_the_daemon_keeps_trying() {
    let stack = Stack::from_env();
    stack.fresh_folders(FACTURA, &["t-clave", "t-clave-ok"]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let wrong = dir.path().join("clave");
    std::fs::write(&wrong, "no-es-la-clave\n").expect("write");
    let config = one_buzon(&stack, "t-clave", "").replace(
        "contrasena = { variable = \"MESA_FE_MAILSTACK_PASSWORD\" }",
        &format!("contrasena = {{ archivo = \"{}\" }}", wrong.display()),
    );
    let mut daemon = Daemon::new(&config);
    daemon.start();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !daemon.log().contains("revise credenciales") {
        assert!(Instant::now() < deadline, "no clear error:\n{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!daemon.log().contains("no-es-la-clave"), "the password never reaches the log");
    let status = daemon.terminate();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn an_oversized_message_is_kept_with_its_headers_and_never_loops_on_the_server() {
    let stack = Stack::from_env();
    stack.fresh_folders(FACTURA, &["t-grande", "t-grande-ok"]).await;
    let attachment = "QUJD".repeat(100_000); // 400 KB of base64
    let big = format!(
        "From: Lina Rojas <lrojas@pt.example>\r\nTo: {FACTURA}\r\nSubject: Factura FG99812 con soportes\r\n\
         Message-ID: <grande.1@pt.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAdjunto los soportes de la factura FG99812, NIT 900481236.\r\n\
         --b\r\nContent-Type: application/pdf; name=\"soportes.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{attachment}\r\n--b--\r\n"
    );
    stack.append(FACTURA, "t-grande", &[big.into_bytes()]).await;
    let config = one_buzon(&stack, "t-grande", "") + "\n[limites]\nmensaje_max_bytes = 100000\n";
    let mut daemon = Daemon::new(&config);
    daemon.start();
    let cases = daemon.wait_for_cases(Duration::from_secs(20), |c| !c.is_empty()).await;
    assert_eq!(cases.len(), 1, "log:\n{}", daemon.log());
    let store = mesa_fe::store::Store::open(&daemon.database_url()).await.expect("store");
    let detail = store.case_detail(&cases[0].number).await.expect("detail").expect("case");
    let problems = &detail.messages[0].attachment_problems;
    assert!(problems.contains("supera el máximo"), "the requester is told why: {problems}");
    let (_, kept) = store.raw_message(1).await.expect("raw").expect("kept");
    assert!(kept.len() < 2_000, "only the headers are kept ({} bytes)", kept.len());
    assert!(String::from_utf8_lossy(&kept).contains("grande.1@pt.example"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while stack.count(FACTURA, "t-grande").await.0 > 0 {
        assert!(Instant::now() < deadline, "the big message must leave the watched folder");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
