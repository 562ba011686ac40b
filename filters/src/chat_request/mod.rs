//! Parse, check and sanitise an LLM request body — OpenAI Chat Completions, Responses and
//! Embeddings, Anthropic Messages and token counting ([`Operation`]) — then render what goes
//! upstream.
//!
//! Only the top level is parsed into fields; every value stays a borrowed, already-validated
//! JSON slice ([`RawValue`]). A 4 MiB prompt is therefore scanned once and copied once, never
//! built into a tree: the `messages` array is the bulk of the bytes and the gateway never
//! needs to look inside it (a byte scan says whether it holds more than text: [`content`]).
//!
//! | module | job |
//! | --- | --- |
//! | this file | [`ChatRequest::parse`]: top-level fields, duplicates, `model`, `messages`, `stream` |
//! | [`limits`] | output limits the reservation prices; fields that would change the price unpriced |
//! | [`content`] | [`PromptBound`]: how many prompt tokens the request can cost |
//! | `prompt_text` | the prompt's strings and message count, for request guards |
//! | `sanitize` | [`ChatRequest::sanitize`] and [`ChatRequest::render`]: what the upstream receives |

pub mod content;
mod limits;
mod prompt_text;
mod sanitize;

use crate::operation::Operation;
use crate::usage::ApiFormat;
pub use content::PromptBound;
pub use sanitize::UpstreamBody;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// What to do with `thinking` (Anthropic) and `reasoning_effort` (OpenAI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThinkingPolicy {
    /// 400 when a request asks for extended thinking / reasoning effort.
    Reject,
    /// Remove the fields and serve the request without them.
    Strip,
    /// Pass them through (the upstream bills thinking as output tokens).
    Allow,
}

/// Gateway-wide rules applied to every body.
#[derive(Debug, Clone, Copy)]
pub struct BodyRules {
    pub thinking: ThinkingPolicy,
    /// Inserted when the client sent no output limit, so that every request has a provable
    /// maximum cost.
    pub default_max_tokens: u64,
}

/// Fields a client may use to redirect or re-key the upstream call (LiteLLM-style
/// pass-through). They are removed from every request.
pub const FORBIDDEN_FIELDS: [&str; 4] = ["api_key", "api_base", "base_url", "custom_llm_provider"];

/// Why a body was refused. Every variant becomes a 400 `VALIDATION_ERROR` with this text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    InvalidJson(String),
    NotAnObject,
    DuplicateField(String),
    MissingModel,
    BadModel,
    MissingMessages,
    BadMessages,
    /// `input` (Responses, Embeddings) is missing.
    MissingInput,
    BadInput,
    BadField {
        field: &'static str,
        expected: &'static str,
    },
    ThinkingNotAllowed(&'static str),
    /// A field that would change what is generated or billed without being priced.
    UnpricedField {
        field: String,
        why: &'static str,
    },
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::InvalidJson(e) => write!(f, "request body is not valid JSON: {e}"),
            BodyError::NotAnObject => write!(f, "request body must be a JSON object"),
            BodyError::DuplicateField(k) => write!(f, "field `{k}` appears more than once"),
            BodyError::MissingModel => write!(f, "field `model` is required"),
            BodyError::BadModel => write!(f, "field `model` must be a non-empty string"),
            BodyError::MissingMessages => write!(f, "field `messages` is required"),
            BodyError::BadMessages => write!(f, "field `messages` must be an array"),
            BodyError::MissingInput => write!(f, "field `input` is required"),
            BodyError::BadInput => {
                write!(f, "field `input` must be a string or an array")
            }
            BodyError::BadField { field, expected } => {
                write!(f, "field `{field}` must be {expected}")
            }
            BodyError::ThinkingNotAllowed(field) => write!(
                f,
                "field `{field}` is not allowed: extended thinking / reasoning is disabled on this gateway"
            ),
            BodyError::UnpricedField { field, why } => {
                write!(f, "field `{field}` is not allowed: {why}")
            }
        }
    }
}

impl std::error::Error for BodyError {}

/// A parsed request body: its top-level fields in order, each value a raw JSON slice of the
/// original bytes.
pub struct ChatRequest<'a> {
    op: Operation,
    body: &'a [u8],
    fields: Vec<(Cow<'a, str>, &'a RawValue)>,
    model: Cow<'a, str>,
    stream: bool,
    max_output_tokens: Option<u64>,
    choices: u64,
    /// `stream_options` rewritten to carry `include_usage: true` (OpenAI streams).
    stream_options: Option<String>,
    /// An output limit the gateway inserted (the operation's limit field).
    inserted_max_tokens: Option<u64>,
}

impl<'a> ChatRequest<'a> {
    /// Parse and check a body. Refuses invalid JSON, non-objects, duplicate top-level keys
    /// (an upstream would silently pick one of them), a missing or non-string `model`, a
    /// missing or non-array `messages`, output limits that are not positive integers, and
    /// fields that would change the price without being priced ([`limits`]).
    pub fn parse(body: &'a [u8], format: ApiFormat) -> Result<Self, BodyError> {
        Self::parse_for(body, Operation::chat(format))
    }

    /// [`Self::parse`] for any [`Operation`]: a Responses body needs `input` (or a stored
    /// conversation to continue) and limits output with `max_output_tokens`; an Embeddings
    /// body needs `input` and generates nothing; a token count needs `messages` and generates
    /// nothing.
    pub fn parse_for(body: &'a [u8], op: Operation) -> Result<Self, BodyError> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let fields = de
            .deserialize_map(TopLevelVisitor)
            .map_err(|e| match e.classify() {
                serde_json::error::Category::Data => BodyError::NotAnObject,
                _ => BodyError::InvalidJson(e.to_string()),
            })?;
        de.end()
            .map_err(|e| BodyError::InvalidJson(e.to_string()))?;

        for (i, (k, _)) in fields.iter().enumerate() {
            if fields[..i].iter().any(|(prev, _)| prev == k) {
                return Err(BodyError::DuplicateField(k.to_string()));
            }
        }
        limits::refuse_unpriced(&fields, op)?;
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v);

        let model: Cow<'a, str> = match get("model") {
            None => return Err(BodyError::MissingModel),
            Some(v) => match serde_json::from_str::<Cow<'a, str>>(v.get()) {
                Ok(m) if !m.trim().is_empty() => m,
                _ => return Err(BodyError::BadModel),
            },
        };
        match op {
            Operation::ChatCompletions | Operation::Messages | Operation::CountTokens => {
                match get("messages") {
                    None => return Err(BodyError::MissingMessages),
                    Some(v) if !v.get().starts_with('[') => return Err(BodyError::BadMessages),
                    Some(_) => {}
                }
            }
            Operation::Responses | Operation::Embeddings => match get("input") {
                // A Responses call may only continue a stored conversation or prompt.
                None if op == Operation::Responses
                    && content::STORED_CONTEXT.iter().any(|f| get(f).is_some()) => {}
                None => return Err(BodyError::MissingInput),
                Some(v) if !v.get().starts_with(['[', '"']) => return Err(BodyError::BadInput),
                Some(_) => {}
            },
        }
        let stream = match get("stream") {
            None => false,
            Some(v) => match v.get() {
                "true" => true,
                "false" | "null" => false,
                _ => {
                    return Err(BodyError::BadField {
                        field: "stream",
                        expected: "a boolean",
                    })
                }
            },
        };
        if stream && matches!(op, Operation::Embeddings | Operation::CountTokens) {
            return Err(BodyError::BadField {
                field: "stream",
                expected: "false or absent (this API does not stream)",
            });
        }
        let max_output_tokens = limits::output_limit(get, op)?;
        // OpenAI `n` asks for several completions, each up to the output limit.
        let choices = match op {
            Operation::ChatCompletions => limits::positive(get("n"), "n")?.unwrap_or(1),
            _ => 1,
        };
        Ok(ChatRequest {
            op,
            body,
            fields,
            model,
            stream,
            max_output_tokens,
            choices,
            stream_options: None,
            inserted_max_tokens: None,
        })
    }

    /// The operation this body was parsed for.
    pub fn operation(&self) -> Operation {
        self.op
    }

    /// The whole body as the client sent it.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The model id the client asked for.
    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn stream(&self) -> bool {
        self.stream
    }

    /// The output limit the upstream will enforce (after [`Self::default_output_limit`],
    /// always `Some`).
    pub fn max_output_tokens(&self) -> Option<u64> {
        self.max_output_tokens
    }

    /// Number of completions requested (`n`, OpenAI only).
    pub fn choices(&self) -> u64 {
        self.choices
    }

    /// A top-level field's value when it is a JSON string.
    pub fn string_field(&self, name: &str) -> Option<String> {
        let (_, v) = self.fields.iter().find(|(k, _)| k == name)?;
        serde_json::from_str::<String>(v.get()).ok()
    }

    /// Whether a top-level field is present (after sanitising).
    pub fn has_field(&self, name: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == name)
    }

    /// Remove a top-level field and return its raw JSON: fields the gateway itself consumes
    /// (routing preferences) are not forwarded.
    pub fn take_field(&mut self, name: &str) -> Option<&'a RawValue> {
        let i = self.fields.iter().position(|(k, _)| k == name)?;
        Some(self.fields.remove(i).1)
    }

    /// How many prompt tokens this request can cost ([`content`]).
    pub fn prompt_bound(&self) -> PromptBound {
        let get = |name: &str| {
            self.fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.get())
        };
        content::prompt_bound(self.body, self.op, get("tools"), &get)
    }
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(16);
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let value: &'de RawValue = map.next_value()?;
            fields.push((key, value));
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests;
