//! Money out to buyers (`withdrawals`). The row and the debit of the wallet (wallet → external,
//! kind `withdrawal`) commit in ONE transaction that locks the wallet row first and checks the
//! available balance (balance − leased); only then is `operatorWithdraw(wallet, amount,
//! withdrawalId)` sent. A chain failure puts the money back (`withdrawal_reversal`) and marks
//! the row `failed`; an unknown outcome leaves it `pending` for the reconciler.
//!
//! States: `pending` → `paid` (executed on chain) | `failed` (not executed, amount credited back).

use super::{
    normalise_wallet, transfer_in, AccountRef, ChainAsset, Ledger, LedgerError, Move, LOCK_WALLET,
};
use crate::MicroUsdc;
use serde::Serialize;
use std::time::Duration;

/// A row of `withdrawals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Withdrawal {
    pub withdrawal_id: String,
    pub wallet: String,
    pub amount_usdc: MicroUsdc,
    pub status: String,
    pub tx_hash: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
    /// The chain and token it is paid in (`None` in rows from before several chains).
    pub chain_id: Option<i64>,
    pub asset: Option<String>,
}

/// The wallet cannot cover the withdrawal (nothing was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insufficient {
    pub balance: MicroUsdc,
    /// Leased by gateway nodes for requests (not withdrawable until returned).
    pub locked: MicroUsdc,
}

impl Insufficient {
    pub fn available(&self) -> MicroUsdc {
        (self.balance - self.locked).max(0)
    }
}

/// A new pending withdrawal and the wallet's balance after the debit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub withdrawal: Withdrawal,
    pub balance: MicroUsdc,
}

const COLS: &str = "withdrawal_id, wallet, amount, status, tx_hash, error, \
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), chain_id, asset";

fn row(r: &tokio_postgres::Row) -> Withdrawal {
    Withdrawal {
        withdrawal_id: r.get(0),
        wallet: r.get(1),
        amount_usdc: r.get(2),
        status: r.get(3),
        tx_hash: r.get(4),
        error: r.get(5),
        created_at: r.get(6),
        chain_id: r.get(7),
        asset: r.get(8),
    }
}

pub fn withdrawal_key(id: &str) -> String {
    format!("withdrawal:{id}")
}

pub fn withdrawal_reversal_key(id: &str) -> String {
    format!("withdrawal_reversal:{id}")
}

impl Ledger {
    /// Debit `amount` from `wallet` for withdrawal `id` if its available balance (balance −
    /// locked) covers it: row + transfer in one transaction, the wallet row locked first.
    pub async fn open_withdrawal(
        &self,
        wallet: &str,
        amount: MicroUsdc,
        id: &str,
        rail: &ChainAsset,
    ) -> Result<Result<Opened, Insufficient>, LedgerError> {
        if amount <= 0 {
            return Err(LedgerError::Invalid("a withdrawal must be positive".into()));
        }
        let wallet = normalise_wallet(wallet)?;
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        // The one lock order every ledger writer follows: the wallet row first.
        let found = tx.execute(LOCK_WALLET, &[&wallet]).await?;
        if found == 0 {
            return Ok(Err(Insufficient {
                balance: 0,
                locked: 0,
            }));
        }
        let r = tx
            .query_one(
                "SELECT a.id, a.balance, w.locked FROM wallets w JOIN accounts a ON a.id = w.account_id
                 WHERE w.address = $1",
                &[&wallet],
            )
            .await?;
        let (account, balance, locked): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
        if balance - locked < amount {
            return Ok(Err(Insufficient { balance, locked }));
        }
        let sql = format!(
            "INSERT INTO withdrawals (withdrawal_id, wallet, amount, status, chain_id, asset)
             VALUES ($1, $2, $3, 'pending', $4, $5) RETURNING {COLS}"
        );
        let withdrawal = row(&tx
            .query_one(&sql, &[&id, &wallet, &amount, &rail.chain_id, &rail.asset])
            .await?);
        transfer_in(
            &tx,
            Move {
                from: AccountRef::Id(account),
                to: AccountRef::External,
                amount,
                kind: "withdrawal",
                idempotency_key: &withdrawal_key(id),
                memo: "withdrawal to the wallet on chain",
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(Opened {
            withdrawal,
            balance: balance - amount,
        }))
    }

    pub async fn withdrawal(&self, id: &str) -> Result<Option<Withdrawal>, LedgerError> {
        let c = self.conn().await?;
        let sql = format!("SELECT {COLS} FROM withdrawals WHERE withdrawal_id = $1");
        Ok(c.query_opt(&sql, &[&id]).await?.as_ref().map(row))
    }

    /// A wallet's withdrawals, newest first (`withdrawals_by_wallet`).
    pub async fn wallet_withdrawals(
        &self,
        wallet: &str,
        limit: i64,
    ) -> Result<Vec<Withdrawal>, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        let c = self.conn().await?;
        let sql = format!(
            "SELECT {COLS} FROM withdrawals WHERE wallet = $1 ORDER BY created_at DESC LIMIT $2"
        );
        let limit = limit.clamp(1, 500);
        Ok(c.query(&sql, &[&wallet, &limit])
            .await?
            .iter()
            .map(row)
            .collect())
    }

    /// Pending withdrawals last touched more than `older_than` ago (a live request is done with
    /// them), oldest first.
    pub async fn stale_withdrawals(
        &self,
        older_than: Duration,
    ) -> Result<Vec<Withdrawal>, LedgerError> {
        let c = self.conn().await?;
        let ms = older_than.as_millis().min(i64::MAX as u128) as i64;
        let sql = format!(
            "SELECT {COLS} FROM withdrawals
             WHERE status = 'pending' AND updated_at < now() - make_interval(secs => $1::BIGINT / 1000.0)
             ORDER BY created_at"
        );
        Ok(c.query(&sql, &[&ms]).await?.iter().map(row).collect())
    }

    /// Record the transaction sent for a pending withdrawal.
    pub async fn note_withdrawal_sent(&self, id: &str, tx_hash: &str) -> Result<(), LedgerError> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE withdrawals SET tx_hash = $2, updated_at = now() WHERE withdrawal_id = $1 AND status = 'pending'",
            &[&id, &tx_hash],
        )
        .await?;
        Ok(())
    }

    /// A pending withdrawal executed on chain. False when it was not pending.
    pub async fn mark_withdrawal_paid(
        &self,
        id: &str,
        tx_hash: Option<&str>,
    ) -> Result<bool, LedgerError> {
        let c = self.conn().await?;
        Ok(c.execute(
            "UPDATE withdrawals SET status = 'paid', tx_hash = COALESCE($2, tx_hash), error = NULL, updated_at = now()
             WHERE withdrawal_id = $1 AND status = 'pending'",
            &[&id, &tx_hash],
        )
        .await?
            == 1)
    }

    /// A pending withdrawal did not (and cannot) execute: `failed`, and the amount goes back to
    /// the wallet (`withdrawal_reversal:<id>`). Returns the wallet's balance after, or `None`
    /// when the row was not pending (nothing moved).
    pub async fn fail_withdrawal(
        &self,
        id: &str,
        error: &str,
    ) -> Result<Option<MicroUsdc>, LedgerError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let Some(wallet) = tx
            .query_opt(
                "SELECT wallet FROM withdrawals WHERE withdrawal_id = $1",
                &[&id],
            )
            .await?
            .map(|r| r.get::<_, String>(0))
        else {
            return Ok(None);
        };
        tx.execute(LOCK_WALLET, &[&wallet]).await?;
        let Some(r) = tx
            .query_opt(
                "UPDATE withdrawals SET status = 'failed', error = $2, updated_at = now()
                 WHERE withdrawal_id = $1 AND status = 'pending' RETURNING amount",
                &[&id, &error],
            )
            .await?
        else {
            return Ok(None);
        };
        let amount: i64 = r.get(0);
        let account: i64 = tx
            .query_one(
                "SELECT account_id FROM wallets WHERE address = $1",
                &[&wallet],
            )
            .await?
            .get(0);
        transfer_in(
            &tx,
            Move {
                from: AccountRef::External,
                to: AccountRef::Id(account),
                amount,
                kind: "withdrawal_reversal",
                idempotency_key: &withdrawal_reversal_key(id),
                memo: error,
            },
        )
        .await?;
        let balance: i64 = tx
            .query_one("SELECT balance FROM accounts WHERE id = $1", &[&account])
            .await?
            .get(0);
        tx.commit().await?;
        Ok(Some(balance))
    }
}

impl Ledger {
    /// Problems with payout and withdrawal rows: each has its transfer for the same amount, a
    /// `failed` one its reversal (and only a failed one), and no such transfer lacks a row.
    pub(super) async fn check_chain_rows(
        &self,
        c: &tokio_postgres::Client,
    ) -> Result<Vec<String>, LedgerError> {
        let mut problems = Vec::new();
        // (table, id column, transfer kind, reversal kind)
        for (table, id, kind, reversal) in [
            ("payouts", "batch_id", "payout", "payout_reversal"),
            (
                "withdrawals",
                "withdrawal_id",
                "withdrawal",
                "withdrawal_reversal",
            ),
        ] {
            // The external account's entry of a transfer is its amount (positive on a payout
            // or withdrawal, negative on a reversal).
            let sql = format!(
                "WITH ext AS (SELECT id FROM accounts WHERE kind = 'external' AND ref = 'usdc'),
                 t AS (SELECT t.idempotency_key AS key, t.kind, e.amount
                       FROM transfers t JOIN entries e ON e.transfer_id = t.id AND e.account_id = (SELECT id FROM ext)
                       WHERE t.kind IN ('{kind}', '{reversal}'))
                 SELECT r.{id}, r.status, r.amount, o.amount, b.amount
                 FROM {table} r
                 LEFT JOIN t o ON o.key = '{kind}:' || r.{id} AND o.kind = '{kind}'
                 LEFT JOIN t b ON b.key = '{reversal}:' || r.{id} AND b.kind = '{reversal}'
                 WHERE o.amount IS DISTINCT FROM r.amount
                    OR (r.status = 'failed') <> (b.amount IS NOT NULL)
                    OR (b.amount IS NOT NULL AND b.amount <> -r.amount)
                 LIMIT 100"
            );
            for r in c.query(&sql, &[]).await? {
                let (rid, status, amount, out, back): (
                    String,
                    String,
                    i64,
                    Option<i64>,
                    Option<i64>,
                ) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
                problems.push(format!(
                    "{kind} {rid} ({status}, {amount}): transfer {}, reversal {}",
                    out.map_or("missing".into(), |a| format!("moves {a}")),
                    back.map_or("none".into(), |a| format!("moves {}", -a)),
                ));
            }
            let sql = format!(
                "SELECT t.idempotency_key FROM transfers t
                 WHERE t.kind IN ('{kind}', '{reversal}')
                   AND NOT EXISTS (SELECT 1 FROM {table} r WHERE r.{id} = substr(t.idempotency_key, length(t.kind) + 2))
                 LIMIT 100"
            );
            for r in c.query(&sql, &[]).await? {
                let key: String = r.get(0);
                problems.push(format!("transfer {key} has no {table} row"));
            }
        }
        Ok(problems)
    }
}
