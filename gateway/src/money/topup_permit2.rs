//! Money in through x402 `exact` over Permit2 (any ERC-20; USDT): settle a verified Permit2
//! authorization on chain and credit it once — the same steps and guarantees as the EIP-3009
//! path ([`super::topup`]): the ledger row is `pending` before anything is sent, its id names
//! the payer's Permit2 nonce ([`ids::topup_id`]), and the credit is the token `Transfer` the
//! settlement made, read from the transaction that used the nonce (ours, or a stranger's that
//! front-ran it: x402's proxy can only pay `witness.to`, so it paid the vault).
//!
//! Checked on chain before sending: the nonce is unused, the payer's Permit2 allowance covers
//! the amount (else [`TopUpRefused::AllowanceRequired`], x402's 412), and the balance does.

use super::ids;
use super::onchain::OnChain;
use super::topup::{credit_transfer, TopUpCredited, TopUpRefused, LOOKBACK_BLOCKS, USED};
use alloy::primitives::{Address, B256, U256};
use tollgate_billing::ledger::{Begun, Ledger};
use tollgate_billing::MicroUsdc;
use tollgate_chain::permit2::{permit2_settle_tx, permit2_transfer};
use tollgate_chain::x402::{VerifiedPermit2, PERMIT2_ADDRESS};
use tollgate_chain::{ChainClient, ChainError};

/// Settle a verified Permit2 payment of `amount` micro-USD and credit what it moved.
pub async fn settle(
    ledger: &Ledger,
    chain: &OnChain,
    v: &VerifiedPermit2,
    amount: MicroUsdc,
) -> Result<TopUpCredited, TopUpRefused> {
    let payer = v.payer();
    let auth = &v.authorization;
    let nonce = auth.nonce;
    let id = ids::topup_id(chain, payer, B256::from(nonce));
    let wallet = format!("{payer:#x}");
    let refuse = |code: &'static str, message: String| TopUpRefused::Payment { code, message };
    match ledger
        .begin_topup(&id, &wallet, amount, &chain.rail())
        .await?
    {
        Begun::New => {}
        Begun::Seen(row) if row.status == "pending" => return Err(TopUpRefused::InProgress),
        Begun::Seen(_) => {
            return Err(refuse(
                USED,
                "This payment authorization was already used".into(),
            ))
        }
    }
    let unavailable = |e: ChainError| {
        log::warn!("x402 Permit2 settlement: {e}");
        TopUpRefused::ChainUnavailable { maybe_sent: false }
    };
    let client = match chain.client().await {
        Ok(c) => c,
        Err(e) => {
            let _ = ledger.fail_credit(&id, &e.client_text()).await;
            return Err(unavailable(e));
        }
    };
    enum Before {
        Send,
        Used,
        NoAllowance(U256),
        Short(U256),
    }
    let value = auth.permitted.amount;
    let before = async {
        if client.permit2_nonce_used(payer, nonce).await? {
            return Ok(Before::Used);
        }
        let allowance = client
            .allowance(chain.asset, payer, PERMIT2_ADDRESS)
            .await?;
        if allowance < value {
            return Ok(Before::NoAllowance(allowance));
        }
        let balance = client.token_balance(chain.asset, payer).await?;
        Ok::<_, ChainError>(if balance < value {
            Before::Short(balance)
        } else {
            Before::Send
        })
    };
    match before.await {
        Ok(Before::Send) => {}
        Ok(Before::Used) => return used_elsewhere(ledger, chain, client, &id, payer, nonce).await,
        Ok(Before::NoAllowance(allowance)) => {
            let message = format!(
                "The payer has approved {allowance} {} units to Permit2 ({PERMIT2_ADDRESS}); the payment needs {value}: approve Permit2 for the token, then pay again",
                chain.symbol
            );
            let _ = ledger.fail_credit(&id, &message).await;
            return Err(TopUpRefused::AllowanceRequired { message });
        }
        Ok(Before::Short(balance)) => {
            let message = format!(
                "The payer holds {balance} {} units, the payment needs {value}",
                chain.symbol
            );
            let _ = ledger.fail_credit(&id, &message).await;
            return Err(refuse("insufficient_funds", message));
        }
        Err(e) => {
            let _ = ledger.fail_credit(&id, &e.client_text()).await;
            return Err(unavailable(e));
        }
    }
    let tx_hash = match client
        .send(permit2_settle_tx(auth, &v.signature_bytes()))
        .await
    {
        Ok(h) => h,
        Err(e @ ChainError::Rpc { .. }) => {
            log::warn!("x402 Permit2 settlement of {id}: {e}");
            return Err(TopUpRefused::ChainUnavailable { maybe_sent: true });
        }
        Err(e @ ChainError::Reverted { .. }) => {
            // Someone used the nonce between our check and our estimate: credit theirs.
            if matches!(client.permit2_nonce_used(payer, nonce).await, Ok(true)) {
                return used_elsewhere(ledger, chain, client, &id, payer, nonce).await;
            }
            let _ = ledger.fail_credit(&id, &e.client_text()).await;
            return Err(refuse(
                "transaction_failed",
                format!("Settlement refused on chain: {}", e.client_text()),
            ));
        }
        Err(e) => {
            let _ = ledger.fail_credit(&id, &e.client_text()).await;
            return Err(refuse(
                "unexpected_settle_error",
                format!("Settlement refused: {}", e.client_text()),
            ));
        }
    };
    ledger.set_credit_tx(&id, &format!("{tx_hash:#x}")).await?;
    match client
        .wait_for_confirmations(tx_hash, chain.settings.confirmations)
        .await
    {
        Ok(receipt) => match permit2_transfer(&receipt, chain.asset, payer) {
            Some(t) => credit_transfer(ledger, chain, &id, payer, t).await,
            None => used_elsewhere(ledger, chain, client, &id, payer, nonce).await,
        },
        Err(ChainError::TxReverted { .. }) => {
            used_elsewhere(ledger, chain, client, &id, payer, nonce).await
        }
        Err(e) => {
            log::warn!("x402 Permit2 settlement of {id}: {e}");
            Err(TopUpRefused::NotConfirmed { tx_hash })
        }
    }
}

/// The nonce of row `id` is used on chain by a transaction other than a confirmed one of
/// ours: find the proxy settlement that used it and credit what it moved. Nothing found yet:
/// the row stays pending for the reconciler.
pub async fn used_elsewhere(
    ledger: &Ledger,
    chain: &OnChain,
    client: &ChainClient,
    id: &str,
    payer: Address,
    nonce: U256,
) -> Result<TopUpCredited, TopUpRefused> {
    let unavailable = |e: ChainError| {
        log::warn!("x402 Permit2 settlement of {id}: {e}");
        TopUpRefused::ChainUnavailable { maybe_sent: true }
    };
    let Some(tx) = client
        .permit2_used_by(
            chain.asset,
            payer,
            chain.treasury_vault,
            nonce,
            LOOKBACK_BLOCKS,
        )
        .await
        .map_err(unavailable)?
    else {
        return Err(TopUpRefused::InProgress);
    };
    match client
        .permit2_transfer_in(tx, chain.asset, payer, nonce, chain.settings.confirmations)
        .await
    {
        Ok(Some(t)) => credit_transfer(ledger, chain, id, payer, t).await,
        Ok(None) | Err(ChainError::NotEnoughConfirmations { .. }) => Err(TopUpRefused::InProgress),
        Err(e) => Err(unavailable(e)),
    }
}

/// What the credit reconciler did with a pending Permit2 row.
#[derive(Debug, PartialEq, Eq)]
pub enum Reconciled {
    Credited,
    Failed,
    Waiting,
}

/// Finish a pending Permit2 row from the chain (`age_secs` since it was opened): credit the
/// transfer of the proxy settlement that used its nonce (ours, by hash, or anyone's), or fail
/// it once nothing can move money for it any more.
pub async fn reconcile_pending(
    ledger: &Ledger,
    chain: &OnChain,
    row: &tollgate_billing::ledger::ChainCredit,
    age_secs: i64,
) -> Result<Reconciled, String> {
    let (payer, nonce) = super::ids::parse_topup_id(&row.id).ok_or("unparsable id")?;
    let nonce = U256::from_be_bytes(nonce.0);
    let client = chain.client().await.map_err(|e| e.to_string())?;
    let settled_in = |tx| async move {
        match client
            .permit2_transfer_in(tx, chain.asset, payer, nonce, chain.settings.confirmations)
            .await
        {
            Ok(Some(t)) => match credit_transfer(ledger, chain, &row.id, payer, t).await {
                Ok(_) => Ok(Some(Reconciled::Credited)),
                Err(TopUpRefused::Payment { .. }) => Ok(Some(Reconciled::Failed)),
                Err(e) => Err(format!("{e:?}")),
            },
            Ok(None) => Ok(None),
            Err(ChainError::NotEnoughConfirmations { .. }) => Ok(Some(Reconciled::Waiting)),
            Err(ChainError::TxNotFound(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    };
    if let Some(tx) = row.tx_hash.as_deref() {
        let hash: B256 = tx.parse().map_err(|e| format!("{e}"))?;
        if client
            .receipt(hash)
            .await
            .map_err(|e| e.to_string())?
            .is_some()
        {
            if let Some(done) = settled_in(hash).await? {
                return Ok(done);
            }
        } else if client
            .transaction(hash)
            .await
            .map_err(|e| e.to_string())?
            .is_some()
        {
            // Sent, not mined: nothing may be concluded until it is mined or dropped.
            return Ok(Reconciled::Waiting);
        }
    }
    if client
        .permit2_nonce_used(payer, nonce)
        .await
        .map_err(|e| e.to_string())?
    {
        let by = client
            .permit2_used_by(
                chain.asset,
                payer,
                chain.treasury_vault,
                nonce,
                LOOKBACK_BLOCKS,
            )
            .await
            .map_err(|e| e.to_string())?;
        if let Some(tx) = by {
            if let Some(done) = settled_in(tx).await? {
                return Ok(done);
            }
        }
        if (age_secs as u64) < chain.settings.receipt_timeout.as_secs() + 60 {
            return Ok(Reconciled::Waiting);
        }
        ledger
            .fail_credit(
                &row.id,
                "the Permit2 nonce was used without a settlement through x402's proxy that can be attributed to it (cancelled by the payer, or settled inside another contract's call)",
            )
            .await
            .map_err(|e| e.to_string())?;
        return Ok(Reconciled::Failed);
    }
    if age_secs as u64 > chain.settings.max_timeout_seconds + 120 {
        // Past any deadline the gateway accepts: Permit2 refuses it now.
        ledger
            .fail_credit(&row.id, "not settled before the Permit2 deadline")
            .await
            .map_err(|e| e.to_string())?;
        return Ok(Reconciled::Failed);
    }
    Ok(Reconciled::Waiting)
}
