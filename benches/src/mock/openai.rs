//! Renders OpenAI chat-completions replies: `chat.completion` objects, the
//! `chat.completion.chunk` SSE stream and error bodies.

use std::io::Write;

use super::controls::TokenCounts;
use super::reply::{push_token_text, ReplySpec, TOOL_ARGUMENTS_JSON, TOOL_ARGUMENT_FRAGMENTS};
use super::sse::EventList;

pub(crate) fn completion(spec: &ReplySpec) -> Vec<u8> {
    let tokens = &spec.controls.tokens;
    let mut out = Vec::with_capacity(640 + 4 * tokens.output as usize);
    let _ = write!(
        out,
        r#"{{"id":"chatcmpl-mock-{}","object":"chat.completion","created":{},"model":{},"choices":[{{"index":0,"message":{{"role":"assistant","#,
        spec.seq, spec.created, spec.model_json
    );
    match spec.tool_json {
        Some(name) => {
            let _ = write!(
                out,
                r#""content":null,"refusal":null,"tool_calls":[{{"id":"call_mock_{}","type":"function","function":{{"name":{},"arguments":{}}}}}]}},"logprobs":null,"finish_reason":"tool_calls"}}]"#,
                spec.seq, name, TOOL_ARGUMENTS_JSON
            );
        }
        None => {
            out.extend_from_slice(br#""content":""#);
            push_token_text(&mut out, tokens.output);
            out.extend_from_slice(br#"","refusal":null},"logprobs":null,"finish_reason":"stop"}]"#);
        }
    }
    if !spec.controls.omit_usage {
        out.extend_from_slice(br#","usage":"#);
        write_usage(&mut out, tokens);
    }
    out.extend_from_slice(br#","system_fingerprint":null}"#);
    out
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
    let mut list = EventList::with_capacity(
        event_bytes * (c.tokens.output as usize + 6),
        c.tokens.output as usize + 6,
    );
    let mut malformed_pending = c.malformed_sse;
    let mut push_malformed = |list: &mut EventList| {
        if std::mem::take(&mut malformed_pending) {
            list.push_malformed(&truncated);
        }
    };

    let finish: &[u8] = match spec.tool_json {
        Some(name) => {
            let head = format!(
                r#"{{"role":"assistant","content":null,"tool_calls":[{{"index":0,"id":"call_mock_{}","type":"function","function":{{"name":{},"arguments":""}}}}]}}"#,
                spec.seq, name
            );
            list.push(
                c.ttft_ms,
                Chunk::new(p, close, head.as_bytes(), b"null").writer(),
            );
            push_malformed(&mut list);
            for fragment in TOOL_ARGUMENT_FRAGMENTS {
                let delta = format!(
                    r#"{{"tool_calls":[{{"index":0,"function":{{"arguments":{fragment}}}}}]}}"#
                );
                list.push(
                    c.inter_token_ms,
                    Chunk::new(p, close, delta.as_bytes(), b"null").writer(),
                );
            }
            br#""tool_calls""#
        }
        None => {
            if c.tokens.output >= 1 {
                list.push(
                    c.ttft_ms,
                    Chunk::new(
                        p,
                        close,
                        br#"{"role":"assistant","content":"tok "}"#,
                        b"null",
                    )
                    .writer(),
                );
                push_malformed(&mut list);
            }
            if c.tokens.output >= 2 {
                list.push(
                    c.inter_token_ms,
                    Chunk::new(p, close, br#"{"content":"tok "}"#, b"null").writer(),
                );
                list.repeat_last(c.tokens.output - 2, c.inter_token_ms);
            }
            br#""stop""#
        }
    };
    push_malformed(&mut list);
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

fn write_usage(out: &mut Vec<u8>, t: &TokenCounts) {
    let prompt = t.input + t.cache_read;
    let _ = write!(
        out,
        r#"{{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{},"prompt_tokens_details":{{"cached_tokens":{},"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}}"#,
        prompt,
        t.output,
        prompt + t.output,
        t.cache_read
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
