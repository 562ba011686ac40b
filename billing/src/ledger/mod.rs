//! The Postgres ledger: double-entry transfers between accounts, wallets, API keys and the
//! request log. Every money movement is one transaction whose entries sum to zero and whose
//! idempotency key makes a replay a no-op.

/// RFC 3339 UTC text for a timestamptz column (what the JSON APIs show).
macro_rules! iso {
    ($col:literal) => {
        concat!(
            "to_char(",
            $col,
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        )
    };
}

mod api_keys;
mod chain_credits;
pub mod feed;
pub mod health;
pub mod market;
mod market_reports;
mod migrations;
mod paid_calls;
mod payouts;
mod provider_keys;
pub mod queries;
pub mod receipts;
mod siwe_nonces;
mod solvency;
pub mod wallet_reports;
mod withdrawals;

pub use api_keys::{watch_key_revocations, ApiKeyInfo, ApiKeyRecord, KeyEvent, NewApiKey};
pub use chain_credits::{Begun, ChainAsset, ChainCredit, CreditKind, Credited};
pub use feed::{watch, Feed};
pub use paid_calls::{NewPaidCall, PayerLimits, RailFunds, Refused as PaidCallRefused, ToSettle};
pub use payouts::{JobLock, NoPayout, Payout, ProviderEarnings};
pub use solvency::{Liabilities, PendingOut, SettledPaidCall};
pub use withdrawals::{Insufficient, Opened, Withdrawal};

pub use migrations::latest as latest_schema;

use crate::MicroUsdc;
use bb8_postgres::PostgresConnectionManager;
use sha2::{Digest, Sha256};
use std::fmt;
use tokio_postgres::NoTls;

/// The lock every ledger writer takes first on a wallet it changes (`$1`: its address).
/// `NO KEY UPDATE`, not `UPDATE`: writers still exclude each other, but rows that merely
/// reference the wallet (a new API key, a lease, a request-log row) are not held up by it.
pub const LOCK_WALLET: &str = "SELECT 1 FROM wallets WHERE address = $1 FOR NO KEY UPDATE";
/// [`LOCK_WALLET`] for several wallets (`$1`: addresses), in address order so that two
/// writers never wait on each other in a circle.
pub const LOCK_WALLETS: &str =
    "SELECT 1 FROM wallets WHERE address = ANY($1) ORDER BY address FOR NO KEY UPDATE";

pub type Pool = bb8::Pool<PostgresConnectionManager<NoTls>>;
pub type Conn<'a> = bb8::PooledConnection<'a, PostgresConnectionManager<NoTls>>;

#[derive(Debug)]
pub enum LedgerError {
    Db(tokio_postgres::Error),
    Pool(String),
    NotMigrated { have: i32, want: i32 },
    Invalid(String),
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::Db(e) => match e.as_db_error() {
                Some(db) => write!(f, "database error: {} ({})", db.message(), db.code().code()),
                None => write!(f, "database error: {e}"),
            },
            LedgerError::Pool(e) => write!(f, "database unavailable: {e}"),
            LedgerError::NotMigrated { have, want } => write!(
                f,
                "database schema is at version {have}, this binary needs {want}: run `tollgate migrate -c FILE`"
            ),
            LedgerError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for LedgerError {}

impl From<tokio_postgres::Error> for LedgerError {
    fn from(e: tokio_postgres::Error) -> Self {
        LedgerError::Db(e)
    }
}

impl From<bb8::RunError<tokio_postgres::Error>> for LedgerError {
    fn from(e: bb8::RunError<tokio_postgres::Error>) -> Self {
        match e {
            bb8::RunError::User(e) => LedgerError::Db(e),
            bb8::RunError::TimedOut => {
                LedgerError::Pool("timed out waiting for a connection".into())
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum AccountOwner {
    Wallet,
    Provider,
}

/// A handle on the ledger database (a connection pool).
#[derive(Clone)]
pub struct Ledger {
    pool: Pool,
    /// Kept for connections outside the pool (LISTEN).
    config: tokio_postgres::Config,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditResult {
    pub transfer_id: i64,
    /// False when the idempotency key had already been used (nothing moved this time).
    pub applied: bool,
    pub balance: MicroUsdc,
}

/// One side of a [`Move`].
#[derive(Debug, Clone, Copy)]
pub enum AccountRef {
    /// Money outside the ledger (on chain): `accounts(kind 'external', ref 'usdc')`.
    External,
    Id(i64),
}

/// A two-entry transfer, applied at most once per `idempotency_key`.
#[derive(Debug, Clone, Copy)]
pub struct Move<'a> {
    pub from: AccountRef,
    pub to: AccountRef,
    pub amount: MicroUsdc,
    pub kind: &'a str,
    pub idempotency_key: &'a str,
    pub memo: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub transfer_id: i64,
    /// False when the idempotency key had already been used (nothing moved this time).
    pub applied: bool,
}

/// Apply `m` inside the caller's transaction (so it commits with whatever else the caller
/// writes, e.g. a payout row). Callers that also lock a wallet row lock it first (see
/// `lease.rs` for the lock order).
pub async fn transfer_in(
    tx: &tokio_postgres::Transaction<'_>,
    m: Move<'_>,
) -> Result<Moved, LedgerError> {
    if m.amount <= 0 {
        return Err(LedgerError::Invalid("a transfer must be positive".into()));
    }
    let inserted = tx
        .query_opt(
            "INSERT INTO transfers (kind, idempotency_key, memo) VALUES ($1, $2, $3)
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            &[&m.kind, &m.idempotency_key, &m.memo],
        )
        .await?;
    let Some(row) = inserted else {
        let id: i64 = tx
            .query_one(
                "SELECT id FROM transfers WHERE idempotency_key = $1",
                &[&m.idempotency_key],
            )
            .await?
            .get(0);
        return Ok(Moved {
            transfer_id: id,
            applied: false,
        });
    };
    let id: i64 = row.get(0);
    let account = |r: AccountRef| async move {
        Ok::<i64, LedgerError>(match r {
            AccountRef::Id(id) => id,
            AccountRef::External => tx
                .query_one(
                    "SELECT id FROM accounts WHERE kind = 'external' AND ref = 'usdc'",
                    &[],
                )
                .await?
                .get(0),
        })
    };
    let (from, to) = (account(m.from).await?, account(m.to).await?);
    tx.execute(
        "INSERT INTO entries (transfer_id, account_id, amount) VALUES ($1, $2, -$4::BIGINT), ($1, $3, $4::BIGINT)",
        &[&id, &from, &to, &m.amount],
    )
    .await?;
    tx.execute(
        "UPDATE accounts SET balance = balance + CASE WHEN id = $2 THEN -$1::BIGINT ELSE $1::BIGINT END
         WHERE id = $2 OR id = $3",
        &[&m.amount, &from, &to],
    )
    .await?;
    Ok(Moved {
        transfer_id: id,
        applied: true,
    })
}

/// Problems `tollgate ledger check` found; empty means the books balance.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub problems: Vec<String>,
    pub transfers: i64,
    pub accounts: i64,
}

/// `bytes` random bytes from the OS, hex-encoded (keys, ids, idempotency keys).
pub fn random_hex(bytes: usize) -> Result<String, LedgerError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| LedgerError::Invalid(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

/// SHA-256 of an API key, as stored.
pub fn hash_api_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

pub fn normalise_wallet(address: &str) -> Result<String, LedgerError> {
    let a = address.trim().to_ascii_lowercase();
    if a.len() == 42 && a.starts_with("0x") && a[2..].bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(a)
    } else {
        Err(LedgerError::Invalid(format!(
            "{address:?} is not a 0x-prefixed 20-byte hex address"
        )))
    }
}

impl Ledger {
    /// Connect a pool. Connections are made lazily, so this succeeds while Postgres is down;
    /// calls then fail fast after `connect_timeout`.
    pub async fn connect(url: &str, pool_size: u32) -> Result<Ledger, LedgerError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| LedgerError::Invalid(format!("database_url: {e}")))?;
        let manager = PostgresConnectionManager::new(config.clone(), NoTls);
        let pool = bb8::Pool::builder()
            .max_size(pool_size.max(1))
            .connection_timeout(std::time::Duration::from_secs(3))
            .build_unchecked(manager);
        Ok(Ledger { pool, config })
    }

    pub async fn conn(&self) -> Result<Conn<'_>, LedgerError> {
        Ok(self.pool.get().await?)
    }

    /// One round trip to Postgres on a pooled connection (the gateway's `/ready`).
    pub async fn ping(&self) -> Result<(), LedgerError> {
        self.conn().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// The wallet's account id, creating wallet and account on first sight.
    pub async fn ensure_wallet(&self, address: &str) -> Result<i64, LedgerError> {
        let address = normalise_wallet(address)?;
        self.ensure_owner(AccountOwner::Wallet, &address).await
    }

    /// The provider's earnings account id, creating it on first sight.
    pub async fn ensure_provider(&self, id: &str) -> Result<i64, LedgerError> {
        self.ensure_owner(AccountOwner::Provider, id).await
    }

    /// The account of a wallet or a provider, creating both rows on first sight.
    ///
    /// An existing owner is only read: the upsert below locks the `accounts` row and then the
    /// owner's row, the reverse of settlement and leasing (owner row `FOR UPDATE`, then
    /// `accounts`), and running it for a wallet being settled deadlocked (40P01, a 503 on key
    /// creation). A row that does not exist yet cannot be locked by anyone else.
    async fn ensure_owner(&self, owner: AccountOwner, key: &str) -> Result<i64, LedgerError> {
        let (kind, table, column) = match owner {
            AccountOwner::Wallet => ("wallet", "wallets", "address"),
            AccountOwner::Provider => ("provider", "providers", "id"),
        };
        let c = self.conn().await?;
        let existing = format!("SELECT account_id FROM {table} WHERE {column} = $1");
        if let Some(row) = c.query_opt(&existing, &[&key]).await? {
            return Ok(row.get(0));
        }
        let sql = format!(
            "WITH acct AS (
                 INSERT INTO accounts (kind, ref) VALUES ('{kind}', $1)
                 ON CONFLICT (kind, ref) DO UPDATE SET ref = EXCLUDED.ref RETURNING id)
             INSERT INTO {table} ({column}, account_id) SELECT $1, id FROM acct
             ON CONFLICT ({column}) DO UPDATE SET {column} = EXCLUDED.{column}
             RETURNING account_id"
        );
        Ok(c.query_one(&sql, &[&key]).await?.get(0))
    }

    /// Move `amount` from the external account into a wallet (ops credit, top-up, deposit),
    /// once per `idempotency_key`.
    pub async fn credit(
        &self,
        wallet: &str,
        amount: MicroUsdc,
        kind: &str,
        idempotency_key: &str,
        memo: &str,
    ) -> Result<CreditResult, LedgerError> {
        if amount <= 0 {
            return Err(LedgerError::Invalid("a credit must be positive".into()));
        }
        let wallet = normalise_wallet(wallet)?;
        let account = self.ensure_wallet(&wallet).await?;
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let moved = transfer_in(
            &tx,
            Move {
                from: AccountRef::External,
                to: AccountRef::Id(account),
                amount,
                kind,
                idempotency_key,
                memo,
            },
        )
        .await?;
        let balance: i64 = tx
            .query_one("SELECT balance FROM accounts WHERE id = $1", &[&account])
            .await?
            .get(0);
        tx.commit().await?;
        Ok(CreditResult {
            transfer_id: moved.transfer_id,
            applied: moved.applied,
            balance,
        })
    }

    /// Verify the books: every transfer sums to zero, every cached balance equals its entries,
    /// every wallet's `locked` equals its leases and stays within its balance, no lease or
    /// balance is negative, every payout/withdrawal row has its transfer (and a failed one its
    /// reversal) for the same amount.
    pub async fn check(&self) -> Result<CheckReport, LedgerError> {
        let c = self.conn().await?;
        let mut report = CheckReport::default();
        for row in c
            .query(
                "SELECT t.id, t.idempotency_key, COALESCE(SUM(e.amount), 0)::BIGINT
                 FROM transfers t LEFT JOIN entries e ON e.transfer_id = t.id
                 GROUP BY t.id HAVING COALESCE(SUM(e.amount), 0) <> 0 LIMIT 100",
                &[],
            )
            .await?
        {
            let (id, key, sum): (i64, String, i64) = (row.get(0), row.get(1), row.get(2));
            report
                .problems
                .push(format!("transfer {id} ({key}) sums to {sum}, not 0"));
        }
        for row in c
            .query(
                "SELECT a.id, a.kind, a.ref, a.balance, COALESCE(SUM(e.amount), 0)::BIGINT
                 FROM accounts a LEFT JOIN entries e ON e.account_id = a.id
                 GROUP BY a.id HAVING a.balance <> COALESCE(SUM(e.amount), 0) LIMIT 100",
                &[],
            )
            .await?
        {
            let (id, kind, r, bal, sum): (i64, String, String, i64, i64) =
                (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
            report.problems.push(format!(
                "account {id} ({kind} {r}) caches balance {bal} but its entries sum to {sum}"
            ));
        }
        for row in c
            .query(
                "SELECT w.address, w.locked, COALESCE(SUM(l.amount), 0)::BIGINT, a.balance
                 FROM wallets w JOIN accounts a ON a.id = w.account_id LEFT JOIN leases l ON l.wallet = w.address
                 GROUP BY w.address, w.locked, a.balance
                 HAVING w.locked <> COALESCE(SUM(l.amount), 0) OR a.balance < 0 OR w.locked > GREATEST(a.balance, 0)
                 LIMIT 100",
                &[],
            )
            .await?
        {
            let (w, locked, leased, bal): (String, i64, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
            report.problems.push(format!("wallet {w}: balance {bal}, locked {locked}, leases {leased}"));
        }
        let row = c
            .query_one(
                "SELECT (SELECT COUNT(*) FROM transfers), (SELECT COUNT(*) FROM accounts),
                        (SELECT COALESCE(SUM(balance), 0)::BIGINT FROM accounts)",
                &[],
            )
            .await?;
        report.transfers = row.get(0);
        report.accounts = row.get(1);
        let total: i64 = row.get(2);
        if total != 0 {
            report
                .problems
                .push(format!("account balances sum to {total}, not 0"));
        }
        // Payouts and withdrawals: each row has its transfer, a failed one its reversal.
        report.problems.extend(self.check_chain_rows(&c).await?);
        // Top-ups and deposits: each credited row has its transfer, of the same amount.
        report.problems.extend(self.check_chain_credits(&c).await?);
        Ok(report)
    }
}
