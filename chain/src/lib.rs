//! On-chain settlement for Tollgate (alloy 2.x). Module docs to be completed.

pub mod anvil;
pub mod client;
pub mod contracts;
pub mod deploy;
pub mod error;
pub mod x402;

pub use client::{ChainClient, ChainConfig};
pub use error::ChainError;
