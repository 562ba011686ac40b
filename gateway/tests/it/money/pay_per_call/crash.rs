//! A node killed after a paid call's response reached the client, before the call was
//! recorded: the outcome was spooled before the last bytes, so the restarted node records it
//! from its spool and the call is settled for what it cost — not left `serving` until its
//! payment expires and the provider goes unpaid.

use super::*;
use crate::common::chain::offer;
use crate::common::*;
use alloy::primitives::U256;
use tollgate_chain::anvil::ANVIL_CHAIN_ID;

#[tokio::test]
async fn a_node_killed_before_recording_a_served_call_settles_it_from_its_spool_on_restart() {
    let mut stack = Stack::start("  min_call_usd: 0.00001\n  settle_every: 200ms\n").await;
    approve_permit2(&stack.chain, PAYER_KEY, stack.usdt.address, U256::MAX).await;
    let body = chat(50);
    let offer = offer(&challenge(&stack.gw, &body).await, ANVIL_CHAIN_ID, stack.usdt.address);
    let slow = spawn_slow(&stack.gw, &body, upto_header(&offer, &stack.payer));
    wait_serving(&stack.db, stack.payer.address(), 1).await;

    // Hold the call's row: the hand-off after the response waits on it, and the node dies.
    let mut holder = crate::common::pg::client(&stack.url).await;
    let hold = holder.transaction().await.unwrap();
    hold.execute(
        "SELECT 1 FROM paid_calls WHERE payer = $1 AND status = 'serving' FOR UPDATE",
        &[&format!("{:#x}", stack.payer.address())],
    )
    .await
    .unwrap();
    let r = slow.await.unwrap();
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let answer: serde_json::Value = r.json().await.unwrap();
    assert!(answer["usage"]["cost"].is_number(), "the whole answer: {answer}");
    stack.gw.signal("KILL");
    assert!(stack.gw.wait_exit(Duration::from_secs(5)).await.is_some());
    hold.rollback().await.unwrap();
    assert_eq!(
        paid_call(&stack.db, &id, &["serving"]).await["status"],
        "serving",
        "not recorded before the kill"
    );

    stack.restart().await;
    let row = paid_call(&stack.db, &id, &["settled", "lost", "failed", "expired"]).await;
    assert_eq!(row["status"], "settled", "{row}");
    let cost: i64 = stack
        .db
        .query_one("SELECT buyer_cost FROM request_log WHERE request_id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(row["amount"], cost, "settled for what the spooled record says it cost");
    assert_eq!(answer["usage"]["cost_microusdc"], cost, "and what the client was told");
    crate::common::ledger::ledger_check(&stack.gw);
}

/// A spool that cannot write refuses paid calls (503 `BILLING_UNAVAILABLE`) before their
/// payment is claimed or anything is served — as it refuses balance-paid ones — and serves
/// them again once there is room.
#[tokio::test]
async fn a_full_spool_refuses_paid_calls_before_anything_is_claimed_or_served() {
    let Some(disk) = crate::common::disk::SmallDisk::mount("256k") else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    // Room for every call this test makes to be open at once: on a busy machine settlements
    // lag, and the payer's own limit (429) is not what is tested here.
    let stack = Stack::start_with_spool(
        "  min_call_usd: 0.00001\n  max_unsettled_calls: 100\n  settle_every: 200ms\n",
        disk.path().join("spool"),
    )
    .await;
    let Stack { payer, chain, usdt, db, mock, gw, .. } = &stack;
    approve_permit2(chain, PAYER_KEY, usdt.address, U256::MAX).await;
    let body = chat(50);
    let offer = offer(&challenge(gw, &body).await, ANVIL_CHAIN_ID, usdt.address);
    let filler = disk.fill(0);
    // The first record that cannot be written fails the spool (its response's end is
    // withheld); from then on paid calls are refused at admission.
    let mut refused = false;
    for _ in 0..20 {
        let sent = client()
            .post(gw.url(CHAT))
            .header("payment-signature", upto_header(&offer, payer))
            .json(&body)
            .send()
            .await;
        // The call whose record hit the full disk does not get its response.
        let Ok(r) = sent else { continue };
        match r.status().as_u16() {
            200 => {
                let _ = r.bytes().await;
            }
            503 => {
                let v: serde_json::Value = r.json().await.unwrap();
                assert_eq!(v["error"], "BILLING_UNAVAILABLE", "{v}");
                refused = true;
                break;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert!(refused, "a failed spool refuses paid calls");
    let (rows, served) = (claimed(db).await, mock.recorder.requests().len());
    let r = call(gw, &body, &[("payment-signature", &upto_header(&offer, payer))]).await;
    assert_eq!(r.status(), 503);
    assert_eq!(claimed(db).await, rows, "no payment claimed");
    assert_eq!(mock.recorder.requests().len(), served, "nothing served");

    std::fs::remove_file(&filler).unwrap();
    wait_for("paid calls served again once there is room", Duration::from_secs(10), || async {
        let r = call(gw, &body, &[("payment-signature", &upto_header(&offer, payer))]).await;
        r.status() == 200
    })
    .await;
}

async fn claimed(db: &tokio_postgres::Client) -> i64 {
    db.query_one("SELECT COUNT(*) FROM paid_calls", &[])
        .await
        .unwrap()
        .get(0)
}
