//! `mesa-fe case relate`, `case merge` and the `case list` filters by CUFE, NIT and address
//! (issue 14, points 5 and 6), as an operator runs them: output, exit codes, Spanish refusals.

mod common;

use common::local::{Host, fixture_path, text};

const CUFE: &str = "d96f1533f0df6342ecdf29ead89c6039705250d2a5275e9799dc23df09a363e3fb5dcf4824c516402f73531dcba0d496";

/// The provider's request about LCE4821 (case 1) and the buyer's about the same invoice (case 2).
fn provider_and_buyer() -> Host {
    let host = Host::new();
    let ingest = host
        .mesa_fe()
        .arg("ingest")
        .arg(fixture_path("mail/01_proveedor_zip_attacheddocument.eml"))
        .arg(fixture_path("related/adquiriente_mismo_cufe.eml"))
        .output()
        .expect("run");
    assert!(ingest.status.success(), "{}", text(&ingest));
    host
}

fn run(host: &Host, args: &[&str]) -> std::process::Output {
    host.mesa_fe().args(args).output().expect("run")
}

fn json(host: &Host, args: &[&str]) -> serde_json::Value {
    let output = run(host, args);
    assert!(output.status.success(), "{}", text(&output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&output)))
}

/// The case's number and the agent who holds it.
fn case(host: &Host, bare: &str) -> (String, String) {
    let shown = json(host, &["case", "show", bare, "--json"]);
    let agent = shown["agent"].as_str().expect("an agent holds it").to_string();
    (shown["number"].as_str().expect("number").to_string(), agent)
}

#[test]
fn relate_and_merge_from_the_command_line() {
    let host = provider_and_buyer();
    let (provider, provider_agent) = case(&host, "1");
    let (buyer, buyer_agent) = case(&host, "2");
    let shown = text(&run(&host, &["case", "show", "2"]));
    assert!(shown.contains("Casos con el mismo CUFE/CUDE:"), "{shown}");
    assert!(shown.contains(&format!("  {provider} (en_atencion)")), "{shown}");

    let texto = "La nota crédito NC-88 tampoco aparece";
    let relate =
        run(&host, &["case", "relate", "1", "--agente", &provider_agent, "--texto", texto]);
    assert!(relate.status.success(), "{}", text(&relate));
    let child = format!("{}000003", &provider[..provider.len() - 6]);
    assert!(
        text(&relate).contains(&format!("{provider}: caso relacionado {child} creado")),
        "{}",
        text(&relate)
    );
    let shown = text(&run(&host, &["case", "show", "3"]));
    assert!(shown.contains(&format!("Caso padre:   {provider}")), "{shown}");
    assert!(shown.contains("aviso_caso_relacionado → jpardo@andinas-contables.example"), "{shown}");

    let merge = run(&host, &["case", "merge", "2", "--en", "1", "--agente", &buyer_agent]);
    assert!(merge.status.success(), "{}", text(&merge));
    assert!(
        text(&merge).contains(&format!("{buyer}: fusionado en {provider}")),
        "{}",
        text(&merge)
    );
    let stub = text(&run(&host, &["case", "show", "2"]));
    assert!(stub.contains(&format!("Fusionado en: {provider}")), "{stub}");
    assert!(stub.contains("aviso_fusion → contabilidad@ferreteria-elroble.example"), "{stub}");
    let target = text(&run(&host, &["case", "show", "1"]));
    assert!(target.contains(&format!("Duplicados fusionados aquí: {buyer}")), "{target}");
    assert!(target.contains("contabilidad@ferreteria-elroble.example"), "the buyer's mail moved");
}

#[test]
fn refused_merges_and_bad_arguments_exit_65_in_spanish() {
    let host = provider_and_buyer();
    let (_, agent) = case(&host, "1");
    let refusal = |args: &[&str]| {
        let output = run(&host, args);
        assert_eq!(output.status.code(), Some(65), "{}", text(&output));
        text(&output)
    };
    let own = refusal(&["case", "merge", "1", "--en", "1", "--agente", &agent]);
    assert!(own.contains("no se aplicó: un caso no se fusiona consigo mismo"), "{own}");
    let unknown = refusal(&["case", "merge", "1", "--en", "99", "--agente", &agent]);
    assert!(unknown.contains("no existe"), "{unknown}");
    let no_text = refusal(&["case", "relate", "1", "--agente", &agent]);
    assert!(no_text.contains("#relacionado necesita un texto"), "{no_text}");
    let tema =
        refusal(&["case", "relate", "1", "--agente", &agent, "--tema", "ventas", "--texto", "x"]);
    assert!(tema.contains("tema desconocido \"ventas\""), "{tema}");
    let nit = refusal(&["case", "list", "--nit", "novecientos"]);
    assert!(nit.contains("NIT no válido"), "{nit}");
}

#[test]
fn case_list_filters_by_cufe_nit_and_address() {
    let host = provider_and_buyer();
    let numbers = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["case", "list", "--json"];
        all.extend_from_slice(args);
        let cases = json(&host, &all);
        let cases = cases.as_array().expect("array");
        cases.iter().map(|c| c["number"].as_str().expect("number").to_string()).collect()
    };
    let (provider, _) = case(&host, "1");
    let (buyer, _) = case(&host, "2");
    let both = vec![provider.clone(), buyer.clone()];
    assert_eq!(numbers(&["--cufe", CUFE]), both);
    assert_eq!(numbers(&["--nit", "900.917.354"]), both, "dots are ignored");
    assert_eq!(numbers(&["--correo", "Contabilidad@Ferreteria-ElRoble.example"]), vec![buyer]);
    assert_eq!(
        numbers(&["--correo", "jpardo@andinas-contables.example", "--cufe", CUFE]),
        vec![provider]
    );
    assert!(numbers(&["--cufe", "0000"]).is_empty());
    let listed = text(&run(&host, &["case", "list", "--cufe", CUFE]));
    assert!(listed.contains("Consulta documento LCE4821"), "{listed}");
}
