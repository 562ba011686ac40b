//! The state of one proxied LLM call, shared by the phases that serve it.
//!
//! A call lives behind `Arc<Mutex<…>>` because a large-body call is served by a Pingora
//! subrequest (see [`super::body_forwarding`]): the outer request and the inner one both need it. The
//! lock is only ever held for a few field updates, never across an `.await`.

use crate::identity::Principal;
use crate::market::catalog::Route;
use crate::market::provider_pool::InFlight;
use crate::market::Listings;
use crate::metrics::FailoverReason;
use crate::plugins::Chain;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tollgate_filters::chat_request::UpstreamBody;
use tollgate_filters::usage::{ApiFormat, UsageMeter};

pub struct LlmCall {
    /// The catalog snapshot this call was admitted under: `candidates` index into it.
    pub listings: Arc<Listings>,
    pub api: ApiFormat,
    pub principal: Principal,
    pub public_model: String,
    pub stream: bool,
    /// Providers to try, best first.
    pub candidates: Vec<Route>,
    /// Index into `candidates` of the current (or next) attempt.
    pub next: usize,
    pub attempts: u32,
    pub body: UpstreamBody,
    /// Attempt whose body `request_body_filter` already replaced (retry-buffer path).
    pub body_sent_for: Option<u32>,
    /// The attempt being made now.
    pub current: Option<Route>,
    pub upstream_status: Option<u16>,
    /// Time from request arrival to the upstream's response header.
    pub ttfb: Option<Duration>,
    /// When the current attempt began (its time to first byte feeds latency routing).
    pub attempt_started: Option<Instant>,
    /// Counts the current attempt in its provider's in-flight load until the call ends.
    pub in_flight: Option<InFlight>,
    pub meter: Option<UsageMeter>,
    /// A response header has gone (or is going) to the client: no failover after this.
    pub response_started: bool,
    pub client_status: u16,
    /// Set when an attempt failed in a way that allows the next candidate.
    pub retry_next: bool,
    /// The last attempt failure, for the final 502/504.
    pub last_failure: Option<FailoverReason>,
    pub error_code: Option<&'static str>,
    /// The transfer ended with an error (client gone, upstream cut, timeout mid-body).
    pub transfer_error: bool,
    pub request_id: Arc<str>,
    /// Size of the client's request body (bounds its prompt tokens; see `charging`).
    pub request_bytes: u64,
    /// The gateway's own prompt count is a fair bound of what the provider may bill (no
    /// `tools`, `functions`, `response_format` or `tool_choice`, which providers render into
    /// the prompt in ways the count does not follow).
    pub countable_prompt: bool,
    /// How the prompt's tokens are bounded (the reservation's prompt side).
    pub prompt: tollgate_filters::chat_request::PromptBound,
    /// `max_tokens × n`: the reservation's output side.
    pub output_bound: u64,
    /// Taken by `logging` and handed to billing with the outcome.
    pub reservation: Option<tollgate_billing::Reservation>,
    /// Rate-limit state after admission (the response's `x-ratelimit-*` headers).
    pub rate_limit: Option<crate::rate_limit::Verdict>,
    /// The call's trace spans (`tracing:` configured and the exporter running).
    pub trace: Option<Box<crate::telemetry::traces::CallTrace>>,
    /// Time from request arrival to the first event carrying content (event streams).
    pub first_token: Option<Duration>,
}

impl LlmCall {
    pub fn current_provider(&self) -> Option<usize> {
        self.current.map(|r| r.provider)
    }

    /// One chunk of the provider's body to the meter; notes when the first content came.
    pub fn feed_meter(&mut self, chunk: &[u8], started: Instant) {
        let Some(meter) = self.meter.as_mut() else {
            return;
        };
        meter.feed(chunk);
        if self.first_token.is_none() && meter.has_content() {
            self.first_token = Some(started.elapsed());
        }
    }
}

/// A call plus the signal that its inner subrequest has finished its `logging` phase.
pub struct SharedCall {
    call: Mutex<LlmCall>,
    pub started: Instant,
    /// The route's plugins (read without the lock, by the outer and the inner request).
    pub chain: Arc<Chain>,
    inner_done: Notify,
}

impl SharedCall {
    pub fn new(call: LlmCall, started: Instant, chain: Arc<Chain>) -> Arc<Self> {
        Arc::new(SharedCall {
            call: Mutex::new(call),
            started,
            chain,
            inner_done: Notify::new(),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, LlmCall> {
        self.call.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called by the inner subrequest when it is completely done with the call.
    pub fn mark_inner_done(&self) {
        // notify_one stores a permit when nobody waits yet, so the signal is never lost.
        self.inner_done.notify_one();
    }

    pub async fn wait_inner_done(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.inner_done.notified())
            .await
            .is_ok()
    }
}
