//! Failover before the first byte: connect errors, connect timeouts and 5xx move to the next
//! candidate (also for large bodies), a provider that is merely slow is not failed over; when every candidate fails, 502 or 504; 4xx pass
//! through.

use super::*;

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
            let id = request_id(&resp);
            let status = resp.status();
            let _ = resp.bytes().await.unwrap();
            let o = gw.outcome(&id).await;
            // A provider that has the request and is merely slow is not failed over: another
            // would generate (and bill) it again. 504, and the slow one is demoted.
            if model == "m-timeout" && !stream {
                assert_eq!(status, 504, "{o}");
                assert_eq!(
                    (o["provider"].as_str(), o["attempts"].as_u64()),
                    (Some("hanging"), Some(1))
                );
                continue;
            }
            assert_eq!(status, 200, "{model} stream={stream}");
            assert_eq!(o["provider"], format!("good-{model}"), "{o}");
            assert_eq!(o["status"], "completed");
            // The failed provider is now unhealthy and ranked last: a second request goes
            // straight to the good one, so only the first of the pair fails over.
            let expect_attempts = if stream || model == "m-timeout" { 1 } else { 2 };
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
