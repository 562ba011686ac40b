//! API-key management, authenticated by Sign-In with Ethereum on every call (no sessions):
//!
//! - `POST /v1/auth/nonce` → `{"nonce"}` for clients that want the server to pick one;
//! - `POST /v1/auth/keys` `{"message","signature","label"}` → 201 `{"id","key","label","created_at"}`
//!   (the key is shown this once; only its SHA-256 is stored);
//! - `GET /v1/auth/keys?message=…&signature=…` → `{"data":[{"id","label","created_at","revoked_at"}]}`;
//! - `DELETE /v1/auth/keys/:id` with `{"message","signature"}` → `{"revoked":true}`; every node
//!   stops accepting the key within a second (see [`crate::auth::LedgerKeys`]).

use crate::account_api::{ledger_error, read_json, reply, Accounts, Query};
use crate::api_error::{respond_error, ApiError};
use crate::endpoint::Account;
use pingora::proxy::Session;
use serde_json::{json, Value};

pub async fn serve(
    session: &mut Session,
    accounts: &Accounts,
    endpoint: Account,
) -> pingora::Result<()> {
    let (status, result) = match endpoint {
        Account::Nonce => (200, nonce(accounts)),
        Account::CreateKey => (201, create(session, accounts).await),
        Account::ListKeys => (200, list(session, accounts).await),
        Account::RevokeKey(id) => (200, revoke(session, accounts, &id).await),
        other => {
            let e = ApiError::not_found(&format!("{other:?}"));
            return respond_error(session, &e, None, false).await;
        }
    };
    reply(session, status, result).await
}

fn nonce(accounts: &Accounts) -> Result<Value, ApiError> {
    accounts.siwe()?;
    Ok(json!({ "nonce": crate::siwe::fresh_nonce() }))
}

/// The SIWE pair in a JSON body.
async fn siwe_body(session: &mut Session, accounts: &Accounts) -> Result<(String, Value), ApiError> {
    accounts.siwe()?;
    let body = read_json(session).await?;
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("");
    let wallet = accounts
        .siwe_wallet(field("message"), field("signature"))
        .await?;
    Ok((wallet, body))
}

async fn create(session: &mut Session, accounts: &Accounts) -> Result<Value, ApiError> {
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

async fn list(session: &Session, accounts: &Accounts) -> Result<Value, ApiError> {
    let q = Query::of(session);
    let wallet = accounts
        .siwe_wallet(
            q.message.as_deref().unwrap_or(""),
            q.signature.as_deref().unwrap_or(""),
        )
        .await?;
    let keys = accounts
        .ledger
        .list_api_keys(&wallet)
        .await
        .map_err(ledger_error)?;
    Ok(json!({ "data": keys }))
}

async fn revoke(session: &mut Session, accounts: &Accounts, id: &str) -> Result<Value, ApiError> {
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
