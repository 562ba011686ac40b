//! The `limits` and `redis` sections.

use super::raw::{RawLimit, RawLimits, RawRedis};
use super::{is_evm_address, Secret, Validator};
use std::collections::HashMap;
use std::time::Duration;

/// The limits that apply to one wallet (`None` = no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalletLimits {
    pub requests_per_minute: Option<u32>,
    pub requests_per_day: Option<u32>,
    pub tokens_per_minute: Option<u64>,
    pub max_in_flight_per_key: Option<u32>,
    /// Paid requests in flight per wallet (per node): one wallet cannot hold every
    /// settlement slot with streams it never reads.
    pub max_in_flight_per_wallet: Option<u32>,
}

impl WalletLimits {
    /// Any limit that needs a window (everything but the in-flight cap).
    pub fn has_windows(&self) -> bool {
        self.requests_per_minute.is_some()
            || self.requests_per_day.is_some()
            || self.tokens_per_minute.is_some()
    }
}

/// `limits.control_plane`: requests per minute to the control-plane endpoints, per client
/// address and per wallet (`None`: no limit).
#[derive(Debug, Clone)]
pub struct ControlLimits {
    pub per_ip_per_minute: Option<u32>,
    pub per_wallet_per_minute: Option<u32>,
    /// Addresses and wallets tracked at most.
    pub max_tracked: usize,
}

impl Default for ControlLimits {
    fn default() -> Self {
        ControlLimits {
            per_ip_per_minute: Some(600),
            per_wallet_per_minute: Some(120),
            max_tracked: 100_000,
        }
    }
}

/// `limits.max_in_flight_per_wallet` when the file does not say: a tenth of the default
/// settlement queue (`billing.queue_capacity`), so no one wallet can fill it.
pub const DEFAULT_IN_FLIGHT_PER_WALLET: u32 = 1_000;

#[derive(Debug, Clone, Default)]
pub struct LimitsConfig {
    pub default: WalletLimits,
    /// Lower-case wallet → its limits (defaults filled in).
    pub overrides: HashMap<String, WalletLimits>,
    pub on_redis_failure: RedisFailure,
    pub max_wallets: usize,
    /// `x-ratelimit-*` on admitted responses (a 429 always has them).
    pub response_headers: bool,
    pub control_plane: ControlLimits,
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
        fields: [Option<RawLimit>; 5],
    ) -> WalletLimits {
        let [rpm, rpd, tpm, inflight, wallet_inflight] = fields;
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
        let path = format!("{path}.max_in_flight_per_wallet");
        if let Some(v) = self.limit(&path, wallet_inflight, small) {
            l.max_in_flight_per_wallet = to_u32(v);
        }
        l
    }

    pub(super) fn limits(&mut self, raw: RawLimits) -> LimitsConfig {
        let default = self.wallet_limits(
            "limits",
            WalletLimits {
                max_in_flight_per_wallet: Some(DEFAULT_IN_FLIGHT_PER_WALLET),
                ..WalletLimits::default()
            },
            [
                raw.requests_per_minute,
                raw.requests_per_day,
                raw.tokens_per_minute,
                raw.max_in_flight_per_key,
                raw.max_in_flight_per_wallet,
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
                    o.max_in_flight_per_wallet,
                ],
            );
            if overrides.insert(wallet, l).is_some() {
                self.err(format!("{path}.wallet"), "duplicate wallet");
            }
        }
        let defaults = ControlLimits::default();
        let mut control_limit =
            |field: &str, raw: Option<RawLimit>, default: Option<u32>| match self.limit(
                &format!("limits.control_plane.{field}"),
                raw,
                u64::from(u32::MAX),
            ) {
                None => default,
                Some(v) => v.map(|n| n as u32),
            };
        let control_plane = ControlLimits {
            per_ip_per_minute: control_limit(
                "per_ip_per_minute",
                raw.control_plane.per_ip_per_minute,
                defaults.per_ip_per_minute,
            ),
            per_wallet_per_minute: control_limit(
                "per_wallet_per_minute",
                raw.control_plane.per_wallet_per_minute,
                defaults.per_wallet_per_minute,
            ),
            max_tracked: max_wallets.max(1),
        };
        LimitsConfig {
            default,
            overrides,
            on_redis_failure,
            max_wallets: max_wallets.max(1),
            response_headers: raw.response_headers.unwrap_or(true),
            control_plane,
        }
    }

    pub(super) fn redis(&mut self, raw: RawRedis) -> Option<RedisConfig> {
        let timeout = self.duration("redis.timeout", raw.timeout, "50ms");
        let connect_timeout = self.duration("redis.connect_timeout", raw.connect_timeout, "1s");
        let url = self.resolve_env("redis.url", &raw.url)?;
        let scheme = url.split_once("://").map_or("", |(s, _)| s);
        let problem = if !(scheme.starts_with("redis") || scheme.starts_with("valkey")) {
            Some("unknown scheme".to_string())
        } else {
            fred::types::config::Config::from_url(&url)
                .err()
                .map(|e| e.details().to_string())
        };
        if let Some(why) = problem {
            self.err(
                "redis.url",
                format!("is not a redis:// or rediss:// URL ({why})"),
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

#[cfg(test)]
mod tests {
    use crate::config::{Config, RedisFailure, WalletLimits};

    const PROVIDERS: &str = "billing: { sink: memory }\nproviders: [{ id: a, kind: openai, base_url: \"http://127.0.0.1:1/v1\", models: [{ id: m, pricing: { prompt: 1, completion: 1 } }] }]\n";
    const W1: &str = "0x00000000000000000000000000000000000000AA";

    fn load(yaml: &str) -> Result<Config, Vec<String>> {
        let env = |name: &str| (name == "REDIS_URL").then(|| "redis://10.0.0.1:6380/2".to_string());
        Config::from_yaml(&format!("{PROVIDERS}{yaml}"), &env)
            .map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn omitted_means_no_limit_but_the_in_flight_backstop_and_no_redis() {
        let c = load("").unwrap();
        // Only the per-wallet in-flight backstop has a default: without it one
        // wallet could hold every connection (issue 9, F9).
        let backstop = WalletLimits {
            max_in_flight_per_wallet: Some(1000),
            ..WalletLimits::default()
        };
        assert_eq!(c.limits.default, backstop);
        assert!(c.limits.overrides.is_empty());
        assert_eq!(c.limits.on_redis_failure, RedisFailure::Open);
        assert!(c.redis.is_none());
    }

    #[test]
    fn defaults_overrides_and_redis() {
        let c = load(&format!(
            r#"
limits:
  requests_per_minute: 60
  requests_per_day: 10000
  tokens_per_minute: 100000
  max_in_flight_per_key: 4
  redis_failure: closed
  overrides:
    - {{ wallet: "{W1}", requests_per_minute: 600, tokens_per_minute: unlimited }}
redis: {{ url: "${{REDIS_URL}}", timeout: 20ms }}
"#
        ))
        .unwrap();
        let d = c.limits.default;
        assert_eq!(d.requests_per_minute, Some(60));
        assert_eq!(d.requests_per_day, Some(10_000));
        assert_eq!(d.tokens_per_minute, Some(100_000));
        assert_eq!(d.max_in_flight_per_key, Some(4));
        assert_eq!(c.limits.on_redis_failure, RedisFailure::Closed);
        // Wallets are matched lower-case; omitted fields keep the default.
        let o = c.limits.overrides[&W1.to_ascii_lowercase()];
        assert_eq!(o.requests_per_minute, Some(600));
        assert_eq!(o.tokens_per_minute, None);
        assert_eq!(o.requests_per_day, Some(10_000));
        let r = c.redis.unwrap();
        assert_eq!(r.url.expose(), "redis://10.0.0.1:6380/2");
        assert_eq!(r.timeout, std::time::Duration::from_millis(20));
        assert_eq!(r.key_prefix, "tollgate:");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let errors = load(&format!(
            r#"
limits:
  requests_per_minute: 0
  requests_per_day: lots
  tokens_per_minute: -5
  max_in_flight_per_key: 5000000000
  redis_failure: maybe
  max_wallets: 0
  overrides:
    - {{ wallet: "0x12", requests_per_day: 0 }}
    - {{ wallet: "{W1}" }}
    - {{ wallet: "{W1}" }}
redis: {{ url: "http://nope", timeout: soon }}
"#
        ))
        .unwrap_err();
        for want in [
            "limits.requests_per_minute: 0 must be a positive number or \"unlimited\"",
            "limits.requests_per_day: \"lots\" must be",
            "limits.tokens_per_minute: -5 must be",
            "limits.max_in_flight_per_key: 5000000000 is larger than the maximum 4294967295",
            "limits.redis_failure: unknown behaviour \"maybe\"",
            "limits.max_wallets: must be positive",
            "limits.overrides[0].wallet: must be a 0x-prefixed",
            "limits.overrides[0].requests_per_day: 0 must be",
            "limits.overrides[2].wallet: duplicate wallet",
            "redis.timeout: \"soon\" is not a positive duration",
            "redis.url: is not a redis:// or rediss:// URL",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(want)),
                "missing {want:?} in {errors:#?}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = load("limits: { requests_per_hour: 5 }\n").unwrap_err();
        assert!(e[0].contains("unknown field `requests_per_hour`"), "{e:?}");
        let e = load("redis: { url: \"redis://x\", pool: 3 }\n").unwrap_err();
        assert!(e[0].contains("unknown field `pool`"), "{e:?}");
    }
}
