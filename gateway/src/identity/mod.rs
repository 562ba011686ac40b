//! Who is calling, and proving it.
//!
//! | module | job |
//! | --- | --- |
//! | [`api_keys`] | [`Authenticator`]: `sk-…` keys → [`Principal`]; static keys from the config; the payer principal of a call paid per call ([`Principal::payer`]) |
//! | [`ledger_keys`] | [`LedgerKeys`]: keys hashed in the ledger, cached, one query per key however many miss at once |
//! | [`revocation`] | the background service that evicts revoked keys on every node |
//! | [`siwe`] | Sign-In with Ethereum: [`SiweVerifier`] and its checks |
//! | [`nonces`] | spent SIWE nonces, once each (Redis, Postgres, or in process) |

pub mod api_keys;
pub mod ledger_keys;
pub mod nonces;
pub mod revocation;
pub mod siwe;

pub use api_keys::{
    api_key, principal, AnyOf, Authenticator, KeysUnavailable, Principal, PrincipalKind,
    StaticKeys,
};
pub use ledger_keys::LedgerKeys;
pub use siwe::{ContractSignatures, SiweError, SiweVerifier};
