//! API-key management, authenticated by Sign-In with Ethereum on every call (no sessions):
//!
//! - `POST /v1/auth/nonce` → `{"nonce"}` for clients that want the server to pick one;
//! - `POST /v1/auth/keys` `{"message","signature","label"}` → 201 `{"id","key","label","created_at"}`
//!   (the key is shown this once; only its SHA-256 is stored);
//! - `GET /v1/auth/keys?message=…&signature=…` → `{"data":[{"id","label","created_at","revoked_at"}]}`;
//! - `DELETE /v1/auth/keys/:id` with `{"message","signature"}` → `{"revoked":true}`; every node
//!   stops accepting the key within a second (see [`crate::identity::LedgerKeys`]).

use super::caller::ledger_error;
use super::Accounts;
use crate::identity::siwe;
use crate::wire::{read_json, reply, ApiError};
use pingora::proxy::Session;
use serde_json::{json, Value};

pub async fn nonce(session: &mut Session, a: &Accounts) -> pingora::Result<()> {
    let r = fresh_nonce(a);
    reply(session, 200, r).await
}

pub async fn create(session: &mut Session, a: &Accounts) -> pingora::Result<()> {
    let r = create_key(session, a).await;
    reply(session, 201, r).await
}

pub async fn list(session: &mut Session, a: &Accounts) -> pingora::Result<()> {
    let r = list_keys(session, a).await;
    reply(session, 200, r).await
}

pub async fn revoke(session: &mut Session, a: &Accounts, id: &str) -> pingora::Result<()> {
    let r = revoke_key(session, a, id).await;
    reply(session, 200, r).await
}

fn fresh_nonce(accounts: &Accounts) -> Result<Value, ApiError> {
    accounts.siwe()?;
    Ok(json!({ "nonce": siwe::fresh_nonce() }))
}

/// The SIWE pair in a JSON body.
pub(super) async fn siwe_body(
    session: &mut Session,
    accounts: &Accounts,
) -> Result<(String, Value), ApiError> {
    accounts.siwe()?;
    let body = read_json(session).await?;
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("");
    let wallet = accounts
        .siwe_wallet(field("message"), field("signature"))
        .await?;
    Ok((wallet, body))
}

async fn create_key(session: &mut Session, accounts: &Accounts) -> Result<Value, ApiError> {
    let (wallet, body) = siwe_body(session, accounts).await?;
    let label = match body.get("label") {
        None | Some(Value::Null) => "default",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(ApiError::validation("label must be a string")),
    };
    let k = accounts
        .ledger
        .create_api_key(&wallet, label)
        .await
        .map_err(ledger_error)?;
    Ok(json!({ "id": k.id, "key": k.key, "label": k.label, "created_at": k.created_at }))
}

async fn list_keys(session: &Session, accounts: &Accounts) -> Result<Value, ApiError> {
    let wallet = accounts.siwe_query_wallet(session).await?;
    let keys = accounts
        .ledger
        .list_api_keys(&wallet)
        .await
        .map_err(ledger_error)?;
    Ok(json!({ "data": keys }))
}

async fn revoke_key(
    session: &mut Session,
    accounts: &Accounts,
    id: &str,
) -> Result<Value, ApiError> {
    let (wallet, _) = siwe_body(session, accounts).await?;
    if let Some(hash) = accounts
        .ledger
        .revoke_api_key(&wallet, id)
        .await
        .map_err(ledger_error)?
    {
        // This node stops at once; the others when the notification reaches them.
        accounts.auth.forget(&hash);
        Ok(json!({ "revoked": true, "id": id }))
    } else {
        Err(ApiError::new(
            404,
            "NOT_FOUND",
            format!("This wallet has no API key {id:?}"),
        ))
    }
}
