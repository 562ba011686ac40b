//! The state of one proxied LLM call, shared by the phases that serve it.
//!
//! A call lives behind `Arc<Mutex<…>>` because a large-body call is served by a Pingora
//! subrequest (see [`super::body_forwarding`]): the outer request and the inner one both need it. The
//! lock is only ever held for a few field updates, never across an `.await`.

use crate::identity::Principal;
use crate::market::catalog::Route;
use tollgate_filters::chat_request::PromptBound;
use tollgate_filters::operation::Operation;
use tollgate_filters::shaping::ResponseShaper;
use tollgate_filters::translate::Direction;
use crate::market::provider_pool::InFlight;
use crate::market::Listings;
use crate::metrics::FailoverReason;
use crate::plugins::Chain;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tollgate_filters::chat_request::UpstreamBody;
use tollgate_filters::usage::{ApiFormat, UsageMeter};

/// What a provider of one format receives, and how many prompt tokens it can bill for it.
#[derive(Debug, Clone)]
pub struct FormatBody {
    pub body: UpstreamBody,
    /// Bytes of the body the bound is computed from (a translated body: the larger of the
    /// client's and the translation).
    pub bytes: u64,
    pub prompt: PromptBound,
}

impl FormatBody {
    /// The prompt side of the reservation at a model with `context_length`.
    pub fn prompt_tokens(&self, context_length: u64) -> u64 {
        match self.prompt {
            PromptBound::BodyBytes { hidden } => self.bytes.saturating_add(hidden),
            PromptBound::ContextLength { .. } => context_length,
        }
    }
}

/// The call's body in the client's format and, when a candidate speaks the other chat
/// format, translated into it.
#[derive(Debug, Clone)]
pub struct CallBodies {
    pub native: FormatBody,
    pub translated: Option<FormatBody>,
}

pub struct LlmCall {
    /// The catalog snapshot this call was admitted under: `candidates` index into it.
    pub listings: Arc<Listings>,
    /// The client's format (`op.format()`).
    pub api: ApiFormat,
    pub op: Operation,
    pub principal: Principal,
    pub public_model: String,
    pub stream: bool,
    /// Providers to try, best first.
    pub candidates: Vec<Route>,
    /// Index into `candidates` of the current (or next) attempt.
    pub next: usize,
    pub attempts: u32,
    pub bodies: CallBodies,
    /// Attempt whose body `request_body_filter` already replaced (retry-buffer path).
    pub body_sent_for: Option<u32>,
    /// The attempt being made now.
    pub current: Option<Route>,
    pub upstream_status: Option<u16>,
    /// Time from request arrival to the upstream's response header.
    pub ttfb: Option<Duration>,
    /// When the current attempt began (its time to first byte feeds latency routing).
    pub attempt_started: Option<Instant>,
    /// Since when the current attempt has been the upstream's (its peer chosen; connect
    /// included), until its last byte or its failure: `None` between attempts.
    pub upstream_since: Option<Instant>,
    /// The closed attempts' upstream time: what `tollgate_overhead_seconds` leaves out.
    pub upstream_time: Duration,
    /// Counts the current attempt in its provider's in-flight load until the call ends.
    pub in_flight: Option<InFlight>,
    pub meter: Option<UsageMeter>,
    /// What the client receives of the provider's body (translation, the cost stamp).
    pub shaper: Option<ResponseShaper>,
    /// The Responses object the provider produced (noted by the shaper at the end).
    pub response_id: Option<String>,
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

    /// The gateway's own prompt count is a fair bound of what the provider may bill (no
    /// `tools`, `functions`, `response_format` or `tool_choice`, which providers render into
    /// the prompt in ways the count does not follow).
    pub countable_prompt: bool,
    /// `max_tokens × n`: the reservation's output side.
    pub output_bound: u64,
    /// Taken by `logging` and handed to billing with the outcome.
    pub reservation: Option<tollgate_billing::Reservation>,
    /// Paid per call (x402 `upto`) instead of from a balance: `logging` hands the outcome to
    /// the pay-per-call settlement, not to billing.
    pub paid: Option<crate::money::pay_per_call::PaidCall>,
    /// The outcome made durable before the response's last bytes (`outcome::seal`); `logging`
    /// records this one instead of building another.
    pub sealed: Option<tollgate_billing::Outcome>,
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

    /// The route of the current attempt, or of the next one before it starts.
    pub fn route_now(&self) -> Option<Route> {
        self.current
            .or_else(|| self.candidates.get(self.next).copied())
    }

    /// How a chat call is translated for the provider of `route` (`None`: same format).
    pub fn translation(&self, route: Route) -> Option<Direction> {
        translation(self.op, self.listings.provider(route).kind)
    }

    /// The body the provider of `route` receives.
    pub fn body_for(&self, route: Route) -> &FormatBody {
        match (self.translation(route), &self.bodies.translated) {
            (Some(_), Some(t)) => t,
            _ => &self.bodies.native,
        }
    }

    /// The body and upstream model of the current (or next) attempt.
    pub fn upstream_body(&self) -> Option<(&UpstreamBody, &str)> {
        let r = self.route_now()?;
        Some((
            &self.body_for(r).body,
            self.listings.model(r).upstream_model.as_str(),
        ))
    }

    /// An attempt goes to the upstream now (closing any attempt still open).
    pub fn upstream_began(&mut self) {
        self.upstream_ended();
        self.upstream_since = Some(Instant::now());
    }

    /// The current attempt's upstream part is over: its last byte arrived, or it failed.
    pub fn upstream_ended(&mut self) {
        if let Some(t) = self.upstream_since.take() {
            self.upstream_time += t.elapsed();
        }
    }

    /// Time in the gateway, not waiting on an upstream, of a call that arrived at `started`:
    /// admission, the gaps between attempts, and from the upstream's last byte to the end.
    pub fn overhead(&mut self, started: Instant) -> Duration {
        self.upstream_ended();
        started.elapsed().saturating_sub(self.upstream_time)
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

/// A chat call of `op` reaching a provider of `kind` speaks the provider's format.
pub fn translation(op: Operation, kind: ApiFormat) -> Option<Direction> {
    if !op.is_chat() || op.format() == kind {
        return None;
    }
    Some(match kind {
        ApiFormat::Anthropic => Direction::OpenAiToAnthropic,
        ApiFormat::OpenAi => Direction::AnthropicToOpenAi,
    })
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
