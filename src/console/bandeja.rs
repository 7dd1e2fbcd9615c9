//! The bandeja (`/consola/bandeja`): the cases a viewer may see, by level and group, with their
//! service-level state, filters, a search and pages of [`PER_PAGE`].
//!
//! Who sees what is [`crate::pipeline::Desk::sees`]: the store's query reads the same rule
//! ([`BandejaScope`]) and every row of the page is checked with `sees` again before it is shown.
//!
//! Service-level state of an open case at N2, N3 or Administración Técnica, for the target that
//! is running (the first response until an agent acted at the level, then the solution), in
//! business hours of the desk's calendar: `vencido` past the target or with a breach recorded by
//! the SLA sweep at this level; `por_vencer` once [`WARNING_SHARE`] of the target has elapsed;
//! `a_tiempo` before. While the case waits for the requester after an agent acted, the solution
//! clock is paused (as the sweep does): `a_tiempo`, saying so. The `vencidos` filter lists the
//! cases with a breach recorded (the sweep runs every `sla.revision_segundos`), so a case can read
//! "Vencido" for those few seconds before the filter lists it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use super::page;
use super::session::Viewer;
use crate::config::Config;
use crate::desk::calendar::Calendar;
use crate::desk::case::Status;
use crate::desk::levels::Role;
use crate::desk::{CaseType, Channel, Level, Tema};
use crate::http::HttpState;
use crate::pipeline::Desk;
use crate::store::Store;
use crate::store::console_cases::{
    BandejaFilter, BandejaPage, BandejaRow, BandejaScope, BandejaSearch, MAX_SEARCH_WORDS,
    StatusFilter,
};

/// Cases per page.
pub const PER_PAGE: i64 = 50;

/// Share of a target after which a case is `por_vencer`.
pub const WARNING_SHARE: f64 = 0.8;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new().route("/bandeja", get(show))
}

/// The query string of the bandeja (every field optional; an empty one is no filter).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BandejaQuery {
    pub q: Option<String>,
    pub nivel: Option<String>,
    pub grupo: Option<String>,
    pub agente: Option<String>,
    pub tema: Option<String>,
    pub tipo: Option<String>,
    pub estado: Option<String>,
    pub canal: Option<String>,
    pub vencidos: Option<String>,
    pub pagina: Option<String>,
}

async fn show(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Query(query): Query<BandejaQuery>,
) -> Response {
    let desk = state.live.desk();
    bandeja(&desk, &state.store, &viewer, &query, Utc::now()).await
}

/// The page for `viewer` at `now` (the HTTP handler's body; the bench calls it directly).
pub async fn bandeja(
    desk: &Desk,
    store: &Store,
    viewer: &Viewer,
    query: &BandejaQuery,
    now: DateTime<Utc>,
) -> Response {
    let config = &desk.config;
    let (mut filter, notices) = read_filter(config, query, now);
    let scope = scope(desk, viewer);
    let result = store.bandeja(&scope, &filter).await;
    let found = match result {
        Ok(found) => {
            filter.offset = found.offset;
            found
        }
        Err(e) => {
            tracing::warn!(error = %e, "consola: no se pudo leer la bandeja");
            return page::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "La base de datos no respondió; intente de nuevo en un momento.",
            );
        }
    };
    let context = page_context(desk, viewer, query, &filter, found, notices, now);
    page::render(viewer, "bandeja", "bandeja.html", context)
}

/// Whose cases the viewer sees, as the store's query reads it.
pub fn scope(desk: &Desk, viewer: &Viewer) -> BandejaScope {
    let config = &desk.config;
    let temas = Tema::ALL
        .into_iter()
        .filter(|t| config.tema(*t).is_some_and(|c| viewer.groups.contains(&c.n2_group)))
        .collect();
    BandejaScope {
        address: viewer.actor.address.to_lowercase(),
        groups: viewer.groups.clone(),
        temas,
        security: viewer.security,
        technical_administration: viewer.actor.role == Role::AdministracionTecnica,
    }
}

/// The filter the query string asks for, and what could not be read in it (said on the page;
/// that filter is left out).
pub fn read_filter(
    config: &Config,
    query: &BandejaQuery,
    now: DateTime<Utc>,
) -> (BandejaFilter, Vec<String>) {
    let mut notices = Vec::new();
    let mut read = |name: &str, value: &Option<String>, known: &dyn Fn(&str) -> bool| {
        let value = given(value)?;
        if known(value) {
            Some(value.to_string())
        } else {
            notices.push(format!("{name} desconocido: «{value}»; se muestra sin ese filtro."));
            None
        }
    };
    let level = read("Nivel", &query.nivel, &|v| Level::parse(v).is_some());
    let tema = read("Tema", &query.tema, &|v| Tema::parse(v).is_some());
    let case_type = read("Tipo", &query.tipo, &|v| CaseType::parse(v).is_some());
    let channel = read("Canal", &query.canal, &|v| Channel::parse(v).is_some());
    let status = read("Estado", &query.estado, &|v| v == "todos" || Status::parse(v).is_some());
    let page = given(&query.pagina).and_then(|p| p.parse::<i64>().ok()).unwrap_or(1).max(1);
    let year = chrono::Datelike::year(&config.zone().local(now));
    let search =
        given(&query.q).and_then(|q| match read_search(q, &config.general.case_prefix, year) {
            Ok(search) => search,
            Err(notice) => {
                notices.push(notice);
                None
            }
        });
    let filter = BandejaFilter {
        level: level.as_deref().and_then(Level::parse),
        group: given(&query.grupo).map(str::to_string),
        agent: given(&query.agente).map(str::to_lowercase),
        tema: tema.as_deref().and_then(Tema::parse),
        case_type: case_type.as_deref().and_then(CaseType::parse),
        status: status.as_deref().map(|s| match Status::parse(s) {
            Some(one) => StatusFilter::One(one),
            None => StatusFilter::All,
        }),
        channel: channel.as_deref().and_then(Channel::parse),
        overdue: given(&query.vencidos).is_some_and(|v| v != "0"),
        search,
        offset: (page.min(i64::MAX / PER_PAGE) - 1) * PER_PAGE,
        limit: PER_PAGE,
    };
    (filter, notices)
}

/// A field's value, trimmed; `None` when absent or empty.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// What the search box says: a case number (`FE-2026-000001`, or `1` for this year's), an
/// address (or `@domain`), a CUFE/CUDE (40 or more hex digits), a NIT (digits with dots and
/// check digit or not, more than 6 digits), else words of the subject or the requester's text.
pub fn read_search(text: &str, prefix: &str, year: i32) -> Result<Option<BandejaSearch>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.contains('@') {
        let address = text.trim_matches(['<', '>']).to_lowercase();
        let domain_chars = |d: &str| d.chars().all(|c| c.is_alphanumeric() || ".-".contains(c));
        return match address.strip_prefix('@') {
            Some(domain) if !domain.is_empty() && domain_chars(domain) => {
                Ok(Some(BandejaSearch::RequesterDomain(address)))
            }
            Some(_) => {
                Err("Escriba el dominio después de la @, por ejemplo @empresa.com.co.".into())
            }
            None => Ok(Some(BandejaSearch::Requester(address))),
        };
    }
    let upper = text.to_uppercase();
    if upper.starts_with(&format!("{}-", prefix.to_uppercase())) {
        return Ok(Some(BandejaSearch::Number(upper)));
    }
    let digits_only = text.bytes().all(|b| b.is_ascii_digit());
    if digits_only && text.len() <= 6 {
        let sequence: u32 = text.parse().unwrap_or(0);
        return Ok(Some(BandejaSearch::Number(format!("{prefix}-{year}-{sequence:06}"))));
    }
    if text.len() >= 40 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Some(BandejaSearch::Cufe(text.to_lowercase())));
    }
    if let Some((nit, _)) = crate::dian::nit::normalize_nit(text) {
        return Ok(Some(BandejaSearch::Nit(nit)));
    }
    let folded = crate::text::fold(text);
    let mut words: Vec<String> = Vec::new();
    for word in folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if !words.iter().any(|w| w == word) {
            words.push(word.to_string());
        }
    }
    if words.is_empty() {
        return Err("La búsqueda no tiene palabras, número de caso, NIT, CUFE ni dirección.".into());
    }
    // Each word is one more `LIKE`: the first few say enough.
    words.truncate(MAX_SEARCH_WORDS);
    Ok(Some(BandejaSearch::Words(words)))
}

/// One row of the table.
#[derive(Debug, Serialize)]
struct RowView {
    number: String,
    subject: String,
    tema: &'static str,
    channel: &'static str,
    level: &'static str,
    status: &'static str,
    group: String,
    agent: String,
    requester: String,
    age: String,
    waiting: String,
    sla: Option<SlaView>,
}

/// A service-level state: its CSS class suffix (`a_tiempo`, `por_vencer`, `vencido`) and words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaView {
    pub class: &'static str,
    pub words: String,
}

/// What the template reads as `page`.
#[derive(Debug, Serialize)]
struct BandejaView {
    rows: Vec<RowView>,
    total: i64,
    page: i64,
    pages: i64,
    previous: Option<PageLink>,
    next: Option<PageLink>,
    first: Option<PageLink>,
    last: Option<PageLink>,
    notices: Vec<String>,
    q: String,
    vencidos: bool,
    niveles: Vec<Choice>,
    grupos: Vec<Choice>,
    agentes: Vec<Choice>,
    temas: Vec<Choice>,
    tipos: Vec<Choice>,
    estados: Vec<Choice>,
    canales: Vec<Choice>,
}

#[derive(Debug, Serialize)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Debug, Serialize)]
struct PageLink {
    number: i64,
    /// The query string after `/consola/bandeja?` (the template escapes it: `&` as `&amp;`).
    query: String,
}

fn page_context(
    desk: &Desk,
    viewer: &Viewer,
    query: &BandejaQuery,
    filter: &BandejaFilter,
    found: BandejaPage,
    mut notices: Vec<String>,
    now: DateTime<Utc>,
) -> BandejaView {
    let config = &desk.config;
    let shown: Vec<&BandejaRow> = found
        .rows
        .iter()
        .filter(|row| {
            let visible = desk.sees(&viewer.actor, &row.case);
            if !visible {
                // The query's scope is meant to equal `sees`: a difference is a bug to look at.
                tracing::warn!(case = %row.number, "consola: la bandeja trajo un caso que el agente no ve");
            }
            visible
        })
        .collect();
    if shown.len() < found.rows.len() {
        notices.push(
            "Algunos casos de esta página no se muestran: no tiene permiso para verlos.".into(),
        );
    }
    let calendar = config.calendar();
    let rows: Vec<RowView> =
        shown.iter().map(|row| row_view(config, &calendar, row, now)).collect();
    let pages = ((found.total + PER_PAGE - 1) / PER_PAGE).max(1);
    let current = filter.offset / PER_PAGE + 1;
    let link = |number: i64| PageLink { number, query: page_query(query, number) };
    BandejaView {
        rows,
        total: found.total,
        page: current,
        pages,
        previous: (current > 1).then(|| link(current - 1)),
        next: (current < pages).then(|| link(current + 1)),
        first: (current > 2).then(|| link(1)),
        last: (current + 1 < pages).then(|| link(pages)),
        notices,
        q: given(&query.q).unwrap_or_default().to_string(),
        vencidos: filter.overdue,
        niveles: choices(Level::ALL.iter().map(|l| (l.as_str(), level_label(*l))), &query.nivel),
        grupos: choices(
            config.grupos.iter().map(|g| (g.name.as_str(), g.name.as_str())),
            &query.grupo,
        ),
        agentes: choices(
            config.agentes.iter().map(|a| (a.address.as_str(), a.name.as_str())),
            &query.agente,
        ),
        temas: choices(Tema::ALL.iter().map(|t| (t.as_str(), t.label())), &query.tema),
        tipos: choices(CaseType::ALL.iter().map(|t| (t.as_str(), t.label())), &query.tipo),
        estados: choices(
            Status::ALL.iter().map(|s| (s.as_str(), s.label())).chain([("todos", "Todos")]),
            &query.estado,
        ),
        canales: choices(Channel::ALL.iter().map(|c| (c.as_str(), c.label())), &query.canal),
    }
}

fn choices<'a>(
    options: impl Iterator<Item = (&'a str, &'a str)>,
    current: &Option<String>,
) -> Vec<Choice> {
    let current = given(current).unwrap_or_default();
    options
        .map(|(value, label)| Choice {
            value: value.to_string(),
            label: label.to_string(),
            selected: value.eq_ignore_ascii_case(current),
        })
        .collect()
}

/// The bandeja's query string with the same filters and page `number`.
fn page_query(query: &BandejaQuery, number: i64) -> String {
    let fields = [
        ("q", &query.q),
        ("nivel", &query.nivel),
        ("grupo", &query.grupo),
        ("agente", &query.agente),
        ("tema", &query.tema),
        ("tipo", &query.tipo),
        ("estado", &query.estado),
        ("canal", &query.canal),
        ("vencidos", &query.vencidos),
    ];
    let mut href = String::new();
    for (name, value) in fields {
        if let Some(value) = given(value) {
            href.push_str(&format!("{name}={}&", super::session::query_encode(value)));
        }
    }
    href.push_str(&format!("pagina={number}"));
    href
}

fn row_view(config: &Config, calendar: &Calendar, row: &BandejaRow, now: DateTime<Utc>) -> RowView {
    let case = &row.case;
    let zone = config.zone();
    let local = |text: &str| parse_time(text).map(|t| zone.local(t.with_timezone(&Utc)));
    let now_local = zone.local(now);
    let waiting = match (case.status, row.asked_at.as_deref().or(row.waiting_since.as_deref())) {
        (Status::PendienteInformacion, Some(since)) => {
            local(since).map_or(String::new(), |since| {
                match business_days_waited(calendar, since, now_local) {
                    1 => "1 día hábil".to_string(),
                    days if days > MAX_WAITING_DAYS => {
                        format!("más de {MAX_WAITING_DAYS} días hábiles")
                    }
                    days => format!("{days} días hábiles"),
                }
            })
        }
        _ => String::new(),
    };
    let age = parse_time(&row.created_at)
        .map_or(String::new(), |created| human_duration(now - created.with_timezone(&Utc)));
    RowView {
        number: row.number.clone(),
        subject: row.subject.clone(),
        tema: case.tema.label(),
        channel: case.channel.label(),
        level: level_label(case.level),
        status: case.status.label(),
        group: case.group.clone().unwrap_or_default(),
        agent: case.agent.clone().unwrap_or_default(),
        requester: row
            .requester_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| row.requester.clone()),
        age,
        waiting,
        sla: sla_view(config, calendar, row, now),
    }
}

/// The service-level state of a row at `now` (see the module's documentation); `None` for a
/// case without a running target (N1, solved, closed).
pub fn sla_view(
    config: &Config,
    calendar: &Calendar,
    row: &BandejaRow,
    now: DateTime<Utc>,
) -> Option<SlaView> {
    let case = &row.case;
    let target = config.sla_target(case.level)?;
    if !case.status.is_open() {
        return None;
    }
    let zone = config.zone();
    let since = zone.local(parse_time(row.level_since.as_deref()?)?.with_timezone(&Utc));
    let now_local = zone.local(now);
    let first_due = calendar.add_business_hours(since, target.first_response_hours);
    let acted = row.first_action_at.as_deref().and_then(parse_time);
    let answered_in_time = acted.is_some_and(|at| at <= first_due);
    let (name, hours) = if acted.is_none() {
        ("primera respuesta", target.first_response_hours)
    } else {
        ("solución", target.resolution_hours)
    };
    let due = calendar.add_business_hours(since, hours);
    let late_first = !answered_in_time && now_local > first_due;
    if row.breach_recorded
        || late_first
        || (acted.is_some() && now_local > due && case.status != Status::PendienteInformacion)
    {
        let over = if now_local > due {
            format!(" hace {}", human_duration(now_local - due))
        } else {
            String::new()
        };
        return Some(SlaView { class: "vencido", words: format!("Vencido ({name}){over}") });
    }
    if acted.is_some() && case.status == Status::PendienteInformacion {
        return Some(SlaView {
            class: "a_tiempo",
            words: "A tiempo (reloj en pausa: esperando al solicitante)".into(),
        });
    }
    let left = human_duration(due - now_local);
    if now_local >= calendar.add_business_hours(since, hours * WARNING_SHARE) {
        Some(SlaView { class: "por_vencer", words: format!("Por vencer ({name}): quedan {left}") })
    } else {
        Some(SlaView { class: "a_tiempo", words: format!("A tiempo ({name}): quedan {left}") })
    }
}

/// Most business days of waiting a row counts (a case closes long before: 10 by default).
const MAX_WAITING_DAYS: u32 = 400;

/// Whole business days from `since` to `now`, as [`crate::desk::waiting::business_days_waited`]
/// counts them, found by bisection: that one adds day after day, which for a case waiting
/// months is too slow for fifty rows of a page.
fn business_days_waited(
    calendar: &Calendar,
    since: DateTime<FixedOffset>,
    now: DateTime<FixedOffset>,
) -> u32 {
    let (mut passed, mut not_yet) = (0, MAX_WAITING_DAYS + 1);
    while not_yet - passed > 1 {
        let middle = (passed + not_yet) / 2;
        if calendar.add_business_days(since, f64::from(middle)) <= now {
            passed = middle;
        } else {
            not_yet = middle;
        }
    }
    passed
}

fn parse_time(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}

/// A duration as people say it: "25 min", "3 h", "2 días".
pub fn human_duration(duration: Duration) -> String {
    let minutes = duration.num_minutes().max(0);
    match minutes {
        0..60 => format!("{minutes} min"),
        60..2880 => format!("{} h", minutes / 60),
        _ => format!("{} días", minutes / 1440),
    }
}

/// Levels as the console's tables name them (short: a column of its own).
pub(crate) fn level_label(level: Level) -> &'static str {
    match level {
        Level::N1 => "N1",
        Level::N2 => "N2",
        Level::N3 => "N3",
        Level::AdministracionTecnica => "Administración Técnica",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_read_as_number_address_cufe_nit_or_words() {
        let read = |text: &str| read_search(text, "FE", 2026).expect("readable").expect("search");
        assert_eq!(read("fe-2026-000012"), BandejaSearch::Number("FE-2026-000012".into()));
        assert_eq!(read("12"), BandejaSearch::Number("FE-2026-000012".into()));
        assert_eq!(read(" Ana@Empresa.CO "), BandejaSearch::Requester("ana@empresa.co".into()));
        assert_eq!(read("@empresa.co"), BandejaSearch::RequesterDomain("@empresa.co".into()));
        let cufe = "D96F1533F0DF6342ECDF29EAD89C6039705250D2A5275E9799DC23DF09A363E3";
        assert_eq!(read(cufe), BandejaSearch::Cufe(cufe.to_lowercase()));
        assert_eq!(read("900.481.236-1"), BandejaSearch::Nit("900481236".into()));
        assert_eq!(read("900481236"), BandejaSearch::Nit("900481236".into()));
        assert_eq!(
            read("Rechazo FACTURACIÓN rechazo"),
            BandejaSearch::Words(vec!["rechazo".into(), "facturacion".into()])
        );
        assert!(read_search("¿?", "FE", 2026).is_err());
        assert!(read_search("   ", "FE", 2026).expect("empty").is_none());
    }

    #[test]
    fn waiting_days_by_bisection_are_the_desks_count() {
        let calendar = Calendar::weekdays_only();
        let since = DateTime::parse_from_rfc3339("2026-11-02T10:00:00-05:00").expect("time");
        for days in [0, 1, 3, 9, 40] {
            let now = since + Duration::days(days) + Duration::hours(1);
            assert_eq!(
                business_days_waited(&calendar, since, now),
                crate::desk::waiting::business_days_waited(&calendar, since, now),
                "{days} days"
            );
        }
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_duration(Duration::minutes(25)), "25 min");
        assert_eq!(human_duration(Duration::hours(3)), "3 h");
        assert_eq!(human_duration(Duration::hours(50)), "2 días");
        assert_eq!(human_duration(Duration::hours(-2)), "0 min");
    }
}
