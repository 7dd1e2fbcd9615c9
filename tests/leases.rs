//! Leases in the store, on the run's backend: one holder at a time, a takeover only after expiry
//! (by the database's clock), a new token for a new holder, and a fenced write by a node that
//! lost its lease refused with nothing stored.

mod common;

use std::time::Duration;

use common::db::TestDb;
use mesa_fe::store::leases::{Fence, LeaseGrant};
use mesa_fe::store::raw::{BuzonProgress, IncomingRaw, Origin};
use mesa_fe::store::{Store, StoreError};

const BUZON: &str = "buzon/facturaelectronica";
const NODE_A: &str = "nodo-a/100/aaaa";
const NODE_B: &str = "nodo-b/200/bbbb";

fn never_gone(_: &str) -> bool {
    false
}

async fn grant(store: &Store, holder: &str, ttl_ms: i64) -> LeaseGrant {
    store.acquire_lease(BUZON, holder, ttl_ms, never_gone).await.expect("acquire")
}

fn message(n: u32) -> Vec<u8> {
    format!(
        "From: Proveedor <p{n}@pt.example>\r\nTo: sd@dian.gov.co\r\nSubject: prueba {n}\r\n\
         Message-ID: <arrendamiento.{n}@pt.example>\r\n\r\nCuerpo {n}.\r\n"
    )
    .into_bytes()
}

/// Stores one fetched message under `fence`, as a watcher does after a FETCH.
async fn store_under(store: &Store, fence: Fence<'_>, n: u32) -> Result<(), StoreError> {
    let origin = Origin {
        buzon: "facturaelectronica".into(),
        uidvalidity: Some(7),
        uid: Some(n),
        declared_size: None,
    };
    let raw = message(n);
    let incoming = [IncomingRaw { origin: &origin, message_id: None, raw: &raw }];
    let progress = BuzonProgress {
        buzon: "facturaelectronica",
        uidvalidity: 7,
        last_uid: n,
        fence: Some(fence),
    };
    store.store_fetched(&incoming, Some(progress)).await.map(|_| ())
}

#[tokio::test]
async fn a_lease_has_one_holder_until_it_expires_and_the_old_holder_can_no_longer_store() {
    let db = TestDb::new();
    let store = Store::open(&db.url()).await.expect("open");
    let LeaseGrant::Granted { token: first } = grant(&store, NODE_A, 60_000).await else {
        panic!("a free lease is granted")
    };
    // Held and alive: B is told who has it, A renews under the same token.
    match grant(&store, NODE_B, 60_000).await {
        LeaseGrant::HeldBy { holder, expires_in_ms } => {
            assert_eq!(holder, NODE_A);
            assert!(expires_in_ms > 50_000, "{expires_in_ms}");
        }
        other => panic!("B must wait while A holds it: {other:?}"),
    }
    assert_eq!(grant(&store, NODE_A, 60_000).await, LeaseGrant::Granted { token: first });
    let a = Fence { name: BUZON, holder: NODE_A, token: first };
    store_under(&store, a, 1).await.expect("the holder stores");

    // A stops renewing (a short lease that runs out): B takes over with a new token.
    assert!(store.renew_lease(BUZON, NODE_A, first, 300).await.expect("renew"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let LeaseGrant::Granted { token: second } = grant(&store, NODE_B, 60_000).await else {
        panic!("an expired lease goes to the next asker")
    };
    assert_eq!(second, first + 1, "a new holder gets the next token");

    // A, back from a network cut, neither renews nor stores what it fetched meanwhile.
    assert!(!store.renew_lease(BUZON, NODE_A, first, 60_000).await.expect("renew"));
    match store_under(&store, a, 2).await {
        Err(StoreError::LeaseLost { name }) => assert_eq!(name, BUZON),
        other => panic!("a write under a lost lease must be refused: {other:?}"),
    }
    let b = Fence { name: BUZON, holder: NODE_B, token: second };
    store_under(&store, b, 3).await.expect("the new holder stores");
    let uids = store.stored_uids("facturaelectronica", 7, &[1, 2, 3]).await.expect("uids");
    assert_eq!(
        uids,
        vec![1, 3],
        "what the old holder fetched after losing the lease is not stored"
    );
    store.close().await;
}

#[tokio::test]
async fn a_holder_known_to_be_dead_is_replaced_at_once_and_released_leases_are_free() {
    let db = TestDb::new();
    let store = Store::open(&db.url()).await.expect("open");
    assert!(matches!(grant(&store, NODE_A, 60_000).await, LeaseGrant::Granted { .. }));
    // Same machine, process gone: no need to wait the minute out.
    let dead_a = |holder: &str| holder == NODE_A;
    let taken = store.acquire_lease(BUZON, NODE_B, 60_000, dead_a).await.expect("acquire");
    assert_eq!(taken, LeaseGrant::Granted { token: 2 });
    store.release_leases(NODE_B).await.expect("release");
    assert!(store.leases().await.expect("leases").is_empty(), "a stopping node gives all back");
    assert!(matches!(grant(&store, NODE_A, 60_000).await, LeaseGrant::Granted { .. }));
    store.close().await;
}
