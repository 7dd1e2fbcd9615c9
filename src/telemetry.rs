//! What the daemon knows about itself while it runs, for `/readyz` and `/metrics`: each buzón's
//! connection, in-process counters (IMAP reconnects, OAuth2 token failures) and the ingest
//! latency histogram. Counts that must survive restarts come from the store instead
//! ([`crate::store::stats`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Serialize;

/// A buzón's connection as the readiness check reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "estado", rename_all = "snake_case")]
pub enum BuzonState {
    /// Not connected yet since the start.
    Conectando,
    Conectado {
        desde: String,
    },
    /// The last attempt failed; `motivo` says why (never a secret).
    Desconectado {
        motivo: String,
        desde: String,
    },
    /// Another node holds the buzón's lease and reads it; this one takes over if that one dies.
    EnOtroNodo {
        nodo: String,
        desde: String,
    },
}

impl BuzonState {
    /// Whether the buzón is being read, here or by another node sharing the database.
    pub fn is_served(&self) -> bool {
        matches!(self, BuzonState::Conectado { .. } | BuzonState::EnOtroNodo { .. })
    }
}

/// A supervised task of the daemon ([`crate::supervisor`]) as the readiness check reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "estado", rename_all = "snake_case")]
pub enum TaskState {
    EnMarcha {
        desde: String,
    },
    /// It ended unexpectedly and waits `reintento_en_segundos` to start again.
    Reiniciando {
        motivo: String,
        desde: String,
        reintento_en_segundos: u64,
    },
}

/// Upper bounds (seconds) of the ingest latency buckets.
const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabel {
    tarea: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuzonLabel {
    buzon: String,
}

impl BuzonLabel {
    fn of(buzon: &str) -> BuzonLabel {
        BuzonLabel { buzon: buzon.to_string() }
    }
}

/// The in-process series; cloning one shares its values, so each scrape registers clones.
#[derive(Debug, Clone)]
struct Metrics {
    connected: Family<BuzonLabel, Gauge>,
    reconnects: Family<BuzonLabel, Counter>,
    token_failures: Family<BuzonLabel, Counter>,
    restarts: Family<TaskLabel, Counter>,
    latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            connected: Family::default(),
            reconnects: Family::default(),
            token_failures: Family::default(),
            restarts: Family::default(),
            latency: Histogram::new(LATENCY_BUCKETS),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    buzones: BTreeMap<String, BuzonState>,
    /// A buzón whose OAuth2 token could not be had or was refused at its last attempt.
    token_failing: BTreeMap<String, bool>,
    /// Why the database refused the last write of a buzón (disk full, damaged…), until one
    /// succeeds again.
    database_faults: BTreeMap<String, String>,
    tasks: BTreeMap<String, TaskState>,
}

/// Shared by the watchers (writers) and the HTTP server (reader).
#[derive(Debug, Default)]
pub struct Telemetry {
    inner: Mutex<Inner>,
    metrics: Metrics,
}

impl Telemetry {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A panic while holding the lock cannot leave the counters inconsistent in a way that
        // matters more than losing the metrics: recover the data.
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut inner)
    }

    /// A buzón to watch: its series exist (at 0) from now on, before its first connection.
    pub fn watching(&self, buzon: &str) {
        self.with(|i| {
            i.buzones.entry(buzon.to_string()).or_insert(BuzonState::Conectando);
        });
        let label = BuzonLabel::of(buzon);
        // `get_or_create` alone puts a series at 0 (the guard it returns is dropped at once).
        let _ = self.metrics.connected.get_or_create(&label);
        let _ = self.metrics.reconnects.get_or_create(&label);
        let _ = self.metrics.token_failures.get_or_create(&label);
    }

    pub fn connected(&self, buzon: &str) {
        let desde = now();
        self.with(|i| {
            i.buzones.insert(buzon.to_string(), BuzonState::Conectado { desde });
            i.token_failing.insert(buzon.to_string(), false);
        });
        self.metrics.connected.get_or_create(&BuzonLabel::of(buzon)).set(1);
    }

    /// Another node reads the buzón (`holder` is its lease holder: node, pid, random).
    pub fn elsewhere(&self, buzon: &str, holder: &str) {
        let desde = now();
        let nodo = holder.to_string();
        self.with(|i| {
            i.buzones.insert(buzon.to_string(), BuzonState::EnOtroNodo { nodo, desde });
            i.token_failing.insert(buzon.to_string(), false);
        });
        self.metrics.connected.get_or_create(&BuzonLabel::of(buzon)).set(0);
    }

    /// A failed session or connection attempt (counts as a reconnect).
    pub fn disconnected(&self, buzon: &str, reason: &str, token_failure: bool) {
        self.mark_disconnected(buzon, reason, token_failure);
        let label = BuzonLabel::of(buzon);
        self.metrics.reconnects.get_or_create(&label).inc();
        if token_failure {
            self.metrics.token_failures.get_or_create(&label).inc();
        }
    }

    /// The watcher itself stopped (it is restarted and counted as a task, not as a reconnect).
    pub fn watcher_stopped(&self, buzon: &str, reason: &str) {
        self.mark_disconnected(buzon, reason, false);
    }

    fn mark_disconnected(&self, buzon: &str, reason: &str, token_failure: bool) {
        let desde = now();
        self.with(|i| {
            i.buzones.insert(
                buzon.to_string(),
                BuzonState::Desconectado { motivo: reason.to_string(), desde },
            );
            i.token_failing.insert(buzon.to_string(), token_failure);
        });
        self.metrics.connected.get_or_create(&BuzonLabel::of(buzon)).set(0);
    }

    /// From fetching a message to the end of its processing.
    pub fn ingested(&self, took: Duration) {
        self.metrics.latency.observe(took.as_secs_f64());
    }

    /// A buzón's mail could not be written: `fault` says why, in the operator's words.
    pub fn database_failed(&self, buzon: &str, fault: &str) {
        let reason = format!(
            "{fault}: el correo del buzón {buzon} no se pudo guardar (desde {}); se reintenta solo y sigue en el buzón",
            now()
        );
        self.with(|i| {
            i.database_faults.entry(buzon.to_string()).or_insert(reason);
        });
    }

    /// A buzón's sync went through: whatever the database refused before works again.
    pub fn database_ok(&self, buzon: &str) {
        self.with(|i| {
            i.database_faults.remove(buzon);
        });
    }

    /// The first database failure still standing, for `/readyz`.
    pub fn database_fault(&self) -> Option<String> {
        self.with(|i| i.database_faults.values().next().cloned())
    }

    pub fn buzones(&self) -> BTreeMap<String, BuzonState> {
        self.with(|i| i.buzones.clone())
    }

    /// Buzones whose OAuth2 token failed at the last attempt.
    pub fn failing_tokens(&self) -> Vec<String> {
        self.with(|i| i.token_failing.iter().filter(|(_, f)| **f).map(|(b, _)| b.clone()).collect())
    }

    /// A task the supervisor is about to start: its restart count exists (at 0) from now on.
    pub fn task_expected(&self, task: &str) {
        let _ = self.metrics.restarts.get_or_create(&TaskLabel { tarea: task.to_string() });
    }

    pub fn task_running(&self, task: &str) {
        let desde = now();
        self.with(|i| {
            i.tasks.insert(task.to_string(), TaskState::EnMarcha { desde });
        });
    }

    /// A task ended unexpectedly: counted, and shown with `reason` until it runs again.
    pub fn task_failed(&self, task: &str, reason: &str, retry_in: Duration) {
        let state = TaskState::Reiniciando {
            motivo: reason.to_string(),
            desde: now(),
            reintento_en_segundos: retry_in.as_secs_f64().ceil() as u64,
        };
        self.with(|i| {
            i.tasks.insert(task.to_string(), state);
        });
        self.metrics.restarts.get_or_create(&TaskLabel { tarea: task.to_string() }).inc();
    }

    pub fn tasks(&self) -> BTreeMap<String, TaskState> {
        self.with(|i| i.tasks.clone())
    }

    /// Adds the in-process series to a scrape's registry (the registry adds the `mesa_fe_`
    /// prefix, the `_total` of counters and the final period of each help text).
    pub fn register(&self, registry: &mut Registry) {
        let m = self.metrics.clone();
        registry.register(
            "buzon_conectado",
            "1 si el buzón tiene una sesión IMAP abierta",
            m.connected,
        );
        registry.register(
            "imap_reconexiones",
            "Sesiones IMAP perdidas o fallidas (cada una lleva a reconectar)",
            m.reconnects,
        );
        registry.register(
            "oauth_fallos_token",
            "Tokens OAuth2 que no se pudieron obtener o que el servidor rechazó",
            m.token_failures,
        );
        registry.register(
            "tareas_reiniciadas",
            "Tareas del servicio (buzones, cola de salida, HTTP, temporizadores) que terminaron sin que se pidiera y se reiniciaron",
            m.restarts,
        );
        registry.register(
            "ingesta_segundos",
            "Desde que un mensaje se descarga hasta que queda procesado",
            m.latency,
        );
    }
}

fn now() -> String {
    crate::store::outbox::timestamp(chrono::Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &Telemetry) -> String {
        let mut registry = Registry::with_prefix("mesa_fe");
        t.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).expect("encode");
        out
    }

    #[test]
    fn a_watched_buzon_has_every_series_at_zero_before_anything_happens() {
        let t = Telemetry::default();
        t.watching("aliados");
        let out = render(&t);
        for series in [
            "mesa_fe_buzon_conectado{buzon=\"aliados\"} 0",
            "mesa_fe_imap_reconexiones_total{buzon=\"aliados\"} 0",
            "mesa_fe_oauth_fallos_token_total{buzon=\"aliados\"} 0",
            "mesa_fe_ingesta_segundos_count 0",
            "# TYPE mesa_fe_imap_reconexiones_total counter",
        ] {
            assert!(out.lines().any(|l| l == series), "{series} missing:\n{out}");
        }
    }

    #[test]
    fn connection_states_and_counters_render() {
        let t = Telemetry::default();
        t.watching("aliados");
        t.disconnected("aliados", "no se pudo hablar con el servidor", false);
        t.disconnected("aliados", "token rechazado", true);
        assert_eq!(t.failing_tokens(), vec!["aliados".to_string()]);
        t.connected("aliados");
        assert!(t.failing_tokens().is_empty());
        t.ingested(Duration::from_millis(30));
        t.ingested(Duration::from_secs(20));
        let out = render(&t);
        assert!(out.contains("mesa_fe_buzon_conectado{buzon=\"aliados\"} 1"), "{out}");
        assert!(out.contains("mesa_fe_imap_reconexiones_total{buzon=\"aliados\"} 2"), "{out}");
        assert!(out.contains("mesa_fe_oauth_fallos_token_total{buzon=\"aliados\"} 1"), "{out}");
        assert!(out.contains("mesa_fe_ingesta_segundos_bucket{le=\"0.05\"} 1"), "{out}");
        assert!(out.contains("mesa_fe_ingesta_segundos_bucket{le=\"+Inf\"} 2"), "{out}");
        assert!(out.contains("mesa_fe_ingesta_segundos_count 2"), "{out}");
    }

    #[test]
    fn a_database_fault_stands_until_the_same_buzon_writes_again() {
        let t = Telemetry::default();
        t.database_failed("aliados", "disco lleno");
        t.database_ok("facturaelectronica");
        let reason = t.database_fault().expect("still failing");
        assert!(reason.starts_with("disco lleno") && reason.contains("aliados"), "{reason}");
        t.database_ok("aliados");
        assert_eq!(t.database_fault(), None);
    }
}
