//! Money out to buyers: `TreasuryVault.operatorWithdraw(wallet, amount, withdrawalId)`.
//!
//! [`withdraw`]: one transaction locks the wallet row, checks available = balance − leased ≥
//! amount, writes the `withdrawals` row and debits the wallet — before anything is sent. Then:
//! - confirmed → paid;
//! - refused before submission or mined reverted (paused vault, empty pool, RPC down before
//!   sending) → the debit is reversed, the row `failed`;
//! - outcome unknown (sent, no receipt in time) → left `pending` for [`reconcile`] (executed →
//!   paid, else reversed once nothing of ours can still carry it).

use super::ids;
use super::onchain::{ChainSet, OnChain};
use alloy::providers::Provider;
use alloy_primitives::{Address, TxHash, B256};
use std::str::FromStr;
use std::time::Duration;
use tollgate_billing::ledger::{random_hex, Ledger, LedgerError};
use tollgate_billing::MicroUsdc;
use tollgate_chain::client::redact_urls_in;
use tollgate_chain::{ChainClient, ChainError};

/// How a withdrawal ended (as far as this request can tell).
#[derive(Debug)]
pub enum Withdrawn {
    /// Executed on chain (`tx_hash` is `None` when an earlier attempt's outcome was lost).
    Paid { tx_hash: Option<String> },
    /// Sent, not confirmed yet: completed or credited back by the reconciler.
    Pending {
        tx_hash: Option<String>,
        why: String,
    },
}

/// A withdrawal with its id and the balance after the debit.
#[derive(Debug)]
pub struct Withdrawal {
    pub id: String,
    pub amount: MicroUsdc,
    pub balance: MicroUsdc,
    pub state: Withdrawn,
}

#[derive(Debug)]
pub enum WithdrawRefused {
    /// The chosen chain's vault holds less than the amount for withdrawals (nothing was
    /// debited): withdraw less, or on another chain.
    VaultShort {
        available: MicroUsdc,
        rail: String,
    },
    /// Available balance too low (nothing was debited).
    Insufficient {
        available: MicroUsdc,
        locked: MicroUsdc,
        balance: MicroUsdc,
    },
    /// The chain refused or could not be reached before sending; the amount is back in the
    /// balance when `reversed`. `unavailable`: a condition that may pass (paused, empty pool,
    /// RPC down) rather than an error.
    NotPaid {
        id: String,
        error: ChainError,
        reversed: bool,
        unavailable: bool,
    },
    Ledger(LedgerError),
}

impl From<LedgerError> for WithdrawRefused {
    fn from(e: LedgerError) -> Self {
        WithdrawRefused::Ledger(e)
    }
}

/// How long after its last update a pending withdrawal can no longer be in a live request's
/// hands (estimate + submit retries + the receipt wait).
pub fn grace(chain: &OnChain) -> Duration {
    chain.settings.receipt_timeout + Duration::from_secs(60)
}

/// True when `e` proves nothing was submitted (so the withdrawal cannot execute later).
fn not_sent(e: &ChainError) -> bool {
    match e {
        ChainError::Rpc { op, .. } => {
            matches!(*op, "eth_estimateGas" | "fill transaction" | "eth_chainId")
        }
        ChainError::ConfirmationTimeout { .. } => false,
        // Mined and failed: it did not execute and that transaction never will.
        ChainError::TxReverted { .. } => true,
        // Everything else is found before submission (estimate reverts, keys, encoding).
        _ => true,
    }
}

/// Withdraw `amount` of `wallet`'s available balance to the wallet itself, in `chain`'s asset
/// from its TreasuryVault (at most what that vault's pool holds).
pub async fn withdraw(
    ledger: &Ledger,
    chain: &OnChain,
    wallet: &str,
    amount: MicroUsdc,
) -> Result<Withdrawal, WithdrawRefused> {
    let to = Address::from_str(wallet)
        .map_err(|_| LedgerError::Invalid(format!("{wallet:?} is not an address")))?;
    let mut nonce = [0u8; 32];
    hex::decode_to_slice(random_hex(32)?, &mut nonce).expect("32 random bytes in hex");
    let id = ids::withdrawal_id(to, &nonce);
    let id_text = format!("{id:#x}");

    // More than the wallet has is the first thing to say (the debit below decides for real;
    // this read only orders the answers: a balance question before a vault question).
    let held = ledger.wallet_balance(wallet).await?;
    if amount > held.available() {
        return Err(WithdrawRefused::Insufficient {
            available: held.available().max(0),
            locked: held.locked,
            balance: held.balance,
        });
    }
    // Up to this chain's reserves: the vault refuses more anyway, but say so before debiting.
    // (An unreachable chain is found again below and answered there.)
    if let Ok(client) = chain.client().await {
        if let Ok(pool) = client.pool_balance(chain.treasury_vault).await {
            if pool < chain.units(amount) {
                return Err(WithdrawRefused::VaultShort {
                    available: chain.micro(pool),
                    rail: chain.describe(),
                });
            }
        }
    }
    let opened = match ledger
        .open_withdrawal(wallet, amount, &id_text, &chain.rail())
        .await?
    {
        Ok(o) => o,
        Err(short) => {
            return Err(WithdrawRefused::Insufficient {
                available: short.available(),
                locked: short.locked,
                balance: short.balance,
            })
        }
    };
    let done = |state| Withdrawal {
        id: id_text.clone(),
        amount,
        balance: opened.balance,
        state,
    };
    let sent = match chain.client().await {
        Ok(client) => {
            client
                .operator_withdraw(chain.treasury_vault, to, chain.units(amount), id)
                .await
        }
        Err(e) => Err(e),
    };
    match sent {
        Ok(tx) => {
            let tx = format!("{tx:#x}");
            ledger.mark_withdrawal_paid(&id_text, Some(&tx)).await?;
            Ok(done(Withdrawn::Paid { tx_hash: Some(tx) }))
        }
        Err(ChainError::WithdrawalAlreadyExecuted(_)) => {
            ledger.mark_withdrawal_paid(&id_text, None).await?;
            Ok(done(Withdrawn::Paid { tx_hash: None }))
        }
        Err(e) if not_sent(&e) => {
            log::warn!("withdrawal {id_text} of {amount} to {wallet} failed on chain: {e}");
            let failed = ledger.fail_withdrawal(&id_text, &e.client_text()).await?;
            let unavailable = matches!(
                e,
                ChainError::Paused | ChainError::VaultInsufficient { .. } | ChainError::Rpc { .. }
            );
            Err(WithdrawRefused::NotPaid {
                id: id_text,
                error: e,
                reversed: failed.is_some(),
                unavailable,
            })
        }
        Err(e) => {
            // Sent, but the receipt did not come in time: the reconciler settles it.
            let tx = match &e {
                ChainError::ConfirmationTimeout { tx_hash, .. } => Some(format!("{tx_hash:#x}")),
                _ => None,
            };
            if let Some(tx) = &tx {
                ledger.note_withdrawal_sent(&id_text, tx).await?;
            }
            log::warn!(
                "withdrawal {id_text}: outcome unknown ({e}); left pending for the reconciler"
            );
            Ok(done(Withdrawn::Pending {
                tx_hash: tx,
                why: e.client_text(),
            }))
        }
    }
}

/// Can a transaction of ours still execute something? With the hash known: the node has it
/// and it is not mined. Without: the operator has transactions the node has not mined yet.
/// Checked BEFORE reading the executed flag, so "not in flight, then not executed" means it
/// never will be (on this node's view; a transaction dropped from every mempool is gone).
pub async fn in_flight(client: &ChainClient, tx_hash: Option<&str>) -> Result<bool, String> {
    let p = client.provider();
    match tx_hash.map(TxHash::from_str) {
        Some(Ok(h)) => {
            let tx = p.get_transaction_by_hash(h).await.map_err(|e| {
                format!(
                    "eth_getTransactionByHash: {}",
                    redact_urls_in(&e.to_string())
                )
            })?;
            Ok(tx.is_some_and(|t| t.block_number.is_none()))
        }
        _ => {
            let a = client.address();
            let pending = p.get_transaction_count(a).pending().await.map_err(|e| {
                format!(
                    "eth_getTransactionCount: {}",
                    redact_urls_in(&e.to_string())
                )
            })?;
            let latest = p.get_transaction_count(a).latest().await.map_err(|e| {
                format!(
                    "eth_getTransactionCount: {}",
                    redact_urls_in(&e.to_string())
                )
            })?;
            Ok(pending > latest)
        }
    }
}

/// What reconciling stale withdrawals did, by id.
#[derive(Debug, Default)]
pub struct Reconciled {
    pub paid: Vec<String>,
    pub reversed: Vec<String>,
    pub pending: Vec<String>,
}

/// Settle `chain`'s withdrawals left `pending` for longer than [`grace`].
pub async fn reconcile(
    ledger: &Ledger,
    chains: &ChainSet,
    chain: &OnChain,
    client: &ChainClient,
    out: &mut Reconciled,
) -> Result<(), String> {
    let stale = ledger
        .stale_withdrawals(grace(chain))
        .await
        .map_err(|e| e.to_string())?;
    for w in stale {
        if !chains.owns(chain, w.chain_id, w.asset.as_deref()) {
            continue;
        }
        let id = B256::from_str(&w.withdrawal_id)
            .map_err(|e| format!("bad id {:?} in the ledger: {e}", w.withdrawal_id))?;
        let flying = match in_flight(client, w.tx_hash.as_deref()).await {
            Ok(f) => f,
            Err(e) => {
                log::warn!("withdrawal {}: {e}", w.withdrawal_id);
                out.pending.push(w.withdrawal_id);
                continue;
            }
        };
        match client.executed_withdrawal(chain.treasury_vault, id).await {
            Ok(true) => {
                ledger
                    .mark_withdrawal_paid(&w.withdrawal_id, None)
                    .await
                    .map_err(|e| e.to_string())?;
                log::info!("withdrawal {} executed on chain: paid", w.withdrawal_id);
                out.paid.push(w.withdrawal_id);
            }
            Ok(false) if !flying => {
                ledger
                    .fail_withdrawal(&w.withdrawal_id, "not executed on chain (reconciled)")
                    .await
                    .map_err(|e| e.to_string())?;
                log::warn!("withdrawal {} never executed: reversed", w.withdrawal_id);
                out.reversed.push(w.withdrawal_id);
            }
            Ok(false) => out.pending.push(w.withdrawal_id),
            Err(e) => {
                log::warn!("withdrawal {}: {e}", w.withdrawal_id);
                out.pending.push(w.withdrawal_id);
            }
        }
    }
    Ok(())
}
