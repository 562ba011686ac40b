//! [`ChainClient`]: one HTTP JSON-RPC connection plus one local signing key.
//!
//! - **Connect**: parses the key (hex; never logged — `Debug` shows only the address, and the RPC
//!   URL without its path/query, where providers put API keys), checks `eth_chainId` against the
//!   configured chain id.
//! - **Sending** ([`ChainClient::send_and_confirm`]): `eth_estimateGas` first (a revert is reported
//!   as [`ChainError::Reverted`] before any nonce is taken), then under a submission lock alloy's
//!   fillers set fees, the nonce (alloy's `NonceFiller` with a cached, resettable manager) and chain
//!   id, the wallet signs, and the *signed bytes* are submitted with bounded exponential back-off
//!   (resubmitting identical bytes is idempotent; "already known" on a retry counts as accepted).
//!   Only nonce allocation + submission are serialised, so concurrent callers never share a nonce;
//!   waiting for confirmations runs concurrently. If a submission fails for good the cached nonce is
//!   dropped and re-read from the node (`pending` count), so a lost nonce cannot wedge later
//!   transactions behind a gap.
//! - **Confirmations**: polls the receipt until it is `confirmations` blocks deep (1 = mined),
//!   with a timeout; a mined-but-failed transaction is [`ChainError::TxReverted`].
//! - **Reads**: `block_number`, ERC-20 `token_balance`, ERC-3009 `authorization_state`, EIP-1271
//!   `is_valid_signature_1271`, all retried on transient transport errors only.
//!
//! | module | job |
//! | --- | --- |
//! | [`config`] | [`ChainConfig`], URL redaction, key parsing |
//! | `nonce` | the resettable nonce manager and the signing provider's fillers |
//! | `reads` | typed calls and reads |
//! | `send` | estimate, fill, sign, submit, confirm |
//! | `retry` | transient-error retries and RPC error classification |

mod config;
mod nonce;
mod reads;
mod retry;
mod send;

pub use config::{parse_private_key, redact_url, redact_urls_in, ChainConfig};
pub use nonce::{ResettableNonceManager, SigningProvider};
pub use reads::EIP1271_MAGIC_VALUE;

use crate::error::ChainError;
use alloy::network::EthereumWallet;
use alloy::primitives::Address;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::TransportResult;
use retry::retry_rpc;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::sync::{Arc, Once};
use tokio::sync::Mutex;

/// HTTP provider + local signer. Cheap to clone (shared state).
#[derive(Clone)]
pub struct ChainClient {
    inner: Arc<Inner>,
}

struct Inner {
    provider: SigningProvider,
    nonces: ResettableNonceManager,
    /// Serialises nonce allocation + submission (not confirmation waiting).
    submit: Mutex<()>,
    address: Address,
    chain_id: u64,
    config: ChainConfig,
}

impl fmt::Debug for ChainClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainClient")
            .field("address", &self.inner.address)
            .field("chain_id", &self.inner.chain_id)
            .field("rpc_url", &redact_url(&self.inner.config.rpc_url))
            .field("key", &"<redacted>")
            .finish()
    }
}

fn install_tls_provider() {
    static ONCE: Once = Once::new();
    // reqwest 0.13 is built with `rustls-no-provider`; use ring (already in the tree). Ignore
    // the error when the host process installed a provider first.
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl ChainClient {
    /// Connects and checks the chain id. `private_key_hex` is typically read from an env var by
    /// the caller; it is not stored anywhere but in the signer.
    pub async fn connect(config: ChainConfig, private_key_hex: &str) -> Result<Self, ChainError> {
        let signer = parse_private_key(private_key_hex)?;
        Self::connect_with_signer(config, signer).await
    }

    pub async fn connect_with_signer(
        config: ChainConfig,
        signer: PrivateKeySigner,
    ) -> Result<Self, ChainError> {
        install_tls_provider();
        let url = config
            .rpc_url
            .parse()
            .map_err(|e| ChainError::InvalidUrl(format!("{}: {e}", redact_url(&config.rpc_url))))?;
        let address = signer.address();
        let nonces = ResettableNonceManager::default();
        let provider: SigningProvider = ProviderBuilder::default()
            .with_gas_estimation()
            .with_nonce_management(nonces.clone())
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer))
            .connect_http(url);
        let chain_id = retry_rpc(&config, "eth_chainId", || {
            provider.get_chain_id().into_future()
        })
        .await?;
        if let Some(expected) = config.chain_id {
            if expected != chain_id {
                return Err(ChainError::ChainIdMismatch {
                    expected,
                    actual: chain_id,
                });
            }
        }
        Ok(ChainClient {
            inner: Arc::new(Inner {
                provider,
                nonces,
                submit: Mutex::new(()),
                address,
                chain_id,
                config,
            }),
        })
    }

    /// The signer's address (facilitator / operator / deployer, depending on the key).
    pub fn address(&self) -> Address {
        self.inner.address
    }

    pub fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    pub fn config(&self) -> &ChainConfig {
        &self.inner.config
    }

    /// The underlying alloy provider (reads, contract instances, deployments).
    pub fn provider(&self) -> &SigningProvider {
        &self.inner.provider
    }

    /// [`retry::retry_rpc`] with this client's settings.
    pub(crate) async fn retry<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = TransportResult<T>>,
    {
        retry_rpc(&self.inner.config, op, f).await
    }
}

#[cfg(test)]
mod tests;
