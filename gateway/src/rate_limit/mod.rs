//! Per-wallet rate limits (`limits:` in the config), checked after authentication and before
//! the balance reservation, so a refused request never costs anything.
//!
//! - requests per minute and per day, tokens per minute: sliding windows ([`window`]), in
//!   process ([`local`]) or, with `redis:` configured, shared by the fleet ([`redis`]);
//! - in-flight requests per API key: `pingora_limits::inflight`, a guard held by the request.
//!
//! docs/design.md ("Rate limits") has the algorithm, its error bound and the failure modes.

pub mod control;
pub mod headers;
pub mod local;
pub mod redis;
pub mod window;

use crate::config::{LimitsConfig, RedisFailure, WalletLimits};
use crate::identity::Principal;
use crate::metrics::Metrics;
use crate::redis::RedisHandle;
use crate::wire::ApiError;
use async_trait::async_trait;
use control::ControlLimiter;
pub use headers::{add_headers, go_duration};
use local::LocalLimiter;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingora_limits::inflight::{Guard, Inflight};
use redis::RedisLimiter;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
pub use window::{Quota, Reason, Verdict};

pub struct RateLimiter {
    default: WalletLimits,
    overrides: HashMap<String, WalletLimits>,
    /// Any window limit anywhere (otherwise `admit` returns at once).
    windows: bool,
    tokens: bool,
    response_headers: bool,
    on_redis_failure: RedisFailure,
    local: LocalLimiter,
    redis: Option<RedisLimiter>,
    in_flight: Option<Inflight>,
    /// In-flight requests per wallet (`max_in_flight_per_wallet`).
    wallet_in_flight: Option<Inflight>,
    metrics: Arc<Metrics>,
    /// The control plane's per-address and per-wallet limits.
    pub control: ControlLimiter,
    /// Logged once per Redis outage: "deciding locally".
    fallback_logged: AtomicBool,
}

/// What an admitted request carries until it ends.
#[derive(Default)]
pub struct Admitted {
    /// The window state after this request (for the response's `x-ratelimit-*` headers).
    pub verdict: Option<Verdict>,
    /// Held for the whole request: dropping it frees the API key's in-flight slot.
    pub slot: Option<Guard>,
    /// Likewise for the wallet's in-flight slot.
    pub wallet_slot: Option<Guard>,
}

impl RateLimiter {
    pub fn new(
        limits: &LimitsConfig,
        redis: Option<Arc<RedisHandle>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let all = || std::iter::once(&limits.default).chain(limits.overrides.values());
        RateLimiter {
            default: limits.default,
            overrides: limits.overrides.clone(),
            windows: all().any(WalletLimits::has_windows),
            tokens: all().any(|l| l.tokens_per_minute.is_some()),
            response_headers: limits.response_headers,
            on_redis_failure: limits.on_redis_failure,
            local: LocalLimiter::new(limits.max_wallets),
            redis: redis.map(RedisLimiter::new),
            in_flight: all()
                .any(|l| l.max_in_flight_per_key.is_some())
                .then(Inflight::new),
            wallet_in_flight: all()
                .any(|l| l.max_in_flight_per_wallet.is_some())
                .then(Inflight::new),
            metrics,
            control: ControlLimiter::new(&limits.control_plane),
            fallback_logged: AtomicBool::new(false),
        }
    }

    pub fn limits_for(&self, wallet: &str) -> &WalletLimits {
        self.overrides.get(wallet).unwrap_or(&self.default)
    }

    /// One more request in flight for `id` (a wallet or an API key), refused over `cap`.
    fn in_flight_slot(
        &self,
        counter: &Option<Inflight>,
        id: &str,
        cap: Option<u32>,
        reason: Reason,
        what: &str,
    ) -> Result<Option<Guard>, ApiError> {
        let (Some(counter), Some(cap)) = (counter, cap) else {
            return Ok(None);
        };
        let (guard, n) = counter.incr(id, 1);
        if n > cap as isize {
            self.metrics.rate_limited(reason.label());
            return Err(headers::too_many_in_flight(cap, what));
        }
        Ok(Some(guard))
    }
    /// Admit one request of `principal`, or the 429 / 503 to answer.
    pub async fn admit(&self, principal: &Principal) -> Result<Admitted, ApiError> {
        if !self.windows && self.in_flight.is_none() && self.wallet_in_flight.is_none() {
            return Ok(Admitted::default());
        }
        let limits = self.limits_for(&principal.wallet);
        let wallet_slot = self.in_flight_slot(
            &self.wallet_in_flight,
            &principal.wallet,
            limits.max_in_flight_per_wallet,
            Reason::WalletInFlight,
            "wallet",
        )?;
        let slot = self.in_flight_slot(
            &self.in_flight,
            &principal.key_id,
            limits.max_in_flight_per_key,
            Reason::InFlight,
            "API key",
        )?;
        if !limits.has_windows() {
            return Ok(Admitted {
                verdict: None,
                slot,
                wallet_slot,
            });
        }
        let verdict = self.decide(&principal.wallet, limits).await?;
        if let Some((reason, retry_ms)) = verdict.refused {
            self.metrics.rate_limited(reason.label());
            return Err(headers::refusal(&verdict, retry_ms));
        }
        Ok(Admitted {
            verdict: self.response_headers.then_some(verdict),
            slot,
            wallet_slot,
        })
    }

    async fn decide(&self, wallet: &Arc<str>, limits: &WalletLimits) -> Result<Verdict, ApiError> {
        let Some(r) = &self.redis else {
            return Ok(self.local.admit(wallet, limits));
        };
        if r.handle.is_up() {
            if let Ok(v) = r.admit(wallet, limits).await {
                if self.fallback_logged.load(Ordering::Relaxed) {
                    self.fallback_logged.store(false, Ordering::Relaxed);
                    log::info!("rate limits: redis is back, limiting fleet-wide again");
                }
                return Ok(v);
            }
        }
        self.metrics
            .rate_limit_redis_unavailable(self.on_redis_failure.label());
        match self.on_redis_failure {
            RedisFailure::Open => {
                if !self.fallback_logged.swap(true, Ordering::Relaxed) {
                    log::warn!("rate limits: redis unavailable, limiting on this node only");
                }
                Ok(self.local.admit(wallet, limits))
            }
            RedisFailure::Closed => {
                if !self.fallback_logged.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "rate limits: redis unavailable, refusing requests (redis_failure: closed)"
                    );
                }
                Err(ApiError::rate_limiter_unavailable())
            }
        }
    }

    /// Charge a finished call's tokens to its wallet's tokens-per-minute window. Never waits.
    pub fn charge_tokens(&self, wallet: &Arc<str>, tokens: u64) {
        if !self.tokens || tokens == 0 || self.limits_for(wallet).tokens_per_minute.is_none() {
            return;
        }
        match &self.redis {
            Some(r) if r.handle.is_up() => {
                if !r.charge(wallet.clone(), tokens) {
                    r.handle.report_error("tpm_charge", &"charge queue full");
                }
            }
            _ => self.local.charge_tokens(wallet, tokens),
        }
    }

    /// Does anything need [`charge_tokens`](Self::charge_tokens)?
    pub fn tracks_tokens(&self) -> bool {
        self.tokens
    }

    /// Does any wallet have a window limit? ([`Self::admit`] is a no-op otherwise.)
    pub fn is_active(&self) -> bool {
        self.windows || self.in_flight.is_some() || self.wallet_in_flight.is_some()
    }
}

/// Background upkeep: forget idle wallets, drain the Redis token charges.
pub struct LimiterService(pub Arc<RateLimiter>);

#[async_trait]
impl BackgroundService for LimiterService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let l = &self.0;
        let charges = async {
            match &l.redis {
                Some(r) => r.run_charges().await,
                None => std::future::pending().await,
            }
        };
        let sweep = async {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                l.local.sweep();
                l.control.sweep();
            }
        };
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = charges => {}
            _ = sweep => {}
        }
    }
}
