//! Which node does what when several `mesa-fe run` share one PostgreSQL database: each buzón is
//! read, and each timer runs, on one node at a time, under a lease kept in the database.
//!
//! A lease lasts [`TTL`] by the database's clock and its holder renews it every [`RENEW_EVERY`].
//! A node that dies stops renewing, and another takes the buzón over when the lease expires
//! (about 9 s, plus one wait of [`WAIT_POLL`]). A holder that cannot renew (cut off from the
//! database) stops by itself before its lease can expire, so two nodes never read one buzón;
//! and what it fetched meanwhile is refused at commit by the fencing token (`store_fetched`).
//!
//! On SQLite the database is one file on one machine: one node, every lease granted at once
//! without a write.

use std::collections::HashSet;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::shutdown::Shutdown;
use crate::store::leases::{Fence, LeaseGrant};
use crate::store::{Store, StoreError};

/// How long a lease lasts without renewal.
pub const TTL: Duration = Duration::from_secs(9);
/// How often a holder renews.
pub const RENEW_EVERY: Duration = Duration::from_secs(3);
/// How often a node waiting for a lease asks again.
pub const WAIT_POLL: Duration = Duration::from_secs(2);
/// A holder that could not renew for this long stops acting before its lease can expire.
const SELF_FENCE_AFTER: Duration = Duration::from_secs(7);

/// The lease of a buzón: whoever holds it reads the buzón and sends its mail.
pub fn buzon_lease(buzon: &str) -> String {
    format!("buzon/{buzon}")
}

/// This process as a lease holder: `nodo/pid/random`, new for every start.
#[derive(Debug, Clone)]
pub struct Leases {
    store: Store,
    holder: String,
    node: String,
    shared: bool,
    /// The names this process holds now (what the outbox may send for).
    held: Arc<Mutex<HashSet<String>>>,
}

impl Leases {
    /// Leases of this process on `store`, as node `node` (`general.nodo`, or the host name).
    pub fn new(store: Store, node: &str) -> Leases {
        let node = if node.is_empty() { host_name() } else { node.to_string() };
        let random = fastrand::u32(..);
        let holder = format!("{node}/{}/{random:08x}", std::process::id());
        let shared = store.is_shared();
        Leases { store, holder, node, shared, held: Arc::default() }
    }

    /// This process's holder name, as `/readyz` and the logs show it.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Takes `name` now if it is free; `Err` with the current holder otherwise.
    pub async fn try_take(&self, name: &str) -> Result<Result<Lease, String>, StoreError> {
        let token = if self.shared {
            let ttl = i64::try_from(TTL.as_millis()).unwrap_or(i64::MAX);
            let grant = self.store.acquire_lease(name, &self.holder, ttl, |o| self.is_gone(o));
            match grant.await? {
                LeaseGrant::Granted { token } => token,
                LeaseGrant::HeldBy { holder, .. } => return Ok(Err(holder)),
            }
        } else {
            0
        };
        self.held_names().insert(name.to_string());
        Ok(Ok(Lease { leases: self.clone(), name: name.to_string(), token }))
    }

    /// Whether this process holds `name` now (always, on a database of one node).
    pub fn holds(&self, name: &str) -> bool {
        !self.shared || self.held_names().contains(name)
    }

    fn held_names(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` while this process holds `name`: waits for the lease, starts `work`, and when
    /// the lease is lost drops `work` (mid-step: everything it does survives a `kill -9`, so it
    /// survives this) and waits again. Returns when `work` returns (on shutdown) or on shutdown.
    pub async fn serve<Fut: Future<Output = ()>>(
        &self,
        name: &str,
        shutdown: &Shutdown,
        waiting: impl Fn(&str),
        work: impl Fn(Arc<Lease>) -> Fut,
    ) {
        while let Some(lease) = self.wait_for(name, shutdown, &waiting).await {
            let lease = Arc::new(lease);
            tokio::select! {
                () = work(lease.clone()) => return,
                () = lease.keep() => {}
            }
        }
    }

    /// Waits until `name` is ours (`None` on shutdown). `waiting` hears who holds it meanwhile.
    pub async fn wait_for(
        &self,
        name: &str,
        shutdown: &Shutdown,
        waiting: impl Fn(&str),
    ) -> Option<Lease> {
        let mut said = String::new();
        while !shutdown.requested() {
            match self.try_take(name).await {
                Ok(Ok(lease)) => return Some(lease),
                Ok(Err(holder)) => {
                    if holder != said {
                        info!(lease = %name, %holder, "lo atiende otro nodo; este espera a que lo suelte");
                        waiting(&holder);
                        said = holder;
                    }
                }
                Err(e) => {
                    warn!(lease = %name, error = %e, "no se pudo pedir el arrendamiento; se reintenta")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(WAIT_POLL.mul_f64(0.75 + fastrand::f64() * 0.5)) => {}
                () = shutdown.wait() => return None,
            }
        }
        None
    }

    /// Gives back every lease of this process (on shutdown), so another node takes over at once.
    pub async fn release_all(&self) {
        if !self.shared {
            return;
        }
        if let Err(e) = self.store.release_leases(&self.holder).await {
            warn!(error = %e, "no se pudieron soltar los arrendamientos; vencen solos");
        }
    }

    /// Whether `holder` is a process of this node that no longer runs (a `kill -9` and a restart
    /// on the same machine need not wait for its leases to expire).
    fn is_gone(&self, holder: &str) -> bool {
        let mut parts = holder.split('/');
        let (Some(node), Some(pid)) = (parts.next(), parts.next()) else { return false };
        node == self.node
            && pid.parse::<u32>().is_ok_and(|pid| {
                pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
            })
    }
}

/// A lease this process holds.
#[derive(Debug)]
pub struct Lease {
    leases: Leases,
    name: String,
    token: i64,
}

impl Lease {
    /// The proof a fenced write carries.
    pub fn fence(&self) -> Option<Fence<'_>> {
        self.leases.shared.then_some(Fence {
            name: &self.name,
            holder: &self.leases.holder,
            token: self.token,
        })
    }

    /// Renews until the lease is lost: another node took it over, or no renewal went through for
    /// [`SELF_FENCE_AFTER`]. Never returns while all is well; the caller races it against the
    /// work the lease guards and stops that work when this returns.
    pub async fn keep(&self) {
        if !self.leases.shared {
            return std::future::pending().await;
        }
        let ttl = i64::try_from(TTL.as_millis()).unwrap_or(i64::MAX);
        let mut renewed_at = Instant::now();
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            let store = &self.leases.store;
            match store.renew_lease(&self.name, &self.leases.holder, self.token, ttl).await {
                Ok(true) => renewed_at = Instant::now(),
                Ok(false) => {
                    warn!(lease = %self.name, "otro nodo tomó el arrendamiento; este deja de atenderlo");
                    return;
                }
                Err(e) if renewed_at.elapsed() >= SELF_FENCE_AFTER => {
                    warn!(lease = %self.name, error = %e, "sin renovar el arrendamiento a tiempo; este nodo deja de atenderlo para que otro lo tome");
                    return;
                }
                Err(e) => {
                    warn!(lease = %self.name, error = %e, "no se pudo renovar el arrendamiento; se reintenta")
                }
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.leases.held_names().remove(&self.name);
    }
}

/// The machine's name, the default node name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "nodo".to_string())
}
