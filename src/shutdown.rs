//! The stop signal the daemon hands to its long-running tasks (buzón watchers, the outbox
//! worker, the HTTP server, the timers). Its own module so that those tasks depend on the signal,
//! not on the daemon that owns them.

use tokio::sync::watch;

/// Shutdown signal shared by the watchers: `true` once stopping was asked.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn new() -> (watch::Sender<bool>, Shutdown) {
        let (sender, receiver) = watch::channel(false);
        (sender, Shutdown(receiver))
    }

    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when stopping is asked (or the sender is gone).
    pub async fn wait(&self) {
        let mut receiver = self.0.clone();
        let _ = receiver.wait_for(|stop| *stop).await;
    }
}
