//! Graceful shutdown: starts the settlement writer and lease upkeep, and on SIGTERM refuses new
//! paid work, waits for in-flight requests and the settlement queue (up to `timeout`), returns
//! the leases, and exits the process.

use super::settlement::BillingRunner;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The billing service of a node (see the module docs).
pub struct Shutdown {
    pub in_flight: Arc<AtomicUsize>,
    pub billing: Option<BillingRunner>,
    pub timeout: Duration,
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
