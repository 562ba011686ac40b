//! What the gateway asks for: one `exact` offer, rendered to the v1 and v2 wire forms.

use super::{v1, v2, DecimalU256, ExactPayload, Network, TokenDomain, TokenExtra, EXACT_SCHEME};
use alloy::primitives::{Address, U256};

/// One `exact` payment option as configured by the gateway; rendered to v1/v2 wire form by
/// [`Self::to_v1`] / [`Self::to_v2`] and used by [`verify_exact_payment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactRequirements {
    pub network: Network,
    /// The token (USDC) address; also the EIP-712 `verifyingContract`.
    pub asset: Address,
    pub pay_to: Address,
    /// Atomic units (USDC: micro-USDC).
    pub amount: U256,
    pub max_timeout_seconds: u64,
    /// The paid resource's URL.
    pub resource: String,
    pub description: String,
    pub mime_type: String,
}

/// v1 requirements as emitted and parsed here (decimal amount, `0x` addresses, token `extra`).
pub type RequirementsV1 = v1::PaymentRequirements<String, DecimalU256, Address, TokenExtra>;
/// v1 402 body.
pub type PaymentRequiredV1 = v1::PaymentRequired<RequirementsV1>;
/// v1 `X-PAYMENT` content.
pub type PayloadV1 = v1::PaymentPayload<String, ExactPayload>;
/// v2 requirements (CAIP-2 network, `amount`).
pub type RequirementsV2 = v2::PaymentRequirements<String, DecimalU256, Address, Option<TokenExtra>>;
/// v2 `PAYMENT-REQUIRED` content.
pub type PaymentRequiredV2 = v2::PaymentRequired<RequirementsV2>;
/// v2 `PAYMENT-SIGNATURE` content.
pub type PayloadV2 = v2::PaymentPayload<RequirementsV2, ExactPayload>;

impl ExactRequirements {
    /// v1 wire form of an EIP-3009 offer (`extra` = the token's EIP-712 name and version).
    pub fn to_v1(&self, token: &TokenDomain) -> RequirementsV1 {
        self.to_v1_with(token.extra())
    }

    /// v1 wire form (`maxAmountRequired`, network name, resource/description/mimeType inline).
    pub fn to_v1_with(&self, extra: TokenExtra) -> RequirementsV1 {
        v1::PaymentRequirements {
            scheme: EXACT_SCHEME.to_string(),
            network: self.network.name.clone(),
            max_amount_required: DecimalU256(self.amount),
            resource: self.resource.clone(),
            description: self.description.clone(),
            mime_type: Some(self.mime_type.clone()),
            output_schema: None,
            pay_to: self.pay_to,
            max_timeout_seconds: self.max_timeout_seconds,
            asset: self.asset,
            extra: Some(extra),
        }
    }

    /// v2 wire form of an EIP-3009 offer.
    pub fn to_v2(&self, token: &TokenDomain) -> RequirementsV2 {
        self.to_v2_with(token.extra())
    }

    /// v2 wire form (CAIP-2 network, `amount`; the resource goes to [`Self::resource_info`]).
    pub fn to_v2_with(&self, extra: TokenExtra) -> RequirementsV2 {
        v2::PaymentRequirements {
            scheme: EXACT_SCHEME.to_string(),
            network: self.network.caip2(),
            amount: DecimalU256(self.amount),
            pay_to: self.pay_to,
            max_timeout_seconds: self.max_timeout_seconds,
            asset: self.asset,
            extra: Some(extra),
        }
    }

    /// v2 `resource` object.
    pub fn resource_info(&self) -> v2::ResourceInfo {
        v2::ResourceInfo {
            url: self.resource.clone(),
            description: Some(self.description.clone()),
            mime_type: Some(self.mime_type.clone()),
        }
    }
}

/// The v1 402 body `{"x402Version":1,"error":…,"accepts":[…]}`.
pub fn payment_required_v1(
    error: impl Into<String>,
    accepts: Vec<RequirementsV1>,
) -> PaymentRequiredV1 {
    v1::PaymentRequired {
        x402_version: v1::X402Version1,
        accepts,
        error: Some(error.into()),
    }
}

/// The v2 `PaymentRequired` (base64 it with [`encode_header`] for `PAYMENT-REQUIRED`).
pub fn payment_required_v2(
    error: impl Into<String>,
    resource: v2::ResourceInfo,
    accepts: Vec<RequirementsV2>,
) -> PaymentRequiredV2 {
    v2::PaymentRequired {
        x402_version: v2::X402Version2,
        error: Some(error.into()),
        resource: Some(resource),
        accepts,
        extensions: Default::default(),
    }
}
