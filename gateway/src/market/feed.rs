//! The background service that keeps a node's [`Listings`](super::Listings) current:
//!
//! - a reload on every `NOTIFY tollgate_catalog` (sent by the transaction that changed a
//!   listing, so the change reaches every node within a second of its commit);
//! - while the feed is down, a reload every second instead (a node that misses the feed
//!   never keeps routing to a listing that was taken down);
//! - every `marketplace.upkeep_every` (30 s), DNS re-resolution of the current snapshot and the suspension check: an
//!   upstream whose share of answers with missing or disproved usage over the last day passes
//!   `marketplace.suspend_bad_ratio` (after `suspend_min_requests`) is suspended fleet-wide.

use super::Market;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub struct MarketFeed(pub Arc<Market>);

#[async_trait]
impl BackgroundService for MarketFeed {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let market = self.0.clone();
        let Some(ledger) = market.ledger().cloned() else {
            // File-only catalog: only DNS changes.
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(Duration::from_secs(30)) => market.current().addrs.refresh().await,
                }
            }
        };
        let changed = Arc::new(Notify::new());
        let watched = Arc::new(AtomicBool::new(false));
        let (c, w) = (changed.clone(), watched.clone());
        let feed = tokio::spawn(tollgate_billing::ledger::watch(
            ledger,
            tollgate_billing::ledger::market::CATALOG_CHANNEL,
            move |e| {
                use tollgate_billing::ledger::Feed;
                match e {
                    Feed::Listening => w.store(true, Ordering::Release),
                    Feed::Lost => w.store(false, Ordering::Release),
                    Feed::Notified(_) => {}
                }
                // Listening again: whatever changed while nobody listened is read now.
                c.notify_one();
            },
        ));
        let every = market
            .settings
            .as_ref()
            .map_or(Duration::from_secs(30), |s| s.upkeep_every);
        let mut upkeep = tokio::time::interval(every);
        loop {
            let unwatched_wait = if watched.load(Ordering::Acquire) {
                Duration::from_secs(3600)
            } else {
                Duration::from_secs(1)
            };
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = changed.notified() => self.reload().await,
                _ = tokio::time::sleep(unwatched_wait) => self.reload().await,
                _ = upkeep.tick() => {
                    market.current().addrs.refresh().await;
                    suspend_implausible(&market).await;
                }
            }
        }
        feed.abort();
    }
}

impl MarketFeed {
    async fn reload(&self) {
        if let Err(e) = self.0.reload().await {
            log::warn!("marketplace reload failed: {e}");
        }
    }
}

/// Suspend upstreams whose usage reports the gateway could not trust too often.
async fn suspend_implausible(market: &Market) {
    let (Some(ledger), Some(s)) = (market.ledger(), &market.settings) else {
        return;
    };
    let flags = match ledger.usage_flags(24, false).await {
        Ok(f) => f,
        Err(e) => {
            log::warn!("marketplace usage check failed: {e}");
            return;
        }
    };
    for (id, requests, missing, disproved) in flags {
        if let Some(reason) = suspension(
            requests,
            missing,
            disproved,
            s.suspend_min_requests,
            s.suspend_bad_bps,
        ) {
            log::warn!("suspending marketplace upstream {id:?}: {reason}");
            if let Err(e) = ledger.suspend_upstream(&id, &reason).await {
                log::warn!("suspending {id:?} failed: {e}");
            }
        }
    }
}

/// Why an upstream with these counts is suspended, or `None`.
pub fn suspension(
    requests: i64,
    missing: i64,
    disproved: i64,
    min_requests: u64,
    bad_bps: u32,
) -> Option<String> {
    let bad = missing.saturating_add(disproved);
    if requests <= 0 || (requests as u64) < min_requests {
        return None;
    }
    (i128::from(bad) * 10_000 > i128::from(bad_bps) * i128::from(requests)).then(|| {
        format!(
            "{bad} of its last {requests} answers had missing ({missing}) or disproved ({disproved}) usage, above the {}% allowed",
            bad_bps as f64 / 100.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::suspension;

    #[test]
    fn suspends_above_the_ratio_after_enough_requests() {
        assert!(
            suspension(19, 19, 0, 20, 2_000).is_none(),
            "too few requests"
        );
        assert!(
            suspension(20, 4, 0, 20, 2_000).is_none(),
            "exactly 20% is allowed"
        );
        assert!(suspension(20, 4, 1, 20, 2_000).is_some());
        assert!(suspension(20, 0, 5, 20, 2_000).is_some());
        assert!(suspension(0, 0, 0, 0, 0).is_none());
        assert!(
            suspension(100, 0, 0, 0, 0).is_none(),
            "nothing bad, nothing suspended"
        );
    }
}
