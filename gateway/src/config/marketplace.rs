//! The `marketplace` section: providers who join through the API (`/v1/provider/*`).

use super::raw::{Decimal, RawMarketplace};
use super::{Secret, Validator};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct MarketplaceConfig {
    /// AES-256 key (32 bytes) that seals upstream API keys at rest (`master_key`, 64 hex,
    /// usually `${TOLLGATE_MASTER_KEY}`).
    pub master_key: Secret,
    /// Master keys rows may still be sealed under, during a rotation (open only).
    pub previous_master_keys: Vec<Secret>,
    /// Let providers' `base_url`s reach loopback, private, link-local and metadata addresses
    /// (tests and demos only: it lets a stranger make this gateway call into its network).
    pub allow_private_upstreams: bool,
    /// How long the listing probe may take.
    pub probe_timeout: Duration,
    /// Suspension: at least this many requests over the last day …
    pub suspend_min_requests: u64,
    /// … of which more than this share (basis points) had missing or disproved usage.
    pub suspend_bad_bps: u32,
    /// Input tokens a provider may report above the gateway's own count of the prompt, in
    /// percent of that count (plus `input_slack_tokens`), before the report counts as disproved.
    pub input_tolerance_pct: u64,
    pub input_slack_tokens: u64,
    /// How often the suspension rule is checked (and DNS re-resolved).
    pub upkeep_every: Duration,
}

impl Validator<'_> {
    pub(super) fn marketplace(&mut self, raw: RawMarketplace) -> Option<MarketplaceConfig> {
        let master_key = self.resolve_env("marketplace.master_key", &raw.master_key)?;
        let ok = master_key.len() == 64 && master_key.bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            self.err(
                "marketplace.master_key",
                "must be 64 hex digits (32 random bytes, e.g. `openssl rand -hex 32`)",
            );
        }
        let hex64 = |k: &str| k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit());
        let mut previous_master_keys = Vec::new();
        for (i, k) in raw.previous_master_keys.iter().enumerate() {
            let path = format!("marketplace.previous_master_keys[{i}]");
            if let Some(k) = self.resolve_env(&path, k) {
                if hex64(&k) {
                    previous_master_keys.push(Secret::new(k));
                } else {
                    self.err(path, "must be 64 hex digits");
                }
            }
        }
        let probe_timeout = self.duration("marketplace.probe_timeout", raw.probe_timeout, "30s");
        let suspend_bad_bps = match raw.suspend_bad_ratio {
            None => 2_000,
            Some(Decimal(d)) => match d.parse::<f64>() {
                // Config-time only, turned into integer basis points at once.
                Ok(r) if (0.0..=1.0).contains(&r) => (r * 10_000.0).round() as u32,
                _ => {
                    self.err(
                        "marketplace.suspend_bad_ratio",
                        format!("{d:?} must be a fraction in [0, 1]"),
                    );
                    2_000
                }
            },
        };
        Some(MarketplaceConfig {
            master_key: Secret::new(master_key),
            previous_master_keys,
            allow_private_upstreams: raw.allow_private_upstreams.unwrap_or(false),
            probe_timeout,
            suspend_min_requests: raw.suspend_min_requests.unwrap_or(20),
            suspend_bad_bps,
            input_tolerance_pct: raw.input_tolerance_pct.unwrap_or(25),
            input_slack_tokens: raw.input_slack_tokens.unwrap_or(64),
            upkeep_every: self.duration("marketplace.upkeep_every", raw.upkeep_every, "30s"),
        })
    }
}
