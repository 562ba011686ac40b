//! The request-body parser and sanitiser: never panics, and whatever it accepts it forwards
//! as one JSON object naming the upstream model, with an output limit (the reservation's
//! bound) and none of the forbidden pass-through fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_filters::chat_request::{BodyRules, ChatRequest, ThinkingPolicy, FORBIDDEN_FIELDS};
use tollgate_filters::usage::ApiFormat;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 {
        ApiFormat::OpenAi
    } else {
        ApiFormat::Anthropic
    };
    let thinking = match (selector >> 1) % 3 {
        0 => ThinkingPolicy::Reject,
        1 => ThinkingPolicy::Strip,
        _ => ThinkingPolicy::Allow,
    };
    let Ok(mut request) = ChatRequest::parse(body, format) else {
        return;
    };
    let rules = BodyRules {
        thinking,
        default_max_tokens: 4096,
    };
    if request.sanitize(&rules).is_err() {
        return;
    }
    assert!(request.max_output_tokens().is_some(), "no output bound after sanitising");
    let upstream = request.render();
    let bytes = upstream.to_bytes_for("upstream-model");
    assert_eq!(bytes.len(), upstream.len_for("upstream-model"));
    let forwarded: serde_json::Value =
        serde_json::from_slice(&bytes).expect("forwarded body is not JSON");
    let object = forwarded.as_object().expect("forwarded body is not an object");
    assert_eq!(object.get("model").and_then(|m| m.as_str()), Some("upstream-model"));
    for field in FORBIDDEN_FIELDS {
        assert!(!object.contains_key(field), "forwarded {field}");
    }
});
