//! Health one node learns, every node uses. A breaker that opens or closes on this node is
//! announced through Postgres (`provider_health` + `NOTIFY tollgate_health`, one
//! transaction); every node follows the feed and applies the others' transitions.
//!
//! Postgres rather than Redis pub/sub: the fleet already shares one Postgres and its feed
//! machinery (reconnects, pings, the re-read on `Listening`) carries key revocations and
//! catalog changes; Redis is optional here (rate limits only), and a transition is rare (one
//! per breaker change, not per request). The row makes a missed notification recoverable:
//! a node that listens again reads every provider's last state.
//!
//! A node that loses the feed forgets what only the others vouched for
//! ([`HealthCell::forget_remote`]) and goes on with its own passive health: never a stale
//! "healthy".

use super::provider_pool::HealthCell;
use super::Market;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Notify};
use tollgate_billing::ledger::health::HEALTH_CHANNEL;
use tollgate_billing::ledger::Feed;

/// A breaker transition to announce.
#[derive(Debug)]
pub struct Transition {
    pub provider: String,
    pub healthy: bool,
    pub reason: &'static str,
}

/// The sending side: the request path puts transitions on a bounded queue (never waits on
/// Postgres); [`HealthFeed`] publishes them.
pub struct SharedHealth {
    /// This process's name in the feed (its own notifications are not applied twice).
    pub node: String,
    tx: mpsc::Sender<Transition>,
    rx: Mutex<Option<mpsc::Receiver<Transition>>>,
}

impl SharedHealth {
    pub fn new() -> SharedHealth {
        let (tx, rx) = mpsc::channel(256);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        SharedHealth {
            node: format!("node-{}-{nanos:08x}", std::process::id()),
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }

    /// Queue a transition; a full queue drops it (the row is a state, not a log: the next
    /// transition of that provider carries the truth, and passive health goes on).
    pub fn announce(&self, provider: &str, healthy: bool, reason: &'static str) {
        let _ = self.tx.try_send(Transition {
            provider: provider.to_string(),
            healthy,
            reason,
        });
    }

    fn take_queue(&self) -> Option<mpsc::Receiver<Transition>> {
        self.rx.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Default for SharedHealth {
    fn default() -> Self {
        Self::new()
    }
}

/// `"<healthy|unhealthy>\t<node>\t<provider>"` → (healthy, node, provider).
pub fn parse_payload(p: &str) -> Option<(bool, &str, &str)> {
    let mut it = p.splitn(3, '\t');
    let healthy = match it.next()? {
        "healthy" => true,
        "unhealthy" => false,
        _ => return None,
    };
    Some((healthy, it.next()?, it.next()?))
}

/// The background service: publishes this node's transitions, applies the others'.
pub struct HealthFeed(pub Arc<Market>);

#[async_trait]
impl BackgroundService for HealthFeed {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let market = self.0.clone();
        if !market.share_health {
            return;
        }
        let (Some(ledger), Some(mut queue)) = (market.fleet().cloned(), market.shared.take_queue())
        else {
            return;
        };
        let resync = Arc::new(Notify::new());
        let (m, r) = (market.clone(), resync.clone());
        let feed = tokio::spawn(tollgate_billing::ledger::watch(
            ledger.clone(),
            HEALTH_CHANNEL,
            move |e| match e {
                Feed::Listening => {
                    m.metrics.health.feed_up.set(1);
                    r.notify_one();
                }
                Feed::Lost => {
                    m.metrics.health.feed_up.set(0);
                    for (_, cell) in m.cells() {
                        cell.forget_remote();
                    }
                }
                Feed::Notified(p) => match parse_payload(&p) {
                    Some((_, node, _)) if node == m.shared.node => {}
                    Some((healthy, _, provider)) => m.apply_remote(provider, healthy, 0),
                    None => log::warn!("health feed: unreadable payload {p:?}"),
                },
            },
        ));
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = resync.notified() => match ledger.fleet_health().await {
                    Ok(rows) => {
                        for row in rows.iter().filter(|r| r.node != market.shared.node) {
                            market.apply_remote(&row.provider, row.healthy, row.age_ms.max(0) as u64);
                        }
                    }
                    Err(e) => log::warn!("health feed: cannot read the fleet's health: {e}"),
                },
                t = queue.recv() => {
                    let Some(t) = t else { break };
                    if let Err(e) = ledger
                        .publish_health(&t.provider, t.healthy, &market.shared.node, t.reason)
                        .await
                    {
                        log::warn!("health feed: cannot announce {:?}: {e}", t.provider);
                    }
                }
            }
        }
        feed.abort();
    }
}

impl Market {
    /// Every provider's health cell, by id.
    pub fn cells(&self) -> Vec<(String, Arc<HealthCell>)> {
        let cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        cells.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    pub fn cell(&self, provider: &str) -> Option<Arc<HealthCell>> {
        let cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        cells.get(provider).cloned()
    }

    fn apply_remote(&self, provider: &str, healthy: bool, age_ms: u64) {
        if let Some(cell) = self.cell(provider) {
            cell.apply_remote(healthy, age_ms);
            let gauge = cell.health(self.timing.cooldown).gauge();
            self.metrics.set_health(provider, gauge);
        }
    }

    /// This node's breaker for `provider` opened (`healthy: false`) or closed: count it,
    /// show it and tell the fleet.
    pub fn learned(&self, provider: &str, healthy: bool, reason: &'static str) {
        let (to, gauge) = if healthy { ("closed", 1) } else { ("open", -1) };
        self.metrics.health.breaker(provider, to);
        self.metrics.set_health(provider, gauge);
        if self.share_health {
            self.shared.announce(provider, healthy, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_payload;

    #[test]
    fn payloads_round_trip_and_junk_is_refused() {
        assert_eq!(
            parse_payload("unhealthy\tnode-1\tacme/eu"),
            Some((false, "node-1", "acme/eu"))
        );
        assert_eq!(
            parse_payload("healthy\tn\tp\twith\ttabs"),
            Some((true, "n", "p\twith\ttabs"))
        );
        assert_eq!(parse_payload("sick\tn\tp"), None);
        assert_eq!(parse_payload("healthy\tn"), None);
    }
}
