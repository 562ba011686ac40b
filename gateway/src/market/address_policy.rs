//! Which addresses a provider-supplied `base_url` may reach. A marketplace upstream is a
//! request this gateway makes on a stranger's behalf into its own network (SSRF): loopback,
//! private, link-local (the cloud metadata service at 169.254.169.254), shared and reserved
//! ranges are refused unless the operator allows them.
//!
//! The check runs on resolved addresses, and the gateway connects to exactly the address it
//! checked (never re-resolving the name), so a DNS answer that changes between the check
//! and the connection (rebinding) cannot get around it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` may not be reached, or `None` when it is a public unicast address.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            // An IPv4 address in IPv6 clothing is judged as IPv4 (::ffff:127.0.0.1, and the
            // NAT64 prefix 64:ff9b::/96 that reaches it through a translator).
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let s = v6.segments();
            let v4_at = |hi: u16, lo: u16| {
                Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
            };
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return forbidden_v4(v4_at(s[6], s[7]));
            }
            // 6to4 (2002::/16) carries an IPv4 address a relay would reach.
            if s[0] == 0x2002 {
                return forbidden_v4(v4_at(s[1], s[2]));
            }
            // Local-use NAT64 (64:ff9b:1::/48), Teredo (2001::/32), SIIT (::ffff:0:a.b.c.d),
            // documentation (2001:db8::/32): translators or nothing public.
            if (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
                || (s[0] == 0x2001 && (s[1] == 0 || s[1] == 0xdb8))
                || (s[0..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0)
            {
                return Some("a translated, tunnelled or documentation IPv6 address");
            }
            forbidden_v6(v6)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (cloud metadata lives here)")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if a == 198 && (b == 18 || b == 19) || a == 192 && b == 0 && ip.octets()[2] == 0 {
        Some("a reserved address")
    } else if ip.is_documentation() {
        Some("a documentation (TEST-NET) address")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private (unique local) address")
    } else if first & 0xffc0 == 0xfe80 || first & 0xffc0 == 0xfec0 {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip.to_ipv4().is_some() {
        // ::a.b.c.d (deprecated IPv4-compatible form)
        Some("an IPv4-compatible address")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::forbidden;

    #[test]
    fn refuses_every_internal_range_and_allows_public_ones() {
        for bad in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::10.0.0.1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "64:ff9b:1::1",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "::ffff:0:7f00:1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
        ] {
            assert!(
                forbidden(bad.parse().unwrap()).is_some(),
                "{bad} must be refused"
            );
        }
        for good in [
            "1.1.1.1",
            "8.8.8.8",
            "2002:101:101::1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
        ] {
            assert_eq!(forbidden(good.parse().unwrap()), None, "{good} is public");
        }
    }
}
