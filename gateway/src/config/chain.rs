//! The `chain:` section: one chain or a list of them, each with its network, RPC, operator key
//! and accepted assets (`config/assets.rs`: USDC through EIP-3009, any ERC-20 through Permit2,
//! each with its own vaults; written out or read from a `deploy-local` JSON), and the top-up /
//! payout / deposit policies (set on the first chain; they apply to all).

use super::assets::AssetConfig;
use super::raw::{Decimal, RawChain, RawChains};
use super::{is_evm_address, Secret, Validator};
use std::time::Duration;
use tollgate_billing::{MicroUsdc, Price};

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
    /// The accepted assets, the first one the default (USDC when configured by `usdc:`).
    pub assets: Vec<AssetConfig>,
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
    /// How often the gateway compares the vaults' USDC with what the ledger owes (the
    /// `tollgate_reserve_surplus_microusdc` gauge).
    pub solvency_every: Duration,
}

impl Validator<'_> {
    /// A positive USD amount as micro-USDC (exact decimal parsing, never through a float).
    pub(super) fn usd_amount(
        &mut self,
        path: &str,
        d: Option<Decimal>,
        default: MicroUsdc,
    ) -> MicroUsdc {
        let Some(d) = d else { return default };
        match Price::parse_usd(&d.0) {
            Ok(p) if p.micros_per_million() > 0 && p.micros_per_million() <= i64::MAX as u64 => {
                p.micros_per_million() as MicroUsdc
            }
            _ => {
                self.err(path, format!("{:?} must be a positive USD amount", d.0));
                default
            }
        }
    }

    pub(super) fn address(&mut self, path: &str, a: Option<String>) -> Option<String> {
        let a = a?.to_ascii_lowercase();
        if is_evm_address(&a) {
            Some(a)
        } else {
            self.err(path, "must be a 0x-prefixed 20-byte hex address");
            None
        }
    }

    /// `chain:` as one entry or a list: every chain id once; the policies (`topup`, `payouts`,
    /// `solvency_every`) only on the first entry, which they govern for all.
    pub(super) fn chains(&mut self, raw: RawChains) -> Vec<ChainConfig> {
        let listed = matches!(raw, RawChains::Many(_));
        let raw = raw.into_vec();
        if raw.is_empty() {
            self.err("chain", "lists no chain");
        }
        let mut out: Vec<ChainConfig> = Vec::new();
        for (i, c) in raw.into_iter().enumerate() {
            let at = if listed {
                format!("chain[{i}]")
            } else {
                "chain".into()
            };
            if i > 0 {
                let policies = [
                    (
                        "topup",
                        c.topup.min_usd.is_some()
                            || c.topup.max_usd.is_some()
                            || c.topup.max_timeout_seconds.is_some(),
                    ),
                    (
                        "payouts",
                        c.payouts.threshold_usd.is_some()
                            || c.payouts.min_interval.is_some()
                            || c.payouts.schedule.is_some(),
                    ),
                    ("solvency_every", c.solvency_every.is_some()),
                ];
                for (key, set) in policies {
                    if set {
                        self.err(
                            &format!("{at}.{key}"),
                            "set it on the first chain: it applies to every chain",
                        );
                    }
                }
            }
            let chain = self.chain(c, &at);
            if out.iter().any(|o| o.chain_id == chain.chain_id) {
                self.err(
                    &format!("{at}.chain_id"),
                    format!("chain {} is listed twice", chain.chain_id),
                );
            }
            out.push(chain);
        }
        // The policies of the first entry apply to every chain.
        if let Some(first) = out.first().and_then(|c| c.settlement.clone()) {
            for c in out.iter_mut().skip(1) {
                if let Some(s) = c.settlement.as_mut() {
                    s.topup_min = first.topup_min;
                    s.topup_max = first.topup_max;
                    s.max_timeout_seconds = first.max_timeout_seconds;
                    s.payout_threshold = first.payout_threshold;
                    s.payout_min_interval = first.payout_min_interval;
                    s.payout_schedule = first.payout_schedule;
                    s.solvency_every = first.solvency_every;
                }
            }
        }
        out
    }

    fn chain(&mut self, c: RawChain, at: &str) -> ChainConfig {
        let p = |key: &str| format!("{at}.{key}");
        let usdc = c.usdc_fields();
        if c.chain_id == 0 {
            self.err(&p("chain_id"), "must be a positive EIP-155 chain id");
        }
        let rpc_url = c
            .rpc_url
            .and_then(|u| self.resolve_env(&p("rpc_url"), &u))
            .map(Secret);
        if let Some(u) = &rpc_url {
            if !(u.expose().starts_with("http://") || u.expose().starts_with("https://")) {
                self.err(&p("rpc_url"), "must be an http:// or https:// JSON-RPC URL");
            }
        }
        let network = c
            .network
            .clone()
            .unwrap_or_else(|| tollgate_chain::x402::Network::for_chain_id(c.chain_id).name);
        let assets = self.assets(at, c.chain_id, c.deployment.as_deref(), usdc, c.assets);
        let operator_key = c
            .operator_key
            .and_then(|k| self.resolve_env(&p("operator_key"), &k));
        if let Some(k) = &operator_key {
            let hex = k.strip_prefix("0x").unwrap_or(k);
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                // Never echo the value: it is a private key.
                self.err(&p("operator_key"), "must be a 32-byte hex private key");
            }
        }
        let confirmations = c
            .confirmations
            .unwrap_or_else(|| default_confirmations(c.chain_id));
        if confirmations == 0 {
            self.err(&p("confirmations"), "must be at least 1");
        }
        let receipt_timeout = self.duration(&p("receipt_timeout"), c.receipt_timeout, "120s");
        let reconcile_every = self.duration(&p("reconcile_every"), c.reconcile_every, "10s");
        let topup_min = self.usd_amount(&p("topup.min_usd"), c.topup.min_usd, 1_000_000);
        let topup_max = self.usd_amount(&p("topup.max_usd"), c.topup.max_usd, 10_000_000_000);
        if topup_max < topup_min {
            self.err(&p("topup.max_usd"), "must not be below min_usd");
        }
        let max_timeout_seconds = c.topup.max_timeout_seconds.unwrap_or(300);
        if max_timeout_seconds == 0 {
            self.err(&p("topup.max_timeout_seconds"), "must be positive");
        }
        let payout_threshold = self.usd_amount(
            &p("payouts.threshold_usd"),
            c.payouts.threshold_usd,
            10_000_000,
        );
        let payout_min_interval =
            self.duration(&p("payouts.min_interval"), c.payouts.min_interval, "24h");
        let payout_schedule = c
            .payouts
            .schedule
            .map(|s| self.duration(&p("payouts.schedule"), Some(s), "1h"));
        let solvency_every = self.duration(&p("solvency_every"), c.solvency_every, "60s");
        let deposit_watch = c
            .deposits
            .watch
            .map(|s| self.duration(&p("deposits.watch"), Some(s), "15s"));

        // Settlement needs all of it; a partial section is a mistake worth naming.
        let settlement = match (&rpc_url, operator_key, assets) {
            (Some(rpc), Some(key), Some(assets)) => Some(Settlement {
                rpc_url: rpc.clone(),
                operator_key: Secret(key),
                assets,
                confirmations,
                receipt_timeout,
                reconcile_every,
                topup_min,
                topup_max,
                max_timeout_seconds,
                payout_threshold,
                payout_min_interval,
                payout_schedule,
                deposit_watch,
                solvency_every,
            }),
            (None, None, None) => None,
            (rpc, key, assets) => {
                let missing: Vec<&str> = [
                    ("rpc_url", rpc.is_none()),
                    ("operator_key", key.is_none()),
                    (
                        "usdc, treasury_vault and payout_vault (or assets)",
                        assets.is_none(),
                    ),
                ]
                .into_iter()
                .filter_map(|(n, m)| m.then_some(n))
                .collect();
                if self.errors.iter().all(|e| !e.path.starts_with(at)) {
                    self.err(
                        at,
                        format!(
                            "on-chain settlement needs rpc_url, operator_key and the contracts (usdc, treasury_vault, payout_vault, or assets, or deployment); missing: {}",
                            missing.join(", ")
                        ),
                    );
                }
                None
            }
        };
        ChainConfig {
            chain_id: c.chain_id,
            rpc_url,
            network,
            settlement,
        }
    }
}

/// How deep a transaction must be before money moves in the ledger, by chain, when
/// `chain.confirmations` is not set: past the depth that chain reorganises in practice, so a
/// credited deposit or top-up is not undone by a reorg. Unknown chains get Ethereum's.
///
/// | chain | depth | why |
/// |---|---|---|
/// | Ethereum, Sepolia, Holesky (1, 11155111, 17000) | 64 | two epochs: finalized |
/// | OP Stack: Base, Optimism, their Sepolias (8453, 10, 84532, 11155420) | 30 | ~60 s at 2 s blocks, past the sequencer's unsafe-head reorgs |
/// | Arbitrum One, Nova, Sepolia (42161, 42170, 421614) | 240 | ~60 s at 0.25 s blocks |
/// | Polygon PoS (137) | 128 | reorgs of dozens of blocks have happened |
/// | Avalanche C-Chain (43114) | 1 | single-slot finality |
/// | local dev chains: anvil / hardhat (31337), ganache (1337) | 1 | nothing to reorganise |
pub fn default_confirmations(chain_id: u64) -> u64 {
    match chain_id {
        31337 | 1337 | 43114 => 1,
        8453 | 10 | 84532 | 11155420 => 30,
        42161 | 42170 | 421614 => 240,
        137 => 128,
        _ => 64,
    }
}
