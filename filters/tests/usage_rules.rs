//! One test per metering rule, on small hand-written bodies.

use tollgate_filters::usage::{ApiFormat, BodyKind, MeterReport, Usage, UsageMeter};

fn meter(format: ApiFormat, kind: BodyKind, chunks: &[&[u8]]) -> UsageMeter {
    let mut meter = UsageMeter::new(format, kind);
    for chunk in chunks {
        meter.feed(chunk);
    }
    meter
}

fn openai_stream(body: &str) -> MeterReport {
    meter(ApiFormat::OpenAi, BodyKind::EventStream, &[body.as_bytes()]).report()
}

fn anthropic_stream(body: &str) -> MeterReport {
    meter(
        ApiFormat::Anthropic,
        BodyKind::EventStream,
        &[body.as_bytes()],
    )
    .report()
}

const OPENAI_USAGE_CHUNK: &str = r#"data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":20,"total_tokens":1020,"prompt_tokens_details":{"cached_tokens":768}}}"#;

fn anthropic_message_start(usage: &str) -> String {
    format!(
        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{usage}}}}}\n\n"
    )
}

fn anthropic_message_delta(usage: &str) -> String {
    format!(
        "event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\"}},\"usage\":{usage}}}\n\n"
    )
}

const MESSAGE_STOP: &str = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

// ---- OpenAI ----

#[test]
fn openai_cached_tokens_are_counted_once_as_cache_reads() {
    let report = openai_stream(&format!("{OPENAI_USAGE_CHUNK}\n\ndata: [DONE]\n\n"));
    assert_eq!(
        report.usage,
        Usage {
            input: 232,
            cache_read: 768,
            output: 20,
            ..Usage::default()
        }
    );
    assert_eq!(report.usage.total(), 1020);
    assert!(report.usage_seen && report.complete);
}

#[test]
fn openai_more_cached_than_prompt_tokens_saturates() {
    let report = openai_stream(
        "data: {\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"prompt_tokens_details\":{\"cached_tokens\":9}}}\n\n",
    );
    assert_eq!(report.usage.input, 0);
    assert_eq!(report.usage.cache_read, 9);
}

#[test]
fn openai_usage_without_details_has_no_cache_reads() {
    let report =
        openai_stream("data: {\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"prompt_tokens_details\":null}}\n\n");
    assert_eq!(
        report.usage,
        Usage {
            input: 7,
            output: 3,
            ..Usage::default()
        }
    );
}

#[test]
fn openai_null_usage_chunks_are_content_not_usage() {
    let meter = meter(
        ApiFormat::OpenAi,
        BodyKind::EventStream,
        &[b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}],\"usage\":null}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"}}],\"usage\":null}\n\ndata: [DONE]\n\n"],
    );
    let report = meter.report();
    assert!(!report.usage_seen, "usage:null is not usage");
    assert!(report.complete);
    assert_eq!(report.malformed_events, 0);
    assert_eq!(meter.content_bytes(), 11);
}

#[test]
fn openai_stream_is_complete_only_at_done() {
    let without_done = openai_stream(&format!("{OPENAI_USAGE_CHUNK}\n\n"));
    assert!(without_done.usage_seen && !without_done.complete);
}

#[test]
fn openai_error_chunk_is_an_upstream_error() {
    let report = openai_stream(
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n",
    );
    assert!(report.upstream_error);
    assert!(!report.complete);
    assert_eq!(report.malformed_events, 0);
}

#[test]
fn openai_null_error_field_is_not_an_error() {
    assert!(!openai_stream("data: {\"choices\":[],\"error\":null}\n\n").upstream_error);
}

#[test]
fn named_error_event_is_an_upstream_error_in_either_format() {
    let body = "event: error\ndata: {\"message\":\"upstream went away\"}\n\n";
    assert!(openai_stream(body).upstream_error);
    assert!(anthropic_stream(body).upstream_error);
}

#[test]
fn later_usage_chunks_overwrite_earlier_ones() {
    // Providers that report running usage in every chunk.
    let report = openai_stream(
        "data: {\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":1}}\n\ndata: {\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5}}\n\n",
    );
    assert_eq!(report.usage.output, 5);
    assert_eq!(report.usage.input, 10);
}

#[test]
fn usage_object_of_an_unknown_shape_is_not_usage() {
    let report = openai_stream("data: {\"usage\":{\"input_tokens\":10}}\n\n");
    assert!(!report.usage_seen);
    assert_eq!(report.usage, Usage::default());
}

// ---- Anthropic ----

#[test]
fn anthropic_message_delta_totals_overwrite_never_add() {
    let body = anthropic_message_start(
        r#"{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}"#,
    ) + &anthropic_message_delta(r#"{"output_tokens":10}"#)
        + &anthropic_message_delta(r#"{"output_tokens":15}"#)
        + MESSAGE_STOP;
    let report = anthropic_stream(&body);
    assert_eq!(
        report.usage,
        Usage {
            input: 25,
            output: 15,
            ..Usage::default()
        }
    );
    assert!(report.complete);
}

#[test]
fn anthropic_message_delta_overwrites_input_and_cache_fields_it_carries() {
    let body = anthropic_message_start(
        r#"{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}"#,
    ) + &anthropic_message_delta(
        r#"{"input_tokens":30,"cache_creation_input_tokens":100,"cache_read_input_tokens":40,"output_tokens":9,"server_tool_use":{"web_search_requests":1}}"#,
    );
    let report = anthropic_stream(&body);
    assert_eq!(
        report.usage,
        Usage {
            input: 30,
            cache_write_5m: 100,
            cache_read: 40,
            output: 9,
            ..Usage::default()
        }
    );
}

#[test]
fn anthropic_cache_creation_split_is_used_when_present() {
    let body = anthropic_message_start(
        r#"{"input_tokens":3,"cache_creation_input_tokens":500,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":200,"ephemeral_1h_input_tokens":300},"output_tokens":1}"#,
    );
    let usage = anthropic_stream(&body).usage;
    assert_eq!((usage.cache_write_5m, usage.cache_write_1h), (200, 300));
}

#[test]
fn anthropic_cache_creation_without_split_is_all_5m() {
    let body = anthropic_message_start(
        r#"{"input_tokens":3,"cache_creation_input_tokens":500,"cache_read_input_tokens":0,"output_tokens":1}"#,
    );
    let usage = anthropic_stream(&body).usage;
    assert_eq!((usage.cache_write_5m, usage.cache_write_1h), (500, 0));
}

#[test]
fn anthropic_delta_repeating_the_cache_total_keeps_the_known_split() {
    let body = anthropic_message_start(
        r#"{"input_tokens":3,"cache_creation_input_tokens":500,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":500},"output_tokens":1}"#,
    ) + &anthropic_message_delta(
        r#"{"input_tokens":3,"cache_creation_input_tokens":500,"cache_read_input_tokens":0,"output_tokens":12}"#,
    );
    let usage = anthropic_stream(&body).usage;
    assert_eq!((usage.cache_write_5m, usage.cache_write_1h), (0, 500));
}

#[test]
fn anthropic_delta_changing_the_cache_total_keeps_buckets_summing_to_it() {
    let start = anthropic_message_start(
        r#"{"input_tokens":3,"cache_creation_input_tokens":500,"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":400},"output_tokens":1}"#,
    );
    let grown = anthropic_stream(
        &(start.clone()
            + &anthropic_message_delta(r#"{"cache_creation_input_tokens":600,"output_tokens":2}"#)),
    );
    assert_eq!(
        (grown.usage.cache_write_5m, grown.usage.cache_write_1h),
        (200, 400)
    );
    let shrunk = anthropic_stream(
        &(start
            + &anthropic_message_delta(r#"{"cache_creation_input_tokens":300,"output_tokens":2}"#)),
    );
    assert_eq!(
        (shrunk.usage.cache_write_5m, shrunk.usage.cache_write_1h),
        (0, 300)
    );
}

#[test]
fn anthropic_null_fields_in_a_delta_leave_counts_alone() {
    let body = anthropic_message_start(
        r#"{"input_tokens":25,"cache_read_input_tokens":7,"output_tokens":1}"#,
    ) + &anthropic_message_delta(
        r#"{"input_tokens":null,"cache_read_input_tokens":null,"output_tokens":4}"#,
    );
    let usage = anthropic_stream(&body).usage;
    assert_eq!((usage.input, usage.cache_read, usage.output), (25, 7, 4));
}

#[test]
fn anthropic_error_event_marks_the_error_and_keeps_usage_so_far() {
    let body = anthropic_message_start(r#"{"input_tokens":25,"output_tokens":1}"#)
        + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let report = anthropic_stream(&body);
    assert!(report.upstream_error && !report.complete && report.usage_seen);
    assert_eq!(report.usage.input, 25);
}

#[test]
fn anthropic_error_payload_without_event_name_is_an_error() {
    let report = anthropic_stream(
        "data: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}\n\n",
    );
    assert!(report.upstream_error);
}

#[test]
fn anthropic_generated_text_arguments_and_thinking_are_content_signatures_are_not() {
    let delta = |index: u32, delta: &str| {
        format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{delta}}}\n\n")
    };
    let body = delta(0, r#"{"type":"thinking_delta","thinking":"hmm"}"#)
        + &delta(
            0,
            r#"{"type":"signature_delta","signature":"c2lnbmF0dXJl"}"#,
        )
        + &delta(1, r#"{"type":"text_delta","text":"Hi \u00e9"}"#)
        + &delta(
            2,
            r#"{"type":"input_json_delta","partial_json":"{\"a\": 1}"}"#,
        );
    let meter = meter(
        ApiFormat::Anthropic,
        BodyKind::EventStream,
        &[body.as_bytes()],
    );
    assert_eq!(meter.content_bytes(), 3 + 9 + 10);
}

// ---- Event stream framing ----

#[test]
fn crlf_line_endings_meter_like_lf() {
    let lf = format!("{OPENAI_USAGE_CHUNK}\n\ndata: [DONE]\n\n");
    let crlf = lf.replace('\n', "\r\n");
    let cr = lf.replace('\n', "\r");
    assert_eq!(openai_stream(&crlf), openai_stream(&lf));
    assert_eq!(openai_stream(&cr), openai_stream(&lf));
    assert!(openai_stream(&crlf).complete);
}

#[test]
fn crlf_split_between_chunks_is_one_line_end() {
    let report = meter(
        ApiFormat::OpenAi,
        BodyKind::EventStream,
        &[
            OPENAI_USAGE_CHUNK.as_bytes(),
            b"\r",
            b"\n\r",
            b"\ndata: [DONE]\r",
            b"\n\r",
            b"\n",
        ],
    )
    .report();
    assert!(report.usage_seen && report.complete);
    assert_eq!(report.malformed_events, 0);
}

#[test]
fn event_name_survives_a_crlf_split_between_chunks() {
    // Were the LF read as a second line end, the blank line would end the event early and
    // its data would arrive nameless.
    let report = meter(
        ApiFormat::OpenAi,
        BodyKind::EventStream,
        &[b"event: error\r", b"\ndata: {\"message\":\"gone\"}\r\n\r\n"],
    )
    .report();
    assert!(report.upstream_error);
}

#[test]
fn comment_lines_are_ignored_even_when_they_look_like_data() {
    let body = format!(": ping\n:data: [DONE]\n{OPENAI_USAGE_CHUNK}\n: between the fields\n\n");
    let report = openai_stream(&body);
    assert!(report.usage_seen);
    assert!(!report.complete, "a comment is not data");
}

#[test]
fn ping_events_are_ignored_even_when_malformed() {
    let body = anthropic_message_start(r#"{"input_tokens":25,"output_tokens":1}"#)
        + "event: ping\ndata: {\"type\": \"ping\"}\n\nevent: ping\ndata: not json\n\n";
    let report = anthropic_stream(&body);
    assert_eq!(report.malformed_events, 0);
    assert_eq!(report.usage.input, 25);
}

#[test]
fn data_over_several_lines_is_joined_with_lf() {
    let body = "data: {\"choices\":[],\ndata: \"usage\":{\"prompt_tokens\":8,\ndata: \"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
    let report = openai_stream(body);
    assert_eq!(report.malformed_events, 0);
    assert_eq!((report.usage.input, report.usage.output), (8, 2));
}

#[test]
fn complete_first_data_line_followed_by_more_text_is_malformed() {
    // Joined, the data is `{...}\n{...}`: two values, not one payload.
    let body = format!("{OPENAI_USAGE_CHUNK}\n{OPENAI_USAGE_CHUNK}\n\n");
    let report = openai_stream(&body);
    assert_eq!(report.malformed_events, 1);
    assert!(!report.usage_seen);
}

#[test]
fn complete_first_data_line_followed_by_blank_data_is_still_one_payload() {
    let body = format!("{OPENAI_USAGE_CHUNK}\ndata:\ndata:  \n\n");
    let report = openai_stream(&body);
    assert_eq!(report.malformed_events, 0);
    assert!(report.usage_seen);
}

#[test]
fn malformed_payloads_are_counted_and_skipped() {
    let body = format!(
        "data: {{\"choices\":[{{\"delta\":{{\"content\":\"cut\ndata: not json at all\n\ndata: {{\"usage\":{{\"prompt_tokens\":\"many\"}}}}\n\n{OPENAI_USAGE_CHUNK}\n\ndata: [DONE]\n\n"
    );
    let report = openai_stream(&body);
    assert_eq!(report.malformed_events, 2);
    assert!(report.usage_seen && report.complete);
    assert_eq!(report.usage.output, 20);
}

#[test]
fn stream_cut_mid_event_reports_usage_so_far_and_is_incomplete() {
    let start = anthropic_message_start(r#"{"input_tokens":25,"output_tokens":1}"#);
    let body = start
        + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"
        + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"ind";
    let meter = meter(
        ApiFormat::Anthropic,
        BodyKind::EventStream,
        &[body.as_bytes()],
    );
    let report = meter.report();
    assert!(!report.complete);
    assert!(report.usage_seen);
    assert_eq!((report.usage.input, report.usage.output), (25, 1));
    assert_eq!(
        report.malformed_events, 0,
        "an unfinished line is not malformed"
    );
    assert_eq!(meter.content_bytes(), 3);
}

#[test]
fn event_whose_data_arrived_but_not_its_blank_line_is_seen() {
    let report = openai_stream(&format!("{OPENAI_USAGE_CHUNK}\n\ndata: [DONE]\n"));
    assert!(report.complete);
    let unfinished_line = openai_stream(&format!("{OPENAI_USAGE_CHUNK}\n\ndata: [DONE]"));
    assert!(!unfinished_line.complete);
}

#[test]
fn report_is_available_at_any_point() {
    let mut meter = UsageMeter::new(ApiFormat::OpenAi, BodyKind::EventStream);
    assert_eq!(meter.report(), MeterReport::default());
    meter.feed(OPENAI_USAGE_CHUNK.as_bytes());
    assert!(!meter.report().usage_seen, "the line has not ended yet");
    meter.feed(b"\n\n");
    assert!(meter.report().usage_seen);
    meter.feed(b"data: [DONE]\n\n");
    assert!(meter.report().complete);
}

#[test]
fn byte_order_mark_before_the_first_line_is_ignored() {
    let body = format!("\u{FEFF}{OPENAI_USAGE_CHUNK}\n\n");
    assert!(openai_stream(&body).usage_seen);
}

#[test]
fn bytes_seen_counts_every_byte_fed() {
    let meter = meter(
        ApiFormat::Anthropic,
        BodyKind::EventStream,
        &[b": x\n", b"", b"garbage\r"],
    );
    assert_eq!(meter.bytes_seen(), 12);
}

// ---- Usage, whatever the body ----
/// A 9 MB completion: its usage is read, wherever it sits, and the meter holds no copy of
/// the body (the old meter dropped bodies over 8 MiB and billed them as 0 output tokens).
#[test]
fn total_adds_all_five_buckets() {
    let usage = Usage {
        input: 1,
        cache_write_5m: 2,
        cache_write_1h: 3,
        cache_read: 4,
        output: 5,
    };
    assert_eq!(usage.total(), 15);
    let huge = Usage {
        input: u64::MAX,
        output: 1,
        ..Usage::default()
    };
    assert_eq!(huge.total(), u64::MAX);
}

#[test]
fn meter_can_live_in_a_proxy_context() {
    // Pingora keeps per-request state in a context shared across tasks.
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<UsageMeter>();
}

#[test]
fn the_meter_says_which_body_kind_it_reads() {
    assert!(UsageMeter::new(ApiFormat::OpenAi, BodyKind::EventStream).is_event_stream());
    assert!(!UsageMeter::new(ApiFormat::Anthropic, BodyKind::Json).is_event_stream());
}

#[test]
fn a_last_event_without_its_blank_line_counts_even_when_its_data_spans_lines() {
    // The stream was cut after the usage event's data lines but before the blank line that
    // ends it: its usage still counts, whether the data came on one line or two.
    for body in [
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n",
        "data: {\"id\":\"c\",\"choices\":[],\ndata: \"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n",
    ] {
        let r = openai_stream(body);
        assert!(r.usage_seen, "{body:?}");
        assert_eq!((r.usage.input, r.usage.output), (3, 4), "{body:?}");
    }
}

#[test]
fn anthropic_error_events_are_errors_by_type_or_by_member() {
    let by_type = anthropic_stream("event: error\ndata: {\"type\":\"error\"}\n\n");
    assert!(by_type.upstream_error, "type error without an error member");
    let by_member = anthropic_stream("data: {\"error\":{\"type\":\"overloaded_error\"}}\n\n");
    assert!(by_member.upstream_error, "an error member without a type");
    let neither = anthropic_stream("data: {\"type\":\"ping\"}\n\n");
    assert!(!neither.upstream_error);
}

#[test]
fn a_whole_anthropic_message_event_counts_its_content_blocks() {
    // Some Anthropic-compatible servers send the whole message as one event.
    let meter = meter(
        ApiFormat::Anthropic,
        BodyKind::EventStream,
        &[br#"data: {"type":"message","content":[{"type":"text","text":"Hello"},{"type":"thinking","thinking":"hmm"},{"type":"tool_use","input":{"a":1}}]}

"#],
    );
    assert_eq!(meter.content_bytes(), 5 + 3 + 7);
}
