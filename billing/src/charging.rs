//! What a request is billed on when the upstream's usage is incomplete.
//!
//! - Usage arrived and the response completed: exactly the metered usage.
//! - The response was cut (client disconnect, upstream closed) or the upstream sent no usage:
//!   the metered counts, raised to an estimate where they are missing or short:
//!   input = ⌈request body bytes / 4⌉ when no input count arrived; output = the larger of the
//!   metered output and ⌈generated text bytes / 4⌉ (text and tool-argument deltas actually
//!   delivered). Four bytes per token is the usual English average; the estimate is then
//!   capped at the request's reservation, so it can never exceed the worst case the buyer
//!   agreed to.

use crate::{MicroUsdc, Outcome};
use tollgate_filters::usage::{MeterReport, Usage};

pub const BYTES_PER_TOKEN_ESTIMATE: u64 = 4;

/// The usage to bill, and whether any of it is an estimate.
pub fn billable_usage(
    report: &MeterReport,
    request_bytes: u64,
    content_bytes: u64,
) -> (Usage, bool) {
    if report.usage_seen && report.complete {
        return (report.usage, false);
    }
    let mut u = report.usage;
    let mut estimated = false;
    let input_seen = u.input + u.cache_read + u.cache_write_5m + u.cache_write_1h > 0;
    if !input_seen {
        u.input = request_bytes.div_ceil(BYTES_PER_TOKEN_ESTIMATE);
        estimated = true;
    }
    let output_estimate = content_bytes.div_ceil(BYTES_PER_TOKEN_ESTIMATE);
    if output_estimate > u.output {
        u.output = output_estimate;
        estimated = true;
    }
    (u, estimated)
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

    fn report(usage: Usage, seen: bool, complete: bool) -> MeterReport {
        MeterReport {
            usage,
            usage_seen: seen,
            complete,
            ..MeterReport::default()
        }
    }

    #[test]
    fn complete_usage_is_billed_exactly() {
        let u = Usage {
            input: 10,
            output: 3,
            ..Usage::default()
        };
        assert_eq!(
            billable_usage(&report(u, true, true), 9999, 9999),
            (u, false)
        );
    }

    #[test]
    fn missing_usage_is_estimated_from_bytes() {
        let (u, est) = billable_usage(&report(Usage::default(), false, true), 401, 40);
        assert!(est);
        assert_eq!((u.input, u.output), (101, 10));
    }

    #[test]
    fn cut_stream_keeps_known_input_and_raises_output() {
        let seen = Usage {
            input: 7,
            cache_read: 100,
            output: 1,
            ..Usage::default()
        };
        let (u, est) = billable_usage(&report(seen, true, false), 5000, 20);
        assert!(est);
        assert_eq!((u.input, u.cache_read, u.output), (7, 100, 5));
    }
}
