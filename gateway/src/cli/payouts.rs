//! `tollgate payouts run|cancel`: the payout engine ([`crate::money::payouts`]) from the
//! command line.

use crate::config::Config;
use crate::money::payouts::{self, Scope, CLI_LOCK_WAIT};
use crate::money::ChainSet;
use std::process::ExitCode;
use tollgate_billing::ledger::Ledger;

/// The `payouts` subcommands of `tollgate`.
#[derive(clap::Subcommand)]
pub enum PayoutsOp {
    /// Reconcile pending payouts and withdrawals, then pay every provider that is due. Exits 1
    /// when something is left pending (it is retried by the next run).
    Run,
    /// Give up a pending payout (earnings go back to the provider): only when the batch has not
    /// executed on chain and no operator transaction is pending.
    Cancel {
        /// The batch id (0x…).
        batch: String,
        #[arg(long, default_value = "cancelled by the operator")]
        reason: String,
    },
}

/// Run a `payouts` subcommand (from [`super::run`], inside its runtime).
pub async fn run(config: &Config, ledger: &Ledger, op: PayoutsOp) -> ExitCode {
    let Some(chains) = ChainSet::from_config(config) else {
        eprintln!(
            "on-chain settlement is not configured (chain: rpc_url, operator_key, contracts)"
        );
        return ExitCode::FAILURE;
    };
    match op {
        PayoutsOp::Run => match payouts::run(
            ledger,
            &chains,
            &payouts::payees(config),
            Scope::Payouts,
            CLI_LOCK_WAIT,
        )
        .await
        {
            Ok(r) => {
                print!("{}", r.render());
                if r.settled() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("tollgate: payout run failed: {e}");
                ExitCode::FAILURE
            }
        },
        PayoutsOp::Cancel { batch, reason } => {
            match payouts::cancel(ledger, &chains, &batch, &reason).await {
                Ok(m) => {
                    println!("{m}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tollgate: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
