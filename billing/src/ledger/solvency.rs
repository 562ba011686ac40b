//! What the ledger owes, for the solvency check against the chain (`tollgate ledger check
//! --chain`, the `tollgate_reserve_surplus_microusdc` gauge): every buyer balance, every
//! provider's unpaid earnings, the platform's fees, and the withdrawals and payouts debited
//! here but not yet executed on chain (their USDC is still in the vaults).
//!
//! Also the credits to verify: each `chain_credits` row the ledger credited and each settled
//! paid call, which the caller checks against the transaction it names, and the consistency
//! of those rows with their ledger transfers (part of every `ledger check`).

use super::{ChainCredit, Ledger, LedgerError};
use crate::MicroUsdc;

/// What the ledger owes, by kind (micro-USDC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Liabilities {
    /// Σ buyer wallet balances (locked included: leased money is still the buyer's).
    pub buyers: MicroUsdc,
    /// Σ provider earnings not yet written to a payout row.
    pub providers: MicroUsdc,
    pub platform_fees: MicroUsdc,
    /// Withdrawals debited here, not yet executed on chain.
    pub pending_withdrawals: MicroUsdc,
    /// Payouts debited here, not yet executed on chain.
    pub pending_payouts: MicroUsdc,
}

impl Liabilities {
    pub fn total(&self) -> MicroUsdc {
        self.buyers
            + self.providers
            + self.platform_fees
            + self.pending_withdrawals
            + self.pending_payouts
    }
}

/// A settled call paid per call: what the ledger booked as moved by `tx_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledPaidCall {
    /// `upto:<chain>:<payer>:<nonce>` (the payer and its Permit2 nonce).
    pub id: String,
    pub chain_id: i64,
    pub asset: String,
    pub amount: MicroUsdc,
    pub tx_hash: Option<String>,
}

/// Withdrawals and payouts debited here but not yet executed, for one chain and asset (both
/// `None`: rows from before several chains, i.e. the first chain's USDC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOut {
    pub chain_id: Option<i64>,
    pub asset: Option<String>,
    pub withdrawals: MicroUsdc,
    pub payouts: MicroUsdc,
}

impl Ledger {
    /// Pending withdrawals and payouts by the chain and asset they will be paid in: each
    /// vault pair must hold at least what it alone will pay out.
    pub async fn pending_out(&self) -> Result<Vec<PendingOut>, LedgerError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT chain_id, asset,
                        COALESCE(SUM(amount) FILTER (WHERE kind = 'w'), 0)::BIGINT,
                        COALESCE(SUM(amount) FILTER (WHERE kind = 'p'), 0)::BIGINT
                 FROM (SELECT chain_id, asset, amount, 'w' AS kind FROM withdrawals WHERE status = 'pending'
                       UNION ALL
                       SELECT chain_id, asset, amount, 'p' FROM payouts WHERE status = 'pending') o
                 GROUP BY chain_id, asset",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| PendingOut {
                chain_id: r.get(0),
                asset: r.get(1),
                withdrawals: r.get(2),
                payouts: r.get(3),
            })
            .collect())
    }

    /// The ledger's obligations now, in one snapshot.
    pub async fn liabilities(&self) -> Result<Liabilities, LedgerError> {
        let c = self.conn().await?;
        let r = c
            .query_one(
                "SELECT
                   COALESCE((SELECT SUM(balance) FROM accounts WHERE kind = 'wallet'), 0)::BIGINT,
                   COALESCE((SELECT SUM(balance) FROM accounts WHERE kind = 'provider'), 0)::BIGINT,
                   COALESCE((SELECT SUM(balance) FROM accounts WHERE kind = 'platform'), 0)::BIGINT,
                   COALESCE((SELECT SUM(amount) FROM withdrawals WHERE status = 'pending'), 0)::BIGINT,
                   COALESCE((SELECT SUM(amount) FROM payouts WHERE status = 'pending'), 0)::BIGINT",
                &[],
            )
            .await?;
        Ok(Liabilities {
            buyers: r.get(0),
            providers: r.get(1),
            platform_fees: r.get(2),
            pending_withdrawals: r.get(3),
            pending_payouts: r.get(4),
        })
    }

    /// Credited top-ups and deposits, oldest first, `limit` at a time after `after_id`
    /// (keyset paging: a large ledger is verified in pages).
    pub async fn credited_chain_credits(
        &self,
        after_id: &str,
        limit: i64,
    ) -> Result<Vec<ChainCredit>, LedgerError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {} FROM chain_credits WHERE status = 'credited' AND id > $1
                     ORDER BY id LIMIT $2",
                    super::chain_credits::COLS
                ),
                &[&after_id, &limit.clamp(1, 10_000)],
            )
            .await?;
        Ok(rows.iter().map(super::chain_credits::row).collect())
    }

    /// Settled paid calls, by id, `limit` at a time after `after_id` (as
    /// [`Ledger::credited_chain_credits`]).
    pub async fn settled_paid_calls(
        &self,
        after_id: &str,
        limit: i64,
    ) -> Result<Vec<SettledPaidCall>, LedgerError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT id, chain_id, asset, amount, tx_hash FROM paid_calls
                 WHERE status = 'settled' AND id > $1 ORDER BY id LIMIT $2",
                &[&after_id, &limit.clamp(1, 10_000)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| SettledPaidCall {
                id: r.get(0),
                chain_id: r.get(1),
                asset: r.get(2),
                amount: r.get::<_, Option<i64>>(3).unwrap_or(0),
                tx_hash: r.get(4),
            })
            .collect())
    }

    /// Credited rows that disagree with their ledger transfer, and top-up or deposit
    /// transfers without a credited row: a credit must be a row the chain can be asked about.
    pub(super) async fn check_chain_credits(
        &self,
        c: &tokio_postgres::Client,
    ) -> Result<Vec<String>, LedgerError> {
        let mut problems = Vec::new();
        let rows = c
            .query(
                "WITH ext AS (SELECT id FROM accounts WHERE kind = 'external' AND ref = 'usdc'),
                 t AS (SELECT t.idempotency_key AS key, -e.amount AS amount
                       FROM transfers t JOIN entries e ON e.transfer_id = t.id AND e.account_id = (SELECT id FROM ext)
                       WHERE t.kind IN ('topup', 'deposit'))
                 SELECT COALESCE(r.id, t.key), r.status, r.amount, t.amount
                 FROM chain_credits r FULL JOIN t ON t.key = r.id
                 WHERE (r.status = 'credited') IS DISTINCT FROM (t.amount IS NOT NULL)
                    OR r.amount IS DISTINCT FROM t.amount AND r.status = 'credited'
                    OR r.id IS NULL
                 LIMIT 100",
                &[],
            )
            .await?;
        for r in rows {
            let (id, status, amount, moved): (String, Option<String>, Option<i64>, Option<i64>) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            problems.push(match (status, amount, moved) {
                (None, _, Some(m)) => {
                    format!("credit transfer {id} ({m}) has no chain_credits row")
                }
                (Some(s), Some(a), None) => {
                    format!("chain credit {id} is {s} ({a}) without a transfer")
                }
                (Some(s), a, m) => format!(
                    "chain credit {id} ({s}) records {} but its transfer moved {}",
                    a.map_or("nothing".into(), |a| a.to_string()),
                    m.map_or("nothing".into(), |m| m.to_string())
                ),
                (None, _, None) => format!("chain credit {id}: inconsistent"),
            });
        }
        // Each paid-call transfer is one settled call's, for what the call records as moved.
        for r in c
            .query(
                "WITH ext AS (SELECT id FROM accounts WHERE kind = 'external' AND ref = 'usdc'),
                 t AS (SELECT t.id, t.idempotency_key AS key, -e.amount AS amount
                       FROM transfers t JOIN entries e ON e.transfer_id = t.id AND e.account_id = (SELECT id FROM ext)
                       WHERE t.kind = 'paid_call')
                 SELECT COALESCE(p.id, t.key), p.status, p.amount, t.amount
                 FROM (SELECT * FROM paid_calls WHERE status = 'settled') p FULL JOIN t ON t.key = p.id
                 WHERE p.id IS NULL OR t.id IS NULL OR p.amount IS DISTINCT FROM t.amount
                    OR p.transfer_id IS DISTINCT FROM t.id
                 LIMIT 100",
                &[],
            )
            .await?
        {
            let (id, status, amount, moved): (String, Option<String>, Option<i64>, Option<i64>) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            let shown = |v: Option<i64>| v.map_or("nothing".into(), |v| v.to_string());
            problems.push(match status {
                None => format!("paid-call transfer {id} ({}) has no settled paid call", shown(moved)),
                Some(_) => format!(
                    "paid call {id} is settled for {} but its transfer moved {}",
                    shown(amount),
                    shown(moved)
                ),
            });
        }
        // A charge the reservation did not bound (capped when it was recorded).
        for r in c
            .query(
                "SELECT request_id, reserved, overrun_usdc FROM request_log WHERE overrun_usdc > 0
                 ORDER BY request_id LIMIT 100",
                &[],
            )
            .await?
        {
            let (id, reserved, over): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
            problems.push(format!(
                "request {id} cost {over} micro-USDC above its reservation of {reserved} (unbilled)"
            ));
        }
        Ok(problems)
    }
}
