//! Provider host names → socket addresses, resolved off the request path.
//!
//! Pingora's `HttpPeer::new` resolves names with the blocking std resolver; doing that per
//! request would stall a worker thread on DNS. Addresses are resolved when a catalog snapshot
//! is built and refreshed in the background instead; a provider whose name does not resolve
//! fails to connect (and is failed over) rather than blocking.
//!
//! A marketplace provider's addresses are held to [`super::address_policy`] (unless the
//! operator allows private upstreams): an address it refuses is never stored, so no
//! connection can reach it, whatever the name resolves to later.

use super::address_policy;
use crate::config::Provider;
use std::net::{IpAddr, SocketAddr};
use std::sync::RwLock;
use std::time::Duration;

struct Target {
    host: String,
    port: u16,
    /// Held to the address policy (a marketplace provider, private upstreams not allowed).
    checked: bool,
}

pub struct UpstreamAddrs {
    /// The address to connect to, or why there is none.
    addrs: Vec<RwLock<Result<SocketAddr, String>>>,
    targets: Vec<Target>,
}

/// `host:port` → the address to connect to, or why none may be used. Every address the
/// name resolves to must pass the policy: one internal answer refuses the name.
pub async fn resolve(host: &str, port: u16, checked: bool) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => match tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((host, port)),
        )
        .await
        {
            Ok(Ok(it)) => it.collect(),
            Ok(Err(e)) => return Err(format!("{host} does not resolve: {e}")),
            Err(_) => return Err(format!("resolving {host} timed out")),
        },
    };
    let first = *addrs
        .first()
        .ok_or_else(|| format!("{host} resolves to no address"))?;
    if checked {
        for a in &addrs {
            if let Some(why) = address_policy::forbidden(a.ip()) {
                return Err(format!("{host} resolves to {}, {why}", a.ip()));
            }
        }
    }
    Ok(first)
}

impl UpstreamAddrs {
    /// Addresses for `providers`, unresolved until [`Self::refresh`] (IP literals at once,
    /// when allowed).
    pub fn new(providers: &[Provider], allow_private: bool) -> Self {
        let targets: Vec<Target> = providers
            .iter()
            .map(|p| Target {
                host: p.upstream.host.clone(),
                port: p.upstream.port,
                checked: p.owner.is_some() && !allow_private,
            })
            .collect();
        let addrs = targets
            .iter()
            .map(|t| {
                RwLock::new(match t.host.parse::<IpAddr>() {
                    Ok(ip) => match address_policy::forbidden(ip).filter(|_| t.checked) {
                        None => Ok(SocketAddr::new(ip, t.port)),
                        Some(why) => Err(format!("{ip} is {why}")),
                    },
                    Err(_) => Err(format!("{} is not resolved yet", t.host)),
                })
            })
            .collect();
        UpstreamAddrs { addrs, targets }
    }

    pub fn get(&self, provider: usize) -> Result<SocketAddr, String> {
        self.addrs[provider]
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Resolve every name once (`lookup_host` runs the resolver on tokio's blocking pool).
    /// A name that stops resolving keeps its last good address; a name that now resolves to
    /// a refused address loses it.
    pub async fn refresh(&self) {
        for (i, t) in self.targets.iter().enumerate() {
            if t.host.parse::<IpAddr>().is_ok() {
                continue;
            }
            let r = resolve(&t.host, t.port, t.checked).await;
            let mut slot = self.addrs[i].write().unwrap_or_else(|p| p.into_inner());
            match r {
                Ok(a) => *slot = Ok(a),
                Err(e) if t.checked && e.contains(" resolves to ") => *slot = Err(e),
                Err(e) => {
                    log::warn!("upstream {}: {e}", t.host);
                    if slot.is_err() {
                        *slot = Err(e);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(host: &str, owner: Option<&str>) -> Provider {
        let c = crate::config::Config::from_yaml(
            &format!(
                "billing: {{ sink: memory }}\nproviders: [{{ id: p, kind: openai, base_url: \"http://{host}:9/v1\", models: [{{ id: m, pricing: {{ prompt: 1, completion: 1 }} }}] }}]\n"
            ),
            &|_| None,
        )
        .unwrap();
        let mut p = c.providers[0].clone();
        p.owner = owner.map(str::to_string);
        p
    }

    #[tokio::test]
    async fn a_strangers_internal_address_is_never_stored_so_never_connected_to() {
        let stranger = [
            provider("127.0.0.1", Some("0xab")),
            provider("localhost", Some("0xab")),
        ];
        let addrs = UpstreamAddrs::new(&stranger, false);
        addrs.refresh().await;
        for i in 0..2 {
            let e = addrs.get(i).unwrap_err();
            assert!(e.contains("loopback"), "{e}");
        }
        // The operator's own providers, or strangers when private upstreams are allowed, resolve.
        let own = [provider("127.0.0.1", None), provider("localhost", None)];
        let addrs = UpstreamAddrs::new(&own, false);
        addrs.refresh().await;
        assert!(addrs.get(0).is_ok() && addrs.get(1).is_ok());
        let allowed = UpstreamAddrs::new(&stranger, true);
        allowed.refresh().await;
        assert_eq!(allowed.get(0).unwrap().port(), 9);
        assert!(resolve("localhost", 9, true).await.is_err());
    }
}
