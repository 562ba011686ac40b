//! Money in, against a real anvil, real Postgres and the real gateway: x402 top-ups through the
//! 402 flow (v1 and v2 headers), every bad payment refused with nothing credited, and
//! TreasuryVault deposits credited exactly once.

use crate::common::chain::{
    accepts_for, balance, chain_client, gateway_on, gateway_with, payment, post_topup, Chain,
};
use crate::common::ledger::*;
use crate::common::*;
use alloy::primitives::{B256, U256};
use alloy::signers::local::PrivateKeySigner;
use serde_json::{json, Value};
use tollgate_chain::anvil::DEV_KEYS;
use tollgate_chain::x402::{self, PaymentPayload};

#[tokio::test]
async fn a_topup_goes_through_the_402_flow_and_is_credited_once() {
    let buyer = PrivateKeySigner::random();
    let chain = Chain::deployed_by_cli(&[(buyer.address(), 100)]).await;
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_on(&url, &chain, &mock).await;

    // No payment: 402 with the x402 v1 body and the v2 header.
    let r = post_topup(&gw, json!(5), None).await;
    assert_eq!(r.status(), 402);
    let v2 = r.headers()["payment-required"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["x402Version"], 1);
    let a = &body["accepts"][0];
    assert_eq!(a["scheme"], "exact");
    assert_eq!(a["maxAmountRequired"], "5000000");
    assert_eq!(a["mimeType"], "application/json");
    assert_eq!(a["extra"], json!({"name": "USD Coin", "version": "2"}));
    assert_eq!(
        a["asset"].as_str().unwrap().to_lowercase(),
        format!("{:#x}", chain.dep.usdc)
    );
    assert_eq!(
        a["payTo"].as_str().unwrap().to_lowercase(),
        format!("{:#x}", chain.dep.treasury_vault)
    );
    assert_eq!(a["resource"], format!("{}/v1/topup", gw.base));
    assert!(a["maxTimeoutSeconds"].as_u64().unwrap() > 0);
    let v2: Value = x402::decode_header(&v2).unwrap();
    assert_eq!(v2["x402Version"], 2);
    assert_eq!(v2["accepts"][0]["network"], "eip155:31337");
    assert_eq!(v2["accepts"][0]["amount"], "5000000");

    // Pay.
    let header = payment(a, &buyer, &chain, |_| {});
    let r = post_topup(&gw, json!(5), Some(("x-payment", header.clone()))).await;
    assert_eq!(r.status(), 200);
    let settled: Value =
        x402::decode_header(r.headers()["x-payment-response"].to_str().unwrap()).unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["credited_usdc"], 5_000_000);
    assert_eq!(v["balance_usdc"], 5_000_000);
    assert_eq!(settled["success"], true);
    assert_eq!(settled["transaction"], v["tx_hash"]);
    assert_eq!(balance(&gw, buyer.address()).await, 5_000_000);

    // On chain: the buyer paid, and the vault counted the top-up into its pool.
    let op = &chain.admin;
    assert_eq!(
        op.token_balance(chain.dep.usdc, buyer.address())
            .await
            .unwrap(),
        U256::from(95_000_000u64)
    );
    assert_eq!(
        op.pool_balance(chain.dep.treasury_vault).await.unwrap(),
        U256::from(5_000_000u64)
    );

    // The same header again: refused, nothing more credited.
    let r = post_topup(&gw, json!(5), Some(("x-payment", header))).await;
    assert_eq!(r.status(), 402);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["message"].as_str().unwrap().contains("already used"),
        "{e}"
    );
    assert_eq!(balance(&gw, buyer.address()).await, 5_000_000);

    // v2 client: PAYMENT-SIGNATURE in, PAYMENT-RESPONSE out.
    let accepted: x402::RequirementsV2 = serde_json::from_value(v2["accepts"][0].clone()).unwrap();
    let a2 = accepts_for(&gw, 5).await;
    let v1_header = payment(&a2, &buyer, &chain, |_| {});
    let PaymentPayload::V1(p1) = x402::decode_payment_header(&v1_header).unwrap() else {
        unreachable!()
    };
    let v2_header = PaymentPayload::v2(accepted, None, p1.payload).to_header();
    let r = post_topup(&gw, json!(5), Some(("payment-signature", v2_header))).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("payment-response"));
    assert_eq!(balance(&gw, buyer.address()).await, 10_000_000);

    // History with tx hashes, for the wallet's own key.
    let key = create_key(&gw, &format!("{:#x}", buyer.address()));
    let h: Value = reqwest::Client::new()
        .get(gw.url(&format!("/v1/topups/{:#x}", buyer.address())))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = h["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|r| r["status"] == "credited" && r["tx_hash"].as_str().unwrap().starts_with("0x")));
    ledger_check(&gw);
}

#[tokio::test]
async fn bad_payments_are_refused_and_nothing_is_credited() {
    let buyer = PrivateKeySigner::random();
    let broke = PrivateKeySigner::random();
    let chain = Chain::deployed_by_cli(&[(buyer.address(), 100)]).await;
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_on(&url, &chain, &mock).await;
    let a = accepts_for(&gw, 5).await;

    // Amount problems are 400 before any 402.
    for bad in [json!(0.5), json!(0), json!(-5), json!("lots"), Value::Null] {
        let r = post_topup(&gw, bad.clone(), None).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "VALIDATION_ERROR"
        );
    }
    let r = post_topup(&gw, json!(5), Some(("x-payment", "%%%not base64".into()))).await;
    assert_eq!(r.status(), 400);

    let other = PrivateKeySigner::random();
    let cases: Vec<(&str, String)> = vec![
        (
            "valid_before",
            payment(&a, &buyer, &chain, |au| {
                au.valid_before = au.valid_after + 5
            }),
        ),
        (
            "recipient",
            payment(&a, &buyer, &chain, |au| au.to = other.address()),
        ),
        (
            "value",
            payment(&a, &buyer, &chain, |au| au.value = U256::from(4_000_000u64)),
        ),
        // Signed by another key while claiming to be the buyer.
        (
            "signature",
            payment(&a, &other, &chain, |au| au.from = buyer.address()),
        ),
        ("insufficient_funds", payment(&a, &broke, &chain, |_| {})),
    ];
    for (want, header) in cases {
        let r = post_topup(&gw, json!(5), Some(("x-payment", header))).await;
        assert_eq!(r.status(), 402, "{want}");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"].as_str().unwrap().contains(want), "{want}: {e}");
        assert!(!e["message"].as_str().unwrap().is_empty());
        assert_eq!(e["x402Version"], 1);
    }
    assert_eq!(balance(&gw, buyer.address()).await, 0);
    assert_eq!(balance(&gw, broke.address()).await, 0);
    let c = pg::client(&url).await;
    let credited: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM chain_credits WHERE status = 'credited'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(credited, 0);
    let op = &chain.admin;
    assert_eq!(
        op.token_balance(chain.dep.usdc, buyer.address())
            .await
            .unwrap(),
        U256::from(100_000_000u64),
        "no USDC moved"
    );
    ledger_check(&gw);
}

#[tokio::test]
async fn a_deposit_is_credited_once_even_when_submitted_twice() {
    // The depositor needs ETH for gas: anvil's dev account 1.
    let depositor = tollgate_chain::client::parse_private_key(DEV_KEYS[1]).unwrap();
    let chain = Chain::deployed_by_cli(&[(depositor.address(), 50)]).await;
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_on(&url, &chain, &mock).await;
    let wallet = format!("{:#x}", depositor.address());
    let key = create_key(&gw, &wallet);

    let buyer_client = chain_client(&chain.anvil, DEV_KEYS[1]).await;
    let tx = buyer_client
        .approve_and_deposit(
            chain.dep.usdc,
            chain.dep.treasury_vault,
            U256::from(7_000_000u64),
        )
        .await
        .unwrap();
    let submit = |key: String| {
        let gw_url = gw.url("/v1/deposits");
        async move {
            reqwest::Client::new()
                .post(gw_url)
                .bearer_auth(key)
                .json(&json!({ "tx_hash": format!("{tx:#x}") }))
                .send()
                .await
                .unwrap()
        }
    };
    let r = submit(key.clone()).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["credited_usdc"], 7_000_000);
    assert_eq!(v["balance_usdc"], 7_000_000);

    let again: Value = submit(key.clone()).await.json().await.unwrap();
    assert_eq!(again["credited_usdc"], 0);
    assert_eq!(again["deposits"][0]["newly_credited"], false);
    assert_eq!(balance(&gw, depositor.address()).await, 7_000_000);

    // Someone else's key cannot claim it; an unknown transaction is 404.
    let stranger = create_key(&gw, "0x00000000000000000000000000000000000000cc");
    assert_eq!(submit(stranger).await.status(), 403);
    let r = reqwest::Client::new()
        .post(gw.url("/v1/deposits"))
        .bearer_auth(&key)
        .json(&json!({ "tx_hash": format!("{:#x}", B256::repeat_byte(7)) }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = reqwest::Client::new()
        .post(gw.url("/v1/deposits"))
        .bearer_auth(&key)
        .json(&json!({ "tx_hash": "0x1234" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    ledger_check(&gw);
}

#[tokio::test]
async fn a_topup_confirmed_after_the_gateway_gave_up_waiting_is_credited_by_the_reconciler() {
    let buyer = PrivateKeySigner::random();
    let chain = Chain::deployed_by_cli(&[(buyer.address(), 100)]).await;
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_with(&url, &chain, &mock, "2s", "").await;
    let a = accepts_for(&gw, 5).await;

    // Blocks stop: the transfer is sent but not mined before the gateway stops waiting.
    chain.rpc("evm_setAutomine", json!([false])).await;
    let r = post_topup(
        &gw,
        json!(5),
        Some(("x-payment", payment(&a, &buyer, &chain, |_| {}))),
    )
    .await;
    assert_eq!(r.status(), 504);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "CHAIN_TIMEOUT");
    assert_eq!(
        balance(&gw, buyer.address()).await,
        0,
        "nothing credited before it is mined"
    );
    let c = pg::client(&url).await;
    let (status, tx): (String, Option<String>) = {
        let r = c
            .query_one("SELECT status, tx_hash FROM chain_credits", &[])
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(status, "pending");
    assert!(tx.is_some(), "the tx hash is stored before waiting");

    // Mined later: the reconciler credits it, once, and the vault counts it into its pool.
    chain.rpc("evm_mine", json!([])).await;
    chain.rpc("evm_setAutomine", json!([true])).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while balance(&gw, buyer.address()).await == 0 {
        assert!(std::time::Instant::now() < deadline, "never credited");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(balance(&gw, buyer.address()).await, 5_000_000);
    let op = &chain.admin;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while op.pool_balance(chain.dep.treasury_vault).await.unwrap() != U256::from(5_000_000u64) {
        assert!(
            std::time::Instant::now() < deadline,
            "recordTopUp never happened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(
        balance(&gw, buyer.address()).await,
        5_000_000,
        "credited exactly once"
    );
    ledger_check(&gw);
}

#[tokio::test]
async fn the_deposit_watcher_credits_deposits_nobody_reported() {
    let depositor = tollgate_chain::client::parse_private_key(DEV_KEYS[2]).unwrap();
    let chain = Chain::deployed_by_cli(&[(depositor.address(), 50)]).await;
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let gw = gateway_with(&url, &chain, &mock, "20s", "  deposits: { watch: 200ms }\n").await;
    let client = chain_client(&chain.anvil, DEV_KEYS[2]).await;
    let tx = client
        .approve_and_deposit(
            chain.dep.usdc,
            chain.dep.treasury_vault,
            U256::from(3_000_000u64),
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while balance(&gw, depositor.address()).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher never credited the deposit"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Reported afterwards as well: still credited once.
    let key = create_key(&gw, &format!("{:#x}", depositor.address()));
    let v: Value = reqwest::Client::new()
        .post(gw.url("/v1/deposits"))
        .bearer_auth(&key)
        .json(&json!({ "tx_hash": format!("{tx:#x}") }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["credited_usdc"], 0, "{v}");
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(balance(&gw, depositor.address()).await, 3_000_000);
    ledger_check(&gw);
}
