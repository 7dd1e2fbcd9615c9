//! The `inspect --json` contract, golden-file style: every sample e-mail of the product owner in
//! `tests/fixtures/mail/` against its `EXPECTED.json` (compared as a subset), and our own hostile
//! and edge cases in `tests/fixtures/pipeline/` against theirs.

use std::path::{Path, PathBuf};

use mesa_fe::config::Config;
use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::pipeline::Desk;
use serde_json::Value;

fn fixtures(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir)
}

fn desk() -> Desk {
    Desk::new(Config::builtin().expect("built-in config"), KnowledgeBase::builtin())
}

fn inspect(desk: &Desk, dir: &str, file: &str) -> Value {
    let raw = std::fs::read(fixtures(dir).join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let buzon = desk.config.buzon("facturaelectronica").expect("buzón").clone();
    desk.analyze(&raw, &buzon).to_json()
}

fn expectations(dir: &str) -> serde_json::Map<String, Value> {
    let name = "EXPECTED.json";
    let text = std::fs::read_to_string(fixtures(dir).join(name)).expect("expectations file");
    match serde_json::from_str(&text).expect("valid JSON") {
        Value::Object(map) => map,
        _ => panic!("{name} must be an object"),
    }
}

/// Every key the expectation names must match; documents are found by uuid (or number) and
/// compared on the keys given; rejections compare as sets of codes.
fn check(file: &str, expected: &Value, actual: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let Value::Object(expected) = expected else {
        return vec![format!("{file}: expectation is not an object")];
    };
    for (key, want) in expected {
        match key.as_str() {
            "notes" => {}
            "documents" => errors.extend(check_documents(file, want, &actual["documents"])),
            "attachment_problems_min" => {
                let found = actual["attachment_problems"].as_array().map_or(0, Vec::len);
                let min = want.as_u64().unwrap_or(1) as usize;
                if found < min {
                    errors.push(format!(
                        "{file}: attachment_problems has {found} entries, expected at least {min}"
                    ));
                }
            }
            "attachment_problem_mentions" => {
                let text = actual["attachment_problems"].to_string().to_lowercase();
                for word in want.as_array().into_iter().flatten().filter_map(Value::as_str) {
                    if !text.contains(&word.to_lowercase()) {
                        errors.push(format!(
                            "{file}: attachment_problems do not mention {word:?}: {text}"
                        ));
                    }
                }
            }
            _ if actual.get(key) != Some(want) => {
                errors.push(format!(
                    "{file}: {key} = {}, expected {want}",
                    actual.get(key).unwrap_or(&Value::Null)
                ));
            }
            _ => {}
        }
    }
    errors
}

fn check_documents(file: &str, want: &Value, actual: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let actual = actual.as_array().cloned().unwrap_or_default();
    for doc in want.as_array().into_iter().flatten() {
        let key = if doc.get("uuid").is_some() { "uuid" } else { "number" };
        let same_kind = |a: &Value| doc.get("kind").is_none_or(|kind| &a["kind"] == kind);
        let Some(found) = actual.iter().find(|a| a[key] == doc[key] && same_kind(a)) else {
            errors.push(format!("{file}: no document with {key} {}", doc[key]));
            continue;
        };
        for (field, value) in doc.as_object().into_iter().flatten() {
            if field == "rejections" {
                let mut want_codes: Vec<&str> =
                    value.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                let mut got: Vec<&str> = found["rejections"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["code"].as_str())
                    .collect();
                want_codes.sort_unstable();
                got.sort_unstable();
                if want_codes != got {
                    errors.push(format!(
                        "{file}: document {} rejections {got:?}, expected {want_codes:?}",
                        doc[key]
                    ));
                }
            } else if &found[field] != value {
                errors.push(format!(
                    "{file}: document {} {field} = {}, expected {value}",
                    doc[key], found[field]
                ));
            }
        }
    }
    errors
}

fn run_all(dir: &str) {
    let desk = desk();
    let mut errors = Vec::new();
    let expected = expectations(dir);
    assert!(!expected.is_empty(), "{dir}/EXPECTED.json lists no samples");
    for (file, want) in &expected {
        errors.extend(check(file, want, &inspect(&desk, dir, file)));
    }
    assert!(errors.is_empty(), "{} mismatches:\n{}", errors.len(), errors.join("\n"));
}

#[test]
fn product_owner_samples_match_expected_json() {
    run_all("mail");
}

#[test]
fn hostile_and_edge_cases_match_their_expectations() {
    run_all("pipeline");
}

#[test]
fn every_pipeline_sample_has_an_expectation() {
    let listed = expectations("pipeline");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(fixtures("pipeline")).expect("fixtures dir") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        if name.ends_with(".eml") && !listed.contains_key(&name) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "samples without expectations: {missing:?}");
}

/// The product owner left 13 and 14 open ("no se fija"); what any user would still check.
#[test]
fn zip_bomb_and_broken_mime_are_cases_with_their_problems_listed() {
    let desk = desk();
    let bomb = inspect(&desk, "mail", "13_zip_bomba.eml");
    assert_ne!(bomb["decision"], "quarantine");
    let problems = bomb["attachment_problems"].to_string();
    assert!(problems.contains("soportes_noviembre.zip"), "{problems}");
    assert!(bomb["documents"].as_array().is_some_and(Vec::is_empty));
    let broken = inspect(&desk, "mail", "14_mime_malformado.eml");
    assert_ne!(broken["decision"], "quarantine");
    assert!(broken["attachment_problems"].as_array().is_some_and(|p| !p.is_empty()), "{broken}");
}

#[test]
fn contract_keys_are_always_present() {
    let desk = desk();
    for file in ["01_proveedor_zip_attacheddocument.eml", "05_rebote_dsn.eml"] {
        let json = inspect(&desk, "mail", file);
        for key in [
            "message_id",
            "from",
            "subject",
            "auto_generated",
            "security_category",
            "tema",
            "case_ref",
            "documents",
            "missing_requirements",
            "decision",
            "quarantine_reason",
            "attachment_problems",
        ] {
            assert!(json.get(key).is_some(), "{file}: key {key} missing from {json}");
        }
        for doc in json["documents"].as_array().into_iter().flatten() {
            for key in [
                "kind",
                "type_code",
                "uuid",
                "uuid_scheme",
                "number",
                "issue_date",
                "environment",
                "supplier_nit",
                "customer_nit",
                "response_code",
                "rejections",
                "source",
            ] {
                assert!(doc.get(key).is_some(), "{file}: document key {key} missing");
            }
        }
    }
}

#[test]
fn inspect_command_prints_the_contract() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mesa-fe"))
        .args(["inspect", "--json"])
        .arg(fixtures("mail").join("16_respuesta_dian_rechazo_independiente.eml"))
        .env_remove("MESA_FE_CONFIG")
        .output()
        .expect("run mesa-fe");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(json["decision"], "known_error_answer");
    assert_eq!(json["tema"], "factura_electronica");
}
