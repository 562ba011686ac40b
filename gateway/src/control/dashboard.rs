//! `GET /v1/account?message=…&signature=…&days=30` (SIWE, or an API key of the wallet): a
//! wallet's whole dashboard in one signed read, so that the console asks its wallet for one
//! signature per view instead of one per panel:
//!
//! `{"wallet","balance_usdc","locked_usdc","available_usdc",
//!   "keys":[{"id","label","created_at","revoked_at","request_count","total_prompt_tokens",
//!            "total_completion_tokens","total_charged_usdc"}],
//!   "credits":[…GET /v1/topups rows…],"withdrawals":[{"withdrawal_id","amount_usdc","status",
//!   "tx_hash","error","created_at"}],"days","daily":[{"day","model","requests","input_tokens",
//!   "cache_write_5m_tokens","cache_write_1h_tokens","cache_read_tokens","output_tokens",
//!   "spent_usdc"}],"requests":{"data":[…GET /v1/requests rows…],"next_cursor"}}`
//!
//! `daily` comes from the `wallet_daily` rollup (per wallet, model and hour, written by each
//! settlement batch), never from the request log; `requests` is the first page of
//! `GET /v1/requests`, whose `next_cursor` continues there. Lists are the newest 20.

use super::caller::ledger_error;
use super::Accounts;
use crate::wire::{reply, ApiError};
use pingora::proxy::Session;
use serde_json::{json, Value};
use tollgate_billing::ledger::wallet_reports::MAX_DAYS;

const LIST: i64 = 20;

pub async fn account(session: &mut Session, a: &Accounts) -> pingora::Result<()> {
    let r = overview(session, a).await;
    reply(session, 200, r).await
}

/// `days` (1..=90, default 30); any parameter other than the SIWE pair is refused.
fn days(session: &Session) -> Result<i32, ApiError> {
    let raw = session.req_header().uri.query().unwrap_or("");
    let mut days = 30;
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match &*k {
            "message" | "signature" => {}
            "days" => {
                days = v
                    .parse()
                    .ok()
                    .filter(|d| (1..=MAX_DAYS).contains(d))
                    .ok_or_else(|| {
                        ApiError::validation(format!("days must be an integer 1..{MAX_DAYS}"))
                    })?
            }
            other => {
                return Err(ApiError::validation(format!(
                    "unknown parameter {other:?} (message, signature, days)"
                )))
            }
        }
    }
    Ok(days)
}

async fn overview(session: &Session, a: &Accounts) -> Result<Value, ApiError> {
    let days = days(session)?;
    let wallet = a.caller_wallet(session).await?;
    let l = &a.ledger;
    let b = l.wallet_balance(&wallet).await.map_err(ledger_error)?;
    let keys = l.list_api_keys(&wallet).await.map_err(ledger_error)?;
    let usage = l.key_usage(&wallet).await.map_err(ledger_error)?;
    let keys: Vec<Value> = keys
        .into_iter()
        .map(|k| {
            let u = usage.iter().find(|u| u.api_key_id == k.id);
            json!({
                "id": k.id,
                "label": k.label,
                "created_at": k.created_at,
                "revoked_at": k.revoked_at,
                "request_count": u.map_or(0, |u| u.request_count),
                "total_prompt_tokens": u.map_or(0, |u| u.total_prompt_tokens),
                "total_completion_tokens": u.map_or(0, |u| u.total_completion_tokens),
                "total_charged_usdc": u.map_or(0, |u| u.total_charged_usdc),
            })
        })
        .collect();
    let credits = l
        .credit_history(&wallet, LIST)
        .await
        .map_err(ledger_error)?;
    let withdrawals: Vec<Value> = l
        .wallet_withdrawals(&wallet, LIST)
        .await
        .map_err(ledger_error)?
        .into_iter()
        .map(|w| {
            json!({
                "withdrawal_id": w.withdrawal_id,
                "amount_usdc": w.amount_usdc,
                "status": w.status,
                "tx_hash": w.tx_hash,
                "error": w.error,
                "created_at": w.created_at,
            })
        })
        .collect();
    let daily = l.wallet_daily(&wallet, days).await.map_err(ledger_error)?;
    let page = l
        .request_history(&wallet, None, LIST)
        .await
        .map_err(ledger_error)?;
    Ok(json!({
        "wallet": wallet,
        "balance_usdc": b.balance,
        "locked_usdc": b.locked,
        "available_usdc": b.available(),
        "keys": keys,
        "credits": credits,
        "withdrawals": withdrawals,
        "days": days,
        "daily": daily,
        "requests": { "data": page.data, "next_cursor": page.next_cursor },
    }))
}
