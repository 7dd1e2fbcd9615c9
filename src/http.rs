//! The operators' HTTP endpoint (loopback by default): `/healthz` (the process answers),
//! `/readyz` (store, buzones, outbox, OAuth2 tokens), `/metrics` (Prometheus text format) and a
//! read-only JSON API for cases behind a bearer token (`/api/casos`, `/api/casos/{numero}`).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};

use crate::desk::Level;
use crate::desk::case::Status;
use crate::secrets::Secret;
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::store::cases::CaseFilter;
use crate::telemetry::{BuzonState, Telemetry, family, label};

/// Mail due this long ago and still not sent means the outbox is stuck.
const OUTBOX_STUCK_AFTER: chrono::Duration = chrono::Duration::minutes(15);

pub struct HttpState {
    pub store: Store,
    pub telemetry: Arc<Telemetry>,
    /// `None`: the case API is off (no `http.token_api`).
    pub api_token: Option<Secret>,
    /// Whether a worker sends the outbox (without SMTP settings mail waits by design).
    pub outbox_running: bool,
}

pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/casos", get(list_cases))
        .route("/api/casos/{numero}", get(show_case))
        .with_state(state)
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

async fn readyz(State(state): State<Arc<HttpState>>) -> Response {
    // The buzones before the database fault: a watcher records the fault first and then its
    // disconnection, so a buzón seen down for the database always comes with the reason.
    let buzones = state.telemetry.buzones();
    let failing_tokens = state.telemetry.failing_tokens();
    let store = match (state.store.ping().await, state.telemetry.database_fault()) {
        (Err(e), _) => Err(e.to_string()),
        (Ok(()), Some(fault)) => Err(fault),
        (Ok(()), None) => Ok(()),
    };
    let before = crate::store::outbox::timestamp(chrono::Utc::now() - OUTBOX_STUCK_AFTER);
    let overdue = state.store.overdue_outbox(&before).await.unwrap_or(0);
    let stuck = state.outbox_running && overdue > 0;
    let all_connected = buzones.values().all(|b| matches!(b, BuzonState::Conectado { .. }));
    let ready = store.is_ok() && all_connected && !stuck && failing_tokens.is_empty();
    let body = json!({
        "listo": ready,
        "base_datos": match &store { Ok(()) => "ok".to_string(), Err(e) => e.clone() },
        "buzones": buzones,
        "cola_salida": {"vencidos_hace_mas_de_15_min": overdue, "atascada": stuck},
        "oauth_tokens_fallando": failing_tokens,
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
    let mut out = String::new();
    match state.store.stats().await {
        Ok(stats) => render_store_stats(&mut out, &stats),
        Err(e) => warn!(error = %e, "métricas: no se pudo leer la base de datos"),
    }
    state.telemetry.render(&mut out);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}

fn render_store_stats(out: &mut String, stats: &crate::store::stats::StoreStats) {
    family(
        out,
        "mesa_fe_mensajes_total",
        "counter",
        "Mensajes guardados por buzón y estado (procesado, cuarentena, duplicado, ignorado, pendiente).",
    );
    for (buzon, status, n) in &stats.messages {
        let _ = writeln!(
            out,
            "mesa_fe_mensajes_total{{buzon=\"{}\",estado=\"{}\"}} {n}",
            label(buzon),
            label(status)
        );
    }
    family(out, "mesa_fe_cuarentena_total", "counter", "Mensajes en cuarentena por buzón.");
    for (buzon, status, n) in stats.messages.iter().filter(|(_, s, _)| s == "cuarentena") {
        let _ =
            (status, writeln!(out, "mesa_fe_cuarentena_total{{buzon=\"{}\"}} {n}", label(buzon)));
    }
    family(
        out,
        "mesa_fe_casos_abiertos_total",
        "counter",
        "Casos abiertos desde el inicio, por tema.",
    );
    for (tema, n) in &stats.cases_by_tema {
        let _ = writeln!(out, "mesa_fe_casos_abiertos_total{{tema=\"{}\"}} {n}", label(tema));
    }
    family(
        out,
        "mesa_fe_casos_por_canal_total",
        "counter",
        "Casos por canal (rechazado: remitentes que no podían escribir a ese buzón).",
    );
    for (channel, n) in &stats.cases_by_channel {
        let _ = writeln!(out, "mesa_fe_casos_por_canal_total{{canal=\"{}\"}} {n}", label(channel));
    }
    family(out, "mesa_fe_casos", "gauge", "Casos por estado y nivel actuales.");
    for (status, level, n) in &stats.cases_by_status {
        let _ = writeln!(
            out,
            "mesa_fe_casos{{estado=\"{}\",nivel=\"{}\"}} {n}",
            label(status),
            label(level)
        );
    }
    family(
        out,
        "mesa_fe_cola_salida",
        "gauge",
        "Correos de la cola de salida por estado (pendiente, enviado, fallo_temporal, fallo_permanente).",
    );
    for (status, n) in &stats.outbox {
        let _ = writeln!(out, "mesa_fe_cola_salida{{estado=\"{}\"}} {n}", label(status));
    }
    family(
        out,
        "mesa_fe_sla_vencidos_total",
        "counter",
        "Objetivos de servicio vencidos por nivel y objetivo.",
    );
    for (level, target, n) in &stats.sla_breaches {
        let _ = writeln!(
            out,
            "mesa_fe_sla_vencidos_total{{nivel=\"{}\",objetivo=\"{}\"}} {n}",
            label(level),
            label(target)
        );
    }
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
