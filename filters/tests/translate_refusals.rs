//! What one format cannot say is refused with an error naming the field, never dropped; values
//! that ask for nothing are accepted and left out.

mod translate_support;

use serde_json::{json, Value};
use tollgate_filters::translate::{translate_request, Direction};
use translate_support::tail_value;

/// A minimal valid request of the client's format with `patch`'s members set on top (a
/// `messages` in the patch replaces the default conversation).
fn body(dir: Direction, patch: Value) -> Vec<u8> {
    let mut base = json!({
        "model": "m",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hi"}],
    });
    if dir == Direction::OpenAiToAnthropic {
        base["stream"] = json!(false);
    }
    for (k, v) in patch.as_object().unwrap() {
        base[k] = v.clone();
    }
    serde_json::to_vec(&base).unwrap()
}

fn openai_refusals() -> Vec<(&'static str, Value)> {
    let tool_call =
        json!({"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}});
    vec![
        ("n", json!({"n": 2})),
        ("logprobs", json!({"logprobs": true})),
        ("top_logprobs", json!({"top_logprobs": 3})),
        ("logit_bias", json!({"logit_bias": {"50256": -100}})),
        ("presence_penalty", json!({"presence_penalty": 0.5})),
        ("frequency_penalty", json!({"frequency_penalty": -1})),
        ("seed", json!({"seed": 42})),
        (
            "response_format",
            json!({"response_format": {"type": "json_object"}}),
        ),
        (
            "response_format",
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}}),
        ),
        (
            "audio",
            json!({"audio": {"voice": "alloy", "format": "mp3"}}),
        ),
        ("modalities", json!({"modalities": ["text", "audio"]})),
        (
            "functions",
            json!({"functions": [{"name": "f", "parameters": {}}]}),
        ),
        ("function_call", json!({"function_call": "auto"})),
        ("reasoning_effort", json!({"reasoning_effort": "high"})),
        (
            "prediction",
            json!({"prediction": {"type": "content", "content": "x"}}),
        ),
        ("web_search_options", json!({"web_search_options": {}})),
        ("store", json!({"store": true})),
        ("verbosity", json!({"verbosity": "low"})),
        ("service_tier", json!({"service_tier": "flex"})),
        ("temperature", json!({"temperature": 1.5})),
        (
            "safety_identifier",
            json!({"user": "a", "safety_identifier": "b"}),
        ),
        (
            "stream_options.chunk_size",
            json!({"stream_options": {"include_usage": true, "chunk_size": 4}}),
        ),
        ("x_unknown", json!({"x_unknown": 1})),
        (
            "messages[1].role",
            json!({"messages": [
            {"role": "user", "content": "Hi"},
            {"role": "system", "content": "Late system prompt"}]}),
        ),
        (
            "messages[1].role",
            json!({"messages": [
            {"role": "user", "content": "Hi"},
            {"role": "function", "name": "f", "content": "{}"}]}),
        ),
        (
            "messages[0].content[1].type",
            json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "Listen"},
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]}),
        ),
        (
            "messages[0].content[0].type",
            json!({"messages": [{"role": "user", "content": [
            {"type": "file", "file": {"file_id": "file-1"}}]}]}),
        ),
        (
            "messages[0].content[0].image_url.url",
            json!({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/svg+xml;utf8,<svg/>"}}]}]}),
        ),
        (
            "messages[0].name",
            json!({"messages": [{"role": "user", "name": "alice", "content": "Hi"}]}),
        ),
        (
            "messages[0].x_unknown",
            json!({"messages": [{"role": "user", "content": "Hi", "x_unknown": 1}]}),
        ),
        (
            "messages[1].audio",
            json!({"messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": null, "audio": {"id": "audio_1"}}]}),
        ),
        (
            "messages[1].tool_calls[0].type",
            json!({"messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "custom": {"name": "f", "input": "x"}}]}]}),
        ),
        (
            "messages[1].function_call",
            json!({"messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": null, "function_call": {"name": "f", "arguments": "{}"}, "tool_calls": [tool_call]}]}),
        ),
        (
            "tools[0].type",
            json!({"tools": [{"type": "custom", "custom": {"name": "f"}}]}),
        ),
        (
            "tool_choice.type",
            json!({"tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}}),
        ),
    ]
}

fn anthropic_refusals() -> Vec<(&'static str, Value)> {
    vec![
        ("top_k", json!({"top_k": 40})),
        (
            "thinking",
            json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}),
        ),
        ("container", json!({"container": "container_1"})),
        (
            "mcp_servers",
            json!({"mcp_servers": [{"type": "url", "url": "https://mcp.example.com", "name": "x"}]}),
        ),
        (
            "context_management",
            json!({"context_management": {"edits": []}}),
        ),
        ("service_tier", json!({"service_tier": "priority"})),
        (
            "stop_sequences",
            json!({"stop_sequences": ["a", "b", "c", "d", "e"]}),
        ),
        (
            "metadata.session",
            json!({"metadata": {"user_id": "u", "session": "s"}}),
        ),
        ("x_unknown", json!({"x_unknown": 1})),
        (
            "messages[0].content[1].type",
            json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "Summarise"},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}]}]}),
        ),
        (
            "messages[0].content[0].type",
            json!({"messages": [{"role": "user", "content": [
            {"type": "search_result", "source": "https://x", "title": "t", "content": [{"type": "text", "text": "x"}]}]}]}),
        ),
        (
            "messages[0].content[0].source.type",
            json!({"messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "file", "file_id": "file_1"}}]}]}),
        ),
        (
            "messages[1].content[0].type",
            json!({"messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "EmwKAhgB"}, {"type": "text", "text": "Yes"}]},
            {"role": "user", "content": "Go on"}]}),
        ),
        (
            "messages[2].content[0].content[1].type",
            json!({"messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
                {"type": "text", "text": "Screenshot:"},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]}]}),
        ),
        (
            "messages[0].content[0].citations",
            json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "Hi", "citations": []}]}]}),
        ),
        (
            "tools[0].type",
            json!({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
        ),
        (
            "tools[0].type",
            json!({"tools": [{"type": "bash_20250124", "name": "bash"}]}),
        ),
    ]
}

#[test]
fn every_inexpressible_field_is_refused_by_name() {
    let cases = openai_refusals()
        .into_iter()
        .map(|(field, patch)| (Direction::OpenAiToAnthropic, field, patch))
        .chain(
            anthropic_refusals()
                .into_iter()
                .map(|(field, patch)| (Direction::AnthropicToOpenAi, field, patch)),
        );
    for (dir, field, patch) in cases {
        let err = translate_request(dir, &body(dir, patch.clone()))
            .expect_err(&format!("{dir:?} accepted {patch}"));
        assert_eq!(err.field, field, "{dir:?} {patch}: {err}");
        let target = match dir {
            Direction::OpenAiToAnthropic => "the Anthropic Messages API",
            Direction::AnthropicToOpenAi => "the OpenAI Chat Completions API",
        };
        assert!(
            err.to_string().starts_with(&format!(
                "field `{field}` cannot be expressed in {target}: "
            )),
            "{err}"
        );
    }
}

#[test]
fn the_error_reads_as_a_sentence() {
    let err = translate_request(
        Direction::OpenAiToAnthropic,
        &body(Direction::OpenAiToAnthropic, json!({"n": 3})),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "field `n` cannot be expressed in the Anthropic Messages API: only one completion per request (n = 1)"
    );
}

#[test]
fn malformed_values_are_named_too() {
    let cases = [
        (
            Direction::OpenAiToAnthropic,
            json!({"max_tokens": 0}),
            "max_tokens",
        ),
        (
            Direction::OpenAiToAnthropic,
            json!({"temperature": "hot"}),
            "temperature",
        ),
        (Direction::OpenAiToAnthropic, json!({"stop": 7}), "stop"),
        (
            Direction::OpenAiToAnthropic,
            json!({"messages": [{"role": "robot", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            Direction::OpenAiToAnthropic,
            json!({"messages": [{"role": "user", "content": "a"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1,2]"}}]}]}),
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            Direction::AnthropicToOpenAi,
            json!({"temperature": 1.5}),
            "temperature",
        ),
        (
            Direction::AnthropicToOpenAi,
            json!({"messages": [{"role": "system", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            Direction::AnthropicToOpenAi,
            json!({"messages": [{"role": "user"}]}),
            "messages[0].content",
        ),
    ];
    for (dir, patch, field) in cases {
        let err = translate_request(dir, &body(dir, patch.clone())).expect_err(&patch.to_string());
        assert_eq!(err.field, field, "{patch}: {err}");
    }
    let err = translate_request(Direction::OpenAiToAnthropic, b"{\"model\":").unwrap_err();
    assert_eq!(err.field, "");
    let err = translate_request(
        Direction::AnthropicToOpenAi,
        b"{\"model\":\"m\",\"model\":\"n\"}",
    )
    .unwrap_err();
    assert_eq!(err.field, "model");
}

#[test]
fn neutral_values_are_accepted_and_left_out() {
    let openai = json!({
        "n": 1, "logprobs": false, "top_logprobs": 0, "logit_bias": {}, "presence_penalty": 0,
        "frequency_penalty": 0.0, "seed": null, "response_format": {"type": "text"},
        "audio": null, "modalities": ["text"], "functions": null, "function_call": null,
        "reasoning_effort": null, "prediction": null, "web_search_options": null,
        "store": false, "verbosity": null, "service_tier": "default", "parallel_tool_calls": true,
        "metadata": {"team": "x"}, "prompt_cache_key": "k", "user": null, "temperature": null,
        "tool_choice": "none",
    });
    let out = tail_value(
        &translate_request(
            Direction::OpenAiToAnthropic,
            &body(Direction::OpenAiToAnthropic, openai),
        )
        .unwrap(),
    );
    let keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["max_tokens", "messages", "stream"], "{out}");

    let anthropic = json!({
        "top_k": null, "thinking": {"type": "disabled"}, "container": null, "mcp_servers": null,
        "service_tier": "auto", "context_management": null, "stop_sequences": ["a", "b", "c", "d"],
    });
    let out = tail_value(
        &translate_request(
            Direction::AnthropicToOpenAi,
            &body(Direction::AnthropicToOpenAi, anthropic),
        )
        .unwrap(),
    );
    let keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["max_tokens", "messages", "stop"], "{out}");
}
