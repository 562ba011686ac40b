//! Finishes money-in rows a crash or an outage left unfinished, from what the chain says:
//!
//! - an x402 top-up `pending` with a tx hash: its receipt decides (success → credit, revert →
//!   failed); without a usable receipt, the token's `authorizationState` does: used → find the
//!   `AuthorizationUsed` log (the transfer happened, whoever sent it) and credit, used without
//!   that log for longer than a receipt could take → it was canceled, failed; a transaction of
//!   ours still in the mempool → wait (a node may report pending state); unused and older than the authorization could live →
//!   failed (nothing moved); unused and young → wait;
//! - an x402 top-up credited but not yet counted by the vault → `recordTopUp`;
//! - a deposit `pending` (crash between insert and credit) → credit (it was verified before
//!   its row was written).
//!
//! Runs at start-up and then periodically ([`CreditReconciler`]); every action is idempotent.

use crate::money::ids::parse_topup_id;
use crate::money::topup::record_top_up;
use crate::money::OnChain;
use alloy::primitives::{Address, B256};
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tollgate_billing::ledger::{ChainCredit, Ledger};

/// What one pass did (for logs and tests).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub credited: usize,
    pub failed: usize,
    pub recorded: usize,
    pub waiting: usize,
}

/// `keccak256("AuthorizationUsed(address,bytes32)")`.
fn authorization_used_topic() -> B256 {
    alloy::primitives::keccak256(b"AuthorizationUsed(address,bytes32)")
}

pub async fn reconcile(ledger: &Ledger, chain: &OnChain) -> Result<Reconciled, String> {
    let mut done = Reconciled::default();
    let rows = ledger
        .unfinished_credits()
        .await
        .map_err(|e| e.to_string())?;
    for (row, vault_recorded, age_secs) in rows {
        let outcome = match (row.kind.as_str(), row.status.as_str()) {
            ("deposit", "pending") => ledger
                .complete_credit(&row.id, "TreasuryVault deposit (reconciled)")
                .await
                .map(|_| done.credited += 1)
                .map_err(|e| e.to_string()),
            ("x402", "credited") if !vault_recorded => record(ledger, chain, &row)
                .await
                .map(|_| done.recorded += 1),
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
    record_top_up(chain, &row.id, payer, row.amount_usdc)
        .await
        .map_err(|e| e.to_string())?;
    ledger
        .mark_vault_recorded(&row.id)
        .await
        .map_err(|e| e.to_string())
}

async fn pending_topup(
    ledger: &Ledger,
    chain: &OnChain,
    row: &ChainCredit,
    age_secs: i64,
    done: &mut Reconciled,
) -> Result<(), String> {
    let client = chain.client().await.map_err(|e| e.to_string())?;
    let credit = |tx: String| async move {
        ledger
            .set_credit_tx(&row.id, &tx)
            .await
            .and(
                ledger
                    .complete_credit(&row.id, &format!("x402 top-up {tx} (reconciled)"))
                    .await,
            )
            .map_err(|e| e.to_string())
    };
    if let Some(tx) = &row.tx_hash {
        let hash = B256::from_str(tx).map_err(|e| e.to_string())?;
        if let Some(receipt) = client.receipt(hash).await.map_err(|e| e.to_string())? {
            let deep = client
                .confirmations_of(&receipt)
                .await
                .map_err(|e| e.to_string())?
                >= chain.settings.confirmations;
            if !deep {
                done.waiting += 1;
                return Ok(());
            }
            if receipt.status() {
                credit(tx.clone()).await?;
                done.credited += 1;
                let _ = record(ledger, chain, row).await.map(|_| done.recorded += 1);
            } else {
                ledger
                    .fail_credit(&row.id, "settlement transaction reverted")
                    .await
                    .map_err(|e| e.to_string())?;
                done.failed += 1;
            }
            return Ok(());
        }
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
    let (payer, nonce) = parse_topup_id(&row.id).ok_or("unparsable id")?;
    let used = client
        .authorization_state(chain.usdc, payer, nonce)
        .await
        .map_err(|e| e.to_string())?;
    if used {
        match authorization_used_tx(chain, payer, nonce).await? {
            Some(tx) => {
                credit(tx).await?;
                done.credited += 1;
                let _ = record(ledger, chain, row).await.map(|_| done.recorded += 1);
            }
            // A transfer sent by someone else may still be pending: give it time.
            None if (age_secs as u64) < chain.settings.receipt_timeout.as_secs() + 60 => {
                done.waiting += 1;
            }
            None => {
                ledger
                    .fail_credit(&row.id, "authorization was canceled by the payer")
                    .await
                    .map_err(|e| e.to_string())?;
                done.failed += 1;
            }
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

/// The transaction that used `(payer, nonce)` on the token, from its `AuthorizationUsed` log.
async fn authorization_used_tx(
    chain: &OnChain,
    payer: Address,
    nonce: B256,
) -> Result<Option<String>, String> {
    let client = chain.client().await.map_err(|e| e.to_string())?;
    let latest = client.block_number().await.map_err(|e| e.to_string())?;
    // Providers cap log ranges; an authorization lives minutes, so recent blocks suffice.
    let from = latest.saturating_sub(50_000);
    let params = serde_json::json!([{
        "address": format!("{:#x}", chain.usdc),
        "fromBlock": format!("{from:#x}"),
        "toBlock": "latest",
        "topics": [
            format!("{:#x}", authorization_used_topic()),
            format!("{:#x}", B256::left_padding_from(payer.as_slice())),
            format!("{nonce:#x}"),
        ],
    }]);
    let logs: Vec<serde_json::Value> = client
        .raw_request("eth_getLogs", params)
        .await
        .map_err(|e| e.to_string())?;
    Ok(logs
        .first()
        .and_then(|l| l.get("transactionHash"))
        .and_then(|h| h.as_str())
        .map(str::to_string))
}

/// Runs [`reconcile`] at start-up and every `every`.
pub struct CreditReconciler {
    pub ledger: Ledger,
    pub chain: Arc<OnChain>,
    pub every: Duration,
}

#[async_trait]
impl BackgroundService for CreditReconciler {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            match reconcile(&self.ledger, &self.chain).await {
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
