//! `prices_file`: a prices overlay the config includes. `tollgate prices import` writes it
//! whole (it is generated, so nothing hand-written is lost), and the config file itself is
//! never rewritten: its comments and layout stay the operator's. Each entry names a model as
//! `provider/model` and replaces the fields it gives (per pricing field; the rest stay as the
//! config file has them).

use super::raw::{RawConfig, RawPricing};
use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The overlay file: `provider/model` → what it sets.
pub type PricesOverlay = BTreeMap<String, PriceEntry>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriceEntry {
    /// Where the values came from (e.g. `litellm:gpt-4o-mini-2024-07-18`); informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_modalities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_modalities: Option<Vec<String>>,
    /// USD per 1M tokens, as exact decimal strings.
    #[serde(default, skip_serializing_if = "OverlayPricing::is_empty")]
    pub pricing: OverlayPricing,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OverlayPricing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_5m: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<String>,
}

impl OverlayPricing {
    pub fn is_empty(&self) -> bool {
        *self == OverlayPricing::default()
    }
}

/// Parse an overlay file's text.
pub fn parse_overlay(text: &str) -> Result<PricesOverlay, String> {
    if text.trim().is_empty() {
        return Ok(PricesOverlay::new());
    }
    serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
}

/// Apply `overlay` to the file's models before validation (so its values are checked like
/// the file's own). An entry naming no model of the file is an error: a typo must not leave
/// a model at a price nobody meant.
pub(super) fn apply(raw: &mut RawConfig, overlay: PricesOverlay) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (key, entry) in overlay {
        let path = format!("prices_file: {key}");
        let Some((provider, model)) = key.split_once('/') else {
            errors.push(ConfigError {
                path,
                message: "expected provider/model".into(),
            });
            continue;
        };
        let Some(m) = raw
            .providers
            .iter_mut()
            .filter(|p| p.id == provider)
            .flat_map(|p| p.models.iter_mut())
            .find(|m| m.id == model)
        else {
            errors.push(ConfigError {
                path,
                message: format!("no model {model:?} of provider {provider:?} in the config"),
            });
            continue;
        };
        if let Some(n) = entry.context_length {
            m.context_length = Some(n);
        }
        if let Some(v) = entry.input_modalities {
            m.input_modalities = Some(v);
        }
        if let Some(v) = entry.output_modalities {
            m.output_modalities = Some(v);
        }
        let p = entry.pricing;
        let pricing = m.pricing.get_or_insert_with(RawPricing::default);
        let set = |slot: &mut Option<super::raw::Decimal>, v: Option<String>| {
            if let Some(v) = v {
                *slot = Some(super::raw::Decimal(v));
            }
        };
        set(&mut pricing.prompt, p.prompt);
        set(&mut pricing.completion, p.completion);
        set(&mut pricing.cache_read, p.cache_read);
        set(&mut pricing.cache_write_5m, p.cache_write_5m);
        set(&mut pricing.cache_write_1h, p.cache_write_1h);
    }
    errors
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use tollgate_billing::Price;

    fn load(overlay: &str) -> Result<Config, String> {
        let dir = std::env::temp_dir().join(format!("tollgate-overlay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("c{}.yaml", overlay.len()));
        std::fs::write(
            &path,
            "billing: { sink: memory }\nprices_file: prices.yaml\nproviders:\n  - id: p\n    kind: openai\n    base_url: http://127.0.0.1:1/v1\n    models:\n      - { id: m, pricing: { prompt: 1, completion: 2, cache_read: 0.5 } }\n",
        )
        .unwrap();
        let c = Config::load_with_prices(&path, Some(overlay)).map_err(|e| e.to_string());
        let _ = std::fs::remove_file(&path);
        c
    }

    #[test]
    fn an_overlay_replaces_the_fields_it_gives() {
        let c = load(
            "p/m: { context_length: 4096, pricing: { prompt: '0.15', cache_write_5m: '3.75' } }",
        )
        .unwrap();
        let m = &c.providers[0].models[0];
        assert_eq!(m.prices.prompt, Price::parse_usd("0.15").unwrap());
        assert_eq!(
            m.prices.completion,
            Price::parse_usd("2").unwrap(),
            "kept from the file"
        );
        assert_eq!(m.prices.cache_read, Price::parse_usd("0.5").unwrap());
        assert_eq!(m.prices.cache_write_5m, Price::parse_usd("3.75").unwrap());
        assert_eq!(m.context_length, 4096);
        assert!(c.prices_file.unwrap().ends_with("prices.yaml"));
        assert_eq!(
            load("").unwrap().providers[0].models[0].prices.prompt,
            Price::parse_usd("1").unwrap()
        );
    }

    #[test]
    fn an_overlay_for_no_model_or_with_a_bad_price_is_refused() {
        let e = load("p/other: { pricing: { prompt: '1' } }").unwrap_err();
        assert!(
            e.contains("prices_file: p/other: no model \"other\""),
            "{e}"
        );
        let e = load("p/m: { pricing: { prompt: '-1' } }").unwrap_err();
        assert!(e.contains("providers[0].models[0].pricing.prompt"), "{e}");
        assert!(load("p/m: { price: 1 }")
            .unwrap_err()
            .contains("prices_file"));
    }
}
