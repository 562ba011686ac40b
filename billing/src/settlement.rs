//! The settlement pipeline: `logging` → bounded queue → batched Postgres transactions.
//!
//! Backpressure, not unbounded memory: every admitted request holds a queue slot (a
//! semaphore permit) from its reservation until its record is committed. When Postgres is
//! slow or down, batches retry, slots run out, and admission answers 503
//! `BILLING_UNAVAILABLE`; records of requests already served are never dropped. When
//! Postgres comes back the same batch commits and slots free up, without a restart.

use crate::charging::cap_to_reservation;
use crate::lease::{LeaseBook, ReserveError};
use crate::ledger::{Ledger, LedgerError, LOCK_WALLETS};
use crate::sink::{AdmitError, BillingSink, Reservation};
use crate::{MicroUsdc, Outcome};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Clone)]
pub struct SettlementConfig {
    /// Requests admitted but not yet committed, at most. Also bounds what a SIGKILL can lose.
    pub queue_capacity: usize,
    pub batch_size: usize,
    /// A batch is written at the latest this long after its first record.
    pub batch_interval: Duration,
}

/// One settled request on its way to Postgres.
pub struct SettledRecord {
    pub outcome: Outcome,
    _slot: Option<OwnedSemaphorePermit>,
}

/// The Postgres-backed [`BillingSink`].
pub struct LedgerSink {
    leases: Arc<LeaseBook>,
    slots: Arc<Semaphore>,
    capacity: usize,
    tx: mpsc::Sender<SettledRecord>,
}

/// Writes batches; run it on a background task.
pub struct SettlementWriter {
    ledger: Ledger,
    leases: Arc<LeaseBook>,
    rx: mpsc::Receiver<SettledRecord>,
    cfg: SettlementConfig,
    seq: u64,
}

impl LedgerSink {
    pub fn new(
        ledger: Ledger,
        leases: Arc<LeaseBook>,
        cfg: SettlementConfig,
    ) -> (Arc<LedgerSink>, SettlementWriter) {
        let capacity = cfg.queue_capacity.max(1);
        // The channel can hold every slot: `record` never finds it full.
        let (tx, rx) = mpsc::channel(capacity);
        let sink = Arc::new(LedgerSink {
            leases: leases.clone(),
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            tx,
        });
        let writer = SettlementWriter {
            ledger,
            leases,
            rx,
            cfg,
            seq: 0,
        };
        (sink, writer)
    }

    /// Admitted requests whose records are not committed yet.
    pub fn in_flight(&self) -> usize {
        self.capacity - self.slots.available_permits()
    }

    pub fn leases(&self) -> &Arc<LeaseBook> {
        &self.leases
    }
}

#[async_trait]
impl BillingSink for LedgerSink {
    async fn reserve(
        &self,
        wallet: &Arc<str>,
        max_cost: MicroUsdc,
    ) -> Result<Reservation, AdmitError> {
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| {
            AdmitError::Unavailable("settlement queue is full (database slow or down)".into())
        })?;
        match self.leases.reserve(wallet, max_cost).await {
            Ok(()) => Ok(Reservation {
                wallet: wallet.clone(),
                amount: max_cost,
                slot: Some(slot),
            }),
            Err(ReserveError::Insufficient) => Err(AdmitError::InsufficientBalance),
            Err(ReserveError::Unavailable(m)) => Err(AdmitError::Unavailable(m)),
        }
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

    if let Some(tid) = transfer_id {
        // Aggregate per account: buyer debits, provider credits, the platform's fees.
        let mut deltas: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for o in fresh.iter().filter(|o| o.buyer_cost_usdc > 0) {
            *deltas.entry(("wallet", o.wallet.as_str())).or_default() -= o.buyer_cost_usdc;
            *deltas.entry(("provider", o.provider.as_str())).or_default() += o.provider_cost_usdc;
            *deltas.entry(("platform", "fees")).or_default() += o.platform_fee_usdc;
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

    // The charges come out of this node's leases (the locked part of the balance). Wallet
    // rows are locked above, so the lease amounts cannot move under us.
    let fresh_charges: BTreeMap<&str, i64> =
        fresh
            .iter()
            .filter(|o| o.buyer_cost_usdc > 0)
            .fold(BTreeMap::new(), |mut m, o| {
                *m.entry(o.wallet.as_str()).or_default() += o.buyer_cost_usdc;
                m
            });
    if !fresh_charges.is_empty() {
        let ws: Vec<&str> = fresh_charges.keys().copied().collect();
        let held: BTreeMap<String, i64> = tx
            .query(
                "SELECT wallet, amount FROM leases WHERE node_id = $1 AND wallet = ANY($2)",
                &[&node, &ws],
            )
            .await?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut lw = Vec::new();
        let mut freed = Vec::new();
        for (w, charge) in &fresh_charges {
            let f = (*charge).min(held.get(*w).copied().unwrap_or(0));
            if f > 0 {
                lw.push(*w);
                freed.push(f);
            }
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
    }
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

pub(crate) async fn insert_request_log(
    tx: &tokio_postgres::Transaction<'_>,
    rows: &[&Outcome],
    transfer_id: Option<i64>,
) -> Result<(), LedgerError> {
    if rows.is_empty() {
        return Ok(());
    }
    macro_rules! col {
        ($f:expr) => {
            rows.iter().map($f).collect::<Vec<_>>()
        };
    }
    let request_id = col!(|o| o.request_id.as_str());
    let created_at = col!(|o| to_system_time(o.started_at_ms));
    let wallet = col!(|o| o.wallet.as_str());
    let key_id = col!(|o| o.key_id.as_str());
    let provider = col!(|o| o.provider.as_str());
    let model = col!(|o| o.model.as_str());
    let upstream_model = col!(|o| o.upstream_model.as_str());
    let api = col!(|o| o.api);
    let stream = col!(|o| o.stream);
    let status = col!(|o| o.status.as_str());
    let http_status = col!(|o| o.http_status as i16);
    let input = col!(|o| o.tokens.input_tokens as i64);
    let w5 = col!(|o| o.tokens.cache_write_5m_tokens as i64);
    let w1 = col!(|o| o.tokens.cache_write_1h_tokens as i64);
    let cr = col!(|o| o.tokens.cache_read_tokens as i64);
    let out = col!(|o| o.tokens.output_tokens as i64);
    let usage_missing = col!(|o| o.usage_missing);
    let stream_cut = col!(|o| o.stream_cut);
    let provider_cost = col!(|o| o.provider_cost_usdc);
    let buyer_cost = col!(|o| o.buyer_cost_usdc);
    let fee = col!(|o| o.platform_fee_usdc);
    let reserved = col!(|o| o.reserved_usdc);
    let attempts = col!(|o| o.attempts.min(i16::MAX as u32) as i16);
    let latency = col!(|o| o.latency_ms.min(i32::MAX as u64) as i32);
    let ttfb = col!(|o| o.ttfb_ms.map(|t| t.min(i32::MAX as u64) as i32));
    let error_code = col!(|o| o.error_code);
    let overrun = col!(|o| o.overrun_usdc);
    let price_id = col!(|o| o.price_id);
    let transfer = col!(|o| if o.buyer_cost_usdc > 0 {
        transfer_id
    } else {
        None
    });
    tx.execute(
        "INSERT INTO request_log (request_id, created_at, wallet, key_id, provider, model, upstream_model, api, stream,
             status, http_status, input_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens,
             output_tokens, usage_missing, stream_cut, provider_cost, buyer_cost, platform_fee, reserved, attempts,
             latency_ms, ttfb_ms, error_code, transfer_id, overrun_usdc, price_id)
         SELECT * FROM UNNEST($1::TEXT[], $2::TIMESTAMPTZ[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[],
             $8::TEXT[], $9::BOOL[], $10::TEXT[], $11::INT2[], $12::INT8[], $13::INT8[], $14::INT8[], $15::INT8[],
             $16::INT8[], $17::BOOL[], $18::BOOL[], $19::INT8[], $20::INT8[], $21::INT8[], $22::INT8[], $23::INT2[],
             $24::INT4[], $25::INT4[], $26::TEXT[], $27::INT8[], $28::INT8[], $29::INT8[])
         ON CONFLICT (request_id) DO NOTHING",
        &[
            &request_id, &created_at, &wallet, &key_id, &provider, &model, &upstream_model, &api, &stream, &status,
            &http_status, &input, &w5, &w1, &cr, &out, &usage_missing, &stream_cut, &provider_cost, &buyer_cost, &fee,
            &reserved, &attempts, &latency, &ttfb, &error_code, &transfer, &overrun, &price_id,
        ],
    )
    .await?;
    Ok(())
}

impl SettledRecord {
    /// A record without a queue slot (tests, replays).
    pub fn detached(outcome: Outcome) -> Self {
        SettledRecord {
            outcome,
            _slot: None,
        }
    }
}
