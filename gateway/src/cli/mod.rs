//! Operator subcommands of `tollgate`: `migrate`, `credit`, `keys create`, `ledger check`,
//! `payouts run|cancel`, and `chain deploy-local` (which needs no config file).
//!
//! | module | commands |
//! | --- | --- |
//! | this file | the ledger commands and their dispatch |
//! | [`payouts`] | `payouts run`, `payouts cancel` |
//! | [`chain`] | `chain deploy-local` |

pub mod chain;
pub mod payouts;

use crate::config::Config;
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
}

#[derive(Subcommand)]
pub enum LedgerOp {
    /// Verify that the journal balances; exits 1 when it does not.
    Check,
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
            Op::Payouts { command } => payouts::run(config, &ledger, command).await,
            Op::Ledger { command: LedgerOp::Check } => match ledger.check().await {
                Ok(r) if r.problems.is_empty() => {
                    println!("ledger OK: {} transfers, {} accounts, every transfer sums to 0, every balance matches its entries", r.transfers, r.accounts);
                    ExitCode::SUCCESS
                }
                Ok(r) => {
                    for p in &r.problems {
                        println!("PROBLEM: {p}");
                    }
                    println!("ledger check FAILED: {} problems", r.problems.len());
                    ExitCode::FAILURE
                }
                Err(e) => fail(e),
            },
        }
    })
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("tollgate: {e}");
    ExitCode::FAILURE
}
