//! Tool definitions and `tool_choice`, both ways.
//!
//! OpenAI `{"type":"function","function":{name,description,parameters,strict}}` ⇄ Anthropic
//! `{name,description,input_schema}`; `tool_choice` auto/none/required/named ⇄
//! auto/none/any/tool; `parallel_tool_calls: false` ⇄ `disable_parallel_tool_use: true`.

use super::read_json::{each, join, required_text, text, Members};
use super::write_json::{Array, Object};
use super::TranslateError;
use crate::usage::ApiFormat;
use serde_json::value::RawValue;

/// A tool without parameters still needs a schema on the Anthropic side.
const EMPTY_SCHEMA: &str = r#"{"type":"object","properties":{}}"#;

/// OpenAI `tools` → Anthropic `tools`, written to `out`.
///
/// `strict` (constrained decoding to the schema) is accepted and left out: Claude receives the
/// same schema but its conformance is not enforced. `cache_control` on a tool, as LiteLLM and
/// OpenRouter clients send it, is carried over.
pub(super) fn tools_to_anthropic(
    tools: &RawValue,
    out: &mut Vec<u8>,
) -> Result<(), TranslateError> {
    const TARGET: ApiFormat = ApiFormat::Anthropic;
    let mut list = Array::open(out);
    each(tools, "tools", |i, tool: &RawValue| {
        let path = format!("tools[{i}]");
        let mut t = Members::of(tool, &path)?;
        let type_path = join(&path, "type");
        match t
            .take_value("type")
            .map(|k| required_text(k, &type_path))
            .transpose()?
        {
            Some(kind) if kind == "function" => {}
            _ => {
                return Err(TranslateError::inexpressible(
                    TARGET,
                    type_path,
                    "only function tools",
                ))
            }
        }
        let cache = t.take_value("cache_control");
        let function_path = join(&path, "function");
        let function = t
            .take_value("function")
            .ok_or_else(|| TranslateError::invalid(&function_path, "is required"))?;
        t.refuse_rest(&path, TARGET)?;
        let mut f = Members::of(function, &function_path)?;
        let name = f
            .take_value("name")
            .filter(|n| text(n).is_some())
            .ok_or_else(|| {
                TranslateError::invalid(join(&function_path, "name"), "must be a string")
            })?;
        let description = f.take_value("description");
        let parameters = f.take_value("parameters");
        f.take("strict");
        f.refuse_rest(&function_path, TARGET)?;

        let mut o = Object::open(list.item());
        o.raw("name", name.get());
        if let Some(d) = description {
            o.raw("description", d.get());
        }
        o.raw(
            "input_schema",
            parameters.map_or(EMPTY_SCHEMA, RawValue::get),
        );
        if let Some(c) = cache {
            o.raw("cache_control", c.get());
        }
        o.close();
        Ok(())
    })?;
    list.close();
    Ok(())
}

/// OpenAI `tool_choice` and `parallel_tool_calls` → Anthropic `tool_choice` (rendered), or
/// `None` when the defaults say it all. Without tools, `auto`, `none` and
/// `parallel_tool_calls` ask for nothing and are left out.
pub(super) fn choice_to_anthropic(
    choice: Option<&RawValue>,
    parallel: Option<&RawValue>,
    has_tools: bool,
) -> Result<Option<Vec<u8>>, TranslateError> {
    let serial = match parallel.map(RawValue::get) {
        None | Some("true") => false,
        Some("false") => true,
        Some(_) => {
            return Err(TranslateError::invalid(
                "parallel_tool_calls",
                "must be a boolean",
            ))
        }
    };
    let (kind, name) = match choice {
        None => ("auto", None),
        Some(c) => match text(c).as_deref() {
            Some("auto") => ("auto", None),
            Some("none") => ("none", None),
            Some("required") => ("any", None),
            Some(_) => {
                return Err(TranslateError::invalid(
                    "tool_choice",
                    "must be auto, none, required or a named function",
                ))
            }
            None => ("tool", Some(named_function(c)?)),
        },
    };
    if !has_tools && matches!(kind, "auto" | "none") {
        return Ok(None);
    }
    if kind == "none" {
        // Anthropic's `none` takes no parallelism flag: no tool is called at all.
        return Ok(Some(br#"{"type":"none"}"#.to_vec()));
    }
    if choice.is_none() && !serial {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(64);
    let mut o = Object::open(&mut out);
    o.string("type", kind);
    if let Some(name) = name {
        o.raw("name", name.get());
    }
    if serial {
        o.raw("disable_parallel_tool_use", "true");
    }
    o.close();
    Ok(Some(out))
}

/// `{"type":"function","function":{"name":…}}` → the raw name. `allowed_tools` and custom
/// tool choices have no Anthropic form.
fn named_function(choice: &RawValue) -> Result<&RawValue, TranslateError> {
    let mut c = Members::of(choice, "tool_choice")?;
    let kind = c.take_value("type").and_then(text);
    if kind.as_deref() != Some("function") {
        return Err(TranslateError::inexpressible(
            ApiFormat::Anthropic,
            "tool_choice.type",
            "only auto, none, required or a named function",
        ));
    }
    let function = c
        .take_value("function")
        .ok_or_else(|| TranslateError::invalid("tool_choice.function", "is required"))?;
    c.refuse_rest("tool_choice", ApiFormat::Anthropic)?;
    let mut f = Members::of(function, "tool_choice.function")?;
    let name = f
        .take_value("name")
        .filter(|n| text(n).is_some())
        .ok_or_else(|| TranslateError::invalid("tool_choice.function.name", "must be a string"))?;
    f.refuse_rest("tool_choice.function", ApiFormat::Anthropic)?;
    Ok(name)
}

/// Anthropic `tools` → OpenAI `tools`, written to `out`. Anthropic-defined tools (bash, text
/// editor, computer use, server tools) have no OpenAI form. `cache_control` is left out: OpenAI
/// caches prompt prefixes by itself.
pub(super) fn tools_to_openai(tools: &RawValue, out: &mut Vec<u8>) -> Result<(), TranslateError> {
    const TARGET: ApiFormat = ApiFormat::OpenAi;
    let mut list = Array::open(out);
    each(tools, "tools", |i, tool: &RawValue| {
        let path = format!("tools[{i}]");
        let mut t = Members::of(tool, &path)?;
        let type_path = join(&path, "type");
        if let Some(kind) = t.take_value("type") {
            if required_text(kind, &type_path)? != "custom" {
                return Err(TranslateError::inexpressible(
                    TARGET,
                    type_path,
                    "Anthropic-defined and server tools have no equivalent; only custom tools",
                ));
            }
        }
        t.take("cache_control");
        let name = t
            .take_value("name")
            .filter(|n| text(n).is_some())
            .ok_or_else(|| TranslateError::invalid(join(&path, "name"), "must be a string"))?;
        let description = t.take_value("description");
        let schema = t
            .take_value("input_schema")
            .ok_or_else(|| TranslateError::invalid(join(&path, "input_schema"), "is required"))?;
        t.refuse_rest(&path, TARGET)?;

        let mut o = Object::open(list.item());
        o.raw("type", "\"function\"");
        let mut f = Object::open(o.key("function"));
        f.raw("name", name.get());
        if let Some(d) = description {
            f.raw("description", d.get());
        }
        f.raw("parameters", schema.get());
        f.close();
        o.close();
        Ok(())
    })?;
    list.close();
    Ok(())
}

/// Anthropic `tool_choice` → OpenAI (`tool_choice` rendered, `parallel_tool_calls: false`
/// wanted). OpenAI refuses `parallel_tool_calls` without tools, so it is only asked for with
/// tools.
pub(super) fn choice_to_openai(
    choice: &RawValue,
    has_tools: bool,
) -> Result<(Vec<u8>, bool), TranslateError> {
    const TARGET: ApiFormat = ApiFormat::OpenAi;
    let mut c = Members::of(choice, "tool_choice")?;
    let kind = c
        .take_value("type")
        .and_then(text)
        .ok_or_else(|| TranslateError::invalid("tool_choice.type", "must be a string"))?;
    let serial = match c.take_value("disable_parallel_tool_use").map(RawValue::get) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(TranslateError::invalid(
                "tool_choice.disable_parallel_tool_use",
                "must be a boolean",
            ))
        }
    };
    let mut out = Vec::with_capacity(64);
    match kind.as_ref() {
        "auto" => out.extend_from_slice(b"\"auto\""),
        "any" => out.extend_from_slice(b"\"required\""),
        "none" => out.extend_from_slice(b"\"none\""),
        "tool" => {
            let name = c
                .take_value("name")
                .filter(|n| text(n).is_some())
                .ok_or_else(|| TranslateError::invalid("tool_choice.name", "must be a string"))?;
            let mut o = Object::open(&mut out);
            o.raw("type", "\"function\"");
            let mut f = Object::open(o.key("function"));
            f.raw("name", name.get());
            f.close();
            o.close();
        }
        _ => {
            return Err(TranslateError::invalid(
                "tool_choice.type",
                "must be auto, any, tool or none",
            ))
        }
    }
    c.refuse_rest("tool_choice", TARGET)?;
    Ok((out, serial && has_tools))
}
