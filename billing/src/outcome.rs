//! The record of one finished request, as handed from the proxy to billing.
//!
//! It carries counts, prices and timings — never prompt or completion content.

use crate::Charge;
use serde::{Deserialize, Deserializer, Serialize};
use tollgate_filters::usage::Usage;

/// How a request ended, from the billing point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// The upstream answered 2xx and the whole response reached the client.
    Completed,
    /// The upstream answered 2xx, but the response was cut (client went away, upstream
    /// closed mid-stream or timed out mid-body). Billed on what was metered.
    Interrupted,
    /// The upstream answered non-2xx (passed through to the client). Nothing is charged.
    UpstreamRejected,
    /// No upstream produced a response (all candidates failed). Nothing is charged.
    UpstreamFailed,
}

impl OutcomeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Completed => "completed",
            OutcomeStatus::Interrupted => "interrupted",
            OutcomeStatus::UpstreamRejected => "upstream_rejected",
            OutcomeStatus::UpstreamFailed => "upstream_failed",
        }
    }
}

/// One finished request. (Deserialized only when the billing spool is replayed.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub request_id: String,
    pub wallet: String,
    pub key_id: String,
    /// Public model id the client asked for.
    pub model: String,
    /// Provider id that served (or last failed) the request; empty when none was tried.
    pub provider: String,
    pub upstream_model: String,
    #[serde(deserialize_with = "interned")]
    pub api: &'static str,
    pub stream: bool,
    pub status: OutcomeStatus,
    /// HTTP status the client saw (0 when the client was gone before a status was sent).
    pub http_status: u16,
    #[serde(flatten)]
    pub tokens: Tokens,
    /// No usage object arrived from the upstream.
    pub usage_missing: bool,
    /// The upstream stream did not reach its terminator.
    pub stream_cut: bool,
    /// Some billed tokens are an estimate (`charging::billable_usage`).
    pub usage_estimated: bool,
    /// The provider reported more usage than the request can have used; it was capped.
    pub usage_disproved: bool,
    pub provider_cost_usdc: i64,
    pub buyer_cost_usdc: i64,
    pub platform_fee_usdc: i64,
    /// Worst-case cost reserved before the upstream call (0 when nothing was reserved).
    pub reserved_usdc: i64,
    /// What the metered cost was above the reservation, unbilled (0: the bound held).
    pub overrun_usdc: i64,
    /// Upstream attempts made (1 = no failover).
    pub attempts: u32,
    pub latency_ms: u64,
    /// Time until the first response byte from the upstream; `None` when none arrived.
    pub ttfb_ms: Option<u64>,
    /// Time until the first generated content (an SSE event carrying content, or a whole
    /// JSON answer); `None` when none arrived.
    pub ttft_ms: Option<u64>,
    #[serde(deserialize_with = "interned_opt")]
    pub error_code: Option<&'static str>,
    /// Unix milliseconds when the request arrived.
    pub started_at_ms: u64,
    /// The `market_prices` row the charge was priced from (`None`: the config file's prices).
    pub price_id: Option<i64>,
    /// The prices the charge was computed with (`None` when no provider served the call).
    pub prices: Option<AppliedPrices>,
    /// The id of the OpenAI Responses object the call produced (continuations go back to the
    /// same provider).
    pub response_id: Option<String>,
    /// The `paid_calls` id when the call was paid per call (x402 `upto`): its record goes to
    /// that row, not to a balance (also when replayed from the spool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_call: Option<String>,
}

/// The provider's prices a charge was computed with, in micro-USDC per 1M tokens per bucket,
/// and the provider's share of the buyer's price in basis points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedPrices {
    pub input: u64,
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
    pub cache_read: u64,
    pub output: u64,
    pub share_bps: u32,
}

impl AppliedPrices {
    pub fn of(sheet: &crate::PriceSheet, share: crate::ProviderShare) -> Self {
        AppliedPrices {
            input: sheet.prompt.micros_per_million(),
            cache_write_5m: sheet.cache_write_5m.micros_per_million(),
            cache_write_1h: sheet.cache_write_1h.micros_per_million(),
            cache_read: sheet.cache_read.micros_per_million(),
            output: sheet.completion.micros_per_million(),
            share_bps: share.bps(),
        }
    }
}

/// The five metered token buckets, flattened into the record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub input_tokens: u64,
    pub cache_write_5m_tokens: u64,
    pub cache_write_1h_tokens: u64,
    pub cache_read_tokens: u64,
    pub output_tokens: u64,
}

impl Tokens {
    /// All five buckets. Saturates: the counts come from the upstream.
    pub fn total(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.cache_write_5m_tokens)
            .saturating_add(self.cache_write_1h_tokens)
            .saturating_add(self.cache_read_tokens)
            .saturating_add(self.output_tokens)
    }
}

impl From<Usage> for Tokens {
    fn from(u: Usage) -> Self {
        Tokens {
            input_tokens: u.input,
            cache_write_5m_tokens: u.cache_write_5m,
            cache_write_1h_tokens: u.cache_write_1h,
            cache_read_tokens: u.cache_read,
            output_tokens: u.output,
        }
    }
}

impl Outcome {
    pub fn set_charge(&mut self, c: Charge) {
        self.provider_cost_usdc = c.provider_cost;
        self.buyer_cost_usdc = c.buyer_cost;
        self.platform_fee_usdc = c.platform_fee;
    }
}

/// The gateway's `&'static str` fields (API names, error codes) read back from the spool: a
/// handful of distinct values, each leaked once.
fn intern(s: String) -> &'static str {
    static SEEN: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(hit) = seen.iter().find(|v| **v == s) {
        return hit;
    }
    let leaked: &'static str = Box::leak(s.into_boxed_str());
    seen.push(leaked);
    leaked
}

fn interned<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    String::deserialize(d).map(intern)
}

fn interned_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'static str>, D::Error> {
    Option::<String>::deserialize(d).map(|o| o.map(intern))
}
