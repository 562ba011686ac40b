//! The `limits` and `redis` sections.

use super::raw::{RawLimit, RawLimits, RawRedis};
use super::{is_evm_address, Secret, Validator};
use crate::rate_limit::WalletLimits;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct LimitsConfig {
    pub default: WalletLimits,
    /// Lower-case wallet → its limits (defaults filled in).
    pub overrides: HashMap<String, WalletLimits>,
    pub on_redis_failure: RedisFailure,
    pub max_wallets: usize,
}

/// What the rate limiter does while Redis is unreachable or slow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RedisFailure {
    /// Decide with this node's in-process limiter.
    #[default]
    Open,
    /// Refuse with 503 `RATE_LIMITER_UNAVAILABLE`.
    Closed,
}

impl RedisFailure {
    pub fn label(self) -> &'static str {
        match self {
            RedisFailure::Open => "local",
            RedisFailure::Closed => "refused",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub url: Secret,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub key_prefix: String,
}

impl Validator<'_> {
    /// `None` = no limit; `Some(None)` = `unlimited`.
    fn limit(&mut self, path: &str, raw: Option<RawLimit>, max: u64) -> Option<Option<u64>> {
        match raw? {
            RawLimit::Word(w) if w == "unlimited" => Some(None),
            RawLimit::Number(n) if n > 0 && n as u64 <= max => Some(Some(n as u64)),
            RawLimit::Number(n) if n > 0 => {
                self.err(path, format!("{n} is larger than the maximum {max}"));
                None
            }
            other => {
                let shown = match other {
                    RawLimit::Number(n) => n.to_string(),
                    RawLimit::Word(w) => format!("{w:?}"),
                };
                self.err(
                    path,
                    format!("{shown} must be a positive number or \"unlimited\""),
                );
                None
            }
        }
    }

    /// Fill `base` with the fields present at `path` (`limits` or `limits.overrides[i]`).
    fn wallet_limits(
        &mut self,
        path: &str,
        base: WalletLimits,
        fields: [Option<RawLimit>; 4],
    ) -> WalletLimits {
        let [rpm, rpd, tpm, inflight] = fields;
        let small = u64::from(u32::MAX);
        let mut l = base;
        let to_u32 = |v: Option<u64>| v.map(|n| n as u32);
        if let Some(v) = self.limit(&format!("{path}.requests_per_minute"), rpm, small) {
            l.requests_per_minute = to_u32(v);
        }
        if let Some(v) = self.limit(&format!("{path}.requests_per_day"), rpd, small) {
            l.requests_per_day = to_u32(v);
        }
        if let Some(v) = self.limit(&format!("{path}.tokens_per_minute"), tpm, i64::MAX as u64) {
            l.tokens_per_minute = v;
        }
        if let Some(v) = self.limit(&format!("{path}.max_in_flight_per_key"), inflight, small) {
            l.max_in_flight_per_key = to_u32(v);
        }
        l
    }

    pub(super) fn limits(&mut self, raw: RawLimits) -> LimitsConfig {
        let default = self.wallet_limits(
            "limits",
            WalletLimits::default(),
            [
                raw.requests_per_minute,
                raw.requests_per_day,
                raw.tokens_per_minute,
                raw.max_in_flight_per_key,
            ],
        );
        let on_redis_failure = match raw.redis_failure.as_deref().unwrap_or("open") {
            "open" => RedisFailure::Open,
            "closed" => RedisFailure::Closed,
            other => {
                self.err(
                    "limits.redis_failure",
                    format!("unknown behaviour {other:?} (expected open or closed)"),
                );
                RedisFailure::Open
            }
        };
        let max_wallets = raw.max_wallets.unwrap_or(100_000);
        if max_wallets == 0 {
            self.err("limits.max_wallets", "must be positive");
        }
        let mut overrides = HashMap::new();
        for (i, o) in raw.overrides.into_iter().enumerate() {
            let path = format!("limits.overrides[{i}]");
            let wallet = o.wallet.to_ascii_lowercase();
            if !is_evm_address(&wallet) {
                self.err(
                    format!("{path}.wallet"),
                    "must be a 0x-prefixed 20-byte hex address",
                );
            }
            let l = self.wallet_limits(
                &path,
                default,
                [
                    o.requests_per_minute,
                    o.requests_per_day,
                    o.tokens_per_minute,
                    o.max_in_flight_per_key,
                ],
            );
            if overrides.insert(wallet, l).is_some() {
                self.err(format!("{path}.wallet"), "duplicate wallet");
            }
        }
        LimitsConfig {
            default,
            overrides,
            on_redis_failure,
            max_wallets: max_wallets.max(1),
        }
    }

    pub(super) fn redis(&mut self, raw: RawRedis) -> Option<RedisConfig> {
        let timeout = self.duration("redis.timeout", raw.timeout, "50ms");
        let connect_timeout = self.duration("redis.connect_timeout", raw.connect_timeout, "1s");
        let url = self.resolve_env("redis.url", &raw.url)?;
        if let Err(e) = fred::types::config::Config::from_url(&url) {
            self.err(
                "redis.url",
                format!("is not a redis:// or rediss:// URL: {}", e.details()),
            );
            return None;
        }
        Some(RedisConfig {
            url: Secret::new(url),
            timeout,
            connect_timeout,
            key_prefix: raw.key_prefix.unwrap_or_else(|| "tollgate:".to_string()),
        })
    }
}
