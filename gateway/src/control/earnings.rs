//! `GET /provider/earnings?message=…&signature=…` (SIWE) or with `Authorization: Bearer pk-…`
//! (a provider key with `earnings:read`): the wallet must be some provider's payout address —
//! a configured `payout_address` or the owner of marketplace upstreams — (403 otherwise) →
//! `{"data":[{"provider","payout_address","pending_usdc","in_flight_usdc","paid_usdc",
//! "last_payout_at","payouts":[{"batch_id","seq","amount_usdc","status","tx_hash",
//! "created_at"}]}],"daily":[{"provider","model","day","requests","input_tokens",…,
//! "earned_usdc","usage_missing","usage_disproved"}]}` (the latest 50 payouts; 30 days).

use super::caller::ledger_error;
use super::withdraw::settlement;
use super::Accounts;
use crate::identity::api_key;
use crate::money::payouts::Payee;
use crate::wire::{reply, ApiError};
use pingora::proxy::Session;
use serde_json::{json, Value};

pub async fn earnings(session: &mut Session, accounts: &Accounts) -> pingora::Result<()> {
    let r = earnings_of(session, accounts).await;
    reply(session, 200, r).await
}

async fn earnings_of(session: &Session, accounts: &Accounts) -> Result<Value, ApiError> {
    let q = super::caller::Query::of(session);
    let wallet = if q.message.is_none()
        && q.signature.is_none()
        && api_key(session.req_header()).is_some()
    {
        accounts
            .provider_caller(session, "earnings:read")
            .await?
            .wallet
    } else {
        settlement(accounts)?;
        accounts.siwe_query_wallet(session).await?
    };
    let market = accounts
        .ledger
        .market_owners()
        .await
        .map_err(ledger_error)?;
    let mine: Vec<Payee> = accounts
        .payees
        .iter()
        .cloned()
        .chain(market.into_iter().map(|(provider, address)| Payee {
            provider,
            address,
            chain_id: None,
            asset: None,
        }))
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
    for p in &mine {
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
    let ids: Vec<String> = mine.iter().map(|p| p.provider.clone()).collect();
    let daily = accounts
        .ledger
        .daily_earnings(&ids, 30)
        .await
        .map_err(ledger_error)?;
    Ok(json!({ "data": data, "daily": daily }))
}
