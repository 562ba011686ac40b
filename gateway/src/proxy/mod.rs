//! The data plane: [`Gateway`], Pingora's `ProxyHttp` for LLM calls. Files follow the path
//! of a request; each phase in [`phases`] decides one thing and delegates to one of them:
//!
//! | module | job | phase |
//! | --- | --- | --- |
//! | [`route`] | method + path → an LLM endpoint or a control-plane route (nothing else) | `request_filter` |
//! | [`admit`] | key → rate limits → body → parse, resolve, sanitise → reservation | `request_filter` |
//! | [`call`] | the per-call state ([`call::LlmCall`]) the later phases share | all |
//! | [`catalog`] | model id → candidate routes | `request_filter` |
//! | [`provider_pool`] | health and order of the candidates | `request_filter`, `upstream_peer` |
//! | [`upstream_addrs`] | provider addresses, resolved off the request path | `upstream_peer` |
//! | [`upstream_request`] | path, `Host`, credentials, framing the provider sees | `upstream_request_filter` |
//! | [`body_forwarding`] | getting the rewritten body upstream (retry buffer or subrequest pipe) | `request_filter`, `request_body_filter` |
//! | [`failover`] | whether a failed attempt moves to the next candidate; the final 502/504 | `fail_to_connect`, `error_while_proxy` |
//! | [`outcome`] | the finished call → its billing record | `logging` |
//!
//! Per-call state, who writes it and who reads it ([`call::LlmCall`]):
//!
//! | field | written by | read by |
//! | --- | --- | --- |
//! | `principal`, `public_model`, `stream`, `candidates`, `body`, `request_bytes`, `reservation`, `rate_limit` | `admit` (once) | every later phase; `logging` takes `reservation` |
//! | `current`, `attempts`, `next` | `upstream_peer` (per attempt), `failover` (`next`) | `upstream_request_filter`, `request_body_filter`, `outcome` |
//! | `body_sent_for` | `request_body_filter` | `request_body_filter` (one body per attempt) |
//! | `upstream_status`, `ttfb`, `meter` | `upstream_response_filter` | `response_body_filter`, `outcome` |
//! | `response_started`, `client_status` | `response_filter` | `failover` (no failover once started), `outcome` |
//! | `retry_next`, `last_failure` | `failover` | `body_forwarding` (piped attempts), `fail_to_proxy` |
//! | `transfer_error`, `error_code` | `logging`, `fail_to_proxy`, `body_forwarding` | `outcome` |

pub mod admit;
pub mod body_forwarding;
pub mod call;
pub mod catalog;
pub mod failover;
pub mod outcome;
mod phases;
pub mod provider_pool;
pub mod route;
pub mod upstream_addrs;
pub mod upstream_request;

use crate::config::Config;
use crate::control::{public, Accounts, ControlPlane};
use crate::identity::Authenticator;
use crate::metrics::Metrics;
use crate::plugins::Chains;
use crate::rate_limit::RateLimiter;
use call::{LlmCall, SharedCall};
use catalog::ModelCatalog;
use provider_pool::ProviderPool;
use std::sync::Arc;
use std::time::Instant;
use tollgate_billing::BillingSink;
use upstream_addrs::UpstreamAddrs;

pub struct Gateway {
    pub config: Arc<Config>,
    pub catalog: ModelCatalog,
    pub pool: ProviderPool,
    pub addrs: Arc<UpstreamAddrs>,
    pub auth: Arc<dyn Authenticator>,
    pub sink: Arc<dyn BillingSink>,
    pub metrics: Arc<Metrics>,
    /// Answers every path that is not an LLM call.
    pub control: ControlPlane,
    /// Admitted LLM calls whose `logging` has not run yet (graceful shutdown waits on it).
    pub in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// Per-wallet rate limits (in process unless `with_rate_limiter` shares a Redis one).
    pub limiter: Arc<RateLimiter>,
    /// Every route's plugins (`routes:`).
    chains: Chains,
}

/// Per-request state. For a large-body call the outer request and its inner subrequest each
/// have one, sharing the same [`SharedCall`].
pub struct RequestCtx {
    started: Instant,
    started_unix_ms: u64,
    request_id: Option<Arc<str>>,
    call: Option<Arc<SharedCall>>,
    /// This is the inner subrequest of a piped (large-body) call.
    inner: bool,
    /// Error code of a request refused before any upstream was chosen.
    rejected: Option<&'static str>,
    /// The API key's and the wallet's in-flight slots: freed when the request (this ctx)
    /// ends, on every path.
    rate_slots: [Option<pingora_limits::inflight::Guard>; 2],
}

impl Gateway {
    pub fn new(
        config: Arc<Config>,
        auth: Arc<dyn Authenticator>,
        sink: Arc<dyn BillingSink>,
        metrics: Arc<Metrics>,
        addrs: Arc<UpstreamAddrs>,
        accounts: Option<Arc<Accounts>>,
        limiter: Arc<RateLimiter>,
        chains: Chains,
    ) -> Self {
        let pool = ProviderPool::new(
            config.providers.iter().map(|p| p.priority),
            config.server.unhealthy_cooldown,
        );
        for p in &config.providers {
            metrics.set_health(&p.id, 0);
        }
        Gateway {
            catalog: ModelCatalog::new(&config),
            pool,
            addrs,
            auth,
            sink,
            metrics,
            chains,
            control: ControlPlane {
                models_body: public::models_body(&config),
                accounts,
                limiter: limiter.clone(),
            },
            in_flight: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            limiter,
            config,
        }
    }

    /// The configured model of a route.
    fn model_of(&self, r: catalog::Route) -> &crate::config::ProviderModel {
        &self.config.providers[r.provider].models[r.model]
    }

    fn upstream_model(&self, call: &LlmCall) -> Option<&str> {
        let r = call
            .current
            .or_else(|| call.candidates.get(call.next).copied())?;
        Some(
            self.config.providers[r.provider].models[r.model]
                .upstream_model
                .as_str(),
        )
    }
}
