//! Anthropic `system` and `messages` → OpenAI `messages`.
//!
//! The system prompt becomes a leading `system` message. A user turn's `tool_result` blocks
//! become `tool` messages (OpenAI wants them right after the assistant's calls), its other
//! blocks a user message, in the order they came. An assistant turn's `tool_use` blocks become
//! `tool_calls`. `cache_control` is left out everywhere: OpenAI caches prompt prefixes by
//! itself. Earlier turns' `thinking` blocks are left out too: Anthropic ignores them as well
//! (only the current turn's thinking counts), and Chat Completions has no field for them.

use super::read_json::{each, required_text, text, Members};
use super::write_json::{string, Array, Object};
use super::TranslateError;
use crate::usage::ApiFormat;
use serde_json::value::RawValue;

const TARGET: ApiFormat = ApiFormat::OpenAi;

pub(super) fn convert(
    system: Option<&RawValue>,
    messages: &RawValue,
) -> Result<Vec<u8>, TranslateError> {
    let mut out =
        Vec::with_capacity(messages.get().len() + system.map_or(0, |s| s.get().len()) + 64);
    let mut list = Array::open(&mut out);
    if let Some(system) = system {
        let mut message = Object::open(list.item());
        message.raw("role", "\"system\"");
        if system.get().starts_with('"') {
            message.raw("content", system.get());
        } else {
            text_parts(system, "system", message.key("content"))?;
        }
        message.close();
    }
    let mut parts = Vec::new();
    each(messages, "messages", |i, message: &RawValue| {
        let path = format!("messages[{i}]");
        let mut m = Members::of(message, &path)?;
        let role_path = format!("{path}.role");
        let role = m
            .take_value("role")
            .ok_or_else(|| TranslateError::invalid(&role_path, "is required"))?;
        let role = required_text(role, &role_path)?;
        let content_path = format!("{path}.content");
        let content = m
            .take_value("content")
            .ok_or_else(|| TranslateError::invalid(&content_path, "is required"))?;
        m.refuse_rest(&path, TARGET)?;
        match role.as_ref() {
            "user" if content.get().starts_with('"') => {
                let mut message = Object::open(list.item());
                message.raw("role", "\"user\"");
                message.raw("content", content.get());
                message.close();
                Ok(())
            }
            "user" => user_blocks(content, &content_path, &mut list, &mut parts),
            "assistant" => assistant(content, &content_path, list.item()),
            _ => Err(TranslateError::invalid(
                role_path,
                "must be user or assistant",
            )),
        }
    })?;
    list.close();
    Ok(out)
}

/// An array of text blocks → an array of OpenAI text parts.
fn text_parts(blocks: &RawValue, path: &str, out: &mut Vec<u8>) -> Result<(), TranslateError> {
    let mut parts = Array::open(out);
    each(blocks, path, |j, block: &RawValue| {
        let block_path = format!("{path}[{j}]");
        let mut b = Members::of(block, &block_path)?;
        block_type(&mut b, &block_path, &["text"])?;
        let text = text_member(&mut b, &block_path)?;
        b.take("cache_control");
        b.refuse_rest(&block_path, TARGET)?;
        text_part(parts.item(), text);
        Ok(())
    })?;
    parts.close();
    Ok(())
}

fn text_part(out: &mut Vec<u8>, text: &RawValue) {
    let mut part = Object::open(out);
    part.raw("type", "\"text\"");
    part.raw("text", text.get());
    part.close();
}

/// A user turn's blocks: runs of text and images become user messages, each `tool_result`
/// a `tool` message, in order. `parts` is a reused buffer for the run under way.
fn user_blocks(
    content: &RawValue,
    path: &str,
    list: &mut Array<'_>,
    parts: &mut Vec<u8>,
) -> Result<(), TranslateError> {
    parts.clear();
    each(content, path, |j, block: &RawValue| {
        let block_path = format!("{path}[{j}]");
        let mut b = Members::of(block, &block_path)?;
        b.take("cache_control");
        match block_type(&mut b, &block_path, &["text", "image", "tool_result"])? {
            "text" => text_part(next(parts), text_member(&mut b, &block_path)?),
            "image" => image_part(next(parts), &mut b, &block_path)?,
            _ => {
                flush_user(list, parts);
                tool_message(list.item(), &mut b, &block_path)?;
            }
        }
        b.refuse_rest(&block_path, TARGET)
    })?;
    flush_user(list, parts);
    Ok(())
}

fn next(parts: &mut Vec<u8>) -> &mut Vec<u8> {
    if !parts.is_empty() {
        parts.push(b',');
    }
    parts
}

/// Writes the run of user parts under way as one user message.
fn flush_user(list: &mut Array<'_>, parts: &mut Vec<u8>) {
    if parts.is_empty() {
        return;
    }
    let mut message = Object::open(list.item());
    message.raw("role", "\"user\"");
    let content = message.key("content");
    content.push(b'[');
    content.extend_from_slice(parts);
    content.push(b']');
    message.close();
    parts.clear();
}

/// An image block → an `image_url` part (a base64 source as a data URL).
fn image_part(out: &mut Vec<u8>, b: &mut Members<'_>, path: &str) -> Result<(), TranslateError> {
    let source_path = format!("{path}.source");
    let source = b
        .take_value("source")
        .ok_or_else(|| TranslateError::invalid(&source_path, "is required"))?;
    let mut s = Members::of(source, &source_path)?;
    let kind = s.take_value("type").and_then(text);
    let url = match kind.as_deref() {
        Some("base64") => {
            let media = s.take_value("media_type").and_then(text);
            let data = s.take_value("data").and_then(text);
            let (Some(media), Some(data)) = (media, data) else {
                return Err(TranslateError::invalid(
                    &source_path,
                    "needs media_type and data strings",
                ));
            };
            format!("data:{media};base64,{data}")
        }
        Some("url") => s
            .take_value("url")
            .and_then(text)
            .ok_or_else(|| {
                TranslateError::invalid(format!("{source_path}.url"), "must be a string")
            })?
            .into_owned(),
        _ => {
            return Err(TranslateError::inexpressible(
                TARGET,
                format!("{source_path}.type"),
                "images are given as base64 data or a URL only",
            ))
        }
    };
    s.refuse_rest(&source_path, TARGET)?;
    let mut part = Object::open(out);
    part.raw("type", "\"image_url\"");
    let mut image = Object::open(part.key("image_url"));
    image.string("url", &url);
    image.close();
    part.close();
    Ok(())
}

/// A `tool_result` block → a `tool` message. `is_error` is left out: Chat Completions has no
/// such flag, and the tool's own output (the error text) is passed on as it is.
fn tool_message(out: &mut Vec<u8>, b: &mut Members<'_>, path: &str) -> Result<(), TranslateError> {
    let id = b
        .take_value("tool_use_id")
        .filter(|id| id.get().starts_with('"'))
        .ok_or_else(|| {
            TranslateError::invalid(format!("{path}.tool_use_id"), "must be a string")
        })?;
    b.take("is_error");
    let mut message = Object::open(out);
    message.raw("role", "\"tool\"");
    message.raw("tool_call_id", id.get());
    match b.take_value("content") {
        None => message.raw("content", "\"\""),
        Some(c) if c.get().starts_with('"') => message.raw("content", c.get()),
        Some(c) => text_parts(c, &format!("{path}.content"), message.key("content"))?,
    }
    message.close();
    Ok(())
}

/// An assistant turn: text blocks → `content` (one block as a string, several as text parts),
/// `tool_use` blocks → `tool_calls` with the input object as the arguments string.
fn assistant(content: &RawValue, path: &str, out: &mut Vec<u8>) -> Result<(), TranslateError> {
    let mut message = Object::open(out);
    message.raw("role", "\"assistant\"");
    if content.get().starts_with('"') {
        message.raw("content", content.get());
        message.close();
        return Ok(());
    }
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    each(content, path, |j, block: &RawValue| {
        let block_path = format!("{path}[{j}]");
        let mut b = Members::of(block, &block_path)?;
        b.take("cache_control");
        let kinds = ["text", "tool_use", "thinking", "redacted_thinking"];
        match block_type(&mut b, &block_path, &kinds)? {
            "text" => texts.push(text_member(&mut b, &block_path)?),
            "tool_use" => tool_call(next(&mut calls), &mut b, &block_path)?,
            "thinking" => {
                b.take("thinking");
                b.take("signature");
            }
            _ => {
                return Err(TranslateError::inexpressible(
                    TARGET,
                    format!("{block_path}.type"),
                    "redacted thinking cannot be passed on",
                ))
            }
        }
        b.refuse_rest(&block_path, TARGET)
    })?;
    match texts.as_slice() {
        [] => message.raw("content", "null"),
        [one] => message.raw("content", one.get()),
        several => {
            let mut parts = Array::open(message.key("content"));
            for text in several {
                text_part(parts.item(), text);
            }
            parts.close();
        }
    }
    if !calls.is_empty() {
        let list = message.key("tool_calls");
        list.push(b'[');
        list.extend_from_slice(&calls);
        list.push(b']');
    }
    message.close();
    Ok(())
}

fn tool_call(out: &mut Vec<u8>, b: &mut Members<'_>, path: &str) -> Result<(), TranslateError> {
    let mut string_member = |key: &str| {
        b.take_value(key)
            .filter(|v| v.get().starts_with('"'))
            .ok_or_else(|| TranslateError::invalid(format!("{path}.{key}"), "must be a string"))
    };
    let id = string_member("id")?;
    let name = string_member("name")?;
    let input = b
        .take_value("input")
        .filter(|v| v.get().starts_with('{'))
        .ok_or_else(|| TranslateError::invalid(format!("{path}.input"), "must be an object"))?;
    let mut call = Object::open(out);
    call.raw("id", id.get());
    call.raw("type", "\"function\"");
    let mut function = Object::open(call.key("function"));
    function.raw("name", name.get());
    string(function.key("arguments"), input.get());
    function.close();
    call.close();
    Ok(())
}

/// The block's `type`, which must be one of `allowed`; documents, search results and the
/// rest are refused by name.
fn block_type<'k>(
    b: &mut Members<'_>,
    path: &str,
    allowed: &[&'k str],
) -> Result<&'k str, TranslateError> {
    let type_path = format!("{path}.type");
    let kind = b
        .take_value("type")
        .ok_or_else(|| TranslateError::invalid(&type_path, "is required"))?;
    let kind = required_text(kind, &type_path)?;
    match allowed.iter().find(|a| **a == kind) {
        Some(a) => Ok(a),
        None => Err(TranslateError::inexpressible(
            TARGET,
            type_path,
            &format!("no `{kind}` block here (allowed: {})", allowed.join(", ")),
        )),
    }
}

fn text_member<'a>(b: &mut Members<'a>, path: &str) -> Result<&'a RawValue, TranslateError> {
    b.take_value("text")
        .filter(|t| t.get().starts_with('"'))
        .ok_or_else(|| TranslateError::invalid(format!("{path}.text"), "must be a string"))
}
