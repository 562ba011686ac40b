//! The gateway's handle on the chains: one [`OnChain`] per accepted asset on each configured
//! chain (a "rail": the token, how x402 moves it, its vault pair), sharing that chain's
//! operator [`ChainClient`], connected on first use inside the server's runtime (a client built
//! in the start-up runtime would keep connections bound to a runtime that no longer runs).
//! [`ChainSet`] holds them all, the first one the default.
//!
//! Amounts: the ledger counts micro-USD; a rail converts with `10^(decimals − 6)` token units
//! per micro-USD ([`OnChain::units`], [`OnChain::micro`]); config refuses fewer than 6
//! decimals, and the token's `decimals()` is checked against the config on first use.
//!
//! Used by the x402 top-up, deposit, withdrawal and payout paths, and by SIWE for EIP-1271
//! (this type implements [`ContractSignatures`]).

use crate::config::{Settlement, Transfer};
use crate::identity::ContractSignatures;
use alloy_primitives::{Address, B256, U256};
use async_trait::async_trait;
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::OnceCell;
use tollgate_billing::ledger::ChainAsset;
use tollgate_billing::MicroUsdc;
use tollgate_chain::x402::{Network, TokenDomain, TokenExtra};
use tollgate_chain::{ChainClient, ChainError};

/// How x402 moves a rail's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// EIP-3009 `transferWithAuthorization`, under the token's EIP-712 domain.
    Eip3009(TokenDomain),
    /// A Permit2 witness transfer through x402's exact proxy.
    Permit2,
}

/// One accepted asset on one chain, with its vaults.
pub struct OnChain {
    pub settings: Settlement,
    pub chain_id: u64,
    pub network: Network,
    pub symbol: String,
    /// The token; for EIP-3009 also the EIP-712 `verifyingContract`.
    pub asset: Address,
    pub decimals: u8,
    /// Token units per micro-USD: `10^(decimals − 6)`.
    pub scale: U256,
    pub method: Method,
    pub treasury_vault: Address,
    pub payout_vault: Address,
    /// The x402 `resource`: this gateway's `POST /v1/topup` URL.
    pub topup_resource: String,
    /// The chain's operator client, shared by its rails.
    client: Arc<OnceCell<ChainClient>>,
    /// The token's `decimals()` agreed with the config.
    checked: OnceCell<()>,
}

impl OnChain {
    /// The chain and token as the ledger records them.
    pub fn rail(&self) -> ChainAsset {
        ChainAsset::new(self.chain_id, format!("{:#x}", self.asset))
    }

    /// Token units of `micro` micro-USD (exact).
    pub fn units(&self, micro: MicroUsdc) -> U256 {
        U256::from(micro.max(0) as u64) * self.scale
    }

    /// Micro-USD of `units` token units, rounded down (a remainder below one micro-USD stays
    /// in the vault, uncredited); saturating at the largest balance.
    pub fn micro(&self, units: U256) -> MicroUsdc {
        MicroUsdc::try_from(units / self.scale).unwrap_or(MicroUsdc::MAX)
    }

    /// The x402 `extra` of this rail's offers.
    pub fn extra(&self) -> TokenExtra {
        match &self.method {
            Method::Eip3009(domain) => domain.extra(),
            Method::Permit2 => TokenExtra::permit2(),
        }
    }

    /// `"USDT on eip155:31338"`, for messages.
    pub fn describe(&self) -> String {
        format!("{} on eip155:{}", self.symbol, self.chain_id)
    }

    /// The operator's client, connecting (and checking the chain id and the token's decimals)
    /// on first use.
    pub async fn client(&self) -> Result<&ChainClient, ChainError> {
        let client = self
            .client
            .get_or_try_init(|| async {
                let config = tollgate_chain::ChainConfig::new(self.settings.rpc_url.expose())
                    .with_chain_id(self.chain_id)
                    .with_confirmations(self.settings.confirmations);
                let config = tollgate_chain::ChainConfig {
                    confirmation_timeout: self.settings.receipt_timeout,
                    poll_interval: std::time::Duration::from_millis(200),
                    ..config
                };
                ChainClient::connect(config, self.settings.operator_key.expose()).await
            })
            .await?;
        self.checked
            .get_or_try_init(|| async {
                let call = tollgate_chain::contracts::MockUSDC::decimalsCall {};
                let decimals = client.call(self.asset, call).await?;
                if decimals != self.decimals {
                    return Err(ChainError::Abi(format!(
                        "{} has {decimals} decimals on chain, the config says {}",
                        self.describe(),
                        self.decimals
                    )));
                }
                Ok(())
            })
            .await?;
        Ok(client)
    }
}

/// Every rail of every configured chain, in configuration order.
pub struct ChainSet {
    rails: Vec<Arc<OnChain>>,
}

impl ChainSet {
    /// From the config, when on-chain settlement is configured. The x402 `resource` is
    /// `server.public_url`, else the first listen address.
    pub fn from_config(config: &crate::config::Config) -> Option<ChainSet> {
        let public = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.server.listen[0]));
        let addr = |a: &str| Address::from_str(a).expect("validated address");
        let mut rails = Vec::new();
        for c in &config.chains {
            let Some(settings) = c.settlement.clone() else {
                continue;
            };
            let client = Arc::new(OnceCell::new());
            for a in &settings.assets {
                let asset = addr(&a.address);
                let method = match &a.transfer {
                    Transfer::Eip3009 { name, version } => Method::Eip3009(TokenDomain::new(
                        name.clone(),
                        version.clone(),
                        c.chain_id,
                        asset,
                    )),
                    Transfer::Permit2 => Method::Permit2,
                };
                rails.push(Arc::new(OnChain {
                    chain_id: c.chain_id,
                    network: Network::new(&c.network, c.chain_id),
                    symbol: a.symbol.clone(),
                    asset,
                    decimals: a.decimals,
                    scale: U256::from(10u64).pow(U256::from(a.decimals - 6)),
                    method,
                    treasury_vault: addr(&a.treasury_vault),
                    payout_vault: addr(&a.payout_vault),
                    topup_resource: format!("{public}/v1/topup"),
                    client: client.clone(),
                    checked: OnceCell::new(),
                    settings: settings.clone(),
                }));
            }
        }
        (!rails.is_empty()).then_some(ChainSet { rails })
    }

    /// The first rail: the first chain's first asset (and the home of ledger rows written
    /// before chains were recorded).
    pub fn default_rail(&self) -> &Arc<OnChain> {
        &self.rails[0]
    }

    pub fn all(&self) -> &[Arc<OnChain>] {
        &self.rails
    }

    /// The rail a caller names: `chain_id` (default: the first chain) and `asset` by symbol,
    /// case-insensitive (default: that chain's first asset).
    pub fn find(&self, chain_id: Option<u64>, asset: Option<&str>) -> Option<&Arc<OnChain>> {
        let chain = chain_id.unwrap_or(self.rails[0].chain_id);
        self.rails
            .iter()
            .find(|r| r.chain_id == chain && asset.is_none_or(|s| r.symbol.eq_ignore_ascii_case(s)))
    }

    /// The rail a ledger row moved through (`None`s: a row from before chains were recorded).
    pub fn for_row(&self, chain_id: Option<i64>, asset: Option<&str>) -> Option<&Arc<OnChain>> {
        match (chain_id, asset) {
            (Some(c), Some(a)) => self
                .rails
                .iter()
                .find(|r| r.chain_id as i64 == c && format!("{:#x}", r.asset) == a),
            _ => Some(&self.rails[0]),
        }
    }

    /// Whether `rail` owns a row with this `(chain_id, asset)`.
    pub fn owns(&self, rail: &OnChain, chain_id: Option<i64>, asset: Option<&str>) -> bool {
        self.for_row(chain_id, asset)
            .is_some_and(|r| std::ptr::eq(r.as_ref(), rail))
    }
}

/// EIP-1271 through the operator's client (a read: the key signs nothing here).
#[async_trait]
impl ContractSignatures for OnChain {
    async fn is_valid_signature(
        &self,
        account: Address,
        hash: B256,
        signature: &[u8],
    ) -> Result<bool, String> {
        let client = self.client().await.map_err(|e| e.to_string())?;
        eip1271(client, account, hash, signature).await
    }
}

/// EIP-1271 through the first chain's operator client: a contract wallet is asked on the first
/// configured chain (a wallet deployed only on another chain is refused, never wrongly
/// accepted).
#[async_trait]
impl ContractSignatures for ChainSet {
    async fn is_valid_signature(
        &self,
        account: Address,
        hash: B256,
        signature: &[u8],
    ) -> Result<bool, String> {
        self.default_rail()
            .is_valid_signature(account, hash, signature)
            .await
    }
}

/// A read-only client for EIP-1271 checks when a chain RPC is configured without settlement:
/// it holds a throwaway random key and never sends a transaction.
pub struct ChainReader {
    rpc_url: crate::config::Secret,
    chain_id: u64,
    client: OnceCell<ChainClient>,
}

impl ChainReader {
    pub fn new(rpc_url: crate::config::Secret, chain_id: u64) -> Self {
        ChainReader {
            rpc_url,
            chain_id,
            client: OnceCell::new(),
        }
    }
}

#[async_trait]
impl ContractSignatures for ChainReader {
    async fn is_valid_signature(
        &self,
        account: Address,
        hash: B256,
        signature: &[u8],
    ) -> Result<bool, String> {
        let client = self
            .client
            .get_or_try_init(|| async {
                let config = tollgate_chain::ChainConfig::new(self.rpc_url.expose())
                    .with_chain_id(self.chain_id);
                let throwaway = alloy::signers::local::PrivateKeySigner::random();
                ChainClient::connect_with_signer(config, throwaway).await
            })
            .await
            .map_err(|e| e.to_string())?;
        eip1271(client, account, hash, signature).await
    }
}

/// `isValidSignature` of a contract wallet, read through `client`.
async fn eip1271(
    client: &ChainClient,
    account: Address,
    hash: B256,
    signature: &[u8],
) -> Result<bool, String> {
    client
        .is_valid_signature_1271(account, hash, signature)
        .await
        .map_err(|e| e.to_string())
}
