//! Retention (`mesa-fe purge`) on a real store and through the binary: the bodies and
//! attachments of closed cases go, their record and event log stay, open cases are not touched,
//! a dry run changes nothing and a second run finds nothing to do.

mod common;

use std::process::Output;

use common::local::{Fixture, Host, fixture, fixture_path, sample, text, vouched};
use mesa_fe::desk::command::{Action, Command};
use mesa_fe::pipeline::Outcome;
use mesa_fe::store::Store;
use mesa_fe::store::cases::CaseDetail;
use mesa_fe::store::outbox::{OutboxItem, timestamp};
use serde_json::Value;

const N2: &str = "ana.rojas@dian.gov.co";
const REQUEST: &str = "mail/01_proveedor_zip_attacheddocument.eml";
const OTHER_REQUEST: &str = "mail/02_contribuyente_texto_sin_requisitos.eml";

/// A cutoff a minute from now: every case closed so far is "old enough".
fn future_cutoff() -> String {
    timestamp(chrono::Utc::now() + chrono::Duration::minutes(1))
}

impl Fixture {
    /// A new case from a fixture: its number and the id of its raw message.
    async fn open(&self, name: &str) -> (String, i64) {
        match self.ingest(&sample(name)).await {
            Outcome::Opened { case, raw_id, .. } => (case, raw_id),
            other => panic!("expected a new case from {name}, got {other:?}"),
        }
    }

    async fn act(&self, number: &str, command: Command) {
        let action = Action { command, text: String::new() };
        let outcome = self.desk.act_by_cli(&self.store, number, N2, &action).await.expect("act");
        assert_eq!(outcome.refusal, None, "{action:?} on {number} was refused");
    }

    async fn case_id(&self, number: &str) -> i64 {
        self.store.case_by_number(number).await.expect("case").expect("case exists").id
    }

    async fn detail(&self, number: &str) -> CaseDetail {
        self.store.case_detail(number).await.expect("detail").expect("case exists")
    }

    async fn has_body(&self, raw_id: i64) -> bool {
        self.store.raw_message(raw_id).await.expect("raw message").is_some()
    }

    async fn body_len(&self, raw_id: i64) -> i64 {
        let (_, body) = self.store.raw_message(raw_id).await.expect("raw").expect("body");
        i64::try_from(body.len()).expect("size")
    }

    /// What the mail about the case quotes: the requester's own words in the first message.
    async fn description(&self, number: &str) -> String {
        self.store.case_brief(self.case_id(number).await).await.expect("brief").description
    }

    async fn outbox_of(&self, number: &str) -> Vec<OutboxItem> {
        let all = self.store.list_outbox(None).await.expect("outbox");
        all.into_iter()
            .map(|row| row.expect("a readable row"))
            .filter(|o| o.case_number == number)
            .collect()
    }
}

fn json(value: &(impl serde::Serialize + ?Sized)) -> Value {
    serde_json::to_value(value).expect("JSON")
}

#[tokio::test]
async fn only_the_bodies_of_closed_cases_go_and_their_record_stays() {
    let f = fixture(|_| {}).await;
    let (closed, request_raw) = f.open(REQUEST).await;
    let (open, open_raw) = f.open(OTHER_REQUEST).await;
    // The same request relayed with one more header: a duplicate copy, kept with its own bytes.
    let mut relayed =
        b"Received: from relay.example by mx2.example; Thu, 26 Nov 2026 10:00:00 -0500\r\n"
            .to_vec();
    relayed.extend_from_slice(&sample(REQUEST));
    assert!(matches!(f.ingest(&relayed).await, Outcome::Duplicate { of, .. } if of == request_raw));
    let copy_raw = open_raw + 1;
    assert!(f.has_body(copy_raw).await, "the relayed copy is stored");
    // The agent's diagnosis by e-mail: its raw message is on the case's actions.
    let notice = f
        .outbox_of(&closed)
        .await
        .into_iter()
        .find(|o| o.kind.as_str() == "notificacion_agente" && o.to_addr == N2)
        .expect("agent notice")
        .message_id;
    let reply = format!(
        "From: {N2}\r\nTo: sd_facturaelectronica@dian.gov.co\r\nSubject: RE: [{closed}] Consulta\r\n\
         Message-ID: <diagnostico.purge@test.example>\r\nIn-Reply-To: {notice}\r\nReferences: {notice}\r\n\
         Date: Thu, 26 Nov 2026 11:00:00 -0500\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n#nota\r\nLa firma del XML no corresponde.\r\n"
    );
    let agent_raw = match f.ingest(&vouched(N2, reply.as_bytes())).await {
        Outcome::Appended { raw_id, .. } => raw_id,
        other => panic!("the diagnosis should join the case, got {other:?}"),
    };
    // The acknowledgement went out; the agent's notice is still waiting.
    let sent = f.outbox_of(&closed).await.into_iter().find(|o| o.kind.as_str() == "acuse_recibo");
    let sent = sent.expect("acknowledgement queued");
    assert_ne!(sent.context, "{}");
    f.store.mark_sent(sent.id, "250 2.0.0 Ok").await.expect("mark sent");

    assert!(
        f.store.purge_candidates(&future_cutoff()).await.expect("candidates").is_empty(),
        "open cases are never candidates"
    );
    f.act(&closed, Command::Cerrar).await;
    let before = f.detail(&closed).await;
    let open_before = json(&f.detail(&open).await);
    let outbox_before = f.outbox_of(&closed).await;
    let closing = before.events.iter().rev().find(|e| e.to_status == "cerrado").expect("closing");

    // Listing (what --simular prints) reads only.
    let mut total = 0;
    for raw_id in [request_raw, agent_raw, copy_raw] {
        total += f.body_len(raw_id).await;
    }
    let candidates = f.store.purge_candidates(&future_cutoff()).await.expect("candidates");
    assert_eq!(candidates.len(), 1, "{candidates:?}");
    let candidate = &candidates[0];
    assert_eq!(candidate.number, closed);
    assert_eq!(candidate.closed_at, closing.created_at, "reference time: the closing event");
    assert_eq!((candidate.raw_messages, candidate.bytes), (3, total));
    assert!(
        f.has_body(request_raw).await && f.has_body(agent_raw).await && f.has_body(copy_raw).await
    );
    assert_eq!(json(&f.detail(&closed).await), json(&before), "listing changed nothing");

    // A limit before the closing: not old enough, nothing happens.
    let past = timestamp(chrono::Utc::now() - chrono::Duration::hours(1));
    assert!(f.store.purge_candidates(&past).await.expect("candidates").is_empty());
    assert_eq!(f.store.purge_case(candidate.case_id, &past).await.expect("purge"), None);
    assert!(f.has_body(request_raw).await);

    let purged = f.store.purge_case(candidate.case_id, &future_cutoff()).await.expect("purge");
    let purged = purged.expect("the closed case is purged");
    assert_eq!((purged.number.as_str(), purged.raw_messages, purged.bytes), (&*closed, 3, total));
    assert_eq!((purged.messages_cleared, purged.outbox_cleared), (2, 1));

    // Bodies and own words of the closed case are gone, with the relayed copy.
    for raw_id in [request_raw, agent_raw, copy_raw] {
        assert!(!f.has_body(raw_id).await, "raw body {raw_id} should be gone");
    }
    assert_eq!(f.description(&closed).await, "");
    // The open case keeps everything.
    assert!(f.has_body(open_raw).await);
    assert!(!f.description(&open).await.is_empty());
    assert_eq!(json(&f.detail(&open).await), open_before);

    // The record stays: messages, documents, rejections, actions, outbox headers, and every
    // previous event, plus the purge's own.
    let after = f.detail(&closed).await;
    assert_eq!(after.summary.status, "cerrado");
    assert_eq!(json(&after.messages), json(&before.messages));
    assert!(!after.documents.is_empty(), "the fixture's documents are kept");
    assert_eq!(json(&after.documents), json(&before.documents));
    assert_eq!(json(&after.rejections), json(&before.rejections));
    assert_eq!(json(&after.actions), json(&before.actions));
    assert_eq!(json(&after.outbox), json(&before.outbox));
    assert_eq!(after.events.len(), before.events.len() + 1);
    assert_eq!(json(&after.events[..before.events.len()]), json(&before.events));
    let event = after.events.last().expect("purge event");
    assert_eq!(event.activity, 12);
    assert_eq!(event.from_status.as_deref(), Some("cerrado"));
    assert_eq!((event.to_status.as_str(), event.actor.as_str()), ("cerrado", "mesa-fe"));
    assert_eq!(event.to_level, before.summary.level);
    assert_eq!(
        event.detail,
        format!(
            "Cuerpos y adjuntos eliminados por retención (3 mensajes, {total} bytes); se conservan \
             el registro del caso y su historial."
        )
    );

    // The sent mail lost its context (it quoted the requester); the waiting one keeps it.
    for (old, new) in outbox_before.iter().zip(f.outbox_of(&closed).await) {
        assert_eq!(
            (&old.subject, &old.to_addr, &old.message_id),
            (&new.subject, &new.to_addr, &new.message_id)
        );
        if old.id == sent.id {
            assert_eq!(new.context, "{}");
        } else {
            assert_eq!(new.context, old.context, "{} still waits to be sent", old.kind.as_str());
        }
    }

    // A second run does nothing.
    assert!(f.store.purge_candidates(&future_cutoff()).await.expect("candidates").is_empty());
    assert_eq!(f.store.purge_case(candidate.case_id, &future_cutoff()).await.expect("purge"), None);
    assert_eq!(json(&f.detail(&closed).await), json(&after));

    // Mail that was waiting at the purge and went out later: its context goes at the next run.
    let waiting = outbox_before.iter().find(|o| o.id != sent.id).expect("a mail still waiting");
    f.store.mark_sent(waiting.id, "250 2.0.0 Ok").await.expect("mark sent");
    let candidates = f.store.purge_candidates(&future_cutoff()).await.expect("candidates");
    assert_eq!(candidates.iter().map(|c| (c.raw_messages, c.bytes)).collect::<Vec<_>>(), [(0, 0)]);
    let again = f.store.purge_case(candidates[0].case_id, &future_cutoff()).await.expect("purge");
    assert_eq!(again.map(|p| (p.raw_messages, p.outbox_cleared)), Some((0, 1)));
    assert!(f.outbox_of(&closed).await.iter().all(|o| o.context == "{}"));
    assert!(f.store.purge_candidates(&future_cutoff()).await.expect("candidates").is_empty());

    // The metadata stays, so the same mail arriving again is still recognised.
    assert_eq!(
        f.ingest(&sample(REQUEST)).await,
        Outcome::Duplicate { of: request_raw, case: Some(closed.clone()) }
    );
    assert!(f.desk.process_pending(&f.store).await.expect("pending").is_empty());
}

#[tokio::test]
async fn a_reopened_case_waits_for_its_new_closing_and_is_purged_again() {
    let f = fixture(|_| {}).await;
    let (number, raw_id) = f.open(REQUEST).await;
    let id = f.case_id(&number).await;
    f.act(&number, Command::Cerrar).await;
    f.act(&number, Command::Reabrir).await;
    assert!(f.store.purge_candidates(&future_cutoff()).await.expect("candidates").is_empty());
    assert_eq!(f.store.purge_case(id, &future_cutoff()).await.expect("purge"), None);
    assert!(f.has_body(raw_id).await, "a reopened case keeps its bodies");

    f.act(&number, Command::Cerrar).await;
    let purged = f.store.purge_case(id, &future_cutoff()).await.expect("purge");
    assert_eq!(purged.map(|p| p.raw_messages), Some(1));
    assert!(!f.has_body(raw_id).await);

    // Long after, an agent reopens the purged case and the requester answers its old thread: the
    // case takes a new body. (A reply on a closed case alone opens a related case instead.)
    f.act(&number, Command::Reabrir).await;
    let acknowledgement =
        f.outbox_of(&number).await.into_iter().find(|o| o.kind.as_str() == "acuse_recibo");
    let thread = acknowledgement.expect("acknowledgement").message_id;
    let reply = format!(
        "From: jpardo@andinas-contables.example\r\nTo: sd_facturaelectronica@dian.gov.co\r\n\
         Subject: RE: [{number}] Consulta documento LCE4821\r\nMessage-ID: <otra-vez.purge@test.example>\r\n\
         In-Reply-To: {thread}\r\nReferences: {thread}\r\nDate: Thu, 26 Nov 2026 12:00:00 -0500\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         La factura LCE4821 volvió a ser rechazada esta mañana, con el mismo error.\r\n"
    );
    let reply_raw = match f.ingest(reply.as_bytes()).await {
        Outcome::Appended { raw_id, case } if case == number => raw_id,
        other => panic!("the reply should join {number}, got {other:?}"),
    };
    assert_ne!(f.detail(&number).await.summary.status, "cerrado", "the case is open again");
    assert!(f.store.purge_candidates(&future_cutoff()).await.expect("candidates").is_empty());

    // Closed again: the new body is purged in turn, once its closing is old enough.
    f.act(&number, Command::Cerrar).await;
    let closing =
        f.detail(&number).await.events.into_iter().rev().find(|e| e.to_status == "cerrado");
    let candidates = f.store.purge_candidates(&future_cutoff()).await.expect("candidates");
    assert_eq!(candidates.len(), 1);
    assert_eq!(Some(&candidates[0].closed_at), closing.map(|e| e.created_at).as_ref());
    assert_eq!(candidates[0].raw_messages, 1);
    let past = timestamp(chrono::Utc::now() - chrono::Duration::hours(1));
    assert!(f.store.purge_candidates(&past).await.expect("candidates").is_empty());
    assert!(f.store.purge_case(id, &future_cutoff()).await.expect("purge").is_some());
    assert!(!f.has_body(reply_raw).await);
    assert_eq!(f.description(&number).await, "");
    assert!(f.store.purge_candidates(&future_cutoff()).await.expect("candidates").is_empty());
}

// --- The binary, as an operator runs it. ---

fn run(state: &Host, args: &[&str]) -> Output {
    state.mesa_fe().args(args).output().expect("run mesa-fe")
}

fn ok(output: Output) -> Output {
    assert!(output.status.success(), "{}", text(&output));
    output
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(output)))
}

async fn state_store(state: &Host) -> Store {
    Store::open(&state.db.url()).await.expect("store")
}

#[tokio::test]
async fn the_command_lists_purges_once_and_refuses_a_bad_duration() {
    let state = &Host::new();
    let request = fixture_path(REQUEST);
    let other = fixture_path(OTHER_REQUEST);
    let ingest = ok(state.mesa_fe().arg("ingest").arg(&request).arg(&other).output().expect("run"));
    let log = text(&ingest);
    let numbers: Vec<&str> = log.split_whitespace().filter(|w| w.starts_with("FE-")).collect();
    let [closed, open] = numbers[..] else { panic!("two cases expected: {log}") };
    ok(run(state, &["case", "close", closed, "--agente", N2]));
    let show = |number: &str| stdout_json(&ok(run(state, &["case", "show", number, "--json"])));
    let before = show(closed);

    // A bad duration (split by the shell or not): a clear Spanish error, sysexits EX_DATAERR,
    // before anything is read or written.
    for bad in [&["3", "semanas"][..], &["3 semanas"], &["1w"], &["365"]] {
        let mut args = vec!["purge", "--anteriores-a"];
        args.extend_from_slice(bad);
        let output = run(state, &args);
        assert_eq!(output.status.code(), Some(65), "{args:?}: {}", text(&output));
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(
            message.contains("duración inválida") && message.contains("365d"),
            "{args:?}: {message}"
        );
        assert!(output.stdout.is_empty());
    }

    // The configured retention (365 days) finds nothing yet.
    let default = ok(run(state, &["purge", "--simular"]));
    assert!(text(&default).contains("retención 365d"), "{}", text(&default));
    assert!(text(&default).contains("No hay casos"), "{}", text(&default));

    // Dry run: the closed case, its closing time, one message and its bytes; nothing changes.
    let size = i64::try_from(std::fs::metadata(&request).expect("fixture").len()).expect("size");
    let dry =
        stdout_json(&ok(run(state, &["purge", "--anteriores-a", "0s", "--simular", "--json"])));
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["retention"], "0s");
    let cases = dry["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 1, "{dry}");
    assert_eq!(cases[0]["number"], closed);
    assert_eq!(
        (cases[0]["raw_messages"].as_i64(), cases[0]["bytes"].as_i64()),
        (Some(1), Some(size))
    );
    let closing = before["events"]
        .as_array()
        .expect("events")
        .iter()
        .rev()
        .find(|e| e["to_status"] == "cerrado");
    assert_eq!(Some(&cases[0]["closed_at"]), closing.map(|e| &e["created_at"]));
    let table = ok(run(state, &["purge", "--anteriores-a", "0s", "--simular"]));
    assert!(
        text(&table).contains("Simulación") && text(&table).contains(closed),
        "{}",
        text(&table)
    );
    // The table shows the closing time as the desk's local time, not the stored UTC.
    let closed_at = cases[0]["closed_at"].as_str().expect("closed_at");
    let local = mesa_fe::desk::zone::Zone::bogota().show_stored(closed_at);
    assert!(text(&table).contains(&format!(" {local} ")), "{local}: {}", text(&table));
    assert!(!text(&table).contains(closed_at), "{}", text(&table));
    assert!(text(&table).contains("(hora de Colombia)"), "{}", text(&table));
    assert_eq!(show(closed), before, "a dry run changes nothing");
    let store = state_store(state).await;
    assert!(store.raw_message(1).await.expect("raw").is_some());
    store.close().await;

    // The real run.
    let real = ok(run(state, &["purge", "--anteriores-a", "0s"]));
    let printed = text(&real);
    assert!(
        printed.contains("Cuerpos y adjuntos eliminados") && printed.contains(closed),
        "{printed}"
    );
    assert!(printed.contains("Espacio:"), "{printed}");
    assert!(!printed.contains(open), "{printed}");
    let store = state_store(state).await;
    let (closed_raw, open_raw) = (1, 2);
    assert!(store.raw_message(closed_raw).await.expect("raw").is_none(), "closed case's body gone");
    assert!(store.raw_message(open_raw).await.expect("raw").is_some(), "open case keeps its body");
    store.close().await;

    // `case show` still works, with the whole history and the purge event.
    let after = show(closed);
    let (old, new) =
        (before["events"].as_array().expect("events"), after["events"].as_array().expect("events"));
    assert_eq!(new.len(), old.len() + 1);
    assert_eq!(&new[..old.len()], &old[..]);
    assert!(
        new[old.len()]["detail"].as_str().expect("detail").contains("eliminados por retención")
    );
    assert_eq!(after["messages"], before["messages"]);
    assert_eq!(after["documents"], before["documents"]);
    let shown = text(&ok(run(state, &["case", "show", closed])));
    assert!(shown.contains("Cuerpos y adjuntos eliminados por retención (1 mensajes"), "{shown}");

    // A second run finds nothing.
    let again = stdout_json(&ok(run(state, &["purge", "--anteriores-a", "0s", "--json"])));
    assert_eq!(again["cases"], serde_json::json!([]), "{again}");
    assert_eq!(show(closed), after);
}
