//! Admission: everything that can refuse an LLM call happens here, before any upstream is
//! contacted — the route's request-head plugins, key, rate limits, body (size, JSON, fields),
//! the route's body plugins, model resolution, and the reservation of the call's worst-case
//! cost. The spine steps (authenticate, rate_limit, reserve) are this code, in this order;
//! plugins run where [`crate::plugins::chain`] placed them.

use super::call::{self, CallBodies, FormatBody, LlmCall, SharedCall};
use super::{Gateway, RequestCtx};
use crate::identity::{api_key, principal, Principal};
use crate::market::catalog::Route;
use crate::market::Listings;
use crate::money::pay_per_call::{PaidCall, Pending};
use crate::plugins::{BodyView, Chain, RequestView};
use crate::wire::{read_body, ApiError};
use pingora::proxy::Session;
use std::net::IpAddr;
use std::sync::Arc;
use tollgate_billing::{AdmitError, MicroUsdc, Reservation};
use tollgate_filters::chat_request::{ChatRequest, PromptBound, UpstreamBody};
use tollgate_filters::operation::Operation;
use tollgate_filters::translate::translate_request;

impl Gateway {
    /// Authenticate, read and check the body, resolve candidates: everything that can refuse
    /// a call happens here, before any upstream is contacted.
    pub(super) async fn admit(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        op: Operation,
        alias: Option<&str>,
    ) -> std::result::Result<Arc<SharedCall>, (ApiError, bool)> {
        let api = op.format();
        let chain = self.chains.for_llm(op, alias).clone();
        let peer_ip = peer_ip(session);
        chain
            .before_auth(&RequestView {
                header: session.req_header(),
                peer_ip,
                principal: None,
            })
            .map_err(|e| (e, false))?;
        let key = api_key(session.req_header());
        // No key on a chat call with pay per call on: the payer of its x402 payment is the
        // caller (rate limits per payer address); without a payment that names one, the peer's
        // address (the call can only be answered 402). Fresh keys are free, so the peer's
        // address is limited first, as for any unauthenticated work (the control plane's
        // `per_ip_per_minute`): before the signature is recovered and the chain read.
        let (principal, pending) = match (&self.pay_per_call, key) {
            (Some(ppc), None) if op.is_chat() && alias.is_none() => {
                self.limiter
                    .control
                    .admit_client(peer_ip)
                    .map_err(|e| (e, false))?;
                let header = session
                    .req_header()
                    .headers
                    .get("payment-signature")
                    .or_else(|| session.req_header().headers.get("x-payment"))
                    .and_then(|v| v.to_str().ok());
                let pending = ppc.pending(header);
                let who = pending.principal.clone().unwrap_or_else(|| {
                    Principal::payer(&format!(
                        "ip:{}",
                        peer_ip.map_or("local".to_string(), |ip| ip.to_string())
                    ))
                });
                (who, Some(pending))
            }
            _ => (
                principal(self.auth.as_ref(), key)
                    .await
                    .map_err(|e| (e, false))?,
                None,
            ),
        };
        // Rate limits before the body is read or anything reserved: a 429 costs nothing.
        let admitted = self
            .limiter
            .admit(&principal)
            .await
            .map_err(|e| (e, false))?;
        ctx.rate_slots = [admitted.slot, admitted.wallet_slot];
        if chain.has_after_auth() {
            chain
                .after_auth(&RequestView {
                    header: session.req_header(),
                    peer_ip,
                    principal: Some(&principal),
                })
                .map_err(|e| (e, false))?;
        }
        let body = read_body(session, self.config.server.max_body_bytes)
            .await
            .map_err(|e| e.into_api_error(self.config.server.max_body_bytes))?;

        let mut req = ChatRequest::parse_for(&body, op)
            .map_err(|e| (ApiError::validation(e.to_string()), false))?;
        req.sanitize_fields()
            .map_err(|e| (ApiError::validation(e.to_string()), false))?;
        let listings = self.market.current();
        let resolved = listings
            .catalog
            .resolve(req.model(), op, alias)
            .map_err(|e| (ApiError::validation(e.to_string()), false))?;
        chain
            .body(&mut BodyView {
                request: &mut req,
                principal: &principal,
                api,
                body_len: body.len(),
                model: resolved.public_id,
            })
            .map_err(|e| (e, false))?;
        let routing = self.config.health.routing_for(resolved.public_id);
        let (mut candidates, trial) =
            listings
                .pool
                .order_preferring(resolved.entry, routing, &|r| {
                    call::translation(op, listings.provider(*r).kind).is_some()
                });
        if trial {
            self.metrics
                .health
                .breaker(&listings.provider(candidates[0]).id, "half_open");
        }
        // The buyer's `provider` preferences (read and removed by the parser).
        if let Some(raw) = req.take_field("provider") {
            candidates = super::preferences::Preferences::parse(raw.get())
                .and_then(|p| p.apply(&listings, candidates, self.config.server.provider_share))
                .map_err(|e| (ApiError::validation(e), false))?;
        }
        if op == Operation::Responses {
            candidates = self
                .continuing(&req, &principal.wallet, &listings, candidates)
                .await?;
        }
        let bodies = call_bodies(&req, op, &listings, &mut candidates)?;
        // Content the provider expands is bounded by the context length: a candidate without
        // one cannot be bounded, so it is not tried.
        let unbounded = |r: &Route| {
            let sent = bodies.for_route(op, &listings, *r);
            match sent.prompt {
                PromptBound::ContextLength { because }
                    if listings.model(*r).context_length == 0 =>
                {
                    Some(because)
                }
                _ => None,
            }
        };
        if let Some(because) = candidates.iter().find_map(unbounded) {
            candidates.retain(|r| unbounded(r).is_none());
            if candidates.is_empty() {
                return Err((
                    ApiError::validation(format!(
                        "this request has content the provider expands ({because}); its cost can only be bounded by the model's context_length, which is not configured for {:?}",
                        req.model()
                    )),
                    false,
                ));
            }
        }
        // The worst case over every provider the call may fail over to (docs/design.md,
        // "Reservations"): the prompt bound of the body each one receives, and
        // `output limit × n` for the output.
        let Some(output_limit) = req.max_output_tokens() else {
            return Err((
                ApiError::validation(
                    "this request names no output limit (max_tokens) and this route inserts none (its plugins have no default_max_tokens); send max_tokens",
                ),
                false,
            ));
        };
        let output_bound = output_limit.saturating_mul(req.choices());
        let max_cost = if op.is_billed() {
            candidates
                .iter()
                .map(|r| {
                    let model = listings.model(*r);
                    let prompt_tokens = bodies
                        .for_route(op, &listings, *r)
                        .prompt_tokens(model.context_length);
                    model
                        .prices
                        .worst_case(
                            prompt_tokens,
                            output_bound,
                            self.config.server.provider_share,
                        )
                        .buyer_cost
                })
                .max()
                .unwrap_or(0)
        } else {
            0
        };
        let request_id = ctx.request_id.clone().unwrap_or_else(|| Arc::from(""));
        let (reservation, paid) = match pending {
            Some(pending) => {
                let (reservation, paid) = self
                    .admit_paid(session, pending, &principal, max_cost, &request_id)
                    .await?;
                (reservation, Some(paid))
            }
            None => (self.reserve(&principal, max_cost).await?, None),
        };
        let public_model = resolved.public_id.to_string();
        let trace = super::observe::start_trace(
            self,
            session,
            ctx,
            (api, &public_model, output_limit, req.stream()),
        );
        let countable_prompt = !["tools", "functions", "response_format", "tool_choice"]
            .iter()
            .any(|f| req.has_field(f));
        let call = LlmCall {
            listings,
            api,
            op,
            principal,
            public_model,
            stream: req.stream(),
            candidates,
            next: 0,
            attempts: 0,
            bodies,
            body_sent_for: None,
            current: None,
            upstream_status: None,
            ttfb: None,
            attempt_started: None,
            in_flight: None,
            meter: None,
            shaper: None,
            response_id: None,
            response_started: false,
            client_status: 0,
            retry_next: false,
            last_failure: None,
            error_code: None,
            transfer_error: false,
            request_id,
            countable_prompt,
            output_bound,
            reservation: Some(reservation),
            paid,
            sealed: None,
            upstream_since: None,
            upstream_time: std::time::Duration::ZERO,
            rate_limit: admitted.verdict,
            trace,
            first_token: None,
        };
        Ok(SharedCall::new(call, ctx.started, chain))
    }
}

/// The TCP peer's address (`None` on a Unix socket).
pub(super) fn peer_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

/// Runs a control-plane route's request-head plugins.
pub(super) fn admit_control(chain: &Chain, session: &Session) -> Result<(), ApiError> {
    chain.before_auth(&RequestView {
        header: session.req_header(),
        peer_ip: peer_ip(session),
        principal: None,
    })
}

impl CallBodies {
    /// The body (and its bound) the provider of `r` receives for a call of `op`.
    fn for_route(&self, op: Operation, listings: &Listings, r: Route) -> &FormatBody {
        match (
            call::translation(op, listings.provider(r).kind),
            &self.translated,
        ) {
            (Some(_), Some(t)) => t,
            _ => &self.native,
        }
    }
}

/// The call's body for its candidates: as the client wrote it (sanitised), and translated
/// into the other chat format when a candidate speaks it. A request that cannot be expressed
/// in the other format is served by the candidates of its own; with none left it is a 400
/// naming the field. The translated body's bound is the larger of the two bodies' bytes,
/// with the hidden tokens of the provider's format.
fn call_bodies(
    req: &ChatRequest<'_>,
    op: Operation,
    listings: &Listings,
    candidates: &mut Vec<Route>,
) -> Result<CallBodies, (ApiError, bool)> {
    let native = FormatBody {
        body: req.render(),
        bytes: req.body().len() as u64,
        prompt: req.prompt_bound(),
    };
    let Some(dir) = candidates
        .iter()
        .find_map(|r| call::translation(op, listings.provider(*r).kind))
    else {
        return Ok(CallBodies {
            native,
            translated: None,
        });
    };
    let translated = translate_request(dir, &native.body.to_bytes_for("model"))
        .map_err(|e| ApiError::validation(e.to_string()))
        .and_then(|tail| {
            let mut whole = b"{\"model\":\"model\"".to_vec();
            whole.extend_from_slice(&tail);
            let parsed = ChatRequest::parse(&whole, dir.provider_format())
                .map_err(|e| ApiError::validation(format!("the translated request: {e}")))?;
            Ok(FormatBody {
                prompt: parsed.prompt_bound(),
                bytes: native.bytes.max(whole.len() as u64),
                body: UpstreamBody::from_tail(tail),
            })
        });
    match translated {
        Ok(t) => Ok(CallBodies {
            native,
            translated: Some(t),
        }),
        Err(e) => {
            candidates.retain(|r| call::translation(op, listings.provider(*r).kind).is_none());
            if candidates.is_empty() {
                return Err((e, false));
            }
            Ok(CallBodies {
                native,
                translated: None,
            })
        }
    }
}

impl Gateway {
    /// A Responses call that continues an earlier one (`previous_response_id`) goes only to
    /// the provider that produced it, and only for the wallet it was produced for.
    async fn continuing(
        &self,
        req: &ChatRequest<'_>,
        wallet: &str,
        listings: &Listings,
        mut candidates: Vec<Route>,
    ) -> Result<Vec<Route>, (ApiError, bool)> {
        let Some(previous) = req.string_field("previous_response_id") else {
            return Ok(candidates);
        };
        let provider = self
            .continuations
            .provider_of(&previous, wallet)
            .await
            .map_err(|e| (e, false))?;
        candidates.retain(|r| listings.provider(*r).id == provider);
        if candidates.is_empty() {
            return Err((
                ApiError::validation(format!(
                    "previous_response_id {previous:?} was produced by a provider that does not serve {:?} here now",
                    req.model()
                )),
                false,
            ));
        }
        Ok(candidates)
    }
}

impl Gateway {
    /// Reserve a balance-paid call's worst case.
    async fn reserve(
        &self,
        principal: &Principal,
        max_cost: MicroUsdc,
    ) -> Result<Reservation, (ApiError, bool)> {
        self.sink
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
            })
    }

    /// Admit a call paid per call: its payment for this call's maximum, checked on chain and
    /// claimed under the payer's limits. The reservation is the signed maximum, so the charge
    /// can never exceed what the payer authorised.
    async fn admit_paid(
        &self,
        session: &Session,
        pending: Pending,
        principal: &Principal,
        max_cost: MicroUsdc,
        request_id: &str,
    ) -> Result<(Reservation, PaidCall), (ApiError, bool)> {
        let ppc = self
            .pay_per_call
            .as_ref()
            .expect("pending only with pay_per_call");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let paid = ppc
            .admit(pending, max_cost, request_id, now)
            .await
            .map_err(|refused| {
                let path = session.req_header().uri.path();
                let resource = match self.config.public_url.as_deref() {
                    Some(base) => format!("{}{path}", base.trim_end_matches('/')),
                    None => path.to_string(),
                };
                (
                    crate::control::pay_per_call::refusal(refused, &resource),
                    false,
                )
            })?;
        let reservation = Reservation {
            wallet: principal.wallet.clone(),
            amount: paid.max_amount,
            slot: None,
            spooled: None,
        };
        Ok((reservation, paid))
    }
}
