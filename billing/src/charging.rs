//! What a request is billed on when the upstream's usage is missing or incomplete.
//!
//! - Usage arrived and the response completed: exactly the metered usage.
//! - A JSON (non-stream) response without readable usage, or a stream that ended without any:
//!   the request's bounds at the serving provider (`Bounds`: the prompt bound and
//!   `max_tokens × n`) — the provider bills what it generated and did not say how much, so
//!   only the bound is provable; it is what the reservation holds.
//! - A stream cut before its usage was complete (the client left, the upstream closed):
//!   input as metered when any input count arrived (Anthropic sends it first), else a real
//!   count of the prompt (`counted_prompt`: the model family's tokenizer, when the prompt is all
//!   text), else the prompt bound — never a bytes-per-token guess; output the larger of the
//!   metered output and the generated text's bytes (at least one byte per token), within the
//!   output bound.

use crate::{MicroUsdc, Outcome};
use tollgate_filters::usage::{MeterReport, Usage};

/// The token bounds a request was reserved on, at the provider that served it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bounds {
    pub prompt: u64,
    pub output: u64,
}

/// How the billed usage was arrived at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The upstream's own usage.
    Metered,
    /// Partly estimated (a cut stream).
    Estimated,
    /// No usage to go on: the bounds.
    Bound,
}

/// The usage to bill and how it was arrived at. `stream`: the response is an event stream;
/// `content_bytes`: generated text delivered so far; `counted_prompt`: the prompt's token
/// count, when one could be made (only needed for a cut stream).
pub fn billable_usage(
    report: &MeterReport,
    stream: bool,
    bounds: Bounds,
    counted_prompt: Option<u64>,
    content_bytes: u64,
) -> (Usage, Basis) {
    if report.usage_seen && (report.complete || !stream) {
        return (report.usage, Basis::Metered);
    }
    if !stream || report.complete {
        let worst = Usage {
            input: bounds.prompt,
            output: bounds.output,
            ..Usage::default()
        };
        return (worst, Basis::Bound);
    }
    let mut u = report.usage;
    let input_seen = u.input + u.cache_read + u.cache_write_5m + u.cache_write_1h > 0;
    if !input_seen {
        u.input = counted_prompt.unwrap_or(bounds.prompt);
    }
    u.output = u.output.max(content_bytes.min(bounds.output));
    (u, Basis::Estimated)
}

/// What a marketplace provider's reported usage is checked against: usage above any of
/// these is disproved and not billed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Plausibility {
    /// The reservation's bounds (prompt bound from the body, `max_tokens × n`).
    pub bounds: Bounds,
    /// The model's context length (0: not configured).
    pub context_length: u64,
    /// The gateway's own count of the prompt, with the tolerance it is allowed above it.
    pub counted_prompt: Option<u64>,
    pub tolerance_pct: u64,
    pub slack_tokens: u64,
}

/// The most tokens one bucket of one record may carry (2^40, about 10^12): far above any
/// context window, and low enough that per-key and per-provider sums of a lifetime of records
/// stay inside Postgres BIGINT. A provider reporting more is clamped, never summed as is.
pub const MAX_RECORDED_TOKENS: u64 = 1 << 40;

/// Clamp every bucket to [`MAX_RECORDED_TOKENS`].
pub fn clamp_usage(u: &mut Usage) {
    for b in [
        &mut u.input,
        &mut u.cache_write_5m,
        &mut u.cache_write_1h,
        &mut u.cache_read,
        &mut u.output,
    ] {
        *b = (*b).min(MAX_RECORDED_TOKENS);
    }
}

/// Cap `u` to what `p` proves possible; true when anything was above it. Input buckets are
/// cut dearest first as providers price them (cache write 1h, cache write 5m, input, cache
/// read), so a disproved excess is never billed at the dearest rate.
pub fn cap_implausible(u: &mut Usage, p: &Plausibility) -> bool {
    let mut disproved = false;
    if u.output > p.bounds.output {
        u.output = p.bounds.output;
        disproved = true;
    }
    let mut input_cap = p.bounds.prompt;
    if p.context_length > 0 {
        input_cap = input_cap.min(p.context_length);
    }
    if let Some(counted) = p.counted_prompt {
        let allowed = counted
            .saturating_mul(100 + p.tolerance_pct)
            .div_ceil(100)
            .saturating_add(p.slack_tokens);
        input_cap = input_cap.min(allowed);
    }
    let mut over = (u.input)
        .saturating_add(u.cache_write_1h)
        .saturating_add(u.cache_write_5m)
        .saturating_add(u.cache_read)
        .saturating_sub(input_cap);
    if over > 0 {
        disproved = true;
        for bucket in [
            &mut u.cache_write_1h,
            &mut u.cache_write_5m,
            &mut u.input,
            &mut u.cache_read,
        ] {
            let cut = over.min(*bucket);
            *bucket -= cut;
            over -= cut;
        }
    }
    disproved
}

/// Hold a charge to its reservation; returns what was above it (0 normally).
///
/// A reservation is a provable upper bound (the proxy's prompt and output bounds), so this
/// should never bite. If it does, the buyer is charged the reservation — the money their lease
/// holds — with the platform fee absorbing the difference first, then the provider's share;
/// the overrun is returned so that it is counted, logged and kept in the request log, where
/// `ledger check` reports it.
pub fn cap_to_reservation(o: &mut Outcome, reserved: MicroUsdc) -> MicroUsdc {
    if o.buyer_cost_usdc <= reserved {
        return 0;
    }
    let over = o.buyer_cost_usdc - reserved;
    o.buyer_cost_usdc = reserved;
    o.provider_cost_usdc = o.provider_cost_usdc.min(reserved);
    o.platform_fee_usdc = reserved - o.provider_cost_usdc;
    over
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implausible_usage_is_capped_bucket_by_bucket() {
        let p = Plausibility {
            bounds: Bounds {
                prompt: 1000,
                output: 50,
            },
            context_length: 800,
            counted_prompt: Some(100),
            tolerance_pct: 25,
            slack_tokens: 10,
        };
        // Allowed input: min(1000, 800, ceil(100 × 1.25) + 10 = 135).
        let fine = Usage {
            input: 100,
            cache_read: 35,
            output: 50,
            ..Usage::default()
        };
        let mut u = fine;
        assert!(!cap_implausible(&mut u, &p));
        assert_eq!(u, fine);
        let mut u = Usage {
            input: 100,
            cache_write_1h: 30,
            cache_read: 10,
            output: 51,
            ..Usage::default()
        };
        assert!(cap_implausible(&mut u, &p));
        assert_eq!(
            u,
            Usage {
                input: 100,
                cache_write_1h: 25,
                cache_read: 10,
                output: 50,
                ..Usage::default()
            }
        );
        let mut u = Usage {
            input: 0,
            cache_write_1h: 100,
            cache_write_5m: 100,
            cache_read: 100,
            ..Usage::default()
        };
        assert!(cap_implausible(&mut u, &p));
        assert_eq!(
            (u.cache_write_1h, u.cache_write_5m, u.cache_read),
            (0, 35, 100)
        );
        let mut u = Usage {
            input: 200,
            cache_read: 50,
            ..Usage::default()
        };
        assert!(cap_implausible(&mut u, &p));
        assert_eq!(
            (u.input, u.cache_read),
            (85, 50),
            "input before cache reads"
        );
        let mut u = Usage {
            input: u64::MAX,
            output: u64::MAX,
            ..Usage::default()
        };
        clamp_usage(&mut u);
        assert_eq!(
            (u.input, u.output),
            (MAX_RECORDED_TOKENS, MAX_RECORDED_TOKENS)
        );
        // Without a count or a context length the body bound is the cap.
        let loose = Plausibility {
            context_length: 0,
            counted_prompt: None,
            ..p
        };
        let mut u = Usage {
            input: 1000,
            ..Usage::default()
        };
        assert!(!cap_implausible(&mut u, &loose));
        u.input = 1001;
        assert!(cap_implausible(&mut u, &loose));
        assert_eq!(u.input, 1000);
    }

    fn report(usage: Usage, seen: bool, complete: bool) -> MeterReport {
        MeterReport {
            usage,
            usage_seen: seen,
            complete,
            ..MeterReport::default()
        }
    }

    const BOUNDS: Bounds = Bounds {
        prompt: 5000,
        output: 100,
    };

    #[test]
    fn complete_usage_is_billed_exactly() {
        let u = Usage {
            input: 10,
            output: 3,
            ..Usage::default()
        };
        for stream in [true, false] {
            assert_eq!(
                billable_usage(&report(u, true, true), stream, BOUNDS, None, 9999),
                (u, Basis::Metered)
            );
        }
        // A JSON body's usage member is whole even if the body was cut after it.
        assert_eq!(
            billable_usage(&report(u, true, false), false, BOUNDS, None, 0),
            (u, Basis::Metered)
        );
    }

    #[test]
    fn no_usage_to_go_on_is_billed_at_the_bounds() {
        let worst = Usage {
            input: 5000,
            output: 100,
            ..Usage::default()
        };
        for (stream, complete) in [(false, true), (false, false), (true, true)] {
            assert_eq!(
                billable_usage(
                    &report(Usage::default(), false, complete),
                    stream,
                    BOUNDS,
                    Some(7),
                    40
                ),
                (worst, Basis::Bound),
                "stream {stream}, complete {complete}"
            );
        }
    }

    #[test]
    fn a_cut_stream_counts_its_prompt_and_at_least_its_delivered_text() {
        let (u, basis) = billable_usage(
            &report(Usage::default(), false, false),
            true,
            BOUNDS,
            Some(1234),
            40,
        );
        assert_eq!(basis, Basis::Estimated);
        assert_eq!((u.input, u.output), (1234, 40));
        // Without a count, the prompt bound; delivered text beyond the output bound is cut.
        let (u, _) = billable_usage(
            &report(Usage::default(), false, false),
            true,
            BOUNDS,
            None,
            999,
        );
        assert_eq!((u.input, u.output), (5000, 100));
    }

    #[test]
    fn a_cut_stream_keeps_input_it_was_told_and_raises_output() {
        let seen = Usage {
            input: 7,
            cache_read: 100,
            output: 1,
            ..Usage::default()
        };
        let (u, basis) = billable_usage(&report(seen, true, false), true, BOUNDS, Some(1), 20);
        assert_eq!(basis, Basis::Estimated);
        assert_eq!((u.input, u.cache_read, u.output), (7, 100, 20));
        let metered_more = Usage { output: 60, ..seen };
        let (u, _) = billable_usage(&report(metered_more, true, false), true, BOUNDS, None, 20);
        assert_eq!(u.output, 60);
    }

    #[test]
    fn a_cut_stream_with_only_cached_input_is_not_charged_the_prompt_again() {
        // Anthropic sends input first; when all of it is cache traffic, it still counts as
        // "input arrived" (each bucket on its own), so the prompt is not billed a second time.
        for seen in [
            Usage {
                cache_read: 7,
                ..Usage::default()
            },
            Usage {
                cache_write_5m: 7,
                ..Usage::default()
            },
            Usage {
                cache_write_1h: 7,
                ..Usage::default()
            },
            Usage {
                input: 1,
                cache_read: 1,
                ..Usage::default()
            },
        ] {
            let (u, basis) =
                billable_usage(&report(seen, true, false), true, BOUNDS, Some(1234), 0);
            assert_eq!(basis, Basis::Estimated);
            assert_eq!(u.input, seen.input, "{seen:?}");
            assert_eq!(
                (u.cache_read, u.cache_write_5m, u.cache_write_1h),
                (seen.cache_read, seen.cache_write_5m, seen.cache_write_1h)
            );
        }
    }

    fn outcome(provider: i64, buyer: i64) -> Outcome {
        Outcome {
            request_id: "r".into(),
            wallet: "w".into(),
            key_id: "k".into(),
            model: "m".into(),
            provider: "p".into(),
            upstream_model: "m".into(),
            api: "openai",
            stream: false,
            status: crate::OutcomeStatus::Completed,
            http_status: 200,
            tokens: Default::default(),
            usage_missing: false,
            stream_cut: false,
            usage_estimated: false,
            usage_disproved: false,
            provider_cost_usdc: provider,
            buyer_cost_usdc: buyer,
            platform_fee_usdc: buyer - provider,
            reserved_usdc: 0,
            overrun_usdc: 0,
            attempts: 1,
            latency_ms: 0,
            ttfb_ms: None,
            ttft_ms: None,
            error_code: None,
            started_at_ms: 0,
            price_id: None,
            prices: None,
            response_id: None,
            paid_call: None,
        }
    }

    #[test]
    fn a_charge_within_its_reservation_is_untouched() {
        for reserved in [100, 101, 1000] {
            let mut o = outcome(70, 100);
            assert_eq!(cap_to_reservation(&mut o, reserved), 0);
            assert_eq!(
                (o.provider_cost_usdc, o.buyer_cost_usdc, o.platform_fee_usdc),
                (70, 100, 30)
            );
        }
    }

    #[test]
    fn a_charge_above_its_reservation_is_capped_fee_first() {
        // Over by 20: the fee absorbs it, the provider keeps its 70.
        let mut o = outcome(70, 100);
        assert_eq!(cap_to_reservation(&mut o, 80), 20);
        assert_eq!(
            (o.provider_cost_usdc, o.buyer_cost_usdc, o.platform_fee_usdc),
            (70, 80, 10)
        );
        // Over by more than the fee: the provider's share is cut to the reservation.
        let mut o = outcome(70, 100);
        assert_eq!(cap_to_reservation(&mut o, 50), 50);
        assert_eq!(
            (o.provider_cost_usdc, o.buyer_cost_usdc, o.platform_fee_usdc),
            (50, 50, 0)
        );
    }
}
