//! The operator's commands for what waits on someone, run as the binary on the run's backend:
//! `case list --esperando` (cases waiting for the requester) and the quarantine's second look
//! (`quarantine reprocess`, `quarantine discard`), with their records, messages and exit codes.

mod common;

use common::local::{Host, fixture_path, text};
use serde_json::Value;

const REQUEST: &str = "mail/02_contribuyente_texto_sin_requisitos.eml";
const BINARY: &str = "pipeline/20_basura_binaria.eml";

fn json_of(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn case_list_esperando_shows_since_when_days_reminder_and_closure() {
    let host = Host::new();
    let empty = host.mesa_fe().args(["case", "list", "--esperando"]).output().expect("run");
    assert!(text(&empty).contains("No hay casos en espera"), "{}", text(&empty));
    let ingest = host.mesa_fe().arg("ingest").arg(fixture_path(REQUEST)).output().expect("run");
    assert!(ingest.status.success(), "{}", text(&ingest));
    let complete = fixture_path("mail/01_proveedor_zip_attacheddocument.eml");
    let other = host.mesa_fe().arg("ingest").arg(complete).output().expect("run");
    assert!(other.status.success(), "{}", text(&other));

    let listed = json_of(
        &host.mesa_fe().args(["case", "list", "--esperando", "--json"]).output().expect("run"),
    );
    let cases = listed.as_array().expect("array");
    assert_eq!(cases.len(), 1, "only the case waiting for the requester: {listed}");
    let case = &cases[0];
    assert_eq!(case["level"], "n1");
    assert_eq!(case["business_days"], 0);
    assert_eq!(case["reminded"], false);
    let since = case["since"].as_str().expect("since");
    assert!(since.ends_with("-05:00"), "in the desk's zone: {since}");
    let closes_on = case["closes_on"].as_str().expect("closes_on");
    assert!(closes_on > &since[..10], "{closes_on} after {since}");

    let table = host.mesa_fe().args(["case", "list", "--esperando"]).output().expect("run");
    let shown = text(&table);
    assert!(shown.contains("DÍAS HÁBILES") && shown.contains("RECORDATORIO"), "{shown}");
    let number = case["number"].as_str().expect("number");
    let line = shown.lines().find(|l| l.starts_with(number)).expect("the case's line");
    assert!(line.contains(&since[..10]) && line.contains(closes_on), "{line}");
    assert!(line.contains(" no "), "reminder not sent yet: {line}");

    let mixed = host.mesa_fe().args(["case", "list", "--esperando", "--nivel", "n2"]).output();
    assert_eq!(mixed.expect("run").status.code(), Some(2), "--esperando takes no other filter");
}

#[test]
fn a_message_quarantined_by_the_analysis_limit_makes_a_case_once_the_limit_is_raised() {
    let host = Host::new();
    let slow = |limit: &str| {
        let mut command = host.mesa_fe();
        command
            .env("MESA_FE_PRUEBA_PAUSA_ANALISIS_MS", "400")
            .env("MESA_FE__LIMITES__ANALISIS_MAX_SEGUNDOS", limit);
        command
    };
    let ingest = slow("0.1").arg("ingest").arg(fixture_path(REQUEST)).output().expect("run");
    assert!(text(&ingest).contains("en cuarentena (id 1)"), "{}", text(&ingest));
    let held = json_of(&host.mesa_fe().args(["quarantine", "list", "--json"]).output().unwrap());
    assert!(held[0]["reason"].as_str().unwrap().contains("analisis_max_segundos"), "{held}");

    // Still too tight: it stays, with the new reason, and the exit code says so.
    let again = slow("0.1").args(["quarantine", "reprocess", "1", "--operador", "ops"]).output();
    let again = again.expect("run");
    assert_eq!(again.status.code(), Some(65), "{}", text(&again));
    assert!(text(&again).contains("en cuarentena"), "{}", text(&again));

    let raised = slow("30").args(["quarantine", "reprocess", "1", "--operador", "ops"]).output();
    let raised = raised.expect("run");
    assert!(raised.status.success(), "{}", text(&raised));
    assert!(text(&raised).contains("abierto"), "{}", text(&raised));
    let list = host.mesa_fe().args(["quarantine", "list"]).output().expect("run");
    assert!(text(&list).contains("No hay mensajes en cuarentena"), "{}", text(&list));
    let cases = json_of(&host.mesa_fe().args(["case", "list", "--json"]).output().expect("run"));
    assert_eq!(cases.as_array().map(Vec::len), Some(1), "{cases}");
    assert_eq!(cases[0]["status"], "pendiente_informacion");
    // Its answer is queued once, as for a new message.
    let outbox = json_of(&host.mesa_fe().args(["outbox", "list", "--json"]).output().unwrap());
    let requests: Vec<&Value> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "solicitud_informacion")
        .collect();
    assert_eq!(requests.len(), 1, "{outbox}");

    let shown =
        json_of(&host.mesa_fe().args(["quarantine", "show", "1", "--json"]).output().unwrap());
    let actions = shown["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), 2, "{shown}");
    assert_eq!(
        (actions[0]["action"].as_str(), actions[0]["actor"].as_str()),
        (Some("reprocesar"), Some("ops"))
    );
    assert!(actions[0]["result"].as_str().unwrap().starts_with("sigue en cuarentena"), "{shown}");
    assert!(actions[1]["result"].as_str().unwrap().contains("abrió el caso FE-"), "{shown}");

    let twice = host.mesa_fe().args(["quarantine", "reprocess", "1"]).output().expect("run");
    assert_eq!(twice.status.code(), Some(65));
    assert!(text(&twice).contains("no está en cuarentena (estado: procesado)"), "{}", text(&twice));
}

#[test]
fn discarding_needs_a_reason_hides_the_message_and_is_recorded() {
    let host = Host::new();
    let ingest = host.mesa_fe().arg("ingest").arg(fixture_path(BINARY)).output().expect("run");
    assert!(text(&ingest).contains("en cuarentena (id 1)"), "{}", text(&ingest));

    let no_reason = host.mesa_fe().args(["quarantine", "discard", "1"]).output().expect("run");
    assert_eq!(no_reason.status.code(), Some(64), "{}", text(&no_reason));
    assert!(text(&no_reason).contains("--motivo"), "{}", text(&no_reason));
    let blank = host.mesa_fe().args(["quarantine", "discard", "1", "--motivo", "  "]).output();
    assert_eq!(blank.expect("run").status.code(), Some(64));
    let unknown = host.mesa_fe().args(["quarantine", "discard", "9", "--motivo", "x"]).output();
    let unknown = unknown.expect("run");
    assert_eq!(unknown.status.code(), Some(65));
    assert!(text(&unknown).contains("no hay un mensaje con id 9"), "{}", text(&unknown));

    let discard = host
        .mesa_fe()
        .args(["quarantine", "discard", "1", "--motivo", "spam binario", "--operador", "ops"])
        .output()
        .expect("run");
    assert!(discard.status.success(), "{}", text(&discard));
    let list = host.mesa_fe().args(["quarantine", "list"]).output().expect("run");
    assert!(text(&list).contains("No hay mensajes en cuarentena"), "{}", text(&list));
    let discarded = host.mesa_fe().args(["quarantine", "list", "--descartados"]).output();
    let discarded = text(&discarded.expect("run"));
    assert!(discarded.contains("descartado") && discarded.contains("spam binario"), "{discarded}");

    let show = host.mesa_fe().args(["quarantine", "show", "1"]).output().expect("run");
    let shown = text(&show);
    assert!(shown.contains("Estado: descartado"), "{shown}");
    assert!(shown.contains("descartar por ops (motivo: spam binario)"), "{shown}");

    for again in [
        &["quarantine", "discard", "1", "--motivo", "otra vez"][..],
        &["quarantine", "reprocess", "1"],
    ] {
        let output = host.mesa_fe().args(again).output().expect("run");
        assert_eq!(output.status.code(), Some(65), "{again:?}");
        assert!(text(&output).contains("ya está descartado"), "{}", text(&output));
    }
}
