//! What one OpenAI or Anthropic payload (an SSE event's data, or a whole JSON body) says
//! about usage.
//!
//! Each payload is parsed with serde_json into small borrowed structs: the fields that
//! matter are read, everything else is skipped (validated, never built). Generated text is
//! measured as borrowed [`RawValue`]s, so escapes are not decoded and nothing is allocated;
//! arrays (`choices`, `tool_calls`, `content`) are summed as they are read, never collected.
//!
//! OpenAI chunks, the bulk of a stream, first try a byte scanner that only counts their
//! generated text (`openai_chunk_scan`); anything it is not certain about is parsed here.

use super::ResponseShape;
use serde::de::{Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize as DeriveDeserialize;
use serde_json::value::RawValue;
use std::fmt;
use std::marker::PhantomData;

/// What one parsed payload amounts to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PayloadEffect {
    pub usage: Option<UsageUpdate>,
    /// Bytes of generated text / tool-call arguments in the payload.
    pub content_bytes: u64,
    /// The stream's terminator (`[DONE]`, `message_stop`).
    pub terminates: bool,
    pub is_error: bool,
}

/// The counts one usage object carries; `None` where a field is absent (or null).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UsageUpdate {
    pub input: Option<u64>,
    /// All cache-write tokens (Anthropic `cache_creation_input_tokens`).
    pub cache_write_total: Option<u64>,
    /// (5m, 1h) from Anthropic's `cache_creation` object, when the object is present.
    pub cache_write_split: Option<(u64, u64)>,
    pub cache_read: Option<u64>,
    pub output: Option<u64>,
}

impl UsageUpdate {
    /// Whether the object had any count we know. An object with none (another API's shape)
    /// must not pass for "zero tokens".
    pub(crate) fn has_counts(&self) -> bool {
        self.input.is_some()
            || self.cache_write_total.is_some()
            || self.cache_write_split.is_some()
            || self.cache_read.is_some()
            || self.output.is_some()
    }
}

/// One OpenAI stream chunk's data, `[DONE]` included. `None` when it does not parse.
pub(crate) fn parse_openai_event(data: &[u8]) -> Option<PayloadEffect> {
    if data.trim_ascii() == b"[DONE]" {
        return Some(PayloadEffect {
            terminates: true,
            ..PayloadEffect::default()
        });
    }
    // The bulk of a stream: a chunk with no usage object and no error (`"usage":null`).
    if let Some(content_bytes) = super::openai_chunk_scan::content_bytes(data) {
        return Some(PayloadEffect {
            content_bytes,
            ..PayloadEffect::default()
        });
    }
    parse_openai_payload(data)
}

/// The full parse of an OpenAI payload: the definition the chunk scanner agrees with.
pub(super) fn parse_openai_payload(data: &[u8]) -> Option<PayloadEffect> {
    serde_json::from_slice::<OpenAiPayload>(data)
        .ok()
        .map(|payload| payload.effect())
}

/// A usage object on its own (a JSON body's top-level `usage` member). `None` when it does not
/// parse as the format's usage.
pub(crate) fn parse_usage(format: ResponseShape, bytes: &[u8]) -> Option<UsageUpdate> {
    match format {
        ResponseShape::OpenAiChat => serde_json::from_slice::<OpenAiUsage>(bytes)
            .ok()
            .map(|u| u.update()),
        ResponseShape::Anthropic => serde_json::from_slice::<AnthropicUsage>(bytes)
            .ok()
            .map(|u| u.update()),
        ResponseShape::OpenAiResponses => super::responses_payload::parse_usage(bytes),
    }
}

pub(crate) use super::responses_payload::parse_responses_event;

/// One Anthropic stream event's data. `None` when it does not parse.
pub(crate) fn parse_anthropic_event(data: &[u8]) -> Option<PayloadEffect> {
    serde_json::from_slice::<AnthropicPayload>(data)
        .ok()
        .map(|payload| payload.effect())
}

/// Length of a generated value as sent: a string's raw bytes between its quotes (escapes
/// not decoded), or any other value's raw JSON (a tool call's `input` object).
pub(crate) fn raw_len(value: Option<&RawValue>) -> u64 {
    let Some(value) = value else { return 0 };
    let text = value.get();
    let len = if text.starts_with('"') {
        text.len().saturating_sub(2)
    } else {
        text.len()
    };
    len as u64
}

/// Parts of a payload that hold generated content.
trait GeneratedBytes {
    fn generated_bytes(&self) -> u64;
}

/// A JSON array of `T`, read element by element and reduced to the sum of their generated
/// bytes (no `Vec`).
struct SummedArray<T> {
    bytes: u64,
    element: PhantomData<T>,
}

impl<'de, T: Deserialize<'de> + GeneratedBytes> Deserialize<'de> for SummedArray<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SumVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de> + GeneratedBytes> Visitor<'de> for SumVisitor<T> {
            type Value = SummedArray<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut bytes = 0u64;
                while let Some(element) = seq.next_element::<T>()? {
                    bytes = bytes.saturating_add(element.generated_bytes());
                }
                Ok(SummedArray {
                    bytes,
                    element: PhantomData,
                })
            }
        }

        deserializer.deserialize_seq(SumVisitor(PhantomData))
    }
}

fn summed<T>(array: &Option<SummedArray<T>>) -> u64 {
    array.as_ref().map_or(0, |array| array.bytes)
}

// ---- OpenAI Chat Completions ----

/// A `chat.completion.chunk`, a `chat.completion`, or an error payload.
#[derive(DeriveDeserialize)]
struct OpenAiPayload<'a> {
    #[serde(borrow)]
    choices: Option<SummedArray<OpenAiChoice<'a>>>,
    usage: Option<OpenAiUsage>,
    error: Option<IgnoredAny>,
}

impl OpenAiPayload<'_> {
    fn effect(&self) -> PayloadEffect {
        PayloadEffect {
            usage: self.usage.as_ref().map(OpenAiUsage::update),
            content_bytes: summed(&self.choices),
            terminates: false,
            is_error: self.error.is_some(),
        }
    }
}

#[derive(DeriveDeserialize)]
struct OpenAiChoice<'a> {
    /// In a stream chunk.
    #[serde(borrow)]
    delta: Option<OpenAiGenerated<'a>>,
    /// In a whole completion.
    #[serde(borrow)]
    message: Option<OpenAiGenerated<'a>>,
}

impl GeneratedBytes for OpenAiChoice<'_> {
    fn generated_bytes(&self) -> u64 {
        let of = |generated: &Option<OpenAiGenerated>| {
            generated
                .as_ref()
                .map_or(0, GeneratedBytes::generated_bytes)
        };
        of(&self.delta).saturating_add(of(&self.message))
    }
}

#[derive(DeriveDeserialize)]
struct OpenAiGenerated<'a> {
    #[serde(borrow)]
    content: Option<&'a RawValue>,
    #[serde(borrow)]
    reasoning_content: Option<&'a RawValue>,
    #[serde(borrow)]
    tool_calls: Option<SummedArray<OpenAiToolCall<'a>>>,
}

impl GeneratedBytes for OpenAiGenerated<'_> {
    fn generated_bytes(&self) -> u64 {
        raw_len(self.content)
            .saturating_add(raw_len(self.reasoning_content))
            .saturating_add(summed(&self.tool_calls))
    }
}

#[derive(DeriveDeserialize)]
struct OpenAiToolCall<'a> {
    #[serde(borrow)]
    function: Option<OpenAiFunction<'a>>,
}

impl GeneratedBytes for OpenAiToolCall<'_> {
    fn generated_bytes(&self) -> u64 {
        self.function.as_ref().map_or(0, |f| raw_len(f.arguments))
    }
}

#[derive(DeriveDeserialize)]
struct OpenAiFunction<'a> {
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
}

#[derive(DeriveDeserialize)]
struct OpenAiUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<OpenAiPromptDetails>,
}

#[derive(DeriveDeserialize)]
struct OpenAiPromptDetails {
    cached_tokens: Option<u64>,
}

impl OpenAiUsage {
    /// `prompt_tokens` includes the cached tokens: they are billed once, as cache reads.
    fn update(&self) -> UsageUpdate {
        let cached = self
            .prompt_tokens_details
            .as_ref()
            .and_then(|details| details.cached_tokens);
        let cache_read = match (self.prompt_tokens, cached) {
            (None, None) => None,
            _ => Some(cached.unwrap_or(0)),
        };
        UsageUpdate {
            input: self
                .prompt_tokens
                .map(|prompt| prompt.saturating_sub(cached.unwrap_or(0))),
            cache_read,
            output: self.completion_tokens,
            ..UsageUpdate::default()
        }
    }
}

// ---- Anthropic Messages ----

/// A stream event (`message_start`, `content_block_delta`, `message_delta`, ...), a whole
/// `message`, or an error payload.
#[derive(DeriveDeserialize)]
struct AnthropicPayload<'a> {
    #[serde(rename = "type")]
    kind: Option<AnthropicType>,
    /// `message_start`'s message: its usage opens the counts.
    message: Option<AnthropicMessageHead>,
    /// `content_block_delta`'s generated piece (or `message_delta`'s stop reason, ignored).
    #[serde(borrow)]
    delta: Option<AnthropicDelta<'a>>,
    /// `message_delta`'s running totals, or a whole message's usage.
    usage: Option<AnthropicUsage>,
    /// A whole message's content blocks.
    #[serde(borrow)]
    content: Option<SummedArray<AnthropicBlock<'a>>>,
    error: Option<IgnoredAny>,
}

#[derive(DeriveDeserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum AnthropicType {
    MessageStop,
    Error,
    #[serde(other)]
    Other,
}

impl AnthropicPayload<'_> {
    fn effect(&self) -> PayloadEffect {
        let usage = self
            .usage
            .as_ref()
            .or_else(|| self.message.as_ref()?.usage.as_ref())
            .map(AnthropicUsage::update);
        let delta_bytes = self
            .delta
            .as_ref()
            .map_or(0, GeneratedBytes::generated_bytes);
        PayloadEffect {
            usage,
            content_bytes: delta_bytes.saturating_add(summed(&self.content)),
            terminates: self.kind == Some(AnthropicType::MessageStop),
            is_error: self.kind == Some(AnthropicType::Error) || self.error.is_some(),
        }
    }
}

#[derive(DeriveDeserialize)]
struct AnthropicMessageHead {
    usage: Option<AnthropicUsage>,
}

/// `text_delta.text`, `input_json_delta.partial_json`, `thinking_delta.thinking`.
#[derive(DeriveDeserialize)]
struct AnthropicDelta<'a> {
    #[serde(borrow)]
    text: Option<&'a RawValue>,
    #[serde(borrow)]
    partial_json: Option<&'a RawValue>,
    #[serde(borrow)]
    thinking: Option<&'a RawValue>,
}

impl GeneratedBytes for AnthropicDelta<'_> {
    fn generated_bytes(&self) -> u64 {
        raw_len(self.text)
            .saturating_add(raw_len(self.partial_json))
            .saturating_add(raw_len(self.thinking))
    }
}

/// A whole message's `text`, `thinking` or `tool_use` block.
#[derive(DeriveDeserialize)]
struct AnthropicBlock<'a> {
    #[serde(borrow)]
    text: Option<&'a RawValue>,
    #[serde(borrow)]
    thinking: Option<&'a RawValue>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
}

impl GeneratedBytes for AnthropicBlock<'_> {
    fn generated_bytes(&self) -> u64 {
        raw_len(self.text)
            .saturating_add(raw_len(self.thinking))
            .saturating_add(raw_len(self.input))
    }
}

#[derive(DeriveDeserialize)]
struct AnthropicUsage {
    input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation: Option<AnthropicCacheCreation>,
}

#[derive(DeriveDeserialize)]
struct AnthropicCacheCreation {
    ephemeral_5m_input_tokens: Option<u64>,
    ephemeral_1h_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    fn update(&self) -> UsageUpdate {
        UsageUpdate {
            input: self.input_tokens,
            cache_write_total: self.cache_creation_input_tokens,
            cache_write_split: self.cache_creation.as_ref().map(|split| {
                (
                    split.ephemeral_5m_input_tokens.unwrap_or(0),
                    split.ephemeral_1h_input_tokens.unwrap_or(0),
                )
            }),
            cache_read: self.cache_read_input_tokens,
            output: self.output_tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_chunk_with_null_usage_counts_only_content() {
        let data = br#"{"id":"c","choices":[{"index":0,"delta":{"content":"Hi \"x\""},"finish_reason":null}],"usage":null}"#;
        let effect = parse_openai_event(data).unwrap();
        assert_eq!(effect.usage, None);
        assert_eq!(effect.content_bytes, 8); // raw `Hi \"x\"`
    }

    #[test]
    fn openai_tool_call_arguments_and_reasoning_are_content() {
        let data = br#"{"choices":[{"delta":{"content":null,"reasoning_content":"ab","tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}},{"index":1,"function":{"name":"f"}}]}}]}"#;
        assert_eq!(parse_openai_event(data).unwrap().content_bytes, 2 + 6);
    }

    #[test]
    fn openai_done_ignores_surrounding_whitespace() {
        assert!(parse_openai_event(b"[DONE] ").unwrap().terminates);
        assert!(parse_openai_event(b"[DONE]x").is_none());
    }

    #[test]
    fn openai_usage_without_known_counts_has_none() {
        let data = br#"{"choices":[],"usage":{"input_tokens":5}}"#;
        let update = parse_openai_event(data).unwrap().usage.unwrap();
        assert!(!update.has_counts());
    }

    #[test]
    fn anthropic_unknown_type_is_not_malformed() {
        let effect = parse_anthropic_event(br#"{"type":"brand_new_event","x":[1]}"#).unwrap();
        assert_eq!(effect, PayloadEffect::default());
    }

    #[test]
    fn wrong_types_do_not_parse() {
        assert!(
            parse_anthropic_event(br#"{"type":"message_delta","usage":{"output_tokens":-1}}"#)
                .is_none()
        );
        assert!(parse_openai_event(br#"{"usage":{"prompt_tokens":"3"}}"#).is_none());
        assert!(parse_openai_event(b"42").is_none());
        assert!(parse_openai_event(b"").is_none());
    }
}
