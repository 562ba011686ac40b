//! The x402 offers of a top-up, one per accepted asset on every chain, and the payment that
//! answers one: which offer it names, its verification without I/O, and its settlement.
//!
//! A v2 payload names its offer (`accepted`: network + asset, checked field by field by the
//! verifier). A v1 payload names only a network; its offer is the one of that network whose
//! transfer method the payload uses (a Permit2 payload also names its token) — for EIP-3009,
//! the offer whose token domain the signature verifies under (several EIP-3009 tokens on one
//! network are told apart by their EIP-712 domains).

use super::onchain::{ChainSet, Method, OnChain};
use super::topup::{self, TopUpCredited, TopUpRefused};
use super::topup_permit2;
use std::sync::Arc;
use tollgate_billing::ledger::Ledger;
use tollgate_billing::MicroUsdc;
use tollgate_chain::x402::{
    verify_exact_payment, verify_permit2_payment, ExactPayload, ExactRequirements, PaymentError,
    PaymentPayload, VerifiedAuthorization, VerifiedPermit2,
};

/// One offer: a rail and what it asks for this amount.
pub struct Offer {
    pub rail: Arc<OnChain>,
    pub requirements: ExactRequirements,
}

/// A payment that passed verification against its offer.
pub enum Verified {
    Eip3009(VerifiedAuthorization),
    Permit2(VerifiedPermit2),
}

impl Verified {
    pub fn payer(&self) -> alloy::primitives::Address {
        match self {
            Verified::Eip3009(v) => v.payer(),
            Verified::Permit2(v) => v.payer(),
        }
    }
}

/// Every rail's offer for a top-up of `amount` micro-USD, in configuration order.
pub fn offers(chains: &ChainSet, amount: MicroUsdc) -> Vec<Offer> {
    chains
        .all()
        .iter()
        .map(|rail| Offer {
            requirements: topup::requirements(rail, amount),
            rail: rail.clone(),
        })
        .collect()
}

/// The x402 error code of `e` for a payment on `rail`.
pub fn reason(rail: &OnChain, e: &PaymentError) -> &'static str {
    match rail.method {
        Method::Eip3009(_) => e.reason(),
        Method::Permit2 => e.permit2_reason(),
    }
}

/// Verify `payload` at unix time `now` against the offer it names: `Ok((offer, verified))`,
/// or the offer it was checked against (if any) and why it was refused.
pub fn verify<'a>(
    offers: &'a [Offer],
    payload: &PaymentPayload,
    now: u64,
) -> Result<(&'a Offer, Verified), (Option<&'a Offer>, PaymentError)> {
    let candidates: Vec<&Offer> = match payload {
        PaymentPayload::V2(p) => offers
            .iter()
            .filter(|o| {
                o.requirements.network.caip2() == p.accepted.network
                    && o.requirements.asset == p.accepted.asset
            })
            .collect(),
        PaymentPayload::V1(p) => offers
            .iter()
            .filter(|o| o.requirements.network.matches_v1(&p.network))
            .filter(|o| match (&o.rail.method, &p.payload) {
                (Method::Eip3009(_), ExactPayload::Eip3009(_)) => true,
                (Method::Permit2, ExactPayload::Permit2(x)) => {
                    x.permit2_authorization.permitted.token == o.requirements.asset
                }
                _ => false,
            })
            .collect(),
    };
    let Some(first) = candidates.first().copied() else {
        let (network, asset) = match payload {
            PaymentPayload::V2(p) => (
                p.accepted.network.to_string(),
                format!("{}", p.accepted.asset),
            ),
            PaymentPayload::V1(p) => (p.network.clone(), "its token".into()),
        };
        return Err((
            None,
            PaymentError::WrongNetwork {
                expected: offers
                    .iter()
                    .map(|o| format!("{} on {}", o.rail.symbol, o.requirements.network.caip2()))
                    .collect::<Vec<_>>()
                    .join(", "),
                got: format!("{asset} on {network}"),
            },
        ));
    };
    let mut first_error = None;
    for offer in candidates {
        let checked = match &offer.rail.method {
            Method::Eip3009(domain) => {
                verify_exact_payment(payload, &offer.requirements, domain, now)
                    .map(Verified::Eip3009)
            }
            Method::Permit2 => {
                verify_permit2_payment(payload, &offer.requirements, now).map(Verified::Permit2)
            }
        };
        match checked {
            Ok(v) => return Ok((offer, v)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err((Some(first), first_error.expect("one candidate was checked")))
}

/// Settle a verified payment on its offer's rail and credit what it moved.
pub async fn settle(
    ledger: &Ledger,
    offer: &Offer,
    verified: &Verified,
    amount: MicroUsdc,
) -> Result<TopUpCredited, TopUpRefused> {
    match verified {
        Verified::Eip3009(v) => topup::settle(ledger, &offer.rail, v, amount).await,
        Verified::Permit2(v) => topup_permit2::settle(ledger, &offer.rail, v, amount).await,
    }
}
