//! Background services that run beside the proxy (Pingora `BackgroundService`s).
//!
//! | module | job |
//! | --- | --- |
//! | [`settlement`] | open the ledger; the lease book, sink and settlement writer of one node |
//! | [`shutdown`] | run the writer and lease upkeep; drain them on SIGTERM |
//! | [`credit_reconciler`] | finish top-ups and deposits a crash or an outage left unfinished |
//! | [`deposit_watcher`] | credit TreasuryVault deposits nobody reported (`chain.deposits.watch`) |
//! | [`chain_jobs`] | reconcile withdrawals; run payouts on `chain.payouts.schedule` |
//! | [`pay_per_call`] | settle calls paid per call (x402 `upto`) after they were served; count them into the vaults |
//! | [`solvency_watch`] | the vaults' USDC against what the ledger owes, as a gauge |

pub mod chain_jobs;
pub mod credit_reconciler;
pub mod deposit_watcher;
pub mod pay_per_call;
pub mod settlement;
pub mod shutdown;
pub mod solvency_watch;
