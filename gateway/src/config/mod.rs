//! Configuration: the YAML file ([`raw`]) is validated once, here, into the typed [`Config`]
//! that is the only thing the rest of the gateway sees.
//!
//! Validation collects every problem with its path in the file (`providers[1].models[0].
//! pricing.prompt: …`) so that `tollgate validate` can list them all, like `nginx -t`.

mod limits;
mod raw;
mod chain;
mod identity;

pub use limits::{LimitsConfig, RedisConfig, RedisFailure};
use raw::{Decimal, RawConfig, RawModel, RawProvider};
use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tollgate_billing::{Price, PriceSheet, ProviderShare};
use tollgate_filters::chat_request::ThinkingPolicy;
use tollgate_filters::usage::ApiFormat;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub metrics_listen: Option<SocketAddr>,
    pub static_keys: Vec<StaticKey>,
    pub billing: BillingConfig,
    pub providers: Vec<Provider>,
    pub route_aliases: Vec<RouteAlias>,
    /// Per-wallet rate limits (`limits:`).
    pub limits: LimitsConfig,
    /// Shared state for a fleet (`redis:`): fleet-wide rate limits, SIWE nonces.
    pub redis: Option<RedisConfig>,
    /// `scheme://authority` clients reach this gateway at (`server.public_url`).
    pub public_url: Option<String>,
    /// SIWE is on when both `server.public_url` and `chain` are set.
    pub siwe: Option<SiweConfig>,
    pub chain: Option<ChainConfig>,
}

#[derive(Debug, Clone)]
pub struct SiweConfig {
    pub policy: crate::siwe::SiwePolicy,
    pub memory_nonces: usize,
}

/// The `chain:` section: which chain, which contracts, and the gateway's operator key.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    pub chain_id: u64,
    pub rpc_url: Option<Secret>,
    /// x402 v1 network name.
    pub network: String,
    /// Present when settlement is configured (rpc_url, operator_key and the contracts).
    pub settlement: Option<Settlement>,
}

/// Everything the on-chain money paths need.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub rpc_url: Secret,
    pub operator_key: Secret,
    pub usdc: String,
    pub usdc_name: String,
    pub usdc_version: String,
    pub treasury_vault: String,
    pub payout_vault: String,
    pub confirmations: u64,
    pub receipt_timeout: Duration,
    pub reconcile_every: Duration,
    pub topup_min: tollgate_billing::MicroUsdc,
    pub topup_max: tollgate_billing::MicroUsdc,
    pub max_timeout_seconds: u64,
    pub payout_threshold: tollgate_billing::MicroUsdc,
    pub payout_min_interval: Duration,
    pub payout_schedule: Option<Duration>,
    pub deposit_watch: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: Vec<SocketAddr>,
    pub threads: usize,
    pub max_body_bytes: usize,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub idle_timeout: Duration,
    /// CAs for https upstreams; `None` = system roots (honouring `SSL_CERT_FILE`).
    pub upstream_ca_file: Option<String>,
    pub thinking: ThinkingPolicy,
    pub provider_share: ProviderShare,
    pub default_max_tokens: u64,
    /// How long an unhealthy provider stays demoted before it is tried first again.
    pub unhealthy_cooldown: Duration,
    /// Send every body through the subrequest path (benchmarking the two paths).
    pub force_subrequest: bool,
}

#[derive(Debug, Clone)]
pub struct StaticKey {
    pub key: Secret,
    pub wallet: String,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct BillingConfig {
    pub memory_capacity: usize,
    pub expose_outcomes: bool,
    /// `Some` when billing goes to the Postgres ledger.
    pub ledger: Option<LedgerConfig>,
    /// How long SIGTERM waits for in-flight requests and the settlement queue.
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct LedgerConfig {
    pub database_url: Secret,
    pub pool_size: u32,
    pub node_id: String,
    pub lease_chunk: i64,
    pub lease_ttl: Duration,
    pub lease_idle_return: Duration,
    pub queue_capacity: usize,
    pub batch_size: usize,
    pub batch_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub id: String,
    pub kind: ApiFormat,
    pub base_url: String,
    pub upstream: UpstreamAddr,
    pub api_key: Secret,
    pub priority: u32,
    /// Lower-case 0x address payouts go to (`None`: this provider is not paid on chain).
    pub payout_address: Option<String>,
    pub models: Vec<ProviderModel>,
}

/// Where a provider lives, split the way Pingora's `HttpPeer` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamAddr {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The request path for this provider's API (`/v1/chat/completions`, `/v1/messages`, or
    /// the base URL's own prefix plus the endpoint).
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct ProviderModel {
    pub id: String,
    pub upstream_model: String,
    pub display_name: String,
    pub context_length: u64,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    pub prices: PriceSheet,
}

#[derive(Debug, Clone)]
pub struct RouteAlias {
    pub name: String,
    pub models: Vec<String>,
    pub fallback_model: Option<String>,
}

/// A credential. Never printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One problem in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Everything wrong with a file.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;

impl Config {
    /// Read, parse and validate a file, resolving `${ENV}` references from the process
    /// environment.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                path: String::new(),
                message: format!("cannot read {}: {e}", path.display()),
            }])
        })?;
        Config::from_yaml(&text, &|name| std::env::var(name).ok())
    }

    /// Parse and validate YAML text; `env` resolves environment references.
    pub fn from_yaml(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = serde_yaml_ng::from_str(text).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                path: String::new(),
                message: e.to_string(),
            }])
        })?;
        let mut v = Validator {
            errors: Vec::new(),
            env,
        };
        let config = v.config(raw);
        if v.errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(v.errors))
        }
    }
}

struct Validator<'e> {
    errors: Vec<ConfigError>,
    env: &'e dyn Fn(&str) -> Option<String>,
}

impl Validator<'_> {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let s = raw.server;
        let listen = s
            .listen
            .map(|l| l.into_vec())
            .unwrap_or_else(|| vec!["127.0.0.1:8080".to_string()]);
        let listen: Vec<SocketAddr> = listen
            .iter()
            .enumerate()
            .filter_map(|(i, a)| self.socket_addr(&format!("server.listen[{i}]"), a))
            .collect();
        let threads = s.threads.unwrap_or(2);
        if threads == 0 {
            self.err("server.threads", "must be at least 1");
        }
        let max_body = s.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body == 0 {
            self.err("server.max_body_bytes", "must be positive");
        }
        let connect_timeout = self.duration(
            "server.upstream.connect_timeout",
            s.upstream.connect_timeout,
            "5s",
        );
        let first_byte_timeout = self.duration(
            "server.upstream.first_byte_timeout",
            s.upstream.first_byte_timeout,
            "120s",
        );
        let idle_timeout = self.duration(
            "server.upstream.idle_timeout",
            s.upstream.idle_timeout,
            "60s",
        );
        let upstream_ca_file = s.upstream.ca_file.clone();
        if let Some(f) = &upstream_ca_file {
            if !Path::new(f).is_file() {
                self.err(
                    "server.upstream.ca_file",
                    format!("{f:?} is not a readable file"),
                );
            }
        }
        let unhealthy_cooldown =
            self.duration("server.unhealthy_cooldown", s.unhealthy_cooldown, "30s");
        let thinking = match s.thinking.as_deref().unwrap_or("reject") {
            "reject" => ThinkingPolicy::Reject,
            "strip" => ThinkingPolicy::Strip,
            "allow" => ThinkingPolicy::Allow,
            other => {
                self.err(
                    "server.thinking",
                    format!("unknown policy {other:?} (expected reject, strip or allow)"),
                );
                ThinkingPolicy::Reject
            }
        };
        let provider_share = match s.provider_share {
            None => ProviderShare::from_bps(7000).expect("constant"),
            Some(d) => self.share("server.provider_share", &d),
        };
        let force_subrequest = match s.body_path.as_deref().unwrap_or("auto") {
            "auto" => false,
            "subrequest" => true,
            other => {
                self.err(
                    "server.body_path",
                    format!("unknown body path {other:?} (expected auto or subrequest)"),
                );
                false
            }
        };
        let default_max_tokens = s.default_max_tokens.unwrap_or(1024);
        if default_max_tokens == 0 {
            self.err("server.default_max_tokens", "must be positive");
        }

        let metrics_listen = raw
            .metrics
            .and_then(|m| self.socket_addr("metrics.listen", &m.listen));

        let mut static_keys = Vec::new();
        let mut seen_keys = HashSet::new();
        for (i, k) in raw.auth.static_keys.into_iter().enumerate() {
            let path = format!("auth.static_keys[{i}]");
            let key = self.resolve_env(&format!("{path}.key"), &k.key);
            if let Some(key) = &key {
                if key.is_empty() {
                    self.err(format!("{path}.key"), "must not be empty");
                } else if !seen_keys.insert(key.clone()) {
                    self.err(format!("{path}.key"), "duplicate key");
                }
            }
            let wallet = k.wallet.to_ascii_lowercase();
            if !is_evm_address(&wallet) {
                self.err(
                    format!("{path}.wallet"),
                    "must be a 0x-prefixed 20-byte hex address",
                );
            }
            if let Some(key) = key {
                static_keys.push(StaticKey {
                    key: Secret(key),
                    wallet,
                    label: k.label.unwrap_or_else(|| format!("static-{i}")),
                });
            }
        }

        let billing = self.billing(raw.billing);
        let limits = self.limits(raw.limits);
        let redis = raw.redis.and_then(|r| self.redis(r));
        let public_url = s.public_url.as_deref().and_then(|u| self.public_url(u));
        let chain = raw.chain.map(|c| self.chain(c));
        let siwe = self.siwe(raw.auth.siwe, public_url.as_ref(), chain.as_ref());

        // Model ids as written (also for providers that fail validation), so one bad provider
        // does not make every alias that names its models an error too.
        let known_models: HashSet<String> = raw
            .providers
            .iter()
            .flat_map(|p| {
                p.models
                    .iter()
                    .flat_map(move |m| [m.id.clone(), format!("{}/{}", p.id, m.id)])
            })
            .collect();
        let mut providers = Vec::new();
        let mut provider_ids = HashSet::new();
        for (i, p) in raw.providers.into_iter().enumerate() {
            let path = format!("providers[{i}]");
            if !provider_ids.insert(p.id.clone()) {
                self.err(
                    format!("{path}.id"),
                    format!("duplicate provider id {:?}", p.id),
                );
            }
            if let Some(p) = self.provider(&path, p) {
                providers.push(p);
            }
        }
        if providers.is_empty() && self.errors.is_empty() {
            self.err("providers", "at least one provider is required");
        }

        let mut route_aliases = Vec::new();
        let mut alias_names = HashSet::new();
        for (i, a) in raw.route_aliases.into_iter().enumerate() {
            let path = format!("route_aliases[{i}]");
            if a.name.is_empty()
                || !a
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                self.err(
                    format!("{path}.name"),
                    "must be non-empty and contain only letters, digits, '-' and '_'",
                );
            } else if a.name == "v1" {
                self.err(format!("{path}.name"), "\"v1\" is reserved");
            }
            if !alias_names.insert(a.name.clone()) {
                self.err(
                    format!("{path}.name"),
                    format!("duplicate alias {:?}", a.name),
                );
            }
            if a.models.is_empty() {
                self.err(format!("{path}.models"), "must list at least one model");
            }
            for (j, m) in a.models.iter().chain(a.fallback_model.iter()).enumerate() {
                if !known_models.contains(m.as_str()) {
                    let at = if j < a.models.len() {
                        format!("{path}.models[{j}]")
                    } else {
                        format!("{path}.fallback_model")
                    };
                    self.err(at, format!("unknown model {m:?}"));
                }
            }
            route_aliases.push(RouteAlias {
                name: a.name,
                models: a.models,
                fallback_model: a.fallback_model,
            });
        }

        Config {
            server: ServerConfig {
                listen,
                threads: threads.max(1),
                max_body_bytes: usize::try_from(max_body).unwrap_or(usize::MAX),
                connect_timeout,
                first_byte_timeout,
                idle_timeout,
                upstream_ca_file,
                thinking,
                provider_share,
                default_max_tokens,
                unhealthy_cooldown,
                force_subrequest,
            },
            metrics_listen,
            static_keys,
            billing,
            providers,
            route_aliases,
            limits,
            redis,
            public_url: public_url.map(|u| u.origin),
            siwe,
            chain,
        }
    }

    fn billing(&mut self, b: raw::RawBilling) -> BillingConfig {
        let shutdown_timeout = self.duration("billing.shutdown_timeout", b.shutdown_timeout, "30s");
        let ledger = match b.sink.as_deref().unwrap_or("memory") {
            "memory" => None,
            "postgres" => {
                let url = match b.database_url {
                    Some(text) => self.resolve_env("billing.database_url", &text),
                    None => match (self.env)("DATABASE_URL") {
                        Some(u) => Some(u),
                        None => {
                            self.err(
                                "billing.database_url",
                                "is required for sink: postgres (or set DATABASE_URL)",
                            );
                            None
                        }
                    },
                };
                let lease_chunk =
                    self.usd_amount("billing.lease_chunk_usd", b.lease_chunk_usd, 1_000_000);
                let lease_ttl = self.duration("billing.lease_ttl", b.lease_ttl, "30s");
                let lease_idle_return =
                    self.duration("billing.lease_idle_return", b.lease_idle_return, "60s");
                let batch_interval =
                    self.duration("billing.batch_interval", b.batch_interval, "20ms");
                let queue_capacity = b.queue_capacity.unwrap_or(10_000);
                let batch_size = b.batch_size.unwrap_or(500);
                if queue_capacity == 0 || batch_size == 0 {
                    self.err("billing", "queue_capacity and batch_size must be positive");
                }
                url.map(|u| LedgerConfig {
                    database_url: Secret(u),
                    pool_size: b.pool_size.unwrap_or(8).max(2),
                    node_id: b.node_id.unwrap_or_else(default_node_id),
                    lease_chunk,
                    lease_ttl,
                    lease_idle_return,
                    queue_capacity: queue_capacity.max(1),
                    batch_size: batch_size.max(1),
                    batch_interval,
                })
            }
            other => {
                self.err(
                    "billing.sink",
                    format!("unknown sink {other:?} (expected memory or postgres)"),
                );
                None
            }
        };
        BillingConfig {
            memory_capacity: b.memory_capacity.unwrap_or(100_000).max(1),
            expose_outcomes: b.expose_outcomes.unwrap_or(false),
            ledger,
            shutdown_timeout,
        }
    }

    fn provider(&mut self, path: &str, p: RawProvider) -> Option<Provider> {
        if p.id.is_empty() || p.id.contains('/') || p.id.contains(char::is_whitespace) {
            self.err(
                format!("{path}.id"),
                "must be non-empty, without '/' or spaces",
            );
        }
        let kind = match p.kind.as_str() {
            "openai" => Some(ApiFormat::OpenAi),
            "anthropic" => Some(ApiFormat::Anthropic),
            other => {
                self.err(
                    format!("{path}.kind"),
                    format!("unknown provider kind {other:?} (expected openai or anthropic)"),
                );
                None
            }
        };
        let upstream = kind.and_then(|k| match parse_base_url(&p.base_url, k) {
            Ok(u) => Some(u),
            Err(e) => {
                self.err(format!("{path}.base_url"), e);
                None
            }
        });
        let api_key = match &p.api_key {
            None => Some(String::new()),
            Some(text) => self.resolve_env(&format!("{path}.api_key"), text),
        };
        if p.models.is_empty() {
            self.err(format!("{path}.models"), "must list at least one model");
        }
        let payout_address = p.payout_address.map(|a| a.to_ascii_lowercase());
        if payout_address.as_deref().is_some_and(|a| !is_evm_address(a)) {
            self.err(
                format!("{path}.payout_address"),
                "must be a 0x-prefixed 20-byte hex address",
            );
        }
        let mut models = Vec::new();
        let mut ids = HashSet::new();
        for (j, m) in p.models.into_iter().enumerate() {
            let mpath = format!("{path}.models[{j}]");
            if !ids.insert(m.id.clone()) {
                self.err(
                    format!("{mpath}.id"),
                    format!("duplicate model id {:?} in provider {:?}", m.id, p.id),
                );
            }
            if let Some(m) = self.model(&mpath, m) {
                models.push(m);
            }
        }
        Some(Provider {
            id: p.id,
            kind: kind?,
            base_url: p.base_url,
            upstream: upstream?,
            api_key: Secret(api_key?),
            priority: p.priority.unwrap_or(100),
            payout_address,
            models,
        })
    }

    fn model(&mut self, path: &str, m: RawModel) -> Option<ProviderModel> {
        if m.id.is_empty() || m.id.contains(char::is_whitespace) || m.id.contains('@') {
            self.err(
                format!("{path}.id"),
                "must be non-empty, without spaces or '@'",
            );
        }
        let Some(pricing) = m.pricing else {
            self.err(format!("{path}.pricing"), "is required (USD per 1M tokens)");
            return None;
        };
        let mut price = |field: &str, d: Option<Decimal>, required: bool| -> Option<Price> {
            match d {
                None if required => {
                    self.err(format!("{path}.pricing.{field}"), "is required");
                    None
                }
                None => Some(Price::ZERO),
                Some(d) => match Price::parse_usd(&d.0) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        self.err(format!("{path}.pricing.{field}"), e.to_string());
                        None
                    }
                },
            }
        };
        let prompt = price("prompt", pricing.prompt, true);
        let completion = price("completion", pricing.completion, true);
        let cache_read = price("cache_read", pricing.cache_read, false);
        let cache_write_5m = price("cache_write_5m", pricing.cache_write_5m, false);
        let cache_write_1h = price("cache_write_1h", pricing.cache_write_1h, false);
        let image = match pricing.image {
            None => Some(None),
            Some(d) => price("image", Some(d), true).map(Some),
        };
        let prices = PriceSheet {
            prompt: prompt?,
            completion: completion?,
            cache_read: cache_read?,
            cache_write_5m: cache_write_5m?,
            cache_write_1h: cache_write_1h?,
            image: image?,
        };
        Some(ProviderModel {
            upstream_model: m.upstream_model.unwrap_or_else(|| m.id.clone()),
            display_name: m.display_name.unwrap_or_else(|| m.id.clone()),
            context_length: m.context_length.unwrap_or(0),
            input_modalities: m.input_modalities.unwrap_or_else(|| vec!["text".into()]),
            output_modalities: m.output_modalities.unwrap_or_else(|| vec!["text".into()]),
            id: m.id,
            prices,
        })
    }

    fn socket_addr(&mut self, path: &str, text: &str) -> Option<SocketAddr> {
        match text.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(path, format!("{text:?} is not an IP:port address"));
                None
            }
        }
    }

    fn duration(&mut self, path: &str, text: Option<String>, default: &str) -> Duration {
        let text = text.unwrap_or_else(|| default.to_string());
        match parse_duration(&text) {
            Some(d) if !d.is_zero() => d,
            _ => {
                self.err(
                    path,
                    format!("{text:?} is not a positive duration (e.g. 250ms, 5s, 2m)"),
                );
                parse_duration(default).expect("default durations parse")
            }
        }
    }

    fn share(&mut self, path: &str, d: &Decimal) -> ProviderShare {
        // Parse as a price to reuse exact decimal parsing: 0.70 → 700000 millionths.
        let millionths = Price::parse_usd(&d.0).map(|p| p.micros_per_million());
        match millionths {
            Ok(m) if m > 0 && m <= 1_000_000 && m % 100 == 0 => {
                ProviderShare::from_bps((m / 100) as u32).expect("range checked")
            }
            _ => {
                self.err(
                    path,
                    format!(
                        "{:?} must be a fraction in (0, 1] with at most 4 decimals, e.g. 0.70",
                        d.0
                    ),
                );
                ProviderShare::FULL
            }
        }
    }

    /// `${NAME}` or `std::env::NAME` → the variable's value; anything else is a literal.
    fn resolve_env(&mut self, path: &str, text: &str) -> Option<String> {
        let name = text
            .strip_prefix("${")
            .and_then(|r| r.strip_suffix('}'))
            .or_else(|| text.strip_prefix("std::env::"));
        match name {
            None => Some(text.to_string()),
            Some(name) => match (self.env)(name) {
                Some(v) => Some(v),
                None => {
                    self.err(path, format!("environment variable {name} is not set"));
                    None
                }
            },
        }
    }
}

/// Host name and process id: unique per running gateway, stable for its lifetime.
fn default_node_id() -> String {
    let host =
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "node".into());
    format!("{}-{}", host.trim(), std::process::id())
}

pub fn is_evm_address(s: &str) -> bool {
    s.len() == 42 && s.starts_with("0x") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `250ms`, `5s`, `2m`, `1h`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}

/// Split a provider base URL into peer address and request path.
///
/// Conventions follow each vendor's SDK: an `openai` base URL includes the version prefix
/// (`https://api.openai.com/v1` → `/v1/chat/completions`), an `anthropic` one does not
/// (`https://api.anthropic.com` → `/v1/messages`).
pub fn parse_base_url(url: &str, kind: ApiFormat) -> Result<UpstreamAddr, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("{url:?} must start with http:// or https://"));
    };
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') || prefix.contains(['?', '#']) {
        return Err(format!(
            "{url:?} is not a plain scheme://host[:port][/path] URL"
        ));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
            Ok(p) => (h, p),
            Err(_) => return Err(format!("{url:?} has an invalid port")),
        },
        _ => (authority, if tls { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    let endpoint = match kind {
        ApiFormat::OpenAi => "/chat/completions",
        ApiFormat::Anthropic => "/v1/messages",
    };
    Ok(UpstreamAddr {
        tls,
        host: host.to_string(),
        port,
        path: format!("{prefix}{endpoint}"),
    })
}

#[cfg(test)]
mod tests;
