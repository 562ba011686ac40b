//! [`verify_exact_payment`]: the pure checks of an `exact` payment (see the module docs of
//! [`super`] for the list).

use super::{
    ExactAuthorization, ExactRequirements, PaymentPayload, TokenDomain, CLOCK_SKEW_SECS,
    EXACT_SCHEME, SETTLEMENT_MARGIN_SECS,
};
use alloy::primitives::{Address, Signature, B256, U256};

/// Why a payment was rejected. [`Self::reason`] gives the x402 `invalidReason` code; `Display`
/// a sentence for logs and error bodies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("payment header too large: {len} bytes (max {max})")]
    HeaderTooLarge { len: usize, max: usize },
    #[error("payment header is not valid base64: {0}")]
    BadBase64(String),
    #[error("payment header is not valid x402 JSON: {0}")]
    BadJson(String),
    #[error("unsupported x402Version {0} (supported: 1, 2)")]
    UnsupportedVersion(u64),
    #[error("unsupported payment scheme {0:?} (supported: \"exact\")")]
    UnsupportedScheme(String),
    #[error("wrong network: expected {expected}, got {got}")]
    WrongNetwork { expected: String, got: String },
    #[error("wrong asset: expected {expected}, got {got}")]
    WrongAsset { expected: Address, got: Address },
    #[error("wrong recipient: payment goes to {got}, expected {expected}")]
    WrongRecipient { expected: Address, got: Address },
    #[error("wrong amount: authorized {got}, required exactly {expected}")]
    WrongAmount { expected: U256, got: U256 },
    #[error("authorization not yet valid: validAfter {valid_after} > now {now}")]
    NotYetValid { valid_after: u64, now: u64 },
    #[error("authorization expired or about to: validBefore {valid_before}, now {now} (needs {margin}s margin)")]
    Expired {
        valid_before: u64,
        now: u64,
        margin: u64,
    },
    #[error("authorization valid for too long: validBefore {valid_before} > now + maxTimeoutSeconds + skew = {max}")]
    ValidityTooLong { valid_before: u64, max: u64 },
    #[error("bad signature: {0}")]
    BadSignature(String),
    #[error("signature is by {recovered}, not by the payer {from}")]
    SignerMismatch { from: Address, recovered: Address },
    #[error("server misconfiguration: token domain does not match requirements ({0})")]
    DomainMismatch(String),
    #[error("this offer is paid with an {expected} authorization")]
    WrongTransferMethod { expected: &'static str },
    #[error(
        "wrong spender: the Permit2 authorization is for {got}, x402's exact proxy is {expected}"
    )]
    WrongSpender { expected: Address, got: Address },
    #[error("wrong token: the Permit2 authorization moves {got}, the offer is {expected}")]
    WrongToken { expected: Address, got: Address },
    #[error("wrong facilitator: the upto witness names {got}, this gateway settles as {expected}")]
    WrongFacilitator { expected: Address, got: Address },
}

impl PaymentError {
    /// The x402 error code (`invalidReason` / `errorReason`).
    pub fn reason(&self) -> &'static str {
        use PaymentError::*;
        match self {
            HeaderTooLarge { .. } | BadBase64(_) | BadJson(_) => "invalid_payload",
            UnsupportedVersion(_) => "invalid_x402_version",
            UnsupportedScheme(_) => "unsupported_scheme",
            WrongNetwork { .. } => "invalid_network",
            WrongAsset { .. } | DomainMismatch(_) => "invalid_payment_requirements",
            WrongRecipient { .. } => "invalid_exact_evm_payload_recipient_mismatch",
            WrongAmount { .. } => "invalid_exact_evm_payload_authorization_value",
            NotYetValid { .. } => "invalid_exact_evm_payload_authorization_valid_after",
            Expired { .. } | ValidityTooLong { .. } => {
                "invalid_exact_evm_payload_authorization_valid_before"
            }
            BadSignature(_) | SignerMismatch { .. } => "invalid_exact_evm_payload_signature",
            WrongTransferMethod { .. } => "invalid_payload",
            WrongSpender { .. } => "invalid_permit2_spender",
            WrongToken { .. } => "permit2_token_mismatch",
            WrongFacilitator { .. } => "upto_facilitator_mismatch",
        }
    }
}

/// A payment that passed [`verify_exact_payment`]: everything needed to settle it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAuthorization {
    pub x402_version: u8,
    pub authorization: ExactAuthorization,
    /// Parsed, low-s; `v` is normalised (see [`Self::vrs`]).
    pub signature: Signature,
    /// The EIP-712 digest the payer signed.
    pub signing_hash: B256,
}

impl VerifiedAuthorization {
    pub fn payer(&self) -> Address {
        self.authorization.from
    }

    pub fn value(&self) -> U256 {
        self.authorization.value
    }

    /// `(v, r, s)` with v = 27/28, as USDC's `transferWithAuthorization(…, v, r, s)` wants.
    pub fn vrs(&self) -> (u8, B256, B256) {
        (
            27 + self.signature.v() as u8,
            B256::from(self.signature.r()),
            B256::from(self.signature.s()),
        )
    }
}

/// Verifies an `exact` payment against the gateway's requirements at unix time `now` (seconds).
/// Pure: no RPC. See the module docs for the exact list of checks.
pub fn verify_exact_payment(
    payload: &PaymentPayload,
    requirements: &ExactRequirements,
    token_domain: &TokenDomain,
    now: u64,
) -> Result<VerifiedAuthorization, PaymentError> {
    if token_domain.verifying_contract != requirements.asset {
        return Err(PaymentError::DomainMismatch(format!(
            "verifyingContract {} != asset {}",
            token_domain.verifying_contract, requirements.asset
        )));
    }
    if token_domain.chain_id != requirements.network.chain_id {
        return Err(PaymentError::DomainMismatch(format!(
            "domain chainId {} != network chain id {}",
            token_domain.chain_id, requirements.network.chain_id
        )));
    }

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

    let Some(exact) = payload.eip3009() else {
        return Err(PaymentError::WrongTransferMethod {
            expected: "eip3009",
        });
    };
    let auth = &exact.authorization;
    if auth.to != requirements.pay_to {
        return Err(PaymentError::WrongRecipient {
            expected: requirements.pay_to,
            got: auth.to,
        });
    }
    if auth.value != requirements.amount {
        return Err(PaymentError::WrongAmount {
            expected: requirements.amount,
            got: auth.value,
        });
    }
    if auth.valid_after > now {
        return Err(PaymentError::NotYetValid {
            valid_after: auth.valid_after,
            now,
        });
    }
    if now.saturating_add(SETTLEMENT_MARGIN_SECS) >= auth.valid_before {
        return Err(PaymentError::Expired {
            valid_before: auth.valid_before,
            now,
            margin: SETTLEMENT_MARGIN_SECS,
        });
    }
    let max = now
        .saturating_add(requirements.max_timeout_seconds)
        .saturating_add(CLOCK_SKEW_SECS);
    if auth.valid_before > max {
        return Err(PaymentError::ValidityTooLong {
            valid_before: auth.valid_before,
            max,
        });
    }

    let signature = parse_ecdsa_signature(&exact.signature)?;
    let signing_hash = auth.signing_hash(token_domain);
    let recovered = signature
        .recover_address_from_prehash(&signing_hash)
        .map_err(|e| PaymentError::BadSignature(format!("cannot recover signer: {e}")))?;
    if recovered != auth.from {
        return Err(PaymentError::SignerMismatch {
            from: auth.from,
            recovered,
        });
    }
    Ok(VerifiedAuthorization {
        x402_version: payload.x402_version(),
        authorization: auth.clone(),
        signature,
        signing_hash,
    })
}

/// 65-byte `r‖s‖v`, v ∈ {0, 1, 27, 28}, s in the lower half (USDC and OpenZeppelin reject high s).
pub(super) fn parse_ecdsa_signature(sig: &[u8]) -> Result<Signature, PaymentError> {
    if sig.len() != 65 {
        return Err(PaymentError::BadSignature(format!(
            "expected a 65-byte ECDSA signature, got {} bytes (smart-wallet signatures are not accepted)",
            sig.len()
        )));
    }
    let v = sig[64];
    if !matches!(v, 0 | 1 | 27 | 28) {
        return Err(PaymentError::BadSignature(format!("invalid v {v}")));
    }
    let signature =
        Signature::from_raw(sig).map_err(|e| PaymentError::BadSignature(e.to_string()))?;
    if signature.normalize_s().is_some() {
        return Err(PaymentError::BadSignature("non-canonical (high) s".into()));
    }
    Ok(signature)
}
