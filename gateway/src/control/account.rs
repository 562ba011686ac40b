//! Account reads: `GET /v1/balance/:wallet` (public), `GET /v1/usage/:wallet` (the wallet's
//! key or SIWE), `GET /v1/requests` (API key or SIWE; the caller's history, keyset-paged).

use super::caller::{ledger_error, Query};
use super::Accounts;
use crate::wire::{reply, ApiError};
use pingora::proxy::Session;
use serde_json::json;
use tollgate_billing::ledger::normalise_wallet;

pub async fn balance(session: &mut Session, a: &Accounts, wallet: &str) -> pingora::Result<()> {
    let r = balance_of(a, wallet).await;
    reply(session, 200, r).await
}

pub async fn usage(session: &mut Session, a: &Accounts, wallet: &str) -> pingora::Result<()> {
    let r = usage_of(session, a, wallet).await;
    reply(session, 200, r).await
}

pub async fn requests(session: &mut Session, a: &Accounts) -> pingora::Result<()> {
    let r = history(session, a).await;
    reply(session, 200, r).await
}

async fn balance_of(a: &Accounts, wallet: &str) -> Result<serde_json::Value, ApiError> {
    let wallet = normalise_wallet(wallet).map_err(ledger_error)?;
    let b = a
        .ledger
        .wallet_balance(&wallet)
        .await
        .map_err(ledger_error)?;
    Ok(json!({ "wallet": wallet, "available_usdc": b.available() }))
}

async fn usage_of(
    session: &Session,
    accounts: &Accounts,
    wallet: &str,
) -> Result<serde_json::Value, ApiError> {
    let wallet = accounts.caller_owns(session, wallet).await?;
    let ledger = &accounts.ledger;
    let b = ledger.wallet_balance(&wallet).await.map_err(ledger_error)?;
    let keys = ledger.key_usage(&wallet).await.map_err(ledger_error)?;
    Ok(json!({
        "wallet": wallet,
        "balance_usdc": b.balance,
        "locked_usdc": b.locked,
        "available_usdc": b.available(),
        "keys": keys,
    }))
}

async fn history(session: &Session, accounts: &Accounts) -> Result<serde_json::Value, ApiError> {
    let wallet = accounts.caller_wallet(session).await?;
    let q = Query::of(session);
    let limit = match q.limit {
        None => 50,
        // Out of range is refused, as `/v1/health/history` does (it was clamped silently).
        Some(l) => l
            .parse()
            .ok()
            .filter(|l| (1..=200).contains(l))
            .ok_or_else(|| ApiError::validation("limit must be an integer 1..200"))?,
    };
    // An absent `next_cursor` sent back as `cursor=` asks for the first page.
    let cursor = q.cursor.as_deref().filter(|c| !c.is_empty());
    let page = accounts
        .ledger
        .request_history(&wallet, cursor, limit)
        .await
        .map_err(ledger_error)?;
    Ok(json!({ "object": "list", "data": page.data, "next_cursor": page.next_cursor }))
}
