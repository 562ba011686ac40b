//! The mock's original behaviour: chat completions and messages, usage, faults, pacing.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use super::{chat, post, post_bytes, tok};
use crate::load::client::Connection;
use crate::mock::{spawn_mock, MockDefaults};

#[tokio::test]
async fn openai_non_stream_usage_and_text() {
    let defaults = MockDefaults {
        cache_read_tokens: 5,
        ..MockDefaults::default()
    };
    let (addr, _, _mock) = spawn_mock(defaults).await;
    let reply = post(
        addr,
        "/v1/chat/completions",
        &[("x-mock-output-tokens", "3")],
        chat("mock-1"),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    let v = reply.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "mock-1");
    assert_eq!(v["choices"][0]["index"], 0);
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], tok(3));
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 17);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 5);
    assert_eq!(v["usage"]["completion_tokens"], 3);
    assert_eq!(v["usage"]["total_tokens"], 20);
}

#[tokio::test]
async fn openai_stream_with_include_usage() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let mut body = chat("mock-1@output_tokens=4,input_tokens=7");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let reply = post(addr, "/chat/completions", &[], body).await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(!reply.aborted);
    let events = reply.events();
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks = reply.json_events();
    assert_eq!(chunks.len(), 4 + 2, "4 tokens, finish, usage");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, tok(4));
    for chunk in &chunks[..5] {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "mock-1@output_tokens=4,input_tokens=7");
        assert!(chunk.get("usage").is_some_and(Value::is_null));
    }
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    let usage_chunk = &chunks[5];
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["prompt_tokens"], 7);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 4);
    assert_eq!(usage_chunk["usage"]["total_tokens"], 11);
}

#[tokio::test]
async fn openai_stream_without_include_usage_has_no_usage() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let mut body = chat("mock-1");
    body["stream"] = json!(true);
    let reply = post(addr, "/v1/chat/completions", &[], body).await;
    let chunks = reply.json_events();
    assert_eq!(chunks.len(), 16 + 1);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
}

#[tokio::test]
async fn omit_usage_removes_usage_everywhere() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let omit = [("x-mock-omit-usage", "1")];
    let reply = post(addr, "/v1/chat/completions", &omit, chat("m")).await;
    assert!(reply.json().get("usage").is_none());

    let mut body = chat("m");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let reply = post(addr, "/v1/chat/completions", &omit, body).await;
    assert!(reply.json_events().iter().all(|c| c.get("usage").is_none()));
    assert_eq!(reply.json_events().len(), 17);

    let mut body = chat("claude@omit_usage=1");
    body["stream"] = json!(true);
    let reply = post(addr, "/v1/messages", &[], body).await;
    let events = reply.json_events();
    assert_eq!(events.first().unwrap()["type"], "message_start");
    assert!(events[0]["message"].get("usage").is_none());
    assert!(events.iter().all(|e| e.get("usage").is_none()));
    let reply = post(addr, "/v1/messages", &omit, chat("claude")).await;
    assert!(reply.json().get("usage").is_none());
}

#[tokio::test]
async fn anthropic_non_stream_usage() {
    let defaults = MockDefaults {
        cache_read_tokens: 100,
        cache_write_5m_tokens: 20,
        cache_write_1h_tokens: 3,
        ..MockDefaults::default()
    };
    let (addr, _, _mock) = spawn_mock(defaults).await;
    let reply = post(
        addr,
        "/v1/messages",
        &[("x-mock-output-tokens", "2")],
        chat("claude-x"),
    )
    .await;
    assert_eq!(reply.status, 200);
    let v = reply.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-x");
    assert_eq!(v["content"], json!([{"type": "text", "text": tok(2)}]));
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["stop_sequence"].is_null());
    let u = &v["usage"];
    assert_eq!(u["input_tokens"], 12);
    assert_eq!(u["cache_read_input_tokens"], 100);
    assert_eq!(u["cache_creation_input_tokens"], 23);
    assert_eq!(u["cache_creation"]["ephemeral_5m_input_tokens"], 20);
    assert_eq!(u["cache_creation"]["ephemeral_1h_input_tokens"], 3);
    assert_eq!(u["output_tokens"], 2);
}

#[tokio::test]
async fn anthropic_stream_shape() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let mut body = chat("claude@output_tokens=3,cache_write_1h_tokens=9");
    body["stream"] = json!(true);
    let reply = post(addr, "/messages", &[], body).await;
    let names: Vec<String> = reply
        .events()
        .into_iter()
        .map(|(e, _)| e.unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let events = reply.json_events();
    for (name, data) in reply.events() {
        let data: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(data["type"], name.unwrap().as_str());
    }
    let start = &events[0]["message"];
    assert_eq!(
        start["model"],
        "claude@output_tokens=3,cache_write_1h_tokens=9"
    );
    assert_eq!(start["usage"]["input_tokens"], 12);
    assert_eq!(start["usage"]["cache_creation_input_tokens"], 9);
    assert_eq!(
        start["usage"]["cache_creation"]["ephemeral_1h_input_tokens"],
        9
    );
    assert_eq!(start["usage"]["output_tokens"], 1);
    let text: String = events
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, tok(3));
    let delta = &events[7];
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    // Cumulative usage, as the real API repeats it (without the cache-write split).
    assert_eq!(
        delta["usage"],
        json!({"input_tokens": 12, "cache_creation_input_tokens": 9, "cache_read_input_tokens": 0, "output_tokens": 3})
    );
}

#[tokio::test]
async fn tools_produce_tool_calls() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let mut body = chat("gpt");
    body["tools"] =
        json!([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]);
    let v = post(addr, "/v1/chat/completions", &[], body.clone())
        .await
        .json();
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], r#"{"location":"Paris"}"#);
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v["usage"]["completion_tokens"], 16);

    body["stream"] = json!(true);
    let chunks = post(addr, "/v1/chat/completions", &[], body)
        .await
        .json_events();
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, r#"{"location":"Paris"}"#);
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );

    let mut body = chat("claude");
    body["tools"] = json!([{"name": "lookup", "input_schema": {"type": "object"}}]);
    let v = post(addr, "/v1/messages", &[], body.clone()).await.json();
    assert_eq!(v["content"][0]["type"], "tool_use");
    assert_eq!(v["content"][0]["name"], "lookup");
    assert_eq!(v["content"][0]["input"], json!({"location": "Paris"}));
    assert_eq!(v["stop_reason"], "tool_use");

    body["stream"] = json!(true);
    let events = post(addr, "/v1/messages", &[], body).await.json_events();
    assert_eq!(events[1]["content_block"]["type"], "tool_use");
    assert_eq!(events[1]["content_block"]["name"], "lookup");
    let partial: String = events
        .iter()
        .filter_map(|e| e["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(partial, r#"{"location":"Paris"}"#);
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["output_tokens"], 16);
}

#[tokio::test]
async fn status_control_uses_each_api_error_format() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let reply = post(
        addr,
        "/v1/chat/completions",
        &[("x-mock-status", "429")],
        chat("m"),
    )
    .await;
    assert_eq!(reply.status, 429);
    let v = reply.json();
    assert!(v["error"]["message"].is_string());
    assert!(v["error"]["type"].is_string());
    assert!(v["error"].get("code").is_some());

    let reply = post(addr, "/v1/messages", &[], chat("claude@status=503")).await;
    assert_eq!(reply.status, 503);
    let v = reply.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "overloaded_error");
    assert!(v["error"]["message"].is_string());
}

#[tokio::test]
async fn close_after_cuts_the_stream() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let mut body = chat("m");
    body["stream"] = json!(true);
    let reply = post(
        addr,
        "/v1/chat/completions",
        &[("x-mock-close-after", "3")],
        body,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.aborted);
    assert_eq!(reply.json_events().len(), 3);
    assert!(!reply.text().contains("[DONE]"));

    let reply = post(
        addr,
        "/v1/messages",
        &[("x-mock-close-after", "1")],
        chat("c"),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.aborted);
    let full_len: usize = reply.headers["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(reply.body.len(), full_len / 2);
}

#[tokio::test]
async fn malformed_sse_keeps_usage_correct() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let mut body = chat("m@malformed_sse=1,output_tokens=5");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let reply = post(addr, "/v1/chat/completions", &[], body.clone()).await;
    let blocks = reply.events();
    let unparseable = blocks
        .iter()
        .filter(|(_, d)| d != "[DONE]" && serde_json::from_str::<Value>(d).is_err())
        .count();
    assert_eq!(unparseable, 2, "garbage line and truncated event");
    let chunks = reply.json_events();
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 5);

    let mut body = chat("c@malformed_sse=1,output_tokens=5");
    body["stream"] = json!(true);
    let reply = post(addr, "/v1/messages", &[], body).await;
    assert!(reply.text().contains("mock garbage"));
    let events = reply.json_events();
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["usage"]["output_tokens"], 5);
}

#[tokio::test]
async fn recorder_keeps_large_bodies_and_headers() {
    let (addr, recorder, _mock) = spawn_mock(MockDefaults::default()).await;
    let filler = "x".repeat(5 << 20);
    let body = json!({"model": "m", "messages": [{"role": "user", "content": filler}]});
    let reply = post(
        addr,
        "/v1/chat/completions",
        &[("X-Trace", "abc")],
        body.clone(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(recorder.len(), 1);
    let request = &recorder.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.header("x-trace"), Some("abc"));
    assert_eq!(request.header("X-TRACE"), Some("abc"));
    assert_eq!(request.body.len(), body.to_string().len());
    assert_eq!(request.json()["model"], "m");
    recorder.clear();
    assert!(recorder.is_empty());
}

#[tokio::test]
async fn unknown_path_and_bad_body() {
    let (addr, recorder, _mock) = spawn_mock(MockDefaults::default()).await;
    let reply = post(addr, "/v1/audio/speech", &[], chat("m")).await;
    assert_eq!(reply.status, 404);
    assert!(reply.json()["error"]["message"].is_string());
    let reply = post_bytes(addr, "/v1/messages", &[], Bytes::from_static(b"{not json")).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["type"], "error");
    assert_eq!(recorder.len(), 2);
}

#[tokio::test]
async fn hang_never_answers_but_others_are_served() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let hung = tokio::time::timeout(
        Duration::from_millis(300),
        post(
            addr,
            "/v1/chat/completions",
            &[("x-mock-hang", "1")],
            chat("m"),
        ),
    )
    .await;
    assert!(hung.is_err(), "hang must not respond");
    let reply = post(addr, "/v1/chat/completions", &[], chat("m")).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn ttft_delays_the_first_token() {
    let (addr, _, _mock) = spawn_mock(MockDefaults::default()).await;
    let mut body = chat("m@ttft_ms=150,inter_token_ms=10,output_tokens=3");
    body["stream"] = json!(true);
    let started = Instant::now();
    let reply = post(addr, "/v1/chat/completions", &[], body).await;
    let first = reply.first_byte_after.unwrap();
    assert!(
        first >= Duration::from_millis(150),
        "first byte after {first:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(170));
    assert_eq!(reply.json_events().len(), 4);
}

#[tokio::test]
async fn aborting_serve_drops_open_connections() {
    let (addr, _, mock) = spawn_mock(MockDefaults::default()).await;
    let mut connection = Connection::open(&addr.to_string()).await.unwrap();
    let request = || {
        Request::post("/v1/chat/completions")
            .header("host", addr.to_string())
            .body(Full::new(Bytes::from(chat("m").to_string())))
            .unwrap()
    };
    let first = connection.send(request()).await.unwrap();
    first.into_body().collect().await.unwrap();
    mock.abort();
    let _ = mock.await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!connection.ready().await || connection.send(request()).await.is_err());
}
