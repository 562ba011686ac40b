//! What the client sends: the exact-EVM payload (EIP-3009 authorization + signature), v1 or v2.

use super::{
    encode_header, v1, v2, ExactPermit2Payload, Network, PayloadV1, PayloadV2, RequirementsV2,
    TokenDomain, TransferWithAuthorization, EXACT_SCHEME,
};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::signers::{local::PrivateKeySigner, SignerSync};
use alloy::sol_types::SolStruct;
use serde::{Deserialize, Serialize};

/// The exact-EVM `payload`: the EIP-712 signature and the signed authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactEvmPayload {
    pub signature: Bytes,
    pub authorization: ExactAuthorization,
}

/// EIP-3009 authorization parameters. On the wire the numbers are strings; decimal and `0x` hex
/// are both accepted (exact-EVM scheme spec), decimal is emitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExactAuthorization {
    pub from: Address,
    pub to: Address,
    #[serde(with = "super::numbers::uint_string")]
    pub value: U256,
    #[serde(with = "super::numbers::u64_string")]
    pub valid_after: u64,
    #[serde(with = "super::numbers::u64_string")]
    pub valid_before: u64,
    #[serde(with = "super::numbers::nonce_string")]
    pub nonce: B256,
}

impl ExactAuthorization {
    /// The EIP-712 struct.
    pub fn typed(&self) -> TransferWithAuthorization {
        TransferWithAuthorization {
            from: self.from,
            to: self.to,
            value: self.value,
            validAfter: U256::from(self.valid_after),
            validBefore: U256::from(self.valid_before),
            nonce: self.nonce,
        }
    }

    /// The EIP-712 digest that is signed: `keccak256(0x1901 ‖ domainSeparator ‖ structHash)`.
    pub fn signing_hash(&self, domain: &TokenDomain) -> B256 {
        self.typed().eip712_signing_hash(&domain.eip712_domain())
    }
}

/// Signs an authorization the way an x402 client does (`eth_signTypedData_v4` over
/// `TransferWithAuthorization`), returning the 65-byte `r‖s‖v` signature (v = 27/28).
pub fn sign_authorization(
    signer: &PrivateKeySigner,
    authorization: &ExactAuthorization,
    domain: &TokenDomain,
) -> Result<Bytes, alloy::signers::Error> {
    let sig = signer.sign_hash_sync(&authorization.signing_hash(domain))?;
    Ok(Bytes::from(sig.as_bytes().to_vec()))
}

/// The `payload` of an `exact` payment: an EIP-3009 authorization, or a Permit2 one (told apart
/// by the `permit2Authorization` member, as the x402 clients do).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ExactPayload {
    Eip3009(ExactEvmPayload),
    Permit2(ExactPermit2Payload),
}

impl<'de> Deserialize<'de> for ExactPayload {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(d)?;
        let err = serde::de::Error::custom;
        if raw.get("permit2Authorization").is_some() {
            serde_json::from_value(raw)
                .map(ExactPayload::Permit2)
                .map_err(err)
        } else {
            serde_json::from_value(raw)
                .map(ExactPayload::Eip3009)
                .map_err(err)
        }
    }
}

impl From<ExactEvmPayload> for ExactPayload {
    fn from(p: ExactEvmPayload) -> Self {
        ExactPayload::Eip3009(p)
    }
}

impl From<ExactPermit2Payload> for ExactPayload {
    fn from(p: ExactPermit2Payload) -> Self {
        ExactPayload::Permit2(p)
    }
}

/// A decoded `X-PAYMENT` (v1) or `PAYMENT-SIGNATURE` (v2) header.
// One short-lived value per paid request: not worth boxing the larger v2 variant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum PaymentPayload {
    V1(PayloadV1),
    V2(PayloadV2),
}

impl PaymentPayload {
    pub fn x402_version(&self) -> u8 {
        match self {
            PaymentPayload::V1(_) => 1,
            PaymentPayload::V2(_) => 2,
        }
    }

    /// The signed payload.
    pub fn payload(&self) -> &ExactPayload {
        match self {
            PaymentPayload::V1(p) => &p.payload,
            PaymentPayload::V2(p) => &p.payload,
        }
    }

    /// The EIP-3009 signature and authorization, if that is what was sent.
    pub fn eip3009(&self) -> Option<&ExactEvmPayload> {
        match self.payload() {
            ExactPayload::Eip3009(p) => Some(p),
            ExactPayload::Permit2(_) => None,
        }
    }

    /// The Permit2 signature and authorization, if that is what was sent.
    pub fn permit2(&self) -> Option<&ExactPermit2Payload> {
        match self.payload() {
            ExactPayload::Permit2(p) => Some(p),
            ExactPayload::Eip3009(_) => None,
        }
    }

    /// The payer the payload names (not yet verified).
    pub fn claimed_payer(&self) -> Address {
        match self.payload() {
            ExactPayload::Eip3009(p) => p.authorization.from,
            ExactPayload::Permit2(p) => p.permit2_authorization.from,
        }
    }

    /// The network as the client wrote it (v1 name or v2 CAIP-2).
    pub fn network(&self) -> String {
        match self {
            PaymentPayload::V1(p) => p.network.clone(),
            PaymentPayload::V2(p) => p.accepted.network.to_string(),
        }
    }

    /// A v1 payload for `network` (client side / tests).
    pub fn v1(network: &Network, payload: impl Into<ExactPayload>) -> Self {
        PaymentPayload::V1(v1::PaymentPayload {
            x402_version: v1::X402Version1,
            scheme: EXACT_SCHEME.to_string(),
            network: network.name.clone(),
            payload: payload.into(),
        })
    }

    /// A v2 payload accepting `accepted` (client side / tests).
    pub fn v2(
        accepted: RequirementsV2,
        resource: Option<v2::ResourceInfo>,
        payload: impl Into<ExactPayload>,
    ) -> Self {
        PaymentPayload::V2(v2::PaymentPayload {
            accepted,
            payload: payload.into(),
            resource,
            x402_version: v2::X402Version2,
            extensions: Default::default(),
        })
    }

    /// Base64 header value.
    pub fn to_header(&self) -> String {
        match self {
            PaymentPayload::V1(p) => encode_header(p),
            PaymentPayload::V2(p) => encode_header(p),
        }
    }
}
