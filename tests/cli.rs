//! The command line as an operator uses it: exit codes, Spanish messages, environment overrides.

mod common;

use common::local::{Host, fixture_path, mesa_fe, text};

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

/// A buzón watched over IMAP on this machine, its password read from `password` (a secret
/// source in TOML): the configuration `run` needs, without any server behind it.
fn watched_buzon(password: &str) -> String {
    format!(
        "[[buzones]]\nnombre = \"fe\"\ndireccion = \"fe@dian.gov.co\"\ncanal = \"correo\"\n\
         [buzones.imap]\nservidor = \"127.0.0.1\"\npuerto = 1993\ntls = \"ninguno\"\n\
         usuario = \"fe@dian.gov.co\"\nautenticacion = \"contrasena\"\ncontrasena = {password}\n"
    )
}

/// `check-config` on `toml`, with the state directory the file says (not the test harness's).
fn check_config_file(toml: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("mesa-fe.toml");
    std::fs::write(&file, toml).expect("write");
    mesa_fe(dir.path())
        .env_remove("MESA_FE__GENERAL__DIRECTORIO_ESTADO")
        .env("MESA_FE_TEST_SECRET", "s3creto")
        .env_remove("MESA_FE_TEST_UNSET")
        .env_remove("CREDENTIALS_DIRECTORY")
        .arg("check-config")
        .arg("--config")
        .arg(&file)
        .output()
        .expect("run")
}

fn assert_refused(output: &std::process::Output, expected: &[&str]) {
    let message = text(output);
    assert_eq!(output.status.code(), Some(78), "{message}");
    for part in expected {
        assert!(message.contains(part), "missing {part:?} in: {message}");
    }
}

#[test]
fn check_config_refuses_a_secret_variable_that_is_not_set_as_run_does() {
    let output = check_config_file(&watched_buzon("{ variable = \"MESA_FE_TEST_UNSET\" }"));
    assert_refused(
        &output,
        &["buzones[0].imap.contrasena", "MESA_FE_TEST_UNSET", "no está definida"],
    );
}

#[test]
fn check_config_refuses_a_secret_file_that_does_not_exist_as_run_does() {
    let output = check_config_file(&watched_buzon("{ archivo = \"/no/existe/secreto\" }"));
    assert_refused(&output, &["buzones[0].imap.contrasena", "/no/existe/secreto", "no existe"]);
}

#[test]
fn check_config_refuses_a_number_where_a_path_goes_naming_key_and_type() {
    let output = check_config_file("[general]\ndirectorio_estado = 5\n");
    assert_refused(&output, &["general.directorio_estado", "tipo inválido", "una ruta"]);
}

#[test]
fn check_config_names_an_unknown_value_its_key_and_the_valid_ones() {
    let output = check_config_file(
        "[[agentes]]\ncorreo = \"x@dian.gov.co\"\nnombre = \"X\"\nnivel = \"n7\"\n\
         grupos = []\nactivo = true\n",
    );
    assert_refused(&output, &["agentes[0].nivel", "\"n7\"", "n1, n2, n3, administracion_tecnica"]);
    assert!(!text(&output).contains("variant constructor"), "{}", text(&output));
}

#[test]
fn check_config_refuses_an_api_token_run_could_not_read() {
    let toml = format!(
        "[http]\ndireccion = \"127.0.0.1:0\"\ntoken_api = {{ variable = \"MESA_FE_TEST_UNSET\" }}\n{}",
        watched_buzon("{ variable = \"MESA_FE_TEST_SECRET\" }")
    );
    let output = check_config_file(&toml);
    assert_refused(&output, &["http.token_api", "MESA_FE_TEST_UNSET", "no está definida"]);
}

#[test]
fn check_config_from_a_shell_says_it_could_not_verify_a_systemd_credential() {
    let output = check_config_file(&watched_buzon("{ credencial = \"imap-fe\" }"));
    let message = text(&output);
    assert!(output.status.success(), "{message}");
    assert!(
        message.contains("Aviso: el buzón fe (buzones[0].imap) usa una credencial de systemd"),
        "{message}"
    );
}

#[test]
fn check_config_under_systemd_refuses_a_missing_credential() {
    let credentials = tempfile::tempdir().expect("temp dir");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("mesa-fe.toml");
    std::fs::write(&file, watched_buzon("{ credencial = \"imap-fe\" }")).expect("write");
    let output = mesa_fe(dir.path())
        .env("CREDENTIALS_DIRECTORY", credentials.path())
        .args(["check-config", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    assert_refused(&output, &["buzones[0].imap.contrasena", "imap-fe", "LoadCredential="]);
}

#[test]
fn check_config_passes_a_config_run_would_start_with() {
    let state = tempfile::tempdir().expect("temp dir");
    let toml = format!(
        "[general]\ndirectorio_estado = \"{}\"\n{}",
        state.path().display(),
        watched_buzon("{ variable = \"MESA_FE_TEST_SECRET\" }")
    );
    let output = check_config_file(&toml);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("Configuración válida: 1 buzones"), "{}", text(&output));
    assert!(!text(&output).contains("Aviso"), "{}", text(&output));
    assert!(!state.path().join("mesa-fe.db").exists(), "check-config must not create the database");
}

#[test]
fn case_list_without_a_state_directory_says_it_does_not_exist_and_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("mesa-fe");
    let output = mesa_fe(&state).args(["case", "list"]).output().expect("run");
    let message = text(&output);
    assert_eq!(output.status.code(), Some(66), "sysexits EX_NOINPUT: {message}");
    assert!(message.contains(&format!("{} no existe", state.display())), "{message}");
    assert!(message.contains("systemd-tmpfiles --create mesa-fe.conf"), "{message}");
    assert!(!state.exists(), "a read-only command must not create the state directory");
}

#[test]
fn ingest_then_list_and_show_the_cases() {
    let host = Host::new();
    let output = host
        .mesa_fe()
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

    let list = host
        .mesa_fe()
        .args(["case", "list", "--estado", "pendiente_informacion", "--json"])
        .output()
        .expect("run");
    let cases: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON");
    let cases = cases.as_array().expect("array");
    assert_eq!(cases.len(), 1, "the same file twice is one case");
    let number = cases[0]["number"].as_str().expect("number");

    let show = host.mesa_fe().args(["case", "show", number]).output().expect("run");
    let shown = text(&show);
    assert!(
        shown.contains("solicitud_informacion → rosa.cardenas.contable@correo.example"),
        "{shown}"
    );
    assert!(shown.contains("Faltantes:    documento, nit, xml"), "{shown}");

    let quarantine = host.mesa_fe().args(["quarantine", "list"]).output().expect("run");
    assert!(text(&quarantine).contains("datos binarios"), "{}", text(&quarantine));
}

#[test]
fn ignored_machine_mail_is_listed_on_request() {
    let host = Host::new();
    let bounce = fixture_path("mail/05_rebote_dsn.eml");
    let output = host.mesa_fe().arg("ingest").arg(&bounce).output().expect("run");
    assert!(text(&output).contains("mensaje automático sin caso"), "{}", text(&output));
    let plain = host.mesa_fe().args(["quarantine", "list"]).output().expect("run");
    assert!(text(&plain).contains("No hay mensajes"), "{}", text(&plain));
    let all = host.mesa_fe().args(["quarantine", "list", "--ignorados"]).output().expect("run");
    assert!(text(&all).contains("ignorado"), "{}", text(&all));
    let show = host.mesa_fe().args(["quarantine", "show", "1"]).output().expect("run");
    assert!(text(&show).contains("Undelivered Mail Returned to Sender"), "{}", text(&show));
}

#[test]
fn unknown_case_and_missing_file_have_clear_errors() {
    let host = Host::new();
    let show = host.mesa_fe().args(["case", "show", "FE-2026-999999"]).output().expect("run");
    assert_eq!(show.status.code(), Some(65));
    assert!(text(&show).contains("no existe el caso FE-2026-999999"));
    let inspect = host.mesa_fe().args(["inspect", "/no/existe.eml"]).output().expect("run");
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

/// A fresh host into whose database `mesa-fe ingest` took these samples.
fn ingested(samples: &[&str]) -> Host {
    let host = Host::new();
    let ingest = host
        .mesa_fe()
        .arg("ingest")
        .args(samples.iter().map(|s| fixture_path(s)))
        .output()
        .expect("run");
    assert!(ingest.status.success(), "{}", text(&ingest));
    host
}

#[test]
fn the_outbox_can_be_listed_shown_and_retried() {
    let host = ingested(&["mail/01_proveedor_zip_attacheddocument.eml"]);
    let list = host
        .mesa_fe()
        .args(["outbox", "list", "--estado", "pendiente", "--json"])
        .output()
        .expect("run");
    let items: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON");
    let items = items.as_array().expect("array");
    assert_eq!(items.len(), 2, "acknowledgement and agent notification");
    assert_eq!(items[0]["kind"], "acuse_recibo");
    assert_eq!(items[0]["to_addr"], "jpardo@andinas-contables.example");
    let show = host.mesa_fe().args(["outbox", "show", "1"]).output().expect("run");
    let shown = text(&show);
    assert!(shown.contains("In-Reply-To: <") && shown.contains("Message-ID:  <FE-"), "{shown}");
    let retry = host.mesa_fe().args(["outbox", "retry", "1"]).output().expect("run");
    assert!(retry.status.success(), "{}", text(&retry));
    let bad = host.mesa_fe().args(["outbox", "list", "--estado", "perdido"]).output().expect("run");
    assert_eq!(bad.status.code(), Some(65));
}

/// `mesa-fe kb list | head -1`: the reader leaves before the command writes. The pipe is closed
/// before the binary's first line, so the write fails every run, not only when the output
/// outgrows the pipe's buffer.
fn run_with_a_closed_pipe(args: &[&str]) -> std::process::Output {
    use std::process::Stdio;
    let host = Host::new();
    let mut child = host
        .mesa_fe()
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
        // Only the log may speak (sqlx warns of slow statements on a busy disk): no complaint
        // about the closed output.
        let complaints: Vec<&str> =
            stderr.lines().filter(|l| !l.contains(" WARN ") && !l.trim().is_empty()).collect();
        assert!(complaints.is_empty(), "{args:?} says nothing when the reader leaves: {stderr}");
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
    let host =
        ingested(&["mail/01_proveedor_zip_attacheddocument.eml", "pipeline/20_basura_binaria.eml"]);
    let run = |args: &[&str]| json_of(&host.mesa_fe().args(args).output().expect("run"));

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
    let host = Host::new();
    let guide =
        json_of(&host.mesa_fe().args(["kb", "export", "--formato", "json"]).output().expect("run"));
    let first = &guide.as_array().expect("array")[0];
    assert_eq!(first["origen"], "base_errores_conocidos", "{first}");
    assert!(first["codigos"].is_array() && first["respuesta_primer_contacto"].is_string());
    let bad = host.mesa_fe().args(["kb", "export", "--formato", "xml"]).output().expect("run");
    assert_eq!(bad.status.code(), Some(65));
    assert!(text(&bad).contains("use uno de md, csv, json"), "{}", text(&bad));
}

#[test]
fn a_case_is_named_by_its_bare_number_for_this_year() {
    let host = ingested(&["mail/01_proveedor_zip_attacheddocument.eml"]);
    let cases = json_of(&host.mesa_fe().args(["case", "list", "--json"]).output().expect("run"));
    let number = cases[0]["number"].as_str().expect("number").to_string();
    assert!(number.ends_with("-000001"), "{number}");

    let shown =
        json_of(&host.mesa_fe().args(["case", "show", "1", "--json"]).output().expect("run"));
    assert!(shown.to_string().contains(&number), "{shown}");
    let note = host
        .mesa_fe()
        .args(["case", "note", "1", "--agente", "ana.rojas@dian.gov.co", "--texto", "Revisado"])
        .output()
        .expect("run");
    assert!(text(&note).starts_with(&format!("{number}:")), "{}", text(&note));
    let missing = host.mesa_fe().args(["case", "show", "7"]).output().expect("run");
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

#[test]
fn case_seguridad_marks_a_case_and_explains_its_refusals() {
    let host = ingested(&["mail/01_proveedor_zip_attacheddocument.eml"]);
    let ana = "ana.rojas@dian.gov.co";
    let bad = host
        .mesa_fe()
        .args(["case", "seguridad", "1", "z", "--agente", ana, "--motivo", "x"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(65));
    assert!(text(&bad).contains("use una letra de la a a la h"), "{}", text(&bad));
    let empty = host
        .mesa_fe()
        .args(["case", "seguridad", "1", "h", "--agente", ana, "--motivo", " "])
        .output()
        .expect("run");
    assert_eq!(empty.status.code(), Some(65));
    assert!(text(&empty).contains("necesita un texto"), "{}", text(&empty));
    let marked = host
        .mesa_fe()
        .args([
            "case",
            "seguridad",
            "1",
            "H",
            "--agente",
            ana,
            "--motivo",
            "Suplantaron su usuario",
        ])
        .output()
        .expect("run");
    assert!(marked.status.success(), "{}", text(&marked));
    let shown =
        json_of(&host.mesa_fe().args(["case", "show", "1", "--json"]).output().expect("run"));
    assert_eq!(shown["security_category"], "h", "{shown}");
    assert_eq!(shown["group"], "seguridad", "{shown}");
    // Ana is not in the security group: the case is no longer hers to work.
    let after = host
        .mesa_fe()
        .args(["case", "escalate", "1", "--agente", ana, "--sin-xml", "no aplica"])
        .output()
        .expect("run");
    assert_eq!(after.status.code(), Some(65));
    assert!(text(&after).contains("solo el grupo de seguridad"), "{}", text(&after));
}
