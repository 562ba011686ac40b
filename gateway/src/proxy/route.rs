//! Which endpoint a request is for, from its method and path alone: the route table and
//! nothing else.
//!
//! [`ROUTES`] is data — (method, path template, what serves it) — read by the matcher here and
//! by the test that holds it equal to `docs/openapi.yaml` (`tests/it/api_contract`). A
//! template has at most one `{parameter}`, which matches one or more characters (a model id
//! may be `org/model`). Rows are tried in order and the LLM endpoints come first: the hot
//! path costs one string comparison.

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
    /// A CORS preflight (`OPTIONS` with `Access-Control-Request-Method`) for a path that
    /// exists; the methods it takes.
    Preflight(Methods),
    /// Answered with this error (404 / 405).
    Refused(ApiError),
}

/// What a row of [`ROUTES`] serves.
#[derive(Clone, Copy)]
pub enum Serves {
    /// An LLM call of this operation.
    Llm(Operation),
    /// `/{alias}/v1/messages`: matched only for a configured route alias.
    AliasLlm,
    /// A control-plane route, built from the path parameter (empty when there is none).
    Control(fn(&str) -> Route),
}

pub struct Row {
    pub method: Method,
    /// The OpenAPI path template (`/v1/balance/{wallet}`).
    pub path: &'static str,
    pub serves: Serves,
    /// Byte offsets of `{` and one past `}` in `path` (equal when there is no parameter).
    param: (usize, usize),
}

impl Row {
    const fn new(method: Method, path: &'static str, serves: Serves) -> Row {
        let b = path.as_bytes();
        let (mut i, mut open, mut close) = (0, b.len(), b.len());
        while i < b.len() {
            if b[i] == b'{' {
                open = i;
            } else if b[i] == b'}' {
                close = i + 1;
            }
            i += 1;
        }
        Row {
            method,
            path,
            serves,
            param: (open, close),
        }
    }

    /// The path parameter (`""` for a fixed path) when `path` fits this row's template.
    fn fit<'p>(&self, path: &'p str, catalog: &ModelCatalog) -> Option<&'p str> {
        let (open, close) = self.param;
        if open == close {
            return (path == self.path).then_some("");
        }
        let (prefix, suffix) = (&self.path[..open], &self.path[close..]);
        let value = path.strip_prefix(prefix)?.strip_suffix(suffix)?;
        match self.serves {
            _ if value.is_empty() => None,
            Serves::AliasLlm => (!value.contains('/') && catalog.has_alias(value)).then_some(value),
            _ => Some(value),
        }
    }
}

use Operation::{ChatCompletions, CountTokens, Embeddings, Messages, Responses};
use Serves::{Control, Llm};

/// Every public endpoint. `docs/openapi.yaml` lists exactly these (a test holds them equal).
pub static ROUTES: &[Row] = &[
    Row::new(Method::POST, "/v1/chat/completions", Llm(ChatCompletions)),
    Row::new(Method::POST, "/v1/messages", Llm(Messages)),
    Row::new(Method::POST, "/v1/responses", Llm(Responses)),
    Row::new(Method::POST, "/v1/embeddings", Llm(Embeddings)),
    Row::new(Method::POST, "/v1/messages/count_tokens", Llm(CountTokens)),
    Row::new(Method::GET, "/health", Control(|_| Route::Health)),
    Row::new(Method::GET, "/ready", Control(|_| Route::Ready)),
    Row::new(Method::GET, "/openapi.yaml", Control(|_| Route::OpenApi)),
    Row::new(Method::GET, "/llms.txt", Control(|_| Route::LlmsTxt)),
    Row::new(Method::GET, "/llms-full.txt", Control(|_| Route::LlmsFullTxt)),
    Row::new(Method::GET, "/v1/models", Control(|_| Route::Models)),
    Row::new(Method::GET, "/v1/marketplace", Control(|_| Route::Marketplace)),
    Row::new(Method::GET, "/v1/health/providers", Control(|_| Route::HealthProviders)),
    Row::new(Method::GET, "/v1/health/history", Control(|_| Route::HealthHistory)),
    Row::new(Method::GET, "/v1/requests", Control(|_| Route::Requests)),
    Row::new(Method::GET, "/v1/requests/{id}", Control(|i| Route::Receipt(i.into()))),
    Row::new(Method::GET, "/v1/account", Control(|_| Route::Account)),
    Row::new(Method::GET, "/v1/balance/{wallet}", Control(|w| Route::Balance(w.into()))),
    Row::new(Method::GET, "/v1/usage/{wallet}", Control(|w| Route::Usage(w.into()))),
    Row::new(Method::POST, "/v1/auth/nonce", Control(|_| Route::Nonce)),
    Row::new(Method::POST, "/v1/auth/keys", Control(|_| Route::CreateKey)),
    Row::new(Method::GET, "/v1/auth/keys", Control(|_| Route::ListKeys)),
    Row::new(Method::DELETE, "/v1/auth/keys/{id}", Control(|i| Route::RevokeKey(i.into()))),
    Row::new(Method::POST, "/v1/topup", Control(|_| Route::Topup)),
    Row::new(Method::GET, "/v1/topups/{wallet}", Control(|w| Route::Topups(w.into()))),
    Row::new(Method::POST, "/v1/deposits", Control(|_| Route::Deposit)),
    Row::new(Method::POST, "/v1/withdraw", Control(|_| Route::Withdraw)),
    Row::new(Method::GET, "/provider/earnings", Control(|_| Route::ProviderEarnings)),
    Row::new(Method::POST, "/v1/provider/keys", Control(|_| Route::CreateProviderKey)),
    Row::new(Method::GET, "/v1/provider/keys", Control(|_| Route::ListProviderKeys)),
    Row::new(
        Method::DELETE,
        "/v1/provider/keys/{id}",
        Control(|i| Route::RevokeProviderKey(i.into())),
    ),
    Row::new(
        Method::PUT,
        "/v1/provider/upstreams/{id}",
        Control(|i| Route::PutUpstream(i.into())),
    ),
    Row::new(
        Method::DELETE,
        "/v1/provider/upstreams/{id}",
        Control(|i| Route::DeleteUpstream(i.into())),
    ),
    // Model ids may contain '/' (`org/model`), sent raw or as one escaped segment.
    Row::new(
        Method::PUT,
        "/v1/provider/models/{id}",
        Control(|i| Route::PutModel(percent_decode(i))),
    ),
    Row::new(
        Method::DELETE,
        "/v1/provider/models/{id}",
        Control(|i| Route::DeleteModel(percent_decode(i))),
    ),
    Row::new(Method::GET, "/v1/provider/status", Control(|_| Route::ProviderStatus)),
    // The web console's page and assets (not API: `docs/openapi.yaml` leaves them out).
    Row::new(Method::GET, "/console", Control(|_| Route::Console(String::new()))),
    Row::new(Method::GET, "/console/{path}", Control(|p| Route::Console(p.into()))),
    Row::new(Method::POST, "/{alias}/v1/messages", Serves::AliasLlm),
];

impl Endpoint {
    pub fn of(req: &RequestHeader, catalog: &ModelCatalog) -> Endpoint {
        let path = req.uri.path();
        let path = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        let mut methods = Methods::default();
        for row in ROUTES {
            let Some(param) = row.fit(path, catalog) else {
                continue;
            };
            if row.method == req.method {
                return row.endpoint(param);
            }
            methods.add(&row.method);
        }
        if methods.is_empty() {
            return Endpoint::Refused(ApiError::not_found(path));
        }
        if req.method == Method::OPTIONS && req.headers.contains_key("access-control-request-method")
        {
            return Endpoint::Preflight(methods);
        }
        let mut e = ApiError::method_not_allowed(req.method.as_str(), path);
        e.headers.push(("allow", methods.header()));
        Endpoint::Refused(e)
    }
}

impl Row {
    fn endpoint(&self, param: &str) -> Endpoint {
        match self.serves {
            Serves::Llm(op) => Endpoint::Llm { op, alias: None },
            Serves::AliasLlm => Endpoint::Llm {
                op: Messages,
                alias: Some(param.to_string()),
            },
            Serves::Control(route) => Endpoint::Control(route(param)),
        }
    }
}

/// The methods a path takes (for `Allow` and a preflight's `Access-Control-Allow-Methods`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Methods(u8);

const METHODS: [Method; 4] = [Method::GET, Method::POST, Method::PUT, Method::DELETE];

impl Methods {
    fn add(&mut self, m: &Method) {
        if let Some(i) = METHODS.iter().position(|x| x == m) {
            self.0 |= 1 << i;
        }
    }
    fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// `GET, POST`: the header value.
    pub fn header(self) -> http::HeaderValue {
        let names: Vec<&str> = METHODS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, m)| m.as_str())
            .collect();
        http::HeaderValue::from_str(&names.join(", ")).expect("method names are header-safe")
    }
}

/// `%XX` escapes decoded (a model id sent as one path segment, `org%2Fmodel`).
fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
