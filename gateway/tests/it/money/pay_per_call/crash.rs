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
