//! [`verify_permit2_payment`]: the pure checks of an `exact` payment made through Permit2.
//!
//! The same rules as the EIP-3009 path ([`super::verify_exact_payment`]), on Permit2's fields:
//! scheme, network and (v2) the `accepted` offer; `spender` = x402's exact proxy (the only
//! contract that can use the signature, and it pays `witness.to` the full amount);
//! `witness.to == payTo`; `permitted.token == asset`; `permitted.amount == amount` (exact);
//! `witness.validAfter <= now`; `deadline` beyond the settlement margin and within
//! `maxTimeoutSeconds`; a 65-byte low-s signature of the payer under Permit2's domain on this
//! chain. The chain side (nonce unused, Permit2 allowance, balance) is checked before sending.

use super::verify::parse_ecdsa_signature;
use super::{
    ExactRequirements, PaymentError, PaymentPayload, Permit2Authorization, CLOCK_SKEW_SECS,
    EXACT_SCHEME, SETTLEMENT_MARGIN_SECS, X402_EXACT_PERMIT2_PROXY,
};
use alloy::primitives::{Address, Signature, B256};

/// A Permit2 payment that passed [`verify_permit2_payment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPermit2 {
    pub x402_version: u8,
    pub authorization: Permit2Authorization,
    /// Parsed, low-s.
    pub signature: Signature,
    pub signing_hash: B256,
}

impl VerifiedPermit2 {
    pub fn payer(&self) -> Address {
        self.authorization.from
    }

    /// The 65-byte `r‖s‖v` signature (v = 27/28) Permit2 checks.
    pub fn signature_bytes(&self) -> alloy::primitives::Bytes {
        alloy::primitives::Bytes::from(self.signature.as_bytes().to_vec())
    }
}

impl PaymentError {
    /// The x402 error code of a refused Permit2 payment (the x402 clients' `permit2_*` names
    /// where the scheme has one, else [`Self::reason`]).
    pub fn permit2_reason(&self) -> &'static str {
        use PaymentError::*;
        match self {
            WrongRecipient { .. } => "invalid_permit2_recipient_mismatch",
            WrongAmount { .. } => "permit2_amount_mismatch",
            NotYetValid { .. } => "permit2_not_yet_valid",
            Expired { .. } | ValidityTooLong { .. } => "permit2_deadline_expired",
            BadSignature(_) | SignerMismatch { .. } => "invalid_permit2_signature",
            other => other.reason(),
        }
    }
}

/// Verifies a Permit2 `exact` payment against the offer at unix time `now`. Pure: no RPC.
pub fn verify_permit2_payment(
    payload: &PaymentPayload,
    requirements: &ExactRequirements,
    now: u64,
) -> Result<VerifiedPermit2, PaymentError> {
    match payload {
        PaymentPayload::V1(p) => {
            if p.scheme != EXACT_SCHEME {
                return Err(PaymentError::UnsupportedScheme(p.scheme.clone()));
            }
            if !requirements.network.matches_v1(&p.network) {
                return Err(PaymentError::WrongNetwork {
                    expected: requirements.network.name.clone(),
                    got: p.network.clone(),
                });
            }
        }
        PaymentPayload::V2(p) => {
            let a = &p.accepted;
            if a.scheme != EXACT_SCHEME {
                return Err(PaymentError::UnsupportedScheme(a.scheme.clone()));
            }
            let expected = requirements.network.caip2();
            if a.network != expected {
                return Err(PaymentError::WrongNetwork {
                    expected: expected.to_string(),
                    got: a.network.to_string(),
                });
            }
            if a.asset != requirements.asset {
                return Err(PaymentError::WrongAsset {
                    expected: requirements.asset,
                    got: a.asset,
                });
            }
            if a.pay_to != requirements.pay_to {
                return Err(PaymentError::WrongRecipient {
                    expected: requirements.pay_to,
                    got: a.pay_to,
                });
            }
            if a.amount.0 != requirements.amount {
                return Err(PaymentError::WrongAmount {
                    expected: requirements.amount,
                    got: a.amount.0,
                });
            }
        }
    }
    let Some(p) = payload.permit2() else {
        return Err(PaymentError::WrongTransferMethod {
            expected: "permit2",
        });
    };
    let auth = &p.permit2_authorization;
    if auth.spender != X402_EXACT_PERMIT2_PROXY {
        return Err(PaymentError::WrongSpender {
            expected: X402_EXACT_PERMIT2_PROXY,
            got: auth.spender,
        });
    }
    if auth.witness.to != requirements.pay_to {
        return Err(PaymentError::WrongRecipient {
            expected: requirements.pay_to,
            got: auth.witness.to,
        });
    }
    if auth.permitted.token != requirements.asset {
        return Err(PaymentError::WrongToken {
            expected: requirements.asset,
            got: auth.permitted.token,
        });
    }
    if auth.permitted.amount != requirements.amount {
        return Err(PaymentError::WrongAmount {
            expected: requirements.amount,
            got: auth.permitted.amount,
        });
    }
    if auth.witness.valid_after > now {
        return Err(PaymentError::NotYetValid {
            valid_after: auth.witness.valid_after,
            now,
        });
    }
    if now.saturating_add(SETTLEMENT_MARGIN_SECS) >= auth.deadline {
        return Err(PaymentError::Expired {
            valid_before: auth.deadline,
            now,
            margin: SETTLEMENT_MARGIN_SECS,
        });
    }
    let max = now
        .saturating_add(requirements.max_timeout_seconds)
        .saturating_add(CLOCK_SKEW_SECS);
    if auth.deadline > max {
        return Err(PaymentError::ValidityTooLong {
            valid_before: auth.deadline,
            max,
        });
    }
    let signature = parse_ecdsa_signature(&p.signature)?;
    let signing_hash = auth.signing_hash(requirements.network.chain_id);
    let recovered = signature
        .recover_address_from_prehash(&signing_hash)
        .map_err(|e| PaymentError::BadSignature(format!("cannot recover signer: {e}")))?;
    if recovered != auth.from {
        return Err(PaymentError::SignerMismatch {
            from: auth.from,
            recovered,
        });
    }
    Ok(VerifiedPermit2 {
        x402_version: payload.x402_version(),
        authorization: auth.clone(),
        signature,
        signing_hash,
    })
}
