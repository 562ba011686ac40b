//! Settling a served call on chain, and booking it once what it moved is confirmed.
//!
//! One call at a time, claimed by one node ([`Ledger::claim_paid_calls`]): a transaction
//! already sent is decided by its receipt (never sent twice while it may still be mined); a
//! used Permit2 nonce is attributed to the upto-proxy settlement that used it (ours, from a
//! send whose hash a crash lost); else the upto proxy's `settle(permit, amount, …)` is sent
//! for the call's cost. What is booked is the token `Transfer` from the payer to the vault in
//! the confirmed receipt — never the amount asked for. A settlement the chain refuses
//! (allowance revoked, funds moved, the nonce spent elsewhere) keeps its error, which refuses
//! the payer further calls, and is retried until the payment's deadline; then it is `failed`.
//! A call not settled in time whose payer could still pay then (nonce unused, allowance and
//! balance enough: our queue, gas or confirmations were too slow) is `expired`: not charged,
//! and not held against the payer; one whose payer could not is `failed`.

use super::super::onchain::OnChain;
use super::super::topup::{record_top_up, LOOKBACK_BLOCKS};
use super::PayPerCall;
use alloy_primitives::TxHash;
use tollgate_billing::ledger::ToSettle;
use tollgate_billing::MicroUsdc;
use tollgate_chain::permit2::{permit2_transfer, upto_settle_tx};
use tollgate_chain::transfers::AuthorizedTransfer;
use tollgate_chain::x402::{UptoPayload, PERMIT2_ADDRESS, SETTLEMENT_MARGIN_SECS};
use tollgate_chain::ChainError;

/// What one pass did with a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Moved and booked: µUSD.
    Settled(MicroUsdc),
    /// A transaction is on its way; decided on a later pass.
    Waiting,
    /// The chain refused (the error is kept; retried while the payment is valid).
    Refused(String),
    /// Refused until the deadline passed: the payer's default.
    Failed(String),
    /// Not settled by the deadline though the payer could pay: our delay, not charged.
    Expired,
    /// Admitted but never reported before its deadline (its node died): not charged.
    Lost,
}

impl PayPerCall {
    /// Work on one claimed call at unix time `now`.
    pub async fn settle(&self, row: &ToSettle, now: u64) -> Result<Step, String> {
        if row.status == "serving" {
            self.ledger
                .paid_call_lost(&row.id)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(Step::Lost);
        }
        let rail = self
            .chains
            .for_row(Some(row.chain_id), Some(&row.asset))
            .ok_or_else(|| format!("{}: its chain and asset are not configured", row.id))?
            .clone();
        let payload: UptoPayload =
            serde_json::from_str(&row.payment).map_err(|e| format!("stored payment: {e}"))?;
        let amount = row.amount.unwrap_or(0);
        if amount <= 0 {
            return Err(format!("{}: unsettled without an amount", row.id));
        }
        let client = rail.client().await.map_err(|e| e.to_string())?;
        let auth = &payload.permit2_authorization;
        let payer = auth.from;
        // A transaction of ours already sent: its receipt decides, until it is dropped.
        if let Some(sent) = row.tx_hash.as_deref() {
            let hash: TxHash = sent.parse().map_err(|e| format!("{e}"))?;
            match client.receipt(hash).await.map_err(|e| e.to_string())? {
                Some(receipt) => {
                    let deep = client
                        .confirmations_of(&receipt)
                        .await
                        .map_err(|e| e.to_string())?;
                    if deep < rail.settings.confirmations.max(1) {
                        return Ok(Step::Waiting);
                    }
                    if let Some(t) = permit2_transfer(&receipt, rail.asset, payer) {
                        return self.book(&rail, &row.id, t).await;
                    }
                    if !receipt.status() {
                        return self.refused(row, "the settlement reverted".into(), false).await;
                    }
                }
                None => {
                    if client
                        .transaction(hash)
                        .await
                        .map_err(|e| e.to_string())?
                        .is_some()
                    {
                        return Ok(Step::Waiting);
                    }
                }
            }
        }
        // The nonce is spent: by a settlement of ours whose hash was lost, or by the payer.
        if client
            .permit2_nonce_used(payer, auth.nonce)
            .await
            .map_err(|e| e.to_string())?
        {
            let ours = client
                .upto_used_by(
                    rail.asset,
                    payer,
                    rail.treasury_vault,
                    auth.nonce,
                    LOOKBACK_BLOCKS,
                )
                .await
                .map_err(|e| e.to_string())?;
            if let Some(hash) = ours {
                return match client
                    .upto_transfer_in(
                        hash,
                        rail.asset,
                        payer,
                        auth.nonce,
                        rail.settings.confirmations,
                    )
                    .await
                {
                    Ok(Some(t)) => self.book(&rail, &row.id, t).await,
                    Ok(None) | Err(ChainError::NotEnoughConfirmations { .. }) => Ok(Step::Waiting),
                    Err(e) => Err(e.to_string()),
                };
            }
            return self
                .refused(
                    row,
                    "the payer's Permit2 nonce was spent elsewhere".into(),
                    true,
                )
                .await;
        }
        if now.saturating_add(SETTLEMENT_MARGIN_SECS) >= row.deadline_unix.max(0) as u64 {
            // Whose delay: a payer who could still pay (the nonce is unused, above) was
            // waiting on us; one whose allowance or balance is short is in default.
            let units = rail.units(amount);
            let (allowance, balance) = tokio::join!(
                client.allowance(rail.asset, payer, PERMIT2_ADDRESS),
                client.token_balance(rail.asset, payer),
            );
            let ours = allowance.map_err(|e| e.to_string())? >= units
                && balance.map_err(|e| e.to_string())? >= units;
            let why = "the payment's deadline passed before it settled";
            let decided = self
                .ledger
                .paid_call_expired(&row.id, why, ours)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(match decided {
                Some(true) => Step::Failed(why.into()),
                Some(false) => Step::Expired,
                None => Step::Waiting,
            });
        }
        let tx = upto_settle_tx(auth, rail.units(amount), &payload.signature);
        let hash = match client.send(tx).await {
            Ok(h) => h,
            // Found by the estimate, before anything was sent: allowance revoked, balance
            // short, nonce cancelled — the payer's doing; retried while the payment is valid.
            Err(ChainError::Reverted { reason, .. }) => {
                return self
                    .refused(row, format!("settlement refused: {reason}"), false)
                    .await
            }
            Err(e) => return Err(e.to_string()),
        };
        self.ledger
            .paid_call_sent(&row.id, &format!("{hash:#x}"))
            .await
            .map_err(|e| e.to_string())?;
        match client
            .wait_for_confirmations(hash, rail.settings.confirmations)
            .await
        {
            Ok(receipt) => match permit2_transfer(&receipt, rail.asset, payer) {
                Some(t) => self.book(&rail, &row.id, t).await,
                None => Ok(Step::Waiting),
            },
            Err(ChainError::TxReverted { .. }) => {
                self.refused(row, "the settlement reverted".into(), false)
                    .await
            }
            Err(_) => Ok(Step::Waiting),
        }
    }

    /// Book what a settlement moved to the vault.
    async fn book(&self, rail: &OnChain, id: &str, t: AuthorizedTransfer) -> Result<Step, String> {
        if t.to != rail.treasury_vault {
            return Err(format!(
                "{id}: the settlement {:#x} paid {:#x}, not the vault",
                t.tx_hash, t.to
            ));
        }
        let moved = rail.micro(t.value);
        self.ledger
            .book_paid_call(id, moved, &format!("{:#x}", t.tx_hash))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Step::Settled(moved))
    }

    async fn refused(&self, row: &ToSettle, why: String, last: bool) -> Result<Step, String> {
        let last = last || {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            now.saturating_add(SETTLEMENT_MARGIN_SECS) >= row.deadline_unix.max(0) as u64
        };
        self.ledger
            .paid_call_refused(&row.id, &why, last)
            .await
            .map_err(|e| e.to_string())?;
        Ok(if last {
            Step::Failed(why)
        } else {
            Step::Refused(why)
        })
    }

    /// Count the settled calls of every rail into its vault's pool (`recordTopUp`, one per
    /// batch of up to 1,000 calls): what payouts draw on. A batch keeps its id until counted,
    /// and the vault refuses an id twice, so a retry is harmless.
    pub async fn record_in_vaults(&self) -> Result<usize, String> {
        let mut recorded = 0;
        for rail in self.chains.all() {
            let fresh = format!(
                "paid_calls:{}:{:#x}:{}",
                rail.chain_id,
                rail.asset,
                tollgate_billing::ledger::random_hex(16).map_err(|e| e.to_string())?
            );
            let Some((batch, total)) = self
                .ledger
                .paid_calls_to_record(rail.chain_id as i64, &format!("{:#x}", rail.asset), &fresh)
                .await
                .map_err(|e| e.to_string())?
            else {
                continue;
            };
            if total > 0 {
                let operator = rail.client().await.map_err(|e| e.to_string())?.address();
                record_top_up(rail, &batch, operator, rail.units(total))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            self.ledger
                .paid_calls_recorded(&batch)
                .await
                .map_err(|e| e.to_string())?;
            recorded += 1;
        }
        Ok(recorded)
    }
}
