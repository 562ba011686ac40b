//! `ip_filter`: client address allow / deny lists (403 `FORBIDDEN`).
//!
//! ```yaml
//! - ip_filter:
//!     allow: [10.0.0.0/8, 192.168.1.7]   # when set, only these (a bare address is a /32 or /128)
//!     deny: [10.13.0.0/16]               # refused even when allowed
//!     trusted_proxies: [127.0.0.1/32]    # peers whose forwarding header is believed
//!     header: x-forwarded-for            # default; the header those proxies set
//! ```
//! The client address is the TCP peer's, unless the peer is a trusted proxy: then it is the
//! right-most address of the header that is not itself a trusted proxy (the left part of
//! the header is written by the client and proves nothing). A hop that does not read as an
//! address (`ip`, `ip:port`, `[v6]:port`) is refused rather than skipped; IPv4-mapped IPv6
//! addresses are compared as IPv4.

use crate::plugins::{BuildError, Hooks, OnRequest, Options, RequestView};
use crate::wire::ApiError;
use ipnet::IpNet;
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    header: Option<String>,
}

struct IpFilter {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
    trusted: Vec<IpNet>,
    header: http::HeaderName,
}

pub fn build(o: &Options<'_>) -> Result<Hooks, BuildError> {
    let c: Config = o.parse()?;
    let mut errors = BuildError::default();
    let mut nets = |field: &str, list: &[String]| -> Vec<IpNet> {
        list.iter()
            .enumerate()
            .filter_map(|(i, s)| match parse_net(s) {
                Some(n) => Some(n),
                None => {
                    errors.push(o.error(
                        &format!("{field}[{i}]"),
                        format!("{s:?} is not an IP address or CIDR block"),
                    ));
                    None
                }
            })
            .collect()
    };
    let allow = nets("allow", &c.allow);
    let deny = nets("deny", &c.deny);
    let trusted = nets("trusted_proxies", &c.trusted_proxies);
    if allow.is_empty() && deny.is_empty() {
        errors.push(o.error("allow", "give `allow`, `deny` or both"));
    }
    let header = c.header.as_deref().unwrap_or("x-forwarded-for");
    let header = match http::HeaderName::from_bytes(header.as_bytes()) {
        Ok(h) => h,
        Err(_) => {
            errors.push(o.error("header", format!("{header:?} is not a header name")));
            http::HeaderName::from_static("x-forwarded-for")
        }
    };
    errors.or_ok(Hooks {
        on_request: Some(Arc::new(IpFilter {
            allow,
            deny,
            trusted,
            header,
        })),
        ..Hooks::default()
    })
}

fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

impl IpFilter {
    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// The address the request is judged by; `None` when it cannot be known (a trusted proxy
    /// sent a hop that does not read as an address), which is refused.
    fn client_ip(&self, req: &RequestView<'_>) -> Option<IpAddr> {
        let peer = req.peer_ip?.to_canonical();
        if !self.trusted(peer) {
            return Some(peer);
        }
        let mut client = peer;
        // Every header line, every comma-separated hop, from the right.
        let hops = req
            .header
            .headers
            .get_all(&self.header)
            .iter()
            .rev()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.rsplit(','));
        for hop in hops {
            client = parse_hop(hop.trim())?;
            if !self.trusted(client) {
                break;
            }
        }
        Some(client)
    }
}

/// `1.2.3.4`, `1.2.3.4:567`, `::1`, `[::1]:567`; IPv4-mapped IPv6 as IPv4.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
        .map(|ip| ip.to_canonical())
}

impl OnRequest for IpFilter {
    fn on_request(&self, req: &RequestView<'_>) -> Result<(), ApiError> {
        let ip = self.client_ip(req);
        let allowed = match ip {
            // A Unix socket peer: only a deny list can let it through; an unreadable
            // forwarding hop from a trusted proxy: refused.
            None if req.peer_ip.is_none() => self.allow.is_empty(),
            None => false,
            Some(ip) => {
                (self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&ip)))
                    && !self.deny.iter().any(|n| n.contains(&ip))
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(ApiError::new(
                403,
                "FORBIDDEN",
                "requests from this address are not allowed on this route",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_hop;

    #[test]
    fn hops_with_ports_brackets_and_mapped_addresses_read_as_addresses() {
        for (hop, ip) in [
            ("10.1.2.3", "10.1.2.3"),
            ("10.1.2.3:8443", "10.1.2.3"),
            ("::ffff:10.1.2.3", "10.1.2.3"),
            ("[2001:db8::1]:80", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
        ] {
            assert_eq!(parse_hop(hop), ip.parse().ok(), "{hop}");
        }
        assert_eq!(parse_hop("unknown"), None);
        assert_eq!(parse_hop("_hidden"), None);
    }
}
