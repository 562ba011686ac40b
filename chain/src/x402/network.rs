//! x402 network names and the token's EIP-712 domain.

use super::ChainId;
use alloy::primitives::{Address, U256};
use alloy::sol_types::Eip712Domain;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An EVM network as x402 names it: the v1 name (`base-sepolia`) and the chain id (v2 uses the
/// CAIP-2 form `eip155:<chain_id>`). Use [`Network::known`] for the x402 table, or
/// [`Network::new`] for anything else (a local anvil: `Network::new("anvil", 31337)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub chain_id: u64,
}

impl Network {
    /// A network under a configured name (no table lookup).
    pub fn new(name: impl Into<String>, chain_id: u64) -> Self {
        Network {
            name: name.into(),
            chain_id,
        }
    }

    /// An EVM network from x402's table by v1 name (`base`, `base-sepolia`, `avalanche`,
    /// `avalanche-fuji`, `polygon`, `polygon-amoy`, `sei`, `celo`, …); `None` for unknown or
    /// non-EVM names.
    pub fn known(name: &str) -> Option<Self> {
        let id = x402_types::networks::chain_id_by_network_name(name)?;
        if id.namespace() != "eip155" {
            return None;
        }
        let chain_id = id.reference().parse().ok()?;
        Some(Network::new(name, chain_id))
    }

    /// The x402 network for a chain id, falling back to the name `eip155-<id>` (e.g. 31337).
    pub fn for_chain_id(chain_id: u64) -> Self {
        let id = ChainId::new("eip155", chain_id.to_string());
        match x402_types::networks::network_name_by_chain_id(&id) {
            Some(name) => Network::new(name, chain_id),
            None => Network::new(format!("eip155-{chain_id}"), chain_id),
        }
    }

    /// The CAIP-2 id used by x402 v2, e.g. `eip155:8453`.
    pub fn caip2(&self) -> ChainId {
        ChainId::new("eip155", self.chain_id.to_string())
    }

    /// Whether a v1 `network` field names this network (name case-insensitively, or CAIP-2).
    pub fn matches_v1(&self, network: &str) -> bool {
        network.eq_ignore_ascii_case(&self.name) || network == self.caip2().to_string()
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (eip155:{})", self.name, self.chain_id)
    }
}

/// The token's EIP-712 domain, which every `TransferWithAuthorization` signature commits to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenDomain {
    pub name: String,
    pub version: String,
    pub chain_id: u64,
    pub verifying_contract: Address,
}

impl TokenDomain {
    /// Circle USDC (and MockUSDC): name "USD Coin", version "2". Note that some testnet USDC
    /// deployments use another name (Base Sepolia: "USDC"); configure those with [`Self::new`].
    pub fn usdc(chain_id: u64, token: Address) -> Self {
        Self::new("USD Coin", "2", chain_id, token)
    }

    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        chain_id: u64,
        token: Address,
    ) -> Self {
        TokenDomain {
            name: name.into(),
            version: version.into(),
            chain_id,
            verifying_contract: token,
        }
    }

    /// As an alloy EIP-712 domain.
    pub fn eip712_domain(&self) -> Eip712Domain {
        Eip712Domain::new(
            Some(self.name.clone().into()),
            Some(self.version.clone().into()),
            Some(U256::from(self.chain_id)),
            Some(self.verifying_contract),
            None,
        )
    }

    /// The `extra` object of x402 requirements (`{"name":…,"version":…}`).
    pub fn extra(&self) -> TokenExtra {
        TokenExtra {
            name: Some(self.name.clone()),
            version: Some(self.version.clone()),
            asset_transfer_method: None,
            facilitator_address: None,
        }
    }
}

/// `extra` of the exact-EVM requirements: the token's EIP-712 name and version (EIP-3009), or
/// `assetTransferMethod: "permit2"` (any ERC-20 through Permit2).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenExtra {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_transfer_method: Option<String>,
    /// `upto` only: the address that settles (and alone may choose the amount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facilitator_address: Option<alloy::primitives::Address>,
}

impl TokenExtra {
    /// The `extra` of a Permit2 offer.
    pub fn permit2() -> TokenExtra {
        TokenExtra {
            asset_transfer_method: Some(super::PERMIT2_METHOD.into()),
            ..TokenExtra::default()
        }
    }

    /// Whether this offer (or the client's echo of it) is paid through Permit2.
    pub fn is_permit2(&self) -> bool {
        self.asset_transfer_method.as_deref() == Some(super::PERMIT2_METHOD)
    }
}
