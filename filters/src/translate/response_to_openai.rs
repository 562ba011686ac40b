//! A whole Anthropic message → an OpenAI `chat.completion`.
//!
//! Text blocks → `message.content` (joined), thinking blocks → `message.reasoning_content`,
//! `tool_use` blocks → `message.tool_calls` (the input object as the arguments string),
//! `stop_reason` → `finish_reason`, usage → [`super::usage_map`]. Signatures, redacted
//! thinking and citations have no OpenAI field and are left out.

use super::read_json::each;
use super::stop_reason::finish_reason_of;
use super::usage_map::{AnthropicCounts, AnthropicUsage};
use super::write_json::{self, joined_strings, Object};
use super::TranslateError;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<&'a RawValue>,
    #[serde(borrow)]
    stop_reason: Option<Cow<'a, str>>,
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
struct Block<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    text: Option<&'a RawValue>,
    #[serde(borrow)]
    thinking: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
}

fn string_or_none(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get().starts_with('"'))
}

pub(super) fn translate(body: &[u8], created: u64) -> Result<Vec<u8>, TranslateError> {
    let message: Message = serde_json::from_slice(body).map_err(|e| {
        TranslateError::invalid(
            "",
            &format!("the provider's response is not an Anthropic message: {e}"),
        )
    })?;
    let content = message.content.ok_or_else(|| {
        TranslateError::invalid("content", "is missing from the provider's response")
    })?;
    let mut texts = Vec::new();
    let mut thoughts = Vec::new();
    let mut calls = Vec::new();
    let mut tool_index = 0usize;
    each(content, "content", |_, block: Block<'_>| {
        match block.kind.as_ref() {
            "text" => texts.extend(string_or_none(block.text)),
            "thinking" => thoughts.extend(string_or_none(block.thinking)),
            "tool_use" => {
                if tool_index > 0 {
                    calls.push(b',');
                }
                tool_index += 1;
                let mut call = Object::open(&mut calls);
                call.raw("id", string_or_none(block.id).map_or("\"\"", RawValue::get));
                call.raw("type", "\"function\"");
                let mut function = Object::open(call.key("function"));
                function.raw(
                    "name",
                    string_or_none(block.name).map_or("\"\"", RawValue::get),
                );
                write_json::string(
                    function.key("arguments"),
                    block.input.map_or("{}", RawValue::get),
                );
                function.close();
                call.close();
            }
            _ => {} // redacted thinking and server tool blocks: no OpenAI field
        }
        Ok(())
    })?;
    let mut usage = AnthropicCounts::default();
    if let Some(u) = &message.usage {
        usage.apply(u);
    }

    let mut out = Vec::with_capacity(body.len() + 256);
    let mut o = Object::open(&mut out);
    o.string("id", message.id.as_deref().unwrap_or(""));
    o.raw("object", "\"chat.completion\"");
    o.number("created", created);
    o.string("model", message.model.as_deref().unwrap_or(""));
    let choices = o.key("choices");
    choices.push(b'[');
    let mut choice = Object::open(choices);
    choice.number("index", 0);
    let mut m = Object::open(choice.key("message"));
    m.raw("role", "\"assistant\"");
    if texts.is_empty() {
        m.raw("content", "null");
    } else {
        joined_strings(m.key("content"), texts.iter().copied());
    }
    if !thoughts.is_empty() {
        joined_strings(m.key("reasoning_content"), thoughts.iter().copied());
    }
    if !calls.is_empty() {
        let list = m.key("tool_calls");
        list.push(b'[');
        list.extend_from_slice(&calls);
        list.push(b']');
    }
    m.raw("refusal", "null");
    m.close();
    choice.raw("logprobs", "null");
    match &message.stop_reason {
        Some(stop) => choice.string("finish_reason", finish_reason_of(stop)),
        None => choice.raw("finish_reason", "null"),
    }
    choice.close();
    choices.push(b']');
    usage.write_openai(o.key("usage"));
    o.close();
    Ok(out)
}
