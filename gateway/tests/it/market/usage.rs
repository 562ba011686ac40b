//! Usage a marketplace provider reports is held to what the gateway can prove: capped and
//! counted when above it (on every billing basis), nothing earned without it, suspension
//! past a rate, and no count from any provider able to stall settlement.

use super::*;
use std::time::Duration;

#[tokio::test]
async fn inflated_usage_is_capped_counted_and_suspends_the_provider() {
    let db = funded_db().await;
    let mock = Mock::start().await;
    let gw = node(
        &db,
        &mock,
        "  suspend_min_requests: 3\n  suspend_bad_ratio: 0.5\n  upkeep_every: 200ms\n",
    )
    .await;
    let pk = provider_key(&gw, &PrivateKeySigner::random(), None).await;
    assert_eq!(
        put(
            &gw,
            "/v1/provider/upstreams/greedy",
            &pk,
            upstream_body(&mock, "k")
        )
        .await
        .0,
        200
    );
    // Every answer claims 500 output tokens, whatever max_tokens said.
    let (s, v) = put(
        &gw,
        "/v1/provider/models/big",
        &pk,
        model_body("greedy", "mock-gpt@output_tokens=500", "1", "10"),
    )
    .await;
    assert_eq!((s, &v["live"]), (200, &json!(true)), "{v}");
    wait_for("big listed", Duration::from_secs(2), || {
        lists(&gw, "big", "greedy")
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (s, v, id) = chat(&gw, "big", json!({})).await;
        assert_eq!(s, 200, "{v}");
        ids.push(id);
    }
    for id in &ids {
        let row = logged(&db, id).await;
        // Output capped at max_tokens (16): 12 × $1 + 16 × $10 per 1M.
        assert_eq!(
            row.get::<_, i64>(5),
            16,
            "output billed within the request's limit"
        );
        assert_eq!(row.get::<_, i64>(1), 12 + 160);
    }
    let c = crate::common::pg::client(&db).await;
    let disproved: i64 = c
        .query_one(
            "SELECT SUM(usage_disproved)::INT8 FROM provider_daily WHERE provider = 'greedy'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(disproved, 3);
    wait_for("greedy suspended", Duration::from_secs(5), || async {
        let (_, v) = call(&gw, reqwest::Method::GET, "/v1/provider/status", &pk, None).await;
        v["upstreams"][0]["suspended"] == true
    })
    .await;
    let (_, v) = call(&gw, reqwest::Method::GET, "/v1/provider/status", &pk, None).await;
    let why = v["upstreams"][0]["suspended_reason"].as_str().unwrap();
    assert!(why.contains("disproved (3)"), "{why}");
    assert_eq!(v["upstreams"][0]["last_24h"]["usage_disproved"], 3);
    wait_for("greedy unlisted", Duration::from_secs(2), || async {
        !lists(&gw, "big", "greedy").await
    })
    .await;
    ledger_check(&gw);
}

#[tokio::test]
async fn a_marketplace_answer_without_usage_earns_nothing_and_is_counted() {
    let db = funded_db().await;
    let mock = Mock::start().await;
    let gw = node(&db, &mock, "").await;
    let pk = provider_key(&gw, &PrivateKeySigner::random(), None).await;
    assert_eq!(
        put(
            &gw,
            "/v1/provider/upstreams/shy",
            &pk,
            upstream_body(&mock, "k")
        )
        .await
        .0,
        200
    );
    assert_eq!(
        put(
            &gw,
            "/v1/provider/models/m",
            &pk,
            model_body("shy", "mock-gpt", "1", "1")
        )
        .await
        .1["live"],
        true
    );
    wait_for("m listed", Duration::from_secs(2), || {
        lists(&gw, "m", "shy")
    })
    .await;
    // The probe passed; later answers omit usage (the client asks the mock to).
    let resp = gw
        .post("/v1/chat/completions", &json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}), &[("x-mock-omit-usage", "1")])
        .await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let row = logged(&db, &id).await;
    assert_eq!(
        (row.get::<_, i64>(1), row.get::<_, i64>(2)),
        (0, 0),
        "no usage, no payment"
    );
    let c = crate::common::pg::client(&db).await;
    let missing: i64 = c
        .query_one(
            "SELECT SUM(usage_missing)::INT8 FROM provider_daily WHERE provider = 'shy'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(missing, 1);
}

/// An Anthropic-kind upstream `id` on `mock` with `model` listed at $1 / $1.
async fn anthropic_listing(gw: &Gateway, mock: &Mock, pk: &str, id: &str, model: &str) {
    let up =
        json!({"kind": "anthropic", "base_url": format!("http://{}", mock.addr), "api_key": "k"});
    assert_eq!(
        put(gw, &format!("/v1/provider/upstreams/{id}"), pk, up)
            .await
            .0,
        200
    );
    let (s, v) = put(
        gw,
        &format!("/v1/provider/models/{model}"),
        pk,
        model_body(id, "mock-claude", "1", "1"),
    )
    .await;
    assert_eq!((s, &v["live"]), (200, &json!(true)), "{v}");
    wait_for("the listing", Duration::from_secs(2), || {
        lists(gw, model, id)
    })
    .await;
}

#[tokio::test]
async fn usage_a_stranger_reports_before_cutting_its_stream_is_still_capped() {
    // Found by review: the cap ran on complete answers only, so a provider that announced a
    // huge input in message_start and then cut the stream was paid for it.
    let db = funded_db().await;
    let mock = Mock::start().await;
    let gw = node(&db, &mock, "").await;
    let pk = provider_key(&gw, &PrivateKeySigner::random(), None).await;
    anthropic_listing(&gw, &mock, &pk, "cutter", "claude-x").await;
    let body = json!({"model": "claude-x", "max_tokens": 16, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let resp = gw
        .post(
            "/v1/messages",
            &body,
            &[
                ("x-mock-input-tokens", "900000"),
                ("x-mock-close-after", "3"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let _ = resp.bytes().await;
    let row = logged(&db, &id).await;
    let body_len = body.to_string().len() as i64;
    assert!(
        row.get::<_, i64>(4) <= body_len,
        "input {} billed above the body bound {body_len}",
        row.get::<_, i64>(4)
    );
    let c = crate::common::pg::client(&db).await;
    let disproved: i64 = c
        .query_one(
            "SELECT SUM(usage_disproved)::INT8 FROM provider_daily WHERE provider = 'cutter'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(disproved, 1);
}

#[tokio::test]
async fn a_stranger_is_not_paid_the_bounds_for_a_broken_answer_without_usage() {
    // Found by review: "no usage, no payment" applied to complete answers only, so a JSON
    // answer cut (or garbled) before its end was billed at the full bounds.
    let db = funded_db().await;
    let mock = Mock::start().await;
    let gw = node(&db, &mock, "").await;
    let pk = provider_key(&gw, &PrivateKeySigner::random(), None).await;
    assert_eq!(
        put(
            &gw,
            "/v1/provider/upstreams/broken",
            &pk,
            upstream_body(&mock, "k")
        )
        .await
        .0,
        200
    );
    assert_eq!(
        put(
            &gw,
            "/v1/provider/models/bm",
            &pk,
            model_body("broken", "mock-gpt", "1", "1")
        )
        .await
        .1["live"],
        true
    );
    wait_for("bm listed", Duration::from_secs(2), || {
        lists(&gw, "bm", "broken")
    })
    .await;
    let resp = gw
        .post(
            "/v1/chat/completions",
            &json!({"model": "bm", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}),
            &[("x-mock-omit-usage", "1"), ("x-mock-close-after", "1")],
        )
        .await;
    let id = request_id(&resp);
    let _ = resp.bytes().await;
    let row = logged(&db, &id).await;
    assert_eq!((row.get::<_, i64>(1), row.get::<_, i64>(2)), (0, 0));
}

#[tokio::test]
async fn absurd_token_counts_from_any_provider_never_stall_settlement() {
    // Found by review: counts near u64::MAX were cast to i64 and summed by the per-key and
    // per-provider upserts until Postgres refused the batch ("bigint out of range"), and a
    // refused batch is retried forever: nothing settled on that node after it.
    let db = funded_db().await;
    let mock = Mock::start().await;
    let gw = node(&db, &mock, "").await;
    let huge = &[("x-mock-input-tokens", "9000000000000000000")][..];
    let mut ids = Vec::new();
    for headers in [huge, huge, &[][..]] {
        let resp = gw
            .post("/v1/chat/completions", &json!({"model": "gpt-test", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}), headers)
            .await;
        ids.push(request_id(&resp));
        let _ = resp.bytes().await;
    }
    for id in &ids {
        let row = logged(&db, id).await;
        assert!(
            row.get::<_, i64>(4) <= 1 << 40,
            "clamped: {}",
            row.get::<_, i64>(4)
        );
    }
    // (`ledger check` rightly reports the two as charges above their reservations: an
    // operator's provider is trusted to report usage, and this one did not.)
    let _ = &gw;
}
