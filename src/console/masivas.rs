//! Masivas (issue 15, point 3): the mass-incident suggestions the desk made (a spike of one DIAN
//! rule), the parents with children, a view to link candidate cases to a parent in one action
//! (the engine's `#padre` per case, via consola), and a parent's progress: the solution mailed
//! to each child and the validation sample's answers.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::page;
use super::session::{Viewer, percent_encode};
use crate::desk::command::{Action, Command};
use crate::http::HttpState;
use crate::pipeline::{ActError, Desk};
use crate::store::StoreError;
use crate::store::console_masivas::{ChildMail, ChildRow};

/// Suggestions and parents listed at most.
const LISTED: i64 = 100;
/// Candidate cases offered at most in one linking form.
const CANDIDATES: i64 = 200;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/masivas", get(overview))
        .route("/masivas/vincular", get(link_form).post(link))
        .route("/masivas/{padre}", get(parent_page))
}

/// The flash of a Post/Redirect/Get.
#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    #[serde(default)]
    hecho: String,
    #[serde(default)]
    aviso: String,
}

fn unavailable(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "consola: la base de datos no respondió (masivas)");
    page::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "La base de datos no respondió; intente de nuevo en un momento.",
    )
}

#[derive(Serialize)]
struct SuggestionView {
    code: String,
    /// `code` for a query string.
    code_query: String,
    known_error: String,
    open_cases: i64,
    counted: i64,
    group: String,
    created_at: String,
}

#[derive(Serialize)]
struct ParentView {
    number: String,
    subject: String,
    status: String,
    children: i64,
    open_children: i64,
}

/// `/consola/masivas`: the suggestions of the viewer's groups and the parents they see.
async fn overview(State(state): State<Arc<HttpState>>, viewer: Viewer) -> Response {
    match overview_page(&state, &viewer).await {
        Ok(response) => response,
        Err(e) => unavailable(&e),
    }
}

async fn overview_page(state: &HttpState, viewer: &Viewer) -> Result<Response, StoreError> {
    let desk = state.live.desk();
    let config = &desk.config;
    let since =
        chrono::Utc::now() - chrono::Duration::minutes(i64::from(config.masiva.window_minutes));
    let mut suggestions = Vec::new();
    for row in state.store.mass_suggestions(LISTED).await? {
        // A suggestion goes to the coordinator of the tema's N2 group: its group's people see it.
        let group = config
            .grupos
            .iter()
            .find(|g| g.coordinator.eq_ignore_ascii_case(&row.coordinator))
            .map(|g| g.name.clone())
            .unwrap_or_default();
        if !viewer.groups.contains(&group) {
            continue;
        }
        let known_error =
            desk.knowledge.get(&row.code).map(|k| k.official_message.clone()).unwrap_or_else(
                || "Regla sin entrada en la base de errores conocidos.".to_string(),
            );
        suggestions.push(SuggestionView {
            open_cases: state.store.open_cases_with_code(&row.code, since).await?,
            code_query: percent_encode(&row.code),
            code: row.code,
            known_error,
            counted: row.case_count,
            group,
            created_at: row.created_at,
        });
    }
    let mut parents = Vec::new();
    for row in state.store.mass_parents(LISTED).await? {
        let Some(found) = state.store.case_by_id(row.id).await? else { continue };
        if desk.sees(&viewer.actor, &found.case) {
            parents.push(ParentView {
                number: row.number,
                subject: row.subject,
                status: row.status,
                children: row.children,
                open_children: row.open_children,
            });
        }
    }
    let ctx = serde_json::json!({
        "suggestions": suggestions,
        "parents": parents,
        "window_minutes": config.masiva.window_minutes,
    });
    Ok(page::render(viewer, "masivas", "masivas.html", ctx))
}

/// The linking form's query: the parent, a rule code, words.
#[derive(Debug, Default, Deserialize)]
struct LinkQuery {
    #[serde(default)]
    padre: String,
    #[serde(default)]
    codigo: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    aviso: String,
}

#[derive(Serialize)]
struct Candidate {
    number: String,
    subject: String,
    status: String,
    level: String,
    created: String,
}

/// `/consola/masivas/vincular?padre=&codigo=&q=`: open cases the viewer sees, to check.
async fn link_form(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Query(query): Query<LinkQuery>,
) -> Response {
    let desk = state.live.desk();
    let parent = query.padre.trim().to_uppercase();
    let code = query.codigo.trim().to_uppercase();
    let words = query.q.trim().to_string();
    let mut candidates = Vec::new();
    if !code.is_empty() || !words.is_empty() {
        let rows = match state.store.mass_candidates(&parent, &code, &words, CANDIDATES).await {
            Ok(rows) => rows,
            Err(e) => return unavailable(&e),
        };
        for row in rows {
            match state.store.case_by_id(row.id).await {
                Ok(Some(found)) if desk.sees(&viewer.actor, &found.case) => {
                    candidates.push(Candidate {
                        number: row.number,
                        subject: row.subject,
                        status: row.status,
                        level: row.level,
                        created: row.created_at.get(..16).unwrap_or_default().replace('T', " "),
                    })
                }
                Ok(_) => {}
                Err(e) => return unavailable(&e),
            }
        }
    }
    let ctx = serde_json::json!({
        "parent": parent,
        "code": code,
        "q": words,
        "searched": !code.is_empty() || !words.is_empty(),
        "candidates": candidates,
        "aviso": query.aviso,
    });
    page::render(&viewer, "masivas", "masivas_vincular.html", ctx)
}

/// POST `/consola/masivas/vincular`: `#padre` on every checked case, one by one. The body is
/// read as pairs: `hijos` repeats, which a struct would not take.
async fn link(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    if let Err(refused) = viewer.require_csrf(&field("_csrf")) {
        return refused;
    }
    let parent = field("padre").to_uppercase();
    let children: Vec<String> = fields
        .iter()
        .filter(|(k, v)| k == "hijos" && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_uppercase())
        .collect();
    let back = |aviso: &str| {
        let target = format!(
            "/consola/masivas/vincular?padre={}&codigo={}&q={}&aviso={}",
            percent_encode(&parent),
            percent_encode(&field("codigo")),
            percent_encode(&field("q")),
            percent_encode(aviso)
        );
        Redirect::to(&target).into_response()
    };
    if parent.is_empty() {
        return back("Escriba el número del caso padre.");
    }
    if children.is_empty() {
        return back("Marque al menos un caso para vincular.");
    }
    let desk = state.live.desk();
    match state.store.case_by_number(&parent).await {
        Ok(Some(found)) if desk.sees(&viewer.actor, &found.case) => {}
        Ok(Some(_)) => return back(&format!("El caso padre {parent} no es de sus grupos.")),
        Ok(None) => return back(&format!("El caso padre {parent} no existe.")),
        Err(e) => return unavailable(&e),
    }
    let (linked, refused) = link_each(&desk, &state, &viewer, &parent, &children).await;
    if let Some(wake) = &state.outbox_wake {
        wake.notify_one();
    }
    let mut flash = Vec::new();
    if !linked.is_empty() {
        let done = format!("Vinculados al caso padre {parent}: {}.", linked.join(", "));
        flash.push(format!("hecho={}", percent_encode(&done)));
    }
    if !refused.is_empty() {
        let why = format!("No vinculados: {}.", refused.join("; "));
        flash.push(format!("aviso={}", percent_encode(&why)));
    }
    Redirect::to(&format!("/consola/masivas/{parent}?{}", flash.join("&"))).into_response()
}

/// The engine's `#padre` on each child: the numbers linked, and "number: reason" of the refused.
async fn link_each(
    desk: &Desk,
    state: &HttpState,
    viewer: &Viewer,
    parent: &str,
    children: &[String],
) -> (Vec<String>, Vec<String>) {
    let (mut linked, mut refused) = (Vec::new(), Vec::new());
    for child in children {
        let action = Action { command: Command::Padre(parent.to_string()), text: String::new() };
        match desk.act_by_console(&state.store, child, &viewer.actor, &action).await {
            Ok(outcome) => match outcome.refusal {
                None => linked.push(outcome.case),
                Some(why) => refused.push(format!("{child}: {why}")),
            },
            Err(ActError::Store(e)) => {
                tracing::warn!(error = %e, "consola: no se pudo vincular un caso");
                refused.push(format!("{child}: la base de datos no respondió"));
            }
            Err(e) => refused.push(format!("{child}: {e}")),
        }
    }
    (linked, refused)
}

/// What the children's mail has come to, by kind.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Progress {
    pub queued: usize,
    pub retrying: usize,
    pub sent: usize,
    pub failed: usize,
    pub bounced: usize,
}

impl Progress {
    fn of<'a>(mail: impl Iterator<Item = &'a ChildMail>) -> Progress {
        let mut p = Progress::default();
        for m in mail {
            if m.bounced_at.is_some() {
                p.bounced += 1;
                continue;
            }
            match m.status.as_str() {
                "enviado" => p.sent += 1,
                "fallo_temporal" => p.retrying += 1,
                "fallo_permanente" => p.failed += 1,
                _ => p.queued += 1,
            }
        }
        p
    }
}

#[derive(Serialize)]
struct ChildView {
    number: String,
    status: String,
    requester: String,
    solution: String,
    asked: bool,
    answer: String,
}

/// `/consola/masivas/{padre}`: the parent, its children and the mail they got.
async fn parent_page(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Path(number): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    let desk = state.live.desk();
    let number = number.to_uppercase();
    let found = match state.store.case_by_number(&number).await {
        Ok(Some(found)) => found,
        Ok(None) => return page::error(StatusCode::NOT_FOUND, "Ese caso no existe."),
        Err(e) => return unavailable(&e),
    };
    if !desk.sees(&viewer.actor, &found.case) {
        return page::error(StatusCode::FORBIDDEN, "Ese caso no es de sus grupos.");
    }
    let loaded = async {
        let children = state.store.children_rows(found.id).await?;
        let mail = state.store.children_mail(found.id).await?;
        let detail = state.store.case_detail(&found.number).await?;
        Ok::<_, StoreError>((children, mail, detail))
    };
    let (children, mail, detail) = match loaded.await {
        Ok(loaded) => loaded,
        Err(e) => return unavailable(&e),
    };
    let answers: Vec<(String, String)> = detail
        .iter()
        .flat_map(|d| d.events.iter())
        .filter_map(|e| validation_answer(&e.detail))
        .collect();
    let views: Vec<ChildView> = children.iter().map(|c| child_view(c, &mail, &answers)).collect();
    let solution = Progress::of(mail.iter().filter(|m| m.kind == "solucion"));
    let validation = Progress::of(mail.iter().filter(|m| m.kind == "validacion_masiva"));
    let asked: Vec<&ChildView> = views.iter().filter(|c| c.asked).collect();
    let ctx = serde_json::json!({
        "number": found.number,
        "subject": detail.as_ref().map(|d| d.summary.subject.clone()).unwrap_or_default(),
        "status": found.case.status.as_str(),
        "level": found.case.level.as_str(),
        "case_type": found.case.case_type.as_str(),
        "children": views,
        "solution": solution,
        "validation": validation,
        "asked": asked,
        "hecho": flash.hecho,
        "aviso": flash.aviso,
    });
    page::render(&viewer, "masivas", "masivas_padre.html", ctx)
}

fn child_view(child: &ChildRow, mail: &[ChildMail], answers: &[(String, String)]) -> ChildView {
    let own = |kind: &str| mail.iter().rfind(|m| m.number == child.number && m.kind == kind);
    let solution = match own("solucion") {
        None => "sin enviar".to_string(),
        Some(m) if m.bounced_at.is_some() => "rebotado".to_string(),
        Some(m) => outbox_status_label(&m.status).to_string(),
    };
    let answer = answers.iter().rfind(|(n, _)| *n == child.number).map(|(_, a)| a.clone());
    ChildView {
        number: child.number.clone(),
        status: child.status.clone(),
        requester: child.requester.clone(),
        solution,
        asked: own("validacion_masiva").is_some(),
        answer: answer.unwrap_or_else(|| "sin respuesta aún".to_string()),
    }
}

fn outbox_status_label(status: &str) -> &'static str {
    match status {
        "enviado" => "enviado",
        "fallo_temporal" => "reintentando",
        "fallo_permanente" => "fallido",
        _ => "en cola",
    }
}

/// The parent's note of a child's answer to "¿se resolvió?" (written by the desk as
/// "Validación del caso hijo FE-…: resuelto." or "…: no resuelto; el hijo se reabre."):
/// `(child, answer)`.
pub fn validation_answer(detail: &str) -> Option<(String, String)> {
    let rest = detail.strip_prefix("Validación del caso hijo ")?;
    let (child, answer) = rest.split_once(": ")?;
    let answer = answer.trim_end_matches('.').trim();
    Some((child.to_string(), answer.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_note_gives_the_child_and_its_answer() {
        assert_eq!(
            validation_answer("Validación del caso hijo FE-2026-000002: resuelto."),
            Some(("FE-2026-000002".into(), "resuelto".into()))
        );
        assert_eq!(
            validation_answer(
                "Validación del caso hijo FE-2026-000003: no resuelto; el hijo se reabre."
            ),
            Some(("FE-2026-000003".into(), "no resuelto; el hijo se reabre".into()))
        );
        assert_eq!(validation_answer("Afectación masiva: solución entregada"), None);
    }

    #[test]
    fn a_bounced_mail_counts_as_bounced_not_as_sent() {
        let mail = |status: &str, bounced: bool| ChildMail {
            number: "FE-2026-000001".into(),
            kind: "solucion".into(),
            status: status.into(),
            bounced_at: bounced.then(|| "2026-12-07T12:00:00Z".into()),
        };
        let rows = [
            mail("pendiente", false),
            mail("enviado", false),
            mail("enviado", true),
            mail("fallo_permanente", false),
            mail("fallo_temporal", false),
        ];
        let p = Progress::of(rows.iter());
        assert_eq!(p, Progress { queued: 1, retrying: 1, sent: 1, failed: 1, bounced: 1 });
    }
}
