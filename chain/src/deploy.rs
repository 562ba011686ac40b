//! Local/dev deployment: MockUSDC, PayoutVault, TreasuryVault from the artifact bytecode in
//! `chain/abi/`, then demo USDC mints; optionally a MockUSDT with its own vault pair, paid through
//! Permit2 ([`DeployOptions::usdt_decimals`]), with Permit2 and x402's two Permit2 proxies placed
//! at their canonical addresses by `anvil_setCode` ([`place_permit2`]). Meant for anvil and test chains — MockUSDC's `mint` is
//! public. The gateway CLI wires it as `tollgate chain deploy-local --rpc … --out deployment.json`
//! via [`deploy_local`] + [`Deployment::write`].
//!
//! Roles are set by the constructors (see `contracts/src/OperatedVault.sol`): one admin
//! (`DEFAULT_ADMIN_ROLE`, two-step transfer after `adminTransferDelay`) and one operator per vault.
//! The operator is a constructor argument precisely so deployment needs no 24 h
//! `proposeOperator`/`acceptOperator` round; later operator changes go through that timelock.
//! Nothing is granted after deployment.

use std::path::Path;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolConstructor;
use serde::{Deserialize, Serialize};

use crate::client::{ChainClient, ChainConfig};
use crate::contracts::{
    MockUSDC, MockUSDT, PayoutVault, TreasuryVault, X402ExactPermit2Proxy, X402UptoPermit2Proxy,
};
use crate::error::ChainError;
use crate::x402::{
    TokenDomain, PERMIT2_ADDRESS, X402_EXACT_PERMIT2_PROXY, X402_UPTO_PERMIT2_PROXY,
};

/// Who gets which role, and what to mint.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// Vault admin; default: the deployer.
    pub admin: Option<Address>,
    /// TreasuryVault operator (gateway treasury key); default: the deployer.
    pub treasury_operator: Option<Address>,
    /// PayoutVault operator (gateway settlement key); default: the deployer.
    pub payout_operator: Option<Address>,
    /// `adminTransferDelay` (seconds) of both vaults; 0 is fine locally.
    pub admin_transfer_delay_secs: u64,
    /// Demo USDC (atomic units, 6 decimals) minted after deployment.
    pub mint: Vec<(Address, U256)>,
    /// Also deploy a MockUSDT with these decimals and its own vault pair, mint the same
    /// amounts scaled to them, and place Permit2 and the x402 proxies (anvil only).
    pub usdt_decimals: Option<u8>,
}

/// A second asset of a deployment: a token paid through Permit2, with its own vaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetDeployment {
    pub symbol: String,
    pub address: Address,
    pub decimals: u8,
    /// `permit2` (x402 `assetTransferMethod`).
    pub transfer: String,
    pub treasury_vault: Address,
    pub payout_vault: Address,
}

/// Addresses and parameters of a deployment; serialised as JSON for the gateway's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub chain_id: u64,
    pub usdc: Address,
    pub treasury_vault: Address,
    pub payout_vault: Address,
    pub deployer: Address,
    pub admin: Address,
    pub treasury_operator: Address,
    pub payout_operator: Address,
    /// Block of the first deployment transaction (start of event scans).
    pub start_block: u64,
    /// The USDC EIP-712 domain (x402 `extra`).
    pub token_name: String,
    pub token_version: String,
    pub token_decimals: u8,
    pub minted: Vec<Mint>,
    /// Assets besides USDC (MockUSDT through Permit2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<AssetDeployment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mint {
    pub to: Address,
    pub amount: U256,
}

impl Deployment {
    /// The token's EIP-712 domain for x402 verification.
    pub fn token_domain(&self) -> TokenDomain {
        TokenDomain::new(
            &self.token_name,
            &self.token_version,
            self.chain_id,
            self.usdc,
        )
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("Deployment serialises")
    }

    /// Writes pretty JSON to `path`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_json_pretty() + "\n")
    }

    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

/// Connects to `rpc_url` with `deployer_key` (hex) and deploys; see [`deploy`].
pub async fn deploy_local(
    rpc_url: &str,
    deployer_key: &str,
    options: &DeployOptions,
) -> Result<Deployment, ChainError> {
    let client = ChainClient::connect(ChainConfig::new(rpc_url), deployer_key).await?;
    deploy(&client, options).await
}

/// Deploys MockUSDC, PayoutVault(usdc, admin, payoutOperator, delay), then
/// TreasuryVault(usdc, payoutVault, admin, treasuryOperator, delay), and mints.
pub async fn deploy(
    client: &ChainClient,
    options: &DeployOptions,
) -> Result<Deployment, ChainError> {
    let deployer = client.address();
    let admin = options.admin.unwrap_or(deployer);
    let treasury_operator = options.treasury_operator.unwrap_or(deployer);
    let payout_operator = options.payout_operator.unwrap_or(deployer);
    let delay = alloy::primitives::aliases::U48::try_from(options.admin_transfer_delay_secs)
        .map_err(|_| ChainError::Abi("admin_transfer_delay_secs does not fit uint48".into()))?;
    let start_block = client.block_number().await?;

    let usdc = deploy_code(client, &MockUSDC::BYTECODE, Vec::new(), "MockUSDC").await?;
    let (payout_vault, treasury_vault) = deploy_vaults(
        client,
        usdc,
        admin,
        treasury_operator,
        payout_operator,
        delay,
    )
    .await?;
    let mut minted = Vec::new();
    for (to, amount) in &options.mint {
        mint(client, usdc, *to, *amount).await?;
        minted.push(Mint {
            to: *to,
            amount: *amount,
        });
    }
    let mut assets = Vec::new();
    if let Some(decimals) = options.usdt_decimals {
        place_permit2(client).await?;
        let usdt = deploy_code(
            client,
            &MockUSDT::BYTECODE,
            MockUSDT::constructorCall {
                decimals_: decimals,
            }
            .abi_encode(),
            "MockUSDT",
        )
        .await?;
        let (payout_vault, treasury_vault) = deploy_vaults(
            client,
            usdt,
            admin,
            treasury_operator,
            payout_operator,
            delay,
        )
        .await?;
        let scale = U256::from(10u64).pow(U256::from(decimals.saturating_sub(6)));
        for (to, amount) in &options.mint {
            mint(client, usdt, *to, *amount * scale).await?;
        }
        assets.push(AssetDeployment {
            symbol: "USDT".into(),
            address: usdt,
            decimals,
            transfer: "permit2".into(),
            treasury_vault,
            payout_vault,
        });
    }
    let domain_name = client.call(usdc, MockUSDC::nameCall {}).await?;
    let decimals = client.call(usdc, MockUSDC::decimalsCall {}).await?;
    Ok(Deployment {
        chain_id: client.chain_id(),
        usdc,
        treasury_vault,
        payout_vault,
        deployer,
        admin,
        treasury_operator,
        payout_operator,
        start_block,
        token_name: domain_name,
        token_version: "2".into(),
        token_decimals: decimals,
        minted,
        assets,
    })
}

/// PayoutVault(token, admin, payoutOperator, delay), then TreasuryVault(token, payoutVault,
/// admin, treasuryOperator, delay): `(payout, treasury)`.
async fn deploy_vaults(
    client: &ChainClient,
    token: Address,
    admin: Address,
    treasury_operator: Address,
    payout_operator: Address,
    delay: alloy::primitives::aliases::U48,
) -> Result<(Address, Address), ChainError> {
    let payout_vault = deploy_code(
        client,
        &PayoutVault::BYTECODE,
        PayoutVault::constructorCall {
            token_: token,
            admin,
            payoutOperator: payout_operator,
            adminTransferDelay: delay,
        }
        .abi_encode(),
        "PayoutVault",
    )
    .await?;
    let treasury_vault = deploy_code(
        client,
        &TreasuryVault::BYTECODE,
        TreasuryVault::constructorCall {
            token_: token,
            payoutVault_: payout_vault,
            admin,
            treasuryOperator: treasury_operator,
            adminTransferDelay: delay,
        }
        .abi_encode(),
        "TreasuryVault",
    )
    .await?;
    Ok((payout_vault, treasury_vault))
}

/// Permit2's canonical runtime code (`chain/abi/Permit2.json`, from the npm package
/// `@uniswap/v4-periphery`; see `scripts/contracts.sh`).
const PERMIT2_JSON: &str = include_str!("../abi/Permit2.json");

/// Places Permit2 and x402's exact and upto Permit2 proxies at the addresses the x402 clients
/// hard-code, with `anvil_setCode` (local chains only; on public chains they are deployed).
/// The proxies' code is Tollgate's own implementation of their call interface
/// (`contracts/src/X402*Permit2Proxy.sol`); it holds no state that needs a constructor.
pub async fn place_permit2(client: &ChainClient) -> Result<(), ChainError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Artifact {
        deployed_bytecode: Bytes,
    }
    let permit2: Artifact = serde_json::from_str(PERMIT2_JSON)
        .map_err(|e| ChainError::Abi(format!("Permit2.json: {e}")))?;
    for (address, code) in [
        (PERMIT2_ADDRESS, &permit2.deployed_bytecode),
        (
            X402_EXACT_PERMIT2_PROXY,
            &X402ExactPermit2Proxy::DEPLOYED_BYTECODE,
        ),
        (
            X402_UPTO_PERMIT2_PROXY,
            &X402UptoPermit2Proxy::DEPLOYED_BYTECODE,
        ),
    ] {
        let _: serde_json::Value = client
            .raw_request(
                "anvil_setCode",
                serde_json::json!([format!("{address:#x}"), code.to_string()]),
            )
            .await?;
        log::info!("chain: placed code at {address}");
    }
    Ok(())
}

/// MockUSDC `mint(to, amount)` (public on the mock).
pub async fn mint(
    client: &ChainClient,
    usdc: Address,
    to: Address,
    amount: U256,
) -> Result<(), ChainError> {
    let tx = TransactionRequest::default().with_to(usdc).with_input(
        alloy::sol_types::SolCall::abi_encode(&MockUSDC::mintCall { to, amount }),
    );
    client.send_and_confirm(tx).await.map(|_| ())
}

async fn deploy_code(
    client: &ChainClient,
    bytecode: &Bytes,
    args: Vec<u8>,
    name: &str,
) -> Result<Address, ChainError> {
    if bytecode.is_empty() {
        return Err(ChainError::Abi(format!("{name}: artifact has no bytecode")));
    }
    let mut code = bytecode.to_vec();
    code.extend_from_slice(&args);
    let tx = TransactionRequest::default().with_deploy_code(code);
    let receipt = client.send_and_confirm(tx).await?;
    let address = receipt
        .contract_address
        .ok_or_else(|| ChainError::Abi(format!("{name}: receipt has no contract address")))?;
    log::info!("chain: deployed {name} at {address}");
    Ok(address)
}
