//! Renders Anthropic messages replies: `message` objects, the event stream
//! (`message_start` … `message_stop`), `count_tokens` answers and error bodies.
//!
//! Content blocks come in the order Claude produces them: a thinking block (`thinking`
//! control), the text (without tools, or before them with `text_before_tool`), then one
//! `tool_use` block per tool call.

use std::borrow::Cow;
use std::io::Write;

use super::controls::{Stop, TokenCounts};
use super::reply::{
    push_repeated, push_token_text, CallId, ReplySpec, STOP_SEQUENCE_JSON, THINKING_SIGNATURE,
    THINKING_TEXT, TOOL_ARGUMENT_FRAGMENTS, TOOL_INPUT_JSON,
};
use super::sse::EventList;

pub(crate) fn message(spec: &ReplySpec) -> Vec<u8> {
    let tokens = &spec.controls.tokens;
    let mut out = Vec::with_capacity(512 + 4 * (tokens.output + tokens.thinking) as usize);
    let _ = write!(
        out,
        r#"{{"id":"msg_mock_{}","type":"message","role":"assistant","model":{},"content":["#,
        spec.seq, spec.model_json
    );
    let mut first = true;
    let mut separate = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    if tokens.thinking > 0 {
        separate(&mut out);
        out.extend_from_slice(br#"{"type":"thinking","thinking":""#);
        push_repeated(&mut out, THINKING_TEXT, tokens.thinking);
        let _ = write!(out, r#"","signature":"{THINKING_SIGNATURE}"}}"#);
    }
    if spec.has_text() {
        separate(&mut out);
        out.extend_from_slice(br#"{"type":"text","text":""#);
        push_token_text(&mut out, tokens.output);
        out.extend_from_slice(br#""}"#);
    }
    if spec.calls_tools() {
        for (index, name) in spec.tool_calls.iter().enumerate() {
            separate(&mut out);
            let id = CallId {
                seq: spec.seq,
                index,
            };
            let _ = write!(
                out,
                r#"{{"type":"tool_use","id":"toolu_mock_{id}","name":{name},"input":{TOOL_INPUT_JSON}}}"#
            );
        }
    }
    let (stop_reason, stop_sequence) = stop(spec);
    for piece in [
        r#"],"stop_reason":""#,
        stop_reason,
        r#"","stop_sequence":"#,
        stop_sequence,
    ] {
        out.extend_from_slice(piece.as_bytes());
    }
    if !spec.controls.omit_usage {
        out.extend_from_slice(br#","usage":"#);
        write_usage(&mut out, tokens, output_tokens(tokens));
    }
    out.push(b'}');
    out
}

/// `stop_reason` and `stop_sequence` (a JSON literal): a forced stop wins, then a refusal
/// (Claude refuses with a stop reason, not a field), then tool use.
fn stop(spec: &ReplySpec) -> (&'static str, &'static str) {
    match spec.controls.stop {
        Some(Stop::MaxTokens) => ("max_tokens", "null"),
        Some(Stop::Sequence) => ("stop_sequence", STOP_SEQUENCE_JSON),
        Some(Stop::Refusal) => ("refusal", "null"),
        None if spec.controls.refusal => ("refusal", "null"),
        None if spec.calls_tools() => ("tool_use", "null"),
        None => ("end_turn", "null"),
    }
}

/// Thinking is billed as output.
fn output_tokens(t: &TokenCounts) -> u64 {
    t.output + t.thinking
}

pub(crate) fn stream(spec: &ReplySpec) -> EventList {
    let c = spec.controls;
    let with_usage = !c.omit_usage;
    let events = (c.tokens.output + c.tokens.thinking) as usize + 4 * spec.tool_calls.len() + 14;
    let mut list = EventList::with_capacity(events * 120, events);
    let mut malformed_pending = c.malformed_sse;
    let mut push_malformed = |list: &mut EventList| {
        if std::mem::take(&mut malformed_pending) {
            list.push_malformed(
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_del",
            );
        }
    };

    list.push(0, |b| {
        let _ = write!(
            b,
            "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_mock_{}\",\"type\":\"message\",\"role\":\"assistant\",\"model\":{},\"content\":[],\"stop_reason\":null,\"stop_sequence\":null",
            spec.seq, spec.model_json
        );
        if with_usage {
            b.extend_from_slice(br#","usage":"#);
            write_usage(b, &c.tokens, 1);
        }
        b.extend_from_slice(b"}}\n\n");
    });
    // The first delta waits for the time to first token, the others for the inter-token gap.
    let mut blocks = Blocks {
        list,
        next_index: 0,
        first_delta: true,
        ttft_ms: c.ttft_ms,
        inter_token_ms: c.inter_token_ms,
    };
    if c.tokens.thinking > 0 {
        blocks.start(br#"{"type":"thinking","thinking":"","signature":""}"#);
        let delta = format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{},\"delta\":{{\"type\":\"thinking_delta\",\"thinking\":\"{THINKING_TEXT}\"}}}}\n\n", blocks.index());
        blocks.repeated_deltas(c.tokens.thinking, delta.as_bytes(), &mut push_malformed);
        let index = blocks.index();
        blocks.list.push(0, |b| {
            let _ = write!(b, "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{{\"type\":\"signature_delta\",\"signature\":\"{THINKING_SIGNATURE}\"}}}}\n\n");
        });
        blocks.stop();
    }
    if spec.has_text() {
        blocks.start(br#"{"type":"text","text":""}"#);
        // The text is block 0 unless thinking came first: only then is the event rendered.
        let delta: Cow<[u8]> = match blocks.index() {
            0 => Cow::Borrowed(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"tok \"}}\n\n"),
            index => Cow::Owned(format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{{\"type\":\"text_delta\",\"text\":\"tok \"}}}}\n\n").into_bytes()),
        };
        blocks.repeated_deltas(c.tokens.output, &delta, &mut push_malformed);
        blocks.stop();
    }
    if spec.calls_tools() {
        for (call, name) in spec.tool_calls.iter().enumerate() {
            let id = CallId {
                seq: spec.seq,
                index: call,
            };
            let head = format!(
                r#"{{"type":"tool_use","id":"toolu_mock_{id}","name":{name},"input":{{}}}}"#
            );
            blocks.start(head.as_bytes());
            let index = blocks.index();
            for fragment in TOOL_ARGUMENT_FRAGMENTS {
                blocks.delta(|b| {
                    let _ = write!(
                        b,
                        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":{fragment}}}}}\n\n"
                    );
                });
                push_malformed(&mut blocks.list);
            }
            blocks.stop();
        }
    }
    let mut list = blocks.list;
    push_malformed(&mut list);
    let (stop_reason, stop_sequence) = stop(spec);
    list.push(0, |b| {
        for piece in [
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"",
            stop_reason,
            "\",\"stop_sequence\":",
            stop_sequence,
            "}",
        ] {
            b.extend_from_slice(piece.as_bytes());
        }
        if with_usage {
            b.extend_from_slice(br#","usage":"#);
            write_delta_usage(b, &c.tokens);
        }
        b.extend_from_slice(b"}\n\n");
    });
    list.push(0, |b| {
        b.extend_from_slice(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    });
    list
}

/// Content blocks of a stream, numbered in order, with a ping after the first start.
struct Blocks {
    list: EventList,
    next_index: usize,
    first_delta: bool,
    ttft_ms: u64,
    inter_token_ms: u64,
}

impl Blocks {
    /// Index of the block started last.
    fn index(&self) -> usize {
        self.next_index - 1
    }

    fn start(&mut self, block: &[u8]) {
        let index = self.next_index;
        self.list.push(0, |b| {
            b.extend_from_slice(
                b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":",
            );
            push_index(b, index);
            b.extend_from_slice(b",\"content_block\":");
            b.extend_from_slice(block);
            b.extend_from_slice(b"}\n\n");
        });
        if index == 0 {
            self.list.push(0, |b| {
                b.extend_from_slice(b"event: ping\ndata: {\"type\": \"ping\"}\n\n")
            });
        }
        self.next_index += 1;
    }

    fn delta(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let delay = if std::mem::take(&mut self.first_delta) {
            self.ttft_ms
        } else {
            self.inter_token_ms
        };
        self.list.push(delay, write);
    }

    /// `times` copies of one delta event; a malformed pair (once per stream) after the first.
    fn repeated_deltas(
        &mut self,
        times: u64,
        event: &[u8],
        malformed: &mut impl FnMut(&mut EventList),
    ) {
        if times >= 1 {
            self.delta(|b| b.extend_from_slice(event));
            malformed(&mut self.list);
        }
        if times >= 2 {
            self.delta(|b| b.extend_from_slice(event));
            self.list.repeat_last(times - 2, self.inter_token_ms);
        }
    }

    fn stop(&mut self) {
        let index = self.index();
        self.list.push(0, |b| {
            b.extend_from_slice(
                b"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":",
            );
            push_index(b, index);
            b.extend_from_slice(b"}\n\n");
        });
    }
}

/// A block index without the formatting machinery (the common single digit).
fn push_index(out: &mut Vec<u8>, index: usize) {
    match u8::try_from(index) {
        Ok(digit @ 0..=9) => out.push(b'0' + digit),
        _ => {
            let _ = write!(out, "{index}");
        }
    }
}

fn write_usage(out: &mut Vec<u8>, t: &TokenCounts, output_tokens: u64) {
    let _ = write!(
        out,
        r#"{{"input_tokens":{},"cache_creation_input_tokens":{},"cache_read_input_tokens":{},"cache_creation":{{"ephemeral_5m_input_tokens":{},"ephemeral_1h_input_tokens":{}}},"output_tokens":{}"#,
        t.input,
        t.cache_write_5m + t.cache_write_1h,
        t.cache_read,
        t.cache_write_5m,
        t.cache_write_1h,
        output_tokens
    );
    write_thinking_details(out, t);
    out.extend_from_slice(br#","service_tier":"standard"}"#);
}

/// `message_delta` repeats the cumulative counts (without the cache-write split), as
/// the real API does.
fn write_delta_usage(out: &mut Vec<u8>, t: &TokenCounts) {
    let _ = write!(
        out,
        r#"{{"input_tokens":{},"cache_creation_input_tokens":{},"cache_read_input_tokens":{},"output_tokens":{}"#,
        t.input,
        t.cache_write_5m + t.cache_write_1h,
        t.cache_read,
        output_tokens(t)
    );
    write_thinking_details(out, t);
    out.push(b'}');
}

fn write_thinking_details(out: &mut Vec<u8>, t: &TokenCounts) {
    if t.thinking > 0 {
        let _ = write!(
            out,
            r#","output_tokens_details":{{"thinking_tokens":{}}}"#,
            t.thinking
        );
    }
}

/// `POST /v1/messages/count_tokens`.
pub(crate) fn token_count(input_tokens: u64) -> Vec<u8> {
    format!(r#"{{"input_tokens":{input_tokens}}}"#).into_bytes()
}

/// `{"type":"error","error":{"type","message"}}` as Anthropic sends it.
pub(crate) fn error_body(status: u16, message: &str) -> Vec<u8> {
    let kind = match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    };
    let message = serde_json::to_string(message).unwrap_or_default();
    format!(r#"{{"type":"error","error":{{"type":"{kind}","message":{message}}}}}"#).into_bytes()
}
