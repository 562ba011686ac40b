//! Provider error bodies (and stream error events) in the client format's error shape:
//! OpenAI `{"error":{"message","type","param","code"}}`, Anthropic
//! `{"type":"error","error":{"type","message"}}`.
//!
//! The provider's message is kept. The error type follows the HTTP status when there is one
//! (SDKs pick their exception class by status); in a stream, from the provider's own type.
//! Toward OpenAI, `code` keeps the Anthropic type (`overloaded_error`, …) so nothing is lost.

use super::write_json::Object;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// What an error body says, in either format.
#[derive(Deserialize, Default)]
struct ErrorBody<'a> {
    /// An object (both formats) or, from some OpenAI-compatible servers, a string.
    #[serde(borrow)]
    error: Option<&'a RawValue>,
    /// A top-level message (vLLM and other OpenAI-compatible servers).
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct ErrorDetail<'a> {
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    /// OpenAI's code: a string or a number.
    #[serde(borrow)]
    code: Option<&'a RawValue>,
}

/// (message, type) read from `body`, in whichever format it came.
fn read(
    body: &[u8],
) -> (
    Option<Cow<'_, str>>,
    Option<Cow<'_, str>>,
    Option<&RawValue>,
) {
    let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) else {
        return (None, None, None);
    };
    match parsed.error {
        Some(error) if error.get().starts_with('{') => {
            let detail: ErrorDetail = serde_json::from_str(error.get()).unwrap_or_default();
            (detail.message, detail.kind, detail.code)
        }
        Some(error) => (serde_json::from_str(error.get()).ok(), None, None),
        // Anthropic puts `"type":"error"` at the top; any other top-level type is the kind.
        None => (parsed.message, parsed.kind.filter(|k| k != "error"), None),
    }
}

fn fallback_message(status: Option<u16>) -> String {
    match status {
        Some(status) => format!("the provider answered HTTP {status} without an error message"),
        None => "the provider's stream failed without an error message".to_owned(),
    }
}

/// An Anthropic error body → OpenAI's shape.
pub(super) fn anthropic_to_openai(status: Option<u16>, body: &[u8]) -> Vec<u8> {
    let (message, kind, _) = read(body);
    let message = message.unwrap_or_else(|| fallback_message(status).into());
    let kind_name = match (&kind, status) {
        (Some(kind), _) => openai_type_of_anthropic(kind),
        (None, Some(status)) => openai_type_of_status(status),
        (None, None) => "server_error",
    };
    let mut out = Vec::with_capacity(message.len() + 96);
    let mut o = Object::open(&mut out);
    let mut error = Object::open(o.key("error"));
    error.string("message", &message);
    error.string("type", kind_name);
    error.raw("param", "null");
    match &kind {
        Some(kind) => error.string("code", kind),
        None => error.raw("code", "null"),
    }
    error.close();
    o.close();
    out
}

/// An OpenAI (or OpenAI-compatible) error body → Anthropic's shape.
pub(super) fn openai_to_anthropic(status: Option<u16>, body: &[u8]) -> Vec<u8> {
    let (message, kind, code) = read(body);
    let message = message.unwrap_or_else(|| fallback_message(status).into());
    let kind_name = match status {
        Some(status) => anthropic_type_of_status(status),
        None => {
            let code = code.and_then(|c| serde_json::from_str::<Cow<str>>(c.get()).ok());
            anthropic_type_of_openai(kind.as_deref().unwrap_or(""), code.as_deref().unwrap_or(""))
        }
    };
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut o = Object::open(&mut out);
    o.raw("type", "\"error\"");
    let mut error = Object::open(o.key("error"));
    error.string("type", kind_name);
    error.string("message", &message);
    error.close();
    o.close();
    out
}

fn openai_type_of_anthropic(kind: &str) -> &'static str {
    match kind {
        "invalid_request_error" | "request_too_large" => "invalid_request_error",
        "authentication_error" => "authentication_error",
        "permission_error" => "permission_error",
        "not_found_error" => "not_found_error",
        "rate_limit_error" => "rate_limit_error",
        "billing_error" => "insufficient_quota",
        _ => "server_error",
    }
}

fn openai_type_of_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "insufficient_quota",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

fn anthropic_type_of_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// From an OpenAI error's `type` and `code`, for stream errors that have no status.
fn anthropic_type_of_openai(kind: &str, code: &str) -> &'static str {
    let said = |word: &str| kind.contains(word) || code.contains(word);
    if said("rate_limit") {
        "rate_limit_error"
    } else if said("quota") || said("billing") {
        "billing_error"
    } else if said("authentication") || said("api_key") {
        "authentication_error"
    } else if said("permission") {
        "permission_error"
    } else if said("not_found") {
        "not_found_error"
    } else if said("overloaded") {
        "overloaded_error"
    } else if said("invalid_request") || said("context_length") {
        "invalid_request_error"
    } else {
        "api_error"
    }
}
