//! `mesa-fe sesiones`: the console's sessions, for operators. `revocar` closes every session of
//! an address and spends its unused sign-in links (a lost laptop, someone who left the desk);
//! `listar` shows who is signed in and until when.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use super::{Failure, load_config, open_store};

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Cierra todas las sesiones de la consola de una dirección e invalida sus enlaces para
    /// entrar sin usar. Tiene efecto en la siguiente página que abra esa persona.
    Revocar {
        /// Correo de la persona, por ejemplo ana.rojas@dian.gov.co.
        #[arg(value_name = "CORREO")]
        correo: String,
    },
    /// Lista las sesiones abiertas de la consola: quién, desde cuándo y hasta cuándo.
    Listar {
        /// Salida en JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(path: Option<&Path>, command: SessionsCommand) -> Result<ExitCode, Failure> {
    let config = load_config(path)?;
    let store = open_store(&config).await?;
    match command {
        SessionsCommand::Revocar { correo } => {
            let address = correo.trim().to_lowercase();
            let revoked = store.revoke_console_sessions(&address).await?;
            let noun = if revoked == 1 { "sesión revocada" } else { "sesiones revocadas" };
            say!("{revoked} {noun} de {address}; sus enlaces sin usar ya no sirven.");
        }
        SessionsCommand::Listar { json } => {
            let sessions = store.open_console_sessions().await?;
            if json {
                super::show::json(&sessions)?;
            } else if sessions.is_empty() {
                say!("No hay sesiones abiertas en la consola.");
            } else {
                let zone = config.zone();
                let width = sessions.iter().map(|s| s.address.len()).max().unwrap_or(6).max(6);
                say!("{:width$}  {:16}  {:16}", "CORREO", "ABIERTA", "VENCE");
                for s in &sessions {
                    say!(
                        "{:width$}  {:16}  {:16}",
                        s.address,
                        zone.show_stored(&s.created_at),
                        zone.show_stored(&s.expires_at)
                    );
                }
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
