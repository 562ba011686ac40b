//! The five usage buckets survive translation: the provider's body metered in the provider's
//! format and the translated body metered in the client's format say the same thing.
//!
//! Anthropic → OpenAI folds cache writes into the prompt (OpenAI has no cache-write bucket),
//! so there the client's uncached input is the provider's input plus both cache writes, and
//! the write split is checked in the usage object itself.

mod translate_support;

use serde_json::Value;
use tollgate_filters::translate::{translate_json_response, Direction};
use tollgate_filters::usage::{ApiFormat, BodyKind, MeterReport, UsageMeter};
use translate_support::{events, fixtures, translate_stream, Event, Kind, CREATED};

fn meter(format: ApiFormat, kind: BodyKind, body: &[u8]) -> MeterReport {
    let mut meter = UsageMeter::new(format, kind);
    meter.feed(body);
    meter.report()
}

fn formats(dir: Direction) -> (ApiFormat, ApiFormat) {
    match dir {
        Direction::OpenAiToAnthropic => (ApiFormat::Anthropic, ApiFormat::OpenAi),
        Direction::AnthropicToOpenAi => (ApiFormat::OpenAi, ApiFormat::Anthropic),
    }
}

/// The client's report says what the provider's did.
fn assert_same_usage(name: &str, dir: Direction, provider: &MeterReport, client: &MeterReport) {
    let (p, c) = (provider.usage, client.usage);
    assert_eq!(c.total(), p.total(), "{name}: total");
    assert_eq!(c.cache_read, p.cache_read, "{name}: cache read");
    assert_eq!(c.output, p.output, "{name}: output");
    match dir {
        Direction::OpenAiToAnthropic => {
            // prompt_tokens = input + cache writes + cache reads; cached_tokens = cache reads.
            assert_eq!(
                c.input,
                p.input + p.cache_write_5m + p.cache_write_1h,
                "{name}: input"
            );
        }
        Direction::AnthropicToOpenAi => assert_eq!(c, p, "{name}: buckets"),
    }
}

#[test]
fn streams_meter_the_same_in_both_formats() {
    let mut compared = 0;
    for f in fixtures().into_iter().filter(|f| f.kind == Kind::Stream) {
        let (provider_format, client_format) = formats(f.dir);
        let provider = meter(provider_format, BodyKind::EventStream, &f.input);
        let out = translate_stream(f.dir, [&f.input[..]]);
        let client = meter(client_format, BodyKind::EventStream, &out);
        // The one difference allowed: an OpenAI stream that sent its finish reason and usage
        // but no `[DONE]` is closed for an Anthropic client (stream_no_done).
        let closed_at_end = f.dir == Direction::AnthropicToOpenAi
            && !provider.complete
            && provider.usage_seen
            && !provider.upstream_error;
        assert_eq!(
            client.complete,
            provider.complete || closed_at_end,
            "{}: complete",
            f.name
        );
        assert_eq!(
            client.upstream_error, provider.upstream_error,
            "{}: error",
            f.name
        );
        assert_eq!(
            client.malformed_events, 0,
            "{}: the client stream parses",
            f.name
        );
        if client.complete {
            assert!(client.usage_seen, "{}", f.name);
            assert_same_usage(&f.name, f.dir, &provider, &client);
            compared += 1;
        }
    }
    assert!(compared >= 10, "only {compared} streams compared");
}

#[test]
fn json_responses_meter_the_same_in_both_formats() {
    let mut compared = 0;
    for f in fixtures().into_iter().filter(|f| f.kind == Kind::Response) {
        let (provider_format, client_format) = formats(f.dir);
        let provider = meter(provider_format, BodyKind::Json, &f.input);
        let out = translate_json_response(f.dir, &f.input, CREATED).unwrap();
        let client = meter(client_format, BodyKind::Json, &out);
        assert!(provider.usage_seen && client.usage_seen, "{}", f.name);
        assert_same_usage(&f.name, f.dir, &provider, &client);
        compared += 1;
    }
    assert_eq!(compared, 8);
}

/// Toward OpenAI, the cache-write total and its 5m/1h split are kept beside OpenAI's fields.
#[test]
fn cache_writes_and_their_split_reach_an_openai_client() {
    let f = translate_support::fixture("openai_client/stream_thinking_text_tool.sse");
    let provider = meter(ApiFormat::Anthropic, BodyKind::EventStream, &f.input);
    let out = translate_stream(f.dir, [&f.input[..]]);
    let usage = events(&out)
        .into_iter()
        .find_map(|e| match e {
            Event::Data { data, .. } if data["usage"].is_object() => Some(data["usage"].clone()),
            _ => None,
        })
        .expect("a usage chunk");
    let p = provider.usage;
    let writes = p.cache_write_5m + p.cache_write_1h;
    assert_eq!(
        usage["prompt_tokens"],
        Value::from(p.input + writes + p.cache_read)
    );
    assert_eq!(
        usage["prompt_tokens_details"]["cached_tokens"],
        Value::from(p.cache_read)
    );
    assert_eq!(
        usage["prompt_tokens_details"]["cache_write_tokens"],
        Value::from(writes)
    );
    assert_eq!(usage["cache_creation_input_tokens"], Value::from(writes));
    assert_eq!(usage["cache_read_input_tokens"], Value::from(p.cache_read));
    assert_eq!(
        usage["cache_creation"]["ephemeral_5m_input_tokens"],
        Value::from(p.cache_write_5m)
    );
    assert_eq!(
        usage["cache_creation"]["ephemeral_1h_input_tokens"],
        Value::from(p.cache_write_1h)
    );
    assert_eq!(
        (p.cache_write_5m, p.cache_write_1h),
        (51, 2000),
        "the fixture splits its writes"
    );
}

/// The Anthropic SDK reads the final usage from `message_delta`: all four counts are there.
#[test]
fn message_delta_carries_the_whole_usage() {
    for f in fixtures()
        .into_iter()
        .filter(|f| f.kind == Kind::Stream && f.dir == Direction::AnthropicToOpenAi)
    {
        let out = translate_stream(f.dir, [&f.input[..]]);
        for e in events(&out) {
            if let Event::Data {
                name: Some(name),
                data,
            } = e
            {
                if name == "message_delta" {
                    let usage = data["usage"].as_object().unwrap();
                    for key in [
                        "input_tokens",
                        "cache_creation_input_tokens",
                        "cache_read_input_tokens",
                        "output_tokens",
                    ] {
                        assert!(usage[key].is_u64(), "{}: {key}", f.name);
                    }
                }
            }
        }
    }
}
