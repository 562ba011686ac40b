//! What is charged: exact charges and balanced books, the charging rules for failed, rejected
//! and cut requests, a record applied once, a client gone mid-stream.

use super::*;

#[tokio::test]
async fn requests_are_charged_and_the_books_balance() {
    let s = stack_on(migrated_db().await, "", Some("1")).await;
    for _ in 0..5 {
        let r = post_json(
            &s.gw.url("/v1/chat/completions"),
            Some(&s.key),
            &chat(100),
            &[],
        )
        .await;
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
    }
    let (balance, _, charged, rows) = {
        wait_for("5 settled requests", Duration::from_secs(10), || async {
            books(&s.url, BUYER).await.3 == 5
        })
        .await;
        books(&s.url, BUYER).await
    };
    assert_eq!(charged, 5 * 63);
    assert_eq!(balance, 1_000_000 - 5 * 63);
    assert_eq!(rows, 5);
    let c = pg::client(&s.url).await;
    let earned: i64 = c
        .query_one(
            "SELECT pending FROM provider_earnings WHERE provider = 'pa'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(earned, 5 * 44, "provider earnings are credited");
    let fees: i64 = c
        .query_one("SELECT balance FROM accounts WHERE kind = 'platform'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(fees, 5 * (63 - 44));
    ledger_check(&s.gw);

    // Account endpoints.
    let b: Value = reqwest::get(s.gw.url(&format!("/v1/balance/{BUYER}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(b["wallet"], BUYER);
    assert!(b["available_usdc"].as_i64().unwrap() <= balance);
    let unknown: Value =
        reqwest::get(s.gw.url("/v1/balance/0x000000000000000000000000000000000000dEaD"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(unknown["available_usdc"], 0, "unknown wallet is 0, not 404");
    let r = reqwest::get(s.gw.url("/v1/balance/nope")).await.unwrap();
    assert_eq!(r.status(), 400);

    let u: Value = client()
        .get(s.gw.url(&format!("/v1/usage/{BUYER}")))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(u["balance_usdc"], balance);
    assert_eq!(u["keys"][0]["request_count"], 5);
    assert_eq!(u["keys"][0]["total_completion_tokens"], 80);
    assert_eq!(u["keys"][0]["total_prompt_tokens"], 60);
    assert_eq!(u["keys"][0]["total_charged_usdc"], 5 * 63);
    assert_eq!(
        u["available_usdc"].as_i64().unwrap(),
        u["balance_usdc"].as_i64().unwrap() - u["locked_usdc"].as_i64().unwrap()
    );

    let other_key = create_key(&s.gw, "0x00000000000000000000000000000000000000c2");
    let r = client()
        .get(s.gw.url(&format!("/v1/usage/{BUYER}")))
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "FORBIDDEN");
    let r = client()
        .get(s.gw.url(&format!("/v1/usage/{BUYER}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // History: newest first, cursor-paginated.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/v1/requests?limit=2&cursor={c}"),
            None => "/v1/requests?limit=2".into(),
        };
        let page: Value = client()
            .get(s.gw.url(&q))
            .bearer_auth(&s.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for row in page["data"].as_array().unwrap() {
            seen.push((
                row["created_at_ms"].as_u64().unwrap(),
                row["request_id"].as_str().unwrap().to_string(),
            ));
            assert!(row.get("messages").is_none());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert!(
        seen.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {seen:?}"
    );
}

#[tokio::test]
async fn failed_rejected_and_cut_requests_follow_the_charging_rules() {
    let s = stack_on(migrated_db().await, "", Some("1")).await;
    let url = s.gw.url("/v1/chat/completions");
    // Upstream 5xx on the only provider: 502, nothing charged.
    let r = post_json(&url, Some(&s.key), &chat(50), &[("x-mock-status", "500")]).await;
    assert_eq!(r.status(), 502);
    // Upstream 429 passes through: nothing charged.
    let r = post_json(&url, Some(&s.key), &chat(50), &[("x-mock-status", "429")]).await;
    assert_eq!(r.status(), 429);
    // Usage omitted: charged on the documented estimate, never above the reservation.
    let mut body = chat(50);
    body["stream"] = json!(true);
    let r = post_json(&url, Some(&s.key), &body, &[("x-mock-omit-usage", "1")]).await;
    let omitted = request_id(&r);
    let _ = r.text().await;
    // Upstream cuts the stream.
    let r = post_json(&url, Some(&s.key), &body, &[("x-mock-close-after", "4")]).await;
    let cut = request_id(&r);
    let _ = r.text().await;

    wait_for("4 rows", Duration::from_secs(10), || async {
        books(&s.url, BUYER).await.3 == 4
    })
    .await;
    let c = pg::client(&s.url).await;
    let rows = c
        .query("SELECT request_id, status, buyer_cost, reserved, usage_missing, stream_cut, http_status FROM request_log ORDER BY created_at", &[])
        .await
        .unwrap();
    let by_id = |id: &str| rows.iter().find(|r| r.get::<_, String>(0) == id).unwrap();
    let statuses: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(
        statuses.iter().filter(|s| *s == "upstream_failed").count(),
        1
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| *s == "upstream_rejected")
            .count(),
        1
    );
    for r in &rows {
        let (status, cost, reserved): (String, i64, i64) = (r.get(1), r.get(2), r.get(3));
        assert!(cost <= reserved, "{status}: {cost} > {reserved}");
        if status.starts_with("upstream_") {
            assert_eq!(cost, 0, "{status} is free");
        }
    }
    let o = by_id(&omitted);
    assert!(o.get::<_, bool>(4) && o.get::<_, i64>(2) > 0);
    let k = by_id(&cut);
    assert_eq!(k.get::<_, String>(1), "interrupted");
    assert!(k.get::<_, bool>(5));
    ledger_check(&s.gw);
}

/// The same outcome record written twice (a retried batch whose commit acknowledgement was
/// lost) is billed once.
#[tokio::test]
async fn the_same_record_twice_is_billed_once() {
    use tollgate_billing::ledger::Ledger;
    use tollgate_billing::settlement::{commit_batch, SettledRecord};
    let url = migrated_db().await;
    let ledger = Ledger::connect(&url, 2).await.unwrap();
    ledger
        .credit(BUYER, 1_000, "credit", "idem-test", "test")
        .await
        .unwrap();
    let outcome = || tollgate_billing::Outcome {
        request_id: "req_idempotent".into(),
        wallet: BUYER.into(),
        key_id: "k".into(),
        model: "m".into(),
        provider: "pa".into(),
        upstream_model: "m".into(),
        api: "openai",
        stream: false,
        status: tollgate_billing::OutcomeStatus::Completed,
        http_status: 200,
        tokens: tollgate_billing::outcome::Tokens {
            input_tokens: 12,
            output_tokens: 16,
            ..Default::default()
        },
        usage_missing: false,
        stream_cut: false,
        usage_estimated: false,
        usage_disproved: false,
        provider_cost_usdc: 44,
        buyer_cost_usdc: 63,
        platform_fee_usdc: 19,
        reserved_usdc: 100,
        overrun_usdc: 0,
        attempts: 1,
        latency_ms: 1,
        ttfb_ms: Some(1),
        ttft_ms: Some(1),
        error_code: None,
        started_at_ms: 1_795_000_000_000,
        price_id: None,
        prices: None,
        response_id: None,
        paid_call: None,
    };
    commit_batch(&ledger, "node-a", 1, &[SettledRecord::detached(outcome())])
        .await
        .unwrap();
    commit_batch(&ledger, "node-a", 2, &[SettledRecord::detached(outcome())])
        .await
        .unwrap();
    // Even inside one batch.
    commit_batch(
        &ledger,
        "node-a",
        3,
        &[
            SettledRecord::detached(outcome()),
            SettledRecord::detached(outcome()),
        ],
    )
    .await
    .unwrap();
    let (balance, _, charged, rows) = books(&url, BUYER).await;
    assert_eq!((balance, charged, rows), (1_000 - 63, 63, 1));
    assert!(ledger.check().await.unwrap().problems.is_empty());
}

/// The client hangs up mid-stream: billed for what the upstream produced (its usage so far
/// plus the documented estimate), never above the reservation.
#[tokio::test]
async fn client_disconnect_mid_stream_is_billed_on_what_was_produced() {
    let s = stack_on(migrated_db().await, "", Some("1")).await;
    let body = json!({"model": "c", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let mut resp = client()
        .post(s.gw.url("/v1/messages"))
        .header("x-api-key", &s.key)
        .header("x-mock-output-tokens", "40")
        .header("x-mock-inter-token-ms", "30")
        .header("x-mock-input-tokens", "9")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let mut got = 0;
    while got < 600 {
        match resp.chunk().await.unwrap() {
            Some(c) => got += c.len(),
            None => break,
        }
    }
    drop(resp); // hang up
    wait_for(
        "the cut request settled",
        Duration::from_secs(15),
        || async { books(&s.url, BUYER).await.3 == 1 },
    )
    .await;
    let c = pg::client(&s.url).await;
    let r = c
        .query_one("SELECT status, input_tokens, output_tokens, buyer_cost, reserved FROM request_log WHERE request_id = $1", &[&id])
        .await
        .unwrap();
    let (status, input, output, cost, reserved): (String, i64, i64, i64, i64) =
        (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
    assert_eq!(status, "interrupted");
    assert_eq!(input, 9, "input from message_start");
    assert!((1..40).contains(&output), "output so far: {output}");
    assert!(
        cost > 0 && cost <= reserved,
        "cost {cost}, reserved {reserved}"
    );
    ledger_check(&s.gw);
}
