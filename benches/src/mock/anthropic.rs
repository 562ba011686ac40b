//! Renders Anthropic messages replies: `message` objects, the event stream
//! (`message_start` … `message_stop`) and error bodies.

use std::io::Write;

use super::controls::TokenCounts;
use super::reply::{push_token_text, ReplySpec, TOOL_ARGUMENT_FRAGMENTS, TOOL_INPUT_JSON};
use super::sse::EventList;

pub(crate) fn message(spec: &ReplySpec) -> Vec<u8> {
    let tokens = &spec.controls.tokens;
    let mut out = Vec::with_capacity(512 + 4 * tokens.output as usize);
    let _ = write!(
        out,
        r#"{{"id":"msg_mock_{}","type":"message","role":"assistant","model":{},"content":["#,
        spec.seq, spec.model_json
    );
    let stop_reason = match spec.tool_json {
        Some(name) => {
            let _ = write!(
                out,
                r#"{{"type":"tool_use","id":"toolu_mock_{}","name":{},"input":{}}}"#,
                spec.seq, name, TOOL_INPUT_JSON
            );
            "tool_use"
        }
        None => {
            out.extend_from_slice(br#"{"type":"text","text":""#);
            push_token_text(&mut out, tokens.output);
            out.extend_from_slice(br#""}"#);
            "end_turn"
        }
    };
    let _ = write!(
        out,
        r#"],"stop_reason":"{stop_reason}","stop_sequence":null"#
    );
    if !spec.controls.omit_usage {
        out.extend_from_slice(br#","usage":"#);
        write_usage(&mut out, tokens, tokens.output);
    }
    out.push(b'}');
    out
}

pub(crate) fn stream(spec: &ReplySpec) -> EventList {
    let c = spec.controls;
    let with_usage = !c.omit_usage;
    let events = c.tokens.output as usize + 10;
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
    let stop_reason = match spec.tool_json {
        Some(name) => {
            list.push(0, |b| {
                let _ = write!(
                    b,
                    "event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"tool_use\",\"id\":\"toolu_mock_{}\",\"name\":{},\"input\":{{}}}}}}\n\n",
                    spec.seq, name
                );
            });
            push_ping(&mut list);
            for (i, fragment) in TOOL_ARGUMENT_FRAGMENTS.into_iter().enumerate() {
                let delay = if i == 0 { c.ttft_ms } else { c.inter_token_ms };
                list.push(delay, |b| {
                    let _ = write!(
                        b,
                        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":{fragment}}}}}\n\n"
                    );
                });
                push_malformed(&mut list);
            }
            "tool_use"
        }
        None => {
            list.push(0, |b| {
                b.extend_from_slice(b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
            });
            push_ping(&mut list);
            let text_delta: &[u8] = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"tok \"}}\n\n";
            if c.tokens.output >= 1 {
                list.push(c.ttft_ms, |b| b.extend_from_slice(text_delta));
                push_malformed(&mut list);
            }
            if c.tokens.output >= 2 {
                list.push(c.inter_token_ms, |b| b.extend_from_slice(text_delta));
                list.repeat_last(c.tokens.output - 2, c.inter_token_ms);
            }
            "end_turn"
        }
    };
    push_malformed(&mut list);
    list.push(0, |b| {
        b.extend_from_slice(
            b"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        );
    });
    list.push(0, |b| {
        let _ = write!(
            b,
            "event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"{stop_reason}\",\"stop_sequence\":null}}"
        );
        if with_usage {
            let _ = write!(b, ",\"usage\":{{\"output_tokens\":{}}}", c.tokens.output);
        }
        b.extend_from_slice(b"}\n\n");
    });
    list.push(0, |b| {
        b.extend_from_slice(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    });
    list
}

fn push_ping(list: &mut EventList) {
    list.push(0, |b| {
        b.extend_from_slice(b"event: ping\ndata: {\"type\": \"ping\"}\n\n")
    });
}

fn write_usage(out: &mut Vec<u8>, t: &TokenCounts, output_tokens: u64) {
    let _ = write!(
        out,
        r#"{{"input_tokens":{},"cache_creation_input_tokens":{},"cache_read_input_tokens":{},"cache_creation":{{"ephemeral_5m_input_tokens":{},"ephemeral_1h_input_tokens":{}}},"output_tokens":{},"service_tier":"standard"}}"#,
        t.input,
        t.cache_write_5m + t.cache_write_1h,
        t.cache_read,
        t.cache_write_5m,
        t.cache_write_1h,
        output_tokens
    );
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
