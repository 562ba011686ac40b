//! What the API renderers ([`super::openai`], [`super::anthropic`], [`super::responses`])
//! need to know about one reply, already resolved and JSON-escaped.

use std::fmt;

use super::controls::Controls;

pub(crate) struct ReplySpec<'a> {
    /// Makes ids unique per process.
    pub seq: u64,
    /// Unix seconds.
    pub created: u64,
    /// The request's model as a JSON string literal, quotes included.
    pub model_json: &'a str,
    /// One tool name (a JSON string literal) per tool call to make; empty without tools.
    pub tool_calls: &'a [String],
    pub controls: &'a Controls,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
}

impl ReplySpec<'_> {
    /// Whether the reply calls tools (the request offered some and the model does not refuse).
    pub fn calls_tools(&self) -> bool {
        !self.tool_calls.is_empty() && !self.controls.refusal
    }

    /// Whether the reply has text (or a refusal): without tools, or before them on request.
    pub fn has_text(&self) -> bool {
        !self.calls_tools() || self.controls.text_before_tool
    }
}

/// Every output token is this text.
pub(crate) const TOKEN_TEXT: &str = "tok ";
/// Every thinking token (Anthropic thinking block) is this text.
pub(crate) const THINKING_TEXT: &str = "hmm ";
/// The thinking block's signature (opaque to clients, checked by nobody).
pub(crate) const THINKING_SIGNATURE: &str = "EqMBCkgIARABGAIiQG1vY2stc2lnbmF0dXJl";
/// The stop sequence reported with `stop_reason=stop_sequence`.
pub(crate) const STOP_SEQUENCE_JSON: &str = r#""STOP""#;

/// Tool-call arguments as a JSON string literal (OpenAI `arguments`).
pub(crate) const TOOL_ARGUMENTS_JSON: &str = r#""{\"location\":\"Paris\"}""#;
/// The same arguments as an object (Anthropic `input`).
pub(crate) const TOOL_INPUT_JSON: &str = r#"{"location":"Paris"}"#;
/// The arguments split in two streamed fragments, as JSON string literals.
pub(crate) const TOOL_ARGUMENT_FRAGMENTS: [&str; 2] = [r#""{\"location\":""#, r#""\"Paris\"}""#];

/// The id suffix of tool call `index` of reply `seq`: `N` for the first (the ids the mock
/// always used), `N_i` for the parallel ones after it.
#[derive(Clone, Copy)]
pub(crate) struct CallId {
    pub seq: u64,
    pub index: usize,
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            0 => write!(f, "{}", self.seq),
            i => write!(f, "{}_{}", self.seq, i),
        }
    }
}

pub(crate) fn push_token_text(out: &mut Vec<u8>, tokens: u64) {
    push_repeated(out, TOKEN_TEXT, tokens);
}

pub(crate) fn push_repeated(out: &mut Vec<u8>, text: &str, times: u64) {
    out.reserve(text.len() * times as usize);
    for _ in 0..times {
        out.extend_from_slice(text.as_bytes());
    }
}
