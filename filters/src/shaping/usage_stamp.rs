//! Finding the final usage object of a client-format body and writing the call's cost into it.
//!
//! The usage object the client reads last is: the top-level `usage` of a whole JSON response
//! (Chat Completions, Messages, Responses, Embeddings); in a stream, the chunk whose `usage`
//! is an object (Chat Completions: the final chunk), `message_delta`'s `usage` (Messages), or
//! `response.completed`'s `response.usage` (Responses; also `.incomplete`). The object is
//! found by a byte search for a needle and then located exactly by parsing that one payload:
//! serde's borrowed [`RawValue`] is a slice of the payload, so its position is known and
//! members are inserted before its closing brace without re-serialising anything.

use crate::usage::ResponseShape;
use memchr::memmem;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::sync::LazyLock;

/// What is written into the usage object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// What the buyer is charged for the call, in micro-USDC.
    pub cost_microusdc: i64,
    pub request_id: std::sync::Arc<str>,
}

impl Stamp {
    /// `"cost":0.000123,"cost_microusdc":123,"request_id":"req_…"` — the USD figure is the
    /// integer written as a decimal, never computed in floating point.
    pub fn members(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        out.extend_from_slice(b"\"cost\":");
        out.extend_from_slice(usd_decimal(self.cost_microusdc).as_bytes());
        out.extend_from_slice(b",\"cost_microusdc\":");
        out.extend_from_slice(self.cost_microusdc.to_string().as_bytes());
        out.extend_from_slice(b",\"request_id\":");
        serde_json::to_writer(&mut out, self.request_id.as_ref()).expect("writing to a Vec");
        out
    }
}

/// Micro-USDC as a plain decimal number of USD: `123` → `0.000123`, `5_000_000` → `5`.
pub fn usd_decimal(micro: i64) -> String {
    let sign = if micro < 0 { "-" } else { "" };
    let m = micro.unsigned_abs();
    let (whole, frac) = (m / 1_000_000, m % 1_000_000);
    if frac == 0 {
        return format!("{sign}{whole}");
    }
    let frac = format!("{frac:06}");
    format!("{sign}{whole}.{}", frac.trim_end_matches('0'))
}

/// The byte search that finds a candidate payload in a client-format stream.
pub(super) struct Needles {
    usage: memmem::Finder<'static>,
    message_delta: memmem::Finder<'static>,
    completed: memmem::Finder<'static>,
    incomplete: memmem::Finder<'static>,
    created: memmem::Finder<'static>,
}

pub(super) static NEEDLES: LazyLock<Needles> = LazyLock::new(|| Needles {
    usage: memmem::Finder::new(b"\"usage\""),
    message_delta: memmem::Finder::new(b"\"message_delta\""),
    completed: memmem::Finder::new(b"\"response.completed\""),
    incomplete: memmem::Finder::new(b"\"response.incomplete\""),
    created: memmem::Finder::new(b"\"response.created\""),
});

/// Where in `bytes` a payload that may carry the final usage object is, if anywhere: the
/// offset of its needle. For Chat Completions only a `"usage"` key whose value opens an object
/// counts (every chunk of a stream with usage on says `"usage":null`).
pub(super) fn candidate(shape: ResponseShape, bytes: &[u8]) -> Option<usize> {
    let n = &*NEEDLES;
    match shape {
        ResponseShape::OpenAiChat => n.usage.find_iter(bytes).find(|&at| {
            let after = skip_ws(&bytes[at + n.usage.needle().len()..]);
            after
                .strip_prefix(b":")
                .is_some_and(|v| skip_ws(v).first() == Some(&b'{'))
        }),
        ResponseShape::Anthropic => n.message_delta.find(bytes),
        ResponseShape::OpenAiResponses => n
            .completed
            .find(bytes)
            .or_else(|| n.incomplete.find(bytes)),
    }
}

/// Where `response.created` is, if anywhere (its payload names the response id).
pub(super) fn created_event(bytes: &[u8]) -> Option<usize> {
    NEEDLES.created.find(bytes)
}

fn skip_ws(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        .unwrap_or(b.len());
    &b[start..]
}

#[derive(Deserialize)]
struct TopUsage<'a> {
    #[serde(borrow)]
    usage: Option<&'a RawValue>,
}

/// A `message_delta`: only the one that names the stop reason carries the final counts (a
/// provider may send interim ones with `"stop_reason": null`).
#[derive(Deserialize)]
struct MessageDelta<'a> {
    #[serde(borrow)]
    usage: Option<&'a RawValue>,
    delta: Option<StopReason>,
}

#[derive(Deserialize)]
struct StopReason {
    stop_reason: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Nested<'a> {
    #[serde(borrow)]
    response: Option<TopUsage<'a>>,
}

#[derive(Deserialize)]
struct IdOnly<'a> {
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct NestedId<'a> {
    #[serde(borrow)]
    response: Option<IdOnly<'a>>,
}

/// Where the final usage object of one payload is: `Whole` — a whole response body's
/// top-level `usage`; `Event` — a stream event of the client's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Payload {
    Whole,
    Event(ResponseShape),
}

/// The usage object of one payload. Returns the offset of its closing brace and whether it
/// already has members.
pub(super) fn usage_insert_point(payload: &[u8], of: Payload) -> Option<(usize, bool)> {
    let raw = match of {
        Payload::Event(ResponseShape::OpenAiResponses) => {
            serde_json::from_slice::<Nested>(payload)
                .ok()?
                .response?
                .usage?
        }
        Payload::Event(ResponseShape::Anthropic) => {
            let d = serde_json::from_slice::<MessageDelta>(payload).ok()?;
            d.delta?.stop_reason?;
            d.usage?
        }
        Payload::Event(ResponseShape::OpenAiChat) | Payload::Whole => {
            serde_json::from_slice::<TopUsage>(payload).ok()?.usage?
        }
    };
    let text = raw.get();
    if !text.starts_with('{') {
        return None;
    }
    let start = text.as_ptr() as usize - payload.as_ptr() as usize;
    let close = start + text.len() - 1;
    let inner = text[1..text.len() - 1].trim();
    Some((close, !inner.is_empty()))
}

/// `payload` with `members` written into the usage object that ends at `close`.
pub(super) fn insert(payload: &[u8], (close, has_members): (usize, bool), members: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + members.len() + 1);
    out.extend_from_slice(&payload[..close]);
    if has_members {
        out.push(b',');
    }
    out.extend_from_slice(members);
    out.extend_from_slice(&payload[close..]);
    out
}

/// The response id of a whole Responses object or of a `response.*` event.
pub(super) fn response_id(payload: &[u8], in_event: bool) -> Option<String> {
    let id = if in_event {
        serde_json::from_slice::<NestedId>(payload).ok()?.response?.id?
    } else {
        serde_json::from_slice::<IdOnly>(payload).ok()?.id?
    };
    // An id is short and printable; anything else is not one to remember.
    (id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())).then(|| id.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_is_the_integer_as_a_decimal() {
        assert_eq!(usd_decimal(0), "0");
        assert_eq!(usd_decimal(1), "0.000001");
        assert_eq!(usd_decimal(123), "0.000123");
        assert_eq!(usd_decimal(1_500_000), "1.5");
        assert_eq!(usd_decimal(5_000_000), "5");
        assert_eq!(usd_decimal(12_345_678), "12.345678");
        assert_eq!(usd_decimal(-20), "-0.00002");
    }

    #[test]
    fn members_go_before_the_closing_brace_with_a_comma_only_when_needed() {
        let stamp = Stamp { cost_microusdc: 42, request_id: "req_1".into() };
        let body = br#"{"id":"x","usage":{ "prompt_tokens":3 } ,"z":{}}"#;
        let at = usage_insert_point(body, Payload::Whole).unwrap();
        let out = insert(body, at, &stamp.members());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["usage"]["prompt_tokens"], 3);
        assert_eq!(v["usage"]["cost_microusdc"], 42);
        assert_eq!(v["usage"]["cost"].to_string(), "0.000042");
        assert_eq!(v["usage"]["request_id"], "req_1");
        let empty = br#"{"usage":{}}"#;
        let out = insert(empty, usage_insert_point(empty, Payload::Whole).unwrap(), b"\"a\":1");
        assert_eq!(out, br#"{"usage":{"a":1}}"#);
        assert!(usage_insert_point(br#"{"usage":null}"#, Payload::Whole).is_none());
        assert!(usage_insert_point(br#"{"x":{"usage":{}}}"#, Payload::Whole).is_none(), "top level only");
        let interim = br#"{"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":3}}"#;
        assert!(usage_insert_point(interim, Payload::Event(ResponseShape::Anthropic)).is_none());
        let last = br#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}"#;
        assert!(usage_insert_point(last, Payload::Event(ResponseShape::Anthropic)).is_some());
    }

    #[test]
    fn candidates_are_the_final_usage_payloads_only() {
        let chat = ResponseShape::OpenAiChat;
        assert!(candidate(chat, br#"data: {"choices":[],"usage":null}"#).is_none());
        assert!(candidate(chat, br#"data: {"choices":[],"usage" : {"prompt_tokens":1}}"#).is_some());
        assert!(candidate(ResponseShape::Anthropic, br#"data: {"type":"message_start","message":{"usage":{}}}"#).is_none());
        assert!(candidate(ResponseShape::Anthropic, br#"data: {"type":"message_delta","usage":{}}"#).is_some());
        assert!(candidate(ResponseShape::OpenAiResponses, br#"data: {"type":"response.created"}"#).is_none());
        assert!(candidate(ResponseShape::OpenAiResponses, br#"data: {"type":"response.incomplete"}"#).is_some());
        let ev = br#"{"type":"response.completed","response":{"id":"resp_9","usage":{"input_tokens":1}}}"#;
        assert!(usage_insert_point(ev, Payload::Event(ResponseShape::OpenAiResponses)).is_some());
        assert_eq!(response_id(ev, true).as_deref(), Some("resp_9"));
        assert_eq!(response_id(br#"{"id":"resp 1"}"#, false), None);
    }
}
