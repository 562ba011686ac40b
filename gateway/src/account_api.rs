//! Ledger-backed account endpoints: `GET /v1/balance/:wallet` (public), `GET /v1/usage/:wallet`
//! and `GET /v1/requests` (API key).

use crate::api_error::{respond_error, respond_json, ApiError};
use crate::auth::{self, Authenticator};
use crate::endpoint::Endpoint;
use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::json;
use tollgate_billing::ledger::{normalise_wallet, Ledger, LedgerError};

fn ledger_error(e: LedgerError) -> ApiError {
    match e {
        LedgerError::Invalid(m) => ApiError::validation(m),
        other => {
            log::warn!("ledger query failed: {other}");
            ApiError::billing_unavailable()
        }
    }
}

async fn reply(
    session: &mut Session,
    result: Result<serde_json::Value, ApiError>,
) -> pingora::Result<()> {
    match result {
        Ok(v) => respond_json(session, 200, Bytes::from(v.to_string()), None, false).await,
        Err(e) => respond_error(session, &e, None, false).await,
    }
}

/// Answer one of the account endpoints.
pub async fn serve(
    session: &mut Session,
    ledger: &Ledger,
    auth: &dyn Authenticator,
    endpoint: Endpoint,
) -> pingora::Result<()> {
    match endpoint {
        Endpoint::Balance(wallet) => balance(session, ledger, &wallet).await,
        Endpoint::Usage(wallet) => usage(session, ledger, auth, &wallet).await,
        Endpoint::Requests => requests(session, ledger, auth).await,
        _ => {
            respond_error(
                session,
                &ApiError::not_found(session.req_header().uri.path()),
                None,
                false,
            )
            .await
        }
    }
}

async fn balance(session: &mut Session, ledger: &Ledger, wallet: &str) -> pingora::Result<()> {
    let result = async {
        let wallet = normalise_wallet(wallet).map_err(ledger_error)?;
        let b = ledger.wallet_balance(&wallet).await.map_err(ledger_error)?;
        Ok(json!({ "wallet": wallet, "available_usdc": b.available() }))
    }
    .await;
    reply(session, result).await
}

/// The caller's wallet, from its API key (401 without a valid one).
async fn caller_wallet(session: &Session, auth: &dyn Authenticator) -> Result<String, ApiError> {
    let key = auth::api_key(session.req_header()).ok_or_else(ApiError::unauthorized)?;
    let p = auth
        .authenticate(key)
        .await
        .ok_or_else(ApiError::unauthorized)?;
    Ok(p.wallet.to_string())
}

async fn usage(
    session: &mut Session,
    ledger: &Ledger,
    auth: &dyn Authenticator,
    wallet: &str,
) -> pingora::Result<()> {
    let result = async {
        let caller = caller_wallet(session, auth).await?;
        let wallet = normalise_wallet(wallet).map_err(ledger_error)?;
        if caller != wallet {
            return Err(ApiError::new(
                403,
                "FORBIDDEN",
                "This API key belongs to another wallet",
            ));
        }
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
    .await;
    reply(session, result).await
}

async fn requests(
    session: &mut Session,
    ledger: &Ledger,
    auth: &dyn Authenticator,
) -> pingora::Result<()> {
    let result = async {
        let wallet = caller_wallet(session, auth).await?;
        let (mut cursor, mut limit) = (None, 50i64);
        for (k, v) in session
            .req_header()
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.split_once('='))
        {
            match k {
                "cursor" if !v.is_empty() => cursor = Some(v.to_string()),
                "limit" => {
                    limit = v
                        .parse()
                        .map_err(|_| ApiError::validation("limit must be an integer 1..200"))?
                }
                _ => {}
            }
        }
        let page = ledger
            .request_history(&wallet, cursor.as_deref(), limit)
            .await
            .map_err(ledger_error)?;
        Ok(json!({ "object": "list", "data": page.data, "next_cursor": page.next_cursor }))
    }
    .await;
    reply(session, result).await
}
