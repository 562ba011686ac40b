//! Money in through `TreasuryVault.deposit`: a deposit is already on chain when it is reported,
//! so it is verified from the receipt and credited in one step, once per log.

use super::ids;
use super::onchain::OnChain;
use alloy::primitives::TxHash;
use tollgate_billing::ledger::{Ledger, LedgerError};
use tollgate_billing::MicroUsdc;
use tollgate_chain::contracts::Deposit;
use tollgate_chain::ChainError;

/// One `Deposited` log of a reported transaction.
#[derive(Debug)]
pub struct CreditedLog {
    /// Its position among the transaction's logs (its identity).
    pub position: u64,
    pub log_index: u64,
    pub amount: MicroUsdc,
    /// False when this log had been credited before (nothing moved this time).
    pub newly_credited: bool,
}

/// What crediting a reported deposit did.
#[derive(Debug)]
pub struct DepositCredited {
    pub credited: MicroUsdc,
    pub balance: MicroUsdc,
    pub logs: Vec<CreditedLog>,
}

#[derive(Debug)]
pub enum DepositRefused {
    /// Reading the transaction failed (not found, not confirmed, reverted, not the vault, RPC).
    Chain(ChainError),
    /// The transaction's deposits belong to another wallet.
    NotYours,
    /// A log's amount does not fit the ledger.
    OutOfRange,
    Ledger(LedgerError),
}

impl From<LedgerError> for DepositRefused {
    fn from(e: LedgerError) -> Self {
        DepositRefused::Ledger(e)
    }
}

/// Credit `caller`'s `Deposited` logs in `tx_hash`, emitted by the vault of any of `rails`
/// (the assets of one chain); logs of other wallets are left to them.
pub async fn credit_reported(
    ledger: &Ledger,
    rails: &[&OnChain],
    tx_hash: TxHash,
    caller: &str,
) -> Result<DepositCredited, DepositRefused> {
    let mut done: Option<DepositCredited> = None;
    let mut anyone = false;
    let mut not_found = None;
    for chain in rails {
        let client = chain.client().await.map_err(DepositRefused::Chain)?;
        let found = match client
            .find_deposit(chain.treasury_vault, tx_hash, chain.settings.confirmations)
            .await
        {
            Ok(f) => f,
            Err(e @ ChainError::NotFromVault { .. }) => {
                not_found = Some(e);
                continue;
            }
            Err(e) => return Err(DepositRefused::Chain(e)),
        };
        anyone = true;
        let mine: Vec<_> = found
            .iter()
            .filter(|d| format!("{:#x}", d.buyer) == caller)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let r = credit_logs(ledger, chain, &mine).await?;
        done = Some(match done {
            None => r,
            Some(mut d) => {
                d.credited += r.credited;
                d.balance = r.balance;
                d.logs.extend(r.logs);
                d
            }
        });
    }
    match (done, anyone) {
        (Some(d), _) => Ok(d),
        (None, true) => Err(DepositRefused::NotYours),
        (None, false) => Err(DepositRefused::Chain(
            not_found.unwrap_or(ChainError::TxNotFound(tx_hash)),
        )),
    }
}

/// Credit `Deposited` logs read from their transaction's receipt (deep enough already), each
/// once, keyed by transaction and position ([`ids::deposit_id`]).
pub async fn credit_logs(
    ledger: &Ledger,
    chain: &OnChain,
    logs: &[&Deposit],
) -> Result<DepositCredited, DepositRefused> {
    let mut done = DepositCredited {
        credited: 0,
        balance: 0,
        logs: Vec::new(),
    };
    for d in logs {
        let amount = chain.micro(d.amount);
        if amount <= 0 || amount == MicroUsdc::MAX {
            return Err(DepositRefused::OutOfRange);
        }
        let id = ids::deposit_id(chain, d.tx_hash, d.position);
        let wallet = format!("{:#x}", d.buyer);
        let r = ledger
            .credit_deposit(
                &id,
                &wallet,
                amount,
                &format!("{:#x}", d.tx_hash),
                &chain.rail(),
            )
            .await?;
        if r.applied {
            done.credited += amount;
        }
        done.balance = r.balance;
        done.logs.push(CreditedLog {
            position: d.position,
            log_index: d.log_index,
            amount,
            newly_credited: r.applied,
        });
    }
    Ok(done)
}
