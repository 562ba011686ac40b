//! OpenAI `chat.completion.chunk`s → Anthropic stream events, one chunk at a time.
//!
//! The first chunk → `message_start` (usage as far as known: zeros, OpenAI sends it last).
//! Content opens a text block, `reasoning_content` (or `reasoning`) a thinking block, each new
//! tool call a `tool_use` block whose argument pieces become `input_json_delta`s; a block is
//! stopped when another opens or the finish reason arrives. OpenAI sends the finish reason,
//! then the usage, then `[DONE]`, so `message_delta` (stop reason and all four usage counts)
//! and `message_stop` go out at `[DONE]`. A refusal is passed on as text with the stop reason
//! `refusal`. An error chunk becomes `event: error` and ends the stream.
//!
//! Argument pieces of an earlier call after a later one opened (no known provider interleaves
//! them) are sent to the earlier call's block index.

use super::error_body;
use super::read_json::{each, First};
use super::response_to_anthropic::AssistantMessage;
use super::sse_events::SseEvent;
use super::stop_reason::stop_reason_of;
use super::usage_map::{OpenAiCounts, OpenAiUsage};
use super::write_json::{self, Object};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

pub(crate) struct EventWriter {
    started: bool,
    /// The block under way and its Anthropic index.
    open: Option<(Block, u64)>,
    /// The next block's Anthropic index (blocks of every kind count).
    next_index: u64,
    /// Each tool call's OpenAI index, id and Anthropic block index.
    tools: Vec<(u64, String, u64)>,
    stop_reason: Option<&'static str>,
    refused: bool,
    usage: Option<OpenAiCounts>,
    /// `message_stop` or an error went out: nothing follows.
    ended: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Tool,
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    choices: Option<First<Choice<'a>>>,
    usage: Option<OpenAiUsage>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow)]
    delta: Option<AssistantMessage<'a>>,
    #[serde(borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ToolCallDelta<'a> {
    index: Option<u64>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    function: Option<FunctionDelta<'a>>,
}

#[derive(Deserialize)]
struct FunctionDelta<'a> {
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
}

/// A JSON string with something in it.
fn said(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get().starts_with('"') && r.get() != "\"\"")
}

/// `event: <name>\ndata: ` — the caller writes the data and ends it with [`end_event`].
fn event_start(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
}

fn end_event(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\n\n");
}

impl EventWriter {
    pub fn new() -> Self {
        EventWriter {
            started: false,
            open: None,
            next_index: 0,
            tools: Vec::new(),
            stop_reason: None,
            refused: false,
            usage: None,
            ended: false,
        }
    }

    pub fn on_event(&mut self, event: &SseEvent<'_>, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        if event.comment_only || event.name == b"ping" {
            out.extend_from_slice(b": ping\n\n");
            return;
        }
        let Some(data) = event.data else { return };
        if data.trim_ascii() == b"[DONE]" {
            return self.close_message(out);
        }
        if event.name == b"error" {
            return self.error(data, out);
        }
        // A payload that does not parse is skipped (the meter counts it malformed).
        let Ok(chunk) = serde_json::from_slice::<Chunk>(data) else {
            return;
        };
        if chunk.error.is_some_and(|e| e.get() != "null") {
            return self.error(data, out);
        }
        if let Some(usage) = &chunk.usage {
            self.usage.get_or_insert_default().apply(usage);
        }
        if !self.started {
            self.message_start(chunk.id.as_deref(), chunk.model.as_deref(), out);
        }
        let Some(choice) = chunk.choices.and_then(|c| c.0) else {
            return;
        };
        if let Some(delta) = &choice.delta {
            if let Some(thinking) = said(delta.reasoning_content).or(said(delta.reasoning)) {
                self.piece(Block::Thinking, "thinking_delta", "thinking", thinking, out);
            }
            if let Some(text) = said(delta.content) {
                self.piece(Block::Text, "text_delta", "text", text, out);
            }
            if let Some(refusal) = said(delta.refusal) {
                self.refused = true;
                self.piece(Block::Text, "text_delta", "text", refusal, out);
            }
            if let Some(calls) = delta.tool_calls {
                // A malformed list is skipped like a malformed chunk.
                let _ = each(calls, "tool_calls", |_, call: ToolCallDelta<'_>| {
                    self.tool_call(&call, out);
                    Ok(())
                });
            }
        }
        if let Some(finish) = &choice.finish_reason {
            self.stop_block(out);
            self.stop_reason = Some(stop_reason_of(finish));
        }
    }

    /// The stream ended without `[DONE]`: when the finish reason and the usage both came, the
    /// answer is whole and gets its closing events; otherwise it was cut, and says so by
    /// having none.
    pub fn on_end(&mut self, out: &mut Vec<u8>) {
        if !self.ended && self.stop_reason.is_some() && self.usage.is_some() {
            self.close_message(out);
        }
    }

    fn message_start(&mut self, id: Option<&str>, model: Option<&str>, out: &mut Vec<u8>) {
        self.started = true;
        event_start(out, "message_start");
        let mut o = Object::open(out);
        o.raw("type", "\"message_start\"");
        let mut message = Object::open(o.key("message"));
        message.string("id", id.unwrap_or(""));
        message.raw("type", "\"message\"");
        message.raw("role", "\"assistant\"");
        message.string("model", model.unwrap_or(""));
        message.raw("content", "[]");
        message.raw("stop_reason", "null");
        message.raw("stop_sequence", "null");
        self.usage
            .unwrap_or_default()
            .write_anthropic(message.key("usage"));
        message.close();
        o.close();
        end_event(out);
    }

    /// Opens a block of `kind` unless one is under way, then sends `piece` (a raw JSON string)
    /// as a `delta_type` delta's `field`.
    fn piece(
        &mut self,
        kind: Block,
        delta_type: &str,
        field: &str,
        piece: &RawValue,
        out: &mut Vec<u8>,
    ) {
        let index = match self.open {
            Some((open, index)) if open == kind => index,
            _ => {
                let start = match kind {
                    Block::Thinking => r#"{"type":"thinking","thinking":"","signature":""}"#,
                    _ => r#"{"type":"text","text":""}"#,
                };
                self.start_block(kind, start.as_bytes(), out)
            }
        };
        self.delta(index, delta_type, field, piece.get(), out);
    }

    fn tool_call(&mut self, call: &ToolCallDelta<'_>, out: &mut Vec<u8>) {
        let tool = call.index.unwrap_or(0);
        let known = self.tools.iter().rev().find(|(t, _, _)| *t == tool);
        // A new call: an index not seen, or (servers that send whole calls) a new id on it.
        let new_id = call
            .id
            .as_deref()
            .filter(|id| known.is_none_or(|(_, known_id, _)| known_id != id));
        let index = match (new_id, known) {
            (Some(id), _) => {
                let mut start = Vec::with_capacity(96);
                let mut block = Object::open(&mut start);
                block.raw("type", "\"tool_use\"");
                block.string("id", id);
                let name = call.function.as_ref().and_then(|f| f.name);
                block.raw("name", name.map_or("\"\"", RawValue::get));
                block.raw("input", "{}");
                block.close();
                let index = self.start_block(Block::Tool, &start, out);
                self.tools.push((tool, id.to_owned(), index));
                index
            }
            (None, Some((_, _, index))) => *index,
            (None, None) => return, // arguments for a call never opened
        };
        if let Some(arguments) = said(call.function.as_ref().and_then(|f| f.arguments)) {
            self.delta(
                index,
                "input_json_delta",
                "partial_json",
                arguments.get(),
                out,
            );
        }
    }

    /// Stops the block under way, opens one of `kind` with `content_block`, returns its index.
    fn start_block(&mut self, kind: Block, content_block: &[u8], out: &mut Vec<u8>) -> u64 {
        self.stop_block(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((kind, index));
        event_start(out, "content_block_start");
        out.extend_from_slice(b"{\"type\":\"content_block_start\",\"index\":");
        write_json::number(out, index);
        out.extend_from_slice(b",\"content_block\":");
        out.extend_from_slice(content_block);
        out.push(b'}');
        end_event(out);
        index
    }

    fn delta(&self, index: u64, delta_type: &str, field: &str, raw: &str, out: &mut Vec<u8>) {
        event_start(out, "content_block_delta");
        out.extend_from_slice(b"{\"type\":\"content_block_delta\",\"index\":");
        write_json::number(out, index);
        out.extend_from_slice(b",\"delta\":");
        let mut delta = Object::open(out);
        delta.string("type", delta_type);
        delta.raw(field, raw);
        delta.close();
        out.push(b'}');
        end_event(out);
    }

    fn stop_block(&mut self, out: &mut Vec<u8>) {
        if let Some((_, index)) = self.open.take() {
            event_start(out, "content_block_stop");
            out.extend_from_slice(b"{\"type\":\"content_block_stop\",\"index\":");
            write_json::number(out, index);
            out.push(b'}');
            end_event(out);
        }
    }

    /// `message_delta` with the stop reason and the usage, then `message_stop`.
    fn close_message(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.message_start(None, None, out);
        }
        self.stop_block(out);
        let stop_reason = match self.stop_reason {
            Some("end_turn") | None if self.refused => Some("refusal"),
            other => other,
        };
        event_start(out, "message_delta");
        out.extend_from_slice(b"{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":");
        match stop_reason {
            Some(reason) => write_json::string(out, reason),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"stop_sequence\":null},\"usage\":");
        self.usage.unwrap_or_default().write_anthropic(out);
        out.push(b'}');
        end_event(out);
        event_start(out, "message_stop");
        out.extend_from_slice(b"{\"type\":\"message_stop\"}");
        end_event(out);
        self.ended = true;
    }

    fn error(&mut self, data: &[u8], out: &mut Vec<u8>) {
        event_start(out, "error");
        out.extend_from_slice(&error_body::openai_to_anthropic(None, data));
        end_event(out);
        self.ended = true;
    }
}
