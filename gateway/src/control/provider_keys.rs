//! Provider keys, managed with Sign-In with Ethereum by the payout wallet (as buyer keys are):
//!
//! - `POST /v1/provider/keys` `{"message","signature","label","valid_for_days","scopes"}` →
//!   201 `{"id","key","label","scopes","expires_at","created_at"}` (`pk-` + 64 hex, shown once);
//! - `GET /v1/provider/keys?message=…&signature=…` → `{"data":[…]}` (never a key);
//! - `DELETE /v1/provider/keys/:id` `{"message","signature"}` → `{"revoked":true}`.
//!
//! Provider keys are looked up on every use (no cache), so a revocation stops them on every
//! node at its commit. They are refused on the LLM endpoints; buyer keys are refused here.

use super::caller::ledger_error;
use super::keys::siwe_body;
use super::Accounts;
use crate::identity::api_key;
use crate::wire::{reply, whole_number, ApiError};
use pingora::proxy::Session;
use serde_json::{json, Value};
use tollgate_billing::ledger::market::PROVIDER_SCOPES;
use tollgate_billing::ledger::{hash_api_key, market::ProviderKeyRecord};

pub async fn create(session: &mut Session, a: &Accounts) -> pingora::Result<()> {
    let r = create_key(session, a).await;
    reply(session, 201, r).await
}

pub async fn list(session: &mut Session, a: &Accounts) -> pingora::Result<()> {
    let r = async {
        let wallet = a.siwe_query_wallet(session).await?;
        let keys = a
            .ledger
            .list_provider_keys(&wallet)
            .await
            .map_err(ledger_error)?;
        Ok(json!({ "data": keys }))
    }
    .await;
    reply(session, 200, r).await
}

pub async fn revoke(session: &mut Session, a: &Accounts, id: &str) -> pingora::Result<()> {
    let r = async {
        let (wallet, _) = siwe_body(session, a).await?;
        if a.ledger
            .revoke_provider_key(&wallet, id)
            .await
            .map_err(ledger_error)?
        {
            Ok(json!({ "revoked": true, "id": id }))
        } else {
            Err(ApiError::new(
                404,
                "NOT_FOUND",
                format!("This wallet has no provider key {id:?}"),
            ))
        }
    }
    .await;
    reply(session, 200, r).await
}

async fn create_key(session: &mut Session, a: &Accounts) -> Result<Value, ApiError> {
    let (wallet, body) = siwe_body(session, a).await?;
    let label = match body.get("label") {
        None | Some(Value::Null) => "default",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(ApiError::validation("label must be a string")),
    };
    let days = match body.get("valid_for_days") {
        None | Some(Value::Null) => 90,
        Some(v) => whole_number(v)
            .filter(|d| (1..=3650).contains(d))
            .ok_or_else(|| ApiError::validation("valid_for_days must be an integer 1..3650"))?
            as u32,
    };
    let scopes: Vec<String> = match body.get("scopes") {
        None | Some(Value::Null) => PROVIDER_SCOPES.iter().map(|s| s.to_string()).collect(),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::validation("scopes must be an array of strings"))?,
        Some(_) => {
            return Err(ApiError::validation(format!(
                "scopes must be a non-empty array of {}",
                PROVIDER_SCOPES.join(", ")
            )))
        }
    };
    let k = a
        .ledger
        .create_provider_key(&wallet, label, &scopes, days)
        .await
        .map_err(ledger_error)?;
    Ok(serde_json::to_value(k).expect("a key serialises"))
}

impl Accounts {
    /// The provider wallet of a listing call: SIWE in the query (`?message=…&signature=…`,
    /// the wallet itself, which could mint a key of every scope), else a provider key that
    /// carries `scope`. The console signs each action this way and holds no key.
    pub async fn provider_wallet(
        &self,
        session: &Session,
        scope: &str,
    ) -> Result<String, ApiError> {
        let q = super::caller::Query::of(session);
        if q.message.is_some() || q.signature.is_some() {
            return self.siwe_query_wallet(session).await;
        }
        Ok(self.provider_caller(session, scope).await?.wallet)
    }

    /// The provider wallet behind `Authorization: Bearer pk-…`, which must carry `scope`.
    pub async fn provider_caller(
        &self,
        session: &Session,
        scope: &str,
    ) -> Result<ProviderKeyRecord, ApiError> {
        let Some(key) = api_key(session.req_header()) else {
            return Err(ApiError::new(
                401,
                "UNAUTHORIZED",
                "Missing provider key (send Authorization: Bearer pk-…; create one with POST /v1/provider/keys)",
            ));
        };
        if key.starts_with("sk-") {
            return Err(ApiError::new(
                403,
                "FORBIDDEN",
                "A buyer key cannot manage listings; use a provider key (pk-…)",
            ));
        }
        let found = if is_provider_key(key) {
            self.ledger
                .find_provider_key(&hash_api_key(key))
                .await
                .map_err(ledger_error)?
        } else {
            None
        };
        let Some(k) = found else {
            return Err(ApiError::new(
                401,
                "UNAUTHORIZED",
                "Unknown, expired or revoked provider key",
            ));
        };
        self.limiter.control.admit_wallet(&k.wallet)?;
        if !k.scopes.iter().any(|s| s == scope) {
            return Err(ApiError::new(
                403,
                "FORBIDDEN",
                format!("This provider key lacks the {scope} scope"),
            ));
        }
        Ok(k)
    }
}

/// `pk-` + 64 lower-case hex: what `POST /v1/provider/keys` issues.
pub fn is_provider_key(key: &str) -> bool {
    key.len() == 67
        && key.starts_with("pk-")
        && key.as_bytes()[3..]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}
