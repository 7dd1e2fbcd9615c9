//! The reply table of issue 14.1: each requester reply of tests/fixtures/replies/respuestas.toml
//! becomes an e-mail on the case's thread, goes through the desk's real analysis (MIME, own
//! words without history and signature, auto-reply headers, DIAN rules, attachments) and the
//! reply reader; a table of row, expected and got is printed, and any mismatch fails.

use base64::Engine;
use mesa_fe::config::Config;
use mesa_fe::desk::answer::Reading;
use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::pipeline::Desk;
use serde::Deserialize;

mod common;

#[derive(Deserialize)]
struct Table {
    respuesta: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    id: String,
    esperado: String,
    texto: String,
    #[serde(default)]
    cabeceras: String,
    adjunto: Option<String>,
    codigos_caso: Option<Vec<String>>,
}

/// The reply as the requester's client sends it: on the thread of the desk's solution.
fn mail(row: &Row) -> Vec<u8> {
    let head = format!(
        "From: Solicitante <solicitante@empresa.example>\r\nTo: sd_facturaelectronica@dian.gov.co\r\n\
         Subject: RE: [FE-2026-000123] Factura rechazada\r\nMessage-ID: <{}@empresa.example>\r\n\
         In-Reply-To: <solucion@dian.gov.co>\r\nDate: Mon, 7 Dec 2026 10:00:00 -0500\r\n{}\
         MIME-Version: 1.0\r\n",
        row.id, row.cabeceras
    );
    let body = row.texto.replace('\n', "\r\n");
    let Some(name) = &row.adjunto else {
        return format!("{head}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n")
            .into_bytes();
    };
    let path = common::local::fixture_path(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|_| b"\x89PNG\r\n\x1a\nfalso".to_vec());
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or(name);
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!(
        "{head}Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--b\r\n\
         Content-Type: application/octet-stream; name=\"{file}\"\r\n\
         Content-Disposition: attachment; filename=\"{file}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b--\r\n"
    )
    .into_bytes()
}

#[test]
fn every_reply_of_the_table_is_read_as_labelled() {
    let path = common::local::fixture_path("replies/respuestas.toml");
    let text = std::fs::read_to_string(&path).expect("respuestas.toml");
    let table: Table = toml::from_str(&text).expect("a valid table");
    let desk = Desk::new(Config::builtin().expect("config"), KnowledgeBase::builtin());
    let buzon = desk.config.buzon("facturaelectronica").expect("buzón").clone();
    let mut wrong = Vec::new();
    println!("{:<40} {:<11} {:<11}", "fila", "esperado", "obtenido");
    for row in &table.respuesta {
        let expected = Reading::parse(&row.esperado)
            .unwrap_or_else(|| panic!("{}: etiqueta desconocida {}", row.id, row.esperado));
        let codes = row.codigos_caso.clone().unwrap_or_else(|| vec!["FAD06".into()]);
        let got = desk.analyze(&mail(row), &buzon).reading(&codes);
        let mark = if got == expected { "" } else { "  ✗" };
        println!("{:<40} {:<11} {:<11}{mark}", row.id, expected.as_str(), got.as_str());
        if got != expected {
            wrong.push(row.id.as_str());
        }
    }
    let total = table.respuesta.len();
    println!("acierto: {}/{total}", total - wrong.len());
    assert!(total >= 60, "the table needs at least 60 replies, it has {total}");
    assert!(wrong.is_empty(), "misread replies: {wrong:?}");
}
