//! The control plane on the public port: every answer that needs no upstream. Handlers read
//! the request, call [`crate::money`] or the ledger, and turn the outcome into HTTP here — the
//! only place money outcomes become [`ApiError`]s.
//!
//! | module | endpoints |
//! | --- | --- |
//! | [`public`] | `GET /health`, `GET /v1/models`, `GET /v1/marketplace` |
//! | [`docs`] | `GET /openapi.yaml`, `GET /llms.txt`, `GET /llms-full.txt` (the contract, built in) |
//! | [`api_markdown`] | (the contract rendered as markdown: llms files, the README's API tables) |
//! | [`health`] | `GET /v1/health/providers`, `GET /v1/health/history` |
//! | [`caller`] | (who is asking: API key or SIWE; shared by the handlers below) |
//! | [`account`] | `GET /v1/balance/:wallet`, `GET /v1/usage/:wallet`, `GET /v1/requests` |
//! | [`receipts`] | `GET /v1/requests/:id` |
//! | [`dashboard`] | `GET /v1/account` (a wallet's whole dashboard in one signed read) |
//! | [`keys`] | `POST /v1/auth/nonce`, `POST`/`GET /v1/auth/keys`, `DELETE /v1/auth/keys/:id` |
//! | [`topup`] | `POST /v1/topup`, `POST /v1/deposits`, `GET /v1/topups/:wallet` |
//! | [`withdraw`] | `POST /v1/withdraw` |
//! | [`pay_per_call`] | (a refused pay-per-call admission → 402 with `upto` offers, 412, 429; the calls themselves are the proxy's) |
//! | [`earnings`] | `GET /provider/earnings` |
//! | [`provider_keys`] | `POST`/`GET /v1/provider/keys`, `DELETE /v1/provider/keys/:id` |
//! | [`listings`] | `PUT`/`DELETE /v1/provider/upstreams/:id`, `PUT`/`DELETE /v1/provider/models/:id`, `GET /v1/provider/status` |
//! | [`listing_body`] | (the listing bodies, checked field by field) |
//! | [`console`] | `GET /console/…` (the web console's assets and `config.json`) |

pub mod account;
pub mod api_markdown;
pub mod caller;
pub mod console;
pub mod dashboard;
pub mod docs;
pub mod earnings;
pub mod health;
pub mod keys;
pub mod listing_body;
pub mod listings;
pub mod pay_per_call;
pub mod provider_keys;
pub mod public;
pub mod receipts;
pub mod topup;
pub mod withdraw;

use crate::identity::{Authenticator, SiweVerifier};
use crate::market::Market;
use crate::money::payouts::Payee;
use crate::money::ChainSet;
use crate::rate_limit::RateLimiter;
use crate::readiness::Readiness;
use crate::wire::{respond_document, respond_error, respond_json, ApiError};
use bytes::Bytes;
use pingora::proxy::Session;
use std::sync::Arc;
use tollgate_billing::ledger::market::LastDay;
use tollgate_billing::ledger::Ledger;

/// A control-plane endpoint, from method and path (`proxy::route` decides).
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /health`
    Health,
    /// `GET /ready`
    Ready,
    /// `GET /openapi.yaml`
    OpenApi,
    /// `GET /llms.txt`
    LlmsTxt,
    /// `GET /llms-full.txt`
    LlmsFullTxt,
    /// `GET /v1/models`
    Models,
    /// `GET /v1/balance/:wallet` (public)
    Balance(String),
    /// `GET /v1/usage/:wallet` (the wallet's API key or SIWE)
    Usage(String),
    /// `GET /v1/requests` (API key)
    Requests,
    /// `GET /v1/requests/:id` (API key of the request's wallet): one request's receipt
    Receipt(String),
    /// `POST /v1/auth/nonce`
    Nonce,
    /// `POST /v1/auth/keys` (SIWE in the body)
    CreateKey,
    /// `GET /v1/auth/keys?message=…&signature=…`
    ListKeys,
    /// `DELETE /v1/auth/keys/:id` (SIWE in the body)
    RevokeKey(String),
    /// `POST /v1/topup` (x402)
    Topup,
    /// `GET /v1/topups/:wallet` (the wallet's API key or SIWE)
    Topups(String),
    /// `POST /v1/deposits` (the depositor's API key or SIWE)
    Deposit,
    /// `POST /v1/withdraw` (SIWE in the body)
    Withdraw,
    /// `GET /provider/earnings?message=…&signature=…` (SIWE of a provider's payout address)
    ProviderEarnings,
    /// `GET /v1/marketplace` (public)
    Marketplace,
    /// `POST /v1/provider/keys` (SIWE in the body)
    CreateProviderKey,
    /// `GET /v1/provider/keys?message=…&signature=…`
    ListProviderKeys,
    /// `DELETE /v1/provider/keys/:id` (SIWE in the body)
    RevokeProviderKey(String),
    /// `PUT /v1/provider/upstreams/:id` (provider key)
    PutUpstream(String),
    /// `DELETE /v1/provider/upstreams/:id` (provider key)
    DeleteUpstream(String),
    /// `PUT /v1/provider/models/:id` (provider key)
    PutModel(String),
    /// `DELETE /v1/provider/models/:id?upstream=…` (provider key)
    DeleteModel(String),
    /// `GET /v1/provider/status` (provider key)
    ProviderStatus,
    /// `GET /v1/health/providers` (public)
    HealthProviders,
    /// `GET /v1/health/history?provider=&model=&since=&limit=&cursor=` (public)
    HealthHistory,
    /// `GET /v1/account?message=…&signature=…` (SIWE or the wallet's API key)
    Account,
    /// `GET /console/<path>` (the web console; the path below `/console/`)
    Console(String),
}

/// What the ledger-backed endpoints need.
pub struct Accounts {
    pub ledger: Ledger,
    pub auth: Arc<dyn Authenticator>,
    /// `None` when `server.public_url` / `chain` are not configured.
    pub siwe: Option<Arc<SiweVerifier>>,
    /// `None` when on-chain settlement is not configured.
    pub chains: Option<Arc<ChainSet>>,
    /// Providers paid on chain (`providers[].payout_address`), for `GET /provider/earnings`.
    pub payees: Vec<Payee>,
    /// Its per-wallet limits apply once a caller is known ([`caller`]).
    pub limiter: Arc<RateLimiter>,
    /// The catalog (marketplace listings are written through the ledger, probed here).
    pub market: Arc<Market>,
}

/// Everything the control plane answers from.
pub struct ControlPlane {
    /// `GET /v1/models` and `/v1/marketplace` render the current snapshot.
    pub market: Arc<Market>,
    pub provider_share: tollgate_billing::ProviderShare,
    /// The ledger's last-24-hours view, re-read at most every 2 s (a public endpoint must
    /// not be a way to run an aggregate per request).
    pub last_day: std::sync::Mutex<Option<(std::time::Instant, Arc<Vec<LastDay>>)>>,
    /// The ledger-backed endpoints (Postgres billing only).
    pub accounts: Option<Arc<Accounts>>,
    /// Its per-client-address limits apply before anything is verified.
    pub limiter: Arc<RateLimiter>,
    /// `/v1/health/providers`'s cached aggregates.
    pub health: health::HealthView,
    /// The web console's assets (`console:`; `None`: `/console/` is 404).
    pub console: Option<console::ConsoleAssets>,
    /// `/ready` (shared with the admin listener and the shutdown service).
    pub ready: Arc<Readiness>,
    /// `/openapi.yaml` and the llms files.
    pub docs: docs::ApiDocs,
}

impl ControlPlane {
    /// Answer one control-plane request.
    pub async fn serve(&self, session: &mut Session, route: Route) -> pingora::Result<()> {
        // Static assets from memory cost what /health costs: not counted against the
        // control-plane limits a page load would otherwise eat into.
        if let Route::Console(path) = &route {
            return match &self.console {
                Some(c) => c.serve(session, path).await,
                None => {
                    let e = ApiError::not_found("/console/ (configure the console: section)");
                    respond_error(session, &e, None, false).await
                }
            };
        }
        // Probes of orchestrators are never limited (`/ready` bounds its own cost).
        if !matches!(route, Route::Health | Route::Ready) {
            let client = session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip());
            if let Err(e) = self.limiter.control.admit_client(client) {
                return respond_error(session, &e, None, false).await;
            }
        }
        match route {
            Route::Health => {
                respond_json(
                    session,
                    200,
                    Bytes::from_static(public::HEALTH_BODY),
                    None,
                    false,
                )
                .await
            }
            Route::Ready => {
                let (status, body) = self.ready.answer().await;
                respond_json(session, status, body, None, false).await
            }
            Route::OpenApi => {
                respond_document(session, "application/yaml", self.docs.openapi.clone()).await
            }
            Route::LlmsTxt => {
                respond_document(session, "text/plain; charset=utf-8", self.docs.llms.clone()).await
            }
            Route::LlmsFullTxt => {
                let body = self.docs.llms_full.clone();
                respond_document(session, "text/plain; charset=utf-8", body).await
            }
            Route::Models => {
                let body = public::models_body(&self.market.current(), self.provider_share);
                respond_json(session, 200, body, None, false).await
            }
            Route::Marketplace => {
                let last_day = self.last_day().await;
                let body = public::marketplace_body(
                    &self.market.current(),
                    self.provider_share,
                    &last_day,
                );
                respond_json(session, 200, body, None, false).await
            }
            Route::HealthProviders => {
                let body = self.health.providers(&self.market).await;
                respond_json(session, 200, Bytes::from(body.to_string()), None, false).await
            }
            Route::HealthHistory => {
                let q = session.req_header().uri.query().map(str::to_string);
                match health::history(&self.market, q.as_deref()).await {
                    Ok(body) => {
                        respond_json(session, 200, Bytes::from(body.to_string()), None, false).await
                    }
                    Err(e) => respond_error(session, &e, None, false).await,
                }
            }
            route => match &self.accounts {
                Some(accounts) => serve_account(session, accounts, route).await,
                None => {
                    let e =
                        ApiError::not_found("this gateway has no ledger (billing.sink: memory)");
                    respond_error(session, &e, None, false).await
                }
            },
        }
    }
}

impl ControlPlane {
    async fn last_day(&self) -> Arc<Vec<LastDay>> {
        let fresh = |(at, v): &(std::time::Instant, Arc<Vec<LastDay>>)| {
            (at.elapsed() < std::time::Duration::from_secs(2)).then(|| v.clone())
        };
        if let Some(v) = self
            .last_day
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(fresh)
        {
            return v;
        }
        let v = Arc::new(match &self.accounts {
            Some(a) => a.ledger.last_day().await.unwrap_or_else(|e| {
                log::warn!("marketplace view without the last day: {e}");
                Vec::new()
            }),
            None => Vec::new(),
        });
        *self.last_day.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((std::time::Instant::now(), v.clone()));
        v
    }
}

async fn serve_account(session: &mut Session, a: &Accounts, route: Route) -> pingora::Result<()> {
    match route {
        Route::Health
        | Route::Ready
        | Route::OpenApi
        | Route::LlmsTxt
        | Route::LlmsFullTxt
        | Route::Models
        | Route::Marketplace
        | Route::HealthProviders
        | Route::HealthHistory
        | Route::Console(_) => {
            unreachable!("answered without a ledger")
        }
        Route::Account => dashboard::account(session, a).await,
        Route::Balance(wallet) => account::balance(session, a, &wallet).await,
        Route::Usage(wallet) => account::usage(session, a, &wallet).await,
        Route::Requests => account::requests(session, a).await,
        Route::Receipt(id) => receipts::receipt(session, a, &id).await,
        Route::Nonce => keys::nonce(session, a).await,
        Route::CreateKey => keys::create(session, a).await,
        Route::ListKeys => keys::list(session, a).await,
        Route::RevokeKey(id) => keys::revoke(session, a, &id).await,
        Route::Topup => topup::topup(session, a).await,
        Route::Deposit => topup::deposit(session, a).await,
        Route::Topups(wallet) => topup::history(session, a, &wallet).await,
        Route::Withdraw => withdraw::withdraw(session, a).await,
        Route::ProviderEarnings => earnings::earnings(session, a).await,
        Route::CreateProviderKey => provider_keys::create(session, a).await,
        Route::ListProviderKeys => provider_keys::list(session, a).await,
        Route::RevokeProviderKey(id) => provider_keys::revoke(session, a, &id).await,
        Route::PutUpstream(id) => listings::put_upstream(session, a, &id).await,
        Route::DeleteUpstream(id) => listings::delete_upstream(session, a, &id).await,
        Route::PutModel(id) => listings::put_model(session, a, &id).await,
        Route::DeleteModel(id) => listings::delete_model(session, a, &id).await,
        Route::ProviderStatus => listings::status(session, a).await,
    }
}
