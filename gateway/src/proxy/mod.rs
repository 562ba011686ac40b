//! The data plane: [`Gateway`], Pingora's `ProxyHttp` for LLM calls. Files follow the path
//! of a request; each phase in [`phases`] decides one thing and delegates to one of them:
//!
//! | module | job | phase |
//! | --- | --- | --- |
//! | [`route`] | method + path → an LLM endpoint or a control-plane route (nothing else): the route table | `request_filter` |
//! | [`local`] | answers that need no provider: control plane, CORS preflights, 404/405 | `request_filter` |
//! | [`admit`] | key → rate limits → body → parse, resolve, sanitise → reservation | `request_filter` |
//! | [`call`] | the per-call state ([`call::LlmCall`]) the later phases share | all |
//! | [`continuations`] | which provider a Responses call that continues another must reach | `request_filter`, `logging` |
//! | [`crate::market`] | the catalog snapshot a call is routed by: candidates, health, addresses | `request_filter`, `upstream_peer` |
//! | [`upstream_request`] | path, `Host`, credentials, framing the provider sees | `upstream_request_filter` |
//! | [`body_forwarding`] | getting the rewritten body upstream (retry buffer or subrequest pipe) | `request_filter`, `request_body_filter` |
//! | [`failover`] | whether a failed attempt moves to the next candidate; the final 502/504 | `fail_to_connect`, `error_while_proxy` |
//! | [`shaping`] | what the client receives: the meter, translation and the cost stamp per chunk | `upstream_response_filter`, `response_body_filter` |
//! | [`paid_window`] | a call paid per call ends before its payment: attempt timeouts, the cut | `upstream_peer`, `response_body_filter` |
//! | [`outcome`] | the finished call → its billing record | `logging` |
//! | [`observe`] | trace spans per call and attempt, the access line | `request_filter`, `upstream_peer`, `upstream_request_filter`, `failover`, `logging` |
//!
//! Per-call state, who writes it and who reads it ([`call::LlmCall`]):
//!
//! | field | written by | read by |
//! | --- | --- | --- |
//! | `listings`, `op`, `principal`, `public_model`, `stream`, `candidates`, `bodies`, `reservation`, `rate_limit` | `admit` (once) | every later phase; `logging` takes `reservation` |
//! | `current`, `attempts`, `next` | `upstream_peer` (per attempt), `failover` (`next`) | `upstream_request_filter`, `request_body_filter`, `outcome` |
//! | `body_sent_for` | `request_body_filter` | `request_body_filter` (one body per attempt) |
//! | `upstream_status`, `ttfb`, `meter`, `shaper` | `upstream_response_filter` | `response_body_filter`, `outcome` |
//! | `response_id` | `response_body_filter` (from the shaper) | `outcome`, `logging` ([`continuations`]) |
//! | `response_started`, `client_status` | `response_filter` | `failover` (no failover once started), `outcome` |
//! | `retry_next`, `last_failure` | `failover` | `body_forwarding` (piped attempts), `fail_to_proxy` |
//! | `transfer_error`, `error_code` | `logging`, `fail_to_proxy`, `body_forwarding` | `outcome` |
//! | `first_token` | `response_body_filter` (via `feed_meter`) | `outcome` |
//! | `trace` | `admit` (the call span), `observe` (attempt spans) | `upstream_request_filter` (`traceparent`), `logging` |

pub mod admit;
pub mod body_forwarding;
pub mod call;
pub mod continuations;
pub mod failover;
mod local;
mod observe;
pub mod outcome;
mod paid_window;
mod phases;
pub mod preferences;
pub mod route;
pub mod shaping;
pub mod upstream_request;

use crate::config::Config;
use crate::control::{Accounts, ControlPlane};
use crate::identity::Authenticator;
use crate::market::Market;
use crate::metrics::Metrics;
use crate::plugins::Chains;
use crate::rate_limit::RateLimiter;
use crate::readiness::Readiness;
use call::SharedCall;
use std::sync::Arc;
use std::time::Instant;
use tollgate_billing::BillingSink;

pub struct Gateway {
    pub config: Arc<Config>,
    /// The providers and models calls are routed to (swapped when the marketplace changes).
    pub market: Arc<Market>,
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
    /// Which provider produced each Responses object, for continuations.
    pub continuations: continuations::Continuations,
    /// The access log and traces, when configured (set by `app` after `new`).
    pub observe: crate::telemetry::Observers,
    /// Calls paid per call with x402 `upto` (`pay_per_call:`; set by `app` after `new`).
    pub pay_per_call: Option<Arc<crate::money::pay_per_call::PayPerCall>>,
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
        market: Arc<Market>,
        accounts: Option<Arc<Accounts>>,
        limiter: Arc<RateLimiter>,
        chains: Chains,
    ) -> Self {
        Gateway {
            continuations: continuations::Continuations::new(
                accounts.as_ref().map(|a| a.ledger.clone()),
            ),
            auth,
            sink,
            metrics,
            chains,
            control: ControlPlane {
                market: market.clone(),
                provider_share: config.server.provider_share,
                last_day: Default::default(),
                health: Default::default(),
                console: None,
                accounts,
                limiter: limiter.clone(),
                ready: Arc::new(Readiness::new(Vec::new())),
                docs: crate::control::docs::ApiDocs::new(config.public_url.as_deref()),
            },
            market,
            in_flight: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            limiter,
            config,
            observe: Default::default(),
            pay_per_call: None,
        }
    }

    /// `/ready` answers from these checks (without them: ready whenever it serves).
    pub fn with_readiness(mut self, ready: Arc<Readiness>) -> Self {
        self.control.ready = ready;
        self
    }
}
