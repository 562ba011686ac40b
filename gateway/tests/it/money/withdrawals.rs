//! Buyer withdrawals on chain: paid, refused amounts, rolled back when the vault refuses,
//! reconciled when the outcome was unknown; 404 without settlement.

use super::stack::*;
use crate::common::chain::USDC;
use crate::common::ledger::*;
use crate::common::*;
use alloy::primitives::B256;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{json, Value};
use std::str::FromStr;
use tollgate_chain::anvil::ANVIL_CHAIN_ID;

#[tokio::test]
async fn withdrawal_pays_the_wallet_on_chain_and_refuses_bad_amounts() {
    let s = Stack::start(EVERY_RUN, "20s").await;
    let buyer = PrivateKeySigner::random();
    let wallet = wallet_of(&buyer);
    credit(&s.gw, &wallet, "5");

    let (status, v) = s.withdraw(&buyer, json!(2)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "paid");
    assert_eq!(v["amount_usdc"], 2 * USDC);
    assert_eq!(v["balance_usdc"], 3 * USDC);
    assert_eq!(v["withdrawal_id"].as_str().unwrap().len(), 66);
    assert_eq!(v["tx_hash"].as_str().unwrap().len(), 66);
    assert_eq!(s.chain.usdc_of(buyer.address()).await, 2 * USDC);
    assert_eq!(s.wallet_balance(&wallet).await, 3 * USDC);
    let executed = s
        .chain
        .admin
        .executed_withdrawal(
            s.chain.dep.treasury_vault,
            B256::from_str(v["withdrawal_id"].as_str().unwrap()).unwrap(),
        )
        .await
        .unwrap();
    assert!(executed);
    // A decimal string works too.
    let (status, v) = s.withdraw(&buyer, json!("0.25")).await;
    assert_eq!(
        (status, &v["balance_usdc"]),
        (200, &json!(2_750_000)),
        "{v}"
    );
    ledger_check(&s.gw);

    // More than available: 402, nothing moved.
    let (status, v) = s.withdraw(&buyer, json!(10)).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (402, Some("INSUFFICIENT_BALANCE")),
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap().contains("2750000 available"),
        "{v}"
    );
    // Not a positive USD amount with ≤ 6 decimals: 400.
    for bad in [
        json!(0),
        json!(-1),
        json!("abc"),
        json!(0.0000001),
        json!(null),
        json!([1]),
    ] {
        let (status, v) = s.withdraw(&buyer, bad.clone()).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (400, Some("VALIDATION_ERROR")),
            "{bad}: {v}"
        );
    }
    // A wallet the ledger never saw has nothing to withdraw.
    let (status, _) = s.withdraw(&PrivateKeySigner::random(), json!(1)).await;
    assert_eq!(status, 402);
    // No SIWE, no withdrawal.
    let r = reqwest::Client::new()
        .post(s.gw.url("/v1/withdraw"))
        .json(&json!({"amount": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(s.wallet_balance(&wallet).await, 2_750_000);
    assert_eq!(s.chain.usdc_of(buyer.address()).await, 2_250_000);
    assert_eq!(s.withdrawals().await.len(), 2);
    ledger_check(&s.gw);
}

#[tokio::test]
async fn withdrawal_is_rolled_back_when_the_vault_refuses() {
    let s = Stack::start(EVERY_RUN, "20s").await;
    let buyer = PrivateKeySigner::random();
    let wallet = wallet_of(&buyer);
    credit(&s.gw, &wallet, "5");
    s.chain.pause(s.chain.dep.treasury_vault, true).await;

    let (status, v) = s.withdraw(&buyer, json!(1)).await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"], "CHAIN_UNAVAILABLE");
    assert!(v["message"].as_str().unwrap().contains("paused"), "{v}");
    assert_eq!(s.wallet_balance(&wallet).await, 5 * USDC, "credited back");
    assert_eq!(s.chain.usdc_of(buyer.address()).await, 0);
    let rows = s.withdrawals().await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("failed", USDC));
    ledger_check(&s.gw);

    s.chain.pause(s.chain.dep.treasury_vault, false).await;
    let (status, v) = s.withdraw(&buyer, json!(1)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(s.wallet_balance(&wallet).await, 4 * USDC);
    ledger_check(&s.gw);

    // `ledger check` notices a row that disagrees with its transfers.
    pg::client(&s.url)
        .await
        .execute(
            "UPDATE withdrawals SET status = 'failed' WHERE status = 'paid'",
            &[],
        )
        .await
        .unwrap();
    let out = s.gw.cli(&["ledger", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("withdrawal 0x") && text.contains("reversal none"),
        "{text}"
    );
}

#[tokio::test]
async fn withdrawal_with_an_unknown_outcome_is_reconciled() {
    let s = Stack::start(EVERY_RUN, "2s").await;
    let buyer = PrivateKeySigner::random();
    let wallet = wallet_of(&buyer);
    credit(&s.gw, &wallet, "5");

    // Sent, never confirmed in time: 202 pending, the debit stands.
    s.chain.automine(false).await;
    let (status, v) = s.withdraw(&buyer, json!(1)).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["status"], "pending");
    assert!(v["tx_hash"].is_string(), "{v}");
    assert_eq!(s.wallet_balance(&wallet).await, 4 * USDC);
    // Mined later: the reconciler marks it paid.
    s.chain.rpc("evm_mine", json!([])).await;
    s.chain.automine(true).await;
    s.age_withdrawals().await;
    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    assert!(out.contains("paid (reconciled)"), "{out}");
    assert_eq!(s.withdrawals().await[0].0, "paid");
    assert_eq!(s.chain.usdc_of(buyer.address()).await, USDC);
    ledger_check(&s.gw);

    // Lost instead: the reconciler credits it back.
    s.chain.automine(false).await;
    let (status, v) = s.withdraw(&buyer, json!(2)).await;
    assert_eq!(status, 202, "{v}");
    s.chain.rpc("anvil_dropAllTransactions", json!([])).await;
    s.chain.automine(true).await;
    s.age_withdrawals().await;
    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    assert!(out.contains("reversed"), "{out}");
    let rows = s.withdrawals().await;
    assert_eq!(rows[1].0, "failed", "{rows:?}");
    assert_eq!(s.wallet_balance(&wallet).await, 4 * USDC);
    assert_eq!(s.chain.usdc_of(buyer.address()).await, USDC);
    ledger_check(&s.gw);
}

#[tokio::test]
async fn without_settlement_the_endpoints_answer_404() {
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(format!(
        r#"
  - {{ id: pa, kind: openai, base_url: "http://{}/v1", models: [{{ id: m, pricing: {{ prompt: 1, completion: 2 }} }}] }}
"#,
        mock.addr
    ));
    opts.billing = billing_yaml(&url, "");
    opts.public_url = Some(String::new());
    opts.extra = format!("chain: {{ chain_id: {ANVIL_CHAIN_ID} }}\n");
    let gw = Gateway::start(opts).await;
    let r = reqwest::Client::new()
        .post(gw.url("/v1/withdraw"))
        .json(&json!({"message": "m", "signature": "0x", "amount": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["message"].as_str().unwrap().contains("not configured"),
        "{v}"
    );
    let r = reqwest::get(gw.url("/provider/earnings?message=m&signature=0x"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Wrong methods are told so.
    let r = reqwest::get(gw.url("/v1/withdraw")).await.unwrap();
    assert_eq!(r.status(), 405);
}
