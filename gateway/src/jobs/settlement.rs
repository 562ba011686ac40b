//! Long-running work beside the proxy: DNS refresh, the settlement writer, lease upkeep, and
//! the graceful shutdown that drains them.

use crate::config::{Config, LedgerConfig};
use crate::upstream_addrs::UpstreamAddrs;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tollgate_billing::lease::{LeaseBook, LeaseConfig};
use tollgate_billing::ledger::Ledger;
use tollgate_billing::settlement::{LedgerSink, SettlementConfig, SettlementWriter};
use tollgate_billing::BillingSink;

/// Keeps provider addresses fresh without blocking request threads on DNS.
pub struct AddrRefresher(pub Arc<UpstreamAddrs>);

#[async_trait]
impl BackgroundService for AddrRefresher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(Duration::from_secs(30)) => self.0.refresh().await,
            }
        }
    }
}

/// Keeps the API-key cache in step with revocations made on any node.
pub struct KeyRevocationFeed(pub Arc<crate::auth::LedgerKeys>);

#[async_trait]
impl BackgroundService for KeyRevocationFeed {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = self.0.clone().follow_revocations() => {}
        }
    }
}

/// The Postgres billing machinery of one node.
pub struct BillingRunner {
    pub ledger: Ledger,
    pub sink: Arc<LedgerSink>,
    pub leases: Arc<LeaseBook>,
    writer: Mutex<Option<SettlementWriter>>,
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
    let (sink, writer) = LedgerSink::new(
        ledger.clone(),
        leases.clone(),
        SettlementConfig {
            queue_capacity: lc.queue_capacity,
            batch_size: lc.batch_size,
            batch_interval: lc.batch_interval,
        },
    );
    let runner = BillingRunner {
        ledger: ledger.clone(),
        sink: sink.clone(),
        leases,
        writer: Mutex::new(Some(writer)),
    };
    Ok((ledger, sink, runner))
}

/// Runs the settlement writer and lease upkeep, and on SIGTERM: refuses new paid work,
/// waits for in-flight requests and the settlement queue (up to `timeout`), returns the
/// leases, and exits the process.
pub struct Shutdown {
    pub in_flight: Arc<AtomicUsize>,
    pub billing: Option<BillingRunner>,
    pub timeout: Duration,
}

impl BillingRunner {
    async fn keep_leases(leases: Arc<LeaseBook>, ledger: Ledger) {
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

#[async_trait]
impl BackgroundService for Shutdown {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if let Some(b) = &self.billing {
            if let Some(writer) = b.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
                tokio::spawn(writer.run());
            }
            tokio::spawn(BillingRunner::keep_leases(
                b.leases.clone(),
                b.ledger.clone(),
            ));
        }
        let _ = shutdown.changed().await;
        log::info!("shutting down: draining in-flight requests and the settlement queue");
        if let Some(b) = &self.billing {
            b.leases.close();
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            let requests = self.in_flight.load(Ordering::Acquire);
            let unsettled = self.billing.as_ref().map_or(0, |b| b.sink.in_flight());
            if requests == 0 && unsettled == 0 {
                break;
            }
            if Instant::now() >= deadline {
                log::warn!("shutdown timeout: {requests} requests in flight, {unsettled} records not written");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(b) = &self.billing {
            match b.leases.return_idle(true).await {
                Ok(()) => log::info!("leases returned"),
                Err(e) => log::warn!("could not return leases (they expire on their own): {e}"),
            }
        }
        log::info!("shutdown complete");
        std::process::exit(0);
    }
}
