//! Nonces: alloy's cached nonce manager, resettable after a failed submission, and the filler
//! stack of the signing provider.

use alloy::network::{Ethereum, EthereumWallet};
use alloy::primitives::Address;
use alloy::providers::fillers::{
    ChainIdFiller, FillProvider, GasFiller, JoinFill, NonceFiller, NonceManager, WalletFiller,
};
use alloy::providers::{Identity, Provider, RootProvider};
use alloy::transports::TransportResult;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Nonce manager for alloy's `NonceFiller`: caches the next nonce per address (so concurrent
/// allocations never repeat) and can forget it ([`Self::reset`]) after a failed submission.
#[derive(Clone, Debug, Default)]
pub struct ResettableNonceManager {
    next: Arc<Mutex<HashMap<Address, u64>>>,
}

impl ResettableNonceManager {
    /// Forget the cached nonce; the next allocation re-reads the node's `pending` count.
    pub async fn reset(&self, address: Address) {
        self.next.lock().await.remove(&address);
    }
}

#[async_trait::async_trait]
impl NonceManager for ResettableNonceManager {
    async fn get_next_nonce<P, N>(&self, provider: &P, address: Address) -> TransportResult<u64>
    where
        P: Provider<N>,
        N: alloy::network::Network,
    {
        let mut next = self.next.lock().await;
        let nonce = match next.get(&address) {
            Some(n) => *n,
            None => provider.get_transaction_count(address).pending().await?,
        };
        next.insert(address, nonce + 1);
        Ok(nonce)
    }
}

type Fillers = JoinFill<
    JoinFill<
        JoinFill<JoinFill<Identity, GasFiller>, NonceFiller<ResettableNonceManager>>,
        ChainIdFiller,
    >,
    WalletFiller<EthereumWallet>,
>;

/// The alloy provider inside [`ChainClient`] (fills gas, nonce, chain id; signs with the key).
pub type SigningProvider = FillProvider<Fillers, RootProvider<Ethereum>, Ethereum>;
