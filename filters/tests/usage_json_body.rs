//! Metering rules for non-stream JSON bodies: the top-level `usage` member read as the body
//! streams past, at any size, with bounded memory.

use tollgate_filters::usage::{ApiFormat, BodyKind, MeterReport, Usage, UsageMeter};

fn meter(format: ApiFormat, kind: BodyKind, chunks: &[&[u8]]) -> UsageMeter {
    let mut meter = UsageMeter::new(format, kind);
    for chunk in chunks {
        meter.feed(chunk);
    }
    meter
}

fn json_body(format: ApiFormat, body: &str) -> MeterReport {
    meter(format, BodyKind::Json, &[body.as_bytes()]).report()
}

#[test]
fn openai_json_body_usage_and_content() {
    let body = r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":9,"total_tokens":109,"prompt_tokens_details":{"cached_tokens":64}}}"#;
    let meter = meter(
        ApiFormat::OpenAi,
        BodyKind::Json,
        &[&body.as_bytes()[..50], &body.as_bytes()[50..]],
    );
    let report = meter.report();
    assert_eq!(
        report.usage,
        Usage {
            input: 36,
            cache_read: 64,
            output: 9,
            ..Usage::default()
        }
    );
    assert!(report.complete && report.usage_seen && !report.upstream_error);
    assert_eq!(
        meter.content_bytes(),
        0,
        "text in a JSON body is not measured"
    );
}

#[test]
fn anthropic_json_body_usage_with_and_without_split() {
    let with_split = json_body(
        ApiFormat::Anthropic,
        r#"{"type":"message","content":[{"type":"text","text":"Hi"}],"usage":{"input_tokens":5,"cache_creation_input_tokens":10,"cache_read_input_tokens":20,"cache_creation":{"ephemeral_5m_input_tokens":4,"ephemeral_1h_input_tokens":6},"output_tokens":7}}"#,
    );
    assert_eq!(
        with_split.usage,
        Usage {
            input: 5,
            cache_write_5m: 4,
            cache_write_1h: 6,
            cache_read: 20,
            output: 7
        }
    );
    let without_split = json_body(
        ApiFormat::Anthropic,
        r#"{"type":"message","content":[],"usage":{"input_tokens":5,"cache_creation_input_tokens":10,"output_tokens":7}}"#,
    );
    assert_eq!(
        (
            without_split.usage.cache_write_5m,
            without_split.usage.cache_write_1h
        ),
        (10, 0)
    );
}

#[test]
fn json_error_bodies_are_upstream_errors() {
    let openai = json_body(
        ApiFormat::OpenAi,
        r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
    );
    assert!(openai.upstream_error && !openai.usage_seen);
    let anthropic = json_body(
        ApiFormat::Anthropic,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    );
    assert!(anthropic.upstream_error && !anthropic.usage_seen);
}

#[test]
fn json_body_cut_short_is_incomplete_not_malformed() {
    let report = json_body(
        ApiFormat::OpenAi,
        r#"{"choices":[],"usage":{"prompt_tokens":1"#,
    );
    assert_eq!(report, MeterReport::default());
    assert_eq!(json_body(ApiFormat::OpenAi, ""), MeterReport::default());
}

#[test]
fn json_body_that_is_not_json_is_malformed() {
    let report = json_body(ApiFormat::Anthropic, "<html>502 Bad Gateway</html>");
    assert_eq!(report.malformed_events, 1);
    assert!(!report.complete && !report.usage_seen);
}

#[test]
fn json_body_of_any_size_is_metered_with_bounded_memory() {
    let text = "x".repeat(9_200_000);
    for usage_first in [false, true] {
        let usage = r#""usage":{"prompt_tokens":7,"completion_tokens":2300000}"#;
        let body = if usage_first {
            format!(r#"{{{usage},"choices":[{{"message":{{"content":"{text}"}}}}]}}"#)
        } else {
            format!(r#"{{"choices":[{{"message":{{"content":"{text}"}}}}],{usage}}}"#)
        };
        let mut meter = UsageMeter::new(ApiFormat::OpenAi, BodyKind::Json);
        for chunk in body.as_bytes().chunks(16 * 1024) {
            meter.feed(chunk);
        }
        let report = meter.report();
        assert!(
            report.usage_seen && report.complete,
            "usage first: {usage_first}"
        );
        assert_eq!((report.usage.input, report.usage.output), (7, 2_300_000));
        assert_eq!(meter.bytes_seen(), body.len() as u64);
        assert!(
            std::mem::size_of_val(&meter) < 1024,
            "the meter keeps no buffer of the body"
        );
    }
}

#[test]
fn json_body_members_that_look_like_usage_do_not_count() {
    // A nested `usage`, and `usage` inside a string, are not the top-level member.
    let body = r#"{"choices":[{"message":{"content":"\"usage\":{\"prompt_tokens\":999}","usage":{"prompt_tokens":998}}}],"x":{"usage":{"prompt_tokens":997}},"usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
    let report = json_body(ApiFormat::OpenAi, body);
    assert_eq!((report.usage.input, report.usage.output), (3, 4));
    // No top-level usage at all: usage missing, not zero.
    let report = json_body(ApiFormat::OpenAi, r#"{"x":{"usage":{"prompt_tokens":5}}}"#);
    assert!(!report.usage_seen && report.complete);
    // Trailing text after the object makes it malformed.
    let report = json_body(ApiFormat::OpenAi, r#"{"usage":{"prompt_tokens":1}} junk"#);
    assert!(!report.complete && report.malformed_events == 1);
}

#[test]
fn json_body_usage_over_the_member_limit_is_not_read() {
    let padding = " ".repeat(70 * 1024);
    let body = format!(r#"{{"usage":{{"prompt_tokens":1,{padding}"completion_tokens":2}}}}"#);
    let report = json_body(ApiFormat::OpenAi, &body);
    assert!(!report.usage_seen, "a 70 KiB usage object is not buffered");
}

#[test]
fn any_one_known_count_makes_usage_seen_and_none_does_not() {
    // A usage object with a single known field is usage (billed exactly); one with only
    // unknown fields is another API's shape and must not pass for "zero tokens".
    for usage in [
        r#"{"input_tokens":5}"#,
        r#"{"cache_creation_input_tokens":5}"#,
        r#"{"cache_creation":{"ephemeral_5m_input_tokens":5,"ephemeral_1h_input_tokens":0}}"#,
        r#"{"cache_read_input_tokens":5}"#,
        r#"{"output_tokens":5}"#,
    ] {
        let body = format!(r#"{{"type":"message","content":[],"usage":{usage}}}"#);
        let r = json_body(ApiFormat::Anthropic, &body);
        assert!(r.usage_seen, "{usage}");
        assert_eq!(r.usage.total(), 5, "{usage}");
    }
    let r = json_body(
        ApiFormat::Anthropic,
        r#"{"type":"message","content":[],"usage":{"prompt_tokens":5}}"#,
    );
    assert!(!r.usage_seen);
}

#[test]
fn json_body_edges_of_the_top_level_scan() {
    // A string after the object is still trailing text.
    let report = json_body(ApiFormat::OpenAi, r#"{"usage":{"prompt_tokens":1}} "junk""#);
    assert!(!report.complete && report.malformed_events == 1);
    // A key that only ends in `usage` after an escaped quote is another key.
    let report = json_body(
        ApiFormat::OpenAi,
        r#"{"\"usage":{"prompt_tokens":9},"usage":{"prompt_tokens":2,"completion_tokens":1}}"#,
    );
    assert_eq!((report.usage.input, report.usage.output), (2, 1));
    let report = json_body(ApiFormat::OpenAi, r#"{"\"usage":{"prompt_tokens":9}}"#);
    assert!(!report.usage_seen);
    // A usage member of a few KiB (pretty-printed, padded) is read: the limit is 64 KiB.
    let padding = " ".repeat(4 * 1024);
    let body = format!(r#"{{"usage":{{"prompt_tokens":1,{padding}"completion_tokens":2}}}}"#);
    let report = json_body(ApiFormat::OpenAi, &body);
    assert!(report.usage_seen);
    assert_eq!((report.usage.input, report.usage.output), (1, 2));
}

#[test]
fn an_anthropic_body_typed_error_is_an_error_without_its_member() {
    let typed = json_body(ApiFormat::Anthropic, r#"{"type":"error"}"#);
    assert!(typed.upstream_error);
    let message = json_body(ApiFormat::Anthropic, r#"{"type":"message"}"#);
    assert!(!message.upstream_error);
}

#[test]
fn a_top_level_array_is_not_a_response_body() {
    for body in [
        "[]",
        r#"[{"usage":{"prompt_tokens":1,"completion_tokens":1}}]"#,
    ] {
        let report = json_body(ApiFormat::OpenAi, body);
        assert!(!report.complete && !report.usage_seen, "{body}: {report:?}");
        assert_eq!(report.malformed_events, 1, "{body}");
    }
}
