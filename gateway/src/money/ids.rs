//! The ids that name what moved, built in one place: each is the ledger row id, the ledger
//! transfer's idempotency key, and (for payouts and withdrawals) the id the contract executes
//! at most once. A retry recomputes the same id, so it can never move money twice.

use super::onchain::OnChain;
use alloy_primitives::{keccak256, Address, TxHash, B256};

/// An x402 top-up: the chain's own identity of the authorization. EIP-3009:
/// `x402:<chain>:<token>:<payer>:<nonce>` (the token moves a nonce at most once); Permit2:
/// `permit2:<chain>:<token>:<payer>:<nonce as 32 bytes>` (Permit2 spends a payer's nonce at
/// most once, whatever the token).
pub fn topup_id(chain: &OnChain, payer: Address, nonce: B256) -> String {
    let prefix = match chain.method {
        super::onchain::Method::Eip3009(_) => "x402",
        super::onchain::Method::Permit2 => "permit2",
    };
    format!(
        "{prefix}:{}:{:#x}:{payer:#x}:{nonce:#x}",
        chain.chain_id, chain.asset
    )
}

/// `(payer, nonce)` of a [`topup_id`] (either method).
pub fn parse_topup_id(id: &str) -> Option<(Address, B256)> {
    let rest = id
        .strip_prefix("x402:")
        .or_else(|| id.strip_prefix("permit2:"))?;
    let mut parts = rest.split(':');
    let (_chain, _token) = (parts.next()?, parts.next()?);
    let payer = parts.next()?.parse().ok()?;
    let nonce = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((payer, nonce))
}

/// A TreasuryVault `Deposited` log: `deposit:<chain>:<tx>:<position in the tx>`. The position
/// among the transaction's own logs, not the block's log index: a reorg that re-includes the
/// transaction elsewhere moves its block-level index, and would make a second key for the
/// same money.
pub fn deposit_id(chain: &OnChain, tx_hash: TxHash, position: u64) -> String {
    format!("deposit:{}:{tx_hash:#x}:{position}", chain.chain_id)
}

/// `(tx hash, position in the tx)` of a [`deposit_id`].
pub fn parse_deposit_id(id: &str) -> Option<(TxHash, u64)> {
    let mut parts = id.strip_prefix("deposit:")?.split(':');
    let _chain = parts.next()?;
    let tx = parts.next()?.parse().ok()?;
    let index = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((tx, index))
}

/// The PayoutVault `batchId` of `provider`'s payout number `seq`:
/// keccak256("tollgate-payout" ‖ chain id (8 bytes BE) ‖ payout vault ‖ seq (8 bytes BE) ‖
/// provider id). Deterministic, so a re-run recomputes it; scoped to the vault.
pub fn payout_batch_id(chain: &OnChain, provider: &str, seq: i64) -> B256 {
    let mut b = Vec::with_capacity(64 + provider.len());
    b.extend_from_slice(b"tollgate-payout");
    b.extend_from_slice(&chain.chain_id.to_be_bytes());
    b.extend_from_slice(chain.payout_vault.as_slice());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(provider.as_bytes());
    keccak256(b)
}

/// A buyer withdrawal's `withdrawalId`: keccak256("tollgate-withdrawal" ‖ wallet ‖ `nonce`), with
/// 32 fresh random bytes as `nonce` (a withdrawal is a new decision each time, never a retry).
pub fn withdrawal_id(wallet: Address, nonce: &[u8; 32]) -> B256 {
    let mut b = Vec::with_capacity(19 + 20 + 32);
    b.extend_from_slice(b"tollgate-withdrawal");
    b.extend_from_slice(wallet.as_slice());
    b.extend_from_slice(nonce);
    keccak256(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x402_ids_round_trip() {
        let payer = Address::repeat_byte(0xab);
        let nonce = B256::repeat_byte(0x01);
        let id = format!(
            "x402:31337:{:#x}:{payer:#x}:{nonce:#x}",
            Address::repeat_byte(9)
        );
        assert_eq!(parse_topup_id(&id), Some((payer, nonce)));
        let p2 = id.replacen("x402:", "permit2:", 1);
        assert_eq!(parse_topup_id(&p2), Some((payer, nonce)));
        assert_eq!(parse_topup_id("deposit:1:0xab:0"), None);
        assert_eq!(parse_topup_id(&format!("{id}:extra")), None);
        let tx = TxHash::repeat_byte(0x22);
        assert_eq!(
            parse_deposit_id(&format!("deposit:1:{tx:#x}:3")),
            Some((tx, 3))
        );
        assert_eq!(parse_deposit_id(&id), None);
    }
}
