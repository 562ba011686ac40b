//! The identity and chain sections: `server.public_url`, `auth.siwe`, `chain`.

use super::raw::RawSiwe;
use super::{ChainConfig, Validator};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SiweConfig {
    pub policy: SiwePolicy,
    pub memory_nonces: usize,
}

/// The SIWE checks' parameters.
#[derive(Debug, Clone)]
pub struct SiwePolicy {
    /// RFC 3986 authority the message must name (`host[:port]` of the public URL).
    pub domain: String,
    /// `scheme://authority` the message's `uri` must start with.
    pub origin: String,
    /// Every configured chain: a message may name any of them.
    pub chain_ids: Vec<u64>,
    pub max_age: Duration,
    /// Tolerated clock difference between the signer and this gateway.
    pub clock_skew: Duration,
}

/// `scheme://authority` of the public URL, and the authority alone (SIWE's `domain`).
pub(super) struct PublicUrl {
    pub(super) origin: String,
    authority: String,
}

impl Validator<'_> {
    pub(super) fn public_url(&mut self, url: &str) -> Option<PublicUrl> {
        let rest = url
            .strip_prefix("https://")
            .map(|r| ("https", r))
            .or_else(|| url.strip_prefix("http://").map(|r| ("http", r)));
        let Some((scheme, rest)) = rest else {
            self.err(
                "server.public_url",
                format!("{url:?} must start with http:// or https://"),
            );
            return None;
        };
        let authority = rest.split('/').next().unwrap_or("");
        let path = &rest[authority.len()..];
        if authority.is_empty()
            || authority.contains(['@', '?', '#'])
            || !(path.is_empty() || path == "/")
        {
            self.err(
                "server.public_url",
                format!("{url:?} must be scheme://host[:port] with no path"),
            );
            return None;
        }
        Some(PublicUrl {
            origin: format!("{scheme}://{authority}"),
            authority: authority.to_ascii_lowercase(),
        })
    }

    pub(super) fn siwe(
        &mut self,
        raw: RawSiwe,
        public_url: Option<&PublicUrl>,
        chains: &[ChainConfig],
    ) -> Option<SiweConfig> {
        let max_age = self.duration("auth.siwe.max_age", raw.max_age, "5m");
        let clock_skew = self.duration("auth.siwe.clock_skew", raw.clock_skew, "30s");
        let memory_nonces = raw.memory_nonces.unwrap_or(1_000_000);
        if memory_nonces == 0 {
            self.err("auth.siwe.memory_nonces", "must be positive");
        }
        Some(SiweConfig {
            policy: SiwePolicy {
                domain: public_url?.authority.clone(),
                origin: public_url?.origin.clone(),
                chain_ids: {
                    let ids: Vec<u64> = chains.iter().map(|c| c.chain_id).collect();
                    if ids.is_empty() {
                        return None;
                    }
                    ids
                },
                max_age,
                clock_skew,
            },
            memory_nonces,
        })
    }
}
