//! `quarantine reprocess` and `quarantine discard`: an operator's second look at what could not
//! be read, each recorded with who, when and why (`quarantine show` lists it).

use std::process::ExitCode;
use std::sync::Arc;

use mesa_fe::config::Config;
use mesa_fe::pipeline::{Desk, Outcome};
use mesa_fe::store::Store;
use mesa_fe::store::raw::NotHeld;

use super::{EX_DATAERR, EX_USAGE, Failure, create_store, load_knowledge, load_message_ids, show};

/// Who acts: `--operador`, else the system user.
fn operator(given: Option<String>) -> String {
    given
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .or_else(|| std::env::var("LOGNAME").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "operador".into())
}

/// The operator's error when message `id` cannot be taken.
fn not_held(id: i64, why: &NotHeld) -> Failure {
    let message = match why {
        NotHeld::Unknown => format!("no hay un mensaje con id {id} (vea mesa-fe quarantine list)"),
        NotHeld::Status(status) if status == "descartado" => format!(
            "el mensaje {id} ya está descartado; sus bytes se conservan hasta la purga \
             (mesa-fe quarantine show {id})"
        ),
        NotHeld::Status(status) => {
            format!(
                "el mensaje {id} no está en cuarentena (estado: {status}); no hay nada que hacer"
            )
        }
    };
    Failure::new(EX_DATAERR, message)
}

/// `quarantine discard ID --motivo "…"`.
pub async fn discard(
    store: &Store,
    id: i64,
    reason: Option<&str>,
    operador: Option<String>,
) -> Result<(), Failure> {
    let Some(reason) = reason.map(str::trim).filter(|r| !r.is_empty()) else {
        return Err(Failure::new(
            EX_USAGE,
            "indique por qué se descarta el mensaje: --motivo \"…\" (queda en el registro)",
        ));
    };
    let actor = operator(operador);
    match store.discard_quarantined(id, &actor, reason).await? {
        Ok(()) => {
            say!("mensaje {id} descartado por {actor}: {reason}");
            Ok(())
        }
        Err(why) => Err(not_held(id, &why)),
    }
}

/// `quarantine reprocess ID` or `--todos`: exit 0 when every message left quarantine, 65 when
/// some stayed (each with its new reason printed).
pub async fn reprocess(
    config: Config,
    id: Option<i64>,
    operador: Option<String>,
) -> Result<ExitCode, Failure> {
    let ids = load_message_ids(&config)?;
    let store = create_store(&config).await?;
    let desk = Desk::new(config.clone(), load_knowledge(&config)?)
        .with_message_ids(ids)
        .with_imported_providers(store.providers().await?);
    let desk = Arc::new(desk);
    store.sync_known_errors(&desk.knowledge).await?;
    let actor = operator(operador);
    let wanted = match id {
        Some(id) => vec![id],
        None => store.quarantine_list().await?.into_iter().map(|e| e.id).collect(),
    };
    if wanted.is_empty() {
        say!("No hay mensajes en cuarentena.");
    }
    let mut still_held = 0;
    for id in wanted {
        match desk.reprocess_quarantined(&store, id, &actor).await? {
            Ok(outcome) => {
                if matches!(outcome, Outcome::Quarantined { .. }) {
                    still_held += 1;
                }
                say!("mensaje {id}: {}", show::outcome(&outcome));
            }
            Err(why) => {
                store.close().await;
                return Err(not_held(id, &why));
            }
        }
    }
    store.close().await;
    Ok(if still_held == 0 { ExitCode::SUCCESS } else { ExitCode::from(EX_DATAERR) })
}
