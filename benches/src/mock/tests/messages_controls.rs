//! Anthropic messages controls added for translation tests (thinking, forced stop
//! reasons, text before parallel tool use, cumulative usage) and `count_tokens`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{chat, event_names, post, streamed, tok};
use crate::mock::{spawn_mock, MockDefaults};

/// Anthropic's usage as `message_start` and whole messages carry it.
#[derive(Deserialize, Debug, PartialEq)]
struct Usage {
    input_tokens: u64,
    output_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    cache_creation: CacheCreation,
}

#[derive(Deserialize, Debug, PartialEq)]
struct CacheCreation {
    ephemeral_5m_input_tokens: u64,
    ephemeral_1h_input_tokens: u64,
}

#[tokio::test]
async fn thinking_block_comes_before_the_text() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let model = "claude@thinking=3,output_tokens=2";
    let v = post(addr, "/v1/messages", &[], chat(model)).await.json();
    let content = v["content"].as_array().unwrap();
    assert_eq!(content[0]["type"], "thinking");
    assert_eq!(content[0]["thinking"], "hmm ".repeat(3));
    assert!(content[0]["signature"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert_eq!(content[1], json!({"type": "text", "text": tok(2)}));
    assert_eq!(
        v["usage"]["output_tokens"],
        2 + 3,
        "thinking is billed as output"
    );
    assert_eq!(v["usage"]["output_tokens_details"]["thinking_tokens"], 3);

    let reply = post(addr, "/v1/messages", &[], streamed(model)).await;
    assert_eq!(
        event_names(&reply),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let events = reply.json_events();
    assert_eq!(
        events[1]["content_block"],
        json!({"type": "thinking", "thinking": "", "signature": ""})
    );
    let thinking: String = events
        .iter()
        .filter(|e| e["delta"]["type"] == "thinking_delta")
        .map(|e| e["delta"]["thinking"].as_str().unwrap())
        .collect();
    assert_eq!(thinking, "hmm ".repeat(3));
    assert_eq!(events[6]["delta"]["type"], "signature_delta");
    assert_eq!(events[6]["index"], 0);
    assert_eq!(events[8]["index"], 1);
    assert_eq!(events[8]["content_block"]["type"], "text");
    assert!(events[9..11].iter().all(|e| e["index"] == 1));
    assert_eq!(events[12]["usage"]["output_tokens"], 5);
}

#[tokio::test]
async fn stop_reason_control() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let cases = [
        ("stop_reason=max_tokens", "max_tokens", Value::Null),
        ("finish_reason=length", "max_tokens", Value::Null),
        ("stop_reason=stop_sequence", "stop_sequence", json!("STOP")),
        ("stop_reason=refusal", "refusal", Value::Null),
        ("refusal", "refusal", Value::Null),
    ];
    for (control, stop_reason, stop_sequence) in cases {
        let model = format!("claude@{control}");
        let v = post(addr, "/v1/messages", &[], chat(&model)).await.json();
        assert_eq!(v["stop_reason"], stop_reason, "{control}");
        assert_eq!(v["stop_sequence"], stop_sequence, "{control}");
        let events = post(addr, "/v1/messages", &[], streamed(&model))
            .await
            .json_events();
        let delta = &events[events.len() - 2];
        assert_eq!(delta["delta"]["stop_reason"], stop_reason, "{control}");
        assert_eq!(delta["delta"]["stop_sequence"], stop_sequence, "{control}");
    }
}

#[tokio::test]
async fn text_before_parallel_tool_use() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let mut body = chat("claude@text_before_tool,tool_calls=2,output_tokens=2");
    body["tools"] = json!([{"name": "lookup", "input_schema": {"type": "object"}}]);
    let v = post(addr, "/v1/messages", &[], body.clone()).await.json();
    let types: Vec<&str> = v["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["text", "tool_use", "tool_use"]);
    assert_ne!(v["content"][1]["id"], v["content"][2]["id"]);
    assert_eq!(v["content"][2]["input"], json!({"location": "Paris"}));
    assert_eq!(v["stop_reason"], "tool_use");

    body["stream"] = json!(true);
    let events = post(addr, "/v1/messages", &[], body).await.json_events();
    let starts: Vec<(u64, &str)> = events
        .iter()
        .filter(|e| e["type"] == "content_block_start")
        .map(|e| {
            (
                e["index"].as_u64().unwrap(),
                e["content_block"]["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(starts, [(0, "text"), (1, "tool_use"), (2, "tool_use")]);
    for index in [1, 2] {
        let partial: String = events
            .iter()
            .filter(|e| e["index"] == index)
            .filter_map(|e| e["delta"]["partial_json"].as_str())
            .collect();
        assert_eq!(partial, r#"{"location":"Paris"}"#);
    }
    let stops = events
        .iter()
        .filter(|e| e["type"] == "content_block_stop")
        .count();
    assert_eq!(stops, 3);
}

#[tokio::test]
async fn message_delta_repeats_the_cumulative_usage() {
    let defaults = MockDefaults {
        cache_read_tokens: 100,
        cache_write_5m_tokens: 20,
        cache_write_1h_tokens: 3,
        ..MockDefaults::default()
    };
    let (addr, _, _mock) = spawn_mock(defaults).await;
    let events = post(
        addr,
        "/v1/messages",
        &[],
        streamed("claude@output_tokens=4"),
    )
    .await
    .json_events();
    let start: Usage = serde_json::from_value(events[0]["message"]["usage"].clone()).unwrap();
    assert_eq!(
        start,
        Usage {
            input_tokens: 12,
            output_tokens: 1,
            cache_creation_input_tokens: 23,
            cache_read_input_tokens: 100,
            cache_creation: CacheCreation {
                ephemeral_5m_input_tokens: 20,
                ephemeral_1h_input_tokens: 3,
            },
        }
    );
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(
        delta["usage"],
        json!({"input_tokens": 12, "cache_creation_input_tokens": 23, "cache_read_input_tokens": 100, "output_tokens": 4})
    );
}

#[tokio::test]
async fn count_tokens_answers_the_input_tokens() {
    let (addr, recorder, _mock) = spawn_mock(MockDefaults::default()).await;
    let body = json!({"model": "claude@input_tokens=321", "messages": [{"role": "user", "content": "hi"}]});
    let reply = post(addr, "/v1/messages/count_tokens", &[], body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"input_tokens": 321}));
    assert!(reply.headers.contains_key("anthropic-organization-id"));
    assert_eq!(recorder.requests()[0].path, "/v1/messages/count_tokens");

    let image = json!({"type": "image", "source": {"type": "url", "url": "https://e/x.png"}});
    let body = json!({"model": "claude@image_tokens=50", "messages": [{"role": "user", "content": [image]}]});
    let reply = post(addr, "/messages/count_tokens", &[], body).await;
    assert_eq!(reply.json(), json!({"input_tokens": 62}));

    for (body, field) in [
        (json!({"messages": []}), "model"),
        (json!({"model": "claude"}), "messages"),
    ] {
        let reply = post(addr, "/v1/messages/count_tokens", &[], body).await;
        assert_eq!(reply.status, 400);
        let v = reply.json();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["message"], format!("{field}: Field required"));
    }
    let reply = post(
        addr,
        "/v1/messages/count_tokens",
        &[("x-mock-status", "529")],
        json!({}),
    )
    .await;
    assert_eq!(reply.status, 529);
    assert_eq!(reply.json()["error"]["type"], "overloaded_error");
}
