//! Provider host names → socket addresses, resolved off the request path.
//!
//! Pingora's `HttpPeer::new` resolves names with the blocking std resolver; doing that per
//! request would stall a worker thread on DNS. Addresses are resolved at start-up and
//! refreshed in the background instead; a provider whose name does not resolve fails to
//! connect (and is failed over) rather than blocking.

use crate::config::Provider;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub struct UpstreamAddrs {
    addrs: Vec<RwLock<Option<SocketAddr>>>,
    names: Vec<(String, u16)>,
}

impl UpstreamAddrs {
    pub fn new(providers: &[Provider]) -> Self {
        let names: Vec<(String, u16)> = providers
            .iter()
            .map(|p| (p.upstream.host.clone(), p.upstream.port))
            .collect();
        let addrs = names
            .iter()
            .map(|(h, port)| {
                RwLock::new(
                    h.parse::<std::net::IpAddr>()
                        .ok()
                        .map(|ip| SocketAddr::new(ip, *port)),
                )
            })
            .collect();
        UpstreamAddrs { addrs, names }
    }

    pub fn get(&self, provider: usize) -> Option<SocketAddr> {
        *self.addrs[provider]
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Resolve every name once (`lookup_host` runs the resolver on tokio's blocking pool).
    pub async fn refresh(&self) {
        for (i, (host, port)) in self.names.iter().enumerate() {
            if host.parse::<std::net::IpAddr>().is_ok() {
                continue;
            }
            match tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::lookup_host((host.as_str(), *port)),
            )
            .await
            {
                Ok(Ok(mut it)) => {
                    if let Some(a) = it.next() {
                        *self.addrs[i].write().unwrap_or_else(|p| p.into_inner()) = Some(a);
                    }
                }
                Ok(Err(e)) => log::warn!("cannot resolve upstream {host}: {e}"),
                Err(_) => log::warn!("resolving upstream {host} timed out"),
            }
        }
    }
}

/// Re-resolves every provider host every 30 s.
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
