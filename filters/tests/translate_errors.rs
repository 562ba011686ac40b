//! Provider error bodies reach the client in its own format's error shape, whatever the
//! provider sent; mid-stream errors end the client's stream in its format.

mod translate_support;

use serde_json::{json, Value};
use tollgate_filters::translate::{translate_error_body, Direction};
use translate_support::{events, translate_stream, Event};

fn error_of(dir: Direction, status: u16, body: &[u8]) -> Value {
    serde_json::from_slice(&translate_error_body(dir, status, body)).expect("an error body is JSON")
}

#[test]
fn anthropic_errors_take_openais_shape() {
    let cases: [(u16, &[u8], Value); 5] = [
        (
            529,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#,
            json!({"error": {"message": "Overloaded", "type": "server_error", "param": null, "code": "overloaded_error"}}),
        ),
        (
            400,
            br#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: 100000 > 64000, which is the maximum"}}"#,
            json!({"error": {"message": "max_tokens: 100000 > 64000, which is the maximum", "type": "invalid_request_error", "param": null, "code": "invalid_request_error"}}),
        ),
        (
            429,
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#,
            json!({"error": {"message": "Number of request tokens has exceeded your per-minute rate limit", "type": "rate_limit_error", "param": null, "code": "rate_limit_error"}}),
        ),
        (
            502,
            b"<html><body>Bad gateway</body></html>",
            json!({"error": {"message": "the provider answered HTTP 502 without an error message", "type": "server_error", "param": null, "code": null}}),
        ),
        (
            401,
            b"",
            json!({"error": {"message": "the provider answered HTTP 401 without an error message", "type": "authentication_error", "param": null, "code": null}}),
        ),
    ];
    for (status, body, expected) in cases {
        assert_eq!(
            error_of(Direction::OpenAiToAnthropic, status, body),
            expected,
            "{status}"
        );
    }
}

#[test]
fn openai_errors_take_anthropics_shape() {
    let cases: [(u16, &[u8], Value); 5] = [
        (
            429,
            br#"{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit reached for gpt-4o"}}),
        ),
        (
            400,
            br#"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "This model's maximum context length is 128000 tokens."}}),
        ),
        (
            500,
            br#"{"object":"error","message":"CUDA out of memory","type":"InternalServerError","param":null,"code":500}"#,
            json!({"type": "error", "error": {"type": "api_error", "message": "CUDA out of memory"}}),
        ),
        (
            503,
            br#"{"error":"Service Unavailable"}"#,
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Service Unavailable"}}),
        ),
        (
            404,
            b"not json",
            json!({"type": "error", "error": {"type": "not_found_error", "message": "the provider answered HTTP 404 without an error message"}}),
        ),
    ];
    for (status, body, expected) in cases {
        assert_eq!(
            error_of(Direction::AnthropicToOpenAi, status, body),
            expected,
            "{status}"
        );
    }
}

fn stream_events(dir: Direction, input: &str) -> Vec<Event> {
    events(&translate_stream(dir, [input.as_bytes()]))
}

fn data(value: Value) -> Event {
    Event::Data {
        name: None,
        data: value,
    }
}

fn named(name: &str, value: Value) -> Event {
    Event::Data {
        name: Some(name.into()),
        data: value,
    }
}

#[test]
fn an_anthropic_error_before_anything_else_ends_the_openai_stream() {
    let input = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n\
                 event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"c\",\"usage\":{\"input_tokens\":1}}}\n\n";
    assert_eq!(
        stream_events(Direction::OpenAiToAnthropic, input),
        [data(
            json!({"error": {"message": "Overloaded", "type": "server_error", "param": null, "code": "overloaded_error"}})
        )]
    );
}

#[test]
fn an_openai_error_event_ends_the_anthropic_stream() {
    let input = "event: error\ndata: {\"error\":{\"message\":\"quota exceeded\",\"type\":\"insufficient_quota\"}}\n\n\
                 data: [DONE]\n\n";
    assert_eq!(
        stream_events(Direction::AnthropicToOpenAi, input),
        [named(
            "error",
            json!({"type": "error", "error": {"type": "billing_error", "message": "quota exceeded"}})
        )]
    );
}
