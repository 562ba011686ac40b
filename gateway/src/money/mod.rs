//! Money operations between the ledger and the chain. No HTTP here: each operation returns
//! an outcome (`…Credited` / `…Refused`, a report), and only `control/` turns outcomes into
//! answers; `jobs/` and `cli/` call the same operations.
//!
//! | module | job |
//! | --- | --- |
//! | [`onchain`] | [`ChainSet`]: one [`OnChain`] per accepted asset on each chain (token, method, vaults), sharing the chain's lazily connected operator client; micro-USD ↔ token units |
//! | [`ids`] | every id that names what moved (top-up, deposit, payout batch, withdrawal), built once |
//! | [`offers`] | a top-up's x402 offers (one per asset on every chain), the offer a payment names, its verification and settlement |
//! | [`topup`] | x402 top-ups: settle a verified EIP-3009 authorization, credit it once |
//! | [`topup_permit2`] | x402 top-ups through Permit2 (any ERC-20): settle, credit once, 412 without the allowance |
//! | [`deposits`] | TreasuryVault deposits: verify from the receipt, credit each log once |
//! | [`withdrawals`] | buyer withdrawals and their reconciliation |
//! | [`pay_per_call`] | LLM calls paid per call with x402 `upto`: admission under per-payer limits, settlement after the response |
//! | [`payouts`] | the provider payout engine (one run, cancel) |
//! | [`solvency`] | reserves on chain against what the ledger owes; every credit against its transaction |

pub mod deposits;
pub mod ids;
pub mod offers;
pub mod onchain;
pub mod pay_per_call;
pub mod payouts;
pub mod solvency;
pub mod topup;
pub mod topup_permit2;
pub mod withdrawals;

pub use onchain::{ChainReader, ChainSet, Method, OnChain};
