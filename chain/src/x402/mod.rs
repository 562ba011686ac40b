//! x402 wire types and the pure verification of an `exact` (EIP-3009) payment.
//!
//! # Wire types: which crate, and why
//!
//! The protocol envelopes come from the maintained [`x402_types`] crate (x402-rs project, 2.x):
//! v1/v2 `PaymentRequired`, `PaymentRequirements`, `PaymentPayload`, `ResourceInfo`, the
//! version markers (which reject a wrong `x402Version` on decode), CAIP-2 [`ChainId`] and the
//! network-name ↔ chain-id table. With default features off it only adds `rust_decimal` to a
//! tree that already has alloy 2.x (it builds on `alloy-primitives` 1.x, the one alloy 2 uses),
//! and it has no Solana code.
//!
//! Implemented here instead, with serde + alloy:
//! - the EVM `exact` payload (`signature` + `authorization`): `x402-chain-eip155`'s type only
//!   accepts decimal strings for `value`/`validAfter`/`validBefore`, while the exact-EVM scheme
//!   spec also allows `0x` hex; its verifier/settler sits behind its `facilitator` feature (own
//!   provider stack, tokio/tower/dashmap) that would duplicate [`crate::client::ChainClient`]. So
//!   that crate is not used at all;
//! - the settlement response: `x402_types`' serializes `error_reason` in snake_case, the spec
//!   says `errorReason`;
//! - the verification itself ([`verify_exact_payment`]): pure, no RPC, so it can run on the
//!   request path and in unit tests.
//!
//! # Headers
//! - v1: 402 **body** [`PaymentRequiredV1`]; request header `X-PAYMENT` (base64 [`PayloadV1`]);
//!   response header `X-PAYMENT-RESPONSE` (base64 [`SettlementResponse`]).
//! - v2: 402 header `PAYMENT-REQUIRED` (base64 [`PaymentRequiredV2`]); request header
//!   `PAYMENT-SIGNATURE` (base64 [`PayloadV2`], carrying the `accepted` requirements); response
//!   header `PAYMENT-RESPONSE`.
//!
//! [`decode_payment_header`] takes either request header and dispatches on `x402Version`.
//!
//! # What [`verify_exact_payment`] checks (and what it cannot)
//! 1. scheme is `exact`; network matches (v1: configured name, case-insensitive, or the CAIP-2
//!    id; v2: CAIP-2 `eip155:<chainId>`); for v2 the `accepted` object must also match our asset,
//!    `payTo` and amount;
//! 2. `authorization.to == payTo` (addresses compare as bytes, so case does not matter);
//! 3. `authorization.value == amount` — **exact equality, a documented choice**: less is an
//!    underpayment; more would take more of the buyer's money than we quoted (the reference
//!    facilitator accepts `>=`; for a prepaid top-up we prefer to credit exactly the advertised
//!    amount and reject anything else so the buyer's client is fixed rather than overcharged);
//! 4. time: `validAfter <= now`, `now + SETTLEMENT_MARGIN_SECS < validBefore` (still valid when
//!    the settlement lands), and `validBefore <= now + maxTimeoutSeconds + CLOCK_SKEW_SECS` (no
//!    open-ended authorizations; clients set `validBefore = now + maxTimeoutSeconds`);
//! 5. the EIP-712 `TransferWithAuthorization` signature, domain
//!    `{name, version, chainId, verifyingContract = asset}`, is a 65-byte low-s ECDSA signature
//!    that recovers to `authorization.from`. Smart-wallet (EIP-1271/6492) payer signatures are
//!    rejected here; the domain must agree with the requirements (asset, chain id).
//!
//! Not checked here because it needs the chain: the payer's balance and whether the nonce was
//! already used — [`ChainClient::settle_transfer_with_authorization`](crate::client::ChainClient::settle_transfer_with_authorization) checks both
//! before sending, and the token enforces them again on-chain.

use std::fmt;

use alloy::primitives::{Address, Bytes, Signature, B256, U256};
use alloy::signers::{local::PrivateKeySigner, SignerSync};
use alloy::sol;
use alloy::sol_types::{Eip712Domain, SolStruct};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use x402_types::chain::ChainId;
pub use x402_types::proto::{v1, v2};
pub use x402_types::util::DecimalU256;

/// v1 request header carrying the base64 [`PayloadV1`].
pub const X_PAYMENT_HEADER: &str = "X-PAYMENT";
/// v1 response header carrying the base64 [`SettlementResponse`].
pub const X_PAYMENT_RESPONSE_HEADER: &str = "X-PAYMENT-RESPONSE";
/// v2 402-response header carrying the base64 [`PaymentRequiredV2`].
pub const PAYMENT_REQUIRED_HEADER: &str = "PAYMENT-REQUIRED";
/// v2 request header carrying the base64 [`PayloadV2`].
pub const PAYMENT_SIGNATURE_HEADER: &str = "PAYMENT-SIGNATURE";
/// v2 response header carrying the base64 [`SettlementResponse`].
pub const PAYMENT_RESPONSE_HEADER: &str = "PAYMENT-RESPONSE";
/// The only scheme supported.
pub const EXACT_SCHEME: &str = "exact";
/// Largest accepted payment header (base64 text); a real one is ~1 KB (v1) to ~2 KB (v2).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// `validBefore` must be more than this many seconds in the future, so the transfer is still
/// valid in the block that settles it.
pub const SETTLEMENT_MARGIN_SECS: u64 = 6;
/// Tolerated clock difference between client and server for the `maxTimeoutSeconds` bound.
pub const CLOCK_SKEW_SECS: u64 = 60;

sol! {
    /// EIP-3009 `TransferWithAuthorization`, the EIP-712 struct an x402 client signs.
    #[derive(Debug, PartialEq, Eq)]
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

// ------------------------------------------------------------------------------------------------
// networks and token domain

/// An EVM network as x402 names it: the v1 name (`base-sepolia`) and the chain id (v2 uses the
/// CAIP-2 form `eip155:<chain_id>`). Use [`Network::known`] for the x402 table, or
/// [`Network::new`] for anything else (a local anvil: `Network::new("anvil", 31337)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub chain_id: u64,
}

impl Network {
    /// A network under a configured name (no table lookup).
    pub fn new(name: impl Into<String>, chain_id: u64) -> Self {
        Network {
            name: name.into(),
            chain_id,
        }
    }

    /// An EVM network from x402's table by v1 name (`base`, `base-sepolia`, `avalanche`,
    /// `avalanche-fuji`, `polygon`, `polygon-amoy`, `sei`, `celo`, …); `None` for unknown or
    /// non-EVM names.
    pub fn known(name: &str) -> Option<Self> {
        let id = x402_types::networks::chain_id_by_network_name(name)?;
        if id.namespace() != "eip155" {
            return None;
        }
        let chain_id = id.reference().parse().ok()?;
        Some(Network::new(name, chain_id))
    }

    /// The x402 network for a chain id, falling back to the name `eip155-<id>` (e.g. 31337).
    pub fn for_chain_id(chain_id: u64) -> Self {
        let id = ChainId::new("eip155", chain_id.to_string());
        match x402_types::networks::network_name_by_chain_id(&id) {
            Some(name) => Network::new(name, chain_id),
            None => Network::new(format!("eip155-{chain_id}"), chain_id),
        }
    }

    /// The CAIP-2 id used by x402 v2, e.g. `eip155:8453`.
    pub fn caip2(&self) -> ChainId {
        ChainId::new("eip155", self.chain_id.to_string())
    }

    /// Whether a v1 `network` field names this network (name case-insensitively, or CAIP-2).
    pub fn matches_v1(&self, network: &str) -> bool {
        network.eq_ignore_ascii_case(&self.name) || network == self.caip2().to_string()
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (eip155:{})", self.name, self.chain_id)
    }
}

/// The token's EIP-712 domain, which every `TransferWithAuthorization` signature commits to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenDomain {
    pub name: String,
    pub version: String,
    pub chain_id: u64,
    pub verifying_contract: Address,
}

impl TokenDomain {
    /// Circle USDC (and MockUSDC): name "USD Coin", version "2". Note that some testnet USDC
    /// deployments use another name (Base Sepolia: "USDC"); configure those with [`Self::new`].
    pub fn usdc(chain_id: u64, token: Address) -> Self {
        Self::new("USD Coin", "2", chain_id, token)
    }

    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        chain_id: u64,
        token: Address,
    ) -> Self {
        TokenDomain {
            name: name.into(),
            version: version.into(),
            chain_id,
            verifying_contract: token,
        }
    }

    /// As an alloy EIP-712 domain.
    pub fn eip712_domain(&self) -> Eip712Domain {
        Eip712Domain::new(
            Some(self.name.clone().into()),
            Some(self.version.clone().into()),
            Some(U256::from(self.chain_id)),
            Some(self.verifying_contract),
            None,
        )
    }

    /// The `extra` object of x402 requirements (`{"name":…,"version":…}`).
    pub fn extra(&self) -> TokenExtra {
        TokenExtra {
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }
}

/// `extra` of the exact-EVM requirements: the token's EIP-712 name and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenExtra {
    pub name: String,
    pub version: String,
}

// ------------------------------------------------------------------------------------------------
// requirements (what the gateway asks for)

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
pub type PayloadV1 = v1::PaymentPayload<String, ExactEvmPayload>;
/// v2 requirements (CAIP-2 network, `amount`).
pub type RequirementsV2 = v2::PaymentRequirements<String, DecimalU256, Address, Option<TokenExtra>>;
/// v2 `PAYMENT-REQUIRED` content.
pub type PaymentRequiredV2 = v2::PaymentRequired<RequirementsV2>;
/// v2 `PAYMENT-SIGNATURE` content.
pub type PayloadV2 = v2::PaymentPayload<RequirementsV2, ExactEvmPayload>;

impl ExactRequirements {
    /// v1 wire form (`maxAmountRequired`, network name, resource/description/mimeType inline).
    pub fn to_v1(&self, token: &TokenDomain) -> RequirementsV1 {
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
            extra: Some(token.extra()),
        }
    }

    /// v2 wire form (CAIP-2 network, `amount`; the resource goes to [`Self::resource_info`]).
    pub fn to_v2(&self, token: &TokenDomain) -> RequirementsV2 {
        v2::PaymentRequirements {
            scheme: EXACT_SCHEME.to_string(),
            network: self.network.caip2(),
            amount: DecimalU256(self.amount),
            pay_to: self.pay_to,
            max_timeout_seconds: self.max_timeout_seconds,
            asset: self.asset,
            extra: Some(token.extra()),
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

// ------------------------------------------------------------------------------------------------
// payload (what the client sends)

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
    #[serde(with = "uint_string")]
    pub value: U256,
    #[serde(with = "u64_string")]
    pub valid_after: u64,
    #[serde(with = "u64_string")]
    pub valid_before: u64,
    #[serde(with = "nonce_string")]
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

// ------------------------------------------------------------------------------------------------
// settlement response

/// `X-PAYMENT-RESPONSE` / `PAYMENT-RESPONSE` content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementResponse {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<Address>,
    /// Transaction hash; empty string when settlement failed.
    #[serde(default)]
    pub transaction: String,
    /// v1 network name or v2 CAIP-2 id, matching the request's version.
    pub network: String,
}

impl SettlementResponse {
    pub fn success(transaction: B256, network: impl Into<String>, payer: Address) -> Self {
        SettlementResponse {
            success: true,
            error_reason: None,
            payer: Some(payer),
            transaction: transaction.to_string(),
            network: network.into(),
        }
    }

    pub fn failure(
        reason: impl Into<String>,
        network: impl Into<String>,
        payer: Option<Address>,
    ) -> Self {
        SettlementResponse {
            success: false,
            error_reason: Some(reason.into()),
            payer,
            transaction: String::new(),
            network: network.into(),
        }
    }

    /// Base64 header value.
    pub fn to_header(&self) -> String {
        encode_header(self)
    }
}

// ------------------------------------------------------------------------------------------------
// header codec

const B64_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const B64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Base64 (standard alphabet, padded) of the JSON of `value`.
pub fn encode_header<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).expect("x402 types serialize to JSON");
    base64::engine::general_purpose::STANDARD.encode(json)
}

/// Decodes a base64 JSON header into `T` (standard or URL-safe alphabet, padding optional).
pub fn decode_header<T: DeserializeOwned>(value: &str) -> Result<T, PaymentError> {
    let bytes = decode_base64(value)?;
    serde_json::from_slice(&bytes).map_err(|e| PaymentError::BadJson(e.to_string()))
}

fn decode_base64(value: &str) -> Result<Vec<u8>, PaymentError> {
    let value = value.trim();
    if value.len() > MAX_HEADER_BYTES {
        return Err(PaymentError::HeaderTooLarge {
            len: value.len(),
            max: MAX_HEADER_BYTES,
        });
    }
    if value.is_empty() {
        return Err(PaymentError::BadBase64("empty header".into()));
    }
    B64_STANDARD
        .decode(value)
        .or_else(|_| B64_URL_SAFE.decode(value))
        .map_err(|e| PaymentError::BadBase64(e.to_string()))
}

/// Decodes an `X-PAYMENT` or `PAYMENT-SIGNATURE` header value (v1 or v2 by `x402Version`).
/// Scheme and version are checked before the payload shape, so a non-`exact` scheme reports
/// [`PaymentError::UnsupportedScheme`] rather than a JSON error.
pub fn decode_payment_header(value: &str) -> Result<PaymentPayload, PaymentError> {
    let raw: serde_json::Value = decode_header(value)?;
    let version = raw
        .get("x402Version")
        .ok_or_else(|| PaymentError::BadJson("missing x402Version".into()))?;
    let version = version
        .as_u64()
        .ok_or_else(|| PaymentError::BadJson(format!("x402Version is not a number: {version}")))?;
    let scheme = match version {
        1 => raw.get("scheme"),
        2 => raw.get("accepted").and_then(|a| a.get("scheme")),
        v => return Err(PaymentError::UnsupportedVersion(v)),
    };
    match scheme.and_then(|s| s.as_str()) {
        Some(EXACT_SCHEME) => {}
        Some(other) => return Err(PaymentError::UnsupportedScheme(other.to_string())),
        None => return Err(PaymentError::BadJson("missing scheme".into())),
    }
    let bad_json = |e: serde_json::Error| PaymentError::BadJson(e.to_string());
    Ok(match version {
        1 => PaymentPayload::V1(serde_json::from_value(raw).map_err(bad_json)?),
        _ => PaymentPayload::V2(serde_json::from_value(raw).map_err(bad_json)?),
    })
}

// ------------------------------------------------------------------------------------------------
// verification

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

    let exact = payload.exact();
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
fn parse_ecdsa_signature(sig: &[u8]) -> Result<Signature, PaymentError> {
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

// ------------------------------------------------------------------------------------------------
// lenient number strings

fn parse_uint(s: &str) -> Result<U256, String> {
    let s = s.trim();
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() => U256::from_str_radix(hex, 16),
        Some(_) => return Err("empty hex number".into()),
        None if !s.is_empty() => U256::from_str_radix(s, 10),
        None => return Err("empty number".into()),
    };
    parsed.map_err(|e| format!("invalid number {s:?}: {e}"))
}

/// A string (decimal or `0x` hex) or a JSON integer.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberRepr {
    Str(String),
    Int(u64),
}

impl NumberRepr {
    fn into_u256(self) -> Result<U256, String> {
        match self {
            NumberRepr::Str(s) => parse_uint(&s),
            NumberRepr::Int(n) => Ok(U256::from(n)),
        }
    }
}

mod uint_string {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        NumberRepr::deserialize(d)?
            .into_u256()
            .map_err(serde::de::Error::custom)
    }
}

mod u64_string {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let v = NumberRepr::deserialize(d)?
            .into_u256()
            .map_err(serde::de::Error::custom)?;
        u64::try_from(v).map_err(|_| serde::de::Error::custom("timestamp out of range"))
    }
}

mod nonce_string {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &B256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<B256, D::Error> {
        let v = NumberRepr::deserialize(d)?
            .into_u256()
            .map_err(serde::de::Error::custom)?;
        Ok(B256::from(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_790_000_000;

    struct Fixture {
        payer: PrivateKeySigner,
        req: ExactRequirements,
        domain: TokenDomain,
        auth: ExactAuthorization,
    }

    fn fixture() -> Fixture {
        let payer = PrivateKeySigner::random();
        let asset: Address = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
            .parse()
            .unwrap();
        let pay_to: Address = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
            .parse()
            .unwrap();
        let network = Network::known("base-sepolia").unwrap();
        let domain = TokenDomain::new("USDC", "2", network.chain_id, asset);
        let req = ExactRequirements {
            network,
            asset,
            pay_to,
            amount: U256::from(5_000_000u64),
            max_timeout_seconds: 300,
            resource: "https://gw.example/v1/topup".into(),
            description: "Prepaid top-up".into(),
            mime_type: "application/json".into(),
        };
        let auth = ExactAuthorization {
            from: payer.address(),
            to: pay_to,
            value: U256::from(5_000_000u64),
            valid_after: NOW - 600,
            valid_before: NOW + 300,
            nonce: B256::repeat_byte(0x42),
        };
        Fixture {
            payer,
            req,
            domain,
            auth,
        }
    }

    fn signed_v1(f: &Fixture, auth: &ExactAuthorization) -> PaymentPayload {
        let signature = sign_authorization(&f.payer, auth, &f.domain).unwrap();
        PaymentPayload::v1(
            &f.req.network,
            ExactEvmPayload {
                signature,
                authorization: auth.clone(),
            },
        )
    }

    fn verify(f: &Fixture, p: &PaymentPayload) -> Result<VerifiedAuthorization, PaymentError> {
        verify_exact_payment(p, &f.req, &f.domain, NOW)
    }

    #[test]
    fn v1_roundtrip_through_header_verifies() {
        let f = fixture();
        let header = signed_v1(&f, &f.auth).to_header();
        let decoded = decode_payment_header(&header).unwrap();
        let ok = verify(&f, &decoded).unwrap();
        assert_eq!(ok.payer(), f.payer.address());
        assert_eq!(ok.value(), U256::from(5_000_000u64));
        assert_eq!(ok.x402_version, 1);
        let (v, r, s) = ok.vrs();
        assert!(v == 27 || v == 28);
        assert_eq!(U256::from_be_bytes(r.0), ok.signature.r());
        assert_eq!(U256::from_be_bytes(s.0), ok.signature.s());
    }

    #[test]
    fn v2_roundtrip_through_header_verifies() {
        let f = fixture();
        let sig = sign_authorization(&f.payer, &f.auth, &f.domain).unwrap();
        let p = PaymentPayload::v2(
            f.req.to_v2(&f.domain),
            Some(f.req.resource_info()),
            ExactEvmPayload {
                signature: sig,
                authorization: f.auth.clone(),
            },
        );
        let header = p.to_header();
        let json: serde_json::Value = decode_header(&header).unwrap();
        assert_eq!(json["x402Version"], 2);
        assert_eq!(json["accepted"]["network"], "eip155:84532");
        assert_eq!(json["accepted"]["amount"], "5000000");
        assert_eq!(json["payload"]["authorization"]["value"], "5000000");
        let decoded = decode_payment_header(&header).unwrap();
        assert_eq!(verify(&f, &decoded).unwrap().x402_version, 2);
    }

    #[test]
    fn spec_example_payload_parses() {
        // The exact-EVM scheme spec's example header (signature is not for our domain).
        let json = r#"{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":{
            "signature":"0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c",
            "authorization":{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
            "value":"10000","validAfter":"1740672089","validBefore":"1740672154",
            "nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}}}"#;
        let header = base64::engine::general_purpose::STANDARD.encode(json);
        let p = decode_payment_header(&header).unwrap();
        let a = &p.exact().authorization;
        assert_eq!(a.value, U256::from(10_000u64));
        assert_eq!(a.valid_before, 1_740_672_154);
        assert_eq!(p.network(), "base-sepolia");
    }

    #[test]
    fn hex_numbers_are_accepted() {
        let a: ExactAuthorization = serde_json::from_str(
            r#"{"from":"0x857b06519e91e3a54538791bdbb0e22373e36b66","to":"0x209693bc6afc0c5328ba36faf03c514ef312287c",
                "value":"0x2710","validAfter":1740672089,"validBefore":"0x67C0A19A","nonce":"0x01"}"#,
        )
        .unwrap();
        assert_eq!(a.value, U256::from(10_000u64));
        assert_eq!(a.valid_after, 1_740_672_089);
        assert_eq!(a.valid_before, 0x67C0A19A);
        assert_eq!(a.nonce, B256::from(U256::from(1u64)));
    }

    #[test]
    fn payment_required_v1_body_shape() {
        let f = fixture();
        let body =
            payment_required_v1("X-PAYMENT header is required", vec![f.req.to_v1(&f.domain)]);
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["x402Version"], 1);
        assert_eq!(v["error"], "X-PAYMENT header is required");
        let a = &v["accepts"][0];
        assert_eq!(a["scheme"], "exact");
        assert_eq!(a["network"], "base-sepolia");
        assert_eq!(a["maxAmountRequired"], "5000000");
        assert_eq!(a["mimeType"], "application/json");
        assert_eq!(a["maxTimeoutSeconds"], 300);
        assert_eq!(a["extra"]["name"], "USDC");
        assert_eq!(a["extra"]["version"], "2");
        assert_eq!(
            a["payTo"].as_str().unwrap().to_lowercase(),
            f.req.pay_to.to_string().to_lowercase()
        );
        assert!(a.get("outputSchema").is_none());
        // And it parses back.
        let back: PaymentRequiredV1 = serde_json::from_value(v).unwrap();
        assert_eq!(back.accepts[0].max_amount_required.0, f.req.amount);
    }

    #[test]
    fn payment_required_v2_header_shape() {
        let f = fixture();
        let pr = payment_required_v2(
            "PAYMENT-SIGNATURE header is required",
            f.req.resource_info(),
            vec![f.req.to_v2(&f.domain)],
        );
        let v: serde_json::Value = decode_header(&encode_header(&pr)).unwrap();
        assert_eq!(v["x402Version"], 2);
        assert_eq!(v["resource"]["url"], "https://gw.example/v1/topup");
        assert_eq!(v["resource"]["mimeType"], "application/json");
        assert_eq!(v["accepts"][0]["network"], "eip155:84532");
        assert_eq!(v["accepts"][0]["amount"], "5000000");
        assert!(v["accepts"][0].get("maxAmountRequired").is_none());
    }

    #[test]
    fn settlement_response_shape() {
        let payer = Address::repeat_byte(0x11);
        let ok = SettlementResponse::success(B256::repeat_byte(0xab), "eip155:84532", payer);
        let v: serde_json::Value = decode_header(&ok.to_header()).unwrap();
        assert_eq!(v["success"], true);
        assert_eq!(v["transaction"].as_str().unwrap().len(), 66);
        assert_eq!(v["network"], "eip155:84532");
        assert!(v.get("errorReason").is_none());
        let bad = SettlementResponse::failure("insufficient_funds", "base", None);
        let v = serde_json::to_value(&bad).unwrap();
        assert_eq!(v["errorReason"], "insufficient_funds");
        assert_eq!(v["transaction"], "");
        // The spec's failure example omits `transaction`.
        let parsed: SettlementResponse = serde_json::from_str(
            r#"{"success":false,"errorReason":"insufficient_funds","network":"eip155:84532"}"#,
        )
        .unwrap();
        assert!(!parsed.success && parsed.transaction.is_empty());
    }

    #[test]
    fn networks() {
        assert_eq!(Network::known("base").unwrap().chain_id, 8453);
        assert_eq!(Network::known("base-sepolia").unwrap().chain_id, 84532);
        assert_eq!(Network::known("avalanche").unwrap().chain_id, 43114);
        assert_eq!(Network::known("avalanche-fuji").unwrap().chain_id, 43113);
        assert!(Network::known("solana").is_none());
        assert!(Network::known("nope").is_none());
        assert_eq!(Network::for_chain_id(8453).name, "base");
        let anvil = Network::new("anvil", 31337);
        assert_eq!(anvil.caip2().to_string(), "eip155:31337");
        assert!(
            anvil.matches_v1("ANVIL")
                && anvil.matches_v1("eip155:31337")
                && !anvil.matches_v1("base")
        );
        assert_eq!(Network::for_chain_id(31337).name, "eip155-31337");
    }

    #[test]
    fn header_decoding_errors() {
        assert!(matches!(
            decode_payment_header("%%%not base64"),
            Err(PaymentError::BadBase64(_))
        ));
        assert!(matches!(
            decode_payment_header(""),
            Err(PaymentError::BadBase64(_))
        ));
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert!(matches!(
            decode_payment_header(&b64("{nope")),
            Err(PaymentError::BadJson(_))
        ));
        assert!(matches!(
            decode_payment_header(&b64("{}")),
            Err(PaymentError::BadJson(_))
        ));
        assert_eq!(
            decode_payment_header(&b64(r#"{"x402Version":3}"#)).unwrap_err(),
            PaymentError::UnsupportedVersion(3)
        );
        assert_eq!(
            decode_payment_header(&b64(
                r#"{"x402Version":1,"scheme":"upto","network":"base","payload":{}}"#
            ))
            .unwrap_err(),
            PaymentError::UnsupportedScheme("upto".into())
        );
        assert!(matches!(
            decode_payment_header(&b64(
                r#"{"x402Version":1,"scheme":"exact","network":"base","payload":{}}"#
            )),
            Err(PaymentError::BadJson(_))
        ));
        let huge = "A".repeat(MAX_HEADER_BYTES + 1);
        assert!(matches!(
            decode_payment_header(&huge),
            Err(PaymentError::HeaderTooLarge { .. })
        ));
        // URL-safe alphabet without padding is tolerated.
        let f = fixture();
        let json = serde_json::to_vec(match &signed_v1(&f, &f.auth) {
            PaymentPayload::V1(p) => p,
            _ => unreachable!(),
        })
        .unwrap();
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        assert!(decode_payment_header(&url_safe).is_ok());
    }

    #[test]
    fn tampered_fields_are_rejected() {
        let f = fixture();
        let good_sig = sign_authorization(&f.payer, &f.auth, &f.domain).unwrap();
        // Re-use the good signature over a tampered authorization.
        let tampered = |edit: &dyn Fn(&mut ExactAuthorization)| {
            let mut a = f.auth.clone();
            edit(&mut a);
            let p = PaymentPayload::v1(
                &f.req.network,
                ExactEvmPayload {
                    signature: good_sig.clone(),
                    authorization: a,
                },
            );
            verify(&f, &p).unwrap_err()
        };
        // `to` / `value` mismatches are caught before the signature.
        assert!(matches!(
            tampered(&|a| a.to = Address::repeat_byte(9)),
            PaymentError::WrongRecipient { .. }
        ));
        assert!(matches!(
            tampered(&|a| a.value += U256::from(1)),
            PaymentError::WrongAmount { .. }
        ));
        // Fields only the signature binds.
        assert!(matches!(
            tampered(&|a| a.nonce = B256::repeat_byte(1)),
            PaymentError::SignerMismatch { .. }
        ));
        assert!(matches!(
            tampered(&|a| a.valid_after -= 1),
            PaymentError::SignerMismatch { .. }
        ));
        assert!(matches!(
            tampered(&|a| a.valid_before -= 1),
            PaymentError::SignerMismatch { .. }
        ));
        assert!(matches!(
            tampered(&|a| a.from = Address::repeat_byte(7)),
            PaymentError::SignerMismatch { .. }
        ));
        let e = tampered(&|a| a.from = Address::repeat_byte(7));
        assert_eq!(e.reason(), "invalid_exact_evm_payload_signature");
    }

    #[test]
    fn properly_signed_but_wrong_terms_are_rejected() {
        let f = fixture();
        let signed = |edit: &dyn Fn(&mut ExactAuthorization)| {
            let mut a = f.auth.clone();
            edit(&mut a);
            verify(&f, &signed_v1(&f, &a))
        };
        let e = signed(&|a| a.value = U256::from(4_999_999u64)).unwrap_err();
        assert_eq!(e.reason(), "invalid_exact_evm_payload_authorization_value");
        assert!(matches!(
            signed(&|a| a.value = U256::from(5_000_001u64)),
            Err(PaymentError::WrongAmount { .. })
        ));
        let e = signed(&|a| a.to = Address::repeat_byte(3)).unwrap_err();
        assert_eq!(e.reason(), "invalid_exact_evm_payload_recipient_mismatch");
        // Time window.
        assert!(matches!(
            signed(&|a| a.valid_after = NOW + 1),
            Err(PaymentError::NotYetValid { .. })
        ));
        assert!(signed(&|a| a.valid_after = NOW).is_ok());
        assert!(matches!(
            signed(&|a| a.valid_before = NOW),
            Err(PaymentError::Expired { .. })
        ));
        assert!(matches!(
            signed(&|a| a.valid_before = NOW - 1),
            Err(PaymentError::Expired { .. })
        ));
        assert!(matches!(
            signed(&|a| a.valid_before = NOW + SETTLEMENT_MARGIN_SECS),
            Err(PaymentError::Expired { .. })
        ));
        assert!(signed(&|a| a.valid_before = NOW + SETTLEMENT_MARGIN_SECS + 1).is_ok());
        assert!(signed(&|a| a.valid_before = NOW + 300 + CLOCK_SKEW_SECS).is_ok());
        assert!(matches!(
            signed(&|a| a.valid_before = NOW + 300 + CLOCK_SKEW_SECS + 1),
            Err(PaymentError::ValidityTooLong { .. })
        ));
        // Case-insensitive recipient: addresses are compared as bytes.
        let lower: Address = f.req.pay_to.to_string().to_lowercase().parse().unwrap();
        assert!(signed(&|a| a.to = lower).is_ok());
    }

    #[test]
    fn wrong_domain_signatures_are_rejected() {
        let f = fixture();
        for other in [
            TokenDomain::new(
                "USD Coin",
                "2",
                f.domain.chain_id,
                f.domain.verifying_contract,
            ), // name
            TokenDomain::new("USDC", "1", f.domain.chain_id, f.domain.verifying_contract), // version
            TokenDomain::new("USDC", "2", 8453, f.domain.verifying_contract),              // chain
            TokenDomain::new("USDC", "2", f.domain.chain_id, Address::repeat_byte(5)), // contract
        ] {
            let signature = sign_authorization(&f.payer, &f.auth, &other).unwrap();
            let p = PaymentPayload::v1(
                &f.req.network,
                ExactEvmPayload {
                    signature,
                    authorization: f.auth.clone(),
                },
            );
            assert!(
                matches!(verify(&f, &p), Err(PaymentError::SignerMismatch { .. })),
                "{other:?}"
            );
        }
    }

    #[test]
    fn malformed_signatures_are_rejected() {
        let f = fixture();
        let good = sign_authorization(&f.payer, &f.auth, &f.domain).unwrap();
        let with_sig = |sig: Vec<u8>| {
            let p = PaymentPayload::v1(
                &f.req.network,
                ExactEvmPayload {
                    signature: sig.into(),
                    authorization: f.auth.clone(),
                },
            );
            verify(&f, &p)
        };
        assert!(matches!(
            with_sig(good[..64].to_vec()),
            Err(PaymentError::BadSignature(_))
        ));
        assert!(matches!(
            with_sig(vec![0u8; 130]),
            Err(PaymentError::BadSignature(_))
        ));
        let mut bad_v = good.to_vec();
        bad_v[64] = 5;
        assert!(matches!(
            with_sig(bad_v),
            Err(PaymentError::BadSignature(_))
        ));
        // v as 0/1 is accepted.
        let mut v01 = good.to_vec();
        v01[64] -= 27;
        assert!(with_sig(v01).is_ok());
        // The malleable twin (n - s, flipped v) recovers the same key but is rejected.
        let sig = Signature::from_raw(&good).unwrap();
        let n = U256::from_str_radix(
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141",
            16,
        )
        .unwrap();
        let twin = Signature::new(sig.r(), n - sig.s(), !sig.v());
        assert!(matches!(
            with_sig(twin.as_bytes().to_vec()),
            Err(PaymentError::BadSignature(_))
        ));
    }

    #[test]
    fn scheme_and_network_mismatches() {
        let f = fixture();
        let PaymentPayload::V1(mut p) = signed_v1(&f, &f.auth) else {
            unreachable!()
        };
        p.network = "base".into();
        let e = verify(&f, &PaymentPayload::V1(p.clone())).unwrap_err();
        assert!(matches!(e, PaymentError::WrongNetwork { .. }));
        assert_eq!(e.reason(), "invalid_network");
        p.network = "eip155:84532".into();
        assert!(verify(&f, &PaymentPayload::V1(p.clone())).is_ok());
        p.scheme = "upto".into();
        assert!(matches!(
            verify(&f, &PaymentPayload::V1(p)),
            Err(PaymentError::UnsupportedScheme(_))
        ));
    }

    #[test]
    fn v2_accepted_must_match_requirements() {
        let f = fixture();
        let sig = sign_authorization(&f.payer, &f.auth, &f.domain).unwrap();
        let run = |edit: &dyn Fn(&mut RequirementsV2)| {
            let mut accepted = f.req.to_v2(&f.domain);
            edit(&mut accepted);
            let p = PaymentPayload::v2(
                accepted,
                None,
                ExactEvmPayload {
                    signature: sig.clone(),
                    authorization: f.auth.clone(),
                },
            );
            verify(&f, &p)
        };
        assert!(run(&|_| {}).is_ok());
        assert!(matches!(
            run(&|a| a.network = ChainId::new("eip155", "8453")),
            Err(PaymentError::WrongNetwork { .. })
        ));
        assert!(matches!(
            run(&|a| a.asset = Address::repeat_byte(1)),
            Err(PaymentError::WrongAsset { .. })
        ));
        assert!(matches!(
            run(&|a| a.pay_to = Address::repeat_byte(1)),
            Err(PaymentError::WrongRecipient { .. })
        ));
        assert!(matches!(
            run(&|a| a.amount = DecimalU256(U256::from(1))),
            Err(PaymentError::WrongAmount { .. })
        ));
        assert!(matches!(
            run(&|a| a.scheme = "upto".into()),
            Err(PaymentError::UnsupportedScheme(_))
        ));
    }

    #[test]
    fn misconfigured_domain_is_reported() {
        let f = fixture();
        let p = signed_v1(&f, &f.auth);
        let mut d = f.domain.clone();
        d.verifying_contract = Address::repeat_byte(1);
        assert!(matches!(
            verify_exact_payment(&p, &f.req, &d, NOW),
            Err(PaymentError::DomainMismatch(_))
        ));
        let mut d = f.domain.clone();
        d.chain_id = 1;
        assert!(matches!(
            verify_exact_payment(&p, &f.req, &d, NOW),
            Err(PaymentError::DomainMismatch(_))
        ));
    }

    #[test]
    fn every_error_has_a_message_and_reason() {
        let errors = [
            PaymentError::HeaderTooLarge { len: 1, max: 0 },
            PaymentError::BadBase64("x".into()),
            PaymentError::BadJson("x".into()),
            PaymentError::UnsupportedVersion(9),
            PaymentError::UnsupportedScheme("x".into()),
            PaymentError::WrongNetwork {
                expected: "a".into(),
                got: "b".into(),
            },
            PaymentError::WrongAsset {
                expected: Address::ZERO,
                got: Address::ZERO,
            },
            PaymentError::WrongRecipient {
                expected: Address::ZERO,
                got: Address::ZERO,
            },
            PaymentError::WrongAmount {
                expected: U256::ZERO,
                got: U256::ZERO,
            },
            PaymentError::NotYetValid {
                valid_after: 1,
                now: 0,
            },
            PaymentError::Expired {
                valid_before: 0,
                now: 1,
                margin: 6,
            },
            PaymentError::ValidityTooLong {
                valid_before: 9,
                max: 1,
            },
            PaymentError::BadSignature("x".into()),
            PaymentError::SignerMismatch {
                from: Address::ZERO,
                recovered: Address::ZERO,
            },
            PaymentError::DomainMismatch("x".into()),
        ];
        for e in errors {
            assert!(!e.to_string().is_empty());
            assert!(!e.reason().is_empty());
        }
    }
}
