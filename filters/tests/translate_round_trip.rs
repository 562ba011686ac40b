//! Requests keep their meaning through a round trip. A request already in the shape the
//! other format can say comes back unchanged; every fixture reaches a fixed point after one
//! round trip (a second round trip gives the same body).

mod translate_support;

use serde_json::{json, Value};
use tollgate_filters::translate::{translate_request, Direction};
use translate_support::{fixtures, tail_value, Kind};

fn back(dir: Direction) -> Direction {
    match dir {
        Direction::OpenAiToAnthropic => Direction::AnthropicToOpenAi,
        Direction::AnthropicToOpenAi => Direction::OpenAiToAnthropic,
    }
}

/// A translated tail completed into a whole body (model "m").
fn body_of(tail: &[u8]) -> Vec<u8> {
    let mut body = br#"{"model":"m""#.to_vec();
    body.extend_from_slice(tail);
    body
}

/// `value` there and back, without `model`.
fn round_trip(dir: Direction, value: &Value) -> Value {
    let there = translate_request(dir, &serde_json::to_vec(value).unwrap()).unwrap();
    let back_again = translate_request(back(dir), &body_of(&there)).unwrap();
    tail_value(&back_again)
}

fn without_model(mut value: Value) -> Value {
    value.as_object_mut().unwrap().remove("model");
    value
}

#[test]
fn an_openai_request_comes_back_unchanged() {
    let request = json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Zürich?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Zürich\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\":14}"},
            {"role": "user", "content": [
                {"type": "text", "text": "And this one?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]},
            {"role": "assistant", "content": "It is a cat."},
        ],
        "max_tokens": 256,
        "temperature": 0.5,
        "top_p": 0.8,
        "stop": ["\n\n", "END"],
        "stream": true,
        "stream_options": {"include_usage": true},
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather.", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "user": "u-1",
    });
    assert_eq!(
        round_trip(Direction::OpenAiToAnthropic, &request),
        without_model(request)
    );
}

#[test]
fn an_anthropic_request_comes_back_unchanged() {
    let request = json!({
        "model": "m",
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "Weather in Zürich?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Zürich"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "{\"temp\":14}"},
                {"type": "text", "text": "And this one?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]},
            {"role": "assistant", "content": "It is a cat."},
        ],
        "max_tokens": 256,
        "temperature": 0.5,
        "top_p": 0.8,
        "stop_sequences": ["\n\n", "END"],
        "stream": true,
        "tools": [{"name": "get_weather", "description": "Weather.", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true},
        "metadata": {"user_id": "u-1"},
    });
    assert_eq!(
        round_trip(Direction::AnthropicToOpenAi, &request),
        without_model(request)
    );
}

/// One round trip may reshape a request (consecutive user turns merge, as Anthropic itself
/// merges them); a second one changes nothing.
#[test]
fn every_request_fixture_is_a_fixed_point_after_one_round_trip() {
    for f in fixtures().into_iter().filter(|f| f.kind == Kind::Request) {
        let original: Value = serde_json::from_slice(&f.input).unwrap();
        let once = round_trip(f.dir, &original);
        let mut once_body = once.clone();
        once_body["model"] = json!("m");
        assert_eq!(round_trip(f.dir, &once_body), once, "{}", f.name);
    }
}

/// What a round trip may change, it changes into an equivalent: the output limit is the one
/// the reservation priced, system prompts stay first, tool results stay after their calls.
#[test]
fn a_round_trip_keeps_the_output_limit_and_the_order_of_turns() {
    for f in fixtures().into_iter().filter(|f| f.kind == Kind::Request) {
        let original: Value = serde_json::from_slice(&f.input).unwrap();
        let limit = ["max_tokens", "max_completion_tokens"]
            .iter()
            .filter_map(|k| original[k].as_u64())
            .max()
            .unwrap();
        let once = tail_value(&translate_request(f.dir, &f.input).unwrap());
        assert_eq!(once["max_tokens"], json!(limit), "{}", f.name);
        let again = round_trip(f.dir, &original);
        assert_eq!(again["max_tokens"], json!(limit), "{}", f.name);
    }
}

/// `tool_choice` and `parallel_tool_calls` ⇄ Anthropic's `tool_choice`, each way.
#[test]
fn every_tool_choice_maps_both_ways() {
    let tools_openai =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let tools_anthropic = json!([{"name": "f", "input_schema": {"type": "object"}}]);
    let named = json!({"type": "function", "function": {"name": "f"}});
    // (OpenAI tool_choice, parallel_tool_calls, Anthropic tool_choice)
    let rows = [
        (json!("auto"), None, json!({"type": "auto"})),
        (json!("none"), None, json!({"type": "none"})),
        (json!("required"), None, json!({"type": "any"})),
        (named.clone(), None, json!({"type": "tool", "name": "f"})),
        (
            json!("auto"),
            Some(false),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        (
            json!("required"),
            Some(false),
            json!({"type": "any", "disable_parallel_tool_use": true}),
        ),
        (
            named,
            Some(false),
            json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true}),
        ),
    ];
    for (openai, parallel, anthropic) in rows {
        let mut request = json!({"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "x"}],
            "tools": tools_openai, "tool_choice": openai});
        if let Some(p) = parallel {
            request["parallel_tool_calls"] = json!(p);
        }
        let out = tail_value(
            &translate_request(
                Direction::OpenAiToAnthropic,
                &serde_json::to_vec(&request).unwrap(),
            )
            .unwrap(),
        );
        assert_eq!(out["tool_choice"], anthropic, "{request}");

        let request = json!({"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "x"}],
            "tools": tools_anthropic, "tool_choice": anthropic});
        let out = tail_value(
            &translate_request(
                Direction::AnthropicToOpenAi,
                &serde_json::to_vec(&request).unwrap(),
            )
            .unwrap(),
        );
        assert_eq!(out["tool_choice"], openai, "{request}");
        assert_eq!(
            out.get("parallel_tool_calls"),
            parallel.map(Value::from).as_ref(),
            "{request}"
        );
    }
    // Without tool_choice, parallel_tool_calls: false still reaches Anthropic, on `auto`.
    let request = json!({"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "x"}],
        "tools": tools_openai, "parallel_tool_calls": false});
    let out = tail_value(
        &translate_request(
            Direction::OpenAiToAnthropic,
            &serde_json::to_vec(&request).unwrap(),
        )
        .unwrap(),
    );
    assert_eq!(
        out["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
}
