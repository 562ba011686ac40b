//! Which endpoint a request is for, from its method and path alone: the route table and
//! nothing else.

use crate::control::Route;
use crate::market::catalog::ModelCatalog;
use crate::wire::ApiError;
use http::Method;
use pingora::http::RequestHeader;
use tollgate_filters::operation::Operation;

#[derive(Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// An LLM call: `POST /v1/chat/completions`, `/v1/messages`, `/v1/responses`,
    /// `/v1/embeddings`, `/v1/messages/count_tokens`, `/<alias>/v1/messages`.
    Llm {
        op: Operation,
        alias: Option<String>,
    },
    /// Answered by the control plane.
    Control(Route),
    /// Answered with this error (404 / 405).
    Refused(ApiError),
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
            "/health" => expect(Method::GET, Endpoint::Control(Route::Health)),
            "/v1/models" => expect(Method::GET, Endpoint::Control(Route::Models)),
            "/v1/chat/completions" => expect(Method::POST, llm(Operation::ChatCompletions)),
            "/v1/messages" => expect(Method::POST, llm(Operation::Messages)),
            "/v1/responses" => expect(Method::POST, llm(Operation::Responses)),
            "/v1/embeddings" => expect(Method::POST, llm(Operation::Embeddings)),
            "/v1/messages/count_tokens" => expect(Method::POST, llm(Operation::CountTokens)),
            "/v1/requests" => expect(Method::GET, Endpoint::Control(Route::Requests)),
            _ if path.starts_with("/v1/requests/") => expect(
                Method::GET,
                Endpoint::Control(Route::Receipt(path["/v1/requests/".len()..].to_string())),
            ),
            "/v1/account" => expect(Method::GET, Endpoint::Control(Route::Account)),
            // The console: `/console` and `/console/` are its page (trailing `/` trimmed above).
            "/console" => expect(
                Method::GET,
                Endpoint::Control(Route::Console(String::new())),
            ),
            _ if path.starts_with("/console/") => expect(
                Method::GET,
                Endpoint::Control(Route::Console(path["/console/".len()..].to_string())),
            ),
            "/v1/topup" => expect(Method::POST, Endpoint::Control(Route::Topup)),
            "/v1/deposits" => expect(Method::POST, Endpoint::Control(Route::Deposit)),
            "/v1/withdraw" => expect(Method::POST, Endpoint::Control(Route::Withdraw)),
            "/provider/earnings" => expect(Method::GET, Endpoint::Control(Route::ProviderEarnings)),
            "/v1/marketplace" => expect(Method::GET, Endpoint::Control(Route::Marketplace)),
            "/v1/health/providers" => {
                expect(Method::GET, Endpoint::Control(Route::HealthProviders))
            }
            "/v1/health/history" => expect(Method::GET, Endpoint::Control(Route::HealthHistory)),
            "/v1/provider/status" => expect(Method::GET, Endpoint::Control(Route::ProviderStatus)),
            "/v1/provider/keys" => match *method {
                Method::GET => Endpoint::Control(Route::ListProviderKeys),
                _ => expect(Method::POST, Endpoint::Control(Route::CreateProviderKey)),
            },
            _ if path.starts_with("/v1/provider/keys/") => expect(
                Method::DELETE,
                Endpoint::Control(Route::RevokeProviderKey(
                    path["/v1/provider/keys/".len()..].to_string(),
                )),
            ),
            _ if path.starts_with("/v1/provider/upstreams/") => {
                let id = path["/v1/provider/upstreams/".len()..].to_string();
                match *method {
                    Method::DELETE => Endpoint::Control(Route::DeleteUpstream(id)),
                    _ => expect(Method::PUT, Endpoint::Control(Route::PutUpstream(id))),
                }
            }
            _ if path.starts_with("/v1/provider/models/") => {
                // Model ids may contain '/' (`org/model`): the rest of the path, decoded.
                let raw = &path["/v1/provider/models/".len()..];
                let id = percent_decode(raw);
                match *method {
                    Method::DELETE => Endpoint::Control(Route::DeleteModel(id)),
                    _ => expect(Method::PUT, Endpoint::Control(Route::PutModel(id))),
                }
            }
            _ if path.starts_with("/v1/topups/") => expect(
                Method::GET,
                Endpoint::Control(Route::Topups(path["/v1/topups/".len()..].to_string())),
            ),
            "/v1/auth/nonce" => expect(Method::POST, Endpoint::Control(Route::Nonce)),
            "/v1/auth/keys" => match *method {
                Method::GET => Endpoint::Control(Route::ListKeys),
                _ => expect(Method::POST, Endpoint::Control(Route::CreateKey)),
            },
            _ if path.starts_with("/v1/auth/keys/") => expect(
                Method::DELETE,
                Endpoint::Control(Route::RevokeKey(path["/v1/auth/keys/".len()..].to_string())),
            ),
            _ if path.starts_with("/v1/balance/") => expect(
                Method::GET,
                Endpoint::Control(Route::Balance(path["/v1/balance/".len()..].to_string())),
            ),
            _ if path.starts_with("/v1/usage/") => expect(
                Method::GET,
                Endpoint::Control(Route::Usage(path["/v1/usage/".len()..].to_string())),
            ),
            _ => match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
                Some((alias, "v1/messages")) if catalog.has_alias(alias) => expect(
                    Method::POST,
                    Endpoint::Llm {
                        op: Operation::Messages,
                        alias: Some(alias.to_string()),
                    },
                ),
                _ => Endpoint::Refused(ApiError::not_found(path)),
            },
        }
    }
}

fn llm(op: Operation) -> Endpoint {
    Endpoint::Llm { op, alias: None }
}

/// `%XX` escapes decoded (a model id sent as one path segment, `org%2Fmodel`).
fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
