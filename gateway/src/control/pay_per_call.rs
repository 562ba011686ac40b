//! A refused pay-per-call admission as an answer: x402's 402 (v2 body and `PAYMENT-REQUIRED`
//! header, `upto` offers whose amount is the call's maximum), 412 without the Permit2
//! allowance, 402 `PAYER_DEFAULTED` after an unsettled failure, 429 at the payer's limits, 503 at
//! the fleet's.

use crate::money::pay_per_call::admit::PayRefused;
use crate::wire::ApiError;
use http::HeaderValue;
use tollgate_chain::x402::{self, v2, UptoRequirements};

/// The answer to a refused paid call of `resource` (the URL the call was sent to).
pub fn refusal(refused: PayRefused, resource: &str) -> ApiError {
    match refused {
        PayRefused::Payment {
            code,
            message,
            offers,
        } => offers_answer(402, code, &message, &offers, resource),
        PayRefused::AllowanceRequired { message, offers } => offers_answer(
            412,
            "PERMIT2_ALLOWANCE_REQUIRED",
            &message,
            &offers,
            resource,
        ),
        PayRefused::Defaulted => ApiError::new(
            402,
            "PAYER_DEFAULTED",
            "A settlement of this payer's earlier call was refused by the chain (allowance revoked or funds moved): no more calls are served on its signature; use an API key and a prepaid balance",
        ),
        PayRefused::Limit(message) => ApiError::new(429, "PAYER_LIMIT", message),
        PayRefused::FleetAtRisk => {
            let mut e = ApiError::new(
                503,
                "PAY_PER_CALL_FULL",
                "Calls paid per call have as much money waiting to settle as this gateway allows; retry shortly, or use an API key and a prepaid balance",
            );
            e.headers.push(("retry-after", 10u32.into()));
            e
        }
        PayRefused::ChainUnavailable => ApiError::new(
            503,
            "CHAIN_UNAVAILABLE",
            "The chain could not be read to check this payment; retry shortly",
        ),
        PayRefused::LedgerUnavailable => ApiError::billing_unavailable(),
    }
}

/// `status` with x402 v2's `PaymentRequired` as the body and in `PAYMENT-REQUIRED`.
fn offers_answer(
    status: u16,
    code: &'static str,
    message: &str,
    offers: &[UptoRequirements],
    resource: &str,
) -> ApiError {
    let required = x402::payment_required_v2(
        message,
        v2::ResourceInfo {
            url: resource.to_string(),
            description: Some("One LLM call, paid per call: the amount is its maximum; the actual metered cost is settled after the response".into()),
            mime_type: Some("application/json".into()),
        },
        offers.iter().map(UptoRequirements::to_v2).collect(),
    );
    let mut e = ApiError::new(status, code, message);
    e.x402 = Some(Box::new(
        serde_json::to_value(&required).expect("x402 types serialize"),
    ));
    if let Ok(v) = HeaderValue::from_str(&x402::encode_header(&required)) {
        e.headers.push(("payment-required", v));
    }
    e
}
