//! Routes and credentials: the control-plane answers, API keys on both headers and both APIs,
//! route aliases, keep-alive.

use super::*;

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
