//! x402 `upto` (EVM, Permit2): the client authorises a **maximum**, the server settles the
//! actual amount (at most that maximum, possibly nothing) after serving — what an LLM call is.
//!
//! Followed as the official clients implement it (`x402` 2.25 on PyPI:
//! `x402.mechanisms.evm.upto`, and `@x402/evm`): v2 only; the offer is
//! `{scheme: "upto", network, asset, amount: the maximum, payTo, maxTimeoutSeconds, extra:
//! {assetTransferMethod: "permit2", facilitatorAddress}}`; the payer signs a Permit2
//! `PermitWitnessTransferFrom` whose `spender` is x402's upto proxy and whose witness
//! `Witness(address to, address facilitator, uint256 validAfter)` names the recipient and the
//! one address allowed to choose the amount (the proxy requires `msg.sender == facilitator`).
//! Payload `{signature, permit2Authorization: {from, permitted: {token, amount}, spender,
//! nonce, deadline, witness: {to, facilitator, validAfter}}}`, numbers as decimal strings.
//!
//! [`verify_upto_payment`] is pure (no RPC), like the `exact` verifiers: the chain side (the
//! nonce unused, the allowance to Permit2 and the balance covering the maximum) is read by the
//! caller before serving.

use super::verify::parse_ecdsa_signature;
use super::{
    decode_header, v2, DecimalU256, Network, PaymentError, Permitted, RequirementsV2, TokenExtra,
    CLOCK_SKEW_SECS, PERMIT2_ADDRESS, X402_UPTO_PERMIT2_PROXY,
};
use alloy::primitives::{Address, Bytes, Signature, B256, U256};
use alloy::signers::{local::PrivateKeySigner, SignerSync};
use alloy::sol_types::{Eip712Domain, SolStruct};
use serde::{Deserialize, Serialize};

/// The scheme's name on the wire.
pub const UPTO_SCHEME: &str = "upto";

mod typed {
    alloy::sol! {
        /// Permit2's token and amount.
        #[derive(Debug, PartialEq, Eq)]
        struct TokenPermissions {
            address token;
            uint256 amount;
        }
        /// The upto witness: the recipient, and who may choose the amount.
        #[derive(Debug, PartialEq, Eq)]
        struct Witness {
            address to;
            address facilitator;
            uint256 validAfter;
        }
        /// The EIP-712 message an x402 client signs for an upto payment.
        #[derive(Debug, PartialEq, Eq)]
        struct PermitWitnessTransferFrom {
            TokenPermissions permitted;
            address spender;
            uint256 nonce;
            uint256 deadline;
            Witness witness;
        }
    }
}

/// `witness` of an upto authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UptoWitness {
    pub to: Address,
    pub facilitator: Address,
    #[serde(with = "super::numbers::u64_string")]
    pub valid_after: u64,
}

/// `permit2Authorization` of an upto payment: what the payer signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UptoAuthorization {
    pub from: Address,
    /// The token and the **maximum** the server may take.
    pub permitted: Permitted,
    pub spender: Address,
    #[serde(with = "super::numbers::uint_string")]
    pub nonce: U256,
    #[serde(with = "super::numbers::u64_string")]
    pub deadline: u64,
    pub witness: UptoWitness,
}

/// The `payload` of an upto payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UptoPayload {
    pub signature: Bytes,
    pub permit2_authorization: UptoAuthorization,
}

/// The v2 `PAYMENT-SIGNATURE` of an upto payment.
pub type UptoPaymentV2 = v2::PaymentPayload<RequirementsV2, UptoPayload>;

impl UptoAuthorization {
    /// The digest the payer signs on `chain_id` (Permit2's domain: name "Permit2", no version).
    pub fn signing_hash(&self, chain_id: u64) -> B256 {
        let typed = typed::PermitWitnessTransferFrom {
            permitted: typed::TokenPermissions {
                token: self.permitted.token,
                amount: self.permitted.amount,
            },
            spender: self.spender,
            nonce: self.nonce,
            deadline: U256::from(self.deadline),
            witness: typed::Witness {
                to: self.witness.to,
                facilitator: self.witness.facilitator,
                validAfter: U256::from(self.witness.valid_after),
            },
        };
        let domain = Eip712Domain::new(
            Some("Permit2".into()),
            None,
            Some(U256::from(chain_id)),
            Some(PERMIT2_ADDRESS),
            None,
        );
        typed.eip712_signing_hash(&domain)
    }
}

/// Signs an upto authorization as an x402 client does (`eth_signTypedData_v4`), 65 bytes.
pub fn sign_upto(
    signer: &PrivateKeySigner,
    authorization: &UptoAuthorization,
    chain_id: u64,
) -> Result<Bytes, alloy::signers::Error> {
    let sig = signer.sign_hash_sync(&authorization.signing_hash(chain_id))?;
    Ok(Bytes::from(sig.as_bytes().to_vec()))
}

/// One `upto` offer: the maximum of a call, on one asset of one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UptoRequirements {
    pub network: Network,
    pub asset: Address,
    pub pay_to: Address,
    /// The maximum, in token units.
    pub amount: U256,
    pub max_timeout_seconds: u64,
    /// The address that settles (the operator's): the payer names it in the witness.
    pub facilitator: Address,
    /// The deadline must leave at least this long to serve the call and settle it.
    pub min_validity_seconds: u64,
}

impl UptoRequirements {
    /// The v2 wire form.
    pub fn to_v2(&self) -> RequirementsV2 {
        v2::PaymentRequirements {
            scheme: UPTO_SCHEME.to_string(),
            network: self.network.caip2(),
            amount: DecimalU256(self.amount),
            pay_to: self.pay_to,
            max_timeout_seconds: self.max_timeout_seconds,
            asset: self.asset,
            extra: Some(TokenExtra {
                facilitator_address: Some(self.facilitator),
                ..TokenExtra::permit2()
            }),
        }
    }
}

/// Decodes a `PAYMENT-SIGNATURE` header carrying an upto payment (v2 only: the scheme has no
/// v1 form).
pub fn decode_upto_header(value: &str) -> Result<UptoPaymentV2, PaymentError> {
    let raw: serde_json::Value = decode_header(value)?;
    match raw.get("x402Version").and_then(|v| v.as_u64()) {
        Some(2) => {}
        Some(v) => return Err(PaymentError::UnsupportedVersion(v)),
        None => return Err(PaymentError::BadJson("missing x402Version".into())),
    }
    match raw
        .get("accepted")
        .and_then(|a| a.get("scheme"))
        .and_then(|s| s.as_str())
    {
        Some(UPTO_SCHEME) => {}
        Some(other) => return Err(PaymentError::UnsupportedScheme(other.to_string())),
        None => return Err(PaymentError::BadJson("missing scheme".into())),
    }
    serde_json::from_value(raw).map_err(|e| PaymentError::BadJson(e.to_string()))
}

/// An upto payment that passed [`verify_upto_payment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUpto {
    pub authorization: UptoAuthorization,
    pub signature: Signature,
}

impl VerifiedUpto {
    pub fn payer(&self) -> Address {
        self.authorization.from
    }

    /// The 65-byte `r‖s‖v` signature Permit2 checks.
    pub fn signature_bytes(&self) -> Bytes {
        Bytes::from(self.signature.as_bytes().to_vec())
    }
}

/// The payer whose key signed `payload`'s authorization as sent, on `chain_id` — before its
/// terms are compared with any offer (so rate limits can be kept per payer before the body is
/// read). `None` when the signature does not recover the named payer.
pub fn upto_signer(payload: &UptoPayload, chain_id: u64) -> Option<Address> {
    let signature = parse_ecdsa_signature(&payload.signature).ok()?;
    let auth = &payload.permit2_authorization;
    let recovered = signature
        .recover_address_from_prehash(&auth.signing_hash(chain_id))
        .ok()?;
    (recovered == auth.from).then_some(recovered)
}

impl PaymentError {
    /// The x402 error code of a refused upto payment (the clients' names).
    pub fn upto_reason(&self) -> &'static str {
        use PaymentError::*;
        match self {
            UnsupportedScheme(_) => "invalid_upto_evm_scheme",
            WrongNetwork { .. } => "invalid_upto_evm_network_mismatch",
            WrongFacilitator { .. } => "upto_facilitator_mismatch",
            other => other.permit2_reason(),
        }
    }
}

/// Verifies an upto payment against the offer at unix time `now`. Pure: no RPC.
///
/// As the official facilitator: scheme, network, the `accepted` offer field by field, spender =
/// x402's upto proxy, `witness.to == payTo`, `witness.facilitator` = ours, `permitted.token ==
/// asset`, `permitted.amount == amount` (the maximum; exact, as the clients sign what was
/// offered), `validAfter <= now`; and ours on top: the deadline leaves `min_validity_seconds`
/// to serve and settle, and is not beyond `maxTimeoutSeconds`; a 65-byte low-s signature of the
/// payer under Permit2's domain on this chain.
pub fn verify_upto_payment(
    payload: &UptoPaymentV2,
    requirements: &UptoRequirements,
    now: u64,
) -> Result<VerifiedUpto, PaymentError> {
    let a = &payload.accepted;
    if a.scheme != UPTO_SCHEME {
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
    let auth = &payload.payload.permit2_authorization;
    if auth.spender != X402_UPTO_PERMIT2_PROXY {
        return Err(PaymentError::WrongSpender {
            expected: X402_UPTO_PERMIT2_PROXY,
            got: auth.spender,
        });
    }
    if auth.witness.to != requirements.pay_to {
        return Err(PaymentError::WrongRecipient {
            expected: requirements.pay_to,
            got: auth.witness.to,
        });
    }
    if auth.witness.facilitator != requirements.facilitator {
        return Err(PaymentError::WrongFacilitator {
            expected: requirements.facilitator,
            got: auth.witness.facilitator,
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
    if now.saturating_add(requirements.min_validity_seconds) >= auth.deadline {
        return Err(PaymentError::Expired {
            valid_before: auth.deadline,
            now,
            margin: requirements.min_validity_seconds,
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
    let signature = parse_ecdsa_signature(&payload.payload.signature)?;
    let recovered = signature
        .recover_address_from_prehash(&auth.signing_hash(requirements.network.chain_id))
        .map_err(|e| PaymentError::BadSignature(format!("cannot recover signer: {e}")))?;
    if recovered != auth.from {
        return Err(PaymentError::SignerMismatch {
            from: auth.from,
            recovered,
        });
    }
    Ok(VerifiedUpto {
        authorization: auth.clone(),
        signature,
    })
}

/// An upto authorization for `offer` (v2 JSON) from `payer`, as the official client builds it
/// (random nonce, `validAfter` 0, deadline `now + maxTimeoutSeconds`); client side and tests.
pub fn upto_authorization_for(
    offer: &RequirementsV2,
    payer: Address,
    nonce: U256,
    now: u64,
) -> Option<UptoAuthorization> {
    let facilitator = offer.extra.as_ref()?.facilitator_address?;
    Some(UptoAuthorization {
        from: payer,
        permitted: Permitted {
            token: offer.asset,
            amount: offer.amount.0,
        },
        spender: X402_UPTO_PERMIT2_PROXY,
        nonce,
        deadline: now + offer.max_timeout_seconds,
        witness: UptoWitness {
            to: offer.pay_to,
            facilitator,
            valid_after: 0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::sol_types::SolStruct;

    #[test]
    fn the_type_string_is_the_clients() {
        assert_eq!(
            typed::PermitWitnessTransferFrom::eip712_encode_type(),
            "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)"
        );
    }

    fn offer(facilitator: Address) -> UptoRequirements {
        UptoRequirements {
            network: Network::new("anvil", 31337),
            asset: Address::repeat_byte(1),
            pay_to: Address::repeat_byte(2),
            amount: U256::from(4_000u64),
            max_timeout_seconds: 600,
            facilitator,
            min_validity_seconds: 120,
        }
    }

    const NOW: u64 = 1_800_000_000;

    fn signed(
        payer: &PrivateKeySigner,
        req: &UptoRequirements,
        tweak: impl FnOnce(&mut UptoAuthorization),
    ) -> UptoPaymentV2 {
        let wire = req.to_v2();
        let mut auth = upto_authorization_for(&wire, payer.address(), U256::from(7), NOW).unwrap();
        tweak(&mut auth);
        let signature = sign_upto(payer, &auth, 31337).unwrap();
        v2::PaymentPayload {
            accepted: wire,
            payload: UptoPayload {
                signature,
                permit2_authorization: auth,
            },
            resource: None,
            x402_version: v2::X402Version2,
            extensions: Default::default(),
        }
    }

    #[test]
    fn a_signed_upto_payment_round_trips_verifies_and_every_bad_field_is_refused() {
        let payer = PrivateKeySigner::random();
        let req = offer(Address::repeat_byte(9));
        let good = signed(&payer, &req, |_| {});
        let header = super::super::encode_header(&good);
        let decoded = decode_upto_header(&header).unwrap();
        assert_eq!(upto_signer(&decoded.payload, 31337), Some(payer.address()));
        let v = verify_upto_payment(&decoded, &req, NOW).unwrap();
        assert_eq!(v.payer(), payer.address());
        assert_eq!(
            req.to_v2().extra.unwrap().facilitator_address,
            Some(req.facilitator)
        );

        let reason = |p: UptoPaymentV2| verify_upto_payment(&p, &req, NOW).unwrap_err().upto_reason();
        type Tweak = Box<dyn Fn(&mut UptoAuthorization)>;
        let cases: Vec<(&str, Tweak)> = vec![
            ("invalid_permit2_spender", Box::new(|a| a.spender = super::super::X402_EXACT_PERMIT2_PROXY)),
            ("invalid_permit2_recipient_mismatch", Box::new(|a| a.witness.to = Address::repeat_byte(3))),
            ("upto_facilitator_mismatch", Box::new(|a| a.witness.facilitator = Address::repeat_byte(4))),
            ("permit2_token_mismatch", Box::new(|a| a.permitted.token = Address::repeat_byte(5))),
            ("permit2_amount_mismatch", Box::new(|a| a.permitted.amount = U256::from(3_999u64))),
            ("permit2_not_yet_valid", Box::new(|a| a.witness.valid_after = NOW + 5)),
            ("permit2_deadline_expired", Box::new(|a| a.deadline = NOW + 60)),
            ("permit2_deadline_expired", Box::new(|a| a.deadline = NOW + 3_600)),
        ];
        for (want, tweak) in cases {
            assert_eq!(reason(signed(&payer, &req, |a| tweak(a))), want);
        }
        // Signed by another key, or over other terms than those sent.
        let mut forged = signed(&PrivateKeySigner::random(), &req, |_| {});
        forged.payload.permit2_authorization.from = payer.address();
        assert_eq!(upto_signer(&forged.payload, 31337), None);
        assert_eq!(reason(forged), "invalid_permit2_signature");
        let mut altered = good.clone();
        altered.payload.permit2_authorization.nonce = U256::from(8);
        assert_eq!(reason(altered), "invalid_permit2_signature");
        // The accepted offer altered, and an exact scheme sent here.
        let mut cheaper = good.clone();
        cheaper.accepted.amount = DecimalU256(U256::from(1u64));
        assert_eq!(reason(cheaper), "permit2_amount_mismatch");
        let mut exact = good;
        exact.accepted.scheme = "exact".into();
        assert_eq!(reason(exact.clone()), "invalid_upto_evm_scheme");
        assert!(matches!(
            decode_upto_header(&super::super::encode_header(&exact)),
            Err(PaymentError::UnsupportedScheme(_))
        ));
    }
}
