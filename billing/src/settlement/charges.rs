//! Where a settlement batch takes each wallet's charges from.
//!
//! A charge was reserved under this node's lease, so normally the lease covers it: the batch
//! shrinks the lease (and `wallets.locked`) and debits the balance by the same amount. A lease
//! can be gone by the time its charges are written — swept after the node could not renew it
//! (a partition longer than `2 × lease_ttl`), or after the node was killed and its spool is
//! replayed at the next start. Its money was then unlocked and may have been leased by other
//! nodes or withdrawn. Such a charge is not dropped (the provider served the request and is
//! paid in full):
//!
//! 1. the part the lease still holds comes out of the lease;
//! 2. the rest comes out of the wallet's free balance (`balance − locked`), never out of
//!    money other nodes have leased (they may be spending it right now);
//! 3. what neither covers is debited to the platform's `uncollected` account — the only
//!    loss a swept lease can cause, borne by the platform, visible in the books.
//!
//! So the wallet's balance never falls below what is locked on it, nor below zero, and
//! `tollgate ledger check` holds.

use crate::ledger::LedgerError;
use crate::MicroUsdc;
use std::collections::BTreeMap;

/// The platform account that absorbs charges no lease or free balance covered.
pub const UNCOLLECTED: &str = "uncollected";

/// How one wallet's fresh charges in a batch are paid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Taken {
    /// Taken out of this node's lease (lease and `locked` shrink by it).
    pub freed: MicroUsdc,
    /// Debited to the wallet's balance (`freed` plus what its free balance covered).
    pub debit: MicroUsdc,
    /// Charged to the platform's `uncollected` account.
    pub uncollected: MicroUsdc,
}

/// Split each wallet's charge (see the module docs). The wallet rows must be locked already.
pub async fn take<'a>(
    tx: &tokio_postgres::Transaction<'_>,
    node: &str,
    charges: &BTreeMap<&'a str, MicroUsdc>,
) -> Result<BTreeMap<&'a str, Taken>, LedgerError> {
    if charges.is_empty() {
        return Ok(BTreeMap::new());
    }
    let ws: Vec<&str> = charges.keys().copied().collect();
    let state: BTreeMap<String, (i64, i64, i64)> = tx
        .query(
            "SELECT w.address, a.balance, w.locked, COALESCE(l.amount, 0)
             FROM wallets w JOIN accounts a ON a.id = w.account_id
             LEFT JOIN leases l ON l.wallet = w.address AND l.node_id = $1
             WHERE w.address = ANY($2)",
            &[&node, &ws],
        )
        .await?
        .into_iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    let mut out = BTreeMap::new();
    for (w, &charge) in charges {
        let (balance, locked, held) = state.get(*w).copied().unwrap_or((0, 0, 0));
        let t = split(charge, balance, locked, held);
        if t.uncollected > 0 {
            log::warn!(
                "wallet {w}: {} of a {charge} micro-USDC charge exceeds its lease and free balance \
                 (lease released before the charge was written); charged to platform:{UNCOLLECTED}",
                t.uncollected
            );
        }
        out.insert(*w, t);
    }
    Ok(out)
}

/// The arithmetic of [`take`]: after the batch, `balance − debit ≥ locked − freed`.
pub fn split(charge: MicroUsdc, balance: MicroUsdc, locked: MicroUsdc, held: MicroUsdc) -> Taken {
    let freed = charge.min(held).max(0);
    let payable = (balance - locked + freed).max(0);
    let debit = charge.min(payable);
    Taken {
        freed,
        debit,
        uncollected: charge - debit,
    }
}

/// Shrink this node's leases and the wallets' `locked` by what [`take`] freed.
pub async fn free_leases(
    tx: &tokio_postgres::Transaction<'_>,
    node: &str,
    taken: &BTreeMap<&str, Taken>,
) -> Result<(), LedgerError> {
    let (lw, freed): (Vec<&str>, Vec<i64>) = taken
        .iter()
        .filter(|(_, t)| t.freed > 0)
        .map(|(w, t)| (*w, t.freed))
        .unzip();
    if lw.is_empty() {
        return Ok(());
    }
    tx.execute(
        "UPDATE leases l SET amount = l.amount - d.freed FROM UNNEST($2::TEXT[], $3::BIGINT[]) AS d(wallet, freed)
         WHERE l.node_id = $1 AND l.wallet = d.wallet",
        &[&node, &lw, &freed],
    )
    .await?;
    tx.execute(
        "UPDATE wallets w SET locked = w.locked - d.freed FROM UNNEST($1::TEXT[], $2::BIGINT[]) AS d(wallet, freed)
         WHERE w.address = d.wallet",
        &[&lw, &freed],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lease_pays_in_full() {
        assert_eq!(
            split(63, 1_000, 500, 500),
            Taken {
                freed: 63,
                debit: 63,
                uncollected: 0
            }
        );
    }

    #[test]
    fn a_swept_lease_is_paid_from_the_free_balance() {
        // Lease gone, nothing else locked: the wallet pays.
        assert_eq!(
            split(63, 1_000, 0, 0),
            Taken {
                freed: 0,
                debit: 63,
                uncollected: 0
            }
        );
    }

    #[test]
    fn money_other_nodes_leased_is_not_touched() {
        // Lease gone; 980 of 1,000 leased by another node: 20 free.
        let t = split(63, 1_000, 980, 0);
        assert_eq!(
            t,
            Taken {
                freed: 0,
                debit: 20,
                uncollected: 43
            }
        );
        assert!(1_000 - t.debit >= 980);
        // Withdrawn to zero meanwhile: all uncollected, balance stays 0.
        assert_eq!(
            split(63, 0, 0, 0),
            Taken {
                freed: 0,
                debit: 0,
                uncollected: 63
            }
        );
    }

    #[test]
    fn a_partly_held_lease() {
        // 30 left in the lease (locked 30), balance 40: 30 from the lease, 10 free, 23 short.
        let t = split(63, 40, 30, 30);
        assert_eq!(
            t,
            Taken {
                freed: 30,
                debit: 40,
                uncollected: 23
            }
        );
        assert!(40 - t.debit >= 30 - t.freed);
    }
}
