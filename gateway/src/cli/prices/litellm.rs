//! LiteLLM's `model_prices_and_context_window.json`: per-token USD prices as JSON numbers.
//! Each number is read as its text ([`RawValue`]) and moved six places to USD per 1M by
//! [`Price::parse_usd_per_token`]: `1.5e-07` becomes `0.15` exactly, with no `f64` between.

use crate::config::prices::{OverlayPricing, PriceEntry};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use tollgate_billing::{PerToken, Price};

/// The file: model key → its fields, still as JSON text.
pub struct LiteLlm(BTreeMap<String, BTreeMap<String, Box<RawValue>>>);

/// One model's values in Tollgate's terms, and what the reader had to decide on the way.
pub struct Imported {
    pub entry: PriceEntry,
    pub notes: Vec<String>,
}

impl LiteLlm {
    pub fn parse(text: &str) -> Result<LiteLlm, String> {
        let top: BTreeMap<String, Box<RawValue>> =
            serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
        let models = top
            .into_iter()
            // `sample_spec` documents the format; anything not an object is no model.
            .filter(|(k, _)| k != "sample_spec")
            .filter_map(|(k, v)| Some((k, serde_json::from_str(v.get()).ok()?)))
            .collect();
        Ok(LiteLlm(models))
    }

    /// The first of `keys` the file has.
    pub fn find<'k>(&self, keys: &[&'k str]) -> Option<&'k str> {
        keys.iter().copied().find(|k| self.0.contains_key(*k))
    }

    /// A model's prices, context length and modalities. Errors name the field.
    pub fn import(&self, key: &str) -> Result<Imported, String> {
        let fields = self
            .0
            .get(key)
            .ok_or_else(|| format!("{key:?} is not in the file"))?;
        let mut notes = Vec::new();
        let mut price = |base: &str| -> Result<Option<String>, String> {
            // Tiered prices (`…_above_200k_tokens`): the dearest tier, since a flat price
            // below a tier the request reaches would serve it below cost.
            let mut best: Option<(Price, String)> = None;
            for (name, raw) in fields.iter().filter(|(n, _)| {
                *n == base
                    || n.strip_prefix(base)
                        .and_then(|r| r.strip_prefix("_above_"))
                        .and_then(|r| r.strip_suffix("k_tokens"))
                        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            }) {
                let Some(text) = number(raw) else {
                    return Err(format!("{name}: {} is not a number", raw.get()));
                };
                let (p, how) =
                    Price::parse_usd_per_token(text).map_err(|e| format!("{name}: {e}"))?;
                match how {
                    PerToken::Exact => {}
                    PerToken::Up => {
                        notes.push(format!("{name} {text} per token rounded up to {p} per 1M"))
                    }
                    PerToken::Noise => {
                        notes.push(format!("{name} {text}: float noise dropped, {p} per 1M"))
                    }
                }
                if best.as_ref().is_none_or(|(b, _)| p > *b) {
                    best = Some((p, name.clone()));
                }
            }
            if let Some((_, name)) = &best {
                if name != base {
                    notes.push(format!("tiered price: {name} (the dearest tier) used"));
                }
            }
            Ok(best.map(|(p, _)| p.to_string()))
        };
        let pricing = OverlayPricing {
            prompt: price("input_cost_per_token")?,
            completion: price("output_cost_per_token")?,
            cache_read: price("cache_read_input_token_cost")?,
            cache_write_5m: price("cache_creation_input_token_cost")?,
            cache_write_1h: price("cache_creation_input_token_cost_above_1hr")?,
        };
        let count = |name: &str| fields.get(name).and_then(|v| v.get().parse::<u64>().ok());
        let flag = |name: &str| fields.get(name).is_some_and(|v| v.get() == "true");
        let list = |name: &str| -> Option<Vec<String>> {
            serde_json::from_str(fields.get(name)?.get()).ok()
        };
        let input_modalities = list("supported_modalities").or_else(|| {
            let mut m = vec!["text".to_string()];
            if flag("supports_vision") {
                m.push("image".into());
            }
            if flag("supports_audio_input") {
                m.push("audio".into());
            }
            Some(m)
        });
        let output_modalities = list("supported_output_modalities").or_else(|| {
            let mut m = vec!["text".to_string()];
            if flag("supports_audio_output") {
                m.push("audio".into());
            }
            Some(m)
        });
        Ok(Imported {
            entry: PriceEntry {
                source: Some(format!("litellm:{key}")),
                context_length: count("max_input_tokens").or_else(|| count("max_tokens")),
                input_modalities,
                output_modalities,
                pricing,
            },
            notes,
        })
    }
}

/// The JSON number's own text (`None` for a string, `null`, …).
fn number(raw: &RawValue) -> Option<&str> {
    let t = raw.get().trim();
    t.starts_with(|c: char| c.is_ascii_digit() || c == '-')
        .then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
        "sample_spec": {"max_tokens": "LEGACY parameter", "input_cost_per_token": 0.0},
        "m": {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 0.0000006,
              "cache_read_input_token_cost": 7.5e-08, "max_input_tokens": 128000,
              "max_tokens": 16384, "supports_vision": true},
        "tiered": {"input_cost_per_token": 3e-06, "input_cost_per_token_above_200k_tokens": 6e-06,
                   "output_cost_per_token": 1.5e-05,
                   "cache_creation_input_token_cost": 3.75e-06,
                   "cache_creation_input_token_cost_above_1hr": 6e-06,
                   "cache_creation_input_token_cost_above_1hr_above_200k_tokens": 1.2e-05,
                   "supported_modalities": ["text", "image", "pdf"]},
        "noisy": {"input_cost_per_token": 1.6000000000000001e-06, "output_cost_per_token": 1.6666667e-07},
        "odd": {"input_cost_per_token": 1.6666667e-07, "output_cost_per_token": "free"}
    }"#;

    #[test]
    fn reads_exact_decimals_and_the_dearest_tier() {
        let f = LiteLlm::parse(FILE).unwrap();
        let m = f.import("m").unwrap().entry;
        assert_eq!(m.pricing.prompt.as_deref(), Some("0.15"));
        assert_eq!(m.pricing.completion.as_deref(), Some("0.6"));
        assert_eq!(m.pricing.cache_read.as_deref(), Some("0.075"));
        assert_eq!(m.pricing.cache_write_5m, None);
        assert_eq!(m.context_length, Some(128000));
        assert_eq!(m.input_modalities.unwrap(), ["text", "image"]);
        let t = f.import("tiered").unwrap();
        assert_eq!(t.entry.pricing.prompt.as_deref(), Some("6"));
        assert_eq!(t.entry.pricing.cache_write_5m.as_deref(), Some("3.75"));
        assert_eq!(t.entry.pricing.cache_write_1h.as_deref(), Some("12"));
        assert_eq!(t.entry.input_modalities.unwrap(), ["text", "image", "pdf"]);
        assert!(t.notes.iter().any(|n| n.contains("above_200k")));
        let noisy = f.import("noisy").unwrap();
        assert_eq!(noisy.entry.pricing.prompt.as_deref(), Some("1.6"));
        assert_eq!(noisy.entry.pricing.completion.as_deref(), Some("0.166667"));
        assert_eq!(noisy.notes.len(), 2, "{:?}", noisy.notes);
        let odd = f.import("odd");
        assert!(odd.is_err_and(|e| e.contains("output_cost_per_token")));
        assert_eq!(f.find(&["nope", "m"]), Some("m"));
    }
}
