//! What one OpenAI Responses payload says about usage: a whole `response` object's `usage`,
//! or one stream event (`response.output_text.delta`, …, `response.completed`).
//!
//! Usage arrives once, in the terminal event (`response.completed`, or `response.incomplete`
//! when an output limit stopped it, or `response.failed`), inside the `response` object it
//! carries. `input_tokens` includes the cached ones, which are billed once, as cache reads;
//! `output_tokens` includes reasoning tokens, which are billed as output.

use super::payload::{raw_len, PayloadEffect, UsageUpdate};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Usage {
    input_tokens: Option<u64>,
    input_tokens_details: Option<InputDetails>,
    output_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct InputDetails {
    cached_tokens: Option<u64>,
}

impl Usage {
    fn update(&self) -> UsageUpdate {
        let cached = self
            .input_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens);
        UsageUpdate {
            input: self
                .input_tokens
                .map(|i| i.saturating_sub(cached.unwrap_or(0))),
            cache_read: match (self.input_tokens, cached) {
                (None, None) => None,
                _ => Some(cached.unwrap_or(0)),
            },
            output: self.output_tokens,
            ..UsageUpdate::default()
        }
    }
}

/// A top-level `usage` member of a whole response object.
pub(crate) fn parse_usage(bytes: &[u8]) -> Option<UsageUpdate> {
    serde_json::from_slice::<Usage>(bytes).ok().map(|u| u.update())
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    /// Text, refusal, reasoning or function-argument pieces (`*.delta` events).
    #[serde(borrow)]
    delta: Option<&'a RawValue>,
    /// The response object of `response.created` / `.in_progress` / `.completed` / ….
    response: Option<ResponseHead>,
}

#[derive(Deserialize)]
struct ResponseHead {
    usage: Option<Usage>,
    error: Option<IgnoredAny>,
}

/// One stream event's data. `None` when it does not parse.
pub(crate) fn parse_responses_event(data: &[u8]) -> Option<PayloadEffect> {
    let event: Event = serde_json::from_slice(data).ok()?;
    let kind = event.kind.as_deref().unwrap_or("");
    let terminal = matches!(
        kind,
        "response.completed" | "response.incomplete" | "response.failed"
    );
    let failed = kind == "response.failed" || kind == "error";
    let usage = event
        .response
        .as_ref()
        .and_then(|r| r.usage.as_ref())
        .map(Usage::update);
    let content_bytes = if kind.ends_with(".delta") {
        raw_len(event.delta)
    } else {
        0
    };
    Some(PayloadEffect {
        usage,
        content_bytes,
        terminates: terminal,
        is_error: failed
            || event
                .response
                .as_ref()
                .is_some_and(|r| r.error.is_some() && kind == "response.failed"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_carries_usage_with_cached_and_reasoning_tokens() {
        let data = br#"{"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],"error":null,"usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":40},"output_tokens":30,"output_tokens_details":{"reasoning_tokens":20},"total_tokens":130}}}"#;
        let e = parse_responses_event(data).unwrap();
        assert!(e.terminates && !e.is_error);
        let u = e.usage.unwrap();
        assert_eq!((u.input, u.cache_read, u.output), (Some(60), Some(40), Some(30)));
    }

    #[test]
    fn deltas_count_their_text_and_other_events_nothing() {
        let d = parse_responses_event(br#"{"type":"response.output_text.delta","delta":"Hello","item_id":"m","output_index":0,"content_index":0,"sequence_number":3}"#).unwrap();
        assert_eq!(d.content_bytes, 5);
        assert!(!d.terminates && d.usage.is_none());
        let f = parse_responses_event(br#"{"type":"response.function_call_arguments.delta","delta":"{\"a\":1}"}"#).unwrap();
        assert_eq!(f.content_bytes, 9); // raw `{\"a\":1}`
        let created = parse_responses_event(br#"{"type":"response.created","response":{"id":"resp_1","usage":null,"error":null}}"#).unwrap();
        assert_eq!(created, PayloadEffect::default());
    }

    #[test]
    fn incomplete_ends_the_stream_and_failed_is_an_error() {
        let inc = parse_responses_event(br#"{"type":"response.incomplete","response":{"usage":{"input_tokens":5,"output_tokens":7}}}"#).unwrap();
        assert!(inc.terminates && !inc.is_error);
        assert_eq!(inc.usage.unwrap().output, Some(7));
        let failed = parse_responses_event(br#"{"type":"response.failed","response":{"error":{"code":"server_error"},"usage":null}}"#).unwrap();
        assert!(failed.terminates && failed.is_error);
        assert!(parse_responses_event(br#"{"type":"error","code":"x","message":"m"}"#).unwrap().is_error);
        assert!(parse_responses_event(b"not json").is_none());
    }
}
