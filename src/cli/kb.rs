//! `mesa-fe kb export`: the CT-CAC-0127 guide for the Contact Center (known errors with a
//! first-contact answer and the solutions agents marked for first contact) as Markdown, CSV or JSON.

use std::path::Path;
use std::process::ExitCode;

use mesa_fe::desk::guide::{Guide, Origin};

use super::{Failure, create_store, load_config, load_knowledge, output_format, write_output};

/// The formats `--formato` accepts.
const FORMATS: [&str; 3] = ["md", "csv", "json"];

/// Writes the guide to `salida`, or to standard output without it.
pub async fn export(
    config_path: Option<&Path>,
    formato: &str,
    salida: Option<&Path>,
) -> Result<ExitCode, Failure> {
    let format = output_format(formato, &FORMATS)?;
    let config = load_config(config_path)?;
    let knowledge = load_knowledge(&config)?;
    // Before the first start the guide is still worth having (the known errors alone).
    let store = create_store(&config).await?;
    let solutions = store.first_contact_solutions().await;
    store.close().await;
    let guide = Guide::new(&knowledge, &solutions?);
    let text = match format.as_str() {
        "csv" => guide.to_csv(),
        "json" => super::show::json_text(&guide.to_json())?,
        _ => guide.to_markdown(),
    };
    if write_output(salida, &text)? {
        say!(
            "Guía CT-CAC-0127 escrita en {}: {} errores conocidos y {} soluciones de agentes.",
            salida.map(Path::display).map(|d| d.to_string()).unwrap_or_default(),
            guide.of(Origin::KnownError).count(),
            guide.of(Origin::AgentSolution).count()
        );
    }
    Ok(ExitCode::SUCCESS)
}
