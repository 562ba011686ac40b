//! What the client sends: the exact-EVM payload (EIP-3009 authorization + signature), v1 or v2.

use super::{
    encode_header, v1, v2, Network, PayloadV1, PayloadV2, RequirementsV2, TokenDomain,
    TransferWithAuthorization, EXACT_SCHEME,
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

    /// The signature and authorization.
    pub fn exact(&self) -> &ExactEvmPayload {
        match self {
            PaymentPayload::V1(p) => &p.payload,
            PaymentPayload::V2(p) => &p.payload,
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
    pub fn v1(network: &Network, payload: ExactEvmPayload) -> Self {
        PaymentPayload::V1(v1::PaymentPayload {
            x402_version: v1::X402Version1,
            scheme: EXACT_SCHEME.to_string(),
            network: network.name.clone(),
            payload,
        })
    }

    /// A v2 payload accepting `accepted` (client side / tests).
    pub fn v2(
        accepted: RequirementsV2,
        resource: Option<v2::ResourceInfo>,
        payload: ExactEvmPayload,
    ) -> Self {
        PaymentPayload::V2(v2::PaymentPayload {
            accepted,
            payload,
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
