//! `server.error_shape`: the same status and headers in every shape, the body in the one an
//! SDK parses (the official SDKs reading them: `tests/sdk/test_error_shapes.py`).

use super::*;

async fn body_of(r: reqwest::Response) -> (u16, Value) {
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn openai_shape() {
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.server = "  error_shape: openai\n".into();
    opts.extra = "limits:\n  requests_per_minute: 1\n".into();
    let gw = Gateway::start(opts).await;
    let r = post_json(&gw.url("/v1/chat/completions"), Some("sk-nope"), &chat(false), &[]).await;
    assert!(r.headers().contains_key("x-request-id"));
    let (status, v) = body_of(r).await;
    assert_eq!(status, 401);
    assert_eq!(v["error"]["type"], "authentication_error");
    assert_eq!(v["error"]["code"], "UNAUTHORIZED");
    assert!(v["error"]["message"].as_str().unwrap().contains("API key"));
    assert_eq!(v["error"]["param"], Value::Null);

    assert_eq!(gw.post("/v1/chat/completions", &chat(false), &[]).await.status(), 200);
    let r = gw.post("/v1/chat/completions", &chat(false), &[]).await;
    assert!(r.headers().contains_key("retry-after"), "headers are the same in every shape");
    let (status, v) = body_of(r).await;
    assert_eq!((status, &v["error"]["type"]), (429, &json!("rate_limit_error")));

    let (status, v) = body_of(reqwest::get(gw.url("/v1/nope")).await.unwrap()).await;
    assert_eq!((status, &v["error"]["type"]), (404, &json!("not_found_error")));
    let (status, v) = body_of(reqwest::get(format!("{}/nope", gw.admin)).await.unwrap()).await;
    assert_eq!((status, &v["error"]["code"]), (404, &json!("NOT_FOUND")), "the admin listener too");
}

#[tokio::test]
async fn anthropic_shape() {
    let mock = Mock::start().await;
    let gw = gateway_with(&mock, "  error_shape: anthropic\n").await;
    let body = json!({"model": "claude-test", "max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]});
    let r = gw.post("/v1/messages", &body, &[]).await;
    let (status, v) = body_of(r).await;
    assert_eq!(status, 400);
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("max_tokens"), "{v}");
    let r = client().get(gw.url("/v1/messages")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    assert_eq!(body_of(r).await.1["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn the_default_shape_is_the_documented_one() {
    let mock = Mock::start().await;
    let gw = gateway_with(&mock, "").await;
    let r = post_json(&gw.url("/v1/chat/completions"), Some("sk-nope"), &chat(false), &[]).await;
    let (_, v) = body_of(r).await;
    assert_eq!(v, json!({"error": "UNAUTHORIZED", "message": v["message"]}));
}
