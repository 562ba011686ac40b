//! Cost of a metered request: provider cost, buyer cost and platform fee, in micro-USDC.

use crate::{MicroUsdc, Price};
use tollgate_filters::usage::Usage;

/// The five per-token prices of one model at one provider (plus an optional per-image price).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PriceSheet {
    pub prompt: Price,
    pub completion: Price,
    pub cache_read: Price,
    pub cache_write_5m: Price,
    pub cache_write_1h: Price,
    pub image: Option<Price>,
    /// Micro-USDC per successful request, on top of the tokens (0: tokens only).
    pub request: u64,
}

/// The provider's share of what the buyer pays, in basis points (7000 = 70%).
///
/// `buyer_cost = ceil(provider_cost / share)`: with a 70% share the platform keeps 30% of
/// the buyer's payment, as in `buyer_price = ceil(provider_price / 0.70)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderShare(u32);

impl ProviderShare {
    pub const FULL: ProviderShare = ProviderShare(10_000);

    /// `bps` in 1..=10000.
    pub fn from_bps(bps: u32) -> Option<ProviderShare> {
        (1..=10_000).contains(&bps).then_some(ProviderShare(bps))
    }

    pub fn bps(self) -> u32 {
        self.0
    }
}

/// What one request costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Charge {
    /// Owed to the provider.
    pub provider_cost: MicroUsdc,
    /// Debited from the buyer.
    pub buyer_cost: MicroUsdc,
    /// `buyer_cost - provider_cost`, kept by the platform.
    pub platform_fee: MicroUsdc,
}

const PER_MILLION: u128 = 1_000_000;

fn ceil_div(n: u128, d: u128) -> u128 {
    n.div_ceil(d)
}

impl PriceSheet {
    /// Σ tokens × price, in micro-USDC × 10⁻⁶ (exact; one rounding happens at the end).
    fn exact_cost(&self, u: &Usage) -> u128 {
        // Saturating: no price or count can wrap a charge (a wrapped buyer cost would fit
        // any reservation while the provider's stayed huge).
        let term = |tokens: u64, p: Price| {
            u128::from(tokens).saturating_mul(u128::from(p.micros_per_million()))
        };
        term(u.input, self.prompt)
            .saturating_add(term(u.cache_write_5m, self.cache_write_5m))
            .saturating_add(term(u.cache_write_1h, self.cache_write_1h))
            .saturating_add(term(u.cache_read, self.cache_read))
            .saturating_add(term(u.output, self.completion))
            .saturating_add(u128::from(self.request) * PER_MILLION)
    }

    /// The charge for metered usage. Costs round up once, after summing the buckets, so a
    /// request never costs more than one micro-USDC above its exact price.
    pub fn charge(&self, usage: &Usage, share: ProviderShare) -> Charge {
        let exact = self.exact_cost(usage);
        let provider = ceil_div(exact, PER_MILLION);
        // The buyer never pays less than the provider earns, even saturated.
        let buyer = ceil_div(
            exact.saturating_mul(10_000),
            PER_MILLION * u128::from(share.bps()),
        )
        .max(provider);
        let clamp = |v: u128| MicroUsdc::try_from(v).unwrap_or(MicroUsdc::MAX);
        let (provider_cost, buyer_cost) = (clamp(provider), clamp(buyer));
        Charge {
            provider_cost,
            buyer_cost,
            platform_fee: buyer_cost - provider_cost,
        }
    }

    /// The most a request can cost the buyer when its prompt is at most `prompt_tokens`
    /// tokens and its output at most `output_tokens`: every prompt token priced at the dearest
    /// input bucket (a prompt may be written to the 1h cache), every output token at the
    /// completion price.
    pub fn worst_case(
        &self,
        prompt_tokens: u64,
        output_tokens: u64,
        share: ProviderShare,
    ) -> Charge {
        let dearest_input = [
            self.prompt,
            self.cache_read,
            self.cache_write_5m,
            self.cache_write_1h,
        ]
        .into_iter()
        .max()
        .unwrap_or(Price::ZERO);
        let as_usage = Usage {
            input: prompt_tokens,
            output: output_tokens,
            ..Usage::default()
        };
        let sheet = PriceSheet {
            prompt: dearest_input,
            ..*self
        };
        sheet.charge(&as_usage, share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Price {
        Price::parse_usd(s).unwrap()
    }

    fn sonnet() -> PriceSheet {
        PriceSheet {
            prompt: p("3"),
            completion: p("15"),
            cache_read: p("0.30"),
            cache_write_5m: p("3.75"),
            cache_write_1h: p("6"),
            image: None,
            request: 0,
        }
    }

    #[test]
    fn a_request_price_is_added_once_and_bounded_by_the_worst_case() {
        let share = ProviderShare::from_bps(7000).unwrap();
        let sheet = PriceSheet {
            request: 1_000,
            ..sonnet()
        };
        let u = Usage {
            output: 1,
            ..Usage::default()
        };
        let c = sheet.charge(&u, share);
        assert_eq!(c.provider_cost, 1_015);
        assert_eq!(c.buyer_cost, 1_450); // ceil(1015 / 0.7)
        assert_eq!(sheet.charge(&Usage::default(), share).provider_cost, 1_000);
        assert_eq!(sheet.worst_case(0, 1, share).buyer_cost, 1_450);
    }

    #[test]
    fn charges_each_bucket_at_its_price() {
        let u = Usage {
            input: 1000,
            cache_write_5m: 2000,
            cache_write_1h: 100,
            cache_read: 10_000,
            output: 500,
        };
        // 1000×3 + 2000×3.75 + 100×6 + 10000×0.3 + 500×15 = 3000+7500+600+3000+7500 = 21600
        let c = sonnet().charge(&u, ProviderShare::FULL);
        assert_eq!(c.provider_cost, 21_600);
        assert_eq!(c.buyer_cost, 21_600);
        assert_eq!(c.platform_fee, 0);
    }

    #[test]
    fn margin_rounds_up_and_fee_is_the_difference() {
        let share = ProviderShare::from_bps(7000).unwrap();
        let u = Usage {
            output: 1,
            ..Usage::default()
        }; // 15 micro-USDC
        let c = sonnet().charge(&u, share);
        assert_eq!(c.provider_cost, 15);
        assert_eq!(c.buyer_cost, 22); // ceil(15 / 0.7) = ceil(21.43)
        assert_eq!(c.platform_fee, 7);
    }

    #[test]
    fn sub_micro_costs_round_up_once() {
        let cheap = PriceSheet {
            prompt: p("0.075"),
            ..PriceSheet::default()
        };
        let u = Usage {
            input: 10,
            ..Usage::default()
        }; // 0.75 micro
        assert_eq!(cheap.charge(&u, ProviderShare::FULL).provider_cost, 1);
        let u = Usage {
            input: 0,
            ..Usage::default()
        };
        assert_eq!(cheap.charge(&u, ProviderShare::FULL).provider_cost, 0);
    }

    #[test]
    fn worst_case_bounds_every_split_of_the_same_tokens() {
        let share = ProviderShare::from_bps(7000).unwrap();
        let sheet = sonnet();
        let bound = sheet.worst_case(1000, 200, share);
        for split in [
            Usage {
                input: 1000,
                output: 200,
                ..Usage::default()
            },
            Usage {
                cache_write_1h: 1000,
                output: 200,
                ..Usage::default()
            },
            Usage {
                cache_read: 500,
                cache_write_5m: 500,
                output: 200,
                ..Usage::default()
            },
        ] {
            assert!(sheet.charge(&split, share).buyer_cost <= bound.buyer_cost);
        }
    }

    #[test]
    fn huge_usage_saturates_instead_of_wrapping() {
        let u = Usage {
            output: u64::MAX,
            ..Usage::default()
        };
        let c = sonnet().charge(&u, ProviderShare::from_bps(1).unwrap());
        assert_eq!(c.buyer_cost, MicroUsdc::MAX);
    }
}

impl Price {
    /// The buyer-facing price for a provider price: `ceil(price / share)`.
    pub fn for_buyer(self, share: ProviderShare) -> Price {
        let v = (u128::from(self.micros_per_million()) * 10_000).div_ceil(u128::from(share.bps()));
        Price::from_micros_per_million(u64::try_from(v).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod buyer_price_tests {
    use super::*;

    #[test]
    fn buyer_price_is_ceil_of_provider_over_share() {
        let share = ProviderShare::from_bps(7000).unwrap();
        assert_eq!(
            Price::parse_usd("0.7").unwrap().for_buyer(share),
            Price::parse_usd("1").unwrap()
        );
        assert_eq!(
            Price::parse_usd("3")
                .unwrap()
                .for_buyer(share)
                .micros_per_million(),
            4_285_715
        );
        assert_eq!(Price::ZERO.for_buyer(share), Price::ZERO);
    }
}
