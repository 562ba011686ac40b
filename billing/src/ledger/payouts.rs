//! Money out to providers (`payouts`). A payout row and the transfer that takes the amount
//! out of the provider's earnings account are written in ONE transaction, before anything is
//! sent on chain; the row's `batch_id` is the PayoutVault `batchId`, which pays at most once.
//! So a crash at any point leaves a `pending` row that the next payout run settles against
//! the chain (executed → `paid`; not executed → sent again), and a payout an operator gives up
//! is `failed` with a reversal transfer putting the earnings back.
//!
//! States: `pending` → `paid` (executed on chain) | `failed` (cancelled, earnings reversed).

use super::{transfer_in, AccountRef, ChainAsset, Ledger, LedgerError, Move};
use crate::MicroUsdc;
use serde::Serialize;
use std::time::Duration;
use tokio_postgres::NoTls;

/// A row of `payouts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payout {
    pub batch_id: String,
    pub provider: String,
    pub seq: i64,
    pub to_address: String,
    pub amount_usdc: MicroUsdc,
    pub status: String,
    pub tx_hash: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
    /// The chain and token it is paid in (`None` in rows from before several chains).
    pub chain_id: Option<i64>,
    pub asset: Option<String>,
}

/// A provider's earnings as `GET /provider/earnings` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderEarnings {
    pub provider: String,
    /// Earned, not yet in a payout (the earnings account's balance).
    pub pending_usdc: MicroUsdc,
    /// In `pending` payouts (taken out of the account, not yet confirmed on chain).
    pub in_flight_usdc: MicroUsdc,
    pub paid_usdc: MicroUsdc,
    pub last_payout_at: Option<String>,
}

/// Why [`Ledger::open_payout`] opened nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoPayout {
    /// Earnings below the threshold.
    BelowThreshold(MicroUsdc),
    /// The last payout is more recent than the minimum interval.
    TooSoon,
    /// A payout of this provider is still pending (reconcile it first).
    InFlight(String),
}

const COLS: &str = "batch_id, provider, seq, to_address, amount, status, tx_hash, error, \
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), chain_id, asset";

fn row(r: &tokio_postgres::Row) -> Payout {
    Payout {
        batch_id: r.get(0),
        provider: r.get(1),
        seq: r.get(2),
        to_address: r.get(3),
        amount_usdc: r.get(4),
        status: r.get(5),
        tx_hash: r.get(6),
        error: r.get(7),
        created_at: r.get(8),
        chain_id: r.get(9),
        asset: r.get(10),
    }
}

/// The idempotency key of a payout's transfer (provider → external).
pub fn payout_key(batch_id: &str) -> String {
    format!("payout:{batch_id}")
}

/// The idempotency key of a cancelled payout's reversal (external → provider).
pub fn payout_reversal_key(batch_id: &str) -> String {
    format!("payout_reversal:{batch_id}")
}

/// A fleet-wide lock on the chain jobs (payout runs, withdrawal reconciliation), held on a
/// connection of its own: dropping the guard (or the process dying) releases it.
pub struct JobLock {
    _client: tokio_postgres::Client,
}

/// `pg_advisory_lock` key of the chain jobs.
const CHAIN_JOBS_LOCK: i64 = 7_707_070_708;

impl Ledger {
    /// Take the chain-jobs lock if nobody holds it (`None`: another run is in progress).
    pub async fn try_chain_jobs_lock(&self) -> Result<Option<JobLock>, LedgerError> {
        let (client, conn) = self.config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                log::debug!("chain-jobs lock connection ended: {e}");
            }
        });
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&CHAIN_JOBS_LOCK])
            .await?
            .get(0);
        Ok(got.then_some(JobLock { _client: client }))
    }

    /// Open a payout of all of `provider`'s earnings to `to` when they reach `threshold`, the
    /// last payout is at least `min_interval` old and none is pending: the row (`pending`,
    /// `batch_id = batch_id(seq)`) and the transfer provider → external commit together.
    pub async fn open_payout(
        &self,
        provider: &str,
        to: &str,
        threshold: MicroUsdc,
        min_interval: Duration,
        batch_id: impl Fn(i64) -> String,
        rail: &ChainAsset,
    ) -> Result<Result<Payout, NoPayout>, LedgerError> {
        let account = self.ensure_provider(provider).await?;
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        // Lock the earnings account in a statement of its own, then read it: under READ
        // COMMITTED a later statement sees what a concurrent settlement batch committed.
        tx.execute(
            "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE",
            &[&account],
        )
        .await?;
        let balance: i64 = tx
            .query_one("SELECT balance FROM accounts WHERE id = $1", &[&account])
            .await?
            .get(0);
        if let Some(r) = tx
            .query_opt(
                "SELECT batch_id FROM payouts WHERE provider = $1 AND status = 'pending' LIMIT 1",
                &[&provider],
            )
            .await?
        {
            return Ok(Err(NoPayout::InFlight(r.get(0))));
        }
        if balance < threshold.max(1) {
            return Ok(Err(NoPayout::BelowThreshold(balance)));
        }
        let interval_ms = min_interval.as_millis().min(i64::MAX as u128) as i64;
        let too_soon: bool = tx
            .query_one(
                "SELECT COALESCE(MAX(created_at) > now() - make_interval(secs => $2::BIGINT / 1000.0), false)
                 FROM payouts WHERE provider = $1 AND status <> 'failed'",
                &[&provider, &interval_ms],
            )
            .await?
            .get(0);
        if too_soon {
            return Ok(Err(NoPayout::TooSoon));
        }
        let seq: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM payouts WHERE provider = $1",
                &[&provider],
            )
            .await?
            .get(0);
        let id = batch_id(seq);
        let sql = format!(
            "INSERT INTO payouts (batch_id, provider, seq, to_address, amount, status, chain_id, asset)
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) RETURNING {COLS}"
        );
        let payout = row(&tx
            .query_one(
                &sql,
                &[
                    &id,
                    &provider,
                    &seq,
                    &to,
                    &balance,
                    &rail.chain_id,
                    &rail.asset,
                ],
            )
            .await?);
        transfer_in(
            &tx,
            Move {
                from: AccountRef::Id(account),
                to: AccountRef::External,
                amount: balance,
                kind: "payout",
                idempotency_key: &payout_key(&id),
                memo: &format!("payout {seq} of {provider} to {to}"),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(payout))
    }

    /// Pending payouts, oldest first.
    pub async fn pending_payouts(&self) -> Result<Vec<Payout>, LedgerError> {
        let c = self.conn().await?;
        let sql = format!(
            "SELECT {COLS} FROM payouts WHERE status = 'pending' ORDER BY created_at, batch_id"
        );
        Ok(c.query(&sql, &[]).await?.iter().map(row).collect())
    }

    pub async fn payout(&self, batch_id: &str) -> Result<Option<Payout>, LedgerError> {
        let c = self.conn().await?;
        let sql = format!("SELECT {COLS} FROM payouts WHERE batch_id = $1");
        Ok(c.query_opt(&sql, &[&batch_id]).await?.as_ref().map(row))
    }

    /// A pending payout was executed on chain. False when it was not pending.
    pub async fn mark_payout_paid(
        &self,
        batch_id: &str,
        tx_hash: Option<&str>,
    ) -> Result<bool, LedgerError> {
        let c = self.conn().await?;
        Ok(c.execute(
            "UPDATE payouts SET status = 'paid', tx_hash = COALESCE($2, tx_hash), error = NULL, updated_at = now()
             WHERE batch_id = $1 AND status = 'pending'",
            &[&batch_id, &tx_hash],
        )
        .await?
            == 1)
    }

    /// Note an attempt on a pending payout: the transaction sent (if any) and what went wrong.
    pub async fn note_payout_attempt(
        &self,
        batch_id: &str,
        tx_hash: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), LedgerError> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE payouts SET tx_hash = COALESCE($2, tx_hash), error = $3, updated_at = now()
             WHERE batch_id = $1 AND status = 'pending'",
            &[&batch_id, &tx_hash, &error],
        )
        .await?;
        Ok(())
    }

    /// Give up a pending payout: `failed`, and its amount goes back to the provider's earnings
    /// (transfer `payout_reversal:<batch_id>`). The caller has made sure the batch did not and
    /// cannot execute on chain. Errors when the payout is not pending.
    pub async fn cancel_payout(&self, batch_id: &str, reason: &str) -> Result<Payout, LedgerError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let sql = format!(
            "UPDATE payouts SET status = 'failed', error = $2, updated_at = now()
             WHERE batch_id = $1 AND status = 'pending' RETURNING {COLS}"
        );
        let Some(r) = tx.query_opt(&sql, &[&batch_id, &reason]).await? else {
            return Err(LedgerError::Invalid(format!(
                "payout {batch_id} does not exist or is not pending"
            )));
        };
        let payout = row(&r);
        let account: i64 = tx
            .query_one(
                "SELECT account_id FROM providers WHERE id = $1",
                &[&payout.provider],
            )
            .await?
            .get(0);
        transfer_in(
            &tx,
            Move {
                from: AccountRef::External,
                to: AccountRef::Id(account),
                amount: payout.amount_usdc,
                kind: "payout_reversal",
                idempotency_key: &payout_reversal_key(batch_id),
                memo: reason,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(payout)
    }

    /// Earnings of `provider` (zeros when it has none yet).
    pub async fn provider_earnings(&self, provider: &str) -> Result<ProviderEarnings, LedgerError> {
        let c = self.conn().await?;
        let r = c
            .query_opt(
                "SELECT pending, in_flight, paid,
                        to_char(last_payout_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
                 FROM provider_earnings WHERE provider = $1",
                &[&provider],
            )
            .await?;
        Ok(match r {
            Some(r) => ProviderEarnings {
                provider: provider.to_string(),
                pending_usdc: r.get(0),
                in_flight_usdc: r.get(1),
                paid_usdc: r.get(2),
                last_payout_at: r.get(3),
            },
            None => ProviderEarnings {
                provider: provider.to_string(),
                pending_usdc: 0,
                in_flight_usdc: 0,
                paid_usdc: 0,
                last_payout_at: None,
            },
        })
    }

    /// The latest `limit` payouts of `provider`, newest first.
    pub async fn provider_payouts(
        &self,
        provider: &str,
        limit: i64,
    ) -> Result<Vec<Payout>, LedgerError> {
        let c = self.conn().await?;
        let sql =
            format!("SELECT {COLS} FROM payouts WHERE provider = $1 ORDER BY seq DESC LIMIT $2");
        Ok(c.query(&sql, &[&provider, &limit])
            .await?
            .iter()
            .map(row)
            .collect())
    }
}
