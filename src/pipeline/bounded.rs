//! The analysis of a message (MIME, ZIP, XML) is CPU work whose cost the sender chooses. It runs
//! here, off the async workers, so that the watchdog, /healthz and the other buzones keep
//! running while a large hostile message is read; on a fixed number of threads, so that many such
//! messages cannot take every core; and under a time budget, so that one message cannot hold its
//! buzón for longer than the operator allows.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::sync::Semaphore;

/// One analysis per core but one at a time, for the whole process (every buzón and reload
/// shares it).
static SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(slots())));

/// How many analyses run at once: one per core but one (at least one). The core left is the
/// writers': a message's writes are a chain of round trips between the runtime and the database
/// driver, and an analysis on every core slows each of them down. Measured with `cargo bench
/// --bench pipeline` on 2 cores: two analyses at once, 445 messages/s; one, 548.
pub fn slots() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get().saturating_sub(1).max(1))
}

/// Why a piece of work gave no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfinished {
    /// Still running when the budget ran out. The thread finishes it in the background, holding
    /// its slot until then (Rust cannot stop a thread), and its result is thrown away.
    OverBudget(Duration),
    /// The work panicked: a bug of ours met by this input.
    Panicked,
}

/// Runs `work` on the blocking pool once a slot is free; the budget starts when it does.
pub async fn run<T: Send + 'static>(
    budget: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Unfinished> {
    let Ok(slot) = SLOTS.clone().acquire_owned().await else {
        // The semaphore is never closed; should it be, running unbounded is better than not at all.
        return tokio::task::spawn_blocking(work).await.map_err(|_| Unfinished::Panicked);
    };
    let handle = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        work()
    });
    match tokio::time::timeout(budget, handle).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => Err(Unfinished::Panicked),
        Err(_) => Err(Unfinished::OverBudget(budget)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_within_budget_returns_its_value() {
        assert_eq!(run(Duration::from_secs(5), || 6 * 7).await, Ok(42));
    }

    #[tokio::test]
    async fn work_over_budget_is_abandoned_and_the_caller_goes_on() {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let budget = Duration::from_millis(20);
        let result = run(budget, move || wait.recv_timeout(Duration::from_secs(10))).await;
        assert_eq!(result, Err(Unfinished::OverBudget(budget)));
        let _ = release.send(());
    }

    #[tokio::test]
    async fn a_panic_is_reported_not_propagated() {
        let result = run(Duration::from_secs(5), || -> u8 { panic!("entrada hostil") }).await;
        assert_eq!(result, Err(Unfinished::Panicked));
    }
}
