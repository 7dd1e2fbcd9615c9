//! Times shown to people are the desk's local time (America/Bogota), never UTC: `case show`,
//! `case list`, `quarantine list` as an operator runs them, on the run's backend.

mod common;

use common::local::{Host, fixture_path, text};

/// Ingests one request and returns its case number.
fn one_case(host: &Host) -> String {
    let output = host
        .mesa_fe()
        .arg("ingest")
        .arg(fixture_path("mail/02_contribuyente_texto_sin_requisitos.eml"))
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", text(&output));
    let list = host.mesa_fe().args(["case", "list", "--json"]).output().expect("run");
    let cases: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON");
    cases[0]["number"].as_str().expect("number").to_string()
}

/// Puts every stored time of the case at `at` (UTC), as if it had all happened then: the store
/// writes the time of the run, and the test needs one whose local date differs from UTC's.
async fn all_at(host: &Host, at: &str) {
    host.db.execute("UPDATE case_messages SET created_at = $1", &[at]).await;
    host.db.execute("UPDATE events SET created_at = $1", &[at]).await;
    host.db.execute("UPDATE cases SET created_at = $1, follow_up_until = $1", &[at]).await;
    host.db.execute("UPDATE raw_messages SET received_at = $1", &[at]).await;
    host.db.execute("UPDATE outbox SET created_at = $1, next_attempt_at = $1", &[at]).await;
}

#[tokio::test]
async fn case_show_prints_a_message_received_at_three_utc_as_ten_at_night_the_day_before() {
    let host = Host::new();
    let number = one_case(&host);
    all_at(&host, "2026-12-07T03:00:00Z").await;

    let show = host.mesa_fe().args(["case", "show", &number]).output().expect("run");
    let shown = text(&show);
    assert!(show.status.success(), "{shown}");
    assert!(shown.contains("Mensajes (hora de Colombia):"), "{shown}");
    assert!(shown.contains("  2026-12-06 22:00 entrante"), "{shown}");
    assert!(shown.contains("Creado:       2026-12-06 22:00 (hora de Colombia)"), "{shown}");
    assert!(
        shown.contains("Control posterior hasta: 2026-12-06 22:00 (hora de Colombia)"),
        "{shown}"
    );
    assert!(shown.contains("Historial (actividades del procedimiento, hora de Colombia):"));
    assert!(shown.contains("  2026-12-06 22:00 act.  1 → nuevo"), "the history too: {shown}");
    assert!(!shown.contains("2026-12-07"), "no UTC date left: {shown}");
    assert!(!shown.contains("03:00"), "no UTC hour left: {shown}");

    // The JSON is for programs: the stored instant, unchanged.
    let json = host.mesa_fe().args(["case", "show", &number, "--json"]).output().expect("run");
    let detail: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(detail["messages"][0]["created_at"], "2026-12-07T03:00:00Z");

    let list = text(&host.mesa_fe().args(["case", "list"]).output().expect("run"));
    assert!(list.contains(" 2026-12-06 22:00 "), "{list}");
    assert!(list.contains("(fechas en hora de Colombia)"), "{list}");

    let mail = text(&host.mesa_fe().args(["outbox", "show", "1"]).output().expect("run"));
    assert!(mail.contains("Creado:      2026-12-06 22:00"), "{mail}");
    assert!(mail.contains("Próximo intento: 2026-12-06 22:00"), "{mail}");
    assert!(mail.contains("(fechas en hora de Colombia)"), "{mail}");
}

#[tokio::test]
async fn an_old_fixed_offset_still_decides_the_hour_shown() {
    let host = Host::new();
    let number = one_case(&host);
    all_at(&host, "2026-12-07T03:00:00Z").await;
    let show = host
        .mesa_fe()
        .env("MESA_FE__GENERAL__ZONA_HORARIA_HORAS", "-3")
        .args(["case", "show", &number])
        .output()
        .expect("run");
    let shown = text(&show);
    assert!(show.status.success(), "{shown}");
    assert!(shown.contains("Mensajes (UTC-03:00):"), "{shown}");
    assert!(shown.contains("  2026-12-07 00:00 entrante"), "{shown}");
}

#[tokio::test]
async fn quarantine_list_shows_when_a_message_arrived_in_local_time() {
    let host = Host::new();
    let output = host
        .mesa_fe()
        .arg("ingest")
        .arg(fixture_path("pipeline/20_basura_binaria.eml"))
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", text(&output));
    all_at(&host, "2027-01-01T04:30:00Z").await;
    let list = text(&host.mesa_fe().args(["quarantine", "list"]).output().expect("run"));
    assert!(list.contains("2026-12-31 23:30"), "New Year's Eve in Bogotá: {list}");
    assert!(!list.contains("2027-01-01"), "{list}");
    let entry = text(&host.mesa_fe().args(["quarantine", "show", "1"]).output().expect("run"));
    assert!(entry.contains("recibido 2026-12-31 23:30 (hora de Colombia)"), "{entry}");
}
