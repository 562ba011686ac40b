//! Public answers: `/health`, the `/v1/models` catalogue and the `/v1/marketplace` view.

use crate::market::provider_pool::Health;
use crate::market::Listings;
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tollgate_billing::ledger::market::LastDay;
use tollgate_billing::{Price, PriceSheet, ProviderShare};
use tollgate_filters::usage::ApiFormat;

pub const HEALTH_BODY: &[u8] = br#"{"status":"ok"}"#;

pub fn health_name(h: Health) -> &'static str {
    match h {
        Health::Healthy => "healthy",
        Health::Unknown => "unknown",
        Health::Unhealthy => "unhealthy",
    }
}

fn api_name(k: ApiFormat) -> &'static str {
    match k {
        ApiFormat::OpenAi => "openai",
        ApiFormat::Anthropic => "anthropic",
    }
}

/// `GET /v1/models`, from the snapshot the gateway routes by (so it changes as listings do).
///
/// One entry per public model id, in the OpenAI list shape (`object`, `created`, `owned_by`
/// for SDK compatibility) plus the gateway's fields. `provider` and `pricing` describe the
/// preferred provider (lowest priority value); `endpoints` lists every provider that serves
/// the id — its buyer prices, context length and this node's view of its health. Prices are
/// USD per 1M tokens, as decimal strings, after the platform margin.
pub fn models_body(l: &Listings, share: ProviderShare) -> Bytes {
    let mut by_id: BTreeMap<&str, Vec<(u32, Value)>> = BTreeMap::new();
    let mut first: BTreeMap<&str, (u32, Value)> = BTreeMap::new();
    for (i, p) in l.providers.iter().enumerate() {
        let health = health_name(l.pool.health(i));
        for m in &p.models {
            let endpoint = json!({
                "provider": p.id,
                "api": api_name(p.kind),
                "pricing": pricing(&m.prices, share),
                "context_length": m.context_length,
                "health": health,
                "marketplace": p.owner.is_some(),
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
            if first
                .get(m.id.as_str())
                .is_none_or(|(prio, _)| p.priority < *prio)
            {
                first.insert(m.id.as_str(), (p.priority, entry));
            }
        }
    }
    let data: Vec<Value> = first
        .into_iter()
        .map(|(id, (_, mut entry))| {
            let mut endpoints = by_id.remove(id).unwrap_or_default();
            endpoints.sort_by_key(|(prio, _)| *prio);
            entry["endpoints"] = Value::Array(endpoints.into_iter().map(|(_, e)| e).collect());
            entry
        })
        .collect();
    Bytes::from(json!({ "object": "list", "data": data }).to_string())
}

/// `GET /v1/marketplace`: every routed provider, its models and buyer prices, health, and
/// the last 24 h from the ledger (`last_day`; absent without a ledger). Nothing private:
/// no key, no base URL, no wallet other than the payout address buyers can see on chain.
pub fn marketplace_body(l: &Listings, share: ProviderShare, last_day: &[LastDay]) -> Bytes {
    let providers: Vec<Value> = l
        .providers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let day = last_day.iter().find(|d| d.provider == p.id);
            json!({
                "id": p.id,
                "api": api_name(p.kind),
                "source": if p.owner.is_some() { "marketplace" } else { "operator" },
                "health": health_name(l.pool.health(i)),
                "models": p.models.iter().map(|m| json!({
                    "id": m.id,
                    "name": m.display_name,
                    "context_length": m.context_length,
                    "input_modalities": m.input_modalities,
                    "output_modalities": m.output_modalities,
                    "pricing": pricing(&m.prices, share),
                })).collect::<Vec<_>>(),
                "last_24h": day.map(|d| json!({
                    "requests": d.requests,
                    "success_rate": if d.requests > 0 { Some(d.succeeded as f64 / d.requests as f64) } else { None },
                    "mean_latency_ms": d.mean_latency_ms,
                    "mean_ttfb_ms": d.mean_ttfb_ms,
                    "tokens": d.tokens,
                })),
            })
        })
        .collect();
    Bytes::from(json!({ "object": "list", "providers": providers }).to_string())
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
    if p.request > 0 {
        // Micro-USD per request is the same number as "USD per 1M" of a Price.
        v["request"] = s(Price::from_micros_per_million(p.request));
        v["request_unit"] = Value::String("USD per successful request".into());
    }
    v
}
