//! A local chain for the money tests: anvil with the repo's contracts deployed, and the
//! `chain:` section a gateway needs to settle on it.
//!
//! Two shapes, because the tests cover two deployments: [`Chain::deployed_by_cli`] runs
//! `tollgate chain deploy-local` as the demo does (dev key 0 deploys and operates both vaults),
//! [`Chain::with_funded_pool`] deploys through the library with dev key 2 as the operator and
//! 500 USDC deposited into the TreasuryVault pool by dev key 1 (payouts and withdrawals draw on
//! it). Either way the gateway reads the operator key from [`OPERATOR_ENV`].

use super::{free_port, tempfile_path::TempPath};
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use serde_json::{json, Value};
use std::time::Duration;
use tollgate_chain::anvil::{Anvil, ANVIL_CHAIN_ID, DEV_KEYS};
use tollgate_chain::contracts::TreasuryVault;
use tollgate_chain::deploy::{deploy, DeployOptions, Deployment};
use tollgate_chain::{ChainClient, ChainConfig};

/// The gateway reads its operator key from this variable (`operator_key: ${…}`).
pub const OPERATOR_ENV: &str = "TOLLGATE_TEST_OPERATOR_KEY";
/// One USDC in micro-USDC (and in MockUSDC units: 6 decimals).
pub const USDC: i64 = 1_000_000;

pub struct Chain {
    pub anvil: Anvil,
    pub dep: Deployment,
    /// Dev key 0: the deployer and admin of both vaults.
    pub admin: ChainClient,
    /// The vaults' operator (the gateway's key).
    pub operator: ChainClient,
    operator_key: &'static str,
    pub file: TempPath,
}

/// A client of `anvil` signing with `key`, polling quickly.
pub async fn chain_client(anvil: &Anvil, key: &str) -> ChainClient {
    let mut c = ChainConfig::new(anvil.url()).with_chain_id(ANVIL_CHAIN_ID);
    c.poll_interval = Duration::from_millis(20);
    c.confirmation_timeout = Duration::from_secs(20);
    ChainClient::connect(c, key).await.unwrap()
}

impl Chain {
    /// anvil + `tollgate chain deploy-local` (the CLI the demo uses), minting `USD` to each
    /// address; dev key 0 deploys and operates.
    pub async fn deployed_by_cli(mint: &[(Address, u64)]) -> Chain {
        let anvil = Anvil::spawn().expect("anvil (run `bash scripts/contracts.sh install`)");
        let file = std::env::temp_dir().join(format!("tollgate-deploy-{}.json", free_port()));
        let mut args = vec![
            "chain".to_string(),
            "deploy-local".into(),
            "--rpc".into(),
            anvil.url().to_string(),
            "--out".into(),
            file.display().to_string(),
        ];
        for (a, usd) in mint {
            args.push("--mint".into());
            args.push(format!("{a:#x}={usd}"));
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dep = Deployment::read(&file).unwrap();
        let admin = chain_client(&anvil, DEV_KEYS[0]).await;
        Chain {
            operator: admin.clone(),
            admin,
            anvil,
            dep,
            operator_key: DEV_KEYS[0],
            file: TempPath(file),
        }
    }

    /// MockUSDC + vaults deployed by dev key 0, operated by dev key 2; dev key 1 deposited 500
    /// USDC into the TreasuryVault pool.
    pub async fn with_funded_pool() -> Chain {
        let anvil = Anvil::spawn().expect("anvil (run `bash scripts/contracts.sh install`)");
        let admin = chain_client(&anvil, DEV_KEYS[0]).await;
        let operator = chain_client(&anvil, DEV_KEYS[2]).await;
        let depositor = chain_client(&anvil, DEV_KEYS[1]).await;
        let options = DeployOptions {
            treasury_operator: Some(operator.address()),
            payout_operator: Some(operator.address()),
            mint: vec![(depositor.address(), U256::from(1_000 * USDC))],
            ..Default::default()
        };
        let dep = deploy(&admin, &options).await.unwrap();
        depositor
            .approve_and_deposit(dep.usdc, dep.treasury_vault, U256::from(500 * USDC))
            .await
            .unwrap();
        let path = std::env::temp_dir().join(format!("tollgate-deployment-{}.json", free_port()));
        dep.write(&path).unwrap();
        Chain {
            anvil,
            dep,
            admin,
            operator,
            operator_key: DEV_KEYS[2],
            file: TempPath(path),
        }
    }

    /// The gateway's `chain:` section; `extra` holds more of its lines, each indented by two
    /// spaces (`receipt_timeout`, `payouts`, …).
    pub fn yaml(&self, extra: &str) -> String {
        format!(
            "chain:\n  chain_id: {ANVIL_CHAIN_ID}\n  rpc_url: \"{}\"\n  deployment: \"{}\"\n  operator_key: \"${{{OPERATOR_ENV}}}\"\n  confirmations: 1\n{extra}",
            self.anvil.url(),
            self.file.0.display()
        )
    }

    /// The environment a gateway (or CLI) settling on this chain needs.
    pub fn env(&self) -> (String, String) {
        (OPERATOR_ENV.to_string(), self.operator_key.to_string())
    }

    pub async fn usdc_of(&self, who: Address) -> i64 {
        let b = self.admin.token_balance(self.dep.usdc, who).await.unwrap();
        i64::try_from(b).unwrap()
    }

    /// A JSON-RPC call to anvil (its test-only methods too).
    pub async fn rpc(&self, method: &'static str, params: Value) -> Value {
        self.admin
            .raw_request::<Value>(method, params)
            .await
            .unwrap()
    }

    pub async fn automine(&self, on: bool) {
        self.rpc("evm_setAutomine", json!([on])).await;
    }

    /// The admin pauses (or unpauses) a vault.
    pub async fn pause(&self, vault: Address, paused: bool) {
        let input = if paused {
            TreasuryVault::pauseCall {}.abi_encode()
        } else {
            TreasuryVault::unpauseCall {}.abi_encode()
        };
        let tx = TransactionRequest::default()
            .with_to(vault)
            .with_input(input);
        self.admin.send_and_confirm(tx).await.unwrap();
    }
}
