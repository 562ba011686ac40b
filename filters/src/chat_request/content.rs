//! How many prompt tokens a request can cost, provably: the bound the reservation prices.
//!
//! A byte-level BPE tokenizer emits at most one token per byte of text, and a chat template's
//! own tokens (role markers, separators) are fewer than the JSON syntax bytes each message
//! costs in the body. So when every prompt token is inline text, the body's length bounds them
//! ([`PromptBound::BodyBytes`]). That stops being true when the provider fetches, decodes or
//! expands content: images (a 1×1 PNG in base64 is ~100 bytes and bills ~85–255 tokens),
//! documents and PDFs (a page is billed as image plus text), audio, files by id or URL, and
//! Anthropic's typed tools (computer use, bash, text editor: hundreds of tokens of definition
//! the body does not contain). Those requests are bounded by the model's context length
//! instead ([`PromptBound::ContextLength`]). Anthropic's tool use adds a hidden system prompt
//! of at most 530 tokens (its documentation, per model); 1,024 are allowed for it.
//!
//! Detection is a byte scan for the markers of such content (`"image"`, `"image_url"`,
//! `"input_audio"`, `"file"`, `"document"`, …, quoted, as a key or a `type` value): without a
//! `\u` escape anywhere, JSON can only spell them literally, so a body without any marker is
//! all text. A body with a `\u` escape (clients that escape all non-ASCII) is walked as a tree
//! instead, reading every key and `type` value decoded. False positives (a message that is
//! just the word "image") only raise the reservation.

use crate::operation::Operation;
use memchr::memmem;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

/// Tokens Anthropic's tool use may add to the prompt beyond the body (its system prompt).
pub const ANTHROPIC_TOOL_PROMPT_TOKENS: u64 = 1024;

/// Responses fields that make the provider prepend a conversation it stored (a previous
/// response, a conversation object, a stored prompt template): input the body does not hold.
pub const STORED_CONTEXT: [&str; 3] = ["previous_response_id", "conversation", "prompt"];

/// The prompt side of a request's worst case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptBound {
    /// All inline text: at most one token per body byte, plus `hidden` tokens the provider
    /// adds to the prompt itself.
    BodyBytes { hidden: u64 },
    /// Content the provider fetches or expands (named, for the error when no context length
    /// is configured): at most the model's context length.
    ContextLength { because: &'static str },
}

/// Keys and `type` values that mean non-text (or provider-expanded) content.
const MARKERS: [&str; 11] = [
    "image",
    "image_url",
    "input_image",
    "input_audio",
    "audio_url",
    "video_url",
    "file",
    "input_file",
    "file_id",
    "document",
    "container_upload",
];

struct Needles {
    quoted: Vec<memmem::Finder<'static>>,
    escape: memmem::Finder<'static>,
}

static NEEDLES: LazyLock<Needles> = LazyLock::new(|| Needles {
    quoted: MARKERS
        .iter()
        .map(|m| memmem::Finder::new(&format!("\"{m}\"")).into_owned())
        .collect(),
    escape: memmem::Finder::new(b"\\u"),
});

/// The first content marker in the body, if any.
pub(super) fn non_text_marker(body: &[u8]) -> Option<&'static str> {
    let n = &*NEEDLES;
    if n.escape.find(body).is_some() {
        return walk(body);
    }
    n.quoted
        .iter()
        .zip(MARKERS)
        .find(|(f, _)| f.find(body).is_some())
        .map(|(_, m)| m)
}

/// Anthropic tools with a `type` (other than `custom`) are defined by the provider, not the
/// body; `tools` is the raw `tools` value.
pub(super) fn has_typed_tool(tools: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<Cow<'a, str>>,
    }
    match serde_json::from_str::<Option<Vec<Head>>>(tools) {
        Ok(Some(tools)) => tools
            .iter()
            .any(|t| t.kind.as_deref().is_some_and(|k| k != "custom")),
        _ => false,
    }
}

/// The bound for a request of `op` whose body is `body` (see the module docs); `get` reads a
/// top-level field's raw JSON.
pub(super) fn prompt_bound<'a>(
    body: &[u8],
    op: Operation,
    tools: Option<&str>,
    get: &dyn Fn(&str) -> Option<&'a str>,
) -> PromptBound {
    // Embedding inputs are text or token ids (one id is at least one byte and a separator).
    if op == Operation::Embeddings {
        return PromptBound::BodyBytes { hidden: 0 };
    }
    if op == Operation::Responses {
        if let Some(field) = STORED_CONTEXT
            .iter()
            .find(|f| get(f).is_some_and(|v| v != "null"))
        {
            return PromptBound::ContextLength { because: field };
        }
    }
    if let Some(marker) = non_text_marker(body) {
        return PromptBound::ContextLength { because: marker };
    }
    match (op, tools) {
        (Operation::Messages | Operation::CountTokens, Some(t)) if t != "null" => {
            if has_typed_tool(t) {
                PromptBound::ContextLength {
                    because: "a tool defined by the provider",
                }
            } else {
                PromptBound::BodyBytes {
                    hidden: ANTHROPIC_TOOL_PROMPT_TOKENS,
                }
            }
        }
        _ => PromptBound::BodyBytes { hidden: 0 },
    }
}

/// Walk the whole body, decoding keys and `type` values: the first marker found.
fn walk(body: &[u8]) -> Option<&'static str> {
    let mut de = serde_json::Deserializer::from_slice(body);
    // The body already parsed as JSON; a walk error means "cannot tell": count it as content.
    de.deserialize_any(Walk)
        .unwrap_or(Some("unreadable content"))
}

fn marker(s: &str) -> Option<&'static str> {
    MARKERS.iter().find(|m| **m == s).copied()
}

struct Walk;

impl<'de> Visitor<'de> for Walk {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if found.is_some() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            found = marker(&key);
            if found.is_some() {
                map.next_value::<IgnoredAny>()?;
            } else if key == "type" {
                found = map.next_value::<TypeValue>()?.0;
            } else {
                found = map.next_value_seed(WalkSeed)?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(f) = seq.next_element_seed(WalkSeed)? {
            found = found.or(f);
        }
        Ok(found)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

struct WalkSeed;

impl<'de> serde::de::DeserializeSeed<'de> for WalkSeed {
    type Value = Option<&'static str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(Walk)
    }
}

/// A `type` value: a marker when it is a string naming one; anything else is walked.
struct TypeValue(Option<&'static str>);

impl<'de> serde::Deserialize<'de> for TypeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TypeValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a type")
            }
            fn visit_str<E>(self, s: &str) -> Result<TypeValue, E> {
                Ok(TypeValue(marker(s)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TypeValue, A::Error> {
                Walk.visit_map(map).map(TypeValue)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<TypeValue, A::Error> {
                Walk.visit_seq(seq).map(TypeValue)
            }
            fn visit_bool<E>(self, _: bool) -> Result<TypeValue, E> {
                Ok(TypeValue(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<TypeValue, E> {
                Ok(TypeValue(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<TypeValue, E> {
                Ok(TypeValue(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<TypeValue, E> {
                Ok(TypeValue(None))
            }
            fn visit_unit<E>(self) -> Result<TypeValue, E> {
                Ok(TypeValue(None))
            }
        }
        d.deserialize_any(V)
    }
}
