//! Failover: whether a failed attempt may move to the next candidate, and the final 502/504
//! when none is left. An attempt is abandoned for the next candidate only while no response
//! byte has reached the client. Piped (large-body) calls fail over here too: one subrequest
//! per attempt ([`Gateway::serve_piped`]).

use super::body_forwarding;
use super::call::{LlmCall, SharedCall};
use super::Gateway;
use crate::metrics::FailoverReason;
use crate::wire::{respond_error, ApiError};
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};
use std::sync::Arc;
use std::time::Duration;

/// How an attempt at one provider ended without a usable response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AttemptFailure {
    /// The provider failed: demote it and move to the next candidate.
    Provider(FailoverReason),
    /// The provider took the whole request and did not answer in time: it may be generating
    /// (and billing) still, so the request is not sent to another provider to be generated
    /// (and billed) again. Demoted; the client gets 504.
    Slow,
    /// A pooled keep-alive connection had gone stale: same candidate, fresh connection.
    StaleConnection,
}

impl AttemptFailure {
    pub(super) fn label(self) -> &'static str {
        match self {
            AttemptFailure::Provider(reason) => reason.label(),
            AttemptFailure::Slow => "slow",
            AttemptFailure::StaleConnection => "stale_connection",
        }
    }
}

impl Gateway {
    /// Book-keeping for a failed attempt. Returns whether another attempt may follow.
    pub(super) fn attempt_failed(&self, call: &mut LlmCall, failure: AttemptFailure) -> bool {
        let Some(provider) = call.current_provider() else {
            return false;
        };
        call.upstream_ended();
        super::observe::attempt_failed(call, failure.label());
        match failure {
            AttemptFailure::Provider(reason) => {
                self.demote(call, provider, reason);
                call.last_failure = Some(reason);
                call.next += 1;
                call.retry_next = !call.response_started && call.next < call.candidates.len();
            }
            AttemptFailure::Slow => {
                self.demote(call, provider, FailoverReason::Timeout);
                call.last_failure = Some(FailoverReason::Timeout);
                call.retry_next = false;
            }
            AttemptFailure::StaleConnection => {
                // Bounded: a stale pooled connection is retried at most a few times.
                call.retry_next =
                    !call.response_started && call.attempts <= call.candidates.len() as u32 + 2;
            }
        }
        call.retry_next
    }

    /// Open the provider's breaker (announcing it when this opened it) and count why.
    fn demote(&self, call: &LlmCall, provider: usize, reason: FailoverReason) {
        let l = &call.listings;
        let id = &l.providers[provider].id;
        self.metrics.failover(id, reason);
        if l.pool.mark_unhealthy(provider) {
            self.market.learned(id, false, reason.label());
        }
    }

    pub(super) fn classify(e: &Error, client_reused: bool) -> AttemptFailure {
        use ErrorType::*;
        match e.etype() {
            // Before the provider has the request: another candidate may serve it.
            ConnectTimedout | TLSHandshakeTimedout | WriteTimedout => {
                AttemptFailure::Provider(FailoverReason::Timeout)
            }
            // The provider has it and is merely slow: one generation, not one per candidate.
            ReadTimedout => AttemptFailure::Slow,
            ConnectionClosed | ReadError | WriteError if client_reused => {
                AttemptFailure::StaleConnection
            }
            HTTPStatus(s) if *s >= 500 => AttemptFailure::Provider(FailoverReason::Status5xx),
            _ => AttemptFailure::Provider(FailoverReason::Connect),
        }
    }

    pub(super) fn final_error(call: &LlmCall) -> ApiError {
        match call.last_failure {
            Some(FailoverReason::Timeout) => ApiError::upstream_timeout(),
            _ => ApiError::upstream_error(),
        }
    }

    /// Pipe a large-body call through subrequests, one per attempt, then answer the final
    /// error if no attempt produced a response.
    pub(super) async fn serve_piped(
        &self,
        session: &mut Session,
        shared: &Arc<SharedCall>,
    ) -> Result<()> {
        let wait_limit = self.config.server.first_byte_timeout + Duration::from_secs(5);
        loop {
            let chunks = {
                let call = shared.lock();
                let Some((body, model)) = call.upstream_body() else {
                    break;
                };
                body.chunks_for(model)
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
