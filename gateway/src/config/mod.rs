//! Configuration: the YAML file ([`raw`]) is validated once, here, into the typed [`Config`]
//! that is the only thing the rest of the gateway sees. This folder is a leaf: it imports no
//! runtime module, so the types a section needs (e.g. [`SiwePolicy`], [`WalletLimits`]) live
//! here and the runtime imports them.
//!
//! Validation collects every problem with its path in the file (`providers[1].models[0].
//! pricing.prompt: …`) so that `tollgate validate` can list them all, like `nginx -t`.
//!
//! | module | section |
//! | --- | --- |
//! | [`raw`] | the file as written (serde, `deny_unknown_fields`) |
//! | `server` | `server`, `metrics`, `auth.static_keys` |
//! | `cors` | `server.cors` (browsers) |
//! | `billing` | `billing` |
//! | `providers` | `providers`, `route_aliases` |
//! | `identity` | `server.public_url`, `auth.siwe` |
//! | `chain` | `chain` |
//! | `limits` | `limits`, `redis` |
//! | `routes` | `routes` (plugin lists and the money spine) |
//! | `marketplace` | `marketplace` (providers who join through the API) |
//! | `pay_per_call` | `pay_per_call` (LLM calls paid per call with x402 `upto`) |
//! | `console` | `console` (the web console's built assets, served under `/console/`) |
//! | `logging` | `log` (process log, access log) |
//! | `traces` | `tracing` (OpenTelemetry over OTLP/HTTP) |
//! | [`prices`] | `prices_file` (the overlay `tollgate prices import` writes) |

mod assets;
mod billing;
mod chain;
mod console;
mod cors;
mod health;
mod identity;
mod limits;
mod logging;
mod marketplace;
mod pay_per_call;
pub mod prices;
mod providers;
pub mod raw;
mod routes;
mod server;
mod traces;

pub use assets::{AssetConfig, Transfer};
pub use billing::{BillingConfig, LedgerConfig, SpoolConfig};
pub use chain::{ChainConfig, Settlement};
pub use console::ConsoleConfig;
pub use cors::{CorsConfig, Origins};
pub use health::{HealthConfig, Routing};
pub use identity::{SiweConfig, SiwePolicy};
pub use limits::{ControlLimits, LimitsConfig, RedisConfig, RedisFailure, WalletLimits};
pub use logging::{AccessLogTarget, LogConfig, LogFormat};
pub use marketplace::MarketplaceConfig;
pub use pay_per_call::PayPerCallConfig;
pub use providers::{
    parse_base_url, ModelApis, Provider, ProviderModel, RouteAlias, UpstreamAddr,
};
pub use routes::{PluginEntry, PluginList, RoutesConfig, SPINE};
pub use server::{ErrorShape, ServerConfig, StaticKey};
pub use traces::TracingConfig;

use raw::{Decimal, RawConfig};
use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tollgate_billing::{Price, ProviderShare};

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
    /// The first of [`Self::chains`] (its policies govern all of them).
    pub chain: Option<ChainConfig>,
    /// Every configured chain, in configuration order.
    pub chains: Vec<ChainConfig>,
    /// Plugin lists per route (`routes:`).
    pub routes: RoutesConfig,
    /// Providers who join through the API (`marketplace:`; needs `billing.ledger`).
    pub marketplace: Option<MarketplaceConfig>,
    /// LLM calls paid per call with x402 `upto` (`pay_per_call:`; needs the ledger and a chain).
    pub pay_per_call: Option<PayPerCallConfig>,
    pub health: HealthConfig,
    /// The web console (`console:`; off without it).
    pub console: Option<ConsoleConfig>,
    /// The process log and the access log (`log:`).
    pub log: LogConfig,
    /// OpenTelemetry traces (`tracing:`); `None` = off.
    pub tracing: Option<TracingConfig>,
    /// The prices overlay this file includes (`prices_file:`), resolved against its directory.
    pub prices_file: Option<PathBuf>,
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
    /// environment and applying its `prices_file`.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Self::load_with_prices(path, None)
    }

    /// [`Config::load`], with `prices` (an overlay's text) instead of the `prices_file` on
    /// disk: what `tollgate prices import` checks a new overlay with before writing it.
    pub fn load_with_prices(path: &Path, prices: Option<&str>) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigErrors::one("", format!("cannot read {}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &|name| std::env::var(name).ok(), base, prices)
    }

    /// Parse and validate YAML text; `env` resolves environment references (a `prices_file`
    /// is read relative to the working directory).
    pub fn from_yaml(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        Self::parse(text, env, Path::new("."), None)
    }

    fn parse(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        base: &Path,
        prices: Option<&str>,
    ) -> Result<Config, ConfigErrors> {
        let mut raw: RawConfig =
            serde_yaml_ng::from_str(text).map_err(|e| ConfigErrors::one("", e.to_string()))?;
        let prices_file = raw.prices_file.as_ref().map(|f| base.join(f));
        if let Some(file) = &prices_file {
            let text = match prices {
                Some(t) => t.to_string(),
                None => std::fs::read_to_string(file).map_err(|e| {
                    ConfigErrors::one(
                        "prices_file",
                        format!("cannot read {}: {e}", file.display()),
                    )
                })?,
            };
            let overlay = prices::parse_overlay(&text).map_err(|e| {
                ConfigErrors::one("prices_file", format!("{}: {e}", file.display()))
            })?;
            let errors = prices::apply(&mut raw, overlay);
            if !errors.is_empty() {
                return Err(ConfigErrors(errors));
            }
        }
        let mut v = Validator {
            errors: Vec::new(),
            env,
        };
        let mut config = v.config(raw);
        config.prices_file = prices_file;
        if v.errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(v.errors))
        }
    }
}

impl ConfigErrors {
    fn one(path: &str, message: String) -> ConfigErrors {
        ConfigErrors(vec![ConfigError {
            path: path.to_string(),
            message,
        }])
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
        let mut s = raw.server;
        let public_url = s.public_url.take();
        let server = self.server(s);
        let metrics_listen = raw
            .metrics
            .and_then(|m| self.socket_addr("metrics.listen", &m.listen));
        let static_keys = self.static_keys(raw.auth.static_keys);
        let billing = self.billing(raw.billing);
        let limits = self.limits(raw.limits);
        let redis = raw.redis.and_then(|r| self.redis(r));
        let public_url = public_url.as_deref().and_then(|u| self.public_url(u));
        let chains = raw.chain.map(|c| self.chains(c)).unwrap_or_default();
        let chain = chains.first().cloned();
        let siwe = self.siwe(raw.auth.siwe, public_url.as_ref(), &chains);
        let known_models: HashSet<String> = raw
            .providers
            .iter()
            .flat_map(|p| {
                p.models
                    .iter()
                    .flat_map(move |m| [m.id.clone(), format!("{}/{}", p.id, m.id)])
            })
            .collect();
        let marketplace = raw.marketplace.and_then(|m| self.marketplace(m));
        if marketplace.is_some() && billing.ledger.is_none() {
            self.err(
                "marketplace",
                "needs billing.ledger (listings live in Postgres)",
            );
        }
        let pay_per_call = raw.pay_per_call.map(|p| self.pay_per_call(p));
        if pay_per_call.is_some()
            && (billing.ledger.is_none() || chains.iter().all(|c| c.settlement.is_none()))
        {
            self.err(
                "pay_per_call",
                "needs billing.ledger and a chain with settlement (calls are recorded in Postgres and settled on chain)",
            );
        }
        let providers = self.providers(raw.providers, marketplace.is_some());
        let route_aliases = self.route_aliases(raw.route_aliases, &known_models);
        let alias_names: Vec<String> = route_aliases.iter().map(|a| a.name.clone()).collect();
        let routes = self.routes(raw.routes, &alias_names);
        let health = self.health(raw.health);
        let console = raw.console.and_then(|c| self.console(c));
        let log = self.log(raw.log);
        let tracing = self.tracing(raw.tracing);
        Config {
            log,
            tracing,
            prices_file: None,
            server,
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
            chains,
            routes,
            marketplace,
            pay_per_call,
            health,
            console,
        }
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
        "d" => Some(Duration::from_secs(n.checked_mul(86_400)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
