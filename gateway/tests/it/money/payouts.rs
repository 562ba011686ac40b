//! Provider payouts against a real anvil running the repo's contracts, a real Postgres and
//! real `tollgate` processes: pay once, survive a crash between send and receipt, refuse a
//! replayed batch on chain, pay on the gateway's schedule, and `ledger check` after each.

use super::stack::*;
use crate::common::chain::USDC;
use crate::common::ledger::*;
use crate::common::*;
use alloy::primitives::{B256, U256};
use alloy::signers::local::PrivateKeySigner;
use serde_json::json;
use std::str::FromStr;
use std::time::Duration;
use tollgate_chain::deploy::mint;
use tollgate_chain::ChainError;

#[tokio::test]
async fn payout_run_pays_a_provider_once_and_shows_in_its_earnings() {
    let s = Stack::start(EVERY_RUN, "20s").await;
    let pool_before = s
        .chain
        .admin
        .pool_balance(s.chain.dep.treasury_vault)
        .await
        .unwrap();
    s.earn("pa", 3 * USDC).await;
    s.earn("pb", USDC).await; // no payout_address: never paid on chain

    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    assert!(out.contains("paid 3000000 micro-USDC"), "{out}");
    let rows = s.payouts().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (batch, seq, amount, status, tx, _) = &rows[0];
    assert_eq!((*seq, *amount, status.as_str()), (1, 3 * USDC, "paid"));
    assert!(tx.as_deref().is_some_and(|t| t.len() == 66), "{tx:?}");

    // On chain: one PaidOut for this batch, the provider holds the USDC, the PayoutVault was
    // funded from the pool by exactly what it lacked.
    let paid = s.chain.paid_out().await;
    assert_eq!(
        paid,
        vec![(
            B256::from_str(batch).unwrap(),
            s.payee.address(),
            U256::from(3 * USDC)
        )]
    );
    assert_eq!(s.chain.usdc_of(s.payee.address()).await, 3 * USDC);
    let pool_after = s
        .chain
        .admin
        .pool_balance(s.chain.dep.treasury_vault)
        .await
        .unwrap();
    assert_eq!(pool_before - pool_after, U256::from(3 * USDC));
    assert_eq!(s.earnings_balance("pa").await, 0);
    assert_eq!(s.earnings_balance("pb").await, USDC);
    ledger_check(&s.gw);

    // A second run pays nothing new.
    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    assert!(!out.contains("paid "), "{out}");
    assert_eq!(s.payouts().await.len(), 1);
    assert_eq!(s.chain.paid_out().await.len(), 1);
    assert_eq!(s.chain.usdc_of(s.payee.address()).await, 3 * USDC);
    ledger_check(&s.gw);

    // The payout address sees its provider's earnings over SIWE; any other wallet is refused.
    s.earn("pa", 250_000).await;
    let (status, v) = s.earnings(&s.payee).await;
    assert_eq!(status, 200, "{v}");
    let d = &v["data"][0];
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(d["provider"], "pa");
    assert_eq!(d["payout_address"], wallet_of(&s.payee));
    assert_eq!(d["pending_usdc"], 250_000);
    assert_eq!(d["in_flight_usdc"], 0);
    assert_eq!(d["paid_usdc"], 3 * USDC);
    assert!(d["last_payout_at"].as_str().unwrap().ends_with('Z'), "{v}");
    let p = &d["payouts"][0];
    assert_eq!(p["batch_id"], batch.as_str());
    assert_eq!(p["amount_usdc"], 3 * USDC);
    assert_eq!(p["status"], "paid");
    assert_eq!(p["tx_hash"], tx.as_deref().unwrap());
    let (status, v) = s.earnings(&PrivateKeySigner::random()).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (403, Some("FORBIDDEN")),
        "{v}"
    );
}

#[tokio::test]
async fn payout_interrupted_between_send_and_receipt_is_reconciled() {
    let s = Stack::start(EVERY_RUN, "20s").await;
    // Enough in the PayoutVault already: the run sends only the payout itself.
    mint(
        &s.chain.admin,
        s.chain.dep.usdc,
        s.chain.dep.payout_vault,
        U256::from(10 * USDC),
    )
    .await
    .unwrap();

    // 1. Killed while its payout waits to be mined; the transaction is mined afterwards.
    s.earn("pa", 2 * USDC).await;
    s.chain.automine(false).await;
    let mut child = s.spawn_payouts_run();
    wait_for(
        "the payout in the mempool",
        Duration::from_secs(30),
        || async { s.chain.pool_pending().await >= 1 },
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let rows = s.payouts().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].3, "pending", "written before sending: {rows:?}");
    assert_eq!(s.earnings_balance("pa").await, 0, "moved out with the row");
    s.chain.rpc("evm_mine", json!([])).await;
    s.chain.automine(true).await;

    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    let rows = s.payouts().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].3, "paid");
    assert_eq!(
        s.chain.paid_out().await.len(),
        1,
        "paid exactly once on chain"
    );
    assert_eq!(s.chain.usdc_of(s.payee.address()).await, 2 * USDC);
    ledger_check(&s.gw);

    // 2. Killed while its payout waits; the transaction is lost: the next run sends it again.
    s.earn("pa", USDC).await;
    s.chain.automine(false).await;
    let mut child = s.spawn_payouts_run();
    wait_for(
        "the payout in the mempool",
        Duration::from_secs(30),
        || async { s.chain.pool_pending().await >= 1 },
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    s.chain.rpc("anvil_dropAllTransactions", json!([])).await;
    s.chain.automine(true).await;
    assert_eq!(s.payouts().await[1].3, "pending");

    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    let rows = s.payouts().await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r.3 == "paid"), "{rows:?}");
    let paid = s.chain.paid_out().await;
    assert_eq!(paid.len(), 2, "{paid:?}");
    assert_eq!(paid[1].0, B256::from_str(&rows[1].0).unwrap());
    assert_eq!(s.chain.usdc_of(s.payee.address()).await, 3 * USDC);
    ledger_check(&s.gw);
}

#[tokio::test]
async fn replayed_batch_reverts_and_a_paused_vault_leaves_the_payout_pending() {
    let s = Stack::start(EVERY_RUN, "20s").await;
    s.earn("pa", USDC).await;
    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    let batch = B256::from_str(&s.payouts().await[0].0).unwrap();

    // The same batchId again, straight to the vault: refused on chain, nothing paid.
    let err = s
        .chain
        .operator
        .payout(
            s.chain.dep.payout_vault,
            s.payee.address(),
            U256::from(USDC),
            batch,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChainError::BatchAlreadyExecuted(b) if b == batch),
        "{err:?}"
    );
    assert_eq!(s.chain.usdc_of(s.payee.address()).await, USDC);

    // Paused: the payout is written, cannot be sent, stays pending; the run says so (exit 1).
    s.chain.pause(s.chain.dep.payout_vault, true).await;
    s.earn("pa", 2 * USDC).await;
    let (ok, out) = s.payouts_run();
    assert!(!ok, "{out}");
    assert!(out.contains("PENDING"), "{out}");
    let rows = s.payouts().await;
    assert_eq!(rows[1].3, "pending");
    assert!(
        rows[1].5.as_deref().unwrap_or_default().contains("paused"),
        "{rows:?}"
    );
    ledger_check(&s.gw);

    // An operator gives it up: earnings return to the provider.
    let out = s.gw.cli(&["payouts", "cancel", &rows[1].0]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.payouts().await[1].3, "failed");
    assert_eq!(s.earnings_balance("pa").await, 2 * USDC);
    ledger_check(&s.gw);
    // A cancelled payout cannot be cancelled again.
    assert!(!s
        .gw
        .cli(&["payouts", "cancel", &rows[1].0])
        .status
        .success());

    // Unpaused, the next run pays the earnings under a new batch.
    s.chain.pause(s.chain.dep.payout_vault, false).await;
    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    let rows = s.payouts().await;
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (rows[2].1, rows[2].2, rows[2].3.as_str()),
        (3, 2 * USDC, "paid")
    );
    assert_eq!(s.chain.usdc_of(s.payee.address()).await, 3 * USDC);
    assert_eq!(s.chain.paid_out().await.len(), 2);
    ledger_check(&s.gw);
}

#[tokio::test]
async fn scheduled_payout_pays_earnings_from_real_traffic() {
    // Every second in the gateway; at most one payout an hour per provider.
    let s = Stack::start(
        "threshold_usd: 0.000001, min_interval: 1h, schedule: 1s",
        "20s",
    )
    .await;
    let key = create_key(&s.gw, BUYER);
    credit(&s.gw, BUYER, "1");
    let body =
        json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..3 {
        let r = post_json(&s.gw.url("/v1/chat/completions"), Some(&key), &body, &[]).await;
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
    }
    wait_for("a paid payout", Duration::from_secs(30), || async {
        s.payouts().await.iter().any(|r| r.3 == "paid")
    })
    .await;
    // Let the last usage batches land, then: what was paid plus what is still pending is
    // exactly what the provider earned.
    wait_for("all requests settled", Duration::from_secs(10), || async {
        let c = pg::client(&s.url).await;
        let n: i64 = c
            .query_one("SELECT COUNT(*) FROM request_log", &[])
            .await
            .unwrap()
            .get(0);
        n == 3
    })
    .await;
    let earned: i64 = pg::client(&s.url)
        .await
        .query_one(
            "SELECT SUM(provider_cost)::BIGINT FROM request_log WHERE provider = 'pa'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let rows = s.payouts().await;
    assert_eq!(rows.len(), 1, "min_interval: one payout: {rows:?}");
    let paid = rows[0].2;
    assert!(paid > 0);
    assert_eq!(paid + s.earnings_balance("pa").await, earned);
    assert_eq!(s.chain.usdc_of(s.payee.address()).await, paid);
    assert_eq!(s.chain.paid_out().await.len(), 1);
    ledger_check(&s.gw);
}
