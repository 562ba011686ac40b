//! The `pay_per_call` section: LLM calls paid per call with x402 `upto`, without an account.

use super::raw::{Decimal, RawPayPerCall};
use super::Validator;
use std::time::Duration;
use tollgate_billing::MicroUsdc;
use tollgate_chain::x402::SETTLEMENT_MARGIN_SECS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayPerCallConfig {
    /// Calls of one payer admitted or served but not yet settled, at most (fleet-wide).
    pub max_unsettled_calls: i64,
    /// Their worth, at most: the maximum of those being served plus the cost of those served.
    pub max_unsettled: MicroUsdc,
    /// What all payers' calls may put at risk together, fleet-wide: the maxima of calls being
    /// served, the costs of calls served and not settled, and the failed settlements of the
    /// last 24 hours. Bounds what defaults can cost a day, however many fresh addresses pay.
    pub max_at_risk: MicroUsdc,
    /// The least a served call is charged (settlement costs gas), and the least maximum offered.
    pub min_call: MicroUsdc,
    /// The offer's `maxTimeoutSeconds`: how long a signed maximum may stay valid.
    pub max_timeout_seconds: u64,
    /// A payment whose deadline leaves less than this to serve the call and settle it is refused.
    pub min_validity: Duration,
    /// Kept before a payment's deadline to record and settle its call: a call still running
    /// at `deadline − settle_margin` has been cut (a call that outlived its payment would be
    /// served free).
    pub settle_margin: Duration,
    /// How often the settlement job looks for served calls (it is also woken by each one).
    pub settle_every: Duration,
}

impl PayPerCallConfig {
    /// What a paid call that cost `cost` is charged: at least `min_call` when it cost anything
    /// (its settlement costs gas), never above its signed `maximum`. The one rule for the
    /// charge settled and the `usage.cost` the client is told.
    pub fn charge(&self, cost: MicroUsdc, maximum: MicroUsdc) -> MicroUsdc {
        let raised = if cost > 0 {
            cost.max(self.min_call)
        } else {
            cost
        };
        raised.min(maximum)
    }
}

impl Validator<'_> {
    pub(super) fn pay_per_call(&mut self, raw: RawPayPerCall) -> PayPerCallConfig {
        let p = |k: &str| format!("pay_per_call.{k}");
        let max_unsettled_calls = raw.max_unsettled_calls.unwrap_or(4);
        if max_unsettled_calls == 0 {
            self.err(p("max_unsettled_calls"), "must be at least 1");
        }
        let min_call = match raw.min_call_usd {
            Some(Decimal(d)) if d.trim() == "0" => 0,
            other => self.usd_amount(&p("min_call_usd"), other, 1_000),
        };
        let max_timeout_seconds = raw.max_timeout_seconds.unwrap_or(600);
        let min_validity = self.duration(&p("min_validity"), raw.min_validity, "300s");
        if min_validity.as_secs() >= max_timeout_seconds {
            self.err(
                p("min_validity"),
                "must be shorter than max_timeout_seconds (a payment must be able to pass)",
            );
        }
        let settle_margin = self.duration(&p("settle_margin"), raw.settle_margin, "60s");
        if settle_margin.as_secs() <= SETTLEMENT_MARGIN_SECS {
            self.err(
                p("settle_margin"),
                format!("must be more than {SETTLEMENT_MARGIN_SECS}s (no settlement is sent closer than that to a deadline)"),
            );
        }
        if settle_margin >= min_validity {
            self.err(
                p("settle_margin"),
                "must be shorter than min_validity (what is left is the time to serve a call)",
            );
        }
        let max_unsettled =
            self.usd_amount(&p("max_unsettled_usd"), raw.max_unsettled_usd, 1_000_000);
        let max_at_risk = self.usd_amount(&p("max_at_risk_usd"), raw.max_at_risk_usd, 100_000_000);
        if max_at_risk < max_unsettled {
            self.err(
                p("max_at_risk_usd"),
                "must be at least max_unsettled_usd (the fleet's cap covers at least one payer's limit)",
            );
        }
        PayPerCallConfig {
            max_unsettled_calls: max_unsettled_calls as i64,
            max_unsettled,
            max_at_risk,
            min_call,
            max_timeout_seconds,
            min_validity,
            settle_margin,
            settle_every: self.duration(&p("settle_every"), raw.settle_every, "1s"),
        }
    }
}
