//! Sign-In with Ethereum (EIP-4361): proves that a caller controls a wallet, without sessions.
//!
//! Key management and wallet-scoped reads carry a SIWE message and its signature on every
//! call. [`SiweVerifier::verify`] checks, in this order, and names the first check that failed:
//! the message parses (the `siwe` crate; the address must be EIP-55), the signature is hex,
//! `domain` and `uri` are this gateway's public URL, `chainId` is the configured chain,
//! `issuedAt` is recent and not in the future, `expirationTime` / `notBefore` hold, the
//! signature is the address's (EIP-191 recovery with alloy; EIP-1271 `isValidSignature` for a
//! contract wallet when a chain RPC is configured), and last the nonce has not been used —
//! so a failed attempt never burns a nonce.

use super::nonces::NonceStore;
pub use crate::config::SiwePolicy;
use alloy_primitives::{Address, Signature, B256};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Asks the chain whether a contract wallet accepts a signature (EIP-1271).
#[async_trait]
pub trait ContractSignatures: Send + Sync {
    /// `Ok(false)` for "no", including an address without code; `Err` when the chain could
    /// not be asked.
    async fn is_valid_signature(
        &self,
        account: Address,
        hash: B256,
        signature: &[u8],
    ) -> Result<bool, String>;
}

/// What a verified message proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweIdentity {
    /// Lower-case 0x address (the ledger's form).
    pub wallet: String,
}

/// Why a SIWE check failed. `Display` is the message the client sees (401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiweError {
    Missing,
    Malformed(String),
    BadSignatureEncoding,
    Domain {
        got: String,
        want: String,
    },
    Uri {
        got: String,
        want: String,
    },
    ChainId {
        got: u64,
        /// The configured chain ids.
        want: Vec<u64>,
    },
    IssuedTooLongAgo {
        max_age_secs: u64,
    },
    IssuedInFuture,
    Expired,
    NotYetValid,
    WrongSigner,
    ChainUnavailable,
    /// EIP-4361 nonces are short alphanumerics; a long one would be stored as sent.
    BadNonce,
    NonceReused,
    NonceStoreUnavailable,
}

impl std::fmt::Display for SiweError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SiweError::Missing => f.write_str("SIWE message and signature are required"),
            SiweError::Malformed(e) => write!(f, "SIWE message is malformed: {e}"),
            SiweError::BadSignatureEncoding => {
                f.write_str("signature must be 0x-prefixed hex (65 bytes for an EOA)")
            }
            SiweError::Domain { got, want } => {
                write!(f, "SIWE domain {got:?} is not this gateway ({want:?})")
            }
            SiweError::Uri { got, want } => {
                write!(f, "SIWE uri {got:?} is not on this gateway ({want:?})")
            }
            SiweError::ChainId { got, want } => {
                write!(
                    f,
                    "SIWE chain id {got} is not one of this gateway's chains ({want:?})"
                )
            }
            SiweError::IssuedTooLongAgo { max_age_secs } => write!(
                f,
                "SIWE issuedAt is more than {max_age_secs} s old; sign a fresh message"
            ),
            SiweError::IssuedInFuture => f.write_str("SIWE issuedAt is in the future"),
            SiweError::Expired => f.write_str("SIWE message has expired (expirationTime)"),
            SiweError::NotYetValid => f.write_str("SIWE message is not valid yet (notBefore)"),
            SiweError::WrongSigner => {
                f.write_str("signature was not made by the SIWE message's address")
            }
            SiweError::ChainUnavailable => {
                f.write_str("contract-wallet signature could not be checked: chain unavailable")
            }
            SiweError::BadNonce => write!(
                f,
                "SIWE nonce must be {MIN_NONCE}–{MAX_NONCE} letters or digits"
            ),
            SiweError::NonceReused => {
                f.write_str("SIWE nonce was already used; sign a new message")
            }
            SiweError::NonceStoreUnavailable => {
                f.write_str("SIWE nonce could not be recorded; retry shortly")
            }
        }
    }
}

impl SiweError {
    /// Infrastructure failures are 503 (retry), everything else 401.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            SiweError::ChainUnavailable | SiweError::NonceStoreUnavailable
        )
    }
}

/// EIP-4361: "at least 8 alphanumeric characters"; anything past 64 is not a nonce, it is a
/// payload (and every nonce is stored until its message expires).
const MIN_NONCE: usize = 8;
const MAX_NONCE: usize = 64;

pub struct SiweVerifier {
    policy: SiwePolicy,
    nonces: Arc<dyn NonceStore>,
    contracts: Option<Arc<dyn ContractSignatures>>,
}

impl SiweVerifier {
    pub fn new(
        policy: SiwePolicy,
        nonces: Arc<dyn NonceStore>,
        contracts: Option<Arc<dyn ContractSignatures>>,
    ) -> Self {
        SiweVerifier {
            policy,
            nonces,
            contracts,
        }
    }

    pub fn policy(&self) -> &SiwePolicy {
        &self.policy
    }

    /// Verify `message` + `signature` at `now`; on success the nonce is spent.
    pub async fn verify(
        &self,
        message: &str,
        signature: &str,
        now: SystemTime,
    ) -> Result<SiweIdentity, SiweError> {
        if message.is_empty() || signature.is_empty() {
            return Err(SiweError::Missing);
        }
        let msg: siwe::Message = message
            .parse()
            .map_err(|e: siwe::ParseError| SiweError::Malformed(e.to_string()))?;
        let sig = signature
            .strip_prefix("0x")
            .and_then(|h| hex::decode(h).ok())
            .filter(|b| !b.is_empty())
            .ok_or(SiweError::BadSignatureEncoding)?;
        let expires_in = self.check_fields(&msg, now)?;

        let hash = B256::from(
            msg.eip191_hash()
                .map_err(|e| SiweError::Malformed(e.to_string()))?,
        );
        let address = Address::from(msg.address);
        let by_key = sig.len() == 65
            && Signature::try_from(sig.as_slice())
                .ok()
                .and_then(|s| s.recover_address_from_prehash(&hash).ok())
                == Some(address);
        if !by_key {
            let Some(contracts) = &self.contracts else {
                return Err(SiweError::WrongSigner);
            };
            match contracts.is_valid_signature(address, hash, &sig).await {
                Ok(true) => {}
                Ok(false) => return Err(SiweError::WrongSigner),
                Err(e) => {
                    log::warn!("EIP-1271 check failed: {e}");
                    return Err(SiweError::ChainUnavailable);
                }
            }
        }

        let wallet = format!("{address:#x}");
        // Remember the nonce for as long as this message could otherwise be accepted.
        let key = format!("{wallet}:{}", msg.nonce);
        match self.nonces.claim(&key, expires_in).await {
            Ok(true) => Ok(SiweIdentity { wallet }),
            Ok(false) => Err(SiweError::NonceReused),
            Err(e) => {
                log::warn!("SIWE nonce store: {e}");
                Err(SiweError::NonceStoreUnavailable)
            }
        }
    }

    /// Domain, uri, chain, nonce shape and time checks; returns how long the message stays
    /// acceptable.
    fn check_fields(&self, msg: &siwe::Message, now: SystemTime) -> Result<Duration, SiweError> {
        let p = &self.policy;
        let n = &msg.nonce;
        if !(MIN_NONCE..=MAX_NONCE).contains(&n.len())
            || !n.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(SiweError::BadNonce);
        }
        let domain = msg.domain.to_string();
        if !domain.eq_ignore_ascii_case(&p.domain) {
            return Err(SiweError::Domain {
                got: domain,
                want: p.domain.clone(),
            });
        }
        let uri = msg.uri.as_str();
        let on_origin = uri.len() >= p.origin.len()
            && uri[..p.origin.len()].eq_ignore_ascii_case(&p.origin)
            && matches!(uri.as_bytes().get(p.origin.len()), None | Some(b'/'));
        if !on_origin {
            return Err(SiweError::Uri {
                got: uri.to_string(),
                want: p.origin.clone(),
            });
        }
        if !p.chain_ids.contains(&msg.chain_id) {
            return Err(SiweError::ChainId {
                got: msg.chain_id,
                want: p.chain_ids.clone(),
            });
        }
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as i128;
        let ms = |t: &siwe::TimeStamp| t.as_ref().unix_timestamp_nanos() / 1_000_000;
        let skew = p.clock_skew.as_millis() as i128;
        let issued = ms(&msg.issued_at);
        if issued > now_ms + skew {
            return Err(SiweError::IssuedInFuture);
        }
        let mut valid_until = issued + p.max_age.as_millis() as i128 + skew;
        if now_ms > valid_until {
            return Err(SiweError::IssuedTooLongAgo {
                max_age_secs: p.max_age.as_secs(),
            });
        }
        if let Some(exp) = &msg.expiration_time {
            if now_ms >= ms(exp) + skew {
                return Err(SiweError::Expired);
            }
            valid_until = valid_until.min(ms(exp) + skew);
        }
        if let Some(nbf) = &msg.not_before {
            if now_ms + skew < ms(nbf) {
                return Err(SiweError::NotYetValid);
            }
        }
        let left = (valid_until - now_ms).max(1_000) as u64;
        Ok(Duration::from_millis(left))
    }
}

/// A fresh nonce for clients that want the server to pick one (`POST /v1/auth/nonce`).
pub fn fresh_nonce() -> String {
    siwe::generate_nonce()
}

#[cfg(test)]
mod tests;
