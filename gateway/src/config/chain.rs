//! The `chain:` section: network, contracts (written out or read from a `deploy-local` JSON),
//! the operator key, and the top-up / payout / deposit policies.

use super::raw::{Decimal, RawChain};
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
    /// How often the gateway compares the vaults' USDC with what the ledger owes (the
    /// `tollgate_reserve_surplus_microusdc` gauge).
    pub solvency_every: Duration,
}

/// The addresses `tollgate chain deploy-local` writes (the fields this section reads).
#[derive(serde::Deserialize)]
struct DeploymentFile {
    chain_id: u64,
    usdc: String,
    treasury_vault: String,
    payout_vault: String,
    token_name: Option<String>,
    token_version: Option<String>,
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

    fn address(&mut self, path: &str, a: Option<String>) -> Option<String> {
        let a = a?.to_ascii_lowercase();
        if is_evm_address(&a) {
            Some(a)
        } else {
            self.err(path, "must be a 0x-prefixed 20-byte hex address");
            None
        }
    }

    pub(super) fn chain(&mut self, c: RawChain) -> ChainConfig {
        if c.chain_id == 0 {
            self.err("chain.chain_id", "must be a positive EIP-155 chain id");
        }
        let rpc_url = c
            .rpc_url
            .and_then(|u| self.resolve_env("chain.rpc_url", &u))
            .map(Secret);
        if let Some(u) = &rpc_url {
            if !(u.expose().starts_with("http://") || u.expose().starts_with("https://")) {
                self.err(
                    "chain.rpc_url",
                    "must be an http:// or https:// JSON-RPC URL",
                );
            }
        }
        let network = c
            .network
            .unwrap_or_else(|| tollgate_chain::x402::Network::for_chain_id(c.chain_id).name);

        let (mut usdc, mut treasury, mut payout) = (c.usdc, c.treasury_vault, c.payout_vault);
        let (mut usdc_name, mut usdc_version) = (c.usdc_name, c.usdc_version);
        if let Some(path) = &c.deployment {
            let file = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    serde_json::from_str::<DeploymentFile>(&t).map_err(|e| e.to_string())
                });
            match file {
                Ok(d) => {
                    if d.chain_id != c.chain_id {
                        self.err(
                            "chain.deployment",
                            format!("{path:?} is for chain {}, not {}", d.chain_id, c.chain_id),
                        );
                    }
                    usdc = usdc.or(Some(d.usdc));
                    treasury = treasury.or(Some(d.treasury_vault));
                    payout = payout.or(Some(d.payout_vault));
                    usdc_name = usdc_name.or(d.token_name);
                    usdc_version = usdc_version.or(d.token_version);
                }
                Err(e) => self.err("chain.deployment", format!("cannot read {path:?}: {e}")),
            }
        }
        let usdc = self.address("chain.usdc", usdc);
        let treasury = self.address("chain.treasury_vault", treasury);
        let payout = self.address("chain.payout_vault", payout);
        let operator_key = c
            .operator_key
            .and_then(|k| self.resolve_env("chain.operator_key", &k));
        if let Some(k) = &operator_key {
            let hex = k.strip_prefix("0x").unwrap_or(k);
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                // Never echo the value: it is a private key.
                self.err("chain.operator_key", "must be a 32-byte hex private key");
            }
        }
        let confirmations = c
            .confirmations
            .unwrap_or_else(|| default_confirmations(c.chain_id));
        if confirmations == 0 {
            self.err("chain.confirmations", "must be at least 1");
        }
        let receipt_timeout = self.duration("chain.receipt_timeout", c.receipt_timeout, "120s");
        let reconcile_every = self.duration("chain.reconcile_every", c.reconcile_every, "10s");
        let topup_min = self.usd_amount("chain.topup.min_usd", c.topup.min_usd, 1_000_000);
        let topup_max = self.usd_amount("chain.topup.max_usd", c.topup.max_usd, 10_000_000_000);
        if topup_max < topup_min {
            self.err("chain.topup.max_usd", "must not be below min_usd");
        }
        let max_timeout_seconds = c.topup.max_timeout_seconds.unwrap_or(300);
        if max_timeout_seconds == 0 {
            self.err("chain.topup.max_timeout_seconds", "must be positive");
        }
        let payout_threshold = self.usd_amount(
            "chain.payouts.threshold_usd",
            c.payouts.threshold_usd,
            10_000_000,
        );
        let payout_min_interval =
            self.duration("chain.payouts.min_interval", c.payouts.min_interval, "24h");
        let payout_schedule = c
            .payouts
            .schedule
            .map(|s| self.duration("chain.payouts.schedule", Some(s), "1h"));
        let solvency_every = self.duration("chain.solvency_every", c.solvency_every, "60s");
        let deposit_watch = c
            .deposits
            .watch
            .map(|s| self.duration("chain.deposits.watch", Some(s), "15s"));

        // Settlement needs all of it; a partial section is a mistake worth naming.
        let settlement = match (&rpc_url, operator_key, usdc, treasury, payout) {
            (Some(rpc), Some(key), Some(usdc), Some(treasury), Some(payout)) => Some(Settlement {
                rpc_url: rpc.clone(),
                operator_key: Secret(key),
                usdc,
                usdc_name: usdc_name.unwrap_or_else(|| "USD Coin".into()),
                usdc_version: usdc_version.unwrap_or_else(|| "2".into()),
                treasury_vault: treasury,
                payout_vault: payout,
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
            (None, None, None, None, None) => None,
            (rpc, key, usdc, treasury, payout) => {
                let missing: Vec<&str> = [
                    ("rpc_url", rpc.is_none()),
                    ("operator_key", key.is_none()),
                    ("usdc", usdc.is_none()),
                    ("treasury_vault", treasury.is_none()),
                    ("payout_vault", payout.is_none()),
                ]
                .into_iter()
                .filter_map(|(n, m)| m.then_some(n))
                .collect();
                if self.errors.iter().all(|e| !e.path.starts_with("chain.")) {
                    self.err(
                        "chain",
                        format!(
                            "on-chain settlement needs rpc_url, operator_key, usdc, treasury_vault and payout_vault (or deployment); missing: {}",
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
