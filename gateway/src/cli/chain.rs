//! `tollgate chain deploy-local`: MockUSDC + PayoutVault + TreasuryVault on a local chain
//! (anvil) for the demo and the tests, written to a JSON file that `chain.deployment` reads.
//! It needs no config file: the deployment is what the config will point at.

use alloy::primitives::{Address, U256};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use tollgate_chain::deploy::{deploy_local, DeployOptions};

#[derive(Subcommand)]
pub enum ChainOp {
    /// Deploy MockUSDC and both vaults to a local chain; the deployer is every role's holder
    /// unless --operator says otherwise. Never for a real network (MockUSDC mints freely).
    DeployLocal {
        /// JSON-RPC URL, e.g. http://127.0.0.1:8545.
        #[arg(long)]
        rpc: String,
        /// Environment variable holding the deployer's hex private key (default: anvil's
        /// first dev account, whose key is public).
        #[arg(long)]
        deployer_key_env: Option<String>,
        /// Operator of both vaults (the gateway's `chain.operator_key` address).
        #[arg(long)]
        operator: Option<String>,
        /// Mint demo USDC (and USDT with --usdt): ADDRESS=USD, repeatable.
        #[arg(long = "mint")]
        mints: Vec<String>,
        /// Also deploy a MockUSDT with these decimals (paid through Permit2) and its own vaults,
        /// and place Permit2 and the x402 Permit2 proxies at their canonical addresses.
        #[arg(long = "usdt", value_name = "DECIMALS")]
        usdt_decimals: Option<u8>,
        /// Where to write the deployment JSON.
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(op: ChainOp) -> ExitCode {
    let ChainOp::DeployLocal {
        rpc,
        deployer_key_env,
        operator,
        mints,
        usdt_decimals,
        out,
    } = op;
    let key = match deployer_key_env {
        Some(name) => match std::env::var(&name) {
            Ok(k) => k,
            Err(_) => {
                eprintln!("environment variable {name} is not set");
                return ExitCode::FAILURE;
            }
        },
        None => tollgate_chain::anvil::DEV_KEYS[0].to_string(),
    };
    let mut options = DeployOptions {
        usdt_decimals,
        ..DeployOptions::default()
    };
    if let Some(op) = operator {
        match Address::from_str(&op) {
            Ok(a) => {
                options.treasury_operator = Some(a);
                options.payout_operator = Some(a);
            }
            Err(_) => {
                eprintln!("--operator {op:?} is not an address");
                return ExitCode::FAILURE;
            }
        }
    }
    for m in &mints {
        let parsed = m.split_once('=').and_then(|(a, usd)| {
            let to = Address::from_str(a).ok()?;
            let micro = tollgate_billing::Price::parse_usd(usd)
                .ok()?
                .micros_per_million();
            Some((to, U256::from(micro)))
        });
        match parsed {
            Some(p) => options.mint.push(p),
            None => {
                eprintln!("--mint {m:?}: expected ADDRESS=USD, e.g. 0xabc…=100");
                return ExitCode::FAILURE;
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(deploy_local(&rpc, &key, &options)) {
        Ok(d) => {
            if let Err(e) = d.write(&out) {
                eprintln!("cannot write {}: {e}", out.display());
                return ExitCode::FAILURE;
            }
            println!(
                "deployed on chain {}: USDC {:#x}, TreasuryVault {:#x}, PayoutVault {:#x} → {}",
                d.chain_id,
                d.usdc,
                d.treasury_vault,
                d.payout_vault,
                out.display()
            );
            for a in &d.assets {
                println!(
                    "  and {} ({} decimals, {}) {:#x}, TreasuryVault {:#x}, PayoutVault {:#x}",
                    a.symbol, a.decimals, a.transfer, a.address, a.treasury_vault, a.payout_vault
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("deployment failed: {e}");
            ExitCode::FAILURE
        }
    }
}
