//! Money for Tollgate: prices and cost math, the Postgres ledger, balance leases and the
//! settlement pipeline through which request outcomes leave the proxy.
//!
//! Everything here is integer micro-USDC (1 USDC = 1_000_000). Prices are configured in USD
//! per million tokens; [`Price`] keeps them exactly, so `cost = ceil(tokens × price)` never
//! touches a float.

pub mod charging;
pub mod cost;
pub mod lease;
pub mod ledger;
pub mod outcome;
pub mod price;
pub mod settlement;
pub mod sink;
pub mod spool;

pub use cost::{Charge, PriceSheet, ProviderShare};
pub use outcome::{AppliedPrices, Outcome, OutcomeStatus};
pub use price::{PerToken, Price, PriceError};
pub use sink::{AdmitError, BillingSink, MemorySink, Reservation};

/// Integer micro-USDC. Signed so that ledger deltas and balances share one type.
pub type MicroUsdc = i64;
