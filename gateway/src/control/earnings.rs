//! `GET /provider/earnings?message=…&signature=…`: the SIWE wallet must be some provider's
//! `payout_address` (403 otherwise) → `{"data":[{"provider","payout_address","pending_usdc",
//! "in_flight_usdc","paid_usdc","last_payout_at","payouts":[{"batch_id","seq","amount_usdc",
//! "status","tx_hash","created_at"}]}]}` (the latest 50 payouts).

use super::caller::ledger_error;
use super::withdraw::settlement;
use super::Accounts;
use crate::wire::{reply, ApiError};
use pingora::proxy::Session;
use serde_json::{json, Value};

pub async fn earnings(session: &mut Session, accounts: &Accounts) -> pingora::Result<()> {
    let r = earnings_of(session, accounts).await;
    reply(session, 200, r).await
}

async fn earnings_of(session: &Session, accounts: &Accounts) -> Result<Value, ApiError> {
    settlement(accounts)?;
    let wallet = accounts.siwe_query_wallet(session).await?;
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
