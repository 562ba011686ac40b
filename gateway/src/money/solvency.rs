//! Solvency, checked against the chain: the tokens the vaults hold, on every chain and in every
//! asset, must cover everything the ledger owes, and every credited top-up and deposit must
//! match an on-chain transfer of exactly that value to the vault of its chain and asset.
//!
//! - **Reserves**, per rail (asset on a chain): the TreasuryVault's tokens − what it owes users
//!   on-contract (`release`d, not yet withdrawn: `totalUserBalances`) + the PayoutVault's
//!   tokens, in micro-USD (`units / 10^(decimals − 6)`, rounded down). Raw token balances, not
//!   the vault's own pool counter: a top-up not yet recorded into the pool still backs a
//!   balance.
//! - **Liabilities** ([`tollgate_billing::ledger::Liabilities`]): buyer balances, provider
//!   earnings, platform fees, pending withdrawals and payouts. Balances are one number per
//!   wallet whatever the asset that paid them, so the books must be covered by the **sum** of
//!   the rails' reserves; in addition each rail must cover the withdrawals and payouts it alone
//!   will pay (those name their chain and asset).
//! - **Credits**: each credited x402 row is read back from its transaction (the transfer its
//!   EIP-3009 authorization or Permit2 settlement made must pay the rail's vault exactly the
//!   row's amount); each deposit row from its `Deposited` log (same buyer, same amount); each
//!   settled paid call from its settlement (the upto proxy's transfer of exactly the booked
//!   amount from the payer, for its Permit2 nonce, to the vault).
//!
//! Cost: reserves are three `eth_call`s per rail and liabilities one SQL statement (the gauge
//! runs that every minute). Verifying credits reads one receipt per credited row (Permit2 rows
//! also their transaction), 16 at a time: about 2 ms each against a local node.

use super::ids::{parse_deposit_id, parse_topup_id};
use super::onchain::{ChainSet, Method, OnChain};
use super::pay_per_call::admit::parse_paid_call_id;
use alloy::primitives::U256;
use std::sync::Arc;
use tokio::task::JoinSet;
use tollgate_billing::ledger::{ChainCredit, Ledger, Liabilities, SettledPaidCall};
use tollgate_billing::MicroUsdc;
use tollgate_chain::contracts::TreasuryVault;
use tollgate_chain::ChainError;

/// The tokens of one rail available to the ledger's obligations, micro-USD.
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

/// One rail's reserves and what it alone must still pay out.
#[derive(Debug, Clone)]
pub struct RailReserves {
    /// `"USDT on eip155:31338"`.
    pub rail: String,
    pub chain_id: u64,
    pub reserves: Reserves,
    /// Withdrawals and payouts debited here, to be executed by this rail's vaults.
    pub pending_out: MicroUsdc,
}

/// What one check found.
#[derive(Debug, Default)]
pub struct SolvencyReport {
    pub rails: Vec<RailReserves>,
    pub liabilities: Liabilities,
    pub credits_checked: u64,
    pub problems: Vec<String>,
}

impl SolvencyReport {
    /// Σ of every rail's available reserves.
    pub fn reserves(&self) -> MicroUsdc {
        self.rails.iter().map(|r| r.reserves.available()).sum()
    }

    /// Reserves minus liabilities: negative means the vaults cannot pay what the ledger owes.
    pub fn surplus(&self) -> MicroUsdc {
        self.reserves() - self.liabilities.total()
    }
}

/// Read one rail's vault holdings.
pub async fn reserves(chain: &OnChain) -> Result<Reserves, ChainError> {
    let client = chain.client().await?;
    let treasury = client
        .token_balance(chain.asset, chain.treasury_vault)
        .await?;
    let owed = client
        .call(
            chain.treasury_vault,
            TreasuryVault::totalUserBalancesCall {},
        )
        .await?;
    let payout = client
        .token_balance(chain.asset, chain.payout_vault)
        .await?;
    Ok(Reserves {
        treasury: chain.micro(treasury),
        owed_on_contract: chain.micro(owed),
        payout_vault: chain.micro(payout),
    })
}

/// Every rail's reserves against the liabilities only (cheap: the gauge).
pub async fn surplus(ledger: &Ledger, chains: &ChainSet) -> Result<MicroUsdc, String> {
    let liabilities = ledger.liabilities().await.map_err(|e| e.to_string())?;
    let mut total: MicroUsdc = 0;
    for rail in chains.all() {
        let r = reserves(rail)
            .await
            .map_err(|e| format!("{}: {e}", rail.describe()))?;
        total += r.available();
    }
    Ok(total - liabilities.total())
}

/// The whole check: reserves per rail, liabilities, and every credit against its transaction.
pub async fn check(ledger: &Ledger, chains: &ChainSet) -> Result<SolvencyReport, String> {
    let mut report = SolvencyReport {
        liabilities: ledger.liabilities().await.map_err(|e| e.to_string())?,
        ..SolvencyReport::default()
    };
    let pending = ledger.pending_out().await.map_err(|e| e.to_string())?;
    for rail in chains.all() {
        let r = reserves(rail)
            .await
            .map_err(|e| format!("{}: {e}", rail.describe()))?;
        let pending_out = pending
            .iter()
            .filter(|p| chains.owns(rail, p.chain_id, p.asset.as_deref()))
            .map(|p| p.withdrawals + p.payouts)
            .sum();
        if r.available() < pending_out {
            report.problems.push(format!(
                "{} holds {} micro-USD but must still pay out {pending_out} in withdrawals and payouts",
                rail.describe(),
                r.available()
            ));
        }
        report.rails.push(RailReserves {
            rail: rail.describe(),
            chain_id: rail.chain_id,
            reserves: r,
            pending_out,
        });
    }
    for p in &pending {
        if chains.for_row(p.chain_id, p.asset.as_deref()).is_none() {
            report.problems.push(format!(
                "{} micro-USD of withdrawals and payouts are pending on chain {:?} asset {:?}, which is not configured",
                p.withdrawals + p.payouts,
                p.chain_id,
                p.asset
            ));
        }
    }
    if report.surplus() < 0 {
        report.problems.push(format!(
            "the vaults of every chain hold {} micro-USD for the ledger's obligations but the ledger owes {} ({:?}): short by {}",
            report.reserves(),
            report.liabilities.total(),
            report.liabilities,
            -report.surplus()
        ));
    }
    let mut after = String::new();
    loop {
        let page = ledger
            .credited_chain_credits(&after, 512)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        let page = page
            .into_iter()
            .map(|r| ((r.id.clone(), r.chain_id, r.asset.clone()), r));
        verify_page(&mut report, chains, page, |rail, row| async move {
            verify(&rail, &row).await
        })
        .await;
    }
    let mut after = String::new();
    loop {
        let page = ledger
            .settled_paid_calls(&after, 512)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        let page = page
            .into_iter()
            .map(|r| ((r.id.clone(), Some(r.chain_id), Some(r.asset.clone())), r));
        verify_page(&mut report, chains, page, |rail, row| async move {
            verify_paid_call(&rail, &row).await
        })
        .await;
    }
    Ok(report)
}

/// Verify one page of rows (each with its chain and asset), 16 at a time.
async fn verify_page<R, F, Fut>(
    report: &mut SolvencyReport,
    chains: &ChainSet,
    page: impl Iterator<Item = ((String, Option<i64>, Option<String>), R)>,
    verify: F,
) where
    F: Fn(Arc<OnChain>, R) -> Fut,
    Fut: std::future::Future<Output = Option<String>> + Send + 'static,
    R: Clone,
{
    let page: Vec<_> = page.collect();
    for chunk in page.chunks(16) {
        let mut checks = JoinSet::new();
        for ((id, chain_id, asset), row) in chunk {
            let Some(rail) = chains.for_row(*chain_id, asset.as_deref()) else {
                report.credits_checked += 1;
                report.problems.push(format!(
                    "{id} was credited on chain {chain_id:?} asset {asset:?}, which is not configured"
                ));
                continue;
            };
            checks.spawn(verify(Arc::clone(rail), row.clone()));
        }
        while let Some(done) = checks.join_next().await {
            report.credits_checked += 1;
            if let Ok(Some(problem)) = done {
                report.problems.push(problem);
            }
        }
    }
}

/// `None` when a settled paid call's booked amount is what its settlement moved from the
/// payer to the rail's vault through x402's upto proxy; else what is wrong.
async fn verify_paid_call(chain: &OnChain, row: &SettledPaidCall) -> Option<String> {
    let Some((_, payer, nonce)) = parse_paid_call_id(&row.id)
        .filter(|(c, _, _)| i64::try_from(*c) == Ok(row.chain_id))
    else {
        return Some(format!("{}: unreadable id, or not of chain {}", row.id, row.chain_id));
    };
    let Some(tx) = row.tx_hash.as_deref().and_then(|t| t.parse().ok()) else {
        return Some(format!("{} is settled without a transaction", row.id));
    };
    let client = match chain.client().await {
        Ok(c) => c,
        Err(e) => return Some(format!("{}: cannot verify {tx:#x}: {e}", row.id)),
    };
    let moved = client
        .upto_transfer_in(tx, chain.asset, payer, nonce, chain.settings.confirmations)
        .await;
    match moved {
        Ok(Some(t)) if t.to == chain.treasury_vault && chain.micro(t.value) == row.amount => None,
        Ok(Some(t)) => Some(format!(
            "{} is settled for {} but {tx:#x} moved {} to {:#x}",
            row.id,
            row.amount,
            chain.micro(t.value),
            t.to
        )),
        Ok(None) => Some(format!(
            "{} is settled for {} but {tx:#x} moved nothing for it",
            row.id, row.amount
        )),
        Err(e) => Some(format!("{}: cannot verify {tx:#x}: {e}", row.id)),
    }
}

/// `None` when the credit matches what moved on chain; else what is wrong.
async fn verify(chain: &OnChain, row: &ChainCredit) -> Option<String> {
    let Some(tx) = row.tx_hash.as_deref().and_then(|t| t.parse().ok()) else {
        return Some(format!("{} is credited without a transaction", row.id));
    };
    let client = match chain.client().await {
        Ok(c) => c,
        Err(e) => return Some(format!("{}: cannot verify {tx:#x}: {e}", row.id)),
    };
    let (vault, confirmations) = (chain.treasury_vault, chain.settings.confirmations);
    let moved: Result<Option<(String, MicroUsdc)>, ChainError> = match row.kind.as_str() {
        "x402" => match parse_topup_id(&row.id) {
            None => return Some(format!("{}: unreadable id", row.id)),
            Some((payer, nonce)) => {
                let t = match chain.method {
                    Method::Eip3009(_) => {
                        client
                            .authorized_transfer_in(tx, chain.asset, payer, nonce, confirmations)
                            .await
                    }
                    Method::Permit2 => {
                        client
                            .permit2_transfer_in(
                                tx,
                                chain.asset,
                                payer,
                                U256::from_be_bytes(nonce.0),
                                confirmations,
                            )
                            .await
                    }
                };
                t.map(|t| {
                    t.filter(|t| t.to == vault)
                        .map(|t| (format!("{payer:#x}"), chain.micro(t.value)))
                })
            }
        },
        _ => match parse_deposit_id(&row.id) {
            None => return Some(format!("{}: unreadable id", row.id)),
            Some((_, index)) => client
                .find_deposit(vault, tx, confirmations)
                .await
                .map(|found| {
                    found
                        .iter()
                        .find(|d| d.position == index)
                        .map(|d| (format!("{:#x}", d.buyer), chain.micro(d.amount)))
                }),
        },
    };
    match moved {
        Ok(Some((wallet, amount))) if wallet == row.wallet && amount == row.amount_usdc => None,
        Ok(Some((wallet, amount))) => Some(format!(
            "{} credits {} to {} but {tx:#x} moved {amount} for {wallet}",
            row.id, row.amount_usdc, row.wallet
        )),
        Ok(None) => Some(format!(
            "{} credits {} to {} but {tx:#x} moved nothing to the {} vault for it",
            row.id,
            row.amount_usdc,
            row.wallet,
            chain.describe()
        )),
        Err(e) => Some(format!("{}: cannot verify {tx:#x}: {e}", row.id)),
    }
}
