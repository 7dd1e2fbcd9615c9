//! `mesa-fe kb export`: the CT-CAC-0127 guide through the real binary. A case is ingested, an
//! agent solves it for first contact from the terminal, and the exported guide (Markdown and
//! CSV) carries that solution with its case number next to the known-error answers.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::db::TestDb;
use common::local::{fixture_path, text};
use mesa_fe::desk::knowledge::KnowledgeBase;
use tempfile::TempDir;

const AGENT: &str = "agente.guia@fe.test";

/// A desk as an operator has it: the built-in configuration with its state in a directory of
/// its own and one more agent, and a database.
struct Setup {
    dir: TempDir,
    config: PathBuf,
    db: TestDb,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("estado");
        let config = dir.path().join("mesa-fe.toml");
        let text = format!(
            "[general]\ndirectorio_estado = '{}'\n\n\
             [[agentes]]\ncorreo = \"{AGENT}\"\nnombre = \"Agente Guía\"\nnivel = \"n2\"\n\
             grupos = [\"n2_factura\"]\nactivo = true\n",
            state.display()
        );
        std::fs::write(&config, text).expect("write the config");
        Setup { dir, config, db: TestDb::new() }
    }

    /// The binary on this configuration (its state directory is the file's, not the harness's)
    /// and on this database.
    fn mesa_fe(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mesa-fe"));
        command
            .env_remove("MESA_FE_CONFIG")
            .env_remove("MESA_FE__GENERAL__DIRECTORIO_ESTADO")
            .arg("--config")
            .arg(&self.config);
        self.db.apply(&mut command);
        command
    }
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("run mesa-fe");
    assert!(
        output.status.success(),
        "{:?}: {}",
        command.get_args().collect::<Vec<_>>(),
        text(&output)
    );
    output
}

/// Ingests a request and solves it for first contact; returns the case number.
fn solved_case(setup: &Setup, answer: &str) -> String {
    run(setup
        .mesa_fe()
        .arg("ingest")
        .arg(fixture_path("mail/02_contribuyente_texto_sin_requisitos.eml")));
    let list = run(setup.mesa_fe().args(["case", "list", "--json"]));
    let cases: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON");
    let number = cases[0]["number"].as_str().expect("a case number").to_string();
    run(setup
        .mesa_fe()
        .args(["case", "solve", &number, "--agente", AGENT, "--primer-contacto", "--texto"])
        .arg(answer));
    number
}

/// The first line of FAD06's first-contact answer in the built-in base.
fn fad06_answer_line() -> String {
    let base = KnowledgeBase::builtin();
    let answer = base.get("FAD06").and_then(|e| e.first_contact_answer.clone());
    let answer = answer.expect("FAD06 has a first-contact answer");
    answer.trim().lines().next().expect("a line").trim_end().to_string()
}

#[test]
fn the_guide_has_the_agents_solution_and_the_known_errors_in_md_and_csv() {
    let setup = Setup::new();
    let answer = "Revise el NIT del adquiriente, sin dígito de verificación.\n\
                  Luego reenvíe el documento \"corregido\" a la DIAN.";
    let number = solved_case(&setup, answer);
    let fad06 = fad06_answer_line();

    let md = run(setup.mesa_fe().args(["kb", "export", "--formato", "md"]));
    let md = String::from_utf8(md.stdout).expect("UTF-8");
    assert!(md.contains("CT-CAC-0127"), "{md}");
    assert!(md.contains(answer), "the agent's lines, as written: {md}");
    assert!(md.contains(&format!("### Caso {number} — Ayuda con factura rechazada")), "{md}");
    assert!(md.contains(&format!("- **Autor:** {AGENT}")), "{md}");
    assert!(md.contains("### FAD06 — "), "{md}");
    assert!(md.contains(&fad06), "FAD06's answer: {md}");

    // The default format is Markdown.
    let default = run(setup.mesa_fe().args(["kb", "export"]));
    assert_eq!(String::from_utf8_lossy(&default.stdout), md);

    let csv = run(setup.mesa_fe().args(["kb", "export", "--formato", "csv"]));
    let csv = String::from_utf8(csv.stdout).expect("UTF-8");
    assert!(
        csv.starts_with(
            "origen,codigos,tema,pregunta_o_mensaje,significado,respuesta_primer_contacto,caso,\
             autor,fecha\r\n"
        ),
        "{csv}"
    );
    let quoted = format!("\"{}\"", answer.replace('"', "\"\""));
    assert!(csv.contains(&quoted), "the agent's answer, quoted: {csv}");
    assert!(
        csv.contains(&format!("solucion_agente,,factura_electronica,Ayuda con factura rechazada,,{quoted},{number},{AGENT},")),
        "{csv}"
    );
    assert!(csv.contains("base_errores_conocidos,\"FAD06, CAD06"), "{csv}");
    assert!(csv.contains(&fad06), "FAD06's answer: {csv}");

    // --salida writes the same text to the file.
    let file = setup.dir.path().join("guia.csv");
    let written =
        run(setup.mesa_fe().args(["kb", "export", "--formato", "csv", "--salida"]).arg(&file));
    assert!(text(&written).contains(&file.display().to_string()), "{}", text(&written));
    assert_eq!(std::fs::read_to_string(&file).expect("the guide file"), csv);
}

#[test]
fn an_unknown_format_or_an_unwritable_file_fails_clearly() {
    let setup = Setup::new();

    let xls = setup.mesa_fe().args(["kb", "export", "--formato", "xls"]).output().expect("run");
    assert_eq!(xls.status.code(), Some(65), "sysexits EX_DATAERR: {}", text(&xls));
    assert!(xls.stdout.is_empty(), "{}", text(&xls));
    let message = String::from_utf8_lossy(&xls.stderr);
    assert!(
        message.contains("formato desconocido: \"xls\"") && message.contains("md, csv"),
        "{message}"
    );

    let nowhere = setup.dir.path().join("no-existe").join("guia.md");
    let output =
        setup.mesa_fe().args(["kb", "export", "--salida"]).arg(&nowhere).output().expect("run");
    assert_eq!(output.status.code(), Some(74), "sysexits EX_IOERR: {}", text(&output));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains(&format!("no se pudo escribir {}", nowhere.display())), "{message}");
}
