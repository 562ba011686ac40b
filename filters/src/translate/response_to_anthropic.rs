//! A whole OpenAI `chat.completion` → an Anthropic message.
//!
//! `reasoning_content` (or `reasoning`) → a thinking block first, `content` → text blocks,
//! `refusal` → a text block with the stop reason `refusal`, `tool_calls` → `tool_use` blocks
//! (the arguments string parsed: it must hold a JSON object), `finish_reason` →
//! `stop_reason`, usage → [`super::usage_map`].

use super::read_json::{each, Members};
use super::stop_reason::stop_reason_of;
use super::usage_map::{OpenAiCounts, OpenAiUsage};
use super::write_json::{Array, Object};
use super::TranslateError;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Completion<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    choices: Option<&'a RawValue>,
    usage: Option<OpenAiUsage>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow)]
    message: Option<AssistantMessage<'a>>,
    #[serde(borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

/// The assistant's parts of an OpenAI choice: its whole `message`, or a stream chunk's
/// `delta` (the same members; `stream_to_anthropic` reads deltas with it).
#[derive(Deserialize)]
pub(super) struct AssistantMessage<'a> {
    #[serde(borrow)]
    pub content: Option<&'a RawValue>,
    #[serde(borrow)]
    pub reasoning_content: Option<&'a RawValue>,
    #[serde(borrow)]
    pub reasoning: Option<&'a RawValue>,
    #[serde(borrow)]
    pub refusal: Option<&'a RawValue>,
    #[serde(borrow)]
    pub tool_calls: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ToolCall<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    function: Option<Function<'a>>,
}

#[derive(Deserialize)]
struct Function<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// A JSON string with something in it.
fn said(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get().starts_with('"') && r.get() != "\"\"")
}

pub(super) fn translate(body: &[u8]) -> Result<Vec<u8>, TranslateError> {
    let completion: Completion = serde_json::from_slice(body).map_err(|e| {
        TranslateError::invalid(
            "",
            &format!("the provider's response is not a chat completion: {e}"),
        )
    })?;
    let choices = completion.choices.ok_or_else(|| {
        TranslateError::invalid("choices", "is missing from the provider's response")
    })?;
    let mut first = None;
    each(choices, "choices", |i, choice: Choice<'_>| {
        if i > 0 {
            return Err(TranslateError::inexpressible(
                crate::usage::ApiFormat::Anthropic,
                "choices",
                "one answer per message",
            ));
        }
        first = Some(choice);
        Ok(())
    })?;
    let choice = first.ok_or_else(|| TranslateError::invalid("choices", "is empty"))?;
    let mut usage = OpenAiCounts::default();
    if let Some(u) = &completion.usage {
        usage.apply(u);
    }

    let mut out = Vec::with_capacity(body.len() + 256);
    let mut o = Object::open(&mut out);
    o.string("id", completion.id.as_deref().unwrap_or(""));
    o.raw("type", "\"message\"");
    o.raw("role", "\"assistant\"");
    o.string("model", completion.model.as_deref().unwrap_or(""));
    let mut refused = false;
    let mut blocks = Array::open(o.key("content"));
    if let Some(message) = &choice.message {
        refused = content_blocks(message, &mut blocks)?;
    }
    blocks.close();
    let stop = choice.finish_reason.as_deref().map(stop_reason_of);
    match (stop, refused) {
        (Some("end_turn") | None, true) => o.raw("stop_reason", "\"refusal\""),
        (Some(stop), _) => o.string("stop_reason", stop),
        (None, false) => o.raw("stop_reason", "null"),
    }
    o.raw("stop_sequence", "null");
    usage.write_anthropic(o.key("usage"));
    o.close();
    Ok(out)
}

/// Writes the message's blocks; says whether it was a refusal.
fn content_blocks(
    message: &AssistantMessage<'_>,
    blocks: &mut Array<'_>,
) -> Result<bool, TranslateError> {
    if let Some(thinking) = said(message.reasoning_content).or(said(message.reasoning)) {
        let mut block = Object::open(blocks.item());
        block.raw("type", "\"thinking\"");
        block.raw("thinking", thinking.get());
        block.raw("signature", "\"\"");
        block.close();
    }
    let content_path = "choices[0].message.content";
    match message.content {
        None => {}
        Some(text) if text.get().starts_with('"') => text_block(blocks, text),
        // Some compatible servers answer with text parts.
        Some(parts) => each(parts, content_path, |j, part: &RawValue| {
            let path = format!("{content_path}[{j}]");
            let mut p = Members::of(part, &path)?;
            match p.take_value("text") {
                Some(text) if text.get().starts_with('"') => {
                    text_block(blocks, text);
                    Ok(())
                }
                _ => Err(TranslateError::inexpressible(
                    crate::usage::ApiFormat::Anthropic,
                    path,
                    "only text parts",
                )),
            }
        })?,
    }
    let refusal = said(message.refusal);
    if let Some(refusal) = refusal {
        text_block(blocks, refusal);
    }
    if let Some(calls) = message.tool_calls {
        let calls_path = "choices[0].message.tool_calls";
        each(calls, calls_path, |j, call: ToolCall<'_>| {
            let function = call.function.as_ref();
            let arguments = function.and_then(|f| f.arguments.as_deref()).unwrap_or("");
            let input = match arguments.trim() {
                "" => "{}",
                args => serde_json::from_str::<&RawValue>(args)
                    .ok()
                    .filter(|v| v.get().starts_with('{'))
                    .map(RawValue::get)
                    .ok_or_else(|| {
                        TranslateError::invalid(
                            format!("{calls_path}[{j}].function.arguments"),
                            "must hold a JSON object (Anthropic tool input is an object)",
                        )
                    })?,
            };
            let mut block = Object::open(blocks.item());
            block.raw("type", "\"tool_use\"");
            block.string("id", call.id.as_deref().unwrap_or(""));
            block.string(
                "name",
                function.and_then(|f| f.name.as_deref()).unwrap_or(""),
            );
            block.raw("input", input);
            block.close();
            Ok(())
        })?;
    }
    Ok(refusal.is_some())
}

fn text_block(blocks: &mut Array<'_>, text: &RawValue) {
    if text.get() == "\"\"" {
        return;
    }
    let mut block = Object::open(blocks.item());
    block.raw("type", "\"text\"");
    block.raw("text", text.get());
    block.close();
}
