//! The YAML file as written by an operator. Deserialised leniently-typed (strings for enums
//! and durations) so that validation can report every problem at once, with its path.

use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub metrics: Option<RawMetrics>,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub billing: RawBilling,
    #[serde(default)]
    pub providers: Vec<RawProvider>,
    #[serde(default)]
    pub route_aliases: Vec<RawRouteAlias>,
    #[serde(default)]
    pub limits: RawLimits,
    pub redis: Option<RawRedis>,
    /// One chain, or a list of chains.
    pub chain: Option<RawChains>,
    pub marketplace: Option<RawMarketplace>,
    /// LLM calls paid per call with x402 `upto` (`config/pay_per_call.rs`).
    pub pay_per_call: Option<RawPayPerCall>,
    #[serde(default)]
    pub health: RawHealth,
    /// The web console (`config/console.rs`).
    pub console: Option<RawConsole>,
    /// Plugin chains per route (`config/routes.rs`).
    #[serde(default)]
    pub routes: RawRoutes,
    /// The process log and the access log (`config/logging.rs`).
    #[serde(default)]
    pub log: super::logging::RawLog,
    /// OpenTelemetry traces (`config/traces.rs`); absent = off.
    pub tracing: Option<super::traces::RawTracing>,
    /// A prices overlay file, relative to this file's directory (`config/prices.rs`).
    pub prices_file: Option<String>,
}

/// `routes:`: an ordered plugin list per route. Entries stay YAML values here: each plugin
/// reads its own options when it is built, so that errors carry the entry's path.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRoutes {
    pub default: Option<Vec<serde_yaml_ng::Value>>,
    pub chat_completions: Option<Vec<serde_yaml_ng::Value>>,
    pub messages: Option<Vec<serde_yaml_ng::Value>>,
    pub responses: Option<Vec<serde_yaml_ng::Value>>,
    pub embeddings: Option<Vec<serde_yaml_ng::Value>>,
    pub count_tokens: Option<Vec<serde_yaml_ng::Value>>,
    #[serde(default)]
    pub aliases: std::collections::BTreeMap<String, Vec<serde_yaml_ng::Value>>,
    pub control: Option<Vec<serde_yaml_ng::Value>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// One address or a list.
    pub listen: Option<OneOrMany>,
    pub threads: Option<usize>,
    pub max_body_bytes: Option<u64>,
    #[serde(default)]
    pub upstream: RawUpstreamTimeouts,
    pub thinking: Option<String>,
    /// The provider's share of the buyer's price, e.g. 0.70.
    pub provider_share: Option<Decimal>,
    pub default_max_tokens: Option<u64>,
    pub unhealthy_cooldown: Option<String>,
    /// A client that does not read its response for this long is cut off (default 30s).
    pub downstream_write_timeout: Option<String>,
    /// `auto` (default) or `subrequest` (force the large-body path; for benchmarks).
    pub body_path: Option<String>,
    /// The URL clients reach this gateway at: SIWE `domain`/`uri`, x402 `resource`.
    pub public_url: Option<String>,
    /// Serve OpenAI-format calls from Anthropic-kind providers and the reverse (default true).
    pub translation: Option<bool>,
    /// Write each call's cost into the usage object the client receives (default true).
    pub usage_cost: Option<bool>,
    /// Unix socket a `--upgrade` process receives the listening sockets on.
    pub upgrade_sock: Option<String>,
    /// Where `--daemon` writes the process id.
    pub pid_file: Option<String>,
    /// Browsers: the origins allowed to call the public port.
    pub cors: Option<RawCors>,
    /// `tollgate` (default), `openai` or `anthropic`: the body of the gateway's own errors.
    pub error_shape: Option<String>,
    /// After SIGTERM, how long `/ready` answers 503 while the listeners still serve.
    pub drain_delay: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    /// `https://app.example` origins, or `"*"` for any.
    pub origins: OneOrMany,
    /// How long a browser may cache a preflight answer (default 10m).
    pub max_age: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawUpstreamTimeouts {
    pub connect_timeout: Option<String>,
    pub first_byte_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    /// PEM bundle of CAs trusted for https upstreams, instead of the system roots.
    pub ca_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    #[serde(default)]
    pub static_keys: Vec<RawStaticKey>,
    #[serde(default)]
    pub siwe: RawSiwe,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSiwe {
    /// How old a message's `issuedAt` may be (default 5m).
    pub max_age: Option<String>,
    /// Tolerated clock difference with the signer (default 30s).
    pub clock_skew: Option<String>,
    /// Spent nonces kept in memory when no Redis is configured (default 1,000,000).
    pub memory_nonces: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChain {
    pub chain_id: u64,
    /// JSON-RPC endpoint; needed for EIP-1271 (contract wallets) and on-chain settlement.
    pub rpc_url: Option<String>,
    /// x402 v1 network name (default: x402's name for `chain_id`, e.g. base-sepolia).
    pub network: Option<String>,
    /// `tollgate chain deploy-local`'s JSON: fills in the addresses below.
    pub deployment: Option<String>,
    /// The USDC contract (EIP-3009) and its EIP-712 domain.
    pub usdc: Option<String>,
    pub usdc_name: Option<String>,
    pub usdc_version: Option<String>,
    pub treasury_vault: Option<String>,
    pub payout_vault: Option<String>,
    /// Hex private key of the gateway's operator (x402 facilitator, vault operator). Use an
    /// environment reference, never a literal.
    pub operator_key: Option<String>,
    pub confirmations: Option<u64>,
    pub receipt_timeout: Option<String>,
    /// How often unfinished top-ups and deposits are finished from the chain (default 10s).
    pub reconcile_every: Option<String>,
    /// How often the vaults' USDC is compared with what the ledger owes (default 60s).
    pub solvency_every: Option<String>,
    #[serde(default)]
    pub topup: RawTopup,
    #[serde(default)]
    pub payouts: RawPayouts,
    #[serde(default)]
    pub deposits: RawDeposits,
    /// Accepted assets besides the USDC above (or instead of it): each with its own vaults.
    #[serde(default)]
    pub assets: Vec<RawAsset>,
}

/// `chain:` is one chain (the original form) or a list of them.
#[derive(Debug)]
pub enum RawChains {
    One(Box<RawChain>),
    Many(Vec<RawChain>),
}

// Not `#[serde(untagged)]`: that would replace every error inside a chain (an unknown key, a
// wrong type) by "did not match any variant".
impl<'de> Deserialize<'de> for RawChains {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_yaml_ng::Value::deserialize(d)?;
        let err = serde::de::Error::custom;
        if value.is_sequence() {
            serde_yaml_ng::from_value(value)
                .map(RawChains::Many)
                .map_err(err)
        } else {
            serde_yaml_ng::from_value(value)
                .map(|c| RawChains::One(Box::new(c)))
                .map_err(err)
        }
    }
}

impl RawChains {
    pub fn into_vec(self) -> Vec<RawChain> {
        match self {
            RawChains::One(c) => vec![*c],
            RawChains::Many(v) => v,
        }
    }
}

/// One accepted asset of a chain: the token, how x402 moves it, and its vault pair.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAsset {
    /// Short name buyers and providers choose it by (`USDC`, `USDT`).
    pub symbol: String,
    pub address: String,
    /// Token decimals (default 6); fewer than 6 is refused.
    pub decimals: Option<u8>,
    /// `eip3009` (USDC's `transferWithAuthorization`; needs `name`/`version`) or `permit2`.
    pub transfer: String,
    /// EIP-712 domain of an `eip3009` token.
    pub name: Option<String>,
    pub version: Option<String>,
    pub treasury_vault: String,
    pub payout_vault: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTopup {
    pub min_usd: Option<Decimal>,
    pub max_usd: Option<Decimal>,
    pub max_timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPayouts {
    pub threshold_usd: Option<Decimal>,
    pub min_interval: Option<String>,
    /// Run payouts in the gateway every this often (omitted: only `tollgate payouts run`).
    pub schedule: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDeposits {
    /// Poll the TreasuryVault for new `Deposited` events every this often (omitted: only
    /// `POST /v1/deposits` credits deposits).
    pub watch: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStaticKey {
    pub key: String,
    pub wallet: String,
    pub label: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawBilling {
    pub sink: Option<String>,
    pub memory_capacity: Option<usize>,
    /// Serve the in-memory outcomes at `GET /debug/outcomes` on the metrics listener.
    pub expose_outcomes: Option<bool>,
    pub database_url: Option<String>,
    pub pool_size: Option<u32>,
    pub node_id: Option<String>,
    /// USD leased from a wallet's balance at a time.
    pub lease_chunk_usd: Option<Decimal>,
    pub lease_ttl: Option<String>,
    pub lease_idle_return: Option<String>,
    pub queue_capacity: Option<usize>,
    pub batch_size: Option<usize>,
    pub batch_interval: Option<String>,
    pub shutdown_timeout: Option<String>,
    /// The local billing spool (postgres sink): `false`, or its settings.
    pub spool: Option<RawSpool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSpool {
    Enabled(bool),
    Settings(RawSpoolSettings),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSpoolSettings {
    pub dir: Option<String>,
    pub fsync_every: Option<String>,
    pub segment_mb: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub id: String,
    pub kind: String,
    pub base_url: String,
    pub api_key: Option<String>,
    pub priority: Option<u32>,
    /// Where payouts of this provider's earnings go (0x address).
    pub payout_address: Option<String>,
    /// Chain and asset (symbol) of this provider's payouts (default: the first chain's first asset).
    pub payout_chain_id: Option<u64>,
    pub payout_asset: Option<String>,
    #[serde(default)]
    pub models: Vec<RawModel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub id: String,
    pub upstream_model: Option<String>,
    pub display_name: Option<String>,
    pub context_length: Option<u64>,
    pub input_modalities: Option<Vec<String>>,
    pub output_modalities: Option<Vec<String>>,
    pub pricing: Option<RawPricing>,
    /// `o200k_base`, `cl100k_base` or `none` (default: by the upstream model's name).
    pub tokenizer: Option<String>,
    /// `false`: never actively probed (passive health only).
    pub probe: Option<bool>,
    /// The APIs this model answers: `chat`, `responses`, `embeddings`, `count_tokens`.
    pub apis: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPricing {
    pub prompt: Option<Decimal>,
    pub completion: Option<Decimal>,
    pub cache_read: Option<Decimal>,
    pub cache_write_5m: Option<Decimal>,
    pub cache_write_1h: Option<Decimal>,
    pub image: Option<Decimal>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteAlias {
    pub name: String,
    pub models: Vec<String>,
    pub fallback_model: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A decimal written as a YAML number or string. Kept as text so that money is parsed
/// exactly ([`tollgate_billing::Price::parse_usd`]), never through an `f64`'s arithmetic.
#[derive(Debug, Clone)]
pub struct Decimal(pub String);

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Num(serde_yaml_ng::Number),
            Text(String),
        }
        Ok(match Either::deserialize(d)? {
            // YAML numbers print back as their shortest exact form ("0.075", "3").
            Either::Num(n) => Decimal(n.to_string()),
            Either::Text(s) => Decimal(s),
        })
    }
}

/// `limits:` — per-wallet rate limits. A number, or `unlimited`; omitted = no limit.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub requests_per_minute: Option<RawLimit>,
    pub requests_per_day: Option<RawLimit>,
    pub tokens_per_minute: Option<RawLimit>,
    pub max_in_flight_per_key: Option<RawLimit>,
    pub max_in_flight_per_wallet: Option<RawLimit>,
    /// `open` (default: decide on this node) or `closed` (503) while Redis is unavailable.
    pub redis_failure: Option<String>,
    /// Wallets the in-process limiter tracks at most (default 100,000).
    pub max_wallets: Option<usize>,
    /// `x-ratelimit-*` headers on admitted responses too (default true).
    pub response_headers: Option<bool>,
    #[serde(default)]
    pub overrides: Vec<RawLimitOverride>,
    #[serde(default)]
    pub control_plane: RawControlLimits,
}

/// `limits.control_plane`: per minute, per client address and per wallet.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawControlLimits {
    pub per_ip_per_minute: Option<RawLimit>,
    pub per_wallet_per_minute: Option<RawLimit>,
}

/// One wallet's limits; an omitted field keeps the default, `unlimited` lifts it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimitOverride {
    pub wallet: String,
    pub requests_per_minute: Option<RawLimit>,
    pub requests_per_day: Option<RawLimit>,
    pub tokens_per_minute: Option<RawLimit>,
    pub max_in_flight_per_key: Option<RawLimit>,
    pub max_in_flight_per_wallet: Option<RawLimit>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum RawLimit {
    Number(i64),
    Word(String),
}

/// `redis:` — shared state for a fleet of gateways.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    /// `redis://[user:password@]host:port[/db]`, `rediss://…` for TLS, or `${ENV}`.
    pub url: String,
    /// Per-command deadline (default 50ms).
    pub timeout: Option<String>,
    /// TCP connect deadline (default 1s).
    pub connect_timeout: Option<String>,
    /// Prefix of every key (default `tollgate:`).
    pub key_prefix: Option<String>,
}

/// `console:` (`config/console.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsole {
    pub dir: String,
    pub explorer_url: Option<String>,
}

/// `marketplace:` (`config/marketplace.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMarketplace {
    pub master_key: String,
    #[serde(default)]
    pub previous_master_keys: Vec<String>,
    pub allow_private_upstreams: Option<bool>,
    pub probe_timeout: Option<String>,
    pub suspend_min_requests: Option<u64>,
    pub suspend_bad_ratio: Option<Decimal>,
    pub input_tolerance_pct: Option<u64>,
    pub input_slack_tokens: Option<u64>,
    pub upkeep_every: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub probes: Option<bool>,
    pub probe_interval: Option<String>,
    pub probe_timeout: Option<String>,
    pub retention: Option<String>,
    pub shared: Option<bool>,
    pub routing: Option<String>,
    #[serde(default)]
    pub routing_by_model: std::collections::BTreeMap<String, String>,
    pub latency_decay: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPayPerCall {
    pub max_unsettled_calls: Option<u32>,
    pub max_unsettled_usd: Option<Decimal>,
    pub max_at_risk_usd: Option<Decimal>,
    pub min_call_usd: Option<Decimal>,
    pub max_timeout_seconds: Option<u64>,
    pub min_validity: Option<String>,
    pub settle_margin: Option<String>,
    pub settle_every: Option<String>,
}
