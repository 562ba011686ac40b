//! The Postgres billing machinery of one node: the ledger, the lease book, the sink the proxy
//! records into and the settlement writer, plus the lease upkeep loop.

use crate::config::{Config, LedgerConfig};
use std::sync::{Arc, Mutex};
use tollgate_billing::lease::{LeaseBook, LeaseConfig};
use tollgate_billing::ledger::Ledger;
use tollgate_billing::settlement::{replay, LedgerSink, SettlementConfig, SettlementWriter};
use tollgate_billing::spool::{Spool, SpoolConfig};
use tollgate_billing::BillingSink;

/// The Postgres billing machinery of one node.
pub struct BillingRunner {
    pub ledger: Ledger,
    pub sink: Arc<LedgerSink>,
    pub leases: Arc<LeaseBook>,
    /// Taken by the [`super::shutdown::Shutdown`] service, which runs it.
    pub(super) writer: Mutex<Option<SettlementWriter>>,
}

/// Connect, refuse an un-migrated database, register the configured providers, and build
/// the lease book, sink and writer.
pub async fn open_ledger(
    config: &Config,
    lc: &LedgerConfig,
) -> Result<(Ledger, Arc<dyn BillingSink>, BillingRunner), String> {
    let ledger = Ledger::connect(lc.database_url.expose(), lc.pool_size)
        .await
        .map_err(|e| e.to_string())?;
    ledger.ensure_migrated().await.map_err(|e| e.to_string())?;
    for p in &config.providers {
        ledger
            .ensure_provider(&p.id)
            .await
            .map_err(|e| e.to_string())?;
    }
    let leases = Arc::new(LeaseBook::new(
        ledger.clone(),
        LeaseConfig {
            node_id: lc.node_id.clone(),
            chunk: lc.lease_chunk,
            ttl: lc.lease_ttl,
            safety: lc.lease_ttl / 3,
            idle_return: lc.lease_idle_return,
        },
    ));
    let spool = match &lc.spool {
        Some(sc) => Some(open_spool(&ledger, sc, lc).await?),
        None => None,
    };
    let (sink, writer) = LedgerSink::new(
        ledger.clone(),
        leases.clone(),
        SettlementConfig {
            queue_capacity: lc.queue_capacity,
            batch_size: lc.batch_size,
            batch_interval: lc.batch_interval,
        },
        spool,
    );
    let runner = BillingRunner {
        ledger: ledger.clone(),
        sink: sink.clone(),
        leases,
        writer: Mutex::new(Some(writer)),
    };
    Ok((ledger, sink, runner))
}

/// Lock the spool, replay what a previous process left into Postgres, delete it. Any error
/// stops start-up: paid traffic is served only once every earlier record is in the ledger.
async fn open_spool(
    ledger: &Ledger,
    sc: &crate::config::SpoolConfig,
    lc: &LedgerConfig,
) -> Result<Arc<Spool>, String> {
    let cfg = SpoolConfig {
        dir: sc.dir.clone(),
        fsync_every: sc.fsync_every,
        segment_bytes: sc.segment_bytes,
    };
    let (spool, left) = Spool::open(cfg, &lc.node_id).map_err(|e| e.to_string())?;
    let done = replay::replay(ledger, &left, lc.batch_size)
        .await
        .map_err(|e| format!("replaying the billing spool {}: {e}", sc.dir.display()))?;
    if done.records > 0 || done.torn_tails > 0 {
        log::warn!(
            "billing spool: replayed {} records from {} segments left by a previous process \
             ({} torn last records skipped)",
            done.records,
            done.segments,
            done.torn_tails
        );
    }
    spool.replayed(left).map_err(|e| e.to_string())?;
    Ok(spool)
}

impl BillingRunner {
    /// Renew, return idle and sweep expired leases every TTL/3, forever.
    pub(super) async fn keep_leases(leases: Arc<LeaseBook>, ledger: Ledger) {
        let ttl = leases.config().ttl;
        loop {
            tokio::time::sleep(ttl / 3).await;
            if let Err(e) = leases.renew().await {
                log::warn!("renewing leases failed: {e}");
                continue;
            }
            if let Err(e) = leases.return_idle(false).await {
                log::warn!("returning idle leases failed: {e}");
            }
            // Leases of nodes that died: any node may release them once well expired.
            match ledger.sweep_expired_leases(ttl).await {
                Ok(0) => {}
                Ok(n) => log::info!("released {n} micro-USDC of expired leases"),
                Err(e) => log::warn!("sweeping expired leases failed: {e}"),
            }
        }
    }
}
