//! Turn a finished call into the billing record (sealed before the response's last bytes when
//! the sink persists, else built in `logging`).

use super::call::LlmCall;
use crate::config::{Config, ProviderModel};
use bytes::Bytes;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tollgate_billing::charging::{self, Basis, Bounds};
use tollgate_billing::{AppliedPrices, BillingSink, Charge, Outcome, OutcomeStatus};
use tollgate_filters::chat_request::PromptBound;
use tollgate_filters::operation::Operation;
use tollgate_filters::prompt_tokens::Encoding;
use tollgate_filters::usage::{ApiFormat, MeterReport, Usage};

/// A successful upstream response whose metered usage is complete enough to bill.
fn upstream_ok(call: &LlmCall) -> bool {
    call.upstream_status
        .is_some_and(|s| (200..300).contains(&s))
        && call.response_started
}

fn model_of(call: &LlmCall) -> Option<&ProviderModel> {
    Some(call.listings.model(call.current?))
}

/// The reservation's token bounds at the provider that served the call (the body it received).
fn bounds(call: &LlmCall, model: &ProviderModel) -> Bounds {
    let prompt = call
        .current
        .map_or(0, |r| call.body_for(r).prompt_tokens(model.context_length));
    Bounds {
        prompt,
        output: call.output_bound,
    }
}

/// The body to count the prompt of, when billing will need a count: an OpenAI stream cut
/// before its usage, of an all-text prompt, on a model whose encoding is known. Counting runs
/// off the proxy threads (`spawn_blocking`), so the call hands over what it needs.
///
/// A marketplace provider's reported input is also checked against a count of the prompt
/// (`Plausibility`), so its calls are counted whenever they reported input.
pub fn prompt_to_count(call: &LlmCall) -> Option<(Encoding, Bytes)> {
    let route = call.current?;
    // The OpenAI chat template is what the count follows: the provider must have received a
    // Chat Completions body (the client's, or one translated into it).
    let chat_body = call.op.is_chat() && call.listings.provider(route).kind == ApiFormat::OpenAi;
    if !upstream_ok(call) || !chat_body {
        return None;
    }
    let meter = call.meter.as_ref()?;
    let report = meter.report();
    let cut = meter.is_event_stream() && !report.complete;
    let input_seen = report.usage.input + report.usage.cache_read > 0;
    let sent = call.body_for(route);
    if !matches!(sent.prompt, PromptBound::BodyBytes { .. }) {
        return None;
    }
    let stranger = call
        .current
        .is_some_and(|r| call.listings.provider(r).owner.is_some());
    let needed = stranger || (cut && !input_seen);
    if !needed {
        return None;
    }
    let model = model_of(call)?;
    Some((
        model.tokenizer?,
        sent.body.to_bytes_for(&model.upstream_model),
    ))
}

/// Count a prompt [`prompt_to_count`] handed over, on a blocking thread (boxed: the logging
/// phase's future stays small).
pub fn count_prompt(
    (encoding, body): (Encoding, Bytes),
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<u64>> + Send>> {
    Box::pin(async move {
        tokio::task::spawn_blocking(move || {
            tollgate_filters::prompt_tokens::openai_prompt_tokens(&body, encoding)
        })
        .await
        .ok()
        .flatten()
    })
}

/// The name a call's API has in records and metrics.
pub fn api_name(op: Operation) -> &'static str {
    match op {
        Operation::ChatCompletions => "openai",
        Operation::Messages => "anthropic",
        Operation::Responses => "openai_responses",
        Operation::Embeddings => "openai_embeddings",
        Operation::CountTokens => "anthropic_count_tokens",
    }
}

/// What a served call is charged, on `report`'s usage, by `charging`'s rules: the usage
/// billed and its basis, the charge, whether a stranger's usage was disproved, and what was
/// above the reservation (capped). `None` when the answer earns nothing: a token count, or
/// a marketplace answer without usage.
struct Priced {
    usage: Usage,
    basis: Basis,
    charge: Charge,
    disproved: bool,
}

fn price(
    config: &Config,
    call: &LlmCall,
    report: &MeterReport,
    is_stream: bool,
    content_bytes: u64,
    counted_prompt: Option<u64>,
) -> Option<Priced> {
    let model = model_of(call)?;
    if !call.op.is_billed() {
        return None;
    }
    let (mut usage, basis) = charging::billable_usage(
        report,
        is_stream,
        bounds(call, model),
        counted_prompt,
        content_bytes,
    );
    let stranger = call
        .current
        .is_some_and(|r| call.listings.provider(r).owner.is_some());
    let mut disproved = false;
    if let (true, Some(m)) = (stranger, &config.marketplace) {
        if basis == Basis::Bound {
            // A marketplace answer without usage (a JSON body without it, whole or not; a
            // stream that ended without it) earns nothing and costs the buyer nothing:
            // counted in usage_missing, which can suspend the provider. (A stream the
            // client cut is estimated, so leaving early is not a free call.)
            return None;
        }
        // Whatever the basis, usage the provider reported is held to what is provable.
        disproved = charging::cap_implausible(
            &mut usage,
            &charging::Plausibility {
                bounds: bounds(call, model),
                context_length: model.context_length,
                counted_prompt: counted_prompt.filter(|_| call.countable_prompt),
                tolerance_pct: m.input_tolerance_pct,
                slack_tokens: m.input_slack_tokens,
            },
        );
    }
    charging::clamp_usage(&mut usage);
    let charge = model.prices.charge(&usage, config.server.provider_share);
    Some(Priced {
        usage,
        basis,
        charge,
        disproved,
    })
}

/// The buyer's charge for the usage metered so far, as if the response were complete: what
/// the client is told in its final usage object (`usage.cost`). It is the charge `build`
/// records for a completed call; only a marketplace provider's input checked against the
/// gateway's own count of the prompt (counted after the response) can make the record lower.
pub fn quote(config: &Config, call: &LlmCall) -> Option<i64> {
    let meter = call.meter.as_ref()?;
    let mut report = meter.report();
    if !report.usage_seen {
        return None;
    }
    report.complete = true;
    let reserved = call.reservation.as_ref().map_or(0, |r| r.amount);
    let charge = price(config, call, &report, meter.is_event_stream(), 0, None)
        .map_or(0, |p| p.charge.buyer_cost);
    let charge = charge.min(reserved);
    // A call paid per call is settled for its charge, raised to `min_call_usd`.
    Some(match (&call.paid, &config.pay_per_call) {
        (Some(paid), Some(ppc)) => ppc.charge(charge, paid.max_amount),
        _ => charge,
    })
}

/// Seal the call's record before the response's last bytes go out: build it and make it
/// durable ([`BillingSink::persist`], the billing spool), once per call. `logging` then records
/// this outcome. A prompt count billing needs (marketplace answers, cut streams) is made here,
/// on the proxy thread: `response_body_filter` cannot wait for a blocking pool.
pub fn seal(
    config: &Config,
    sink: &dyn BillingSink,
    call: &mut LlmCall,
    started: Instant,
) -> Result<(), String> {
    // A call paid per call is spooled too (its record names its `paid_calls` row): `logging`
    // hands it to the pay-per-call settlement, and a replay after a crash does the same.
    if call.sealed.is_some() || call.reservation.is_none() {
        return Ok(());
    }
    let counted = prompt_to_count(call).and_then(|(encoding, body)| {
        tollgate_filters::prompt_tokens::openai_prompt_tokens(&body, encoding)
    });
    let started_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        .saturating_sub(started.elapsed().as_millis() as u64);
    let o = build(config, call, started, started_unix_ms, counted);
    if let Some(r) = call.reservation.as_mut() {
        sink.persist(&o, r)?;
    }
    call.sealed = Some(o);
    Ok(())
}

/// When the first content arrived: the first content event of a stream, or the whole body
/// of a JSON answer (which gives nothing before it is complete).
fn first_token_ms(call: &LlmCall, report: &MeterReport, started: Instant) -> Option<u64> {
    let meter = call.meter.as_ref()?;
    let at = if meter.is_event_stream() {
        call.first_token?
    } else if report.complete && !report.upstream_error {
        started.elapsed()
    } else {
        return None;
    };
    Some(at.as_millis() as u64)
}

/// Build the one record of a call. Non-2xx and failed calls carry zero tokens and zero
/// cost: only a successful upstream response is billed — on what was metered, or, where the
/// upstream's usage is missing or cut short, by `charging::billable_usage`'s rules
/// (`counted_prompt` is [`prompt_to_count`]'s result, when one was asked for).
pub fn build(
    config: &Config,
    call: &LlmCall,
    started: Instant,
    started_unix_ms: u64,
    counted_prompt: Option<u64>,
) -> Outcome {
    let upstream_ok = upstream_ok(call);
    let report: MeterReport = match (&call.meter, upstream_ok) {
        (Some(m), true) => m.report(),
        _ => MeterReport::default(),
    };
    let status = if !call.response_started {
        OutcomeStatus::UpstreamFailed
    } else if !upstream_ok {
        OutcomeStatus::UpstreamRejected
    } else if (report.complete || !call.op.is_billed())
        && !report.upstream_error
        && !call.transfer_error
    {
        OutcomeStatus::Completed
    } else {
        OutcomeStatus::Interrupted
    };
    let model = model_of(call);
    let billed = call.op.is_billed();
    let mut o = Outcome {
        request_id: call.request_id.to_string(),
        wallet: call.principal.wallet.to_string(),
        key_id: call.principal.key_id.to_string(),
        model: call.public_model.clone(),
        provider: call
            .current
            .map(|r| call.listings.provider(r).id.clone())
            .unwrap_or_default(),
        upstream_model: model.map(|m| m.upstream_model.clone()).unwrap_or_default(),
        api: api_name(call.op),
        stream: call.stream,
        status,
        http_status: call.client_status,
        tokens: report.usage.into(),
        usage_missing: billed && upstream_ok && !report.usage_seen,
        usage_estimated: false,
        stream_cut: billed && upstream_ok && !report.complete,
        provider_cost_usdc: 0,
        buyer_cost_usdc: 0,
        platform_fee_usdc: 0,
        reserved_usdc: call.reservation.as_ref().map_or(0, |r| r.amount),
        overrun_usdc: 0,
        attempts: call.attempts,
        latency_ms: started.elapsed().as_millis() as u64,
        ttfb_ms: call.ttfb.map(|d| d.as_millis() as u64),
        ttft_ms: first_token_ms(call, &report, started),
        error_code: call.error_code,
        started_at_ms: started_unix_ms,
        usage_disproved: false,
        price_id: model.and_then(|m| m.price_id),
        prices: model.map(|m| AppliedPrices::of(&m.prices, config.server.provider_share)),
        response_id: call.response_id.clone(),
        paid_call: call.paid.as_ref().map(|p| p.id.clone()),
    };
    let Some(meter) = call.meter.as_ref().filter(|_| upstream_ok) else {
        return o;
    };
    let Some(p) = price(
        config,
        call,
        &report,
        meter.is_event_stream(),
        meter.content_bytes(),
        counted_prompt,
    ) else {
        return o;
    };
    o.tokens = p.usage.into();
    o.usage_disproved = p.disproved;
    o.usage_estimated = p.basis != Basis::Metered;
    o.set_charge(p.charge);
    let reserved = o.reserved_usdc;
    o.overrun_usdc = charging::cap_to_reservation(&mut o, reserved);
    if let (Some(paid), Some(ppc)) = (&call.paid, &config.pay_per_call) {
        // A paid call is settled for at least `min_call_usd` (its gas), never above its
        // maximum: the raise is platform fee. The one rule `quote` tells the client.
        let charge = ppc.charge(o.buyer_cost_usdc, paid.max_amount);
        o.platform_fee_usdc += (charge - o.buyer_cost_usdc).max(0);
        o.buyer_cost_usdc = charge;
    }
    o
}

/// A metered cost above the reservation is never billed (the cap); it is a provider or a
/// pricing fault to look into.
pub fn log_overrun(o: &Outcome) {
    if o.overrun_usdc > 0 {
        log::error!(
            "request {}: metered cost above its reservation {} by {} micro-USDC (unbilled); provider {}, model {}",
            o.request_id,
            o.reserved_usdc,
            o.overrun_usdc,
            o.provider,
            o.model
        );
    }
}
