//! `impl ProxyHttp for Gateway`: Pingora's phases, in the order a request meets them. Each
//! phase decides one thing and delegates; what it may refuse and which call fields it writes
//! is said where it is implemented (and tabled in [`super`]).
//!
//! | phase | decides | may refuse | writes |
//! |---|---|---|---|
//! | `request_filter` | which endpoint (the rest is answered by [`super::local`]); request-head plugins; who pays; is the body valid; body plugins; which providers | 400/401/402/403/404/405/413/429/503 | the whole [`LlmCall`](super::call::LlmCall) via `admit` |
//! | `upstream_peer` | the provider for this attempt; peer plugins (timeouts) | — (no candidate left: internal error) | `current`, `attempts`, `upstream_since`, resets per-attempt fields |
//! | `upstream_request_filter` | upstream path, Host, credentials, Content-Length; upstream-request plugins | — | (the upstream header) |
//! | `request_body_filter` | the rewritten body replaces the client's | — | `body_sent_for` |
//! | `upstream_response_filter` | 5xx → fail over; 2xx → start metering; upstream-response plugins | 5xx (as an error, for failover) | `upstream_status`, `ttfb`, `meter` |
//! | `response_filter` | the client's status line, Tollgate's headers, response plugins | — | `response_started`, `client_status` |
//! | `response_body_filter` | feeds the usage meter, then chunk plugins; at the end, seals the outcome (spool) | 500 when the spool cannot take it | `meter`, `upstream_time`, `sealed` |
//! | `fail_to_connect`, `error_while_proxy` | whether the next candidate may be tried | — | `next`, `retry_next`, `last_failure` |
//! | `fail_to_proxy` | the 502 / 504 body when every candidate failed | — | `client_status`, `error_code` |
//! | `logging` | one outcome to billing, metrics and outcome plugins | — | takes `reservation`, `sealed` |

use super::body_forwarding::{self, BodyPath};
use super::failover::AttemptFailure;
use super::route::Endpoint;
use super::{observe, outcome, paid_window, upstream_request, Gateway, RequestCtx};
use crate::market::provider_pool::InFlight;
use crate::metrics::FailoverReason;
use crate::rate_limit;
use crate::wire::body::discard_rest_of_body;
use crate::wire::{respond_error, AnswerPolicy, ApiError};
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::HttpModules;
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn init_downstream_modules(&self, modules: &mut HttpModules) {
        // In place of Pingora's default (a disabled compression module): Tollgate never
        // compresses, and the meter reads the provider's bytes as sent.
        AnswerPolicy {
            cors: self.config.server.cors.clone().map(Arc::new),
            shape: self.config.server.error_shape,
        }
        .install(modules);
    }

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
            rate_slots: [None, None],
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
                call.upstream_body().map(|(body, m)| body.len_for(m))
            };
            body_forwarding::prepare_inner_request(session, len.unwrap_or(0))?;
            ctx.call = Some(shared);
            return Ok(false);
        }

        // A client that stops reading must not hold its request (and, for a paid call, a
        // settlement slot) forever.
        session
            .as_downstream_mut()
            .set_write_timeout(Some(self.config.server.downstream_write_timeout));
        let (op, alias) = match Endpoint::of(session.req_header(), &self.market.current().catalog)
        {
            Endpoint::Llm { op, alias } => (op, alias),
            other => {
                self.answer_locally(session, ctx, other).await?;
                return Ok(true);
            }
        };

        let id: Arc<str> = Arc::from(format!("req_{}", uuid::Uuid::now_v7().simple()));
        ctx.request_id = Some(id.clone());
        let shared = match self.admit(session, ctx, op, alias.as_deref()).await {
            Ok(s) => s,
            Err((e, close)) => {
                ctx.rejected = Some(e.code);
                respond_error(session, &e, Some(&id), close).await?;
                if close {
                    discard_rest_of_body(session).await;
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
        call.attempt_started = Some(std::time::Instant::now());
        call.upstream_began();
        observe::attempt_started(&mut call);
        // The previous attempt's count ends here (replacing the guard drops it).
        call.in_flight = Some(InFlight::start(call.listings.pool.cell(route.provider)));
        call.retry_next = false;
        call.upstream_status = None;
        call.meter = None;
        call.transfer_error = false;
        let listings = call.listings.clone();
        let provider = listings.provider(route);
        let addr = match listings.addrs.get(route.provider) {
            Ok(a) => a,
            Err(why) => {
                let retry = self
                    .attempt_failed(&mut call, AttemptFailure::Provider(FailoverReason::Connect));
                let mut e = Error::explain(
                    ErrorType::ConnectNoRoute,
                    format!("upstream {}: {why}", provider.id),
                );
                e.set_retry(retry && !ctx.inner);
                return Err(e);
            }
        };
        let mut peer = HttpPeer::new(addr, provider.upstream.tls, provider.upstream.host.clone());
        let s = &self.config.server;
        peer.options.connection_timeout = Some(s.connect_timeout);
        peer.options.total_connection_timeout = Some(s.connect_timeout.saturating_mul(2));
        peer.options.read_timeout = Some(s.first_byte_timeout);
        peer.options.write_timeout = Some(s.first_byte_timeout);
        peer.options.idle_timeout = Some(s.idle_timeout);
        shared.chain.upstream_peer(&mut peer, &provider.id);
        paid_window::fit_attempt(&mut call, &mut peer, s.first_byte_timeout)?;
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
        let provider = call.listings.provider(route);
        let model = &provider.models[route.model].upstream_model;
        let len = call.body_for(route).body.len_for(model);
        upstream_request::rewrite(upstream, provider, call.op, len)?;
        observe::trace_upstream(&call, upstream);
        shared.chain.upstream_request(upstream, &provider.id)
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
        *body = call.upstream_body().map(|(b, m)| b.to_bytes_for(m));
        call.body_sent_for = Some(call.attempts);
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some(shared) = ctx.call.as_ref() else {
            return Ok(());
        };
        let status = resp.status.as_u16();
        let mut call = shared.lock();
        let w = self.config.server.downstream_write_timeout;
        paid_window::cut_if_due(&mut call, session, &mut None, false, w)?;
        call.ttfb = Some(shared.started.elapsed());
        call.upstream_status = Some(status);
        if status >= 500 {
            return Err(Error::explain(
                ErrorType::HTTPStatus(status),
                "upstream answered with a server error",
            ));
        }
        if let Some(p) = call.current_provider() {
            let l = &call.listings;
            if let Some(t) = call.attempt_started {
                l.pool.observe_ttfb(p, t.elapsed().as_millis() as u64);
            }
            if l.pool.mark_healthy(p) {
                self.market.learned(&l.providers[p].id, true, "answered");
            }
        }
        let is_sse = resp
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim_start().starts_with("text/event-stream"));
        self.start_response(&mut call, status, is_sse);
        // After the meter chose how to read the body: a plugin cannot change that.
        if let Some(p) = call.current_provider() {
            shared
                .chain
                .upstream_response(resp, &call.listings.providers[p].id);
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some(shared) = ctx.call.as_ref() else {
            return Ok(());
        };
        let reshaped = shared.lock().shaper.is_some();
        if (reshaped || shared.chain.has_chunk())
            && resp.headers.contains_key(http::header::CONTENT_LENGTH)
        {
            // Translation, the cost stamp or a chunk plugin change the body's size: frame it
            // by chunks instead.
            resp.remove_header(&http::header::CONTENT_LENGTH);
            if !session.is_http2() {
                resp.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
            }
        }
        let mut call = shared.lock();
        call.response_started = true;
        call.client_status = resp.status.as_u16();
        resp.insert_header("x-request-id", &*call.request_id)?;
        if let Some(v) = &call.rate_limit {
            rate_limit::add_headers(resp, v)?;
        }
        let provider = call
            .current_provider()
            .map(|p| call.listings.providers[p].id.as_str());
        shared.chain.response(resp, provider)
    }

    fn response_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        let Some(shared) = ctx.call.as_ref() else {
            return Ok(None);
        };
        {
            let mut call = shared.lock();
            let w = self.config.server.downstream_write_timeout;
            paid_window::cut_if_due(&mut call, session, body, end_of_stream, w)?;
            // The meter (spine) reads the provider's bytes before the shaper and any chunk
            // plugin.
            self.shape_chunk(&mut call, body, end_of_stream, shared.started);
        }
        shared.chain.chunk(body, end_of_stream);
        if end_of_stream {
            let mut call = shared.lock();
            call.upstream_ended();
            // The record is durable before the last chunk is written: a crash after this
            // point cannot lose what the client received.
            if self.sink.persists() {
                outcome::seal(&self.config, &*self.sink, &mut call, shared.started)
                    .map_err(|why| Error::explain(ErrorType::InternalError, why))?;
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
        if paid_window::ended_by_window(&call, &e) {
            call.upstream_ended();
            e.set_retry(false);
            return e;
        }
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

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let Some(shared) = ctx.call.as_ref() else {
            if let Some(code) = ctx.rejected {
                self.metrics.rejected(code);
            }
            self.observe_other(session, ctx);
            return;
        };
        if e.is_some() {
            shared.lock().transfer_error = true;
        }
        if ctx.inner {
            shared.mark_inner_done();
            return;
        }
        // Sealed before the last chunk (the spool), or built now: a call that ended otherwise.
        let sealed = shared.lock().sealed.take();
        // A stream cut before its usage is billed on a real count of its prompt: counted off
        // the proxy threads (the only CPU-heavy step of billing, and a rare one).
        let to_count = (sealed.is_none())
            .then(|| outcome::prompt_to_count(&shared.lock()))
            .flatten();
        let counted = match to_count {
            Some(prompt) => outcome::count_prompt(prompt).await,
            None => None,
        };
        let (o, reservation, wallet, trace, paid) = {
            let mut call = shared.lock();
            self.metrics
                .overhead(call.stream, call.overhead(shared.started));
            let o = sealed.unwrap_or_else(|| {
                outcome::build(
                    &self.config,
                    &call,
                    ctx.started,
                    ctx.started_unix_ms,
                    counted,
                )
            });
            let wallet = self
                .limiter
                .tracks_tokens()
                .then(|| call.principal.wallet.clone());
            (o, call.reservation.take(), wallet, call.trace.take(), call.paid.take())
        };
        outcome::log_overrun(&o);
        if let Some(id) = &o.response_id {
            self.continuations.remember(id, &o.wallet, &o.provider);
        }
        self.metrics.observe(&o);
        self.observe_call(session, trace, &o);
        shared.chain.outcome(&o);
        if let Some(wallet) = wallet {
            self.limiter.charge_tokens(&wallet, o.tokens.total());
        }
        if let (Some(paid), Some(ppc)) = (paid, &self.pay_per_call) {
            // Recorded now, after the response; settled on chain by the settlement job.
            ppc.hand_off(&paid, &o, reservation.and_then(|r| r.spooled)).await;
        } else if let Some(mut r) = reservation {
            // Spooled already when sealed; an error leaves it to the settlement queue alone
            // (the spool refuses admissions meanwhile).
            if let Err(why) = self.sink.persist(&o, &mut r) {
                log::error!("request {}: {why}", o.request_id);
            }
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
