//! Public answers that need no ledger: `/health` and the `/v1/models` catalogue.

use crate::config::Config;
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tollgate_billing::{Price, PriceSheet, ProviderShare};

pub const HEALTH_BODY: &[u8] = br#"{"status":"ok"}"#;

/// `GET /v1/models`, rendered once at start-up (the catalogue only changes with the config).
///
/// One entry per public model id, in the OpenAI list shape (`object`, `created`, `owned_by`
/// for SDK compatibility) plus the gateway's fields. `provider` and `pricing` describe the
/// preferred provider (lowest priority value); `endpoints` lists every provider that serves
/// the id, each with the buyer prices it would be billed at. Prices are USD per 1M tokens,
/// as decimal strings, after the platform margin.
pub fn models_body(config: &Config) -> Bytes {
    let share = config.server.provider_share;
    let mut by_id: BTreeMap<&str, Vec<(u32, Value)>> = BTreeMap::new();
    let mut first: BTreeMap<&str, Value> = BTreeMap::new();
    for p in &config.providers {
        for m in &p.models {
            let endpoint = json!({
                "provider": p.id,
                "api": match p.kind { tollgate_filters::usage::ApiFormat::OpenAi => "openai", _ => "anthropic" },
                "pricing": pricing(&m.prices, share),
            });
            by_id
                .entry(m.id.as_str())
                .or_default()
                .push((p.priority, endpoint));
            let entry = json!({
                "id": m.id,
                "object": "model",
                "created": 0,
                "owned_by": p.id,
                "name": m.display_name,
                "provider": p.id,
                "context_length": m.context_length,
                "input_modalities": m.input_modalities,
                "output_modalities": m.output_modalities,
                "pricing": pricing(&m.prices, share),
            });
            let keep = match first.get(m.id.as_str()) {
                None => true,
                Some(prev) => {
                    let prev_prio = config
                        .providers
                        .iter()
                        .find(|x| x.id == prev["provider"])
                        .map_or(u32::MAX, |x| x.priority);
                    p.priority < prev_prio
                }
            };
            if keep {
                first.insert(m.id.as_str(), entry);
            }
        }
    }
    let data: Vec<Value> = first
        .into_iter()
        .map(|(id, mut entry)| {
            let mut endpoints = by_id.remove(id).unwrap_or_default();
            endpoints.sort_by_key(|(prio, _)| *prio);
            entry["endpoints"] = Value::Array(endpoints.into_iter().map(|(_, e)| e).collect());
            entry
        })
        .collect();
    Bytes::from(json!({ "object": "list", "data": data }).to_string())
}

fn pricing(p: &PriceSheet, share: ProviderShare) -> Value {
    let s = |price: Price| Value::String(price.for_buyer(share).to_string());
    let mut v = json!({
        "prompt": s(p.prompt),
        "completion": s(p.completion),
        "cache_read": s(p.cache_read),
        "cache_write_5m": s(p.cache_write_5m),
        "cache_write_1h": s(p.cache_write_1h),
        "unit": "USD per 1M tokens",
    });
    if let Some(img) = p.image {
        v["image"] = s(img);
        v["image_unit"] = Value::String("USD per image".into());
    }
    v
}
