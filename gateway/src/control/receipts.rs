//! `GET /v1/requests/:id` (the API key of the request's wallet): one request's receipt — the
//! buckets it was billed on, the prices applied, the charge, the provider and when it settled.

use super::caller::ledger_error;
use super::Accounts;
use crate::identity::{api_key, principal};
use crate::wire::{reply, ApiError};
use pingora::proxy::Session;
use serde_json::Value;

pub async fn receipt(session: &mut Session, a: &Accounts, id: &str) -> pingora::Result<()> {
    let r = receipt_of(session, a, id).await;
    reply(session, 200, r).await
}

async fn receipt_of(session: &Session, a: &Accounts, id: &str) -> Result<Value, ApiError> {
    let wallet = principal(a.auth.as_ref(), api_key(session.req_header()))
        .await?
        .wallet;
    a.limiter.control.admit_wallet(&wallet)?;
    // Request ids are `req_` + 32 hex digits; anything else cannot be one.
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ApiError::validation("invalid request id"));
    }
    let found = a.ledger.receipt(id, &wallet).await.map_err(ledger_error)?;
    match found {
        Some(r) => {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["object"] = Value::from("receipt");
            Ok(v)
        }
        // The same answer for another wallet's request as for an unknown one.
        None => Err(ApiError::new(
            404,
            "NOT_FOUND",
            format!(
                "no request {id:?} of this wallet has settled (a request's receipt appears within a second of its end)"
            ),
        )),
    }
}
