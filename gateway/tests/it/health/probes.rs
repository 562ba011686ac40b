//! Active probes: found before buyers, stored and public, once per interval for the fleet.

use super::*;
use std::time::Instant;

#[tokio::test]
async fn a_failing_provider_is_found_by_the_probe_before_any_buyer_and_the_history_shows_the_episode(
) {
    let db = funded_db().await;
    let (a, a_switch) = switchable().await;
    let (b, _) = switchable().await;
    let health = "  probe_interval: 300ms\n  probe_timeout: 2s\n";
    let n1 = node(&db, two_providers(&a, &b), health, "1s").await;
    let n2 = node(&db, two_providers(&a, &b), health, "1s").await;
    wait_for("a first ok probe of a", Duration::from_secs(5), || async {
        state_on(&n1, "a").await["last_probe"]["result"] == "ok"
    })
    .await;
    // Served by the preferred provider while it is healthy.
    assert_eq!(chat(&n1, &[]).await, 200);
    assert_eq!((buyer_requests(&a), buyer_requests(&b)), (1, 0));

    // `a` starts failing: a probe finds it; no buyer request is sent to it afterwards.
    a_switch.fail_with(503);
    let failing_since = Instant::now();
    wait_for(
        "both nodes to see a as unhealthy",
        Duration::from_secs(3),
        || async {
            state_on(&n1, "a").await["state"] == "unhealthy"
                && state_on(&n2, "a").await["state"] == "unhealthy"
        },
    )
    .await;
    eprintln!(
        "probe to unhealthy on both nodes: {:?}",
        failing_since.elapsed()
    );
    for gw in [&n1, &n2, &n1, &n2] {
        assert_eq!(chat(gw, &[]).await, 200);
    }
    assert_eq!(
        buyer_requests(&a),
        1,
        "no buyer request reached the failing provider"
    );
    assert_eq!(buyer_requests(&b), 4);

    // It recovers: a probe after the cooldown closes the breaker on every node.
    a_switch.recover();
    wait_for(
        "both nodes to route to a again",
        Duration::from_secs(5),
        || async {
            state_on(&n1, "a").await["state"] == "healthy"
                && state_on(&n2, "a").await["state"] == "healthy"
        },
    )
    .await;
    assert_eq!(chat(&n2, &[]).await, 200);
    assert_eq!(buyer_requests(&a), 2);

    // The history, newest first: ok after fail after ok; errors name the status, no key.
    let (s, h) = get(
        &n2,
        "/v1/health/history?provider=a&model=gpt-test&limit=500",
    )
    .await;
    assert_eq!(s, 200, "{h}");
    let results: Vec<&str> = h["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    let newest_fail = results.iter().position(|r| *r == "fail").expect("a fail");
    assert_eq!(results[0], "ok", "{results:?}");
    assert!(
        results[newest_fail..].contains(&"ok"),
        "ok before the failure: {results:?}"
    );
    let fail = &h["data"][newest_fail];
    assert_eq!(fail["status"], 503, "{fail}");
    assert!(fail["error"].as_str().unwrap().contains("503"), "{fail}");
    let text = h.to_string();
    assert!(
        !text.contains("upstream-secret"),
        "no key in the history: {text}"
    );
    let c = crate::common::pg::client(&db).await;
    let leaked: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM probe_results WHERE error LIKE '%secret%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leaked, 0);
    // Keyset pages: the second page starts below the first's last id.
    let (_, p1) = get(&n1, "/v1/health/history?provider=a&limit=2").await;
    let cursor = p1["next_cursor"].as_str().expect("a next page").to_string();
    let (_, p2) = get(
        &n1,
        &format!("/v1/health/history?provider=a&limit=2&cursor={cursor}"),
    )
    .await;
    assert!(p2["data"][0]["id"].as_i64().unwrap() < p1["data"][1]["id"].as_i64().unwrap() + 1);
    assert!(p2["data"][0]["id"].as_i64().unwrap() < cursor.parse::<i64>().unwrap());

    // The public record and the metrics.
    // (aggregates are cached for 5 s per node)
    wait_for(
        "the failures in the uptime",
        Duration::from_secs(6),
        || async {
            let view = state_on(&n1, "a").await;
            view["latency_ms"]["p50_1h"].is_number()
                && view["uptime_24h"].as_f64().is_some_and(|u| u < 1.0)
        },
    )
    .await;
    let mut probes = 0.0;
    for gw in [&n1, &n2] {
        probes += metric_value(
            &gw.metrics().await,
            "tollgate_probe_total",
            &["provider=\"a\"", "result=\"fail\""],
        );
    }
    assert!(probes >= 1.0);
}

#[tokio::test]
async fn each_pair_is_probed_once_per_interval_by_the_whole_fleet_and_unmapped_models_are_skipped()
{
    let db = funded_db().await;
    let (a, _) = switchable().await;
    let (b, _) = switchable().await;
    let providers = format!(
        "{}  - id: quiet\n    kind: openai\n    base_url: http://{b}/v1\n    models:\n      - {{ id: gpt-test, probe: false, pricing: {{ prompt: 1, completion: 2 }} }}\n",
        two_providers(&a, &b),
        b = b.addr
    );
    let health = "  probe_interval: 500ms\n";
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(node(&db, providers.clone(), health, "1s").await);
    }
    // From now on all three nodes are up: count the probes over 3 s.
    let c = crate::common::pg::client(&db).await;
    let t0: i64 = c
        .query_one("SELECT COALESCE(MAX(id), 0) FROM probe_results", &[])
        .await
        .unwrap()
        .get(0);
    a.recorder.clear();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rows = c
        .query(
            "SELECT provider, model, COUNT(*), COUNT(DISTINCT node) FROM probe_results
             WHERE id > $1 GROUP BY provider, model ORDER BY provider",
            &[&t0],
        )
        .await
        .unwrap();
    let counts: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(2))).collect();
    eprintln!("probes in 3 s at a 500 ms interval, three nodes: {counts:?}");
    assert_eq!(
        counts.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["a", "b"],
        "a model with probe: false is skipped"
    );
    for (p, n) in &counts {
        // One per interval for the fleet (6 in 3 s, ±1 at the edges), not one per node (18).
        assert!((5..=7).contains(n), "{p}: {n} probes");
    }
    assert!((5..=7).contains(&a.recorder.len()), "{}", a.recorder.len());
    let view = get(&nodes[0], "/v1/health/providers").await.1;
    let quiet = view["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["provider"] == "quiet")
        .cloned()
        .unwrap();
    assert_eq!(quiet["probe"], "skipped", "{quiet}");
    assert_eq!(quiet["last_probe"], Value::Null);
    // Bad queries get the documented error shape.
    for q in [
        "limit=0",
        "limit=501",
        "cursor=abc",
        "since=yesterday",
        "since=2026-13-45T00:00:00Z",
        "colour=red",
    ] {
        let (s, v) = get(&nodes[1], &format!("/v1/health/history?{q}")).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (400, Some("VALIDATION_ERROR")),
            "{q}: {v}"
        );
    }
    let (s, v) = get(
        &nodes[1],
        "/v1/health/history?since=2000-01-01T00:00:00Z&model=gpt-test&limit=1",
    )
    .await;
    assert_eq!(
        (s, v["data"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{v}"
    );
}
