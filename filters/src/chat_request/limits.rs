//! What a request may ask the upstream to generate, and what it may not ask for at all.
//!
//! The reservation prices `output limit × choices`, so every field an upstream could read as
//! an output limit or a multiplier must be one the gateway reads too:
//! - the priced limits (`max_tokens`, OpenAI's `max_completion_tokens` and `n`) must be
//!   positive integers; when both OpenAI limits are set, the larger is reserved (an upstream
//!   may honour either);
//! - a top-level key that differs from a priced field only by case (`MAX_TOKENS`, `N`) is
//!   refused: Go's `encoding/json` and other case-insensitive decoders read it as the field,
//!   with the last one winning;
//! - engine-specific limits and multipliers (`n_predict`, `best_of`, `max_new_tokens`, …)
//!   are refused: vLLM, llama.cpp, TGI and Ollama honour them, and they are not priced;
//! - switches that change the price of what is generated (`service_tier` other than the
//!   default, audio output, predicted outputs) and server-side tools, which the provider bills
//!   per use (web search, web fetch, code execution, MCP), are refused.

use super::BodyError;
use crate::operation::Operation;
use crate::usage::ApiFormat;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Engine limits and multipliers that are not priced (a top-level key equal to one of these,
/// in any case, is refused).
const ENGINE_LIMITS: [&str; 12] = [
    "best_of",
    "n_predict",
    "max_new_tokens",
    "max_output_tokens",
    "max_tokens_to_sample",
    "num_predict",
    "maxoutputtokens",
    "max_length",
    "num_beams",
    "use_beam_search",
    "beam_width",
    "num_return_sequences",
];

/// Top-level fields that turn on server-side tools the provider bills per use.
const SERVER_TOOL_FIELDS: [&str; 3] = ["web_search_options", "mcp_servers", "container"];

/// Anthropic tool types the provider runs (and bills per use) itself.
const SERVER_TOOL_PREFIXES: [&str; 4] = ["web_search_", "web_fetch_", "code_execution_", "mcp_"];

/// The priced limit fields of one API.
fn priced(op: Operation) -> &'static [&'static str] {
    match op {
        Operation::ChatCompletions => &["max_tokens", "max_completion_tokens", "n"],
        Operation::Messages => &["max_tokens"],
        Operation::Responses => &["max_output_tokens"],
        Operation::Embeddings | Operation::CountTokens => &[],
    }
}

/// Refuse any top-level field that could change what is generated or billed without being
/// priced (see the module docs). `fields` are the decoded top-level keys. Embeddings and token
/// counts generate nothing, so only their server-side switches are checked.
pub(super) fn refuse_unpriced(
    fields: &[(Cow<'_, str>, &RawValue)],
    op: Operation,
) -> Result<(), BodyError> {
    let priced = priced(op);
    let format = op.format();
    let generates = !matches!(op, Operation::Embeddings | Operation::CountTokens);
    for (key, value) in fields {
        let k = key.as_ref();
        if priced.contains(&k) {
            continue;
        }
        if op == Operation::Responses && k == "background" && value.get() != "false" && value.get() != "null" {
            return Err(BodyError::UnpricedField {
                field: key.to_string(),
                why: "a background response finishes after this connection closes and cannot be metered here",
            });
        }
        if !generates {
            continue;
        }
        let case_variant = ["max_tokens", "max_completion_tokens", "n", "max_output_tokens"]
            .iter()
            .any(|p| p.eq_ignore_ascii_case(k));
        if case_variant || ENGINE_LIMITS.iter().any(|e| e.eq_ignore_ascii_case(k)) {
            return Err(BodyError::UnpricedField {
                field: key.to_string(),
                why: match op {
                    Operation::Responses => "an output limit or multiplier the gateway does not price; use max_output_tokens",
                    _ => "an output limit or multiplier the gateway does not price; use max_tokens (and n for OpenAI)",
                },
            });
        }
        if SERVER_TOOL_FIELDS.contains(&k) {
            return Err(BodyError::UnpricedField {
                field: key.to_string(),
                why:
                    "server-side tools are billed per use by the provider and are not offered here",
            });
        }
        match k {
            "service_tier" => service_tier(value, format)?,
            "modalities" => text_only_modalities(value)?,
            "audio" | "prediction" if format == ApiFormat::OpenAi && value.get() != "null" => {
                return Err(BodyError::UnpricedField {
                    field: key.to_string(),
                    why: "audio output and predicted outputs are priced differently and are not offered here",
                })
            }
            "tools" => server_tools(value, format)?,
            _ => {}
        }
    }
    Ok(())
}

/// The default tier only: other tiers (flex, priority, scale) are priced differently.
fn service_tier(value: &RawValue, format: ApiFormat) -> Result<(), BodyError> {
    let allowed: &[&str] = match format {
        ApiFormat::OpenAi => &["auto", "default"],
        ApiFormat::Anthropic => &["auto", "standard_only"],
    };
    match serde_json::from_str::<Option<Cow<str>>>(value.get()) {
        Ok(None) => Ok(()),
        Ok(Some(t)) if allowed.contains(&t.as_ref()) => Ok(()),
        _ => Err(BodyError::UnpricedField {
            field: "service_tier".into(),
            why: "only the default service tier is offered (other tiers are priced differently)",
        }),
    }
}

fn text_only_modalities(value: &RawValue) -> Result<(), BodyError> {
    match serde_json::from_str::<Option<Vec<Cow<str>>>>(value.get()) {
        Ok(None) => Ok(()),
        Ok(Some(m)) if m.iter().all(|m| m == "text") => Ok(()),
        _ => Err(BodyError::UnpricedField {
            field: "modalities".into(),
            why: "only text output is offered (audio output is priced differently)",
        }),
    }
}

#[derive(serde::Deserialize)]
struct ToolHead<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
}

/// Server-side tools in `tools`: OpenAI Chat Completions only has client tools (`function`,
/// `custom`); Anthropic's typed tools whose type names a server tool are refused.
fn server_tools(value: &RawValue, format: ApiFormat) -> Result<(), BodyError> {
    let Ok(Some(tools)) = serde_json::from_str::<Option<Vec<ToolHead>>>(value.get()) else {
        return Err(BodyError::BadField {
            field: "tools",
            expected: "an array of tool objects",
        });
    };
    for t in &tools {
        let Some(kind) = t.kind.as_deref() else {
            continue;
        };
        let server = match format {
            ApiFormat::OpenAi => !matches!(kind, "function" | "custom"),
            ApiFormat::Anthropic => SERVER_TOOL_PREFIXES.iter().any(|p| kind.starts_with(p)),
        };
        if server {
            return Err(BodyError::UnpricedField {
                field: format!("tools[type={kind}]"),
                why:
                    "server-side tools are billed per use by the provider and are not offered here",
            });
        }
    }
    Ok(())
}

/// A positive integer field (`None` when absent or null).
pub(super) fn positive(
    v: Option<&RawValue>,
    field: &'static str,
) -> Result<Option<u64>, BodyError> {
    match v.map(RawValue::get) {
        None | Some("null") => Ok(None),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(BodyError::BadField {
                field,
                expected: "a positive integer",
            }),
        },
    }
}

/// The output limit the reservation prices: the larger of the limits a request sets (an
/// upstream may honour either), `None` when it sets none; `Some(0)` for operations that
/// generate nothing.
pub(super) fn output_limit<'a>(
    get: impl Fn(&str) -> Option<&'a RawValue>,
    op: Operation,
) -> Result<Option<u64>, BodyError> {
    Ok(match op {
        Operation::ChatCompletions => {
            let max_tokens = positive(get("max_tokens"), "max_tokens")?;
            let completion = positive(get("max_completion_tokens"), "max_completion_tokens")?;
            max_tokens.max(completion)
        }
        Operation::Messages => positive(get("max_tokens"), "max_tokens")?,
        Operation::Responses => positive(get("max_output_tokens"), "max_output_tokens")?,
        Operation::Embeddings | Operation::CountTokens => Some(0),
    })
}
