//! `mesa-fe proveedores` through the real binary: the CSV import is all or nothing, and `list`
//! shows the union of the configuration's `[[proveedores]]` and the imported CSV.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::local::{Host, text};
use serde_json::Value;

fn import(host: &Host, csv: &Path) -> Output {
    host.mesa_fe().args(["proveedores", "importar"]).arg(csv).output().expect("run importar")
}

/// `proveedores list --json` as (nit, origen) pairs, and the whole JSON.
fn list(command: &mut Command) -> (Vec<(String, String)>, Value) {
    let output = command.args(["proveedores", "list", "--json"]).output().expect("run list");
    assert!(output.status.success(), "{}", text(&output));
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let pairs = json
        .as_array()
        .expect("array")
        .iter()
        .map(|p| {
            (
                p["nit"].as_str().expect("nit").to_string(),
                p["origen"].as_str().expect("origen").to_string(),
            )
        })
        .collect();
    (pairs, json)
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

const GOOD: &str = "\u{feff}nit,nombre,dominios,direcciones,activo\r\n\
                    900.123.456-7,\"Facturas Andinas, SAS\",Andinas.com.co;fe.andinas.co,,si\r\n\
                    800555111,\"Proveedor \"\"Gmail\"\"\",,proveedor.ltda@gmail.com,no\r\n";

#[test]
fn a_good_csv_is_imported_and_listed() {
    let host = Host::new();
    let csv = host.dir.path().join("proveedores.csv");
    std::fs::write(&csv, GOOD).expect("write");
    let output = import(&host, &csv);
    assert!(output.status.success(), "{}", text(&output));
    let said = text(&output);
    assert!(said.contains("2 proveedores (activos: 1, inactivos: 1)"), "{said}");
    assert!(said.contains("systemctl reload mesa-fe"), "{said}");

    let (listed, json) = list(&mut host.mesa_fe());
    assert_eq!(listed, pairs(&[("800555111", "csv"), ("900123456", "csv")]));
    let andinas = &json[1];
    assert_eq!(andinas["nombre"], "Facturas Andinas, SAS");
    assert_eq!(andinas["dominios"], serde_json::json!(["andinas.com.co", "fe.andinas.co"]));
    assert_eq!(andinas["activo"], true);
    assert_eq!(json[0]["nombre"], "Proveedor \"Gmail\"");
    assert_eq!(json[0]["direcciones"], serde_json::json!(["proveedor.ltda@gmail.com"]));
    assert_eq!(json[0]["activo"], false);

    let table = host.mesa_fe().args(["proveedores", "list"]).output().expect("run");
    assert!(table.status.success(), "{}", text(&table));
    let table = text(&table);
    assert!(table.contains("900123456") && table.contains("ORIGEN"), "{table}");
}

#[test]
fn a_malformed_csv_imports_nothing_and_names_the_line() {
    let host = Host::new();
    let good = host.dir.path().join("bueno.csv");
    std::fs::write(&good, GOOD).expect("write");
    assert!(import(&host, &good).status.success());

    let bad = host.dir.path().join("malo.csv");
    std::fs::write(
        &bad,
        "nit,nombre,dominios,direcciones\n\
         700111222,Nuevo Uno,nuevo1.co,\n\
         700111333,Nuevo Dos,nuevo2.co,\n\
         700111444,Nuevo Tres,,soporte.nuevo3.co\n\
         700111555,Nuevo Cuatro,nuevo4.co,\n",
    )
    .expect("write");
    let output = import(&host, &bad);
    assert_eq!(output.status.code(), Some(65), "EX_DATAERR: {}", text(&output));
    let said = text(&output);
    assert!(said.contains("no se importó nada"), "{said}");
    assert!(said.contains("malo.csv línea 4"), "{said}");
    assert!(said.contains("soporte.nuevo3.co"), "{said}");
    assert!(said.contains("el registro anterior sigue vigente"), "{said}");

    let (listed, _) = list(&mut host.mesa_fe());
    assert_eq!(listed, pairs(&[("800555111", "csv"), ("900123456", "csv")]));

    // Not UTF-8 (Excel's "CSV" in Latin-1) and a missing file are refused too.
    let latin1 = host.dir.path().join("latin1.csv");
    std::fs::write(&latin1, b"nit,nombre,dominios\n900123456,Compa\xf1\xeda,a.co\n")
        .expect("write");
    let output = import(&host, &latin1);
    assert_eq!(output.status.code(), Some(65), "{}", text(&output));
    assert!(
        text(&output).contains("línea 2") && text(&output).contains("UTF-8"),
        "{}",
        text(&output)
    );
    let output = import(&host, &host.dir.path().join("no-existe.csv"));
    assert_eq!(output.status.code(), Some(66), "EX_NOINPUT: {}", text(&output));
    let (listed, _) = list(&mut host.mesa_fe());
    assert_eq!(listed.len(), 2);
}

#[test]
fn providers_of_the_configuration_are_listed_with_their_origin() {
    let host = Host::new();
    let config = host.dir.path().join("mesa-fe.toml");
    std::fs::write(
        &config,
        "[[proveedores]]\n\
         nit = \"NIT 811.000.222-1\"\n\
         nombre = \"Proveedor Configurado\"\n\
         dominios = [\"Configurado.COM.co\"]\n\
         [[proveedores]]\n\
         nit = \"800.555.111\"\n\
         nombre = \"Gmail según la configuración\"\n\
         direcciones = [\"proveedor.ltda@gmail.com\"]\n",
    )
    .expect("write");
    let csv = host.dir.path().join("proveedores.csv");
    std::fs::write(&csv, GOOD).expect("write");
    let output = host
        .mesa_fe()
        .arg("--config")
        .arg(&config)
        .args(["proveedores", "importar"])
        .arg(&csv)
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("prevalece sobre el CSV: 800555111"), "{}", text(&output));

    // The union as the desk builds it: a NIT in both keeps the configuration's entry.
    let (listed, json) = list(host.mesa_fe().arg("--config").arg(&config));
    assert_eq!(
        listed,
        pairs(&[
            ("811000222", "configuración"),
            ("800555111", "configuración"),
            ("900123456", "csv")
        ])
    );
    assert_eq!(json[0]["dominios"], serde_json::json!(["configurado.com.co"]));
    assert_eq!(json[0]["activo"], true);
    assert_eq!(json[1]["nombre"], "Gmail según la configuración");
    assert_eq!(json[1]["activo"], true);
    let table = host
        .mesa_fe()
        .arg("--config")
        .arg(&config)
        .args(["proveedores", "list"])
        .output()
        .expect("run");
    assert!(
        text(&table).contains("no se usan estos NIT") && text(&table).contains("800555111"),
        "{}",
        text(&table)
    );
    // Without the configuration, the CSV's own entry is back.
    let (listed, _) = list(&mut host.mesa_fe());
    assert_eq!(listed, pairs(&[("800555111", "csv"), ("900123456", "csv")]));

    // A configured provider with a NIT that is not one is a configuration error naming its key.
    std::fs::write(
        &config,
        "[[proveedores]]\nnit = \"ochocientos\"\nnombre = \"X\"\ndominios = [\"x.co\"]\n",
    )
    .expect("write");
    let output = host
        .mesa_fe()
        .arg("--config")
        .arg(&config)
        .args(["proveedores", "list"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(78), "EX_CONFIG: {}", text(&output));
    assert!(text(&output).contains("proveedores[0].nit"), "{}", text(&output));
}
