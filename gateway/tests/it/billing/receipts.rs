//! `GET /v1/requests/:id`: the receipt of a settled request — buckets, the buyer prices it
//! was charged at, the charge (the one the response's usage carried), provider, settlement
//! time — to the wallet that made it and nobody else.

use super::*;

#[tokio::test]
async fn a_settled_request_has_a_receipt_that_matches_its_usage_cost_and_only_its_wallet_reads_it() {
    let s = stack_on(migrated_db().await, "", Some("5")).await;
    let other_key = create_key(&s.gw, "0x00000000000000000000000000000000000000b2");
    let resp = post_json(
        &s.gw.url("/v1/chat/completions"),
        Some(&s.key),
        &chat(16),
        &[("x-mock-input-tokens", "30"), ("x-mock-output-tokens", "10")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let usage = resp.json::<Value>().await.unwrap()["usage"].clone();
    let url = s.gw.url(&format!("/v1/requests/{id}"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let receipt: Value = loop {
        let r = client().get(&url).bearer_auth(&s.key).send().await.unwrap();
        if r.status() == 200 {
            break r.json().await.unwrap();
        }
        assert_eq!(r.status(), 404, "before it settles");
        assert!(std::time::Instant::now() < deadline, "the request did not settle");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // 30 × 1 + 10 × 2 = 50 provider; ceil(50 / 0.7) = 72 buyer.
    assert_eq!(receipt["object"], "receipt");
    assert_eq!(receipt["request_id"], id.as_str());
    assert_eq!((receipt["model"].as_str(), receipt["provider"].as_str()), (Some("m"), Some("pa")));
    assert_eq!(receipt["tokens"], json!({"input": 30, "cache_write_5m": 0, "cache_write_1h": 0, "cache_read": 0, "output": 10}));
    assert_eq!(receipt["cost_microusdc"], 72);
    assert_eq!(receipt["cost_usd"], "0.000072");
    assert_eq!(usage["cost_microusdc"], 72, "the response told the buyer what the receipt says");
    // Buyer prices: ceil(provider / 0.7) per 1M → 1 → 1.428572, 2 → 2.857143.
    assert_eq!(receipt["prices"]["input"], "1.428572");
    assert_eq!(receipt["prices"]["output"], "2.857143");
    assert_eq!(receipt["prices"]["provider_share_bps"], 7000);
    assert!(receipt["settled_at_ms"].as_u64() >= receipt["created_at_ms"].as_u64());

    // Another wallet's key, an unknown id and a malformed id: the same 404 / a 400.
    let r = client().get(&url).bearer_auth(&other_key).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 404);
    let r = client().get(s.gw.url("/v1/requests/req_00000000000000000000000000000000")).bearer_auth(&s.key).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 404);
    let r = client().get(s.gw.url("/v1/requests/..%2F..")).bearer_auth(&s.key).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 400);
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 401);
    ledger_check(&s.gw);
}
