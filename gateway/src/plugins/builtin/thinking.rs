//! `thinking`: what happens to `thinking` (Anthropic) and `reasoning_effort` (OpenAI).
//!
//! ```yaml
//! - thinking: { policy: strip }   # reject (400) | strip | allow; default: server.thinking
//! ```
//! Without this plugin on a route the fields pass through (the provider bills thinking as
//! output tokens, which the reservation's output bound already covers).

use crate::plugins::{BodyView, BuildError, Hooks, OnBody, Options};
use crate::wire::ApiError;
use serde::Deserialize;
use std::sync::Arc;
use tollgate_filters::chat_request::ThinkingPolicy;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    policy: Option<String>,
}

struct Thinking(ThinkingPolicy);

pub fn build(o: &Options<'_>) -> Result<Hooks, BuildError> {
    let c: Config = o.parse()?;
    let policy = match c.policy.as_deref() {
        None => o.config.server.thinking,
        Some("reject") => ThinkingPolicy::Reject,
        Some("strip") => ThinkingPolicy::Strip,
        Some("allow") => ThinkingPolicy::Allow,
        Some(other) => {
            return Err(o.error(
                "policy",
                format!("unknown policy {other:?} (expected reject, strip or allow)"),
            ))
        }
    };
    Ok(Hooks {
        on_body: Some(Arc::new(Thinking(policy))),
        ..Hooks::default()
    })
}

impl OnBody for Thinking {
    fn on_body(&self, body: &mut BodyView<'_, '_>) -> Result<(), ApiError> {
        body.request
            .apply_thinking(self.0)
            .map_err(|e| ApiError::validation(e.to_string()))
    }
}
