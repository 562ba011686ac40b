//! Parse, check and sanitise an OpenAI Chat Completions or Anthropic Messages request body,
//! then render what goes upstream.
//!
//! Only the top level is parsed into fields; every value stays a borrowed, already-validated
//! JSON slice ([`RawValue`]). A 4 MiB prompt is therefore scanned once and copied once, never
//! built into a tree: the `messages` array is the bulk of the bytes and the gateway never
//! needs to look inside it.

use crate::usage::ApiFormat;
use bytes::Bytes;
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
    BadField {
        field: &'static str,
        expected: &'static str,
    },
    ThinkingNotAllowed(&'static str),
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
            BodyError::BadField { field, expected } => {
                write!(f, "field `{field}` must be {expected}")
            }
            BodyError::ThinkingNotAllowed(field) => write!(
                f,
                "field `{field}` is not allowed: extended thinking / reasoning is disabled on this gateway"
            ),
        }
    }
}

impl std::error::Error for BodyError {}

/// A parsed request body: its top-level fields in order, each value a raw JSON slice of the
/// original bytes.
pub struct ChatRequest<'a> {
    format: ApiFormat,
    fields: Vec<(Cow<'a, str>, &'a RawValue)>,
    model: Cow<'a, str>,
    stream: bool,
    max_output_tokens: Option<u64>,
    choices: u64,
    /// `stream_options` rewritten to carry `include_usage: true`, when that was needed.
    stream_options: Option<String>,
    /// An output limit the gateway inserted (`max_tokens`).
    inserted_max_tokens: Option<u64>,
}

/// The upstream body for one provider: `{"model":"<upstream model>"` + `tail`.
///
/// `tail` is shared between failover attempts; only the tiny head is rebuilt per provider.
#[derive(Debug, Clone)]
pub struct UpstreamBody {
    tail: Bytes,
}

impl UpstreamBody {
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

impl<'a> ChatRequest<'a> {
    /// Parse and check a body. Refuses invalid JSON, non-objects, duplicate top-level keys
    /// (an upstream would silently pick one of them), a missing or non-string `model`, and a
    /// missing or non-array `messages`.
    pub fn parse(body: &'a [u8], format: ApiFormat) -> Result<Self, BodyError> {
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
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v);

        let model: Cow<'a, str> = match get("model") {
            None => return Err(BodyError::MissingModel),
            Some(v) => match serde_json::from_str::<Cow<'a, str>>(v.get()) {
                Ok(m) if !m.trim().is_empty() => m,
                _ => return Err(BodyError::BadModel),
            },
        };
        match get("messages") {
            None => return Err(BodyError::MissingMessages),
            Some(v) if !v.get().starts_with('[') => return Err(BodyError::BadMessages),
            Some(_) => {}
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
        let max_output_tokens = match format {
            // OpenAI: `max_completion_tokens` supersedes the deprecated `max_tokens`.
            ApiFormat::OpenAi => {
                match optional_u64(get("max_completion_tokens"), "max_completion_tokens")? {
                    Some(v) => Some(v),
                    None => optional_u64(get("max_tokens"), "max_tokens")?,
                }
            }
            ApiFormat::Anthropic => optional_u64(get("max_tokens"), "max_tokens")?,
        };
        // OpenAI `n` asks for several completions, each up to the output limit.
        let choices = match format {
            ApiFormat::OpenAi => optional_u64(get("n"), "n")?.unwrap_or(1).max(1),
            ApiFormat::Anthropic => 1,
        };
        Ok(ChatRequest {
            format,
            fields,
            model,
            stream,
            max_output_tokens,
            choices,
            stream_options: None,
            inserted_max_tokens: None,
        })
    }

    /// The model id the client asked for.
    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn stream(&self) -> bool {
        self.stream
    }

    /// The output limit the upstream will enforce (after [`Self::sanitize`], always `Some`).
    pub fn max_output_tokens(&self) -> Option<u64> {
        self.max_output_tokens
    }

    /// Number of completions requested (`n`, OpenAI only).
    pub fn choices(&self) -> u64 {
        self.choices
    }

    /// Whether a top-level field is present (after sanitising).
    pub fn has_field(&self, name: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == name)
    }

    /// Remove forbidden fields, apply the thinking policy, make streamed OpenAI usage
    /// arrive (`stream_options.include_usage`), and insert the default output limit.
    pub fn sanitize(&mut self, rules: &BodyRules) -> Result<(), BodyError> {
        self.fields
            .retain(|(k, _)| !FORBIDDEN_FIELDS.contains(&k.as_ref()));

        for field in ["thinking", "reasoning_effort"] {
            let Some(idx) = self.fields.iter().position(|(k, _)| k == field) else {
                continue;
            };
            let asks_for_thinking = thinking_requested(field, self.fields[idx].1);
            match rules.thinking {
                ThinkingPolicy::Allow => {}
                ThinkingPolicy::Strip => {
                    self.fields.remove(idx);
                }
                ThinkingPolicy::Reject if asks_for_thinking => {
                    return Err(BodyError::ThinkingNotAllowed(if field == "thinking" {
                        "thinking"
                    } else {
                        "reasoning_effort"
                    }));
                }
                // `thinking: {"type":"disabled"}` or `reasoning_effort: null` asks for
                // nothing; drop it so the upstream sees no thinking field at all.
                ThinkingPolicy::Reject => {
                    self.fields.remove(idx);
                }
            }
        }

        if self.format == ApiFormat::OpenAi && self.stream {
            let mut opts = match self.fields.iter().find(|(k, _)| k == "stream_options") {
                None => serde_json::Map::new(),
                Some((_, v)) => match serde_json::from_str::<serde_json::Value>(v.get()) {
                    Ok(serde_json::Value::Object(m)) => m,
                    Ok(serde_json::Value::Null) => serde_json::Map::new(),
                    _ => {
                        return Err(BodyError::BadField {
                            field: "stream_options",
                            expected: "an object",
                        })
                    }
                },
            };
            if opts.get("include_usage") != Some(&serde_json::Value::Bool(true)) {
                opts.insert("include_usage".into(), serde_json::Value::Bool(true));
                self.fields.retain(|(k, _)| k != "stream_options");
                self.stream_options = Some(serde_json::Value::Object(opts).to_string());
            }
        }

        if self.max_output_tokens.is_none() {
            self.max_output_tokens = Some(rules.default_max_tokens);
            self.inserted_max_tokens = Some(rules.default_max_tokens);
        }
        Ok(())
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
        if let Some(n) = self.inserted_max_tokens {
            out.extend_from_slice(b",\"max_tokens\":");
            out.extend_from_slice(n.to_string().as_bytes());
        }
        out.push(b'}');
        UpstreamBody {
            tail: Bytes::from(out),
        }
    }
}

fn optional_u64(v: Option<&RawValue>, field: &'static str) -> Result<Option<u64>, BodyError> {
    match v.map(RawValue::get) {
        None | Some("null") => Ok(None),
        Some(text) => text
            .parse::<u64>()
            .map(Some)
            .map_err(|_| BodyError::BadField {
                field,
                expected: "a non-negative integer",
            }),
    }
}

/// `thinking: {"type":"disabled"}` and `reasoning_effort: null` ask for no thinking.
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
mod tests {
    use super::*;

    const RULES: BodyRules = BodyRules {
        thinking: ThinkingPolicy::Reject,
        default_max_tokens: 1024,
    };

    fn upstream_json(
        body: &str,
        format: ApiFormat,
        rules: BodyRules,
        model: &str,
    ) -> serde_json::Value {
        let mut req = ChatRequest::parse(body.as_bytes(), format).unwrap();
        req.sanitize(&rules).unwrap();
        let up = req.render();
        let bytes = up.to_bytes_for(model);
        assert_eq!(bytes.len(), up.len_for(model));
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn rewrites_model_and_strips_forbidden_fields() {
        let v = upstream_json(
            r#"{"messages":[{"role":"user","content":"hi"}],"model":"pub","api_key":"x","api_base":"http://evil","base_url":"y","custom_llm_provider":"z","temperature":0.2,"tools":[{"type":"function"}]}"#,
            ApiFormat::OpenAi,
            RULES,
            "gpt-up",
        );
        assert_eq!(v["model"], "gpt-up");
        for f in FORBIDDEN_FIELDS {
            assert!(v.get(f).is_none(), "{f} survived");
        }
        assert_eq!(v["temperature"], 0.2);
        assert_eq!(v["tools"][0]["type"], "function");
        assert_eq!(v["max_tokens"], 1024);
    }

    #[test]
    fn openai_stream_gets_include_usage_and_keeps_other_options() {
        let v = upstream_json(
            r#"{"model":"m","messages":[],"stream":true,"stream_options":{"foo":1}}"#,
            ApiFormat::OpenAi,
            RULES,
            "m",
        );
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["stream_options"]["foo"], 1);
        let v = upstream_json(
            r#"{"model":"m","messages":[],"stream":true}"#,
            ApiFormat::OpenAi,
            RULES,
            "m",
        );
        assert_eq!(v["stream_options"]["include_usage"], true);
        // Anthropic streams carry usage anyway; nothing is added.
        let v = upstream_json(
            r#"{"model":"m","messages":[],"stream":true,"max_tokens":5}"#,
            ApiFormat::Anthropic,
            RULES,
            "m",
        );
        assert!(v.get("stream_options").is_none());
        assert_eq!(v["max_tokens"], 5);
    }

    #[test]
    fn output_limits_and_choices() {
        let r = ChatRequest::parse(
            br#"{"model":"m","messages":[],"max_tokens":7,"max_completion_tokens":9,"n":3}"#,
            ApiFormat::OpenAi,
        )
        .unwrap();
        assert_eq!(r.max_output_tokens(), Some(9));
        assert_eq!(r.choices(), 3);
        let e = ChatRequest::parse(
            br#"{"model":"m","messages":[],"max_tokens":-1}"#,
            ApiFormat::OpenAi,
        )
        .err()
        .unwrap();
        assert!(matches!(
            e,
            BodyError::BadField {
                field: "max_tokens",
                ..
            }
        ));
        let e = ChatRequest::parse(
            br#"{"model":"m","messages":[],"max_tokens":"5"}"#,
            ApiFormat::Anthropic,
        )
        .err()
        .unwrap();
        assert!(matches!(
            e,
            BodyError::BadField {
                field: "max_tokens",
                ..
            }
        ));
    }

    #[test]
    fn thinking_policy() {
        let body =
            r#"{"model":"m","messages":[],"thinking":{"type":"enabled","budget_tokens":2000}}"#;
        let mut r = ChatRequest::parse(body.as_bytes(), ApiFormat::Anthropic).unwrap();
        assert_eq!(
            r.sanitize(&RULES),
            Err(BodyError::ThinkingNotAllowed("thinking"))
        );

        let strip = BodyRules {
            thinking: ThinkingPolicy::Strip,
            ..RULES
        };
        let v = upstream_json(body, ApiFormat::Anthropic, strip, "m");
        assert!(v.get("thinking").is_none());

        let allow = BodyRules {
            thinking: ThinkingPolicy::Allow,
            ..RULES
        };
        let v = upstream_json(body, ApiFormat::Anthropic, allow, "m");
        assert_eq!(v["thinking"]["budget_tokens"], 2000);

        let mut r = ChatRequest::parse(
            br#"{"model":"m","messages":[],"reasoning_effort":"high"}"#,
            ApiFormat::OpenAi,
        )
        .unwrap();
        assert_eq!(
            r.sanitize(&RULES),
            Err(BodyError::ThinkingNotAllowed("reasoning_effort"))
        );

        // Explicitly disabled thinking is not a request for thinking.
        let v = upstream_json(
            r#"{"model":"m","messages":[],"thinking":{"type":"disabled"}}"#,
            ApiFormat::Anthropic,
            RULES,
            "m",
        );
        assert!(v.get("thinking").is_none());
    }

    #[test]
    fn refuses_malformed_bodies() {
        type Check = fn(&BodyError) -> bool;
        let cases: [(&str, Check); 9] = [
            ("", |e| matches!(e, BodyError::InvalidJson(_))),
            ("{", |e| matches!(e, BodyError::InvalidJson(_))),
            ("[1,2]", |e| matches!(e, BodyError::NotAnObject)),
            (r#"{"messages":[]}"#, |e| {
                matches!(e, BodyError::MissingModel)
            }),
            (r#"{"model":42,"messages":[]}"#, |e| {
                matches!(e, BodyError::BadModel)
            }),
            (r#"{"model":"m"}"#, |e| {
                matches!(e, BodyError::MissingMessages)
            }),
            (r#"{"model":"m","messages":"hi"}"#, |e| {
                matches!(e, BodyError::BadMessages)
            }),
            (r#"{"model":"a","model":"b","messages":[]}"#, |e| {
                matches!(e, BodyError::DuplicateField(_))
            }),
            (r#"{"model":"m","messages":[]} trailing"#, |e| {
                matches!(e, BodyError::InvalidJson(_))
            }),
        ];
        for (body, check) in cases {
            let e = ChatRequest::parse(body.as_bytes(), ApiFormat::OpenAi)
                .err()
                .unwrap_or_else(|| panic!("{body} accepted"));
            assert!(check(&e), "{body}: {e:?}");
        }
    }

    #[test]
    fn escapes_upstream_model_and_keeps_unicode_intact() {
        let body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"h\u{e9}llo \u{1F600} \\\"q\\\"\"}]}";
        let v = upstream_json(body, ApiFormat::OpenAi, RULES, "we\"ird");
        assert_eq!(v["model"], "we\"ird");
        assert_eq!(v["messages"][0]["content"], "h\u{e9}llo \u{1F600} \"q\"");
    }
}
