//! Money that entered from the chain (`chain_credits`): x402 top-ups and TreasuryVault deposits.
//!
//! An x402 top-up is written `pending` before its transfer is sent, gets its tx hash once sent,
//! and is `credited` (row + ledger transfer in one transaction) once confirmed — so a crash
//! anywhere leaves a row a reconciler can finish from the chain. A deposit is already on chain
//! when it is reported, so it is inserted and credited in one step. Either way the row id (and
//! the transfer's idempotency key) is the chain's own identity of the payment, so the same
//! payment is never credited twice.

use super::{normalise_wallet, transfer_in, AccountRef, Ledger, LedgerError, Move};
use crate::MicroUsdc;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditKind {
    X402,
    Deposit,
}

impl CreditKind {
    fn as_str(self) -> &'static str {
        match self {
            CreditKind::X402 => "x402",
            CreditKind::Deposit => "deposit",
        }
    }
}

/// The chain and token a money movement crossed (token address lower-case `0x…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ChainAsset {
    pub chain_id: i64,
    pub asset: String,
}

impl ChainAsset {
    pub fn new(chain_id: u64, asset: impl Into<String>) -> ChainAsset {
        ChainAsset {
            chain_id: chain_id as i64,
            asset: asset.into().to_ascii_lowercase(),
        }
    }

    /// Whether a row's `(chain_id, asset)` names this one; rows from before chains were
    /// recorded (both NULL) belong to `legacy` (the first configured chain's USDC).
    pub fn owns(&self, chain_id: Option<i64>, asset: Option<&str>, legacy: bool) -> bool {
        match (chain_id, asset) {
            (Some(c), Some(a)) => c == self.chain_id && a == self.asset,
            _ => legacy,
        }
    }
}

/// A row of `chain_credits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainCredit {
    pub id: String,
    pub kind: String,
    pub wallet: String,
    pub amount_usdc: MicroUsdc,
    pub status: String,
    pub tx_hash: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
    /// The chain and token it moved (`None` in rows from before several chains).
    pub chain_id: Option<i64>,
    pub asset: Option<String>,
}

/// What `begin_topup` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// A new pending row: go ahead and send.
    New,
    /// The same payment was seen before, in this state.
    Seen(ChainCredit),
}

/// The result of crediting a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credited {
    /// False when the row had been credited before (nothing moved this time).
    pub applied: bool,
    pub balance: MicroUsdc,
}

pub(super) const COLS: &str = "id, kind, wallet, amount, status, tx_hash, error, \
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), chain_id, asset";

pub(super) fn row(r: &tokio_postgres::Row) -> ChainCredit {
    ChainCredit {
        id: r.get(0),
        kind: r.get(1),
        wallet: r.get(2),
        amount_usdc: r.get(3),
        status: r.get(4),
        tx_hash: r.get(5),
        error: r.get(6),
        created_at: r.get(7),
        chain_id: r.get(8),
        asset: r.get(9),
    }
}

impl Ledger {
    /// Record an x402 payment about to be settled. Returns [`Begun::Seen`] for a payment that
    /// already has a row (a replayed payment header). A row that failed before (nothing moved:
    /// e.g. the payer's USDC was short, or the chain was unreachable) is opened again with the
    /// new attempt's amount and no transaction: what an earlier attempt asked for is never
    /// what this one is credited — and a credit is always what moved on chain anyway
    /// ([`Self::credit_moved`]).
    pub async fn begin_topup(
        &self,
        id: &str,
        wallet: &str,
        amount: MicroUsdc,
        rail: &ChainAsset,
    ) -> Result<Begun, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        self.ensure_wallet(&wallet).await?;
        let c = self.conn().await?;
        let inserted = c
            .execute(
                "INSERT INTO chain_credits (id, kind, wallet, amount, status, chain_id, asset)
                 VALUES ($1, 'x402', $2, $3, 'pending', $4, $5)
                 ON CONFLICT (id) DO UPDATE SET status = 'pending', amount = EXCLUDED.amount,
                     tx_hash = NULL, error = NULL, updated_at = now()
                 WHERE chain_credits.status = 'failed' AND chain_credits.wallet = EXCLUDED.wallet",
                &[&id, &wallet, &amount, &rail.chain_id, &rail.asset],
            )
            .await?;
        if inserted == 1 {
            return Ok(Begun::New);
        }
        let r = c
            .query_one(
                &format!("SELECT {COLS} FROM chain_credits WHERE id = $1"),
                &[&id],
            )
            .await?;
        Ok(Begun::Seen(row(&r)))
    }

    /// The transaction that settles a pending row was sent.
    pub async fn set_credit_tx(&self, id: &str, tx_hash: &str) -> Result<(), LedgerError> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE chain_credits SET tx_hash = $2, updated_at = now() WHERE id = $1",
            &[&id, &tx_hash],
        )
        .await?;
        Ok(())
    }

    /// `moved` micro-USDC reached the vault on chain for this row (read from the settling
    /// transaction `tx_hash`, never from the request): credit exactly that to the row's wallet,
    /// once, and mark the row credited with that amount — in one transaction. The transfer's
    /// idempotency key is the row id, which names the on-chain payment (an EIP-3009 nonce or a
    /// deposit log): the chain moves it at most once, so one key can only ever mean one amount.
    pub async fn credit_moved(
        &self,
        id: &str,
        moved: MicroUsdc,
        tx_hash: &str,
        memo: &str,
    ) -> Result<Credited, LedgerError> {
        if moved <= 0 {
            return Err(LedgerError::Invalid(format!(
                "{id}: nothing moved on chain ({moved})"
            )));
        }
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let r = tx
            .query_one(
                "SELECT c.status, c.kind, w.account_id FROM chain_credits c
                 JOIN wallets w ON w.address = c.wallet WHERE c.id = $1 FOR UPDATE OF c",
                &[&id],
            )
            .await?;
        let (status, kind, account): (String, String, i64) = (r.get(0), r.get(1), r.get(2));
        let applied = if status == "credited" {
            false
        } else {
            let moved_tx = transfer_in(
                &tx,
                Move {
                    from: AccountRef::External,
                    to: AccountRef::Id(account),
                    amount: moved,
                    kind: if kind == "x402" { "topup" } else { "deposit" },
                    idempotency_key: id,
                    memo,
                },
            )
            .await?;
            if !moved_tx.applied {
                // The key names one on-chain payment: already used means a row and its
                // transfer disagree, which `ledger check` reports; never credit twice.
                return Err(LedgerError::Invalid(format!(
                    "{id}: transfer already applied but the row is {status}"
                )));
            }
            tx.execute(
                "UPDATE chain_credits SET status = 'credited', amount = $2, tx_hash = $3,
                     transfer_id = $4, error = NULL, updated_at = now()
                 WHERE id = $1",
                &[&id, &moved, &tx_hash, &moved_tx.transfer_id],
            )
            .await?;
            true
        };
        let balance: i64 = tx
            .query_one("SELECT balance FROM accounts WHERE id = $1", &[&account])
            .await?
            .get(0);
        tx.commit().await?;
        Ok(Credited { applied, balance })
    }

    /// The chain refused a pending row: nothing moved.
    pub async fn fail_credit(&self, id: &str, error: &str) -> Result<(), LedgerError> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE chain_credits SET status = 'failed', error = $2, updated_at = now()
             WHERE id = $1 AND status = 'pending'",
            &[&id, &error],
        )
        .await?;
        Ok(())
    }

    /// Insert and credit a deposit found on chain (`amount` is its `Deposited` log's), once per
    /// `id` (the log's identity).
    pub async fn credit_deposit(
        &self,
        id: &str,
        wallet: &str,
        amount: MicroUsdc,
        tx_hash: &str,
        rail: &ChainAsset,
    ) -> Result<Credited, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        self.ensure_wallet(&wallet).await?;
        {
            let c = self.conn().await?;
            c.execute(
                "INSERT INTO chain_credits (id, kind, wallet, amount, status, tx_hash, chain_id, asset)
                 VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                &[
                    &id,
                    &CreditKind::Deposit.as_str(),
                    &wallet,
                    &amount,
                    &tx_hash,
                    &rail.chain_id,
                    &rail.asset,
                ],
            )
            .await?;
        }
        self.credit_moved(
            id,
            amount,
            tx_hash,
            &format!("TreasuryVault deposit {tx_hash}"),
        )
        .await
    }

    /// Rows a reconciler must finish: pending ones, and x402 top-ups the vault has not counted.
    /// Each with `vault_recorded` and its age in seconds.
    pub async fn unfinished_credits(&self) -> Result<Vec<(ChainCredit, bool, i64)>, LedgerError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {COLS}, vault_recorded, EXTRACT(EPOCH FROM now() - created_at)::BIGINT FROM chain_credits
                     WHERE status = 'pending' OR (kind = 'x402' AND status = 'credited' AND NOT vault_recorded)
                     ORDER BY created_at"
                ),
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (row(r), r.get(10), r.get(11)))
            .collect())
    }

    pub async fn mark_vault_recorded(&self, id: &str) -> Result<(), LedgerError> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE chain_credits SET vault_recorded = true, updated_at = now() WHERE id = $1",
            &[&id],
        )
        .await?;
        Ok(())
    }

    /// A wallet's top-ups and deposits, newest first.
    pub async fn credit_history(
        &self,
        wallet: &str,
        limit: i64,
    ) -> Result<Vec<ChainCredit>, LedgerError> {
        let wallet = normalise_wallet(wallet)?;
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {COLS} FROM chain_credits WHERE wallet = $1
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                ),
                &[&wallet, &limit.clamp(1, 500)],
            )
            .await?;
        Ok(rows.iter().map(row).collect())
    }
}
