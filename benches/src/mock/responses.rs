//! Renders OpenAI Responses API replies: the `response` object and its event stream
//! (`response.created` … `response.completed`, each event numbered by `sequence_number`).
//!
//! Output items come in the order OpenAI produces them: a `reasoning` item
//! (`reasoning_tokens` control), a `message` (without tools, before them with
//! `text_before_tool`, or a refusal), then one `function_call` item per tool call.

use std::io::Write;

use super::controls::{Stop, TokenCounts};
use super::reply::{
    push_token_text, CallId, ReplySpec, TOKEN_TEXT, TOOL_ARGUMENTS_JSON, TOOL_ARGUMENT_FRAGMENTS,
};
use super::sse::EventList;

/// What the response object echoes from the request, as JSON.
pub(crate) struct Echo<'a> {
    /// A string literal or `null`.
    pub previous_response_id: &'a str,
    /// The request's `tools`, or `[]`.
    pub tools: &'a str,
}

#[derive(Clone, Copy)]
enum Item {
    Reasoning,
    Message,
    Call(usize),
}

fn items(spec: &ReplySpec) -> impl Iterator<Item = Item> {
    let calls = if spec.calls_tools() {
        spec.tool_calls.len()
    } else {
        0
    };
    (spec.controls.tokens.reasoning > 0)
        .then_some(Item::Reasoning)
        .into_iter()
        .chain(spec.has_text().then_some(Item::Message))
        .chain((0..calls).map(Item::Call))
}

/// The non-streamed reply.
pub(crate) fn response(spec: &ReplySpec, echo: &Echo) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(1024 + TOKEN_TEXT.len() * spec.controls.tokens.output as usize);
    write_response(&mut out, spec, echo, true);
    out
}

/// `status` and `incomplete_details` once done: a forced stop other than a stop
/// sequence (which the Responses API does not have) leaves the response incomplete.
fn outcome(spec: &ReplySpec) -> (&'static str, &'static str) {
    match spec.controls.stop {
        Some(Stop::MaxTokens) => ("incomplete", r#"{"reason":"max_output_tokens"}"#),
        Some(Stop::Refusal) => ("incomplete", r#"{"reason":"content_filter"}"#),
        Some(Stop::Sequence) | None => ("completed", "null"),
    }
}

fn write_response(out: &mut Vec<u8>, spec: &ReplySpec, echo: &Echo, done: bool) {
    let (status, incomplete_details) = match done {
        true => outcome(spec),
        false => ("in_progress", "null"),
    };
    let _ = write!(
        out,
        r#"{{"id":"resp_mock_{}","object":"response","created_at":{},"status":"{status}","background":false,"completed_at":"#,
        spec.seq, spec.created
    );
    match status {
        "completed" => {
            let _ = write!(out, "{}", spec.created);
        }
        _ => out.extend_from_slice(b"null"),
    }
    let _ = write!(
        out,
        r#","error":null,"incomplete_details":{incomplete_details},"instructions":null,"max_output_tokens":null,"max_tool_calls":null,"model":{},"output":["#,
        spec.model_json
    );
    if done {
        for (index, item) in items(spec).enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_item(out, spec, item, true);
        }
    }
    let _ = write!(
        out,
        r#"],"parallel_tool_calls":true,"previous_response_id":{},"reasoning":{{"effort":null,"summary":null}},"service_tier":"default","store":true,"temperature":1.0,"text":{{"format":{{"type":"text"}}}},"tool_choice":"auto","tools":{},"top_p":1.0,"truncation":"disabled","usage":"#,
        echo.previous_response_id, echo.tools
    );
    if done && !spec.controls.omit_usage {
        write_usage(out, &spec.controls.tokens);
    } else {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(br#","user":null,"metadata":{}}"#);
}

/// An output item as `response.output_item.added` (`done: false`) or as finished.
fn write_item(out: &mut Vec<u8>, spec: &ReplySpec, item: Item, done: bool) {
    let seq = spec.seq;
    match item {
        Item::Reasoning => {
            let _ = write!(
                out,
                r#"{{"id":"rs_mock_{seq}","type":"reasoning","summary":[]}}"#
            );
        }
        Item::Message => {
            let status = match (done, spec.controls.stop) {
                (false, _) => "in_progress",
                (true, Some(Stop::MaxTokens)) => "incomplete",
                (true, _) => "completed",
            };
            let _ = write!(
                out,
                r#"{{"id":"msg_mock_{seq}","type":"message","status":"{status}","content":["#
            );
            if done {
                write_part(out, spec, true);
            }
            out.extend_from_slice(br#"],"role":"assistant"}"#);
        }
        Item::Call(index) => {
            let id = CallId { seq, index };
            let (status, arguments) = match done {
                true => ("completed", TOOL_ARGUMENTS_JSON),
                false => ("in_progress", r#""""#),
            };
            let _ = write!(
                out,
                r#"{{"id":"fc_mock_{id}","type":"function_call","status":"{status}","arguments":{arguments},"call_id":"call_mock_{id}","name":{}}}"#,
                spec.tool_calls[index]
            );
        }
    }
}

/// The message's one content part: the text, or the refusal; empty when just added.
fn write_part(out: &mut Vec<u8>, spec: &ReplySpec, done: bool) {
    let tokens = if done { spec.controls.tokens.output } else { 0 };
    if spec.controls.refusal {
        out.extend_from_slice(br#"{"type":"refusal","refusal":""#);
        push_token_text(out, tokens);
        out.extend_from_slice(br#""}"#);
    } else {
        out.extend_from_slice(br#"{"type":"output_text","annotations":[],"logprobs":[],"text":""#);
        push_token_text(out, tokens);
        out.extend_from_slice(br#""}"#);
    }
}

/// Cached tokens are part of `input_tokens`, reasoning part of `output_tokens`.
fn write_usage(out: &mut Vec<u8>, t: &TokenCounts) {
    let input = t.input + t.cache_read;
    let output = t.output + t.reasoning;
    let _ = write!(
        out,
        r#"{{"input_tokens":{input},"input_tokens_details":{{"cached_tokens":{},"cache_write_tokens":0}},"output_tokens":{output},"output_tokens_details":{{"reasoning_tokens":{}}},"total_tokens":{}}}"#,
        t.cache_read,
        t.reasoning,
        input + output
    );
}

pub(crate) fn stream(spec: &ReplySpec, echo: &Echo) -> EventList {
    let c = spec.controls;
    let count = c.tokens.output as usize + 4 * spec.tool_calls.len() + 16;
    let mut events = Events {
        list: EventList::with_capacity(count * 200 + 2048, count),
        next: 0,
        first_delta: true,
        ttft_ms: c.ttft_ms,
        inter_token_ms: c.inter_token_ms,
        malformed_pending: c.malformed_sse,
    };
    for kind in ["response.created", "response.in_progress"] {
        events.push(0, kind, |b| {
            b.extend_from_slice(br#""response":"#);
            write_response(b, spec, echo, false);
        });
    }
    for (output_index, item) in items(spec).enumerate() {
        events.push(0, "response.output_item.added", |b| {
            let _ = write!(b, r#""output_index":{output_index},"item":"#);
            write_item(b, spec, item, false);
        });
        match item {
            // Hidden reasoning: nothing streams, the item is done when the thinking is.
            Item::Reasoning => {}
            Item::Message => message_events(&mut events, spec, output_index),
            Item::Call(index) => {
                let item_id = format!(
                    r#""item_id":"fc_mock_{}","output_index":{output_index}"#,
                    CallId {
                        seq: spec.seq,
                        index
                    }
                );
                for fragment in TOOL_ARGUMENT_FRAGMENTS {
                    let delay = events.delay();
                    events.push(delay, "response.function_call_arguments.delta", |b| {
                        let _ = write!(b, r#"{item_id},"delta":{fragment}"#);
                    });
                    events.malformed();
                }
                events.push(0, "response.function_call_arguments.done", |b| {
                    let _ = write!(b, r#"{item_id},"arguments":{TOOL_ARGUMENTS_JSON}"#);
                });
            }
        }
        let delay = match item {
            Item::Reasoning => events.delay(),
            _ => 0,
        };
        events.push(delay, "response.output_item.done", |b| {
            let _ = write!(b, r#""output_index":{output_index},"item":"#);
            write_item(b, spec, item, true);
        });
    }
    events.malformed();
    let last = match outcome(spec).0 {
        "completed" => "response.completed",
        _ => "response.incomplete",
    };
    events.push(0, last, |b| {
        b.extend_from_slice(br#""response":"#);
        write_response(b, spec, echo, true);
    });
    events.list
}

/// The message item's content part, its deltas (one per token) and their closing events.
fn message_events(events: &mut Events, spec: &ReplySpec, output_index: usize) {
    let c = spec.controls;
    let at = format!(
        r#""item_id":"msg_mock_{}","output_index":{output_index},"content_index":0"#,
        spec.seq
    );
    events.push(0, "response.content_part.added", |b| {
        let _ = write!(b, r#"{at},"part":"#);
        write_part(b, spec, false);
    });
    let (delta_kind, done_kind, delta_fields, done_field): (_, _, &[u8], _) = if c.refusal {
        (
            "response.refusal.delta",
            "response.refusal.done",
            br#","delta":"tok ""#,
            "refusal",
        )
    } else {
        (
            "response.output_text.delta",
            "response.output_text.done",
            br#","delta":"tok ","logprobs":[]"#,
            "text",
        )
    };
    for _ in 0..c.tokens.output {
        let delay = events.delay();
        events.push(delay, delta_kind, |b| {
            b.extend_from_slice(at.as_bytes());
            b.extend_from_slice(delta_fields);
        });
        events.malformed();
    }
    events.push(0, done_kind, |b| {
        let _ = write!(b, r#"{at},"{done_field}":""#);
        push_token_text(b, c.tokens.output);
        b.push(b'"');
        if !c.refusal {
            b.extend_from_slice(br#","logprobs":[]"#);
        }
    });
    events.push(0, "response.content_part.done", |b| {
        let _ = write!(b, r#"{at},"part":"#);
        write_part(b, spec, true);
    });
}

/// Numbered Responses events: `event: <type>` and `data: {"type":…,"sequence_number":n}`.
struct Events {
    list: EventList,
    next: u64,
    first_delta: bool,
    ttft_ms: u64,
    inter_token_ms: u64,
    malformed_pending: bool,
}

impl Events {
    /// `fields` writes the event's fields after `type`, without the separating comma.
    fn push(&mut self, delay_ms: u64, kind: &str, fields: impl FnOnce(&mut Vec<u8>)) {
        let number = self.next;
        self.next += 1;
        self.list.push(delay_ms, |b| {
            let _ = write!(b, "event: {kind}\ndata: {{\"type\":\"{kind}\",");
            fields(b);
            let _ = write!(b, ",\"sequence_number\":{number}}}\n\n");
        });
    }

    /// The first generated event waits for the time to first token, the others for the
    /// inter-token gap.
    fn delay(&mut self) -> u64 {
        if std::mem::take(&mut self.first_delta) {
            self.ttft_ms
        } else {
            self.inter_token_ms
        }
    }

    /// Once per stream, after the first generated event: a garbage line and a cut event.
    fn malformed(&mut self) {
        if std::mem::take(&mut self.malformed_pending) {
            self.list.push_malformed(
                "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_mo",
            );
        }
    }
}
