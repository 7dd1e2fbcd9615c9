//! Two `mesa-fe run` nodes on one PostgreSQL database and the real mail stack: each buzón is
//! read by one node at a time, and when that node dies (`kill -9`) the other takes the buzón
//! over; nothing is lost, no case is doubled, every acknowledgement leaves once. And one node
//! whose PostgreSQL stops and comes back in the middle of a drain. These tests always run on PostgreSQL,
//! whatever backend the rest of the run uses.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::db::{Backend, TestDb, postgres_pass_only};
use common::mail::{clear_inbox, inbox, smtp_port, unique};
use common::{Daemon, Stack, buzon_toml, request};

const FACTURA: &str = "sd_facturaelectronica@dian.gov.co";
const ALIADOS: &str = "sd_fistrib_fe_aliados@dian.gov.co";
const CATCHALL: &str = "catchall@fe.test";

/// Two buzones that read `folder` and answer through the stack's Postfix.
fn two_buzones(stack: &Stack, folder: &str) -> String {
    let smtp = format!(
        "[buzones.smtp]\nservidor = \"{}\"\npuerto = {}\ntls = \"ninguno\"\n",
        stack.host,
        smtp_port()
    );
    buzon_toml(stack, "facturaelectronica", FACTURA, folder, &format!("lote = 20\n{smtp}"))
        + &buzon_toml(stack, "aliados", ALIADOS, folder, &format!("lote = 20\n{smtp}"))
}

/// Starts a node of the cluster, named `node`, on the database at `url`.
fn start_node(daemon: &mut Daemon, node: &str, url: &str) {
    daemon
        .start_with_env(&[("MESA_FE__GENERAL__NODO", node), ("MESA_FE__GENERAL__BASE_DATOS", url)]);
}

/// Waits for `messages` cases in `daemon`'s database, then checks a while later that there are
/// exactly that many, one per message (`log` explains a failure).
async fn assert_each_message_once(daemon: &Daemon, messages: usize, log: &str) {
    let cases = daemon.wait_for_cases(Duration::from_secs(180), |c| c.len() >= messages).await;
    assert_eq!(cases.len(), messages, "log:\n{log}");
    // A node doubling the work would show it now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = daemon.cases().await;
    assert_eq!(after.len(), messages, "no case may appear twice");
    let subjects: HashSet<&str> = after.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(subjects.len(), messages, "each message is exactly one case");
}

/// Whether `node` logs, within 30 s, that another node holds each of the two buzones (the timers'
/// leases log the same words, under their own names).
async fn wait_for_buzon_leases_held_elsewhere(node: &Daemon) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let log = node.log();
        let waiting = |buzon: &str| {
            log.lines().any(|l| l.contains("lo atiende otro nodo") && l.contains(buzon))
        };
        if waiting("lease=buzon/facturaelectronica") && waiting("lease=buzon/aliados") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// `bash deploy/dev/mailstack.sh ACTION` (stop-postgres, start), which must succeed.
fn mailstack(action: &str) {
    let status = std::process::Command::new("bash")
        .args(["deploy/dev/mailstack.sh", action])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run mailstack.sh");
    assert!(status.success(), "mailstack.sh {action}");
}

/// Polls `/readyz` for up to 60 s until it answers `status` with a body `matches` accepts.
async fn wait_ready(base: &str, status: u16, matches: impl Fn(&str) -> bool) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(response) = reqwest::get(format!("{base}/readyz")).await {
            let code = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            if code == status && matches(&body) {
                return Some(body);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// The Message-IDs of the desk's first answers (an acknowledgement, or the request for what is
/// missing) each request got, by the request's Message-ID.
async fn acknowledgements(stack: &Stack, tag: &str) -> HashMap<String, Vec<String>> {
    let mut by_request: HashMap<String, Vec<String>> = HashMap::new();
    for mail in inbox(stack, CATCHALL).await {
        for answered in &mail.in_reply_to {
            if answered.starts_with(&format!("{tag}.")) {
                by_request.entry(answered.clone()).or_default().push(mail.message_id.clone());
            }
        }
    }
    by_request
}

#[tokio::test]
async fn the_node_holding_a_buzon_is_killed_and_the_other_finishes_1000_messages_once() {
    if !postgres_pass_only("dos nodos sobre una base PostgreSQL") {
        return;
    }
    let stack = Stack::from_env();
    let tag = unique("nodos");
    let folder = "t-nodos";
    clear_inbox(&stack, CATCHALL).await;
    stack.fresh_folders(FACTURA, &[folder, "t-nodos-ok"]).await;
    stack.fresh_folders(ALIADOS, &[folder, "t-nodos-ok"]).await;
    let first: Vec<Vec<u8>> = (0..500).map(|n| request(n, &tag)).collect();
    let second: Vec<Vec<u8>> = (500..1000).map(|n| request(n, &tag)).collect();
    stack.append(FACTURA, folder, &first).await;
    stack.append(ALIADOS, folder, &second).await;

    let config = two_buzones(&stack, folder);
    let mut a = Daemon::with_db(&config, TestDb::on(Backend::Postgres));
    let url = a.database_url();
    let mut b = Daemon::new(&config);
    start_node(&mut a, "nodo-a", &url);
    assert!(
        a.wait_for_log("conectado al buzón", 2, Duration::from_secs(30)).await,
        "node A holds both buzones: {}",
        a.log()
    );
    start_node(&mut b, "nodo-b", &url);
    assert!(
        wait_for_buzon_leases_held_elsewhere(&b).await,
        "node B waits for both buzones: {}",
        b.log()
    );

    let partial = a.wait_for_cases(Duration::from_secs(120), |c| c.len() >= 500).await;
    a.kill();
    let killed = Instant::now();
    assert!(partial.len() < 1000, "the kill must hit the middle ({} cases)", partial.len());
    assert!(
        b.wait_for_log("conectado al buzón", 2, Duration::from_secs(30)).await,
        "node B takes both buzones over: {}",
        b.log()
    );
    let takeover = killed.elapsed();
    println!(
        "toma de los buzones por el nodo B: {:.1} s después del kill -9 del nodo A ({} casos hechos por A)",
        takeover.as_secs_f64(),
        partial.len()
    );
    assert!(takeover <= Duration::from_secs(15), "takeover took {takeover:?}");

    assert_each_message_once(&a, 1000, &b.log()).await;
    for user in [FACTURA, ALIADOS] {
        assert_eq!(stack.count(user, folder).await.0, 0, "{user}: nothing left unread");
        assert_eq!(stack.count(user, "t-nodos-ok").await.0, 500, "{user}: each moved once");
    }

    // Every request gets its acknowledgement; a node killed between the SMTP answer and the
    // database's "sent" makes the other resend that one mail, under the same Message-ID.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut acks = acknowledgements(&stack, &tag).await;
    while acks.len() < 1000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        acks = acknowledgements(&stack, &tag).await;
    }
    assert_eq!(acks.len(), 1000, "every request acknowledged; node B log:\n{}", b.log());
    let resent: usize = acks.values().map(|ids| ids.len() - 1).sum();
    for (request, ids) in &acks {
        let distinct: HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), 1, "{request}: two different acknowledgements {ids:?}");
    }
    println!("acuses: 1000 solicitudes, {resent} reenvíos con el mismo Message-ID");
    let status = b.terminate();
    assert!(status.success(), "node B stops cleanly: {status:?}\n{}", b.log());
}

#[tokio::test]
async fn postgresql_stopping_in_the_middle_of_a_drain_shows_in_readyz_and_loses_and_doubles_nothing()
 {
    if !postgres_pass_only("detiene y arranca el servidor PostgreSQL") {
        return;
    }
    let stack = Stack::from_env();
    let tag = unique("pgreinicio");
    let folder = "t-pgreinicio";
    stack.fresh_folders(FACTURA, &[folder, "t-pgreinicio-ok"]).await;
    let messages: Vec<Vec<u8>> = (0..400).map(|n| request(n, &tag)).collect();
    stack.append(FACTURA, folder, &messages).await;
    let config = buzon_toml(&stack, "facturaelectronica", FACTURA, folder, "lote = 10");
    let mut daemon = Daemon::with_db(&config, TestDb::on(Backend::Postgres));
    daemon.start();
    let base = daemon.http_base().await;
    let partial = daemon.wait_for_cases(Duration::from_secs(60), |c| c.len() >= 60).await;
    mailstack("stop-postgres");
    // While it is gone, /readyz says so, and the daemon goes on running.
    let said =
        wait_ready(&base, 503, |body| body.contains("sin conexión con la base de datos")).await;
    mailstack("start");
    assert!(partial.len() < 400, "the outage must hit the middle ({} cases)", partial.len());
    assert!(said.is_some(), "/readyz never said the database was gone:\n{}", daemon.log());
    let back = wait_ready(&base, 200, |body| body.contains("\"base_datos\":\"ok\"")).await;
    assert!(back.is_some(), "/readyz says ready again once PostgreSQL is back:\n{}", daemon.log());

    assert_each_message_once(&daemon, 400, &daemon.log()).await;
    assert_eq!(stack.count(FACTURA, folder).await.0, 0, "nothing left unread");
    assert_eq!(stack.count(FACTURA, "t-pgreinicio-ok").await.0, 400, "each moved once");
    let status = daemon.terminate();
    assert!(status.success(), "the daemon never exited for the database: {status:?}");
}
