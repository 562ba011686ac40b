//! Money operations between the ledger and the chain. No HTTP here: each operation returns
//! an outcome (`…Credited` / `…Refused`, a report), and only `control/` turns outcomes into
//! answers; `jobs/` and `cli/` call the same operations.
//!
//! | module | job |
//! | --- | --- |
//! | [`onchain`] | [`OnChain`]: the configured contracts and the operator's lazily connected client |
//! | [`ids`] | every id that names what moved (top-up, deposit, payout batch, withdrawal), built once |
//! | [`topup`] | x402 top-ups: settle a verified EIP-3009 authorization, credit it once |
//! | [`deposits`] | TreasuryVault deposits: verify from the receipt, credit each log once |
//! | [`withdrawals`] | buyer withdrawals and their reconciliation |
//! | [`payouts`] | the provider payout engine (one run, cancel) |
//! | [`solvency`] | reserves on chain against what the ledger owes; every credit against its transaction |

pub mod deposits;
pub mod ids;
pub mod onchain;
pub mod payouts;
pub mod solvency;
pub mod topup;
pub mod withdrawals;

pub use onchain::{ChainReader, OnChain};
