//! Which endpoint a request is for, from its method and path alone.

use crate::api_error::ApiError;
use crate::catalog::ModelCatalog;
use http::Method;
use pingora::http::RequestHeader;
use tollgate_filters::usage::ApiFormat;

#[derive(Debug, PartialEq, Eq)]
pub enum Endpoint {
    Health,
    Models,
    /// An LLM call: `POST /v1/chat/completions`, `POST /v1/messages`, `POST /<alias>/v1/messages`.
    Llm {
        api: ApiFormat,
        alias: Option<String>,
    },
    /// Served from the ledger by [`crate::account_api`].
    Account(Account),
    /// Answered with this error (404 / 405).
    Refused(ApiError),
}

/// The control-plane endpoints about a wallet's money and keys.
#[derive(Debug, PartialEq, Eq)]
pub enum Account {
    /// `GET /v1/balance/:wallet` (public)
    Balance(String),
    /// `GET /v1/usage/:wallet` (the wallet's API key or SIWE)
    Usage(String),
    /// `GET /v1/requests` (API key)
    Requests,
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
}

impl Endpoint {
    pub fn of(req: &RequestHeader, catalog: &ModelCatalog) -> Endpoint {
        let path = req.uri.path();
        let path = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        let method = &req.method;
        let expect = |m: Method, e: Endpoint| {
            if *method == m {
                e
            } else {
                Endpoint::Refused(ApiError::method_not_allowed(method.as_str(), path))
            }
        };
        match path {
            "/health" => expect(Method::GET, Endpoint::Health),
            "/v1/models" => expect(Method::GET, Endpoint::Models),
            "/v1/chat/completions" => expect(
                Method::POST,
                Endpoint::Llm {
                    api: ApiFormat::OpenAi,
                    alias: None,
                },
            ),
            "/v1/messages" => expect(
                Method::POST,
                Endpoint::Llm {
                    api: ApiFormat::Anthropic,
                    alias: None,
                },
            ),
            "/v1/requests" => expect(Method::GET, Endpoint::Account(Account::Requests)),
            "/v1/topup" => expect(Method::POST, Endpoint::Account(Account::Topup)),
            "/v1/deposits" => expect(Method::POST, Endpoint::Account(Account::Deposit)),
            "/v1/withdraw" => expect(Method::POST, Endpoint::Account(Account::Withdraw)),
            "/provider/earnings" => expect(Method::GET, Endpoint::Account(Account::ProviderEarnings)),
            _ if path.starts_with("/v1/topups/") => expect(
                Method::GET,
                Endpoint::Account(Account::Topups(path["/v1/topups/".len()..].to_string())),
            ),
            "/v1/auth/nonce" => expect(Method::POST, Endpoint::Account(Account::Nonce)),
            "/v1/auth/keys" => match *method {
                Method::GET => Endpoint::Account(Account::ListKeys),
                _ => expect(Method::POST, Endpoint::Account(Account::CreateKey)),
            },
            _ if path.starts_with("/v1/auth/keys/") => expect(
                Method::DELETE,
                Endpoint::Account(Account::RevokeKey(path["/v1/auth/keys/".len()..].to_string())),
            ),
            _ if path.starts_with("/v1/balance/") => expect(
                Method::GET,
                Endpoint::Account(Account::Balance(path["/v1/balance/".len()..].to_string())),
            ),
            _ if path.starts_with("/v1/usage/") => expect(
                Method::GET,
                Endpoint::Account(Account::Usage(path["/v1/usage/".len()..].to_string())),
            ),
            _ => match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
                Some((alias, "v1/messages")) if catalog.has_alias(alias) => expect(
                    Method::POST,
                    Endpoint::Llm {
                        api: ApiFormat::Anthropic,
                        alias: Some(alias.to_string()),
                    },
                ),
                _ => Endpoint::Refused(ApiError::not_found(path)),
            },
        }
    }
}
