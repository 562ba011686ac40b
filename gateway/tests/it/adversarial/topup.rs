//! Finding 1: a top-up credits exactly what moved to the vault on chain — not the amount of an
//! earlier failed attempt with the same EIP-3009 nonce, and not nothing when someone else
//! submitted the authorization first.

use crate::common::chain::{
    accepts_for, balance, chain_client, gateway_on, payment_header, post_topup,
    signed_authorization, Chain, USDC,
};
use crate::common::ledger::*;
use crate::common::*;
use alloy::primitives::{Signature, U256};
use alloy::signers::local::PrivateKeySigner;
use serde_json::{json, Value};
use tollgate_chain::anvil::DEV_KEYS;

/// Sign nonce N for $5,000 from a payer holding $100 → refused (insufficient funds); sign the
/// same nonce N for $1 → $1 moves on chain, and $1 is what is credited. The old code credited
/// the $5,000 of the failed attempt (its row kept its amount), and `ledger check` said OK.
#[tokio::test]
async fn a_reused_nonce_is_credited_what_moved_not_what_a_failed_attempt_asked() {
    let payer = PrivateKeySigner::random();
    let chain = Chain::deployed_by_cli(&[(payer.address(), 100)]).await;
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_on(&url, &chain, &mock).await;

    let big = accepts_for(&gw, 5_000).await;
    let first = signed_authorization(&big, &payer, &chain, |_| {});
    let nonce = first.authorization.nonce;
    let r = post_topup(
        &gw,
        json!(5_000),
        Some(("x-payment", payment_header(&big, first))),
    )
    .await;
    assert_eq!(r.status(), 402);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "insufficient_funds", "{v}");

    let small = accepts_for(&gw, 1).await;
    let second = signed_authorization(&small, &payer, &chain, |a| a.nonce = nonce);
    let r = post_topup(
        &gw,
        json!(1),
        Some(("x-payment", payment_header(&small, second))),
    )
    .await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["credited_usdc"], USDC, "credited what moved, $1: {v}");
    assert_eq!(v["balance_usdc"], USDC, "{v}");
    assert_eq!(balance(&gw, payer.address()).await, USDC);
    assert_eq!(chain.usdc_of(payer.address()).await, 99 * USDC);
    assert_eq!(
        chain
            .admin
            .pool_balance(chain.dep.treasury_vault)
            .await
            .unwrap(),
        U256::from(USDC as u64),
        "the vault counted exactly the $1 into its pool"
    );
    ledger_check(&gw);
    let (ok, out) = ledger_check_chain(&gw);
    assert!(ok, "{out}");
}

/// `ledger check --chain` sees what `ledger check` cannot: the books after the old code's
/// exploit balanced (the $5,000 moved external → wallet in one balanced transfer), but no such
/// transfer happened on chain. Reproduced here by rewriting a real $1 top-up into the old
/// code's result, entries and cached balances consistent.
#[tokio::test]
async fn the_chain_check_fails_on_a_credit_the_chain_did_not_make() {
    let payer = PrivateKeySigner::random();
    let chain = Chain::deployed_by_cli(&[(payer.address(), 100)]).await;
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_on(&url, &chain, &mock).await;
    let a = accepts_for(&gw, 1).await;
    let header = payment_header(&a, signed_authorization(&a, &payer, &chain, |_| {}));
    let r = post_topup(&gw, json!(1), Some(("x-payment", header))).await;
    assert_eq!(r.status(), 200);
    let (ok, out) = ledger_check_chain(&gw);
    assert!(ok, "an honest ledger passes: {out}");

    // The old exploit's end state: credited $5,000 for the $1 that moved.
    let db = crate::common::pg::client(&url).await;
    let extra: i64 = 5_000 * USDC - USDC;
    db.batch_execute(&format!(
        "UPDATE chain_credits SET amount = amount + {extra} WHERE kind = 'x402';
         UPDATE entries e SET amount = e.amount + CASE WHEN a.kind = 'external' THEN -{extra} ELSE {extra} END
           FROM accounts a, transfers t
           WHERE a.id = e.account_id AND t.id = e.transfer_id AND t.kind = 'topup';
         UPDATE accounts a SET balance = (SELECT COALESCE(SUM(amount), 0) FROM entries WHERE account_id = a.id);"
    ))
    .await
    .unwrap();
    ledger_check(&gw);
    let (ok, out) = ledger_check_chain(&gw);
    assert!(!ok, "{out}");
    assert!(
        out.contains("moved 1000000"),
        "names the credit that does not match: {out}"
    );
    assert!(
        out.contains("short by 4999000000"),
        "and the missing reserves: {out}"
    );
}

/// A third party submits the buyer's signed authorization to the token before the gateway
/// does. The buyer's $5 is in the vault; the top-up that follows is credited $5 from that
/// transaction. The old code answered 402 "already used", marked the row failed and left the
/// buyer's USDC uncredited in the vault's surplus.
#[tokio::test]
async fn a_front_run_authorization_is_credited_from_the_transaction_that_used_it() {
    let payer = PrivateKeySigner::random();
    let chain = Chain::deployed_by_cli(&[(payer.address(), 100)]).await;
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_on(&url, &chain, &mock).await;

    let a = accepts_for(&gw, 5).await;
    let payload = signed_authorization(&a, &payer, &chain, |_| {});
    let stranger = chain_client(&chain.anvil, DEV_KEYS[3]).await;
    let signature = Signature::from_raw(&payload.signature).unwrap();
    stranger
        .settle_transfer_with_authorization(chain.dep.usdc, &payload.authorization, &signature)
        .await
        .expect("anyone may submit a signed authorization");
    assert_eq!(chain.usdc_of(payer.address()).await, 95 * USDC);

    let header = payment_header(&a, payload);
    let r = post_topup(&gw, json!(5), Some(("x-payment", header.clone()))).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["credited_usdc"], 5 * USDC, "{v}");
    assert_eq!(balance(&gw, payer.address()).await, 5 * USDC);
    // Credited once: the same header again finds the row credited.
    let r = post_topup(&gw, json!(5), Some(("x-payment", header))).await;
    assert_eq!(r.status(), 402);
    assert_eq!(balance(&gw, payer.address()).await, 5 * USDC);
    ledger_check(&gw);
}
