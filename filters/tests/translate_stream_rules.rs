//! Stream behaviours the fixtures do not show: malformed and oversized events, interleaved
//! and whole tool calls, keep-alives, and what `finish` may and may not add.

mod translate_support;

use serde_json::{json, Value};
use tollgate_filters::translate::{Direction, StreamTranslator};
use translate_support::{events, translate_stream, Event, CREATED};

const TO_OPENAI: Direction = Direction::OpenAiToAnthropic;
const TO_ANTHROPIC: Direction = Direction::AnthropicToOpenAi;

fn stream_events(dir: Direction, input: &str) -> Vec<Event> {
    events(&translate_stream(dir, [input.as_bytes()]))
}

/// The data payloads of an output, comments left out.
fn payloads(events: &[Event]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Data { data, .. } => Some(data.clone()),
            Event::Comment(_) => None,
        })
        .collect()
}

fn openai_chunk(choice: Value) -> String {
    let chunk = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "g", "choices": [choice]});
    format!("data: {chunk}\n\n")
}

#[test]
fn a_malformed_payload_is_skipped_and_the_stream_goes_on() {
    let input = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"c\"}}\n\n\
                 event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\n\n\
                 event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
                 event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n";
    let out = payloads(&stream_events(TO_OPENAI, input));
    assert_eq!(out.len(), 2);
    assert_eq!(out[1]["choices"][0]["delta"], json!({"content": "ok"}));
}

#[test]
fn an_event_over_8_mib_is_skipped_however_it_arrives() {
    let big = "x".repeat(9 << 20);
    let input = format!(
        "{}{}{}",
        openai_chunk(json!({"index": 0, "delta": {"content": "a"}})),
        openai_chunk(json!({"index": 0, "delta": {"content": big}})),
        openai_chunk(json!({"index": 0, "delta": {"content": "b"}})),
    );
    let whole = translate_stream(TO_ANTHROPIC, [input.as_bytes()]);
    let texts: Vec<Value> = payloads(&events(&whole))
        .into_iter()
        .filter_map(|p| p["delta"].get("text").cloned())
        .collect();
    assert_eq!(texts, [json!("a"), json!("b")]);
    let cut = input.len() / 2;
    let split = translate_stream(
        TO_ANTHROPIC,
        [&input.as_bytes()[..cut], &input.as_bytes()[cut..]],
    );
    assert!(split == whole);
}

#[test]
fn whole_tool_calls_in_one_chunk_open_one_block_each() {
    let input = openai_chunk(
        json!({"index": 0, "delta": {"role": "assistant", "tool_calls": [
        {"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}},
        {"index": 1, "id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}}),
    ) + &openai_chunk(json!({"index": 0, "delta": {}, "finish_reason": "tool_calls"}))
        + "data: [DONE]\n\n";
    let out = payloads(&stream_events(TO_ANTHROPIC, &input));
    let kinds: Vec<(String, Value)> = out
        .iter()
        .map(|p| (p["type"].as_str().unwrap().to_owned(), p["index"].clone()))
        .collect();
    let expected = [
        ("message_start", Value::Null),
        ("content_block_start", json!(0)),
        ("content_block_delta", json!(0)),
        ("content_block_stop", json!(0)),
        ("content_block_start", json!(1)),
        ("content_block_delta", json!(1)),
        ("content_block_stop", json!(1)),
        ("message_delta", Value::Null),
        ("message_stop", Value::Null),
    ];
    let expected: Vec<(String, Value)> = expected
        .iter()
        .map(|(k, i)| (k.to_string(), i.clone()))
        .collect();
    assert_eq!(kinds, expected);
    assert_eq!(
        out[4]["content_block"],
        json!({"type": "tool_use", "id": "call_b", "name": "g", "input": {}})
    );
    assert_eq!(
        out[5]["delta"],
        json!({"type": "input_json_delta", "partial_json": "{}"})
    );
}

#[test]
fn interleaved_arguments_go_to_their_calls_block() {
    let input = openai_chunk(
        json!({"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "f", "arguments": ""}}]}}),
    ) + &openai_chunk(
        json!({"index": 0, "delta": {"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "g", "arguments": "{\"y\""}}]}}),
    ) + &openai_chunk(
        json!({"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"x\":1}"}}]}}),
    );
    let out = payloads(&stream_events(TO_ANTHROPIC, &input));
    let last = out.last().unwrap();
    assert_eq!(last["index"], json!(0));
    assert_eq!(last["delta"]["partial_json"], json!("{\"x\":1}"));
}

#[test]
fn keep_alives_become_comments() {
    let out = stream_events(TO_OPENAI, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
    assert_eq!(out, [Event::Comment("ping".into())]);
    let out = stream_events(TO_ANTHROPIC, ": OPENROUTER PROCESSING\n\n");
    assert_eq!(out, [Event::Comment("ping".into())]);
}

#[test]
fn finish_invents_no_end_for_a_cut_stream_and_adds_nothing_twice() {
    // Finish reason without usage and without [DONE]: cut, no message_delta.
    let input = openai_chunk(json!({"index": 0, "delta": {"content": "Hi"}}))
        + &openai_chunk(json!({"index": 0, "delta": {}, "finish_reason": "stop"}));
    let out = payloads(&stream_events(TO_ANTHROPIC, &input));
    assert!(out
        .iter()
        .all(|p| p["type"] != "message_delta" && p["type"] != "message_stop"));

    // Anthropic stream without message_stop: no usage chunk, no [DONE].
    let input = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"c\"}}\n\n\
                 event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n";
    let out = payloads(&stream_events(TO_OPENAI, input));
    assert_eq!(out.len(), 2, "role chunk and finish chunk only: {out:?}");

    // Finishing twice adds nothing the second time.
    let mut translator = StreamTranslator::new(TO_OPENAI, CREATED);
    let mut out = Vec::new();
    translator.feed(
        b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n",
        &mut out,
    );
    translator.finish(&mut out);
    let once = out.len();
    translator.finish(&mut out);
    assert_eq!(out.len(), once);
    assert!(String::from_utf8(out)
        .unwrap()
        .ends_with("data: [DONE]\n\n"));
}

#[test]
fn usage_in_the_finish_chunk_is_used_and_done_may_have_spaces() {
    let last = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "g",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 4}}});
    let input = format!("data: {last}\n\ndata:  [DONE] \n\n");
    let out = payloads(&stream_events(TO_ANTHROPIC, &input));
    let delta = out.iter().find(|p| p["type"] == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], json!("max_tokens"));
    assert_eq!(
        delta["usage"],
        json!({"input_tokens": 6, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4, "output_tokens": 5})
    );
}
