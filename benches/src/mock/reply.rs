//! What the API renderers ([`super::openai`], [`super::anthropic`]) need to
//! know about one reply, already resolved and JSON-escaped.

use super::controls::Controls;

pub(crate) struct ReplySpec<'a> {
    /// Makes ids unique per process.
    pub seq: u64,
    /// Unix seconds.
    pub created: u64,
    /// The request's model as a JSON string literal, quotes included.
    pub model_json: &'a str,
    /// First tool's name as a JSON string literal, when the request has tools.
    pub tool_json: Option<&'a str>,
    pub controls: &'a Controls,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
}

/// Every output token is this text.
pub(crate) const TOKEN_TEXT: &str = "tok ";

/// Tool-call arguments as a JSON string literal (OpenAI `arguments`).
pub(crate) const TOOL_ARGUMENTS_JSON: &str = r#""{\"location\":\"Paris\"}""#;
/// The same arguments as an object (Anthropic `input`).
pub(crate) const TOOL_INPUT_JSON: &str = r#"{"location":"Paris"}"#;
/// The arguments split in two streamed fragments, as JSON string literals.
pub(crate) const TOOL_ARGUMENT_FRAGMENTS: [&str; 2] = [r#""{\"location\":""#, r#""\"Paris\"}""#];

pub(crate) fn push_token_text(out: &mut Vec<u8>, tokens: u64) {
    out.reserve(TOKEN_TEXT.len() * tokens as usize);
    for _ in 0..tokens {
        out.extend_from_slice(TOKEN_TEXT.as_bytes());
    }
}
