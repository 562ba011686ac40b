//! Chat-completions controls added for translation tests: reasoning and cached tokens,
//! forced finish reasons, refusals, text before parallel tool calls, image parts.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{chat, post, streamed, tok};
use crate::mock::{spawn_mock, MockDefaults};

/// OpenAI's chat usage, every field required.
#[derive(Deserialize, Debug, PartialEq)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

#[derive(Deserialize, Debug, PartialEq)]
struct PromptDetails {
    cached_tokens: u64,
}

#[derive(Deserialize, Debug, PartialEq)]
struct CompletionDetails {
    reasoning_tokens: u64,
}

fn weather_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {}}}
    ])
}

#[tokio::test]
async fn cached_and_reasoning_tokens_in_both_shapes() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let model = "gpt@cache_read_tokens=5,reasoning_tokens=3,output_tokens=2";
    let expected = Usage {
        prompt_tokens: 12 + 5,
        completion_tokens: 2 + 3,
        total_tokens: 22,
        prompt_tokens_details: PromptDetails { cached_tokens: 5 },
        completion_tokens_details: CompletionDetails {
            reasoning_tokens: 3,
        },
    };
    let v = post(addr, "/v1/chat/completions", &[], chat(model))
        .await
        .json();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        tok(2),
        "reasoning is hidden"
    );
    let usage: Usage = serde_json::from_value(v["usage"].clone()).unwrap();
    assert_eq!(usage, expected);

    let chunks = post(addr, "/v1/chat/completions", &[], streamed(model))
        .await
        .json_events();
    let usage: Usage = serde_json::from_value(chunks.last().unwrap()["usage"].clone()).unwrap();
    assert_eq!(usage, expected);
}

#[tokio::test]
async fn finish_reason_control() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let cases = [
        ("stop_reason=max_tokens", "length"),
        ("finish_reason=length", "length"),
        ("stop_reason=stop_sequence", "stop"),
        ("stop_reason=refusal", "content_filter"),
        ("finish_reason=content_filter", "content_filter"),
        ("stop_reason=end_turn", "stop"),
    ];
    for (control, finish) in cases {
        let model = format!("gpt@{control}");
        let v = post(addr, "/v1/chat/completions", &[], chat(&model))
            .await
            .json();
        assert_eq!(v["choices"][0]["finish_reason"], finish, "{control}");
        let chunks = post(addr, "/v1/chat/completions", &[], streamed(&model))
            .await
            .json_events();
        let last_choice = &chunks[chunks.len() - 2]["choices"][0];
        assert_eq!(last_choice["finish_reason"], finish, "{control} streamed");
    }
    // A forced stop wins over tool calls; a bad value is a 400.
    let mut body = chat("gpt@finish_reason=length");
    body["tools"] = weather_tools();
    let v = post(addr, "/v1/chat/completions", &[], body).await.json();
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert!(v["choices"][0]["message"]["tool_calls"].is_array());
    let reply = post(
        addr,
        "/v1/chat/completions",
        &[("x-mock-stop-reason", "bored")],
        chat("gpt"),
    )
    .await;
    assert_eq!(reply.status, 400);
}

#[tokio::test]
async fn refusal_control() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let mut body = chat("gpt@refusal,output_tokens=3");
    body["tools"] = weather_tools();
    let v = post(addr, "/v1/chat/completions", &[], body.clone())
        .await
        .json();
    let message = &v["choices"][0]["message"];
    assert!(message["content"].is_null());
    assert_eq!(message["refusal"], tok(3));
    assert!(
        message.get("tool_calls").is_none(),
        "a refusal calls no tool"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["completion_tokens"], 3);

    body["stream"] = json!(true);
    let chunks = post(addr, "/v1/chat/completions", &[], body)
        .await
        .json_events();
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    assert_eq!(deltas[0]["role"], "assistant");
    let refusal: String = deltas
        .iter()
        .filter_map(|d| d["refusal"].as_str())
        .collect();
    assert_eq!(refusal, tok(3));
    assert!(deltas.iter().all(|d| !d["content"].is_string()));
}

#[tokio::test]
async fn text_before_parallel_tool_calls() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let mut body = chat("gpt@text_before_tool,tool_calls=3,output_tokens=2");
    body["tools"] = weather_tools();
    let v = post(addr, "/v1/chat/completions", &[], body.clone())
        .await
        .json();
    let message = &v["choices"][0]["message"];
    assert_eq!(message["content"], tok(2));
    let calls = message["tool_calls"].as_array().unwrap();
    let names: Vec<&str> = calls
        .iter()
        .map(|c| c["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["get_weather", "get_time", "get_weather"]);
    let ids: std::collections::HashSet<&str> =
        calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");

    body["stream"] = json!(true);
    let chunks = post(addr, "/v1/chat/completions", &[], body)
        .await
        .json_events();
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    assert_eq!(deltas[0], &json!({"role": "assistant", "content": "tok "}));
    let text: String = deltas
        .iter()
        .filter_map(|d| d["content"].as_str())
        .collect();
    assert_eq!(text, tok(2));
    let mut arguments = [String::new(), String::new(), String::new()];
    let mut heads = Vec::new();
    for delta in &deltas {
        let Some(call) = delta["tool_calls"].get(0) else {
            continue;
        };
        assert!(delta.get("role").is_none(), "the role came with the text");
        let index = call["index"].as_u64().unwrap() as usize;
        if let Some(name) = call["function"]["name"].as_str() {
            heads.push((
                index,
                name.to_owned(),
                call["id"].as_str().unwrap().to_owned(),
            ));
        }
        arguments[index].push_str(call["function"]["arguments"].as_str().unwrap());
    }
    assert_eq!(heads.len(), 3);
    assert_eq!(heads[1].1, "get_time");
    assert_eq!(arguments, [r#"{"location":"Paris"}"#; 3].map(String::from));
    assert_eq!(
        chunks[chunks.len() - 1]["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn image_parts_are_billed_and_recorded() {
    let (addr, recorder, _mock) = spawn_mock(MockDefaults::default()).await;
    let content = json!([
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
    ]);
    let body =
        json!({"model": "gpt@image_tokens=85", "messages": [{"role": "user", "content": content}]});
    let v = post(addr, "/v1/chat/completions", &[], body).await.json();
    assert_eq!(v["usage"]["prompt_tokens"], 12 + 2 * 85);
    let recorded = recorder.requests().pop().unwrap();
    assert_eq!(
        recorded.json()["messages"][0]["content"][2]["image_url"]["detail"],
        "low"
    );

    let content = json!([
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "text", "text": "and these?"}
    ]);
    let body = json!({"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": content}]});
    let v = post(
        addr,
        "/v1/messages",
        &[("x-mock-image-tokens", "100")],
        body.clone(),
    )
    .await
    .json();
    assert_eq!(v["usage"]["input_tokens"], 12 + 200);
    let v = post(addr, "/v1/messages", &[], body).await.json();
    assert_eq!(
        v["usage"]["input_tokens"], 12,
        "images are free without the control"
    );
    assert_eq!(recorder.len(), 3);
}
