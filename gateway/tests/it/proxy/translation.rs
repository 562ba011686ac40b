//! Any SDK to any provider: an OpenAI-format call served by an Anthropic-kind provider and the
//! reverse, stream and not, metered on the provider's own usage (five buckets) with the
//! buyer's charge in the usage object the client reads.

use super::*;

const CACHED: [(&str, &str); 5] = [
    ("x-mock-input-tokens", "40"),
    ("x-mock-cache-read-tokens", "10"),
    ("x-mock-cache-write-5m-tokens", "20"),
    ("x-mock-cache-write-1h-tokens", "5"),
    ("x-mock-output-tokens", "7"),
];

fn weather_tool_openai() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather now",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}])
}

fn openai_call(stream: bool) -> Value {
    json!({
        "model": "claude-test",
        "stream": stream,
        "max_tokens": 50,
        "temperature": 0.3,
        "stop": ["END"],
        "user": "buyer-42",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "Weather in Paris?", "cache_control": {"type": "ephemeral"}}
            ]}
        ],
        "tools": weather_tool_openai(),
        "tool_choice": "auto"
    })
}

/// The provider saw an Anthropic Messages request carrying everything the client asked.
fn assert_sent_as_anthropic(mock: &Mock, stream: bool) {
    let up = mock.last();
    assert_eq!(up.path, "/v1/messages");
    assert_eq!(up.header("x-api-key"), Some("upstream-secret-anthropic"));
    assert!(up.header("anthropic-version").is_some());
    assert_eq!(up.header("authorization"), None);
    let sent = up.json();
    assert_eq!(sent["model"], "mock-claude");
    assert_eq!(sent["max_tokens"], 50);
    assert_eq!(sent["stream"], stream);
    assert_eq!(sent["temperature"], 0.3);
    assert_eq!(sent["stop_sequences"], json!(["END"]));
    assert_eq!(sent["metadata"]["user_id"], "buyer-42");
    let system = sent["system"].to_string();
    assert!(system.contains("Be brief."), "{sent}");
    assert_eq!(sent["messages"][0]["role"], "user");
    assert_eq!(
        sent["messages"][0]["content"][0]["cache_control"]["type"],
        "ephemeral"
    );
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    assert!(sent["tools"][0]["input_schema"].is_object());
    assert_eq!(sent["tool_choice"]["type"], "auto");
    assert!(sent.get("stream_options").is_none() && sent.get("stop").is_none());
}

/// The record holds the provider's five buckets and the usage the client read says the
/// same (in the client's format) and carries the charge.
fn assert_metered(o: &Value, usage: &Value, id: &str) {
    assert_eq!(
        [
            &o["input_tokens"],
            &o["cache_read_tokens"],
            &o["cache_write_5m_tokens"],
            &o["cache_write_1h_tokens"],
            &o["output_tokens"]
        ],
        [&json!(40), &json!(10), &json!(20), &json!(5), &json!(7)],
        "{o}"
    );
    assert_eq!(o["status"], "completed");
    assert_eq!(o["provider"], "an");
    // 40×3 + 10×0.3 + 20×3.75 + 5×6 + 7×15 = 333 provider; ceil(333/0.7) = 476 buyer.
    assert_eq!(o["buyer_cost_usdc"], 476);
    assert_eq!(usage["cost_microusdc"], 476);
    assert_eq!(usage["cost"].to_string(), "0.000476");
    assert_eq!(usage["request_id"], id);
}

#[tokio::test]
async fn an_openai_call_reaches_an_anthropic_provider_translated_and_billed_on_its_usage() {
    let (mock, gw) = standard().await;
    let resp = gw.post("/v1/chat/completions", &openai_call(false), &CACHED).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("content-length").is_none() || resp.headers()["content-type"] == "application/json");
    let id = request_id(&resp);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["location"], "Paris");
    let u = &v["usage"];
    assert_eq!(u["prompt_tokens"], 75, "input + cache writes + cache reads: {u}");
    assert_eq!(u["completion_tokens"], 7);
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 10);
    assert_sent_as_anthropic(&mock, false);
    assert_metered(&gw.outcome(&id).await, u, &id);
}

#[tokio::test]
async fn an_openai_stream_from_an_anthropic_provider_arrives_as_chunks_and_done() {
    let (mock, gw) = standard().await;
    let resp = gw.post("/v1/chat/completions", &openai_call(true), &CACHED).await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let text = resp.text().await.unwrap();
    let events = sse_events(&text);
    assert_eq!(events.last().unwrap().1, "[DONE]", "{text}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap()["location"], "Paris", "streamed argument deltas join into the arguments");
    assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "tool_calls"));
    let with_usage: Vec<&Value> = chunks.iter().filter(|c| c["usage"].is_object()).collect();
    assert_eq!(with_usage.len(), 1);
    assert_sent_as_anthropic(&mock, true);
    assert_metered(&gw.outcome(&id).await, &with_usage[0]["usage"], &id);
}

fn anthropic_call(stream: bool) -> Value {
    json!({
        "model": "gpt-test",
        "max_tokens": 64,
        "stream": stream,
        "system": "Be brief.",
        "stop_sequences": ["END"],
        "metadata": {"user_id": "buyer-7"},
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]}
        ],
        "tools": [{"name": "get_weather", "description": "Weather now", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any"}
    })
}

const OPENAI_CACHED: [(&str, &str); 3] = [
    ("x-mock-input-tokens", "30"),
    ("x-mock-cache-read-tokens", "20"),
    ("x-mock-output-tokens", "7"),
];

fn assert_sent_as_openai(mock: &Mock, stream: bool) {
    let up = mock.last();
    assert_eq!(up.path, "/v1/chat/completions");
    assert_eq!(up.header("authorization"), Some("Bearer upstream-secret-openai"));
    assert_eq!(up.header("x-api-key"), None);
    assert_eq!(up.header("anthropic-version"), None);
    let sent = up.json();
    assert_eq!(sent["model"], "mock-gpt");
    assert_eq!(sent["max_tokens"], 64);
    assert_eq!(sent["messages"][0], json!({"role": "system", "content": "Be brief."}));
    assert_eq!(sent["messages"][2]["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(sent["messages"][3]["role"], "tool");
    assert_eq!(sent["messages"][3]["tool_call_id"], "toolu_1");
    assert_eq!(sent["tool_choice"], "required");
    assert_eq!(sent["stop"], json!(["END"]));
    assert_eq!(sent["user"], "buyer-7");
    if stream {
        assert_eq!(sent["stream_options"]["include_usage"], true, "usage must stream to be metered");
    }
}

fn assert_metered_openai(o: &Value, usage: &Value, id: &str) {
    assert_eq!(
        (&o["input_tokens"], &o["cache_read_tokens"], &o["output_tokens"], &o["provider"]),
        (&json!(30), &json!(20), &json!(7), &json!("oa"))
    );
    // 30×1 + 20×0.5 + 7×2 = 54 provider; ceil(54/0.7) = 78 buyer.
    assert_eq!(o["buyer_cost_usdc"], 78);
    assert_eq!(usage["input_tokens"], 30);
    assert_eq!(usage["cache_read_input_tokens"], 20);
    assert_eq!(usage["output_tokens"], 7);
    assert_eq!(usage["cost_microusdc"], 78);
    assert_eq!(usage["request_id"], id);
}

#[tokio::test]
async fn an_anthropic_call_reaches_an_openai_provider_translated_and_billed_on_its_usage() {
    let (mock, gw) = standard().await;
    let resp = gw.post("/v1/messages", &anthropic_call(false), &OPENAI_CACHED).await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let v: Value = resp.json().await.unwrap();
    assert_eq!((v["type"].as_str(), v["role"].as_str()), (Some("message"), Some("assistant")));
    assert_eq!(v["stop_reason"], "tool_use");
    let tool = v["content"].as_array().unwrap().iter().find(|b| b["type"] == "tool_use").unwrap();
    assert_eq!(tool["input"]["location"], "Paris");
    assert_sent_as_openai(&mock, false);
    assert_metered_openai(&gw.outcome(&id).await, &v["usage"], &id);
}

#[tokio::test]
async fn an_anthropic_stream_from_an_openai_provider_arrives_as_events_and_message_stop() {
    let (mock, gw) = standard().await;
    let resp = gw.post("/v1/messages", &anthropic_call(true), &OPENAI_CACHED).await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    let text = resp.text().await.unwrap();
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().filter_map(|(e, _)| e.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{text}");
    assert_eq!(names.last(), Some(&"message_stop"));
    let data = |name: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|(e, _)| e.as_deref() == Some(name))
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect()
    };
    let partial: String = data("content_block_delta")
        .iter()
        .filter_map(|d| d["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&partial).unwrap()["location"], "Paris");
    let delta = data("message_delta").pop().unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_sent_as_openai(&mock, true);
    assert_metered_openai(&gw.outcome(&id).await, &delta["usage"], &id);
}

/// A model two providers serve, one of each kind.
fn both_kinds(mock: std::net::SocketAddr) -> String {
    format!(
        r#"
  - {{ id: oa, kind: openai, base_url: "http://{mock}/v1", priority: 10, models: [{{ id: dual, upstream_model: mock-gpt, pricing: {{ prompt: 1, completion: 2 }} }}] }}
  - {{ id: an, kind: anthropic, base_url: "http://{mock}", priority: 20, models: [{{ id: dual, upstream_model: mock-claude, pricing: {{ prompt: 1, completion: 2 }} }}, {{ id: claude-only, pricing: {{ prompt: 1, completion: 2 }} }}] }}
"#
    )
}

#[tokio::test]
async fn what_the_other_format_cannot_express_is_refused_naming_it_unless_a_native_provider_serves_it() {
    let mock = Mock::start().await;
    let gw = Gateway::start(GatewayOpts::new(both_kinds(mock.addr))).await;
    // `n: 2` has no Anthropic equivalent: the OpenAI-kind provider serves it.
    let mut body = chat("dual");
    body["n"] = json!(2);
    let resp = gw.post("/v1/chat/completions", &body, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(mock.last().path, "/v1/chat/completions");
    // With only the Anthropic-kind provider left, it is a 400 that names the field.
    body["model"] = json!("claude-only");
    let (status, code, msg) = error_of(gw.post("/v1/chat/completions", &body, &[]).await).await;
    assert_eq!((status, code.as_str()), (400, "VALIDATION_ERROR"));
    assert!(msg.contains("`n`"), "{msg}");
    let mut audio = chat("claude-only");
    audio["messages"][0]["content"] = json!([{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]);
    let (status, _, msg) = error_of(gw.post("/v1/chat/completions", &audio, &[]).await).await;
    assert_eq!(status, 400);
    assert!(msg.contains("input_audio") || msg.contains("messages[0].content[0]"), "{msg}");
    assert_eq!(mock.recorder.len(), 1, "nothing refused reached a provider");
}

#[tokio::test]
async fn a_provider_error_reaches_the_client_in_its_own_format_and_costs_nothing() {
    let (_mock, gw) = standard().await;
    let resp = gw
        .post("/v1/chat/completions", &chat("claude-test"), &[("x-mock-status", "429")])
        .await;
    assert_eq!(resp.status(), 429);
    let id = request_id(&resp);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("429"), "{v}");
    assert!(v.get("type").is_none(), "OpenAI's shape, not Anthropic's: {v}");
    let o = gw.outcome(&id).await;
    assert_eq!((o["status"].as_str(), o["buyer_cost_usdc"].as_i64()), (Some("upstream_rejected"), Some(0)));

    let resp = gw.post("/v1/messages", &message("gpt-test"), &[("x-mock-status", "400")]).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error", "Anthropic's shape: {v}");
}

#[tokio::test]
async fn with_translation_off_each_format_keeps_to_its_own_providers() {
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(standard_providers(mock.addr));
    opts.server = "  translation: false\n".into();
    let gw = Gateway::start(opts).await;
    let (status, _, msg) = error_of(gw.post("/v1/chat/completions", &chat("claude-test"), &[]).await).await;
    assert_eq!(status, 400);
    assert!(msg.contains("not served over the OpenAI Chat Completions"), "{msg}");
    assert_eq!(mock.recorder.len(), 0);
}
