//! The operators' HTTP endpoint (loopback by default): `/healthz` (the process answers),
//! `/readyz` (store, buzones, outbox, OAuth2 tokens), `/metrics` (Prometheus text format) and a
//! read-only JSON API for cases behind a bearer token (`/api/casos`, `/api/casos/{numero}`), and
//! the web console under `/consola` ([`crate::console`]).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};

use crate::config::Config;
use crate::desk::case::Status;
use crate::desk::sla::Target;
use crate::desk::{Channel, Level, Tema};
use crate::live::Live;
use crate::secrets::Secret;
use crate::shutdown::Shutdown;
use crate::store::cases::CaseFilter;
use crate::store::leases::LeaseRow;
use crate::store::stats::StoreStats;
use crate::store::{Fault, Store};
use crate::telemetry::{BuzonState, TaskState, Telemetry};

/// Mail due this long ago and still not sent means the outbox is stuck.
const OUTBOX_STUCK_AFTER: chrono::Duration = chrono::Duration::minutes(15);

pub struct HttpState {
    pub store: Store,
    pub telemetry: Arc<Telemetry>,
    /// The configuration names the label values every scrape shows, at 0 until counted.
    pub live: Live,
    /// `None`: the case API is off (no `http.token_api`).
    pub api_token: Option<Secret>,
    /// The supervised task that sends the outbox; `None` without SMTP settings (mail waits by
    /// design, and that is no reason to be unready).
    pub outbox_task: Option<String>,
    /// Wakes the outbox worker when the console queues mail (an action's answer).
    pub outbox_wake: Option<Arc<tokio::sync::Notify>>,
}

pub fn router(state: Arc<HttpState>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/casos", get(list_cases))
        .route("/api/casos/{numero}", get(show_case));
    if state.live.desk().config.consola.enabled {
        let console = crate::console::router()
            .layer(axum::middleware::from_fn(crate::console::page::security_headers))
            .layer(axum::middleware::from_fn(crate::console::page::access_log));
        router = router.nest("/consola", console);
    }
    router.with_state(state)
}

/// Serves until shutdown.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<HttpState>, shutdown: Shutdown) {
    if let Ok(address) = listener.local_addr() {
        info!(%address, "servidor HTTP de salud y métricas escuchando");
    }
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await;
    if let Err(e) = served {
        warn!(error = %e, "el servidor HTTP se detuvo con un error");
    }
}

/// How long `/readyz` waits for the database to answer its ping.
const READY_PING_LIMIT: std::time::Duration = std::time::Duration::from_secs(3);

async fn readyz(State(state): State<Arc<HttpState>>) -> Response {
    // The buzones before the database fault: a watcher records the fault first and then its
    // disconnection, so a buzón seen down for the database always comes with the reason.
    let buzones = state.telemetry.buzones();
    let failing_tokens = state.telemetry.failing_tokens();
    // A server that went away must not hold the answer for the pool's whole wait.
    let ping = tokio::time::timeout(READY_PING_LIMIT, state.store.ping()).await;
    let store = match (ping, state.telemetry.database_fault()) {
        (Err(_), _) => Err(format!(
            "{}: no respondió en {} s",
            Fault::Unreachable.describe(),
            READY_PING_LIMIT.as_secs()
        )),
        (Ok(Err(e)), _) => Err(match e.fault() {
            Some(fault) => format!("{}: {e}", fault.describe()),
            None => e.to_string(),
        }),
        (Ok(Ok(())), Some(fault)) => Err(fault),
        (Ok(Ok(())), None) => Ok(()),
    };
    let before = crate::store::outbox::timestamp(chrono::Utc::now() - OUTBOX_STUCK_AFTER);
    let overdue = state.store.overdue_outbox(&before).await.unwrap_or(0);
    // What runs now, not what was started: a task waiting to restart is not running.
    let tasks = state.telemetry.tasks();
    let running = |name: &str| matches!(tasks.get(name), Some(TaskState::EnMarcha { .. }));
    let outbox_running = state.outbox_task.as_deref().is_some_and(running);
    let stuck = state.outbox_task.is_some() && overdue > 0;
    let all_connected = buzones.values().all(BuzonState::is_served);
    let all_running = tasks.values().all(|t| matches!(t, TaskState::EnMarcha { .. }));
    let ready = store.is_ok()
        && all_connected
        && !stuck
        && failing_tokens.is_empty()
        && all_running
        && (state.outbox_task.is_none() || outbox_running);
    // Who reads each buzón and runs each timer, when nodes share the database.
    let leases = if state.store.is_shared() {
        state.store.leases().await.ok().map(|rows| {
            let shown = |l: LeaseRow| json!({ "nombre": l.name, "nodo": l.holder, "vence_en_ms": l.expires_in_ms });
            rows.into_iter().map(shown).collect::<Vec<_>>()
        })
    } else {
        None
    };
    let body = json!({
        "listo": ready,
        "base_datos": match &store { Ok(()) => "ok".to_string(), Err(e) => e.clone() },
        "buzones": buzones,
        "cola_salida": {
            "en_marcha": outbox_running,
            "vencidos_hace_mas_de_15_min": overdue,
            "atascada": stuck,
        },
        "oauth_tokens_fallando": failing_tokens,
        "tareas": tasks,
        "arrendamientos": leases,
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
    let mut registry = Registry::with_prefix("mesa_fe");
    match state.store.stats().await {
        Ok(stats) => register_store_stats(&mut registry, &stats, &state.live.desk().config),
        // Counters at 0 would read as a reset: better no store series than wrong ones.
        Err(e) => warn!(error = %e, "métricas: no se pudo leer la base de datos"),
    }
    state.telemetry.register(&mut registry);
    let mut out = String::new();
    if prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let content_type = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
    ([(header::CONTENT_TYPE, content_type)], out).into_response()
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    buzon: String,
    estado: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuzonLabel {
    buzon: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TemaLabel {
    tema: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabel {
    canal: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CaseLabels {
    estado: String,
    nivel: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    estado: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SlaLabels {
    nivel: String,
    objetivo: String,
}

/// A count from SQL as a counter's increment (a negative count cannot happen).
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The store's counts as series: every label value the configuration and the code know is there
/// at 0, so a rate over a series that has not moved yet is 0, not "no data".
fn register_store_stats(registry: &mut Registry, stats: &StoreStats, config: &Config) {
    use crate::store::outbox::OutboxStatus;
    use crate::store::raw::RawStatus;

    let buzones: Vec<&str> = config.buzones.iter().map(|b| b.name.as_str()).collect();
    // `get_or_create` alone puts a series at 0 (the guard it returns is dropped at once).
    // Rows as they stand now: a message leaves `pendiente` and a quarantined one may be released,
    // so these go down too (gauges, not counters).
    let messages = Family::<MessageLabels, Gauge>::default();
    let quarantine = Family::<BuzonLabel, Gauge>::default();
    for buzon in &buzones {
        let _ = quarantine.get_or_create(&BuzonLabel { buzon: buzon.to_string() });
        for estado in RawStatus::ALL {
            let _ = messages.get_or_create(&MessageLabels {
                buzon: buzon.to_string(),
                estado: estado.as_str().into(),
            });
        }
    }
    for (buzon, estado, n) in &stats.messages {
        let labels = MessageLabels { buzon: buzon.clone(), estado: estado.clone() };
        messages.get_or_create(&labels).set(*n);
        if estado == RawStatus::Cuarentena.as_str() {
            quarantine.get_or_create(&BuzonLabel { buzon: buzon.clone() }).set(*n);
        }
    }
    registry.register(
        "mensajes",
        "Mensajes guardados por buzón y estado (procesado, cuarentena, duplicado, ignorado, pendiente)",
        messages,
    );
    registry.register("cuarentena", "Mensajes en cuarentena por buzón", quarantine);

    let by_tema = Family::<TemaLabel, Counter>::default();
    for tema in Tema::ALL {
        let _ = by_tema.get_or_create(&TemaLabel { tema: tema.as_str().into() });
    }
    for (tema, n) in &stats.cases_by_tema {
        by_tema.get_or_create(&TemaLabel { tema: tema.clone() }).inc_by(count(*n));
    }
    registry.register("casos_abiertos", "Casos abiertos desde el inicio, por tema", by_tema);

    let by_channel = Family::<ChannelLabel, Counter>::default();
    for channel in Channel::ALL {
        let _ = by_channel.get_or_create(&ChannelLabel { canal: channel.as_str().into() });
    }
    for (canal, n) in &stats.cases_by_channel {
        by_channel.get_or_create(&ChannelLabel { canal: canal.clone() }).inc_by(count(*n));
    }
    registry.register(
        "casos_por_canal",
        "Casos por canal (rechazado: remitentes que no podían escribir a ese buzón)",
        by_channel,
    );

    let cases = Family::<CaseLabels, Gauge>::default();
    for status in Status::ALL {
        for level in Level::ALL {
            let labels =
                CaseLabels { estado: status.as_str().into(), nivel: level.as_str().into() };
            let _ = cases.get_or_create(&labels);
        }
    }
    for (estado, nivel, n) in &stats.cases_by_status {
        cases.get_or_create(&CaseLabels { estado: estado.clone(), nivel: nivel.clone() }).set(*n);
    }
    registry.register("casos", "Casos por estado y nivel actuales", cases);

    let outbox = Family::<StatusLabel, Gauge>::default();
    for estado in OutboxStatus::ALL {
        let _ = outbox.get_or_create(&StatusLabel { estado: estado.as_str().into() });
    }
    for (estado, n) in &stats.outbox {
        outbox.get_or_create(&StatusLabel { estado: estado.clone() }).set(*n);
    }
    registry.register(
        "cola_salida",
        "Correos de la cola de salida por estado (pendiente, enviado, fallo_temporal, fallo_permanente, rebotado)",
        outbox,
    );

    let breaches = Family::<SlaLabels, Counter>::default();
    for level in Level::ALL.into_iter().filter(|l| config.sla_target(*l).is_some()) {
        for target in Target::ALL {
            let labels =
                SlaLabels { nivel: level.as_str().into(), objetivo: target.as_str().into() };
            let _ = breaches.get_or_create(&labels);
        }
    }
    for (nivel, objetivo, n) in &stats.sla_breaches {
        let labels = SlaLabels { nivel: nivel.clone(), objetivo: objetivo.clone() };
        breaches.get_or_create(&labels).inc_by(count(*n));
    }
    registry.register(
        "sla_vencidos",
        "Objetivos de servicio vencidos por nivel y objetivo",
        breaches,
    );
}

/// Why a request to the API is refused, if it is: the bearer token is compared in constant
/// time; 404 when the API is off.
fn refusal(state: &HttpState, headers: &HeaderMap) -> Option<Response> {
    let Some(expected) = &state.api_token else {
        return Some(
            (StatusCode::NOT_FOUND, "la API de casos está desactivada (http.token_api)\n")
                .into_response(),
        );
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let expected = expected.expose().as_bytes();
    let same = given.len() == expected.len()
        && given.bytes().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    (!same).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "falta el token o no es válido (Authorization: Bearer …)\n",
        )
            .into_response()
    })
}

#[derive(Debug, Deserialize)]
struct CaseQuery {
    estado: Option<String>,
    nivel: Option<String>,
    padre: Option<String>,
    #[serde(default)]
    vencidos: bool,
}

async fn list_cases(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    Query(query): Query<CaseQuery>,
) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    let status = query.estado.as_deref().map(|e| Status::parse(e).ok_or(("estado", e)));
    let level = query.nivel.as_deref().map(|n| Level::parse(n).ok_or(("nivel", n)));
    let (status, level) = match (status.transpose(), level.transpose()) {
        (Ok(status), Ok(level)) => (status, level),
        (Err((name, value)), _) | (_, Err((name, value))) => {
            let message = format!("{name} desconocido: \"{value}\"\n");
            return (StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    let filter = CaseFilter {
        status,
        level,
        parent: query.padre.map(|p| p.to_uppercase()),
        overdue: query.vencidos,
        ..CaseFilter::default()
    };
    match state.store.list_cases(&filter).await {
        Ok(cases) => axum::Json(cases).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

async fn show_case(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    match state.store.case_detail(&number.to_uppercase()).await {
        Ok(Some(detail)) => axum::Json(detail).into_response(),
        Ok(None) => {
            (StatusCode::NOT_FOUND, format!("no existe el caso {number}\n")).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_store_shows_every_known_series_at_zero() {
        let config = Config::builtin().expect("config");
        let mut registry = Registry::with_prefix("mesa_fe");
        register_store_stats(&mut registry, &StoreStats::default(), &config);
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).expect("encode");
        let buzon = &config.buzones[0].name;
        for series in [
            format!("mesa_fe_mensajes{{buzon=\"{buzon}\",estado=\"procesado\"}} 0"),
            format!("mesa_fe_cuarentena{{buzon=\"{buzon}\"}} 0"),
            "mesa_fe_casos_abiertos_total{tema=\"radian\"} 0".into(),
            "mesa_fe_casos_por_canal_total{canal=\"rechazado\"} 0".into(),
            "mesa_fe_casos{estado=\"nuevo\",nivel=\"n1\"} 0".into(),
            "mesa_fe_cola_salida{estado=\"fallo_permanente\"} 0".into(),
            "mesa_fe_sla_vencidos_total{nivel=\"n2\",objetivo=\"primera_respuesta\"} 0".into(),
        ] {
            assert!(out.lines().any(|l| l == series), "{series} missing:\n{out}");
        }
        assert!(out.contains("# TYPE mesa_fe_mensajes gauge"), "{out}");
        assert!(out.contains("# TYPE mesa_fe_casos gauge"), "{out}");
    }

    #[test]
    fn counts_from_the_store_add_to_the_zeros_and_label_values_are_escaped() {
        let config = Config::builtin().expect("config");
        let stats = StoreStats {
            messages: vec![("raro\"\\".into(), "cuarentena".into(), 2)],
            cases_by_status: vec![("nuevo".into(), "n1".into(), 5)],
            ..StoreStats::default()
        };
        let mut registry = Registry::with_prefix("mesa_fe");
        register_store_stats(&mut registry, &stats, &config);
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).expect("encode");
        for series in [
            r#"mesa_fe_mensajes{buzon="raro\"\\",estado="cuarentena"} 2"#,
            r#"mesa_fe_cuarentena{buzon="raro\"\\"} 2"#,
            r#"mesa_fe_casos{estado="nuevo",nivel="n1"} 5"#,
        ] {
            assert!(out.lines().any(|l| l == series), "{series} missing:\n{out}");
        }
    }
}
