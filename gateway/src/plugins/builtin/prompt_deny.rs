//! `prompt_deny`: refuses a request whose prompt text matches a rule (400, naming the rule).
//!
//! ```yaml
//! - prompt_deny:
//!     rules:
//!       - { name: aws-access-key, pattern: 'AKIA[0-9A-Z]{16}' }
//!       - { name: override, pattern: '(?i)ignore (all )?previous instructions' }
//! ```
//! Patterns are Rust `regex` syntax (linear time: no backtracking blow-up on hostile input),
//! matched against every string — values and keys — of `messages`, `system`, `tools`,
//! `functions`, `tool_choice` and `response_format`, with JSON escapes decoded, so
//! `\u0041KIA…` is `AKIA…`. Each string is matched on its own: a phrase split across two
//! content blocks is not seen. Neither the prompt nor the matched text is logged.

use crate::plugins::{BodyView, BuildError, Hooks, OnBody, Options};
use crate::wire::ApiError;
use regex::RegexSet;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    name: String,
    pattern: String,
}

struct PromptDeny {
    set: RegexSet,
    names: Vec<String>,
}

/// Compiled-size cap per pattern set: a pattern is configuration, but a typo like `.{1000000}`
/// should be an error at `validate`, not memory at start-up.
const SIZE_LIMIT: usize = 8 << 20;

pub fn build(o: &Options<'_>) -> Result<Hooks, BuildError> {
    let c: Config = o.parse()?;
    let mut errors = BuildError::default();
    if c.rules.is_empty() {
        errors.push(o.error("rules", "must list at least one rule"));
    }
    for (i, r) in c.rules.iter().enumerate() {
        if r.name.is_empty() {
            errors.push(o.error(&format!("rules[{i}].name"), "must not be empty"));
        }
        if let Err(e) = regex::RegexBuilder::new(&r.pattern)
            .size_limit(SIZE_LIMIT)
            .build()
        {
            errors.push(o.error(&format!("rules[{i}].pattern"), e.to_string()));
        }
    }
    if !errors.0.is_empty() {
        return Err(errors);
    }
    let set = regex::RegexSetBuilder::new(c.rules.iter().map(|r| &r.pattern))
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| o.error("rules", e.to_string()))?;
    Ok(Hooks {
        on_body: Some(Arc::new(PromptDeny {
            set,
            names: c.rules.into_iter().map(|r| r.name).collect(),
        })),
        ..Hooks::default()
    })
}

impl OnBody for PromptDeny {
    fn on_body(&self, b: &mut BodyView<'_, '_>) -> Result<(), ApiError> {
        let mut rule = None;
        b.request.prompt_text_matches(&mut |text| {
            // One pass for the common answer (no rule matches); which rule only on a hit.
            rule = if self.set.is_match(text) {
                self.set.matches(text).iter().next()
            } else {
                None
            };
            rule.is_some()
        });
        match rule {
            None => Ok(()),
            Some(i) => {
                log::debug!("prompt refused by prompt_deny rule {}", self.names[i]);
                Err(ApiError::validation(format!(
                    "the prompt was refused by rule `{}` of this gateway",
                    self.names[i]
                )))
            }
        }
    }
}
