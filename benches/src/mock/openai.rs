//! Renders OpenAI chat-completions replies: `chat.completion` objects, the
//! `chat.completion.chunk` SSE stream and error bodies.

use std::io::Write;

use super::controls::{Stop, TokenCounts};
use super::reply::{
    push_token_text, CallId, ReplySpec, TOOL_ARGUMENTS_JSON, TOOL_ARGUMENT_FRAGMENTS,
};
use super::sse::EventList;

pub(crate) fn completion(spec: &ReplySpec) -> Vec<u8> {
    let c = spec.controls;
    let tokens = &c.tokens;
    let mut out = Vec::with_capacity(640 + 4 * tokens.output as usize);
    let _ = write!(
        out,
        r#"{{"id":"chatcmpl-mock-{}","object":"chat.completion","created":{},"model":{},"choices":[{{"index":0,"message":{{"role":"assistant","#,
        spec.seq, spec.created, spec.model_json
    );
    if c.refusal {
        out.extend_from_slice(br#""content":null,"refusal":""#);
        push_token_text(&mut out, tokens.output);
        out.extend_from_slice(br#""}"#);
    } else if spec.calls_tools() {
        if c.text_before_tool {
            out.extend_from_slice(br#""content":""#);
            push_token_text(&mut out, tokens.output);
            out.extend_from_slice(br#"","refusal":null,"tool_calls":["#);
        } else {
            out.extend_from_slice(br#""content":null,"refusal":null,"tool_calls":["#);
        }
        for (index, name) in spec.tool_calls.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            let id = CallId {
                seq: spec.seq,
                index,
            };
            let _ = write!(
                out,
                r#"{{"id":"call_mock_{id}","type":"function","function":{{"name":{name},"arguments":{TOOL_ARGUMENTS_JSON}}}}}"#
            );
        }
        out.extend_from_slice(b"]}");
    } else {
        out.extend_from_slice(br#""content":""#);
        push_token_text(&mut out, tokens.output);
        out.extend_from_slice(br#"","refusal":null}"#);
    }
    out.extend_from_slice(br#","logprobs":null,"finish_reason":"#);
    out.extend_from_slice(finish_reason(spec).as_bytes());
    out.extend_from_slice(b"}]");
    if !c.omit_usage {
        out.extend_from_slice(br#","usage":"#);
        write_usage(&mut out, tokens);
    }
    out.extend_from_slice(br#","system_fingerprint":null}"#);
    out
}

/// A JSON string literal: a forced stop wins, then tool calls, then a natural stop.
fn finish_reason(spec: &ReplySpec) -> &'static str {
    match spec.controls.stop {
        Some(Stop::MaxTokens) => r#""length""#,
        Some(Stop::Refusal) => r#""content_filter""#,
        Some(Stop::Sequence) => r#""stop""#,
        None if spec.calls_tools() => r#""tool_calls""#,
        None => r#""stop""#,
    }
}

pub(crate) fn stream(spec: &ReplySpec) -> EventList {
    let c = spec.controls;
    let with_usage = spec.include_usage && !c.omit_usage;
    let prefix = format!(
        r#"data: {{"id":"chatcmpl-mock-{}","object":"chat.completion.chunk","created":{},"model":{},"#,
        spec.seq, spec.created, spec.model_json
    );
    // OpenAI marks every chunk `"usage":null` when the final usage chunk is coming.
    let close: &[u8] = if with_usage {
        b",\"usage\":null}\n\n"
    } else {
        b"}\n\n"
    };
    let p = prefix.as_bytes();
    let truncated = format!(r#"{prefix}"choices":[{{"index":0,"delta":{{"content":"to"#);
    let event_bytes = prefix.len() + 160;
    let events = c.tokens.output as usize + 3 * spec.tool_calls.len() + 6;
    let mut list = EventList::with_capacity(event_bytes * events, events);
    let mut malformed_pending = c.malformed_sse;
    let mut push_malformed = |list: &mut EventList| {
        if std::mem::take(&mut malformed_pending) {
            list.push_malformed(&truncated);
        }
    };

    // The role comes with the first delta: the first text chunk, else the first call's head.
    let mut role_sent = false;
    if spec.has_text() {
        let (first, next): (&[u8], &[u8]) = if c.refusal {
            (
                br#"{"role":"assistant","content":null,"refusal":"tok "}"#,
                br#"{"refusal":"tok "}"#,
            )
        } else {
            (
                br#"{"role":"assistant","content":"tok "}"#,
                br#"{"content":"tok "}"#,
            )
        };
        if c.tokens.output >= 1 {
            list.push(c.ttft_ms, Chunk::new(p, close, first, b"null").writer());
            push_malformed(&mut list);
            role_sent = true;
        }
        if c.tokens.output >= 2 {
            list.push(
                c.inter_token_ms,
                Chunk::new(p, close, next, b"null").writer(),
            );
            list.repeat_last(c.tokens.output - 2, c.inter_token_ms);
        }
    }
    if spec.calls_tools() {
        for (index, name) in spec.tool_calls.iter().enumerate() {
            let role = if role_sent {
                ""
            } else {
                r#""role":"assistant","content":null,"#
            };
            let id = CallId {
                seq: spec.seq,
                index,
            };
            let head = format!(
                r#"{{{role}"tool_calls":[{{"index":{index},"id":"call_mock_{id}","type":"function","function":{{"name":{name},"arguments":""}}}}]}}"#
            );
            let delay = if role_sent {
                c.inter_token_ms
            } else {
                c.ttft_ms
            };
            list.push(
                delay,
                Chunk::new(p, close, head.as_bytes(), b"null").writer(),
            );
            role_sent = true;
            push_malformed(&mut list);
            for fragment in TOOL_ARGUMENT_FRAGMENTS {
                let delta = format!(
                    r#"{{"tool_calls":[{{"index":{index},"function":{{"arguments":{fragment}}}}}]}}"#
                );
                list.push(
                    c.inter_token_ms,
                    Chunk::new(p, close, delta.as_bytes(), b"null").writer(),
                );
            }
        }
    }
    push_malformed(&mut list);
    let finish = finish_reason(spec).as_bytes();
    list.push(0, Chunk::new(p, close, b"{}", finish).writer());
    if with_usage {
        list.push(0, |b| {
            b.extend_from_slice(prefix.as_bytes());
            b.extend_from_slice(br#""choices":[],"usage":"#);
            write_usage(b, &c.tokens);
            b.extend_from_slice(b"}\n\n");
        });
    }
    list.push(0, |b| b.extend_from_slice(b"data: [DONE]\n\n"));
    list
}

/// One `chat.completion.chunk` event with a single choice.
struct Chunk<'a> {
    prefix: &'a [u8],
    delta: &'a [u8],
    finish: &'a [u8],
    close: &'a [u8],
}

impl<'a> Chunk<'a> {
    fn new(prefix: &'a [u8], close: &'a [u8], delta: &'a [u8], finish: &'a [u8]) -> Self {
        Chunk {
            prefix,
            delta,
            finish,
            close,
        }
    }

    fn writer(self) -> impl FnOnce(&mut Vec<u8>) + 'a {
        move |b: &mut Vec<u8>| {
            b.extend_from_slice(self.prefix);
            b.extend_from_slice(br#""choices":[{"index":0,"delta":"#);
            b.extend_from_slice(self.delta);
            b.extend_from_slice(br#","logprobs":null,"finish_reason":"#);
            b.extend_from_slice(self.finish);
            b.extend_from_slice(b"}]");
            b.extend_from_slice(self.close);
        }
    }
}

/// Reasoning tokens are billed as completion tokens, on top of the visible text.
fn write_usage(out: &mut Vec<u8>, t: &TokenCounts) {
    let prompt = t.input + t.cache_read;
    let completion = t.output + t.reasoning;
    let _ = write!(
        out,
        r#"{{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{},"prompt_tokens_details":{{"cached_tokens":{},"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":{},"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}}"#,
        prompt,
        completion,
        prompt + completion,
        t.cache_read,
        t.reasoning
    );
}

/// `{"error":{"message","type","param","code"}}` as OpenAI sends it.
pub(crate) fn error_body(status: u16, message: &str) -> Vec<u8> {
    let (kind, code) = match status {
        401 => ("invalid_request_error", "\"invalid_api_key\""),
        404 => ("invalid_request_error", "null"),
        429 => ("requests", "\"rate_limit_exceeded\""),
        400..=499 => ("invalid_request_error", "null"),
        _ => ("server_error", "null"),
    };
    let message = serde_json::to_string(message).unwrap_or_default();
    format!(r#"{{"error":{{"message":{message},"type":"{kind}","param":null,"code":{code}}}}}"#)
        .into_bytes()
}

/// A 400 naming the request field at fault and OpenAI's code for it.
pub(crate) fn invalid_request_body(message: &str, param: &str, code: &str) -> Vec<u8> {
    let message = serde_json::to_string(message).unwrap_or_default();
    format!(
        r#"{{"error":{{"message":{message},"type":"invalid_request_error","param":"{param}","code":"{code}"}}}}"#
    )
    .into_bytes()
}
