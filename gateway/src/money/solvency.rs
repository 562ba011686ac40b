//! Solvency, checked against the chain: the USDC the vaults hold must cover everything the
//! ledger owes, and every credited top-up and deposit must match an on-chain transfer of
//! exactly that value to the vault.
//!
//! - **Reserves** = the TreasuryVault's USDC − what it owes users on-contract (`release`d,
//!   not yet withdrawn: `totalUserBalances`) + the PayoutVault's USDC. Raw token balances, not
//!   the vault's own pool counter: a top-up not yet recorded into the pool still backs a
//!   balance.
//! - **Liabilities** ([`tollgate_billing::ledger::Liabilities`]): buyer balances, provider
//!   earnings, platform fees, pending withdrawals and payouts.
//! - **Credits**: each credited x402 row is read back from its transaction (the transfer its
//!   authorization made must pay the vault exactly the row's amount); each deposit row from its
//!   `Deposited` log (same buyer, same amount).
//!
//! Cost: reserves and liabilities are three `eth_call`s and one SQL statement (the gauge runs
//! that every minute). Verifying credits reads one receipt per credited row, 16 at a time:
//! about 2 ms each against a local node, so ~30 minutes per million credits against a
//! hosted RPC at ~1,000 requests/s.

use super::ids::{parse_deposit_id, parse_topup_id};
use super::onchain::OnChain;
use alloy::primitives::U256;
use tokio::task::JoinSet;
use tollgate_billing::ledger::{ChainCredit, Ledger, Liabilities};
use tollgate_billing::MicroUsdc;
use tollgate_chain::contracts::TreasuryVault;
use tollgate_chain::{ChainClient, ChainError};

/// The USDC available to the ledger's obligations, micro-USDC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reserves {
    pub treasury: MicroUsdc,
    /// Owed by the TreasuryVault to users directly (`release`d to them, not yet withdrawn).
    pub owed_on_contract: MicroUsdc,
    pub payout_vault: MicroUsdc,
}

impl Reserves {
    pub fn available(&self) -> MicroUsdc {
        self.treasury - self.owed_on_contract + self.payout_vault
    }
}

/// What one check found.
#[derive(Debug, Default)]
pub struct SolvencyReport {
    pub reserves: Reserves,
    pub liabilities: Liabilities,
    pub credits_checked: u64,
    pub problems: Vec<String>,
}

impl SolvencyReport {
    /// Reserves minus liabilities: negative means the vaults cannot pay what the ledger owes.
    pub fn surplus(&self) -> MicroUsdc {
        self.reserves.available() - self.liabilities.total()
    }
}

fn micro(v: U256) -> MicroUsdc {
    MicroUsdc::try_from(v).unwrap_or(MicroUsdc::MAX)
}

/// Read the vaults' holdings.
pub async fn reserves(chain: &OnChain) -> Result<Reserves, ChainError> {
    let client = chain.client().await?;
    let treasury = client
        .token_balance(chain.usdc, chain.treasury_vault)
        .await?;
    let owed = client
        .call(
            chain.treasury_vault,
            TreasuryVault::totalUserBalancesCall {},
        )
        .await?;
    let payout = client.token_balance(chain.usdc, chain.payout_vault).await?;
    Ok(Reserves {
        treasury: micro(treasury),
        owed_on_contract: micro(owed),
        payout_vault: micro(payout),
    })
}

/// Reserves against liabilities only (cheap: the gauge).
pub async fn surplus(ledger: &Ledger, chain: &OnChain) -> Result<MicroUsdc, String> {
    let liabilities = ledger.liabilities().await.map_err(|e| e.to_string())?;
    let reserves = reserves(chain).await.map_err(|e| e.to_string())?;
    Ok(reserves.available() - liabilities.total())
}

/// The whole check: reserves, liabilities, and every credit against its transaction.
pub async fn check(ledger: &Ledger, chain: &OnChain) -> Result<SolvencyReport, String> {
    let mut report = SolvencyReport {
        liabilities: ledger.liabilities().await.map_err(|e| e.to_string())?,
        reserves: reserves(chain).await.map_err(|e| e.to_string())?,
        ..SolvencyReport::default()
    };
    if report.surplus() < 0 {
        report.problems.push(format!(
            "the vaults hold {} micro-USDC for the ledger's obligations but the ledger owes {} ({:?}): short by {}",
            report.reserves.available(),
            report.liabilities.total(),
            report.liabilities,
            -report.surplus()
        ));
    }
    let client = chain.client().await.map_err(|e| e.to_string())?.clone();
    let mut after = String::new();
    loop {
        let page = ledger
            .credited_chain_credits(&after, 512)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        for chunk in page.chunks(16) {
            let mut checks = JoinSet::new();
            for row in chunk {
                let (client, row, facts) = (client.clone(), row.clone(), Facts::of(chain));
                checks.spawn(async move { verify(&client, &row, facts).await });
            }
            while let Some(done) = checks.join_next().await {
                report.credits_checked += 1;
                if let Ok(Some(problem)) = done {
                    report.problems.push(problem);
                }
            }
        }
    }
    Ok(report)
}

/// What a verification needs of the chain configuration (copied into each task).
#[derive(Clone, Copy)]
struct Facts {
    usdc: alloy::primitives::Address,
    vault: alloy::primitives::Address,
    confirmations: u64,
}

impl Facts {
    fn of(chain: &OnChain) -> Facts {
        Facts {
            usdc: chain.usdc,
            vault: chain.treasury_vault,
            confirmations: chain.settings.confirmations,
        }
    }
}

/// `None` when the credit matches what moved on chain; else what is wrong.
async fn verify(client: &ChainClient, row: &ChainCredit, f: Facts) -> Option<String> {
    let Some(tx) = row.tx_hash.as_deref().and_then(|t| t.parse().ok()) else {
        return Some(format!("{} is credited without a transaction", row.id));
    };
    let moved: Result<Option<(String, MicroUsdc)>, ChainError> = match row.kind.as_str() {
        "x402" => match parse_topup_id(&row.id) {
            None => return Some(format!("{}: unreadable id", row.id)),
            Some((payer, nonce)) => client
                .authorized_transfer_in(tx, f.usdc, payer, nonce, f.confirmations)
                .await
                .map(|t| {
                    t.filter(|t| t.to == f.vault)
                        .map(|t| (format!("{payer:#x}"), micro(t.value)))
                }),
        },
        _ => match parse_deposit_id(&row.id) {
            None => return Some(format!("{}: unreadable id", row.id)),
            Some((_, index)) => {
                client
                    .find_deposit(f.vault, tx, f.confirmations)
                    .await
                    .map(|found| {
                        found
                            .iter()
                            .find(|d| d.position == index)
                            .map(|d| (format!("{:#x}", d.buyer), micro(d.amount)))
                    })
            }
        },
    };
    match moved {
        Ok(Some((wallet, amount))) if wallet == row.wallet && amount == row.amount_usdc => None,
        Ok(Some((wallet, amount))) => Some(format!(
            "{} credits {} to {} but {tx:#x} moved {amount} for {wallet}",
            row.id, row.amount_usdc, row.wallet
        )),
        Ok(None) => Some(format!(
            "{} credits {} to {} but {tx:#x} moved nothing to the vault for it",
            row.id, row.amount_usdc, row.wallet
        )),
        Err(e) => Some(format!("{}: cannot verify {tx:#x}: {e}", row.id)),
    }
}
