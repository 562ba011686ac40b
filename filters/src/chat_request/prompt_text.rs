//! Reading the prompt's text for request guards (message counts, deny patterns): every string
//! of the fields the model reads, JSON escapes decoded, without building a tree.
//!
//! Only plugins that ask pay for this walk; the default chain never runs it.

use super::ChatRequest;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

impl ChatRequest<'_> {
    /// Number of entries in `messages` (`input` for the Responses and Embeddings APIs; a
    /// string input is one).
    pub fn message_count(&self) -> usize {
        let Some((_, v)) = self
            .fields
            .iter()
            .find(|(k, _)| k == "messages" || k == "input")
        else {
            return 0;
        };
        if v.get().starts_with('"') {
            return 1;
        }
        let mut de = serde_json::Deserializer::from_str(v.get());
        de.deserialize_seq(CountVisitor).unwrap_or(0)
    }

    /// Calls `matches` with every string — values and object keys, decoded — of the fields
    /// that reach the model as prompt ([`PROMPT_FIELDS`]), until it returns true; whether it did.
    pub fn prompt_text_matches(&self, matches: &mut dyn FnMut(&str) -> bool) -> bool {
        let mut found = false;
        for (k, v) in &self.fields {
            if !PROMPT_FIELDS.contains(&k.as_ref()) {
                continue;
            }
            let mut de = serde_json::Deserializer::from_str(v.get());
            let walk = Strings {
                matches: &mut *matches,
                found: &mut found,
            };
            // The value was validated by `parse`; a walk error cannot happen.
            let _ = walk.deserialize(&mut de);
            if found {
                return true;
            }
        }
        false
    }
}

/// Top-level fields whose text the model reads: the conversation (`messages`; `input` and
/// `instructions` in the Responses and Embeddings APIs), the system prompt, tool and function
/// definitions (names, descriptions, schemas), the tool choice and the response format's
/// schema (`text` in Responses).
pub const PROMPT_FIELDS: [&str; 9] = [
    "messages",
    "input",
    "instructions",
    "system",
    "tools",
    "functions",
    "tool_choice",
    "response_format",
    "text",
];

struct CountVisitor;

impl<'de> Visitor<'de> for CountVisitor {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(n)
    }
}

struct Strings<'a> {
    matches: &'a mut dyn FnMut(&str) -> bool,
    found: &'a mut bool,
}

impl Strings<'_> {
    fn reborrow(&mut self) -> Strings<'_> {
        Strings {
            matches: &mut *self.matches,
            found: &mut *self.found,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strings<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strings<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        if !*self.found {
            *self.found = (self.matches)(v);
        }
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        // Elements are walked to the end even after a match: the deserializer requires it.
        while seq.next_element_seed(self.reborrow())?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        // Keys too: a tool's input object or a schema can carry text in its keys.
        while map.next_key_seed(self.reborrow())?.is_some() {
            map.next_value_seed(self.reborrow())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::chat_request::ChatRequest;
    use crate::usage::ApiFormat;

    fn strings(body: &str, api: ApiFormat) -> Vec<String> {
        let req = ChatRequest::parse(body.as_bytes(), api).unwrap();
        let mut seen = Vec::new();
        assert!(!req.prompt_text_matches(&mut |s| {
            seen.push(s.to_string());
            false
        }));
        seen
    }

    #[test]
    fn every_string_of_messages_and_system_is_seen_decoded() {
        let body = r#"{"model":"m","system":[{"type":"text","text":"be \u0041KIA"}],
            "messages":[{"role":"user","content":[{"type":"text","text":"a\"b"}, 7, null, true]}],
            "metadata":{"user_id":"not prompt"}}"#;
        assert_eq!(
            strings(body, ApiFormat::Anthropic),
            [
                "type", "text", "text", "be AKIA", "role", "user", "content", "type", "text",
                "text", "a\"b"
            ]
        );
    }

    #[test]
    fn the_walk_stops_calling_after_a_match_and_says_so() {
        let body = r#"{"model":"m","messages":[{"role":"user","content":"one"},{"role":"user","content":"two"}]}"#;
        let req = ChatRequest::parse(body.as_bytes(), ApiFormat::OpenAi).unwrap();
        let mut calls = 0;
        assert!(req.prompt_text_matches(&mut |s| {
            calls += 1;
            s == "one"
        }));
        assert_eq!(calls, 4, "role, user, content, then the match");
        assert!(!req.prompt_text_matches(&mut |s| s == "three"));
    }

    #[test]
    fn tools_and_schemas_are_prompt_text_and_other_fields_are_not() {
        let body = r#"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","description":"say AKIA"}}],
            "response_format":{"type":"json_schema","json_schema":{"schema":{"properties":{"secret_key_AKIA":{}}}}},
            "metadata":{"note":"not prompt"},"user":"someone"}"#;
        let seen = strings(body, ApiFormat::OpenAi);
        assert!(seen.contains(&"say AKIA".to_string()));
        assert!(
            seen.contains(&"secret_key_AKIA".to_string()),
            "keys are read"
        );
        assert!(!seen.iter().any(|s| s == "not prompt" || s == "someone"));
    }

    #[test]
    fn messages_are_counted() {
        let body = r#"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":[1,2]},{}]}"#;
        let req = ChatRequest::parse(body.as_bytes(), ApiFormat::OpenAi).unwrap();
        assert_eq!(req.message_count(), 3);
        let empty =
            ChatRequest::parse(br#"{"model":"m","messages":[]}"#, ApiFormat::OpenAi).unwrap();
        assert_eq!(empty.message_count(), 0);
    }
}
