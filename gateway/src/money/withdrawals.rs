//! Money out, over SIWE:
//!
//! - `POST /v1/withdraw` `{"message","signature","amount"}` — `amount` in USD (a JSON number or
//!   decimal string, at most 6 decimals: `5` is $5, like `POST /v1/topup`). One transaction
//!   locks the wallet row, checks available = balance − leased ≥ amount (else 402
//!   `INSUFFICIENT_BALANCE`), writes the `withdrawals` row (`withdrawalId` = keccak256(
//!   "tollgate-withdrawal" ‖ wallet ‖ 32 random bytes)) and debits the wallet. Then
//!   `TreasuryVault.operatorWithdraw(wallet, amount, withdrawalId)`:
//!   - confirmed → 200 `{"withdrawal_id","status":"paid","amount_usdc","tx_hash","balance_usdc"}`;
//!   - refused or reverted (paused vault, empty pool, RPC down before sending) → the debit is
//!     reversed, the row `failed`, 503 `CHAIN_UNAVAILABLE` (try later) or 502 `CHAIN_ERROR`;
//!   - outcome unknown (sent, no receipt in time) → 202 with `"status":"pending"`; the
//!     reconciler in [`crate::payout_run`] settles it (executed → paid, else reversed).
//! - `GET /provider/earnings?message=…&signature=…` — the SIWE wallet must be some provider's
//!   `payout_address` (403 otherwise) → `{"data":[{"provider","payout_address","pending_usdc",
//!   "in_flight_usdc","paid_usdc","last_payout_at","payouts":[{"batch_id","seq","amount_usdc",
//!   "status","tx_hash","created_at"}]}]}` (the latest 50 payouts).
//!
//! `*_usdc` fields are integer micro-USDC, like the other account endpoints. Both answer 404
//! when on-chain settlement is not configured.

use crate::account_api::{ledger_error, read_json, reply, Accounts, Query};
use crate::api_error::{respond_error, ApiError};
use crate::endpoint::Account;
use crate::onchain::OnChain;
use alloy_primitives::{keccak256, Address, B256, U256};
use pingora::proxy::Session;
use serde_json::{json, Value};
use std::str::FromStr;
use tollgate_billing::ledger::random_hex;
use tollgate_billing::{MicroUsdc, Price};
use tollgate_chain::ChainError;

pub async fn serve(
    session: &mut Session,
    accounts: &Accounts,
    endpoint: Account,
) -> pingora::Result<()> {
    let result = match endpoint {
        Account::Withdraw => withdraw(session, accounts).await,
        Account::ProviderEarnings => earnings(session, accounts).await.map(|v| (200, v)),
        other => {
            let e = ApiError::not_found(&format!("{other:?}"));
            return respond_error(session, &e, None, false).await;
        }
    };
    match result {
        Ok((status, v)) => reply(session, status, Ok(v)).await,
        Err(e) => reply(session, e.status, Err(e)).await,
    }
}

fn settlement(accounts: &Accounts) -> Result<&OnChain, ApiError> {
    accounts.chain.as_deref().ok_or_else(|| {
        ApiError::new(
            404,
            "NOT_FOUND",
            "On-chain settlement is not configured on this gateway (chain: rpc_url, operator_key, vault addresses)",
        )
    })
}

/// A positive USD amount (JSON number or decimal string, ≤ 6 decimals) in micro-USDC.
pub fn usd_amount(v: Option<&Value>) -> Result<MicroUsdc, ApiError> {
    let bad = || {
        ApiError::validation(
            "amount must be a positive USD amount with at most 6 decimals, e.g. 5 or 0.25",
        )
    };
    let text = match v {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => {
            return Err(ApiError::validation("amount is required (USD, e.g. 5)"))
        }
        Some(_) => return Err(bad()),
    };
    match Price::parse_usd(&text) {
        Ok(p) if p.micros_per_million() > 0 && p.micros_per_million() <= i64::MAX as u64 => {
            Ok(p.micros_per_million() as MicroUsdc)
        }
        _ => Err(bad()),
    }
}

/// keccak256("tollgate-withdrawal" ‖ wallet ‖ 32 random bytes).
fn new_withdrawal_id(wallet: Address) -> Result<B256, ApiError> {
    let nonce = random_hex(32).map_err(ledger_error)?;
    let mut b = Vec::with_capacity(19 + 20 + 32);
    b.extend_from_slice(b"tollgate-withdrawal");
    b.extend_from_slice(wallet.as_slice());
    b.extend_from_slice(&hex::decode(nonce).expect("hex"));
    Ok(keccak256(b))
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

async fn withdraw(session: &mut Session, accounts: &Accounts) -> Result<(u16, Value), ApiError> {
    let body = read_json(session).await;
    let chain = settlement(accounts)?;
    let body = body?;
    accounts.siwe()?;
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("");
    let wallet = accounts
        .siwe_wallet(field("message"), field("signature"))
        .await?;
    let amount = usd_amount(body.get("amount"))?;
    let to = Address::from_str(&wallet).map_err(|_| ApiError::validation("bad wallet"))?;
    let id = new_withdrawal_id(to)?;
    let id_text = format!("{id:#x}");

    let opened = accounts
        .ledger
        .open_withdrawal(&wallet, amount, &id_text)
        .await
        .map_err(ledger_error)?;
    let opened = match opened {
        Ok(o) => o,
        Err(short) => {
            let mut m = format!(
                "Insufficient balance: {amount} micro-USDC requested, {} available",
                short.available()
            );
            if short.locked > 0 {
                m.push_str(&format!(
                    " ({} of the balance of {} is reserved for requests in flight and is released after a short idle period)",
                    short.locked, short.balance
                ));
            }
            return Err(ApiError::new(402, "INSUFFICIENT_BALANCE", m));
        }
    };
    let ledger = &accounts.ledger;
    let answer = |status: u16, state: &str, tx: Option<String>, balance: MicroUsdc| {
        (
            status,
            json!({
                "withdrawal_id": id_text,
                "status": state,
                "amount_usdc": amount,
                "tx_hash": tx,
                "balance_usdc": balance,
            }),
        )
    };

    let sent = match chain.client().await {
        Ok(client) => {
            client
                .operator_withdraw(chain.treasury_vault, to, U256::from(amount as u64), id)
                .await
        }
        Err(e) => Err(e),
    };
    match sent {
        Ok(tx) => {
            let tx = format!("{tx:#x}");
            ledger
                .mark_withdrawal_paid(&id_text, Some(&tx))
                .await
                .map_err(ledger_error)?;
            Ok(answer(200, "paid", Some(tx), opened.balance))
        }
        Err(ChainError::WithdrawalAlreadyExecuted(_)) => {
            ledger
                .mark_withdrawal_paid(&id_text, None)
                .await
                .map_err(ledger_error)?;
            Ok(answer(200, "paid", None, opened.balance))
        }
        Err(e) if not_sent(&e) => {
            log::warn!("withdrawal {id_text} of {amount} to {wallet} failed on chain: {e}");
            let failed = ledger
                .fail_withdrawal(&id_text, &e.to_string())
                .await
                .map_err(ledger_error)?;
            let (status, code) = match e {
                ChainError::Paused
                | ChainError::VaultInsufficient { .. }
                | ChainError::Rpc { .. } => (503, "CHAIN_UNAVAILABLE"),
                _ => (502, "CHAIN_ERROR"),
            };
            let back = if failed.is_some() {
                "the amount is back in your balance"
            } else {
                "see GET /v1/usage for your balance"
            };
            Err(ApiError::new(
                status,
                code,
                format!("Withdrawal {id_text} was not paid ({e}); {back}"),
            ))
        }
        Err(e) => {
            // Sent, but the receipt did not come in time: the reconciler settles it.
            let tx = match &e {
                ChainError::ConfirmationTimeout { tx_hash, .. } => Some(format!("{tx_hash:#x}")),
                _ => None,
            };
            if let Some(tx) = &tx {
                ledger
                    .note_withdrawal_sent(&id_text, tx)
                    .await
                    .map_err(ledger_error)?;
            }
            log::warn!(
                "withdrawal {id_text}: outcome unknown ({e}); left pending for the reconciler"
            );
            let (status, mut v) = answer(202, "pending", tx, opened.balance);
            v["message"] = json!(format!(
                "The withdrawal was sent but not confirmed yet ({e}); it is completed or credited back automatically"
            ));
            Ok((status, v))
        }
    }
}

async fn earnings(session: &Session, accounts: &Accounts) -> Result<Value, ApiError> {
    settlement(accounts)?;
    let q = Query::of(session);
    let wallet = accounts
        .siwe_wallet(
            q.message.as_deref().unwrap_or(""),
            q.signature.as_deref().unwrap_or(""),
        )
        .await?;
    let mine: Vec<_> = accounts
        .payees
        .iter()
        .filter(|p| p.address == wallet)
        .collect();
    if mine.is_empty() {
        return Err(ApiError::new(
            403,
            "FORBIDDEN",
            format!("{wallet} is not the payout address of any provider"),
        ));
    }
    let mut data = Vec::with_capacity(mine.len());
    for p in mine {
        let e = accounts
            .ledger
            .provider_earnings(&p.provider)
            .await
            .map_err(ledger_error)?;
        let payouts = accounts
            .ledger
            .provider_payouts(&p.provider, 50)
            .await
            .map_err(ledger_error)?;
        let payouts: Vec<Value> = payouts
            .into_iter()
            .map(|o| {
                json!({
                    "batch_id": o.batch_id,
                    "seq": o.seq,
                    "amount_usdc": o.amount_usdc,
                    "status": o.status,
                    "tx_hash": o.tx_hash,
                    "created_at": o.created_at,
                })
            })
            .collect();
        data.push(json!({
            "provider": p.provider,
            "payout_address": p.address,
            "pending_usdc": e.pending_usdc,
            "in_flight_usdc": e.in_flight_usdc,
            "paid_usdc": e.paid_usdc,
            "last_payout_at": e.last_payout_at,
            "payouts": payouts,
        }));
    }
    Ok(json!({ "data": data }))
}
