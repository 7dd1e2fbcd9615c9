//! Base de conocimiento (issue 15, point 4): the known errors (search), proposals to change an
//! entry's meaning or first-contact answer (a coordinator approves them), the known errors
//! solved problemas propose (approved by the coordinator of the tema's group with the same
//! engine call as `#aprobar-error-conocido` by mail), and the first-contact guide as Markdown
//! or CSV, the same text as `mesa-fe kb export`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::page;
use super::session::{Viewer, percent_encode};
use crate::desk::command::{Action, Command};
use crate::desk::guide::Guide;
use crate::desk::knowledge::KnownError;
use crate::http::HttpState;
use crate::pipeline::{ActError, Desk};
use crate::store::StoreError;
use crate::store::console_masivas::ProposalRow;

/// Longest text accepted in a proposed change (a first-contact answer is a few paragraphs).
const MAX_TEXT: usize = 8000;
/// Proposed changes listed at most.
const EDITS_LISTED: i64 = 200;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/conocimiento", get(knowledge_page))
        .route("/conocimiento/propuesta", post(propose))
        .route("/conocimiento/aprobar", post(decide))
        .route("/conocimiento/guia.md", get(guide_markdown))
        .route("/conocimiento/guia.csv", get(guide_csv))
}

fn unavailable(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "consola: la base de datos no respondió (conocimiento)");
    page::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "La base de datos no respondió; intente de nuevo en un momento.",
    )
}

/// Back to the page with a flash: `hecho` (done) or `aviso` (refused, with why).
fn back(key: &str, message: &str) -> Response {
    let target = format!("/consola/conocimiento?{key}={}#propuestas", percent_encode(message));
    Redirect::to(&target).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    #[serde(default)]
    q: String,
    /// A known error's code: the proposal form starts from its current text.
    #[serde(default)]
    editar: String,
    #[serde(default)]
    hecho: String,
    #[serde(default)]
    aviso: String,
}

#[derive(Default, Serialize)]
struct EntryView {
    code: String,
    /// `code` for a query string.
    code_query: String,
    codes: String,
    severity: &'static str,
    official_message: String,
    meaning: String,
    answer: String,
}

impl EntryView {
    fn of(entry: &KnownError) -> EntryView {
        EntryView {
            code: entry.code.clone(),
            code_query: percent_encode(&entry.code),
            codes: entry.codes().collect::<Vec<_>>().join(", "),
            severity: entry.severity.label(),
            official_message: entry.official_message.clone(),
            meaning: entry.meaning.clone(),
            answer: entry.first_contact_answer.clone().unwrap_or_default(),
        }
    }
}

/// Whether `q`'s words all appear in the entry's codes or texts (case and accents ignored).
fn matches(entry: &KnownError, q: &str) -> bool {
    let text = crate::text::fold(&format!(
        "{} {} {} {}",
        entry.codes().collect::<Vec<_>>().join(" "),
        entry.official_message,
        entry.meaning,
        entry.first_contact_answer.as_deref().unwrap_or_default()
    ));
    crate::text::fold(q).split_whitespace().all(|word| text.contains(word))
}

#[derive(Serialize)]
struct ProposalView {
    #[serde(flatten)]
    row: ProposalRow,
    /// The viewer coordinates the N2 group of the case's tema: they may approve it.
    may_approve: bool,
}

/// `/consola/conocimiento`.
async fn knowledge_page(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Query(query): Query<PageQuery>,
) -> Response {
    let desk = state.live.desk();
    let q = query.q.trim();
    let entries: Vec<EntryView> = desk
        .knowledge
        .entries()
        .iter()
        .filter(|e| q.is_empty() || matches(e, q))
        .map(EntryView::of)
        .collect();
    let editing = desk.knowledge.get(query.editar.trim()).map(EntryView::of).unwrap_or_default();
    let loaded = async {
        let proposals = visible_proposals(&desk, &state, &viewer).await?;
        let edits = state.store.known_error_edits(EDITS_LISTED).await?;
        let learned = state.store.learned_errors().await?;
        let solutions = state.store.first_contact_solutions().await?;
        Ok::<_, StoreError>((proposals, edits, learned, solutions))
    };
    let (proposals, edits, learned, solutions) = match loaded.await {
        Ok(loaded) => loaded,
        Err(e) => return unavailable(&e),
    };
    let guide = Guide::new(&desk.knowledge, &solutions);
    let (pending, decided): (Vec<_>, Vec<_>) =
        edits.into_iter().partition(|e| e.status == "propuesta");
    let learned: Vec<serde_json::Value> = learned
        .iter()
        .map(|l| {
            serde_json::json!({
                "codes": l.codes.join(", "),
                "error_text": l.error_text,
                "answer": l.answer,
                "case_number": l.case_number,
            })
        })
        .collect();
    let ctx = serde_json::json!({
        "q": q,
        "entries": entries,
        "total": desk.knowledge.len(),
        "origin": desk.knowledge.origin(),
        "editing": editing,
        "proposals": proposals,
        "pending_edits": pending,
        "decided_edits": decided,
        "learned": learned,
        "guide_items": guide.items.len(),
        "hecho": query.hecho,
        "aviso": query.aviso,
    });
    page::render(&viewer, "conocimiento", "conocimiento.html", ctx)
}

/// The problemas' proposals on cases the viewer sees (their root cause is the agents' note).
async fn visible_proposals(
    desk: &Desk,
    state: &HttpState,
    viewer: &Viewer,
) -> Result<Vec<ProposalView>, StoreError> {
    let mut views = Vec::new();
    for row in state.store.pending_proposals().await? {
        let Some(found) = state.store.case_by_number(&row.case_number).await? else { continue };
        if !desk.sees(&viewer.actor, &found.case) {
            continue;
        }
        let group = desk.config.tema(found.case.tema).map(|t| t.n2_group.clone());
        let may_approve = group.is_some_and(|g| viewer.coordinates.contains(&g));
        views.push(ProposalView { row, may_approve });
    }
    Ok(views)
}

/// The form proposing a change of a known error.
#[derive(Debug, Default, Deserialize)]
struct ProposeForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    codigo: String,
    #[serde(default)]
    significado: String,
    #[serde(default)]
    respuesta: String,
}

/// POST `/consola/conocimiento/propuesta`: any agent or coordinator may propose.
async fn propose(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Form(form): Form<ProposeForm>,
) -> Response {
    if let Err(refused) = viewer.require_csrf(&form._csrf) {
        return refused;
    }
    let desk = state.live.desk();
    let Some(entry) = desk.knowledge.get(form.codigo.trim()) else {
        let why = format!(
            "La regla «{}» no está en la base de errores conocidos: escriba el código de una \
             entrada (por ejemplo FAD06).",
            form.codigo.trim()
        );
        return back("aviso", &why);
    };
    let (meaning, answer) = (form.significado.trim(), form.respuesta.trim());
    if meaning.is_empty() {
        return back("aviso", "Escriba el significado propuesto: no puede quedar vacío.");
    }
    if meaning.chars().count() > MAX_TEXT || answer.chars().count() > MAX_TEXT {
        return back("aviso", "El texto propuesto es demasiado largo (máximo 8000 caracteres).");
    }
    if meaning == entry.meaning && Some(answer) == entry.first_contact_answer.as_deref() {
        return back("aviso", "La propuesta es igual al texto actual: nada que aprobar.");
    }
    match state.store.propose_known_error_edit(&entry.code, meaning, answer, &viewer.address).await
    {
        Ok(id) => back(
            "hecho",
            &format!(
                "Propuesta n.º {id} para {} registrada: espera la aprobación de un coordinador.",
                entry.code
            ),
        ),
        Err(e) => unavailable(&e),
    }
}

/// The approval form: a problema's proposal (`tipo=problema`, `caso`) or a change of the base
/// (`tipo=edicion`, `id`, `decision` = `aprobar` or `rechazar`).
#[derive(Debug, Default, Deserialize)]
struct DecideForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    tipo: String,
    #[serde(default)]
    caso: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    decision: String,
}

/// POST `/consola/conocimiento/aprobar`: coordinators only (403 for anyone else).
async fn decide(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Form(form): Form<DecideForm>,
) -> Response {
    if let Err(refused) = viewer.require_csrf(&form._csrf) {
        return refused;
    }
    if !viewer.coordinates_any() {
        return page::error(
            StatusCode::FORBIDDEN,
            "Solo los coordinadores de grupo aprueban propuestas de la base de conocimiento.",
        );
    }
    match form.tipo.as_str() {
        "problema" => approve_problem(&state, &viewer, form.caso.trim()).await,
        "edicion" => decide_edit(&state, &viewer, &form).await,
        _ => page::error(StatusCode::BAD_REQUEST, "Tipo de propuesta desconocido."),
    }
}

/// The same engine call as `#aprobar-error-conocido` by mail, on the problema's case: the
/// engine refuses (with why) anyone but the coordinator of its tema's group.
async fn approve_problem(state: &HttpState, viewer: &Viewer, case: &str) -> Response {
    let desk = state.live.desk();
    let action = Action { command: Command::AprobarErrorConocido, text: String::new() };
    match desk.act_by_console(&state.store, case, &viewer.actor, &action).await {
        Ok(outcome) => match outcome.refusal {
            None => {
                if let Some(wake) = &state.outbox_wake {
                    wake.notify_one();
                }
                back("hecho", &format!("Error conocido del caso {} aprobado.", outcome.case))
            }
            Some(why) => back("aviso", &format!("No se aprobó: {why}")),
        },
        Err(ActError::Store(e)) => unavailable(&e),
        Err(e) => back("aviso", &format!("No se aprobó: {e}.")),
    }
}

async fn decide_edit(state: &HttpState, viewer: &Viewer, form: &DecideForm) -> Response {
    let Ok(id) = form.id.trim().parse::<i64>() else {
        return page::error(StatusCode::BAD_REQUEST, "Número de propuesta inválido.");
    };
    let approve = match form.decision.as_str() {
        "aprobar" => true,
        "rechazar" => false,
        _ => return page::error(StatusCode::BAD_REQUEST, "Decisión desconocida."),
    };
    match state.store.decide_known_error_edit(id, approve, &viewer.address).await {
        Ok(true) if approve => back(
            "hecho",
            &format!(
                "Propuesta n.º {id} aprobada: el operador la aplica al archivo de la base de \
                 errores conocidos."
            ),
        ),
        Ok(true) => back("hecho", &format!("Propuesta n.º {id} rechazada.")),
        Ok(false) => back("aviso", &format!("La propuesta n.º {id} ya no espera decisión.")),
        Err(e) => unavailable(&e),
    }
}

/// The guide as `kb export` builds it: the live base and the stored first-contact solutions.
async fn guide(state: &HttpState) -> Result<Guide, StoreError> {
    let desk = state.live.desk();
    let solutions = state.store.first_contact_solutions().await?;
    Ok(Guide::new(&desk.knowledge, &solutions))
}

fn download(content_type: &'static str, file: &'static str, body: String) -> Response {
    let disposition = format!("attachment; filename=\"{file}\"");
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// `/consola/conocimiento/guia.md`.
async fn guide_markdown(State(state): State<Arc<HttpState>>, _viewer: Viewer) -> Response {
    match guide(&state).await {
        Ok(g) => {
            download("text/markdown; charset=utf-8", "guia-primer-contacto.md", g.to_markdown())
        }
        Err(e) => unavailable(&e),
    }
}

/// `/consola/conocimiento/guia.csv`.
async fn guide_csv(State(state): State<Arc<HttpState>>, _viewer: Viewer) -> Response {
    match guide(&state).await {
        Ok(g) => download("text/csv; charset=utf-8", "guia-primer-contacto.csv", g.to_csv()),
        Err(e) => unavailable(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::knowledge::KnowledgeBase;

    #[test]
    fn the_search_finds_an_entry_by_an_equivalent_code_and_by_words_without_accents() {
        let base = KnowledgeBase::builtin();
        let fad06 = base.get("FAD06").expect("FAD06 is built in");
        let equivalent = fad06.equivalents.first().expect("FAD06 has equivalents").to_lowercase();
        assert!(matches(fad06, &equivalent));
        assert!(!matches(fad06, "ZZZ-no-existe"));
        let word = crate::text::fold(&fad06.official_message);
        let first = word.split_whitespace().max_by_key(|w| w.len()).expect("a word");
        assert!(matches(fad06, &first.to_uppercase()));
    }
}
