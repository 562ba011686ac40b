//! Marketplace rows (Postgres) → the same [`Provider`] the config file produces, so the data
//! plane cannot tell them apart except by `owner`. Only what may route is converted: an
//! enabled, unsuspended upstream whose key opens, with its enabled models that passed their
//! probe.

use super::sealed::Keyring;
use crate::config::{parse_base_url, Provider, ProviderModel, Secret};
use tollgate_billing::ledger::market::{ModelRow, PriceRow, UpstreamRow};
use tollgate_billing::{Price, PriceSheet};
use tollgate_filters::prompt_tokens::Encoding;
use tollgate_filters::usage::ApiFormat;

pub fn kind(text: &str) -> Option<ApiFormat> {
    match text {
        "openai" => Some(ApiFormat::OpenAi),
        "anthropic" => Some(ApiFormat::Anthropic),
        _ => None,
    }
}

/// The ledger's bound on any price ($1,000,000 per 1M tokens), enforced again on read.
const MAX_PRICE: i64 = 1_000_000_000_000;

pub fn price_sheet(p: &PriceRow) -> PriceSheet {
    let price = |v: i64| Price::from_micros_per_million(v.clamp(0, MAX_PRICE) as u64);
    PriceSheet {
        prompt: price(p.prompt),
        completion: price(p.completion),
        cache_read: price(p.cache_read),
        cache_write_5m: price(p.cache_write_5m),
        cache_write_1h: price(p.cache_write_1h),
        image: p.image.map(price),
        request: p.request.clamp(0, MAX_PRICE) as u64,
    }
}

pub fn model(m: &ModelRow, kind: ApiFormat) -> ProviderModel {
    ProviderModel {
        id: m.id.clone(),
        upstream_model: m.upstream_model.clone(),
        display_name: m.display_name.clone(),
        context_length: m.context_length.max(0) as u64,
        input_modalities: m.input_modalities.clone(),
        output_modalities: m.output_modalities.clone(),
        prices: price_sheet(&m.prices),
        tokenizer: match kind {
            ApiFormat::OpenAi => Encoding::for_model(&m.upstream_model),
            ApiFormat::Anthropic => None,
        },
        price_id: Some(m.price_id),
        // A stranger's listing is always probed: its health is the buyers' only warning.
        probe: true,
        apis: crate::config::ModelApis::default_for(kind),
    }
}

/// The routable provider for one upstream row, or why it is not routable (for logs).
pub fn provider(
    up: &UpstreamRow,
    models: &[&ModelRow],
    keys: &Keyring,
) -> Result<Provider, String> {
    if !up.enabled {
        return Err("disabled".into());
    }
    if let Some(why) = &up.suspended_reason {
        return Err(format!("suspended: {why}"));
    }
    let kind = kind(&up.kind).ok_or_else(|| format!("unknown kind {:?}", up.kind))?;
    let upstream = parse_base_url(&up.base_url, kind)?;
    let api_key = match &up.key_sealed {
        None => String::new(),
        Some(sealed) => keys.open(&up.id, sealed, up.key_master_id.as_deref().unwrap_or(""))?,
    };
    let models: Vec<ProviderModel> = models
        .iter()
        .filter(|m| m.enabled && m.live)
        .map(|m| model(m, kind))
        .collect();
    if models.is_empty() {
        return Err("no live model".into());
    }
    Ok(Provider {
        id: up.id.clone(),
        kind,
        base_url: up.base_url.clone(),
        upstream,
        api_key: Secret::new(api_key),
        priority: up.priority.max(0) as u32,
        payout_address: Some(up.owner.clone()),
        payout_chain_id: None,
        payout_asset: None,
        owner: Some(up.owner.clone()),
        models,
    })
}
