//! OpenAI content parts and tool calls → Anthropic content blocks, written into a
//! comma-separated block list. Text passes through as raw JSON strings; only URLs and tool
//! arguments are decoded.

use super::read_json::{required_text, text, Members};
use super::write_json::Object;
use super::TranslateError;
use crate::usage::ApiFormat;
use serde_json::value::RawValue;

const TARGET: ApiFormat = ApiFormat::Anthropic;

/// `{"id","type":"function","function":{"name","arguments"}}` → a `tool_use` block whose
/// `input` is the arguments string parsed (it must hold a JSON object).
pub(super) fn tool_use_block(
    blocks: &mut Vec<u8>,
    call: &RawValue,
    path: &str,
) -> Result<(), TranslateError> {
    let mut c = Members::of(call, path)?;
    if let Some(kind) = c.take_value("type") {
        if required_text(kind, &format!("{path}.type"))? != "function" {
            return Err(TranslateError::inexpressible(
                TARGET,
                format!("{path}.type"),
                "only function tool calls",
            ));
        }
    }
    let id = string_member(&mut c, "id", path)?;
    let function_path = format!("{path}.function");
    let function = c
        .take_value("function")
        .ok_or_else(|| TranslateError::invalid(&function_path, "is required"))?;
    let mut f = Members::of(function, &function_path)?;
    let name = string_member(&mut f, "name", &function_path)?;
    let arguments_path = format!("{function_path}.arguments");
    let arguments = match f.take_value("arguments") {
        None => None,
        Some(a) => Some(required_text(a, &arguments_path)?),
    };
    f.refuse_rest(&function_path, TARGET)?;
    c.refuse_rest(path, TARGET)?;
    let input = match arguments.as_deref().map(str::trim) {
        None | Some("") => "{}",
        Some(args) => serde_json::from_str::<&RawValue>(args)
            .ok()
            .filter(|v| v.get().starts_with('{'))
            .map(RawValue::get)
            .ok_or_else(|| {
                TranslateError::invalid(
                    &arguments_path,
                    "must be a JSON object (Anthropic tool input is an object)",
                )
            })?,
    };
    let mut block = Object::open(next(blocks));
    block.raw("type", "\"tool_use\"");
    block.raw("id", id.get());
    block.raw("name", name.get());
    block.raw("input", input);
    block.close();
    Ok(())
}

/// The part's `type`, which must be one of `allowed`; audio and file parts, and anything else,
/// are refused by name.
pub(super) fn part_type<'p>(
    p: &mut Members<'_>,
    path: &str,
    allowed: &[&'p str],
) -> Result<&'p str, TranslateError> {
    let type_path = format!("{path}.type");
    let kind = p
        .take_value("type")
        .ok_or_else(|| TranslateError::invalid(&type_path, "is required"))?;
    let kind = required_text(kind, &type_path)?;
    match allowed.iter().find(|a| **a == kind) {
        Some(a) => Ok(a),
        None => Err(TranslateError::inexpressible(
            TARGET,
            type_path,
            &format!("no `{kind}` content here (allowed: {})", allowed.join(", ")),
        )),
    }
}

/// The part's `text` member, which must be a string.
pub(super) fn text_member<'a>(
    p: &mut Members<'a>,
    path: &str,
) -> Result<&'a RawValue, TranslateError> {
    string_member(p, "text", path)
}

pub(super) fn string_member<'a>(
    m: &mut Members<'a>,
    key: &str,
    path: &str,
) -> Result<&'a RawValue, TranslateError> {
    m.take_value(key)
        .filter(|v| v.get().starts_with('"'))
        .ok_or_else(|| TranslateError::invalid(format!("{path}.{key}"), "must be a string"))
}

/// A text block, unless the text is empty (Anthropic refuses empty text blocks, and an empty
/// text says nothing).
pub(super) fn text_block(list: &mut Vec<u8>, text: &RawValue, cache: Option<&RawValue>) {
    if text.get() == "\"\"" {
        return;
    }
    let mut block = Object::open(next(list));
    block.raw("type", "\"text\"");
    block.raw("text", text.get());
    if let Some(cache) = cache {
        block.raw("cache_control", cache.get());
    }
    block.close();
}

/// `{"type":"image_url","image_url":{"url","detail"}}` → an image block: a base64 data URL
/// becomes a base64 source, an http(s) URL a url source. `detail` is a resolution hint
/// Anthropic has no knob for (it sizes images itself); it is accepted and left out.
pub(super) fn image_block(
    list: &mut Vec<u8>,
    p: &mut Members<'_>,
    path: &str,
    cache: Option<&RawValue>,
) -> Result<(), TranslateError> {
    let image_path = format!("{path}.image_url");
    let image = p
        .take_value("image_url")
        .ok_or_else(|| TranslateError::invalid(&image_path, "is required"))?;
    let mut i = Members::of(image, &image_path)?;
    let url_path = format!("{image_path}.url");
    let url = i
        .take_value("url")
        .and_then(text)
        .ok_or_else(|| TranslateError::invalid(&url_path, "must be a string"))?;
    i.take("detail");
    i.refuse_rest(&image_path, TARGET)?;
    let mut block = Object::open(next(list));
    block.raw("type", "\"image\"");
    let mut source = Object::open(block.key("source"));
    if let Some(data_url) = url.strip_prefix("data:") {
        let (media_type, data) = data_url
            .split_once(',')
            .and_then(|(head, data)| Some((head.strip_suffix(";base64")?, data)))
            .ok_or_else(|| {
                TranslateError::inexpressible(TARGET, &url_path, "only base64 data URLs")
            })?;
        source.raw("type", "\"base64\"");
        source.string("media_type", media_type);
        source.string("data", data);
    } else if url.starts_with("https://") || url.starts_with("http://") {
        source.raw("type", "\"url\"");
        source.string("url", &url);
    } else {
        return Err(TranslateError::invalid(
            url_path,
            "must be an http(s) URL or a base64 data URL",
        ));
    }
    source.close();
    if let Some(cache) = cache {
        block.raw("cache_control", cache.get());
    }
    block.close();
    Ok(())
}

/// `list` (comma-separated JSON values) ready for one more value.
pub(super) fn next(list: &mut Vec<u8>) -> &mut Vec<u8> {
    if !list.is_empty() && list.last() != Some(&b'[') {
        list.push(b',');
    }
    list
}
