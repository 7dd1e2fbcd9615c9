//! `/consola/caso/{numero}`: one case as its agents need it: the header, the timeline (messages
//! with their attachments, the desk's mail, activities 1–12, agents' actions, SLA breaches), the
//! DIAN documents with the known-error text of their rules, missing requirements, related cases,
//! and the action forms ([`super::caso_actions`]). Only for viewers who may see the case.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::caso_actions::{self, FormFields, Preview};
use super::page;
use super::session::Viewer;
use crate::desk::case::Activity;
use crate::desk::knowledge::KnowledgeBase;
use crate::desk::zone::Zone;
use crate::desk::{CaseType, Requirement, Tema};
use crate::http::HttpState;
use crate::store::cases::{CaseDetail, EventRow, FoundCase};
use crate::store::console_case::CaseTimeline;

/// The case page's routes.
pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/caso/{numero}", get(show))
        .route("/caso/{numero}/accion", post(caso_actions::act))
        .route("/caso/{numero}/adjunto/{mensaje}/{indice}", get(attachment))
}

/// The result of the last action, carried in the query string after a POST.
#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    pub hecho: Option<String>,
    pub aviso: Option<String>,
}

async fn show(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Path(numero): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    let found = match visible_case(&state, &viewer, &numero).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    case_page(&state, &viewer, &found, flash, None, FormFields::default()).await
}

/// The case named in the path, if it exists (404) and the viewer may see it (403).
#[allow(clippy::result_large_err)]
pub async fn visible_case(
    state: &HttpState,
    viewer: &Viewer,
    numero: &str,
) -> Result<FoundCase, Response> {
    match state.store.case_by_number(&numero.trim().to_uppercase()).await {
        Ok(Some(found)) if state.live.desk().sees(&viewer.actor, &found.case) => Ok(found),
        Ok(Some(_)) => Err(not_visible()),
        Ok(None) => Err(page::error(StatusCode::NOT_FOUND, "No hay un caso con ese número.")),
        Err(e) => Err(store_unavailable(&e)),
    }
}

pub fn not_visible() -> Response {
    page::error(
        StatusCode::FORBIDDEN,
        "Este caso no es de sus grupos (o es un evento de seguridad, que solo ve el grupo de \
         seguridad).",
    )
}

pub fn store_unavailable(e: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "consola: la base de datos no respondió (caso)");
    page::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "La base de datos no respondió; intente de nuevo en un momento.",
    )
}

/// The whole page: the case, the flash of the last action, and a preview with its form kept.
pub async fn case_page(
    state: &HttpState,
    viewer: &Viewer,
    found: &FoundCase,
    flash: Flash,
    preview: Option<Preview>,
    form: FormFields,
) -> Response {
    let detail = match state.store.case_detail(&found.number).await {
        Ok(Some(detail)) => detail,
        Ok(None) => return page::error(StatusCode::NOT_FOUND, "No hay un caso con ese número."),
        Err(e) => return store_unavailable(&e),
    };
    let timeline = match state.store.case_timeline(found.id).await {
        Ok(timeline) => timeline,
        Err(e) => return store_unavailable(&e),
    };
    let desk = state.live.desk();
    let zone = desk.config.zone();
    let view = CaseView {
        header: header_of(&detail, found, &zone),
        timeline: timeline_of(&timeline, &detail.events, &zone),
        zone: zone.label(),
        documents: documents_of(&timeline, &desk.knowledge),
        loose_rules: timeline
            .rejections
            .iter()
            .filter(|r| r.document_id.is_none())
            .map(|r| rule_of(&r.code, &r.description, &desk.knowledge))
            .collect(),
        missing: detail.missing_requirements.iter().map(|m| requirement_label(m)).collect(),
        related: Related {
            parent: detail.parent.clone(),
            children: detail.children.clone(),
            merged_into: detail.merged_into.clone(),
            merged_here: detail.merged_here.clone(),
            same_cufe: detail
                .same_cufe
                .iter()
                .map(|c| SameCufe {
                    number: c.number.clone(),
                    status: c.status.clone(),
                    uuid: c.uuid.clone(),
                })
                .collect(),
        },
        agents: caso_actions::assignable_agents(&desk.config, &found.case, &form.destino),
        types: CaseType::ALL
            .iter()
            .map(|t| Choice { value: t.as_str().to_string(), selected: form.tipo == t.as_str() })
            .collect(),
        hecho: flash.hecho,
        aviso: flash.aviso,
        preview,
        form,
    };
    page::render(viewer, "bandeja", "caso.html", view)
}

#[derive(Debug, Serialize)]
struct CaseView {
    header: Header,
    timeline: Vec<Entry>,
    zone: String,
    documents: Vec<DocumentView>,
    loose_rules: Vec<Rule>,
    missing: Vec<String>,
    related: Related,
    agents: Vec<AgentChoice>,
    types: Vec<Choice>,
    hecho: Option<String>,
    aviso: Option<String>,
    preview: Option<Preview>,
    form: FormFields,
}

#[derive(Debug, Serialize)]
struct Header {
    number: String,
    subject: String,
    status: String,
    level: String,
    group: Option<String>,
    agent: Option<String>,
    tema: String,
    channel: String,
    case_type: String,
    requester: String,
    requester_name: Option<String>,
    external_ref: Option<String>,
    security_category: Option<String>,
    root_cause: Option<String>,
    first_contact: bool,
    purged_at: Option<String>,
    follow_up_until: Option<String>,
}

fn header_of(d: &CaseDetail, found: &FoundCase, zone: &Zone) -> Header {
    let s = &d.summary;
    Header {
        number: s.number.clone(),
        subject: s.subject.clone(),
        status: found.case.status.label().to_string(),
        level: super::bandeja::level_label(found.case.level).to_string(),
        group: d.group.clone(),
        agent: s.agent.clone(),
        tema: Tema::parse(&s.tema).map_or_else(|| s.tema.clone(), |t| t.label().to_string()),
        channel: found.case.channel.label().to_string(),
        case_type: found.case.case_type.label().to_string(),
        requester: d.requester.clone(),
        requester_name: d.requester_name.clone(),
        external_ref: d.external_ref.clone(),
        security_category: d.security_category.clone(),
        root_cause: d.root_cause.clone(),
        first_contact: d.first_contact,
        purged_at: d.purged_at.as_deref().map(|at| zone.show_stored(at)),
        follow_up_until: d.follow_up_until.as_deref().map(|at| zone.show_stored(at)),
    }
}

/// One line of the timeline. `kind`: `mensaje`, `comando`, `correo`, `actividad`, `accion`,
/// `sla` (a CSS class and the word shown).
#[derive(Debug, Serialize)]
struct Entry {
    #[serde(skip)]
    sort: String,
    at: String,
    kind: &'static str,
    label: &'static str,
    title: String,
    subject: Option<String>,
    text: String,
    attachments: Vec<AttachmentLink>,
    problems: Vec<String>,
    refused: bool,
}

#[derive(Debug, Serialize)]
struct AttachmentLink {
    message: i64,
    index: usize,
    name: String,
    content_type: String,
    size: String,
}

impl Entry {
    fn new(stored_at: &str, zone: &Zone, kind: &'static str, label: &'static str) -> Entry {
        Entry {
            sort: stored_at.to_string(),
            at: zone.show_stored(stored_at),
            kind,
            label,
            title: String::new(),
            subject: None,
            text: String::new(),
            attachments: Vec::new(),
            problems: Vec::new(),
            refused: false,
        }
    }
}

/// Everything that happened on the case, in time order (ties keep the order below).
fn timeline_of(t: &CaseTimeline, events: &[EventRow], zone: &Zone) -> Vec<Entry> {
    let mut entries = message_entries(t, zone);
    entries.extend(t.mails.iter().map(|o| {
        let mut e = Entry::new(&o.created_at, zone, "correo", "Correo de la mesa");
        let status = match o.status.as_str() {
            "pendiente" => "en cola".to_string(),
            other => other.replace('_', " "),
        };
        e.title = format!("Para {} · {} · {status}", o.to_addr, o.kind.replace('_', " "));
        e.subject = Some(o.subject.clone());
        if let Some(error) = &o.last_error {
            e.text = format!("Respuesta del servidor: {error}");
        }
        e
    }));
    entries.extend(events.iter().map(|ev| {
        let mut e = Entry::new(&ev.created_at, zone, "actividad", "Actividad");
        e.title = format!(
            "Actividad {} · {} → {} / {}",
            ev.activity,
            activity_name(ev.activity),
            ev.to_status.replace('_', " "),
            ev.to_level.replace('_', " ")
        );
        e.subject = Some(format!("Por {}", ev.actor));
        e.text = ev.detail.clone();
        e
    }));
    entries.extend(t.actions.iter().map(|a| {
        let mut e = Entry::new(&a.created_at, zone, "accion", "Acción de agente");
        let argument = a.argument.as_deref().map(|x| format!(" {x}")).unwrap_or_default();
        e.title = format!("{} vía {}: #{}{argument} (en {})", a.actor, a.via, a.command, a.level);
        e.text = a.text.clone();
        e.refused = a.refused != 0;
        e
    }));
    entries.extend(t.breaches.iter().map(|b| {
        let mut e = Entry::new(&b.detected_at, zone, "sla", "Nivel de servicio");
        let target = if b.target == "solucion" { "solución" } else { "primera respuesta" };
        e.title = format!("Vencido el plazo de {target} en {}", b.level.replace('_', " "));
        e.text = format!("Vencía {}", zone.show_stored(&b.due_at));
        e
    }));
    // Stable: rows of the same instant keep the order above (message, mail, activity, action).
    entries.sort_by(|a, b| a.sort.cmp(&b.sort));
    entries
}

/// The messages on the case, each with the links to its attachments (numbered per message in
/// stored order, the parser's order: what the download reads again).
fn message_entries(t: &CaseTimeline, zone: &Zone) -> Vec<Entry> {
    let mut links: HashMap<i64, Vec<AttachmentLink>> = HashMap::new();
    for a in &t.attachments {
        let list = links.entry(a.case_message_id).or_default();
        list.push(AttachmentLink {
            message: a.case_message_id,
            index: list.len(),
            name: a.source.clone(),
            content_type: a.content_type.clone(),
            size: human_size(a.size_bytes),
        });
    }
    t.messages
        .iter()
        .map(|m| {
            let (kind, label) = match m.direction.as_str() {
                "agente" => ("comando", "Correo de agente"),
                "saliente" => ("correo", "Mensaje enviado"),
                _ => ("mensaje", "Mensaje recibido"),
            };
            let mut e = Entry::new(&m.created_at, zone, kind, label);
            let automatic = if m.auto_generated != 0 { " (automático)" } else { "" };
            e.title = format!("De {}{automatic}", m.from_addr);
            e.subject = Some(m.subject.clone());
            e.text = m.own_words.clone();
            e.attachments = links.remove(&m.id).unwrap_or_default();
            e.problems = problems_of(&m.attachment_problems);
            e
        })
        .collect()
}

/// `attachment_problems` as stored (a JSON list of `{source, problem}`).
fn problems_of(stored: &str) -> Vec<String> {
    let list: Vec<serde_json::Value> = serde_json::from_str(stored).unwrap_or_default();
    list.iter()
        .map(|p| {
            let field = |name: &str| p.get(name).and_then(|v| v.as_str()).unwrap_or_default();
            format!("{}: {}", field("source"), field("problem"))
        })
        .collect()
}

fn human_size(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

fn activity_name(number: i64) -> &'static str {
    const NAMES: [(Activity, &str); 12] = [
        (Activity::RecibirSolicitud, "recibir la solicitud"),
        (Activity::VerificarRequisitos, "verificar requisitos"),
        (Activity::SolucionPrimerContacto, "solución en primer contacto"),
        (Activity::AsignarNivel2, "asignar a nivel 2"),
        (Activity::DiagnosticoNivel2, "diagnóstico en nivel 2"),
        (Activity::DecisionNivel2, "decisión en nivel 2"),
        (Activity::AsignarNivel3, "asignar a nivel 3"),
        (Activity::AtencionNivel3, "atención en nivel 3"),
        (Activity::DecisionNivel3, "decisión en nivel 3"),
        (Activity::AsignarAdministracionTecnica, "asignar a Administración Técnica"),
        (Activity::EntregarSolucion, "entregar la solución"),
        (Activity::ControlPosterior, "control posterior"),
    ];
    NAMES.iter().find(|(a, _)| i64::from(a.number()) == number).map_or("", |(_, name)| name)
}

fn requirement_label(stored: &str) -> String {
    match Requirement::parse(stored) {
        Some(Requirement::Descripcion) => "Descripción del problema".into(),
        Some(Requirement::Documento) => "Número del documento (factura, nota o nómina)".into(),
        Some(Requirement::Evidencia) => "Evidencia (captura de pantalla o PDF)".into(),
        Some(Requirement::Nit) => "NIT del emisor".into(),
        Some(Requirement::Xml) => "XML del documento electrónico".into(),
        None => stored.to_string(),
    }
}

#[derive(Debug, Serialize)]
struct DocumentView {
    kind: String,
    number: Option<String>,
    uuid: Option<String>,
    uuid_scheme: Option<String>,
    environment: Option<String>,
    supplier_nit: Option<String>,
    customer_nit: Option<String>,
    response_code: Option<String>,
    referenced_uuid: Option<String>,
    source: String,
    rules: Vec<Rule>,
}

/// A rule DIAN reported and what the known-error base says of it.
#[derive(Debug, Serialize)]
struct Rule {
    code: String,
    description: String,
    known: Option<String>,
    meaning: Option<String>,
    answer: Option<String>,
}

fn rule_of(code: &str, description: &str, knowledge: &KnowledgeBase) -> Rule {
    let known = knowledge.get(code);
    Rule {
        code: code.to_string(),
        description: description.to_string(),
        known: known.map(|k| k.official_message.clone()),
        meaning: known.map(|k| k.meaning.clone()),
        answer: known.and_then(|k| k.first_contact_answer.clone()),
    }
}

fn documents_of(t: &CaseTimeline, knowledge: &KnowledgeBase) -> Vec<DocumentView> {
    t.documents
        .iter()
        .map(|d| DocumentView {
            kind: d.kind.replace('_', " "),
            number: d.number.clone(),
            uuid: d.uuid.clone(),
            uuid_scheme: d.uuid_scheme.clone(),
            environment: d.environment.as_deref().map(|e| match e {
                "produccion" => "producción".to_string(),
                "pruebas" => "pruebas (habilitación)".to_string(),
                other => other.to_string(),
            }),
            supplier_nit: d.supplier_nit.clone(),
            customer_nit: d.customer_nit.clone(),
            response_code: d.response_code.clone(),
            referenced_uuid: d.referenced_uuid.clone(),
            source: d.source.clone(),
            rules: t
                .rejections
                .iter()
                .filter(|r| r.document_id == Some(d.id))
                .map(|r| rule_of(&r.code, &r.description, knowledge))
                .collect(),
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct Related {
    parent: Option<String>,
    children: Vec<String>,
    merged_into: Option<String>,
    merged_here: Vec<String>,
    same_cufe: Vec<SameCufe>,
}

#[derive(Debug, Serialize)]
struct SameCufe {
    number: String,
    status: String,
    uuid: String,
}

/// An agent the case may be given to.
#[derive(Debug, Serialize)]
pub struct AgentChoice {
    pub address: String,
    pub name: String,
    pub selected: bool,
}

#[derive(Debug, Serialize)]
struct Choice {
    value: String,
    selected: bool,
}

/// `GET /consola/caso/{n}/adjunto/{mensaje}/{indice}`: the file, read again from the stored raw
/// message with the parser and limits of intake, checked against the hash stored with it, and
/// always sent as a download (never shown inline).
async fn attachment(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Path((numero, mensaje, indice)): Path<(String, i64, usize)>,
) -> Response {
    let found = match visible_case(&state, &viewer, &numero).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let stored = match state.store.case_attachment(found.id, mensaje, indice).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return page::error(StatusCode::NOT_FOUND, "Ese adjunto no existe en el caso."),
        Err(e) => return store_unavailable(&e),
    };
    let Some(raw) = stored.raw else {
        return page::error(
            StatusCode::GONE,
            "El mensaje original ya no se conserva (retención): el adjunto no se puede descargar.",
        );
    };
    let limits = state.live.desk().config.limites.clone();
    let parsed = if raw.len() as u64 > limits.message_max_bytes {
        None
    } else {
        crate::mail::parse(&raw, &limits.attachments()).ok()
    };
    let file = parsed.and_then(|inbound| {
        let same = |f: &crate::mail::FileEntry| sha256_hex(&f.bytes) == stored.sha256;
        let mut files = inbound.files;
        match files.get(stored.index) {
            Some(f) if same(f) => Some(files.swap_remove(stored.index)),
            _ => files.into_iter().find(same),
        }
    });
    let Some(file) = file else {
        return page::error(
            StatusCode::NOT_FOUND,
            "No se pudo leer ese adjunto del mensaje guardado.",
        );
    };
    download(&stored.source, &stored.content_type, file.bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes as a download: the declared type unless a browser could run it (HTML, SVG, XHTML
/// become `application/octet-stream`), `Content-Disposition: attachment`, and a sandbox CSP.
fn download(source: &str, content_type: &str, bytes: Vec<u8>) -> Response {
    let lower = content_type.to_ascii_lowercase();
    let active = lower.contains("html") || lower.contains("svg") || lower.contains("javascript");
    let content_type = match HeaderValue::from_str(content_type) {
        Ok(value) if !active && !lower.is_empty() => value,
        _ => HeaderValue::from_static("application/octet-stream"),
    };
    let name = source.rsplit('/').next().unwrap_or(source);
    let ascii: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let disposition = HeaderValue::from_str(&disposition)
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; sandbox"),
            ),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_never_runs_in_the_browser() {
        let response = download("correo.zip/pagina.html", "text/html", b"<script>".to_vec());
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "application/octet-stream");
        assert_eq!(
            headers[header::CONTENT_DISPOSITION],
            "attachment; filename=\"pagina.html\"; filename*=UTF-8''pagina.html"
        );
        let response = download("factura ñ.xml", "application/xml", Vec::new());
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/xml");
        assert_eq!(
            response.headers()[header::CONTENT_DISPOSITION],
            "attachment; filename=\"factura__.xml\"; filename*=UTF-8''factura%20%C3%B1.xml"
        );
    }

    #[test]
    fn every_activity_has_a_name() {
        assert!((1..=12).all(|n| !activity_name(n).is_empty()));
        assert_eq!(activity_name(13), "");
    }
}
