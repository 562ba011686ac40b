//! Finding 7: a node cut off from Postgres longer than two lease TTLs has had its lease swept,
//! and the money spent by another node. When it can reach Postgres again, its renewal tells it
//! which leases it still holds: it drops the rest and must lease again before reserving. The
//! old code renewed "all of them" without looking, kept its local lease, and reserved money
//! that was no longer locked for it.

use crate::common::ledger::*;
use std::sync::Arc;
use std::time::Duration;
use tollgate_billing::lease::{LeaseBook, LeaseConfig, ReserveError};
use tollgate_billing::ledger::Ledger;

const WALLET: &str = "0x00000000000000000000000000000000000000d7";

fn book(ledger: &Ledger, node: &str) -> LeaseBook {
    LeaseBook::new(
        ledger.clone(),
        LeaseConfig {
            node_id: node.into(),
            chunk: 600,
            ttl: Duration::from_secs(30),
            safety: Duration::from_secs(10),
            idle_return: Duration::from_secs(600),
        },
    )
}

#[tokio::test]
async fn a_partitioned_node_drops_a_lease_that_was_swept_before_reserving_again() {
    let url = migrated_db().await;
    let ledger = Ledger::connect(&url, 4).await.unwrap();
    ledger
        .credit(WALLET, 1_000, "credit", "partition-test", "test")
        .await
        .unwrap();
    let a = book(&ledger, "node-a");
    let wallet: Arc<str> = Arc::from(WALLET);
    a.reserve(&wallet, 100).await.unwrap();
    a.settle(WALLET, 100, 0); // the request finished; node A still holds its 600 lease

    // Node A cannot reach Postgres for more than 2 × TTL: its lease expires and another node
    // sweeps it; node B then leases (and spends) the whole balance.
    let db = crate::common::pg::client(&url).await;
    db.execute(
        "UPDATE leases SET expires_at = now() - interval '1 hour' WHERE node_id = 'node-a'",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        ledger.sweep_expired_leases(Duration::ZERO).await.unwrap(),
        600
    );
    let b = book(&ledger, "node-b");
    b.reserve(&wallet, 1_000).await.unwrap();

    // The partition heals: A renews, learns its lease is gone, and cannot reserve from it.
    a.renew().await.unwrap();
    assert_eq!(
        a.reserve(&wallet, 300).await,
        Err(ReserveError::Insufficient),
        "the swept lease must not be spent again"
    );
    let locked: i64 = db
        .query_one("SELECT locked FROM wallets WHERE address = $1", &[&WALLET])
        .await
        .unwrap()
        .get(0);
    assert_eq!(locked, 1_000, "only node B's lease is locked");
}
