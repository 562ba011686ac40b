//! Graceful shutdown, in two steps:
//!
//! 1. [`DrainFirst`] (Pingora's signal watcher): SIGTERM turns `/ready` to 503 at once and
//!    keeps every listener serving for `server.drain_delay`, so load balancers stop sending
//!    traffic before connections are refused; then Pingora's graceful shutdown starts (SIGQUIT,
//!    once a `--upgrade` process has the sockets, starts it at once).
//! 2. [`Shutdown`] (the billing service): starts the settlement writer and lease upkeep, and on
//!    shutdown refuses new paid work, waits for in-flight requests, the settlement queue and the
//!    access log (up to `timeout`), returns the leases, exports the last spans, and exits the
//!    process.

use super::settlement::BillingRunner;
use crate::readiness::Readiness;
use crate::telemetry::access_log::AccessLog;
use crate::telemetry::traces::Traces;
use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch, ShutdownWatch};
use pingora::services::background::BackgroundService;
use tokio::signal::unix::{signal, SignalKind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// SIGTERM → draining for `delay`, then a graceful terminate; SIGINT (at any time, also while
/// draining) → fast shutdown; SIGQUIT → Pingora's graceful upgrade. A second SIGTERM ends the
/// delay early.
pub struct DrainFirst {
    pub ready: Arc<Readiness>,
    pub delay: Duration,
}

#[async_trait]
impl ShutdownSignalWatch for DrainFirst {
    async fn recv(&self) -> ShutdownSignal {
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        let mut quit = signal(SignalKind::quit()).expect("SIGQUIT handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => return ShutdownSignal::FastShutdown,
            _ = quit.recv() => return ShutdownSignal::GracefulUpgrade,
        }
        self.ready.drain();
        if !self.delay.is_zero() {
            log::info!(
                "SIGTERM: /ready answers 503; listeners close in {:?}",
                self.delay
            );
            tokio::select! {
                _ = tokio::time::sleep(self.delay) => {}
                _ = term.recv() => {}
                _ = int.recv() => return ShutdownSignal::FastShutdown,
            }
        }
        ShutdownSignal::GracefulTerminate
    }
}

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
