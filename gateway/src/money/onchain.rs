//! The gateway's handle on the chain: the configured contracts and the operator's
//! [`ChainClient`], connected on first use inside the server's runtime (a client built in the
//! start-up runtime would keep connections bound to a runtime that no longer runs).
//!
//! Used by the x402 top-up, deposit, withdrawal and payout paths, and by SIWE for EIP-1271
//! (this type implements [`ContractSignatures`]).

use crate::config::Settlement;
use crate::identity::ContractSignatures;
use alloy_primitives::{Address, B256};
use async_trait::async_trait;
use std::str::FromStr;
use tokio::sync::OnceCell;
use tollgate_chain::x402::{Network, TokenDomain};
use tollgate_chain::{ChainClient, ChainError};

pub struct OnChain {
    pub settings: Settlement,
    pub chain_id: u64,
    pub network: Network,
    pub usdc: Address,
    pub treasury_vault: Address,
    pub payout_vault: Address,
    pub token: TokenDomain,
    /// The x402 `resource`: this gateway's `POST /v1/topup` URL.
    pub topup_resource: String,
    client: OnceCell<ChainClient>,
}

impl OnChain {
    /// From validated config (addresses were checked there, so parsing cannot fail).
    pub fn new(settings: Settlement, chain_id: u64, network: &str, public_url: &str) -> OnChain {
        let addr = |a: &str| Address::from_str(a).expect("validated address");
        let usdc = addr(&settings.usdc);
        OnChain {
            chain_id,
            network: Network::new(network, chain_id),
            usdc,
            treasury_vault: addr(&settings.treasury_vault),
            payout_vault: addr(&settings.payout_vault),
            token: TokenDomain::new(
                settings.usdc_name.clone(),
                settings.usdc_version.clone(),
                chain_id,
                usdc,
            ),
            settings,
            topup_resource: format!("{public_url}/v1/topup"),
            client: OnceCell::new(),
        }
    }

    /// From the config, when on-chain settlement is configured. The x402 `resource` is
    /// `server.public_url`, else the first listen address.
    pub fn from_config(config: &crate::config::Config) -> Option<OnChain> {
        let c = config.chain.as_ref()?;
        let settlement = c.settlement.clone()?;
        let public = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.server.listen[0]));
        Some(OnChain::new(settlement, c.chain_id, &c.network, &public))
    }

    /// The operator's client, connecting (and checking the chain id) on first use.
    pub async fn client(&self) -> Result<&ChainClient, ChainError> {
        self.client
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
            .await
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
