//! Anthropic stream events → OpenAI `chat.completion.chunk`s, one event at a time.
//!
//! `message_start` → the role chunk; text, thinking (as `reasoning_content`) and tool-use
//! deltas → content chunks, a tool's OpenAI index counting tool blocks only; the
//! `message_delta` that carries the stop reason → the finish chunk; `message_stop` → a chunk
//! with `"choices":[]` and the usage, then `data: [DONE]`. `ping` and comment-only events
//! become an SSE comment (a keep-alive still); an `error` event becomes
//! `data: {"error":{…}}` and ends the stream without `[DONE]`. Signatures, redacted thinking
//! and citations have no OpenAI field and are left out.

use super::error_body;
use super::sse_events::SseEvent;
use super::stop_reason::finish_reason_of;
use super::usage_map::{AnthropicCounts, AnthropicUsage};
use super::write_json::{self, Object};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

pub(crate) struct ChunkWriter {
    created: u64,
    /// `{"id":…,"object":"chat.completion.chunk","created":…,"model":…`: how every chunk starts.
    head: Vec<u8>,
    /// What each Anthropic content block is, by its index.
    blocks: Vec<(u64, Block)>,
    /// Tool-use blocks so far: the next one's OpenAI tool-call index.
    tool_calls: u64,
    usage: AnthropicCounts,
    finish_sent: bool,
    /// `message_stop` or an error went out: nothing follows.
    ended: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    /// A tool-use block and its OpenAI tool-call index.
    Tool(u64),
    /// A block OpenAI has no field for (redacted thinking, server tool blocks).
    Other,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    message: Option<MessageHead<'a>>,
    index: Option<u64>,
    #[serde(borrow)]
    content_block: Option<ContentBlock<'a>>,
    #[serde(borrow)]
    delta: Option<Delta<'a>>,
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
struct MessageHead<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
struct ContentBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    text: Option<&'a RawValue>,
    #[serde(borrow)]
    thinking: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow)]
    text: Option<&'a RawValue>,
    #[serde(borrow)]
    thinking: Option<&'a RawValue>,
    #[serde(borrow)]
    partial_json: Option<&'a RawValue>,
    #[serde(borrow)]
    stop_reason: Option<Cow<'a, str>>,
}

/// A JSON string with something in it.
fn said(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get().starts_with('"') && r.get() != "\"\"")
}

impl ChunkWriter {
    pub fn new(created: u64) -> Self {
        let mut writer = ChunkWriter {
            created,
            head: Vec::with_capacity(128),
            blocks: Vec::new(),
            tool_calls: 0,
            usage: AnthropicCounts::default(),
            finish_sent: false,
            ended: false,
        };
        writer.set_head("", "");
        writer
    }

    fn set_head(&mut self, id: &str, model: &str) {
        self.head.clear();
        let mut head = Object::open(&mut self.head);
        head.string("id", id);
        head.raw("object", "\"chat.completion.chunk\"");
        head.number("created", self.created);
        head.string("model", model);
        // Left open: each chunk writes its own choices.
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
        if event.name == b"error" {
            return self.error(data, out);
        }
        // A payload that does not parse is skipped (the meter counts it malformed).
        let Ok(e) = serde_json::from_slice::<Event>(data) else {
            return;
        };
        match e.kind.as_ref() {
            "message_start" => {
                if let Some(message) = e.message {
                    let id = message.id.as_deref().unwrap_or("");
                    self.set_head(id, message.model.as_deref().unwrap_or(""));
                    if let Some(usage) = &message.usage {
                        self.usage.apply(usage);
                    }
                }
                self.delta_chunk(out, "role", "\"assistant\"", Some(("content", "\"\"")));
            }
            "content_block_start" => {
                if let (Some(index), Some(block)) = (e.index, e.content_block) {
                    self.block_start(index, &block, out);
                }
            }
            "content_block_delta" => {
                if let (Some(index), Some(delta)) = (e.index, e.delta) {
                    self.block_delta(index, &delta, out);
                }
            }
            "message_delta" => {
                if let Some(usage) = &e.usage {
                    self.usage.apply(usage);
                }
                let stop = e.delta.and_then(|d| d.stop_reason);
                if let (Some(stop), false) = (stop, self.finish_sent) {
                    self.finish_sent = true;
                    self.chunk_start(out);
                    out.extend_from_slice(b"{\"index\":0,\"delta\":{},\"finish_reason\":");
                    write_json::string(out, finish_reason_of(&stop));
                    out.extend_from_slice(b"}]}\n\n");
                }
            }
            "message_stop" => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&self.head);
                out.extend_from_slice(b",\"choices\":[],\"usage\":");
                self.usage.write_openai(out);
                out.extend_from_slice(b"}\n\ndata: [DONE]\n\n");
                self.ended = true;
            }
            "ping" => out.extend_from_slice(b": ping\n\n"),
            "error" => self.error(data, out),
            _ => {} // content_block_stop, and event types added later
        }
    }

    fn block_start(&mut self, index: u64, block: &ContentBlock<'_>, out: &mut Vec<u8>) {
        let kind = match block.kind.as_ref() {
            "text" => Block::Text,
            "thinking" => Block::Thinking,
            "tool_use" => {
                self.tool_calls += 1;
                Block::Tool(self.tool_calls - 1)
            }
            _ => Block::Other,
        };
        self.blocks.push((index, kind));
        match kind {
            Block::Text => {
                if let Some(text) = said(block.text) {
                    self.delta_chunk(out, "content", text.get(), None);
                }
            }
            Block::Thinking => {
                if let Some(thinking) = said(block.thinking) {
                    self.delta_chunk(out, "reasoning_content", thinking.get(), None);
                }
            }
            Block::Tool(tool) => {
                // The input arrives as `input_json_delta`s; a start that already carries it
                // (not Anthropic's own stream, but proxies do) passes it on as the first piece.
                let mut arguments = Vec::new();
                match block.input.map(RawValue::get).filter(|i| *i != "{}") {
                    Some(input) => write_json::string(&mut arguments, input),
                    None => arguments.extend_from_slice(b"\"\""),
                }
                self.tool_chunk(out, tool, Some((block.id, block.name)), &arguments);
            }
            Block::Other => {}
        }
    }

    fn block_delta(&mut self, index: u64, delta: &Delta<'_>, out: &mut Vec<u8>) {
        let kind = self
            .blocks
            .iter()
            .rev()
            .find(|(i, _)| *i == index)
            .map(|(_, kind)| *kind);
        match kind {
            Some(Block::Text) => {
                if let Some(text) = said(delta.text) {
                    self.delta_chunk(out, "content", text.get(), None);
                }
            }
            Some(Block::Thinking) => {
                if let Some(thinking) = said(delta.thinking) {
                    self.delta_chunk(out, "reasoning_content", thinking.get(), None);
                }
            }
            Some(Block::Tool(tool)) => {
                // The piece is a JSON string, as OpenAI's arguments pieces are.
                if let Some(piece) = said(delta.partial_json) {
                    self.tool_chunk(out, tool, None, piece.get().as_bytes());
                }
            }
            Some(Block::Other) | None => {}
        }
    }

    /// `data: {head,"choices":[`
    fn chunk_start(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b",\"choices\":[");
    }

    /// A chunk whose delta has `key: raw` (and `more`).
    fn delta_chunk(&self, out: &mut Vec<u8>, key: &str, raw: &str, more: Option<(&str, &str)>) {
        self.chunk_start(out);
        out.extend_from_slice(b"{\"index\":0,\"delta\":");
        let mut delta = Object::open(out);
        delta.raw(key, raw);
        if let Some((key, raw)) = more {
            delta.raw(key, raw);
        }
        delta.close();
        out.extend_from_slice(b",\"finish_reason\":null}]}\n\n");
    }

    /// A tool-call chunk: the call's opening (`id`, `name`) when `opening` is given, and a
    /// piece of its arguments (`arguments`: a JSON string literal).
    fn tool_chunk(
        &self,
        out: &mut Vec<u8>,
        tool: u64,
        opening: Option<(Option<&RawValue>, Option<&RawValue>)>,
        arguments: &[u8],
    ) {
        self.chunk_start(out);
        out.extend_from_slice(b"{\"index\":0,\"delta\":{\"tool_calls\":[");
        let mut call = Object::open(out);
        call.number("index", tool);
        if let Some((id, _)) = opening {
            call.raw("id", id.map_or("\"\"", RawValue::get));
            call.raw("type", "\"function\"");
        }
        let mut function = Object::open(call.key("function"));
        if let Some((_, name)) = opening {
            function.raw("name", name.map_or("\"\"", RawValue::get));
        }
        function.key("arguments").extend_from_slice(arguments);
        function.close();
        call.close();
        out.extend_from_slice(b"]},\"finish_reason\":null}]}\n\n");
    }

    fn error(&mut self, data: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&error_body::anthropic_to_openai(None, data));
        out.extend_from_slice(b"\n\n");
        self.ended = true;
    }
}
