//! `mesa-fe proveedores`: the registry of technology providers, the only senders the aliados
//! buzón accepts. `importar` replaces the imported CSV whole (or nothing, when the file has a
//! mistake); `list` shows the union of the configuration's `[[proveedores]]` and the CSV.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use mesa_fe::desk::providers::{Provider, parse_csv};
use serde::Serialize;

use super::{EX_DATAERR, Failure, load_config, open_store, read_file, show};

#[derive(Debug, Subcommand)]
pub enum ProvidersCommand {
    /// Importa el registro de proveedores tecnológicos desde un archivo CSV.
    ///
    /// El CSV es UTF-8, separado por comas, con el encabezado
    /// nit,nombre,dominios,direcciones,activo (direcciones y activo son opcionales); varios
    /// dominios o direcciones van separados por ";". Reemplaza todo lo importado antes; si el
    /// archivo tiene un error no se importa nada y el registro anterior sigue vigente.
    Importar {
        /// Archivo CSV.
        #[arg(value_name = "ARCHIVO")]
        archivo: PathBuf,
    },
    /// Lista el registro: los proveedores de la configuración y los importados del CSV.
    List {
        /// Salida en JSON.
        #[arg(long)]
        json: bool,
    },
}

/// One provider of the registry and where it comes from.
#[derive(Debug, Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    provider: &'a Provider,
    /// "configuración" or "csv".
    origen: &'static str,
}

const FROM_CONFIG: &str = "configuración";
const FROM_CSV: &str = "csv";

pub async fn run(path: Option<&Path>, command: ProvidersCommand) -> Result<ExitCode, Failure> {
    match command {
        ProvidersCommand::Importar { archivo } => import(path, &archivo).await,
        ProvidersCommand::List { json } => list(path, json).await,
    }
}

/// The file's providers, or the operator's message naming the file and the line.
fn read_providers(file: &Path) -> Result<Vec<Provider>, Failure> {
    let bytes = read_file(file)?;
    let refused = |line: usize, message: &str| {
        Failure::new(
            EX_DATAERR,
            format!(
                "no se importó nada: {} línea {line}: {message}; el registro anterior sigue vigente",
                file.display()
            ),
        )
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(error) => {
            let line = 1 + bytes[..error.valid_up_to()].iter().filter(|b| **b == b'\n').count();
            return Err(refused(
                line,
                "el archivo no está en UTF-8; en Excel, guárdelo como \"CSV UTF-8 (delimitado por \
                 comas)\"",
            ));
        }
    };
    parse_csv(text).map_err(|error| refused(error.line, &error.message))
}

async fn import(path: Option<&Path>, file: &Path) -> Result<ExitCode, Failure> {
    let config = load_config(path)?;
    let providers = read_providers(file)?;
    let store = open_store(&config).await?;
    store.replace_providers(&providers).await?;
    store.close().await;
    let active = providers.iter().filter(|p| p.active).count();
    say!(
        "Registro de proveedores importado de {}: {} proveedores (activos: {active}, inactivos: {}).",
        file.display(),
        providers.len(),
        providers.len() - active
    );
    let configured: Vec<String> =
        config.proveedores.iter().filter_map(|p| p.normalized().ok()).map(|p| p.nit).collect();
    let both: Vec<&str> =
        providers.iter().filter(|p| configured.contains(&p.nit)).map(|p| p.nit.as_str()).collect();
    if !both.is_empty() {
        say!(
            "Aviso: estos NIT están también en [[proveedores]] de la configuración, que \
             prevalece sobre el CSV: {}.",
            both.join(", ")
        );
    }
    say!("El servicio en ejecución toma el nuevo registro al recargarlo: systemctl reload mesa-fe");
    Ok(ExitCode::SUCCESS)
}

async fn list(path: Option<&Path>, json: bool) -> Result<ExitCode, Failure> {
    let config = load_config(path)?;
    // Validated by `Config::load`: every one normalizes.
    let configured: Vec<Provider> =
        config.proveedores.iter().filter_map(|p| p.normalized().ok()).collect();
    let store = open_store(&config).await?;
    let imported = store.providers().await?;
    store.close().await;
    // As the desk builds its registry: a NIT in both keeps the configuration's entry.
    let (shadowed, in_effect): (Vec<&Provider>, Vec<&Provider>) =
        imported.iter().partition(|p| configured.iter().any(|c| c.nit == p.nit));
    let listed: Vec<Listed> = configured
        .iter()
        .map(|provider| Listed { provider, origen: FROM_CONFIG })
        .chain(in_effect.into_iter().map(|provider| Listed { provider, origen: FROM_CSV }))
        .collect();
    if json {
        show::json(&listed)?;
    } else {
        table(&listed);
        if !shadowed.is_empty() {
            let nits: Vec<&str> = shadowed.iter().map(|p| p.nit.as_str()).collect();
            say!(
                "Del CSV no se usan estos NIT porque la configuración también los tiene: {}.",
                nits.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn table(listed: &[Listed]) {
    if listed.is_empty() {
        say!(
            "No hay proveedores registrados: agréguelos en [[proveedores]] de la configuración o \
             impórtelos con `mesa-fe proveedores importar archivo.csv`."
        );
        return;
    }
    let joined =
        |items: &[String]| if items.is_empty() { "-".to_string() } else { items.join(";") };
    say!(
        "{:<15} {:<32} {:<30} {:<30} {:<6} ORIGEN",
        "NIT",
        "NOMBRE",
        "DOMINIOS",
        "DIRECCIONES",
        "ACTIVO"
    );
    for Listed { provider: p, origen } in listed {
        say!(
            "{:<15} {:<32} {:<30} {:<30} {:<6} {origen}",
            p.nit,
            p.name,
            joined(&p.domains),
            joined(&p.addresses),
            if p.active { "sí" } else { "no" },
        );
    }
    let active = listed.iter().filter(|l| l.provider.active).count();
    say!("Proveedores: {} (activos: {active}).", listed.len());
}
