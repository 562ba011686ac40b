//! What the fleet risks on calls paid per call, beyond one payer's limits: fresh addresses
//! together stop at `max_at_risk_usd` (open calls plus the last day's defaults); a call the
//! settlement job was too slow for expires without counting as the payer's default; keyless
//! calls are limited per client address before any signature is recovered or chain read.

use super::*;
use crate::common::chain::offer;
use crate::common::*;
use alloy::primitives::U256;
use serde_json::Value;
use tollgate_chain::anvil::{ANVIL_CHAIN_ID, DEV_KEYS};

/// A made-up payer's lost call of 0.01 USD with `status` (`failed`, `expired`), `age` ago: a
/// loss the fleet bore.
async fn lost_call(db: &tokio_postgres::Client, n: u32, status: &str, age: &str) {
    db.execute(
        &format!(
            "INSERT INTO paid_calls (id, request_id, payer, chain_id, asset, max_amount, amount, payment,
                 deadline, status, error, updated_at)
             VALUES ($1, $1, '0x00000000000000000000000000000000000000f{n}', 1, '0x00', 10000, 10000, '{{}}',
                 now() - interval '{age}', '{status}', 'deadline passed', now() - interval '{age}')"
        ),
        &[&format!("upto:test-loss-{n}")],
    )
    .await
    .unwrap();
}

/// Each of `slow` answered 200 and its call settled.
async fn all_settle(db: &tokio_postgres::Client, slow: Vec<tokio::task::JoinHandle<reqwest::Response>>) {
    for call in slow {
        let r = call.await.unwrap();
        assert_eq!(r.status(), 200);
        let id = request_id(&r);
        let _ = r.bytes().await;
        assert_eq!(paid_call(db, &id, &["settled", "failed"]).await["status"], "settled");
    }
}

#[tokio::test]
async fn fresh_payers_together_stop_at_the_fleets_cap_and_a_default_counts_for_a_day() {
    // Each call's maximum is min_call (0.01 USD): two fit the fleet's cap, a third does not,
    // though each payer is far inside its own limit.
    let Stack {
        payer: first,
        chain,
        usdt,
        db,
        mock,
        gw,
        ..
    } = Stack::start(
        "  min_call_usd: 0.01\n  max_unsettled_usd: 0.02\n  max_at_risk_usd: 0.02\n  settle_every: 200ms\n",
    )
    .await;
    let second = tollgate_chain::client::parse_private_key(DEV_KEYS[3]).unwrap();
    let third = tollgate_chain::client::parse_private_key(DEV_KEYS[2]).unwrap();
    approve_permit2(&chain, PAYER_KEY, usdt.address, U256::MAX).await;
    for (key, who) in [(DEV_KEYS[3], &second), (DEV_KEYS[2], &third)] {
        mint(
            &chain,
            usdt.address,
            who.address(),
            U256::from(1_000_000u64),
        )
        .await;
        approve_permit2(&chain, key, usdt.address, U256::MAX).await;
    }
    let body = chat(50);
    let offer = offer(&challenge(&gw, &body).await, ANVIL_CHAIN_ID, usdt.address);
    assert_eq!(offer["amount"], "10000", "the maximum is min_call");

    let a = spawn_slow(&gw, &body, upto_header(&offer, &first));
    let b = spawn_slow(&gw, &body, upto_header(&offer, &second));
    wait_serving(&db, first.address(), 1).await;
    wait_serving(&db, second.address(), 1).await;
    let served_before = mock.recorder.requests().len();
    let r = call(
        &gw,
        &body,
        &[("payment-signature", &upto_header(&offer, &third))],
    )
    .await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "10");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "PAY_PER_CALL_FULL", "{v}");
    assert_eq!(
        mock.recorder.requests().len(),
        served_before,
        "nothing served"
    );
    all_settle(&db, vec![a, b]).await;

    // Settled calls risk nothing, nor do losses older than a day: two calls open again.
    lost_call(&db, 1, "failed", "25 hours").await;
    let c = spawn_slow(&gw, &body, upto_header(&offer, &third));
    let d = spawn_slow(&gw, &body, upto_header(&offer, &first));
    wait_serving(&db, third.address(), 1).await;
    wait_serving(&db, first.address(), 1).await;
    all_settle(&db, vec![c, d]).await;
    // The last day's losses count, whichever way they were lost: a default and our own delay
    // together fill the cap.
    lost_call(&db, 2, "failed", "1 minute").await;
    lost_call(&db, 3, "expired", "1 minute").await;
    let r = call(&gw, &body, &[("payment-signature", &upto_header(&offer, &second))]).await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "PAY_PER_CALL_FULL", "{v}");
}

/// Serve one paid call while its row is held from the settlement job, run `meanwhile`, then
/// give the job the row with a deadline 3 s away (inside the 6 s no settlement is sent in).
/// The row's status once the job saw it.
async fn held_until_too_late(stack: &Stack, offer: &Value, revoke: bool) -> Value {
    let Stack { payer, db, gw, .. } = stack;
    let slow = spawn_slow(gw, &chat(50), upto_header(offer, payer));
    wait_serving(db, payer.address(), 1).await;
    let hold = "UPDATE paid_calls SET claimed_until = now() + interval '1 hour' WHERE payer = $1 AND status = 'serving'";
    db.execute(hold, &[&format!("{:#x}", payer.address())]).await.unwrap();
    let r = slow.await.unwrap();
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let _ = r.bytes().await;
    let row = paid_call(db, &id, &["unsettled"]).await;
    if revoke {
        approve_permit2(&stack.chain, PAYER_KEY, stack.usdt.address, U256::ZERO).await;
    }
    db.execute(
        "UPDATE paid_calls SET deadline = now() + interval '3 seconds', claimed_until = NULL WHERE id = $1",
        &[&row["id"].as_str().unwrap()],
    )
    .await
    .unwrap();
    paid_call(db, &id, &["expired", "failed", "settled"]).await
}

#[tokio::test]
async fn a_call_we_did_not_settle_in_time_expires_and_does_not_refuse_its_payer() {
    let stack = Stack::start("  min_call_usd: 0.00001\n  settle_every: 200ms\n").await;
    approve_permit2(&stack.chain, PAYER_KEY, stack.usdt.address, U256::MAX).await;
    let body = chat(50);
    let offer = offer(&challenge(&stack.gw, &body).await, ANVIL_CHAIN_ID, stack.usdt.address);

    // The payer could still pay when time ran out: the delay was ours. Not charged, and the
    // payer is served.
    let row = held_until_too_late(&stack, &offer, false).await;
    assert_eq!(row["status"], "expired", "{row}");
    assert!(row["transfer_id"].is_null(), "nothing booked: {row}");
    let r = call(&stack.gw, &body, &[("payment-signature", &upto_header(&offer, &stack.payer))]).await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let _ = r.bytes().await;
    assert_eq!(paid_call(&stack.db, &id, &["settled"]).await["status"], "settled");

    // It had revoked its allowance meanwhile: its default, and it is refused.
    let row = held_until_too_late(&stack, &offer, true).await;
    assert_eq!(row["status"], "failed", "{row}");
    approve_permit2(&stack.chain, PAYER_KEY, stack.usdt.address, U256::MAX).await;
    let r = call(&stack.gw, &body, &[("payment-signature", &upto_header(&offer, &stack.payer))]).await;
    assert_eq!(r.status(), 402);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "PAYER_DEFAULTED", "{v}");
}

#[tokio::test]
async fn keyless_calls_are_limited_per_client_address_before_any_payment_is_checked() {
    let Stack {
        payer,
        chain,
        usdt,
        mock,
        gw,
        ..
    } = Stack::start(
        "  min_call_usd: 0.00001\n  settle_every: 200ms\nlimits:\n  control_plane:\n    per_ip_per_minute: 3\n",
    )
    .await;
    approve_permit2(&chain, PAYER_KEY, usdt.address, U256::MAX).await;
    let body = chat(50);
    let offer = offer(&challenge(&gw, &body).await, ANVIL_CHAIN_ID, usdt.address);
    // One paid call, then fresh signers: each would be a new payer with its own limits and
    // three chain reads; the client's address has one call left in its minute, then 429.
    let r = call(
        &gw,
        &body,
        &[("payment-signature", &upto_header(&offer, &payer))],
    )
    .await;
    assert_eq!(r.status(), 200);
    let fresh = PrivateKeySigner::random();
    let r = call(
        &gw,
        &body,
        &[("payment-signature", &upto_header(&offer, &fresh))],
    )
    .await;
    assert_eq!(
        r.status(),
        412,
        "a fresh signer without an allowance is refused on chain"
    );
    let served = mock.recorder.requests().len();
    let r = call(
        &gw,
        &body,
        &[(
            "payment-signature",
            &upto_header(&offer, &PrivateKeySigner::random()),
        )],
    )
    .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "RATE_LIMITED", "{v}");
    assert_eq!(mock.recorder.requests().len(), served);
    // An API key's calls are not the keyless window's.
    let r = post_json(&gw.url(CHAT), Some(KEY), &body, &[]).await;
    assert_ne!(r.status(), 429);
}
