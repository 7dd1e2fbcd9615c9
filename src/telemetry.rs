//! What the daemon knows about itself while it runs, for `/readyz` and `/metrics`: each buzón's
//! connection, in-process counters (IMAP reconnects, OAuth2 token failures) and the ingest
//! latency histogram. Counts that must survive restarts come from the store instead
//! ([`crate::store::stats`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

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
}

/// Upper bounds (seconds) of the ingest latency buckets.
const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default)]
struct Histogram {
    /// Per bucket of [`LATENCY_BUCKETS`], not cumulative; the last slot is +Inf.
    counts: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
    total: u64,
}

#[derive(Debug, Default)]
struct Inner {
    buzones: BTreeMap<String, BuzonState>,
    /// A buzón whose OAuth2 token could not be had or was refused at its last attempt.
    token_failing: BTreeMap<String, bool>,
    reconnects: BTreeMap<String, u64>,
    token_failures: BTreeMap<String, u64>,
    latency: Histogram,
    /// Why the database refused the last write of a buzón (disk full, damaged…), until one
    /// succeeds again.
    database_faults: BTreeMap<String, String>,
}

/// Shared by the watchers (writers) and the HTTP server (reader).
#[derive(Debug, Default)]
pub struct Telemetry {
    inner: Mutex<Inner>,
}

impl Telemetry {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A panic while holding the lock cannot leave the counters inconsistent in a way that
        // matters more than losing the metrics: recover the data.
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut inner)
    }

    pub fn watching(&self, buzon: &str) {
        self.with(|i| {
            i.buzones.entry(buzon.to_string()).or_insert(BuzonState::Conectando);
        });
    }

    pub fn connected(&self, buzon: &str) {
        let desde = now();
        self.with(|i| {
            i.buzones.insert(buzon.to_string(), BuzonState::Conectado { desde });
            i.token_failing.insert(buzon.to_string(), false);
        });
    }

    /// A failed session or connection attempt (counts as a reconnect).
    pub fn disconnected(&self, buzon: &str, reason: &str, token_failure: bool) {
        let desde = now();
        self.with(|i| {
            i.buzones.insert(
                buzon.to_string(),
                BuzonState::Desconectado { motivo: reason.to_string(), desde },
            );
            *i.reconnects.entry(buzon.to_string()).or_default() += 1;
            if token_failure {
                *i.token_failures.entry(buzon.to_string()).or_default() += 1;
            }
            i.token_failing.insert(buzon.to_string(), token_failure);
        });
    }

    /// From fetching a message to the end of its processing.
    pub fn ingested(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        self.with(|i| {
            let slot =
                LATENCY_BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(LATENCY_BUCKETS.len());
            i.latency.counts[slot] += 1;
            i.latency.sum += seconds;
            i.latency.total += 1;
        });
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

    /// The in-process metrics in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        self.with(|i| {
            family(
                out,
                "mesa_fe_buzon_conectado",
                "gauge",
                "1 si el buzón tiene una sesión IMAP abierta.",
            );
            for (buzon, state) in &i.buzones {
                let up = u8::from(matches!(state, BuzonState::Conectado { .. }));
                let _ = writeln!(out, "mesa_fe_buzon_conectado{{buzon=\"{}\"}} {up}", label(buzon));
            }
            family(
                out,
                "mesa_fe_imap_reconexiones_total",
                "counter",
                "Sesiones IMAP perdidas o fallidas (cada una lleva a reconectar).",
            );
            for (buzon, n) in &i.reconnects {
                let _ = writeln!(
                    out,
                    "mesa_fe_imap_reconexiones_total{{buzon=\"{}\"}} {n}",
                    label(buzon)
                );
            }
            family(
                out,
                "mesa_fe_oauth_fallos_token_total",
                "counter",
                "Tokens OAuth2 que no se pudieron obtener o que el servidor rechazó.",
            );
            for (buzon, n) in &i.token_failures {
                let _ = writeln!(
                    out,
                    "mesa_fe_oauth_fallos_token_total{{buzon=\"{}\"}} {n}",
                    label(buzon)
                );
            }
            family(
                out,
                "mesa_fe_ingesta_segundos",
                "histogram",
                "Desde que un mensaje se descarga hasta que queda procesado.",
            );
            let mut cumulative = 0;
            for (bound, count) in LATENCY_BUCKETS.iter().zip(&i.latency.counts) {
                cumulative += count;
                let _ =
                    writeln!(out, "mesa_fe_ingesta_segundos_bucket{{le=\"{bound}\"}} {cumulative}");
            }
            let _ =
                writeln!(out, "mesa_fe_ingesta_segundos_bucket{{le=\"+Inf\"}} {}", i.latency.total);
            let _ = writeln!(out, "mesa_fe_ingesta_segundos_sum {}", i.latency.sum);
            let _ = writeln!(out, "mesa_fe_ingesta_segundos_count {}", i.latency.total);
        });
    }
}

/// `# HELP` and `# TYPE` lines of a metric family.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value escaped for the text format.
pub fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn now() -> String {
    crate::store::outbox::timestamp(chrono::Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut out = String::new();
        t.render(&mut out);
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
