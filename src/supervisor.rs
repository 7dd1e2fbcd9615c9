//! Keeps the daemon's long-running tasks (buzón watchers, the outbox worker, the HTTP server, the
//! timers) alive while it runs. A task that panics or returns while nobody asked to stop would
//! otherwise go unseen until shutdown: mail would wait in the buzón or the outbox with the
//! process looking healthy. Here it is logged (`event = "tarea_reiniciada"`), counted
//! (`mesa_fe_tareas_reiniciadas_total{tarea}`), shown in `/readyz` while it waits, and started
//! again after a wait that doubles from 1 s to 60 s and starts over once a run lasted long enough
//! to call it healthy.
//!
//! A task is a factory (`Fn() -> Future`) rather than a future, so each restart starts from the
//! task's own beginning with the shared handles it captured. The task future runs inside the
//! supervising one (`catch_unwind`, no second spawn), so aborting the supervisor at the end of
//! the shutdown grace cancels the task too.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::task::JoinSet;
use tracing::{error, warn};

use crate::shutdown::Shutdown;
use crate::telemetry::Telemetry;
use crate::text::mask_personal;

/// How long to wait before each restart of one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// The first wait, and the wait again after a healthy run.
    pub first: Duration,
    /// The longest wait: a task that keeps failing is still tried once a minute.
    pub max: Duration,
    /// A run at least this long was healthy: the next failure waits [`RestartPolicy::first`].
    pub healthy_after: Duration,
}

impl Default for RestartPolicy {
    fn default() -> RestartPolicy {
        RestartPolicy {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
            healthy_after: Duration::from_secs(120),
        }
    }
}

/// The waits of one task, failure after failure.
#[derive(Debug)]
pub struct RestartBackoff {
    policy: RestartPolicy,
    next: Duration,
}

impl RestartBackoff {
    pub fn new(policy: RestartPolicy) -> RestartBackoff {
        RestartBackoff { policy, next: policy.first }
    }

    /// The wait before the next start of a task that ended after running `ran_for`.
    pub fn after(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.policy.healthy_after {
            self.next = self.policy.first;
        }
        let wait = self.next.min(self.policy.max);
        self.next = wait.saturating_mul(2).min(self.policy.max);
        wait
    }
}

/// The set of supervised tasks of one daemon run.
pub struct Supervisor {
    tasks: JoinSet<()>,
    telemetry: Arc<Telemetry>,
    shutdown: Shutdown,
    policy: RestartPolicy,
}

impl Supervisor {
    pub fn new(telemetry: Arc<Telemetry>, shutdown: Shutdown) -> Supervisor {
        Supervisor::with_policy(telemetry, shutdown, RestartPolicy::default())
    }

    pub fn with_policy(
        telemetry: Arc<Telemetry>,
        shutdown: Shutdown,
        policy: RestartPolicy,
    ) -> Supervisor {
        Supervisor { tasks: JoinSet::new(), telemetry, shutdown, policy }
    }

    /// Starts `task` as `name` (the `tarea` label and the key in `/readyz`) and starts it again
    /// whenever it ends before shutdown was asked.
    pub fn spawn<F, Fut>(&mut self, name: impl Into<String>, task: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        self.telemetry.task_expected(&name);
        let keeper = Keeper {
            name,
            telemetry: self.telemetry.clone(),
            shutdown: self.shutdown.clone(),
            policy: self.policy,
        };
        self.tasks.spawn(keeper.keep_alive(task));
    }

    /// Completes when every task returned (after shutdown was asked).
    pub async fn join_all(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }

    /// Cancels whatever is still running (the grace period is over).
    pub fn abort_all(&mut self) {
        self.tasks.abort_all();
    }
}

struct Keeper {
    name: String,
    telemetry: Arc<Telemetry>,
    shutdown: Shutdown,
    policy: RestartPolicy,
}

impl Keeper {
    async fn keep_alive<F, Fut>(self, task: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut backoff = RestartBackoff::new(self.policy);
        loop {
            self.telemetry.task_running(&self.name);
            let started = Instant::now();
            // The task's state is its own (it restarts from scratch) and the shared handles it
            // holds (store, telemetry) recover from a poisoned lock: unwinding is safe to catch.
            let ended = AssertUnwindSafe(task()).catch_unwind().await;
            if self.shutdown.requested() {
                if let Err(panic) = ended {
                    warn!(
                        event = "tarea_fallida_al_detener",
                        task = %self.name,
                        error = %mask_personal(&panic_text(panic.as_ref())),
                        "una tarea falló mientras el servicio se detenía"
                    );
                }
                return;
            }
            let ran_for = started.elapsed();
            let wait = backoff.after(ran_for);
            // /readyz answers anyone who reaches the port: it says what happened, the log
            // (for operators) says with what words.
            let (reason, detail) = match &ended {
                Ok(()) => {
                    ("la tarea terminó sin que se pidiera detener el servicio", String::new())
                }
                Err(panic) => (
                    "la tarea falló con un pánico; el detalle está en el registro del servicio",
                    mask_personal(&panic_text(panic.as_ref())),
                ),
            };
            error!(
                event = "tarea_reiniciada",
                task = %self.name,
                reason = %reason,
                detail = %detail,
                ran_seconds = ran_for.as_secs_f32(),
                retry_in_seconds = wait.as_secs_f32(),
                "una tarea del servicio terminó inesperadamente; se reinicia"
            );
            self.telemetry.task_failed(&self.name, reason, wait);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.shutdown.wait() => return,
            }
        }
    }
}

/// What a panic said, when it said it with a string (`panic!("…")` does).
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "pánico sin mensaje".to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::telemetry::TaskState;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn waits_double_from_one_second_to_a_minute() {
        let mut backoff = RestartBackoff::new(RestartPolicy::default());
        let waits: Vec<u64> = (0..9).map(|_| backoff.after(Duration::ZERO).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn a_healthy_run_starts_the_waits_over() {
        let policy = RestartPolicy::default();
        let mut backoff = RestartBackoff::new(policy);
        for _ in 0..5 {
            backoff.after(SECOND);
        }
        assert_eq!(backoff.after(policy.healthy_after - SECOND), 32 * SECOND, "not long enough");
        assert_eq!(backoff.after(policy.healthy_after), SECOND);
        assert_eq!(backoff.after(SECOND), 2 * SECOND);
    }

    fn quick() -> RestartPolicy {
        RestartPolicy {
            first: Duration::from_millis(10),
            max: Duration::from_millis(40),
            healthy_after: Duration::from_secs(3600),
        }
    }

    /// Polls `check` every 10 ms, for up to 10 s.
    async fn eventually(check: impl Fn() -> bool) -> bool {
        for _ in 0..1000 {
            if check() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    fn restarts(telemetry: &Telemetry, task: &str) -> f64 {
        let mut registry = prometheus_client::registry::Registry::with_prefix("mesa_fe");
        telemetry.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).expect("encode");
        let series = format!("mesa_fe_tareas_reiniciadas_total{{tarea=\"{task}\"}} ");
        out.lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }

    #[tokio::test]
    async fn a_task_that_panics_once_is_counted_and_runs_again() {
        let telemetry = Arc::new(Telemetry::default());
        let (stop, shutdown) = Shutdown::new();
        let mut supervisor = Supervisor::with_policy(telemetry.clone(), shutdown.clone(), quick());
        let starts = Arc::new(AtomicUsize::new(0));
        supervisor.spawn("prueba", {
            let starts = starts.clone();
            let shutdown = shutdown.clone();
            move || {
                let first = starts.fetch_add(1, Ordering::SeqCst) == 0;
                let shutdown = shutdown.clone();
                async move {
                    assert!(!first, "pánico de prueba de juan.perez@example.com");
                    shutdown.wait().await;
                }
            }
        });
        assert_eq!(restarts(&telemetry, "prueba"), 0.0, "the series exists before any failure");
        assert!(eventually(|| starts.load(Ordering::SeqCst) == 2).await);
        assert!(
            eventually(|| matches!(
                telemetry.tasks().get("prueba"),
                Some(TaskState::EnMarcha { .. })
            ))
            .await
        );
        assert_eq!(restarts(&telemetry, "prueba"), 1.0);
        stop.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(10), supervisor.join_all()).await.expect("joined");
        assert_eq!(starts.load(Ordering::SeqCst), 2, "not started again after shutdown");
    }

    #[tokio::test]
    async fn a_task_that_returns_early_waits_longer_each_time_and_says_why() {
        let telemetry = Arc::new(Telemetry::default());
        let (stop, shutdown) = Shutdown::new();
        let policy = RestartPolicy { max: Duration::from_secs(3600), ..quick() };
        let mut supervisor = Supervisor::with_policy(telemetry.clone(), shutdown, policy);
        let starts = Arc::new(AtomicUsize::new(0));
        supervisor.spawn("corta", {
            let starts = starts.clone();
            move || {
                starts.fetch_add(1, Ordering::SeqCst);
                async {}
            }
        });
        assert!(eventually(|| starts.load(Ordering::SeqCst) >= 4).await);
        let Some(TaskState::Reiniciando { motivo, .. }) = telemetry.tasks().get("corta").cloned()
        else {
            panic!("the task waits to restart: {:?}", telemetry.tasks());
        };
        assert!(motivo.contains("terminó sin que se pidiera"), "{motivo}");
        // The waits are 10, 20, 40, 80 ms…: shutdown does not wait for the current one.
        stop.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(10), supervisor.join_all()).await.expect("joined");
        assert!(restarts(&telemetry, "corta") >= 3.0);
    }

    #[test]
    fn a_panic_message_is_masked_for_the_log() {
        let text = panic_text(&"falló con juan.perez@example.com");
        assert!(mask_personal(&text).contains("j***@example.com"), "{}", mask_personal(&text));
        assert_eq!(panic_text(&42), "pánico sin mensaje");
    }
}
