//! Reservations: 402 before any upstream call, and no overspend with 1,000 concurrent
//! requests from one wallet, on one gateway or two; lease growth sees a concurrent debit.

use super::*;

#[tokio::test]
async fn insufficient_balance_is_402_before_any_upstream_call() {
    let s = stack_on(migrated_db().await, "", None).await;
    let r = post_json(
        &s.gw.url("/v1/chat/completions"),
        Some(&s.key),
        &chat(100),
        &[],
    )
    .await;
    assert_eq!(r.status(), 402);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"error": "INSUFFICIENT_BALANCE", "message": "Insufficient balance. Top up at POST /v1/topup"})
    );
    assert_eq!(s.mock.recorder.len(), 0);
}

/// 1,000 concurrent requests from one wallet whose balance covers about 100 of them.
#[tokio::test]
async fn concurrent_requests_never_overspend() {
    let s = stack_on(migrated_db().await, "", None).await;
    // Reservation per request: prompt bound = body bytes (~90) at 1 µ$/token + 16 output
    // at 2 µ$/token, grossed up by the 70% share ≈ 180 µ$; actual cost 63 µ$.
    credit(&s.gw, BUYER, "0.0063");
    let (ok, poor, other) = burst(&[&s.gw], &s.key, 1000, chat(16)).await;
    assert_eq!(other, 0);
    assert!(ok > 0 && poor > 0, "ok {ok}, 402 {poor}");
    wait_for("settlement", Duration::from_secs(20), || async {
        books(&s.url, BUYER).await.3 as usize == ok
    })
    .await;
    let (balance, _, charged, _) = books(&s.url, BUYER).await;
    assert!(balance >= 0, "balance {balance}");
    assert!(charged <= 6300, "charged {charged} > balance");
    assert_eq!(balance, 6300 - charged);
    assert_eq!(charged, ok as i64 * 63, "every served request billed once");
    ledger_check(&s.gw);
}

#[tokio::test]
async fn two_gateways_on_one_database_never_overspend() {
    let url = migrated_db().await;
    let a = stack_on(url.clone(), "", None).await;
    let mut opts = GatewayOpts::new(providers(a.mock.addr));
    opts.billing = billing_yaml(&url, "");
    let b = Gateway::start(opts).await;
    credit(&a.gw, BUYER, "0.0063");
    let (ok, poor, other) = burst(&[&a.gw, &b], &a.key, 600, chat(16)).await;
    assert_eq!(other, 0);
    assert!(ok > 0 && poor > 0, "ok {ok}, 402 {poor}");
    wait_for("settlement", Duration::from_secs(20), || async {
        books(&url, BUYER).await.3 as usize == ok
    })
    .await;
    let (balance, _, charged, _) = books(&url, BUYER).await;
    assert!(
        balance >= 0 && charged <= 6300,
        "balance {balance}, charged {charged}"
    );
    assert_eq!(charged, ok as i64 * 63);
    let c = pg::client(&url).await;
    let nodes: i64 = c
        .query_one("SELECT COUNT(DISTINCT node_id) FROM leases", &[])
        .await
        .unwrap()
        .get(0);
    assert!(nodes >= 1);
    ledger_check(&a.gw);
}

/// Regression: growing a lease while a settlement batch holds the wallet must see the balance
/// Concurrent first reservations on one wallet each grew the node's lease by a chunk; once the
/// chunks had locked the whole balance, Postgres had nothing left to grant, and the late ones
/// were refused with 402 although the lease they had just helped grow covered them (10 of 20
/// requests, with $5 of balance and $0.50 chunks, seen once key lookups stopped staggering
/// them). With 1,000 at once, the growths alone ran the connection pool dry (503s).
#[tokio::test]
async fn concurrent_first_reservations_share_the_lease_they_grew() {
    use std::sync::Arc;
    use tollgate_billing::lease::{LeaseBook, LeaseConfig};
    use tollgate_billing::ledger::Ledger;
    let url = migrated_db().await;
    let ledger = Ledger::connect(&url, 4).await.unwrap();
    ledger
        .credit(BUYER, 5_000, "credit", "grow-race", "test")
        .await
        .unwrap();
    let book = LeaseBook::new(
        ledger,
        LeaseConfig {
            node_id: "node-g".into(),
            chunk: 500,
            ttl: Duration::from_secs(30),
            safety: Duration::from_secs(10),
            idle_return: Duration::from_secs(600),
        },
    );
    let wallet: Arc<str> = Arc::from(BUYER);
    let results = futures_util::future::join_all((0..20).map(|_| book.reserve(&wallet, 100))).await;
    let refused = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(refused, 0, "{results:?}");
    // Misses that came together waited for one growth at a time: 2,000 of 100-reservations
    // took four 500 chunks, not one chunk each (which locked the whole balance for this node
    // and sent every miss to Postgres at once).
    let leased: i64 = pg::client(&url)
        .await
        .query_one("SELECT amount FROM leases WHERE node_id = 'node-g'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(leased, 2_000);
    // And the lease still never exceeds the balance: 50 reservations fit, the 51st does not.
    let more = futures_util::future::join_all((0..31).map(|_| book.reserve(&wallet, 100))).await;
    assert_eq!(more.iter().filter(|r| r.is_err()).count(), 1, "{more:?}");
}

/// that batch leaves behind. (Locking inside the granting statement re-checked only the wallet
/// row after the wait and granted from the stale account balance: an overspend seen once under
/// the 1,000-request test in CI.)
#[tokio::test]
async fn lease_growth_waits_for_and_sees_a_concurrent_debit() {
    use tollgate_billing::ledger::Ledger;
    let url = migrated_db().await;
    let ledger = Ledger::connect(&url, 2).await.unwrap();
    ledger
        .credit(BUYER, 1_000, "credit", "race-test", "test")
        .await
        .unwrap();

    // A batch in progress: wallet locked, 900 debited, not yet committed.
    let mut batch = pg::client(&url).await;
    let tx = batch.transaction().await.unwrap();
    tx.execute(tollgate_billing::ledger::LOCK_WALLET, &[&BUYER])
        .await
        .unwrap();
    tx.execute(
        "UPDATE accounts SET balance = balance - 900 WHERE id = (SELECT account_id FROM wallets WHERE address = $1)",
        &[&BUYER],
    )
    .await
    .unwrap();

    let grower = {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            ledger
                .grow_lease("node-r", BUYER, 500, 500, Duration::from_secs(30))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !grower.is_finished(),
        "lease growth must wait for the batch's wallet lock"
    );
    tx.commit().await.unwrap();
    let grant = grower.await.unwrap().unwrap();
    assert_eq!(
        grant, None,
        "only 100 is available after the debit; nothing may be granted"
    );
    let smaller = ledger
        .grow_lease("node-r", BUYER, 100, 500, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(smaller.map(|g| g.granted), Some(100));
}
