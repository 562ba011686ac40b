//! More of the OpenAI surface and Anthropic's token counting: the Responses API (stream and
//! not, metered from `usage` and `response.completed`, continuations kept to their provider
//! and wallet), Embeddings (reserved on the input, billed on `prompt_tokens`) and
//! `count_tokens` (passed through, unbilled).

use super::*;

fn providers(mock: std::net::SocketAddr) -> String {
    format!(
        r#"
  - id: oa
    kind: openai
    base_url: http://{mock}/v1
    models:
      - {{ id: gpt-resp, upstream_model: mock-gpt, apis: [chat, responses], context_length: 100000, pricing: {{ prompt: 1, completion: 2, cache_read: 0.5 }} }}
      - {{ id: emb, upstream_model: mock-emb, apis: [embeddings], pricing: {{ prompt: 0.1, completion: 0 }} }}
  - id: ob
    kind: openai
    base_url: http://{mock}/v1
    models:
      - {{ id: gpt-resp, upstream_model: mock-gpt-b, apis: [chat, responses], context_length: 100000, pricing: {{ prompt: 1, completion: 2, cache_read: 0.5 }} }}
  - id: an
    kind: anthropic
    base_url: http://{mock}
    models:
      - {{ id: claude-test, upstream_model: mock-claude, pricing: {{ prompt: 3, completion: 15 }} }}
"#
    )
}

async fn stack() -> (Mock, Gateway) {
    let mock = Mock::start().await;
    let gw = Gateway::start(GatewayOpts::new(providers(mock.addr))).await;
    (mock, gw)
}

const RESPONSE_USAGE: [(&str, &str); 4] = [
    ("x-mock-input-tokens", "50"),
    ("x-mock-cache-read-tokens", "20"),
    ("x-mock-output-tokens", "9"),
    ("x-mock-reasoning-tokens", "4"),
];

/// The mock reports `input_tokens` 70 of which 20 cached: 50 uncached × 1 + 20 cached × 0.5 +
/// (9 + 4 reasoning) × 2 = 86 provider; ceil(86 / 0.7) = 123 buyer.
fn assert_response_billed(o: &Value, usage: &Value, id: &str) {
    assert_eq!(
        (&o["input_tokens"], &o["cache_read_tokens"], &o["output_tokens"]),
        (&json!(50), &json!(20), &json!(13)),
        "{o}"
    );
    assert_eq!((o["api"].as_str(), o["status"].as_str()), (Some("openai_responses"), Some("completed")));
    assert_eq!(o["buyer_cost_usdc"], 123);
    assert_eq!(usage["input_tokens"], 70);
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], 20);
    assert_eq!(usage["cost_microusdc"], 123);
    assert_eq!(usage["request_id"], id);
}

#[tokio::test]
async fn a_responses_call_is_limited_metered_and_stamped() {
    let (mock, gw) = stack().await;
    let body = json!({"model": "gpt-resp", "input": "Say hi", "instructions": "Be brief."});
    let resp = gw.post("/v1/responses", &body, &RESPONSE_USAGE).await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "response");
    let up = mock.last();
    assert_eq!(up.path, "/v1/responses");
    let sent = up.json();
    assert_eq!(sent["max_output_tokens"], 1024, "the default limit, in the Responses spelling");
    assert!(sent.get("max_tokens").is_none());
    assert!(sent["model"].as_str().unwrap().starts_with("mock-gpt"));
    let o = gw.outcome(&id).await;
    assert_response_billed(&o, &v["usage"], &id);
    assert!(o["response_id"].as_str().unwrap().starts_with("resp_"));
}

#[tokio::test]
async fn a_responses_stream_is_metered_from_response_completed() {
    let (_mock, gw) = stack().await;
    let body = json!({"model": "gpt-resp", "input": [{"role": "user", "content": "Say hi"}], "stream": true, "max_output_tokens": 64});
    let resp = gw.post("/v1/responses", &body, &RESPONSE_USAGE).await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let events = sse_events(&resp.text().await.unwrap());
    let (name, data) = events.last().unwrap();
    assert_eq!(name.as_deref(), Some("response.completed"));
    let done: Value = serde_json::from_str(data).unwrap();
    let o = gw.outcome(&id).await;
    assert_response_billed(&o, &done["response"]["usage"], &id);
    assert_eq!(o["response_id"], done["response"]["id"]);
}

#[tokio::test]
async fn a_continuation_goes_to_the_provider_that_produced_it_and_only_for_its_wallet() {
    let (_mock, gw) = stack().await;
    let first = gw.post("/v1/responses", &json!({"model": "gpt-resp", "input": "Hi"}), &[]).await;
    let id = request_id(&first);
    let response_id = first.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let producer = gw.outcome(&id).await["provider"].as_str().unwrap().to_string();
    let next = json!({"model": "gpt-resp", "input": "And then?", "previous_response_id": response_id});
    // Round-robin would alternate between oa and ob: every continuation goes to the producer.
    for _ in 0..4 {
        let r = gw.post("/v1/responses", &next, &[]).await;
        assert_eq!(r.status(), 200);
        let o = gw.outcome(&request_id(&r)).await;
        assert_eq!(o["provider"].as_str(), Some(producer.as_str()));
        // Input the body does not hold: reserved up to the context length (100,000 × 1 µ$,
        // grossed up), far above what the body's bytes would have bounded.
        assert!(o["reserved_usdc"].as_i64().unwrap() > 100_000, "{o}");
    }
    let other_wallet = post_json(&gw.url("/v1/responses"), Some("sk-test-key-b"), &next, &[]).await;
    let (status, code, msg) = error_of(other_wallet).await;
    assert_eq!((status, code.as_str()), (400, "VALIDATION_ERROR"));
    assert!(msg.contains("previous_response_id"), "{msg}");
    let unknown = json!({"model": "gpt-resp", "input": "x", "previous_response_id": "resp_made_up"});
    assert_eq!(gw.post("/v1/responses", &unknown, &[]).await.status(), 400);
}

#[tokio::test]
async fn embeddings_are_reserved_on_their_input_and_billed_on_prompt_tokens() {
    let (mock, gw) = stack().await;
    let body = json!({"model": "emb", "input": ["first text", "second text"], "dimensions": 8});
    let resp = gw.post("/v1/embeddings", &body, &[("x-mock-input-tokens", "30")]).await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let up = mock.last();
    assert_eq!(up.path, "/v1/embeddings");
    assert_eq!(up.json()["model"], "mock-emb");
    assert!(up.json().get("max_tokens").is_none());
    let o = gw.outcome(&id).await;
    // 30 × 0.1 = 3 provider; ceil(3 / 0.7) = 5 buyer.
    assert_eq!((&o["input_tokens"], &o["output_tokens"], &o["buyer_cost_usdc"]), (&json!(30), &json!(0), &json!(5)));
    assert_eq!(o["api"], "openai_embeddings");
    // The reservation is the body's bytes at the prompt price, no output.
    let bytes = serde_json::to_vec(&body).unwrap().len() as i64;
    assert_eq!(o["reserved_usdc"].as_i64().unwrap(), (bytes as u64 * 100_000).div_ceil(700_000) as i64);
    assert_eq!(v["usage"]["cost_microusdc"], 5);
}

#[tokio::test]
async fn count_tokens_is_passed_through_unbilled() {
    let (mock, gw) = stack().await;
    let body = json!({"model": "claude-test", "messages": [{"role": "user", "content": "Count me"}], "system": "s"});
    let resp = gw.post("/v1/messages/count_tokens", &body, &[("x-mock-input-tokens", "77")]).await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v, json!({"input_tokens": 77}), "passed through as the provider sent it");
    let up = mock.last();
    assert_eq!(up.path, "/v1/messages/count_tokens");
    let sent = up.json();
    assert_eq!(sent["model"], "mock-claude");
    assert!(sent.get("max_tokens").is_none(), "count_tokens takes no output limit: {sent}");
    let o = gw.outcome(&id).await;
    assert_eq!((o["status"].as_str(), o["buyer_cost_usdc"].as_i64(), o["reserved_usdc"].as_i64()), (Some("completed"), Some(0), Some(0)));
    assert_eq!(o["api"], "anthropic_count_tokens");
}

#[tokio::test]
async fn each_api_reaches_only_the_models_that_list_it_and_bad_bodies_are_400s() {
    let (mock, gw) = stack().await;
    for (path, body, expect) in [
        ("/v1/chat/completions", chat("emb"), "not served over the OpenAI Chat Completions"),
        ("/v1/embeddings", json!({"model": "claude-test", "input": "x"}), "not served over the OpenAI Embeddings"),
        ("/v1/responses", json!({"model": "claude-test", "input": "x"}), "not served over the OpenAI Responses"),
        ("/v1/messages/count_tokens", json!({"model": "gpt-resp", "messages": []}), "token counting"),
        ("/v1/responses", json!({"model": "gpt-resp", "input": "x", "background": true}), "`background`"),
        ("/v1/responses", json!({"model": "gpt-resp", "input": "x", "max_tokens": 5}), "`max_tokens`"),
        ("/v1/responses", json!({"model": "gpt-resp"}), "`input` is required"),
        ("/v1/responses", json!({"model": "gpt-resp", "input": "x", "tools": [{"type": "web_search"}]}), "server-side tools"),
        ("/v1/embeddings", json!({"model": "emb", "input": 5}), "`input` must be"),
        ("/v1/embeddings", json!({"model": "emb", "input": "x", "stream": true}), "`stream`"),
    ] {
        let (status, code, msg) = error_of(gw.post(path, &body, &[]).await).await;
        assert_eq!((status, code.as_str()), (400, "VALIDATION_ERROR"), "{path} {body}");
        assert!(msg.contains(expect), "{path} {body}: {msg}");
    }
    assert_eq!(mock.recorder.len(), 0);
    let r = client().get(gw.url("/v1/embeddings")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}
