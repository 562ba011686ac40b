//! Money out to providers: the payout engine, shared by `tollgate payouts run` and the
//! gateway's scheduled job (`jobs::chain_jobs`). A run also reconciles buyer withdrawals
//! whose outcome a request could not learn (`super::withdrawals::reconcile`).
//!
//! One run, under a fleet-wide Postgres advisory lock (a second run at the same time does
//! nothing), for each rail (asset on a chain, [`ChainSet`]) in turn — a chain that cannot be
//! reached is reported and the others still run:
//! 1. withdrawals `pending` for longer than a request can take: executed on chain → `paid`;
//!    not executed and no transaction of ours can still carry it → `failed` + reversal;
//! 2. `pending` payouts: executed on chain → `paid`; otherwise sent again below (the
//!    PayoutVault pays a `batchId` at most once, so a re-send never pays twice);
//! 3. for each provider with a `payout_address` (marketplace upstreams: their owner): earnings ≥ threshold, last payout older than
//!    the minimum interval, none pending → row + transfer (one transaction) BEFORE any send;
//! 4. the PayoutVault is topped up from the TreasuryVault pool by what it lacks;
//! 5. `payout(to, amount, batchId)`, wait for the configured confirmations → `paid`. Anything
//!    that fails stays `pending` with its error and tx hash, for the next run.
//!
//! A payout nobody wants to retry is given up with `tollgate payouts cancel BATCH`: only when
//! the batch has not executed and no transaction of ours can still execute it.

use super::onchain::{ChainSet, OnChain};
use super::{ids, withdrawals};
use crate::config::Config;
use alloy_primitives::{Address, TxHash, B256, U256};
use std::fmt::Write as _;
use std::str::FromStr;
use std::time::{Duration, Instant};
use tollgate_billing::ledger::{JobLock, Ledger, NoPayout, Payout};
use tollgate_chain::{ChainClient, ChainError};

/// A provider that is paid on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payee {
    pub provider: String,
    /// Lower-case 0x address.
    pub address: String,
    /// The chain and asset (symbol) it chose (`None`: the first chain, its first asset).
    pub chain_id: Option<u64>,
    pub asset: Option<String>,
}

/// The configured providers with a `payout_address`.
pub fn payees(config: &Config) -> Vec<Payee> {
    config
        .providers
        .iter()
        .filter_map(|p| {
            Some(Payee {
                provider: p.id.clone(),
                address: p.payout_address.clone()?,
                chain_id: p.payout_chain_id,
                asset: p.payout_asset.clone(),
            })
        })
        .collect()
}

/// What one run did.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Another run held the lock: nothing was done.
    pub busy: bool,
    pub paid: Vec<Payout>,
    /// Still pending, with the reason.
    pub pending: Vec<(Payout, String)>,
    /// Providers not paid this time, with the reason.
    pub skipped: Vec<(String, String)>,
    pub withdrawals_paid: Vec<String>,
    pub withdrawals_reversed: Vec<String>,
    pub withdrawals_pending: Vec<String>,
    /// Rails whose chain could not be reached this run (nothing done there).
    pub unreachable: Vec<String>,
}

impl RunReport {
    pub fn render(&self) -> String {
        let mut s = String::new();
        if self.busy {
            s.push_str("another payout run holds the lock; nothing done\n");
        }
        for p in &self.paid {
            let _ = writeln!(
                s,
                "paid {} micro-USDC to {} ({}, batch {}, tx {})",
                p.amount_usdc,
                p.to_address,
                p.provider,
                p.batch_id,
                p.tx_hash.as_deref().unwrap_or("-")
            );
        }
        for (p, why) in &self.pending {
            let _ = writeln!(
                s,
                "PENDING {} micro-USDC to {} ({}, batch {}): {why}",
                p.amount_usdc, p.to_address, p.provider, p.batch_id
            );
        }
        for why in &self.unreachable {
            let _ = writeln!(s, "UNREACHABLE {why}");
        }
        for (provider, why) in &self.skipped {
            let _ = writeln!(s, "no payout for {provider}: {why}");
        }
        for (what, ids) in [
            ("paid (reconciled)", &self.withdrawals_paid),
            ("reversed (not executed)", &self.withdrawals_reversed),
            ("still pending", &self.withdrawals_pending),
        ] {
            for id in ids {
                let _ = writeln!(s, "withdrawal {id}: {what}");
            }
        }
        s
    }

    /// Nothing left for a later run.
    pub fn settled(&self) -> bool {
        !self.busy
            && self.pending.is_empty()
            && self.withdrawals_pending.is_empty()
            && self.unreachable.is_empty()
    }
}

/// What a run does besides reconciling withdrawals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reconcile withdrawals, then reconcile, open and send payouts.
    Payouts,
    /// Reconcile withdrawals only.
    Withdrawals,
}

/// The chain-jobs lock, waiting up to `wait` for a run elsewhere to finish.
async fn lock(ledger: &Ledger, wait: Duration) -> Result<Option<JobLock>, String> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(l) = ledger
            .try_chain_jobs_lock()
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(Some(l));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One run (see the module docs), waiting up to `wait` for the fleet-wide lock. Errors only
/// when it could not start (database unreachable); per-rail and per-payout problems are in
/// the report.
pub async fn run(
    ledger: &Ledger,
    chains: &ChainSet,
    payees: &[Payee],
    scope: Scope,
    wait: Duration,
) -> Result<RunReport, String> {
    let mut report = RunReport::default();
    if scope == Scope::Withdrawals {
        let shortest = chains
            .all()
            .iter()
            .map(|r| withdrawals::grace(r))
            .min()
            .unwrap_or_default();
        if ledger
            .stale_withdrawals(shortest)
            .await
            .map_err(|e| e.to_string())?
            .is_empty()
        {
            // The common case: nothing to do, no lock, no chain connection.
            return Ok(report);
        }
    }
    let Some(_lock) = lock(ledger, wait).await? else {
        report.busy = true;
        return Ok(report);
    };
    // Marketplace upstreams are paid to the wallet that listed them, on the default rail.
    let market = ledger.market_owners().await.map_err(|e| e.to_string())?;
    let listed = market
        .into_iter()
        .filter(|(id, _)| !payees.iter().any(|p| &p.provider == id))
        .map(|(provider, address)| Payee {
            provider,
            address,
            chain_id: None,
            asset: None,
        });
    let payees: Vec<Payee> = payees.iter().cloned().chain(listed).collect();
    for p in &payees {
        if chains.find(p.chain_id, p.asset.as_deref()).is_none() {
            report.skipped.push((
                p.provider.clone(),
                format!(
                    "payouts in {} on chain {:?} are not configured here",
                    p.asset.as_deref().unwrap_or("the first asset"),
                    p.chain_id
                ),
            ));
        }
    }
    for rail in chains.all() {
        let client = match rail.client().await {
            Ok(c) => c,
            Err(e) => {
                report.unreachable.push(format!("{}: {e}", rail.describe()));
                continue;
            }
        };
        let mine: Vec<&Payee> = payees
            .iter()
            .filter(|p| {
                chains
                    .find(p.chain_id, p.asset.as_deref())
                    .is_some_and(|r| std::ptr::eq(r.as_ref(), rail.as_ref()))
            })
            .collect();
        run_rail(ledger, chains, rail, client, &mine, scope, &mut report).await?;
    }
    Ok(report)
}

/// One rail's part of a run.
async fn run_rail(
    ledger: &Ledger,
    chains: &ChainSet,
    chain: &OnChain,
    client: &ChainClient,
    payees: &[&Payee],
    scope: Scope,
    report: &mut RunReport,
) -> Result<(), String> {
    let mut w = withdrawals::Reconciled::default();
    let reconciled = withdrawals::reconcile(ledger, chains, chain, client, &mut w).await;
    report.withdrawals_paid.extend(w.paid);
    report.withdrawals_reversed.extend(w.reversed);
    report.withdrawals_pending.extend(w.pending);
    reconciled?;
    if scope == Scope::Withdrawals {
        return Ok(());
    }

    let mut to_send = Vec::new();
    for p in ledger.pending_payouts().await.map_err(|e| e.to_string())? {
        if !chains.owns(chain, p.chain_id, p.asset.as_deref()) {
            continue;
        }
        let id = parse_b256(&p.batch_id)?;
        match client.executed_batch(chain.payout_vault, id).await {
            Ok(true) => finish_paid(ledger, p, None, report).await?,
            Ok(false) => to_send.push(p),
            Err(e) => report
                .pending
                .push((p, format!("cannot read the batch state: {e}"))),
        }
    }

    for payee in payees {
        let opened = ledger
            .open_payout(
                &payee.provider,
                &payee.address,
                chain.settings.payout_threshold,
                chain.settings.payout_min_interval,
                |seq| format!("{:#x}", ids::payout_batch_id(chain, &payee.provider, seq)),
                &chain.rail(),
            )
            .await;
        match opened {
            Ok(Ok(p)) => {
                log::info!(
                    "payout {} opened: {} micro-USD of {} to {} in {}",
                    p.batch_id,
                    p.amount_usdc,
                    p.provider,
                    p.to_address,
                    chain.describe()
                );
                to_send.push(p);
            }
            Ok(Err(why)) => {
                let why = match why {
                    NoPayout::BelowThreshold(have) => format!(
                        "earnings {have} micro-USDC below the threshold of {}",
                        chain.settings.payout_threshold
                    ),
                    NoPayout::TooSoon => format!(
                        "last payout less than {:?} ago",
                        chain.settings.payout_min_interval
                    ),
                    NoPayout::InFlight(b) => format!("payout {b} is still pending"),
                };
                report.skipped.push((payee.provider.clone(), why));
            }
            Err(e) => report
                .skipped
                .push((payee.provider.clone(), format!("ledger error: {e}"))),
        }
    }
    if to_send.is_empty() {
        return Ok(());
    }

    // The PayoutVault pays from its own balance: top it up from the pool by what it lacks
    // (an earlier top-up whose payout did not happen is used, never repeated).
    let need: U256 = to_send.iter().map(|p| chain.units(p.amount_usdc)).sum();
    let mut funding_error = None;
    match client.token_balance(chain.asset, chain.payout_vault).await {
        Ok(have) if have < need => {
            if let Err(e) = client
                .fund_payout_vault(chain.treasury_vault, need - have)
                .await
            {
                log::warn!("funding the PayoutVault with {} failed: {e}", need - have);
                funding_error = Some(format!("funding the PayoutVault failed: {e}"));
            }
        }
        Ok(_) => {}
        Err(e) => funding_error = Some(format!("cannot read the PayoutVault balance: {e}")),
    }

    for p in to_send {
        send_payout(ledger, chain, client, p, funding_error.as_deref(), report).await?;
    }
    Ok(())
}

async fn send_payout(
    ledger: &Ledger,
    chain: &OnChain,
    client: &ChainClient,
    p: Payout,
    funding_error: Option<&str>,
    report: &mut RunReport,
) -> Result<(), String> {
    let id = parse_b256(&p.batch_id)?;
    let to = Address::from_str(&p.to_address).map_err(|e| format!("payout {}: {e}", p.batch_id))?;
    let amount = chain.units(p.amount_usdc);
    let db = |e: tollgate_billing::ledger::LedgerError| e.to_string();
    match client.payout(chain.payout_vault, to, amount, id).await {
        Ok(tx) => finish_paid(ledger, p, Some(tx), report).await,
        // Paid by an earlier attempt whose outcome was lost.
        Err(ChainError::BatchAlreadyExecuted(_)) => finish_paid(ledger, p, None, report).await,
        Err(e) => {
            let tx = match &e {
                ChainError::ConfirmationTimeout { tx_hash, .. } => Some(*tx_hash),
                ChainError::TxReverted { tx_hash, .. } => Some(*tx_hash),
                _ => None,
            };
            // A reverted send may have lost the race to an earlier one that executed.
            if matches!(e, ChainError::TxReverted { .. })
                && matches!(
                    client.executed_batch(chain.payout_vault, id).await,
                    Ok(true)
                )
            {
                return finish_paid(ledger, p, None, report).await;
            }
            let mut why = e.to_string();
            if let Some(f) = funding_error {
                why = format!("{why} ({f})");
            }
            log::warn!("payout {} stays pending: {why}", p.batch_id);
            let tx_text = tx.map(|h| format!("{h:#x}"));
            ledger
                .note_payout_attempt(&p.batch_id, tx_text.as_deref(), Some(&why))
                .await
                .map_err(db)?;
            report.pending.push((p, why));
            Ok(())
        }
    }
}

async fn finish_paid(
    ledger: &Ledger,
    mut p: Payout,
    tx: Option<TxHash>,
    report: &mut RunReport,
) -> Result<(), String> {
    let tx_text = tx.map(|h| format!("{h:#x}"));
    ledger
        .mark_payout_paid(&p.batch_id, tx_text.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    log::info!(
        "payout {} paid ({} micro-USDC to {})",
        p.batch_id,
        p.amount_usdc,
        p.to_address
    );
    p.status = "paid".into();
    if tx_text.is_some() {
        p.tx_hash = tx_text;
    }
    report.paid.push(p);
    Ok(())
}

fn parse_b256(s: &str) -> Result<B256, String> {
    B256::from_str(s).map_err(|e| format!("bad id {s:?} in the ledger: {e}"))
}

/// `tollgate payouts cancel`: give up a pending payout that has not executed and cannot.
pub async fn cancel(
    ledger: &Ledger,
    chains: &ChainSet,
    batch: &str,
    reason: &str,
) -> Result<String, String> {
    let Some(_lock) = lock(ledger, CLI_LOCK_WAIT).await? else {
        return Err("a payout run is in progress; try again when it is done".into());
    };
    let p = ledger
        .payout(batch)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no payout {batch}"))?;
    if p.status != "pending" {
        return Err(format!("payout {batch} is {}, not pending", p.status));
    }
    let chain = chains
        .for_row(p.chain_id, p.asset.as_deref())
        .ok_or_else(|| format!("payout {batch} is on a chain or asset no longer configured"))?;
    let client = chain
        .client()
        .await
        .map_err(|e| format!("chain unreachable: {e}"))?;
    if withdrawals::in_flight(client, p.tx_hash.as_deref()).await? {
        return Err(format!(
            "payout {batch} may still be mined (a transaction of the operator is pending); try later"
        ));
    }
    if client
        .executed_batch(chain.payout_vault, parse_b256(batch)?)
        .await
        .map_err(|e| e.to_string())?
    {
        ledger
            .mark_payout_paid(batch, None)
            .await
            .map_err(|e| e.to_string())?;
        return Err(format!(
            "payout {batch} has executed on chain: marked paid, not cancelled"
        ));
    }
    let p = ledger
        .cancel_payout(batch, reason)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "cancelled payout {batch}: {} micro-USDC back to {}'s earnings",
        p.amount_usdc, p.provider
    ))
}

/// How long a CLI command waits for a run elsewhere (the gateway's schedule) to finish.
pub const CLI_LOCK_WAIT: Duration = Duration::from_secs(30);
