//! x402 `exact` through Permit2 (`extra.assetTransferMethod = "permit2"`), for any ERC-20: the
//! wire payload, its EIP-712 digest, and the fixed addresses the x402 clients sign for.
//!
//! The payer approves Permit2 once (an ordinary ERC-20 `approve`), then signs, per payment, a
//! Permit2 `PermitWitnessTransferFrom` whose `spender` is x402's exact proxy and whose witness
//! `Witness(address to, uint256 validAfter)` fixes the recipient. Whoever submits it, the proxy
//! moves exactly `permitted.amount` of `permitted.token` to `witness.to`, once: Permit2 burns the
//! (unordered, per-owner) nonce. Field names and the witness type follow the x402 clients
//! (`x402` 2.25 on PyPI, `@x402/evm` on npm): payload `{signature, permit2Authorization: {from,
//! permitted: {token, amount}, spender, nonce, deadline, witness: {to, validAfter}}}`, numbers as
//! decimal strings, domain `{name: "Permit2", chainId, verifyingContract: PERMIT2}` (no version).

use alloy::primitives::{address, Address, Bytes, B256, U256};
use alloy::signers::{local::PrivateKeySigner, SignerSync};
use alloy::sol;
use alloy::sol_types::{Eip712Domain, SolStruct};
use serde::{Deserialize, Serialize};

/// Permit2, at the same address on every EVM chain (CREATE2).
pub const PERMIT2_ADDRESS: Address = address!("0x000000000022D473030F116dDEE9F6B43aC78BA3");
/// x402's exact-scheme Permit2 proxy: the `spender` every x402 client signs for.
pub const X402_EXACT_PERMIT2_PROXY: Address =
    address!("0x402085c248EeA27D92E8b30b2C58ed07f9E20001");
/// x402's upto-scheme Permit2 proxy.
pub const X402_UPTO_PERMIT2_PROXY: Address = address!("0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002");
/// `extra.assetTransferMethod` of a Permit2 offer.
pub const PERMIT2_METHOD: &str = "permit2";

sol! {
    /// Permit2's token and amount.
    #[derive(Debug, PartialEq, Eq)]
    struct TokenPermissions {
        address token;
        uint256 amount;
    }
    /// The exact scheme's witness: the recipient is signed.
    #[derive(Debug, PartialEq, Eq)]
    struct Witness {
        address to;
        uint256 validAfter;
    }
    /// The EIP-712 message an x402 client signs for a Permit2 payment.
    #[derive(Debug, PartialEq, Eq)]
    struct PermitWitnessTransferFrom {
        TokenPermissions permitted;
        address spender;
        uint256 nonce;
        uint256 deadline;
        Witness witness;
    }
}

/// `permitted` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permitted {
    pub token: Address,
    #[serde(with = "super::numbers::uint_string")]
    pub amount: U256,
}

/// `witness` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExactWitness {
    pub to: Address,
    #[serde(with = "super::numbers::u64_string")]
    pub valid_after: u64,
}

/// `permit2Authorization`: what the payer signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permit2Authorization {
    pub from: Address,
    pub permitted: Permitted,
    pub spender: Address,
    /// Permit2's unordered nonce (any uint256; x402 clients pick a random one).
    #[serde(with = "super::numbers::uint_string")]
    pub nonce: U256,
    /// Unix seconds; Permit2 refuses the transfer after it.
    #[serde(with = "super::numbers::u64_string")]
    pub deadline: u64,
    pub witness: ExactWitness,
}

/// The Permit2 `payload` of an `exact` payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExactPermit2Payload {
    pub signature: Bytes,
    pub permit2_authorization: Permit2Authorization,
}

/// Permit2's EIP-712 domain on `chain_id` (name "Permit2", no version).
pub fn permit2_domain(chain_id: u64) -> Eip712Domain {
    Eip712Domain::new(
        Some("Permit2".into()),
        None,
        Some(U256::from(chain_id)),
        Some(PERMIT2_ADDRESS),
        None,
    )
}

impl Permit2Authorization {
    /// The EIP-712 struct.
    pub fn typed(&self) -> PermitWitnessTransferFrom {
        PermitWitnessTransferFrom {
            permitted: TokenPermissions {
                token: self.permitted.token,
                amount: self.permitted.amount,
            },
            spender: self.spender,
            nonce: self.nonce,
            deadline: U256::from(self.deadline),
            witness: Witness {
                to: self.witness.to,
                validAfter: U256::from(self.witness.valid_after),
            },
        }
    }

    /// The digest the payer signs on `chain_id`.
    pub fn signing_hash(&self, chain_id: u64) -> B256 {
        self.typed().eip712_signing_hash(&permit2_domain(chain_id))
    }

    /// Permit2's bitmap position of the nonce: `(word, bit)`.
    pub fn nonce_position(&self) -> (U256, u8) {
        (self.nonce >> 8, (self.nonce & U256::from(0xff)).to::<u8>())
    }
}

/// Signs a Permit2 authorization as an x402 client does (`eth_signTypedData_v4`), 65 bytes.
pub fn sign_permit2(
    signer: &PrivateKeySigner,
    authorization: &Permit2Authorization,
    chain_id: u64,
) -> Result<Bytes, alloy::signers::Error> {
    let sig = signer.sign_hash_sync(&authorization.signing_hash(chain_id))?;
    Ok(Bytes::from(sig.as_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_string_is_the_one_permit2_and_the_proxy_hash() {
        // What the proxy passes to Permit2 after "…uint256 deadline,", and Permit2 prefixes.
        let full = PermitWitnessTransferFrom::eip712_encode_type();
        assert_eq!(
            full,
            "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)"
        );
    }

    #[test]
    fn the_client_wire_form_parses() {
        // As `x402` 2.25 (PyPI) serialises it: decimal strings, checksummed addresses.
        let json = r#"{"permit2Authorization":{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66",
            "permitted":{"token":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","amount":"5000000"},
            "spender":"0x402085c248EeA27D92E8b30b2C58ed07f9E20001",
            "nonce":"115792089237316195423570985008687907853269984665640564039457584007913129639935",
            "deadline":"1790000300","witness":{"to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","validAfter":"0"}},
            "signature":"0x00"}"#;
        let p: ExactPermit2Payload = serde_json::from_str(json).unwrap();
        let a = &p.permit2_authorization;
        assert_eq!(a.spender, X402_EXACT_PERMIT2_PROXY);
        assert_eq!(a.nonce, U256::MAX);
        assert_eq!(a.nonce_position(), (U256::MAX >> 8, 0xff));
        assert_eq!(a.permitted.amount, U256::from(5_000_000u64));
        assert_eq!(a.deadline, 1_790_000_300);
    }
}
