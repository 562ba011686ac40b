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

use alloy::sol;

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

mod header;
mod network;
mod numbers;
mod payload;
mod permit2;
mod requirements;
mod settlement;
mod upto;
mod verify;
mod verify_permit2;

pub use header::*;
pub use network::*;
pub use payload::*;
pub use permit2::*;
pub use requirements::*;
pub use settlement::*;
pub use upto::*;
pub use verify::*;
pub use verify_permit2::*;

#[cfg(test)]
mod tests;
