//! `POST /v1/withdraw` `{"message","signature","amount","chain_id"?,"asset"?}` (SIWE in the
//! body): `amount` in USD (a JSON number or decimal string, at most 6 decimals: `5` is $5, like
//! `POST /v1/topup`), paid in the asset and on the chain named (default: the first chain, its
//! first asset), at most what that chain's vault holds (409 `VAULT_SHORT` otherwise).
//!
//! Answers: 200 `{"withdrawal_id","status":"paid","amount_usdc","tx_hash","balance_usdc"}`;
//! 202 the same with `"status":"pending"` (sent, not confirmed; settled by the reconciler);
//! 402 `INSUFFICIENT_BALANCE` (available = balance − leased); 503 `CHAIN_UNAVAILABLE` /
//! 502 `CHAIN_ERROR` when the vault refused (the amount is credited back). `*_usdc` fields are
//! integer micro-USDC; 404 when on-chain settlement is not configured.

use super::caller::ledger_error;
use super::Accounts;
use crate::money::withdrawals::{self, WithdrawRefused, Withdrawn};
use crate::money::ChainSet;
use crate::wire::{read_json, reply, ApiError};
use pingora::proxy::Session;
use serde_json::{json, Value};
use tollgate_billing::{MicroUsdc, Price};

pub async fn withdraw(session: &mut Session, accounts: &Accounts) -> pingora::Result<()> {
    match answer(session, accounts).await {
        Ok((status, v)) => reply(session, status, Ok(v)).await,
        Err(e) => reply(session, e.status, Err(e)).await,
    }
}

/// On-chain settlement, or the 404 that says it is not configured.
pub fn settlement(accounts: &Accounts) -> Result<&ChainSet, ApiError> {
    accounts.chains.as_deref().ok_or_else(|| {
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

async fn answer(session: &mut Session, accounts: &Accounts) -> Result<(u16, Value), ApiError> {
    let body = read_json(session).await;
    settlement(accounts)?;
    let body = body?;
    let chain = accounts.rail_of(&body)?;
    accounts.siwe()?;
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("");
    let wallet = accounts
        .siwe_wallet(field("message"), field("signature"))
        .await?;
    let amount = usd_amount(body.get("amount"))?;
    let done = match withdrawals::withdraw(&accounts.ledger, chain, &wallet, amount).await {
        Ok(done) => done,
        Err(WithdrawRefused::Insufficient {
            available,
            locked,
            balance,
        }) => {
            let mut m = format!(
                "Insufficient balance: {amount} micro-USDC requested, {available} available"
            );
            if locked > 0 {
                m.push_str(&format!(
                    " ({locked} of the balance of {balance} is reserved for requests in flight and is released after a short idle period)"
                ));
            }
            return Err(ApiError::new(402, "INSUFFICIENT_BALANCE", m));
        }
        Err(WithdrawRefused::NotPaid {
            id,
            error,
            reversed,
            unavailable,
        }) => {
            let (status, code) = if unavailable {
                (503, "CHAIN_UNAVAILABLE")
            } else {
                (502, "CHAIN_ERROR")
            };
            let back = if reversed {
                "the amount is back in your balance"
            } else {
                "see GET /v1/usage for your balance"
            };
            return Err(ApiError::new(
                status,
                code,
                format!(
                    "Withdrawal {id} was not paid ({}); {back}",
                    error.client_text()
                ),
            ));
        }
        Err(WithdrawRefused::VaultShort { available, rail }) => {
            return Err(ApiError::new(
                409,
                "VAULT_SHORT",
                format!("The {rail} vault can pay out {available} micro-USD now; withdraw less, or on another chain or asset"),
            ))
        }
        Err(WithdrawRefused::Ledger(e)) => return Err(ledger_error(e)),
    };
    let (status, state, tx, why) = match done.state {
        Withdrawn::Paid { tx_hash } => (200, "paid", tx_hash, None),
        Withdrawn::Pending { tx_hash, why } => (202, "pending", tx_hash, Some(why)),
    };
    let mut v = json!({
        "withdrawal_id": done.id,
        "status": state,
        "amount_usdc": done.amount,
        "tx_hash": tx,
        "balance_usdc": done.balance,
        "chain_id": chain.chain_id,
        "asset": chain.symbol,
    });
    if let Some(why) = why {
        v["message"] = json!(format!(
            "The withdrawal was sent but not confirmed yet ({why}); it is completed or credited back automatically"
        ));
    }
    Ok((status, v))
}
