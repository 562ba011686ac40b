//! Graceful shutdown: starts the settlement writer and lease upkeep, and on SIGTERM (or on
//! SIGQUIT, once a `--upgrade` process has the sockets) refuses new paid work, waits for
//! in-flight requests, the settlement queue and the access log (up to `timeout`), returns the
//! leases, exports the last spans, and exits the process.

use super::settlement::BillingRunner;
use crate::telemetry::access_log::AccessLog;
use crate::telemetry::traces::Traces;
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
    pub access_log: Option<Arc<AccessLog>>,
    pub traces: Option<Arc<Traces>>,
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
            let unlogged = self.access_log.as_ref().map_or(0, |l| l.pending());
            if requests == 0 && unsettled == 0 && unlogged == 0 {
                break;
            }
            if Instant::now() >= deadline {
                log::warn!("shutdown timeout: {requests} requests in flight, {unsettled} records not written, {unlogged} access lines not written");
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
        if let Some(t) = self.traces.clone() {
            // The exporter blocks on its last HTTP request.
            let _ = tokio::task::spawn_blocking(move || t.shutdown()).await;
        }
        log::info!("shutdown complete");
        std::process::exit(0);
    }
}
