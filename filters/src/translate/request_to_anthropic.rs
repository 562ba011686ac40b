//! An OpenAI Chat Completions request → the tail of an Anthropic Messages body: the top-level
//! fields. `messages` is [`super::messages_to_anthropic`]'s, tools are [`super::tools`]'.

use super::messages_to_anthropic;
use super::read_json::{is_zero, number, required_text, Members};
use super::tools;
use super::write_json::Object;
use super::TranslateError;
use crate::usage::ApiFormat;
use serde_json::value::RawValue;

const TARGET: ApiFormat = ApiFormat::Anthropic;

/// Fields that may only carry a value asking for nothing: (field, neutral value test, why
/// any other value is refused).
type NeutralRule = (&'static str, fn(&str) -> bool, &'static str);

const NEUTRAL_ONLY: [NeutralRule; 18] = [
    ("n", |v| v == "1", "only one completion per request (n = 1)"),
    (
        "logprobs",
        |v| v == "false",
        "no log probabilities are returned",
    ),
    ("top_logprobs", is_zero, "no log probabilities are returned"),
    ("logit_bias", |v| v.trim() == "{}", "no token biasing"),
    (
        "presence_penalty",
        is_zero,
        "no presence or frequency penalties",
    ),
    (
        "frequency_penalty",
        is_zero,
        "no presence or frequency penalties",
    ),
    ("seed", never, "no sampling seed"),
    (
        "response_format",
        is_text_format,
        "no JSON mode or JSON-schema response format",
    ),
    ("audio", never, "text output only"),
    ("modalities", is_text_only, "text output only"),
    ("functions", never, "legacy function calling; use `tools`"),
    (
        "function_call",
        never,
        "legacy function calling; use `tool_choice`",
    ),
    (
        "reasoning_effort",
        never,
        "no reasoning effort setting (extended thinking is not translated)",
    ),
    ("prediction", never, "no predicted outputs"),
    ("web_search_options", never, "no web search"),
    // `metadata` is only stored with `store: true`; without storage it labels nothing.
    ("store", |v| v == "false", "no stored completions"),
    ("verbosity", never, "no verbosity setting"),
    (
        "service_tier",
        |v| v == "\"auto\"" || v == "\"default\"",
        "only the default service tier",
    ),
];

fn never(_: &str) -> bool {
    false
}

fn is_text_format(v: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Format<'a> {
        #[serde(rename = "type", borrow)]
        kind: &'a str,
    }
    serde_json::from_str::<Format>(v).is_ok_and(|f| f.kind == "text")
}

fn is_text_only(v: &str) -> bool {
    serde_json::from_str::<Vec<&str>>(v).is_ok_and(|m| m.iter().all(|m| *m == "text"))
}

pub(super) fn translate(body: &[u8]) -> Result<Vec<u8>, TranslateError> {
    let mut m = Members::of_body(body)?;
    m.take("model");
    for (field, neutral, why) in NEUTRAL_ONLY {
        m.take_neutral(field, "", TARGET, neutral, why)?;
    }
    let max_tokens = output_limit(&mut m)?;
    let messages = m
        .take_value("messages")
        .ok_or_else(|| TranslateError::invalid("messages", "is required"))?;
    let converted = messages_to_anthropic::convert(messages)?;
    let stop = m.take_value("stop");
    let temperature = m.take_value("temperature");
    if let Some(t) = temperature {
        check_temperature(t)?;
    }
    let top_p = m.take_value("top_p");
    if let Some(p) = top_p {
        number(p).ok_or_else(|| TranslateError::invalid("top_p", "must be a number"))?;
    }
    let stream = m.take_value("stream");
    if let Some(options) = m.take_value("stream_options") {
        // Anthropic streams always carry usage; obfuscation padding is OpenAI's own.
        let mut o = Members::of(options, "stream_options")?;
        o.take("include_usage");
        o.take("include_obfuscation");
        o.refuse_rest("stream_options", TARGET)?;
    }
    let tool_list = m.take_value("tools");
    let tool_choice = tools::choice_to_anthropic(
        m.take_value("tool_choice"),
        m.take_value("parallel_tool_calls"),
        tool_list.is_some(),
    )?;
    let user_id = user_id(&mut m)?;
    if let Some(metadata) = m.take_value("metadata") {
        // Only stored completions keep it, and `store: true` is refused above.
        Members::of(metadata, "metadata")?;
    }
    // A hint for OpenAI's prompt-cache routing; Anthropic caches by `cache_control`.
    m.take("prompt_cache_key");
    m.refuse_rest("", TARGET)?;

    let mut out = Vec::with_capacity(body.len() + 256);
    let mut tail = Object::tail(&mut out);
    tail.number("max_tokens", max_tokens);
    if let Some(system) = &converted.system {
        tail.key("system").extend_from_slice(system);
    }
    tail.key("messages").extend_from_slice(&converted.messages);
    if let Some(stop) = stop {
        stop_sequences(stop, tail.key("stop_sequences"))?;
    }
    for (field, value) in [
        ("temperature", temperature),
        ("top_p", top_p),
        ("stream", stream),
    ] {
        if let Some(value) = value {
            tail.raw(field, value.get());
        }
    }
    if let Some(list) = tool_list {
        tools::tools_to_anthropic(list, tail.key("tools"))?;
    }
    if let Some(choice) = &tool_choice {
        tail.key("tool_choice").extend_from_slice(choice);
    }
    if let Some(id) = user_id {
        let mut metadata = Object::open(tail.key("metadata"));
        metadata.raw("user_id", id.get());
        metadata.close();
    }
    tail.close();
    Ok(out)
}

/// `max_tokens` or `max_completion_tokens`; when both are set, the larger, which is what the
/// gateway's reservation priced.
fn output_limit(m: &mut Members<'_>) -> Result<u64, TranslateError> {
    let mut limit = None;
    for field in ["max_tokens", "max_completion_tokens"] {
        if let Some(v) = m.take_value(field) {
            let n = v
                .get()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| TranslateError::invalid(field, "must be a positive integer"))?;
            limit = limit.max(Some(n));
        }
    }
    limit.ok_or_else(|| {
        TranslateError::invalid(
            "max_tokens",
            "is required: the Anthropic Messages API needs an output limit",
        )
    })
}

fn check_temperature(t: &RawValue) -> Result<(), TranslateError> {
    match number(t) {
        Some(v) if (0.0..=1.0).contains(&v) => Ok(()),
        Some(v) if v > 1.0 && v <= 2.0 => Err(TranslateError::inexpressible(
            TARGET,
            "temperature",
            "Anthropic takes a temperature from 0 to 1",
        )),
        _ => Err(TranslateError::invalid(
            "temperature",
            "must be a number from 0 to 2",
        )),
    }
}

/// `stop`, a string or an array of strings → `stop_sequences`, always an array.
fn stop_sequences(stop: &RawValue, out: &mut Vec<u8>) -> Result<(), TranslateError> {
    if stop.get().starts_with('"') {
        out.push(b'[');
        out.extend_from_slice(stop.get().as_bytes());
        out.push(b']');
        return Ok(());
    }
    serde_json::from_str::<Vec<&RawValue>>(stop.get())
        .ok()
        .filter(|list| list.iter().all(|s| s.get().starts_with('"')))
        .ok_or_else(|| {
            TranslateError::invalid("stop", "must be a string or an array of strings")
        })?;
    out.extend_from_slice(stop.get().as_bytes());
    Ok(())
}

/// `user` (or its successor `safety_identifier`) → `metadata.user_id`.
fn user_id<'a>(m: &mut Members<'a>) -> Result<Option<&'a RawValue>, TranslateError> {
    let user = m.take_value("user");
    let safety = m.take_value("safety_identifier");
    for (field, value) in [("user", user), ("safety_identifier", safety)] {
        if let Some(v) = value {
            required_text(v, field)?;
        }
    }
    match (user, safety) {
        (Some(u), Some(s)) if u.get() != s.get() => Err(TranslateError::inexpressible(
            TARGET,
            "safety_identifier",
            "Anthropic has one end-user id (metadata.user_id) and `user` differs",
        )),
        (u, s) => Ok(u.or(s)),
    }
}
