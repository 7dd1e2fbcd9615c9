//! The command line as an operator uses it: exit codes, Spanish messages, environment overrides.

mod common;

use common::local::{fixture_path, mesa_fe, text};

#[test]
fn environment_overrides_reach_the_configuration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = mesa_fe(dir.path()).arg("check-config").output().expect("run");
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains(&dir.path().join("mesa-fe.db").display().to_string()),
        "{}",
        text(&output)
    );
}

#[test]
fn a_bad_value_in_the_environment_is_a_configuration_error_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = mesa_fe(dir.path())
        .env("MESA_FE__LIMITES__ZIP_MAX_ENTRADAS", "muchas")
        .arg("check-config")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(78), "sysexits EX_CONFIG");
    assert!(text(&output).contains("limites.zip_max_entradas"), "{}", text(&output));
}

#[test]
fn a_config_file_with_a_typo_is_refused_in_spanish() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("mesa-fe.toml");
    std::fs::write(&file, "[general]\nprefijo_casos = \"FE\"\n").expect("write");
    let output =
        mesa_fe(dir.path()).arg("check-config").arg("--config").arg(&file).output().expect("run");
    assert_eq!(output.status.code(), Some(78));
    let message = text(&output);
    assert!(
        message.contains("prefijo_casos") && message.contains("clave desconocida"),
        "{message}"
    );
}

#[test]
fn ingest_then_list_and_show_the_cases() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = mesa_fe(dir.path())
        .arg("ingest")
        .arg(fixture_path("mail/02_contribuyente_texto_sin_requisitos.eml"))
        .arg(fixture_path("mail/02_contribuyente_texto_sin_requisitos.eml"))
        .arg(fixture_path("pipeline/20_basura_binaria.eml"))
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", text(&output));
    let log = text(&output);
    assert!(log.contains("abierto (request_information)"), "{log}");
    assert!(log.contains("ya estaba registrado"), "{log}");
    assert!(log.contains("en cuarentena"), "{log}");

    let list = mesa_fe(dir.path())
        .args(["case", "list", "--estado", "pendiente_informacion", "--json"])
        .output()
        .expect("run");
    let cases: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON");
    let cases = cases.as_array().expect("array");
    assert_eq!(cases.len(), 1, "the same file twice is one case");
    let number = cases[0]["number"].as_str().expect("number");

    let show = mesa_fe(dir.path()).args(["case", "show", number]).output().expect("run");
    let shown = text(&show);
    assert!(
        shown.contains("solicitud_informacion → rosa.cardenas.contable@correo.example"),
        "{shown}"
    );
    assert!(shown.contains("Faltantes:    documento, nit, xml"), "{shown}");

    let quarantine = mesa_fe(dir.path()).args(["quarantine", "list"]).output().expect("run");
    assert!(text(&quarantine).contains("datos binarios"), "{}", text(&quarantine));
}

#[test]
fn ignored_machine_mail_is_listed_on_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bounce = fixture_path("mail/05_rebote_dsn.eml");
    let output = mesa_fe(dir.path()).arg("ingest").arg(&bounce).output().expect("run");
    assert!(text(&output).contains("mensaje automático sin caso"), "{}", text(&output));
    let plain = mesa_fe(dir.path()).args(["quarantine", "list"]).output().expect("run");
    assert!(text(&plain).contains("No hay mensajes"), "{}", text(&plain));
    let all =
        mesa_fe(dir.path()).args(["quarantine", "list", "--ignorados"]).output().expect("run");
    assert!(text(&all).contains("ignorado"), "{}", text(&all));
    let show = mesa_fe(dir.path()).args(["quarantine", "show", "1"]).output().expect("run");
    assert!(text(&show).contains("Undelivered Mail Returned to Sender"), "{}", text(&show));
}

#[test]
fn unknown_case_and_missing_file_have_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let show = mesa_fe(dir.path()).args(["case", "show", "FE-2026-999999"]).output().expect("run");
    assert_eq!(show.status.code(), Some(65));
    assert!(text(&show).contains("no existe el caso FE-2026-999999"));
    let inspect = mesa_fe(dir.path()).args(["inspect", "/no/existe.eml"]).output().expect("run");
    assert_eq!(inspect.status.code(), Some(66));
    assert!(text(&inspect).contains("no se pudo leer /no/existe.eml"));
}

#[test]
fn kb_list_shows_the_known_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = mesa_fe(dir.path()).args(["kb", "list"]).output().expect("run");
    assert!(output.status.success());
    let listing = text(&output);
    assert!(listing.contains("FAD06") && listing.contains("primer contacto"), "{listing}");
    let entries = listing.lines().filter(|l| l.contains('[')).count();
    assert!(entries >= 30, "only {entries} known errors");
}

#[test]
fn the_outbox_can_be_listed_shown_and_retried() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ingest = mesa_fe(dir.path())
        .arg("ingest")
        .arg(fixture_path("mail/01_proveedor_zip_attacheddocument.eml"))
        .output()
        .expect("run");
    assert!(ingest.status.success(), "{}", text(&ingest));
    let list = mesa_fe(dir.path())
        .args(["outbox", "list", "--estado", "pendiente", "--json"])
        .output()
        .expect("run");
    let items: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON");
    let items = items.as_array().expect("array");
    assert_eq!(items.len(), 2, "acknowledgement and agent notification");
    assert_eq!(items[0]["kind"], "acuse_recibo");
    assert_eq!(items[0]["to_addr"], "jpardo@andinas-contables.example");
    let show = mesa_fe(dir.path()).args(["outbox", "show", "1"]).output().expect("run");
    let shown = text(&show);
    assert!(shown.contains("In-Reply-To: <") && shown.contains("Message-ID:  <FE-"), "{shown}");
    let retry = mesa_fe(dir.path()).args(["outbox", "retry", "1"]).output().expect("run");
    assert!(retry.status.success(), "{}", text(&retry));
    let bad =
        mesa_fe(dir.path()).args(["outbox", "list", "--estado", "perdido"]).output().expect("run");
    assert_eq!(bad.status.code(), Some(65));
}

/// `mesa-fe kb list | head -1`: the reader leaves before the command writes. The pipe is closed
/// before the binary's first line, so the write fails every run, not only when the output
/// outgrows the pipe's buffer.
fn run_with_a_closed_pipe(args: &[&str]) -> std::process::Output {
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = mesa_fe(dir.path())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait")
}

#[test]
fn a_listing_piped_into_head_ends_quietly() {
    for args in [&["kb", "list"][..], &["case", "list"], &["kb", "export"]] {
        let output = run_with_a_closed_pipe(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} says nothing when the reader leaves: {stderr}");
        assert_eq!(output.status.code(), Some(141), "{args:?}: SIGPIPE's conventional status");
    }
}

/// stdout of a successful run, parsed as JSON.
fn json_of(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", text(output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(output)))
}

#[test]
fn every_list_and_show_takes_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ingest = mesa_fe(dir.path())
        .arg("ingest")
        .arg(fixture_path("mail/01_proveedor_zip_attacheddocument.eml"))
        .arg(fixture_path("pipeline/20_basura_binaria.eml"))
        .output()
        .expect("run");
    assert!(ingest.status.success(), "{}", text(&ingest));
    let run = |args: &[&str]| json_of(&mesa_fe(dir.path()).args(args).output().expect("run"));

    let known = run(&["kb", "list", "--json"]);
    let fad06 = known.as_array().expect("array").iter().find(|e| e["codigo"] == "FAD06");
    assert!(fad06.is_some_and(|e| e["mensaje_oficial"].is_string()), "{known}");

    let held = run(&["quarantine", "list", "--json"]);
    assert_eq!(held[0]["id"], 2, "{held}");
    assert!(held[0]["reason"].as_str().is_some_and(|r| r.contains("datos binarios")), "{held}");
    let entry = run(&["quarantine", "show", "2", "--json"]);
    assert_eq!(entry["status"], "cuarentena", "{entry}");
    assert!(entry["head"].is_string() && entry["truncated"].is_boolean(), "{entry}");

    let mail = run(&["outbox", "show", "1", "--json"]);
    assert_eq!(mail["kind"], "acuse_recibo", "{mail}");
    assert_eq!(mail["to_addr"], "jpardo@andinas-contables.example", "{mail}");
}

#[test]
fn kb_export_writes_json_and_names_its_formats_when_refusing_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let guide = json_of(
        &mesa_fe(dir.path()).args(["kb", "export", "--formato", "json"]).output().expect("run"),
    );
    let first = &guide.as_array().expect("array")[0];
    assert_eq!(first["origen"], "base_errores_conocidos", "{first}");
    assert!(first["codigos"].is_array() && first["respuesta_primer_contacto"].is_string());
    let bad = mesa_fe(dir.path()).args(["kb", "export", "--formato", "xml"]).output().expect("run");
    assert_eq!(bad.status.code(), Some(65));
    assert!(text(&bad).contains("use uno de md, csv, json"), "{}", text(&bad));
}

#[test]
fn a_case_is_named_by_its_bare_number_for_this_year() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ingest = mesa_fe(dir.path())
        .arg("ingest")
        .arg(fixture_path("mail/01_proveedor_zip_attacheddocument.eml"))
        .output()
        .expect("run");
    assert!(ingest.status.success(), "{}", text(&ingest));
    let cases =
        json_of(&mesa_fe(dir.path()).args(["case", "list", "--json"]).output().expect("run"));
    let number = cases[0]["number"].as_str().expect("number").to_string();
    assert!(number.ends_with("-000001"), "{number}");

    let shown =
        json_of(&mesa_fe(dir.path()).args(["case", "show", "1", "--json"]).output().expect("run"));
    assert!(shown.to_string().contains(&number), "{shown}");
    let note = mesa_fe(dir.path())
        .args(["case", "note", "1", "--agente", "ana.rojas@dian.gov.co", "--texto", "Revisado"])
        .output()
        .expect("run");
    assert!(text(&note).starts_with(&format!("{number}:")), "{}", text(&note));
    let missing = mesa_fe(dir.path()).args(["case", "show", "7"]).output().expect("run");
    assert_eq!(missing.status.code(), Some(65));
    let year_prefix = &number[..number.len() - "000001".len()];
    assert!(
        text(&missing).contains(&format!("no existe el caso {year_prefix}000007")),
        "{}",
        text(&missing)
    );
}

#[test]
fn the_help_is_in_spanish_for_every_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    for args in
        [&["--help"][..], &["case", "--help"], &["case", "show", "-h"], &["kb", "export", "--help"]]
    {
        let output = mesa_fe(dir.path()).args(args).output().expect("run");
        assert!(output.status.success(), "{args:?}: {}", text(&output));
        let help = text(&output);
        for english in [
            "Usage:",
            "Options:",
            "Commands:",
            "Arguments:",
            "Print help",
            "Print version",
            "[OPTIONS]",
            "[default:",
        ] {
            assert!(!help.contains(english), "{args:?} says {english:?}:\n{help}");
        }
        assert!(help.contains("Uso: mesa-fe") && help.contains("Opciones:"), "{args:?}:\n{help}");
        assert!(help.contains("-h, --help") && help.contains("Muestra esta ayuda"), "{help}");
    }
    let typo = mesa_fe(dir.path()).arg("caso").output().expect("run");
    assert_eq!(typo.status.code(), Some(2));
    let message = text(&typo);
    assert!(
        message.contains("comando desconocido 'caso'") && message.contains("Uso:"),
        "{message}"
    );
}
