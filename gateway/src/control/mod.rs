//! The ledger-backed control plane: who may ask (API key or SIWE), and the read endpoints
//! `GET /v1/balance/:wallet` (public), `GET /v1/usage/:wallet` (the wallet's key or SIWE) and
//! `GET /v1/requests` (API key). Key management lives in [`crate::key_api`].

use crate::api_error::{respond_error, respond_json, ApiError};
use crate::auth::{self, Authenticator};
use crate::body_forwarding;
use crate::endpoint::Account;
use crate::key_api;
use crate::topup_api;
use crate::siwe::{SiweError, SiweVerifier};
use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::json;
use std::sync::Arc;
use std::time::SystemTime;
use tollgate_billing::ledger::{normalise_wallet, Ledger, LedgerError};

/// Control-plane requests carry small JSON bodies; anything bigger is refused unread.
pub const MAX_CONTROL_BODY: usize = 64 * 1024;

/// What the control-plane endpoints need.
pub struct Accounts {
    pub ledger: Ledger,
    pub auth: Arc<dyn Authenticator>,
    /// `None` when `server.public_url` / `chain` are not configured.
    pub siwe: Option<Arc<SiweVerifier>>,
    /// `None` when on-chain settlement is not configured.
    pub chain: Option<Arc<crate::onchain::OnChain>>,
    /// Providers paid on chain (`providers[].payout_address`), for `GET /provider/earnings`.
    pub payees: Vec<crate::payout_run::Payee>,
}

pub fn ledger_error(e: LedgerError) -> ApiError {
    match e {
        LedgerError::Invalid(m) => ApiError::validation(m),
        other => {
            log::warn!("ledger query failed: {other}");
            ApiError::billing_unavailable()
        }
    }
}

pub async fn reply(
    session: &mut Session,
    status: u16,
    result: Result<serde_json::Value, ApiError>,
) -> pingora::Result<()> {
    match result {
        Ok(v) => respond_json(session, status, Bytes::from(v.to_string()), None, false).await,
        // 413: the body was left unread, so the connection cannot be reused.
        Err(e) => respond_error(session, &e, None, e.status == 413).await,
    }
}

/// Answer one of the account endpoints.
pub async fn serve(
    session: &mut Session,
    accounts: &Accounts,
    endpoint: Account,
) -> pingora::Result<()> {
    match endpoint {
        Account::Balance(wallet) => {
            let r = balance(&accounts.ledger, &wallet).await;
            reply(session, 200, r).await
        }
        Account::Usage(wallet) => {
            let r = usage(session, accounts, &wallet).await;
            reply(session, 200, r).await
        }
        Account::Requests => {
            let r = requests(session, accounts).await;
            reply(session, 200, r).await
        }
        Account::Nonce | Account::CreateKey | Account::ListKeys | Account::RevokeKey(_) => {
            key_api::serve(session, accounts, endpoint).await
        }
        Account::Topup => topup_api::topup(session, accounts).await,
        Account::Deposit => topup_api::deposit(session, accounts).await,
        Account::Topups(wallet) => topup_api::history(session, accounts, &wallet).await,
        Account::Withdraw | Account::ProviderEarnings => {
            crate::withdraw_api::serve(session, accounts, endpoint).await
        }
    }
}

impl Accounts {
    pub fn chain(&self) -> Result<&crate::onchain::OnChain, ApiError> {
        self.chain.as_deref().ok_or_else(|| {
            ApiError::not_found("on-chain settlement (configure the chain: section to enable it)")
        })
    }

    pub fn siwe(&self) -> Result<&SiweVerifier, ApiError> {
        self.siwe.as_deref().ok_or_else(|| {
            ApiError::not_found("SIWE (set server.public_url and chain.chain_id to enable it)")
        })
    }

    /// The wallet a SIWE message + signature proves (401 naming the failed check).
    pub async fn siwe_wallet(&self, message: &str, signature: &str) -> Result<String, ApiError> {
        self.siwe()?
            .verify(message, signature, SystemTime::now())
            .await
            .map(|id| id.wallet)
            .map_err(siwe_error)
    }

    /// The caller's wallet: SIWE when the query carries `message` and `signature`, else the
    /// API key (401 without either).
    pub async fn caller_wallet(&self, session: &Session) -> Result<String, ApiError> {
        let q = Query::of(session);
        if q.message.is_some() || q.signature.is_some() {
            return self
                .siwe_wallet(q.message.as_deref().unwrap_or(""), q.signature.as_deref().unwrap_or(""))
                .await;
        }
        let key = auth::api_key(session.req_header()).ok_or_else(ApiError::unauthorized)?;
        let p = self
            .auth
            .authenticate(key)
            .await
            .ok_or_else(ApiError::unauthorized)?;
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

/// Read a small JSON body (400 when it is not a JSON object, 413 when too large).
pub async fn read_json(session: &mut Session) -> Result<serde_json::Value, ApiError> {
    let body = body_forwarding::read_body(session, MAX_CONTROL_BODY)
        .await
        .map_err(|e| e.into_api_error(MAX_CONTROL_BODY).0)?;
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        _ => Err(ApiError::validation("request body must be a JSON object")),
    }
}

async fn balance(ledger: &Ledger, wallet: &str) -> Result<serde_json::Value, ApiError> {
    let wallet = normalise_wallet(wallet).map_err(ledger_error)?;
    let b = ledger.wallet_balance(&wallet).await.map_err(ledger_error)?;
    Ok(json!({ "wallet": wallet, "available_usdc": b.available() }))
}

async fn usage(
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

async fn requests(session: &Session, accounts: &Accounts) -> Result<serde_json::Value, ApiError> {
    let key = auth::api_key(session.req_header()).ok_or_else(ApiError::unauthorized)?;
    let wallet = accounts
        .auth
        .authenticate(key)
        .await
        .ok_or_else(ApiError::unauthorized)?
        .wallet;
    let q = Query::of(session);
    let limit = match q.limit {
        None => 50,
        Some(l) => l
            .parse()
            .map_err(|_| ApiError::validation("limit must be an integer 1..200"))?,
    };
    let page = accounts
        .ledger
        .request_history(&wallet, q.cursor.as_deref(), limit)
        .await
        .map_err(ledger_error)?;
    Ok(json!({ "object": "list", "data": page.data, "next_cursor": page.next_cursor }))
}
