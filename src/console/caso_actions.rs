//! `POST /consola/caso/{numero}/accion`: the case page's forms. Each builds the same
//! [`Action`] as `mesa-fe case …` (src/cli/act.rs) and calls the engine as the viewer
//! ([`crate::pipeline::Desk::act_by_console`]); a preview ([`Desk::preview_action`]) shows the
//! mail it would queue without writing anything.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::caso::{self, AgentChoice, Flash};
use super::page;
use super::session::{Viewer, query_encode};
use crate::config::Config;
use crate::desk::CaseType;
use crate::desk::case::Case;
use crate::desk::command::{Action, Command};
use crate::http::HttpState;
use crate::pipeline::{ActError, Desk};
use crate::store::cases::FoundCase;
use crate::store::outbox::OutboxDraft;

/// The fields of every action form (each form sends its own; the rest stay empty).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct FormFields {
    #[serde(skip_serializing)]
    pub _csrf: String,
    pub accion: String,
    pub texto: String,
    /// `asignar`: the agent's address.
    pub destino: String,
    /// `escalar`: `""` (next level), `n3-tecnico` or `csat`.
    pub escalar_a: String,
    /// `escalar` to Administración Técnica without the requester's XML: why it does not apply.
    pub motivo_sin_xml: String,
    pub padre: String,
    pub tipo: String,
    /// `solucionar`: the solution goes into the first-contact guide.
    pub primer_contacto: Option<String>,
    /// Present when the preview button was pressed.
    #[serde(skip_serializing)]
    pub vista_previa: Option<String>,
}

/// The mail an action would send, shown before it is sent.
#[derive(Debug, Serialize)]
pub struct Preview {
    pub accion: String,
    pub mails: Vec<PreviewMail>,
    /// The engine would refuse the action: why.
    pub refusal: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PreviewMail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// The actions whose forms have a preview (they send mail to someone outside the desk).
const WITH_PREVIEW: [&str; 3] = ["info", "solucionar", "escalar"];

pub async fn act(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Path(numero): Path<String>,
    Form(form): Form<FormFields>,
) -> Response {
    if let Err(refused) = viewer.require_csrf(&form._csrf) {
        return refused;
    }
    let found = match caso::visible_case(&state, &viewer, &numero).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let action = match action_of(&form) {
        Ok(action) => action,
        Err(why) => return back(&found.number, "aviso", &why),
    };
    if form.vista_previa.is_some() && WITH_PREVIEW.contains(&form.accion.as_str()) {
        return preview(&state, &viewer, &found, &action, form).await;
    }
    let desk = state.live.desk();
    let outcome = desk.act_by_console(&state.store, &found.number, &viewer.actor, &action).await;
    if let Some(wake) = &state.outbox_wake {
        wake.notify_one();
    }
    match outcome {
        Ok(outcome) => match outcome.refusal {
            Some(why) => back(&found.number, "aviso", &format!("No se aplicó: {why}")),
            None => {
                let children = match outcome.children_solved {
                    0 => String::new(),
                    n => format!("; solución enviada a {n} casos hijos"),
                };
                let done = format!(
                    "#{} aplicado: el caso queda {} en {}{children}.",
                    action.command.name(),
                    outcome.status.as_str().replace('_', " "),
                    outcome.level.as_str().replace('_', " ")
                );
                back(&found.number, "hecho", &done)
            }
        },
        Err(ActError::NotVisible(_)) => caso::not_visible(),
        Err(ActError::NoCase(_)) => {
            page::error(StatusCode::NOT_FOUND, "No hay un caso con ese número.")
        }
        Err(ActError::Store(e)) => caso::store_unavailable(&e),
        Err(e @ ActError::NotAnAgent(_)) => page::error(StatusCode::FORBIDDEN, &e.to_string()),
    }
}

/// Post/Redirect/Get: back to the case with the result in the query string.
fn back(number: &str, kind: &str, message: &str) -> Response {
    let target = format!("/consola/caso/{number}?{kind}={}", query_encode(message));
    Redirect::to(&target).into_response()
}

/// The form as the CLI's command (`case note|info|solve|escalate|assign|link|type|close|reopen`):
/// the same [`Command`] for the same words, and the same need of a text.
fn action_of(form: &FormFields) -> Result<Action, String> {
    let (command, needs_text) = match form.accion.as_str() {
        "nota" => (Command::Nota, true),
        "info" => (Command::Info, true),
        "solucionar" => (Command::Solucion { first_contact: form.primer_contacto.is_some() }, true),
        "escalar" => (escalation(&form.escalar_a, &form.motivo_sin_xml)?, false),
        "asignar" if form.destino.trim().is_empty() => {
            return Err("Elija el agente que recibe el caso.".into());
        }
        "asignar" => (Command::Asignar(form.destino.trim().to_lowercase()), false),
        "padre" if form.padre.trim().is_empty() => {
            return Err("Escriba el número del caso padre (FE-AAAA-NNNNNN).".into());
        }
        "padre" => (Command::Padre(form.padre.trim().to_uppercase()), false),
        "tipo" => match CaseType::read(&form.tipo) {
            Some(case_type) => (Command::Tipo(case_type), false),
            None => {
                return Err(format!(
                    "tipo desconocido \"{}\": use incidente, requerimiento, cambio o problema",
                    form.tipo
                ));
            }
        },
        "cerrar" => (Command::Cerrar, false),
        "reabrir" => (Command::Reabrir, false),
        other => return Err(format!("acción desconocida \"{other}\"")),
    };
    if needs_text && form.texto.trim().is_empty() {
        return Err(format!(
            "#{} necesita un texto: escríbalo en el cuadro de la acción.",
            command.name()
        ));
    }
    Ok(Action { command, text: form.texto.trim().to_string() })
}

/// As the CLI's `--n3-tecnico`, `--csat`, `--sin-xml MOTIVO` (which implies `--csat`), or the
/// next level.
fn escalation(target: &str, without_xml: &str) -> Result<Command, String> {
    let without_xml = without_xml.trim();
    Ok(match target.trim() {
        "n3-tecnico" if !without_xml.is_empty() => {
            return Err(
                "El motivo sin XML solo aplica al escalar a Administración Técnica (csat).".into(),
            );
        }
        "n3-tecnico" => Command::EscalarN3Tecnico,
        "csat" | "" if !without_xml.is_empty() => {
            Command::EscalarCsat { without_xml: Some(without_xml.to_string()) }
        }
        "csat" => Command::EscalarCsat { without_xml: None },
        "" => Command::Escalar,
        other => return Err(format!("destino de escalamiento desconocido \"{other}\"")),
    })
}

/// The page again with the mail the action would send and its form as it was filled in.
async fn preview(
    state: &HttpState,
    viewer: &Viewer,
    found: &FoundCase,
    action: &Action,
    form: FormFields,
) -> Response {
    let desk = state.live.desk();
    let (drafts, refusal) =
        match desk.preview_action(&state.store, found, &viewer.actor, action).await {
            Ok(result) => result,
            Err(e) => return caso::store_unavailable(&e),
        };
    let mails = drafts.iter().map(|draft| preview_mail(state, &desk, found, draft)).collect();
    let preview = Preview { accion: form.accion.clone(), mails, refusal };
    caso::case_page(state, viewer, found, Flash::default(), Some(preview), form).await
}

/// A draft rendered as the outbox renders it (the same context additions), text body only.
fn preview_mail(
    state: &HttpState,
    desk: &Desk,
    found: &FoundCase,
    draft: &OutboxDraft,
) -> PreviewMail {
    let buzon = desk.config.buzon(&draft.buzon);
    let sender = buzon.and_then(|b| b.smtp.as_ref()).map(|s| s.sender_name.clone());
    let mut context = draft.context.to_value();
    let answers: Vec<serde_json::Value> = (draft.context.known_errors.iter().flatten())
        .filter_map(|code| desk.knowledge.get(code))
        .map(|k| {
            json!({"code": k.code, "official_message": k.official_message, "meaning": k.meaning,
                   "answer": k.first_contact_answer})
        })
        .chain(draft.context.learned_answers.iter().flatten().map(|l| json!(l)))
        .collect();
    if let serde_json::Value::Object(map) = &mut context {
        let zone = desk.config.zone();
        map.insert("known_error_answers".into(), serde_json::Value::Array(answers));
        map.insert("buzon_address".into(), json!(buzon.map(|b| b.address.clone())));
        map.insert("desk_name".into(), json!(sender));
        map.insert("zona_horaria".into(), json!(zone.tz_name()));
        map.insert("zona_horaria_horas".into(), json!(zone.offset_hours(chrono::Utc::now())));
        map.entry("case").or_insert_with(|| json!(found.number));
    }
    let text = match state.live.templates().render(draft.kind.as_str(), &context) {
        Ok((text, _html)) => text,
        Err(e) => format!("(No se pudo componer el texto del correo: {e})"),
    };
    PreviewMail { to: draft.to.clone(), subject: draft.subject.clone(), text }
}

/// The active agents of the case's group (or of its tema's N2 group before it has one).
pub fn assignable_agents(config: &Config, case: &Case, chosen: &str) -> Vec<AgentChoice> {
    let tema_group = config.tema(case.tema).map(|t| t.n2_group.clone());
    let group = case.group.clone().or(tema_group).unwrap_or_default();
    config
        .active_agents(&group)
        .map(|a| AgentChoice {
            address: a.address.to_lowercase(),
            name: a.name.clone(),
            selected: a.address.eq_ignore_ascii_case(chosen),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(accion: &str) -> FormFields {
        FormFields { accion: accion.into(), ..FormFields::default() }
    }

    #[test]
    fn the_forms_build_the_clis_commands() {
        let mut solve = form("solucionar");
        solve.texto = " Reenvíe el XML. ".into();
        solve.primer_contacto = Some("1".into());
        let action = action_of(&solve).expect("solución");
        assert_eq!(action.command, Command::Solucion { first_contact: true });
        assert_eq!(action.text, "Reenvíe el XML.");
        let mut assign = form("asignar");
        assign.destino = "Ana.Rojas@dian.gov.co".into();
        assert_eq!(
            action_of(&assign).expect("asignar").command,
            Command::Asignar("ana.rojas@dian.gov.co".into())
        );
        let mut link = form("padre");
        link.padre = "fe-2026-000001".into();
        assert_eq!(
            action_of(&link).expect("padre").command,
            Command::Padre("FE-2026-000001".into())
        );
        assert!(action_of(&form("nota")).is_err(), "una nota necesita texto");
        assert!(action_of(&form("borrar")).is_err());
        assert_eq!(action_of(&form("cerrar")).expect("cerrar").command, Command::Cerrar);
    }

    #[test]
    fn escalation_targets_are_the_clis() {
        assert_eq!(escalation("", ""), Ok(Command::Escalar));
        assert_eq!(escalation("n3-tecnico", ""), Ok(Command::EscalarN3Tecnico));
        assert_eq!(escalation("csat", ""), Ok(Command::EscalarCsat { without_xml: None }));
        assert_eq!(
            escalation("csat", " no aplica "),
            Ok(Command::EscalarCsat { without_xml: Some("no aplica".into()) })
        );
        assert!(escalation("n3-tecnico", "motivo").is_err());
        assert!(escalation("n4", "").is_err());
    }
}
