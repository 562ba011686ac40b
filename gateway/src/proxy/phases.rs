//! `Gateway`: the Pingora `ProxyHttp` implementation. Each phase decides one thing and
//! delegates the work to a named module:
//!
//! | phase                      | decides                                                          |
//! |----------------------------|------------------------------------------------------------------|
//! | `request_filter`           | which endpoint; who pays; is the body valid; which providers     |
//! | `upstream_peer`            | the provider for this attempt                                    |
//! | `upstream_request_filter`  | upstream path, Host, credentials, Content-Length                 |
//! | `request_body_filter`      | the rewritten body replaces the client's                        |
//! | `upstream_response_filter` | 5xx → fail over; 2xx → start metering                           |
//! | `response_body_filter`     | feeds the usage meter                                            |
//! | `fail_to_connect`, `error_while_proxy` | whether the next candidate may be tried              |
//! | `fail_to_proxy`            | the 502 / 504 body when every candidate failed                  |
//! | `logging`                  | one outcome to billing and metrics                               |

use crate::account_api;
use crate::api_error::{respond_error, respond_json, ApiError};
use crate::auth::{self, Authenticator};
use crate::body_forwarding::{self, BodyPath};
use crate::catalog::ModelCatalog;
use crate::config::Config;
use crate::control;
use crate::endpoint::Endpoint;
use crate::llm_call::{LlmCall, SharedCall};
use crate::metrics::{FailoverReason, Metrics};
use crate::outcome;
use crate::provider_pool::ProviderPool;
use crate::rate_limit::{self, RateLimiter};
use crate::upstream_addrs::UpstreamAddrs;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tollgate_billing::{AdmitError, BillingSink};
use tollgate_filters::chat_request::{BodyRules, ChatRequest};
use tollgate_filters::usage::{ApiFormat, BodyKind, UsageMeter};

pub struct Gateway {
    pub config: Arc<Config>,
    pub catalog: ModelCatalog,
    pub pool: ProviderPool,
    pub addrs: Arc<UpstreamAddrs>,
    pub auth: Arc<dyn Authenticator>,
    pub sink: Arc<dyn BillingSink>,
    pub metrics: Arc<Metrics>,
    /// The ledger-backed control plane: balances, usage, keys (Postgres billing only).
    pub accounts: Option<Arc<account_api::Accounts>>,
    /// Admitted LLM calls whose `logging` has not run yet (graceful shutdown waits on it).
    pub in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// Per-wallet rate limits (in process unless `with_rate_limiter` shares a Redis one).
    pub limiter: Arc<RateLimiter>,
    rules: BodyRules,
    models_body: Bytes,
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
    /// The API key's in-flight slot: freed when the request (this ctx) ends, on every path.
    rate_slot: Option<pingora_limits::inflight::Guard>,
}

/// How an attempt at one provider ended without a usable response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttemptFailure {
    /// The provider failed: demote it and move to the next candidate.
    Provider(FailoverReason),
    /// A pooled keep-alive connection had gone stale: same candidate, fresh connection.
    StaleConnection,
}

impl Gateway {
    pub fn new(
        config: Arc<Config>,
        auth: Arc<dyn Authenticator>,
        sink: Arc<dyn BillingSink>,
        metrics: Arc<Metrics>,
        addrs: Arc<UpstreamAddrs>,
        accounts: Option<Arc<account_api::Accounts>>,
        limiter: Arc<RateLimiter>,
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
            rules: BodyRules {
                thinking: config.server.thinking,
                default_max_tokens: config.server.default_max_tokens,
            },
            models_body: control::models_body(&config),
            accounts,
            in_flight: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            limiter,
            config,
        }
    }

    /// Authenticate, read and check the body, resolve candidates: everything that can refuse
    /// a call happens here, before any upstream is contacted.
    async fn admit(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        api: ApiFormat,
        alias: Option<&str>,
    ) -> std::result::Result<Arc<SharedCall>, (ApiError, bool)> {
        let key = auth::api_key(session.req_header()).ok_or((ApiError::unauthorized(), false))?;
        let principal = self
            .auth
            .authenticate(key)
            .await
            .ok_or((ApiError::unauthorized(), false))?;
        // Rate limits before the body is read or anything reserved: a 429 costs nothing.
        let admitted = self.limiter.admit(&principal).await.map_err(|e| (e, false))?;
        ctx.rate_slot = admitted.slot;
        let body = body_forwarding::read_body(session, self.config.server.max_body_bytes)
            .await
            .map_err(|e| e.into_api_error(self.config.server.max_body_bytes))?;

        let mut req = ChatRequest::parse(&body, api)
            .map_err(|e| (ApiError::validation(e.to_string()), false))?;
        let resolved = self
            .catalog
            .resolve(req.model(), api, alias)
            .map_err(|e| (ApiError::validation(e.to_string()), false))?;
        req.sanitize(&self.rules)
            .map_err(|e| (ApiError::validation(e.to_string()), false))?;
        let candidates = self.pool.order(resolved.entry);
        // Worst case over every provider the call may fail over to: the body's byte length
        // bounds its prompt tokens, `max_tokens × n` its output (docs/design.md).
        let output_bound = req
            .max_output_tokens()
            .unwrap_or(self.config.server.default_max_tokens)
            .saturating_mul(req.choices());
        let max_cost = candidates
            .iter()
            .map(|r| {
                self.config.providers[r.provider].models[r.model]
                    .prices
                    .worst_case(
                        body.len() as u64,
                        output_bound,
                        self.config.server.provider_share,
                    )
                    .buyer_cost
            })
            .max()
            .unwrap_or(0);
        let reservation = self
            .sink
            .reserve(&principal.wallet, max_cost)
            .await
            .map_err(|e| match e {
                AdmitError::InsufficientBalance => (ApiError::insufficient_balance(), false),
                AdmitError::Unavailable(why) => {
                    // Counted in tollgate_rejected_requests_total; one line per request would flood
                    // the log exactly when the ledger is already struggling.
                    log::debug!("refusing a paid request: {why}");
                    (ApiError::billing_unavailable(), false)
                }
            })?;
        let call = LlmCall {
            api,
            principal,
            public_model: resolved.public_id.to_string(),
            stream: req.stream(),
            candidates,
            next: 0,
            attempts: 0,
            body: req.render(),
            body_sent_for: None,
            current: None,
            upstream_status: None,
            ttfb: None,
            meter: None,
            response_started: false,
            client_status: 0,
            retry_next: false,
            last_failure: None,
            error_code: None,
            transfer_error: false,
            request_id: ctx.request_id.clone().unwrap_or_else(|| Arc::from("")),
            request_bytes: body.len() as u64,
            reservation: Some(reservation),
            rate_limit: admitted.verdict,
        };
        Ok(SharedCall::new(call, ctx.started))
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

    /// Book-keeping for a failed attempt. Returns whether another attempt may follow.
    fn attempt_failed(&self, call: &mut LlmCall, failure: AttemptFailure) -> bool {
        let Some(provider) = call.current_provider() else {
            return false;
        };
        match failure {
            AttemptFailure::Provider(reason) => {
                self.pool.mark_unhealthy(provider);
                let id = &self.config.providers[provider].id;
                self.metrics.failover(id, reason);
                self.metrics
                    .set_health(id, self.pool.health(provider).gauge());
                call.last_failure = Some(reason);
                call.next += 1;
                call.retry_next = !call.response_started && call.next < call.candidates.len();
            }
            AttemptFailure::StaleConnection => {
                // Bounded: a stale pooled connection is retried at most a few times.
                call.retry_next =
                    !call.response_started && call.attempts <= call.candidates.len() as u32 + 2;
            }
        }
        call.retry_next
    }

    fn classify(e: &Error, client_reused: bool) -> AttemptFailure {
        use ErrorType::*;
        match e.etype() {
            ConnectTimedout | TLSHandshakeTimedout | ReadTimedout | WriteTimedout => {
                AttemptFailure::Provider(FailoverReason::Timeout)
            }
            ConnectionClosed | ReadError | WriteError if client_reused => {
                AttemptFailure::StaleConnection
            }
            HTTPStatus(s) if *s >= 500 => AttemptFailure::Provider(FailoverReason::Status5xx),
            _ => AttemptFailure::Provider(FailoverReason::Connect),
        }
    }

    fn final_error(call: &LlmCall) -> ApiError {
        match call.last_failure {
            Some(FailoverReason::Timeout) => ApiError::upstream_timeout(),
            _ => ApiError::upstream_error(),
        }
    }

    /// Pipe a large-body call through subrequests, one per attempt, then answer the final
    /// error if no attempt produced a response.
    async fn serve_piped(&self, session: &mut Session, shared: &Arc<SharedCall>) -> Result<()> {
        let wait_limit = self.config.server.first_byte_timeout + Duration::from_secs(5);
        loop {
            let chunks = {
                let call = shared.lock();
                let Some(model) = self.upstream_model(&call) else {
                    break;
                };
                call.body.chunks_for(model)
            };
            body_forwarding::pipe_attempt(session, shared, chunks, wait_limit).await?;
            let mut call = shared.lock();
            if !call.retry_next || call.response_started {
                break;
            }
            call.current = None;
        }
        let err = {
            let mut call = shared.lock();
            if call.response_started {
                return Ok(());
            }
            let e = Self::final_error(&call);
            call.client_status = e.status;
            call.error_code = Some(e.code);
            e
        };
        let id = shared.lock().request_id.clone();
        respond_error(session, &err, Some(&id), false).await
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            started_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            request_id: None,
            call: None,
            inner: false,
            rejected: None,
            rate_slot: None,
        }
    }

    fn allow_spawning_subrequest(&self, session: &Session, _ctx: &RequestCtx) -> bool {
        // Only outer requests pipe bodies; a subrequest never spawns another.
        session.subrequest_ctx.is_none()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        if let Some(shared) = body_forwarding::inner_call(session) {
            ctx.inner = true;
            let len = {
                let call = shared.lock();
                self.upstream_model(&call).map(|m| call.body.len_for(m))
            };
            body_forwarding::prepare_inner_request(session, len.unwrap_or(0))?;
            ctx.call = Some(shared);
            return Ok(false);
        }

        let (api, alias) = match Endpoint::of(session.req_header(), &self.catalog) {
            Endpoint::Health => {
                respond_json(
                    session,
                    200,
                    Bytes::from_static(control::HEALTH_BODY),
                    None,
                    false,
                )
                .await?;
                return Ok(true);
            }
            Endpoint::Models => {
                respond_json(session, 200, self.models_body.clone(), None, false).await?;
                return Ok(true);
            }
            Endpoint::Account(account) => {
                match &self.accounts {
                    Some(accounts) => account_api::serve(session, accounts, account).await?,
                    None => {
                        let e = ApiError::not_found(
                            "this gateway has no ledger (billing.sink: memory)",
                        );
                        respond_error(session, &e, None, false).await?;
                    }
                }
                return Ok(true);
            }
            Endpoint::Refused(e) => {
                ctx.rejected = Some(e.code);
                let close = !session.as_mut().is_body_empty();
                respond_error(session, &e, None, close).await?;
                return Ok(true);
            }
            Endpoint::Llm { api, alias } => (api, alias),
        };

        let id: Arc<str> = Arc::from(format!("req_{}", uuid::Uuid::now_v7().simple()));
        ctx.request_id = Some(id.clone());
        let shared = match self.admit(session, ctx, api, alias.as_deref()).await {
            Ok(s) => s,
            Err((e, close)) => {
                ctx.rejected = Some(e.code);
                respond_error(session, &e, Some(&id), close).await?;
                if close {
                    body_forwarding::discard_rest_of_body(session).await;
                }
                return Ok(true);
            }
        };
        self.in_flight
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        ctx.call = Some(shared.clone());
        let path = if self.config.server.force_subrequest {
            BodyPath::Subrequest
        } else {
            body_forwarding::path_for(session)
        };
        match path {
            BodyPath::RetryBuffer => Ok(false),
            BodyPath::Subrequest => {
                self.serve_piped(session, &shared).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let shared = ctx
            .call
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no call"))?;
        let mut call = shared.lock();
        let Some(route) = call.candidates.get(call.next).copied() else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "no upstream candidate left",
            ));
        };
        call.current = Some(route);
        call.attempts += 1;
        call.retry_next = false;
        call.upstream_status = None;
        call.meter = None;
        call.transfer_error = false;
        let provider = &self.config.providers[route.provider];
        let Some(addr) = self.addrs.get(route.provider) else {
            let retry =
                self.attempt_failed(&mut call, AttemptFailure::Provider(FailoverReason::Connect));
            let mut e = Error::explain(
                ErrorType::ConnectNoRoute,
                format!("upstream {} does not resolve", provider.upstream.host),
            );
            e.set_retry(retry && !ctx.inner);
            return Err(e);
        };
        let mut peer = HttpPeer::new(addr, provider.upstream.tls, provider.upstream.host.clone());
        let s = &self.config.server;
        peer.options.connection_timeout = Some(s.connect_timeout);
        peer.options.total_connection_timeout = Some(s.connect_timeout * 2);
        peer.options.read_timeout = Some(s.first_byte_timeout);
        peer.options.write_timeout = Some(s.first_byte_timeout);
        peer.options.idle_timeout = Some(s.idle_timeout);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let shared = ctx
            .call
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no call"))?;
        let call = shared.lock();
        let route = call
            .current
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no attempt"))?;
        let provider = &self.config.providers[route.provider];
        let model = &provider.models[route.model].upstream_model;
        crate::upstream_request::rewrite(upstream, provider, call.body.len_for(model))
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        // The inner subrequest receives the already-rewritten body from its pipe.
        if ctx.inner {
            return Ok(());
        }
        let Some(shared) = ctx.call.as_ref() else {
            return Ok(());
        };
        let mut call = shared.lock();
        if call.body_sent_for == Some(call.attempts) {
            *body = None;
            return Ok(());
        }
        *body = self
            .upstream_model(&call)
            .map(|m| call.body.to_bytes_for(m));
        call.body_sent_for = Some(call.attempts);
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some(shared) = ctx.call.as_ref() else {
            return Ok(());
        };
        let status = resp.status.as_u16();
        let mut call = shared.lock();
        call.ttfb = Some(shared.started.elapsed());
        call.upstream_status = Some(status);
        if status >= 500 {
            return Err(Error::explain(
                ErrorType::HTTPStatus(status),
                "upstream answered with a server error",
            ));
        }
        if let Some(p) = call.current_provider() {
            self.pool.mark_healthy(p);
            self.metrics.set_health(&self.config.providers[p].id, 1);
        }
        if (200..300).contains(&status) {
            let is_sse = resp
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.trim_start().starts_with("text/event-stream"));
            let kind = if is_sse {
                BodyKind::EventStream
            } else {
                BodyKind::Json
            };
            call.meter = Some(UsageMeter::new(call.api, kind));
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some(shared) = ctx.call.as_ref() else {
            return Ok(());
        };
        let mut call = shared.lock();
        call.response_started = true;
        call.client_status = resp.status.as_u16();
        resp.insert_header("x-request-id", &*call.request_id)?;
        if let Some(v) = &call.rate_limit {
            rate_limit::add_headers(resp, v)?;
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        if let (Some(shared), Some(chunk)) = (ctx.call.as_ref(), body.as_ref()) {
            if let Some(meter) = shared.lock().meter.as_mut() {
                meter.feed(chunk);
            }
        }
        Ok(None)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let reason = match e.etype() {
            ErrorType::ConnectTimedout | ErrorType::TLSHandshakeTimedout => FailoverReason::Timeout,
            _ => FailoverReason::Connect,
        };
        let retry = match ctx.call.as_ref() {
            Some(shared) => {
                self.attempt_failed(&mut shared.lock(), AttemptFailure::Provider(reason))
            }
            None => false,
        };
        e.set_retry(retry && !ctx.inner);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        _session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        let Some(shared) = ctx.call.as_ref() else {
            e.set_retry(false);
            return e;
        };
        let mut call = shared.lock();
        // The client went away: not the provider's fault, and nobody to retry for.
        if *e.esource() == ErrorSource::Downstream || call.response_started {
            if *e.esource() != ErrorSource::Downstream && call.response_started {
                // Cut mid-body by the upstream: demote it, but the client already has a
                // partial response, so there is no failover.
                self.attempt_failed(&mut call, Self::classify(&e, false));
            }
            e.set_retry(false);
            return e;
        }
        let failure = Self::classify(&e, client_reused);
        let retry = self.attempt_failed(&mut call, failure);
        e.set_retry(retry && !ctx.inner);
        e
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let no_reuse = |code| FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        };
        // The outer request answers for a piped call; the inner writes into a pipe nobody reads.
        if ctx.inner {
            return no_reuse(0);
        }
        let api_error = match ctx.call.as_ref() {
            Some(shared) => {
                let mut call = shared.lock();
                if call.response_started {
                    return no_reuse(call.client_status);
                }
                let err = Self::final_error(&call);
                call.client_status = err.status;
                call.error_code = Some(err.code);
                err
            }
            None => match e.esource() {
                ErrorSource::Downstream => return no_reuse(0),
                _ => ApiError::new(
                    500,
                    "INTERNAL_ERROR",
                    "The gateway failed to handle the request",
                ),
            },
        };
        let id = ctx.request_id.clone();
        if let Err(we) = respond_error(session, &api_error, id.as_deref(), true).await {
            log::debug!("could not send error response: {we}");
        }
        no_reuse(api_error.status)
    }

    async fn logging(&self, _session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let Some(shared) = ctx.call.as_ref() else {
            if let Some(code) = ctx.rejected {
                self.metrics.rejected(code);
            }
            return;
        };
        if e.is_some() {
            shared.lock().transfer_error = true;
        }
        if ctx.inner {
            shared.mark_inner_done();
            return;
        }
        let (o, reservation, wallet) = {
            let mut call = shared.lock();
            let o = outcome::build(&self.config, &call, ctx.started, ctx.started_unix_ms);
            let wallet = self
                .limiter
                .tracks_tokens()
                .then(|| call.principal.wallet.clone());
            (o, call.reservation.take(), wallet)
        };
        self.metrics.observe(&o);
        if let Some(wallet) = wallet {
            self.limiter.charge_tokens(&wallet, o.tokens.total());
        }
        if let Some(r) = reservation {
            self.sink.record(o, r);
        }
        self.in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &RequestCtx, _e: &Error) -> bool {
        // Failed attempts are counted in metrics and answered as JSON; the inner request of
        // a piped call would log every failover twice.
        ctx.inner
    }
}
