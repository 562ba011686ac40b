//! A buyer's per-request provider preferences, in OpenRouter's shape (the body's `provider`
//! member, removed before forwarding):
//!
//! `provider: {order: [ids], only: [ids], ignore: [ids], sort: "price" | "latency",
//! max_price: {prompt, completion}, allow_fallbacks: bool}`
//!
//! They only narrow or reorder the candidates the catalog resolved; the reservation is then
//! priced over what is left (the dearest remaining candidate), so a preference can never make
//! a call cost more than its reservation. Prices compared are buyer prices in USD per 1M
//! tokens, as `GET /v1/models` shows them.

use crate::market::catalog::Route;
use crate::market::Listings;
use serde::Deserialize;
use tollgate_billing::{Price, ProviderShare};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    #[serde(default)]
    order: Vec<String>,
    only: Option<Vec<String>>,
    #[serde(default)]
    ignore: Vec<String>,
    sort: Option<Sort>,
    max_price: Option<MaxPrice>,
    allow_fallbacks: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Sort {
    Price,
    Latency,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaxPrice {
    prompt: Option<serde_json::Number>,
    completion: Option<serde_json::Number>,
}

fn usd(n: &serde_json::Number, field: &str) -> Result<Price, String> {
    Price::parse_usd(&n.to_string()).map_err(|e| format!("provider.max_price.{field}: {e}"))
}

impl Preferences {
    pub fn parse(json: &str) -> Result<Preferences, String> {
        serde_json::from_str(json).map_err(|e| {
            format!(
                "field `provider` must be an object of order, only, ignore, sort (\"price\" or \"latency\"), max_price {{prompt, completion}} and allow_fallbacks: {e}"
            )
        })
    }

    /// Narrow and reorder `candidates` (best first, as the pool ordered them).
    pub fn apply(
        &self,
        listings: &Listings,
        mut candidates: Vec<Route>,
        share: ProviderShare,
    ) -> Result<Vec<Route>, String> {
        let id = |r: &Route| listings.provider(*r).id.as_str();
        let before = candidates.len();
        if let Some(only) = &self.only {
            candidates.retain(|r| only.iter().any(|o| o == id(r)));
            if candidates.is_empty() {
                return Err(format!(
                    "provider.only {only:?} names no provider serving this model"
                ));
            }
        }
        candidates.retain(|r| !self.ignore.iter().any(|o| o == id(r)));
        if candidates.is_empty() {
            return Err(format!(
                "provider.ignore {:?} leaves none of the {before} providers serving this model",
                self.ignore
            ));
        }
        if let Some(max) = &self.max_price {
            let prompt = max.prompt.as_ref().map(|n| usd(n, "prompt")).transpose()?;
            let completion = max
                .completion
                .as_ref()
                .map(|n| usd(n, "completion"))
                .transpose()?;
            candidates.retain(|r| {
                let p = &listings.model(*r).prices;
                prompt.is_none_or(|m| p.prompt.for_buyer(share) <= m)
                    && completion.is_none_or(|m| p.completion.for_buyer(share) <= m)
            });
            if candidates.is_empty() {
                return Err(
                    "provider.max_price: every provider serving this model is priced above it"
                        .into(),
                );
            }
        }
        // Stable sorts: ties keep the pool's health / priority / round-robin order.
        match self.sort {
            Some(Sort::Price) => candidates.sort_by_key(|r| {
                let p = &listings.model(*r).prices;
                p.prompt.micros_per_million() + p.completion.micros_per_million()
            }),
            Some(Sort::Latency) => {
                candidates.sort_by_key(|r| listings.pool.latency_ms(r.provider).unwrap_or(u64::MAX))
            }
            None => {}
        }
        if !self.order.is_empty() {
            let rank = |r: &Route| {
                self.order
                    .iter()
                    .position(|o| o == id(r))
                    .unwrap_or(usize::MAX)
            };
            candidates.sort_by_key(rank);
            if self.allow_fallbacks == Some(false) {
                candidates.retain(|r| rank(r) != usize::MAX);
                if candidates.is_empty() {
                    return Err(format!(
                        "provider.order {:?} names no provider serving this model and allow_fallbacks is false",
                        self.order
                    ));
                }
            }
        } else if self.allow_fallbacks == Some(false) {
            candidates.truncate(1);
        }
        Ok(candidates)
    }
}
