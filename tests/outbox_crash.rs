//! kill -9 while the outbox is sending 1,000 first answers (an acknowledgement or a request for
//! what is missing), against the real Postfix and Dovecot: after a restart every requester has
//! its answer, and a mail that reached a
//! requester twice is the same mail (one Message-ID): the promise is at-least-once delivery,
//! with the duplicates limited to what was in flight at the kill. The duplicates are counted
//! and printed (`--no-capture`).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::mail::{self, Mail};
use common::{Daemon, Stack, buzon_toml, request};
use futures::TryStreamExt;

const FACTURA: &str = "sd_facturaelectronica@dian.gov.co";
const REQUESTS: usize = 1000;
/// `conexiones_smtp` of the buzón: at most this many mails are in flight when the kill lands.
const CONNECTIONS: usize = 4;

/// How many mails in the catch-all INBOX answer a request tagged `tag`.
async fn delivered(stack: &Stack, catchall: &str, tag: &str) -> usize {
    let mut session = stack.login(catchall).await;
    session.examine("INBOX").await.expect("EXAMINE");
    let found =
        session.uid_search(format!("HEADER In-Reply-To \"<{tag}.\"")).await.expect("UID SEARCH");
    let _ = session.logout().await;
    found.len()
}

/// The mails answering requests tagged `tag`, by request number.
async fn answers(stack: &Stack, catchall: &str, tag: &str) -> HashMap<usize, Vec<Mail>> {
    let mut session = stack.login(catchall).await;
    session.examine("INBOX").await.expect("EXAMINE");
    let uids =
        session.uid_search(format!("HEADER In-Reply-To \"<{tag}.\"")).await.expect("UID SEARCH");
    let mut by_request: HashMap<usize, Vec<Mail>> = HashMap::new();
    let uids: Vec<String> = uids.into_iter().map(|u| u.to_string()).collect();
    for chunk in uids.chunks(200) {
        let fetches: Vec<_> = session
            .uid_fetch(chunk.join(","), "BODY.PEEK[]")
            .await
            .expect("UID FETCH")
            .try_collect()
            .await
            .expect("FETCH responses");
        for mail in fetches.iter().filter_map(|f| f.body()).filter_map(Mail::parse) {
            let request = mail.in_reply_to.iter().find_map(|id| {
                id.strip_prefix(&format!("{tag}."))?.strip_suffix("@pt.example")?.parse().ok()
            });
            if let Some(n) = request {
                by_request.entry(n).or_default().push(mail);
            }
        }
    }
    let _ = session.logout().await;
    by_request
}

#[tokio::test]
async fn kill_9_while_1000_acknowledgements_are_sent_delivers_each_and_repeats_only_the_same_mail()
{
    let stack = Stack::from_env();
    let catchall = std::env::var("MESA_FE_MAILSTACK_CATCHALL").expect("MESA_FE_MAILSTACK_CATCHALL");
    let tag = mail::unique("salida");
    stack.fresh_folders(FACTURA, &["t-salida", "t-salida-ok"]).await;
    let smtp = format!(
        "[buzones.smtp]\nservidor = \"{}\"\npuerto = {}\ntls = \"ninguno\"\nconexiones_smtp = {CONNECTIONS}\n",
        stack.host,
        mail::smtp_port()
    );
    let mut daemon =
        Daemon::new(&buzon_toml(&stack, "facturaelectronica", FACTURA, "t-salida", &smtp));

    // The cases (and their acknowledgements in the outbox) come in before the daemon starts.
    let requests = tempfile::tempdir().expect("temp dir");
    let files: Vec<String> = (0..REQUESTS)
        .map(|n| {
            let path = requests.path().join(format!("{n:04}.eml"));
            std::fs::write(&path, request(n, &tag)).expect("write request");
            path.display().to_string()
        })
        .collect();
    let config = daemon.path().join("mesa-fe.toml").display().to_string();
    let mut ingest = daemon.command();
    ingest.args(["ingest", "--config", &config]).args(&files);
    let output = ingest.output().expect("mesa-fe ingest");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    daemon.start();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut before_kill = 0;
    while before_kill < 100 {
        assert!(Instant::now() < deadline, "no acknowledgement went out; log:\n{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
        before_kill = delivered(&stack, &catchall, &tag).await;
    }
    daemon.kill();
    // Postfix may still be handing over what it accepted: let it settle before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_kill = delivered(&stack, &catchall, &tag).await;
    assert!(
        at_kill < REQUESTS,
        "the kill must land while mail is being sent ({at_kill} delivered)"
    );

    daemon.start();
    let deadline = Instant::now() + Duration::from_secs(120);
    while delivered(&stack, &catchall, &tag).await < REQUESTS {
        assert!(
            Instant::now() < deadline,
            "acknowledgements missing after the restart; log:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Give a wrongly repeating outbox the chance to show it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(daemon.terminate().success(), "log:\n{}", daemon.log());

    let by_request = answers(&stack, &catchall, &tag).await;
    let missing: Vec<usize> = (0..REQUESTS).filter(|n| !by_request.contains_key(n)).collect();
    assert!(missing.is_empty(), "requests without an acknowledgement: {missing:?}");
    let mut duplicates = 0;
    for (n, mails) in &by_request {
        assert!(
            mails.iter().all(|m| m.message_id == mails[0].message_id),
            "request {n} got different mails: {:?}",
            mails.iter().map(|m| (&m.message_id, m.kind())).collect::<Vec<_>>()
        );
        duplicates += mails.len() - 1;
    }
    println!(
        "kill -9 con {at_kill} de {REQUESTS} primeras respuestas entregadas: tras reiniciar, {REQUESTS} de {REQUESTS} \
         solicitantes tienen la suya; {duplicates} llegaron dos veces (mismo Message-ID)"
    );
    assert!(
        duplicates <= CONNECTIONS,
        "{duplicates} acknowledgements went twice: only the {CONNECTIONS} in flight at the kill may"
    );
}
