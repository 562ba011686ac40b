//! What bounds the calls open on a payer's signatures: the calls it has open on a rail and
//! the new one must fit its allowance to Permit2 and its balance together (each is checked
//! against one maximum on chain, but several calls may be open at once); one Permit2 nonce
//! pays for one call, whichever token it was signed for.

use super::*;
use crate::common::chain::offer;
use crate::common::ledger::*;
use crate::common::*;
use alloy::primitives::U256;
use serde_json::Value;
use tollgate_chain::anvil::{ANVIL_CHAIN_ID, DEV_KEYS};

#[tokio::test]
async fn the_open_calls_of_a_payer_and_the_next_one_must_fit_its_allowance_and_balance() {
    let Stack {
        payer: rich,
        chain,
        usdt,
        db,
        mock,
        gw,
        ..
    } = Stack::start("  min_call_usd: 0.00001\n  max_unsettled_calls: 4\n  settle_every: 200ms\n")
        .await;
    let poor = tollgate_chain::client::parse_private_key(DEV_KEYS[3]).unwrap();
    let body = chat(50);
    let offer = offer(&challenge(&gw, &body).await, ANVIL_CHAIN_ID, usdt.address);
    // 6 decimals: token units are µUSD.
    let maximum: u64 = offer["amount"].as_str().unwrap().parse().unwrap();
    let one_and_a_half = U256::from(maximum * 3 / 2);

    // Allowance: Permit2 may take one and a half maxima. One call open, a second refused (412)
    // before any upstream is asked; approve more and it is served beside the first.
    approve_permit2(&chain, PAYER_KEY, usdt.address, one_and_a_half).await;
    let first = spawn_slow(&gw, &body, upto_header(&offer, &rich));
    wait_serving(&db, rich.address(), 1).await;
    let served_before = mock.recorder.requests().len();
    let r = call(
        &gw,
        &body,
        &[("payment-signature", &upto_header(&offer, &rich))],
    )
    .await;
    assert_eq!(r.status(), 412);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "PERMIT2_ALLOWANCE_REQUIRED", "{v}");
    assert_eq!(
        mock.recorder.requests().len(),
        served_before,
        "nothing served"
    );
    approve_permit2(&chain, PAYER_KEY, usdt.address, U256::MAX).await;
    let second = spawn_slow(&gw, &body, upto_header(&offer, &rich));
    wait_serving(&db, rich.address(), 2).await;

    // Balance: a payer holding one and a half maxima, Permit2 approved without limit.
    mint(&chain, usdt.address, poor.address(), one_and_a_half).await;
    approve_permit2(&chain, DEV_KEYS[3], usdt.address, U256::MAX).await;
    let third = spawn_slow(&gw, &body, upto_header(&offer, &poor));
    wait_serving(&db, poor.address(), 1).await;
    let served_before = mock.recorder.requests().len();
    let r = call(
        &gw,
        &body,
        &[("payment-signature", &upto_header(&offer, &poor))],
    )
    .await;
    assert_eq!(r.status(), 402);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "permit2_insufficient_balance", "{v}");
    assert_eq!(
        mock.recorder.requests().len(),
        served_before,
        "nothing served"
    );

    // Every admitted call settles (none was admitted on money already promised), and once the
    // poor payer's call is settled its remaining balance covers a new one.
    for slow in [first, second, third] {
        let r = slow.await.unwrap();
        assert_eq!(r.status(), 200);
        let id = request_id(&r);
        let _ = r.bytes().await;
        let row = paid_call(&db, &id, &["settled", "failed"]).await;
        assert_eq!(row["status"], "settled", "{row}");
    }
    let r = call(
        &gw,
        &body,
        &[("payment-signature", &upto_header(&offer, &poor))],
    )
    .await;
    assert_eq!(r.status(), 200);
    ledger_check(&gw);
}

#[tokio::test]
async fn one_permit2_nonce_pays_for_one_call_whichever_token_it_was_signed_for() {
    let Stack {
        payer,
        chain,
        usdt,
        db,
        mock,
        gw,
        ..
    } = Stack::start("  min_call_usd: 0.00001\n  settle_every: 200ms\n").await;
    let (usdc, usdt) = (chain.dep.usdc, usdt.address);
    for token in [usdc, usdt] {
        approve_permit2(&chain, PAYER_KEY, token, U256::MAX).await;
    }
    let body = chat(50);
    let offers = challenge(&gw, &body).await;
    let nonce = U256::from_be_bytes(crate::common::chain::random_nonce().0);

    // Permit2 keeps one nonce bitmap per owner: the same nonce signed for USDT and for USDC can
    // move money once, so while the first call is open the second is a replay.
    let in_usdt = upto_header_with_nonce(&offer(&offers, ANVIL_CHAIN_ID, usdt), &payer, nonce);
    let first = spawn_slow(&gw, &body, in_usdt);
    wait_serving(&db, payer.address(), 1).await;
    let served_before = mock.recorder.requests().len();
    let in_usdc = upto_header_with_nonce(&offer(&offers, ANVIL_CHAIN_ID, usdc), &payer, nonce);
    let r = call(&gw, &body, &[("payment-signature", &in_usdc)]).await;
    assert_eq!(r.status(), 402);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "permit2_invalid_nonce", "{v}");
    assert_eq!(
        mock.recorder.requests().len(),
        served_before,
        "nothing served"
    );

    let r = first.await.unwrap();
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let _ = r.bytes().await;
    let row = paid_call(&db, &id, &["settled", "failed"]).await;
    assert_eq!(row["status"], "settled", "{row}");
    ledger_check(&gw);
}

#[tokio::test]
async fn a_call_still_streaming_near_its_payments_deadline_is_cut_and_settled_not_served_free() {
    // Payments valid for 14 s; the last 8 s are kept to settle (none is sent in the last 6 s).
    // (The mock is kept alive by its binding.)
    let Stack { payer, chain, usdt, db, mock: _mock, gw, .. } = Stack::start("  min_call_usd: 0.00001\n  max_timeout_seconds: 14\n  min_validity: 10s\n  settle_margin: 8s\n  settle_every: 200ms\n").await;
    approve_permit2(&chain, PAYER_KEY, usdt.address, U256::MAX).await;
    let mut body = chat(400);
    body["stream"] = true.into();
    body["stream_options"] = serde_json::json!({"include_usage": true});
    let offer = offer(&challenge(&gw, &body).await, ANVIL_CHAIN_ID, usdt.address);

    // A 20 s stream on a payment that expires in 14 s: cut while its payment can still settle.
    let r = call(
        &gw,
        &body,
        &[
            ("payment-signature", &upto_header(&offer, &payer)),
            ("x-mock-output-tokens", "400"),
            ("x-mock-inter-token-ms", "50"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let received = match r.bytes().await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    assert!(!received.contains("[DONE]"), "the stream was cut");
    let row = paid_call(&db, &id, &["settled", "failed", "lost", "free"]).await;
    assert_eq!(row["status"], "settled", "charged what was served: {row}");
    assert!(row["amount"].as_i64().unwrap() > 0, "{row}");
    // The cut was the payment's limit, not the provider's failure: no failover counted, the
    // provider not demoted (else one paid call could take a provider out of the fleet).
    let m = gw.metrics().await;
    assert!(
        !m.lines()
            .any(|l| l.starts_with("tollgate_upstream_failovers_total{")),
        "{m}"
    );
    assert_eq!(
        metric_value(&m, "tollgate_provider_health", &["provider=\"pa\""]),
        1.0,
        "{m}"
    );
    ledger_check(&gw);
}
