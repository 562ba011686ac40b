//! A real count of an OpenAI Chat Completions prompt, for the one case where the provider's
//! own count never arrives: a stream cut before its final usage chunk. The provider still bills
//! the whole prompt, so the gateway counts it the way the provider does.
//!
//! Counting follows OpenAI's published rule for chat models (the cookbook's
//! `num_tokens_from_messages`): 3 tokens per message, plus the tokens of its role, content and
//! name (1 more for a name), plus 3 that prime the reply; tool definitions are counted as the
//! tokens of their JSON (more than OpenAI's own rendering of them, never fewer). The encoding
//! is the model family's, by `tiktoken-rs` (`o200k_base`: GPT-4o, GPT-4.1, GPT-5, o-series;
//! `cl100k_base`: GPT-4, GPT-3.5).
//!
//! `None` when the prompt holds anything but text (an image, a file, audio): those are billed by
//! rules the text does not show, and the reservation's bound applies instead.

use serde_json::Value;

/// A BPE encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    O200k,
    Cl100k,
}

impl Encoding {
    /// The encoding of an OpenAI model id, `None` for a model that is not OpenAI's.
    pub fn for_model(model: &str) -> Option<Encoding> {
        let m = model.to_ascii_lowercase();
        let starts = |p: &[&str]| p.iter().any(|p| m.starts_with(p));
        if starts(&[
            "gpt-4o",
            "gpt-4.1",
            "gpt-4.5",
            "gpt-5",
            "o1",
            "o3",
            "o4",
            "chatgpt-4o",
            "gpt-oss",
        ]) {
            Some(Encoding::O200k)
        } else if starts(&["gpt-4", "gpt-3.5", "gpt-35"]) {
            Some(Encoding::Cl100k)
        } else {
            None
        }
    }

    /// By name, as written in the config (`o200k_base`, `cl100k_base`).
    pub fn from_name(name: &str) -> Option<Encoding> {
        match name {
            "o200k_base" => Some(Encoding::O200k),
            "cl100k_base" => Some(Encoding::Cl100k),
            _ => None,
        }
    }

    fn count(self, text: &str) -> u64 {
        let bpe = match self {
            Encoding::O200k => tiktoken_rs::o200k_base_singleton(),
            Encoding::Cl100k => tiktoken_rs::cl100k_base_singleton(),
        };
        bpe.encode_ordinary(text).len() as u64
    }
}

/// Tokens per message and for the reply's priming (OpenAI's rule for current chat models).
const PER_MESSAGE: u64 = 3;
const PER_NAME: u64 = 1;
const REPLY_PRIMING: u64 = 3;

/// The prompt tokens of an OpenAI Chat Completions body, or `None` when it is not all text.
pub fn openai_prompt_tokens(body: &[u8], encoding: Encoding) -> Option<u64> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let mut total = REPLY_PRIMING;
    for m in v.get("messages")?.as_array()? {
        total += PER_MESSAGE;
        let m = m.as_object()?;
        for (key, value) in m {
            total += match (key.as_str(), value) {
                ("name", Value::String(s)) => PER_NAME + encoding.count(s),
                ("content", content) => content_tokens(content, encoding)?,
                ("tool_calls", calls) => encoding.count(&calls.to_string()),
                (_, Value::String(s)) => encoding.count(s),
                (_, Value::Null) => 0,
                (_, other) => encoding.count(&other.to_string()),
            };
        }
    }
    if let Some(tools) = v.get("tools").filter(|t| !t.is_null()) {
        total += encoding.count(&tools.to_string());
    }
    Some(total)
}

/// A message's content: a string, or parts that are all text.
fn content_tokens(content: &Value, encoding: Encoding) -> Option<u64> {
    match content {
        Value::Null => Some(0),
        Value::String(s) => Some(encoding.count(s)),
        Value::Array(parts) => parts.iter().try_fold(0, |sum, p| {
            match (p.get("type").and_then(Value::as_str), p.get("text")) {
                (Some("text"), Some(Value::String(t))) => Some(sum + encoding.count(t)),
                _ => None,
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_openai_for_chat_models() {
        // The cookbook's worked example, gpt-4o (o200k_base): 3 + "user" (1) + "Hello" (1)
        // per message rule, plus 3 priming = 8.
        let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}"#;
        assert_eq!(openai_prompt_tokens(body, Encoding::O200k), Some(8));
        let named = br#"{"messages":[{"role":"user","name":"bob","content":"Hello"}]}"#;
        assert_eq!(openai_prompt_tokens(named, Encoding::O200k), Some(10));
    }

    #[test]
    fn text_parts_count_and_anything_else_does_not() {
        let parts = br#"{"messages":[{"role":"user","content":[{"type":"text","text":"Hello"},{"type":"text","text":"Hello"}]}]}"#;
        assert_eq!(openai_prompt_tokens(parts, Encoding::O200k), Some(9));
        let image = br#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u"}}]}]}"#;
        assert_eq!(openai_prompt_tokens(image, Encoding::O200k), None);
        assert_eq!(openai_prompt_tokens(b"not json", Encoding::O200k), None);
    }

    #[test]
    fn model_families_pick_their_encoding() {
        assert_eq!(Encoding::for_model("gpt-4o-mini"), Some(Encoding::O200k));
        assert_eq!(Encoding::for_model("o3-mini"), Some(Encoding::O200k));
        assert_eq!(Encoding::for_model("gpt-4-turbo"), Some(Encoding::Cl100k));
        assert_eq!(Encoding::for_model("llama-3-70b"), None);
        assert_eq!(Encoding::from_name("cl100k_base"), Some(Encoding::Cl100k));
        assert_eq!(Encoding::from_name("bytes"), None);
    }

    #[test]
    fn longer_text_tools_and_null_content_count_what_they_hold() {
        let count = |body: &str| openai_prompt_tokens(body.as_bytes(), Encoding::O200k).unwrap();
        let one = count(r#"{"messages":[{"role":"user","content":"Hello"}]}"#);
        let three = count(r#"{"messages":[{"role":"user","content":"Hello Hello Hello"}]}"#);
        assert_eq!(three - one, 2, "\" Hello\" is one token each");
        // Null content counts nothing; the role still does.
        assert_eq!(
            count(r#"{"messages":[{"role":"user","content":null}]}"#),
            one - 1
        );
        let tools = count(
            r#"{"messages":[{"role":"user","content":"Hello"}],"tools":[{"type":"function","function":{"name":"get_weather"}}]}"#,
        );
        let tools_json = r#"[{"function":{"name":"get_weather"},"type":"function"}]"#;
        let as_sent: Value = serde_json::from_str(tools_json).unwrap();
        assert_eq!(tools, one + Encoding::O200k.count(&as_sent.to_string()));
        let null_tools = count(r#"{"messages":[{"role":"user","content":"Hello"}],"tools":null}"#);
        assert_eq!(null_tools, one);
        assert_eq!(Encoding::from_name("o200k_base"), Some(Encoding::O200k));
    }
}
