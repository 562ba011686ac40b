//! On-chain side of Tollgate, on alloy 2.x: x402 / EIP-3009 top-ups, TreasuryVault deposits,
//! PayoutVault payouts, buyer withdrawals, EIP-1271 checks for SIWE, local deployment.
//!
//! | module | job |
//! | --- | --- |
//! | [`x402`] | x402 v1/v2 wire types (envelopes from the `x402-types` crate), header codecs, and the **pure** [`x402::verify_exact_payment`] |
//! | [`client`] | [`ChainClient`]: HTTP provider + local key, chain-id check, nonces, `send_and_confirm`, retries, generic reads |
//! | [`contracts`] | `sol!` bindings from `chain/abi/*.json` and typed vault/token operations (methods on [`ChainClient`]) |
//! | [`permit2`] | Permit2 on chain: the x402 exact proxy's `settle`, nonce and allowance reads, what a settlement moved |
//! | [`transfers`] | what moved on chain: the transfer an EIP-3009 authorization made (from its receipt), the transaction that used one |
//! | [`deploy`] | deploy MockUSDC + vaults from artifact bytecode, mint demo USDC, [`deploy::Deployment`] JSON |
//! | [`anvil`] | spawn a throw-away anvil for tests and demos |
//! | [`error`] | [`ChainError`] for everything that talks to a node |
//!
//! # What is verified where
//! - **Request path, no RPC** ([`x402::verify_exact_payment`]): header decodes (size cap, base64,
//!   JSON, version, scheme), network, v2 `accepted` = our offer, `to == payTo`, `value == amount`
//!   (exact), time window (`validAfter <= now`, `validBefore` beyond a settle margin and within
//!   `maxTimeoutSeconds`), EIP-712 signature recovers `from` (65-byte, low-s; domain = token name,
//!   version, chain id, asset).
//! - **Before sending** ([`ChainClient::settle_transfer_with_authorization`]): ERC-3009
//!   `authorizationState` (→ [`ChainError::AuthorizationAlreadyUsed`]) and the payer's balance
//!   (→ [`ChainError::InsufficientBalance`]); every send is gas-estimated first, so contract
//!   reverts (used batch/withdrawal id, not operator, paused, pool too small) come back as typed
//!   errors without a transaction.
//! - **On-chain** (authoritative): the token re-checks signature, window and nonce; the vaults
//!   enforce operator-only access and once-only `batchId` / `withdrawalId`.
//! - **Deposits** ([`ChainClient::find_deposit`]): receipt status, confirmations, and only
//!   `Deposited` logs *emitted by the vault address* count.
//!
//! Keys: the private key is passed as a hex string (the gateway reads it from an env var), lives
//! only in the alloy signer, and is never logged; `Debug` of [`ChainClient`] / [`ChainConfig`] shows
//! the address and the RPC URL without path or query.

pub mod anvil;
pub mod client;
pub mod contracts;
pub mod deploy;
pub mod error;
pub mod permit2;
pub mod transfers;
pub mod x402;

pub use client::{ChainClient, ChainConfig};
pub use error::ChainError;
