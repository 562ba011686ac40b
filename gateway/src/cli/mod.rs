//! Operator subcommands of `tollgate`: `migrate`, `credit`, `keys create|rotate-master`,
//! `ledger check`, `payouts run|cancel`; `chain deploy-local` (which needs no config file);
//! the provider side's `provider push` (which reads a provider file, not the gateway's); and
//! `prices import` (which reads the config file as written, secrets unresolved).
//!
//! | module | commands |
//! | --- | --- |
//! | this file | the ledger commands and their dispatch |
//! | [`payouts`] | `payouts run`, `payouts cancel` |
//! | [`chain`] | `chain deploy-local` |
//! | [`provider`] | `provider push` |
//! | [`prices`] | `prices import` |

pub mod chain;
pub mod payouts;
pub mod prices;
pub mod provider;

use crate::config::Config;
use crate::money::{solvency, ChainSet};
use clap::Subcommand;
use std::process::ExitCode;
use tollgate_billing::ledger::{random_hex, Ledger};
use tollgate_billing::Price;

/// The ledger subcommands of `tollgate` (flattened into its command line).
#[derive(Subcommand)]
pub enum Op {
    /// Apply the embedded database migrations.
    Migrate,
    /// Credit a wallet from the external account (a journal transfer), e.g. for a demo.
    Credit {
        #[arg(long)]
        wallet: String,
        /// Amount in USD (USDC), e.g. 5 or 0.25.
        #[arg(long)]
        usd: String,
        #[arg(long, default_value = "ops credit")]
        reason: String,
        /// Makes the credit happen at most once; a random key when omitted.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// API keys.
    Keys {
        #[command(subcommand)]
        command: KeysOp,
    },
    /// The ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerOp,
    },
    /// Provider payouts on chain (needs chain settlement).
    Payouts {
        #[command(subcommand)]
        command: payouts::PayoutsOp,
    },
}

#[derive(Subcommand)]
pub enum KeysOp {
    /// Create a key for a wallet; prints it once (only its SHA-256 is stored).
    Create {
        #[arg(long)]
        wallet: String,
        #[arg(long, default_value = "default")]
        label: String,
    },
    /// Re-seal every marketplace upstream key under `marketplace.master_key`, opening rows
    /// sealed under one of `marketplace.previous_master_keys`.
    RotateMaster,
}

#[derive(Subcommand)]
pub enum LedgerOp {
    /// Verify that the journal balances; exits 1 when it does not.
    Check {
        /// Also check the books against the chain: the vaults' USDC covers every balance,
        /// unpaid earning, fee and pending withdrawal or payout, and every credited top-up and
        /// deposit matches an on-chain transfer of exactly its value (needs chain settlement).
        #[arg(long)]
        chain: bool,
    },
}

pub fn run(config: &Config, op: Op) -> ExitCode {
    let Some(lc) = &config.billing.ledger else {
        eprintln!("this command needs the Postgres ledger: set billing.sink: postgres and billing.database_url");
        return ExitCode::FAILURE;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let ledger = match Ledger::connect(lc.database_url.expose(), 2).await {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        if !matches!(op, Op::Migrate) {
            if let Err(e) = ledger.ensure_migrated().await {
                return fail(e);
            }
        }
        match op {
            Op::Migrate => match ledger.migrate().await {
                Ok(applied) if applied.is_empty() => {
                    println!("database is up to date");
                    ExitCode::SUCCESS
                }
                Ok(applied) => {
                    println!("applied migrations: {}", applied.join(", "));
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            },
            Op::Credit { wallet, usd, reason, idempotency_key } => {
                let amount = match Price::parse_usd(&usd) {
                    Ok(p) if p.micros_per_million() > 0 => p.micros_per_million() as i64,
                    _ => {
                        eprintln!("--usd {usd:?}: expected a positive amount with at most 6 decimals");
                        return ExitCode::FAILURE;
                    }
                };
                let key = match idempotency_key {
                    Some(k) => k,
                    None => match random_hex(16) {
                        Ok(r) => format!("credit:{r}"),
                        Err(e) => return fail(e),
                    },
                };
                match ledger.credit(&wallet, amount, "credit", &key, &reason).await {
                    Ok(r) => {
                        let verb = if r.applied { "credited" } else { "already credited (same idempotency key)" };
                        println!("{verb} {amount} micro-USDC to {}; balance {} micro-USDC (transfer {})", wallet.to_lowercase(), r.balance, r.transfer_id);
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(e),
                }
            }
            Op::Keys { command: KeysOp::Create { wallet, label } } => match ledger.create_api_key(&wallet, &label).await {
                Ok(k) => {
                    eprintln!("created key {} for {} (label {:?}); it is shown once:", k.id, k.wallet, k.label);
                    println!("{}", k.key);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            },
            Op::Keys { command: KeysOp::RotateMaster } => rotate_master(config, &ledger).await,
            Op::Payouts { command } => payouts::run(config, &ledger, command).await,
            Op::Ledger { command: LedgerOp::Check { chain } } => {
                let books = match ledger.check().await {
                    Ok(r) if r.problems.is_empty() => {
                        println!("ledger OK: {} transfers, {} accounts, every transfer sums to 0, every balance matches its entries", r.transfers, r.accounts);
                        true
                    }
                    Ok(r) => {
                        for p in &r.problems {
                            println!("PROBLEM: {p}");
                        }
                        println!("ledger check FAILED: {} problems", r.problems.len());
                        false
                    }
                    Err(e) => return fail(e),
                };
                let solvent = !chain || check_chain(config, &ledger).await;
                if books && solvent { ExitCode::SUCCESS } else { ExitCode::FAILURE }
            }
        }
    })
}

/// `keys rotate-master`: every sealed key not under the current master key is opened with
/// the previous key it names and sealed again under the current one.
async fn rotate_master(config: &Config, ledger: &Ledger) -> ExitCode {
    let Some(m) = &config.marketplace else {
        eprintln!("keys rotate-master needs the marketplace: section (master_key)");
        return ExitCode::FAILURE;
    };
    let previous: Vec<String> = m
        .previous_master_keys
        .iter()
        .map(|k| k.expose().to_string())
        .collect();
    let keys = match crate::market::sealed::Keyring::from_hex(m.master_key.expose(), &previous) {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    let rows = match ledger.sealed_keys().await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let (mut moved, mut current, mut failed) = (0, 0, 0);
    for (id, sealed, master_id) in rows {
        if master_id == keys.current.id() {
            current += 1;
            continue;
        }
        match keys.open(&id, &sealed, &master_id) {
            Ok(secret) => {
                let again = keys.current.seal(&id, &secret);
                match ledger
                    .reseal_key(&id, &sealed, &again, keys.current.id())
                    .await
                {
                    Ok(_) => moved += 1,
                    Err(e) => return fail(e),
                }
            }
            Err(e) => {
                eprintln!("upstream {id}: {e}");
                failed += 1;
            }
        }
    }
    println!(
        "re-sealed {moved} upstream keys under master key {}; {current} already were; {failed} could not be opened",
        keys.current.id()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("tollgate: {e}");
    ExitCode::FAILURE
}

/// `ledger check --chain`: prints the reserves, the obligations and every credit that does not
/// match the chain; true when solvent and every credit matches.
async fn check_chain(config: &Config, ledger: &Ledger) -> bool {
    let Some(chains) = ChainSet::from_config(config) else {
        eprintln!("--chain needs on-chain settlement (chain: rpc_url, operator_key, contracts)");
        return false;
    };
    let r = match solvency::check(ledger, &chains).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tollgate: chain check failed to run: {e}");
            return false;
        }
    };
    let l = &r.liabilities;
    for rail in &r.rails {
        let res = &rail.reserves;
        println!(
            "reserves in {}: {} micro-USD (TreasuryVault {} − owed on contract {} + PayoutVault {}); pending out {}",
            rail.rail,
            res.available(),
            res.treasury,
            res.owed_on_contract,
            res.payout_vault,
            rail.pending_out
        );
    }
    println!(
        "reserves: {} micro-USD on every chain and asset",
        r.reserves()
    );
    println!(
        "owed: {} micro-USD (buyers {}, providers {}, fees {}, pending withdrawals {}, pending payouts {})",
        l.total(),
        l.buyers,
        l.providers,
        l.platform_fees,
        l.pending_withdrawals,
        l.pending_payouts
    );
    println!(
        "surplus: {} micro-USD; {} credits checked against the chain",
        r.surplus(),
        r.credits_checked
    );
    for p in &r.problems {
        println!("PROBLEM: {p}");
    }
    if r.problems.is_empty() {
        println!("chain check OK: the vaults cover the ledger and every credit matches what moved");
        true
    } else {
        println!("chain check FAILED: {} problems", r.problems.len());
        false
    }
}
