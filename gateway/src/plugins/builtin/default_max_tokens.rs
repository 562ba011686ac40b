//! `default_max_tokens`: the output limit inserted when a request names none.
//!
//! ```yaml
//! - default_max_tokens: 2048      # or { value: 2048 }; default: server.default_max_tokens
//! ```
//! A route without this plugin refuses (400) a request that names no output limit: every
//! reservation needs one, and the provider's own default is not known to the gateway.

use crate::plugins::{BodyView, BuildError, Hooks, OnBody, Options};
use crate::wire::ApiError;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    value: Option<u64>,
}

struct DefaultMaxTokens(u64);

pub fn build(o: &Options<'_>) -> Result<Hooks, BuildError> {
    let value = match &o.entry.options {
        serde_yaml_ng::Value::Number(n) => match n.as_u64() {
            Some(v) => Some(v),
            None => return Err(o.error("value", format!("{n} is not a whole number of tokens"))),
        },
        _ => o.parse::<Config>()?.value,
    }
    .unwrap_or(o.config.server.default_max_tokens);
    if value == 0 {
        return Err(o.error("value", "must be a positive number of tokens"));
    }
    Ok(Hooks {
        on_body: Some(Arc::new(DefaultMaxTokens(value))),
        ..Hooks::default()
    })
}

impl OnBody for DefaultMaxTokens {
    fn on_body(&self, body: &mut BodyView<'_, '_>) -> Result<(), ApiError> {
        body.request.default_output_limit(self.0);
        Ok(())
    }
}
