//! Turn a finished call into the billing record.

use super::call::LlmCall;
use crate::config::Config;
use std::time::Instant;
use tollgate_billing::{charging, Outcome, OutcomeStatus};
use tollgate_filters::usage::{ApiFormat, MeterReport};

/// Build the one record of a call. Non-2xx and failed calls carry zero tokens and zero
/// cost: only a successful upstream response is billed — on what was metered, or, where the
/// upstream's usage is missing or cut short, on `charging::billable_usage`'s estimate.
pub fn build(config: &Config, call: &LlmCall, started: Instant, started_unix_ms: u64) -> Outcome {
    let upstream_ok = call
        .upstream_status
        .is_some_and(|s| (200..300).contains(&s))
        && call.response_started;
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
    let (provider, upstream_model, prices) = match call.current {
        Some(r) => {
            let p = &config.providers[r.provider];
            let m = &p.models[r.model];
            (p.id.clone(), m.upstream_model.clone(), Some(m.prices))
        }
        None => (String::new(), String::new(), None),
    };
    let mut o = Outcome {
        request_id: call.request_id.to_string(),
        wallet: call.principal.wallet.to_string(),
        key_id: call.principal.key_id.to_string(),
        model: call.public_model.clone(),
        provider,
        upstream_model,
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
        error_code: call.error_code,
        started_at_ms: started_unix_ms,
    };
    if let (true, Some(prices)) = (upstream_ok, prices) {
        let content_bytes = call.meter.as_ref().map_or(0, |m| m.content_bytes());
        let (usage, estimated) =
            charging::billable_usage(&report, call.request_bytes, content_bytes);
        o.tokens = usage.into();
        o.usage_estimated = estimated;
        o.set_charge(prices.charge(&usage, config.server.provider_share));
        let reserved = o.reserved_usdc;
        o.overrun_usdc = charging::cap_to_reservation(&mut o, reserved);
    }
    o
}
