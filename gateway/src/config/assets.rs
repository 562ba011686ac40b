//! The accepted assets of one chain (`chain.usdc…` keys, `chain.assets`, or a `deploy-local`
//! JSON): each a token, how x402 moves it (EIP-3009 or Permit2), its decimals, and its own
//! TreasuryVault / PayoutVault pair (the vaults hold one token each).
//!
//! Balances are micro-USD; an asset of `d` decimals is worth 1 USD per whole token (USDC and
//! USDT are dollar stablecoins; the gateway takes that peg as given), so `1 µUSD = 10^(d−6)`
//! token units. That is exact for `d ≥ 6`: a price in micro-USD is always a whole number of
//! units. An asset with fewer than 6 decimals cannot carry every micro-USD amount and is
//! refused.

use super::raw::{RawAsset, RawChain};
use super::Validator;

/// How x402 moves an asset from the payer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    /// `transferWithAuthorization` (USDC); the token's EIP-712 domain.
    Eip3009 { name: String, version: String },
    /// A Permit2 witness transfer through x402's exact proxy (any ERC-20; USDT).
    Permit2,
}

/// One accepted asset (addresses lower-case `0x…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetConfig {
    pub symbol: String,
    pub address: String,
    pub decimals: u8,
    pub transfer: Transfer,
    pub treasury_vault: String,
    pub payout_vault: String,
}

/// The most decimals accepted: 10^(36−6) units per micro-USD still leaves room in a uint256.
const MAX_DECIMALS: u8 = 36;

/// The USDC keys of a chain entry (the original single-asset form).
pub(super) struct UsdcFields {
    usdc: Option<String>,
    name: Option<String>,
    version: Option<String>,
    treasury_vault: Option<String>,
    payout_vault: Option<String>,
}

impl RawChain {
    pub(super) fn usdc_fields(&self) -> UsdcFields {
        UsdcFields {
            usdc: self.usdc.clone(),
            name: self.usdc_name.clone(),
            version: self.usdc_version.clone(),
            treasury_vault: self.treasury_vault.clone(),
            payout_vault: self.payout_vault.clone(),
        }
    }
}

/// The fields of `tollgate chain deploy-local`'s JSON this section reads.
#[derive(serde::Deserialize)]
struct DeploymentFile {
    chain_id: u64,
    usdc: String,
    treasury_vault: String,
    payout_vault: String,
    token_name: Option<String>,
    token_version: Option<String>,
    #[serde(default)]
    assets: Vec<DeployedAsset>,
}

#[derive(serde::Deserialize)]
struct DeployedAsset {
    symbol: String,
    address: String,
    decimals: u8,
    transfer: String,
    treasury_vault: String,
    payout_vault: String,
}

impl Validator<'_> {
    /// The assets of chain `at`: USDC from the `usdc…` keys (or the deployment file), then
    /// `assets`. `None` when none is configured.
    pub(super) fn assets(
        &mut self,
        at: &str,
        chain_id: u64,
        deployment: Option<&str>,
        mut usdc: UsdcFields,
        extra: Vec<RawAsset>,
    ) -> Option<Vec<AssetConfig>> {
        let p = |key: &str| format!("{at}.{key}");
        let mut raw = extra;
        if let Some(path) = deployment {
            let file = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    serde_json::from_str::<DeploymentFile>(&t).map_err(|e| e.to_string())
                });
            match file {
                Ok(d) => {
                    if d.chain_id != chain_id {
                        self.err(
                            p("deployment"),
                            format!("{path:?} is for chain {}, not {chain_id}", d.chain_id),
                        );
                    }
                    usdc.usdc = usdc.usdc.or(Some(d.usdc));
                    usdc.treasury_vault = usdc.treasury_vault.or(Some(d.treasury_vault));
                    usdc.payout_vault = usdc.payout_vault.or(Some(d.payout_vault));
                    usdc.name = usdc.name.or(d.token_name);
                    usdc.version = usdc.version.or(d.token_version);
                    if raw.is_empty() {
                        raw = d
                            .assets
                            .into_iter()
                            .map(|a| RawAsset {
                                symbol: a.symbol,
                                address: a.address,
                                decimals: Some(a.decimals),
                                transfer: a.transfer,
                                treasury_vault: a.treasury_vault,
                                payout_vault: a.payout_vault,
                                ..RawAsset::default()
                            })
                            .collect();
                    }
                }
                Err(e) => self.err(p("deployment"), format!("cannot read {path:?}: {e}")),
            }
        }
        let mut assets = Vec::new();
        match (usdc.usdc, usdc.treasury_vault, usdc.payout_vault) {
            (None, None, None) => {}
            (Some(a), Some(t), Some(o)) => {
                let (a, t, o) = (
                    self.address(&p("usdc"), Some(a)),
                    self.address(&p("treasury_vault"), Some(t)),
                    self.address(&p("payout_vault"), Some(o)),
                );
                if let (Some(address), Some(treasury_vault), Some(payout_vault)) = (a, t, o) {
                    assets.push(AssetConfig {
                        symbol: "USDC".into(),
                        address,
                        decimals: 6,
                        transfer: Transfer::Eip3009 {
                            name: usdc.name.unwrap_or_else(|| "USD Coin".into()),
                            version: usdc.version.unwrap_or_else(|| "2".into()),
                        },
                        treasury_vault,
                        payout_vault,
                    });
                }
            }
            (a, t, o) => {
                let missing: Vec<&str> = [
                    ("usdc", a.is_none()),
                    ("treasury_vault", t.is_none()),
                    ("payout_vault", o.is_none()),
                ]
                .into_iter()
                .filter_map(|(n, m)| m.then_some(n))
                .collect();
                self.err(
                    at,
                    format!(
                        "USDC needs usdc, treasury_vault and payout_vault; missing: {}",
                        missing.join(", ")
                    ),
                );
            }
        }
        for (i, a) in raw.into_iter().enumerate() {
            let ap = |key: &str| format!("{at}.assets[{i}].{key}");
            let decimals = a.decimals.unwrap_or(6);
            if decimals < 6 {
                self.err(ap("decimals"), format!("{decimals} decimals cannot carry every micro-USD amount exactly (at least 6 are needed)"));
            } else if decimals > MAX_DECIMALS {
                self.err(ap("decimals"), format!("at most {MAX_DECIMALS}"));
            }
            let transfer = match a.transfer.as_str() {
                "permit2" => Transfer::Permit2,
                "eip3009" => match (a.name, a.version) {
                    (Some(name), Some(version)) => Transfer::Eip3009 { name, version },
                    _ => {
                        self.err(
                            ap("name"),
                            "an eip3009 asset needs the token's EIP-712 name and version",
                        );
                        continue;
                    }
                },
                other => {
                    self.err(
                        ap("transfer"),
                        format!("{other:?} is not eip3009 or permit2"),
                    );
                    continue;
                }
            };
            let symbol = a.symbol.trim().to_string();
            if symbol.is_empty()
                || assets
                    .iter()
                    .any(|x: &AssetConfig| x.symbol.eq_ignore_ascii_case(&symbol))
            {
                self.err(
                    ap("symbol"),
                    format!("{symbol:?} must be a unique, non-empty name on this chain"),
                );
                continue;
            }
            let (Some(address), Some(treasury_vault), Some(payout_vault)) = (
                self.address(&ap("address"), Some(a.address)),
                self.address(&ap("treasury_vault"), Some(a.treasury_vault)),
                self.address(&ap("payout_vault"), Some(a.payout_vault)),
            ) else {
                continue;
            };
            if assets
                .iter()
                .any(|x| x.address == address || x.treasury_vault == treasury_vault)
            {
                self.err(ap("address"), "each asset has its own token and vaults");
                continue;
            }
            assets.push(AssetConfig {
                symbol,
                address,
                decimals,
                transfer,
                treasury_vault,
                payout_vault,
            });
        }
        (!assets.is_empty()).then_some(assets)
    }
}
