//! `mesa-fe kb export`: the CT-CAC-0127 guide for the Contact Center (known errors with a
//! first-contact answer and the solutions agents marked for first contact) as Markdown or CSV.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use mesa_fe::desk::guide::{Guide, Origin};

use super::{EX_DATAERR, EX_IOERR, Failure, load_config, load_knowledge, open_store};

/// The formats `--formato` accepts.
const FORMATS: [&str; 2] = ["md", "csv"];

/// Writes the guide to `salida`, or to standard output without it.
pub async fn export(
    config_path: Option<&Path>,
    formato: &str,
    salida: Option<&Path>,
) -> Result<ExitCode, Failure> {
    let format = formato.trim().to_ascii_lowercase();
    if !FORMATS.contains(&format.as_str()) {
        return Err(Failure::new(
            EX_DATAERR,
            format!("formato desconocido: \"{formato}\"; use uno de {}", FORMATS.join(", ")),
        ));
    }
    let config = load_config(config_path)?;
    let knowledge = load_knowledge(&config)?;
    let store = open_store(&config).await?;
    let solutions = store.first_contact_solutions().await;
    store.close().await;
    let guide = Guide::new(&knowledge, &solutions?);
    let text = if format == "csv" { guide.to_csv() } else { guide.to_markdown() };
    match salida {
        Some(path) => {
            std::fs::write(path, text.as_bytes()).map_err(|e| {
                Failure::new(EX_IOERR, format!("no se pudo escribir {}: {e}", path.display()))
            })?;
            println!(
                "Guía CT-CAC-0127 escrita en {}: {} errores conocidos y {} soluciones de agentes.",
                path.display(),
                guide.of(Origin::KnownError).count(),
                guide.of(Origin::AgentSolution).count()
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).map_err(|e| {
                Failure::new(EX_IOERR, format!("no se pudo escribir en la salida estándar: {e}"))
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
