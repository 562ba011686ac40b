//! A paid call settled for its metered cost; a payer who revokes the allowance.

use super::*;
use crate::common::chain::{offer, token_of};
use crate::common::ledger::*;
use crate::common::*;
use alloy::primitives::U256;
use serde_json::Value;
use std::time::{Duration, Instant};
use tollgate_chain::anvil::ANVIL_CHAIN_ID;

#[tokio::test]
async fn a_paid_call_is_settled_for_exactly_its_metered_cost_and_its_payment_pays_once() {
    let Stack {
        payer,
        chain,
        usdt,
        db,
        mock,
        gw,
        ..
    } = Stack::start("  min_call_usd: 0.00001\n  settle_every: 200ms\n").await;

    // No key, no payment: 402 with one upto offer per (chain, asset), the maximum = the
    // call's worst case, the operator named as the one who settles.
    let body = chat(50);
    let v = challenge(&gw, &body).await;
    assert_eq!(v["x402Version"], 2, "{v}");
    assert_eq!(v["error"], "PAYMENT_REQUIRED", "{v}");
    let accepts = v["accepts"].as_array().unwrap();
    assert_eq!(accepts.len(), 2, "USDC and USDT: {v}");
    assert!(accepts.iter().all(|a| a["scheme"] == "upto"
        && a["extra"]["assetTransferMethod"] == "permit2"
        && Address::from_str(a["extra"]["facilitatorAddress"].as_str().unwrap()).unwrap()
            == chain.operator.address()));
    let offer = offer(&v, ANVIL_CHAIN_ID, usdt.address);
    let maximum: i64 = offer["amount"].as_str().unwrap().parse().unwrap();
    // A longer output limit is a larger maximum (the offer is the worst case, not a price).
    let bigger = challenge(&gw, &chat(500)).await;
    let bigger: i64 = bigger["accepts"][0]["amount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(bigger > maximum, "{bigger} vs {maximum}");

    // Signed but Permit2 not approved: 412, nothing claimed.
    let header = upto_header(&offer, &payer);
    let r = call(&gw, &body, &[("payment-signature", &header)]).await;
    assert_eq!(r.status(), 412);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "PERMIT2_ALLOWANCE_REQUIRED", "{v}");
    approve_permit2(&chain, PAYER_KEY, usdt.address, U256::MAX).await;
    let vault_before = token_of(&chain, usdt.address, usdt.treasury_vault).await;
    let payer_before = token_of(&chain, usdt.address, payer.address()).await;

    // Served; settled after the response for what the request log says it cost.
    let r = call(&gw, &body, &[("payment-signature", &header)]).await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let answer: Value = r.json().await.unwrap();
    assert!(
        answer["choices"][0]["message"]["content"].is_string(),
        "{answer}"
    );
    let settled = paid_call(&db, &id, &["settled", "failed", "free"]).await;
    assert_eq!(settled["status"], "settled", "{settled}");
    let (cost, provider_cost, transfer): (i64, i64, Option<i64>) = {
        let r = db
            .query_one(
                "SELECT buyer_cost, provider_cost, transfer_id FROM request_log WHERE request_id = $1",
                &[&id],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert!(cost > 0 && cost <= maximum, "{cost} of at most {maximum}");
    assert_eq!(
        settled["amount"], cost,
        "settled for exactly the metered cost"
    );
    assert_eq!(settled["max_amount"], maximum);
    assert_eq!(
        transfer,
        settled["transfer_id"].as_i64(),
        "the request log names the transfer"
    );
    assert_eq!(
        token_of(&chain, usdt.address, usdt.treasury_vault).await - vault_before,
        U256::from(cost as u64),
        "the vault received exactly the cost"
    );
    assert_eq!(
        payer_before - token_of(&chain, usdt.address, payer.address()).await,
        U256::from(cost as u64)
    );
    assert_eq!(
        provider_balance(&db).await,
        provider_cost,
        "the provider is credited as for a balance-paid call"
    );

    // The same payment again: refused (its nonce paid for a call), nothing served or moved.
    let served_before = mock.recorder.requests().len();
    let r = call(&gw, &body, &[("payment-signature", &header)]).await;
    assert_eq!(r.status(), 402);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "permit2_invalid_nonce", "{v}");
    assert_eq!(mock.recorder.requests().len(), served_before);
    // A payment signed for another call's offer (a smaller maximum than this one's): refused.
    let small = challenge(&gw, &chat(5)).await;
    let small = crate::common::chain::offer(&small, ANVIL_CHAIN_ID, usdt.address);
    let r = call(
        &gw,
        &body,
        &[("payment-signature", &upto_header(&small, &payer))],
    )
    .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "permit2_amount_mismatch", "{v}");
    assert_eq!(mock.recorder.requests().len(), served_before);
    ledger_check(&gw);
    let (ok, out) = ledger_check_chain(&gw);
    assert!(ok, "{out}");

    // A settlement the chain did not make (the call and its transfer rewritten upwards,
    // entries and balances consistent): `ledger check` balances, `--chain` reads the
    // settlement back and does not.
    db.batch_execute(
        "WITH r AS (UPDATE paid_calls SET amount = amount + 1000, max_amount = max_amount + 1000
                    WHERE status = 'settled' RETURNING transfer_id)
         UPDATE entries e SET amount = e.amount + CASE a.kind WHEN 'external' THEN -1000 ELSE 1000 END
           FROM accounts a, r WHERE a.id = e.account_id AND e.transfer_id = r.transfer_id
            AND a.kind IN ('external', 'provider');
         UPDATE accounts a SET balance = (SELECT COALESCE(SUM(amount), 0) FROM entries WHERE account_id = a.id);",
    )
    .await
    .unwrap();
    ledger_check(&gw);
    let (ok, out) = ledger_check_chain(&gw);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "{} is settled for {}",
            settled["id"].as_str().unwrap(),
            cost + 1000
        )),
        "{out}"
    );
    // A paid call that disagrees with its own transfer: every `ledger check` says so.
    db.execute(
        "UPDATE paid_calls SET amount = amount - 1 WHERE status = 'settled'",
        &[],
    )
    .await
    .unwrap();
    let out = gw.cli(&["ledger", "check"]);
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("but its transfer moved"), "{said}");
}

#[tokio::test]
async fn a_payer_who_revokes_the_allowance_before_settlement_costs_one_call_and_is_refused() {
    let Stack {
        payer,
        chain,
        usdt,
        db,
        mock,
        gw,
        ..
    } = Stack::start("  min_call_usd: 0.00001\n  max_unsettled_calls: 1\n  settle_every: 200ms\n")
        .await;
    approve_permit2(&chain, PAYER_KEY, usdt.address, U256::MAX).await;
    let body = chat(50);
    let offer = offer(&challenge(&gw, &body).await, ANVIL_CHAIN_ID, usdt.address);
    let vault_before = token_of(&chain, usdt.address, usdt.treasury_vault).await;

    // A slow call, admitted on a good payment...
    let header = upto_header(&offer, &payer);
    let slow = spawn_slow(&gw, &body, header);
    wait_serving(&db, payer.address(), 1).await;
    // ...while it is served, a second call of the payer is over its limit of unsettled calls...
    let r = call(
        &gw,
        &body,
        &[("payment-signature", &upto_header(&offer, &payer))],
    )
    .await;
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "PAYER_LIMIT", "{v}");
    // ...and the payer revokes Permit2's allowance before the call settles.
    approve_permit2(&chain, PAYER_KEY, usdt.address, U256::ZERO).await;
    let r = slow.await.unwrap();
    assert_eq!(
        r.status(),
        200,
        "served: the payment was good when admitted"
    );
    let id = request_id(&r);
    let _ = r.bytes().await;

    // The settlement is refused by the chain: nothing moved, nothing credited, the error kept.
    let deadline = Instant::now() + Duration::from_secs(15);
    let row = loop {
        let row = paid_call(&db, &id, &["unsettled", "failed", "settled"]).await;
        if !row["error"].is_null() || row["status"] != "unsettled" {
            break row;
        }
        assert!(Instant::now() < deadline, "{row}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(row["status"], "unsettled", "{row}");
    assert!(row["tx_hash"].is_null(), "{row}");
    let lost = row["amount"].as_i64().unwrap();
    assert!(
        lost > 0 && lost <= row["max_amount"].as_i64().unwrap(),
        "the loss is at most the one call's signed maximum: {row}"
    );
    assert_eq!(
        token_of(&chain, usdt.address, usdt.treasury_vault).await,
        vault_before
    );
    assert_eq!(
        provider_balance(&db).await,
        0,
        "nothing booked that did not move"
    );

    // Refused afterwards, even with the allowance back: one unsettled failure stops the payer.
    approve_permit2(&chain, PAYER_KEY, usdt.address, U256::MAX).await;
    let served_before = mock.recorder.requests().len();
    let r = call(
        &gw,
        &body,
        &[("payment-signature", &upto_header(&offer, &payer))],
    )
    .await;
    assert_eq!(r.status(), 402);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "PAYER_DEFAULTED", "{v}");
    assert_eq!(
        mock.recorder.requests().len(),
        served_before,
        "nothing served"
    );
    ledger_check(&gw);
}

#[tokio::test]
async fn a_call_below_min_call_is_told_and_settled_the_raised_charge() {
    // A cent per call at least: far above what this call costs.
    let Stack {
        payer,
        chain,
        usdt,
        db,
        mock: _mock,
        gw,
        ..
    } = Stack::start("  min_call_usd: 0.01\n  settle_every: 200ms\n").await;
    approve_permit2(&chain, PAYER_KEY, usdt.address, U256::MAX).await;
    let body = chat(50);
    let offer = offer(&challenge(&gw, &body).await, ANVIL_CHAIN_ID, usdt.address);
    assert_eq!(
        offer["amount"], "10000",
        "the least maximum is min_call: {offer}"
    );
    let r = call(
        &gw,
        &body,
        &[("payment-signature", &upto_header(&offer, &payer))],
    )
    .await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        answer["usage"]["cost"].to_string(),
        "0.01",
        "the client is told what it pays: {answer}"
    );
    let row = paid_call(&db, &id, &["settled", "failed"]).await;
    assert_eq!(row["status"], "settled", "{row}");
    assert_eq!(row["amount"], 10_000, "{row}");
    let (buyer, provider, fee): (i64, i64, i64) = {
        let r = db
            .query_one(
                "SELECT buyer_cost, provider_cost, platform_fee FROM request_log WHERE request_id = $1",
                &[&id],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(
        (buyer, provider + fee),
        (10_000, 10_000),
        "the raise is platform fee"
    );
    ledger_check(&gw);
}
