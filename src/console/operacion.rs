//! Operación (`/consola/operacion`): the buzones (connection, last message, errors), the outbox's
//! failed and bounced mail (with "Reintentar"), the quarantine (headers, "Reprocesar",
//! "Descartar"), the SLA breaches of open cases and the service-level report with charts drawn
//! on the server ([`super::svg`]).
//!
//! Who sees what: every signed-in person gets the buzones, the report (counts, no mail) and the
//! breaches of the cases they may see. The outbox rows (addresses, subjects) and the quarantine
//! (mail that could not be read, from anyone, about anything: it has no case and no group yet)
//! are for operators: the coordinators of a group and the security group. A plain agent sees
//! only how many there are. The actions are the CLI's own store and desk calls
//! (`outbox retry`, `quarantine reprocess`, `quarantine discard`), recorded with the viewer's
//! address as the operator.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use super::page;
use super::session::Viewer;
use super::svg::{self, BarChart, Layout, Series};
use crate::desk::report::{self, LEVELS, Period, Report, ReportRows};
use crate::desk::zone::Zone;
use crate::desk::{Level, Tema};
use crate::http::HttpState;
use crate::store::outbox::{OutboxItem, OutboxStatus, UnreadableRow};
use crate::store::raw::NotHeld;
use crate::telemetry::BuzonState;

/// Rows of each list shown (the newest); the CLI lists them all.
const LIST_LIMIT: usize = 100;
/// Breaches read to find those the viewer may see.
const BREACH_SCAN: i64 = 300;
/// The longest period the report's charts cover.
const MAX_PERIOD_DAYS: i64 = 366;
/// The default period: the last 30 days.
const DEFAULT_DAYS: i64 = 30;
/// At most this many bars on the per-day chart: longer periods group days.
const MAX_DAY_BARS: i64 = 62;
/// Of a quarantined message, only this much is read for its headers.
const HEADER_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 200;
const MAX_HEADER_VALUE: usize = 2000;
/// A discard reason longer than this is refused (it goes to the record as written).
const MAX_REASON: usize = 500;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/operacion", get(overview))
        .route("/operacion/cola/{id}/reintentar", post(retry))
        .route("/operacion/cuarentena/{id}", get(quarantined))
        .route("/operacion/cuarentena/{id}/reprocesar", post(reprocess))
        .route("/operacion/cuarentena/{id}/descartar", post(discard))
}

/// Coordinators and the security group: they see mail in the outbox and the quarantine.
fn operator(viewer: &Viewer) -> bool {
    viewer.coordinates_any() || viewer.security
}

fn not_operator() -> Response {
    page::error(
        StatusCode::FORBIDDEN,
        "Solo los coordinadores y el grupo de seguridad ven y tratan el correo de la cola de \
         salida y de la cuarentena. Nada cambió.",
    )
}

fn unavailable(e: &crate::store::StoreError) -> Response {
    tracing::warn!(error = %e, "consola: operación no pudo leer la base de datos");
    page::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "La base de datos no respondió; intente de nuevo en un momento.",
    )
}

#[derive(Debug, Default, Deserialize)]
struct OverviewQuery {
    desde: Option<String>,
    hasta: Option<String>,
    aviso: Option<String>,
}

/// A form with only the session's token, or with a reason too.
#[derive(Debug, Default, Deserialize)]
struct ActionForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    motivo: String,
}

#[derive(Debug, Serialize)]
struct Overview {
    operator: bool,
    notice: Option<&'static str>,
    zone: String,
    buzones: Vec<BuzonView>,
    database_fault: Option<String>,
    failed: Vec<OutboxView>,
    bounced: Vec<OutboxView>,
    failed_count: usize,
    bounced_count: usize,
    quarantine: Vec<QuarantineView>,
    quarantine_count: usize,
    breaches: Vec<BreachView>,
    report: ReportView,
}

async fn overview(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Query(query): Query<OverviewQuery>,
) -> Response {
    let desk = state.live.desk();
    let zone = desk.config.zone();
    let now = Utc::now().trunc_subsecs(0);
    let loaded = async {
        let activity = state.store.buzon_activity().await?;
        let failed = failed_outbox(&state).await?;
        let bounced = state.store.list_outbox(Some(OutboxStatus::Rebotado)).await?;
        let quarantine = state.store.quarantine_list().await?;
        let breaches = visible_breaches(&state, &viewer, &zone, now).await?;
        let report = report_view(&state, &zone, &query, now).await?;
        Ok::<_, crate::store::StoreError>((activity, failed, bounced, quarantine, breaches, report))
    };
    let (activity, failed, bounced, quarantine, breaches, report) = match loaded.await {
        Ok(loaded) => loaded,
        Err(e) => return unavailable(&e),
    };
    let operator = operator(&viewer);
    let overview = Overview {
        operator,
        notice: query.aviso.as_deref().and_then(notice),
        zone: zone.label(),
        buzones: buzon_views(&desk.config.buzones, &state.telemetry.buzones(), &activity, &zone),
        database_fault: state.telemetry.database_fault(),
        failed_count: failed.len(),
        bounced_count: bounced.len(),
        failed: if operator { outbox_views(&failed, &zone) } else { Vec::new() },
        bounced: if operator { outbox_views(&bounced, &zone) } else { Vec::new() },
        quarantine_count: quarantine.len(),
        quarantine: if operator {
            quarantine.iter().rev().take(LIST_LIMIT).map(|q| quarantine_view(q, &zone)).collect()
        } else {
            Vec::new()
        },
        breaches,
        report,
    };
    page::render(&viewer, "operacion", "operacion.html", overview)
}

/// What a POST that worked left to say (`?aviso=`).
fn notice(code: &str) -> Option<&'static str> {
    match code {
        "reintento" => {
            Some("El correo vuelve a la cola; el servicio lo enviará en su próximo ciclo.")
        }
        "descartado" => Some("Mensaje descartado; queda en el registro con su motivo."),
        "reprocesado" => Some("Mensaje reprocesado: su historial dice en qué terminó."),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Buzones

#[derive(Debug, Serialize)]
struct BuzonView {
    name: String,
    address: String,
    /// `conectado`, `desconectado`, `conectando`, `otro_nodo` or `sin_imap` (a CSS class too).
    state: &'static str,
    state_label: String,
    since: Option<String>,
    reason: Option<String>,
    last_message: Option<String>,
    last_status: Option<String>,
    last_reason: Option<String>,
    quarantined: i64,
}

/// Each configured buzón: its connection as this process's watchers report it, and its newest
/// stored message.
fn buzon_views(
    buzones: &[crate::config::Buzon],
    connections: &std::collections::BTreeMap<String, BuzonState>,
    activity: &[crate::store::console_ops::BuzonActivity],
    zone: &Zone,
) -> Vec<BuzonView> {
    buzones
        .iter()
        .map(|buzon| {
            let stored = activity.iter().find(|a| a.buzon == buzon.name);
            let (state, state_label, since, reason) = match connections.get(&buzon.name) {
                Some(BuzonState::Conectado { desde }) => {
                    ("conectado", "Conectado".to_string(), Some(desde.as_str()), None)
                }
                Some(BuzonState::Desconectado { motivo, desde }) => (
                    "desconectado",
                    "Desconectado".to_string(),
                    Some(desde.as_str()),
                    Some(motivo.clone()),
                ),
                Some(BuzonState::Conectando) => {
                    ("conectando", "Conectando (aún sin conectar)".to_string(), None, None)
                }
                Some(BuzonState::EnOtroNodo { nodo, desde }) => {
                    ("otro_nodo", format!("Lo lee otro nodo ({nodo})"), Some(desde.as_str()), None)
                }
                None if buzon.imap.is_none() => {
                    ("sin_imap", "Sin IMAP: solo entra por mesa-fe ingest".to_string(), None, None)
                }
                None => ("desconectado", "Este proceso no lo está leyendo".to_string(), None, None),
            };
            BuzonView {
                name: buzon.name.clone(),
                address: buzon.address.clone(),
                state,
                state_label,
                since: since.map(|s| zone.show_stored(s)),
                reason,
                last_message: stored.map(|s| zone.show_stored(&s.last_received_at)),
                last_status: stored.map(|s| s.last_status.clone()),
                last_reason: stored.and_then(|s| s.last_reason.clone()),
                quarantined: stored.map_or(0, |s| s.quarantined),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Outbox

type OutboxRow = Result<OutboxItem, UnreadableRow>;

/// Mail that failed, transiently or for good, newest first.
async fn failed_outbox(state: &HttpState) -> Result<Vec<OutboxRow>, crate::store::StoreError> {
    let mut rows = state.store.list_outbox(Some(OutboxStatus::FalloPermanente)).await?;
    rows.extend(state.store.list_outbox(Some(OutboxStatus::FalloTemporal)).await?);
    rows.sort_by_key(|row| std::cmp::Reverse(row_id(row)));
    Ok(rows)
}

fn row_id(row: &OutboxRow) -> i64 {
    match row {
        Ok(item) => item.id,
        Err(unreadable) => unreadable.id,
    }
}

#[derive(Debug, Serialize)]
struct OutboxView {
    id: i64,
    /// Set when this version cannot read the row (it is still listed).
    unreadable: Option<String>,
    case_number: String,
    kind: String,
    buzon: String,
    to: String,
    subject: String,
    status: String,
    attempts: i64,
    next_attempt: String,
    last_error: Option<String>,
    /// A notification that travels in a digest is retried with its digest.
    retryable: bool,
    bounce_at: Option<String>,
    bounce_recipient: Option<String>,
    bounce_status: Option<String>,
    bounce_diagnostic: Option<String>,
}

fn outbox_views(rows: &[OutboxRow], zone: &Zone) -> Vec<OutboxView> {
    rows.iter().rev().take(LIST_LIMIT).map(|row| outbox_view(row, zone)).collect()
}

fn outbox_view(row: &OutboxRow, zone: &Zone) -> OutboxView {
    let item = match row {
        Ok(item) => item,
        Err(unreadable) => {
            return OutboxView {
                id: unreadable.id,
                unreadable: Some(unreadable.error.to_string()),
                case_number: String::new(),
                kind: String::new(),
                buzon: String::new(),
                to: String::new(),
                subject: String::new(),
                status: String::new(),
                attempts: 0,
                next_attempt: String::new(),
                last_error: None,
                retryable: false,
                bounce_at: None,
                bounce_recipient: None,
                bounce_status: None,
                bounce_diagnostic: None,
            };
        }
    };
    let bounce = item.bounce.as_ref();
    OutboxView {
        id: item.id,
        unreadable: None,
        case_number: item.case_number.clone(),
        kind: item.kind.as_str().to_string(),
        buzon: item.buzon.clone(),
        to: item.to_addr.clone(),
        subject: item.subject.clone(),
        status: item.status.as_str().to_string(),
        attempts: item.attempts,
        next_attempt: zone.show(item.next_attempt_at),
        last_error: item.last_error.clone(),
        retryable: item.digest_id.is_none() && item.status != OutboxStatus::Rebotado,
        bounce_at: bounce.map(|b| zone.show(b.at)),
        bounce_recipient: bounce.and_then(|b| b.recipient.clone()),
        bounce_status: bounce.and_then(|b| b.status.clone()),
        bounce_diagnostic: bounce.and_then(|b| b.diagnostic.clone()),
    }
}

/// "Reintentar": `mesa-fe outbox retry ID`, then the outbox worker is woken.
async fn retry(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Err(refused) = viewer.require_csrf(&form.csrf) {
        return refused;
    }
    if !operator(&viewer) {
        return not_operator();
    }
    match state.store.retry_outbox(id).await {
        Ok(true) => {
            tracing::info!(id, "consola: correo de la cola de salida reintentado");
            if let Some(wake) = &state.outbox_wake {
                wake.notify_one();
            }
            Redirect::to("/consola/operacion?aviso=reintento#cola").into_response()
        }
        Ok(false) => page::error(
            StatusCode::CONFLICT,
            "Ese correo no existe, ya fue enviado, viaja en un resumen o es de un caso cuyos \
             datos se eliminaron por retención. Nada cambió.",
        ),
        Err(e) => unavailable(&e),
    }
}

// ---------------------------------------------------------------------------------------------
// Quarantine

#[derive(Debug, Serialize)]
struct QuarantineView {
    id: i64,
    buzon: String,
    received: String,
    size_bytes: i64,
    status: String,
    reason: String,
}

fn quarantine_view(entry: &crate::store::raw::QuarantineEntry, zone: &Zone) -> QuarantineView {
    QuarantineView {
        id: entry.id,
        buzon: entry.buzon.clone(),
        received: zone.show_stored(&entry.received_at),
        size_bytes: entry.size_bytes,
        status: entry.status.clone(),
        reason: entry.reason.clone(),
    }
}

#[derive(Debug, Serialize)]
struct QuarantinePage {
    message: QuarantineView,
    held: bool,
    headers: Vec<(String, String)>,
    headers_cut: bool,
    case_number: Option<String>,
    history: Vec<ActionView>,
    notice: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct ActionView {
    action: String,
    actor: String,
    reason: Option<String>,
    result: String,
    at: String,
}

/// One held message: its headers only (the body is never shown), what was done with it and the
/// two actions while it is in quarantine.
async fn quarantined(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(query): Query<OverviewQuery>,
) -> Response {
    if !operator(&viewer) {
        return not_operator();
    }
    let zone = state.live.desk().config.zone();
    let loaded = async {
        let Some((entry, raw)) = state.store.quarantine_entry(id).await? else {
            return Ok(None);
        };
        let actions = state.store.raw_actions(id).await?;
        let case_number = state.store.case_of_raw(id).await?;
        Ok::<_, crate::store::StoreError>(Some((entry, raw, actions, case_number)))
    };
    let (entry, raw, actions, case_number) = match loaded.await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return page::error(
                StatusCode::NOT_FOUND,
                "No hay un mensaje retenido con ese número.",
            );
        }
        Err(e) => return unavailable(&e),
    };
    let (headers, headers_cut) = header_fields(&raw);
    let history = actions
        .into_iter()
        .map(|a| ActionView {
            action: a.action,
            actor: a.actor,
            reason: a.reason,
            result: a.result,
            at: zone.show_stored(&a.created_at),
        })
        .collect();
    let page = QuarantinePage {
        held: entry.status == crate::store::raw::RawStatus::Cuarentena.as_str(),
        message: quarantine_view(&entry, &zone),
        headers,
        headers_cut,
        case_number,
        history,
        notice: query.aviso.as_deref().and_then(notice),
    };
    page::render(&viewer, "operacion", "operacion_cuarentena.html", page)
}

/// "Reprocesar": `mesa-fe quarantine reprocess ID --operador <viewer>`.
async fn reprocess(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Err(refused) = viewer.require_csrf(&form.csrf) {
        return refused;
    }
    if !operator(&viewer) {
        return not_operator();
    }
    let desk = state.live.desk();
    match desk.reprocess_quarantined(&state.store, id, &viewer.address).await {
        Ok(Ok(_outcome)) => {
            // The message may have opened or joined a case and queued its answers.
            if let Some(wake) = &state.outbox_wake {
                wake.notify_one();
            }
            Redirect::to(&format!("/consola/operacion/cuarentena/{id}?aviso=reprocesado"))
                .into_response()
        }
        Ok(Err(why)) => not_held(&why),
        // A failure of the message itself is recorded by the desk (it stays in quarantine);
        // this is the store's, and the message stays pending for the daemon to replay.
        Err(e) => unavailable(&e),
    }
}

/// "Descartar": `mesa-fe quarantine discard ID --motivo … --operador <viewer>`.
async fn discard(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Err(refused) = viewer.require_csrf(&form.csrf) {
        return refused;
    }
    if !operator(&viewer) {
        return not_operator();
    }
    let reason = form.motivo.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return page::error(
            StatusCode::BAD_REQUEST,
            "Escriba por qué se descarta el mensaje (hasta 500 caracteres): queda en el \
             registro. Nada cambió.",
        );
    }
    match state.store.discard_quarantined(id, &viewer.address, reason).await {
        Ok(Ok(())) => Redirect::to(&format!("/consola/operacion/cuarentena/{id}?aviso=descartado"))
            .into_response(),
        Ok(Err(why)) => not_held(&why),
        Err(e) => unavailable(&e),
    }
}

fn not_held(why: &NotHeld) -> Response {
    match why {
        NotHeld::Unknown => {
            page::error(StatusCode::NOT_FOUND, "No hay un mensaje con ese número. Nada cambió.")
        }
        NotHeld::Status(status) => page::error(
            StatusCode::CONFLICT,
            &format!("El mensaje ya no está en cuarentena (estado: {status}). Nada cambió."),
        ),
    }
}

/// The header block of a stored message as (name, value) pairs: only its first
/// [`HEADER_BYTES`], folded lines joined, at most [`MAX_HEADERS`] fields of at most
/// [`MAX_HEADER_VALUE`] characters, as text (bytes that are not UTF-8 shown as �). `true` when
/// something was left out. Never reads past the first empty line: the body is not shown.
pub fn header_fields(raw: &[u8]) -> (Vec<(String, String)>, bool) {
    let head = &raw[..raw.len().min(HEADER_BYTES)];
    let mut cut = raw.len() > HEADER_BYTES;
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in String::from_utf8_lossy(head).split('\n') {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            cut = false;
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if fields.len() == MAX_HEADERS {
            cut = true;
            break;
        }
        match line.split_once(':') {
            Some((name, value)) => fields.push((name.trim().to_string(), value.trim().to_string())),
            // Not a header line: shown as it is, so a broken header block is visible.
            None => fields.push((String::new(), line.to_string())),
        }
    }
    for (name, value) in &mut fields {
        for text in [name, value] {
            // Control characters (a NUL, an escape) are not text a page can show.
            if text.chars().any(char::is_control) {
                *text = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
                *text = text.trim().to_string();
            }
            if text.chars().count() > MAX_HEADER_VALUE {
                *text = text.chars().take(MAX_HEADER_VALUE).chain(['…']).collect();
                cut = true;
            }
        }
    }
    (fields, cut)
}

// ---------------------------------------------------------------------------------------------
// SLA breaches

#[derive(Debug, Serialize)]
struct BreachView {
    number: String,
    level: String,
    target: &'static str,
    due: String,
    late: String,
}

/// The breaches of open cases the viewer may see (as in the Bandeja), the most overdue first.
async fn visible_breaches(
    state: &HttpState,
    viewer: &Viewer,
    zone: &Zone,
    now: DateTime<Utc>,
) -> Result<Vec<BreachView>, crate::store::StoreError> {
    let desk = state.live.desk();
    let mut shown = Vec::new();
    for breach in state.store.open_sla_breaches(BREACH_SCAN).await? {
        if shown.len() == LIST_LIMIT {
            break;
        }
        let Some(found) = state.store.case_by_id(breach.case_id).await? else { continue };
        if !desk.sees(&viewer.actor, &found.case) {
            continue;
        }
        let due = DateTime::parse_from_rfc3339(&breach.due_at).map(|d| d.with_timezone(&Utc));
        shown.push(BreachView {
            number: breach.number,
            level: Level::parse(&breach.level)
                .map_or(breach.level.clone(), |l| report::level_label(l).into()),
            target: match breach.target.as_str() {
                "primera_respuesta" => "Primera respuesta",
                _ => "Solución",
            },
            due: zone.show_stored(&breach.due_at),
            late: due.map_or_else(|_| String::new(), |due| lateness(now - due)),
        });
    }
    Ok(shown)
}

/// "3 d 4 h", "5 h 20 min", "12 min".
pub fn lateness(late: Duration) -> String {
    let minutes = late.num_minutes().max(0);
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins} min"),
        (0, _) => format!("{hours} h {mins} min"),
        _ => format!("{days} d {hours} h"),
    }
}

// ---------------------------------------------------------------------------------------------
// The service-level report

#[derive(Debug, Serialize)]
struct ReportView {
    desde: String,
    hasta: String,
    error: Option<String>,
    total_cases: u64,
    first_contact: String,
    per_day_svg: String,
    first_contact_svg: String,
    solution_svg: String,
    solution_rows: Vec<SolutionRow>,
    sla_rows: Vec<SlaRow>,
    tema_rows: Vec<(String, u64)>,
}

#[derive(Debug, Serialize)]
struct SlaRow {
    level: &'static str,
    cases: u64,
    compliant: u64,
    percent: String,
}

async fn report_view(
    state: &HttpState,
    zone: &Zone,
    query: &OverviewQuery,
    now: DateTime<Utc>,
) -> Result<ReportView, crate::store::StoreError> {
    let hours = zone.offset_hours(now);
    let today = Period::today(now, hours).unwrap_or_else(|_| now.date_naive());
    let (period, error) =
        choose_period(query.desde.as_deref(), query.hasta.as_deref(), today, hours);
    let rows = state.store.report_rows(period.start, period.end).await?;
    let report = Report::build(period, period.local(now), &rows);
    let (days, per_day) = cases_per_day(&period, &rows);
    let (weeks, first_contact) = first_contact_by_week(&period, &rows);
    let solution = solution_times(&rows);
    let level_names: Vec<String> =
        LEVELS.iter().map(|l| report::level_label(*l).to_string()).collect();
    let solution_series = [
        Series {
            name: "Mediana".into(),
            values: solution.iter().map(|r| r.median.unwrap_or(f64::NAN)).collect(),
        },
        Series {
            name: "Percentil 90".into(),
            values: solution.iter().map(|r| r.p90.unwrap_or(f64::NAN)).collect(),
        },
    ];
    Ok(ReportView {
        desde: period.from.to_string(),
        hasta: period.to.to_string(),
        error,
        total_cases: report.total_cases,
        first_contact: percent_text(report.first_contact.percent),
        per_day_svg: svg::bar_chart(&BarChart {
            title: "Casos creados por día y tema",
            categories: &days,
            series: &per_day,
            layout: Layout::Stacked,
            unit: "casos",
            max: None,
        }),
        first_contact_svg: svg::bar_chart(&BarChart {
            title: "Casos solucionados en el primer contacto, por semana",
            categories: &weeks,
            series: &first_contact,
            layout: Layout::Grouped,
            unit: "%",
            max: Some(100.0),
        }),
        solution_svg: svg::bar_chart(&BarChart {
            title: "Horas hasta la solución, por nivel que la entregó",
            categories: &level_names,
            series: &solution_series,
            layout: Layout::Grouped,
            unit: "horas",
            max: None,
        }),
        solution_rows: solution,
        sla_rows: report
            .sla
            .iter()
            .map(|s| SlaRow {
                level: report::level_label(s.level),
                cases: s.cases,
                compliant: s.compliant,
                percent: percent_text(s.compliance_percent),
            })
            .collect(),
        tema_rows: report
            .breakdown(report::Dimension::Tema)
            .map(|b| b.counts.iter().map(|c| (c.label.to_string(), c.cases)).collect())
            .unwrap_or_default(),
    })
}

fn percent_text(value: Option<f64>) -> String {
    value.map_or_else(|| report::NO_DATA.to_string(), |v| format!("{} %", svg::number(v)))
}

/// The period of `desde`/`hasta` (AAAA-MM-DD), by default the last 30 days up to today; a date
/// that does not read, a reversed or too long period gives the default (or a shortened one)
/// and says why.
fn choose_period(
    desde: Option<&str>,
    hasta: Option<&str>,
    today: NaiveDate,
    hours: i32,
) -> (Period, Option<String>) {
    let read = |text: Option<&str>| match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => NaiveDate::parse_from_str(t, "%Y-%m-%d").map(Some).map_err(|_| t.to_string()),
    };
    let mut error = None;
    let (from, to) = match (read(desde), read(hasta)) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(bad), _) | (_, Err(bad)) => {
            error = Some(format!(
                "«{bad}» no es una fecha AAAA-MM-DD; se muestran los últimos 30 días."
            ));
            (None, None)
        }
    };
    let to = to.unwrap_or(today);
    let mut from = from.unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
    if from > to {
        error = Some(
            "La fecha inicial es posterior a la final; se muestran los 30 días hasta la final."
                .into(),
        );
        from = to - Duration::days(DEFAULT_DAYS - 1);
    }
    if (to - from).num_days() >= MAX_PERIOD_DAYS {
        error = Some(format!("El período máximo es de {MAX_PERIOD_DAYS} días; se acortó."));
        from = to - Duration::days(MAX_PERIOD_DAYS - 1);
    }
    match Period::new(from, to, hours) {
        Ok(period) => (period, error),
        // Only an impossible zone or date gets here: the default period in UTC then.
        Err(e) => {
            let fallback = Period::new(today - Duration::days(DEFAULT_DAYS - 1), today, 0);
            (fallback.unwrap_or_else(|_| unreachable_period()), Some(e.to_string()))
        }
    }
}

/// A period that always builds (1970-01-01, UTC).
fn unreachable_period() -> Period {
    let day = NaiveDate::default();
    Period::new(day, day, 0).unwrap_or_else(|_| panic!("1970-01-01 en UTC siempre es un período"))
}

/// The local day of each case, bucketed so that at most [`MAX_DAY_BARS`] bars are drawn: the
/// bars' labels (`dd/mm`, the bucket's first day) and one series per tema with cases.
pub fn cases_per_day(period: &Period, rows: &ReportRows) -> (Vec<String>, Vec<Series>) {
    let days = (period.to - period.from).num_days() + 1;
    let size = (days + MAX_DAY_BARS - 1) / MAX_DAY_BARS;
    let buckets = ((days + size - 1) / size) as usize;
    let labels = (0..buckets)
        .map(|b| (period.from + Duration::days(b as i64 * size)).format("%d/%m").to_string())
        .collect();
    let mut counts: HashMap<Tema, Vec<f64>> = HashMap::new();
    for case in &rows.cases {
        let day = period.local(case.created_at).date_naive();
        let Ok(bucket) = usize::try_from((day - period.from).num_days() / size) else { continue };
        if bucket < buckets {
            counts.entry(case.tema).or_insert_with(|| vec![0.0; buckets])[bucket] += 1.0;
        }
    }
    let series = Tema::ALL
        .iter()
        .filter_map(|tema| {
            counts.remove(tema).map(|values| Series { name: tema.label().to_string(), values })
        })
        .collect();
    (labels, series)
}

/// Per week from the period's first day: the share of the week's cases solved at first contact
/// (NaN, "no data", for a week without cases).
pub fn first_contact_by_week(period: &Period, rows: &ReportRows) -> (Vec<String>, Vec<Series>) {
    let days = (period.to - period.from).num_days() + 1;
    let weeks = ((days + 6) / 7) as usize;
    let mut totals = vec![(0u32, 0u32); weeks];
    for case in &rows.cases {
        let day = period.local(case.created_at).date_naive();
        let Ok(week) = usize::try_from((day - period.from).num_days() / 7) else { continue };
        if let Some((first, all)) = totals.get_mut(week) {
            *all += 1;
            *first += u32::from(case.first_contact);
        }
    }
    let labels = (0..weeks)
        .map(|w| format!("sem. {}", (period.from + Duration::days(w as i64 * 7)).format("%d/%m")))
        .collect();
    let values = totals
        .iter()
        .map(
            |(first, all)| {
                if *all == 0 { f64::NAN } else { 100.0 * f64::from(*first) / f64::from(*all) }
            },
        )
        .collect();
    (labels, vec![Series { name: "Primer contacto".into(), values }])
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SolutionRow {
    pub level: &'static str,
    pub cases: usize,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub median_text: String,
    pub p90_text: String,
}

/// Hours from each case's creation to its first solution (activity 11), by the level that
/// delivered it, as the report counts them: median and 90th percentile (nearest rank).
pub fn solution_times(rows: &ReportRows) -> Vec<SolutionRow> {
    let created: HashMap<i64, DateTime<Utc>> =
        rows.cases.iter().map(|c| (c.id, c.created_at)).collect();
    let mut solved = std::collections::HashSet::new();
    let mut hours: HashMap<Level, Vec<f64>> = HashMap::new();
    for solution in &rows.solutions {
        let Some(created_at) = created.get(&solution.case_id) else { continue };
        if solved.insert(solution.case_id) {
            let seconds = (solution.delivered_at - *created_at).num_seconds().max(0);
            hours.entry(solution.level).or_default().push(seconds as f64 / 3600.0);
        }
    }
    LEVELS
        .iter()
        .map(|level| {
            let values = hours.remove(level).unwrap_or_default();
            let (median, p90) = (report::median(&values), percentile_90(&values));
            let text = |v: Option<f64>| v.map_or_else(|| report::NO_DATA.to_string(), svg::number);
            SolutionRow {
                level: report::level_label(*level),
                cases: values.len(),
                median,
                p90,
                median_text: text(median),
                p90_text: text(p90),
            }
        })
        .collect()
}

/// The nearest-rank 90th percentile; `None` without values.
pub fn percentile_90(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (sorted.len() * 9).div_ceil(10);
    sorted.get(rank.checked_sub(1)?).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::report::{ReportCase, SolutionEvent};
    use crate::desk::{Channel, case::Status};

    fn case(id: i64, tema: Tema, at: &str, first_contact: bool) -> ReportCase {
        ReportCase {
            id,
            number: format!("FE-2026-{id:06}"),
            status: Status::Nuevo,
            level: Level::N1,
            tema,
            channel: Channel::Correo,
            case_type: crate::desk::CaseType::ALL[0],
            first_contact,
            parent_id: None,
            created_at: DateTime::parse_from_rfc3339(at).expect("date").with_timezone(&Utc),
        }
    }

    fn period(from: &str, to: &str) -> Period {
        let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("day");
        Period::new(day(from), day(to), -5).expect("period")
    }

    #[test]
    fn cases_fall_on_their_local_day_and_tema() {
        let rows = ReportRows {
            cases: vec![
                case(1, Tema::ALL[0], "2026-12-02T04:00:00Z", false), // 1 Dec in Bogotá
                case(2, Tema::ALL[0], "2026-12-02T06:00:00Z", true),
                case(3, Tema::ALL[1], "2026-12-03T15:00:00Z", false),
            ],
            ..ReportRows::default()
        };
        let (labels, series) = cases_per_day(&period("2026-12-01", "2026-12-03"), &rows);
        assert_eq!(labels, ["01/12", "02/12", "03/12"]);
        assert_eq!(series.len(), 2, "only temas with cases");
        assert_eq!(series[0].name, Tema::ALL[0].label());
        assert_eq!(series[0].values, [1.0, 1.0, 0.0]);
        assert_eq!(series[1].values, [0.0, 0.0, 1.0]);

        let (weeks, rate) = first_contact_by_week(&period("2026-12-01", "2026-12-03"), &rows);
        assert_eq!(weeks, ["sem. 01/12"]);
        assert!((rate[0].values[0] - 100.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_long_period_groups_days_into_at_most_62_bars() {
        let (labels, _) =
            cases_per_day(&period("2026-01-01", "2026-12-31"), &ReportRows::default());
        assert!(labels.len() <= MAX_DAY_BARS as usize && labels.len() >= 50, "{}", labels.len());
    }

    #[test]
    fn solution_times_take_each_cases_first_solution_with_median_and_p90() {
        let mut rows = ReportRows::default();
        let mut solutions = Vec::new();
        for id in 1..=10 {
            rows.cases.push(case(id, Tema::ALL[0], "2026-12-01T12:00:00Z", false));
            let at = rows.cases[0].created_at + Duration::hours(id);
            solutions.push(SolutionEvent { case_id: id, level: Level::N2, delivered_at: at });
        }
        // A second solution of case 1 does not count.
        let later = rows.cases[0].created_at + Duration::hours(500);
        solutions.push(SolutionEvent { case_id: 1, level: Level::N2, delivered_at: later });
        rows.solutions = solutions;
        let times = solution_times(&rows);
        let n2 = times.iter().find(|t| t.level == "Nivel 2").expect("n2");
        assert_eq!((n2.cases, n2.median, n2.p90), (10, Some(5.5), Some(9.0)));
        let n3 = times.iter().find(|t| t.level == "Nivel 3").expect("n3");
        assert_eq!((n3.cases, n3.median_text.as_str()), (0, "sin datos"));
    }

    #[test]
    fn the_period_defaults_to_30_days_and_explains_what_it_changed() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).expect("day");
        let (p, error) = choose_period(None, None, today, -5);
        assert_eq!(
            (p.from.to_string(), p.to.to_string(), error),
            ("2026-11-08".into(), "2026-12-07".into(), None)
        );
        let (p, error) = choose_period(Some("2026-12-09"), Some("2026-12-01"), today, -5);
        assert_eq!(p.to.to_string(), "2026-12-01");
        assert!(error.is_some_and(|e| e.contains("posterior")));
        let (p, error) = choose_period(Some("ayer"), None, today, -5);
        assert_eq!(p.to, today);
        assert!(error.is_some_and(|e| e.contains("«ayer»")));
        let (p, error) = choose_period(Some("2020-01-01"), None, today, -5);
        assert_eq!((p.to - p.from).num_days(), MAX_PERIOD_DAYS - 1);
        assert!(error.is_some());
    }

    #[test]
    fn headers_stop_at_the_body_unfold_and_are_bounded() {
        let raw = b"From: a@b.example\r\nSubject: una\r\n  linea\r\nbasura sin dos puntos\r\n\r\nCuerpo: secreto\r\n";
        let (fields, cut) = header_fields(raw);
        assert!(!cut);
        assert_eq!(
            fields,
            [
                ("From".to_string(), "a@b.example".to_string()),
                ("Subject".into(), "una linea".into()),
                (String::new(), "basura sin dos puntos".into()),
            ]
        );
        let many: Vec<u8> =
            (0..5000).flat_map(|i| format!("X-{i}: {}\r\n", "v".repeat(30)).into_bytes()).collect();
        let (fields, cut) = header_fields(&many);
        assert!(cut && fields.len() <= MAX_HEADERS);
        let long = format!("Subject: {}\r\n\r\n", "a".repeat(10_000));
        let (fields, cut) = header_fields(long.as_bytes());
        assert!(cut && fields[0].1.chars().count() == MAX_HEADER_VALUE + 1);
        assert_eq!(
            header_fields(b"\xff\xfe: \x00\r\n"),
            (vec![("\u{fffd}\u{fffd}".into(), String::new())], false)
        );
        assert_eq!(header_fields(b""), (vec![], false));
    }

    #[test]
    fn a_buzon_shows_its_connection_and_its_newest_message() {
        let config = crate::config::Config::builtin().expect("config");
        let zone = Zone::fixed_hours(-5).expect("zone");
        let name = config.buzones[0].name.clone();
        let down = BuzonState::Desconectado {
            motivo: "IMAP: autenticación rechazada".into(),
            desde: "2026-12-07T15:00:00Z".into(),
        };
        let connections = [(name.clone(), down)].into_iter().collect();
        let activity = [crate::store::console_ops::BuzonActivity {
            buzon: name.clone(),
            last_received_at: "2026-12-07T14:30:00Z".into(),
            last_status: "cuarentena".into(),
            last_reason: Some("sin remitente".into()),
            quarantined: 2,
        }];
        let views = buzon_views(&config.buzones, &connections, &activity, &zone);
        assert_eq!(views.len(), config.buzones.len(), "every configured buzón, stored mail or not");
        let first = &views[0];
        assert_eq!(
            (first.state, first.reason.as_deref()),
            ("desconectado", Some("IMAP: autenticación rechazada"))
        );
        assert_eq!(first.since.as_deref(), Some("2026-12-07 10:00"));
        assert_eq!(first.last_message.as_deref(), Some("2026-12-07 09:30"));
        assert_eq!((first.last_status.as_deref(), first.quarantined), (Some("cuarentena"), 2));
        for other in &views[1..] {
            assert!(other.last_message.is_none() && other.quarantined == 0);
            assert!(matches!(other.state, "sin_imap" | "desconectado"), "{}", other.state);
        }
    }

    #[test]
    fn lateness_reads_in_days_hours_and_minutes() {
        assert_eq!(lateness(Duration::minutes(12)), "12 min");
        assert_eq!(lateness(Duration::minutes(320)), "5 h 20 min");
        assert_eq!(lateness(Duration::hours(76)), "3 d 4 h");
        assert_eq!(lateness(Duration::minutes(-5)), "0 min");
        assert_eq!(percentile_90(&[]), None);
        assert_eq!(percentile_90(&[3.0]), Some(3.0));
    }
}
