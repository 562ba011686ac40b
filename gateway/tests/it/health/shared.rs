//! Health one node learns, every node uses; and the half-open trial.

use super::*;
use std::time::Instant;

#[tokio::test]
async fn one_node_learns_every_node_routes_around_it_and_one_trial_decides_the_recovery() {
    let db = funded_db().await;
    let (a, a_switch) = switchable().await;
    let (b, _) = switchable().await;
    // Passive health only: what moves here is learned from buyers' requests.
    let health = "  probes: false\n";
    let n1 = node(&db, two_providers(&a, &b), health, "2s").await;
    let n2 = node(&db, two_providers(&a, &b), health, "2s").await;
    assert_eq!(chat(&n2, &[]).await, 200);
    assert_eq!(buyer_requests(&a), 1);

    // Node 1 learns that `a` fails (its request fails over to `b`) ...
    a_switch.fail_with(500);
    assert_eq!(chat(&n1, &[]).await, 200);
    assert_eq!((buyer_requests(&a), buyer_requests(&b)), (2, 1));
    let learned = Instant::now();
    // ... and node 2, which sent `a` nothing since, stops routing to it within a second.
    wait_for("node 2 to hear of it", Duration::from_secs(1), || async {
        state_on(&n2, "a").await["breaker"] == "open"
    })
    .await;
    eprintln!(
        "shared health: node 2 demoted a {:?} after node 1 learned",
        learned.elapsed()
    );
    assert_eq!(chat(&n2, &[]).await, 200);
    assert_eq!(
        (buyer_requests(&a), buyer_requests(&b)),
        (2, 2),
        "node 2 went straight to b"
    );

    // Recovery: after the cooldown one request (the trial) goes to `a`; the requests that
    // arrive while it is out keep going to `b`.
    a_switch.recover();
    wait_for("the cooldown", Duration::from_secs(4), || async {
        state_on(&n1, "a").await["breaker"] == "half_open"
    })
    .await;
    let slow = [("x-mock-ttft-ms", "400")];
    let before = (buyer_requests(&a), buyer_requests(&b));
    let burst: Vec<_> = (0..6)
        .map(|i| {
            let gw = &n1;
            async move {
                tokio::time::sleep(Duration::from_millis(30 * i)).await;
                chat(gw, &slow).await
            }
        })
        .collect();
    let statuses = futures_util::future::join_all(burst).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        (buyer_requests(&a) - before.0, buyer_requests(&b) - before.1),
        (1, 5),
        "one trial, not a burst"
    );
    // The trial succeeded: closed here, and on node 2 through the feed.
    assert_eq!(state_on(&n1, "a").await["breaker"], "closed");
    wait_for(
        "node 2 to hear of the recovery",
        Duration::from_secs(1),
        || async { state_on(&n2, "a").await["state"] == "healthy" },
    )
    .await;
    let before = buyer_requests(&a);
    assert_eq!(chat(&n2, &[]).await, 200);
    assert_eq!(buyer_requests(&a), before + 1, "node 2 prefers a again");

    // Every transition is counted, and the fleet's row names who learned it.
    let m = n1.metrics().await;
    for to in ["open", "half_open", "closed"] {
        let label = format!("to=\"{to}\"");
        assert!(
            metric_value(
                &m,
                "tollgate_breaker_transitions_total",
                &["provider=\"a\"", &label]
            ) >= 1.0,
            "{to}"
        );
    }
    let c = crate::common::pg::client(&db).await;
    let row = c
        .query_one(
            "SELECT state, reason FROM provider_health WHERE provider = 'a'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "healthy");
}
