//! The bodies of `PUT /v1/provider/upstreams/:id` and `PUT /v1/provider/models/:id`, checked
//! field by field: every refusal is a 400 that names the field.

use crate::config::{parse_base_url, UpstreamAddr};
use crate::market::upstream_addrs;
use crate::wire::{whole_number, ApiError};
use serde_json::{Map, Value};
use tollgate_billing::ledger::market::{ModelRow, PriceRow};
use tollgate_billing::Price;
use tollgate_filters::usage::ApiFormat;

/// $1,000,000 (per 1M tokens, per request, per image), in micro-USD: the ledger's bound too.
const MAX_PRICE: u64 = 1_000_000_000_000;

fn bad(field: &str, what: impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!("{field}: {what}"))
}

fn object(v: Value, allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(map) = v else {
        return Err(ApiError::validation("request body must be a JSON object"));
    };
    if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(
            k,
            format!("unknown field (expected one of {})", allowed.join(", ")),
        ));
    }
    Ok(map)
}

fn string(map: &Map<String, Value>, field: &str, max: usize) -> Result<Option<String>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(Some(s.clone())),
        Some(_) => Err(bad(
            field,
            format!("must be a non-empty string of at most {max} characters"),
        )),
    }
}

fn boolean(map: &Map<String, Value>, field: &str, default: bool) -> Result<bool, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(field, "must be a boolean")),
    }
}

fn integer(map: &Map<String, Value>, field: &str, max: u64, default: u64) -> Result<u64, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => whole_number(v)
            .filter(|n| *n <= max)
            .ok_or_else(|| bad(field, format!("must be an integer 0..{max}"))),
    }
}

/// A provider-chosen id: what buyers pin as `id/model`.
pub fn check_id(what: &str, id: &str, slash_ok: bool) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= if slash_ok { 128 } else { 64 }
        && !id.contains(char::is_whitespace)
        && !id.contains('@')
        && (slash_ok
            || id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
    if ok {
        Ok(())
    } else if slash_ok {
        Err(bad(what, "must be 1..128 characters without spaces or '@'"))
    } else {
        Err(bad(what, "must be 1..64 letters, digits, '.', '_' or '-'"))
    }
}

pub struct UpstreamBody {
    pub kind: ApiFormat,
    pub base_url: String,
    pub upstream: UpstreamAddr,
    pub api_key: Option<String>,
    pub priority: u64,
    pub enabled: bool,
}

impl UpstreamBody {
    pub fn parse(v: Value, id: &str) -> Result<UpstreamBody, ApiError> {
        check_id("id", id, false)?;
        let map = object(v, &["kind", "base_url", "api_key", "priority", "enabled"])?;
        let kind = match map.get("kind").and_then(Value::as_str) {
            Some("openai") => ApiFormat::OpenAi,
            Some("anthropic") => ApiFormat::Anthropic,
            _ => return Err(bad("kind", "must be \"openai\" or \"anthropic\"")),
        };
        let base_url =
            string(&map, "base_url", 2048)?.ok_or_else(|| bad("base_url", "is required"))?;
        let upstream = parse_base_url(&base_url, kind).map_err(|e| bad("base_url", e))?;
        Ok(UpstreamBody {
            kind,
            upstream,
            base_url,
            api_key: string(&map, "api_key", 4096)?,
            priority: integer(&map, "priority", 1_000_000, 100)?,
            enabled: boolean(&map, "enabled", true)?,
        })
    }

    pub fn kind_text(&self) -> &'static str {
        match self.kind {
            ApiFormat::OpenAi => "openai",
            ApiFormat::Anthropic => "anthropic",
        }
    }

    /// Refuse a `base_url` that resolves to an address the SSRF policy forbids (it is checked
    /// again at every resolution the gateway makes later).
    pub async fn check_address(&self, allow_private: bool) -> Result<(), ApiError> {
        if allow_private {
            return Ok(());
        }
        upstream_addrs::resolve(&self.upstream.host, self.upstream.port, true)
            .await
            .map(|_| ())
            .map_err(|e| {
                bad(
                    "base_url",
                    format!("{e}; upstreams must be public addresses"),
                )
            })
    }
}

pub struct ModelBody {
    pub upstream: String,
    upstream_model: Option<String>,
    display_name: Option<String>,
    context_length: u64,
    input_modalities: Vec<String>,
    output_modalities: Vec<String>,
    prices: PriceRow,
    enabled: bool,
}

fn modalities(map: &Map<String, Value>, field: &str) -> Result<Vec<String>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(vec!["text".into()]),
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= 8 => items
            .iter()
            .map(|m| match m.as_str() {
                Some(s @ ("text" | "image" | "audio" | "file")) => Ok(s.to_string()),
                _ => Err(bad(
                    field,
                    "each entry must be one of text, image, audio, file",
                )),
            })
            .collect(),
        Some(_) => Err(bad(field, "must be a non-empty array of modalities")),
    }
}

/// A USD amount as a JSON string or number → micro-USD (per 1M tokens, or per unit).
fn usd(map: &Map<String, Value>, field: &str) -> Result<Option<i64>, ApiError> {
    let path = format!("pricing.{field}");
    let text = match map.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(bad(&path, "must be a decimal USD amount")),
    };
    let p = Price::parse_usd(&text).map_err(|e| bad(&path, e))?;
    match p.micros_per_million() {
        v if v <= MAX_PRICE => Ok(Some(v as i64)),
        _ => Err(bad(&path, "is above $1,000,000")),
    }
}

impl ModelBody {
    pub fn parse(v: Value, id: &str) -> Result<ModelBody, ApiError> {
        check_id("id", id, true)?;
        let map = object(
            v,
            &[
                "upstream",
                "upstream_model",
                "display_name",
                "context_length",
                "input_modalities",
                "output_modalities",
                "pricing",
                "enabled",
            ],
        )?;
        let upstream =
            string(&map, "upstream", 64)?.ok_or_else(|| bad("upstream", "is required"))?;
        check_id("upstream", &upstream, false)?;
        let pricing = match map.get("pricing") {
            Some(v @ Value::Object(_)) => object(
                v.clone(),
                &[
                    "prompt",
                    "completion",
                    "cache_read",
                    "cache_write_5m",
                    "cache_write_1h",
                    "image",
                    "request",
                ],
            )
            .map_err(|e| ApiError::validation(format!("pricing.{}", e.message)))?,
            _ => {
                return Err(bad(
                    "pricing",
                    "is required: {prompt, completion, …} in USD per 1M tokens",
                ))
            }
        };
        let prompt =
            usd(&pricing, "prompt")?.ok_or_else(|| bad("pricing.prompt", "is required"))?;
        let completion =
            usd(&pricing, "completion")?.ok_or_else(|| bad("pricing.completion", "is required"))?;
        // An unset cache price is the prompt price: cache tokens are never free by omission.
        let prices = PriceRow {
            prompt,
            completion,
            cache_read: usd(&pricing, "cache_read")?.unwrap_or(prompt),
            cache_write_5m: usd(&pricing, "cache_write_5m")?.unwrap_or(prompt),
            cache_write_1h: usd(&pricing, "cache_write_1h")?.unwrap_or(prompt),
            image: usd(&pricing, "image")?,
            request: usd(&pricing, "request")?.unwrap_or(0),
        };
        Ok(ModelBody {
            upstream,
            upstream_model: string(&map, "upstream_model", 256)?,
            display_name: string(&map, "display_name", 256)?,
            context_length: integer(&map, "context_length", 100_000_000, 0)?,
            input_modalities: modalities(&map, "input_modalities")?,
            output_modalities: modalities(&map, "output_modalities")?,
            prices,
            enabled: boolean(&map, "enabled", true)?,
        })
    }

    pub fn row(&self, id: &str) -> ModelRow {
        ModelRow {
            upstream_id: self.upstream.clone(),
            id: id.to_string(),
            upstream_model: self
                .upstream_model
                .clone()
                .unwrap_or_else(|| id.to_string()),
            display_name: self.display_name.clone().unwrap_or_else(|| id.to_string()),
            context_length: self.context_length as i64,
            input_modalities: self.input_modalities.clone(),
            output_modalities: self.output_modalities.clone(),
            enabled: self.enabled,
            live: false,
            status: "probing".into(),
            price_id: 0,
            prices: self.prices,
            revision: 0,
        }
    }
}
