//! Where and how a [`super::ChainClient`] connects: the RPC endpoint, chain id, retry and
//! confirmation settings; the private key parsed without ever echoing it.

use crate::error::ChainError;
use alloy::signers::local::PrivateKeySigner;
use std::fmt;
use std::time::Duration;

/// Connection settings. `Debug` hides the URL's path and query (API keys live there).
#[derive(Clone)]
pub struct ChainConfig {
    pub rpc_url: String,
    /// Expected chain id; connecting to another chain fails. `None` accepts any (tests, tools).
    pub chain_id: Option<u64>,
    /// Blocks deep a transaction must be before `send_and_confirm` returns (1 = mined).
    pub confirmations: u64,
    pub confirmation_timeout: Duration,
    /// Receipt / block polling interval.
    pub poll_interval: Duration,
    /// Retries after the first attempt for transient transport errors (timeouts, connection
    /// errors, HTTP 429/5xx, provider rate limits).
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Gas limit = estimate × this / 100.
    pub gas_limit_percent: u64,
}

impl ChainConfig {
    pub fn new(rpc_url: impl Into<String>) -> Self {
        ChainConfig {
            rpc_url: rpc_url.into(),
            chain_id: None,
            confirmations: 1,
            confirmation_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_secs(1),
            max_retries: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            gas_limit_percent: 120,
        }
    }

    pub fn with_chain_id(mut self, chain_id: u64) -> Self {
        self.chain_id = Some(chain_id);
        self
    }

    pub fn with_confirmations(mut self, confirmations: u64) -> Self {
        self.confirmations = confirmations.max(1);
        self
    }
}

impl fmt::Debug for ChainConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainConfig")
            .field("rpc_url", &redact_url(&self.rpc_url))
            .field("chain_id", &self.chain_id)
            .field("confirmations", &self.confirmations)
            .field("confirmation_timeout", &self.confirmation_timeout)
            .field("poll_interval", &self.poll_interval)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

/// `scheme://host[:port]` plus `/…` when there was more (paths and queries carry API keys).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host); // drop user:pass@
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end);
    let tail = if tail.trim_matches('/').is_empty() {
        ""
    } else {
        "/…"
    };
    if scheme.is_empty() {
        format!("{host}{tail}")
    } else {
        format!("{scheme}://{host}{tail}")
    }
}

/// `text` with every URL in it redacted ([`redact_url`]): transport errors quote the URL they
/// failed on, and RPC providers put API keys in its path or query.
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["http://", "https://", "ws://", "wss://"]
        .iter()
        .filter_map(|s| rest.find(s))
        .min()
    {
        out.push_str(&rest[..at]);
        let url = &rest[at..];
        let end = url
            .find(|c: char| {
                c.is_whitespace() || matches!(c, ')' | '(' | '"' | '\'' | ',' | '>' | '<')
            })
            .unwrap_or(url.len());
        out.push_str(&redact_url(&url[..end]));
        rest = &url[end..];
    }
    out.push_str(rest);
    out
}

/// Parses a hex private key (with or without `0x`). The error never contains the input.
pub fn parse_private_key(hex_key: &str) -> Result<PrivateKeySigner, ChainError> {
    let trimmed = hex_key.trim();
    let trimmed = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    if trimmed.len() != 64 {
        return Err(ChainError::InvalidKey);
    }
    trimmed
        .parse::<PrivateKeySigner>()
        .map_err(|_| ChainError::InvalidKey)
}
