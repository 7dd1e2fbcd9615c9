//! Benchmark of the console's bandeja over 100,000 cases: the store's query and the page's
//! rendering (what `/consola/bandeja` does on the server), p50/p95 over ~30 runs of each view.
//! Goal: < 150 ms per page. The cases are written straight into the database by one SQL
//! statement (a recursive CTE, the same text on both backends): the bench measures reading,
//! and the pipeline's bench measures writing.
//!
//! Run: `cargo bench --bench console` (SQLite); with `MESA_FE_PRUEBA_BASE=postgres` and the dev
//! stack's environment, PostgreSQL as well. `MESA_FE_BENCH_CASOS=20000` for fewer cases.

#[path = "../tests/common/db.rs"]
mod db;

use std::time::Instant;

use db::{Backend, TestDb};
use mesa_fe::config::Config;
use mesa_fe::console::bandeja::{BandejaQuery, bandeja, read_filter, scope};
use mesa_fe::console::session::Viewer;
use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::pipeline::Desk;
use mesa_fe::store::Store;

const RUNS: usize = 30;
const AGENT: &str = "ana.rojas@dian.gov.co";

/// Cases 1..=N: 30 % open (n2, the escalated ones at n3), 1 in 500 a security case, one
/// document with CUFE and NIT every second case, a breach recorded on 1 open case in 10;
/// subjects and bodies from a small vocabulary, the word "anticipo" in 1 case in 97.
const SEED: &str = "
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $COUNT),
g(i, tema, grp, status, stamp) AS (SELECT i,
    CASE i % 7 WHEN 0 THEN 'factura_electronica' WHEN 1 THEN 'documento_soporte' WHEN 2 THEN 'nomina_electronica'
        WHEN 3 THEN 'radian' WHEN 4 THEN 'facturador_gratuito' WHEN 5 THEN 'habilitacion' ELSE 'otro' END,
    CASE WHEN i % 500 = 0 THEN 'seguridad' WHEN i % 7 = 1 THEN 'n2_documento_soporte' WHEN i % 7 = 2 THEN 'n2_nomina'
        WHEN i % 7 = 3 THEN 'n2_radian' WHEN i % 7 = 4 THEN 'n2_facturador_gratuito'
        WHEN i % 7 = 5 THEN 'n2_habilitacion' ELSE 'n2_factura' END,
    CASE WHEN i % 10 >= 3 THEN (CASE WHEN i % 3 = 0 THEN 'cerrado' ELSE 'solucionado' END)
        WHEN i % 4 = 0 THEN 'nuevo' WHEN i % 4 = 1 THEN 'en_atencion' WHEN i % 4 = 2 THEN 'pendiente_informacion'
        ELSE 'escalado' END,
    '2026-' || substr(CAST(101 + i % 11 AS TEXT), 2) || '-' || substr(CAST(101 + i % 28 AS TEXT), 2)
        || 'T1' || CAST(i % 10 AS TEXT) || ':00:00Z'
    FROM n)
INSERT INTO cases (number, year, status, level, tema, channel, buzon, requester, requester_name, subject,
    security_category, group_name, agent, engine_state, created_at, updated_at, level_since, waiting_since,
    search_text)
SELECT 'FE-2026-' || substr(CAST(1000000 + i AS TEXT), 2), 2026, status,
    CASE WHEN status = 'escalado' THEN 'n3' ELSE 'n2' END, tema,
    CASE WHEN i % 50 = 0 THEN 'aranda' ELSE 'correo' END, 'facturaelectronica',
    'contacto' || CAST(i % 20000 AS TEXT) || '@empresa' || CAST(i % 5000 AS TEXT) || '.example',
    'Contacto ' || CAST(i % 20000 AS TEXT),
    CASE i % 8 WHEN 0 THEN 'Rechazo de factura electrónica' WHEN 1 THEN 'Consulta sobre nómina electrónica'
        WHEN 2 THEN 'Error en la habilitación' WHEN 3 THEN 'Documento soporte no validado'
        WHEN 4 THEN 'Evento RADIAN de aceptación' WHEN 5 THEN 'El facturador gratuito no carga'
        WHEN 6 THEN 'Nota crédito rechazada' ELSE 'Consulta general' END || ' ' || CAST(i AS TEXT),
    CASE WHEN i % 500 = 0 THEN 'h' ELSE NULL END, grp,
    CASE WHEN grp = 'n2_factura' THEN 'ana.rojas@dian.gov.co' ELSE 'agente' || CAST(i % 20 AS TEXT) || '@dian.gov.co' END,
    '{\"required\":[],\"evidence\":{\"supplied\":[],\"reports_rejection\":false},\"path\":[{\"level\":\"n2\",\"group\":\"'
        || grp || '\",\"holder\":\"agente@dian.gov.co\"}],\"diagnosed\":false}',
    stamp, stamp, stamp, CASE WHEN status = 'pendiente_informacion' THEN stamp ELSE NULL END,
    CASE i % 8 WHEN 0 THEN 'rechazo de factura electronica' WHEN 1 THEN 'consulta sobre nomina electronica'
        WHEN 2 THEN 'error en la habilitacion' WHEN 3 THEN 'documento soporte no validado'
        WHEN 4 THEN 'evento radian de aceptacion' WHEN 5 THEN 'el facturador gratuito no carga'
        WHEN 6 THEN 'nota credito rechazada' ELSE 'consulta general' END || ' ' || CAST(i AS TEXT)
        || ' buenos dias, la factura ' || CAST(i AS TEXT) || ' fue rechazada con la regla fad'
        || CAST(i % 90 AS TEXT) || ' para el nit ' || CAST(900000000 + i % 5000 AS TEXT)
        || CASE WHEN i % 97 = 0 THEN ' es una factura de anticipo' ELSE '' END
        || '. quedamos atentos a la respuesta de la mesa de servicio, gracias por su ayuda.'
FROM g;
INSERT INTO case_messages (case_id, direction, from_addr, subject, own_words, created_at)
SELECT id, 'entrante', requester, subject, search_text, created_at FROM cases WHERE id % 2 = 0;
INSERT INTO documents (case_message_id, case_id, kind, uuid, supplier_nit, customer_nit, source)
SELECT m.id, m.case_id, 'invoice',
    'd96f1533f0df6342ecdf29ead89c6039705250d2a5275e9799dc23df09a363e3fb5dcf4824c516402f731'
        || substr(CAST(100000000000 + m.case_id AS TEXT), 2),
    CAST(900000000 + m.case_id % 5000 AS TEXT), CAST(800000000 + m.case_id % 30000 AS TEXT), 'factura.xml'
FROM case_messages m;
INSERT INTO sla_breaches (case_id, level, target, due_at, detected_at)
SELECT id, level, 'primera_respuesta', created_at, created_at FROM cases WHERE id % 10 = 0
    AND status IN ('nuevo', 'pendiente_informacion', 'en_atencion', 'escalado');
";

fn main() {
    let count: u32 =
        std::env::var("MESA_FE_BENCH_CASOS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut backends = vec![Backend::Sqlite];
    if Backend::from_env() == Backend::Postgres {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        runtime.block_on(run(backend, count));
    }
}

async fn run(backend: Backend, count: u32) {
    let db = TestDb::on(backend);
    let mut config = Config::builtin().expect("config");
    config.general.database_url = db.url();
    let store = Store::open(&db.url()).await.expect("store");
    let started = Instant::now();
    seed(&db, count).await;
    println!("\n{backend:?}: {count} casos creados en {:.1} s", started.elapsed().as_secs_f64());
    let desk = Desk::new(config, KnowledgeBase::builtin());
    let viewer = viewer(&desk, AGENT);
    let cufe = format!(
        "D96F1533F0DF6342ECDF29EAD89C6039705250D2A5275E9799DC23DF09A363E3FB5DCF4824C516402F731{}",
        &(100_000_000_000u64 + u64::from(count / 14 * 14)).to_string()[1..]
    );
    let views: [(&str, BandejaQuery); 5] = [
        ("(a) agente N2, vista por defecto", BandejaQuery::default()),
        ("(b) palabras «rechazada anticipo», todos", query(Some("rechazada anticipo"), true)),
        ("(c) NIT 900.004.998-1, todos", query(Some("900.004.998-1"), true)),
        ("(d) CUFE, todos", query(Some(&cufe), true)),
        ("(e) vencidos", BandejaQuery { vencidos: Some("1".into()), ..BandejaQuery::default() }),
    ];
    println!(
        "{:<44} {:>7} {:>8} {:>8} {:>8} {:>14}",
        "vista (consulta + página)", "página", "casos", "p50 ms", "p95 ms", "consulta p50"
    );
    for (name, base) in views {
        for page in ["1", "100"] {
            let query = BandejaQuery { pagina: Some(page.into()), ..base.clone() };
            let (times, rows, total) = time_view(&desk, &store, &viewer, &query).await;
            let store_times = time_query(&desk, &store, &viewer, &query).await;
            println!(
                "{name:<44} {page:>7} {:>8} {:>8.1} {:>8.1} {:>14.1}   ({rows} filas)",
                total,
                percentile(&times, 0.50),
                percentile(&times, 0.95),
                percentile(&store_times, 0.50)
            );
        }
    }
    store.close().await;
}

/// The cases, straight into the database (after `Store::open` migrated it).
async fn seed(db: &TestDb, count: u32) {
    let sql = SEED.replace("$COUNT", &count.to_string());
    match db.backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url()).await.expect("sqlite");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await.expect("seed");
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url()).await.expect("postgres");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await.expect("seed");
            // What autovacuum does soon after a bulk load in production.
            sqlx::raw_sql(sqlx::AssertSqlSafe("ANALYZE".to_string()))
                .execute(&pool)
                .await
                .expect("analyze");
            pool.close().await;
        }
    }
}

fn query(q: Option<&str>, all: bool) -> BandejaQuery {
    BandejaQuery {
        q: q.map(String::from),
        estado: all.then(|| "todos".to_string()),
        ..BandejaQuery::default()
    }
}

fn viewer(desk: &Desk, address: &str) -> Viewer {
    let agent = desk.config.agent(address).expect("agent");
    Viewer {
        session_id: 0,
        address: address.into(),
        name: agent.name.clone(),
        actor: desk.actor(address).expect("actor"),
        groups: agent.groups.clone(),
        coordinates: Vec::new(),
        security: false,
        csrf: "x".repeat(43),
    }
}

/// Milliseconds of each run (query + rendering + reading the body), the rows and the total.
async fn time_view(
    desk: &Desk,
    store: &Store,
    viewer: &Viewer,
    query: &BandejaQuery,
) -> (Vec<f64>, usize, String) {
    let mut times = Vec::with_capacity(RUNS);
    let mut body = String::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let response = bandeja(desk, store, viewer, query, chrono::Utc::now()).await;
        assert_eq!(response.status(), 200);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
        times.push(started.elapsed().as_secs_f64() * 1e3);
        body = String::from_utf8(bytes.to_vec()).expect("utf-8");
    }
    let rows = body.matches("<a href=\"/consola/caso/").count();
    let total = body
        .split("<p class=\"resumen\" role=\"status\">")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("0")
        .to_string();
    (times, rows, total)
}

/// Milliseconds of the store's query alone (count, page, rows).
async fn time_query(desk: &Desk, store: &Store, viewer: &Viewer, query: &BandejaQuery) -> Vec<f64> {
    let now = chrono::Utc::now();
    let (mut filter, _) = read_filter(&desk.config, query, now);
    let scope = scope(desk, viewer);
    let total = store.bandeja(&scope, &filter).await.expect("query").total;
    // As the page does past the last page.
    filter.offset = filter.offset.min((total.max(1) - 1) / 50 * 50);
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        store.bandeja(&scope, &filter).await.expect("query");
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times
}

fn percentile(times: &[f64], share: f64) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = ((sorted.len() as f64 - 1.0) * share).round() as usize;
    sorted.get(at).copied().unwrap_or(0.0)
}
