//! Who is calling, and proving it.
//!
//! | module | job |
//! | --- | --- |
//! | [`api_keys`] | [`Authenticator`]: `sk-…` keys → [`Principal`] (static from the config, or hashed in the ledger and cached) |
//! | [`revocation`] | the background service that evicts revoked keys on every node |
//! | [`siwe`] | Sign-In with Ethereum: [`SiweVerifier`] and its checks |
//! | [`nonces`] | spent SIWE nonces, once each (Redis, or in process) |

pub mod api_keys;
pub mod nonces;
pub mod revocation;
pub mod siwe;

pub use api_keys::{api_key, AnyOf, Authenticator, LedgerKeys, Principal, StaticKeys};
pub use siwe::{ContractSignatures, SiweError, SiweVerifier};
