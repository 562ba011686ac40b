//! Request bodies: validation errors, the size limit, a 4 MiB body through the subrequest
//! path, the thinking policy.

use super::*;

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
            r#"{"model":"claude-test","messages":[],"n":2}"#,
            "field `n` cannot be expressed in the Anthropic Messages API",
        ),
        (
            r#"{"model":"gpt-test","messages":[],"max_tokens":"lots"}"#,
            "positive integer",
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
