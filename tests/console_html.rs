//! Every HTML page of the console, as three kinds of viewer see it with real cases in the
//! store, passes the HTML check of `tests/common/html.rs` (structure, labelled controls,
//! nothing the CSP would block) and says its states in words, not in the store's names.
//! No mail stack; both backends (`MESA_FE_PRUEBA_BASE`).

mod common;

use common::console::{AGENT_FACTURA, AGENT_SEGURIDAD, COORD_FACTURA, ConsoleServer, console};
use common::html::assert_accessible;
use common::local::sample;
use mesa_fe::pipeline::Outcome;
use reqwest::StatusCode;

async fn ingest(server: &ConsoleServer, fixture: &str) -> Outcome {
    server.ingest(&sample(fixture)).await
}

/// The pages a viewer may open, given a case number and a quarantined message.
fn pages(case: &str, held: i64) -> Vec<String> {
    vec![
        "/consola/bandeja".into(),
        "/consola/bandeja?estado=todos&q=factura&pagina=3".into(),
        format!("/consola/caso/{case}"),
        "/consola/masivas".into(),
        format!("/consola/masivas/{case}"),
        format!("/consola/masivas/vincular?padre={case}"),
        "/consola/conocimiento".into(),
        "/consola/operacion".into(),
        format!("/consola/operacion/cuarentena/{held}"),
    ]
}

#[tokio::test]
async fn every_page_passes_the_html_check_for_an_agent_a_coordinator_and_security() {
    let server = console(|_| {}).await;
    let case = match ingest(&server, "mail/01_proveedor_zip_attacheddocument.eml").await {
        Outcome::Opened { case, .. } => case,
        other => panic!("the invoice mail opened no case: {other:?}"),
    };
    let held = match ingest(&server, "mail/27_sin_remitente.eml").await {
        Outcome::Quarantined { raw_id, .. } => raw_id,
        other => panic!("expected quarantine, got {other:?}"),
    };
    for viewer in [AGENT_FACTURA, COORD_FACTURA, AGENT_SEGURIDAD] {
        let (cookie, _) = server.session_for(viewer).await;
        let mut shown = 0;
        for path in pages(&case, held) {
            let page = server.get(&path, Some(&cookie)).await;
            // A page the viewer may not open answers with an error page, which is checked too.
            assert!(
                [StatusCode::OK, StatusCode::FORBIDDEN, StatusCode::NOT_FOUND]
                    .contains(&page.status),
                "{viewer} {path}: {}",
                page.status
            );
            let content_type = page.headers.get("content-type").and_then(|v| v.to_str().ok());
            assert_eq!(content_type, Some("text/html; charset=utf-8"), "{viewer} {path}");
            assert_accessible(&page.body);
            for raw in ["en_atencion", "en atencion", "pendiente_informacion", "escalado", "nuevo"]
            {
                let text = format!(">{raw}<");
                assert!(!page.body.contains(&text), "{viewer} {path} shows «{raw}»");
            }
            shown += usize::from(page.status == StatusCode::OK);
        }
        assert!(shown >= 4, "{viewer} could open only {shown} pages");
    }
}
