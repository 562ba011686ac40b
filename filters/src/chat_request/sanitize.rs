//! What the upstream receives: [`ChatRequest::sanitize_fields`] (forbidden fields, usage in
//! OpenAI streams), the thinking policy, a default output limit, and [`ChatRequest::render`].

use super::{BodyError, BodyRules, ChatRequest, ThinkingPolicy, FORBIDDEN_FIELDS};
use crate::operation::Operation;
use bytes::Bytes;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The output limit fields a null value may stand in for.
const LIMIT_FIELDS: [&str; 3] = ["max_tokens", "max_completion_tokens", "max_output_tokens"];

/// The upstream body for one provider: `{"model":"<upstream model>"` + `tail`.
///
/// `tail` is shared between failover attempts; only the tiny head is rebuilt per provider.
#[derive(Debug, Clone)]
pub struct UpstreamBody {
    tail: Bytes,
}

impl UpstreamBody {
    /// A body rendered elsewhere (a translated request): everything after the model member,
    /// `,"k":v,...}`.
    pub fn from_tail(tail: impl Into<Bytes>) -> Self {
        UpstreamBody { tail: tail.into() }
    }

    /// The two chunks to send for `upstream_model`, in order.
    pub fn chunks_for(&self, upstream_model: &str) -> [Bytes; 2] {
        let mut head = Vec::with_capacity(upstream_model.len() + 16);
        head.extend_from_slice(b"{\"model\":");
        write_json_string(&mut head, upstream_model);
        [Bytes::from(head), self.tail.clone()]
    }

    /// Content-Length of the body for `upstream_model`.
    pub fn len_for(&self, upstream_model: &str) -> usize {
        let mut quoted = Vec::with_capacity(upstream_model.len() + 2);
        write_json_string(&mut quoted, upstream_model);
        b"{\"model\":".len() + quoted.len() + self.tail.len()
    }

    /// The whole body as one buffer (a copy; used for small bodies only).
    pub fn to_bytes_for(&self, upstream_model: &str) -> Bytes {
        let [head, tail] = self.chunks_for(upstream_model);
        let mut out = Vec::with_capacity(head.len() + tail.len());
        out.extend_from_slice(&head);
        out.extend_from_slice(&tail);
        Bytes::from(out)
    }
}

impl ChatRequest<'_> {
    /// Today's whole rule set in one call: [`Self::sanitize_fields`], then
    /// [`Self::apply_thinking`], then [`Self::default_output_limit`]. The gateway runs the
    /// three as separate steps of a route's plugin chain; this is the default chain's order.
    pub fn sanitize(&mut self, rules: &BodyRules) -> Result<(), BodyError> {
        self.sanitize_fields()?;
        self.apply_thinking(rules.thinking)?;
        self.default_output_limit(rules.default_max_tokens);
        Ok(())
    }

    /// What no configuration turns off: remove the pass-through fields that would redirect
    /// or re-key the upstream call, and make streamed OpenAI usage arrive
    /// (`stream_options.include_usage`) so that the call can be metered.
    pub fn sanitize_fields(&mut self) -> Result<(), BodyError> {
        self.fields
            .retain(|(k, _)| !FORBIDDEN_FIELDS.contains(&k.as_ref()));
        if self.op == Operation::ChatCompletions && self.stream {
            // Always rendered again: the upstream then sees exactly one `include_usage`, true,
            // whatever the client wrote (duplicate keys inside would let a parser that keeps
            // the first one turn usage off).
            let opts = match self.fields.iter().find(|(k, _)| k == "stream_options") {
                None => serde_json::Map::new(),
                Some((_, v)) => stream_options(v)?,
            };
            let mut opts = opts;
            opts.insert("include_usage".into(), serde_json::Value::Bool(true));
            self.fields.retain(|(k, _)| k != "stream_options");
            self.stream_options = Some(serde_json::Value::Object(opts).to_string());
        }
        Ok(())
    }

    /// `thinking` (Anthropic) and `reasoning_effort` (OpenAI) under `policy`.
    pub fn apply_thinking(&mut self, policy: ThinkingPolicy) -> Result<(), BodyError> {
        // Responses spells it `reasoning: {"effort": …}`; a token count generates nothing.
        if self.op == Operation::CountTokens {
            return Ok(());
        }
        for field in ["thinking", "reasoning_effort", "reasoning"] {
            if field == "reasoning" && self.op != Operation::Responses {
                continue;
            }
            let Some(idx) = self.fields.iter().position(|(k, _)| k == field) else {
                continue;
            };
            let asks_for_thinking = thinking_requested(field, self.fields[idx].1);
            match policy {
                ThinkingPolicy::Allow => {}
                ThinkingPolicy::Strip => {
                    self.fields.remove(idx);
                }
                ThinkingPolicy::Reject if asks_for_thinking => {
                    return Err(BodyError::ThinkingNotAllowed(field));
                }
                // `thinking: {"type":"disabled"}` or `reasoning_effort: null` asks for
                // nothing; drop it so the upstream sees no thinking field at all.
                ThinkingPolicy::Reject => {
                    self.fields.remove(idx);
                }
            }
        }
        Ok(())
    }

    /// Insert `max_tokens: limit` when the client sent no output limit, so that the call has
    /// a provable maximum cost. Without this step a request that names no limit is refused
    /// by the reservation, never served unbounded.
    pub fn default_output_limit(&mut self, limit: u64) {
        if self.max_output_tokens.is_none() && self.op.output_limit_field().is_some() {
            // A `"max_tokens": null` (or `max_completion_tokens: null`) would sit beside the
            // inserted limit as a duplicate key.
            self.fields
                .retain(|(k, v)| !(LIMIT_FIELDS.contains(&k.as_ref()) && v.get() == "null"));
            self.max_output_tokens = Some(limit);
            self.inserted_max_tokens = Some(limit);
        }
    }

    /// Render everything but the model: `,"k":v,...}`. The model always goes first (see
    /// [`UpstreamBody`]); other fields keep the client's order.
    pub fn render(&self) -> UpstreamBody {
        let size: usize = self
            .fields
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum();
        let mut out = Vec::with_capacity(size + 64);
        for (k, v) in &self.fields {
            if k == "model" {
                continue;
            }
            out.push(b',');
            write_json_string(&mut out, k);
            out.push(b':');
            out.extend_from_slice(v.get().as_bytes());
        }
        if let Some(opts) = &self.stream_options {
            out.extend_from_slice(b",\"stream_options\":");
            out.extend_from_slice(opts.as_bytes());
        }
        if let (Some(n), Some(field)) = (self.inserted_max_tokens, self.op.output_limit_field()) {
            out.push(b',');
            write_json_string(&mut out, field);
            out.push(b':');
            out.extend_from_slice(n.to_string().as_bytes());
        }
        out.push(b'}');
        UpstreamBody {
            tail: Bytes::from(out),
        }
    }
}

/// `stream_options` as an object, refusing duplicate keys inside it.
fn stream_options(v: &RawValue) -> Result<serde_json::Map<String, serde_json::Value>, BodyError> {
    struct Unique;
    impl<'de> Visitor<'de> for Unique {
        /// The map, or the first key that appears twice.
        type Value = Result<serde_json::Map<String, serde_json::Value>, String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Ok(serde_json::Map::new()))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = serde_json::Map::new();
            while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                let v: serde_json::Value = map.next_value()?;
                if out.contains_key(k.as_ref()) {
                    return Ok(Err(k.into_owned()));
                }
                out.insert(k.into_owned(), v);
            }
            Ok(Ok(out))
        }
    }
    let mut de = serde_json::Deserializer::from_str(v.get());
    match de.deserialize_any(Unique) {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(key)) => Err(BodyError::DuplicateField(format!("stream_options.{key}"))),
        Err(_) => Err(BodyError::BadField {
            field: "stream_options",
            expected: "an object",
        }),
    }
}

/// `thinking: {"type":"disabled"}`, `reasoning_effort: null` and `reasoning: null` ask for no
/// thinking.
fn thinking_requested(field: &str, v: &RawValue) -> bool {
    if v.get() == "null" {
        return false;
    }
    if field == "thinking" {
        #[derive(serde::Deserialize)]
        struct Kind<'a> {
            #[serde(borrow, rename = "type")]
            kind: Option<Cow<'a, str>>,
        }
        if let Ok(Kind { kind: Some(k) }) = serde_json::from_str::<Kind>(v.get()) {
            return k != "disabled";
        }
    }
    true
}

/// Write `s` as a JSON string literal.
fn write_json_string(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping into a Vec cannot fail.
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec");
}
