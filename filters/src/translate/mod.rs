//! Translation between the OpenAI Chat Completions and Anthropic Messages formats: request
//! bodies, JSON responses, error bodies and event streams. Pure and I/O-free; the gateway
//! calls it around the proxy phases (see `docs/design.md`, "Translation between the OpenAI
//! and Anthropic formats", for the field tables).
//!
//! Whatever one format says that the other cannot is refused with a [`TranslateError`] naming
//! the field. Values that ask for nothing (`n: 1`, penalties 0, `null`) are accepted and left
//! out, and so are the few hints whose work the provider does by itself (image `detail`, tool
//! `strict`, `cache_control` toward OpenAI); the design doc's table lists each one.
//!
//! | module | job |
//! | --- | --- |
//! | `read_json`, `write_json` | borrowed reading of JSON members and arrays; writing JSON text |
//! | `request_to_anthropic`, `messages_to_anthropic`, `blocks_to_anthropic` | an OpenAI request as an Anthropic body tail |
//! | `request_to_openai`, `messages_to_openai` | an Anthropic request as an OpenAI body tail |
//! | `tools` | tool definitions and `tool_choice`, both ways |
//! | `usage_map`, `stop_reason` | usage objects and finish/stop reasons, both ways |
//! | `response_to_openai`, `response_to_anthropic` | whole (non-streamed) 2xx responses |
//! | `error_body` | provider error bodies and stream error events |
//! | `sse_events` | cutting provider bytes into whole SSE events |
//! | `stream_to_openai`, `stream_to_anthropic` | one provider event → client events |

mod blocks_to_anthropic;
mod error_body;
mod messages_to_anthropic;
mod messages_to_openai;
mod read_json;
mod request_to_anthropic;
mod request_to_openai;
mod response_to_anthropic;
mod response_to_openai;
mod sse_events;
mod stop_reason;
mod stream_to_anthropic;
mod stream_to_openai;
mod tools;
mod usage_map;
mod write_json;

use crate::usage::ApiFormat;
use sse_events::{EventSplitter, SseEvent};
use std::fmt;

/// Which way a request goes: the client's format → the provider's format. Responses go the
/// other way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// An OpenAI-format client, an Anthropic-kind provider.
    OpenAiToAnthropic,
    /// An Anthropic-format client, an OpenAI-kind provider.
    AnthropicToOpenAi,
}

impl Direction {
    /// The format the provider speaks.
    pub fn provider_format(self) -> ApiFormat {
        match self {
            Direction::OpenAiToAnthropic => ApiFormat::Anthropic,
            Direction::AnthropicToOpenAi => ApiFormat::OpenAi,
        }
    }

    /// The format the client speaks.
    pub fn client_format(self) -> ApiFormat {
        match self {
            Direction::OpenAiToAnthropic => ApiFormat::OpenAi,
            Direction::AnthropicToOpenAi => ApiFormat::Anthropic,
        }
    }
}

/// Why a body could not be translated. The gateway answers 400 with [`fmt::Display`] for a
/// request; `field` is a JSON path (`messages[2].content[0].type`, `n`, `temperature`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateError {
    pub field: String,
    pub why: String,
}

impl TranslateError {
    /// `field` has a value the target format has no way to say.
    pub(crate) fn inexpressible(target: ApiFormat, field: impl Into<String>, reason: &str) -> Self {
        let api = match target {
            ApiFormat::OpenAi => "the OpenAI Chat Completions API",
            ApiFormat::Anthropic => "the Anthropic Messages API",
        };
        TranslateError {
            field: field.into(),
            why: format!("cannot be expressed in {api}: {reason}"),
        }
    }

    /// `field` is malformed in its own format (`why` reads after the field: "must be …").
    pub(crate) fn invalid(field: impl Into<String>, why: &str) -> Self {
        TranslateError {
            field: field.into(),
            why: why.to_owned(),
        }
    }
}

impl fmt::Display for TranslateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.why)
        } else {
            write!(f, "field `{}` {}", self.field, self.why)
        }
    }
}

impl std::error::Error for TranslateError {}

/// A whole client request body in the client's format → the provider-format body tail
/// `,"k":v,...}` without `model` (the gateway writes `{"model":"<upstream model>"` before it,
/// as for [`crate::chat_request::UpstreamBody`]). The output limit is kept exactly.
///
/// `body` is the sanitised body as rendered for an upstream: fields the gateway consumes
/// itself (`provider`) must be gone, or they are refused like any member with no translation.
pub fn translate_request(dir: Direction, body: &[u8]) -> Result<Vec<u8>, TranslateError> {
    match dir {
        Direction::OpenAiToAnthropic => request_to_anthropic::translate(body),
        Direction::AnthropicToOpenAi => request_to_openai::translate(body),
    }
}

/// A provider's 2xx non-streamed body → the client's format. `dir` names the request
/// direction; `created_unix` becomes OpenAI's `created`.
pub fn translate_json_response(
    dir: Direction,
    body: &[u8],
    created_unix: u64,
) -> Result<Vec<u8>, TranslateError> {
    match dir {
        Direction::OpenAiToAnthropic => response_to_openai::translate(body, created_unix),
        Direction::AnthropicToOpenAi => response_to_anthropic::translate(body),
    }
}

/// A provider's 4xx/5xx body → the client format's error shape. Anything that is not an
/// error object becomes a generic error of the right shape for `status`.
pub fn translate_error_body(dir: Direction, status: u16, body: &[u8]) -> Vec<u8> {
    match dir {
        Direction::OpenAiToAnthropic => error_body::anthropic_to_openai(Some(status), body),
        Direction::AnthropicToOpenAi => error_body::openai_to_anthropic(Some(status), body),
    }
}

/// Translates a provider event stream into the client's, event by event as they arrive.
///
/// Only the unfinished event at the end of a chunk is carried; output buffers are the
/// caller's. The output is the same however the input is cut into chunks.
pub struct StreamTranslator {
    events: EventSplitter,
    state: StreamState,
}

enum StreamState {
    /// Anthropic provider events → OpenAI chunks.
    ToOpenAi(stream_to_openai::ChunkWriter),
    /// OpenAI provider chunks → Anthropic events.
    ToAnthropic(stream_to_anthropic::EventWriter),
}

impl StreamState {
    fn on_event(&mut self, event: &SseEvent<'_>, out: &mut Vec<u8>) {
        match self {
            StreamState::ToOpenAi(w) => w.on_event(event, out),
            StreamState::ToAnthropic(w) => w.on_event(event, out),
        }
    }
}

impl StreamTranslator {
    pub fn new(dir: Direction, created_unix: u64) -> Self {
        let state = match dir {
            Direction::OpenAiToAnthropic => {
                StreamState::ToOpenAi(stream_to_openai::ChunkWriter::new(created_unix))
            }
            Direction::AnthropicToOpenAi => {
                StreamState::ToAnthropic(stream_to_anthropic::EventWriter::new())
            }
        };
        StreamTranslator {
            events: EventSplitter::default(),
            state,
        }
    }

    /// Provider bytes in (cut anywhere; LF, CRLF or CR line ends); whole client events are
    /// appended to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let state = &mut self.state;
        self.events.feed(chunk, |event| state.on_event(event, out));
    }

    /// The provider stream ended. An event whose lines all arrived but whose closing blank
    /// line did not is translated; a stream cut before its terminator gets none invented,
    /// except that an Anthropic client whose OpenAI stream said everything but `[DONE]` (a
    /// finish reason and the usage) gets its closing events.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let state = &mut self.state;
        self.events.finish(|event| state.on_event(event, out));
        if let StreamState::ToAnthropic(w) = &mut self.state {
            w.on_end(out);
        }
    }
}
