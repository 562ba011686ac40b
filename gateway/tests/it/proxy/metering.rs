//! What reaches the provider and what is metered back: rewriting and sanitising, usage in
//! streams and bodies (five buckets), cut and malformed streams, metrics.

use super::*;

#[tokio::test]
async fn openai_non_stream_is_rewritten_sanitised_and_metered() {
    let (mock, gw) = standard().await;
    let body = json!({
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "hi"}],
        "api_key": "sk-stolen", "api_base": "http://evil", "base_url": "http://evil", "custom_llm_provider": "x",
        "temperature": 0.5,
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        "tool_choice": "auto"
    });
    let resp = post_json(
        &gw.url("/v1/chat/completions"),
        Some(KEY),
        &body,
        &[
            ("x-mock-input-tokens", "30"),
            ("x-mock-cache-read-tokens", "20"),
            ("x-mock-output-tokens", "7"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );

    let up = mock.last();
    assert_eq!(up.path, "/v1/chat/completions");
    assert_eq!(
        up.header("authorization"),
        Some("Bearer upstream-secret-openai")
    );
    assert_eq!(up.header("x-api-key"), None);
    assert_eq!(up.header("accept-encoding"), Some("identity"));
    let sent = up.json();
    assert_eq!(sent["model"], "mock-gpt");
    for f in ["api_key", "api_base", "base_url", "custom_llm_provider"] {
        assert!(sent.get(f).is_none(), "{f} reached the upstream");
    }
    assert_eq!(sent["temperature"], 0.5);
    assert_eq!(sent["tool_choice"], "auto");
    assert_eq!(sent["tools"], body["tools"]);
    assert_eq!(sent["max_tokens"], 1024, "default output limit inserted");

    let o = gw.outcome(&id).await;
    assert_eq!(o["status"], "completed");
    assert_eq!(o["model"], "gpt-test");
    assert_eq!(o["provider"], "oa");
    assert_eq!(o["wallet"], WALLET);
    // prompt_tokens (50) includes the 20 cached: counted once, as cache reads.
    assert_eq!(
        (
            o["input_tokens"].as_u64(),
            o["cache_read_tokens"].as_u64(),
            o["output_tokens"].as_u64()
        ),
        (Some(30), Some(20), Some(7))
    );
    // 30×1 + 20×0.5 + 7×2 = 54 micro-USDC provider cost; buyer ceil(54/0.7) = 78.
    assert_eq!(o["provider_cost_usdc"], 54);
    assert_eq!(o["buyer_cost_usdc"], 78);
    assert_eq!(o["platform_fee_usdc"], 24);
    assert!(
        o.get("messages").is_none() && !o.to_string().contains("hi\""),
        "no content in the record"
    );
}

#[tokio::test]
async fn openai_stream_gets_usage_injected_and_metered() {
    let (mock, gw) = standard().await;
    let mut body = chat("gpt-test");
    body["stream"] = json!(true);
    let resp = post_json(
        &gw.url("/v1/chat/completions"),
        Some(KEY),
        &body,
        &[
            ("x-mock-output-tokens", "25"),
            ("x-mock-cache-read-tokens", "4"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let id = request_id(&resp);
    let text = resp.text().await.unwrap();
    let events = sse_events(&text);
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let content: String = events
        .iter()
        .filter_map(|(_, d)| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert_eq!(content, "tok ".repeat(25));

    assert_eq!(mock.last().json()["stream_options"]["include_usage"], true);
    let o = gw.outcome(&id).await;
    assert_eq!(o["status"], "completed");
    assert_eq!(o["stream"], true);
    assert_eq!(
        (
            o["input_tokens"].as_u64(),
            o["cache_read_tokens"].as_u64(),
            o["output_tokens"].as_u64()
        ),
        (Some(12), Some(4), Some(25))
    );
    assert_eq!(o["usage_missing"], false);
}

#[tokio::test]
async fn anthropic_stream_and_non_stream_with_cache_buckets() {
    let (mock, gw) = standard().await;
    let headers = [
        ("x-mock-input-tokens", "10"),
        ("x-mock-cache-read-tokens", "100"),
        ("x-mock-cache-write-5m-tokens", "40"),
        ("x-mock-cache-write-1h-tokens", "60"),
        ("x-mock-output-tokens", "9"),
        ("anthropic-version", "2023-06-01"),
        ("anthropic-beta", "extended-cache-ttl-2025-04-11"),
    ];
    for stream in [false, true] {
        let mut body = message("claude-test");
        body["stream"] = json!(stream);
        let resp = client()
            .post(gw.url("/v1/messages"))
            .header("x-api-key", KEY);
        let resp = headers
            .iter()
            .fold(resp, |r, (k, v)| r.header(*k, *v))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let id = request_id(&resp);
        let text = resp.text().await.unwrap();
        if stream {
            assert!(sse_events(&text)
                .iter()
                .any(|(e, _)| e.as_deref() == Some("message_stop")));
        }
        let up = mock.last();
        assert_eq!(up.path, "/v1/messages");
        assert_eq!(up.header("x-api-key"), Some("upstream-secret-anthropic"));
        assert_eq!(up.header("authorization"), None);
        assert_eq!(up.header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(
            up.header("anthropic-beta"),
            Some("extended-cache-ttl-2025-04-11")
        );
        assert_eq!(up.json()["model"], "mock-claude");

        let o = gw.outcome(&id).await;
        assert_eq!(o["status"], "completed", "{o}");
        let t = |k: &str| o[k].as_u64().unwrap();
        assert_eq!(
            (
                t("input_tokens"),
                t("cache_write_5m_tokens"),
                t("cache_write_1h_tokens"),
                t("cache_read_tokens"),
                t("output_tokens")
            ),
            (10, 40, 60, 100, 9)
        );
        // 10×3 + 40×3.75 + 60×6 + 100×0.3 + 9×15 = 30+150+360+30+135 = 705
        assert_eq!(o["provider_cost_usdc"], 705);
    }
}

#[tokio::test]
async fn anthropic_version_is_defaulted_for_raw_clients() {
    let (mock, gw) = standard().await;
    let r = post_json(
        &gw.url("/v1/messages"),
        Some(KEY),
        &message("claude-test"),
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(mock.last().header("anthropic-version"), Some("2023-06-01"));
}

#[tokio::test]
async fn cut_streams_and_missing_usage_are_flagged() {
    let (_mock, gw) = standard().await;
    // Upstream closes the connection after 3 events.
    let mut body = message("claude-test");
    body["stream"] = json!(true);
    let headers = [("x-mock-close-after", "3"), ("x-mock-input-tokens", "8")];
    let (status, o) = gw.served("/v1/messages", &body, &headers).await;
    assert_eq!(status, 200);
    assert_eq!(o["status"], "interrupted", "{o}");
    assert_eq!(o["stream_cut"], true);
    assert_eq!(o["input_tokens"], 8, "usage seen before the cut is kept");

    let mut body = chat("gpt-test");
    body["stream"] = json!(true);
    let (_, o) = gw
        .served("/v1/chat/completions", &body, &[("x-mock-omit-usage", "1")])
        .await;
    assert_eq!(o["usage_missing"], true, "{o}");
    // A stream that ended without usage is billed at its bounds (billing::charging): the
    // body's bytes in, the output limit (the default 1024 here) out — all it reserved.
    assert_eq!(o["usage_estimated"], true);
    assert_eq!(o["output_tokens"], 1024);
    let body_len = serde_json::to_vec(&body).unwrap().len() as u64;
    assert_eq!(o["input_tokens"].as_u64(), Some(body_len));
    assert_eq!(o["buyer_cost_usdc"], o["reserved_usdc"]);
}

#[tokio::test]
async fn malformed_sse_from_upstream_still_meters() {
    let (_mock, gw) = standard().await;
    let mut body = chat("gpt-test");
    body["stream"] = json!(true);
    let headers = [("x-mock-malformed-sse", "1"), ("x-mock-output-tokens", "6")];
    let (_, o) = gw.served("/v1/chat/completions", &body, &headers).await;
    assert_eq!(o["output_tokens"], 6, "{o}");
}

#[tokio::test]
async fn metrics_count_known_traffic() {
    let (_mock, gw) = standard().await;
    for _ in 0..3 {
        let r = post_json(
            &gw.url("/v1/chat/completions"),
            Some(KEY),
            &chat("gpt-test"),
            &[("x-mock-output-tokens", "5")],
        )
        .await;
        let _ = r.bytes().await;
    }
    let mut s = message("claude-test");
    s["stream"] = json!(true);
    let r = post_json(
        &gw.url("/v1/messages"),
        Some(KEY),
        &s,
        &[("x-mock-output-tokens", "11")],
    )
    .await;
    let id = request_id(&r);
    let _ = r.bytes().await;
    gw.outcome(&id).await;
    let _ = post_json(&gw.url("/v1/messages"), Some("bad"), &s, &[]).await;

    let m = gw.metrics().await;
    assert_eq!(
        metric_value(
            &m,
            "tollgate_requests_total",
            &["model=\"gpt-test\"", "provider=\"oa\"", "status=\"200\""]
        ),
        3.0
    );
    assert_eq!(
        metric_value(
            &m,
            "tollgate_requests_total",
            &["model=\"claude-test\"", "status=\"200\""]
        ),
        1.0
    );
    assert_eq!(
        metric_value(
            &m,
            "tollgate_tokens_total",
            &["model=\"gpt-test\"", "bucket=\"output\""]
        ),
        15.0
    );
    assert_eq!(
        metric_value(
            &m,
            "tollgate_tokens_total",
            &["model=\"claude-test\"", "bucket=\"output\""]
        ),
        11.0
    );
    assert_eq!(
        metric_value(
            &m,
            "tollgate_tokens_total",
            &["model=\"gpt-test\"", "bucket=\"input\""]
        ),
        36.0
    );
    assert_eq!(
        metric_value(
            &m,
            "tollgate_request_duration_seconds_count",
            &["model=\"gpt-test\""]
        ),
        3.0
    );
    assert_eq!(
        metric_value(
            &m,
            "tollgate_time_to_first_byte_seconds_count",
            &["model=\"claude-test\""]
        ),
        1.0
    );
    assert_eq!(
        metric_value(&m, "tollgate_rejected_requests_total", &["UNAUTHORIZED"]),
        1.0
    );
    assert!(
        m.contains("tollgate_provider_health{provider=\"oa\"} 1"),
        "{m}"
    );
}

/// `tollgate_overhead_seconds` leaves the upstream's time out: behind an upstream that waits
/// 300 ms before its first byte and 30 ms between tokens, each request's overhead is a small
/// part of its duration, and every admitted call is counted once (by stream or not).
#[tokio::test]
async fn overhead_excludes_the_time_spent_waiting_on_the_upstream() {
    let (_mock, gw) = standard().await;
    let slow = [("x-mock-ttft-ms", "300"), ("x-mock-inter-token-ms", "30")];
    let mut last = String::new();
    for stream in [false, true, true] {
        let mut body = chat("gpt-test");
        body["stream"] = json!(stream);
        let r = post_json(&gw.url("/v1/chat/completions"), Some(KEY), &body, &slow).await;
        assert_eq!(r.status(), 200);
        last = request_id(&r);
        let _ = r.bytes().await;
    }
    gw.outcome(&last).await;
    let m = gw.metrics().await;
    let count = |stream: &str| {
        metric_value(
            &m,
            "tollgate_overhead_seconds_count",
            &[&format!("stream=\"{stream}\"")],
        )
    };
    assert_eq!((count("false"), count("true")), (1.0, 2.0));
    let overhead = metric_value(&m, "tollgate_overhead_seconds_sum", &[]);
    let duration = metric_value(&m, "tollgate_request_duration_seconds_sum", &[]);
    assert!(
        duration >= 0.9,
        "three requests of at least 300 ms ({duration})"
    );
    assert!(
        overhead < duration - 0.85,
        "the upstream's 300+ ms per request are not overhead ({overhead} of {duration})"
    );
    // The buckets start at 10 µs.
    assert!(
        m.contains("tollgate_overhead_seconds_bucket{stream=\"false\",le=\"0.00001\"}"),
        "{m}"
    );
}
