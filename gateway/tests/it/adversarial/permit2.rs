//! x402 `exact` through Permit2 (a USDT without EIP-3009) tried as an attacker would: every
//! bad-payment case of the EIP-3009 path, repeated on Permit2's fields, plus the missing
//! allowance (x402's 412) — against the real gateway, Postgres and anvil with Permit2 and the
//! x402 proxy at their canonical addresses.

use crate::common::chain::{
    balance, chain_client, gateway_on, gateway_with, offer, offers_for, permit2_authorization,
    permit2_header, post_topup, signed_authorization, token_of, Chain, USDC,
};
use crate::common::ledger::*;
use crate::common::*;
use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{json, Value};
use tollgate_chain::anvil::{ANVIL_CHAIN_ID, DEV_KEYS};
use tollgate_chain::permit2::permit2_settle_tx;
use tollgate_chain::x402::{self, sign_permit2, PERMIT2_ADDRESS, X402_UPTO_PERMIT2_PROXY};

async fn refused(gw: &Gateway, usd: u64, header: String) -> (u16, Value) {
    let r = post_topup(gw, json!(usd), Some(("payment-signature", header))).await;
    let status = r.status().as_u16();
    if status == 402 || status == 412 {
        assert!(
            r.headers().contains_key("payment-required"),
            "x402 answers carry the offers"
        );
    }
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn every_bad_permit2_payment_is_refused_and_a_good_one_is_credited_once() {
    let payer = tollgate_chain::client::parse_private_key(DEV_KEYS[4]).unwrap();
    let chain = Chain::with_usdt_on(ANVIL_CHAIN_ID, 6, &[(payer.address(), 100)]).await;
    let usdt = chain.dep.assets[0].clone();
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_on(&url, &chain, &mock).await;
    let (v2, _) = offers_for(&gw, json!(5)).await;
    let five = offer(&v2, ANVIL_CHAIN_ID, usdt.address);

    // No Permit2 allowance yet: 412 PERMIT2_ALLOWANCE_REQUIRED, nothing moves.
    let good = permit2_authorization(&five, payer.address(), |_| {});
    let header = permit2_header(&five, &payer, &good);
    let (status, v) = refused(&gw, 5, header.clone()).await;
    assert_eq!(status, 412, "{v}");
    assert_eq!(v["error"], "PERMIT2_ALLOWANCE_REQUIRED", "{v}");
    assert_eq!(v["accepts"].as_array().unwrap().len(), 2, "{v}");
    let on_chain = chain_client(&chain.anvil, DEV_KEYS[4]).await;
    on_chain
        .approve(usdt.address, PERMIT2_ADDRESS, U256::MAX)
        .await
        .unwrap();

    // Each field the payer signed, wrong in turn (each correctly signed: the gateway must
    // compare it with its offer, not only check the signature).
    let cases: Vec<(
        &str,
        Box<dyn Fn(&mut tollgate_chain::x402::Permit2Authorization)>,
    )> = vec![
        (
            "invalid_permit2_recipient_mismatch",
            Box::new(|a| a.witness.to = PrivateKeySigner::random().address()),
        ),
        (
            "permit2_amount_mismatch",
            Box::new(|a| a.permitted.amount += U256::from(1)),
        ),
        (
            "permit2_token_mismatch",
            Box::new(move |a| a.permitted.token = another_contract()),
        ),
        ("permit2_deadline_expired", Box::new(|a| a.deadline -= 117)),
        // Valid for longer than the offer's maxTimeoutSeconds.
        ("permit2_deadline_expired", Box::new(|a| a.deadline += 3600)),
        (
            "permit2_not_yet_valid",
            Box::new(|a| a.witness.valid_after = a.deadline - 60),
        ),
        (
            "invalid_permit2_spender",
            Box::new(|a| a.spender = X402_UPTO_PERMIT2_PROXY),
        ),
    ];
    for (reason, tweak) in cases {
        let auth = permit2_authorization(&five, payer.address(), |a| tweak(a));
        let (status, v) = refused(&gw, 5, permit2_header(&five, &payer, &auth)).await;
        assert_eq!((status, v["error"].as_str()), (402, Some(reason)), "{v}");
    }
    // Signed by someone else for the payer's address.
    let forged = permit2_authorization(&five, payer.address(), |_| {});
    let (status, v) = refused(
        &gw,
        5,
        permit2_header(&five, &PrivateKeySigner::random(), &forged),
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (402, Some("invalid_permit2_signature")),
        "{v}"
    );
    // The right signature under the wrong offer: a Permit2 payload naming the USDC offer
    // (an EIP-3009 token), and an EIP-3009 payload naming the USDT offer.
    let usdc = offer(&v2, ANVIL_CHAIN_ID, chain.dep.usdc);
    let (status, v) = refused(&gw, 5, permit2_header(&usdc, &payer, &good)).await;
    assert_eq!(status, 402, "{v}");
    let (_, v1) = offers_for(&gw, json!(5)).await;
    let eip3009 = signed_authorization(&v1["accepts"][0], &payer, &chain, |_| {});
    let accepted: x402::RequirementsV2 = serde_json::from_value(five.clone()).unwrap();
    let (status, v) = refused(
        &gw,
        5,
        x402::PaymentPayload::v2(accepted, None, eip3009).to_header(),
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (402, Some("invalid_payload")),
        "{v}"
    );
    // The offer as the payer received it, altered in `accepted` (a cheaper amount).
    let mut cheap = five.clone();
    cheap["amount"] = json!("1");
    let (status, v) = refused(&gw, 5, permit2_header(&cheap, &payer, &good)).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (402, Some("permit2_amount_mismatch")),
        "{v}"
    );
    assert_eq!(
        balance(&gw, payer.address()).await,
        0,
        "nothing credited so far"
    );

    // The payment refused for its allowance is good now: credited once, at what moved.
    let r = post_topup(&gw, json!(5), Some(("payment-signature", header.clone()))).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["credited_usdc"], 5 * USDC, "{v}");
    let (status, v) = refused(&gw, 5, header).await;
    assert_eq!(status, 402, "replayed: {v}");
    // The spent nonce signed again for another amount: refused, not credited again.
    let (one, _) = offers_for(&gw, json!(1)).await;
    let one = offer(&one, ANVIL_CHAIN_ID, usdt.address);
    let again = permit2_authorization(&one, payer.address(), |a| a.nonce = good.nonce);
    let (status, v) = refused(&gw, 1, permit2_header(&one, &payer, &again)).await;
    assert_eq!(status, 402, "{v}");
    assert_eq!(balance(&gw, payer.address()).await, 5 * USDC);

    // More than the payer holds: refused before sending; the same nonce for less then pays
    // what moved (the failed attempt's amount is never what is credited).
    let (big, _) = offers_for(&gw, json!(500)).await;
    let big = offer(&big, ANVIL_CHAIN_ID, usdt.address);
    let short = permit2_authorization(&big, payer.address(), |_| {});
    let (status, v) = refused(&gw, 500, permit2_header(&big, &payer, &short)).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (402, Some("insufficient_funds")),
        "{v}"
    );
    let small = permit2_authorization(&one, payer.address(), |a| a.nonce = short.nonce);
    let r = post_topup(
        &gw,
        json!(1),
        Some(("payment-signature", permit2_header(&one, &payer, &small))),
    )
    .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["credited_usdc"], USDC, "{v}");

    // Front-run: a stranger submits the payer's signed Permit2 transfer to the proxy first. The
    // money is in the vault (the witness fixes the recipient) and the top-up is credited from
    // the stranger's transaction, once.
    let front = permit2_authorization(&five, payer.address(), |_| {});
    let signature = sign_permit2(&payer, &front, ANVIL_CHAIN_ID).unwrap();
    let stranger = chain_client(&chain.anvil, DEV_KEYS[3]).await;
    stranger
        .send_and_confirm(permit2_settle_tx(&front, &signature))
        .await
        .expect("anyone may submit a signed Permit2 transfer");
    let header = permit2_header(&five, &payer, &front);
    let r = post_topup(&gw, json!(5), Some(("payment-signature", header.clone()))).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["credited_usdc"], 5 * USDC, "{v}");
    let (status, _) = refused(&gw, 5, header).await;
    assert_eq!(status, 402);
    assert_eq!(balance(&gw, payer.address()).await, 11 * USDC);
    assert_eq!(
        token_of(&chain, usdt.address, usdt.treasury_vault).await,
        U256::from(11 * USDC as u64),
        "the vault holds exactly what was credited"
    );
    ledger_check(&gw);
    let (ok, out) = ledger_check_chain(&gw);
    assert!(ok, "{out}");

    // A Permit2 credit the chain did not make (a row and its transfer rewritten upwards,
    // entries and balances consistent): `ledger check` balances, `--chain` does not.
    let db = crate::common::pg::client(&url).await;
    db.batch_execute(
        "WITH one AS (SELECT id, transfer_id FROM chain_credits WHERE id LIKE 'permit2:%' AND status = 'credited' LIMIT 1),
              r AS (UPDATE chain_credits c SET amount = c.amount + 1000000 FROM one WHERE c.id = one.id RETURNING one.transfer_id)
         UPDATE entries e SET amount = e.amount + CASE WHEN a.kind = 'external' THEN -1000000 ELSE 1000000 END
           FROM accounts a, r WHERE a.id = e.account_id AND e.transfer_id = r.transfer_id;
         UPDATE accounts a SET balance = (SELECT COALESCE(SUM(amount), 0) FROM entries WHERE account_id = a.id);",
    )
    .await
    .unwrap();
    ledger_check(&gw);
    let (ok, out) = ledger_check_chain(&gw);
    assert!(!ok, "{out}");
    assert!(out.contains("short by 1000000"), "{out}");
}

/// A Permit2 settlement sent but not mined before the gateway stops waiting (504
/// `CHAIN_TIMEOUT`) is credited by the reconciler once it is mined, exactly once.
#[tokio::test]
async fn a_permit2_topup_confirmed_after_the_gateway_gave_up_waiting_is_credited_by_the_reconciler(
) {
    let payer = tollgate_chain::client::parse_private_key(DEV_KEYS[4]).unwrap();
    let chain = Chain::with_usdt_on(ANVIL_CHAIN_ID, 6, &[(payer.address(), 100)]).await;
    let usdt = chain.dep.assets[0].clone();
    chain_client(&chain.anvil, DEV_KEYS[4])
        .await
        .approve(usdt.address, PERMIT2_ADDRESS, U256::MAX)
        .await
        .unwrap();
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_with(&url, &chain, &mock, "2s", "").await;
    let (v2, _) = offers_for(&gw, json!(5)).await;
    let five = offer(&v2, ANVIL_CHAIN_ID, usdt.address);

    chain.automine(false).await;
    let auth = permit2_authorization(&five, payer.address(), |_| {});
    let header = permit2_header(&five, &payer, &auth);
    let r = post_topup(&gw, json!(5), Some(("payment-signature", header.clone()))).await;
    assert_eq!(r.status(), 504);
    assert_eq!(balance(&gw, payer.address()).await, 0, "not before it is mined");
    // Sent again while it is still unconfirmed: in progress, not a second transfer.
    let r = post_topup(&gw, json!(5), Some(("payment-signature", header))).await;
    assert_eq!(r.status(), 409);

    chain.rpc("evm_mine", json!([])).await;
    chain.automine(true).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while balance(&gw, payer.address()).await == 0 {
        assert!(std::time::Instant::now() < deadline, "never credited");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while chain.admin.pool_balance(usdt.treasury_vault).await.unwrap() != U256::from(5 * USDC as u64) {
        assert!(std::time::Instant::now() < deadline, "recordTopUp never happened");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(balance(&gw, payer.address()).await, 5 * USDC, "once");
    ledger_check(&gw);
    let (ok, out) = ledger_check_chain(&gw);
    assert!(ok, "{out}");
}

/// A token address the USDT offer does not name (any other contract's address will do).
fn another_contract() -> alloy::primitives::Address {
    PERMIT2_ADDRESS
}
