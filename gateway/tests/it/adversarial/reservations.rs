//! Findings 3 and 4: the reservation is a provable upper bound of the charge.
//!
//! - Content the provider expands (an image by URL here) is reserved up to the model's context
//!   length, so a prompt far larger than the body is billed in full. The old code reserved the
//!   body's bytes and silently cut the 100,000-token charge to them.
//! - A charge above its reservation (only a provider reporting impossible usage can cause one
//!   now) is counted, logged and reported by `ledger check`; the old code only capped it.
//! - Output limits an upstream may read differently are refused or reserved at their largest.

use crate::common::ledger::*;
use crate::common::*;
use serde_json::{json, Value};
use std::time::Duration;

const BUYER: &str = "0x00000000000000000000000000000000000000c3";

/// One OpenAI-kind model: $1/M prompt, $2/M completion, 128k context (`m`); the same without a
/// context length (`nocontext`).
fn providers(mock: std::net::SocketAddr) -> String {
    format!(
        r#"
  - id: pa
    kind: openai
    base_url: "http://{mock}/v1"
    models:
      - {{ id: m, context_length: 128000, pricing: {{ prompt: 1, completion: 2 }} }}
      - {{ id: nocontext, pricing: {{ prompt: 1, completion: 2 }} }}
"#
    )
}

async fn funded_gateway(url: &str, mock: &Mock) -> (Gateway, String) {
    let mut opts = GatewayOpts::new(providers(mock.addr));
    opts.billing = billing_yaml(url, "");
    let gw = Gateway::start(opts).await;
    let key = create_key(&gw, BUYER);
    credit(&gw, BUYER, "5");
    (gw, key)
}

/// (buyer_cost, reserved, overrun_usdc, input_tokens) of a settled request.
async fn logged(url: &str, request_id: &str) -> (i64, i64, i64, i64) {
    let db = crate::common::pg::client(url).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        // As JSON, so that a build without the overrun column (TOLLGATE_BIN) reads as 0.
        if let Some(r) = db
            .query_opt(
                "SELECT row_to_json(r)::TEXT FROM request_log r WHERE request_id = $1",
                &[&request_id],
            )
            .await
            .unwrap()
        {
            let v: Value = serde_json::from_str(r.get(0)).unwrap();
            let n = |k: &str| v[k].as_i64().unwrap_or(0);
            return (
                n("buyer_cost"),
                n("reserved"),
                n("overrun_usdc"),
                n("input_tokens"),
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log row for {request_id}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn call(gw: &Gateway, key: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, String) {
    let r = post_json(&gw.url("/v1/chat/completions"), Some(key), body, headers).await;
    let status = r.status().as_u16();
    let id = r
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let _ = r.bytes().await;
    (status, id)
}

fn image_by_url(model: &str) -> Value {
    json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/huge.png"}}
    ]}]})
}

#[tokio::test]
async fn content_by_reference_is_reserved_up_to_the_context_length_and_billed_in_full() {
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let (gw, key) = funded_gateway(&url, &mock).await;
    // The provider fetched the image and billed 100,000 prompt tokens for a 200-byte body.
    let (status, id) = call(
        &gw,
        &key,
        &image_by_url("m"),
        &[("x-mock-input-tokens", "100000")],
    )
    .await;
    assert_eq!(status, 200);
    let (charged, reserved, overrun, input) = logged(&url, &id).await;
    // 100,000 × $1/M + 16 × $2/M = 100,032 µUSDC to the provider; ÷ 0.70 for the buyer.
    assert_eq!(input, 100_000);
    assert_eq!(charged, 142_903, "billed in full");
    assert_eq!(overrun, 0);
    assert!(
        reserved >= charged,
        "reserved {reserved} bounds the charge {charged}"
    );
    ledger_check(&gw);
}

#[tokio::test]
async fn without_a_context_length_content_by_reference_is_refused() {
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let (gw, key) = funded_gateway(&url, &mock).await;
    let r = post_json(
        &gw.url("/v1/chat/completions"),
        Some(&key),
        &image_by_url("nocontext"),
        &[],
    )
    .await;
    let (status, code, message) = error_of(r).await;
    assert_eq!((status, code.as_str()), (400, "VALIDATION_ERROR"));
    assert!(message.contains("context_length"), "{message}");
    assert_eq!(
        mock.recorder.requests().len(),
        0,
        "nothing reached the provider"
    );
}

#[tokio::test]
async fn a_charge_above_its_reservation_is_counted_logged_and_reported() {
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let (gw, key) = funded_gateway(&url, &mock).await;
    // A 137-byte text prompt cannot cost 200,000 tokens: only a provider misreporting can
    // get past the bound, and then the excess must not vanish silently.
    let body = json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "Say hello to the world"}]});
    let (status, id) = call(&gw, &key, &body, &[("x-mock-input-tokens", "200000")]).await;
    assert_eq!(status, 200);
    let (charged, reserved, overrun, _) = logged(&url, &id).await;
    assert_eq!(charged, reserved, "held to the reservation");
    // 200,032 µUSDC ÷ 0.70 = 285,760 for the buyer, less what was reserved.
    assert_eq!(overrun, 285_760 - reserved);
    let metrics = gw.metrics().await;
    assert_eq!(
        metric_value(&metrics, "tollgate_reservation_overruns_total", &[]),
        1.0
    );
    assert_eq!(
        metric_value(
            &metrics,
            "tollgate_reservation_overrun_microusdc_total",
            &[]
        ),
        overrun as f64
    );
    let out = gw.cli(&["ledger", "check"]);
    assert!(!out.status.success(), "ledger check reports the overrun");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&id), "{text}");
}

#[tokio::test]
async fn output_limits_an_upstream_may_read_differently_are_refused_or_reserved_at_their_largest() {
    let mock = Mock::start().await;
    let gw = Gateway::start(GatewayOpts::new(providers(mock.addr))).await;
    let msgs = json!([{"role": "user", "content": "hi"}]);
    for (extra, field) in [
        (json!({"max_tokens": 0}), "max_tokens"),
        (json!({"max_completion_tokens": 0}), "max_completion_tokens"),
        (
            json!({"max_tokens": 10, "MAX_TOKENS": 100000}),
            "MAX_TOKENS",
        ),
        (json!({"max_tokens": 10, "N": 50}), "N"),
        (json!({"max_tokens": 10, "n_predict": 100000}), "n_predict"),
        (json!({"max_tokens": 10, "best_of": 20}), "best_of"),
        (
            json!({"max_tokens": 10, "max_output_tokens": 100000}),
            "max_output_tokens",
        ),
    ] {
        let mut body = json!({"model": "m", "messages": msgs});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = post_json(&gw.url("/v1/chat/completions"), Some(KEY), &body, &[]).await;
        let (status, code, message) = error_of(r).await;
        assert_eq!((status, code.as_str()), (400, "VALIDATION_ERROR"), "{body}");
        assert!(message.contains(field), "{field}: {message}");
    }
    assert_eq!(mock.recorder.requests().len(), 0);
    // Both OpenAI limits set: the larger one is reserved (an upstream may honour either).
    let body =
        json!({"model": "m", "messages": msgs, "max_tokens": 10, "max_completion_tokens": 5000});
    let (_, small) = gw
        .served(
            "/v1/chat/completions",
            &json!({"model": "m", "messages": msgs, "max_tokens": 10}),
            &[],
        )
        .await;
    let (status, both) = gw.served("/v1/chat/completions", &body, &[]).await;
    assert_eq!(status, 200);
    let reserved = |o: &Value| o["reserved_usdc"].as_i64().unwrap();
    assert!(
        reserved(&both) - reserved(&small) >= (4990 * 2_000_000i64 / 1_000_000 * 10 / 7),
        "5000 output tokens reserved, not 10: {} vs {}",
        reserved(&both),
        reserved(&small)
    );
}
