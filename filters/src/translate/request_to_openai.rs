//! An Anthropic Messages request → the tail of an OpenAI Chat Completions body: the top-level
//! fields. `system` and `messages` are [`super::messages_to_openai`]'s, tools are
//! [`super::tools`]'.

use super::messages_to_openai;
use super::read_json::{number, required_text, Members};
use super::tools;
use super::write_json::Object;
use super::TranslateError;
use crate::usage::ApiFormat;
use serde_json::value::RawValue;

const TARGET: ApiFormat = ApiFormat::OpenAi;

/// OpenAI takes at most this many stop sequences.
const MAX_STOP_SEQUENCES: usize = 4;

/// Fields that may only carry a value asking for nothing: (field, neutral value test, why
/// any other value is refused).
type NeutralRule = (&'static str, fn(&str) -> bool, &'static str);

const NEUTRAL_ONLY: [NeutralRule; 6] = [
    ("top_k", never, "no top-k sampling"),
    (
        "thinking",
        is_disabled,
        "extended thinking has no equivalent",
    ),
    ("container", never, "no code-execution containers"),
    ("mcp_servers", never, "no MCP servers"),
    ("context_management", never, "no context management"),
    (
        "service_tier",
        |v| v == "\"auto\"" || v == "\"standard_only\"",
        "only the default service tier",
    ),
];

fn never(_: &str) -> bool {
    false
}

fn is_disabled(v: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Thinking<'a> {
        #[serde(rename = "type", borrow)]
        kind: &'a str,
    }
    serde_json::from_str::<Thinking>(v).is_ok_and(|t| t.kind == "disabled")
}

pub(super) fn translate(body: &[u8]) -> Result<Vec<u8>, TranslateError> {
    let mut m = Members::of_body(body)?;
    m.take("model");
    for (field, neutral, why) in NEUTRAL_ONLY {
        m.take_neutral(field, "", TARGET, neutral, why)?;
    }
    let max_tokens = m
        .take_value("max_tokens")
        .and_then(|v| v.get().parse::<u64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| TranslateError::invalid("max_tokens", "must be a positive integer"))?;
    let messages = m
        .take_value("messages")
        .ok_or_else(|| TranslateError::invalid("messages", "is required"))?;
    let messages = messages_to_openai::convert(m.take_value("system"), messages)?;
    let stop = m.take_value("stop_sequences");
    if let Some(stop) = stop {
        check_stop_sequences(stop)?;
    }
    let temperature = m.take_value("temperature");
    if let Some(t) = temperature {
        number(t)
            .filter(|t| (0.0..=1.0).contains(t))
            .ok_or_else(|| {
                TranslateError::invalid("temperature", "must be a number from 0 to 1")
            })?;
    }
    let top_p = m.take_value("top_p");
    if let Some(p) = top_p {
        number(p).ok_or_else(|| TranslateError::invalid("top_p", "must be a number"))?;
    }
    let stream = m.take_value("stream");
    let streaming = match stream.map(RawValue::get) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(TranslateError::invalid("stream", "must be a boolean")),
    };
    let user = match m.take_value("metadata") {
        None => None,
        Some(metadata) => {
            let mut meta = Members::of(metadata, "metadata")?;
            let user = meta.take_value("user_id");
            if let Some(u) = user {
                required_text(u, "metadata.user_id")?;
            }
            meta.refuse_rest("metadata", TARGET)?;
            user
        }
    };
    let tool_list = m.take_value("tools");
    let choice = m
        .take_value("tool_choice")
        .map(|c| tools::choice_to_openai(c, tool_list.is_some()))
        .transpose()?;
    m.refuse_rest("", TARGET)?;

    let mut out = Vec::with_capacity(body.len() + 256);
    let mut tail = Object::tail(&mut out);
    // `max_tokens`, not `max_completion_tokens`: every OpenAI-compatible server honours it.
    tail.number("max_tokens", max_tokens);
    tail.key("messages").extend_from_slice(&messages);
    if let Some(stop) = stop {
        tail.raw("stop", stop.get());
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
    if streaming {
        // Streamed usage only arrives when asked for; the call must be metered.
        tail.raw("stream_options", r#"{"include_usage":true}"#);
    }
    if let Some(list) = tool_list {
        tools::tools_to_openai(list, tail.key("tools"))?;
    }
    if let Some((choice, serial)) = choice {
        tail.key("tool_choice").extend_from_slice(&choice);
        if serial {
            tail.raw("parallel_tool_calls", "false");
        }
    }
    if let Some(user) = user {
        tail.raw("user", user.get());
    }
    tail.close();
    Ok(out)
}

fn check_stop_sequences(stop: &RawValue) -> Result<(), TranslateError> {
    let list = serde_json::from_str::<Vec<&RawValue>>(stop.get())
        .ok()
        .filter(|list| list.iter().all(|s| s.get().starts_with('"')))
        .ok_or_else(|| TranslateError::invalid("stop_sequences", "must be an array of strings"))?;
    if list.len() > MAX_STOP_SEQUENCES {
        return Err(TranslateError::inexpressible(
            TARGET,
            "stop_sequences",
            "at most 4 stop sequences",
        ));
    }
    Ok(())
}
