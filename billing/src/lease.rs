//! Balance leases: reservations without a database round trip per request.
//!
//! A gateway node leases part of a wallet's balance from Postgres in chunks (one atomic
//! statement that locks the wallet row, so all nodes together never lease more than the
//! balance) and reserves against that lease in memory. A busy wallet therefore costs one
//! Postgres statement per `chunk` of spend, not one per request, and never serialises its
//! requests on one row.
//!
//! Per wallet the node tracks (all micro-USDC):
//! - `leased`: what Postgres has locked for this node (`leases.amount`);
//! - `reserved`: worst-case costs of requests in flight;
//! - `pending`: actual charges settled in memory but not yet written by the settlement batch.
//!
//! `available = leased - reserved - pending`. Settlement batches debit the balance and shrink
//! the lease (and `wallets.locked`) by the same amount in one transaction, and the node then
//! lowers `leased` and `pending` by it: every change is a delta, so lease growth and batch
//! commits commute. `docs/design.md` ("Reservations and leases") lists the failure modes.

use crate::ledger::{Ledger, LedgerError, LOCK_WALLET, LOCK_WALLETS};
use crate::MicroUsdc;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Identifies this node's rows in `leases`.
    pub node_id: String,
    /// How much to lease at once when a reservation does not fit (at least the reservation).
    pub chunk: MicroUsdc,
    /// Lease lifetime in Postgres; renewed every `ttl / 3` while the node lives.
    pub ttl: Duration,
    /// A lease is used locally only until `renewed_at + ttl - safety`, so a node that cannot
    /// renew stops using it well before another node may sweep it.
    pub safety: Duration,
    /// Unused leases are returned after this long idle.
    pub idle_return: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveError {
    /// The wallet's available balance cannot cover the reservation.
    Insufficient,
    /// Postgres could not be reached to extend the lease, or the node is shutting down.
    Unavailable(String),
}

#[derive(Debug)]
struct WalletLease {
    leased: MicroUsdc,
    reserved: MicroUsdc,
    pending: MicroUsdc,
    valid_until: Instant,
    last_used: Instant,
}

impl WalletLease {
    fn available(&self, now: Instant) -> MicroUsdc {
        if now >= self.valid_until {
            return 0;
        }
        self.leased - self.reserved - self.pending
    }
}

const SHARDS: usize = 16;

pub struct LeaseBook {
    ledger: Ledger,
    cfg: LeaseConfig,
    shards: Vec<Mutex<HashMap<Arc<str>, WalletLease>>>,
    /// One lease growth at a time per shard: reservations that miss together wait for the
    /// growth under way and usually fit in the chunk it brings, instead of each taking a
    /// Postgres connection (1,000 first requests of one wallet ran the pool dry). Holds when
    /// a growth last failed to reach Postgres: those that waited behind it fail with it.
    growth: Vec<tokio::sync::Mutex<Option<Instant>>>,
    closed: AtomicBool,
}

impl LeaseBook {
    pub fn new(ledger: Ledger, cfg: LeaseConfig) -> Self {
        LeaseBook {
            ledger,
            cfg,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            growth: (0..SHARDS).map(|_| tokio::sync::Mutex::new(None)).collect(),
            closed: AtomicBool::new(false),
        }
    }

    pub fn config(&self) -> &LeaseConfig {
        &self.cfg
    }

    fn shard_index(wallet: &str) -> usize {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        wallet.hash(&mut h);
        h.finish() as usize % SHARDS
    }

    fn shard(&self, wallet: &str) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, WalletLease>> {
        self.shards[Self::shard_index(wallet)]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Reserve from the local lease if it covers `amount`; else what is missing.
    fn reserve_local(&self, wallet: &str, amount: MicroUsdc) -> Result<(), MicroUsdc> {
        let now = Instant::now();
        let mut shard = self.shard(wallet);
        match shard.get_mut(wallet) {
            Some(e) if e.available(now) >= amount => {
                e.reserved += amount;
                e.last_used = now;
                Ok(())
            }
            Some(e) => Err(amount - e.available(now).max(0)),
            None => Err(amount),
        }
    }

    /// Reserve `amount` for a request. In memory when the lease covers it; otherwise one
    /// Postgres statement grows the lease.
    pub async fn reserve(&self, wallet: &Arc<str>, amount: MicroUsdc) -> Result<(), ReserveError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(ReserveError::Unavailable("shutting down".into()));
        }
        // Nothing to set aside (a token count, a free model): no lease is taken for it.
        if amount == 0 {
            return Ok(());
        }
        for _ in 0..3 {
            if self.reserve_local(wallet, amount).is_ok() {
                return Ok(());
            }
            let asked = Instant::now();
            let mut growing = self.growth[Self::shard_index(wallet)].lock().await;
            // The growth this one waited for may have brought enough, or failed: then so does
            // this one, rather than each waiter trying Postgres again in turn.
            let need = match self.reserve_local(wallet, amount) {
                Ok(()) => return Ok(()),
                Err(need) => need,
            };
            if growing.is_some_and(|failed| failed >= asked) {
                return Err(ReserveError::Unavailable(
                    "the ledger did not answer".into(),
                ));
            }
            // The shard's lock is released: the lease is grown without holding it across the
            // await (only the growth gate is held, by design).
            let started = Instant::now();
            let want = need.max(self.cfg.chunk);
            let grant = self
                .ledger
                .grow_lease(&self.cfg.node_id, wallet, need, want, self.cfg.ttl)
                .await
                .map_err(|e| {
                    *growing = Some(Instant::now());
                    ReserveError::Unavailable(e.to_string())
                })?;
            let Some(grant) = grant else {
                // Postgres had nothing left to lease, but concurrent reservations on this
                // wallet may have grown this node's lease meanwhile (each asked for a chunk):
                // refuse only if the lease as it is now cannot cover this one either.
                return self
                    .reserve_local(wallet, amount)
                    .map_err(|_| ReserveError::Insufficient);
            };
            let mut shard = self.shard(wallet);
            let valid_until = started + self.cfg.ttl.saturating_sub(self.cfg.safety);
            let e = shard.entry(wallet.clone()).or_insert(WalletLease {
                leased: 0,
                reserved: 0,
                pending: 0,
                valid_until,
                last_used: started,
            });
            if grant.new_row {
                // The row was gone (swept after this node failed to renew): what this node
                // thought it held is no longer locked for it.
                e.leased = grant.granted;
            } else {
                e.leased += grant.granted;
            }
            e.valid_until = valid_until;
            drop(shard);
            // Reservations from the local lease may have taken the new chunk first: retry.
            if self.reserve_local(wallet, amount).is_ok() {
                return Ok(());
            }
        }
        Err(ReserveError::Insufficient)
    }

    /// The request finished: its reservation becomes its (smaller or equal) actual charge.
    pub fn settle(&self, wallet: &str, reserved: MicroUsdc, charged: MicroUsdc) {
        let mut shard = self.shard(wallet);
        if let Some(e) = shard.get_mut(wallet) {
            e.reserved -= reserved;
            e.pending += charged;
            e.last_used = Instant::now();
        }
    }

    /// A settlement batch committed `charged` against this node's lease on `wallet`.
    pub fn committed(&self, wallet: &str, charged: MicroUsdc) {
        let mut shard = self.shard(wallet);
        if let Some(e) = shard.get_mut(wallet) {
            e.leased -= charged;
            e.pending -= charged;
        }
    }

    /// Extend every lease of this node; on success they stay usable for another `ttl`.
    ///
    /// Only the leases Postgres still holds for this node are extended here. One it no longer
    /// holds — swept by another node while this one could not renew (a partition longer than
    /// `2 × ttl`), its money possibly spent elsewhere since — is dropped: this node leases
    /// again, from the balance as it is now, before it reserves on that wallet again.
    pub async fn renew(&self) -> Result<(), LedgerError> {
        let started = Instant::now();
        let held: std::collections::HashSet<String> = self
            .ledger
            .renew_leases(&self.cfg.node_id, self.cfg.ttl)
            .await?
            .into_iter()
            .map(|(wallet, _)| wallet)
            .collect();
        let valid_until = started + self.cfg.ttl.saturating_sub(self.cfg.safety);
        for s in &self.shards {
            for (wallet, e) in s.lock().unwrap_or_else(|p| p.into_inner()).iter_mut() {
                // (Amounts are not compared: a settlement batch committing right now has
                // shrunk the row already and this entry only after it; the deltas commute.)
                match held.contains(wallet.as_ref()) {
                    true => e.valid_until = valid_until,
                    false if e.leased > 0 => {
                        log::warn!(
                            "lease of {} on {wallet} was released while this node could not renew it; leasing again",
                            e.leased
                        );
                        e.leased = 0;
                        e.valid_until = started;
                    }
                    false => {}
                }
            }
        }
        Ok(())
    }

    /// Give back leases idle for `idle_return` (all of them when `all`), nothing in flight.
    pub async fn return_idle(&self, all: bool) -> Result<(), LedgerError> {
        let now = Instant::now();
        let mut give_back: Vec<(Arc<str>, MicroUsdc)> = Vec::new();
        for s in &self.shards {
            let mut shard = s.lock().unwrap_or_else(|p| p.into_inner());
            shard.retain(|wallet, e| {
                let idle = e.reserved == 0
                    && e.pending == 0
                    && (all || now.duration_since(e.last_used) >= self.cfg.idle_return);
                if idle && e.leased > 0 {
                    give_back.push((wallet.clone(), e.leased));
                }
                !idle
            });
        }
        for (wallet, amount) in give_back {
            self.ledger
                .shrink_lease(&self.cfg.node_id, &wallet, amount)
                .await?;
        }
        Ok(())
    }

    /// This node's book in total (for the metrics): leased from Postgres, reserved by
    /// requests in flight, settled but not yet written. Each shard is read on its own, so the
    /// three are a snapshot per shard, not of the whole book.
    pub fn totals(&self) -> LeaseTotals {
        let mut t = LeaseTotals::default();
        for s in &self.shards {
            for e in s.lock().unwrap_or_else(|p| p.into_inner()).values() {
                t.leased += e.leased;
                t.reserved += e.reserved;
                t.pending += e.pending;
            }
        }
        t
    }

    /// Stop granting reservations (shutdown).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

/// [`LeaseBook::totals`], in micro-USDC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseTotals {
    pub leased: MicroUsdc,
    pub reserved: MicroUsdc,
    pub pending: MicroUsdc,
}

/// The result of growing a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseGrant {
    pub granted: MicroUsdc,
    /// The lease row did not exist before.
    pub new_row: bool,
}

impl Ledger {
    /// Lock between `need` and `want` more of the wallet's available balance for `node`,
    /// as much as is available; `None` when not even `need` is.
    pub async fn grow_lease(
        &self,
        node: &str,
        wallet: &str,
        need: MicroUsdc,
        want: MicroUsdc,
        ttl: Duration,
    ) -> Result<Option<LeaseGrant>, LedgerError> {
        let mut c = self.conn().await?;
        let ttl_ms = ttl.as_millis() as i64;
        let tx = c.transaction().await?;
        // Lock the wallet row in a statement of its own. Every writer of this wallet's
        // balance or `locked` (settlement batches, other nodes' leases, sweeps) takes this lock
        // first, so the statement below — a new snapshot under READ COMMITTED — reads the
        // balance and `locked` as they are now. Locking inside the same statement would
        // re-check only the wallet row after the wait and keep a stale account balance,
        // granting money a concurrent batch had just debited (found by the 1,000-request
        // overspend test).
        tx.execute(LOCK_WALLET, &[&wallet]).await?;
        let row = tx
            .query_opt(
                "WITH w AS (
                     SELECT w.address, LEAST($4::BIGINT, a.balance - w.locked) AS grant_amount
                     FROM wallets w JOIN accounts a ON a.id = w.account_id
                     WHERE w.address = $2 AND a.balance - w.locked >= $3),
                 locked AS (
                     UPDATE wallets SET locked = wallets.locked + w.grant_amount FROM w
                     WHERE wallets.address = w.address RETURNING w.grant_amount)
                 INSERT INTO leases (node_id, wallet, amount, expires_at)
                 SELECT $1, $2, grant_amount, now() + make_interval(secs => $5::BIGINT / 1000.0) FROM locked
                 ON CONFLICT (node_id, wallet) DO UPDATE
                     SET amount = leases.amount + EXCLUDED.amount, expires_at = EXCLUDED.expires_at
                 RETURNING (SELECT grant_amount FROM locked), (xmax = 0)",
                &[&node, &wallet, &need, &want, &ttl_ms],
            )
            .await?;
        tx.commit().await?;
        Ok(row.map(|r| LeaseGrant {
            granted: r.get(0),
            new_row: r.get(1),
        }))
    }

    /// Extend every lease `node` holds; returns the leases it still holds (wallet, amount).
    pub async fn renew_leases(
        &self,
        node: &str,
        ttl: Duration,
    ) -> Result<Vec<(String, MicroUsdc)>, LedgerError> {
        let c = self.conn().await?;
        let ttl_ms = ttl.as_millis() as i64;
        Ok(c.query(
            "UPDATE leases SET expires_at = now() + make_interval(secs => $2::BIGINT / 1000.0)
             WHERE node_id = $1 RETURNING wallet, amount",
            &[&node, &ttl_ms],
        )
        .await?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
    }

    /// Return `amount` of a node's lease on a wallet to the wallet's available balance.
    pub async fn shrink_lease(
        &self,
        node: &str,
        wallet: &str,
        amount: MicroUsdc,
    ) -> Result<(), LedgerError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        // Wallet row first: the one lock order every ledger writer follows (no deadlocks).
        tx.execute(LOCK_WALLET, &[&wallet]).await?;
        let held: Option<i64> = tx
            .query_opt(
                "SELECT amount FROM leases WHERE node_id = $1 AND wallet = $2 FOR UPDATE",
                &[&node, &wallet],
            )
            .await?
            .map(|r| r.get(0));
        if let Some(held) = held {
            let freed = amount.min(held);
            tx.execute(
                "UPDATE leases SET amount = amount - $3 WHERE node_id = $1 AND wallet = $2",
                &[&node, &wallet, &freed],
            )
            .await?;
            tx.execute(
                "DELETE FROM leases WHERE node_id = $1 AND wallet = $2 AND amount = 0",
                &[&node, &wallet],
            )
            .await?;
            tx.execute(
                "UPDATE wallets SET locked = locked - $2 WHERE address = $1",
                &[&wallet, &freed],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Release every lease that expired more than `grace` ago (its node died or lost the
    /// database). Any node may run this; it is idempotent. Returns the amount released.
    pub async fn sweep_expired_leases(&self, grace: Duration) -> Result<MicroUsdc, LedgerError> {
        let mut c = self.conn().await?;
        let grace_ms = grace.as_millis() as i64;
        let tx = c.transaction().await?;
        let wallets: Vec<String> = tx
            .query(
                "SELECT DISTINCT wallet FROM leases
                 WHERE expires_at < now() - make_interval(secs => $1::BIGINT / 1000.0) ORDER BY wallet",
                &[&grace_ms],
            )
            .await?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        if wallets.is_empty() {
            return Ok(0);
        }
        // Wallet rows first, in address order, like every other ledger writer.
        tx.execute(LOCK_WALLETS, &[&wallets]).await?;
        let row = tx
            .query_one(
                "WITH gone AS (
                     DELETE FROM leases WHERE wallet = ANY($2)
                         AND expires_at < now() - make_interval(secs => $1::BIGINT / 1000.0)
                     RETURNING wallet, amount),
                 per_wallet AS (SELECT wallet, SUM(amount)::BIGINT AS amount FROM gone GROUP BY wallet),
                 upd AS (UPDATE wallets SET locked = locked - p.amount FROM per_wallet p
                         WHERE wallets.address = p.wallet RETURNING p.amount)
                 SELECT COALESCE(SUM(amount), 0)::BIGINT FROM upd",
                &[&grace_ms, &wallets],
            )
            .await?;
        tx.commit().await?;
        Ok(row.get(0))
    }
}
