//! `request_guard`: limits a route puts on requests, checked on the parsed body.
//!
//! ```yaml
//! - request_guard:
//!     max_body_bytes: 65536         # 413 PAYLOAD_TOO_LARGE (below server.max_body_bytes)
//!     max_messages: 50              # 400 VALIDATION_ERROR
//!     max_output_tokens: 4096       # 400: output limit × n in force where the guard is listed
//!     models: [gpt-4o-mini, "claude-*"]                # 403 FORBIDDEN for any other model
//!     models_by_wallet: { "0xab…": [gpt-4o-mini] }     # and, for these wallets, only these
//!     models_by_key: { "key_…": [mock-1] }             # and, for these keys (id or static label)
//! ```
//! A model is matched as it will be served and billed — after route aliases and their
//! fallback, so a name the alias redirects cannot slip past — by its public id, or
//! `provider/model` when the client pinned a provider (`acme/*` then matches pins to `acme`);
//! `prefix*` matches every id starting with `prefix`. List the guard after
//! `default_max_tokens` to cap the inserted limit as well.

use crate::config::is_evm_address;
use crate::plugins::{BodyView, BuildError, Hooks, OnBody, Options};
use crate::wire::ApiError;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    max_body_bytes: Option<usize>,
    max_messages: Option<usize>,
    max_output_tokens: Option<u64>,
    models: Option<Vec<String>>,
    #[serde(default)]
    models_by_wallet: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    models_by_key: BTreeMap<String, Vec<String>>,
}

struct RequestGuard {
    max_body_bytes: Option<usize>,
    max_messages: Option<usize>,
    max_output_tokens: Option<u64>,
    models: Option<Vec<String>>,
    by_wallet: HashMap<String, Vec<String>>,
    by_key: HashMap<String, Vec<String>>,
}

pub fn build(o: &Options<'_>) -> Result<Hooks, BuildError> {
    let c: Config = o.parse()?;
    let mut errors = BuildError::default();
    for (field, v) in [
        ("max_body_bytes", c.max_body_bytes.map(|v| v as u64)),
        ("max_messages", c.max_messages.map(|v| v as u64)),
        ("max_output_tokens", c.max_output_tokens),
    ] {
        if v == Some(0) {
            errors.push(o.error(field, "must be positive"));
        }
    }
    for w in c.models_by_wallet.keys() {
        if !is_evm_address(w) {
            errors.push(o.error(
                &format!("models_by_wallet.{w}"),
                "is not a 0x wallet address",
            ));
        }
    }
    let guard = RequestGuard {
        max_body_bytes: c.max_body_bytes,
        max_messages: c.max_messages,
        max_output_tokens: c.max_output_tokens,
        models: c.models,
        by_wallet: c
            .models_by_wallet
            .into_iter()
            .map(|(w, m)| (w.to_ascii_lowercase(), m))
            .collect(),
        by_key: c.models_by_key.into_iter().collect(),
    };
    errors.or_ok(Hooks {
        on_body: Some(Arc::new(guard)),
        ..Hooks::default()
    })
}

fn allows(list: &[String], model: &str) -> bool {
    list.iter().any(|m| match m.strip_suffix('*') {
        Some(prefix) => model.starts_with(prefix),
        None => m == model,
    })
}

impl OnBody for RequestGuard {
    fn on_body(&self, b: &mut BodyView<'_, '_>) -> Result<(), ApiError> {
        if let Some(max) = self.max_body_bytes {
            if b.body_len > max {
                return Err(ApiError::payload_too_large(max));
            }
        }
        if let Some(max) = self.max_messages {
            let n = b.request.message_count();
            if n > max {
                return Err(ApiError::validation(format!(
                    "this route accepts at most {max} messages per request, the request has {n}"
                )));
            }
        }
        if let (Some(max), Some(limit)) = (self.max_output_tokens, b.request.max_output_tokens()) {
            // `n` completions each get the limit: the reservation prices limit × n.
            let asked = limit.saturating_mul(b.request.choices());
            if asked > max {
                return Err(ApiError::validation(format!(
                    "this route allows an output limit of at most {max} tokens (max_tokens × n), the request asks for {asked}"
                )));
            }
        }
        let model = b.model;
        let refused = |whose: &str| {
            ApiError::new(
                403,
                "FORBIDDEN",
                format!("model {model:?} is not allowed {whose} on this route"),
            )
        };
        if self.models.as_deref().is_some_and(|l| !allows(l, model)) {
            return Err(refused("here"));
        }
        if let Some(l) = self.by_wallet.get(&*b.principal.wallet) {
            if !allows(l, model) {
                return Err(refused("for this wallet"));
            }
        }
        if let Some(l) = self.by_key.get(&*b.principal.key_id) {
            if !allows(l, model) {
                return Err(refused("for this key"));
            }
        }
        Ok(())
    }
}
