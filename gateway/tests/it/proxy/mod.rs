//! The request path end to end: real gateway process, real HTTP on loopback, mock upstream.


use crate::common::*;
use serde_json::{json, Value};

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Say hi"}]})
}

fn message(model: &str) -> Value {
    json!({"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": "Say hi"}]})
}

async fn standard() -> (Mock, Gateway) {
    let mock = Mock::start().await;
    let gw = Gateway::start(GatewayOpts::new(standard_providers(mock.addr))).await;
    (mock, gw)
}

async fn error_of(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.expect("JSON error body");
    (
        status,
        v["error"].as_str().unwrap().to_string(),
        v["message"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn control_plane_endpoints() {
    let (_mock, gw) = standard().await;
    let health: Value = reqwest::get(gw.url("/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "ok"}));

    let models: Value = reqwest::get(gw.url("/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    let data = models["data"].as_array().unwrap();
    let claude = data.iter().find(|m| m["id"] == "claude-test").unwrap();
    assert_eq!(claude["provider"], "an");
    // Buyer prices: ceil(provider price / 0.70), USD per 1M.
    assert_eq!(claude["pricing"]["prompt"], "4.285715");
    assert_eq!(claude["pricing"]["cache_write_1h"], "8.571429");
    for field in [
        "name",
        "context_length",
        "input_modalities",
        "output_modalities",
    ] {
        assert!(claude.get(field).is_some(), "{field} missing");
    }

    let (s, code, _) = error_of(reqwest::get(gw.url("/v2/nothing")).await.unwrap()).await;
    assert_eq!((s, code.as_str()), (404, "NOT_FOUND"));
    let (s, code, _) = error_of(reqwest::get(gw.url("/v1/chat/completions")).await.unwrap()).await;
    assert_eq!((s, code.as_str()), (405, "METHOD_NOT_ALLOWED"));
}

#[tokio::test]
async fn api_keys_on_both_headers_and_both_apis() {
    let (mock, gw) = standard().await;
    let (s, code, _) = error_of(
        post_json(
            &gw.url("/v1/chat/completions"),
            None,
            &chat("gpt-test"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!((s, code.as_str()), (401, "UNAUTHORIZED"));
    let (s, _, _) = error_of(
        post_json(
            &gw.url("/v1/messages"),
            Some("sk-wrong"),
            &message("claude-test"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(
        mock.recorder.len(),
        0,
        "refused requests never reach an upstream"
    );

    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-api-key", KEY)
        .json(&chat("gpt-test"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = post_json(
        &gw.url("/v1/messages"),
        Some(KEY),
        &message("claude-test"),
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
}

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
async fn malformed_bodies_get_validation_errors() {
    let (mock, gw) = standard().await;
    let url = gw.url("/v1/chat/completions");
    let cases: Vec<(&str, &str)> = vec![
        ("{not json", "not valid JSON"),
        ("[1,2,3]", "JSON object"),
        (r#"{"messages":[]}"#, "`model` is required"),
        (r#"{"model":"gpt-test"}"#, "`messages` is required"),
        (r#"{"model":"gpt-test","messages":{}}"#, "must be an array"),
        (r#"{"model":"nope","messages":[]}"#, "unknown model"),
        (
            r#"{"model":"claude-test","messages":[]}"#,
            "not served over the OpenAI",
        ),
        (
            r#"{"model":"gpt-test","messages":[],"max_tokens":"lots"}"#,
            "non-negative integer",
        ),
        (
            r#"{"model":"gpt-test","model":"x","messages":[]}"#,
            "more than once",
        ),
        ("", "not valid JSON"),
    ];
    for (body, expect) in cases {
        let r = client()
            .post(&url)
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (s, code, msg) = error_of(r).await;
        assert_eq!((s, code.as_str()), (400, "VALIDATION_ERROR"), "{body}");
        assert!(msg.contains(expect), "{body}: {msg}");
    }
    assert_eq!(mock.recorder.len(), 0);
    let m = gw.metrics().await;
    assert_eq!(
        metric_value(
            &m,
            "tollgate_rejected_requests_total",
            &["VALIDATION_ERROR"]
        ),
        10.0
    );
}

#[tokio::test]
async fn body_limit_is_413() {
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.max_body_bytes = 1024 * 1024;
    let gw = Gateway::start(opts).await;
    let big = "x".repeat(2 * 1024 * 1024);
    let body = json!({"model": "gpt-test", "messages": [{"role": "user", "content": big}]});
    let (s, code, _) =
        error_of(post_json(&gw.url("/v1/chat/completions"), Some(KEY), &body, &[]).await).await;
    assert_eq!((s, code.as_str()), (413, "PAYLOAD_TOO_LARGE"));
    // Chunked upload without Content-Length: refused while reading.
    let stream =
        futures_util::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024])));
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
    }
    assert_eq!(mock.recorder.len(), 0);
}

/// A 4 MiB prompt exceeds Pingora's 64 KiB retry buffer: it must be routed, rewritten and
/// forwarded intact through the subrequest path, streamed or not.
#[tokio::test]
async fn four_mib_body_is_routed_rewritten_and_forwarded_intact() {
    let (mock, gw) = standard().await;
    // Non-ASCII content so that byte-exactness covers multi-byte characters.
    let unit = "héllo wörld — 日本語 ";
    let prompt = unit.repeat(4 * 1024 * 1024 / unit.len() + 1);
    for stream in [false, true] {
        let body = json!({
            "model": "gpt-test",
            "stream": stream,
            "api_key": "sk-leak",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": prompt}],
        });
        let raw = serde_json::to_vec(&body).unwrap();
        assert!(raw.len() > 4 * 1024 * 1024);
        let resp = post_json(
            &gw.url("/v1/chat/completions"),
            Some(KEY),
            &body,
            &[("x-mock-output-tokens", "3")],
        )
        .await;
        assert_eq!(resp.status(), 200);
        let id = request_id(&resp);
        let _ = resp.bytes().await.unwrap();
        let up = mock.last();
        let sent = up.json();
        assert_eq!(sent["model"], "mock-gpt");
        assert!(sent.get("api_key").is_none());
        assert_eq!(
            sent["messages"], body["messages"],
            "prompt forwarded byte-exact"
        );
        assert_eq!(
            up.header("content-length")
                .unwrap()
                .parse::<usize>()
                .unwrap(),
            up.body.len()
        );
        let o = gw.outcome(&id).await;
        assert_eq!(o["status"], "completed", "{o}");
        assert_eq!(o["output_tokens"], 3);
    }
    assert_eq!(
        gw.outcomes().await.len(),
        2,
        "a piped request is billed exactly once"
    );
}

#[tokio::test]
async fn thinking_policy_reject_and_strip() {
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.thinking = "reject";
    let rejecting = Gateway::start(opts).await;
    let stripping = Gateway::start(GatewayOpts::new(standard_providers(mock.addr))).await;

    let mut thinking = message("claude-test");
    thinking["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
    let mut effort = chat("gpt-test");
    effort["reasoning_effort"] = json!("high");

    let (s, code, msg) =
        error_of(post_json(&rejecting.url("/v1/messages"), Some(KEY), &thinking, &[]).await).await;
    assert_eq!((s, code.as_str()), (400, "VALIDATION_ERROR"));
    assert!(msg.contains("thinking"));
    let (s, _, msg) = error_of(
        post_json(
            &rejecting.url("/v1/chat/completions"),
            Some(KEY),
            &effort,
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(s, 400);
    assert!(msg.contains("reasoning_effort"));
    assert_eq!(mock.recorder.len(), 0);

    let r = post_json(&stripping.url("/v1/messages"), Some(KEY), &thinking, &[]).await;
    assert_eq!(r.status(), 200);
    assert!(mock.last().json().get("thinking").is_none());
    let r = post_json(
        &stripping.url("/v1/chat/completions"),
        Some(KEY),
        &effort,
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(mock.last().json().get("reasoning_effort").is_none());
}

#[tokio::test]
async fn route_alias_serves_its_model_set() {
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.route_aliases = r#"[{ name: team, models: [claude-test] }, { name: agent, models: [claude-test], fallback_model: claude-test }]"#;
    let gw = Gateway::start(opts).await;
    let r = post_json(
        &gw.url("/team/v1/messages"),
        Some(KEY),
        &message("claude-test"),
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    let (s, code, _) = error_of(
        post_json(
            &gw.url("/team/v1/messages"),
            Some(KEY),
            &message("claude-other"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!((s, code.as_str()), (400, "VALIDATION_ERROR"));
    let r = post_json(
        &gw.url("/agent/v1/messages"),
        Some(KEY),
        &message("claude-3-haiku"),
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(mock.last().json()["model"], "mock-claude");
    let (s, _, _) = error_of(
        post_json(
            &gw.url("/nobody/v1/messages"),
            Some(KEY),
            &message("claude-test"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(s, 404);
}

/// Two providers for one model: the preferred one fails in each way the issue names, the
/// request is served by the other, and the failover is counted.
#[tokio::test]
async fn fails_over_on_connect_error_5xx_and_timeout() {
    let mock = Mock::start().await;
    let dead = free_port(); // nothing listens here: connection refused
    let providers = format!(
        r#"
  - {{ id: refused, kind: openai, base_url: "http://127.0.0.1:{dead}/v1", priority: 1, models: [{{ id: m-connect, pricing: {{ prompt: 1, completion: 1 }} }}] }}
  - {{ id: broken, kind: openai, base_url: "http://{mock}/v1", priority: 1, models: [{{ id: m-5xx, upstream_model: "x@status=503", pricing: {{ prompt: 1, completion: 1 }} }}] }}
  - {{ id: hanging, kind: openai, base_url: "http://{mock}/v1", priority: 1, models: [{{ id: m-timeout, upstream_model: "x@hang=1", pricing: {{ prompt: 1, completion: 1 }} }}] }}
  - {{ id: good-m-connect, kind: openai, base_url: "http://{mock}/v1", priority: 5, models: [{{ id: m-connect, pricing: {{ prompt: 1, completion: 1 }} }}] }}
  - {{ id: good-m-5xx, kind: openai, base_url: "http://{mock}/v1", priority: 5, models: [{{ id: m-5xx, pricing: {{ prompt: 1, completion: 1 }} }}] }}
  - {{ id: good-m-timeout, kind: openai, base_url: "http://{mock}/v1", priority: 5, models: [{{ id: m-timeout, pricing: {{ prompt: 1, completion: 1 }} }}] }}
"#,
        mock = mock.addr
    );
    let mut opts = GatewayOpts::new(providers);
    opts.first_byte_timeout = "1s";
    let gw = Gateway::start(opts).await;

    for (model, failed, reason) in [
        ("m-connect", "refused", "connect"),
        ("m-5xx", "broken", "status_5xx"),
        ("m-timeout", "hanging", "timeout"),
    ] {
        for stream in [false, true] {
            let mut body = chat(model);
            body["stream"] = json!(stream);
            let resp = post_json(&gw.url("/v1/chat/completions"), Some(KEY), &body, &[]).await;
            assert_eq!(resp.status(), 200, "{model} stream={stream}");
            let id = request_id(&resp);
            let _ = resp.bytes().await.unwrap();
            let o = gw.outcome(&id).await;
            assert_eq!(o["provider"], format!("good-{model}"), "{o}");
            assert_eq!(o["status"], "completed");
            // The failed provider is now unhealthy and ranked last: a second request goes
            // straight to the good one, so only the first of the pair fails over.
            let expect_attempts = if stream { 1 } else { 2 };
            assert_eq!(
                o["attempts"], expect_attempts,
                "{model} stream={stream}: {o}"
            );
        }
        let m = gw.metrics().await;
        assert_eq!(
            metric_value(
                &m,
                "tollgate_upstream_failovers_total",
                &[&format!("provider=\"{failed}\""), reason]
            ),
            1.0,
            "{m}"
        );
        assert_eq!(
            metric_value(
                &m,
                "tollgate_provider_health",
                &[&format!("provider=\"{failed}\"")]
            ),
            -1.0
        );
    }
}

#[tokio::test]
async fn failover_with_a_large_body_uses_a_new_subrequest() {
    let mock = Mock::start().await;
    let providers = format!(
        r#"
  - {{ id: broken, kind: anthropic, base_url: "http://{mock}", priority: 1, models: [{{ id: big, upstream_model: "x@status=500", pricing: {{ prompt: 1, completion: 1 }} }}] }}
  - {{ id: good, kind: anthropic, base_url: "http://{mock}", priority: 2, models: [{{ id: big, upstream_model: "served", pricing: {{ prompt: 1, completion: 1 }} }}] }}
"#,
        mock = mock.addr
    );
    let gw = Gateway::start(GatewayOpts::new(providers)).await;
    let prompt = "z".repeat(300 * 1024);
    let body = json!({"model": "big", "max_tokens": 10, "stream": true, "messages": [{"role": "user", "content": prompt}]});
    let resp = post_json(&gw.url("/v1/messages"), Some(KEY), &body, &[]).await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let _ = resp.text().await.unwrap();
    let reqs = mock.recorder.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].json()["model"], "x@status=500");
    assert_eq!(reqs[1].json()["model"], "served");
    assert_eq!(reqs[1].json()["messages"], body["messages"]);
    let o = gw.outcome(&id).await;
    assert_eq!(
        (
            o["provider"].as_str(),
            o["attempts"].as_u64(),
            o["status"].as_str()
        ),
        (Some("good"), Some(2), Some("completed"))
    );
}

#[tokio::test]
async fn all_candidates_failing_is_502_or_504() {
    let mock = Mock::start().await;
    let providers = format!(
        r#"
  - {{ id: a, kind: openai, base_url: "http://{mock}/v1", models: [{{ id: err, upstream_model: "x@status=500", pricing: {{ prompt: 1, completion: 1 }} }}, {{ id: slow, upstream_model: "x@hang=1", pricing: {{ prompt: 1, completion: 1 }} }}] }}
  - {{ id: b, kind: openai, base_url: "http://{mock}/v1", models: [{{ id: err, upstream_model: "x@status=502", pricing: {{ prompt: 1, completion: 1 }} }}] }}
"#,
        mock = mock.addr
    );
    let mut opts = GatewayOpts::new(providers);
    opts.first_byte_timeout = "1s";
    let gw = Gateway::start(opts).await;
    let resp = post_json(
        &gw.url("/v1/chat/completions"),
        Some(KEY),
        &chat("err"),
        &[],
    )
    .await;
    let id = request_id(&resp);
    let (s, code, _) = error_of(resp).await;
    assert_eq!((s, code.as_str()), (502, "UPSTREAM_ERROR"));
    let o = gw.outcome(&id).await;
    assert_eq!(
        (
            o["status"].as_str(),
            o["attempts"].as_u64(),
            o["buyer_cost_usdc"].as_i64()
        ),
        (Some("upstream_failed"), Some(2), Some(0))
    );

    let (s, code, _) = error_of(
        post_json(
            &gw.url("/v1/chat/completions"),
            Some(KEY),
            &chat("slow"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!((s, code.as_str()), (504, "UPSTREAM_TIMEOUT"));
}

#[tokio::test]
async fn upstream_4xx_passes_through_without_failover_or_charge() {
    let mock = Mock::start().await;
    let providers = format!(
        r#"
  - {{ id: a, kind: openai, base_url: "http://{mock}/v1", priority: 1, models: [{{ id: m, upstream_model: "x@status=429", pricing: {{ prompt: 1, completion: 1 }} }}] }}
  - {{ id: b, kind: openai, base_url: "http://{mock}/v1", priority: 2, models: [{{ id: m, pricing: {{ prompt: 1, completion: 1 }} }}] }}
"#,
        mock = mock.addr
    );
    let gw = Gateway::start(GatewayOpts::new(providers)).await;
    let resp = post_json(&gw.url("/v1/chat/completions"), Some(KEY), &chat("m"), &[]).await;
    assert_eq!(resp.status(), 429);
    let id = request_id(&resp);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"].is_string(),
        "the upstream's own error body: {v}"
    );
    assert_eq!(mock.recorder.len(), 1);
    let o = gw.outcome(&id).await;
    assert_eq!(
        (
            o["status"].as_str(),
            o["buyer_cost_usdc"].as_i64(),
            o["http_status"].as_u64()
        ),
        (Some("upstream_rejected"), Some(0), Some(429))
    );
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
    // Documented estimate (billing::charging): ⌈request bytes / 4⌉ in, ⌈text bytes / 4⌉ out.
    // The mock streamed 16 × "tok " = 64 bytes of text.
    assert_eq!(o["usage_estimated"], true);
    assert_eq!(o["output_tokens"], 16);
    let body_len = serde_json::to_vec(&body).unwrap().len() as u64;
    assert_eq!(o["input_tokens"].as_u64(), Some(body_len.div_ceil(4)));
    assert!(o["buyer_cost_usdc"].as_i64().unwrap() > 0);
    assert!(o["buyer_cost_usdc"].as_i64() <= o["reserved_usdc"].as_i64());
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

#[tokio::test]
async fn keep_alive_connection_serves_many_requests() {
    let (mock, gw) = standard().await;
    let c = client();
    for i in 0..20 {
        let big = i % 5 == 0; // mix both body paths on one connection
        let content = if big {
            "y".repeat(100 * 1024)
        } else {
            "hi".into()
        };
        let body = json!({"model": "gpt-test", "messages": [{"role": "user", "content": content}]});
        let r = c
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "request {i}");
        let _ = r.bytes().await.unwrap();
    }
    assert_eq!(mock.recorder.len(), 20);
}
