//! Turn a finished call into the billing record.

use super::call::LlmCall;
use crate::config::{Config, ProviderModel};
use bytes::Bytes;
use std::time::Instant;
use tollgate_billing::charging::{self, Basis, Bounds};
use tollgate_billing::{Outcome, OutcomeStatus};
use tollgate_filters::chat_request::PromptBound;
use tollgate_filters::prompt_tokens::Encoding;
use tollgate_filters::usage::{ApiFormat, MeterReport};

/// A successful upstream response whose metered usage is complete enough to bill.
fn upstream_ok(call: &LlmCall) -> bool {
    call.upstream_status
        .is_some_and(|s| (200..300).contains(&s))
        && call.response_started
}

fn model_of(call: &LlmCall) -> Option<&ProviderModel> {
    Some(call.listings.model(call.current?))
}

/// The reservation's token bounds at the provider that served the call.
fn bounds(call: &LlmCall, model: &ProviderModel) -> Bounds {
    Bounds {
        prompt: match call.prompt {
            PromptBound::BodyBytes { hidden } => call.request_bytes.saturating_add(hidden),
            PromptBound::ContextLength { .. } => model.context_length,
        },
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
    if !upstream_ok(call) || call.api != ApiFormat::OpenAi {
        return None;
    }
    let meter = call.meter.as_ref()?;
    let report = meter.report();
    let cut = meter.is_event_stream() && !report.complete;
    let input_seen = report.usage.input + report.usage.cache_read > 0;
    if !matches!(call.prompt, PromptBound::BodyBytes { .. }) {
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
        call.body.to_bytes_for(&model.upstream_model),
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
    } else if report.complete && !report.upstream_error && !call.transfer_error {
        OutcomeStatus::Completed
    } else {
        OutcomeStatus::Interrupted
    };
    let model = model_of(call);
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
        api: match call.api {
            ApiFormat::OpenAi => "openai",
            ApiFormat::Anthropic => "anthropic",
        },
        stream: call.stream,
        status,
        http_status: call.client_status,
        tokens: report.usage.into(),
        usage_missing: upstream_ok && !report.usage_seen,
        usage_estimated: false,
        stream_cut: upstream_ok && !report.complete,
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
    };
    if let (true, Some(model), Some(meter)) = (upstream_ok, model, call.meter.as_ref()) {
        let (mut usage, basis) = charging::billable_usage(
            &report,
            meter.is_event_stream(),
            bounds(call, model),
            counted_prompt,
            meter.content_bytes(),
        );
        let stranger = call
            .current
            .is_some_and(|r| call.listings.provider(r).owner.is_some());
        if let (true, Some(m)) = (stranger, &config.marketplace) {
            if basis == Basis::Bound {
                // A marketplace answer without usage (a JSON body without it, whole or not; a
                // stream that ended without it) earns nothing and costs the buyer nothing:
                // counted in usage_missing, which can suspend the provider. (A stream the
                // client cut is estimated, so leaving early is not a free call.)
                return o;
            }
            // Whatever the basis, usage the provider reported is held to what is provable.
            o.usage_disproved = charging::cap_implausible(
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
        o.tokens = usage.into();
        o.usage_estimated = basis != Basis::Metered;
        o.set_charge(model.prices.charge(&usage, config.server.provider_share));
        let reserved = o.reserved_usdc;
        o.overrun_usdc = charging::cap_to_reservation(&mut o, reserved);
    }
    o
}
