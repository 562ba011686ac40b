//! Finishes money-in rows a crash or an outage left unfinished, from what the chain says —
//! and credits only what moved on chain, read from the transaction that moved it:
//!
//! - an x402 top-up `pending` with a tx hash: once its receipt is `confirmations` deep, the
//!   transfer the authorization made in it is credited ([`credit_transfer`]: its value, if it
//!   paid the vault); a receipt without it (reverted, or it lost the race) falls through to:
//! - `authorizationState` used → the transaction whose `AuthorizationUsed` log names the payer
//!   and nonce (whoever sent it) is read the same way; used without such a log for longer than
//!   a receipt could take → canceled by the payer, failed; a transaction of ours still in the
//!   mempool → wait (a node may report pending state); unused and older than the authorization
//!   could live → failed (nothing moved); unused and young → wait;
//! - an x402 top-up credited but not yet counted by the vault → `recordTopUp`;
//! - a deposit `pending` (crash between insert and credit) → its `Deposited` log is read again
//!   and credited;
//! - a Permit2 top-up `pending` → [`crate::money::topup_permit2::reconcile_pending`] (the same
//!   decisions on Permit2's nonce and the proxy settlement that used it).
//!
//! Each row is finished on the rail (chain and asset) it names.
//!
//! Runs at start-up and then periodically ([`CreditReconciler`]); every action is idempotent.

use crate::money::ids::{parse_deposit_id, parse_topup_id};
use crate::money::topup::{credit_transfer, record_top_up, TopUpRefused, LOOKBACK_BLOCKS};
use crate::money::topup_permit2;
use crate::money::{ChainSet, Method, OnChain};
use alloy::primitives::B256;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tollgate_billing::ledger::{ChainCredit, Ledger};
use tollgate_chain::transfers::authorized_transfer;
use tollgate_chain::ChainError;

/// What one pass did (for logs and tests).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub credited: usize,
    pub failed: usize,
    pub recorded: usize,
    pub waiting: usize,
}

pub async fn reconcile(ledger: &Ledger, chains: &ChainSet) -> Result<Reconciled, String> {
    let mut done = Reconciled::default();
    let rows = ledger
        .unfinished_credits()
        .await
        .map_err(|e| e.to_string())?;
    for (row, vault_recorded, age_secs) in rows {
        let Some(chain) = chains.for_row(row.chain_id, row.asset.as_deref()) else {
            log::warn!(
                "reconciling {}: its chain and asset are not configured",
                row.id
            );
            done.waiting += 1;
            continue;
        };
        let permit2 = chain.method == Method::Permit2;
        let outcome = match (row.kind.as_str(), row.status.as_str()) {
            ("deposit", "pending") => pending_deposit(ledger, chain, &row, &mut done).await,
            ("x402", "credited") if !vault_recorded => record(ledger, chain, &row)
                .await
                .map(|_| done.recorded += 1),
            ("x402", "pending") if permit2 => {
                topup_permit2::reconcile_pending(ledger, chain, &row, age_secs)
                    .await
                    .map(|r| match r {
                        topup_permit2::Reconciled::Credited => done.credited += 1,
                        topup_permit2::Reconciled::Failed => done.failed += 1,
                        topup_permit2::Reconciled::Waiting => done.waiting += 1,
                    })
            }
            ("x402", "pending") => pending_topup(ledger, chain, &row, age_secs, &mut done).await,
            _ => Ok(()),
        };
        if let Err(e) = outcome {
            log::warn!("reconciling {}: {e}", row.id);
        }
    }
    Ok(done)
}

async fn record(ledger: &Ledger, chain: &OnChain, row: &ChainCredit) -> Result<(), String> {
    let (payer, _) = parse_topup_id(&row.id).ok_or("unparsable id")?;
    record_top_up(chain, &row.id, payer, chain.units(row.amount_usdc))
        .await
        .map_err(|e| e.to_string())?;
    ledger
        .mark_vault_recorded(&row.id)
        .await
        .map_err(|e| e.to_string())
}

/// A deposit row written but not credited: read its log again and credit it.
async fn pending_deposit(
    ledger: &Ledger,
    chain: &OnChain,
    row: &ChainCredit,
    done: &mut Reconciled,
) -> Result<(), String> {
    let (tx, index) = parse_deposit_id(&row.id).ok_or("unparsable id")?;
    let client = chain.client().await.map_err(|e| e.to_string())?;
    let found = client
        .find_deposit(chain.treasury_vault, tx, chain.settings.confirmations)
        .await
        .map_err(|e| e.to_string())?;
    let d = found
        .iter()
        .find(|d| d.position == index)
        .ok_or("the deposit's log is not in its transaction")?;
    let amount = chain.micro(d.amount);
    ledger
        .credit_moved(
            &row.id,
            amount,
            &format!("{tx:#x}"),
            "TreasuryVault deposit (reconciled)",
        )
        .await
        .map_err(|e| e.to_string())?;
    done.credited += 1;
    Ok(())
}

/// Credit the transfer `(payer, nonce)`'s authorization made in `tx`, if it is deep enough.
/// `Ok(false)`: `tx` did not use it (look elsewhere).
async fn credit_from(
    ledger: &Ledger,
    chain: &OnChain,
    row: &ChainCredit,
    tx: B256,
    done: &mut Reconciled,
) -> Result<bool, String> {
    let (payer, nonce) = parse_topup_id(&row.id).ok_or("unparsable id")?;
    let client = chain.client().await.map_err(|e| e.to_string())?;
    let moved = match client
        .authorized_transfer_in(tx, chain.asset, payer, nonce, chain.settings.confirmations)
        .await
    {
        Ok(m) => m,
        Err(ChainError::NotEnoughConfirmations { .. }) => {
            done.waiting += 1;
            return Ok(true);
        }
        Err(e) => return Err(e.to_string()),
    };
    let Some(t) = moved else { return Ok(false) };
    match credit_transfer(ledger, chain, &row.id, payer, t).await {
        Ok(_) => done.credited += 1,
        Err(TopUpRefused::Payment { .. }) => done.failed += 1,
        Err(e) => return Err(format!("{e:?}")),
    }
    Ok(true)
}

async fn pending_topup(
    ledger: &Ledger,
    chain: &OnChain,
    row: &ChainCredit,
    age_secs: i64,
    done: &mut Reconciled,
) -> Result<(), String> {
    let client = chain.client().await.map_err(|e| e.to_string())?;
    if let Some(tx) = &row.tx_hash {
        let hash = B256::from_str(tx).map_err(|e| e.to_string())?;
        if let Some(receipt) = client.receipt(hash).await.map_err(|e| e.to_string())? {
            let (payer, nonce) = parse_topup_id(&row.id).ok_or("unparsable id")?;
            let ours = authorized_transfer(&receipt, chain.asset, payer, nonce).is_some();
            if ours && credit_from(ledger, chain, row, hash, done).await? {
                return Ok(());
            }
            // Mined without using the authorization: whoever used it is found below.
        } else {
            // Sent, not mined yet: the node may even report the authorization as used already
            // (pending state), so nothing below may be concluded until it is mined or dropped.
            let known: Option<serde_json::Value> = client
                .raw_request("eth_getTransactionByHash", serde_json::json!([tx]))
                .await
                .map_err(|e| e.to_string())?;
            if known.is_some() {
                done.waiting += 1;
                return Ok(());
            }
        }
    }
    let (payer, nonce) = parse_topup_id(&row.id).ok_or("unparsable id")?;
    let used = client
        .authorization_state(chain.asset, payer, nonce)
        .await
        .map_err(|e| e.to_string())?;
    if used {
        let by = client
            .authorization_used_by(chain.asset, payer, nonce, LOOKBACK_BLOCKS)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(tx) = by {
            if credit_from(ledger, chain, row, tx, done).await? {
                return Ok(());
            }
        }
        if (age_secs as u64) < chain.settings.receipt_timeout.as_secs() + 60 {
            // A transfer sent by someone else may still be pending: give it time.
            done.waiting += 1;
        } else {
            ledger
                .fail_credit(&row.id, "authorization was canceled by the payer")
                .await
                .map_err(|e| e.to_string())?;
            done.failed += 1;
        }
    } else if age_secs as u64 > chain.settings.max_timeout_seconds + 120 {
        // Past any validBefore the gateway accepts: it can no longer move money.
        ledger
            .fail_credit(&row.id, "not settled before the authorization expired")
            .await
            .map_err(|e| e.to_string())?;
        done.failed += 1;
    } else {
        done.waiting += 1;
    }
    Ok(())
}

/// Runs [`reconcile`] at start-up and every `every`.
pub struct CreditReconciler {
    pub ledger: Ledger,
    pub chains: Arc<ChainSet>,
    pub every: Duration,
}

#[async_trait]
impl BackgroundService for CreditReconciler {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            match reconcile(&self.ledger, &self.chains).await {
                Ok(r) if r != Reconciled::default() => {
                    log::info!("chain credits reconciled: {r:?}")
                }
                Ok(_) => {}
                Err(e) => log::warn!("chain credit reconciliation: {e}"),
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(self.every) => {}
            }
        }
    }
}
