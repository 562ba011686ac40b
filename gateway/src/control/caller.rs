//! Who is asking a control-plane endpoint: the API key's wallet or a SIWE-proven wallet, and
//! the errors a handler's ledger calls map to.

use super::Accounts;
use crate::identity::{api_key, principal, SiweError, SiweVerifier};
use crate::money::{ChainSet, OnChain};
use crate::wire::ApiError;
use pingora::proxy::Session;
use std::time::SystemTime;
use tollgate_billing::ledger::{normalise_wallet, LedgerError};

pub fn ledger_error(e: LedgerError) -> ApiError {
    match e {
        LedgerError::Invalid(m) => ApiError::validation(m),
        other => {
            log::warn!("ledger query failed: {other}");
            ApiError::billing_unavailable()
        }
    }
}

impl Accounts {
    pub fn chains(&self) -> Result<&ChainSet, ApiError> {
        self.chains.as_deref().ok_or_else(|| {
            ApiError::not_found("on-chain settlement (configure the chain: section to enable it)")
        })
    }

    /// The rail (chain and asset) a request body names with `chain_id` (a number) and `asset`
    /// (a symbol such as `"USDT"`); either may be left out (the first chain, its first asset).
    /// 400 naming the configured ones when no rail matches.
    pub fn rail_of(&self, body: &serde_json::Value) -> Result<&OnChain, ApiError> {
        let chains = self.chains()?;
        let chain_id = match body.get("chain_id") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                ApiError::validation("chain_id must be a chain id number, e.g. 8453")
            })?),
        };
        let asset = match body.get("asset") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(v.as_str().ok_or_else(|| {
                ApiError::validation("asset must be a symbol string, e.g. \"USDC\"")
            })?),
        };
        chains
            .find(chain_id, asset)
            .map(|r| r.as_ref())
            .ok_or_else(|| {
                let known: Vec<String> = chains.all().iter().map(|r| r.describe()).collect();
                ApiError::validation(format!(
                    "no asset {} on chain {}; this gateway accepts: {}",
                    asset.unwrap_or("(first)"),
                    chain_id.map_or("(first)".into(), |c| c.to_string()),
                    known.join(", ")
                ))
            })
    }

    pub fn siwe(&self) -> Result<&SiweVerifier, ApiError> {
        self.siwe.as_deref().ok_or_else(|| {
            ApiError::not_found("SIWE (set server.public_url and chain.chain_id to enable it)")
        })
    }

    /// The wallet a SIWE message + signature proves (401 naming the failed check).
    pub async fn siwe_wallet(&self, message: &str, signature: &str) -> Result<String, ApiError> {
        let wallet = self
            .siwe()?
            .verify(message, signature, SystemTime::now())
            .await
            .map(|id| id.wallet)
            .map_err(siwe_error)?;
        self.limiter.control.admit_wallet(&wallet)?;
        Ok(wallet)
    }

    /// The wallet the SIWE pair in the query (`?message=…&signature=…`) proves.
    pub async fn siwe_query_wallet(&self, session: &Session) -> Result<String, ApiError> {
        let q = Query::of(session);
        self.siwe_wallet(
            q.message.as_deref().unwrap_or(""),
            q.signature.as_deref().unwrap_or(""),
        )
        .await
    }

    /// The caller's wallet: SIWE when the query carries `message` and `signature`, else the
    /// API key (401 without either).
    pub async fn caller_wallet(&self, session: &Session) -> Result<String, ApiError> {
        let q = Query::of(session);
        if q.message.is_some() || q.signature.is_some() {
            return self.siwe_query_wallet(session).await;
        }
        let p = principal(self.auth.as_ref(), api_key(session.req_header())).await?;
        self.limiter.control.admit_wallet(&p.wallet)?;
        Ok(p.wallet.to_string())
    }

    /// [`Self::caller_wallet`], which must be `wallet` (403 for another wallet's credentials).
    pub async fn caller_owns(&self, session: &Session, wallet: &str) -> Result<String, ApiError> {
        let caller = self.caller_wallet(session).await?;
        let wallet = normalise_wallet(wallet).map_err(ledger_error)?;
        if caller != wallet {
            return Err(ApiError::new(
                403,
                "FORBIDDEN",
                "These credentials belong to another wallet",
            ));
        }
        Ok(wallet)
    }
}

pub fn siwe_error(e: SiweError) -> ApiError {
    if e.is_unavailable() {
        ApiError::new(503, "SERVICE_UNAVAILABLE", e.to_string())
    } else {
        ApiError::new(401, "UNAUTHORIZED", e.to_string())
    }
}

/// The query parameters the control plane understands.
#[derive(Default)]
pub struct Query {
    pub message: Option<String>,
    pub signature: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<String>,
}

impl Query {
    pub fn of(session: &Session) -> Query {
        let mut q = Query::default();
        let raw = session.req_header().uri.query().unwrap_or("");
        for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
            let slot = match &*k {
                "message" => &mut q.message,
                "signature" => &mut q.signature,
                "cursor" => &mut q.cursor,
                "limit" => &mut q.limit,
                _ => continue,
            };
            *slot = Some(v.into_owned());
        }
        q
    }
}
