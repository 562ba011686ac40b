//! The settlement pipeline: `logging` → bounded queue → batched Postgres transactions.
//!
//! Backpressure, not unbounded memory: every admitted request holds a queue slot (a
//! semaphore permit) from its reservation until its record is committed. When Postgres is
//! slow or down, batches retry, slots run out, and admission answers 503
//! `BILLING_UNAVAILABLE`; records of requests already served are never dropped. When
//! Postgres comes back the same batch commits and slots free up, without a restart.
//!
//! With a [`Spool`], each outcome is also on local disk from before its response ended until
//! its batch commits, so a crash of the process loses none (replayed at the next start).

mod charges;
pub mod replay;

use crate::charging::cap_to_reservation;
use crate::lease::{LeaseBook, ReserveError};
use crate::ledger::{Ledger, LedgerError, LOCK_WALLETS};
use crate::sink::{AdmitError, BillingSink, Reservation};
use crate::spool::{Spool, SpoolTicket};
use crate::{AppliedPrices, MicroUsdc, Outcome};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Clone)]
pub struct SettlementConfig {
    /// Requests admitted but not yet committed, at most. Without a spool, also what a SIGKILL
    /// can lose.
    pub queue_capacity: usize,
    pub batch_size: usize,
    /// A batch is written at the latest this long after its first record.
    pub batch_interval: Duration,
}

/// One settled request on its way to Postgres.
pub struct SettledRecord {
    pub outcome: Outcome,
    _slot: Option<OwnedSemaphorePermit>,
    spooled: Option<SpoolTicket>,
}

/// The Postgres-backed [`BillingSink`].
pub struct LedgerSink {
    leases: Arc<LeaseBook>,
    slots: Arc<Semaphore>,
    capacity: usize,
    tx: mpsc::Sender<SettledRecord>,
    spool: Option<Arc<Spool>>,
}

/// Writes batches; run it on a background task.
pub struct SettlementWriter {
    ledger: Ledger,
    leases: Arc<LeaseBook>,
    rx: mpsc::Receiver<SettledRecord>,
    cfg: SettlementConfig,
    seq: u64,
    spool: Option<Arc<Spool>>,
}

impl LedgerSink {
    pub fn new(
        ledger: Ledger,
        leases: Arc<LeaseBook>,
        cfg: SettlementConfig,
        spool: Option<Arc<Spool>>,
    ) -> (Arc<LedgerSink>, SettlementWriter) {
        let capacity = cfg.queue_capacity.max(1);
        // The channel can hold every slot: `record` never finds it full.
        let (tx, rx) = mpsc::channel(capacity);
        let sink = Arc::new(LedgerSink {
            leases: leases.clone(),
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            tx,
            spool: spool.clone(),
        });
        let writer = SettlementWriter {
            ledger,
            leases,
            rx,
            cfg,
            seq: 0,
            spool,
        };
        (sink, writer)
    }

    /// Admitted requests whose records are not committed yet.
    pub fn in_flight(&self) -> usize {
        self.capacity - self.slots.available_permits()
    }

    /// `billing.queue_capacity`: beyond it paid requests are refused (503).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records handed to the writer and not yet taken into a batch: its backlog.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn leases(&self) -> &Arc<LeaseBook> {
        &self.leases
    }

    /// The billing spool, when configured (its `healthy()` is the readiness seam).
    pub fn spool(&self) -> Option<&Arc<Spool>> {
        self.spool.as_ref()
    }
}

#[async_trait]
impl BillingSink for LedgerSink {
    async fn reserve(
        &self,
        wallet: &Arc<str>,
        max_cost: MicroUsdc,
    ) -> Result<Reservation, AdmitError> {
        // Nothing is served that could not be made durable.
        if let Some(spool) = &self.spool {
            spool.healthy().map_err(|why| {
                AdmitError::Unavailable(format!("billing spool unavailable: {why}"))
            })?;
        }
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| {
            AdmitError::Unavailable("settlement queue is full (database slow or down)".into())
        })?;
        match self.leases.reserve(wallet, max_cost).await {
            Ok(()) => Ok(Reservation {
                wallet: wallet.clone(),
                amount: max_cost,
                slot: Some(slot),
                spooled: None,
            }),
            Err(ReserveError::Insufficient) => Err(AdmitError::InsufficientBalance),
            Err(ReserveError::Unavailable(m)) => Err(AdmitError::Unavailable(m)),
        }
    }

    fn persists(&self) -> bool {
        self.spool.is_some()
    }

    fn persist(&self, outcome: &Outcome, reservation: &mut Reservation) -> Result<(), String> {
        let Some(spool) = &self.spool else {
            return Ok(());
        };
        if reservation.spooled.is_some() {
            return Ok(());
        }
        let ticket = spool.append(outcome).map_err(|e| e.to_string())?;
        reservation.spooled = Some(ticket);
        Ok(())
    }

    fn record(&self, mut outcome: Outcome, reservation: Reservation) {
        // The proxy caps (and counts) before recording; capping here keeps the lease book
        // right even for a caller that did not.
        let late = cap_to_reservation(&mut outcome, reservation.amount);
        if late > 0 {
            log::error!(
                "request {} recorded {late} micro-USDC above its reservation",
                outcome.request_id
            );
            outcome.overrun_usdc += late;
        }
        self.leases.settle(
            &reservation.wallet,
            reservation.amount,
            outcome.buyer_cost_usdc,
        );
        let item = SettledRecord {
            outcome,
            _slot: reservation.slot,
            spooled: reservation.spooled,
        };
        match self.tx.try_send(item) {
            Ok(()) => {}
            // Cannot happen while every record holds a slot; never drop a record regardless.
            Err(mpsc::error::TrySendError::Full(item)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(item).await;
                });
            }
            Err(mpsc::error::TrySendError::Closed(item)) => {
                log::error!(
                    "settlement writer stopped; record {} not written",
                    item.outcome.request_id
                );
            }
        }
    }
}

impl SettlementWriter {
    /// Write batches until every sender is gone (the sink was dropped), then return.
    pub async fn run(mut self) {
        let mut batch: Vec<SettledRecord> = Vec::with_capacity(self.cfg.batch_size);
        while let Some(first) = self.rx.recv().await {
            batch.push(first);
            let deadline = tokio::time::Instant::now() + self.cfg.batch_interval;
            while batch.len() < self.cfg.batch_size {
                match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                    Ok(Some(r)) => batch.push(r),
                    Ok(None) | Err(_) => break,
                }
            }
            self.commit_until_done(&mut batch).await;
        }
    }

    /// Retry a batch until Postgres takes it. Holding it (and its slots) is the backpressure.
    async fn commit_until_done(&mut self, batch: &mut Vec<SettledRecord>) {
        let mut backoff = Duration::from_millis(50);
        self.seq += 1;
        loop {
            match commit_batch(&self.ledger, &self.leases.config().node_id, self.seq, batch).await {
                Ok(charged) => {
                    for (wallet, amount) in charged {
                        self.leases.committed(&wallet, amount);
                    }
                    if let Some(spool) = &self.spool {
                        for t in batch.iter().filter_map(|r| r.spooled) {
                            spool.committed(t);
                        }
                    }
                    batch.clear(); // releases the slots
                    return;
                }
                Err(e) => {
                    log::warn!(
                        "settlement batch of {} records failed, retrying in {backoff:?}: {e}",
                        batch.len()
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

fn to_system_time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// Write one batch in one transaction: request log rows (idempotent on request id), and for
/// the rows not seen before one usage transfer: buyer debits, provider credits, platform fee,
/// and the lease/locked reduction. Returns the charge per wallet, for the lease book.
pub async fn commit_batch(
    ledger: &Ledger,
    node: &str,
    seq: u64,
    batch: &[SettledRecord],
) -> Result<Vec<(String, MicroUsdc)>, LedgerError> {
    let mut charged_per_wallet: BTreeMap<String, MicroUsdc> = BTreeMap::new();
    for r in batch {
        if r.outcome.buyer_cost_usdc > 0 {
            *charged_per_wallet
                .entry(r.outcome.wallet.clone())
                .or_default() += r.outcome.buyer_cost_usdc;
        }
    }
    let mut c = ledger.conn().await?;
    let tx = c.transaction().await?;

    // Lock the wallets first, in address order: growing a lease locks the wallet row too, so
    // one lock order for everyone means no deadlocks.
    let wallets: Vec<&str> = charged_per_wallet.keys().map(String::as_str).collect();
    tx.execute(LOCK_WALLETS, &[&wallets]).await?;

    let ids: Vec<&str> = batch
        .iter()
        .map(|r| r.outcome.request_id.as_str())
        .collect();
    let seen: HashSet<String> = tx
        .query(
            "SELECT request_id FROM request_log WHERE request_id = ANY($1)",
            &[&ids],
        )
        .await?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let fresh: Vec<&Outcome> = batch
        .iter()
        .map(|r| &r.outcome)
        .filter(|o| !seen.contains(&o.request_id))
        .collect();

    let transfer_id: Option<i64> = if fresh.iter().any(|o| o.buyer_cost_usdc > 0) {
        let key = format!("usage:{node}:{seq}:{}", fresh[0].request_id);
        Some(
            tx.query_one(
                "INSERT INTO transfers (kind, idempotency_key, memo) VALUES ('usage', $1, $2) RETURNING id",
                &[&key, &format!("{} requests", fresh.len())],
            )
            .await?
            .get(0),
        )
    } else {
        None
    };

    insert_request_log(&tx, &fresh, transfer_id).await?;
    add_key_usage(&tx, &fresh).await?;
    add_provider_daily(&tx, &fresh).await?;
    crate::ledger::wallet_reports::add_wallet_daily(&tx, &fresh).await?;

    // Who pays each wallet's fresh charges: this node's lease, then the wallet's free balance,
    // then — only when a lease was swept before its charges arrived and the money was spent
    // since — the platform (`charges::take`).
    let fresh_charges: BTreeMap<&str, i64> =
        fresh
            .iter()
            .filter(|o| o.buyer_cost_usdc > 0)
            .fold(BTreeMap::new(), |mut m, o| {
                *m.entry(o.wallet.as_str()).or_default() += o.buyer_cost_usdc;
                m
            });
    let taken = charges::take(&tx, node, &fresh_charges).await?;

    if let Some(tid) = transfer_id {
        // Aggregate per account: buyer debits, provider credits, the platform's fees.
        let mut deltas: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for o in fresh.iter().filter(|o| o.buyer_cost_usdc > 0) {
            *deltas.entry(("provider", o.provider.as_str())).or_default() += o.provider_cost_usdc;
            *deltas.entry(("platform", "fees")).or_default() += o.platform_fee_usdc;
        }
        for (w, t) in &taken {
            *deltas.entry(("wallet", w)).or_default() -= t.debit;
            *deltas
                .entry(("platform", charges::UNCOLLECTED))
                .or_default() -= t.uncollected;
        }
        deltas.retain(|_, v| *v != 0);
        let providers: Vec<&str> = deltas
            .keys()
            .filter(|(k, _)| *k == "provider")
            .map(|(_, r)| *r)
            .collect();
        tx.execute(
            "WITH a AS (INSERT INTO accounts (kind, ref) SELECT 'provider', unnest($1::TEXT[])
                        ON CONFLICT (kind, ref) DO NOTHING RETURNING id, ref)
             INSERT INTO providers (id, account_id) SELECT ref, id FROM a ON CONFLICT (id) DO NOTHING",
            &[&providers],
        )
        .await?;
        if deltas.contains_key(&("platform", charges::UNCOLLECTED)) {
            tx.execute(
                "INSERT INTO accounts (kind, ref) VALUES ('platform', $1) ON CONFLICT (kind, ref) DO NOTHING",
                &[&charges::UNCOLLECTED],
            )
            .await?;
        }
        let kinds: Vec<&str> = deltas.keys().map(|(k, _)| *k).collect();
        let refs: Vec<&str> = deltas.keys().map(|(_, r)| *r).collect();
        let amounts: Vec<i64> = deltas.values().copied().collect();
        let n = tx
            .execute(
                "INSERT INTO entries (transfer_id, account_id, amount)
                 SELECT $1, a.id, d.amount FROM UNNEST($2::TEXT[], $3::TEXT[], $4::BIGINT[]) AS d(kind, ref, amount)
                 JOIN accounts a ON a.kind = d.kind AND a.ref = d.ref",
                &[&tid, &kinds, &refs, &amounts],
            )
            .await?;
        if n as usize != deltas.len() {
            return Err(LedgerError::Invalid(format!(
                "usage batch: {} of {} accounts missing",
                deltas.len() - n as usize,
                deltas.len()
            )));
        }
        tx.execute(
            "UPDATE accounts a SET balance = a.balance + d.amount
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[]) AS d(kind, ref, amount)
             WHERE a.kind = d.kind AND a.ref = d.ref",
            &[&kinds, &refs, &amounts],
        )
        .await?;
    }
    charges::free_leases(&tx, node, &taken).await?;
    tx.commit().await?;
    // Every record's charge has now been taken from the lease (by this commit or an earlier
    // one whose acknowledgement was lost).
    Ok(charged_per_wallet.into_iter().collect())
}

/// Fold the batch into the per-key totals (one row per key, not a scan of the log).
async fn add_key_usage(
    tx: &tokio_postgres::Transaction<'_>,
    rows: &[&Outcome],
) -> Result<(), LedgerError> {
    let mut per_key: BTreeMap<(&str, &str), [i64; 4]> = BTreeMap::new();
    for o in rows {
        let t = &o.tokens;
        let e = per_key
            .entry((o.key_id.as_str(), o.wallet.as_str()))
            .or_default();
        e[0] += 1;
        e[1] += (t.input_tokens
            + t.cache_read_tokens
            + t.cache_write_5m_tokens
            + t.cache_write_1h_tokens) as i64;
        e[2] += t.output_tokens as i64;
        e[3] += o.buyer_cost_usdc;
    }
    if per_key.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = per_key.keys().map(|k| k.0).collect();
    let wallets: Vec<&str> = per_key.keys().map(|k| k.1).collect();
    let col = |i: usize| per_key.values().map(|v| v[i]).collect::<Vec<i64>>();
    let (n, p, c, ch) = (col(0), col(1), col(2), col(3));
    tx.execute(
        "INSERT INTO api_key_usage AS u (key_id, wallet, request_count, prompt_tokens, completion_tokens, charged)
         SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::INT8[], $4::INT8[], $5::INT8[], $6::INT8[])
         ON CONFLICT (key_id) DO UPDATE SET
             request_count = u.request_count + EXCLUDED.request_count,
             prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,
             completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens,
             charged = u.charged + EXCLUDED.charged",
        &[&keys, &wallets, &n, &p, &c, &ch],
    )
    .await?;
    Ok(())
}

/// Per (provider, model, UTC hour): requests that reached the provider, successes and their
/// latency sums, tokens by bucket, earnings, and answers whose usage was missing or disproved.
pub(crate) async fn add_provider_daily(
    tx: &tokio_postgres::Transaction<'_>,
    rows: &[&Outcome],
) -> Result<(), LedgerError> {
    let mut per_day: BTreeMap<(&str, &str, i64), [i64; 12]> = BTreeMap::new();
    for o in rows.iter().filter(|o| !o.provider.is_empty()) {
        let t = &o.tokens;
        let day = (o.started_at_ms / 3_600_000) as i64;
        // A pinned `provider/model` is the same listing as `model`.
        let model = o
            .model
            .strip_prefix(o.provider.as_str())
            .and_then(|m| m.strip_prefix('/'))
            .unwrap_or(&o.model);
        let e = per_day
            .entry((o.provider.as_str(), model, day))
            .or_default();
        let ok = o.status == crate::OutcomeStatus::Completed;
        let v = [
            1,
            i64::from(ok),
            if ok { o.latency_ms as i64 } else { 0 },
            if ok { o.ttfb_ms.unwrap_or(0) as i64 } else { 0 },
            t.input_tokens as i64,
            t.cache_write_5m_tokens as i64,
            t.cache_write_1h_tokens as i64,
            t.cache_read_tokens as i64,
            t.output_tokens as i64,
            o.provider_cost_usdc,
            i64::from(o.usage_missing),
            i64::from(o.usage_disproved),
        ];
        for (acc, x) in e.iter_mut().zip(v) {
            *acc += x;
        }
    }
    if per_day.is_empty() {
        return Ok(());
    }
    let providers: Vec<&str> = per_day.keys().map(|k| k.0).collect();
    let models: Vec<&str> = per_day.keys().map(|k| k.1).collect();
    let days: Vec<i64> = per_day.keys().map(|k| k.2).collect();
    let col = |i: usize| per_day.values().map(|v| v[i]).collect::<Vec<i64>>();
    let cols: Vec<Vec<i64>> = (0..12).map(col).collect();
    tx.execute(
        "INSERT INTO provider_daily AS d (provider, model, hour, requests, succeeded, latency_ms_sum, ttfb_ms_sum,
             input_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, output_tokens, earned,
             usage_missing, usage_disproved)
         SELECT p, m, to_timestamp(n * 3600), r, s, l, t, i, w5, w1, cr, o, e, um, ud
         FROM UNNEST($1::TEXT[], $2::TEXT[], $3::INT8[], $4::INT8[], $5::INT8[], $6::INT8[], $7::INT8[],
             $8::INT8[], $9::INT8[], $10::INT8[], $11::INT8[], $12::INT8[], $13::INT8[], $14::INT8[], $15::INT8[])
             AS x(p, m, n, r, s, l, t, i, w5, w1, cr, o, e, um, ud)
         ON CONFLICT (provider, hour, model) DO UPDATE SET
             requests = d.requests + EXCLUDED.requests,
             succeeded = d.succeeded + EXCLUDED.succeeded,
             latency_ms_sum = d.latency_ms_sum + EXCLUDED.latency_ms_sum,
             ttfb_ms_sum = d.ttfb_ms_sum + EXCLUDED.ttfb_ms_sum,
             input_tokens = d.input_tokens + EXCLUDED.input_tokens,
             cache_write_5m_tokens = d.cache_write_5m_tokens + EXCLUDED.cache_write_5m_tokens,
             cache_write_1h_tokens = d.cache_write_1h_tokens + EXCLUDED.cache_write_1h_tokens,
             cache_read_tokens = d.cache_read_tokens + EXCLUDED.cache_read_tokens,
             output_tokens = d.output_tokens + EXCLUDED.output_tokens,
             earned = d.earned + EXCLUDED.earned,
             usage_missing = d.usage_missing + EXCLUDED.usage_missing,
             usage_disproved = d.usage_disproved + EXCLUDED.usage_disproved",
        &[
            &providers, &models, &days, &cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5],
            &cols[6], &cols[7], &cols[8], &cols[9], &cols[10], &cols[11],
        ],
    )
    .await?;
    Ok(())
}

/// The request log rows, by binary `COPY` (about twice the rows per second of an `UNNEST`
/// insert: no per-row array decoding or `ON CONFLICT` probe). Rows already logged were
/// filtered out by the caller's `seen` query; should another transaction log one of these
/// ids meanwhile (a replay racing its own node), the primary key fails this batch, which is
/// retried and then skips it — still never a row twice.
pub(crate) async fn insert_request_log(
    tx: &tokio_postgres::Transaction<'_>,
    rows: &[&Outcome],
    transfer_id: Option<i64>,
) -> Result<(), LedgerError> {
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::{ToSql, Type};
    if rows.is_empty() {
        return Ok(());
    }
    let sink = tx
        .copy_in(
            "COPY request_log (request_id, created_at, wallet, key_id, provider, model, upstream_model, api, stream,
                 status, http_status, input_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens,
                 output_tokens, usage_missing, stream_cut, provider_cost, buyer_cost, platform_fee, reserved, attempts,
                 latency_ms, ttfb_ms, error_code, transfer_id, overrun_usdc, price_id, price_input, price_cache_write_5m,
                 price_cache_write_1h, price_cache_read, price_output, share_bps, response_id) FROM STDIN (FORMAT binary)",
        )
        .await?;
    use Type as T;
    #[rustfmt::skip]
    let types = [
        T::TEXT, T::TIMESTAMPTZ, T::TEXT, T::TEXT, T::TEXT, T::TEXT, T::TEXT, T::TEXT, T::BOOL,
        T::TEXT, T::INT2, T::INT8, T::INT8, T::INT8, T::INT8, T::INT8, T::BOOL, T::BOOL, T::INT8,
        T::INT8, T::INT8, T::INT8, T::INT2, T::INT4, T::INT4, T::TEXT, T::INT8, T::INT8, T::INT8,
        T::INT8, T::INT8, T::INT8, T::INT8, T::INT8, T::INT4, T::TEXT,
    ];
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
    for o in rows {
        let t = &o.tokens;
        let transfer = if o.buyer_cost_usdc > 0 {
            transfer_id
        } else {
            None
        };
        let price = |f: fn(&AppliedPrices) -> u64| o.prices.as_ref().map(|p| f(p) as i64);
        let (p_in, p_w5, p_w1, p_cr, p_out) = (
            price(|p| p.input),
            price(|p| p.cache_write_5m),
            price(|p| p.cache_write_1h),
            price(|p| p.cache_read),
            price(|p| p.output),
        );
        let share = o.prices.as_ref().map(|p| p.share_bps as i32);
        let values: [&(dyn ToSql + Sync); 36] = [
            &o.request_id,
            &to_system_time(o.started_at_ms),
            &o.wallet,
            &o.key_id,
            &o.provider,
            &o.model,
            &o.upstream_model,
            &o.api,
            &o.stream,
            &o.status.as_str(),
            &(o.http_status as i16),
            &(t.input_tokens as i64),
            &(t.cache_write_5m_tokens as i64),
            &(t.cache_write_1h_tokens as i64),
            &(t.cache_read_tokens as i64),
            &(t.output_tokens as i64),
            &o.usage_missing,
            &o.stream_cut,
            &o.provider_cost_usdc,
            &o.buyer_cost_usdc,
            &o.platform_fee_usdc,
            &o.reserved_usdc,
            &(o.attempts.min(i16::MAX as u32) as i16),
            &(o.latency_ms.min(i32::MAX as u64) as i32),
            &o.ttfb_ms.map(|v| v.min(i32::MAX as u64) as i32),
            &o.error_code,
            &transfer,
            &o.overrun_usdc,
            &o.price_id,
            &p_in,
            &p_w5,
            &p_w1,
            &p_cr,
            &p_out,
            &share,
            &o.response_id,
        ];
        writer.as_mut().write(&values).await?;
    }
    writer.finish().await?;
    Ok(())
}

impl SettledRecord {
    /// A record without a queue slot (tests, replays).
    pub fn detached(outcome: Outcome) -> Self {
        SettledRecord {
            outcome,
            _slot: None,
            spooled: None,
        }
    }
}
